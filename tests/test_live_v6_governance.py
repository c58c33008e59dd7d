"""Live: manage_chain.py governs running CITA-Cloud v6.7.4 chains (tests/live/kubelet.py runs the services).

Every change is made by manage_chain.py itself (a subprocess, as a user runs it) against chains made
by create_k8s_config.py and started by their printed next steps: set_admin to a new v6 account, the
emergency brake on (an ordinary transaction, signed by gmssl, refused with EmergencyBrake) and off
(the same kind accepted and packed), set_block_interval 3 s -> 1 s with the gaps between blocks
measured before and after, an overlord validator removed and added back (its BLS key read from its
node folder), and a raft chain's current leader removed (v5.0.0 refuses that; consensus_raft v6.7.4
hands the lead over). Needs CITA_CLOUD_BIN_V6, root and the tools tests/live/runs_v6.py names.
Figures are printed (LIVE-V6 lines) and appended to $LIVE_V6_RECORD when set.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import time
from collections.abc import Iterator

import grpc
import pytest

from runner_k8s.releases.v6_7_4.accounts import Consensus, account_files, new_v6_account
from tests.conftest import run_script
from tests.live.rpc import Transaction, raw_transaction
from tests.live.runs_v6 import RPC_PORT, V6Chain, boot_v6_local, v6_bin_dir, wait_for
from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3
from tests.test_live import sm_signed
from tests.test_live_v6 import CORE, assert_same_blocks, check_boot, check_no_panic, heights, record, wait_for_height

pytestmark = [pytest.mark.live, pytest.mark.slow]

SLOW, FAST = 3, 1  # block intervals, seconds
GAP_BLOCKS = 8  # gaps measured on each side of the change
CHANGE_TIMEOUT = "240"


def rpc_list(chain: V6Chain, nodes: list[str] | None = None) -> str:
    pods = chain.cluster.pods
    return ",".join(f"{pods[name].address}:{RPC_PORT}" for name in nodes or list(chain.controllers))


def manage(chain: V6Chain, *argv: str) -> str:
    """manage_chain.py run as a user runs it; its stdout (it must succeed)."""
    result = run_script("manage_chain.py", *argv, cwd=chain.work)
    assert result.returncode == 0, f"manage_chain.py {' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    assert result.stderr.count("\n") <= 1 or "error" not in result.stderr
    return result.stdout


def change(chain: V6Chain, admin_dir: str, *argv: str) -> str:
    flags: tuple[str, ...] = ("--rpc", rpc_list(chain), "--admin_dir", admin_dir, "--chain_name", chain.chain)
    flags += ("--timeout", CHANGE_TIMEOUT)
    return manage(chain, *argv, *flags)


def gaps(chain: V6Chain, first: int, last: int) -> list[float]:
    """Seconds between consecutive blocks first..last (block timestamps, ms)."""
    node = next(iter(chain.controllers.values()))
    stamps = [node.block_timestamp(height) for height in range(first, last + 1)]
    return [(later - earlier) / 1000 for earlier, later in itertools.pairwise(stamps)]


def ordinary(chain: V6Chain, admin: str) -> tuple[bytes, bytes]:
    """An ordinary transaction signed by gmssl with the admin's key: (its hash, the RawTransaction)."""
    secret = int((chain.work / admin / "private_key").read_text(), 16)
    sender = gmssl_sm3(gmssl_sm2_public(secret))[12:]
    entry = next(iter(chain.controllers.values()))
    transaction = Transaction(
        to=bytes.fromhex("00" * 19 + "02"),
        nonce=str(int.from_bytes(os.urandom(8), "big")),
        quota=200_000,
        valid_until_block=entry.block_number() + 80,
        data=b"runner_k8s v6 brake test",
        value=bytes(32),
        chain_id=gmssl_sm3(chain.chain.encode()),
    )
    tx_hash, signature = sm_signed(secret, transaction.encode())
    return tx_hash, raw_transaction(transaction, tx_hash, signature, sender)


