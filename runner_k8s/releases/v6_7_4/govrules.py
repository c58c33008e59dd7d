"""What a v6.7.4 controller applies from a governance transaction, pure: the outputs each lock takes.

Read from controller_hsm v6.7.4 (core/system_config.rs `match_data`, util.rs `u32_decode`): outputs are
not checked when a transaction is sent, so every output below is checked here before it is signed.
1000 (version) and 1003 (block_interval) must be exactly 4 bytes big-endian, 1007 (quota_limit) exactly
8 (another length panics every controller at the block that holds it); 1001 (chain_id) and 1006
(block_limit) are never applied at run time; 1004 (validators) is the concatenation of entries as long
as the node's own validator_address: 48-byte BLS12-381 keys on overlord, 20-byte node addresses on raft;
consensus_overlord unwraps every entry as a BLS key (a bad one panics it on every node).
"""

from __future__ import annotations

from collections.abc import Sequence

from runner_k8s.errors import CheckError
from runner_k8s.keys import bls
from runner_k8s.releases.v6_7_4.accounts import Consensus

RELEASE = "v6.7.4"
VERSION, CHAIN_ID, ADMIN, BLOCK_INTERVAL, VALIDATORS, EMERGENCY_BRAKE, BLOCK_LIMIT, QUOTA_LIMIT = range(1000, 1008)
NODE_ADDRESS_BYTES = 20
U32_BYTES = 4
U64_BYTES = 8
BRAKE_ON = b"\x01"  # any non-empty output switches the brake on (cldi sends one zero byte); empty switches it off
# consensus_overlord passes `block_interval * 1000` (a u32, wrapping in a release build) to overlord as the
# interval in ms: above 4,294,967 s the chain would run at a wrapped, much shorter interval.
BLOCK_INTERVAL_MIN = 1  # 0: overlord's round timers become 0 ms and raft's leader fetches in a busy loop
BLOCK_INTERVAL_MAX = (2**32 - 1) // 1000
BLOCK_INTERVAL_UNGUARDED = 60  # create_k8s_config.py's upper edge: longer needs --yes (the undo waits a block)
REASON_HINTS = {
    "DupTransaction": "the same transaction is already waiting in the pool: an earlier run's change is still "
    "pending; wait, then run status",
    "InvalidPreHash": "another change of this lock was applied after the pre-check; run status and decide again",
    "AdminCheckError": "the node does not take this signer as the admin; run status",
    "InvalidVersion": "the chain's version changed after the pre-check; run status and decide again",
}


def consensus_of(validators: Sequence[bytes]) -> Consensus:
    """The consensus a v6.7.4 chain runs, from its validator entries: 48-byte BLS keys are overlord's."""
    lengths = {len(entry) for entry in validators}
    if lengths == {bls.PUBLIC_KEY_BYTES}:
        return Consensus.OVERLORD
    if lengths == {NODE_ADDRESS_BYTES}:
        return Consensus.RAFT
    found = ", ".join(str(length) for length in sorted(lengths)) or "none"
    raise CheckError(f"the chain's validators are {found} bytes long: not a v6.7.4 overlord or raft chain")


def tolerated_failures(consensus: Consensus, validators: int) -> int:
    """How many validators may be down while blocks are still made.

    raft: a majority must remain. overlord: the votes for a block must weigh more than two thirds of
    all (auth_manage.rs: weight * 3 > total * 2, every validator weighs 1).
    """
    return (validators - 1) // (2 if consensus is Consensus.RAFT else 3)


def needed(consensus: Consensus, validators: int) -> int:
    """How many validators must be up to make blocks."""
    return validators - tolerated_failures(consensus, validators)


