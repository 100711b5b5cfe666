"""Hosts per second and peak RSS of ``aioscout http`` against the lab, reproducibly.

Starts the lab in its own process (so its CPU is not the prober's), writes N
``name:port`` targets of its generated sites, runs ``aioscout http`` with the
lab DNS server as resolver, and prints hosts/s, wall time, CPU time and the
prober's peak RSS (``RUSAGE_CHILDREN``; with workers, the largest process).
Add ``--py-spy FILE`` to record a raw py-spy profile of the run.

``--server nginx`` serves the same names and pages from an nginx farm instead
of the lab's Python HTTP server (which shares the cores with the prober and
caps the figure): a generated config in a temporary directory, one
``server_name`` vhost per site on 127.0.0.1-3 (the lab's addresses), run in
the foreground by this script and stopped at the end. The lab still answers
DNS. Needs ``nginx`` on PATH or in /usr/sbin (``apt-get install nginx-light``).
With ``--latency S`` nginx delays every answer by S seconds with the echo
module's ``echo_sleep`` (``apt-get install libnginx-mod-http-echo``): a
timer in C, so the server keeps up with thousands of waiting connections
where the lab's single Python process does not, and the wall time measures
the prober. The ideal wall time (targets x latency / concurrency) is printed.

``--server farm`` probes the many-hosts benchmark's address farm instead
(``bench/ip_farm.py``: whole /24s on 127.77.0.0/16, a generated page per
address on ports 80 and 443, in processes of its own): ``--scheme`` URLs
``http://IP/`` or ``https://IP/`` for the first ``-n`` addresses, no DNS.
Needs root. ``--cprofile FILE`` runs ``aioscout http`` (``-w 1``) under
cProfile and writes its stats to FILE (``python -m pstats FILE``).

Example::

    .venv/bin/python bench/profile_http.py -n 10240 -c 200 -w 1
    .venv/bin/python bench/profile_http.py -n 10240 -c 200 -w 1 --server nginx
    .venv/bin/python bench/profile_http.py -n 20000 -c 1000 -w 2 --server nginx --latency 0.1
    .venv/bin/python bench/profile_http.py -n 2540 -w 1 --server farm --scheme https \
        --cprofile /tmp/https.prof
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aioscout.lab.sites import generated_title

BIN = Path(sys.executable).parent
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")  # where the lab puts its sites
VHOSTS = 20000  # beyond this, one catch-all vhost answers (titles not checked)
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_config(
    tmp: Path,
    port: int,
    names: list[str],
    titles: list[str],
    workers: int,
    latency: float = 0.0,
    not_found: str | None = None,
) -> str:
    listen = "".join(f"    listen {a}:{port}{{flag}};\n" for a in ADDRESSES)
    temp = "".join(
        f"    {kind}_temp_path {tmp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    out = [
        f"load_module {ECHO_MODULE};\n" if latency else "",
        f"worker_processes {workers};\ndaemon off;\nmaster_process on;\n",
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n",
        "events { worker_connections 8192; multi_accept on; }\n",
        "http {\n    access_log off;\n    default_type text/html;\n",
        "    server_names_hash_max_size 131072;\n    server_names_hash_bucket_size 128;\n",
        temp,
        "    server {\n" + listen.format(flag=" default_server backlog=8192"),
        "        location / { return 200 '<!DOCTYPE html>\\n<html><head>"
        "<title>Catch-all $host</title></head><body></body></html>\\n'; }\n    }\n",
    ]
    for name, title in zip(names, titles, strict=True):
        page = (
            '<!DOCTYPE html>\\n<html>\\n<head>\\n<meta charset="utf-8">\\n'
            f"<title>{title}</title>\\n</head>\\n<body>\\n<h1>{title}</h1>\\n"
            "</body>\\n</html>\\n"
        )
        answer = (
            f"echo_sleep {latency:g}; echo -n '{page}';" if latency else f"return 200 '{page}';"
        )
        other = ""
        if not_found is not None:  # every other path: 404 with this title, delayed alike
            missing = f"<!DOCTYPE html>\\n<html><head><title>{not_found}</title></head></html>\\n"
            other = (
                f"        location / {{ echo_status 404; echo_sleep {latency:g}; "
                f"echo -n '{missing}'; }}\n"
                if latency
                else f"        location / {{ return 404 '{missing}'; }}\n"
            )
        out.append(
            "    server {\n" + listen.format(flag="") + f"        server_name {name};\n"
            f"        location = / {{ {answer} }}\n{other}    }}\n"
        )
    out.append("}\n")
    return "".join(out)


def nginx_with_echo() -> bool:
    """True when nginx and its echo module (for delayed answers) are installed."""
    return bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) and ECHO_MODULE.exists()


def _start_nginx(
    tmp: Path,
    names: list[str],
    titles: list[str],
    workers: int,
    latency: float = 0.0,
    not_found: str | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _free_port()
    conf = Path(tmp, "nginx.conf")
    if latency and not ECHO_MODULE.exists():
        raise SystemExit(f"--latency with nginx needs {ECHO_MODULE} (libnginx-mod-http-echo)")
    conf.write_text(_nginx_config(Path(tmp), port, names, titles, workers, latency, not_found))
    proc = subprocess.Popen(
        [exe, "-p", str(tmp), "-e", str(Path(tmp, "error.log")), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:  # bounded wait for the listener
        if proc.poll() is not None:
            raise SystemExit(f"nginx exited: {Path(tmp, 'error.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("nginx did not start within 30 s") from None
            time.sleep(0.05)


def start_nginx(
    tmp: Path,
    names: list[str],
    titles: list[str],
    *,
    latency: float = 0.0,
    not_found: str | None = None,
    workers: int = 1,
) -> tuple[subprocess.Popen[bytes], int]:
    """Serve ``names`` (title i at ``/``, ``not_found`` elsewhere) from nginx; (process, port).

    Stop it with :func:`stop_nginx`.
    """
    return _start_nginx(tmp, names, titles, workers, latency, not_found)


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    """Stop an nginx started by :func:`start_nginx`."""
    _stop_nginx(proc)


def _stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # fast shutdown of master and workers
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


_CPROFILE = """
import cProfile, sys
from aioscout.cli import _run  # the command without main()'s os._exit, so the stats get written
prof = cProfile.Profile()
code = prof.runcall(_run, sys.argv[2:], "aioscout")
prof.dump_stats(sys.argv[1])
sys.exit(code)
"""


def _aioscout_cmd(args: argparse.Namespace, targets: Path, out: Path, *extra: str) -> list[str]:
    """``aioscout http`` over ``targets``, under py-spy or cProfile when asked."""
    cmd = [str(BIN / "aioscout"), "http", "-l", str(targets), "-o", str(out), "-s"]
    cmd += ["-c", str(args.concurrency), "--workers", str(args.workers), *extra, *args.extra]
    if args.cprofile:
        return [sys.executable, "-c", _CPROFILE, args.cprofile, *cmd[1:]]
    if args.py_spy:
        spy = [str(BIN / "py-spy"), "record", "-r", "200", "-f", "raw"]
        return [*spy, "-o", args.py_spy, "--subprocesses", "--", *cmd]
    return cmd


def _measured(cmd: list[str], out: Path) -> dict[str, Any]:
    """Run ``cmd``: its wall and CPU seconds, its peak RSS and the records it wrote."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": wall,
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "records": [json.loads(line) for line in out.read_text().splitlines()],
    }


