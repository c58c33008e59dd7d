"""Live: a running chain grows and shrinks by the printed plans, and never stops making blocks (issue 17).

The plans add_node and remove_node print are run as printed, by bash, against the harness: kubectl,
minikube and scp are stand-ins that do to the harness what the real tools do to a cluster
(tests/live/fakecli.py); manage_chain.py is the real one. A watcher polls every node while the plans
run and records each gap between two blocks, so a plan that cost quorum, even for a moment, fails.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_script
from tests.live.fakecli import MINIKUBE_IP, PlanServer, stand_ins
from tests.live.rpc import Controller
from tests.live.runs import PASSWORD, RPC_PORT, LiveChain, boot_local_chain, boot_multi_chain, wait_until
from tests.test_live import assert_same_blocks, live_bin_dir, safe_heights, service_log_panics

pytestmark = [pytest.mark.live, pytest.mark.slow]

INTERVAL = 1  # --block_interval of the chains here: long histories quickly
HISTORY = int(os.environ.get("RK8S_LIVE_HISTORY", "300"))  # blocks before the new node joins (issue 17: 300)
# v5.0.0 makes a block every interval plus its own round (2-3 s at --block_interval 1 on two cores): a
# plan may slow no gap beyond twice the pace of the blocks just before it. A lost quorum stalls the
# chain until raft elects again (1.5-3 s election timeout) or for good.
PACE_BLOCKS = 50
PACE_FACTOR = 2.0
DATA_DIR = "/home/docker/cita-cloud-datadir"  # create_pvc.py local_pvc's default: the plans copy there
PLAN_TIMEOUT = 1200


def block_gaps(controller: Controller, first: int, last: int) -> dict[int, float]:
    """Height -> seconds since the block before it, by the proposers' timestamps, for first..last."""
    stamps = {height: controller.block_timestamp(height) for height in range(first - 1, last + 1)}
    return {height: (stamps[height] - stamps[height - 1]) / 1000 for height in range(first, last + 1)}


def join_seconds(node_folder: Path, height: int) -> float:
    """From the new node's controller start to its import of block `height`, by its own log."""
    lines = (node_folder / "logs" / "controller-service.log").read_text().splitlines()
    stamp = re.compile(r"^(\S+) INFO controller::chain - sync block to (\d+)$")
    started = datetime.datetime.fromisoformat(lines[0].split()[0][:26])
    for line in lines:
        found = stamp.match(line)
        if found and int(found[2]) >= height:
            return (datetime.datetime.fromisoformat(found[1][:26]) - started).total_seconds()
    raise AssertionError(f"the new node never imported block {height}")


def pace_before(controller: Controller, height: int, blocks: int = PACE_BLOCKS) -> float:
    """The chain's own pace: the median gap of the `blocks` blocks up to `height`."""
    return statistics.median(block_gaps(controller, height - blocks + 1, height).values())


def plan_of(output: str) -> str:
    """The script a day-2 verb printed: the indented lines after its 'Next' line."""
    lines = output.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("Next, a script"))
    return "\n".join(line.removeprefix("  ") for line in lines[start + 1 :] if line.startswith("  ")) + "\n"


def saved_plan(work: Path, chain: str, printed: str) -> str:
    """The plan the verb saved as <chain>-plan.sh: the one printed, with its shebang, title and `cd`."""
    saved = (work / f"{chain}-plan.sh").read_text()
    lines = saved.splitlines()
    assert lines[0] == "#!/usr/bin/env bash" and lines[3].startswith('cd "$(dirname "$0")"')
    assert [line for line in lines[2:] if line != lines[3]] == [
        line for line in printed.splitlines() if not line.startswith("# --- ")
    ]
    return saved


