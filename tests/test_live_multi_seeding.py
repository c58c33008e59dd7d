"""Live (issue 25): a seeded join on a v5.0.0 multi_cluster chain, node 1's chain data carried between clusters.

Three 'clusters' (one node each, each with its own claim: tmp/storage<i>, named /srv/cluster<i> on its node)
make RK8S_LIVE_MULTI_SEED_HISTORY blocks (60) while the super admin sends transactions. A fourth cluster's
node joins by `add_node --seed_from 1`, its printed plan run with the strict stand-ins of tests/live/fakecli.py:
first only up to the line that brings node 1's tar here (the test reads the tar: node 1's chain data, never
its identity), then from the top up to its `add_validator` (the steps done are skipped). Right after the vote
an old validator that did not make the newest block stops, and the longest gap between blocks until the three
nodes left (one of them the new one) have made five more must stay within twice the chain's pace. The stopped
node comes back and the whole plan runs again to its end. Node 3's folder on its own storage holds node 1's
chain data and its own identity, the tar is gone here and on both storage hosts, node 3 is a validator on every
node, every node has the same hash at every height, and no service log holds a panic.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_script
from tests.independent import check_kms_db
from tests.live.fakecli import PlanServer, stand_ins
from tests.live.rpc import Controller, Transaction, raw_transaction
from tests.live.runs import RPC_PORT, LiveChain, boot_multi_chain, wait_until
from tests.test_live import assert_same_blocks, live_bin_dir, safe_heights, service_log_panics, sm_signed
from tests.test_live_membership import (
    INTERVAL,
    PACE_FACTOR,
    block_gaps,
    pace_before,
    plan_of,
    run_plan,
    saved_plan,
    stopped_after,
    validators_of,
)
from tests.test_live_seeding import IDENTITY, SEEDED, Figures, first_commit_after_start

pytestmark = [pytest.mark.live, pytest.mark.slow]

HISTORY = int(os.environ.get("RK8S_LIVE_MULTI_SEED_HISTORY", "60"))
CHAIN = "mseed"
PASSWORDS = ["pw-0", "pw-1", "pw-2"]
ADMIN_PASSWORD = "admin-password"  # boot_multi_chain's super admin
NEVER_COPIED = {"node_address", "key_id", "kms.db", "network-config.toml", "config", "logs"}


def lb_rpc(chain: LiveChain, index: int) -> str:
    """Node `index`'s controller RPC through its LoadBalancer, as its YAML says (the Service port onto 50004)."""
    for document in chain.documents:
        spec = document.get("spec", {})
        if document["kind"] == "Service" and spec.get("selector") == {"node_name": f"{CHAIN}-{index}"}:
            ports = [port["port"] for port in spec["ports"] if port["targetPort"] == RPC_PORT]
            if spec.get("type") == "LoadBalancer" and ports:
                return f"{chain.cluster.address(index)}:{ports[0]}"
    raise AssertionError(f"node {index} has no LoadBalancer port onto its controller RPC")


class Sender:
    """The super admin (its folder made by boot_multi_chain) sends a transaction every `every` seconds."""

    def __init__(self, chain: LiveChain, every: float = 2.0) -> None:
        self.chain, self.every = chain, every
        self.sent: list[bytes] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            self.send()
        except Exception as error:
            self.errors.append(f"{type(error).__name__}: {error}")

    def send(self) -> None:
        entry = self.chain.controllers[f"{CHAIN}-0"]
        wait_until("node 0's RPC", lambda: entry.block_number() >= 1, 300, self.chain.cluster)
        admin = "0x" + entry.system_config().admin.hex()
        folder = next(path for path in self.chain.work.iterdir() if path.name.lower() == admin.lower())
        secret = check_kms_db(folder / "kms.db", ADMIN_PASSWORD, (folder / "node_address").read_text())
        sender = bytes.fromhex(admin[2:])
        while not self.stop.wait(self.every):
            try:
                transaction = Transaction(
                    to=bytes.fromhex("00" * 19 + "01"),
                    nonce=os.urandom(8).hex(),
                    quota=3_000_000,
                    valid_until_block=entry.block_number() + 50,
                    data=b"history of the multi_cluster seeding live test",
                    value=bytes(32),
                    chain_id=hashlib.sha256(CHAIN.encode()).digest(),
                )
                tx_hash, signature = sm_signed(secret, transaction.encode())
                entry.send_raw_transaction(raw_transaction(transaction, tx_hash, signature, sender))
                self.sent.append(tx_hash)
            except Exception as error:  # a refused transaction only makes the history thinner
                self.errors.append(f"{type(error).__name__}: {error}")


