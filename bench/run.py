#!/usr/bin/env python3
"""Time whole runs of the scripts (interpreter start included) and report peak memory.

    python3 bench/run.py                 # every case
    python3 bench/run.py account sync    # some cases
    python3 bench/run.py --repeat 9 local-4

Each run is a fresh process in a fresh temp directory; the figure is the median wall time of the
runs and the largest peak RSS any of them reached (from wait4's rusage of that child).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """A benchmark: a script, its arguments, a setup step and how many runs by default."""

    script: str
    args: tuple[str, ...]
    repeat: int
    setup: Callable[[Path], None] = lambda work: None


def _key_file(work: Path) -> None:
    (work / "key_file").write_text("bench password\n")


def _local(nodes: int, repeat: int) -> Case:
    return Case(
        "create_k8s_config.py",
        (
            "local_cluster",
            "--kms_password",
            "bench",
            "--pvc_name",
            "local-pvc",
            "--peers_count",
            str(nodes),
            "--node_port_range",
            "30000-40000",
        ),
        repeat,
    )


CASES: dict[str, Case] = {
    "account-sm": Case("create_account.py", ("--kms_type", "sm"), 9, _key_file),
    "account-eth": Case("create_account.py", ("--kms_type", "eth"), 9, _key_file),
    "sync": Case("create_syncthing_config.py", (), 9),
    "local-4": _local(4, 7),
    "local-100": _local(100, 3),
    "local-1000": _local(1000, 1),
}


def run_once(case: Case) -> tuple[float, int]:
    """One fresh process: (seconds, peak RSS in KiB)."""
    work = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        case.setup(work)
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(REPO / case.script), *case.args],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode() if process.stderr else ""
        if process.returncode != 0:
            raise SystemExit(f"{case.script} failed ({process.returncode}): {stderr.strip()}")
        return elapsed, usage.ru_maxrss
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[], help="cases to run (default: all)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (default: per case)")
    args = parser.parse_args()
    print(f"{'case':<12} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MiB':>9}")
    for name in args.cases or list(CASES):
        case = CASES[name]
        results = [run_once(case) for _ in range(args.repeat or case.repeat)]
        times = [seconds for seconds, _ in results]
        peak = max(rss for _, rss in results) / 1024
        print(
            f"{name:<12} {len(times):>4} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f} "
            f"{peak:>9.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
