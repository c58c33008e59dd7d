"""Live: manage_chain.py governs a running 3-node chain of the real v5.0.0 services (tests/live/kubelet.py).

One bounded scenario per kms flavour. manage_chain.py runs as a user runs it (a subprocess, the admin
password on standard input); what it reports and changes is checked with the test harness's own
client (tests/live/rpc.py: a hand-written protobuf encoder over grpcio), and transactions it must not
send are built and signed here with independent libraries (gmssl, safe-pysha3, python-ecdsa), so the
chain itself says what it refuses. Heights and times of every step are printed (run with -s).

The chains are made with `--block_interval 2` (the default is 6 s), so the scenario takes minutes,
not a quarter of an hour.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ecdsa
import grpc
import pytest
import sha3
from ecdsa.util import sigencode_string

from tests.conftest import Completed, run_script
from tests.live.rpc import Controller, Transaction, UtxoTransaction, raw_transaction, raw_utxo_transaction
from tests.live.runs import PASSWORD, RPC_PORT, LiveChain, boot_local_chain, wait_until
from tests.test_live import (
    ETH_SERVICE_CONFIG,
    admin_secret,
    assert_same_blocks,
    live_bin_dir,
    safe_heights,
    service_log_panics,
    sm_signed,
    wait_for_height,
)

pytestmark = [pytest.mark.live, pytest.mark.slow]

NODES = 3
BLOCK_INTERVAL = 2
NEW_ADMIN_PASSWORD = "new-admin-pass"
STEP_TIMEOUT = 180.0
Signer = Callable[[int, bytes], tuple[bytes, bytes]]


def eth_signed_by_ecdsa(secret: int, tx_bytes: bytes) -> tuple[bytes, bytes]:
    """kms_eth's scheme by safe-pysha3 and python-ecdsa: Keccak-256, then r ‖ s (low s) ‖ recovery id."""
    tx_hash = sha3.keccak_256(tx_bytes).digest()
    key = ecdsa.SigningKey.from_secret_exponent(secret, curve=ecdsa.SECP256k1)
    order = ecdsa.SECP256k1.order
    signature = key.sign_digest_deterministic(tx_hash, sigencode=sigencode_string)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if s > order // 2:
        s = order - s
    compact = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    public = key.get_verifying_key().to_string()
    keys = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
        compact, tx_hash, curve=ecdsa.SECP256k1, sigdecode=ecdsa.util.sigdecode_string
    )
    v = next(index for index, candidate in enumerate(keys) if candidate.to_string() == public)
    return tx_hash, compact + bytes([v])


@dataclass
class Scenario:
    """A running chain, how to call manage_chain.py on it, and the journal of what happened when."""

    chain: LiveChain
    flavour: str
    sign: Signer
    started: float = field(default_factory=time.monotonic)
    journal: list[str] = field(default_factory=list)

    @property
    def controllers(self) -> dict[str, Controller]:
        return self.chain.controllers

    @property
    def rpc(self) -> str:
        return ",".join(f"{pod.address}:{RPC_PORT}" for pod in self.chain.cluster.pods.values())

    def rpc_of(self, pod: str) -> str:
        return f"{self.chain.cluster.pods[pod].address}:{RPC_PORT}"

    def address_of(self, index: int) -> bytes:
        text = (self.chain.storage / "cita-cloud" / self.chain.chain / f"node{index}" / "node_address").read_text()
        return bytes.fromhex(text[2:])

    def pod_of(self, address: bytes) -> str:
        index = next(i for i in range(NODES) if self.address_of(i) == address)
        return f"{self.chain.chain}-{index}"

    def note(self, step: str) -> None:
        line = f"t+{time.monotonic() - self.started:6.1f}s {step}; heights {safe_heights(self.controllers)}"
        self.journal.append(line)
        print(f"[{self.flavour}] {line}", flush=True)

    def manage(self, *args: str, password: str = PASSWORD) -> Completed:
        """manage_chain.py as a user runs it, the password on standard input."""
        return run_script("manage_chain.py", *args, cwd=self.chain.work, stdin=password + "\n")

    def change(self, verb: str, *args: str, admin_dir: Path, password: str, extra: tuple[str, ...] = ()) -> Completed:
        return self.manage(
            verb,
            *args,
            "--rpc",
            self.rpc,
            "--chain_name",
            self.chain.chain,
            "--admin_dir",
            str(admin_dir),
            "--admin_password_file",
            "-",
            "--timeout",
            str(STEP_TIMEOUT),
            "--json",
            *extra,
            password=password,
        )

    def wait_blocks(self, count: int, what: str) -> int:
        """Wait until every node is `count` blocks past the highest height now; return that height."""
        target = max(safe_heights(self.controllers).values()) + count
        wait_for_height(self.controllers, target, STEP_TIMEOUT, self.chain.cluster)
        self.note(f"{what}: every node at height >= {target}")
        return target

    def same_blocks_everywhere(self, up_to: int) -> None:
        assert_same_blocks(self.controllers, up_to)


