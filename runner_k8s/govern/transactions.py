"""Governance transactions of CITA-Cloud v5.0.0 and v6.7.4, pure: the chain's system config in, signed bytes out.

Every change is one UtxoTransaction {version, pre_tx_hash, output, lock_id} signed by the super
admin. The controller re-encodes it (prost: fields in number order, defaults left out, as protobuf
does), hashes the bytes with the kms's hash (SM3 or Keccak-256) and checks that the hash, the
signature and the sender (= the current admin) match, and that pre_tx_hash is the hash of the last
transaction applied to the lock (33 zero bytes before the first). Outputs are not checked at send
time: the rules below refuse every output the v5.0.0 controller would apply wrongly or crash on, and
releases/v6_7_4/govrules.py holds v6.7.4's. Both releases hash, sign and encode alike (SM3, SM2 with
the default id, the same field numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from runner_k8s.errors import CheckError
from runner_k8s.keys.accounts import Account, RandBytes, flavour_hash
from runner_k8s.keys.signing import sign_hash
from runner_k8s.releases.v6_7_4 import govrules

V5 = "v5.0.0"
V6 = govrules.RELEASE

ADDRESS_BYTES = 20
CHAIN_ID_BYTES = 32
U32_BYTES = 4
INITIAL_PRE_HASH = bytes(33)  # utxo_set.rs: `vec![0u8; 33]` for every lock until its first transaction
BRAKE_ON = b"\x01"  # any non-empty output switches the brake on; the empty output switches it off


class Lock(IntEnum):
    """The lock ids of the v5.0.0 controller (utxo_set.rs), one per governed value."""

    VERSION = 1000
    CHAIN_ID = 1001
    ADMIN = 1002
    BLOCK_INTERVAL = 1003
    VALIDATORS = 1004
    EMERGENCY_BRAKE = 1005

    @property
    def label(self) -> str:
        """The value's name as GetSystemConfig spells it."""
        return self.name.lower()


@dataclass(frozen=True)
class SystemConfig:
    """What a controller reports in GetSystemConfig: the governed values and each lock's pre-hash."""

    version: int
    chain_id: bytes
    admin: bytes
    block_interval: int
    validators: tuple[bytes, ...]
    emergency_brake: bool
    pre_hashes: dict[Lock, bytes] = field(default_factory=dict)
    release: str = V5  # V6: the node answered GetNodeStatus
    quota_limit: int = 0  # v6.7.4 only
    block_limit: int = 0  # v6.7.4 only

    def pre_hash(self, lock: Lock) -> bytes:
        """The hash the next transaction of `lock` must name as its pre_tx_hash."""
        return self.pre_hashes.get(lock, INITIAL_PRE_HASH)

    def value(self, lock: Lock) -> object:
        """The value `lock` governs, as GetSystemConfig reports it."""
        values: dict[Lock, object] = {
            Lock.VERSION: self.version,
            Lock.CHAIN_ID: self.chain_id,
            Lock.ADMIN: self.admin,
            Lock.BLOCK_INTERVAL: self.block_interval,
            Lock.VALIDATORS: self.validators,
            Lock.EMERGENCY_BRAKE: self.emergency_brake,
        }
        return values[lock]


def hex0x(data: bytes) -> str:
    """`0x` + lowercase hex."""
    return "0x" + data.hex()


def parse_address(text: str) -> bytes:
    """An account address: `0x` + 40 hex digits (the prefix may be left out), as 20 bytes."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) != 2 * ADDRESS_BYTES or not all(char in "0123456789abcdefABCDEF" for char in body):
        raise CheckError(f"{text!r} is not an address: give 0x and 40 hex digits (20 bytes), as in node_address")
    return bytes.fromhex(body)


# --- outputs: what each lock accepts ---------------------------------------------------------------


def admin_output(config: SystemConfig, new_admin: bytes) -> bytes:
    """Lock 1002: the new admin's 20-byte address."""
    if len(new_admin) != ADDRESS_BYTES:
        raise CheckError(f"an admin is {ADDRESS_BYTES} bytes, not {len(new_admin)}")
    if new_admin == config.admin:
        raise CheckError(f"{hex0x(new_admin)} is already the admin; nothing to change")
    return new_admin


def brake_output(config: SystemConfig, on: bool) -> bytes:
    """Lock 1005: one byte to switch the brake on, nothing to switch it off."""
    if on == config.emergency_brake:
        raise CheckError(f"the emergency brake is already {'on' if on else 'off'}; nothing to change")
    return BRAKE_ON if on else b""


def added_validators(config: SystemConfig, address: bytes) -> tuple[bytes, ...]:
    """The validator set with `address` appended (the order of the others kept)."""
    if address in config.validators:
        raise CheckError(f"{hex0x(address)} is already a validator; nothing to change")
    return (*config.validators, address)


def removed_validators(config: SystemConfig, address: bytes) -> tuple[bytes, ...]:
    """The validator set without `address`; never the empty set."""
    if address not in config.validators:
        raise CheckError(
            f"{hex0x(address)} is not a validator (the validators are {', '.join(map(hex0x, config.validators))})"
        )
    if len(config.validators) == 1:
        raise CheckError(
            f"{hex0x(address)} is the last validator: a chain without validators makes no more blocks "
            "(consensus_raft refuses to remove every voter); add another validator first"
        )
    return tuple(validator for validator in config.validators if validator != address)


