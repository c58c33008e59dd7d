"""Crash safety: a signal at every file-system call of a run, then the next run; old or new, nothing else.

Each scenario is run once unharmed to learn its calls and its finished state. Then, for every call
N (every rename, unlink, mkdir, rmdir, sync and journal write), a forked child runs the same
command with the same fixed randomness and sends itself SIGKILL, SIGTERM or SIGINT at call N. A
SIGTERM/SIGINT run must leave the old or the new state at once; after a SIGKILL the next run of
another script (one that then refuses its own bad input) must restore one of them, byte for byte
and mode for mode, with no journal, staging folder or key file left anywhere else.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import create_account
import create_k8s_config
import create_pvc
from tests.conftest import fixed_runtime
from tests.faults import ChildResult, Main, run_child, snapshot

PASSWORD = "crash-pass-1"
NEW_SEED = "new run"
EMPTY_DIR = (0o755, None)


@dataclass
class Scenario:
    """A command run in `root/work`, from a starting state made by `setup`."""

    main: Main
    argv: Callable[[Path], list[str]]
    setup: Callable[[Path], None] = field(default=lambda root: None)


def local_argv(root: Path, *extra: str) -> list[str]:
    return [
        "local_cluster",
        "--kms_password",
        PASSWORD,
        "--pvc_name",
        "local-pvc",
        "--peers_count",
        "1",
        "--work_dir",
        str(root / "work"),
        *extra,
    ]


def old_local_chain(root: Path) -> None:
    assert create_k8s_config.main(local_argv(root), fixed_runtime("old run")) == 0


def make_materials(root: Path) -> None:
    """One account and one syncthing identity, made ahead as multi_cluster needs them."""
    import create_syncthing_config

    keys = root / "keys"
    keys.mkdir()
    (keys / "key_file").write_text(PASSWORD)
    argv = ["--key_file", str(keys / "key_file"), "--output_dir", str(keys)]
    assert create_account.main(argv, fixed_runtime("a")) == 0
    assert create_syncthing_config.main(["--output_dir", str(keys)], fixed_runtime("s")) == 0


def multi_argv(root: Path, *extra: str) -> list[str]:
    keys = root / "keys"
    address = next(p.name for p in keys.iterdir() if p.name.startswith("0x"))
    device = next(p.name for p in keys.iterdir() if "-" in p.name)
    return [
        "multi_cluster",
        "--super_admin",
        address,
        "--authorities",
        address,
        "--nodes",
        "192.0.2.1",
        "--lbs_tokens",
        "lb-1",
        "--sync_device_ids",
        device,
        "--kms_passwords",
        PASSWORD,
        "--node_ports",
        "30000",
        "--pvc_names",
        "pvc0",
        "--accounts_dir",
        str(keys),
        "--syncthing_dir",
        str(keys),
        "--work_dir",
        str(root / "work"),
        *extra,
    ]


def old_multi_chain(root: Path) -> None:
    make_materials(root)
    assert create_k8s_config.main(multi_argv(root), fixed_runtime("old run")) == 0


def key_file_in_work(root: Path) -> None:
    (root / "work").mkdir()
    (root / "work" / "key_file").write_text(PASSWORD + "\n")


def old_pvc(root: Path) -> None:
    (root / "work").mkdir()
    (root / "work" / "local-pvc.yaml").write_text("the user's own file\n")


def old_two_node_chain(root: Path) -> None:
    assert create_k8s_config.main(local_argv(root, "--peers_count", "2"), fixed_runtime("old run")) == 0


@functools.wraps(create_k8s_config.main)  # it is create_k8s_config.py (tests name the script by its module)
def remove_node_main(argv: Sequence[str], runtime: Any) -> int:
    """remove_node, told by a stand-in for the running chain that the node is no validator any more."""
    from runner_k8s.scripts import membership_flags

    original = membership_flags.validators_at
    membership_flags.validators_at = lambda addresses: []
    try:
        return create_k8s_config.main(argv, runtime)
    finally:
        membership_flags.validators_at = original


def day2_argv(root: Path, *verb: str) -> list[str]:
    return [*verb, "--work_dir", str(root / "work")]


SCENARIOS: dict[str, Scenario] = {
    "add_node": Scenario(create_k8s_config.main, lambda r: day2_argv(r, "add_node"), old_two_node_chain),
    "remove_node": Scenario(
        remove_node_main,
        lambda r: day2_argv(r, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:9"),
        old_two_node_chain,
    ),
    "local_cluster": Scenario(create_k8s_config.main, local_argv),
    "local_cluster --force": Scenario(create_k8s_config.main, lambda r: local_argv(r, "--force"), old_local_chain),
    "multi_cluster": Scenario(create_k8s_config.main, multi_argv, make_materials),
    "multi_cluster --force": Scenario(create_k8s_config.main, lambda r: multi_argv(r, "--force"), old_multi_chain),
    "create_pvc --force": Scenario(
        create_pvc.main, lambda r: ["local_pvc", "--work_dir", str(r / "work"), "--force"], old_pvc
    ),
    "create_account": Scenario(
        create_account.main,
        lambda r: ["--key_file", str(r / "work" / "key_file"), "--output_dir", str(r / "work")],
        key_file_in_work,
    ),
}


def next_run(root: Path) -> list[str]:
    """Another script, run on the same work dir: it recovers first, then refuses its bad input."""
    return ["nfs_pvc", "--work_dir", str(root / "work"), "--nfs_server", "not a host!", "--nfs_path", "/data"]


@dataclass
class Prepared:
    scenario: Scenario
    pristine: Path
    old: dict[str, tuple[int, bytes | None]]
    new: dict[str, tuple[int, bytes | None]]
    calls: list[str]


def prepare(name: str, tmp_path: Path) -> Prepared:
    scenario = SCENARIOS[name]
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    scenario.setup(pristine)
    old = snapshot(pristine)
    trial = tmp_path / "trial"
    shutil.copytree(pristine, trial, symlinks=True)
    clean = run_child(scenario.main, scenario.argv(trial), lambda: fixed_runtime(NEW_SEED), log=tmp_path / "clean.log")
    assert clean.status == 0, clean.stderr
    new = snapshot(trial)
    # Paths inside the outputs are relative, so the same run in another root gives the same bytes.
    assert new != old
    return Prepared(scenario, pristine, old, new, clean.calls)


def fresh_root(prepared: Prepared, tmp_path: Path, label: str) -> Path:
    root = tmp_path / label
    shutil.copytree(prepared.pristine, root, symlinks=True)
    return root


def describe(state: dict[str, tuple[int, bytes | None]], prepared: Prepared) -> str:
    if state == prepared.old:
        return "old"
    if state == prepared.new:
        return "new"
    extra = sorted(set(state) - set(prepared.old) - set(prepared.new))
    missing = sorted((set(prepared.old) | set(prepared.new)) - set(state))
    return f"a mix: extra {extra[:5]}, missing {missing[:5]}"


def run_scenario(prepared: Prepared, root: Path, log: Path, **faults: Any) -> ChildResult:
    """The scenario's command in a forked child in `root`, with the new run's randomness and `faults`
    (run_child's fault_at, signum, fail_with, more_faults)."""
    scenario = prepared.scenario
    return run_child(scenario.main, scenario.argv(root), lambda: fixed_runtime(NEW_SEED), log=log, **faults)


def crash_and_recover(prepared: Prepared, tmp_path: Path, window: int, signum: int) -> None:
    root = fresh_root(prepared, tmp_path, f"w{window}-{signum}")
    where = f"window {window} ({prepared.calls[window - 1]}), signal {signal.Signals(signum).name}"
    crashed = run_scenario(prepared, root, tmp_path / f"w{window}-{signum}.log", fault_at=window, signum=signum)
    if signum == signal.SIGKILL:
        assert crashed.status == -signal.SIGKILL, f"{where}: {crashed.stderr}"
    else:
        # Stopped by SIGTERM/SIGINT: cleaned up at once, one line, exit 128 + signal (after the note naming
        # the --work_dir the run made, when it stopped with the outputs complete and that folder stays).
        assert crashed.status == 128 + signum, f"{where}: exit {crashed.status}: {crashed.stderr}"
        lines = [line for line in crashed.stderr.strip().splitlines() if ": note: made the folder " not in line]
        assert len(lines) == 1 and "Traceback" not in crashed.stderr, f"{where}: {crashed.stderr}"
        state = snapshot(root)
        assert state in (prepared.old, prepared.new), f"{where}: left {describe(state, prepared)}"
        if state == prepared.new:
            assert "after the outputs were complete" in lines[0], f"{where}: {lines[0]}"
        else:
            assert "no partial output" in lines[0], f"{where}: {lines[0]}"
    recovered = run_child(create_pvc.main, next_run(root), fixed_runtime, log=tmp_path / f"r{window}-{signum}.log")
    assert recovered.status == 2, f"{where}: {recovered.stderr}"
    assert "Traceback" not in recovered.stderr, f"{where}: {recovered.stderr}"
    state = snapshot(root)
    if "work" not in prepared.old and state == {**prepared.old, "work": EMPTY_DIR}:
        return  # the documented exception: a killed run may leave the --work_dir it made, empty
    assert state in (prepared.old, prepared.new), f"{where}: the next run left {describe(state, prepared)}"
    shutil.rmtree(root)


def windows(prepared: Prepared, *, full: bool) -> Sequence[int]:
    """Every call (full), or one call of each kind: the first calls, the journal writes, and from the
    commit on the first and last call of every run of one operation (the calls between stage or
    delete one file after another: each is the same kind of window).
    """
    calls = [call.split()[0] for call in prepared.calls]
    count = len(calls)
    if full:
        return range(1, count + 1)
    journal_writes = [n for n, call in enumerate(calls, start=1) if call == "replace"]
    commit = journal_writes[1]
    edges = [
        n
        for n in range(commit - 1, count + 1)
        if n in (commit - 1, count) or calls[n - 2] != calls[n - 1] or calls[n] != calls[n - 1]
    ]
    return sorted({1, 2, 3, journal_writes[0], *edges})


SMALL = ["create_pvc --force", "create_account"]
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


@pytest.mark.parametrize(
    "name",
    [
        *SMALL,
        "local_cluster --force",
        "add_node",
        "remove_node",
        pytest.param("multi_cluster --force", marks=pytest.mark.slow),
    ],
)
def test_sigkill_then_the_next_run_restores_old_or_new(name: str, tmp_path: Path):
    prepared = prepare(name, tmp_path)
    for window in windows(prepared, full=name in SMALL):
        crash_and_recover(prepared, tmp_path, window, signal.SIGKILL)


@pytest.mark.parametrize(
    ("name", "signum"),
    [
        *(("create_pvc --force", signum) for signum in STOP_SIGNALS),
        pytest.param("local_cluster --force", signal.SIGTERM, marks=pytest.mark.slow),
        pytest.param("remove_node", signal.SIGTERM, marks=pytest.mark.slow),
    ],
)
def test_stop_signal_cleans_up_at_once(name: str, signum: int, tmp_path: Path):
    prepared = prepare(name, tmp_path)
    for window in windows(prepared, full=name in SMALL):
        crash_and_recover(prepared, tmp_path, window, signum)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])  # SIGINT and SIGHUP share SIGTERM's handler
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_call_of_every_scenario(name: str, signum: int, tmp_path: Path):
    prepared = prepare(name, tmp_path)
    for window in windows(prepared, full=True):
        crash_and_recover(prepared, tmp_path, window, signum)


