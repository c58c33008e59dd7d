"""add_node --seed_from (issue 25): what it refuses, at each edge, and what the seed copy does on the storage.

The refusals' edges come from raft's rule (a majority of the validators must vote: with n validators,
stopping one is safe only when n - 1 >= n // 2 + 1) and from the definition of "at the head" in the
docs (the seed's height, asked last, is at least every other node's). The copy script runs here with
sh on a real folder tree, as the storage host runs it; the expectation is the list in the docs
(what is chain data, what is identity), not the script's own list.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.day2.onstorage import on_storage, storage_has
from runner_k8s.day2.seeding import ChainView, marker, seed_script
from runner_k8s.kube.storage import Storage
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.chains import make_local_chain
from tests.conftest import FIXED_NOW, DeterministicRandom, fixed_runtime, output_of, tree_snapshot
from tests.planparse import Played, check_plan, facts
from tests.test_plan_text import ADD_MUTATIONS, Case, assert_adds, drop, move_before, replace, yaml_files

CHAIN = "test-chain"
K8S = "create_k8s_config.py: error: "
OTHERS = "127.0.0.1:1,127.0.0.1:2"
# The chain data of a v5.0.0 node (docs: "Seeded join"), and its identity, which is never copied.
CHAIN_DATA = {
    "raft-data-dir/raft-wal-log.active": b"raft log",
    "raft-data-dir/raft-wal-log.backup": b"older raft log",
    "data/statedb/CURRENT": b"executor state",
    "data/nosql/CURRENT": b"executor nosql",
    "storage.db": b"sqlite",
    "storage.db-journal": b"sqlite journal",
    "blocks/12": b"block",
    "blocks/.stfolder/marker": b"",
    "proposals/13": b"proposal",
    "txs/aa": b"tx",
    "tx_infos/aa": b"tx info",
}
IDENTITY = ("node_address", "key_id", "kms.db", "network-config.toml", "config/config.xml", "config/key.pem")


def run(work: Path, *argv: str) -> tuple[int, str, str]:
    stderr = io.StringIO()
    runtime = Runtime(clock=lambda: FIXED_NOW, randbytes=DeterministicRandom("seed"), stdout=io.StringIO())
    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime), stderr.getvalue()


def addresses(work: Path) -> list[str]:
    return [(work / "cita-cloud" / CHAIN / f"node{index}" / "node_address").read_text() for index in range(3)]


@pytest.fixture
def chain3(tmp_path: Path) -> Path:
    make_local_chain(tmp_path, "--peers_count", "3")
    assert create_pvc.main(["local_pvc", "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    return tmp_path


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[ChainView]:
    """What the running chain answers (the test puts one ChainView in)."""
    answers: list[ChainView] = []
    monkeypatch.setattr(membership_flags, "chain_view", lambda rpc, seed_rpc: answers[0])
    return answers


def seed_from(work: Path, index: int = 1) -> tuple[int, str, str]:
    return run(work, "add_node", "--seed_from", str(index), "--rpc", OTHERS, "--seed_rpc", "127.0.0.1:3")


# --- refusals, each at its edge -------------------------------------------------------------------------


def test_three_validators_can_lose_the_seed_for_the_copy(chain3: Path, asked: list[ChainView]):
    asked.append(ChainView(addresses(chain3), {"a": 900, "b": 900}, 900))
    code, out, err = seed_from(chain3)
    assert code == 0, err
    assert (
        "The plan: seeded from node1: at height 900 a plain join would sync for about 500 s before node3 votes, or "
        "never once a block carries a transaction its controller refuses; the seed stops node1 for about a minute "
        "instead"
    ) in out


def test_two_validators_cannot(chain3: Path, asked: list[ChainView]):
    asked.append(ChainView(addresses(chain3)[:2], {"a": 900}, 900))
    before = tree_snapshot(chain3)
    code, out, err = seed_from(chain3)
    assert (code, out) == (1, "")
    assert err == (
        K8S + "node1 is one of the chain's 2 validators: stopping it for the copy leaves 1, fewer than raft's majority "
        "of 2, and the chain would stop; seed from a node that is no validator, or leave --seed_from out (the plain "
        "join)\n"
    )
    assert tree_snapshot(chain3) == before


def test_a_seed_that_is_no_validator_stops_no_vote(chain3: Path, asked: list[ChainView]):
    asked.append(ChainView(addresses(chain3)[::2], {"a": 5}, 5))  # nodes 0 and 2 vote; node1 does not
    code, out, err = seed_from(chain3)
    assert code == 0, err
    assert "The plan: seeded from node1, no validator: stopping it costs no vote" in out


def test_a_seed_at_the_head_is_taken(chain3: Path, asked: list[ChainView]):
    asked.append(ChainView(addresses(chain3), {"a": 900, "b": 899}, 900))
    assert seed_from(chain3)[0] == 0


def test_a_seed_one_block_behind_is_refused(chain3: Path, asked: list[ChainView]):
    asked.append(ChainView(addresses(chain3), {"a": 899, "b": 900}, 899))
    code, out, err = seed_from(chain3)
    assert (code, out) == (1, "")
    assert err == (
        K8S + "node1 is at height 899, behind the chain's head 900 (asked at --rpc): a seed must be at the head; wait "
        "until it has caught up, or seed from another node\n"
    )


def test_a_young_chain_is_seeded_too(chain3: Path, asked: list[ChainView]):
    # A plain join stops for good at a block whose transaction its controller refused (v5.0.0), at any height:
    # --seed_from seeds from the first block on.
    asked.append(ChainView(addresses(chain3), {"a": 1}, 1))
    code, out, err = seed_from(chain3)
    assert code == 0, err
    plan = (chain3 / f"{CHAIN}-plan.sh").read_text()
    assert "kubectl scale statefulset/test-chain-1 --replicas=0" in plan
    assert "# seeded from node1: at height 1 a plain join would sync for about 1 s before node3 votes" in plan
    assert "The plan: seeded from node1: at height 1 " in out


def test_a_seed_the_chain_does_not_have(chain3: Path, asked: list[ChainView]):
    code, _, err = seed_from(chain3, 7)
    assert code == 2
    assert err == K8S + f"--seed_from 7: chain '{CHAIN}' has no node 7; its nodes are 0, 1, 2\n"


def test_a_real_run_asks_the_chain(chain3: Path):
    code, _, err = run(chain3, "add_node", "--seed_from", "1")
    assert code == 2
    assert err == (
        K8S + "--seed_from 1 needs --rpc (the other running nodes' RPC) and --seed_rpc (node 1's RPC): the chain is "
        "asked whether the seed can stop and is at the head (a --dry_run goes without)\n"
    )


def test_a_dry_run_says_what_it_did_not_ask(chain3: Path):
    code, out, err = run(chain3, "add_node", "--seed_from", "1", "--dry_run")
    assert code == 0, err
    assert "Not checked: node1's height and the validators (no --rpc was given); the real run asks --rpc" in out


def test_a_multi_cluster_seed_without_its_claims_file_is_refused_in_one_line(tmp_path: Path):
    """multi_cluster: the plan packs node I's data on its own cluster's storage, which only its claim's file names."""
    from tests.test_membership import NEW_CLUSTER, premade
    from tests.test_plan_text import multi_case

    (tmp_path / "made").mkdir()
    case = multi_case(tmp_path / "made")  # a multi_cluster chain that has had its fourth node added
    work = case.known.work
    address, device = premade(work, "password4")
    argv = [*NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password4"]
    argv = [item.replace("192.0.2.13", "192.0.2.14") for item in argv]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work)]
    code, out, err = run(work, "add_node", *argv, *folders, "--seed_from", "0", "--dry_run")
    assert (code, out) == (2, "")
    assert err == (
        K8S + "--seed_from needs the claim's file cluster0-pvc.yaml in the work dir (create_pvc.py wrote it): the "
        "plan copies node data on the storage it describes\n"
    )


