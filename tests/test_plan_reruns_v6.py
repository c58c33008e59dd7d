"""Issue 24: a v6.7.4 add_node / remove_node plan, run by bash against the strict stand-ins, stopped at every step.

The cluster is tests/fakecluster_v6.py (config Secrets re-read at run time, GetNodeStatus's peers from
each node's config); manage_chain.py is the real one, talking to fake v6.7.4 controllers through the
stand-in port-forwards. After each stop every pod restarts (each must come back), then the whole plan
runs again from the top and must leave what one clean run leaves: the new node runs, every node lists
all the others as peers without any pod made again, and the node is a validator (its BLS key, from its
folder); a removed node is out of the validators, the peer lists, the cluster and the storage.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.keys.accounts import sm3
from runner_k8s.releases.v6_7_4.accounts import Consensus, v6_account_from_secret
from tests.conftest import fixed_runtime
from tests.fakechain import V6, Chain
from tests.fakecluster import install_pod_tools
from tests.fakecluster_v6 import V6Cluster
from tests.live.fakecli import PlanServer, stand_ins
from tests.test_plan_reruns import DATA_DIR, FAST_SLEEP, World, restart_everything, run_bash, stop_points, stopped_at

pytestmark = pytest.mark.slow

CHAIN = "v6c"
PVC = "local-pvc"


def folder_value(work: Path, index: int, name: str) -> bytes:
    return bytes.fromhex((work / "cita-cloud" / CHAIN / f"node{index}" / name).read_text())


# A validator of no node here: with it, four nodes' chain keeps four validators after one is voted out.
OUTSIDER = bytes.fromhex(v6_account_from_secret(0x5EED << 200, Consensus.OVERLORD).validator_address)


def fake_chain(work: Path, validators: list[int], extra: tuple[bytes, ...] = ()) -> Chain:
    """The running chain as the fake controllers serve it: its admin and validators from the files made."""
    admin = bytes.fromhex((work / f"{CHAIN}-admin" / "node_address").read_text())
    keys = [folder_value(work, index, "validator_address") for index in validators] + list(extra)
    return Chain("sm", sm3(CHAIN.encode()), admin, keys, leader=keys[0][:20], release=V6, block_interval=1)


@pytest.fixture(scope="module")
def four_nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A four-node v6.7.4 overlord chain with its claim file, and its storage as the create summary copies it."""
    root = tmp_path_factory.mktemp("v6chain")
    work = root / "work"
    argv = ["local_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--peers_count", "4"]
    assert create_k8s_config.main([*argv, "--pvc_name", PVC, "--work_dir", str(work)], fixed_runtime("v6 reruns")) == 0
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    storage = root / "storage"
    shutil.copytree(work / "cita-cloud", storage / "cita-cloud")
    return work, storage


@contextmanager
def world(tmp: Path, storage_before: Path, applied: Path, chain: Chain) -> Iterator[World]:
    storage = tmp / "storage"
    shutil.copytree(storage_before, storage)
    with ExitStack() as stack:
        cluster = stack.enter_context(V6Cluster(tmp, chain, refresh=0.3))
        install_pod_tools(tmp, sys.executable)
        cluster.load([applied], {PVC: storage})
        cluster.start()
        plans = PlanServer(cluster, {DATA_DIR: storage}, start_delay=0.2, poll=0.05)
        env = stack.enter_context(stand_ins(plans, tmp / "cli", {"sleep": FAST_SLEEP}))
        yield World(cluster, plans, storage, env, chain)


def run_verb(work: Path, *argv: str) -> None:
    """create_k8s_config.py in process, as if started from the checkout (the plan calls manage_chain.py beside it)."""
    called = sys.argv[0]
    sys.argv[0] = str(Path(create_k8s_config.__file__).resolve())
    try:
        assert create_k8s_config.main([*argv, "--work_dir", str(work)], fixed_runtime("v6 day 2")) == 0
    finally:
        sys.argv[0] = called


def v6(w: World) -> V6Cluster:
    assert isinstance(w.cluster, V6Cluster)
    return w.cluster


def fast(script: str) -> str:
    """Time runs faster for the plan's waits: manage_chain.py looks again every 0.2 s instead of every few."""
    return script.replace("--wait_synced", "--wait_synced --interval 0.2")


