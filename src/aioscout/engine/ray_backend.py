"""The cluster backend (``--cluster``): chunks of numbered items as Ray tasks.

Why it is built this way: this process (the driver) keeps everything that is
global and ordered, exactly as with process workers: reading the input,
numbering, deduplication, the single writer and the checkpoint. It cuts the
numbered items into chunks and submits each chunk as a Ray task that runs the
ordinary engine (limits, retries, deadlines, the probe's lane) on its own event
loop (uvloop where installed) on some node, and returns the chunk's records,
encoded when every sink takes JSON Lines. Ray Client (``ray://``) has no
streaming generators, so a chunk's records come back when the chunk is done;
chunks are small, so results still stream at the grain of a chunk.

Backpressure is end to end: at most one chunk per *lane* is in flight and a
lane buffers at most one chunk more, so the driver holds a bounded number of
items and records; a full lane makes the router wait, which makes the
producer wait.

Exactly once: Ray re-runs a chunk whose worker process or node dies
(``max_retries``); one that still fails is submitted again by the driver a few
times, then its items get ``internal`` error records. The driver takes a
record only for an item of the chunk that is still owed (by item number), so
nothing is written twice, and the checkpoint advances only over written
items: ``--resume`` after the driver dies works as on one machine.

Global limits are per-chunk budgets computed here, not a shared actor: items
are routed to lanes by host (crc32 of the host key) and a lane has one chunk
in flight at a time, so all of a host's items are probed by one task at a time
and ``--per-host`` holds as a local cap. ``--concurrency`` and ``--rate`` are
split evenly among the tasks that can run at once (never more than the
cluster's CPUs allow, since each task reserves its share of a CPU). That
costs no round trip per item or per batch of tokens, and no actor to lose;
its price is budget left unused while some lanes have no work.

Nothing here imports Ray until a run asks for a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import sys
import time
import zlib
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._config import ScanConfig
from .._exceptions import ConfigError
from .._models import ErrorInfo, ErrorKind, Record, Records
from . import frames
from .items import Block, Encoded, Filtered, Item, Result
from .protocols import OpensLane, Probe, own_filter
from .stats import Stats
from .stopper import Stopper

__all__ = [
    "ChunkJob",
    "ChunkResult",
    "LocalHead",
    "RayExecutor",
    "connect",
    "local_gcs",
    "pin_lanes",
    "plan",
    "run_chunk",
]

_CHUNK = 2048  # items per chunk task
_AGE = 0.1  # seconds a partial chunk waits for more input before it is submitted
_TASK_RETRIES = 10  # Ray's re-runs of a chunk whose worker process or node died
_RESUBMITS = 3  # the driver's own tries of a chunk Ray gave up on
_CONNECTS = 3  # tries to join a cluster
_MISSING = "--cluster needs Ray: pip install 'aioscout[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(_MISSING) from None
    return ray


def connect(address: str, tasks: int) -> tuple[float, list[tuple[str, float]]]:
    """Join the cluster at ``address`` (``local``: start one here); returns its CPUs and
    its live nodes (ID and CPUs of each).

    A local Ray binds loopback only and sends no usage statistics. A process
    already connected (a test session, a notebook) keeps its connection.
    """
    head = local_gcs(address) if address.startswith("ray://") else None
    direct = head.gcs if head is not None else None
    if address == "local":
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    elif "RAY_AUTH_MODE" not in os.environ:
        # Joined directly, this driver serves the cluster's nodes (they fetch its
        # objects): it takes the cluster's own mode, or a node that sends no token is
        # refused and its tasks fail. Through Ray Client, what ray.init() does for a
        # local cluster: one started with a token (Ray's default) is joined with it.
        if head is not None:
            os.environ["RAY_AUTH_MODE"] = head.auth
        elif _has_token():
            os.environ["RAY_AUTH_MODE"] = "token"
    ray = _ray()
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
    for attempt in range(1, _CONNECTS + 1):
        if ray.is_initialized():
            break
        try:
            if address == "local":
                ray.init("local", num_cpus=tasks or None, include_dashboard=False, **quiet)
            elif direct is not None:
                ray.init(address=direct, **quiet)
            else:
                # A busy head may fail to start the job's client server in time: try again.
                ray.init(address=address, **quiet)
        except Exception as exc:  # Ray's own errors: one line of them is enough
            with contextlib.suppress(Exception):
                ray.shutdown()
            if direct is not None:  # joining directly failed: through Ray Client, then
                direct = None
                continue
            if address != "local" and attempt < _CONNECTS:
                time.sleep(attempt)
                continue
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
            raise ConfigError(f"cannot join the Ray cluster at {address}: {reason}") from None
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    try:
        nodes = [
            (str(n["NodeID"]), float(n.get("Resources", {}).get("CPU", 0.0)))
            for n in ray.nodes()
            if n.get("Alive")
        ]
    except (KeyError, ValueError, TypeError, AttributeError):  # nodes not listed
        nodes = []
    return cpus, nodes


class LocalHead(NamedTuple):
    """A cluster whose head runs on this machine: its GCS address and its auth mode."""

    gcs: str
    auth: str  # RAY_AUTH_MODE of the head's processes: "token" or "disabled"


def local_gcs(address: str) -> LocalHead | None:
    """The cluster's own address when the Ray Client server at ``address`` runs here.

    A driver on a node of the cluster joins it directly (``ray.init`` with the
    GCS address), as Ray recommends for drivers on the head: no client server
    to start per run, no proxy for every result. The address is read from the
    command line of the Ray Client proxy listening on ``address``'s port, and
    the auth mode from its environment (on Linux; elsewhere, or when none is
    found, ``None``: Ray Client it is). ``AIOSCOUT_RAY_CLIENT=1`` always uses
    Ray Client.
    """
    if os.environ.get("AIOSCOUT_RAY_CLIENT") == "1":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = "127.0.0.1" if host == "localhost" else host.strip("[]")
    if not (host.startswith("127.") or host == "::1"):
        return None
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "ray.util.client.server" not in args:
            continue
        opts = dict(a[2:].partition("=")[::2] for a in args if a.startswith("--"))
        if (
            opts.get("mode") == "proxy"
            and opts.get("port") == port
            and opts.get("host") in (host, "0.0.0.0", "::")
            and opts.get("address")
        ):
            return LocalHead(opts["address"], _auth_mode(pid))
    return None


def _auth_mode(pid: str) -> str:
    """RAY_AUTH_MODE as process ``pid`` has it (unset: "disabled", Ray's meaning)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return "token" if _has_token() else "disabled"
    for entry in env:
        if entry.startswith(b"RAY_AUTH_MODE="):
            mode = entry.partition(b"=")[2].decode(errors="replace").strip().lower()
            return "token" if mode == "token" else "disabled"
    return "disabled"


def _has_token() -> bool:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.exists(path)


@dataclass(frozen=True, slots=True)
class Plan:
    """How a run uses the cluster: lanes (chunks in flight), CPU share per task, budgets."""

    lanes: int
    task_cpus: float
    running: int  # tasks that can run at once: what the budgets are split by
    config: ScanConfig  # each task's share
    cap: int = 0  # chunks in flight at most, kept by the driver (0: the reservation does)


def plan(config: ScanConfig, cpus: float, node_cpus: float = 0.0) -> Plan:
    """Split ``config``'s budget for a cluster of ``cpus`` CPUs (see the module docstring).

    ``cluster_tasks`` tasks run at once (default: one per CPU); twice as many
    chunks are in flight, so a task's successor is queued on the cluster
    before it ends. Each task reserves ``cpus / tasks`` of a CPU (whole CPUs
    above one), so the cluster itself never runs more than ``running``; but
    never more than its largest node has (``node_cpus``: a task asking more
    could run nowhere), and when that lets the cluster run more tasks than
    asked, the driver keeps at most ``cap`` chunks in flight instead.
    """
    whole = max(1, int(cpus))
    tasks = config.cluster_tasks or whole
    share = cpus / tasks
    task_cpus = round(share, 4) if share < 1 else float(int(share))
    if node_cpus > 0:
        task_cpus = min(task_cpus, max(float(int(node_cpus)), round(node_cpus, 4)))
    lanes = 2 * tasks
    fits = int(cpus / task_cpus + 1e-9)
    cap = tasks if fits > tasks else 0
    running = max(1, min(lanes, fits, tasks) if cap else min(lanes, fits))
    child = dataclasses.replace(
        config,
        concurrency=max(1, config.concurrency // running),
        rate=config.rate / running,
        workers=1,
        cluster="",
        cluster_tasks=0,
    )
    return Plan(lanes=lanes, task_cpus=task_cpus, running=running, config=child, cap=cap)


def pin_lanes(plan: Plan, nodes: Sequence[tuple[str, float]]) -> list[str | None]:
    """The node each lane's chunks are pinned to (``None``: wherever Ray likes).

    Why: a lane keeps one chunk running and the next one waiting. Left to Ray,
    the waiting chunks queue on the head's raylet, and a node that has just
    finished a chunk gets one only when Ray spills it over, up to a resource
    report later: on a head and a worker node with a task each, the worker
    node's task sat idle a fifth of the run and did 44% of the work. Pinned
    (soft affinity: a node that dies hands its chunks to the others), each
    node's next chunk waits on that node and starts the moment one ends.

    The tasks that run at once (``plan.running``) are dealt to the nodes in
    turn, as many to a node as its CPUs hold, and each lane follows one of
    them. Only when the CPUs reserved are what keeps the tasks to ``running``:
    under a driver's cap (``plan.cap``) a node may hold more tasks than it was
    dealt, and no chunk waits anyway.
    """
    if plan.cap:
        return [None] * plan.lanes
    room = {node: int(cpus / plan.task_cpus + 1e-9) for node, cpus in nodes}
    slots: list[str] = []
    while len(slots) < plan.running and any(room.values()):
        for node, _ in nodes:
            if room[node] > 0 and len(slots) < plan.running:
                slots.append(node)
                room[node] -= 1
    if not slots:
        return [None] * plan.lanes
    return [slots[i % len(slots)] for i in range(plan.lanes)]


# -- the task's side -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """What every chunk task of a run shares (put in the object store once)."""

    factory: Callable[[ScanConfig], Probe[Any]]
    config: ScanConfig
    retry_on: frozenset[ErrorKind]
    encoder: Callable[[Sequence[Record]], list[bytes]] | None = None


@dataclass(slots=True)
class ChunkResult:
    """A chunk's records: ``encoded`` (numbers, error kinds, lines), records kept as they
    are (groups, or all when there is no encoder), and items the keep-filter dropped."""

    encoded: tuple[list[int], list[str | None], list[bytes]] | None = None
    kept: list[tuple[int, Record]] = field(default_factory=list)
    filtered: dict[str | None, list[int]] = field(default_factory=dict)
    retries: int = 0
    pid: int = 0


def _node_settings() -> None:
    """Per-node settings a task applies: as many open files as the node allows."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_chunk(job: ChunkJob, packed: bytes) -> bytes:
    """The Ray task: one chunk through the ordinary engine on a fresh event loop.

    The chunk (numbers, lines, targets) comes packed by :func:`.frames.dumps`,
    and its :class:`ChunkResult` goes back packed the same way: targets and
    records pickle as their field values, several times cheaper than Ray's own
    pickling of dataclasses, which was a third of the driver's time.
    """
    from .._loop import run_loop

    seqs, lines, targets = pickle.loads(packed)
    _node_settings()
    return frames.dumps(run_loop(_chunk(job, seqs, lines, targets), job.config.loop))


async def _chunk(
    job: ChunkJob, seqs: list[int], lines: list[str], targets: list[Any]
) -> ChunkResult:
    from .runner import Run

    probe = job.factory(job.config)
    run: Run[Any] = Run(probe, job.config, retry_on=job.retry_on)
    keep = own_filter(probe)  # applied here, as in a worker process: see protocols.OwnFilter
    done: list[Result] = []

    async def collect() -> None:
        while (entry := await run.results.get()) is not None:
            if isinstance(entry, list):
                done.extend(entry)
            else:
                done.append(entry)

    await probe.start()
    try:
        async with asyncio.TaskGroup() as tg:
            collector = tg.create_task(collect())
            async with asyncio.TaskGroup() as inner:
                consumers = run.start_consumers(inner)
                if isinstance(probe, OpensLane):
                    await run.work.put(Block(seqs, lines, targets))
                else:
                    for item in zip(seqs, lines, targets, strict=True):
                        await run.work.put(Item(*item))
                for _ in range(consumers):
                    await run.work.put(None)
            await run.results.put(None)
            await collector
    finally:
        await probe.aclose()
    return _sorted(done, keep, job.encoder, run.stats.retries)


def _sorted(
    done: list[Result],
    keep: Callable[[Record], bool] | None,
    encoder: Callable[[Sequence[Record]], list[bytes]] | None,
    retries: int,
) -> ChunkResult:
    out = ChunkResult(retries=retries, pid=os.getpid())
    plain: list[tuple[int, Record]] = []
    for seq, record in done:
        if isinstance(record, Filtered):
            out.filtered.setdefault(record.kind, []).extend(record.seqs)
        elif isinstance(record, Records) or keep is None or keep(record):
            (out.kept if isinstance(record, Records) or encoder is None else plain).append(
                (seq, record)
            )
        else:
            err = record.error
            out.filtered.setdefault(None if err is None else str(err.kind), []).append(seq)
    if plain and encoder is not None:
        records = [r for _, r in plain]
        kinds = [None if r.error is None else str(r.error.kind) for r in records]
        out.encoded = ([s for s, _ in plain], kinds, encoder(records))
    return out


# -- the driver's side ---------------------------------------------------------


def _fetch(ray: Any, ref: Any) -> Any:
    """A chunk's result, waited for and unpacked in a thread of the driver's pool."""
    return pickle.loads(ray.get(ref))


@dataclass(slots=True)
class _Chunk:
    seqs: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)
    tries: int = 0


@dataclass(slots=True)
class _Lane:
    buffer: _Chunk = field(default_factory=_Chunk)
    since: float = 0.0  # when the buffer got its first item
    busy: bool = False  # a chunk of this lane is in flight
    room: asyncio.Event = field(default_factory=asyncio.Event)
    remote: Any = None  # the task function, pinned to this lane's node (see pin_lanes)


class RayExecutor:
    """Runs a scan's items as chunk tasks on a Ray cluster (see the module docstring)."""

    takes_blocks = True  # the producer's blocks, routed here item by item

    def __init__(
        self,
        factory: Callable[[ScanConfig], Probe[Any]],
        probe: Probe[Any],
        config: ScanConfig,
        retry_on: Collection[ErrorKind],
        *,
        encoder: Callable[[Sequence[Record]], list[bytes]] | None = None,
    ) -> None:
        self.factory = factory
        self.probe = probe  # this process's copy, never started: host_of and failed
        self.config = config
        self.retry_on = frozenset(retry_on)
        self.encoder = encoder
        self.ended = False
        self.refs: set[Any] = set()
        self.lanes: list[_Lane] = []
        self._results: asyncio.Queue[Any] | None = None
        self._stats: Stats | None = None
        self.stopper = Stopper()

    async def run(
        self,
        work: asyncio.Queue[Any],
        results: asyncio.Queue[Any],
        stopper: Stopper,
        stats: Stats,
    ) -> None:
        """Route ``work`` to chunk tasks and put their records on ``results``."""
        self._results, self._stats, self.stopper = results, stats, stopper
        # A connection of the caller's stays open after the run. Ray is not imported
        # before connect(): its settings (loopback, token) must be in place first.
        loaded = sys.modules.get("ray")
        joined = loaded is not None and bool(loaded.is_initialized())
        cpus, nodes = await asyncio.to_thread(
            connect, self.config.cluster, self.config.cluster_tasks
        )
        ray = _ray()
        self.plan = plan(self.config, cpus, max((c for _, c in nodes), default=0.0) or cpus)
        job = ChunkJob(self.factory, self.plan.config, self.retry_on, self.encoder)
        self.job_ref = await asyncio.to_thread(ray.put, job)
        task = ray.remote(run_chunk)
        options = {
            "num_cpus": self.plan.task_cpus,
            "max_retries": _TASK_RETRIES,
            "retry_exceptions": False,
        }
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as OnNode

        self.lanes = lanes = [_Lane() for _ in range(self.plan.lanes)]
        for lane, node in zip(lanes, pin_lanes(self.plan, nodes), strict=True):
            pinned = {} if node is None else {"scheduling_strategy": OnNode(node, soft=True)}
            lane.remote = task.options(**options, **pinned)
        pool = ThreadPoolExecutor(self.plan.lanes, thread_name_prefix="aioscout-ray")
        try:
            async with asyncio.TaskGroup() as tg:
                ager = tg.create_task(self._age(lanes, tg, pool))
                await self._route(work, lanes, stopper, tg, pool)
                self.ended = True
                if stopper.stopping:
                    for lane in lanes:
                        lane.buffer = _Chunk()  # never sent: a resumed run does them
                self._fill(tg, pool)  # the rest as chunks in flight end
                ager.cancel()
        finally:
            for ref in list(self.refs):
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            pool.shutdown(wait=False, cancel_futures=True)
            if not joined:  # ours: leave the cluster now (a local one stops with its agents)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(ray.shutdown)

    async def _route(
        self,
        work: asyncio.Queue[Any],
        lanes: list[_Lane],
        stopper: Stopper,
        tg: asyncio.TaskGroup,
        pool: ThreadPoolExecutor,
    ) -> None:
        host_of, crc32, n = self.probe.host_of, zlib.crc32, len(lanes)
        block: Block
        while (block := await work.get()) is not None:
            for seq, line, target in zip(block.seqs, block.lines, block.targets, strict=True):
                if stopper.stopping:
                    break
                lane = lanes[crc32(host_of(target).encode("utf-8", "surrogatepass")) % n]
                while len(lane.buffer.seqs) >= _CHUNK:
                    lane.room.clear()
                    await lane.room.wait()
                buf = lane.buffer
                if not buf.seqs:
                    lane.since = time.monotonic()
                buf.seqs.append(seq)
                buf.lines.append(line)
                buf.targets.append(target)
                if len(buf.seqs) >= _CHUNK and not lane.busy and self._room():
                    self._submit(lane, tg, pool)

    async def _age(
        self, lanes: list[_Lane], tg: asyncio.TaskGroup, pool: ThreadPoolExecutor
    ) -> None:
        """Submit partial chunks that waited long enough (a slow or small input)."""
        while True:
            await asyncio.sleep(_AGE / 2)
            now = time.monotonic()
            for lane in lanes:
                if self.stopper.stopping:
                    break
                if not lane.busy and lane.buffer.seqs and now - lane.since >= _AGE and self._room():
                    self._submit(lane, tg, pool)

    def _room(self) -> bool:
        """Whether another chunk may be in flight (see :attr:`Plan.cap`)."""
        return not self.plan.cap or len(self.refs) < self.plan.cap

    def _fill(self, tg: asyncio.TaskGroup, pool: ThreadPoolExecutor) -> None:
        """Submit the chunks that are ready (full, or the input ended) while there is room."""
        for lane in self.lanes:
            if not self._room():
                break
            ready = len(lane.buffer.seqs) >= _CHUNK or (self.ended and lane.buffer.seqs)
            if ready and not lane.busy and not self.stopper.stopping:
                self._submit(lane, tg, pool)

    def _submit(
        self,
        lane: _Lane,
        tg: asyncio.TaskGroup,
        pool: ThreadPoolExecutor,
        chunk: _Chunk | None = None,
    ) -> None:
        if chunk is None:
            chunk, lane.buffer = lane.buffer, _Chunk()
            lane.room.set()
        lane.busy = True
        assert self._stats is not None
        if chunk.tries == 0:
            self._stats.in_flight += len(chunk.seqs)
        chunk.tries += 1
        packed = frames.dumps((chunk.seqs, chunk.lines, chunk.targets))
        ref = lane.remote.remote(self.job_ref, packed)
        self.refs.add(ref)
        tg.create_task(self._finish(lane, chunk, ref, tg, pool))

    async def _finish(
        self,
        lane: _Lane,
        chunk: _Chunk,
        ref: Any,
        tg: asyncio.TaskGroup,
        pool: ThreadPoolExecutor,
    ) -> None:
        ray = _ray()
        loop = asyncio.get_running_loop()
        try:
            result: ChunkResult = await loop.run_in_executor(pool, _fetch, ray, ref)
        except Exception as exc:  # the chunk failed on every try Ray gave it
            self.refs.discard(ref)
            if chunk.tries <= _RESUBMITS:
                self._submit(lane, tg, pool, chunk)
                return
            await self._lost(chunk, f"{type(exc).__name__}: {exc}"[:300])
        else:
            self.refs.discard(ref)
            await self._take(chunk, result)
        lane.busy = False
        if self.stopper.stopping:
            lane.buffer = _Chunk()  # never sent: a resumed run does them
            lane.room.set()
        elif lane.buffer.seqs and (len(lane.buffer.seqs) >= _CHUNK or self.ended):
            self._submit(lane, tg, pool)
        self._fill(tg, pool)

    async def _take(self, chunk: _Chunk, result: ChunkResult) -> None:
        """Hand the chunk's records to the writer: each owed item once, by number."""
        assert self._results is not None and self._stats is not None
        owed = set(chunk.seqs)
        out: list[tuple[int, Any]] = []
        if result.encoded is not None:
            seqs, kinds, data = result.encoded
            mine = [i for i, s in enumerate(seqs) if s in owed]
            if len(mine) != len(seqs):
                seqs = [seqs[i] for i in mine]
                kinds = [kinds[i] for i in mine]
                data = [data[i] for i in mine]
            owed.difference_update(seqs)
            if seqs:
                out.append((seqs[0], Encoded(seqs, kinds, b"".join(data))))
        for seq, record in result.kept:
            if seq in owed:
                owed.discard(seq)
                out.append((seq, record))
        for kind, seqs in result.filtered.items():
            done = [s for s in seqs if s in owed]
            if done:
                owed.difference_update(done)
                out.append((done[0], Filtered(kind, done)))
        self._stats.retries += result.retries
        self._stats.in_flight -= len(chunk.seqs)
        if out:
            await self._results.put(out)
        if owed:  # a task that lost items would be a bug: still one record each
            missing = _Chunk()
            for seq, line, target in zip(chunk.seqs, chunk.lines, chunk.targets, strict=True):
                if seq in owed:
                    missing.seqs.append(seq)
                    missing.lines.append(line)
                    missing.targets.append(target)
            await self._lost(missing, "no record came back from the cluster", counted=True)

    async def _lost(self, chunk: _Chunk, detail: str, *, counted: bool = False) -> None:
        assert self._results is not None and self._stats is not None
        if not counted:
            self._stats.in_flight -= len(chunk.seqs)
        err = ErrorInfo(ErrorKind.INTERNAL, f"cluster: {detail}")
        failed = self.probe.failed
        out = [
            (seq, failed(line, target, err))
            for seq, line, target in zip(chunk.seqs, chunk.lines, chunk.targets, strict=True)
        ]
        if out:
            await self._results.put(out)