# --- the printed plan, played against the cluster model ----------------------------------------------------


@pytest.fixture(scope="module")
def seeded_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    tmp = tmp_path_factory.mktemp("seeded")
    work = tmp / "work"
    make_local_chain(work, "--peers_count", "3")
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    before = yaml_files(work, tmp / "before")
    view = ChainView(addresses(work), {"a": 900, "b": 900}, 900)
    original = membership_flags.chain_view
    membership_flags.chain_view = lambda rpc, seed_rpc: view
    try:
        assert seed_from(work)[0] == 0
    finally:
        membership_flags.chain_view = original
    known = facts(work, CHAIN, before, 3, True, dict.fromkeys(range(4)))
    return Case((work / f"{CHAIN}-plan.sh").read_text(), known)


def assert_seeds(case: Case, played: Played) -> None:
    """The plain plan's steps, and before the new node starts: node1 stopped, copied, started and caught up."""
    assert_adds(case, played)
    order = played.order
    stop, gone, copy = order.index("scale test-chain-1 0"), order.index("gone test-chain-1-0"), order.index("seed copy")
    start, ready = order.index("scale test-chain-1 1"), order.index("wait test-chain-1")
    assert order.index("wait_synced") < stop, "nothing checks the seed is at the head before it stops"
    assert stop < gone < copy < start < ready, order
    assert "wait_synced" in order[ready : order.index("apply test-chain.yaml")], "node1 never waited for"
    # The waits for a node that may lag run beside the keep-up loop (day2/keepup.py), fed by an old node in step,
    # and stopped when the wait's subshell ends; the wait before node1 stops has none (node1 is in step then).
    keep1, keep3 = order.index("keep-up node1"), order.index("keep-up node3")
    assert ready < keep1 and order[keep1 + 1] == "wait_synced", "node1's wait after its restart has no keep-up"
    assert order[keep3 + 1] == "add_validator", "the vote's wait for node3 has no keep-up"
    assert [(target, source) for target, source, _ in played.keep_ups] == [(1, 0), (3, 0)]
    assert sorted((target, line) for target, _, line in played.keep_ups) == sorted(played.keep_stops), (
        "a keep-up loop is not stopped when its wait ends"
    )
    assert ready < order.index("apply test-chain.yaml")
    assert played.scaled == [("test-chain-1", 0), ("test-chain-1", 1)]
    # Issue 25: node1 keeps up block by block before the stop and once restarted; the vote returns once node3 does.
    assert "in_step" in order[:stop] and "in_step" in order[ready : order.index("apply test-chain.yaml")]
    assert played.in_step[0] == played.in_step[1] == ("test-chain-0", "test-chain-1", "test-chain-2")
    assert played.votes_in_step == [15]


