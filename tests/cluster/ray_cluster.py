"""A Ray cluster of one machine for the tests and the benchmark, all on loopback.

Run as its own process in its own process group (``start``): a head node with no CPUs, so
all work goes to the worker nodes, and ``--nodes`` worker nodes of one CPU each, made with
Ray's own multi-node test utility. It prints the cluster's address, then waits to be killed:
SIGKILL to the group ends every process of the cluster, and nothing else on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_SECONDS = 120
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # every address 127.0.0.1, never the machine's interface
    "RAY_AUTH_MODE": "disabled",  # a test cluster on loopback: no token to hand around
    "RAY_USAGE_STATS_ENABLED": "0",
}


class LocalCluster:
    """The cluster process: ``address`` to join, ``stop()`` kills its whole process group."""

    def __init__(self, nodes: int, temp_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--nodes", str(nodes), "--temp-dir", str(temp_dir)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **LOOPBACK_ENV, "RAY_TMPDIR": str(temp_dir)},  # not the machine's /tmp/ray
            start_new_session=True,
        )
        assert self.process.stdout is not None
        ready = selectors.DefaultSelector()
        ready.register(self.process.stdout, selectors.EVENT_READ)
        line = self.process.stdout.readline() if ready.select(timeout=START_SECONDS) else "(no address in time)"
        if not line.startswith("ADDRESS "):
            self.stop()
            raise RuntimeError(f"the test Ray cluster did not start: {line!r}")
        self.address = line.split()[1]

    def stop(self) -> None:
        """SIGKILL to the group, and to each process descended from it (Ray's workers leave it)."""
        started = self._descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def _descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for pid, stat, _ in _processes():
            children.setdefault(int(stat[1]), []).append(pid)
        found, pending = [], [self.process.pid]
        while pending:
            for child in children.get(pending.pop(), []):
                found.append(child)
                pending.append(child)
        return found

    def processes(self, title: str) -> list[int]:
        """Pids of this cluster's processes whose title (Ray names its workers ``ray::...``) starts so."""
        mine = set(self._descendants())
        return [pid for pid, _, cmdline in _processes() if pid in mine and cmdline.startswith(title)]


def _processes() -> Iterator[tuple[int, list[str], str]]:
    """(pid, the fields of /proc/pid/stat after the command name, command line) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        yield int(entry.name), stat.rsplit(")", 1)[1].split(), cmdline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--temp-dir", required=True)
    args = parser.parse_args()
    (Path(args.temp_dir) / "ray").mkdir(parents=True, exist_ok=True)  # where Ray writes the address file
    from ray.cluster_utils import Cluster

    common = {"node_ip_address": "127.0.0.1", "object_store_memory": 200 * 2**20}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={**common, "num_cpus": 0, "include_dashboard": False, "temp_dir": args.temp_dir},
    )
    for _ in range(args.nodes):
        cluster.add_node(**common, num_cpus=1)
    cluster.wait_for_nodes()
    print("ADDRESS", cluster.address, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
