"""Shared fixtures: a fixed clock and random source, the syncthing binary, script runners."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from runner_k8s.runtime import Runtime

# A suite started as a background job (`cmd &` in a script) inherits SIGINT ignored, as POSIX shells set it for such
# jobs, and so would every program the tests start: the tests that send SIGINT would see it ignored. Restore the
# default handler (an `exec` then resets it to the default action in the programs started).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs hypothesis derandomised (examples fixed by each test's source), so a red CI run replays
# exactly on any machine; elsewhere it explores, and prints the blob that reproduces a failure.
# Pick one with HYPOTHESIS_PROFILE=ci|dev.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

REPO = Path(__file__).resolve().parent.parent
FIXED_NOW = 1_700_000_000.123  # 2023-11-14T22:13:20.123Z


class DeterministicRandom:
    """A reproducible byte stream (SHAKE-256 of a seed and a counter): fixed keys for golden tests."""

    def __init__(self, seed: str) -> None:
        self.seed = seed.encode()
        self.counter = 0

    def __call__(self, size: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(self.seed + self.counter.to_bytes(8, "big")).digest(size)


def fixed_runtime(seed: str = "runner_k8s tests", now: float = FIXED_NOW) -> Runtime:
    return Runtime(clock=lambda: now, randbytes=DeterministicRandom(seed), stdout=io.StringIO())


def output_of(runtime: Runtime) -> str:
    stream = runtime.stdout
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_script(
    script: str, *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> Completed:
    """Run one of the four scripts as a user would: a subprocess in `cwd`, stdin not a terminal."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        # mutmut's mutants only switch on inside its own process: a script started here would run unmutated.
        pytest.skip("subprocess runs are not part of mutation testing")
    result = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input="" if stdin is None else stdin,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )
    return Completed(result.returncode, result.stdout, result.stderr)


def tree_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for directories)."""
    snapshot: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        snapshot[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return snapshot


@pytest.fixture(scope="session")
def syncthing() -> str:
    path = shutil.which("syncthing")
    if path is None:
        pytest.fail("the syncthing binary is required: apt-get install -y syncthing")
    return path


@pytest.fixture
def script() -> Callable[..., Completed]:
    return run_script


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current output instead of comparing with it",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# Tests that listen on fixed loopback ports (the plans' port-forwards, 28100 + i and 28200 + i) run one
# after another on one worker when the suite runs in parallel (pytest-xdist, `--dist loadgroup`).
FIXED_PORT_FILES = ("test_plan_reruns", "test_standins", "test_live")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith(FIXED_PORT_FILES):
            item.add_marker(pytest.mark.xdist_group("fixed-ports"))
