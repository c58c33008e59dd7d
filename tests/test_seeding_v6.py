"""add_node --seed_from on a v6.7.4 chain (issue 24): the refusals at each edge, the copy on the storage host.

The quorum edges come from the consensus services' own rules, written out here and not taken from the
code under test: overlord 0.4 counts a vote set when `acc * 3 > vote_weight_sum * 2` (every weight 1 in
consensus_overlord), raft-rs when it reaches `total / 2 + 1`. So stopping one of n validators is safe on
overlord from n = 4 (3 of 4) and on raft from n = 3 (2 of 3). "At the head": the seed's height, asked
last, is at least every other node's. What the copy takes is cloud-op's backup list (data/statedb,
data/nosql, chain_data); what it never takes is the consensus state cloud-op calls "consensus data"
(overlord_wal, raft-data-dir) and the node's identity; the script runs here with sh on a real tree.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.day2.seeding import ChainView, marker
from runner_k8s.day2.v6seeding import v6_seed_script
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.conftest import FIXED_NOW, DeterministicRandom, fixed_runtime, output_of, tree_snapshot

CHAIN = "demo"
K8S = "create_k8s_config.py: error: "
OTHERS = "127.0.0.1:1,127.0.0.1:2"
# A v6.7.4 node's chain data (cloud-op backup, src/backup/mod.rs) and what is never copied.
CHAIN_DATA = {
    "data/statedb/CURRENT": b"executor state",
    "data/statedb/000012.sst": b"state table",
    "data/nosql/CURRENT": b"executor nosql",
    "data/nosql/000013.log": b"nosql log",
    "chain_data/1/blocks": b"opendal layer 2",
    "chain_data/lock": b"",
}
NEVER = {
    "overlord_wal/wal.log": b"node1's votes and locks",
    "raft-data-dir/raft-entry": b"node1's raft log",
    "node_address": b"node1's address",
    "validator_address": b"node1's validator key",
    "logs/executor.log": b"node1's log",
}


def overlord_can_lose_one(count: int) -> bool:
    acc = count - 1
    return acc * 3 > count * 2  # overlord src/utils/auth_manage.rs, is_above_threshold


def raft_can_lose_one(count: int) -> bool:
    return count - 1 >= count // 2 + 1  # raft-rs src/util.rs, majority


def run(work: Path, *argv: str) -> tuple[int, str, str]:
    stderr = io.StringIO()
    runtime = Runtime(clock=lambda: FIXED_NOW, randbytes=DeterministicRandom("seed v6"), stdout=io.StringIO())
    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime), stderr.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Five-node v6.7.4 chains, overlord and raft, with their claim file (copied for each test)."""
    chains = {}
    for consensus in ("overlord", "raft"):
        work = tmp_path_factory.mktemp(consensus) / "work"
        argv = ["local_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--pvc_name", "pvc"]
        argv += ["--peers_count", "5", "--consensus", consensus, "--work_dir", str(work)]
        assert create_k8s_config.main(argv, fixed_runtime(f"seed {consensus}")) == 0
        pvc = ["local_pvc", "--pvc_name", "pvc", "--work_dir", str(work)]
        assert create_pvc.main(pvc, fixed_runtime()) == 0
        chains[consensus] = work
    return chains


def chain_of(made: dict[str, Path], consensus: str, tmp: Path) -> Path:
    work = tmp / "work"
    shutil.copytree(made[consensus], work)
    return work


def validators(work: Path, indices: range | list[int]) -> list[str]:
    folder = work / "cita-cloud" / CHAIN
    return ["0x" + (folder / f"node{index}" / "validator_address").read_text() for index in indices]


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[ChainView]:
    """What the running chain answers (the test puts one ChainView in)."""
    answers: list[ChainView] = []
    monkeypatch.setattr(membership_flags, "chain_view", lambda rpc, seed_rpc: answers[0])
    return answers


def seed_from(work: Path, index: int = 1, *extra: str) -> tuple[int, str, str]:
    return run(work, "add_node", "--seed_from", str(index), "--rpc", OTHERS, "--seed_rpc", "127.0.0.1:3", *extra)


# --- refusals, each at its edge ---------------------------------------------------------------------------


