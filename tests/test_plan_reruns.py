"""Issue 22: a printed plan, run by bash against stand-ins as strict as kubectl, stopped at every step in turn.

After each stop a node restarts (it must come back: no peer list may name a Service that does not exist),
then the whole plan runs again from the top and must succeed, leaving the chain as one clean run does.
The cluster is the fast model of tests/fakecluster.py; manage_chain.py is the real one, talking to fake
controllers (tests/fakechain.py) through the stand-in port-forwards. The live version is
tests/test_live_membership.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.day2.memberplan import IN_STEP_SECONDS
from tests.chains import make_local_chain, read_toml
from tests.conftest import fixed_runtime, run_script
from tests.fakechain import Chain
from tests.fakecluster import FakeCluster, install_pod_tools
from tests.live.fakecli import PlanServer, stand_ins

pytestmark = pytest.mark.slow

CHAIN = "test-chain"
DATA_DIR = "/home/docker/cita-cloud-datadir"  # create_pvc.py local_pvc's default: the plans copy there
PLAN_TIMEOUT = 300  # a bound, not a measure: a loaded machine runs a plan slowly
HEADER = ("#", "cd ", "set -", "trap ")


@dataclass
class World:
    """One try: a cluster running the chain as it was before the change, its storage, and the stand-ins."""

    cluster: FakeCluster
    plans: PlanServer
    storage: Path
    env: dict[str, str]
    chain: Chain


def address_of(work: Path, index: int) -> bytes:
    return bytes.fromhex((work / "cita-cloud" / CHAIN / f"node{index}" / "node_address").read_text()[2:])


def fake_chain(work: Path, nodes: list[int], validators: list[int]) -> Chain:
    admin = bytes.fromhex((work / f"{CHAIN}-admin" / "node_address").read_text()[2:])
    chain = Chain("sm", hashlib.sha256(CHAIN.encode()).digest(), admin, [address_of(work, i) for i in validators])
    chain.leader = address_of(work, nodes[0])
    return chain


@contextmanager
def world(tmp: Path, storage_before: Path, applied: Path, chain: Chain) -> Iterator[World]:
    """A cluster that runs `applied` (the chain's YAML before the change) on a fresh copy of its storage."""
    storage = tmp / "storage"
    shutil.copytree(storage_before, storage)
    with ExitStack() as stack:
        cluster = stack.enter_context(FakeCluster(tmp, chain))
        install_pod_tools(tmp, sys.executable)
        cluster.load([applied], {"local-pvc": storage})
        cluster.start()
        plans = PlanServer(cluster, {DATA_DIR: storage}, start_delay=0.2, poll=0.05)
        env = stack.enter_context(stand_ins(plans, tmp / "cli", {"sleep": FAST_SLEEP}))
        yield World(cluster, plans, storage, env, chain)


def run_bash(script: str, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The script by bash in the work dir; whatever it left running (a port-forward) is ended with it."""
    log = work.parent / f"bash-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", script], cwd=work, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(PLAN_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(["bash"], code, log.read_text(), "")


def steps_of(script: str) -> list[int]:
    """The line numbers of the plan's steps (not its header or its comments)."""
    lines = script.splitlines()
    return [number for number, line in enumerate(lines) if line.strip() and not line.startswith(HEADER)]


def stop_points(script: str) -> list[tuple[int, bool]]:
    """Where a plan may stop: before its first step, and after each step (before step k is after step k-1)."""
    steps = steps_of(script)
    return [(steps[0], False), *((number, True) for number in steps)]


def stopped_at(script: str, number: int, after: bool) -> str:
    """The plan that stops at step `number`: before it does anything, or once it is done."""
    lines = script.splitlines()
    lines[number] = f"{lines[number]}\nexit 1" if after else "exit 1"
    return "\n".join(lines) + "\n"


# Time runs faster for the plan's own waits (its `sleep 2` after the port-forwards).
FAST_SLEEP = "import sys, time\ntime.sleep(min(float(sys.argv[1]) / 10, 0.5))\n"


def stop_restart_and_rerun(script: str, number: int, after: bool, work: Path, w: World) -> None:
    """The plan stopped at one step, every node restarted (each must come back), then the whole plan again."""
    stopped = run_bash(stopped_at(script, number, after), work, w.env)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    came_back = restart_everything(w.cluster)
    line = script.splitlines()[number]
    assert all(came_back.values()), f"stopped at {line!r}: {came_back}; {w.cluster.exited()}"
    again = run_bash(script, work, w.env)
    assert again.returncode == 0, f"stopped at {line!r}, then:\n{again.stdout}{again.stderr}"


def restart_everything(cluster: FakeCluster) -> dict[str, bool]:
    """Stop and start every pod there is (a node failure, a rolling restart): which came back Ready."""
    names = [name for name in cluster.pods if cluster.pod_phase(name) is not None]
    for name in names:
        cluster.stop_pod(name)
        cluster.start_pod(name)
    return {name: cluster.ready(name) for name in names}


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A three-node local chain with its claim file, and its storage as the create summary copies it."""
    root = tmp_path_factory.mktemp("chain")
    work = root / "work"
    make_local_chain(work, "--peers_count", "3")
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    storage = root / "storage"
    shutil.copytree(work / "cita-cloud", storage / "cita-cloud")
    return work, storage


def quick(script: str) -> str:
    """The plan with its in-step waits (manage_chain.py --in_step) shortened to a second: the fake cluster makes
    a block every fraction of a second, and what these tests prove is that the plan runs again, not how long."""
    shorter = script.replace(f"--in_step {IN_STEP_SECONDS} ", "--in_step 1 ")
    assert shorter != script, "the plan has no in-step wait"
    return shorter


def added(three_nodes: tuple[Path, Path], tmp: Path) -> tuple[Path, Path, str]:
    """add_node run in a copy of the chain: (work dir, the YAML before, the plan it saved)."""
    source, _ = three_nodes
    work = tmp / "work"
    shutil.copytree(source, work)
    before = tmp / "before.yaml"
    shutil.copyfile(work / f"{CHAIN}.yaml", before)
    result = run_script("create_k8s_config.py", "add_node", cwd=work)
    assert result.returncode == 0, result.stderr
    return work, before, quick((work / f"{CHAIN}-plan.sh").read_text())


def check_added(w: World, work: Path) -> None:
    """What a whole add_node plan leaves: node3 runs and votes, every node names it, syncthing shares with it."""
    new = address_of(work, 3)
    assert w.cluster.ready(f"{CHAIN}-3")
    assert new in w.chain.validators
    device = read_device(work, 3)
    for index in range(3):
        folder = w.storage / "cita-cloud" / CHAIN / f"node{index}"
        assert {"ip": f"{CHAIN}-3", "port": 40000} in read_toml(folder / "network-config.toml")["peers"]
        state = w.cluster.syncthing(f"{CHAIN}-{index}")
        assert state["devices"][device] == {"name": f"{CHAIN}-3", "addresses": [f"tcp://{CHAIN}-3:22000"]}
        assert all(device in shares for shares in state["folders"].values())
    assert all(restart_everything(w.cluster).values())


def test_an_add_node_plan_runs_whole(three_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, script = added(three_nodes, tmp_path)
    chain = fake_chain(work, [0, 1, 2], [0, 1, 2])
    with world(tmp_path / "try", three_nodes[1], before, chain) as w:
        started = time.monotonic()
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout + done.stderr
        check_added(w, work)
        assert w.plans.restarted == []  # no running pod was made again
    assert time.monotonic() - started < 60


def test_an_add_node_plan_stopped_at_any_step_runs_again(three_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, script = added(three_nodes, tmp_path)
    points = stop_points(script)
    assert len(points) >= 15  # the control: the plan has its steps
    for number, after in points:
        chain = fake_chain(work, [0, 1, 2], [0, 1, 2])
        with world(tmp_path / f"try{number}{after}", three_nodes[1], before, chain) as w:
            stop_restart_and_rerun(script, number, after, work, w)
            check_added(w, work)


def removed(three_nodes: tuple[Path, Path], tmp: Path, rpc: str) -> tuple[Path, str]:
    source, _ = three_nodes
    work = tmp / "work"
    if not work.exists():
        shutil.copytree(source, work)
        result = run_script("create_k8s_config.py", "remove_node", "--node_index", "2", "--rpc", rpc, cwd=work)
        assert result.returncode == 0, result.stderr
    return work, (work / f"{CHAIN}-plan.sh").read_text()


def check_removed(w: World, work: Path, gone_device: str) -> None:
    assert f"{CHAIN}-2" not in w.cluster.pods
    assert not [key for key in w.cluster.objects if key[1].startswith(f"{CHAIN}-2")]
    assert not (w.storage / "cita-cloud" / CHAIN / "node2").exists()
    for index in range(2):
        folder = w.storage / "cita-cloud" / CHAIN / f"node{index}"
        assert [peer["ip"] for peer in read_toml(folder / "network-config.toml")["peers"]] == [f"{CHAIN}-{1 - index}"]
        state = w.cluster.syncthing(f"{CHAIN}-{index}")
        assert gone_device not in state["devices"]
        assert all(gone_device not in shares for shares in state["folders"].values())
    assert all(restart_everything(w.cluster).values())


def test_a_remove_node_plan_stopped_at_any_step_runs_again(three_nodes: tuple[Path, Path], tmp_path: Path):
    source, storage = three_nodes
    applied = source / f"{CHAIN}.yaml"
    gone_device = read_device(source, 2)
    work: Path | None = None
    script = ""
    points: list[tuple[int, bool] | None] = [None]
    while points:
        point = points.pop(0)
        chain = fake_chain(source, [0, 1, 2], [0, 1])  # node2 is no validator any more
        with world(tmp_path / f"try{point}", storage, applied, chain) as w:
            if work is None:  # remove_node asks a running node, then its whole plan runs once (the control)
                rpc = f"127.0.0.1:{w.cluster.pods[f'{CHAIN}-0'].rpc_port}"
                work, script = removed(three_nodes, tmp_path, rpc)
                points = list(stop_points(script))
                run = run_bash(script, work, w.env)
                assert run.returncode == 0, run.stdout + run.stderr
                check_removed(w, work, gone_device)
                continue
            assert point is not None
            number, after = point
            stop_restart_and_rerun(script, number, after, work, w)
            check_removed(w, work, gone_device)


def read_device(work: Path, index: int) -> str:
    import xml.etree.ElementTree as ET

    root = ET.parse(work / "cita-cloud" / CHAIN / f"node{index}" / "config" / "config.xml").getroot()
    names = {device.get("name"): device.get("id", "") for device in root.findall("device")}
    return names[f"{CHAIN}-{index}"]


# --- issue 25: the seeded plan (add_node --seed_from 1) ------------------------------------------------

SEED_DATA = {
    "raft-data-dir/raft-wal-log.active": b"raft log of node1",
    "data/statedb/000001.sst": b"state",
    "data/nosql/000001.sst": b"nosql",
    "storage.db": b"sqlite of node1",
    "storage.db-journal": b"hot journal",
    "blocks/7": b"block 7",
    "proposals/8": b"proposal 8",
    "txs/ab": b"tx",
    "tx_infos/ab": b"tx info",
}


def seeded(three_nodes: tuple[Path, Path], tmp: Path) -> tuple[Path, Path, Path, str]:
    """add_node --seed_from 1 in a copy of the chain (the chain asked is a stand-in: three validators at one
    height), and storage where node1 has run: (work dir, the YAML before, the storage before, the plan)."""
    from runner_k8s.day2.seeding import ChainView
    from runner_k8s.scripts import membership_flags

    source, storage_before = three_nodes
    work, storage = tmp / "work", tmp / "storage-before"
    shutil.copytree(source, work)
    shutil.copytree(storage_before, storage)
    for relative, data in SEED_DATA.items():
        path = storage / "cita-cloud" / CHAIN / "node1" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    before = tmp / "before.yaml"
    shutil.copyfile(work / f"{CHAIN}.yaml", before)
    validators = ["0x" + address_of(work, index).hex() for index in range(3)]
    view = ChainView(validators, {"127.0.0.1:1": 500, "127.0.0.1:2": 500}, 500)
    original, called = membership_flags.chain_view, sys.argv[0]
    membership_flags.chain_view = lambda rpc, seed_rpc: view
    sys.argv[0] = str(Path(create_k8s_config.__file__).resolve())  # the plan calls manage_chain.py beside it
    try:
        argv = ["add_node", "--seed_from", "1", "--rpc", "127.0.0.1:1,127.0.0.1:2", "--seed_rpc", "127.0.0.1:3"]
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], fixed_runtime("seeded"))
    finally:
        membership_flags.chain_view, sys.argv[0] = original, called
    assert code == 0
    return work, before, storage, quick((work / f"{CHAIN}-plan.sh").read_text())


def check_seeded(w: World, work: Path) -> None:
    """node3's folder holds node1's chain data and its own identity; node1 runs again."""
    check_added(w, work)
    folder = w.storage / "cita-cloud" / CHAIN / "node3"
    for relative, data in SEED_DATA.items():
        assert (folder / relative).read_bytes() == data, relative
    assert (folder / ".seeded-from-node1").is_file() and not (folder / ".seed").exists()
    made = work / "cita-cloud" / CHAIN / "node3"
    for relative in ("node_address", "key_id", "kms.db", "network-config.toml", "config/config.xml", "config/key.pem"):
        assert (folder / relative).read_bytes() == (made / relative).read_bytes(), relative
    assert w.cluster.ready(f"{CHAIN}-1")


def test_a_seeded_add_node_plan_runs_whole(three_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, storage, script = seeded(three_nodes, tmp_path)
    chain = fake_chain(work, [0, 1, 2], [0, 1, 2])
    with world(tmp_path / "try", storage, before, chain) as w:
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout + done.stderr
        check_seeded(w, work)
        assert w.plans.restarted == []
        scaled = [call for call in w.plans.log if " scale " in call]
        assert scaled == [
            f"kubectl scale statefulset/{CHAIN}-1 --replicas=0",
            f"kubectl scale statefulset/{CHAIN}-1 --replicas=1",
        ]
        again = run_bash(script, work, w.env)  # a second run changes nothing and stops nothing
        assert again.returncode == 0, again.stdout
        assert [call for call in w.plans.log if " scale " in call][2:] == [
            f"kubectl scale statefulset/{CHAIN}-1 --replicas=1"
        ]


def test_a_seeded_plan_stopped_at_any_step_runs_again(three_nodes: tuple[Path, Path], tmp_path: Path):
    work, before, storage, script = seeded(three_nodes, tmp_path)
    points = stop_points(script)
    assert len(points) >= 22  # the control: the plan has its seed steps too
    # The steps it shares with the plain add plan are swept by the test above; here the seed's own steps
    # (RK8S_EVERY_STEP=1 sweeps every step again: about four more minutes).
    _, _, plain = added(three_nodes, tmp_path / "plain")
    shared = set(plain.splitlines())
    lines = script.splitlines()
    own = [(number, after) for number, after in points if lines[number] not in shared]
    assert len(own) >= 6, own  # the control: the seed stage has its steps
    for number, after in points if os.environ.get("RK8S_EVERY_STEP") else own:
        chain = fake_chain(work, [0, 1, 2], [0, 1, 2])
        with world(tmp_path / f"try{number}{after}", storage, before, chain) as w:
            stop_restart_and_rerun(script, number, after, work, w)
            check_seeded(w, work)