def _farm_main(args: argparse.Namespace) -> int:
    """``--server farm``: the first ``-n`` addresses of the many-hosts farm, as URLs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ip_farm

    blocks = -(-args.targets // ip_farm.HOSTS_PER_BLOCK)
    with (
        tempfile.TemporaryDirectory(prefix="aioscout-bench-") as tmp,
        ip_farm.ip_farm(blocks) as farm,
    ):
        urls = farm.urls(args.scheme)[: args.targets]
        targets, out = Path(tmp, "targets.txt"), Path(tmp, "out.jsonl")
        targets.write_text("".join(f"{u}\n" for u in urls))
        cmd = _aioscout_cmd(args, targets, out)
        cpu_before = farm.cpu_seconds()
        run = _measured(cmd, out)
        farm_cpu = farm.cpu_seconds() - cpu_before
    want = ip_farm.truth(urls, blocks=blocks)
    records = run.pop("records")
    exact = sum((r.get("status"), r.get("title")) == want.get(r.get("input")) for r in records)
    wall = run.pop("wall_s")
    summary = {"command": " ".join(cmd), "targets": len(urls), "records": len(records)}
    summary |= {"exact_title": exact, "server": "farm", "wall_s": round(wall, 2)}
    summary |= {"hosts_per_s": round(len(records) / wall), **run, "farm_cpu_s": round(farm_cpu, 2)}
    print(json.dumps(summary, indent=2))
    return 0 if exact == len(urls) else 1


def main() -> int:
    """Parse the options, run one measured probe, print its figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--targets", type=int, default=10240)
    ap.add_argument("-c", "--concurrency", type=int, default=200)
    ap.add_argument("-w", "--workers", type=int, default=1)
    ap.add_argument("--scheme", choices=("http", "https"), default="http")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--server", choices=("lab", "nginx", "farm"), default="lab")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--py-spy", metavar="FILE", help="record a raw py-spy profile here")
    ap.add_argument("--cprofile", metavar="FILE", help="write cProfile stats here (-w 1)")
    ap.add_argument("extra", nargs="*", help="more aioscout http options (after --)")
    args = ap.parse_args()
    if args.server == "farm":
        return _farm_main(args)

    with tempfile.TemporaryDirectory(prefix="aioscout-bench-") as tmp:
        state = Path(tmp, "lab.json")
        up = [str(BIN / "aioscout"), "lab", "up", "--no-hostile", "--state-file", str(state)]
        up += ["--sites", str(args.targets), "--dns-names", "0"]
        if args.latency and args.server == "lab":
            up += ["--latency", str(args.latency)]
        subprocess.run(up, check=True, stdout=subprocess.DEVNULL, timeout=120)
        nginx: subprocess.Popen[bytes] | None = None
        try:
            lab = json.loads(state.read_text())
            names = [f"site-{i:05d}.{lab['origin']}" for i in range(1, args.targets + 1)]
            titles = [generated_title(i) for i in range(1, args.targets + 1)]
            port = lab[f"{args.scheme}_port"]
            if args.server == "nginx":
                if args.scheme != "http":
                    raise SystemExit("--server nginx serves plain http")
                nginx, port = _start_nginx(
                    Path(tmp), names[:VHOSTS], titles[:VHOSTS], args.nginx_workers, args.latency
                )
            targets = Path(tmp, "targets.txt")
            with targets.open("w") as f:
                for name in names:
                    f.write(f"{name}:{port}\n")
            out = Path(tmp, "out.jsonl")
            cmd = _aioscout_cmd(args, targets, out, "--resolver", lab["dns_address"])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(cmd, check=True, timeout=600)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            records = [json.loads(line) for line in out.read_text().splitlines()]
        finally:
            if nginx is not None:
                _stop_nginx(nginx)
            subprocess.run(
                [str(BIN / "aioscout"), "lab", "down", "--state-file", str(state)],
                check=False,
                stdout=subprocess.DEVNULL,
                timeout=60,
            )
    want = dict(zip((f"{n}:{port}" for n in names), titles, strict=True))
    ok = sum(r.get("status") == 200 and bool(r.get("title")) for r in records)
    exact = sum(r.get("status") == 200 and r.get("title") == want.get(r["input"]) for r in records)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "command": " ".join(cmd),
                "targets": args.targets,
                "records": len(records),
                "ok_with_title": ok,
                "exact_title": exact,
                "server": args.server,
                "wall_s": round(wall, 2),
                **(
                    {"x_ideal": round(wall / (args.targets * args.latency / args.concurrency), 2)}
                    if args.latency
                    else {}
                ),
                "hosts_per_s": round(len(records) / wall),
                "cpu_s": round(cpu, 2),
                "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )
    return 0 if len(records) == args.targets else 1


if __name__ == "__main__":
    sys.exit(main())
