"""How a run's budget is split among a cluster's chunk tasks (no Ray needed)."""

from __future__ import annotations

import pytest

from aioscout import ScanConfig
from aioscout.engine.ray_backend import pin_lanes, plan


def test_one_task_per_cpu_splits_concurrency_and_rate() -> None:
    p = plan(ScanConfig(concurrency=256, rate=100.0, cluster="local"), cpus=4.0)
    assert (p.lanes, p.task_cpus, p.running) == (8, 1.0, 4)
    assert p.config.concurrency == 64
    assert p.config.rate == 25.0
    assert (p.config.cluster, p.config.workers) == ("", 1)


def test_fewer_tasks_than_cpus_reserve_more_cpu_each() -> None:
    p = plan(ScanConfig(cluster="local", cluster_tasks=1), cpus=2.0)
    assert (p.task_cpus, p.running) == (2.0, 1)
    assert p.config.concurrency == 256


def test_more_tasks_than_cpus_share_them() -> None:
    p = plan(ScanConfig(concurrency=10, cluster="local", cluster_tasks=4), cpus=2.0)
    assert (p.task_cpus, p.running) == (0.5, 4)
    assert p.config.concurrency == 2  # rounded down: never more than 10 in all


@pytest.mark.parametrize(
    ("cpus", "node", "tasks", "want"), [(2.0, 1.0, 1, 1.0), (4.0, 2.0, 1, 2.0)]
)
def test_a_task_never_asks_more_cpus_than_a_node_has(
    cpus: float, node: float, tasks: int, want: float
) -> None:
    # Head and worker node of one or two CPUs each: one task may not ask for the
    # cluster's every CPU (it could run nowhere); the driver keeps it to one at once.
    p = plan(ScanConfig(cluster="local", cluster_tasks=tasks), cpus=cpus, node_cpus=node)
    assert (p.task_cpus, p.running, p.cap) == (want, 1, 1)


def test_whole_cpus_that_let_more_tasks_run_than_asked_are_capped() -> None:
    p = plan(ScanConfig(cluster="local", cluster_tasks=3), cpus=4.0, node_cpus=4.0)
    assert (p.task_cpus, p.running, p.cap) == (1.0, 3, 3)
    p = plan(ScanConfig(cluster="local", cluster_tasks=2), cpus=4.0, node_cpus=2.0)
    assert (p.task_cpus, p.running, p.cap) == (2.0, 2, 0)  # the reservation keeps it


def test_per_host_is_kept_whole() -> None:
    # A host's items all go to one lane, one chunk in flight: the cap holds locally.
    assert plan(ScanConfig(per_host=3, cluster="local"), cpus=8.0).config.per_host == 3


@pytest.mark.parametrize("bad", ["ray:/x", "127.0.0.1:6379", "remote"])
def test_cluster_address_is_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="cluster"):
        ScanConfig(cluster=bad)


def test_lanes_are_pinned_to_the_nodes_that_run_their_tasks() -> None:
    # A head and a worker node of 2 CPUs each, one task per node: each node keeps its
    # own next chunk waiting (two lanes each), none queues on the head for the other.
    two = [("head", 2.0), ("worker", 2.0)]
    p = plan(ScanConfig(cluster="local", cluster_tasks=2), cpus=4.0, node_cpus=2.0)
    assert (p.lanes, p.task_cpus, p.running, p.cap) == (4, 2.0, 2, 0)
    assert pin_lanes(p, two) == ["head", "worker", "head", "worker"]
    # Uneven nodes: tasks dealt in turn, as many to a node as its CPUs hold.
    p = plan(ScanConfig(cluster="local"), cpus=3.0, node_cpus=2.0)
    assert pin_lanes(p, [("a", 2.0), ("b", 1.0)]) == ["a", "b", "a", "a", "b", "a"]
    # One node: everything there.
    p = plan(ScanConfig(cluster="local"), cpus=2.0)
    assert set(pin_lanes(p, [("only", 2.0)])) == {"only"}


def test_lanes_under_the_drivers_cap_or_without_nodes_are_not_pinned() -> None:
    # One task on two nodes: the driver keeps one chunk in flight, a node could hold
    # more than it was dealt, and nothing waits to be pinned.
    p = plan(ScanConfig(cluster="local", cluster_tasks=1), cpus=4.0, node_cpus=2.0)
    assert p.cap == 1
    assert pin_lanes(p, [("head", 2.0), ("worker", 2.0)]) == [None, None]
    p = plan(ScanConfig(cluster="local", cluster_tasks=2), cpus=4.0, node_cpus=2.0)
    assert pin_lanes(p, []) == [None] * p.lanes
    assert pin_lanes(p, [("tiny", 1.0)]) == [None] * p.lanes  # no node holds a task