@pytest.mark.parametrize(("consensus", "count"), [("overlord", 3), ("overlord", 4), ("raft", 2), ("raft", 3)], ids=str)
def test_a_validator_seed_at_the_quorum_edge(
    made: dict[str, Path], tmp_path: Path, asked: list[ChainView], consensus: str, count: int
):
    """The last count that must refuse and the first that may seed, per consensus (node1 one of the voters)."""
    work = chain_of(made, consensus, tmp_path)
    asked.append(ChainView(validators(work, range(count)), {"a": 700, "b": 700}, 700))
    before = tree_snapshot(tmp_path)
    code, out, err = seed_from(work)
    safe = overlord_can_lose_one(count) if consensus == "overlord" else raft_can_lose_one(count)
    assert safe == (count == {"overlord": 4, "raft": 3}[consensus])  # the rules' own edges
    if safe:
        assert code == 0, err
        assert f"The plan: seeded from node1 ({count - 1} of {count} validators keep voting): at height 700" in out
        return
    need = {"overlord": ("overlord's more than two thirds", 3), "raft": ("raft's majority", 2)}[consensus]
    assert (code, out) == (1, "")
    assert err == (
        K8S + f"node1 is one of the chain's {count} validators: stopping it for the copy leaves {count - 1}, fewer "
        f"than {need[0]} of {need[1]}, and the chain would stop; seed from a node that is no validator, or leave "
        "--seed_from out (the plain join)\n"
    )
    assert tree_snapshot(tmp_path) == before


def test_a_seed_that_is_no_validator_costs_no_vote(made: dict[str, Path], tmp_path: Path, asked: list[ChainView]):
    work = chain_of(made, "overlord", tmp_path)
    asked.append(ChainView(validators(work, [0, 2, 3]), {"a": 12}, 12))  # three voters, node1 not one
    code, out, err = seed_from(work)
    assert code == 0, err
    assert "The plan: seeded from node1 (stopping it costs no vote): at height 12" in out


def test_a_seed_one_block_behind_is_refused(made: dict[str, Path], tmp_path: Path, asked: list[ChainView]):
    work = chain_of(made, "overlord", tmp_path)
    asked.append(ChainView(validators(work, range(5)), {"a": 899, "b": 900}, 899))
    before = tree_snapshot(tmp_path)
    code, out, err = seed_from(work)
    assert (code, out) == (1, "")
    assert err == (
        K8S + "node1 is at height 899, behind the chain's head 900 (asked at --rpc): a seed must be at the head; wait "
        "until it has caught up, or seed from another node\n"
    )
    assert tree_snapshot(tmp_path) == before


def test_a_seed_at_the_head_is_taken(made: dict[str, Path], tmp_path: Path, asked: list[ChainView]):
    work = chain_of(made, "overlord", tmp_path)
    asked.append(ChainView(validators(work, range(5)), {"a": 899, "b": 900}, 900))
    assert seed_from(work)[0] == 0


def test_a_seed_the_chain_does_not_have(made: dict[str, Path], tmp_path: Path, asked: list[ChainView]):
    work = chain_of(made, "overlord", tmp_path)
    before = tree_snapshot(tmp_path)
    code, out, err = seed_from(work, 5)
    assert (code, out, err) == (
        2,
        "",
        K8S + f"--seed_from 5: chain '{CHAIN}' has no node 5; its nodes are 0, 1, 2, 3, 4\n",
    )
    assert tree_snapshot(tmp_path) == before


def test_a_chain_without_its_claim_file(made: dict[str, Path], tmp_path: Path, asked: list[ChainView]):
    work = chain_of(made, "overlord", tmp_path)
    (work / "pvc.yaml").unlink()
    asked.append(ChainView(validators(work, range(5)), {"a": 9}, 9))
    before = tree_snapshot(tmp_path)
    code, out, err = seed_from(work)
    assert (code, out) == (2, "")
    assert err == (
        K8S + "--seed_from needs the claim's file pvc.yaml in the work dir (create_pvc.py wrote it): the plan copies "
        "node data on the storage it describes\n"
    )
    assert tree_snapshot(tmp_path) == before


def test_a_real_run_asks_the_chain(made: dict[str, Path], tmp_path: Path):
    work = chain_of(made, "overlord", tmp_path)
    code, _, err = run(work, "add_node", "--seed_from", "1")
    assert code == 2
    assert err.startswith(K8S + "--seed_from 1 needs --rpc (the other running nodes' RPC) and --seed_rpc")


def test_a_dry_run_says_what_it_did_not_ask(made: dict[str, Path], tmp_path: Path):
    work = chain_of(made, "overlord", tmp_path)
    code, out, err = run(work, "add_node", "--seed_from", "1", "--dry_run")
    assert code == 0, err
    assert "Not checked: node1's height and the validators (no --rpc was given); the real run asks --rpc" in out


def test_the_plain_plan_says_it_syncs_and_when_a_seed_pays(made: dict[str, Path], tmp_path: Path):
    from runner_k8s.day2.v6seeding import SEED_SECONDS, SYNC_BLOCKS_PER_SECOND

    work = chain_of(made, "overlord", tmp_path)
    code, out, err = run(work, "add_node")
    assert code == 0, err
    plan = (work / f"{CHAIN}-plan.sh").read_text()
    said = f"blocks a second) and stops no node; a seed (--seed_from I) adds about {SEED_SECONDS} s (node I"
    assert f"# plain sync: node5 syncs the chain from its peers (measured: about {SYNC_BLOCKS_PER_SECOND} " in plan
    assert said in plan and "The plan: plain sync" in out
    assert " scale " not in plan


