"""add_node --seed_from on a v5.0.0 multi_cluster chain (day2/multiseed.py): the scripts run by `sh` on real trees,
the tar read back with Python's tarfile, and the printed plan played by tests/planparse.py in each cluster's context.

What must hold comes from the local seeded join (docs/adding-and-removing-nodes.md, "Seeded join"): node I's chain
data (raft-data-dir, data, blocks, proposals, txs, tx_infos, storage.db and its companions) and never its identity;
the new folder keeps its own; the marker is written last; node I is stopped before its data is read and started
again before the new node starts; every kubectl command runs in its node's own cluster.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.day2.multiseed import pack_script, unpack_script
from runner_k8s.day2.seeding import ChainView
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.conftest import fixed_runtime
from tests.planparse import check_plan, facts
from tests.test_plan_reruns import SEED_DATA  # node1's chain data, as the seeded re-run tests have it
from tests.test_plan_text import CHAIN, Case, drop, move_before, replace, run, yaml_files

IDENTITY = ("node_address", "key_id", "kms.db", "network-config.toml", "controller-config.toml", "config/key.pem")


def node_folder(root: Path, index: int, data: dict[str, bytes]) -> Path:
    folder = root / f"node{index}"
    for relative, content in {**data, **{name: f"{name} of node{index}".encode() for name in IDENTITY}}.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    return folder


def sh(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script, *args], capture_output=True, text=True, check=False)


def test_the_seed_is_packed_without_its_identity_and_unpacked_into_the_new_folder(tmp_path: Path):
    here, there = tmp_path / "seed-storage", tmp_path / "new-storage"
    node_folder(here, 1, SEED_DATA)
    stale = {"blocks/1": b"the new node's own block 1", "storage.db-wal": b"a stale wal"}
    new = node_folder(there, 3, stale)
    tar = tmp_path / "seed.tar"
    packed = sh(pack_script(str(here), 1, '"$0"'), str(tar))
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(tar) as archive:  # read back by Python's tarfile, not by the scripts
        names = {member.name for member in archive.getmembers() if member.isfile()}
    assert names == set(SEED_DATA), names
    assert Path(f"{tar}.sha256").read_text() == hashlib.sha256(tar.read_bytes()).hexdigest() + "\n"
    unpacked = sh(unpack_script(str(there), 1, 3, '"$0"'), str(tar))
    assert unpacked.returncode == 0, unpacked.stderr
    for relative, content in SEED_DATA.items():
        assert (new / relative).read_bytes() == content, relative
    for name in IDENTITY:
        assert (new / name).read_bytes() == f"{name} of node3".encode(), name
    assert not (new / "blocks" / "1").exists() and not (new / "storage.db-wal").exists(), "the new folder's own copies"
    assert (new / ".seeded-from-node1").is_file() and not (new / ".seed").exists()
    again = sh(unpack_script(str(there), 1, 3, '"$0"'), str(tar))  # a plan run again unpacks afresh
    assert again.returncode == 0, again.stderr
    assert sorted(p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file()) == sorted(
        [*SEED_DATA, *IDENTITY, ".seeded-from-node1"]
    )


@pytest.mark.parametrize("missing", ["raft-data-dir", "storage.db", "tx_infos"])
def test_a_seed_that_never_ran_is_refused_with_one_line(tmp_path: Path, missing: str):
    data = {key: value for key, value in SEED_DATA.items() if not key.startswith(missing)}
    node_folder(tmp_path, 1, data)
    packed = sh(pack_script(str(tmp_path), 1, '"$0"'), str(tmp_path / "seed.tar"))
    assert packed.returncode == 1
    assert packed.stderr == f"node1/{missing} is missing: node1 has not run as a v5.0.0 node\n"
    assert not (tmp_path / "seed.tar").exists()


def test_an_unpack_stopped_midway_leaves_no_marker(tmp_path: Path):
    here, there = tmp_path / "seed-storage", tmp_path / "new-storage"
    node_folder(here, 1, SEED_DATA)
    new = node_folder(there, 3, {})
    tar = tmp_path / "seed.tar"
    assert sh(pack_script(str(here), 1, '"$0"'), str(tar)).returncode == 0
    whole = tar.read_bytes()
    assert len(whole) > 4096 and len(whole) % 512 == 0
    tar.write_bytes(whole[:2048])  # a tar cut at a block boundary (a copy that stopped): tar itself unpacks it
    assert subprocess.run(["tar", "-tf", str(tar)], capture_output=True, check=False).returncode == 0
    unpacked = sh(unpack_script(str(there), 1, 3, '"$0"'), str(tar))
    assert unpacked.returncode == 1
    assert unpacked.stderr == "the copy of node1's chain data is damaged (its checksum differs): run the plan again\n"
    assert not (new / ".seeded-from-node1").exists() and not (new / ".seed").exists(), "a failed unpack changed it"
    assert not (new / "raft-data-dir").exists()


# --- the printed plan, played in each cluster's context --------------------------------------------------------


def multi_chain(tmp: Path) -> tuple[Path, dict[str, Path], list[str]]:
    """Three clusters, node1's and the fourth cluster's claims: (work dir, its YAML before, add_node's args)."""
    from tests.test_golden import multi_seed_example
    from tests.test_membership import NEW_CLUSTER, premade

    work = tmp / "work"
    work.mkdir()
    assert create_k8s_config.main(multi_seed_example(work), Runtime(stdout=io.StringIO())) == 0
    before = yaml_files(work, tmp / "before")
    for claim, folder in (("cluster1-pvc", "/srv/cluster1"), ("cluster3-pvc", "/srv/cluster3")):
        made = ["local_pvc", "--pvc_name", claim, "--data_dir", folder, "--work_dir", str(work)]
        assert create_pvc.main(made, fixed_runtime()) == 0
    address, device = premade(work, "password3")
    flags = [*NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    seed = ["--seed_from", "1", "--rpc", "192.0.2.10:30002,192.0.2.12:30002", "--seed_rpc", "192.0.2.11:30002"]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work)]
    return work, before, [*flags, *seed, *folders, "--contexts", "red,green,blue,black"]


