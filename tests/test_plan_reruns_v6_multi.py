"""Issue 24: a v6.7.4 multi_cluster add_node / remove_node plan, run by bash against the strict stand-ins, stopped
and run again.

The clusters are tests/fakecluster_v6.py (config Secrets re-read at run time, GetNodeStatus's peers from
each node's config), one kubectl context per node: a command that names no context, or another node's
cluster, fails as kubectl does (tests/live/fakecli.py). Every LoadBalancer is 127.0.0.1 with its own
port base, and each fake controller listens on its node's LoadBalancer RPC port, so the plan reaches the
nodes exactly as printed; manage_chain.py is the real one. The model keeps one object store for all
clusters (a peer Service and the LoadBalancer Service it leads to share a name): it checks the pods,
their Secrets, the peers each network takes, the storage and the votes, not which cluster holds a
Service. After each stop every pod restarts (each must come back), then the whole plan runs again and
must leave what one clean run leaves.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

import create_account
import create_k8s_config
import create_pvc
from runner_k8s.keys.accounts import sm3
from runner_k8s.ports import MULTI_LAYOUT, Slot, external_port
from runner_k8s.releases.v6_7_4.accounts import Consensus, v6_account_from_secret
from tests.conftest import fixed_runtime, output_of
from tests.fakechain import V6, Chain
from tests.fakecluster import install_pod_tools
from tests.fakecluster_v6 import V6Cluster
from tests.live.fakecli import PlanServer, stand_ins
from tests.test_plan_reruns import DATA_DIR, FAST_SLEEP, World, restart_everything, run_bash, stop_points, stopped_at

pytestmark = pytest.mark.slow

CHAIN = "mcr"
BASES = [26000, 26100, 26200, 26300]  # below the usual ephemeral ranges, away from the port-forwards' 28100 + i
OUTSIDERS = tuple(
    bytes.fromhex(v6_account_from_secret(0x5EED << (200 + n), Consensus.OVERLORD).validator_address) for n in (1, 2)
)


class MultiV6Cluster(V6Cluster):
    """Each controller listens on its node's LoadBalancer RPC port (127.0.0.1), as the plan reaches it."""

    def rpc_address(self, name: str) -> str:
        index = int(name.rsplit("-", 1)[1])
        return f"127.0.0.1:{external_port(MULTI_LAYOUT, BASES[index], Slot.RPC)}"


def folder_value(work: Path, index: int, name: str) -> bytes:
    return bytes.fromhex((work / "cita-cloud" / CHAIN / f"node{index}" / name).read_text())


@pytest.fixture(scope="module")
def three_clusters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A three-node overlord chain, every claim's file, its storage as copied at the start; accounts 3 admin, 4 new."""
    root = tmp_path_factory.mktemp("v6multichain")
    work = root / "work"
    found = []
    for number in range(5):
        runtime = fixed_runtime(f"v6 multi rerun account {number}")
        assert create_account.main(["--release", "v6.7.4", "--output_dir", str(work)], runtime) == 0
        found.append(output_of(runtime).split()[1].rstrip(":"))
    argv = ["multi_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--super_admin", found[3]]
    argv += ["--authorities", ",".join(found[:3]), "--nodes", "127.0.0.1,127.0.0.1,127.0.0.1"]
    argv += ["--lbs_tokens", "lb-a,lb-b,lb-c", "--node_ports", ",".join(str(base) for base in BASES[:3])]
    argv += ["--pvc_names", "pvc-0,pvc-1,pvc-2", "--accounts_dir", str(work), "--work_dir", str(work)]
    assert create_k8s_config.main(argv, fixed_runtime("v6 multi reruns")) == 0
    for index in range(4):
        pvc = ["local_pvc", "--pvc_name", f"pvc-{index}", "--work_dir", str(work)]
        assert create_pvc.main(pvc, fixed_runtime()) == 0
    storage = root / "storage"
    shutil.copytree(work / "cita-cloud", storage / "cita-cloud")
    return work, storage, found


def fake_chain(work: Path, admin: str, validators: list[int], extra: tuple[bytes, ...] = ()) -> Chain:
    keys = [folder_value(work, index, "validator_address") for index in validators] + list(extra)
    address = bytes.fromhex(admin.removeprefix("0x"))
    return Chain("sm", sm3(CHAIN.encode()), address, keys, leader=keys[0][:20], release=V6, block_interval=1)