def kill_at(prepared: Prepared, root: Path, log: Path, window: int) -> None:
    killed = run_scenario(prepared, root, log, fault_at=window)
    assert killed.status == -signal.SIGKILL, killed.stderr


@pytest.mark.slow
def test_a_run_killed_while_repairing_is_repaired_by_the_one_after(tmp_path: Path):
    """Recovery is itself a sequence of renames and deletes: kill it at each, and the next run still ends well."""
    prepared = prepare("local_cluster --force", tmp_path)
    calls = [call.split()[0] for call in prepared.calls]
    commit = [n for n, call in enumerate(calls, start=1) if call == "replace"][1]
    middle_of_the_move = next(n for n in range(commit + 1, len(calls)) if calls[n - 1] == "rename") + 1
    for first in (commit - 1, middle_of_the_move):
        probe = fresh_root(prepared, tmp_path, f"probe{first}")
        kill_at(prepared, probe, tmp_path / f"probe{first}.log", first)
        repair = run_child(create_pvc.main, next_run(probe), fixed_runtime, log=tmp_path / f"repair{first}.log")
        assert repair.status == 2 and len(repair.calls) > 3, repair.calls
        for second in range(1, len(repair.calls) + 1):
            root = fresh_root(prepared, tmp_path, f"r{first}-{second}")
            log = tmp_path / f"r{first}-{second}.log"
            kill_at(prepared, root, log, first)
            again = run_child(create_pvc.main, next_run(root), fixed_runtime, log=log, fault_at=second)
            assert again.status == -signal.SIGKILL
            final = run_child(create_pvc.main, next_run(root), fixed_runtime, log=log)
            assert final.status == 2, final.stderr
            state = snapshot(root)
            assert state in (prepared.old, prepared.new), f"{first}/{second}: {describe(state, prepared)}"
            shutil.rmtree(root)