def sweep(script: str) -> list[tuple[int, bool]]:
    """Where the tests stop a plan: right after its `kubectl apply` (the point where the running nodes' peers
    change under them), which keeps the suite short; RK8S_EVERY_STEP=1 stops it at every step (about two minutes)."""
    points = stop_points(script)
    if os.environ.get("RK8S_EVERY_STEP"):
        return points
    lines = script.splitlines()
    return [(number, after) for number, after in points if after and " apply -f " in lines[number]]


def added(four_nodes: tuple[Path, Path], tmp: Path) -> tuple[Path, Path, str]:
    source, _ = four_nodes
    work = tmp / "work"
    shutil.copytree(source, work)
    before = tmp / "before.yaml"
    shutil.copyfile(work / f"{CHAIN}.yaml", before)
    run_verb(work, "add_node")
    return work, before, fast((work / f"{CHAIN}-plan.sh").read_text())


def check_added(w: World, work: Path) -> None:
    """node4 runs on its folder, every node lists the four others (read at run time), node4's BLS key votes."""
    assert w.cluster.ready(f"{CHAIN}-4")
    assert (w.storage / "cita-cloud" / CHAIN / "node4" / "validator_address").is_file()
    assert folder_value(work, 4, "validator_address") in w.chain.validators
    assert len(w.chain.validators) == 5
    for index in range(5):
        others = {f"{CHAIN}-{other}" for other in range(5) if other != index}
        assert set(v6(w).known[f"{CHAIN}-{index}"]) == others
    assert all(restart_everything(w.cluster).values())