@contextmanager
def world(tmp: Path, storage_before: Path, applied: list[Path], chain: Chain) -> Iterator[World]:
    storage = tmp / "storage"
    shutil.copytree(storage_before, storage)
    with ExitStack() as stack:
        cluster = stack.enter_context(MultiV6Cluster(tmp, chain, refresh=0.3))
        install_pod_tools(tmp, sys.executable)
        cluster.load(applied, {f"pvc-{index}": storage for index in range(4)})
        cluster.start()
        contexts = {f"{CHAIN}-{index}": {f"{CHAIN}-{index}"} for index in range(4)}
        plans = PlanServer(cluster, {DATA_DIR: storage}, contexts=contexts, start_delay=0.2, poll=0.05)
        env = stack.enter_context(stand_ins(plans, tmp / "cli", {"sleep": FAST_SLEEP}))
        yield World(cluster, plans, storage, env, chain)


def run_verb(work: Path, *argv: str) -> None:
    """create_k8s_config.py in process, as if started from the checkout (the plan calls manage_chain.py beside it)."""
    called = sys.argv[0]
    sys.argv[0] = str(Path(create_k8s_config.__file__).resolve())
    try:
        runtime = fixed_runtime("v6 multi day 2")
        assert create_k8s_config.main([*argv, "--work_dir", str(work)], runtime) == 0, output_of(runtime)
    finally:
        sys.argv[0] = called


def fast(script: str) -> str:
    return script.replace("--wait_synced", "--wait_synced --interval 0.2")


def sweep(script: str) -> list[tuple[int, bool]]:
    """Right after the new node's apply and after the first old config's apply (the points where peers change
    under running nodes); RK8S_EVERY_STEP=1 stops at every step."""
    points = stop_points(script)
    if os.environ.get("RK8S_EVERY_STEP"):
        return points
    lines = script.splitlines()
    applies = [number for number, after in points if after and " apply -f " in lines[number] and " -l " not in
               lines[number] and "pvc-" not in lines[number]]  # fmt: skip
    return [(number, True) for number in (applies[0], applies[1])]


def v6(w: World) -> Any:
    assert isinstance(w.cluster, V6Cluster)
    return w.cluster


def added(three: tuple[Path, Path, list[str]], tmp: Path) -> tuple[Path, list[Path], str]:
    source, _, found = three
    work = tmp / "work"
    shutil.copytree(source, work)
    before = []
    for index in range(3):
        before.append(tmp / f"before-{index}.yaml")
        shutil.copyfile(work / f"{CHAIN}-{index}.yaml", before[-1])
    flags = ["--authority", found[4], "--accounts_dir", str(work), "--node", "127.0.0.1"]
    flags += ["--node_port", str(BASES[3]), "--lbs_token", "lb-d", "--pvc_name", "pvc-3"]
    run_verb(work, "add_node", *flags)
    return work, before, fast((work / f"{CHAIN}-plan.sh").read_text())


def check_added(w: World, work: Path) -> None:
    """node3 runs on its folder, every node lists the three others (read at run time), node3's BLS key votes."""
    assert w.cluster.ready(f"{CHAIN}-3")
    assert (w.storage / "cita-cloud" / CHAIN / "node3" / "validator_address").is_file()
    assert folder_value(work, 3, "validator_address") in w.chain.validators and len(w.chain.validators) == 4
    for index in range(4):
        assert set(v6(w).known[f"{CHAIN}-{index}"]) == {f"{CHAIN}-{other}" for other in range(4) if other != index}
    assert all(restart_everything(w.cluster).values())