@pytest.mark.parametrize(
    "name",
    ["create_pvc --force", pytest.param("local_cluster --force", marks=pytest.mark.slow), "multi_cluster"],
)
def test_a_failing_disk_at_any_call_fails_whole_or_succeeds_whole(name: str, tmp_path: Path):
    """ENOSPC (a full disk) from one call: exit 1 with the old state and one line, or success with the new one."""
    prepared = prepare(name, tmp_path)
    for window in windows(prepared, full=name in SMALL):
        root = fresh_root(prepared, tmp_path, f"e{window}")
        where = f"window {window} ({prepared.calls[window - 1]})"
        log = tmp_path / f"e{window}.log"
        scenario = prepared.scenario
        failed = run_child(
            scenario.main, scenario.argv(root), lambda: fixed_runtime(NEW_SEED), log=log, fault_at=window, fail_with=28
        )
        state = snapshot(root)
        if failed.status == 1:
            assert failed.stderr.count("\n") == 1, f"{where}: {failed.stderr}"
            assert "No space left on device" in failed.stderr, f"{where}: {failed.stderr}"
            assert state == prepared.old, f"{where}: {describe(state, prepared)}"
        else:
            assert failed.status == 0, f"{where}: {failed.stderr}"
            # Only the clean-up failed: what is left of .runner_k8s/ goes with the next run.
            assert {k: v for k, v in state.items() if ".runner_k8s" not in k} == prepared.new, where
        run_child(create_pvc.main, next_run(root), fixed_runtime, log=log)
        state = snapshot(root)
        assert state == (prepared.new if failed.status == 0 else prepared.old), f"{where}: {describe(state, prepared)}"
        shutil.rmtree(root)