def block_interval_output(current: int, seconds: int, yes: bool) -> tuple[bytes, str]:
    """Lock 1003: the new interval as a 4-byte big-endian u32, and a warning ("" for none)."""
    if seconds < BLOCK_INTERVAL_MIN:
        raise CheckError(
            f"a block interval of {seconds} s is refused: overlord's round timers would be 0 ms and raft's leader "
            f"would ask for blocks in a busy loop; give {BLOCK_INTERVAL_MIN} to {BLOCK_INTERVAL_MAX} seconds"
        )
    if seconds > BLOCK_INTERVAL_MAX:
        raise CheckError(
            f"a block interval of {seconds} s is refused: consensus_overlord v6.7.4 counts it in milliseconds "
            f"in 32 bits, which wrap above {BLOCK_INTERVAL_MAX} s; give {BLOCK_INTERVAL_MIN} to "
            f"{BLOCK_INTERVAL_MAX} seconds"
        )
    if seconds == current:
        raise CheckError(f"the block interval is already {seconds} s; nothing to change")
    warning = ""
    if seconds > BLOCK_INTERVAL_UNGUARDED:
        warning = (
            f"a block every {seconds} s: every later change, this one's undo included, waits up to that long "
            "for the block that applies it"
        )
        if not yes:
            raise CheckError(f"{warning}; pass --yes to do it anyway (at most {BLOCK_INTERVAL_UNGUARDED} s without)")
    return seconds.to_bytes(U32_BYTES, "big"), warning


def check_entry(entry: bytes, consensus: Consensus) -> None:
    """One validator entry as the chain's consensus names a validator."""
    if consensus is Consensus.OVERLORD:
        if len(entry) != bls.PUBLIC_KEY_BYTES or not bls.is_public_key(entry):
            raise CheckError(
                f"0x{entry.hex()} is not a BLS12-381 public key: an overlord chain's validators are the 48-byte "
                "keys of the nodes' validator_address files; give the node's folder (--node_dir)"
            )
    elif len(entry) != NODE_ADDRESS_BYTES:
        raise CheckError(
            f"a raft chain's validators are 20-byte node addresses, not {len(entry)} bytes (0x{entry.hex()})"
        )


def validators_output(current: Sequence[bytes], new: Sequence[bytes]) -> bytes:
    """Lock 1004: the entries concatenated, one membership change from `current`, the others kept in order.

    A new validator goes at the end: raft campaigns at once on a node whose store is empty and that is
    first in the list, and the others keep their places.
    """
    consensus = consensus_of(current)
    if not new:
        raise CheckError("a validator set cannot be empty: the chain would make no more blocks")
    for entry in new:
        check_entry(entry, consensus)
    if len(set(new)) != len(new):
        raise CheckError("a validator is listed twice; give each once")
    changes = len(set(new) ^ set(current))
    if changes != 1:
        raise CheckError(
            f"the new validator set differs from the current one by {changes} members: add or remove one "
            "validator at a time"
        )
    kept = [entry for entry in new if entry in current]
    if kept != [entry for entry in current if entry in new] or (len(new) > len(current) and new[-1] in current):
        raise CheckError("the validators that stay must keep their order, and a new one goes at the end")
    return b"".join(new)


def check_output(lock: int, output: bytes) -> None:
    """Refuse an output the v6.7.4 controller would crash on, ignore or apply wrongly (any lock, any source)."""
    name = {VERSION: "version", BLOCK_INTERVAL: "block_interval", QUOTA_LIMIT: "quota_limit"}.get(lock)
    size = U64_BYTES if lock == QUOTA_LIMIT else U32_BYTES
    if name is not None and len(output) != size:
        raise CheckError(
            f"lock {lock} ({name}) needs exactly {size} bytes, not {len(output)}: another length crashes every "
            "v6.7.4 controller at the block that holds the transaction"
        )
    if lock in (CHAIN_ID, BLOCK_LIMIT):
        raise CheckError(f"lock {lock} is never applied by a running v6.7.4 chain (only at its genesis)")
    if lock == ADMIN and len(output) != NODE_ADDRESS_BYTES:
        raise CheckError(f"lock 1002 (admin) needs {NODE_ADDRESS_BYTES} bytes, not {len(output)}: it would be ignored")
    if lock == VALIDATORS and (not output or (len(output) % bls.PUBLIC_KEY_BYTES and len(output) % NODE_ADDRESS_BYTES)):
        raise CheckError(
            f"lock 1004 (validators) needs a positive multiple of {bls.PUBLIC_KEY_BYTES} (overlord) or "
            f"{NODE_ADDRESS_BYTES} (raft) bytes, not {len(output)}"
        )
    if lock == EMERGENCY_BRAKE and output not in (b"", BRAKE_ON):
        raise CheckError("lock 1005 (emergency_brake) takes one byte (on) or nothing (off)")
    if lock not in range(VERSION, QUOTA_LIMIT + 1):
        raise CheckError(f"lock {lock} is not one of a v6.7.4 controller's (1000 to 1007)")
