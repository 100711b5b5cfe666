"""``aioscout ssh``: run a command on many hosts over SSH (AsyncSSH), or audit their SSH servers.

One target is one login: a TCP connection, the SSH handshake with the host
key checked against known_hosts (see :mod:`._ssh_hostkeys`), authentication
(keys, an agent, a password), one session running the command (with the
script on its standard input), and one :class:`~aioscout.SshResult`.
``scan`` stops after the handshake: it asks for the authentication methods
with a ``none`` request and never logs in.

Time
----
Each phase has its own budget and the whole attempt has the engine's total:
``connect_timeout`` for TCP, ``auth_timeout`` for the handshake and the
login, ``command_timeout`` for the command. A command still running when its
budget (or the total, less a reserve for stopping it) runs out is stopped on
the remote side: ``TERM``, then ``KILL`` a moment later, then the channel is
closed; the record keeps what it printed and says ``timeout``. So the probe
always answers within the total (``keeps_deadline``).

Errors
------
``refused``, ``unreachable``, ``dns`` and ``timeout`` for the connection;
``host_key_mismatch`` (a known host with another key: refused before any
credential is sent), ``host_key_unknown`` (strict policy, host not in
known_hosts); ``auth`` (no credential accepted); ``protocol`` (not SSH, no
common algorithm, a channel refused); ``reset`` (the connection was lost).
A command's own failure is not an error: its ``exit_status`` says it.
Passwords and passphrases are masked in every detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .._config import MAX_SCRIPT, ScanConfig, SshOptions
from .._exceptions import ConfigError
from .._models import ErrorInfo, ErrorKind, SshResult
from ..targets.ssh import SshTarget, parse_ssh_target
from ._errors import ProbeError, classify
from ._http_secrets import Redactor
from ._ssh_hostkeys import HostKeys, Verdict
from ._ssh_output import Capture, render, sanitize

try:
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        # AsyncSSH still names DSA types at import time; cryptography warns about that.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import asyncssh
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ConfigError(
        "aioscout ssh needs AsyncSSH: pip install 'aioscout[ssh]' (or: pip install asyncssh)"
    ) from exc

__all__ = ["MAX_SCRIPT", "SshProbe", "key_needs_passphrase", "make_ssh_probe"]

_TERM_WAIT = 0.2  # seconds a command gets to exit after TERM, before KILL
_KILL_WAIT = 0.05  # seconds the exit after KILL is waited for, before the channel is closed
_STOP_RESERVE = _TERM_WAIT + _KILL_WAIT + 0.25  # of the total, kept for stopping and closing
_CLOSE_WAIT = 0.5  # seconds a closing connection is waited for
_MAX_DETAIL = 300
_AUTH_ORDER = "publickey,keyboard-interactive,password"
# AES-GCM first (one AEAD call per packet in cryptography's C code); the usual list follows.
_CIPHERS_FIRST = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
_SCAN_METHODS = "publickey,keyboard-interactive,password,hostbased,gssapi-with-mic,gssapi-keyex"
_PROTOCOL_ERRORS = (
    asyncssh.ProtocolError,
    asyncssh.ProtocolNotSupported,
    asyncssh.KeyExchangeFailed,
    asyncssh.MACError,
    asyncssh.CompressionError,
    asyncssh.ServiceNotAvailable,
    asyncssh.IllegalUserName,
    asyncssh.ChannelOpenError,
)


def key_needs_passphrase(path: str) -> bool | None:
    """Whether the private key in ``path`` is encrypted (``None``: not a readable key)."""
    try:
        asyncssh.read_private_key(os.path.expanduser(path))
    except asyncssh.KeyEncryptionError:
        return True
    except asyncssh.KeyImportError as exc:
        return True if "passphrase" in str(exc).lower() else None
    except OSError:
        return None
    return False


class _Client(asyncssh.SSHClient):
    """Sees the host key during the handshake and asks :class:`HostKeys` about it."""

    def __init__(self, keys: HostKeys | None, target: SshTarget) -> None:
        self._keys = keys
        self._target = target
        self.conn: asyncssh.SSHClientConnection | None = None
        self.key: asyncssh.SSHKey | None = None
        self.verdict: Verdict | None = None
        self.problem: str | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.key = key
        if self._keys is None:  # scan: any key is reported, none trusted
            return True
        try:
            self.verdict = self._keys.judge(self._target.host, self._target.port, key)
        except OSError as exc:
            self.verdict = Verdict.UNKNOWN
            self.problem = f"cannot add it to {self._keys.path}: {exc.strerror or exc}"
        return self.verdict is Verdict.ACCEPTED


class _Session(asyncssh.SSHClientSession[bytes]):
    """One command: its output (capped), its exit, and when its channel closed."""

    def __init__(self, cap: int, done: asyncio.Future[Exception | None]) -> None:
        self.stdout = Capture(cap)
        self.stderr = Capture(cap)
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.done = done

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        (self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout).feed(data)

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = sanitize(signal)[:32]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)


class _LoginGate:
    """At most ``width`` logins in progress per host; the commands that follow are not counted.

    sshd drops new connections at random once ``MaxStartups`` (10 by default)
    are still logging in, so a host is given a few at a time, while any number
    of logged-in sessions may run. A host's entry lives while someone uses it.
    """

    def __init__(self, width: int) -> None:
        self._width = width
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str, deadline: float) -> AsyncIterator[None]:
        """Hold one of ``host``'s login slots (``timeout`` if none frees before ``deadline``)."""
        gate, users = self._hosts.get(host, (None, 0))
        if gate is None:
            gate = asyncio.Semaphore(self._width)
        self._hosts[host] = (gate, users + 1)
        try:
            try:
                async with asyncio.timeout(_remaining(deadline)):
                    await gate.acquire()
            except TimeoutError as exc:
                raise ProbeError(
                    ErrorKind.TIMEOUT, "no login slot for this host freed in time", connect=True
                ) from exc
            try:
                yield
            finally:
                gate.release()
        finally:
            gate, users = self._hosts[host]
            if users <= 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (gate, users - 1)