def test_the_seeded_plan(seeded_case: Case):
    assert_seeds(seeded_case, seeded_case.play())
    assert "# seeded from node1: at height 900" in seeded_case.text


SEED_MUTATIONS = {
    **ADD_MUTATIONS,
    "no stop": drop(r"--replicas=0"),
    "no wait until the pod is gone": drop(r"wait --for=delete"),
    "the copy before the stop": move_before(r"sudo sh -c", r"--replicas=0"),
    "node1 never started again": drop(r"--replicas=1"),
    "node1 not waited for": drop(r"rollout status statefulset/test-chain-1 "),
    "a port-forward to node1 before it is back": move_before(
        r"node1 has caught up", r"rollout status statefulset/test-chain-1 "
    ),
    "no check before the stop": drop(r"node1 is at the head"),
    "a guard that skips the stop always": replace("|| kubectl scale statefulset/test-chain-1 --replicas=0", "|| true"),
    "no in-step wait once node1 is back": lambda text: text.replace(
        "--wait_synced --interval 1 --in_step 15", "--wait_synced", 2
    ),
    "a vote that returns before node3 keeps up": replace(" --in_step 15 --timeout 900 --admin_dir", " --admin_dir"),
    "the keep-up loop in the foreground": replace(">/dev/null & keep=$!;", ">/dev/null; keep=$!;"),
    "a keep-up loop never stopped": replace("/.keepup/stop", "/.keepup/halt"),
    "the keep-up fed by a lagging node": replace("for f in node0/proposals/", "for f in node3/proposals/"),
    "the keep-up for another node than the vote's": replace("k=node3/.keepup", "k=node2/.keepup"),
}


@pytest.mark.parametrize("name", sorted(SEED_MUTATIONS))
def test_a_broken_seeded_plan_is_caught(seeded_case: Case, name: str):
    mutated = SEED_MUTATIONS[name](seeded_case.text)
    assert mutated != seeded_case.text
    with pytest.raises((AssertionError, ValueError, StopIteration)):
        assert_seeds(seeded_case, check_plan(mutated, seeded_case.known))


# --- the copy on the storage host ---------------------------------------------------------------------------


def storage_tree(tmp: Path) -> Path:
    root = tmp / "cita-cloud" / CHAIN
    for index in (1, 3):
        for name in IDENTITY:
            path = root / f"node{index}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"node{index}'s {name}")
        for folder in ("blocks", "proposals", "txs", "tx_infos", "logs"):
            (root / f"node{index}" / folder).mkdir(exist_ok=True)
    for relative, data in CHAIN_DATA.items():
        path = root / "node1" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "node1" / "logs" / "controller-service.log").write_text("node1's log")
    return root