def test_a_v6_add_node_plan_runs_whole_and_restarts_nothing(four_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, script = added(four_nodes, tmp_path)
    with world(tmp_path / "try", four_nodes[1], before, fake_chain(work, [0, 1, 2, 3])) as w:
        started = time.monotonic()
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout
        assert w.plans.restarted == []  # no running pod was made again
        assert sorted(set(v6(w).reloads)) == [f"{CHAIN}-{index}" for index in range(4)]  # each re-read its peers
        assert [start for start in w.cluster.starts if not start.startswith(f"{CHAIN}-4/")] == [
            f"{CHAIN}-{index}/{container}"
            for index in range(4)
            for container in ("network", "consensus", "executor", "storage", "controller")
        ]  # the old nodes' containers started once, at the beginning: none again
        check_added(w, work)
    assert time.monotonic() - started < 60


def test_a_v6_add_node_plan_waits_for_the_reload(four_nodes: tuple[Path, Path], tmp_path: Path):
    """The control of the wait: with a kubelet that never refreshes the Secrets, the plan does not vote."""
    work, before, script = added(four_nodes, tmp_path)
    short = script.replace("--timeout 900", "--timeout 2")
    with world(tmp_path / "try", four_nodes[1], before, fake_chain(work, [0, 1, 2, 3])) as w:
        v6(w).refresh = 3600.0
        done = run_bash(short, work, w.env)
        assert done.returncode == 1
        assert "lists 3 of 4 peers" in done.stdout
        assert folder_value(work, 4, "validator_address") not in w.chain.validators


def test_a_v6_add_node_plan_stopped_at_any_step_runs_again(four_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, script = added(four_nodes, tmp_path)
    points = sweep(script)
    assert len(points) >= 1  # the control: the plan has its steps (16 with RK8S_EVERY_STEP=1)
    for number, after in points:
        with world(tmp_path / f"try{number}{after}", four_nodes[1], before, fake_chain(work, [0, 1, 2, 3])) as w:
            stopped = run_bash(stopped_at(script, number, after), work, w.env)
            assert stopped.returncode == 1, stopped.stdout
            came_back = restart_everything(w.cluster)
            line = script.splitlines()[number]
            assert all(came_back.values()), f"stopped at {line!r}: {came_back}"
            again = run_bash(script, work, w.env)
            assert again.returncode == 0, f"stopped at {line!r}, then:\n{again.stdout}"
            check_added(w, work)


def check_removed(w: World, work: Path) -> None:
    gone = folder_value(work.parent / "source", 3, "validator_address")
    assert gone not in w.chain.validators and len(w.chain.validators) == 4
    assert f"{CHAIN}-3" not in w.cluster.pods
    assert not [key for key in w.cluster.objects if key[1].startswith(f"{CHAIN}-3")]
    assert not (w.storage / "cita-cloud" / CHAIN / "node3").exists()
    # Each node re-reads its peers once the kubelet has refreshed its Secret; the plan's last wait cannot see
    # that (the removed node is gone either way), so the test waits for it, as the chain does.
    wanted = {index: {f"{CHAIN}-{other}" for other in range(3) if other != index} for index in range(3)}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(set(v6(w).known[f"{CHAIN}-{i}"]) != wanted[i] for i in wanted):
        v6(w).tick()
        time.sleep(0.05)
    assert {index: set(v6(w).known[f"{CHAIN}-{index}"]) for index in wanted} == wanted
    assert all(restart_everything(w.cluster).values())


def test_a_v6_remove_node_plan_stopped_at_any_step_runs_again(four_nodes: tuple[Path, Path], tmp_path: Path):
    """node3, still a validator, is voted out by the plan, then leaves the peer lists and the cluster."""
    source, storage = four_nodes
    shutil.copytree(source, tmp_path / "source")
    applied = source / f"{CHAIN}.yaml"
    work = tmp_path / "work"
    script = ""
    points: list[tuple[int, bool] | None] = [None]
    while points:
        point = points.pop(0)
        chain = fake_chain(source, [0, 1, 2, 3], (OUTSIDER,))
        with world(tmp_path / f"try{point}", storage, applied, chain) as w:
            if not script:  # remove_node asks a running node, then its whole plan runs once (the control)
                shutil.copytree(source, work)
                run_verb(
                    work,
                    "remove_node",
                    "--node_index",
                    "3",
                    "--rpc",
                    f"127.0.0.1:{w.cluster.pods[f'{CHAIN}-0'].rpc_port}",
                )
                script = fast((work / f"{CHAIN}-plan.sh").read_text())
                points = list(sweep(script))
                assert len(points) >= 1  # the control: the plan has its steps
                run = run_bash(script, work, w.env)
                assert run.returncode == 0, run.stdout
                check_removed(w, work)
                continue
            assert point is not None
            number, after = point
            stopped = run_bash(stopped_at(script, number, after), work, w.env)
            assert stopped.returncode == 1, stopped.stdout
            assert all(restart_everything(w.cluster).values())
            again = run_bash(script, work, w.env)
            assert again.returncode == 0, again.stdout
            check_removed(w, work)


def test_a_v6_remove_node_plan_stops_where_the_vote_would_leave_a_fragile_chain(
    four_nodes: tuple[Path, Path], tmp_path: Path
):
    """Four validators, node3 among them: manage_chain.py refuses to leave three without --yes; nothing is deleted."""
    source, storage = four_nodes
    work = tmp_path / "work"
    shutil.copytree(source, work)
    with world(tmp_path / "try", storage, source / f"{CHAIN}.yaml", fake_chain(source, [0, 1, 2, 3])) as w:
        run_verb(
            work, "remove_node", "--node_index", "3", "--rpc", f"127.0.0.1:{w.cluster.pods[f'{CHAIN}-0'].rpc_port}"
        )
        done = run_bash(fast((work / f"{CHAIN}-plan.sh").read_text()), work, w.env)
        assert done.returncode == 1
        assert "pass --yes to do it anyway; nothing was sent" in done.stdout
        assert len(w.chain.validators) == 4 and w.cluster.ready(f"{CHAIN}-3")
        assert not [call for call in w.plans.log if " apply " in call or " delete " in call]


# --- add_node --seed_from 1: node1 stopped, its chain data copied into node4's folder, node1 back --------------

SEED_DATA = {
    "chain_data/1/blocks": b"node1's storage",
    "data/statedb/CURRENT": b"node1's executor state",
    "data/nosql/CURRENT": b"node1's executor nosql",
}
NOT_SEEDED = {"overlord_wal/wal": b"node1's votes", "logs/consensus.log": b"node1's log"}


def seeded(four_nodes: tuple[Path, Path], tmp: Path) -> tuple[Path, Path, Path, str]:
    """add_node --seed_from 1 in a copy of the chain (asked: four validators at one height), and storage where
    node1 has run: (work dir, the YAML before, the storage before, the plan)."""
    from runner_k8s.day2.seeding import ChainView
    from runner_k8s.scripts import membership_flags

    source, storage_before = four_nodes
    work, storage = tmp / "work", tmp / "storage-before"
    shutil.copytree(source, work)
    shutil.copytree(storage_before, storage)
    for relative, data in {**SEED_DATA, **NOT_SEEDED}.items():
        path = storage / "cita-cloud" / CHAIN / "node1" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    before = tmp / "before.yaml"
    shutil.copyfile(work / f"{CHAIN}.yaml", before)
    keys = ["0x" + folder_value(work, index, "validator_address").hex() for index in range(4)]
    original = membership_flags.chain_view
    membership_flags.chain_view = lambda rpc, seed_rpc: ChainView(keys, {"127.0.0.1:1": 500}, 500)
    try:
        run_verb(work, "add_node", "--seed_from", "1", "--rpc", "127.0.0.1:1", "--seed_rpc", "127.0.0.1:2")
    finally:
        membership_flags.chain_view = original
    return work, before, storage, fast((work / f"{CHAIN}-plan.sh").read_text())


def check_seeded(w: World, work: Path) -> None:
    """node4 runs on node1's chain data with its own identity and no consensus state of node1's; node1 runs."""
    folder = w.storage / "cita-cloud" / CHAIN / "node4"
    for relative, data in SEED_DATA.items():
        assert (folder / relative).read_bytes() == data, relative
    assert not (folder / "overlord_wal").exists() and not (folder / "logs").exists()
    assert (folder / ".seeded-from-node1").is_file() and not (folder / ".seed").exists()
    for name in ("node_address", "validator_address"):
        assert (folder / name).read_bytes() == (work / "cita-cloud" / CHAIN / "node4" / name).read_bytes()
    assert w.cluster.ready(f"{CHAIN}-1")
    check_added(w, work)


def test_a_seeded_v6_plan_runs_whole_and_again(four_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, storage, script = seeded(four_nodes, tmp_path)
    with world(tmp_path / "try", storage, before, fake_chain(work, [0, 1, 2, 3])) as w:
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout
        check_seeded(w, work)
        scaled = [call for call in w.plans.log if " scale " in call]
        assert scaled == [f"kubectl scale statefulset/{CHAIN}-1 --replicas={count}" for count in (0, 1)]
        again = run_bash(script, work, w.env)  # a second run stops nothing
        assert again.returncode == 0, again.stdout
        assert [call for call in w.plans.log if " scale " in call][2:] == [
            f"kubectl scale statefulset/{CHAIN}-1 --replicas=1"
        ]


def test_a_seeded_v6_plan_stopped_in_its_seed_stage_runs_again(four_nodes: tuple[Path, Path], tmp_path: Path):
    """Stopped with node1 down and nothing copied, and with the copy done and node1 still down (after a restart of
    every pod there is, node1 stays down: its StatefulSet has none); RK8S_EVERY_STEP=1 stops it at every step."""
    work, before, storage, script = seeded(four_nodes, tmp_path)
    lines = script.splitlines()
    points = stop_points(script)
    if not os.environ.get("RK8S_EVERY_STEP"):
        chosen = ("--replicas=0", "sudo sh -c")
        points = [(number, after) for number, after in points if after and any(c in lines[number] for c in chosen)]
        assert len(points) == 2, points  # the control: the seed stage has these steps
    for number, after in points:
        with world(tmp_path / f"try{number}{after}", storage, before, fake_chain(work, [0, 1, 2, 3])) as w:
            stopped = run_bash(stopped_at(script, number, after), work, w.env)
            assert stopped.returncode == 1, stopped.stdout
            came_back = restart_everything(w.cluster)
            assert all(came_back.values()), f"stopped at {lines[number]!r}: {came_back}"
            again = run_bash(script, work, w.env)
            assert again.returncode == 0, f"stopped at {lines[number]!r}, then:\n{again.stdout}"
            check_seeded(w, work)
