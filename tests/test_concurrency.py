"""One writer at a time: two runs started together (a barrier) in one work dir never lose or mix output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.write import files
from tests.chains import load_documents
from tests.conftest import fixed_runtime
from tests.faults import ChildResult, Main, start_child, wait_child


def together(tmp_path: Path, runs: Sequence[tuple[Main, list[str]]]) -> list[ChildResult]:
    """Fork every run; each waits at a barrier (a pipe) until all are forked, then they start at once.

    Every mkdir and rename of the runs first waits 0.1 s, so their check-then-act steps overlap.
    """
    read_end, write_end = os.pipe()

    def barrier() -> None:
        os.close(write_end)
        assert os.read(read_end, 1) == b"g"

    pids = [
        start_child(
            main, argv, fixed_runtime, log=tmp_path / f"run{number}.log", prepare=barrier, slow=("mkdir", "rename")
        )
        for number, (main, argv) in enumerate(runs)
    ]
    os.close(read_end)
    os.write(write_end, b"g" * len(runs))
    os.close(write_end)
    return [wait_child(pid, tmp_path / f"run{number}.log") for number, pid in enumerate(pids)]


def local_chain(work: Path, chain: str, *extra: str) -> list[str]:
    return [
        "local_cluster",
        "--kms_password",
        "pw",
        "--pvc_name",
        "local-pvc",
        "--peers_count",
        "1",
        "--chain_name",
        chain,
        "--work_dir",
        str(work),
        *extra,
    ]


def test_two_chains_in_a_fresh_work_dir_both_succeed(tmp_path: Path):
    work = tmp_path / "fresh" / "work"
    runs = [(create_k8s_config.main, local_chain(work, "alpha")), (create_k8s_config.main, local_chain(work, "beta"))]
    results = together(tmp_path, runs)
    assert [result.status for result in results] == [0, 0], [result.stderr for result in results]
    for chain in ("alpha", "beta"):
        assert (work / "cita-cloud" / chain / "node0" / "kms.db").is_file()
        assert load_documents(work / f"{chain}.yaml")
    assert sorted(path.name for path in work.iterdir()) == [
        "alpha-admin",
        "alpha.yaml",
        "beta-admin",
        "beta.yaml",
        "cita-cloud",
    ]


def test_the_same_chain_twice_one_wins_the_other_refuses(tmp_path: Path):
    work = tmp_path / "work"
    runs = [(create_k8s_config.main, local_chain(work, "same")), (create_k8s_config.main, local_chain(work, "same"))]
    results = together(tmp_path, runs)
    assert sorted(result.status for result in results) == [0, 1], [result.stderr for result in results]
    refused = next(result for result in results if result.status == 1)
    assert "already exist" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_create_pvc_twice_without_force_one_reports_the_existing_file(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    argv = ["local_pvc", "--work_dir", str(work)]
    results = together(tmp_path, [(create_pvc.main, argv), (create_pvc.main, argv)])
    assert sorted(result.status for result in results) == [0, 1], [result.stderr for result in results]
    assert "already exists" in next(result.stderr for result in results if result.status == 1)
    assert [doc["kind"] for doc in load_documents(work / "local-pvc.yaml")] == [
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
    ]
    assert sorted(path.name for path in work.iterdir()) == ["local-pvc.yaml"]


def test_create_pvc_twice_with_force_both_succeed_one_after_the_other(tmp_path: Path):
    work = tmp_path / "work"
    argv = ["nfs_pvc", "--nfs_server", "2001:DB8::0:1", "--nfs_path", "/exports", "--work_dir", str(work), "--force"]
    results = together(tmp_path, [(create_pvc.main, argv), (create_pvc.main, argv)])
    assert [result.status for result in results] == [0, 0], [result.stderr for result in results]
    volume = load_documents(work / "nfs-pvc.yaml")[0]
    assert volume["spec"]["nfs"] == {"server": "2001:db8::1", "path": "/exports"}
    assert sorted(path.name for path in work.iterdir()) == ["nfs-pvc.yaml"]


def hold_lock(work: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holds the work dir's lock, as a running writer does, for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(work), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_second_run_waits_for_the_lock_then_writes(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    holder = hold_lock(work, 1.0)
    pid = start_child(create_pvc.main, ["local_pvc", "--work_dir", str(work)], fixed_runtime, log=tmp_path / "w.log")
    result = wait_child(pid, tmp_path / "w.log")
    holder.wait()
    assert result.status == 0, result.stderr
    assert (work / "local-pvc.yaml").is_file()


def test_a_run_that_cannot_get_the_lock_says_so_in_one_line(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    holder = hold_lock(work, 60.0)

    def short_wait() -> None:
        files.LOCK_WAIT_SECONDS = 0.3

    argv = ["local_pvc", "--work_dir", str(work)]
    pid = start_child(create_pvc.main, argv, fixed_runtime, log=tmp_path / "w.log", prepare=short_wait)
    result = wait_child(pid, tmp_path / "w.log")
    holder.terminate()
    holder.wait()
    assert result.status == 1
    assert result.stderr.strip().splitlines() == [
        f"create_pvc.py: error: another run is writing in {work}: waited 0.3 s for it to finish; "
        "run again once it has finished"
    ]
    assert list(work.iterdir()) == []


def test_cita_cloud_on_another_filesystem_is_refused_whole(tmp_path: Path, capsys):
    """Outputs change in one step only by renames within one filesystem: a mount there is named, not half-used."""
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    storage = Path(tempfile.mkdtemp(dir=other))
    try:
        work = tmp_path / "work"
        work.mkdir()
        (work / "cita-cloud").symlink_to(storage)
        # In this process (no signal is involved), where coverage and mutation tools see the error path.
        assert create_k8s_config.main(local_chain(work, "far"), fixed_runtime()) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"create_k8s_config.py: error: cannot move into {work}/cita-cloud/far: it is on another filesystem than "
            f"{work}, so the outputs cannot change in one step; nothing was written: choose a --work_dir on the "
            "filesystem that holds cita-cloud/ (it may not be a mount point of its own)"
        ]
        assert sorted(path.name for path in work.iterdir()) == ["cita-cloud"]
        assert list(storage.iterdir()) == []
    finally:
        shutil.rmtree(storage)