@dataclass(slots=True)
class _Attempt:
    """What one attempt learned so far (a failure keeps what came before it)."""

    target: SshTarget
    deadline: float
    client: _Client | None = None
    session: _Session | None = None
    auth_methods: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _text(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return sanitize(msg)[:_MAX_DETAIL]


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


async def _open_socket(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket to ``host:port`` (each address in turn)."""
    loop = asyncio.get_running_loop()
    try:
        ip = ipaddress.ip_address(host)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        addrs: list[tuple[socket.AddressFamily, Any]] = [(family, (host, port))]
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addrs = [(info[0], info[4]) for info in infos]
    last: OSError | None = None
    for family, addr in addrs:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    assert last is not None
    raise last


class SshProbe:
    """The SSH probe plug-in for the engine (see the module docstring).

    Args:
        options: what to run and how to log in.
        total: seconds one attempt may take in all (the engine's total).

    Example::

        probe = SshProbe(SshOptions(command="uname -a", username="admin",
                                    keys=("id_ed25519",)), total=40.0)
        await probe.start()
        try:
            for target in probe.expand("127.0.0.1:2222"):
                record = await probe.probe("127.0.0.1:2222", target)
        finally:
            await probe.aclose()
    """

    keeps_deadline = True

    def __init__(self, options: SshOptions, *, total: float) -> None:
        if total <= 0:
            raise ConfigError("the total time-out must be positive")
        self._options = options
        phases = options.connect_timeout + options.auth_timeout
        if not options.scan:
            phases += options.command_timeout + _STOP_RESERVE
        self._budget = min(total, phases)
        path = options.known_hosts or os.path.join("~", ".ssh", "known_hosts")
        self._host_keys = HostKeys(os.path.expanduser(path), options.host_keys)
        secrets = [s for s in (options.password, options.passphrase) if s]
        self._redactor = Redactor(secrets)
        self._base: asyncssh.SSHClientConnectionOptions | None = None
        self._gate = _LoginGate(options.max_startups)

    # -- the engine's side -------------------------------------------------

    def expand(self, line: str) -> list[SshTarget]:
        """The one endpoint a line names; raises InvalidTarget otherwise."""
        opts = self._options
        return [parse_ssh_target(line, user=opts.username, port=opts.port)]

    def host_of(self, target: SshTarget) -> str:
        """The per-host cap key: the host name or IP."""
        return target.host

    def identity(self, target: SshTarget) -> str:
        """``user@host:port``."""
        return str(target)

    def failed(self, line: str, target: SshTarget | None, error: ErrorInfo) -> SshResult:
        """The record for a target given up on (invalid input, engine timeout, ...)."""
        error = ErrorInfo(error.kind, self._redactor.redact(error.detail))
        record = SshResult(input=self._shown(line), error=error)
        if target is not None:
            record.host, record.port, record.user = target.host, target.port, target.user
        return record

    async def start(self) -> None:
        """Load the keys and the known hosts; prepare the connection options once."""
        if self._base is not None:
            return
        opts = self._options
        keys = [await asyncio.to_thread(self._load_key, path) for path in opts.keys]
        await asyncio.to_thread(self._host_keys.load)
        client_keys: Any = keys or (() if opts.agent_path else None)
        self._base = asyncssh.SSHClientConnectionOptions(
            config=None,
            known_hosts=None,
            client_keys=client_keys,
            password=opts.password,
            agent_path=opts.agent_path,
            gss_host=None,
            x509_trusted_certs=None,
            preferred_auth=_SCAN_METHODS if opts.scan else _AUTH_ORDER,
            compression_algs=None,
            encryption_algs=_CIPHERS_FIRST,
            keepalive_interval=0,
            connect_timeout=None,
        )

    def _load_key(self, path: str) -> asyncssh.SSHKey:
        try:
            return asyncssh.read_private_key(os.path.expanduser(path), self._options.passphrase)
        except asyncssh.KeyEncryptionError as exc:
            raise ConfigError(f"cannot decrypt key {path}: wrong passphrase") from exc
        except (OSError, asyncssh.KeyImportError) as exc:
            if "passphrase" in str(exc).lower():
                raise ConfigError(f"key {path} is encrypted: give its passphrase") from exc
            why = exc.strerror if isinstance(exc, OSError) else _text(exc)
            raise ConfigError(f"cannot read key {path}: {self._redactor.redact(str(why))}") from exc

    async def aclose(self) -> None:
        """Nothing is pooled: every connection is closed by the probe that opened it."""
        self._base = None

    # -- one host ------------------------------------------------------------

    async def probe(self, line: str, target: SshTarget) -> SshResult:
        """Log in to one host and run the command (or scan it); never raises for the network."""
        if self._base is None:
            raise RuntimeError("SshProbe.start() must be awaited before probe()")
        started = time.monotonic()
        attempt = _Attempt(target, started + self._budget)
        error: ErrorInfo | None = None
        try:
            await self._attempt(attempt)
        except ProbeError as exc:
            error = self._redactor.info(exc)
        except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
            error = self._redactor.info(self._classify(exc, attempt))
        except Exception as exc:  # a bug: still one record
            bug = ProbeError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {_text(exc)}")
            error = self._redactor.info(bug)
        return self._record(line, attempt, error, time.monotonic() - started)

    async def _attempt(self, attempt: _Attempt) -> None:
        opts = self._options
        target = attempt.target
        async with self._gate.slot(target.host, attempt.deadline):
            try:
                async with asyncio.timeout(min(opts.connect_timeout, _remaining(attempt.deadline))):
                    sock = await _open_socket(target.address or target.host, target.port)
            except TimeoutError as exc:
                raise ProbeError(ErrorKind.TIMEOUT, "TCP connect timed out", connect=True) from exc
            except OSError as exc:
                raise classify(exc) from exc
            if opts.scan:
                await self._scan(sock, attempt)
                return
            conn = await self._login(sock, attempt)
        try:
            await self._run(conn, attempt)
        finally:
            conn.close()
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                async with asyncio.timeout(min(_CLOSE_WAIT, _remaining(attempt.deadline))):
                    await conn.wait_closed()

    async def _login(self, sock: socket.socket, attempt: _Attempt) -> asyncssh.SSHClientConnection:
        target = attempt.target
        insecure = self._options.host_keys == "insecure"
        client = attempt.client = _Client(None if insecure else self._host_keys, target)
        known: Any = None if insecure else self._host_keys.trusted(target.host, target.port)
        budget = min(self._options.auth_timeout, _remaining(attempt.deadline))
        try:
            async with asyncio.timeout(budget):
                return await asyncssh.connect(
                    sock=sock,
                    options=self._base,
                    username=target.user,
                    known_hosts=known,
                    client_factory=lambda: client,
                )
        except TimeoutError as exc:
            sock.close()  # a no-op when a transport took it (and closed it on failing)
            raise ProbeError(
                ErrorKind.TIMEOUT, f"SSH handshake and login took over {budget:g}s"
            ) from exc
        except BaseException:
            sock.close()
            raise

    async def _run(self, conn: asyncssh.SSHClientConnection, attempt: _Attempt) -> None:
        opts = self._options
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Exception | None] = loop.create_future()
        session = _Session(opts.max_output, done)
        command: Any = opts.command if opts.command is not None else ()
        try:
            chan, _ = await asyncio.wait_for(
                conn.create_session(lambda: session, command, encoding=None),
                _remaining(attempt.deadline),
            )
        except TimeoutError as exc:
            raise ProbeError(ErrorKind.TIMEOUT, "the server did not open a session") from exc
        attempt.session = session
        if opts.script is not None:
            chan.write(opts.script)
        chan.write_eof()
        stop_at = min(time.monotonic() + opts.command_timeout, attempt.deadline - _STOP_RESERVE)
        try:
            await asyncio.wait([done], timeout=max(stop_at - time.monotonic(), 0.0))
        except asyncio.CancelledError:  # the run is aborted: the command must not live on
            if not done.done():
                with contextlib.suppress(OSError, asyncssh.Error):
                    chan.send_signal("KILL")
            raise
        if not done.done():
            sent = await self._stop(chan, done)
            raise ProbeError(
                ErrorKind.TIMEOUT,
                f"the command ran past its {opts.command_timeout:g}s time-out"
                f" (or the total): sent {sent}, closed the channel",
            )
        lost = done.result()
        if lost is not None:
            raise lost

    @staticmethod
    async def _stop(
        chan: asyncssh.SSHClientChannel[bytes], done: asyncio.Future[Exception | None]
    ) -> str:
        """Stop a command on the remote side: TERM, then KILL, then close the channel."""
        sent = []
        for signal, wait in (("TERM", _TERM_WAIT), ("KILL", _KILL_WAIT)):
            with contextlib.suppress(OSError, asyncssh.Error):
                chan.send_signal(signal)
                sent.append(signal)
            await asyncio.wait([done], timeout=wait)
            if done.done():
                break
        chan.close()
        return " then ".join(sent) or "no signal"

    async def _scan(self, sock: socket.socket, attempt: _Attempt) -> None:
        target = attempt.target
        client = attempt.client = _Client(None, target)
        options = asyncssh.SSHClientConnectionOptions(
            options=self._base, client_factory=lambda: client
        )
        budget = min(self._options.auth_timeout, _remaining(attempt.deadline))
        try:
            async with asyncio.timeout(budget):
                methods = await asyncssh.get_server_auth_methods(
                    sock=sock, username=target.user, options=options
                )
        except TimeoutError as exc:
            sock.close()
            raise ProbeError(ErrorKind.TIMEOUT, f"SSH handshake took over {budget:g}s") from exc
        except BaseException:
            sock.close()
            raise
        attempt.auth_methods = [sanitize(m) for m in methods]

    # -- records -------------------------------------------------------------

    def _classify(self, exc: BaseException, attempt: _Attempt) -> ProbeError:
        """The most specific error for an exception of AsyncSSH or the socket layer."""
        client = attempt.client
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return self._host_key_error(exc, client)
        if isinstance(exc, asyncssh.PermissionDenied):
            return ProbeError(ErrorKind.AUTH, f"no credential accepted for {attempt.target.user}")
        if isinstance(exc, asyncssh.ConnectionLost):
            where = "while the command ran" if attempt.session else "during the handshake"
            return ProbeError(ErrorKind.RESET, f"connection lost {where}: {_text(exc)}")
        if isinstance(exc, _PROTOCOL_ERRORS):
            return ProbeError(ErrorKind.PROTOCOL, _text(exc))
        if isinstance(exc, asyncssh.DisconnectError):
            return ProbeError(ErrorKind.PROTOCOL, f"disconnected: {_text(exc)}")
        if isinstance(exc, asyncssh.Error):
            return ProbeError(ErrorKind.PROTOCOL, _text(exc))
        return classify(exc)

    def _host_key_error(self, exc: BaseException, client: _Client | None) -> ProbeError:
        key = client.key if client is not None else None
        shown = key.get_fingerprint("sha256") if key is not None else "?"
        path = self._host_keys.path
        verdict = client.verdict if client is not None else None
        if verdict is Verdict.UNKNOWN:
            why = f" ({client.problem})" if client is not None and client.problem else ""
            detail = f"host key {shown} is not in {path}{why}"
            return ProbeError(ErrorKind.HOST_KEY_UNKNOWN, detail)
        if verdict is Verdict.MISMATCH:
            return ProbeError(
                ErrorKind.HOST_KEY_MISMATCH,
                f"host key {shown} differs from the one known in {path}: refused",
            )
        return ProbeError(ErrorKind.HOST_KEY_MISMATCH, f"{_text(exc)} ({shown})")

    def _record(
        self, line: str, attempt: _Attempt, error: ErrorInfo | None, elapsed: float
    ) -> SshResult:
        target = attempt.target
        record = SshResult(
            input=self._shown(line),
            host=target.host,
            port=target.port,
            user=target.user,
            time_ms=round(elapsed * 1000, 1),
            auth_methods=attempt.auth_methods,
            error=error,
        )
        client = attempt.client
        if client is not None:
            key = client.key
            if client.conn is not None:
                version = client.conn.get_extra_info("server_version")
                record.server_version = sanitize(str(version))[:256] if version else None
                key = key or client.conn.get_server_host_key()
            if key is not None:
                record.host_key_type = key.get_algorithm()
                record.host_key_fingerprint = key.get_fingerprint("sha256")
        session = attempt.session
        if session is not None:
            raw = self._options.raw_output
            mask = self._redactor.redact_bytes  # a command may echo the password
            out = render(mask(session.stdout.value()), raw=raw, cut=session.stdout.truncated)
            err = render(mask(session.stderr.value()), raw=raw, cut=session.stderr.truncated)
            record.exit_status = session.exit_status
            record.exit_signal = session.exit_signal
            record.stdout, record.stdout_base64 = out.text, out.base64
            record.stderr, record.stderr_base64 = err.text, err.base64
            record.stdout_truncated = session.stdout.truncated
            record.stderr_truncated = session.stderr.truncated
        return record

    def _shown(self, line: str) -> str:
        """The input line as a record holds it: known secrets and ``user:password@`` masked."""
        userinfo, at, rest = line.rpartition("@")
        if at and ":" in userinfo and "://" not in userinfo:
            line = "***@" + rest
        return self._redactor.redact(line)


def make_ssh_probe(options: SshOptions, config: ScanConfig) -> SshProbe:
    """Build an :class:`SshProbe` whose attempts end within ``config``'s total."""
    return SshProbe(options, total=config.timeouts.total)
