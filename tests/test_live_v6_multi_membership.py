"""Live (issue 24): a v6.7.4 multi_cluster chain gets a fourth cluster, and loses it, by the printed plans.

Three overlord nodes, each alone in a cluster of its own (tests/live/runs_v6.py: the clusters share one
network and reach each other only through their LoadBalancers' addresses, one of them given by a host
name), make HISTORY blocks at a one-second interval. A fourth cluster is opened on the same network;
add_node, told that cluster's LoadBalancer address (`--node`), writes node 3 and the plan, which bash
runs as printed against the stand-ins of tests/live/fakecli.py, each kubectl command sent to the
cluster its `--context` names (a command without one fails); manage_chain.py is the real one, reaching
every node at its LoadBalancer. Node 3 must reach the head and be voted in, no running pod made again.
Right after, node 0 is stopped and blocks must go on (four validators: node 3 votes). Node 3 is then
voted out by hand (`--yes`: three validators left) and removed by its plan. Heights, times and the
largest gaps against the chain's pace are printed (LIVE-V6 lines). This host has no DNS for the name
node 2's LoadBalancer is given by (the clusters resolve it themselves): in the plans' manage_chain.py
lines that name is replaced by its address, nothing else is changed.
Needs CITA_CLOUD_BIN_V6 and root; run it in a network namespace of its own.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest

from runner_k8s.releases.v6_7_4.accounts import Consensus
from tests.chains import load_documents
from tests.conftest import run_script
from tests.live.fakecli import PlanServer, Reply, stand_ins
from tests.live.kubelet import Cluster
from tests.live.rpc import Controller
from tests.live.runs_v6 import EXTERNAL_HOST, boot_v6_multi, lb_port, make_v6_accounts, v6_bin_dir
from tests.test_live_membership import plan_of, run_plan, saved_plan
from tests.test_live_v6 import CORE, assert_same_blocks, heights, panics, record, wait_for_height
from tests.test_live_v6_membership import PACE_FACTOR, gaps, pace, validators

pytestmark = [pytest.mark.live, pytest.mark.slow]

CHAIN = "mm6"
INTERVAL = 1
HISTORY = int(os.environ.get("RK8S_LIVE_HISTORY", "60"))
NEW_BASE = 33000
REMOTE = "/srv/cluster3"


class ClusterRouter:
    """The stand-ins' server for several clusters: kubectl goes to the cluster its --context names."""

    def __init__(self, servers: Mapping[str, PlanServer], storage_server: PlanServer) -> None:
        self.servers = servers
        self.storage_server = storage_server  # minikube and scp: the new cluster's storage

    def handle(self, tool: str, argv: list[str], cwd: str) -> Reply:
        if tool != "kubectl":
            return self.storage_server.handle(tool, argv, cwd)
        context = next((argv[n + 1] for n, word in enumerate(argv[:-1]) if word == "--context"), None)
        if context is None or context not in self.servers:
            return Reply(1, stderr=f"error: context was not found for specified context: {context}\n")
        return self.servers[context].handle(tool, argv, cwd)

    @property
    def restarted(self) -> list[str]:
        return [name for server in self.servers.values() for name in server.restarted]


def resolvable(plan: str, hosts: Mapping[str, str]) -> str:
    """The plan with the clusters' own host names replaced by their addresses in manage_chain.py's lines."""
    lines = plan.splitlines()
    for number, line in enumerate(lines):
        if "manage_chain.py " in line:
            changed = line
            for host, address in hosts.items():
                changed = changed.replace(f"{host}:", f"{address}:")
            lines[number] = changed
    return "\n".join(lines) + "\n"


def router(clusters: list[Cluster], storage3: Path, ip3: str) -> ClusterRouter:
    servers = {}
    for index, cluster in enumerate(clusters):
        name = f"{CHAIN}-{index}"
        storage = {REMOTE: storage3} if index == 3 else {}
        addresses = {name: ip3} if index == 3 else {}
        servers[name] = PlanServer(cluster, storage, addresses=addresses, contexts={name: {name}})
    return ClusterRouter(servers, servers[f"{CHAIN}-3"])


