"""A fake chain: in-process gRPC servers that answer as v5.0.0 (or, release="v6.7.4", v6.7.4) controllers do.

A v6.7.4 node answers GetNodeStatus and not GetVersion/GetPeerCount, reports SystemConfig 13-16,
refuses with INVALID_ARGUMENT and the StatusCodeEnum name, splits lock 1004 by the validators' entry
length (48-byte BLS keys on overlord, checked with py_ecc, 20-byte addresses on raft) and applies lock
1003 (a 4-byte big-endian u32, any other length "panics": the test fails).

Replies are encoded, and transactions decoded, with the hand-written encoder of tests/live/rpc.py; a
transaction is checked as the controller checks it (sender = admin, version, pre_tx_hash, hash and
signature) with independent libraries (gmssl, safe-pysha3, python-ecdsa), then applied as
utxo_set.rs applies it. The live tests prove the same on the real services.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ecdsa
import grpc
import sha3
from ecdsa.util import sigdecode_string

from tests.live.rpc import decode_message, encode_message, first_bytes, first_int
from tests.test_crypto_primitives import gmssl_sm2_key, gmssl_sm3

LOCKS = range(1000, 1006)
HANG_SECONDS = 1.0  # longer than the short RPC timeouts the tests give
V6_LOCKS = range(1000, 1008)
FORBIDDEN = "forbidden"
V6 = "v6.7.4"
V6_REASONS = {
    FORBIDDEN: "AdminCheckError",
    "Invalid version": "InvalidVersion",
    "Invalid lock_id": "InvalidLockId",
    "Invalid pre_tx_hash": "InvalidPreHash",
    "Invalid utxo tx hash": "HashCheckError",
    "Invalid sender index: 0": "SigCheckError",
    "dup": "DupTransaction",
    "invalid witnesses": "InvalidWitness",
}


def is_bls_key(data: bytes) -> bool:
    """A compressed BLS12-381 G1 public key in the subgroup, by py_ecc (not runner_k8s's own code)."""
    from eth_typing import BLSPubkey
    from py_ecc.bls.ciphersuites import G2ProofOfPossession

    return bool(G2ProofOfPossession.KeyValidate(BLSPubkey(data)))  # the encoding, the curve, the subgroup, not zero


def oracle_hash(flavour: str, data: bytes) -> bytes:
    return gmssl_sm3(data) if flavour == "sm" else sha3.keccak_256(data).digest()


def recovered_sender(flavour: str, tx_hash: bytes, signature: bytes) -> bytes:
    """The address kms_sm / kms_eth would recover from the signature, by independent code; b"" if invalid."""
    if flavour == "sm":
        if len(signature) != 128:
            return b""
        public = signature[64:]
        if not gmssl_sm2_key(public).verify_with_sm3(signature[:64].hex(), tx_hash):
            return b""
        return gmssl_sm3(public)[-20:]
    if len(signature) != 65 or signature[64] > 3:
        return b""
    try:
        keys = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
            signature[:64], tx_hash, curve=ecdsa.SECP256k1, sigdecode=sigdecode_string
        )
    except (ecdsa.BadSignatureError, ValueError, IndexError):
        return b""
    public = keys[signature[64]].to_string() if signature[64] < len(keys) else b""
    return sha3.keccak_256(public).digest()[-20:] if public else b""


@dataclass
class Tweak:
    """How one node departs from the chain: behind it, on a fork, with another config, refusing txs."""

    lag: int = 0  # negative: ahead of the chain
    lag_answers: int | None = None  # the lag holds for this many GetBlockNumber answers, then the node is level
    fork: bool = False  # every block another one
    fork_from: int | None = None  # the blocks from this height on another one
    config: dict[str, Any] = field(default_factory=dict)
    reject: str = ""
    chain_id: bytes | None = None
    answer_hash: bytes | None = None  # SendRawTransaction answers this hash and takes nothing
    unavailable: set[str] = field(default_factory=set)  # calls answered UNAVAILABLE, as by a node that went away
    gone_after_send: bool = False  # every call but SendRawTransaction UNAVAILABLE once a transaction was sent
    hang: set[str] = field(default_factory=set)  # calls answered only after HANG_SECONDS (a node that stalls)
    hang_after: dict[str, int] = field(default_factory=dict)  # method -> calls answered at once before it stalls
    gone_after: dict[str, int] = field(default_factory=dict)  # method -> calls answered before it goes UNAVAILABLE
    answered: dict[str, int] = field(default_factory=dict)  # method -> calls so far
    node_address: bytes = b""  # v6.7.4: what GetNodeStatus names the node by
    is_sync: bool = False
    peers: Callable[[], list[tuple[bytes, int]]] | None = None  # v6.7.4: GetNodeStatus's peers, when a test models them

    def forked(self, height: int) -> bool:
        return self.fork or (self.fork_from is not None and height >= self.fork_from)


