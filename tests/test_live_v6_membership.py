"""Live (issue 24): a running v6.7.4 chain grows and shrinks by the printed plans, no running pod restarted.

A three-node overlord chain at a one-second interval makes HISTORY blocks (300) while a client sends
ordinary transactions (signed by gmssl), so its blocks carry them. add_node's plan, run as printed by
bash against the stand-ins of tests/live/fakecli.py (kubectl, minikube, scp; manage_chain.py is the real
one), applies the chain's YAML once, waits until every node lists the others as peers (network_zenoh
re-read its config.toml from the refreshed Secret) and the new node is at the head, then votes its BLS
key in. Right after, an old validator is stopped and blocks go on (four validators: the new one must
vote). A node is then removed by its plan, and every pod is restarted: the history is the same.
Heights, times and the largest gaps against the chain's pace are printed (LIVE-V6 lines).
Needs CITA_CLOUD_BIN_V6 and root; run it in a network namespace of its own (the plans port-forward on
fixed loopback ports): `unshare -n bash -c 'ip link set lo up && exec python3 -m pytest -m live ...'`.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_script
from tests.live.fakecli import PlanServer, stand_ins
from tests.live.rpc import Controller, Transaction, raw_transaction
from tests.live.runs_v6 import DATA_DIR, RPC_PORT, V6Chain, boot_v6_local, v6_bin_dir, wait_for
from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3
from tests.test_live import sm_signed
from tests.test_live_membership import plan_of, run_plan, saved_plan
from tests.test_live_v6 import CORE, assert_same_blocks, heights, panics, record, wait_for_height

pytestmark = [pytest.mark.live, pytest.mark.slow]

CHAIN = "grow6"
INTERVAL = 1
HISTORY = int(os.environ.get("RK8S_LIVE_HISTORY", "300"))
PACE_BLOCKS = 50
PACE_FACTOR = 2.0


def gaps(controller: Controller, first: int, last: int) -> dict[int, float]:
    """Height -> seconds since the block before it (the proposers' timestamps), for first..last."""
    stamps = {height: controller.block_timestamp(height) for height in range(first - 1, last + 1)}
    return {height: (stamps[height] - stamps[height - 1]) / 1000 for height in range(first, last + 1)}


def pace(controller: Controller, height: int) -> float:
    return statistics.median(gaps(controller, height - PACE_BLOCKS + 1, height).values())


class Client(threading.Thread):
    """Sends an ordinary transaction (signed by gmssl with the admin's key) every 0.4 s, to the nodes in turn."""

    def __init__(self, chain: V6Chain) -> None:
        super().__init__(daemon=True)
        self.chain = chain
        self.secret = int((chain.work / f"{CHAIN}-admin" / "private_key").read_text(), 16)
        self.sender = gmssl_sm3(gmssl_sm2_public(self.secret))[12:]
        self.stop = threading.Event()
        self.sent = 0
        self.failed = 0

    def run(self) -> None:
        number = 0
        while not self.stop.wait(0.4):
            number += 1
            addresses = [f"{pod.address}:{RPC_PORT}" for name, pod in sorted(self.chain.cluster.pods.items())]
            client = Controller(addresses[number % len(addresses)])
            try:
                transaction = Transaction(
                    to=bytes.fromhex("00" * 19 + "03"),
                    nonce=str(int.from_bytes(os.urandom(8), "big")),
                    quota=200_000,
                    valid_until_block=client.block_number() + 80,
                    data=f"runner_k8s v6 membership {number}".encode(),
                    value=bytes(32),
                    chain_id=gmssl_sm3(CHAIN.encode()),
                )
                tx_hash, signature = sm_signed(self.secret, transaction.encode())
                client.send_raw_transaction(raw_transaction(transaction, tx_hash, signature, self.sender))
                self.sent += 1
            except Exception:  # a node stopped on purpose, or starting: the next one takes the next
                self.failed += 1
            finally:
                client.close()


def validators(controller: Controller) -> list[bytes]:
    return list(controller.system_config().validators)


def folder_key(storage: Path, index: int) -> bytes:
    return bytes.fromhex((storage / "cita-cloud" / CHAIN / f"node{index}" / "validator_address").read_text())


def test_a_v6_chain_grows_and_shrinks_by_the_printed_plans(tmp_path: Path):
    v6_bin_dir("consensus_overlord", *CORE)
    chains = boot_v6_local(tmp_path, CHAIN, 3, "--block_interval", str(INTERVAL))
    chain = next(chains)
    client = Client(chain)
    client.start()
    try:
        cluster, work, storage = chain.cluster, chain.work, tmp_path / "storage"
        started = time.monotonic()
        wait_for_height(chain, HISTORY, HISTORY * 4)
        carried = sum(1 for height in range(1, HISTORY + 1) if chain.controllers[f"{CHAIN}-0"].block_tx_hashes(height))
        record(chain, "history", height=HISTORY, seconds=round(time.monotonic() - started), blocks_with_txs=carried)
        assert carried >= HISTORY * 0.8, carried
        plans = PlanServer(cluster, {DATA_DIR: storage})
        with stand_ins(plans, tmp_path / "cli") as env:
            # 1. node 3 by the plan add_node prints.
            added = run_script("create_k8s_config.py", "add_node", cwd=work)
            assert added.returncode == 0, added.stderr
            plan = saved_plan(work, CHAIN, plan_of(added.stdout))
            before_adding = max(heights(chain).values())
            adding_pace = pace(chain.controllers[f"{CHAIN}-0"], before_adding)
            plan_started = time.monotonic()
            run_plan(plan, env, work)
            plan_seconds = time.monotonic() - plan_started
            after_adding = min(heights(chain).values())
            assert plans.restarted == []  # no running pod was made again
            chain.controllers[f"{CHAIN}-3"] = Controller(f"{cluster.pods[f'{CHAIN}-3'].address}:{RPC_PORT}")
            key3 = folder_key(storage, 3)
            assert all(key3 in validators(controller) for controller in chain.controllers.values())
            top = min(heights(chain).values())
            assert_same_blocks(chain, top)
            adding_gaps = gaps(chain.controllers[f"{CHAIN}-0"], before_adding + 1, after_adding)
            record(
                chain,
                "add_node plan",
                heights=[before_adding, after_adding],
                seconds=round(plan_seconds, 1),
                pace=round(adding_pace, 3),
                longest_gap=max(adding_gaps.values()),
                transactions_sent=client.sent,
            )
            assert max(adding_gaps.values()) <= PACE_FACTOR * adding_pace, adding_gaps
            # 2. Four validators: node 0 stopped, blocks go on (node 3 votes).
            cluster.stop_pod(f"{CHAIN}-0")
            others = [name for name in chain.controllers if name != f"{CHAIN}-0"]
            stopped_at = max(heights(chain)[name] for name in others)
            took = wait_for_height(chain, stopped_at + 10, 180, others)
            record(chain, "node 0 stopped", from_height=stopped_at, seconds_for_10_blocks=round(took, 1))
            cluster.start_pod(f"{CHAIN}-0")
            wait_for_height(chain, stopped_at + 15, 300)
            # 3. node 1 out: its vote first (three validators left cannot lose one: --yes, as the docs say),
            # then the plan remove_node prints.
            rpcs = ",".join(f"{cluster.pods[name].address}:{RPC_PORT}" for name in sorted(chain.controllers))
            voted = run_script(
                "manage_chain.py",
                "remove_validator",
                "0x" + folder_key(storage, 1).hex(),
                "--rpc",
                rpcs,
                "--admin_dir",
                f"{CHAIN}-admin",
                "--chain_name",
                CHAIN,
                "--yes",
                "--timeout",
                "240",
                cwd=work,
            )
            assert voted.returncode == 0, voted.stderr
            removed = run_script(
                "create_k8s_config.py",
                "remove_node",
                "--node_index",
                "1",
                "--rpc",
                f"{cluster.pods[f'{CHAIN}-0'].address}:{RPC_PORT}",
                cwd=work,
            )
            assert removed.returncode == 0, removed.stderr
            before_removing = max(heights(chain).values())
            removing_pace = pace(chain.controllers[f"{CHAIN}-0"], before_removing)
            run_plan(saved_plan(work, CHAIN, plan_of(removed.stdout)), env, work)
            chain.controllers.pop(f"{CHAIN}-1").close()
            after_removing = min(heights(chain).values())
            assert f"{CHAIN}-1" not in cluster.pods
            assert not [key for key in cluster.objects if key[1].startswith(f"{CHAIN}-1")]
            assert not (storage / "cita-cloud" / CHAIN / "node1").exists()
            removing_gaps = gaps(chain.controllers[f"{CHAIN}-0"], before_removing + 1, after_removing)
            record(
                chain,
                "remove_node plan",
                heights=[before_removing, after_removing],
                pace=round(removing_pace, 3),
                longest_gap=max(removing_gaps.values()),
            )
            assert max(removing_gaps.values()) <= PACE_FACTOR * removing_pace, removing_gaps
        # 4. Every pod at once: the chain resumes with its history.
        now = max(heights(chain).values())
        kept = {height: chain.controllers[f"{CHAIN}-0"].block_hash(height) for height in (1, HISTORY, now)}
        for name in list(cluster.pods):
            cluster.stop_pod(name)
        for name in list(cluster.pods):
            cluster.start_pod(name)
        restarted = time.monotonic()
        wait_for("every node answering again", lambda: min(heights(chain).values()) >= 0, 240, chain.clusters)
        wait_for_height(chain, now + 5, 300)
        for name, controller in chain.controllers.items():
            assert {height: controller.block_hash(height) for height in kept} == kept, name
        assert_same_blocks(chain, now + 5)
        record(chain, "whole restart", height=now, seconds_to_5_more=round(time.monotonic() - restarted, 1))
        assert panics(chain) == []
    finally:
        client.stop.set()
        client.join(10)
        chains.close()