def validators_output(current: Sequence[bytes], new: Sequence[bytes]) -> bytes:
    """Lock 1004: the 20-byte addresses concatenated, checked to be one membership change from `current`.

    The controller accepts any multiple of 20 bytes, even none; consensus_raft then proposes every
    difference as one raft configuration change. No voters breaks raft on every node; two or more
    changes make a joint configuration whose leave step v5.0.0 can lose (the raft membership and the
    controller's list then differ until a controller restarts). So: one change, at least one validator.
    """
    if not new:
        raise CheckError("a validator set cannot be empty: raft would have no voters and the chain would stop")
    if any(len(address) != ADDRESS_BYTES for address in new):
        raise CheckError(f"every validator is {ADDRESS_BYTES} bytes")
    if len(set(new)) != len(new):
        raise CheckError("a validator is listed twice; raft counts a validator once, the controller would not")
    changes = len(set(new) ^ set(current))
    if changes != 1:
        raise CheckError(
            f"the new validator set differs from the current one by {changes} members; v5.0.0 applies one "
            "membership change per transaction safely: add or remove one validator at a time"
        )
    return b"".join(new)


def check_output(lock: Lock, output: bytes) -> None:
    """Refuse an output the v5.0.0 controller would crash on or apply wrongly (any lock, any source)."""
    if lock in (Lock.VERSION, Lock.BLOCK_INTERVAL) and len(output) != U32_BYTES:
        # u32_decode takes `&data[..4]`: fewer bytes panic every controller when the block is finalized.
        raise CheckError(
            f"lock {int(lock)} ({lock.label}) needs exactly {U32_BYTES} bytes, not {len(output)}: "
            "fewer crash every v5.0.0 controller at the block that holds the transaction"
        )
    if lock is Lock.CHAIN_ID and len(output) != CHAIN_ID_BYTES:
        raise CheckError(f"lock 1001 (chain_id) needs {CHAIN_ID_BYTES} bytes, not {len(output)}: it would be ignored")
    if lock is Lock.ADMIN and len(output) != ADDRESS_BYTES:
        raise CheckError(f"lock 1002 (admin) needs {ADDRESS_BYTES} bytes, not {len(output)}: it would be ignored")
    if lock is Lock.VALIDATORS and (not output or len(output) % ADDRESS_BYTES):
        raise CheckError(
            f"lock 1004 (validators) needs a positive multiple of {ADDRESS_BYTES} bytes, not {len(output)}: "
            "none stops raft, another length is ignored"
        )
    if lock is Lock.EMERGENCY_BRAKE and output not in (b"", BRAKE_ON):
        raise CheckError("lock 1005 (emergency_brake) takes one byte (on) or nothing (off)")


# --- encoding, hashing, signing --------------------------------------------------------------------


def encode_utxo(version: int, pre_tx_hash: bytes, output: bytes, lock: Lock) -> bytes:
    """The canonical encoding of blockchain.UtxoTransaction, the bytes the hash is taken over."""
    from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - protobuf loads only for governance

    message = pb.UtxoTransaction(version=version, pre_tx_hash=pre_tx_hash, output=output, lock_id=int(lock))
    return message.SerializeToString(deterministic=True)


def encode_raw_utxo(encoded_utxo: bytes, tx_hash: bytes, signature: bytes, sender: bytes) -> bytes:
    """controller.RawTransaction{utxo_tx: {transaction, transaction_hash, witnesses: [{signature, sender}]}}."""
    from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - protobuf loads only for governance

    unverified = pb.UnverifiedUtxoTransaction(
        transaction=pb.UtxoTransaction.FromString(encoded_utxo),
        transaction_hash=tx_hash,
        witnesses=[pb.Witness(signature=signature, sender=sender)],
    )
    return pb.RawTransaction(utxo_tx=unverified).SerializeToString(deterministic=True)


@dataclass(frozen=True)
class SignedUtxo:
    """A governance transaction ready to send: its fields, hash, signature and the bytes on the wire."""

    lock: Lock
    version: int
    pre_tx_hash: bytes
    output: bytes
    tx_hash: bytes
    signature: bytes
    sender: bytes
    raw: bytes

    def describe(self) -> dict[str, object]:
        """Everything but the wire bytes, for --dry_run and --json (nothing secret: all of it goes on chain)."""
        return {
            "lock_id": int(self.lock),
            "lock": self.lock.label,
            "version": self.version,
            "pre_tx_hash": hex0x(self.pre_tx_hash),
            "output": hex0x(self.output),
            "tx_hash": hex0x(self.tx_hash),
            "sender": hex0x(self.sender),
            "signature": hex0x(self.signature),
        }


def build_utxo(config: SystemConfig, lock: Lock, output: bytes, signer: Account, randbytes: RandBytes) -> SignedUtxo:
    """The transaction that sets `lock` to `output` on the chain whose current config is `config`."""
    if config.release == V6:
        govrules.check_output(int(lock), output)
    else:
        check_output(lock, output)
    sender = bytes.fromhex(signer.address[2:])
    if sender != config.admin:
        raise CheckError(
            f"the signer {signer.address} is not the chain's admin {hex0x(config.admin)}; "
            "give the current admin's account folder (--admin_dir)"
        )
    pre_tx_hash = config.pre_hash(lock)
    encoded = encode_utxo(config.version, pre_tx_hash, output, lock)
    tx_hash = flavour_hash(signer.flavour, encoded)
    signature = sign_hash(signer, tx_hash, randbytes)
    raw = encode_raw_utxo(encoded, tx_hash, signature, sender)
    return SignedUtxo(lock, config.version, pre_tx_hash, output, tx_hash, signature, sender, raw)
