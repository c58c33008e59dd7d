#!/usr/bin/env python3
"""v6.7.4 chains made by runner_k8s and by cloud-config, side by side in one run, whole processes.

    CLOUD_CONFIG=/path/to/cloud-config python3 bench/peer_v6.py [--repeat 5] [--nodes 4 100]

cloud-config is the v6.7.4 generator users would otherwise pick (built from its own sources, outside
this repository; the variable names the binary). For each chain size both tools make a whole chain,
config files and Kubernetes YAML of every node, each in a fresh folder on a tmpfs:

- runner_k8s: one process, `create_k8s_config.py local_cluster --release v6.7.4 --peers_count N`;
- cloud-config: `create` (accounts, CA, certificates, every node's config.toml) and then
  `update-yaml` once per node (its Kubernetes YAML), as its README does it; the figure is the sum.

Printed: the median wall time of the repetitions (interpreter start included for ours) and the
largest peak RSS of any one process. The machine's load is printed too: numbers taken while
other work runs are not comparable with numbers of an idle machine.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
ADMIN = "0x" + "ab" * 20


def timed(argv: Sequence[str], cwd: Path) -> tuple[float, int]:
    """Wall time of one process and its peak RSS in KiB (from wait4's rusage)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        assert process.stderr is not None
        raise SystemExit(f"{argv[0]} failed: {process.stderr.read().decode(errors='replace')[-500:]}")
    return elapsed, usage.ru_maxrss


def ours(nodes: int, work: Path) -> tuple[float, int]:
    argv = [sys.executable, str(REPO / "create_k8s_config.py"), "local_cluster", "--release", "v6.7.4"]
    argv += ["--peers_count", str(nodes), "--pvc_name", "local-pvc", "--work_dir", str(work)]
    argv += ["--node_port", "30000", "--node_port_range", "30000-32767"]
    return timed(argv, work.parent)


def theirs(binary: str, nodes: int, work: Path) -> tuple[float, int]:
    work.mkdir()
    node_list = ",".join(f"test-chain-node{index}:40000:node{index}:k8s:default" for index in range(nodes))
    total, peak = timed(
        [binary, "create", "--chain-name", "test-chain", "--admin", ADMIN, "--nodelist", node_list], work
    )
    for index in range(nodes):
        argv = [binary, "update-yaml", "--chain-name", "test-chain", "--domain", f"node{index}"]
        elapsed, rss = timed([*argv, "--storage-class", "local-storage"], work)
        total, peak = total + elapsed, max(peak, rss)
    return total, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 100])
    args = parser.parse_args()
    binary = os.environ.get("CLOUD_CONFIG")
    if not binary or not Path(binary).is_file():
        print("set CLOUD_CONFIG to a cloud-config binary built from its sources", file=sys.stderr)
        return 2
    compileall.compile_dir(REPO / "runner_k8s", quiet=1)  # as pip install does (bench/run.py says why)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, {args.repeat} runs each")
    print(f"{'nodes':>5}  {'runner_k8s':>12}  {'cloud-config':>12}  ratio  peak RSS (ours / theirs)")
    for nodes in args.nodes:
        figures: dict[str, list[tuple[float, int]]] = {"ours": [], "theirs": []}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
                figures["ours"].append(ours(nodes, Path(scratch) / "ours"))
                figures["theirs"].append(theirs(binary, nodes, Path(scratch) / "theirs"))
                shutil.rmtree(scratch, ignore_errors=True)
        mine = statistics.median(run[0] for run in figures["ours"])
        peer = statistics.median(run[0] for run in figures["theirs"])
        mine_rss, peer_rss = (max(run[1] for run in figures[who]) // 1024 for who in ("ours", "theirs"))
        memory = f"{mine_rss} MiB / {peer_rss} MiB"
        print(f"{nodes:>5}  {mine:>10.3f} s  {peer:>10.3f} s  {mine / peer:5.2f}  {memory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