def copy(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", seed_script(str(root), 1, 3)], capture_output=True, text=True, check=False)


def test_the_copy_takes_the_chain_data_and_never_the_identity(tmp_path: Path):
    root = storage_tree(tmp_path)
    done = copy(root)
    assert done.returncode == 0, done.stderr
    for relative, data in CHAIN_DATA.items():
        assert (root / "node3" / relative).read_bytes() == data, relative
    for name in IDENTITY:
        assert (root / "node3" / name).read_text() == f"node3's {name}", name
    assert not (root / "node3" / "logs" / "controller-service.log").exists()
    assert (root / "node3" / marker(1)).is_file()
    assert sorted(path.name for path in (root / "node3").iterdir() if path.name.startswith(".")) == [marker(1)]


def test_a_copy_stopped_midway_is_made_again_whole(tmp_path: Path):
    root = storage_tree(tmp_path)
    staged = root / "node3" / ".seed" / "raft-data-dir"
    staged.mkdir(parents=True)
    (staged / "raft-wal-log.active").write_bytes(b"half")  # a copy that died in the staging folder
    (root / "node3" / "storage.db").write_bytes(b"from a copy that died while moving")
    done = copy(root)
    assert done.returncode == 0, done.stderr
    assert (root / "node3" / "raft-data-dir" / "raft-wal-log.active").read_bytes() == b"raft log"
    assert (root / "node3" / "storage.db").read_bytes() == b"sqlite"
    assert not (root / "node3" / ".seed").exists()


def test_a_seed_that_never_ran_is_refused_before_anything_changes(tmp_path: Path):
    root = storage_tree(tmp_path)
    shutil.rmtree(root / "node1" / "raft-data-dir")
    before = tree_snapshot(root / "node3")
    done = copy(root)
    assert done.returncode == 1
    assert done.stderr == "node1/raft-data-dir is missing: node1 has not run as a v5.0.0 node\n"
    assert tree_snapshot(root / "node3") == before


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (
            Storage(True, "/export/chains", ("10.0.0.5",)),
            ["sudo", "mount", "-t", "nfs", "10.0.0.5:/export/chains", "/mnt", "&&", "sudo", "sh", "-c"],
        ),
        (Storage(False, "/data/chains", ("node-a",)), ["ssh", "node-a"]),
        (Storage(False, "/home/docker/cita-cloud-datadir", ("minikube",)), ["minikube", "ssh", "--"]),
    ],
    ids=["nfs", "ssh", "minikube"],
)
def test_the_copy_reaches_each_kind_of_storage(storage: Storage, expected: list[str]):
    root = ("/mnt" if storage.nfs else storage.path) + f"/cita-cloud/{CHAIN}"
    command = on_storage(storage, seed_script(root, 1, 3))
    words = shlex.split(command)
    assert words[: len(expected)] == expected
    inner = words[len(expected)] if storage.nfs else shlex.split(words[len(expected)])[3]
    assert inner == seed_script(root, 1, 3)  # the script arrives whole, as one argument of sh -c
    assert subprocess.run(["bash", "-n", "-c", command], check=False).returncode == 0
    guard = storage_has(storage, f"{root}/node3/{marker(1)}")
    assert f"test -e {root}/node3/{marker(1)}" in guard
    assert subprocess.run(["bash", "-n", "-c", guard], check=False).returncode == 0
    if storage.nfs:
        assert words[-3:] == ["sudo", "umount", "/mnt"]


# --- multi_cluster: the seed's data carried between two clusters' storage (day2/multiseed.py) -------------------