def test_a_v6_multi_add_node_plan_runs_whole_then_again_after_stops(
    three_clusters: tuple[Path, Path, list[str]], tmp_path: Path
):
    work, before, script = added(three_clusters, tmp_path)
    admin = three_clusters[2][3]
    with world(tmp_path / "whole", three_clusters[1], before, fake_chain(work, admin, [0, 1, 2])) as w:
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout
        assert w.plans.restarted == []  # no running pod made again
        assert sorted(set(v6(w).reloads)) == [f"{CHAIN}-{index}" for index in range(3)]  # each re-read its peers
        assert all(" --context " in call for call in w.plans.log if call.startswith("kubectl "))
        check_added(w, work)
    points = sweep(script)
    assert len(points) == 2 or os.environ.get("RK8S_EVERY_STEP")
    for number, after in points:
        chain = fake_chain(work, admin, [0, 1, 2])
        with world(tmp_path / f"try{number}{after}", three_clusters[1], before, chain) as w:
            stopped = run_bash(stopped_at(script, number, after), work, w.env)
            assert stopped.returncode == 1, stopped.stdout
            line = script.splitlines()[number]
            assert all(restart_everything(w.cluster).values()), f"stopped at {line!r}"
            again = run_bash(script, work, w.env)
            assert again.returncode == 0, f"stopped at {line!r}, then:\n{again.stdout}"
            check_added(w, work)


def test_a_v6_multi_add_node_plan_waits_for_the_reload(three_clusters: tuple[Path, Path, list[str]], tmp_path: Path):
    """The control of the wait: with a kubelet that never refreshes the Secrets, the plan does not vote."""
    work, before, script = added(three_clusters, tmp_path)
    short = script.replace("--timeout 900", "--timeout 2")
    with world(tmp_path / "try", three_clusters[1], before, fake_chain(work, three_clusters[2][3], [0, 1, 2])) as w:
        v6(w).refresh = 3600.0
        done = run_bash(short, work, w.env)
        assert done.returncode == 1
        assert "lists 2 of 3 peers" in done.stdout
        assert folder_value(work, 3, "validator_address") not in w.chain.validators


def check_removed(w: World, source: Path) -> None:
    gone = folder_value(source, 2, "validator_address")
    assert gone not in w.chain.validators and len(w.chain.validators) == 4
    assert f"{CHAIN}-2" not in w.cluster.pods
    assert not [key for key in w.cluster.objects if key[1].startswith(f"{CHAIN}-2")]
    assert not (w.storage / "cita-cloud" / CHAIN / "node2").exists()
    wanted = {0: {f"{CHAIN}-1"}, 1: {f"{CHAIN}-0"}}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(set(v6(w).known[f"{CHAIN}-{i}"]) != wanted[i] for i in wanted):
        v6(w).tick()
        time.sleep(0.05)
    assert {index: set(v6(w).known[f"{CHAIN}-{index}"]) for index in wanted} == wanted
    assert all(restart_everything(w.cluster).values())


def test_a_v6_multi_remove_node_plan_runs_whole_then_again_after_a_stop(
    three_clusters: tuple[Path, Path, list[str]], tmp_path: Path
):
    """node2, a validator (five with two from outside), is voted out, leaves the peers, its cluster, its storage."""
    source, storage, found = three_clusters
    applied = [source / f"{CHAIN}-{index}.yaml" for index in range(3)]
    work = tmp_path / "work"
    shutil.copytree(source, work)
    rpc = f"127.0.0.1:{external_port(MULTI_LAYOUT, BASES[0], Slot.RPC)}"
    script = ""
    with world(tmp_path / "whole", storage, applied, fake_chain(source, found[3], [0, 1, 2], OUTSIDERS)) as w:
        run_verb(work, "remove_node", "--node_index", "2", "--rpc", rpc)
        script = fast((work / f"{CHAIN}-plan.sh").read_text())
        done = run_bash(script, work, w.env)
        assert done.returncode == 0, done.stdout
        assert all(" --context " in call for call in w.plans.log if call.startswith("kubectl "))
        check_removed(w, source)
    lines = script.splitlines()
    points = stop_points(script) if os.environ.get("RK8S_EVERY_STEP") else [
        next((number, True) for number, _ in stop_points(script) if " apply -f " in lines[number])
    ]  # fmt: skip
    for number, after in points:
        chain = fake_chain(source, found[3], [0, 1, 2], OUTSIDERS)
        with world(tmp_path / f"try{number}{after}", storage, applied, chain) as w:
            stopped = run_bash(stopped_at(script, number, after), work, w.env)
            assert stopped.returncode == 1, stopped.stdout
            assert all(restart_everything(w.cluster).values())
            again = run_bash(script, work, w.env)
            assert again.returncode == 0, again.stdout
            check_removed(w, source)