# --- the copy on the storage host ---------------------------------------------------------------------------


def storage_tree(tmp: Path) -> Path:
    root = tmp / "cita-cloud" / CHAIN
    for relative, data in {**CHAIN_DATA, **NEVER}.items():
        path = root / "node1" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "node3").mkdir(parents=True)
    for name in ("node_address", "validator_address"):
        (root / "node3" / name).write_bytes(f"node3's {name}".encode())
    return root


def copy(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", v6_seed_script(str(root), 1, 3)], capture_output=True, text=True, check=False)


def test_the_copy_takes_the_chain_data_and_never_the_keys_or_the_consensus_state(tmp_path: Path):
    root = storage_tree(tmp_path)
    done = copy(root)
    assert done.returncode == 0, done.stderr
    new = root / "node3"
    for relative, data in CHAIN_DATA.items():
        assert (new / relative).read_bytes() == data, relative
    for name in ("node_address", "validator_address"):
        assert (new / name).read_bytes() == f"node3's {name}".encode()
    for relative in ("overlord_wal", "raft-data-dir", "logs"):
        assert not (new / relative).exists(), relative
    assert sorted(path.name for path in new.iterdir()) == sorted(
        ["chain_data", "data", "node_address", "validator_address", marker(1)]
    )
    assert sorted(path.name for path in (new / "data").iterdir()) == ["nosql", "statedb"]
    if os.geteuid() == 0:  # the services run as uid 1000 and write there
        for path in [new / "data", *(new / "data").rglob("*"), new / "chain_data", *(new / "chain_data").rglob("*")]:
            assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000), path


def test_a_copy_stopped_midway_is_made_again_whole(tmp_path: Path):
    root = storage_tree(tmp_path)
    staged = root / "node3" / ".seed" / "data" / "statedb"
    staged.mkdir(parents=True)
    (staged / "CURRENT").write_bytes(b"half")  # a copy that died in the staging folder
    (root / "node3" / "chain_data").mkdir()
    (root / "node3" / "chain_data" / "lock").write_bytes(b"from a copy that died while moving")
    (root / "node3" / "overlord_wal").mkdir()  # and a consensus state of its own: the new node starts without one
    done = copy(root)
    assert done.returncode == 0, done.stderr
    assert (root / "node3" / "data" / "statedb" / "CURRENT").read_bytes() == b"executor state"
    assert (root / "node3" / "chain_data" / "lock").read_bytes() == b""
    assert not (root / "node3" / ".seed").exists() and not (root / "node3" / "overlord_wal").exists()


@pytest.mark.parametrize("missing", ["chain_data", "data/statedb", "data/nosql"])
def test_a_seed_that_never_ran_is_refused_before_anything_changes(tmp_path: Path, missing: str):
    root = storage_tree(tmp_path)
    shutil.rmtree(root / "node1" / missing)
    before = tree_snapshot(root / "node3")
    done = copy(root)
    assert done.returncode == 1
    assert done.stderr == f"node1/{missing} is missing: node1 has not run as a v6.7.4 node\n"
    assert tree_snapshot(root / "node3") == before


@pytest.mark.parametrize("above", [0, 1], ids=["at the break-even", "one block above"])
def test_the_plan_says_whether_the_seed_pays_at_this_height(
    made: dict[str, Path], tmp_path: Path, asked: list[ChainView], above: int
):
    """The measured figures (a plain sync's blocks a second, the seed stage's seconds) give the break-even height:
    at it a plain join is no slower, one block above it the seed is faster; the plan says which, and still seeds."""
    from runner_k8s.day2.v6seeding import SEED_SECONDS, SYNC_BLOCKS_PER_SECOND

    work = chain_of(made, "overlord", tmp_path)
    height = SYNC_BLOCKS_PER_SECOND * SEED_SECONDS + above
    asked.append(ChainView(validators(work, [0, 2, 3]), {"a": height}, height))
    code, out, err = seed_from(work)
    assert code == 0, err
    edge = SYNC_BLOCKS_PER_SECOND * SEED_SECONDS
    verdict = (
        "the seed is faster" if above else f"a plain join would be faster here (above about {edge} blocks the seed is)"
    )
    line = (
        f"seeded from node1 (stopping it costs no vote): at height {height} a plain sync takes about "
        f"{height / SYNC_BLOCKS_PER_SECOND:.0f} s (measured: {SYNC_BLOCKS_PER_SECOND} blocks a second), the seed "
        f"about {SEED_SECONDS} s: {verdict}"
    )
    assert f"The plan: {line}\n" in out
    plan = (work / f"{CHAIN}-plan.sh").read_text()
    assert f"# {line}\n" in plan and f"scale statefulset/{CHAIN}-1 --replicas=0" in plan