GOVERNED = {1002: "admin", 1003: "block_interval", 1004: "validators", 1005: "emergency_brake"}


@dataclass
class Chain:
    """The state every fake node serves (one chain: they agree unless a Tweak says otherwise).

    A node reports the system config of its own height: a change applied at a height it has not
    reached yet is not applied on that node (as a lagging controller has not finalized its block).
    """

    flavour: str
    chain_id: bytes
    admin: bytes
    validators: list[bytes]
    leader: bytes = b""
    height: int = 100
    block_interval: int = 6
    emergency_brake: bool = False
    version: int = 0
    pre_hashes: dict[int, bytes] = field(default_factory=lambda: {lock: bytes(33) for lock in LOCKS})
    auto_advance: bool = False  # every GetBlockNumber answered makes one block
    halt_at: int | None = None  # auto_advance makes no block past this height
    apply: bool = True  # False: accepted transactions are never applied (a stuck chain)
    accepted: list[bytes] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    changes: list[tuple[int, int, bytes, Any]] = field(default_factory=list)  # (height, lock, old pre-hash, old value)
    release: str = "v5.0.0"
    tweaks: list[Tweak] = field(default_factory=list)
    quota_limit: int = 1073741824
    block_limit: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def state_at(self, height: int) -> tuple[dict[str, Any], dict[int, bytes]]:
        """The governed values and pre-hashes a node at `height` reports."""
        values = {name: getattr(self, name) for name in GOVERNED.values()}
        pre_hashes = dict(self.pre_hashes)
        for applied_at, lock, old_pre_hash, old_value in reversed(self.changes):
            if applied_at > height:
                values[GOVERNED[lock]], pre_hashes[lock] = old_value, old_pre_hash
        return values, pre_hashes

    def system_config(self, tweak: Tweak, height: int) -> bytes:
        governed, pre_hashes = self.state_at(height)
        values: dict[str, Any] = {
            "version": self.version,
            "chain_id": tweak.chain_id or self.chain_id,
            "block_interval": self.block_interval,
            **governed,
        } | tweak.config
        fields: list[tuple[int, Any]] = [(1, values["version"]), (2, values["chain_id"]), (3, values["admin"])]
        fields += [(4, values["block_interval"])] + [(5, validator) for validator in values["validators"]]
        fields += [(6, int(values["emergency_brake"]))]
        fields += [(7 + index, pre_hashes[lock]) for index, lock in enumerate(LOCKS)]
        if self.release == V6:
            fields += [(13, self.quota_limit), (14, pre_hashes.get(1007, bytes(33)))]
            fields += [(15, self.block_limit), (16, pre_hashes.get(1006, bytes(33)))]
        return encode_message(fields)

    def node_status(self, tweak: Tweak, height: int, peers: list[tuple[bytes, int]]) -> bytes:
        """common.NodeStatus as controller v6.7.4 fills it (controller.rs get_node_status)."""
        self_status = encode_message([(1, height), (2, tweak.node_address)])
        fields: list[tuple[int, Any]] = [(1, int(tweak.is_sync)), (2, "6.7.4"), (3, self_status), (4, len(peers))]
        for address, peer_height in peers:
            net = encode_message([(1, "/dns4/localhost/tcp/40000/tls/peer"), (2, int.from_bytes(address[:8], "big"))])
            fields.append((5, encode_message([(1, peer_height), (2, address), (3, net)])))
        fields += [(7, 1)]
        return encode_message(fields)

    def check_and_apply(self, raw: bytes) -> tuple[bytes, str]:
        """The controller's checks of a UTXO transaction (auth.rs), then its finalization (utxo_set.rs)."""
        unverified = decode_message(first_bytes(decode_message(raw), 2))
        witnesses = [decode_message(item) for item in unverified.get(3, []) if isinstance(item, bytes)]
        if len(witnesses) != 1:
            return b"", "invalid witnesses"
        sender, signature = first_bytes(witnesses[0], 2), first_bytes(witnesses[0], 1)
        if sender != self.admin:
            return b"", FORBIDDEN
        utxo = decode_message(first_bytes(unverified, 1))
        version, pre, output, lock = first_int(utxo, 1), first_bytes(utxo, 2), first_bytes(utxo, 3), first_int(utxo, 4)
        if version != self.version:
            return b"", "Invalid version"
        if lock not in (V6_LOCKS if self.release == V6 else LOCKS):
            return b"", "Invalid lock_id"
        if pre != self.pre_hashes[lock]:
            return b"", "Invalid pre_tx_hash"
        tx_hash = first_bytes(unverified, 2)
        canonical = encode_message([(1, version), (2, pre), (3, output), (4, lock)])
        if oracle_hash(self.flavour, canonical) != tx_hash:
            return b"", "Invalid utxo tx hash"
        if recovered_sender(self.flavour, tx_hash, signature) != sender:
            return b"", "Invalid sender index: 0"
        if tx_hash in self.accepted:
            return b"", "dup"
        self.accepted.append(tx_hash)
        if self.apply:
            self._apply(lock, output, tx_hash)
        return tx_hash, ""

    def _apply(self, lock: int, output: bytes, tx_hash: bytes) -> None:
        if lock not in GOVERNED:
            raise AssertionError(f"the tool must not send lock {lock}")
        self.height += 1  # the block that holds the transaction, finalized: the change applies there
        self.changes.append((self.height, lock, self.pre_hashes[lock], getattr(self, GOVERNED[lock])))
        if self.release == V6:
            self._apply_v6(lock, output)
        elif lock == 1002:
            assert len(output) == 20
            self.admin = output
        elif lock == 1004:
            assert output and len(output) % 20 == 0
            self.validators = [output[i : i + 20] for i in range(0, len(output), 20)]
        elif lock == 1005:
            self.emergency_brake = bool(output)
        else:
            raise AssertionError(f"the tool must not send lock {lock} to a v5.0.0 chain")
        self.pre_hashes[lock] = tx_hash

    def _apply_v6(self, lock: int, output: bytes) -> None:
        """system_config.rs match_data: what v6.7.4 applies (a wrong length of 1000/1003/1007 panics it)."""
        if lock == 1002:
            assert len(output) == 20
            self.admin = output
        elif lock == 1003:
            assert len(output) == 4, "u32_decode panics every controller"
            self.block_interval = int.from_bytes(output, "big")
        elif lock == 1004:
            size = len(self.validators[0])
            assert output and len(output) % size == 0
            entries = [output[i : i + size] for i in range(0, len(output), size)]
            assert size == 20 or all(is_bls_key(entry) for entry in entries), "overlord panics on a bad key"
            self.validators = entries
        else:
            self.emergency_brake = bool(output)