def test_a_v6_multi_cluster_chain_gets_a_fourth_cluster_and_loses_it_by_the_printed_plans(tmp_path: Path):
    v6_bin_dir("consensus_overlord", *CORE)
    chains = boot_v6_multi(tmp_path, CHAIN, 3, "--block_interval", str(INTERVAL))
    chain = next(chains)
    stack = contextlib.ExitStack()
    try:
        work = chain.work
        started = time.monotonic()
        wait_for_height(chain, HISTORY, HISTORY * 4 + 120)
        record(chain, "history", height=HISTORY, seconds=round(time.monotonic() - started))
        # The fourth cluster, on the same network, closed before the first one.
        cluster3 = stack.enter_context(Cluster(tmp_path / "pods3", None, network_of=chain.clusters[0]))
        ip3 = cluster3.address(0)
        hosts = {EXTERNAL_HOST.format(index=2): chain.clusters[2].address(0)}
        cluster3.external_hosts.update(hosts)
        storage3 = tmp_path / "storage3"
        storage3.mkdir()
        cluster3.storage["cluster3-pvc"] = storage3
        claim = run_script("create_pvc.py", "local_pvc", "--pvc_name", "cluster3-pvc", "--data_dir", REMOTE, cwd=work)
        assert claim.returncode == 0, claim.stderr
        authority = make_v6_accounts(work, 1, Consensus.OVERLORD)[0]
        clusters = [*chain.clusters, cluster3]
        plans = router(clusters, storage3, ip3)
        with stand_ins(plans, tmp_path / "cli") as env:  # type: ignore[arg-type]
            # 1. node 3 in the fourth cluster, by the plan add_node prints.
            added = run_script(
                "create_k8s_config.py", "add_node", "--authority", authority, "--node", ip3, "--node_port",
                str(NEW_BASE), "--lbs_token", "lb-3", "--pvc_name", "cluster3-pvc", cwd=work,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            plan = resolvable(saved_plan(work, CHAIN, plan_of(added.stdout)), hosts)
            first = f"{CHAIN}-0"
            before_adding = max(heights(chain).values())
            adding_pace = pace(chain.controllers[first], before_adding)
            plan_started = time.monotonic()
            run_plan(plan, env, work)
            plan_seconds = time.monotonic() - plan_started
            chain.controllers[f"{CHAIN}-3"] = Controller(f"{ip3}:{NEW_BASE + 2}")
            after_adding = min(heights(chain).values())
            assert plans.restarted == []  # no running pod was made again
            key3 = bytes.fromhex((storage3 / "cita-cloud" / CHAIN / "node3" / "validator_address").read_text())
            assert all(key3 in validators(controller) for controller in chain.controllers.values())
            assert_same_blocks(chain, after_adding)
            adding_gaps = gaps(chain.controllers[first], before_adding + 1, after_adding)
            record(
                chain,
                "add_node plan (fourth cluster)",
                heights=[before_adding, after_adding],
                seconds=round(plan_seconds, 1),
                pace=round(adding_pace, 3),
                longest_gap=max(adding_gaps.values()),
            )
            assert max(adding_gaps.values()) <= PACE_FACTOR * adding_pace, adding_gaps
            # 2. Four validators: node 0 stopped, blocks go on (node 3 votes).
            chain.clusters[0].stop_pod(first)
            others = [name for name in chain.controllers if name != first]
            stopped_at = max(heights(chain)[name] for name in others)
            took = wait_for_height(chain, stopped_at + 10, 180, others)
            record(chain, "node 0 stopped", from_height=stopped_at, seconds_for_10_blocks=round(took, 1))
            chain.clusters[0].start_pod(first)
            wait_for_height(chain, stopped_at + 15, 300)
            # 3. node 3 out: its vote by hand (three validators left cannot lose one: --yes), then the plan.
            rpcs = ",".join(
                f"{cluster.address(0)}:{lb_port(chain.documents, f'{CHAIN}-{index}', 'rpc')}"
                for index, cluster in enumerate(chain.clusters)
            )
            voted = run_script(
                "manage_chain.py", "remove_validator", "0x" + key3.hex(), "--rpc", rpcs, "--chain_name", CHAIN,
                "--admin_dir", str(admin_folder(work)), "--yes", "--timeout", "240", cwd=work,
            )  # fmt: skip
            assert voted.returncode == 0, voted.stderr
            removed = run_script(
                "create_k8s_config.py", "remove_node", "--node_index", "3", "--rpc", rpcs.split(",")[0], cwd=work
            )
            assert removed.returncode == 0, removed.stderr
            before_removing = max(heights(chain).values())
            removing_pace = pace(chain.controllers[first], before_removing)
            removing_started = time.monotonic()
            run_plan(resolvable(saved_plan(work, CHAIN, plan_of(removed.stdout)), hosts), env, work)
            removing_seconds = time.monotonic() - removing_started
            chain.controllers.pop(f"{CHAIN}-3").close()
            after_removing = min(heights(chain).values())
            assert f"{CHAIN}-3" not in cluster3.pods
            assert not [key for cluster in clusters for key in cluster.objects if key[1].startswith(f"{CHAIN}-3")]
            assert not (storage3 / "cita-cloud" / CHAIN / "node3").exists()
            removing_gaps = gaps(chain.controllers[first], before_removing + 1, after_removing)
            record(
                chain,
                "remove_node plan",
                heights=[before_removing, after_removing],
                seconds=round(removing_seconds, 1),
                pace=round(removing_pace, 3),
                longest_gap=max(removing_gaps.values()),
            )
            assert max(removing_gaps.values()) <= PACE_FACTOR * removing_pace, removing_gaps
            wait_for_height(chain, after_removing + 5, 120)
            assert_same_blocks(chain, after_removing + 5)
        assert panics(chain) == []
    finally:
        stack.close()
        chains.close()


def admin_folder(work: Path) -> Path:
    """The super admin's account folder: `0x<admin>`, the admin every node's config.toml names."""
    documents = load_documents(work / f"{CHAIN}-0.yaml")
    secret = next(doc for doc in documents if doc["metadata"]["name"] == f"{CHAIN}-0-config")
    admin = tomllib.loads(base64.b64decode(secret["data"]["config.toml"]).decode())["system_config"]["admin"]
    return work / f"0x{admin}"