class TestOverlordGovernance:
    """local_cluster, 4 nodes, overlord, a block every 3 s."""

    @pytest.fixture(scope="class")
    @classmethod
    def chain(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[V6Chain]:
        v6_bin_dir("consensus_overlord", *CORE)
        yield from boot_v6_local(tmp_path_factory.mktemp("v6-gov"), "gov6", 4, "--block_interval", str(SLOW))

    @pytest.fixture(scope="class")
    @classmethod
    def admin(cls) -> dict[str, str]:
        return {"dir": "gov6-admin"}

    def test_boot(self, chain: V6Chain):
        check_boot(chain)

    def test_status_names_the_release(self, chain: V6Chain):
        out = manage(chain, "status", "--rpc", rpc_list(chain), "--chain_name", chain.chain)
        assert out.count("controller 6.7.4") == 4 and "in consensus" in out, out
        assert "block_interval  3 s" in out and "agreement: every node has block" in out, out

    def test_set_admin(self, chain: V6Chain, admin: dict[str, str]):
        account = new_v6_account(os.urandom, Consensus.OVERLORD)
        folder = chain.work / "successor-account"  # not <chain>-admin: no chain name is read from it
        folder.mkdir(mode=0o700)
        for name, entry in account_files(account).items():
            (folder / name).write_bytes(entry.data)
            (folder / name).chmod(entry.mode)
        started = time.monotonic()
        out = change(chain, admin["dir"], "set_admin", account.account.address, "--new_admin_dir", str(folder))
        assert "changed admin:" in out, out
        for controller in chain.controllers.values():
            assert controller.system_config().admin.hex() == account.node_address
        admin["dir"] = str(folder)
        record(chain, "set_admin", seconds=round(time.monotonic() - started, 1), heights=heights(chain))

    def test_emergency_brake_refuses_then_takes_an_ordinary_transaction(self, chain: V6Chain, admin: dict[str, str]):
        entry = next(iter(chain.controllers.values()))
        change(chain, admin["dir"], "emergency_brake", "on")
        tx_hash, raw = ordinary(chain, admin["dir"])
        with pytest.raises(grpc.RpcError) as refused:
            entry.send_raw_transaction(raw)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "EmergencyBrake" in str(refused.value.details())
        braked_at = entry.block_number()
        change(chain, admin["dir"], "emergency_brake", "off")
        tx_hash, raw = ordinary(chain, admin["dir"])
        assert entry.send_raw_transaction(raw) == tx_hash

        def packed() -> bool:
            return all(c.transaction_block_number(tx_hash) > 0 for c in chain.controllers.values())

        wait_for("the ordinary transaction packed on every node", packed, 120, chain.clusters)
        record(
            chain,
            "emergency brake",
            refused_with="EmergencyBrake",
            brake_on_height=braked_at,
            accepted_after_off_in_block=entry.transaction_block_number(tx_hash),
        )

    def test_set_block_interval_changes_the_pace(self, chain: V6Chain, admin: dict[str, str]):
        start = max(heights(chain).values())
        wait_for_height(chain, start + GAP_BLOCKS + 1, GAP_BLOCKS * SLOW * 6)
        before = gaps(chain, start + 1, start + GAP_BLOCKS + 1)
        out = change(chain, admin["dir"], "set_block_interval", str(FAST), "--json")
        applied = max(json.loads(out)["applied_at"].values())
        wait_for_height(chain, applied + GAP_BLOCKS + 2, GAP_BLOCKS * SLOW * 6)
        after = gaps(chain, applied + 2, applied + GAP_BLOCKS + 2)
        for controller in chain.controllers.values():
            assert controller.system_config().block_interval == FAST
        record(
            chain,
            "set_block_interval 3 -> 1",
            applied_at=applied,
            gaps_before_s=before,
            gaps_after_s=after,
            median_before_s=statistics.median(before),
            median_after_s=statistics.median(after),
        )
        assert statistics.median(before) >= SLOW - 0.5, before
        assert statistics.median(after) <= FAST + 1, after  # a loaded 2-core machine may add a little
        assert statistics.median(after) < statistics.median(before) / 1.5, (before, after)

    def test_remove_and_add_back_an_overlord_validator(self, chain: V6Chain, admin: dict[str, str]):
        node, folder = "gov6-3", chain.work / "cita-cloud" / "gov6" / "node3"  # the node folder local_cluster wrote
        address = "0x" + (folder / "node_address").read_text().strip()
        key = bytes.fromhex((folder / "validator_address").read_text().strip())
        started = time.monotonic()
        out = change(chain, admin["dir"], "remove_validator", address, "--node_dir", str(folder), "--yes")
        assert "blocks continue" in out, out
        assert all(key not in c.system_config().validators for c in chain.controllers.values())
        removed_at = max(heights(chain).values())
        wait_for_height(chain, removed_at + 5, 120, ["gov6-0", "gov6-1", "gov6-2"])
        node_rpc = f"{chain.cluster.pods[node].address}:{RPC_PORT}"
        out = change(chain, admin["dir"], "add_validator", address, "--node_dir", str(folder), "--node_rpc", node_rpc)
        assert "blocks continue" in out, out
        assert all(c.system_config().validators[-1] == key for c in chain.controllers.values())
        top = max(heights(chain).values())
        wait_for_height(chain, top + 5, 120)
        assert_same_blocks(chain, top + 5)
        record(chain, "overlord validator removed and added back", seconds=round(time.monotonic() - started, 1))

    def test_no_service_panicked_or_ended(self, chain: V6Chain):
        check_no_panic(chain)


class TestRaftLeaderRemoval:
    """local_cluster, 4 nodes, raft, a block every 2 s: its current leader is removed and blocks go on."""

    @pytest.fixture(scope="class")
    @classmethod
    def chain(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[V6Chain]:
        v6_bin_dir("consensus_raft", *CORE)
        tmp = tmp_path_factory.mktemp("v6-raftgov")
        yield from boot_v6_local(tmp, "rgov6", 4, "--consensus", "raft", "--block_interval", "2")

    def test_boot(self, chain: V6Chain):
        check_boot(chain)

    def test_removing_the_leader_hands_the_lead_over(self, chain: V6Chain):
        entry = next(iter(chain.controllers.values()))
        top = entry.block_number()
        leader = entry.block_proposer(top)
        folders = {f"rgov6-{index}": chain.work / "cita-cloud" / "rgov6" / f"node{index}" for index in range(4)}
        node = next(name for name, folder in folders.items() if (folder / "node_address").read_text() == leader.hex())
        started = time.monotonic()
        out = change(chain, "rgov6-admin", "remove_validator", "0x" + leader.hex())
        assert "is raft's leader: consensus_raft v6.7.4 hands the lead" in out, out
        assert all(leader not in c.system_config().validators for c in chain.controllers.values())
        others = [name for name in chain.controllers if name != node]
        applied = max(heights(chain)[name] for name in others)
        wait_for_height(chain, applied + 10, 180, others)
        proposers = {entry.block_proposer(height) for height in range(applied + 3, applied + 11)}
        assert leader not in proposers, "the removed leader still made blocks"
        block_gaps = gaps(chain, max(top - 5, 2), applied + 10)
        record(
            chain,
            "raft leader removed",
            removed=node,
            leader_height=top,
            applied_at=applied,
            seconds=round(time.monotonic() - started, 1),
            new_proposers=sorted(p.hex()[:8] for p in proposers),
            max_gap_s=max(block_gaps),
            gaps_s=block_gaps,
        )
        assert_same_blocks(chain, applied + 10, others)

    def test_no_service_panicked_or_ended(self, chain: V6Chain):
        check_no_panic(chain)