def ok(result: Completed) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def refused(result: Completed, reason: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and reason in line, line
    return line


def check_status_matches_the_controllers(scenario: Scenario) -> None:
    """Step 1: every node in status --json is what that node's controller says through the test client."""
    wait_until(  # p2p counts outbound sessions only, dialled every 15 s: wait until every node has made its own
        "every node connected to every other",
        lambda: all(c.peer_count() == NODES - 1 for c in scenario.controllers.values()),
        STEP_TIMEOUT,
        scenario.chain.cluster,
    )
    report = ok(scenario.manage("status", "--rpc", scenario.rpc, "--chain_name", scenario.chain.chain, "--json"))
    assert report["agree"] is True, report["problems"]
    by_address = {entry["address"]: entry for entry in report["nodes"]}
    for name, controller in scenario.controllers.items():
        entry = by_address[scenario.rpc_of(name)]
        config = controller.system_config()
        reported = entry["system_config"]
        assert (
            reported["chain_id"]
            == "0x" + config.chain_id.hex()
            == "0x" + hashlib.sha256(scenario.chain.chain.encode()).hexdigest()
        )
        assert reported["admin"] == "0x" + config.admin.hex()
        assert reported["validators"] == ["0x" + v.hex() for v in config.validators]
        assert reported["block_interval"] == config.block_interval == BLOCK_INTERVAL
        assert reported["emergency_brake"] == config.emergency_brake
        assert reported["version"] == config.version
        assert list(reported["pre_hashes"].values()) == ["0x" + h.hex() for h in config.pre_hashes]
        height = entry["height"]
        assert height <= controller.block_number()
        assert entry["block_hash"] == "0x" + controller.block_hash(height).hex()
        assert entry["proposer"] == "0x" + controller.block_proposer(height).hex()
        assert entry["peer_count"] == controller.peer_count() == NODES - 1
        assert entry["software_version"] == "5.0.0"
    scenario.note("status matches every controller")


def old_admin_transaction(scenario: Scenario, secret: int, sender: bytes) -> bytes:
    """A brake-on transaction signed by the old admin, built and signed by the test's own code."""
    config = next(iter(scenario.controllers.values())).system_config()
    utxo = UtxoTransaction(config.version, config.pre_hashes[5], b"\x01", 1005)
    tx_hash, signature = scenario.sign(secret, utxo.encode())
    return raw_utxo_transaction(utxo, tx_hash, signature, sender)


def ordinary_transaction(scenario: Scenario, secret: int, sender: bytes) -> tuple[bytes, bytes]:
    entry = next(iter(scenario.controllers.values()))
    transaction = Transaction(
        to=bytes.fromhex("00" * 19 + "01"),
        nonce=os.urandom(8).hex(),
        quota=3_000_000,
        valid_until_block=entry.block_number() + 50,
        data=b"an ordinary transaction of the governance live test",
        value=bytes(32),
        chain_id=hashlib.sha256(scenario.chain.chain.encode()).digest(),
    )
    tx_hash, signature = scenario.sign(secret, transaction.encode())
    return tx_hash, raw_transaction(transaction, tx_hash, signature, sender)


def rejected_by_chain(controller: Controller, raw: bytes) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        controller.send_raw_transaction(raw)
    error = caught.value
    assert isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.INTERNAL
    return str(error.details())


def hand_over_admin(scenario: Scenario) -> Path:
    """Step 2: a new admin made by create_account.py; the old one is refused by the chain and by the tool."""
    work = scenario.chain.work
    old_dir = work / f"{scenario.chain.chain}-admin"
    secret, old_sender = admin_secret(scenario.chain)
    (work / "key_file").write_text(NEW_ADMIN_PASSWORD + "\n")
    made = run_script("create_account.py", "--kms_type", scenario.flavour, cwd=work)
    assert made.returncode == 0, made.stderr
    new_address = made.stdout.strip().rsplit("address:", 1)[1]
    new_dir = work / new_address
    report = ok(
        scenario.change(
            "set_admin", new_address, admin_dir=old_dir, password=PASSWORD, extra=("--new_admin_dir", str(new_dir))
        )
    )
    assert report["after"] == new_address and len(report["applied_at"]) == NODES
    for controller in scenario.controllers.values():
        assert "0x" + controller.system_config().admin.hex() == new_address
    scenario.note(f"admin is {new_address} on every node ({report['seconds']} s)")
    reason = rejected_by_chain(
        next(iter(scenario.controllers.values())), old_admin_transaction(scenario, secret, old_sender)
    )
    assert reason == "forbidden", reason
    line = refused(
        scenario.change("emergency_brake", "on", admin_dir=old_dir, password=PASSWORD), "is not the chain's admin"
    )
    assert "nothing was sent" in line
    scenario.note("the old admin is refused by the chain ('forbidden') and by manage_chain.py")
    return new_dir


def brake(scenario: Scenario, admin_dir: Path) -> None:
    """Step 3: brake on refuses an ordinary transaction; brake off takes it again."""
    secret, sender = admin_secret(scenario.chain)  # any account may send ordinary transactions: the old admin's
    report = ok(scenario.change("emergency_brake", "on", admin_dir=admin_dir, password=NEW_ADMIN_PASSWORD))
    assert report["after"] is True
    scenario.note(f"emergency brake on, applied on every node ({report['seconds']} s)")
    for controller in scenario.controllers.values():
        _, raw = ordinary_transaction(scenario, secret, sender)
        assert rejected_by_chain(controller, raw) == "forbidden"
    scenario.note("an ordinary transaction is refused by every node: 'forbidden'")
    ok(scenario.change("emergency_brake", "off", admin_dir=admin_dir, password=NEW_ADMIN_PASSWORD))
    tx_hash, raw = ordinary_transaction(scenario, secret, sender)
    entry = next(iter(scenario.controllers.values()))
    assert entry.send_raw_transaction(raw) == tx_hash

    def included_everywhere() -> bool:
        return all(
            tx_hash in c.block_tx_hashes(c.transaction_block_number(tx_hash)) for c in scenario.controllers.values()
        )

    wait_until(
        "the ordinary transaction in a block on every node", included_everywhere, STEP_TIMEOUT, scenario.chain.cluster
    )
    scenario.note(
        f"emergency brake off: the ordinary transaction is in block {entry.transaction_block_number(tx_hash)}"
    )


def latest_proposer(scenario: Scenario) -> bytes:
    entry = next(iter(scenario.controllers.values()))
    return entry.block_proposer(entry.block_number())


def remove_and_add_back(scenario: Scenario, admin_dir: Path) -> None:
    """Step 4: remove a validator that is not leading; blocks go on without it; add it back; it votes again."""
    validators = next(iter(scenario.controllers.values())).system_config().validators
    leader = latest_proposer(scenario)
    line = refused(
        scenario.change("remove_validator", "0x" + leader.hex(), admin_dir=admin_dir, password=NEW_ADMIN_PASSWORD),
        "raft's leader",
    )
    scenario.note(f"removing the leader 0x{leader.hex()} is refused: {line.split('error: ', 1)[1][:90]}…")
    victim = next(address for address in validators if address != leader)
    victim_hex = "0x" + victim.hex()
    refused(
        scenario.change("remove_validator", victim_hex, admin_dir=admin_dir, password=NEW_ADMIN_PASSWORD),
        "pass --yes",
    )
    report = ok(
        scenario.change(
            "remove_validator", victim_hex, admin_dir=admin_dir, password=NEW_ADMIN_PASSWORD, extra=("--yes",)
        )
    )
    applied = max(report["applied_at"].values())
    remaining = [address for address in validators if address != victim]
    for controller in scenario.controllers.values():
        assert controller.system_config().validators == remaining
    blocks = report["blocks_continue"]
    scenario.note(f"validator {victim_hex} removed by height {applied} ({report['seconds']} s); then {blocks}")
    after = scenario.wait_blocks(6, "blocks continue without the removed validator")
    entry = next(iter(scenario.controllers.values()))
    proposers = {entry.block_proposer(height) for height in range(applied + 2, after + 1)}
    assert victim not in proposers and proposers <= set(remaining), proposers
    scenario.same_blocks_everywhere(after)
    victim_pod = scenario.pod_of(victim)
    scenario.note(f"the removed validator {victim_hex} is {victim_pod}; the leader is {scenario.pod_of(leader)}")
    report = ok(
        scenario.change(
            "add_validator",
            victim_hex,
            admin_dir=admin_dir,
            password=NEW_ADMIN_PASSWORD,
            extra=("--node_rpc", scenario.rpc_of(victim_pod)),
        )
    )
    for controller in scenario.controllers.values():
        assert controller.system_config().validators == [*remaining, victim]
    scenario.note(f"validator {victim_hex} added back ({report['seconds']} s); blocks: {report['blocks_continue']}")
    # It votes again: with a third validator stopped, the chain makes blocks only with the victim's vote.
    bystander = next(
        name
        for name in scenario.controllers
        if name != victim_pod and scenario.pod_of(latest_proposer(scenario)) != name
    )
    scenario.note(f"stopping {bystander}, neither the re-added validator nor the one that made the latest block")
    scenario.chain.cluster.stop_pod(bystander)
    others = {name: c for name, c in scenario.controllers.items() if name != bystander}
    start = max(safe_heights(others).values())
    wait_for_height(others, start + 3, STEP_TIMEOUT, scenario.chain.cluster)
    scenario.note(f"with {bystander} stopped, blocks continue to {start + 3}: the re-added validator votes")
    scenario.chain.cluster.start_pod(bystander)
    final = scenario.wait_blocks(3, f"{bystander} restarted and caught up")
    scenario.same_blocks_everywhere(final)
    scenario.note(f"every node has the same {final} blocks")


def boot(tmp_path: Path, name: str, *extra: str) -> Generator[LiveChain, None, None]:
    interval = ("--block_interval", str(BLOCK_INTERVAL))
    return boot_local_chain(tmp_path, live_bin_dir(), name, "--peers_count", str(NODES), *interval, *extra)


def finish(scenario: Scenario) -> None:
    assert service_log_panics(scenario.chain.cluster, scenario.chain.storage) == []
    assert scenario.chain.cluster.exited() == []
    print(f"[{scenario.flavour}] journal:\n  " + "\n  ".join(scenario.journal), flush=True)


def test_sm_chain_is_governed_by_manage_chain(tmp_path: Path):
    chains = boot(tmp_path, "gov-sm")
    chain = next(chains)
    try:
        scenario = Scenario(chain, "sm", sm_signed)
        wait_for_height(chain.controllers, 3, 300, chain.cluster)
        scenario.note("chain up")
        check_status_matches_the_controllers(scenario)
        new_admin = hand_over_admin(scenario)
        brake(scenario, new_admin)
        remove_and_add_back(scenario, new_admin)
        check_status_matches_the_controllers(scenario)
        finish(scenario)
    finally:
        chains.close()


def test_eth_chain_is_governed_by_manage_chain(tmp_path: Path):
    config = tmp_path / "eth-service-config.toml"
    config.write_text(ETH_SERVICE_CONFIG)
    chains = boot(tmp_path, "gov-eth", "--service_config", str(config))
    chain = next(chains)
    try:
        scenario = Scenario(chain, "eth", eth_signed_by_ecdsa)
        wait_for_height(chain.controllers, 3, 300, chain.cluster)
        scenario.note("chain up")
        check_status_matches_the_controllers(scenario)
        new_admin = hand_over_admin(scenario)
        remove_and_add_back(scenario, new_admin)
        finish(scenario)
    finally:
        chains.close()
