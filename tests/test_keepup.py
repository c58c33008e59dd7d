"""The keep-up loop (day2/keepup.py) run by `sh` on a real tree, and the seed asked again while it commits the head.

What the loop must do comes from the v5.0.0 sources (docs/adding-and-removing-nodes.md, "Seeded join"): the
controller takes a proposal only when it is renamed into `proposals/` (its watch is `IN_MOVED_TO`,
controller `sync.rs:179`), so the loop must move files in, never write them in place; a proposal the node
deleted must come back; nothing else in the node's folder may change. The inotify events are read with
the kernel's own interface (ctypes), not with the code under test.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runner_k8s.day2.keepup import KEEP, keepup_script, stop_script
from runner_k8s.scripts import membership_flags
from tests.fakechain import Chain, Tweak, running

IN_CREATE, IN_MOVED_TO, IN_CLOSE_WRITE = 0x100, 0x80, 0x8
LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@contextmanager
def watched(folder: Path) -> Iterator[list[tuple[int, str]]]:
    """Every (mask, name) the kernel reports for `folder` while the block runs (read when it ends)."""
    fd = LIBC.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0
    assert LIBC.inotify_add_watch(fd, str(folder).encode(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) >= 0
    events: list[tuple[int, str]] = []
    try:
        yield events
        while select.select([fd], [], [], 0.2)[0]:
            data = os.read(fd, 65536)
            offset = 0
            while offset < len(data):
                _, mask, _, size = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + size].rstrip(b"\0").decode()
                events.append((mask, name))
                offset += 16 + size
    finally:
        os.close(fd)


def node_tree(root: Path, source: int = 0, target: int = 3) -> tuple[Path, Path]:
    for index in (source, target):
        for folder in ("proposals", "blocks", "txs", "raft-data-dir"):
            (root / f"node{index}" / folder).mkdir(parents=True, exist_ok=True)
        (root / f"node{index}" / "node_address").write_text(f"0x{index:040x}\n")
    (root / f"node{target}" / "blocks" / "7").write_bytes(b"block seven")
    return root / f"node{source}", root / f"node{target}"


def settled(path: Path, data: bytes, age: float = 5.0) -> Path:
    """A proposal file as syncthing leaves it: written, and its time in the past."""
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_ino)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and KEEP not in path.parts and "proposals" not in path.parts
    }


@contextmanager
def looping(root: Path, limit: int = 60) -> Iterator[subprocess.Popen[bytes]]:
    loop = subprocess.Popen(["sh", "-c", keepup_script(str(root), 0, 3, limit)])
    try:
        yield loop
    finally:
        subprocess.run(["sh", "-c", stop_script(str(root), 3)], check=True)
        loop.wait(timeout=10)


def wait_for(check, seconds: float = 6.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_kept_proposal_is_moved_in_and_comes_back_after_the_node_deletes_it(tmp_path: Path):
    source, target = node_tree(tmp_path)
    kept = settled(source / "proposals" / "ab12", b"proposal 8")
    present = settled(target / "proposals" / "cd34", b"proposal 9 the node has")
    inode, others = present.stat().st_ino, snapshot(target)
    with watched(target / "proposals") as events, looping(tmp_path) as loop:
        moved = target / "proposals" / "ab12"
        assert wait_for(moved.exists), "the source's proposal never reached the node"
        assert moved.read_bytes() == b"proposal 8"
        assert moved.stat().st_mtime == pytest.approx(kept.stat().st_mtime, abs=1e-6)
        moved.unlink()  # the controller calls it too high and deletes it
        assert wait_for(moved.exists), "a proposal the node deleted never came back"
        assert loop.poll() is None
    assert (IN_MOVED_TO, "ab12") in events
    assert not [name for mask, name in events if mask & (IN_CREATE | IN_CLOSE_WRITE)], events
    assert present.stat().st_ino == inode and present.read_bytes() == b"proposal 9 the node has"
    assert snapshot(target) == others, "the loop changed something besides proposals/"
    assert not (target / KEEP).exists(), "the loop's folder outlived it"
    assert sorted(path.name for path in (target / "proposals").iterdir()) == ["ab12", "cd34"]


def test_a_proposal_still_being_written_is_not_taken(tmp_path: Path):
    source, target = node_tree(tmp_path)
    fresh = source / "proposals" / "ef56"
    fresh.write_bytes(b"half a propos")
    later = time.time() + 3600  # changed after every look the loop takes
    os.utime(fresh, (later, later))
    settled(source / "proposals" / "ab12", b"proposal 8")
    with looping(tmp_path):
        assert wait_for((target / "proposals" / "ab12").exists)
        time.sleep(2.5)  # more than one offer (every 2 s)
        assert not (target / "proposals" / "ef56").exists()


def test_the_loop_ends_by_its_time_limit(tmp_path: Path):
    node_tree(tmp_path)
    loop = subprocess.run(["sh", "-c", keepup_script(str(tmp_path), 0, 3, 1)], check=False, timeout=10)
    assert loop.returncode == 0
    assert not (tmp_path / "node3" / KEEP).exists()


def test_a_stop_when_no_loop_runs_changes_nothing(tmp_path: Path):
    _, target = node_tree(tmp_path)
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    subprocess.run(["sh", "-c", stop_script(str(tmp_path), 3)], check=True)
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before
    assert not (target / KEEP).exists()


def test_a_second_loop_replaces_a_stale_one(tmp_path: Path):
    _, target = node_tree(tmp_path)
    stale = target / KEEP
    stale.mkdir()
    (stale / "3.0bad").write_bytes(b"a proposal of a run long ago")
    (stale / "stop").touch()
    with looping(tmp_path) as loop:
        time.sleep(2.5)
        assert loop.poll() is None, "a stop file left by an earlier run ended the new loop"
        assert not (target / "proposals" / "0bad").exists(), "a stale kept proposal was offered"


# The seed asked again while it commits the head (live run F: 500 against 501).
ADDRESS = "0x" + "11" * 20


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(membership_flags, "SEED_ASK_PAUSE", 0.0)


@pytest.mark.parametrize(
    ("behind_for", "level"), [(membership_flags.SEED_ASKS - 1, True), (membership_flags.SEED_ASKS, False)]
)
def test_a_seed_one_block_behind_is_asked_again(no_pause: None, behind_for: int, level: bool):
    chain = Chain("sm", b"\x00" * 32, b"\x01" * 20, [bytes.fromhex(ADDRESS[2:])], height=501)
    with running(chain, [Tweak(), Tweak(), Tweak(lag=1, lag_answers=behind_for)]) as (one, two, seed):
        view = membership_flags.chain_view([one, two], seed)
    assert chain.tweaks[2].answered["GetBlockNumber"] == min(behind_for + 1, membership_flags.SEED_ASKS)
    assert view.seed_height == (501 if level else 500)
    assert view.heights == {one: 501, two: 501}


def test_the_in_pod_loop_works_in_the_node_folder_it_is_started_in(tmp_path: Path):
    """`kept_up_in_pod`'s loop and stop use relative paths: run where a pod's exec runs (the node's folder), a
    proposal the node deletes comes back, and the stop ends the loop and removes its folder."""
    from runner_k8s.day2.keepup import pod_script

    (tmp_path / "proposals").mkdir()
    loop = subprocess.Popen(["sh", "-c", pod_script(".", 60)], cwd=tmp_path)
    try:
        assert wait_for((tmp_path / KEEP / "seen").is_dir)
        proposal = tmp_path / "proposals" / "cd34"
        proposal.write_bytes(b"proposal 9")
        assert wait_for((tmp_path / KEEP / "seen" / "cd34").exists)
        proposal.unlink()  # the controller's tick deletes it
        assert wait_for(proposal.exists) and proposal.read_bytes() == b"proposal 9"
    finally:
        subprocess.run(["sh", "-c", stop_script(".", None)], cwd=tmp_path, check=True)
        assert loop.wait(timeout=10) == 0
    assert not (tmp_path / KEEP).exists()
