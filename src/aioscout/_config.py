"""Frozen, keyword-only configuration: the CLI builds these, the library takes them.

Config flows one way: CLI -> ScanConfig -> engine -> probe. Make variants with
:func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._exceptions import ConfigError

__all__ = [
    "MAX_SCRIPT",
    "DnsOptions",
    "FetchOptions",
    "HttpOptions",
    "Limits",
    "PortOptions",
    "ScanConfig",
    "SshOptions",
    "Timeouts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Per-phase time budgets in seconds.

    ``total`` bounds one attempt on one target end to end (all redirects
    included); ``connect`` the TCP connect plus TLS handshake; ``read`` the wait
    for the first byte of a response and any later gap between bytes.
    """

    connect: float = 5.0
    read: float = 5.0
    total: float = 10.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"timeout {name} must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Size caps that keep a hostile peer from growing memory or time."""

    max_body: int = 256 * 1024  # bytes of body read (after decompression)
    max_redirects: int = 10
    max_header_bytes: int = 64 * 1024
    max_headers: int = 256
    max_line: int = 8192  # longest input line accepted
    max_cidr_hosts: int = 65536  # largest CIDR expanded without raising the cap

    def __post_init__(self) -> None:
        for name in ("max_body", "max_redirects", "max_header_bytes", "max_headers", "max_line"):
            if getattr(self, name) < 0:
                raise ConfigError(f"limit {name} must not be negative")
        if self.max_cidr_hosts < 1:
            raise ConfigError("limit max_cidr_hosts must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    """Everything about how one HTTP probe is made and what it reports."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    data: bytes | None = None
    json: str | None = None
    form: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (field, path) for multipart
    user_agent: str | None = None  # None: the default agent
    random_agent: bool = False
    follow_redirects: bool = True
    verify: bool = False
    ca_file: str | None = None
    sni: str | None = None
    proxy: str | None = None
    proxy_auth: str | None = None  # "user:password"
    resolvers: tuple[str, ...] = ()  # "ip[:port]"; empty: the system's
    ports: tuple[str, ...] = ()  # "80", "https:8443", "8000-8100"
    paths: tuple[str, ...] = ()
    all_ips: bool = False
    include_headers: bool = False
    favicon: bool = False
    tech: bool = False
    http2: bool = False
    websocket: bool = False
    body_preview: int = 0  # characters of body preview; 0: none
    store_responses: str | None = None
    fast_path: bool = True  # allow the narrow HTTP/1.1 fast path where it applies
    keep_headers_cross_origin: bool = False  # send -H headers to other origins too


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsOptions:
    """How names are resolved and filtered."""

    types: tuple[str, ...] = ("A",)
    resolvers: tuple[str, ...] = ()  # "ip[:port]"; empty: the system's
    trusted_resolvers: tuple[str, ...] = ()
    only_found: bool = True
    keep_wildcards: bool = False
    wildcard_checks: int = 3
    query_timeout: float = 1.0
    query_retries: int = 5
    per_resolver_rate: float = 0.0  # queries per second per resolver; 0: unlimited
    sockets: int = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOptions:
    """Where downloads go."""

    directory: str = "."
    resume_partial: bool = True
    max_size: int = 1024**3  # bytes one download may write; 0: no cap
    min_free: int = 256 * 1024**2  # bytes a download leaves free on its disk


@dataclass(frozen=True, slots=True, kw_only=True)
class PortOptions:
    """How ``aioscout ports`` scans: which ports, how many at once, how long to wait.

    ``ports`` are specs like ``"22,80,8000-8100"`` (``"1-65535"`` for all);
    with none, the first ``top_ports`` of the shipped ranking (100 when both
    are empty). ``connections`` caps sockets open at once (connecting or being
    identified) and ``per_host`` those to one host; ``rate`` caps connection
    attempts per second (0: no cap). A port that does not answer within
    ``connect_timeout`` is tried ``retries`` more times, then reported
    ``filtered``; ``connect_timeout`` is the ceiling, a host that has answered
    gets a few of its round trips (see :mod:`aioscout.probes._sweep`). An open
    port is identified (``banners``) within ``read_timeout`` seconds: it is
    listened to for ``banner_wait`` seconds, then asked (HTTP, Redis ``PING``,
    TLS ClientHello) for the rest (the last two, on connections of their own,
    wait 0.3 s for an answer), and at most ``banner_bytes`` are read. A distant
    host gets three of its connect round trips more (a question on a new
    connection costs two). ``report_all`` gives a record per closed and
    filtered port too.
    """

    ports: tuple[str, ...] = ()
    top_ports: int = 0
    connections: int = 1000
    per_host: int = 256
    rate: float = 0.0
    connect_timeout: float = 1.0
    retries: int = 1
    banners: bool = True
    banner_wait: float = 0.25
    read_timeout: float = 1.0
    banner_bytes: int = 1024
    report_all: bool = False
    resolvers: tuple[str, ...] = ()  # "ip[:port]"; empty: the system's

    def __post_init__(self) -> None:
        if self.connections < 1 or self.per_host < 1:
            raise ConfigError("connections and per_host must be at least 1")
        if self.rate < 0 or self.retries < 0 or self.top_ports < 0 or self.banner_bytes < 1:
            raise ConfigError(
                "rate, retries and top_ports must not be negative, banner_bytes positive"
            )
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.banner_wait < 0:
            raise ConfigError("connect_timeout and read_timeout must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanConfig:
    """What the engine needs to run any probe.

    The size caps of one probe (:class:`Limits`) are the probe's options, given
    to its factory, not to the engine. Invalid values raise :class:`ConfigError`.

    Example::

        from aioscout import ScanConfig, Timeouts

        cfg = ScanConfig(concurrency=500, rate=1000.0, timeouts=Timeouts(total=5))
    """

    concurrency: int = 256
    per_host: int = 8
    rate: float = 0.0  # attempts per second across the run; 0: unlimited
    retries: int = 1
    backoff: float = 0.25  # first retry delay in seconds; doubles per attempt
    timeouts: Timeouts = field(default_factory=Timeouts)
    dedup: bool = True
    dedup_window: int = 1_000_000
    queue_size: int = 0  # 0: derived from concurrency
    workers: int = 1
    loop: str = "auto"  # "auto", "uvloop" or "asyncio"
    cluster: str = ""  # "": this machine; "local" or "ray://HOST:PORT": chunks as Ray tasks
    cluster_tasks: int = 0  # chunk tasks running at once on the cluster; 0: one per CPU

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if self.per_host < 1:
            raise ConfigError("per_host must be at least 1")
        if self.rate < 0:
            raise ConfigError("rate must not be negative")
        if self.retries < 0:
            raise ConfigError("retries must not be negative")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.loop not in ("auto", "uvloop", "asyncio"):
            raise ConfigError("loop must be auto, uvloop or asyncio")
        if self.cluster not in ("", "local") and not self.cluster.startswith("ray://"):
            raise ConfigError("cluster must be 'local' or ray://HOST:PORT")
        if self.cluster_tasks < 0:
            raise ConfigError("cluster_tasks must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class SshOptions:
    """How ``aioscout ssh`` logs in, what it runs and what it keeps.

    ``command`` runs on every host; ``script`` is sent on its standard input
    (with no command: on the standard input of the user's login shell).
    ``scan`` logs in nowhere: it reports the banner, the host key and the
    authentication methods offered. ``host_keys`` is ``"strict"`` (only keys
    in ``known_hosts``), ``"accept-new"`` (trust a host's first key and add it
    to the file; a changed key is still refused) or ``"insecure"`` (no check).
    ``password`` and ``passphrase`` are never shown (``repr``, records, logs).
    """

    command: str | None = None
    script: bytes | None = None
    scan: bool = False
    username: str | None = None  # for targets that name no user
    port: int = 22  # for targets that name no port
    keys: tuple[str, ...] = ()  # private key files
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    agent_path: str | None = None  # an SSH agent's socket
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    host_keys: str = "strict"
    connect_timeout: float = 5.0  # the TCP connection
    auth_timeout: float = 10.0  # the SSH handshake and authentication
    command_timeout: float = 30.0  # the command, from its start to its exit
    max_output: int = 64 * 1024  # bytes kept of stdout, and of stderr
    max_startups: int = 8  # logins in progress per host at once (sshd's MaxStartups is 10)
    raw_output: bool = False  # exact output (base64 when not UTF-8), control characters kept

    def __post_init__(self) -> None:
        if not self.scan and self.command is None and self.script is None:
            raise ConfigError("nothing to run: give a command, a script, or scan")
        for name in ("connect_timeout", "auth_timeout", "command_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.max_output < 0:
            raise ConfigError("max_output must not be negative")
        if self.script is not None and len(self.script) > MAX_SCRIPT:
            raise ConfigError(f"the script is over {MAX_SCRIPT} bytes")
        if not 1 <= self.port <= 65535:
            raise ConfigError("port must be in 1-65535")
        if self.max_startups < 1:
            raise ConfigError("max_startups must be at least 1")
        if self.host_keys not in ("strict", "accept-new", "insecure"):
            raise ConfigError("host_keys must be strict, accept-new or insecure")


MAX_SCRIPT = 1024 * 1024
"""Largest script :class:`SshOptions` sends on a command's standard input, in bytes."""