def block_hash(height: int, fork: bool = False) -> bytes:
    return hashlib.sha256(f"{'fork' if fork else 'block'} {height}".encode()).digest()


class FakeNode:
    """One node's RPCService, served by grpcio on 127.0.0.1."""

    def __init__(self, chain: Chain, tweak: Tweak) -> None:
        self.chain, self.tweak = chain, tweak

    def height(self) -> int:
        asked, until = self.tweak.answered.get("GetBlockNumber", 0), self.tweak.lag_answers
        return self.chain.height - (self.tweak.lag if until is None or asked <= until else 0)

    def handlers(self) -> dict[str, Callable[[bytes, grpc.ServicerContext], bytes]]:
        chain, tweak = self.chain, self.tweak

        def get_block_number(request: bytes, context: grpc.ServicerContext) -> bytes:
            with chain.lock:
                if chain.auto_advance and (chain.halt_at is None or chain.height < chain.halt_at):
                    chain.height += 1
                return encode_message([(1, self.height())])

        def get_block_hash(request: bytes, context: grpc.ServicerContext) -> bytes:
            height = first_int(decode_message(request), 1)
            if height > self.height():
                context.abort(grpc.StatusCode.INTERNAL, "load block hash failed")
            return encode_message([(1, block_hash(height, tweak.forked(height)))])

        def get_block_by_number(request: bytes, context: grpc.ServicerContext) -> bytes:
            height = first_int(decode_message(request), 1)
            if height > self.height():
                context.abort(grpc.StatusCode.INTERNAL, "can't find block by number")
            header = encode_message(
                [
                    (1, block_hash(height - 1, tweak.forked(height - 1))),
                    (2, 1_700_000_000_000 + height),
                    (3, height),
                    (5, chain.leader),
                ]
            )
            return encode_message([(2, header), (3, b"")])

        v6 = chain.release == V6
        refusal = grpc.StatusCode.INVALID_ARGUMENT if v6 else grpc.StatusCode.INTERNAL

        def send_raw_transaction(request: bytes, context: grpc.ServicerContext) -> bytes:
            if tweak.reject:
                context.abort(refusal, tweak.reject)
            if tweak.answer_hash is not None:
                return encode_message([(1, tweak.answer_hash)])
            with chain.lock:
                tx_hash, reason = chain.check_and_apply(request)
            if reason:
                context.abort(refusal, V6_REASONS.get(reason, reason) if v6 else reason)
            return encode_message([(1, tx_hash)])

        def get_node_status(request: bytes, context: grpc.ServicerContext) -> bytes:
            if tweak.peers is not None:
                return chain.node_status(tweak, self.height(), tweak.peers())
            peers = [(other.node_address, chain.height - other.lag) for other in chain.tweaks if other is not tweak]
            return chain.node_status(tweak, self.height(), peers)

        if v6:
            return {
                "GetBlockNumber": get_block_number,
                "GetBlockHash": get_block_hash,
                "GetBlockByNumber": get_block_by_number,
                "GetSystemConfig": lambda request, context: chain.system_config(tweak, self.height()),
                "GetNodeStatus": get_node_status,
                "SendRawTransaction": send_raw_transaction,
            }
        return {
            "GetBlockNumber": get_block_number,
            "GetBlockHash": get_block_hash,
            "GetBlockByNumber": get_block_by_number,
            "GetSystemConfig": lambda request, context: chain.system_config(tweak, self.height()),
            "GetPeerCount": lambda request, context: encode_message([(1, 2)]),
            "GetVersion": lambda request, context: encode_message([(1, "5.0.0")]),
            "SendRawTransaction": send_raw_transaction,
        }