def run_plan(plan: str, env: dict[str, str], work: Path, expect: int = 0) -> None:
    """The plan as saved, by bash, from the work dir; it stops at the first step that fails.

    Its output goes to a file (a background job of a failed plan would hold a pipe open), and whatever the
    plan left running (a port-forward when a later step failed) is stopped with it.
    """
    log = work.parent / f"plan-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", plan],
            cwd=work,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(PLAN_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    assert code == expect, f"the plan ended with {code}, not {expect}:\n{plan}\n--- its output\n{log.read_text()}"


def manage(*args: str, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["python3", str(REPO / "manage_chain.py"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def validators_of(controller: Controller) -> list[str]:
    return ["0x" + validator.hex() for validator in controller.system_config().validators]


@pytest.fixture(scope="module")
def growing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    tmp = tmp_path_factory.mktemp("grow")
    chains = boot_local_chain(tmp, live_bin_dir(), "grow", "--peers_count", "3", "--block_interval", str(INTERVAL))
    chain = next(chains)
    try:
        yield chain
    finally:
        chains.close()


def test_a_chain_grows_and_shrinks_by_the_printed_plans_without_losing_quorum(
    growing: LiveChain, capsys: pytest.CaptureFixture[str]
):
    chain, cluster = growing, growing.cluster
    work = chain.work
    assert run_script("create_pvc.py", "local_pvc", cwd=work).returncode == 0  # the claim the plans copy onto
    plans = PlanServer(cluster, {DATA_DIR: chain.storage})
    with stand_ins(plans, chain.work.parent / "cli") as env:
        started = time.monotonic()
        wait_until(
            f"{HISTORY} blocks",
            lambda: min(safe_heights(chain.controllers).values()) >= HISTORY,
            HISTORY * 3,
            cluster,
            interval=5,
            state=lambda: safe_heights(chain.controllers),
        )
        history = time.monotonic() - started
        # 1. Add node 3 by the plan add_node prints.
        added = run_script("create_k8s_config.py", "add_node", cwd=work)
        assert added.returncode == 0, added.stderr
        node3 = "grow-3"
        plan = saved_plan(work, "grow", plan_of(added.stdout))
        assert "kubectl apply -f grow.yaml" in plan and "add_validator" in plan
        joined_at = time.monotonic()
        before_adding = max(safe_heights(chain.controllers).values())
        adding_pace = pace_before(chain.controllers["grow-0"], before_adding)
        run_plan(plan, env, work)
        plan_seconds = time.monotonic() - joined_at
        after_adding = min(safe_heights(chain.controllers).values())
        chain.controllers[node3] = Controller(f"{cluster.pods[node3].address}:{RPC_PORT}")
        assert plans.restarted == []  # no running pod was made again
        address3 = (chain.storage / "cita-cloud" / "grow" / "node3" / "node_address").read_text()
        for controller in chain.controllers.values():
            assert address3 in validators_of(controller)
        top = min(safe_heights(chain.controllers).values())
        assert_same_blocks(chain.controllers, top)
        # 2. Four validators: blocks go on, also with one old node stopped.
        wait_until(
            "blocks with 4 validators", lambda: min(safe_heights(chain.controllers).values()) >= top + 5, 60, cluster
        )
        cluster.stop_pod("grow-0")
        others = {name: c for name, c in chain.controllers.items() if name != "grow-0"}
        stopped_at = max(safe_heights(others).values())
        wait_until(
            "blocks with node 0 stopped", lambda: min(safe_heights(others).values()) >= stopped_at + 5, 120, cluster
        )
        cluster.start_pod("grow-0")
        wait_until(
            "node 0 back", lambda: safe_heights({"n": chain.controllers["grow-0"]})["n"] >= stopped_at + 5, 180, cluster
        )
        # 3. Remove validator and node 1: first its vote, then the plan remove_node prints.
        address1 = (chain.storage / "cita-cloud" / "grow" / "node1" / "node_address").read_text()
        rpcs = ",".join(f"{cluster.pods[name].address}:{RPC_PORT}" for name in sorted(chain.controllers))
        for _ in range(3):
            voted = manage(
                "remove_validator",
                address1,
                "--rpc",
                rpcs,
                "--admin_dir",
                "grow-admin",
                "--admin_password",
                PASSWORD,
                work=work,
                env=env,
            )
            if "leader" not in voted.stderr:
                break
            # The tool never removes raft's leader (docs: Running the chain); a restart of its pod moves the lead.
            cluster.stop_pod("grow-1")
            time.sleep(10 * INTERVAL)
            cluster.start_pod("grow-1")
            wait_until("node 1 back", lambda: min(safe_heights(chain.controllers).values()) >= 0, 120, cluster)
        assert voted.returncode == 0, voted.stderr
        removed = run_script(
            "create_k8s_config.py",
            "remove_node",
            "--node_index",
            "1",
            "--rpc",
            f"{cluster.pods['grow-0'].address}:{RPC_PORT}",
            cwd=work,
        )
        assert removed.returncode == 0, removed.stderr
        before_removing = max(safe_heights(chain.controllers).values())
        removing_pace = pace_before(chain.controllers["grow-0"], before_removing)
        run_plan(saved_plan(work, "grow", plan_of(removed.stdout)), env, work)
        after_removing = min(safe_heights({n: c for n, c in chain.controllers.items() if n != "grow-1"}).values())
        assert "grow-1" not in cluster.pods
        assert not [key for key in cluster.objects if key[1].startswith("grow-1")]
        del chain.controllers["grow-1"]
        now = max(safe_heights(chain.controllers).values())
        wait_until(
            "blocks without node 1", lambda: min(safe_heights(chain.controllers).values()) >= now + 5, 120, cluster
        )
        # 4. Every pod at once: the chain resumes with its history.
        before = {height: chain.controllers["grow-0"].block_hash(height) for height in (1, HISTORY, now)}
        restart = subprocess.run(
            ["kubectl", "delete", "pod", "-l", "app.kubernetes.io/instance=grow"],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restart.returncode == 0, restart.stderr
        wait_until(
            "blocks after restarting every pod",
            lambda: min(safe_heights(chain.controllers).values()) >= now + 10,
            300,
            cluster,
        )
        for name, controller in chain.controllers.items():
            assert {height: controller.block_hash(height) for height in before} == before, name
        assert_same_blocks(chain.controllers, now)
        assert service_log_panics(cluster, chain.storage) == []
        adding_gaps = block_gaps(chain.controllers["grow-0"], before_adding + 1, after_adding)
        removing_gaps = block_gaps(chain.controllers["grow-0"], before_removing + 1, after_removing)
        joined = join_seconds(chain.storage / "cita-cloud" / "grow" / "node3", before_adding)
        with capsys.disabled():
            print(
                f"\nhistory of {HISTORY} blocks in {history:.0f} s; node 3 at height {before_adding} "
                f"{joined:.1f} s after its controller started; add_node plan ran in {plan_seconds:.0f} s "
                f"(heights {before_adding}-{after_adding}); pace before adding {adding_pace:.2f} s, longest gap "
                f"while adding {max(adding_gaps.values()):.2f} s; pace before removing {removing_pace:.2f} s, "
                f"longest gap while removing {max(removing_gaps.values()):.2f} s (heights {before_removing}-"
                f"{after_removing})"
            )
        assert max(adding_gaps.values()) <= PACE_FACTOR * adding_pace, adding_gaps
        assert max(removing_gaps.values()) <= PACE_FACTOR * removing_pace, removing_gaps


def test_a_fourth_cluster_joins_through_loadbalancer_addresses_only(tmp_path: Path):
    """multi_cluster: three 'clusters', then a fourth by add_node's plan; every node reached by its LB address."""
    chains = boot_multi_chain(
        tmp_path, live_bin_dir(), "four", ["pw-0", "pw-1", "pw-2"], "--block_interval", str(INTERVAL)
    )
    chain = next(chains)
    try:
        cluster, work = chain.cluster, chain.work
        wait_until("10 blocks", lambda: min(safe_heights(chain.controllers).values()) >= 10, 300, cluster)
        from tests.live.runs import make_account, make_identity

        authority = make_account(work, "pw-3")
        device = make_identity(work)
        host = cluster.address(3)
        claim = run_script(
            "create_pvc.py", "local_pvc", "--pvc_name", "cluster3-pvc", "--data_dir", "/srv/cluster3", cwd=work
        )
        assert claim.returncode == 0, claim.stderr
        storage3 = tmp_path / "storage3"
        storage3.mkdir()
        cluster.storage["cluster3-pvc"] = storage3
        added = run_script(
            "create_k8s_config.py",
            "add_node",
            "--authority",
            authority,
            "--sync_device_id",
            device,
            "--kms_password",
            "pw-3",
            "--node",
            host,
            "--node_port",
            "33000",
            "--lbs_token",
            "lb-3",
            "--pvc_name",
            "cluster3-pvc",
            cwd=work,
        )
        assert added.returncode == 0, added.stderr
        # One cluster per node, each reached by its own kubectl context (the plan's default names).
        contexts = {f"four-{index}": {f"four-{index}"} for index in range(4)}
        plans = PlanServer(cluster, {"/srv/cluster3": storage3}, addresses={"four-3": host}, contexts=contexts)
        with stand_ins(plans, tmp_path / "cli") as env:
            run_plan(saved_plan(work, "four", plan_of(added.stdout)), env, work)
        chain.controllers["four-3"] = Controller(f"{host}:{RPC_PORT}")
        assert_same_blocks(chain.controllers, min(safe_heights(chain.controllers).values()))
        assert chain.controllers["four-3"].peer_count() == 3
        address3 = (storage3 / "cita-cloud" / "four" / "node3" / "node_address").read_text()
        for controller in chain.controllers.values():  # the plan's vote ran: the admin's folder was at hand
            assert address3 in validators_of(controller)
        assert plans.restarted == []
        assert MINIKUBE_IP  # the claim's copy commands ran against the fourth cluster's storage only
        assert (storage3 / "cita-cloud" / "four" / "node3" / "kms.db").is_file()
    finally:
        chains.close()


def chain_id(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def stopped_after(plan: str, pattern: str) -> str:
    """The plan stopped (exit 1) right after the first line that matches `pattern`."""
    lines = plan.splitlines()
    at = next(number for number, line in enumerate(lines) if re.search(pattern, line))
    return "\n".join([*lines[: at + 1], "exit 1"]) + "\n"


def test_a_plan_stopped_midway_then_a_node_restart_then_the_plan_again(tmp_path: Path):
    """The live version of tests/test_plan_reruns.py, at the two points that matter most.

    1. After node 0 got its new peer list (the point where, with the old order, node 0 could not start
       again: its list named a Service that did not exist): node 0 restarts and makes blocks again.
    2. After the vote, before the replay wait: the plan runs again, its vote is `--if_needed`.
    """
    chains = boot_local_chain(tmp_path, live_bin_dir(), "redo", "--peers_count", "3", "--block_interval", str(INTERVAL))
    chain = next(chains)
    try:
        cluster, work = chain.cluster, chain.work
        assert run_script("create_pvc.py", "local_pvc", cwd=work).returncode == 0
        wait_until("20 blocks", lambda: min(safe_heights(chain.controllers).values()) >= 20, 300, cluster)
        added = run_script("create_k8s_config.py", "add_node", cwd=work)
        assert added.returncode == 0, added.stderr
        plan = saved_plan(work, "redo", plan_of(added.stdout))
        plans = PlanServer(cluster, {DATA_DIR: chain.storage})
        with stand_ins(plans, tmp_path / "cli") as env:
            run_plan(stopped_after(plan, r"kubectl cp cita-cloud/redo/node0/network-config\.toml"), env, work, expect=1)
            before = max(safe_heights(chain.controllers).values())
            cluster.stop_pod("redo-0")
            cluster.start_pod("redo-0")
            wait_until(
                "node 0 back after its restart",
                lambda: safe_heights({"n": chain.controllers["redo-0"]})["n"] >= before + 5,
                240,
                cluster,
            )
            assert not [line for line in cluster.exited() if line.startswith("redo-0/")], cluster.exited()
            run_plan(stopped_after(plan, r"manage_chain\.py add_validator"), env, work, expect=1)
            run_plan(plan, env, work)
        chain.controllers["redo-3"] = Controller(f"{cluster.pods['redo-3'].address}:{RPC_PORT}")
        address3 = (chain.storage / "cita-cloud" / "redo" / "node3" / "node_address").read_text()
        for controller in chain.controllers.values():
            assert address3 in validators_of(controller)
        top = min(safe_heights(chain.controllers).values())
        assert_same_blocks(chain.controllers, top)
        assert plans.restarted == []
        assert service_log_panics(cluster, chain.storage) == []
    finally:
        chains.close()