def proposer_free(chain: LiveChain, among: list[int]) -> int:
    """One of the nodes `among` that did not make the newest block (stopping it costs no election)."""
    controller = chain.controllers[f"{CHAIN}-{among[0]}"]
    proposer = "0x" + controller.block_proposer(controller.block_number()).hex()
    folder = chain.work / "cita-cloud" / CHAIN
    return next(index for index in among if (folder / f"node{index}" / "node_address").read_text() != proposer)


def five_more(chain: LiveChain, names: list[str], since: int) -> tuple[float, int]:
    started = time.monotonic()
    watched = {name: chain.controllers[name] for name in names}
    wait_until(
        f"5 blocks past {since} on {names}",
        lambda: min(safe_heights(watched).values()) >= since + 5,
        600,
        chain.cluster,
        interval=0.5,
        state=lambda: safe_heights(watched),
    )
    return time.monotonic() - started, min(safe_heights(watched).values())


def test_a_seeded_fourth_cluster_votes_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    chains = boot_multi_chain(tmp_path, live_bin_dir(), CHAIN, PASSWORDS, "--block_interval", str(INTERVAL))
    chain = next(chains)
    figures = Figures()
    try:
        cluster, work = chain.cluster, chain.work
        sender = Sender(chain)
        sender.thread.start()
        started = time.monotonic()
        wait_until(
            f"{HISTORY} blocks",
            lambda: min(safe_heights(chain.controllers).values()) >= HISTORY,
            HISTORY * 5,
            cluster,
            interval=2,
            state=lambda: safe_heights(chain.controllers),
        )
        sender.stop.set()
        sender.thread.join(30)
        node0 = chain.controllers[f"{CHAIN}-0"]
        carrying = [height for height in range(1, HISTORY + 1) if node0.block_tx_hashes(height)]
        figures.append(
            f"history: {HISTORY} blocks in {time.monotonic() - started:.0f} s, {len(sender.sent)} transactions sent, "
            f"{len(carrying)} blocks carry them; {len(sender.errors)} errors, first: {sender.errors[:1]}"
        )
        from tests.live.runs import make_account, make_identity

        authority = make_account(work, "pw-3")
        device = make_identity(work)
        host = cluster.address(3)
        for index in (1, 3):  # the seed's claim and the new one's: the plan reaches each storage by its file
            claim = run_script(
                "create_pvc.py",
                "local_pvc",
                "--pvc_name",
                f"cluster{index}-pvc",
                "--data_dir",
                f"/srv/cluster{index}",
                cwd=work,
            )
            assert claim.returncode == 0, claim.stderr
        storage1, storage3, vm_tmp = tmp_path / "storage1", tmp_path / "storage3", tmp_path / "vm-tmp"
        storage3.mkdir()
        vm_tmp.mkdir()
        cluster.storage["cluster3-pvc"] = storage3
        new_node = [
            *("--authority", authority, "--sync_device_id", device, "--kms_password", "pw-3"),
            *("--node", host, "--node_port", "33000", "--lbs_token", "lb-3", "--pvc_name", "cluster3-pvc"),
        ]
        seed = ["--seed_from", "1", "--rpc", f"{lb_rpc(chain, 0)},{lb_rpc(chain, 2)}", "--seed_rpc", lb_rpc(chain, 1)]
        for _ in range(3):
            added = run_script("create_k8s_config.py", "add_node", *new_node, *seed, cwd=work)
            if "a seed must be at the head" not in added.stderr:
                break
            figures.append(f"add_node refused the seed, asked again: {added.stderr.strip()}")
            time.sleep(3)
        assert added.returncode == 0, added.stderr
        assert "The plan: seeded from node1" in added.stdout, added.stdout
        plan = saved_plan(work, CHAIN, plan_of(added.stdout))
        contexts = {f"{CHAIN}-{index}": {f"{CHAIN}-{index}"} for index in range(4)}
        storages = {"/srv/cluster1": storage1, "/srv/cluster3": storage3, "/tmp": vm_tmp}
        plans = PlanServer(cluster, storages, addresses={f"{CHAIN}-3": host}, contexts=contexts)
        node3_folder = storage3 / "cita-cloud" / CHAIN / "node3"
        tar_here = work / ".seed-node3.tar"
        with stand_ins(plans, tmp_path / "cli") as env:
            before = max(safe_heights(chain.controllers).values())
            pace = pace_before(node0, before)
            began = time.monotonic()
            # 1. Up to the tar here (node 1 still stopped): what it holds.
            run_plan(stopped_after(plan, r"mv \.seed-node3\.tar\.part \.seed-node3\.tar"), env, work, expect=1)
            fetched = time.monotonic() - began
            with tarfile.open(tar_here) as tar:
                tops = {member.name.split("/", 1)[0] for member in tar.getmembers()}
            tar_bytes = tar_here.stat().st_size
            assert set(SEEDED) <= tops, tops
            assert not tops & NEVER_COPIED and not [top for top in tops if top.endswith(".toml")], tops
            assert not list(vm_tmp.iterdir()), "the tar was left on node 1's storage host"
            # 2. Again from the top, up to the vote (what is done is skipped: node 1 is not stopped twice).
            run_plan(stopped_after(plan, r"manage_chain\.py add_validator"), env, work, expect=1)
            address3 = (node3_folder / "node_address").read_text()
            assert address3 in validators_of(node0), "the seeded plan stopped before its vote"
            stopped = proposer_free(chain, [0, 2])
            voted_at = max(safe_heights(chain.controllers).values())
            stopping = time.monotonic()
            cluster.stop_pod(f"{CHAIN}-{stopped}")  # at once: the new validator's vote is needed from here
            stop_seconds = time.monotonic() - stopping
            plan_seconds = stopping - began
            chain.controllers[f"{CHAIN}-3"] = Controller(f"{host}:{RPC_PORT}")
            up = [f"{CHAIN}-{index}" for index in (0, 1, 2, 3) if index != stopped]
            gone_at = max(safe_heights({name: chain.controllers[name] for name in up}).values())
            took, reached = five_more(chain, up, gone_at)  # five blocks made without it, all in the gaps below
            gaps = block_gaps(chain.controllers[up[0]], voted_at + 1, reached)
            scaled = [
                when for call, when in zip(plans.log, plans.times, strict=True) if f"{CHAIN}-1 --replicas=" in call
            ]
            figures.append(
                f"seeded join at height {before}: tar here after {fetched:.0f} s ({tar_bytes / 1e6:.2f} MB); node 1 "
                f"stopped {scaled[-1] - scaled[0]:.0f} s (scale 0 to scale 1, the tar read in between); plan to "
                f"add_validator {plan_seconds:.0f} s; pace {pace:.2f} s; node {stopped} stopped right after "
                f"add_validator at height {voted_at} (its pod gone {stop_seconds:.1f} s later, at height {gone_at}): "
                f"5 more blocks in {took:.1f} s, longest gap {max(gaps.values()):.2f} s (heights {voted_at + 1}-"
                f"{reached})"
            )
            assert len(scaled) == 2, scaled  # one stop, one start: the second run skipped the stop
            cluster.start_pod(f"{CHAIN}-{stopped}")
            # 3. The whole plan again, to its end (its raft wait).
            run_plan(plan, env, work)
        first_vote = first_commit_after_start(node3_folder, voted_at)
        figures.append(f"node 3: pod start to its raft commit of block {voted_at}: {first_vote:.1f} s")
        for item in SEEDED:
            assert (node3_folder / item).exists(), item
        assert (node3_folder / ".seeded-from-node1").is_file()
        made = work / "cita-cloud" / CHAIN / "node3"
        for item in IDENTITY:
            assert (node3_folder / item).read_bytes() == (made / item).read_bytes(), item
        assert (node3_folder / "kms.db").is_file() and (node3_folder / "config").is_dir()
        assert address3 != (storage1 / "cita-cloud" / CHAIN / "node1" / "node_address").read_text()
        assert not tar_here.exists() and not (work / ".seed-node3.tar.part").exists()
        assert not list(vm_tmp.iterdir()), "the tar was left on a storage host"
        assert not (node3_folder / ".seed").exists()
        for folder in (storage1 / "cita-cloud" / CHAIN / "node1", node3_folder):  # both in-pod loops ended
            assert not (folder / ".keepup").exists(), folder
        assert plans.restarted == []
        wait_until("all back", lambda: min(safe_heights(chain.controllers).values()) >= voted_at + 5, 300, cluster)
        for controller in chain.controllers.values():
            assert address3 in validators_of(controller)
        assert_same_blocks(chain.controllers, min(safe_heights(chain.controllers).values()))
        assert service_log_panics(cluster, tmp_path) == []
        keepups = [call for call in plans.log if "exec" in call and ".keepup" in call]
        figures.append(f"in-pod keep-up execs: {len(keepups)}; tool calls: {len(plans.log)}")
    finally:
        chains.close()
        with capsys.disabled():
            print("\n" + "\n".join(figures))
    assert max(gaps.values()) <= PACE_FACTOR * pace, (figures, gaps)
