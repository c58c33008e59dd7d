#!/usr/bin/env python3
"""Time whole runs of the scripts (interpreter start included) and report peak memory.

    python3 bench/run.py                 # every case
    python3 bench/run.py account-sm sync # some cases
    python3 bench/run.py --repeat 9 local-4

Each run is a fresh process in a fresh directory on a tmpfs (/dev/shm unless --scratch says
otherwise: reusing a folder of deleted files skews large runs); the figure is the median wall time
of the runs and the largest peak RSS any of them reached (from wait4's rusage of that child).

The targets are checked against baselines measured in the same run: bench/startup_floor.py (the
same keys and files made with nothing but the libraries) for the two small scripts (within 1.5x),
bench/floor.py's irreducible work for local-100 and local-1000 (within 1.5x), and local-100 for
add-node-100 and remove-node-100 (no slower). `pass` (a bare `python -c pass`) is printed for
reference only: the libraries' imports alone take about 8x of it, so a ratio to it measures them.
Run it with the interpreter of a clean
virtual environment (`python -m venv`, `pip install -r requirements.txt`) to measure what users get.
It first byte-compiles the package, as `pip install` does and as a checkout's first run does, so a
PYTHONDONTWRITEBYTECODE in the environment does not make every run compile our modules from source
(the libraries are always compiled when pip installs them).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCRATCH = Path("/dev/shm") if Path("/dev/shm").is_dir() else None


@dataclass(frozen=True)
class Case:
    """A benchmark: a script, its arguments, a setup step and how many runs by default."""

    script: str | None  # None: `python -c pass`
    args: tuple[str, ...]
    repeat: int
    setup: Callable[[Path], None] = lambda work: None
    floor_of: int | None = None  # nodes: bench/floor.py's measure instead of a script
    around: Callable[[], contextlib.AbstractContextManager[list[str]]] | None = None  # more args, while it lasts


def _key_file(work: Path) -> None:
    (work / "key_file").write_text("bench password\n")


def _chain_of(nodes: int) -> Callable[[Path], None]:
    """Setup: a chain of `nodes` nodes in the work dir, made untimed by the real script."""

    def make(work: Path) -> None:
        argv = [*_local(nodes, 1).args, "--work_dir", str(work)]
        done = subprocess.run(
            [sys.executable, str(REPO / "create_k8s_config.py"), *argv], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"setup failed: {done.stderr.decode().strip()}")

    return make


@contextlib.contextmanager
def _no_validators() -> Iterator[list[str]]:
    """A stand-in controller (tests/fakechain.py) for remove_node's check: no node is a validator."""
    sys.path.insert(0, str(REPO))
    from tests.fakechain import Chain, Tweak, running

    with running(Chain("sm", bytes(32), bytes(20), []), [Tweak()]) as addresses:
        yield ["--rpc", addresses[0]]


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
    "pass": Case(None, ("-c", "pass"), 9),
    "account-sm": Case("create_account.py", ("--kms_type", "sm"), 9, _key_file),
    "account-eth": Case("create_account.py", ("--kms_type", "eth"), 9, _key_file),
    "sync": Case("create_syncthing_config.py", (), 9),
    "local-4": _local(4, 7),
    "local-100": _local(100, 3),
    "local-1000": _local(1000, 1),
    "floor-sync": Case("bench/startup_floor.py", ("sync",), 9),
    "floor-account-sm": Case("bench/startup_floor.py", ("account-sm",), 9, _key_file),
    "floor-account-eth": Case("bench/startup_floor.py", ("account-eth",), 9, _key_file),
    "add-node-100": Case("create_k8s_config.py", ("add_node",), 3, _chain_of(100)),
    "remove-node-100": Case(
        "create_k8s_config.py", ("remove_node", "--node_index", "99"), 3, _chain_of(100), around=_no_validators
    ),
    "floor-100": Case(None, (), 3, floor_of=100),
    "floor-1000": Case(None, (), 1, floor_of=1000),
}
# (case, baseline, allowed ratio): the targets
TARGETS = [
    # issue 15: the small scripts within 1.5x of the same keys and files made with nothing but the libraries
    ("sync", "floor-sync", 1.5),
    ("account-sm", "floor-account-sm", 1.5),
    ("account-eth", "floor-account-eth", 1.5),
    ("local-100", "floor-100", 1.5),
    # issue 17: changing a chain takes no longer than making it
    ("add-node-100", "local-100", 1.0),
    ("remove-node-100", "local-100", 1.0),
    ("local-1000", "floor-1000", 1.5),
]


def run_once(case: Case, scratch: Path | None) -> tuple[float, int]:
    """One fresh process: (seconds, peak RSS in KiB)."""
    work = Path(tempfile.mkdtemp(prefix="runner-bench-", dir=scratch))
    try:
        case.setup(work)
        with case.around() if case.around else contextlib.nullcontext([]) as extra:
            command = [sys.executable, *([str(REPO / case.script)] if case.script else []), *case.args, *extra]
            start = time.perf_counter()
            process = subprocess.Popen(
                command,
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


def run_floor(nodes: int, runs: int, scratch: Path | None) -> list[tuple[float, int]]:
    """bench/floor.py's irreducible work for a chain of `nodes` (its sample is made untimed)."""
    sys.path.insert(0, str(REPO))
    from bench import floor

    work = Path(tempfile.mkdtemp(prefix="runner-bench-floor-"))
    try:
        sample = floor.sample_chain(nodes, work)
        return [(floor.measure(sample, scratch or work), 0) for _ in range(runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[], help="cases to run (default: all)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (default: per case)")
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH, help="a tmpfs for the outputs")
    args = parser.parse_args()
    if not compileall.compile_dir(REPO / "runner_k8s", quiet=1):
        raise SystemExit("could not byte-compile runner_k8s/")
    print(f"{'case':<17} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MiB':>9}")
    medians: dict[str, float] = {}
    for name in args.cases or list(CASES):
        case = CASES[name]
        runs = args.repeat or case.repeat
        if case.floor_of is not None:
            results = run_floor(case.floor_of, runs, args.scratch)
        else:
            results = [run_once(case, args.scratch) for _ in range(runs)]
        times = [seconds for seconds, _ in results]
        peak = max(rss for _, rss in results) / 1024
        shown_peak = f"{peak:>9.1f}" if peak else f"{'-':>9}"  # the floor's children are not measured
        medians[name] = statistics.median(times)
        print(
            f"{name:<17} {len(times):>4} {medians[name]:>9.3f} {min(times):>7.3f} {max(times):>7.3f} {shown_peak}",
            flush=True,
        )
    for name, baseline, allowed in TARGETS:
        if name in medians and baseline in medians:
            ratio = medians[name] / medians[baseline]
            verdict = "ok" if ratio <= allowed else "MISSED"
            print(f"target {name} / {baseline}: {ratio:.2f}x (allowed {allowed}x) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