def _logged(chain: Chain, tweak: Tweak, name: str, handler: Callable[[bytes, grpc.ServicerContext], bytes]) -> Any:
    def call(request: bytes, context: grpc.ServicerContext) -> bytes:
        chain.calls.append(name)
        gone = tweak.gone_after_send and name != "SendRawTransaction" and "SendRawTransaction" in chain.calls
        gone = gone or tweak.answered.get(name, 0) >= tweak.gone_after.get(name, tweak.answered.get(name, 0) + 1)
        if name in tweak.unavailable or gone:
            context.abort(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: gone")
        tweak.answered[name] = tweak.answered.get(name, 0) + 1
        if name in tweak.hang or tweak.answered[name] > tweak.hang_after.get(name, tweak.answered[name]):
            time.sleep(HANG_SECONDS)
        return handler(request, context)

    return grpc.unary_unary_rpc_method_handler(call)  # bytes in, bytes out: the oracle does the encoding


@contextmanager
def running(chain: Chain, tweaks: list[Tweak]) -> Iterator[list[str]]:
    """One server per tweak (one per node); yields their addresses."""
    servers, addresses = [], []
    chain.tweaks = tweaks
    try:
        for tweak in tweaks:
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            handlers = {name: _logged(chain, tweak, name, fn) for name, fn in FakeNode(chain, tweak).handlers().items()}
            server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("controller.RPCService", handlers)])
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            servers.append(server)
            addresses.append(f"127.0.0.1:{port}")
        yield addresses
    finally:
        for server in servers:
            server.stop(grace=None)