@pytest.fixture
def chain_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain answers add_node's question: three validators, every node at 700."""

    def view(rpc: object, seed_rpc: object) -> ChainView:
        return ChainView([f"0x{index:040x}" for index in range(3)], {"a": 700, "b": 700}, 700)

    monkeypatch.setattr(membership_flags, "chain_view", view)


@pytest.fixture(scope="module")
def multi_seeded(tmp_path_factory: pytest.TempPathFactory) -> Case:
    work, before, argv = multi_chain(tmp_path_factory.mktemp("multi-seeded"))
    validators = ["0x" + (work / "cita-cloud" / CHAIN / f"node{i}" / "node_address").read_text()[2:] for i in range(3)]
    original = membership_flags.chain_view
    membership_flags.chain_view = lambda rpc, seed_rpc: ChainView(validators, {"a": 700, "b": 700}, 700)
    try:
        run(work, "add_node", *argv)
    finally:
        membership_flags.chain_view = original
    contexts = {0: "red", 1: "green", 2: "blue", 3: "black"}
    return Case((work / f"{CHAIN}-plan.sh").read_text(), facts(work, CHAIN, before, 3, True, contexts))


def test_a_tar_left_by_an_earlier_seed_is_refused_and_nothing_written(tmp_path: Path, chain_asked: None):
    from tests.test_seeding import K8S
    from tests.test_seeding import run as add_node

    work, _, argv = multi_chain(tmp_path)
    (work / ".seed-node3.tar").write_bytes(b"node1's data from an add_node given up")
    files = {path: path.read_bytes() for path in work.rglob("*") if path.is_file()}
    code, out, err = add_node(work, "add_node", *argv)
    assert (code, out) == (1, "")
    assert err == (
        K8S + f"{work / '.seed-node3.tar'} already exists though the chain has no node3; move it away (an old copy?) "
        "and run again\n"
    )
    assert {path: path.read_bytes() for path in work.rglob("*") if path.is_file()} == files