def multi_seeded_plan_text(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plan of `add_node --seed_from 1` on a three-cluster chain whose claims of clusters 1 and 3 are made."""
    from tests.test_golden import multi_seed_example
    from tests.test_membership import NEW_CLUSTER, premade

    work = tmp / "work"
    work.mkdir()
    assert create_k8s_config.main(multi_seed_example(work), Runtime(stdout=io.StringIO())) == 0
    for index in (1, 3):
        claim = ["local_pvc", "--pvc_name", f"cluster{index}-pvc", "--data_dir", f"/srv/cluster{index}"]
        assert create_pvc.main([*claim, "--work_dir", str(work)], fixed_runtime()) == 0
    view = ChainView(addresses(work), {"a": 900, "b": 900}, 900)
    monkeypatch.setattr(membership_flags, "chain_view", lambda rpc, seed_rpc: view)
    address, device = premade(work, "password3")
    flags = [*NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work)]
    seed = ["--seed_from", "1", "--rpc", OTHERS, "--seed_rpc", "1.2.3.4:5"]
    code, _, err = run(work, "add_node", *flags, *folders, *seed)
    assert code == 0, err
    return (work / f"{CHAIN}-plan.sh").read_text()


def test_a_seeded_multi_cluster_plan_skips_its_copies_whole_once_node3_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Re-run after the seed: the guard (node3's StatefulSet is there) skips each seed step entirely.

    The tools are stubs that log their calls; `kubectl get` succeeds, so nothing but that guard may run.
    """
    plan = multi_seeded_plan_text(tmp_path, monkeypatch)
    lines = [line for line in plan.splitlines() if "/.seeded-from-node1 ||" in line]
    assert len(lines) == 5, lines  # the wait, the stop, its wait, the fetch (pack, scp, clean, rename), the push
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("kubectl", "minikube", "scp"):
        stub = tools / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "$CALLS"\n[ "$1 $3" = "--context get" ] && exit 0\nexit 1\n')
        stub.chmod(0o755)
    calls = tmp_path / "calls"
    env = {"PATH": f"{tools}:/usr/bin:/bin", "CALLS": str(calls)}
    for line in lines:
        done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{line}"], env=env, cwd=tmp_path, check=False)
        assert done.returncode == 0
    assert [line.split()[:4] for line in calls.read_text().splitlines()] == [
        ["kubectl", "--context", "test-chain-3", "get"]
    ] * 5


def test_the_multi_cluster_copy_goes_through_here_with_the_stand_ins(tmp_path: Path):
    """fetch_command then push_command, run by bash against the strict minikube/scp stand-ins: node 1's chain data
    on storage 1 reaches node 3's folder on storage 3 through the work dir, never its identity, no tar left."""
    from runner_k8s.day2.multiseed import fetch_command, push_command
    from tests.live.fakecli import PlanServer, stand_ins

    tree = storage_tree(tmp_path / "both")  # node1 and node3 folders: split them onto two storages
    one, three, vm_tmp, work = (tmp_path / name for name in ("one", "three", "vm-tmp", "work"))
    for folder, index in ((one, 1), (three, 3)):
        (folder / "cita-cloud" / CHAIN).mkdir(parents=True)
        shutil.move(tree / f"node{index}", folder / "cita-cloud" / CHAIN / f"node{index}")
    vm_tmp.mkdir()
    work.mkdir()
    at1, at3 = Storage(False, "/srv/cluster1", ("minikube",)), Storage(False, "/srv/cluster3", ("minikube",))
    plans = PlanServer(None, {"/srv/cluster1": one, "/srv/cluster3": three, "/tmp": vm_tmp})
    with stand_ins(plans, tmp_path / "cli") as env:
        for command in (fetch_command(at1, CHAIN, 1, 3), push_command(at3, CHAIN, 1, 3)):
            line = " && ".join(command)
            done = subprocess.run(["bash", "-c", f"set -euo pipefail; {line}"], cwd=work, env=env, check=False)
            assert done.returncode == 0, (line, plans.log)
    node3 = three / "cita-cloud" / CHAIN / "node3"
    for relative, data in CHAIN_DATA.items():
        assert (node3 / relative).read_bytes() == data, relative
    for name in IDENTITY:
        assert (node3 / name).read_text() == f"node3's {name}", name
    assert not (node3 / "logs" / "controller-service.log").exists()
    assert (node3 / marker(1)).is_file() and not (node3 / ".seed").exists()
    assert sorted(path.name for path in work.iterdir()) == [".seed-node3.tar", ".seed-node3.tar.sha256"]  # removed next
    assert list(vm_tmp.iterdir()) == []
    tools = [call.split()[:2] for call in plans.log]
    scp = [["minikube", "ssh-key"], ["minikube", "ip"], ["scp", "-i"]]
    down = [["minikube", "ssh"], *scp, *scp, ["minikube", "ssh"]]  # the tar, then its checksum
    up = [*scp, *scp, ["minikube", "ssh"]]
    assert tools == down + up, plans.log
