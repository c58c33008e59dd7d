#!/usr/bin/env python3
"""v6.7.4 chains made by runner_k8s and by cloud-config, side by side in one run, whole processes.

    CLOUD_CONFIG=/path/to/cloud-config python3 bench/peer_v6.py [--repeat 5] [--nodes 4 100]

cloud-config is the v6.7.4 generator users would otherwise pick (built from its own sources, outside
this repository; the variable names the binary). For each chain size both tools make a whole chain,
config files and Kubernetes YAML of every node, each in a fresh folder on a tmpfs:

- runner_k8s: one process, `create_k8s_config.py local_cluster --release v6.7.4 --peers_count N`;
- cloud-config: `create` (accounts, CA, certificates, every node's config.toml) and then
  `update-yaml` once per node (its Kubernetes YAML), as its README does it; the figure is the sum.

Two floors are timed in the same loop, for the small chain: `python -c pass` (the interpreter's start
and exit, with this installation's site packages) and a process that only imports the libraries a
v6.7.4 chain needs (cryptography's X.509 and EC, PyYAML, tomli-w, the BLS library). No Python program
that makes these files can start faster than the second.

`--baseline DIR` times another checkout of runner_k8s in the same loop (say, main before a change), so
that before and after are measured under the same load. Printed: the median wall time of the
repetitions (interpreter start included for ours) and the largest peak RSS of any one process. The
machine's load is printed too, before and after: numbers taken while other work runs are not
comparable with numbers of an idle machine, only with each other.
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
LIBRARIES = (
    "import cryptography.x509, yaml, tomli_w, py_arkworks_bls12381; "
    "from cryptography.hazmat.primitives.asymmetric import ec"
)
FLOORS = {"python -c pass": "pass", "imports only": LIBRARIES}


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


def ours(nodes: int, work: Path, repo: Path = REPO) -> tuple[float, int]:
    argv = [sys.executable, str(repo / "create_k8s_config.py"), "local_cluster", "--release", "v6.7.4"]
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
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout, timed in the same loop")
    args = parser.parse_args()
    binary = os.environ.get("CLOUD_CONFIG")
    if not binary or not Path(binary).is_file():
        print("set CLOUD_CONFIG to a cloud-config binary built from its sources", file=sys.stderr)
        return 2
    repos = {"runner_k8s": REPO} if args.baseline is None else {"runner_k8s": REPO, "baseline": args.baseline}
    for repo in repos.values():
        compileall.compile_dir(repo / "runner_k8s", quiet=1)  # as pip install does (bench/run.py says why)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, {args.repeat} runs each")
    print(f"{'nodes':>5}  {'who':>14}  {'time':>9}  {'cloud-config':>12}  ratio  peak RSS (ours / theirs)")
    for nodes in args.nodes:
        floors = FLOORS if nodes == min(args.nodes) else {}
        figures: dict[str, list[tuple[float, int]]] = {who: [] for who in [*repos, *floors, "cloud-config"]}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
                for who, repo in repos.items():
                    figures[who].append(ours(nodes, Path(scratch) / who, repo))
                for who, code in floors.items():
                    figures[who].append(timed([sys.executable, "-c", code], Path(scratch)))
                figures["cloud-config"].append(theirs(binary, nodes, Path(scratch) / "theirs"))
                shutil.rmtree(scratch, ignore_errors=True)
        peer = statistics.median(run[0] for run in figures["cloud-config"])
        peer_rss = max(run[1] for run in figures["cloud-config"]) // 1024
        for who in [*repos, *floors]:
            mine = statistics.median(run[0] for run in figures[who])
            memory = f"{max(run[1] for run in figures[who]) // 1024} MiB / {peer_rss} MiB"
            print(f"{nodes:>5}  {who:>14}  {mine:>7.3f} s  {peer:>10.3f} s  {mine / peer:5.2f}  {memory}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
