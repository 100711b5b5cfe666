"""``aioscout ssh``: run a command on many hosts over SSH, or audit their SSH servers.

This module reads the flags and the environment (the password variable, the
agent's socket, the home directory's keys) and turns them into
:class:`SshOptions`; nothing below it does. Secrets come from a variable or a
prompt on the terminal, never from the command line, and never reach the
checkpoint's fingerprint.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import os
import sys
from typing import Any

import click

from .. import registry
from .._config import SshOptions, Timeouts
from .._exceptions import ConfigError
from ._checks import check_source
from ._common import (
    GroupedCommand,
    all_targets,
    common_options,
    fail,
    fingerprint,
    input_identity,
    output_spec,
    parse_timeouts,
    run_command,
    scan_config_from,
)

__all__ = ["ssh", "ssh_budget"]

_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
_STOP_RESERVE = 1.0  # seconds of the default total kept for stopping a command and closing


def ssh_budget(options: SshOptions) -> float:
    """The total per host that the phases' time-outs add up to (the default ``--timeout``)."""
    total = options.connect_timeout + options.auth_timeout
    return total if options.scan else total + options.command_timeout + _STOP_RESERVE


def _secret_from_env(name: str | None, flag: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        fail(f"{flag} {name}: the variable is not set")
    return value


def _prompt(what: str) -> str:
    """Ask on the terminal (not standard input, which may carry the targets)."""
    try:
        with open("/dev/tty", "rb"):
            pass
    except OSError:
        fail(f"no terminal to ask for the {what}: use the matching --*-env VARIABLE option")
    return getpass.getpass(f"SSH {what}: ")


def _encrypted(path: str) -> bool | None:
    """Whether a private key needs a passphrase (``None``: not a readable key)."""
    from ..probes.ssh import key_needs_passphrase  # AsyncSSH loads only for this command

    return key_needs_passphrase(path)


def _keys(given: tuple[str, ...], passphrase: str | None) -> tuple[tuple[str, ...], bool]:
    """The key files to offer, and whether one needs a passphrase not given yet.

    With no ``-i``, the usual files in ``~/.ssh`` that exist; those that are
    encrypted are skipped unless a passphrase was given (an agent usually
    holds them).
    """
    if given:
        for path in given:
            if not os.access(os.path.expanduser(path), os.R_OK):
                fail(f"-i {path}: cannot read the key")
        return given, passphrase is None and any(_encrypted(p) for p in given)
    found = []
    for name in _DEFAULT_KEYS:
        path = os.path.join(os.path.expanduser("~"), ".ssh", name)
        if os.access(path, os.R_OK) and (passphrase is not None or _encrypted(path) is False):
            found.append(path)
    return tuple(found), False


def _work(p: dict[str, Any]) -> tuple[str | None, int | None]:
    """The command from ``-c``, and a concurrency given as ``-c N`` beside the work.

    ``-c`` is the command here, as ``ssh -c`` reads naturally; the other
    commands spell concurrency ``-c N``, so a number given with ``-c`` next to
    another ``-c COMMAND``, ``--script`` or ``--scan`` is taken as that.
    """
    given = list(p["commands"])
    numbers = [c for c in given if c.strip().isdigit()]
    others = [c for c in given if not c.strip().isdigit()]
    concurrency = None
    if numbers and (others or p["script"] or p["scan"]):
        concurrency, given = int(numbers[-1]), others
    if len(given) > 1:
        fail("give one command with -c (use --script FILE for several lines)")
    if concurrency is not None and concurrency < 1:
        fail("-c N: concurrency must be at least 1")
    return (given[0] if given else None), concurrency


def _host_keys(p: dict[str, Any]) -> str:
    if p["accept_new"] and p["insecure_no_host_check"]:
        fail("--accept-new and --insecure-no-host-check exclude each other")
    if p["insecure_no_host_check"]:
        return "insecure"
    return "accept-new" if p["accept_new"] else "strict"


def _timeouts(p: dict[str, Any], options: SshOptions) -> tuple[SshOptions, Timeouts | None]:
    """Apply ``--timeout``: a plain number is the total per host; ``connect=`` is the TCP phase."""
    spec = p["timeout_spec"]
    if spec is None:
        return options, None
    timeouts = parse_timeouts(spec)
    if "connect=" in spec:
        options = dataclasses.replace(options, connect_timeout=timeouts.connect)
    return options, timeouts


def ssh_options_from(p: dict[str, Any]) -> SshOptions:
    """The :class:`SshOptions` the flags, the environment and the prompts give."""
    command, _ = _work(p)
    if command is None and p["script"] is None and not p["scan"]:
        fail("nothing to run: give -c COMMAND, --script FILE or --scan")
    script = None
    if p["script"] is not None:
        try:
            with open(p["script"], "rb") as fh:
                script = fh.read(2 * 1024 * 1024)
        except OSError as exc:
            fail(f"--script {p['script']}: {exc.strerror or exc}")
    password = _secret_from_env(p["password_env"], "--password-env")
    if password is None and p["ask_password"]:
        password = _prompt("password")
    passphrase = _secret_from_env(p["passphrase_env"], "--passphrase-env")
    keys, needs_passphrase = ((), False) if p["scan"] else _keys(p["identity"], passphrase)
    if needs_passphrase:
        passphrase = _prompt("key passphrase")
    agent = None if p["no_agent"] or p["scan"] else os.environ.get("SSH_AUTH_SOCK") or None
    return SshOptions(
        command=command,
        script=script,
        scan=p["scan"],
        username=p["user"] or getpass.getuser(),
        port=p["port"],
        keys=keys,
        passphrase=passphrase,
        password=password,
        agent_path=agent if agent and os.path.exists(agent) else None,
        known_hosts=p["known_hosts"],
        host_keys=_host_keys(p),
        connect_timeout=p["connect_timeout"],
        auth_timeout=p["auth_timeout"],
        command_timeout=p["command_timeout"],
        max_output=p["max_output"],
        max_startups=p["max_startups"],
        raw_output=p["raw_output"],
    )


class _SshCommand(GroupedCommand):
    """``--help`` with this command's own options first, under "SSH"."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ours = [
            p for p in self.get_params(ctx) if p.name in _SSH_FLAGS and isinstance(p, click.Option)
        ]
        records = [r for r in (p.get_help_record(ctx) for p in ours) if r is not None]
        with formatter.section("SSH"):
            formatter.write_dl(records)
        for param in ours:  # shown above, not again under "Other"
            param.hidden = True
        try:
            super().format_options(ctx, formatter)
        finally:
            for param in ours:
                param.hidden = False


@click.command(cls=_SshCommand)
@common_options(default_concurrency=50)
@click.option(
    "-c",
    "--command",
    "commands",
    multiple=True,
    metavar="COMMAND",
    help="Run COMMAND on every host. (A number given as a second -c, or beside"
    " --script or --scan, is the concurrency, as -c N is in the other commands.)",
)
@click.option(
    "--script",
    metavar="FILE",
    help="Send FILE on the standard input of a shell (of COMMAND, with -c).",
)
@click.option(
    "--scan",
    is_flag=True,
    help="Log in nowhere: report each server's banner, host key and auth methods.",
)
@click.option("-u", "--user", metavar="USER", help="Log in as USER (default: your user name).")
@click.option(
    "-p", "--port", type=click.IntRange(1, 65535), default=22, show_default=True,
    help="Port for targets that name none.",
)  # fmt: skip
@click.option(
    "-i", "--identity", multiple=True, metavar="KEY",
    help="Private key file (repeatable; default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa).",
)  # fmt: skip
@click.option(
    "--password-env", metavar="VAR", help="Read the password from environment variable VAR."
)
@click.option("-k", "--ask-password", is_flag=True, help="Ask for the password on the terminal.")
@click.option(
    "--passphrase-env", metavar="VAR", help="Read the keys' passphrase from variable VAR."
)
@click.option("--no-agent", is_flag=True, help="Do not use the SSH agent (SSH_AUTH_SOCK).")
@click.option(
    "--known-hosts", metavar="FILE", help="Known host keys (default: ~/.ssh/known_hosts)."
)
@click.option(
    "--accept-new",
    is_flag=True,
    help="Trust a host's first key and add it to the known hosts (a changed key is still refused).",
)
@click.option(
    "--insecure-no-host-check",
    is_flag=True,
    help="Do not check host keys at all (anyone in the path can read what is sent).",
)
@click.option(
    "--connect-timeout", type=click.FloatRange(0.001), default=5.0, show_default=True,
    help="Seconds for the TCP connection.",
)  # fmt: skip
@click.option(
    "--auth-timeout", type=click.FloatRange(0.001), default=10.0, show_default=True,
    help="Seconds for the SSH handshake and login.",
)  # fmt: skip
@click.option(
    "--command-timeout", type=click.FloatRange(0.001), default=30.0, show_default=True,
    help="Seconds the command may run; then it is sent TERM, KILL and its channel closed.",
)  # fmt: skip
@click.option(
    "--max-output", type=click.IntRange(0), default=64 * 1024, show_default=True,
    metavar="BYTES", help="Bytes kept of stdout, and of stderr (the rest is counted as cut).",
)  # fmt: skip
@click.option(
    "--max-startups", type=click.IntRange(1), default=8, show_default=True, metavar="N",
    help="Logins in progress per host at once (sshd drops connections past its MaxStartups,"
    " 10 by default); sessions already logged in are not counted.",
)  # fmt: skip
@click.option(
    "--raw-output",
    is_flag=True,
    help="Keep output exactly (base64 when not UTF-8) instead of removing control characters.",
)
def ssh(**p: Any) -> None:
    """Run a command on many hosts over SSH, one JSON record per host.

    Targets: host, host:port, user@host:port, ssh:// URLs, or JSON records
    with host/ip and port (what `aioscout ports` writes), as arguments, from
    -l FILE or on stdin. Host keys are checked against known_hosts; a changed
    key is refused (host_key_mismatch). Passwords come from --password-env or
    -k, never from the command line. Concurrency is --concurrency (-t) here,
    since -c is the command. --timeout is the total per host (default: the
    three phase time-outs added up); --retries defaults to 0, as a retry runs
    the command again.

    \b
    Examples:
      aioscout ssh -l hosts.txt -u admin -i ~/.ssh/id_ed25519 -c 'uname -a' -o out.jsonl
      aioscout ports 127.0.0.0/28 -p 22 | aioscout ssh --scan
      aioscout ssh 127.0.0.1:2222 --accept-new --script check.sh --command-timeout 60
    """
    try:
        import aioscout.probes.ssh  # noqa: F401  (AsyncSSH, or one line saying how to get it)
    except ConfigError as exc:  # a missing dependency is no usage error: one line, exit 2
        click.echo(f"aioscout: {exc}", err=True)
        sys.exit(2)
    check_source(all_targets(p), p["list_file"])
    _, concurrency = _work(p)
    try:
        options = ssh_options_from(p)
    except ConfigError as exc:
        fail(str(exc))
    options, timeouts = _timeouts(p, options)
    params = dict(p, workers=p["workers"] or 1, timeout_spec="10")  # the total is set below
    if concurrency is not None:
        params["concurrency"] = concurrency
    if params["per_host"] is None:  # logins are gated by --max-startups instead
        params["per_host"] = params["concurrency"]
    config = scan_config_from(params)
    total = ssh_budget(options) if timeouts is None else timeouts.total
    config = dataclasses.replace(config, timeouts=Timeouts(total=total))
    run_ssh(options, config, p)


# The engine's options whose defaults differ here (shown as such in --help).
_SSH_DEFAULTS = {
    "per_host": (None, "Concurrent probes per host (default: the concurrency; logins in"
                 " progress per host are bounded by --max-startups)."),
    "timeout_spec": (None, "Seconds per host in all: N, or connect=N,total=N (default: the"
                     " connect, auth and command time-outs added up)."),
    "retries": (0, "Retries after a reset (default 0: a retry runs the command again)."),
    "workers": (None, "Worker processes, each with its own event loop (default 1: logins"
                " are bound by the servers, not by this machine's CPU)."),
}  # fmt: skip
# -c is the command and -u the user here (as in ssh): the engine's options keep their long
# names (--concurrency, also -t; --target).
_SHORT_TAKEN = ("-c", "-u")
_SSH_FLAGS = frozenset(
    {
        "commands", "script", "scan", "user", "port", "identity", "password_env",
        "ask_password", "passphrase_env", "no_agent", "known_hosts", "accept_new",
        "insecure_no_host_check", "connect_timeout", "auth_timeout", "command_timeout",
        "max_output", "max_startups", "raw_output",
    }
)  # fmt: skip
for _param in ssh.params:
    if _param.name in _SSH_FLAGS or not isinstance(_param, click.Option):
        continue
    _param.opts = [o for o in _param.opts if o not in _SHORT_TAKEN]
    if _param.name in _SSH_DEFAULTS:
        _param.default, _param.help = _SSH_DEFAULTS[_param.name]
        _param.show_default = False


def run_ssh(options: SshOptions, config: Any, p: dict[str, Any]) -> None:
    """Hand the probe, the targets and the output to the engine."""
    from ..targets.sources import open_source

    targets = all_targets(p)
    script_hash = hashlib.sha256(options.script or b"").hexdigest()[:16]
    spec = output_spec(
        p,
        "ssh",
        fingerprint(
            "ssh",
            targets,
            input_identity(p["list_file"]),
            config.dedup,
            options.username,
            options.port,
            options.scan,
            options.command,
            script_hash,
        ),
    )
    run_command(
        registry.factory("ssh", options),
        lambda: open_source(targets, p["list_file"], want=None),  # records whole: see targets.ssh
        config,
        spec,
    )