def test_the_multi_seeded_plan_runs_each_step_in_its_nodes_cluster(multi_seeded: Case):
    played = check_plan(multi_seeded.text, multi_seeded.known)
    order = played.order
    assert played.scaled == [(f"{CHAIN}-1", 0), (f"{CHAIN}-1", 1)]
    stop, gone = order.index(f"scale {CHAIN}-1 0"), order.index(f"gone {CHAIN}-1-0")
    start, ready = order.index(f"scale {CHAIN}-1 1"), order.index(f"wait {CHAIN}-1")
    assert "in_step" in order[:stop], "nothing checks the seed is at the head before it stops"
    fetch = next(at for at, step in enumerate(order) if step.startswith("storage") and at > gone)
    assert stop < gone < fetch < start < ready < order.index(f"apply {CHAIN}-3.yaml"), order
    lines = multi_seeded.text.splitlines()
    for line in lines:
        if "statefulset/test-chain-1" in line or "pod/test-chain-1-0" in line:
            assert "kubectl --context green " in line and "--context red" not in line, line
    seeding = [line for line in lines if ".seed-node3.tar" in line]
    assert any("/srv/cluster1/cita-cloud/test-chain" in line and "tar -cf" in line for line in seeding)
    assert any("/srv/cluster3/cita-cloud/test-chain" in line and "tar -C" in line for line in seeding)
    assert sum("tar -cf" in line for line in lines) == 1 and sum("tar -C" in line for line in lines) == 1
    vote = next(n for n, line in enumerate(lines) if "manage_chain.py add_validator" in line and line[0] != "#")
    back = next(n for n, line in enumerate(lines) if "has caught up and keeps up" in line)
    assert "--in_step 15" in lines[vote]
    # node1's wait after its restart, and the vote's wait for node3, each beside a keep-up loop in that node's own
    # pod (its cluster's context), stopped by the wait's EXIT trap; the data goes to node3 only after node1 is back.
    assert sorted(played.pod_keep_ups) == [(f"{CHAIN}-1-0", back), (f"{CHAIN}-3-0", vote)]
    assert sorted(played.pod_keep_stops) == sorted(played.pod_keep_ups)
    assert order[order.index(f"keep-up {CHAIN}-1-0") + 1] == "wait_synced"
    assert order[order.index(f"keep-up {CHAIN}-3-0") + 1] == "add_validator"
    assert "kubectl --context green exec test-chain-1-0" in lines[back]
    assert "kubectl --context black exec test-chain-3-0" in lines[vote]
    assert back < next(n for n, line in enumerate(lines) if "tar -C" in line)


def check_multi_seeded(case: Case, text: str) -> None:
    """What test_the_multi_seeded_plan_runs_each_step_in_its_nodes_cluster checks, for a plan text."""
    test_the_multi_seeded_plan_runs_each_step_in_its_nodes_cluster(Case(text, case.known))


MULTI_SEED_MUTATIONS = {
    "the pack before the stop": move_before(r"tar -cf", r"--replicas=0"),
    "node1 never started again": drop(r"--replicas=1"),
    "the seed's stop in another cluster": replace(
        "kubectl --context green scale statefulset/test-chain-1 --replicas=0",
        "kubectl --context red scale statefulset/test-chain-1 --replicas=0",
    ),
    "no keep-up beside node1's wait": replace("exec test-chain-1-0 -c controller", "exec test-chain-1-0 -c syncthing"),
    "a keep-up loop never stopped": replace(".keepup/stop", ".keepup/halt"),
    "the data unpacked before node1 is back": move_before(r"tar -C", r"rollout status statefulset/test-chain-1 "),
    "a vote that returns before node3 keeps up": replace(" --in_step 15 --timeout 900 --admin_dir", " --admin_dir"),
}


@pytest.mark.parametrize("name", sorted(MULTI_SEED_MUTATIONS))
def test_a_broken_multi_seeded_plan_is_caught(multi_seeded: Case, name: str):
    mutated = MULTI_SEED_MUTATIONS[name](multi_seeded.text)
    assert mutated != multi_seeded.text
    with pytest.raises((AssertionError, ValueError, StopIteration)):
        check_multi_seeded(multi_seeded, mutated)


# --- the keep-up loop inside a pod (multi_cluster): its source is the node's own proposals/ ---------------------


def test_the_in_pod_keep_up_gives_back_a_proposal_the_node_deleted(tmp_path: Path):
    from runner_k8s.day2.keepup import KEEP, pod_script, stop_script
    from tests.test_keepup import IN_CREATE, IN_MOVED_TO, wait_for, watched

    folder = tmp_path / "node3"
    (folder / "proposals").mkdir(parents=True)
    (folder / "blocks").mkdir()
    loop = subprocess.Popen(["sh", "-c", pod_script(str(folder), 60)])
    try:
        arrived = tmp_path / "incoming"
        arrived.write_bytes(b"proposal 9")
        proposal = folder / "proposals" / "9a9a"
        arrived.rename(proposal)  # as syncthing delivers it
        assert wait_for(lambda: any(path.name.endswith(".9a9a") for path in (folder / KEEP).glob("*.*")))
        with watched(folder / "proposals") as events:
            proposal.unlink()  # the controller: too high, deleted
            assert wait_for(proposal.exists, 4.0), "the proposal never came back"
        assert proposal.read_bytes() == b"proposal 9"
        assert (IN_MOVED_TO, "9a9a") in events and not [e for e in events if e[0] & IN_CREATE]
    finally:
        subprocess.run(["sh", "-c", stop_script(str(folder), None)], check=True)
        loop.wait(timeout=10)
    assert loop.returncode == 0 and not (folder / KEEP).exists()
    assert sorted(path.name for path in folder.iterdir()) == ["blocks", "proposals"]