def test_without_syncfs_every_staged_file_and_folder_is_synced_one_by_one(tmp_path: Path, monkeypatch):
    from runner_k8s.write import durable

    top = tmp_path / "new"
    (top / "0" / "config").mkdir(parents=True)
    for name in ("0/a", "0/config/b"):
        (top / name).write_text(name)
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(durable, "syncfs", lambda path: False)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    durable.sync_tree(top)
    expected = {str(top), str(top / "0"), str(top / "0" / "config"), str(top / "0" / "a"), str(top / "0/config/b")}
    assert set(synced) == expected
    # Bottom-up: every folder after everything in it, so the top folder comes last.
    for path in synced:
        inside = [other for other in synced if other.startswith(path + "/")]
        assert all(synced.index(other) < synced.index(path) for other in inside), synced
    assert synced[-1] == str(top)


def test_syncfs_says_so_where_the_c_library_has_none(tmp_path: Path, monkeypatch):
    from runner_k8s.write import durable

    monkeypatch.setattr(durable, "_libc", lambda: None)
    assert durable.syncfs(tmp_path) is False


def test_syncfs_is_used_where_linux_has_it(tmp_path: Path):
    from runner_k8s.write import durable

    assert durable.syncfs(tmp_path) is (sys.platform == "linux")


@pytest.mark.parametrize("name", ["create_pvc --force", "local_cluster --force", "multi_cluster"])
def test_the_repair_run_in_this_process_restores_old_or_new(name: str, tmp_path: Path):
    """The same crashes, with the repair run in the test's own process rather than a forked child.

    The recovery code (reading the journal, undoing or finishing the moves) then runs where coverage
    and mutation tools see it: a mutant of the rollback path must fail this test.
    """
    prepared = prepare(name, tmp_path)
    first_journal = next(n for n, call in enumerate(prepared.calls, start=1) if call.startswith("replace"))
    for window in windows(prepared, full=False):
        root = fresh_root(prepared, tmp_path, f"in-process-{window}")
        where = f"window {window} ({prepared.calls[window - 1]})"
        crashed = run_scenario(prepared, root, tmp_path / f"in-process-{window}.log", fault_at=window)
        assert crashed.status == -signal.SIGKILL, f"{where}: {crashed.stderr}"
        runtime = fixed_runtime()
        assert create_pvc.main(next_run(root), runtime) == 2, where
        state = snapshot(root)
        if window <= first_journal and "work" not in prepared.old and state == {**prepared.old, "work": EMPTY_DIR}:
            # The documented exception: a run killed before its journal named the --work_dir it made may
            # leave that folder, empty. Once the journal names it, the repair removes it.
            continue
        assert state in (prepared.old, prepared.new), f"{where}: the repair left {describe(state, prepared)}"
