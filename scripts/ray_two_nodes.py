"""A two-node Ray cluster on one machine, every process on loopback: for trying --cluster.

Usage: python scripts/ray_two_nodes.py [CLIENT_PORT] [CPUS]   (default 10001, 1 CPU a node)

``ray start --address`` refuses to add a node while
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on 127.0.0.1, so the second node
(a raylet of its own, CPUS like the head) comes from Ray's test helper. Prints the
address for ``--cluster`` and runs until Enter or Ctrl-C.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Imported after the settings above: Ray reads them at import.
from ray.cluster_utils import Cluster


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 10001
    cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": cpus,
            "include_dashboard": False,
            "ray_client_server_port": port,
        },
    )
    cluster.add_node(num_cpus=cpus)
    cluster.wait_for_nodes()
    print(f"two nodes up: --cluster ray://127.0.0.1:{port}", flush=True)
    try:
        sys.stdin.readline()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
