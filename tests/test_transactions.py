"""Governance transactions against independent oracles.

Encodings are checked against the hand-written protobuf encoder of tests/live/rpc.py, hashes against
gmssl (SM3) and safe-pysha3 (Keccak-256), SM2 signatures with gmssl's verifier, and secp256k1
signatures by recovering the signer's key with python-ecdsa. No expectation is taken from the code
under test.
"""

from __future__ import annotations

import ecdsa
import pytest
import sha3
from ecdsa.util import sigdecode_string
from gmssl import sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from runner_k8s.errors import CheckError
from runner_k8s.govern.transactions import (
    INITIAL_PRE_HASH,
    Lock,
    SystemConfig,
    added_validators,
    admin_output,
    brake_output,
    build_utxo,
    check_output,
    encode_raw_utxo,
    encode_utxo,
    parse_address,
    removed_validators,
    validators_output,
)
from runner_k8s.keys.accounts import SECP256K1_ORDER, SM2_N, Account, KmsFlavour, account_from_secret
from runner_k8s.keys.signing import sign_hash, sm2_z
from tests.conftest import DeterministicRandom
from tests.live.rpc import encode_message
from tests.test_crypto_primitives import gmssl_sm2_key, gmssl_sm3

# Known answer: UtxoTransaction{version 0, pre_tx_hash 33 zero bytes, output 0x00..01 (20 bytes), lock 1002},
# encoded and hashed by the oracles (tests/live/rpc.py, gmssl, safe-pysha3) when this test was written.
KNOWN_ENCODING = "1221" + "00" * 33 + "1a14" + "00" * 19 + "01" + "20ea07"
KNOWN_SM3 = "000ecf6579a802b4799e1716cdbe74d38ad0b0b92e09732f96ed77a72438563a"
KNOWN_KECCAK = "da9e53a39de771a86a4a625a638139d17c5a9182bc87bf413a452fb819062199"
BRAKE_OFF_SM3 = "11ec5306f8f4ba98feaa5d6ce225a3d01fc968665d2f277695a3754685240653"

A, B, C, D = (bytes([n]) * 20 for n in (0xA1, 0xB2, 0xC3, 0xD4))
SM_SECRET = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
ETH_SECRET = 0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318


def oracle_utxo(version: int, pre_tx_hash: bytes, output: bytes, lock: int) -> bytes:
    return encode_message([(1, version), (2, pre_tx_hash), (3, output), (4, lock)])


def oracle_hash(flavour: KmsFlavour, data: bytes) -> bytes:
    return gmssl_sm3(data) if flavour is KmsFlavour.SM else sha3.keccak_256(data).digest()


def gmssl_verifies(account: Account, signature: bytes, message: bytes) -> bool:
    return bool(gmssl_sm2_key(account.public).verify_with_sm3(signature.hex(), message))


def ecdsa_recovers(account: Account, signature: bytes, digest: bytes) -> bool:
    candidates = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
        signature[:64], digest, curve=ecdsa.SECP256k1, sigdecode=sigdecode_string
    )
    return bool(candidates[signature[64]].to_string() == account.public)


def config(**changes: object) -> SystemConfig:
    values: dict[str, object] = {
        "version": 0,
        "chain_id": bytes(range(32)),
        "admin": bytes.fromhex(account_from_secret(KmsFlavour.SM, SM_SECRET).address[2:]),
        "block_interval": 6,
        "validators": (A, B, C),
        "emergency_brake": False,
    }
    values.update(changes)
    return SystemConfig(**values)  # type: ignore[arg-type]


def test_known_answer_encoding_and_hashes():
    encoded = encode_utxo(0, INITIAL_PRE_HASH, bytes(19) + b"\x01", Lock.ADMIN)
    assert encoded.hex() == KNOWN_ENCODING
    assert oracle_utxo(0, bytes(33), bytes(19) + b"\x01", 1002).hex() == KNOWN_ENCODING
    assert gmssl_sm3(encoded).hex() == KNOWN_SM3
    assert sha3.keccak_256(encoded).hexdigest() == KNOWN_KECCAK


def test_brake_off_leaves_the_empty_output_out_as_prost_does():
    encoded = encode_utxo(0, INITIAL_PRE_HASH, b"", Lock.EMERGENCY_BRAKE)
    assert encoded == oracle_utxo(0, bytes(33), b"", 1005)
    assert b"\x1a" not in encoded[35:]  # no field 3 at all
    assert gmssl_sm3(encoded).hex() == BRAKE_OFF_SM3


@settings(max_examples=60, deadline=None)
@given(
    version=st.integers(0, 2**32 - 1),
    pre=st.binary(max_size=40),
    output=st.binary(max_size=300),
    lock=st.sampled_from(list(Lock)),
)
def test_encoding_is_the_oracles_for_any_fields(version, pre, output, lock):
    assert encode_utxo(version, pre, output, lock) == oracle_utxo(version, pre, output, int(lock))


def test_raw_transaction_nests_as_the_services_read_it():
    utxo = oracle_utxo(3, bytes(33), A + B, 1004)
    raw = encode_raw_utxo(utxo, b"h" * 32, b"s" * 65, C)
    witness = encode_message([(1, b"s" * 65), (2, C)])
    unverified = encode_message([(1, utxo), (2, b"h" * 32), (3, witness)])
    assert raw == encode_message([(2, unverified)])


@settings(max_examples=25, deadline=None)
@given(secret=st.integers(1, SM2_N - 2), digest=st.binary(min_size=32, max_size=32))
def test_sm2_signatures_verify_with_gmssl(secret, digest):
    account = account_from_secret(KmsFlavour.SM, secret)
    signature = sign_hash(account, digest, DeterministicRandom(digest.hex()))
    assert len(signature) == 128 and signature[64:] == account.public  # r ‖ s ‖ public key, as kms_sm lays it out
    assert gmssl_verifies(account, signature[:64], digest)
    assert not gmssl_verifies(account, signature[:64], bytes(32) if digest != bytes(32) else b"\x01" * 32)


def test_sm2_z_is_gmssls():
    account = account_from_secret(KmsFlavour.SM, SM_SECRET)
    ecc = sm2.default_ecc_table
    z_input = bytes.fromhex("0080" + b"1234567812345678".hex() + ecc["a"] + ecc["b"] + ecc["g"] + account.public.hex())
    assert sm2_z(account.public) == gmssl_sm3(z_input)


@settings(max_examples=25, deadline=None)
@given(secret=st.integers(1, SECP256K1_ORDER - 1), digest=st.binary(min_size=32, max_size=32))
def test_eth_signatures_recover_the_signer_with_python_ecdsa(secret, digest):
    account = account_from_secret(KmsFlavour.ETH, secret)
    signature = sign_hash(account, digest, DeterministicRandom("unused"))
    assert len(signature) == 65 and signature[64] in (0, 1)  # the raw recovery id, not 27/28
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_ORDER // 2  # low s
    assert ecdsa_recovers(account, signature, digest)


@pytest.mark.parametrize("flavour", list(KmsFlavour))
def test_built_transaction_is_hashed_signed_and_wrapped_as_the_oracles_say(flavour):
    secret = SM_SECRET if flavour is KmsFlavour.SM else ETH_SECRET
    signer = account_from_secret(flavour, secret)
    sender = bytes.fromhex(signer.address[2:])
    pre = b"\x07" * 32
    current = config(admin=sender, version=2, pre_hashes={Lock.VALIDATORS: pre})
    signed = build_utxo(current, Lock.VALIDATORS, A + B, signer, DeterministicRandom("tx"))
    expected_utxo = oracle_utxo(2, pre, A + B, 1004)
    assert signed.tx_hash == oracle_hash(flavour, expected_utxo)
    assert signed.pre_tx_hash == pre and signed.version == 2 and signed.sender == sender
    if flavour is KmsFlavour.SM:
        assert gmssl_verifies(signer, signed.signature[:64], signed.tx_hash)
    else:
        assert ecdsa_recovers(signer, signed.signature, signed.tx_hash)
    witness = encode_message([(1, signed.signature), (2, sender)])
    assert signed.raw == encode_message([(2, encode_message([(1, expected_utxo), (2, signed.tx_hash), (3, witness)]))])
    described = signed.describe()
    assert described["tx_hash"] == "0x" + signed.tx_hash.hex()
    assert str(secret) not in str(described) and f"{secret:064x}" not in str(described)


def test_first_transaction_of_a_lock_names_33_zero_bytes():
    signer = account_from_secret(KmsFlavour.SM, SM_SECRET)
    signed = build_utxo(config(), Lock.EMERGENCY_BRAKE, b"\x01", signer, DeterministicRandom("x"))
    assert signed.pre_tx_hash == bytes(33)


def test_a_signer_that_is_not_the_admin_is_refused():
    other = account_from_secret(KmsFlavour.SM, 12345)
    with pytest.raises(CheckError) as refused:
        build_utxo(config(), Lock.EMERGENCY_BRAKE, b"\x01", other, DeterministicRandom("x"))
    assert str(refused.value) == (
        f"the signer {other.address} is not the chain's admin 0x{config().admin.hex()}; give the current admin's "
        "account folder (--admin_dir)"
    )


@pytest.mark.parametrize(
    ("lock", "output", "reason"),
    [
        (Lock.VERSION, b"\x01", "crash every v5.0.0 controller"),
        (Lock.VERSION, b"", "crash every v5.0.0 controller"),
        (Lock.BLOCK_INTERVAL, b"\x00\x03", "crash every v5.0.0 controller"),
        (Lock.BLOCK_INTERVAL, b"\x00\x00\x00\x00\x03", "exactly 4 bytes"),
        (Lock.CHAIN_ID, b"x" * 31, "32 bytes"),
        (Lock.ADMIN, b"x" * 21, "20 bytes"),
        (Lock.VALIDATORS, b"", "none stops raft"),
        (Lock.VALIDATORS, b"x" * 30, "multiple of 20"),
        (Lock.EMERGENCY_BRAKE, b"\x01\x01", "one byte"),
    ],
)
def test_outputs_the_controller_would_crash_on_or_ignore_are_refused(lock, output, reason):
    with pytest.raises(CheckError, match=reason):
        check_output(lock, output)


@pytest.mark.parametrize(
    ("lock", "output"),
    [(Lock.VERSION, b"\x00\x00\x00\x01"), (Lock.VALIDATORS, A), (Lock.EMERGENCY_BRAKE, b""), (Lock.ADMIN, A)],
)
def test_well_formed_outputs_pass(lock, output):
    check_output(lock, output)


def test_validator_sets_change_by_exactly_one_member():
    assert validators_output((A, B, C), (A, B, C, D)) == A + B + C + D
    assert validators_output((A, B, C), (A, C)) == A + C
    with pytest.raises(CheckError, match="by 2 members"):
        validators_output((A, B, C), (A, B, D))  # a swap is two changes: joint consensus
    with pytest.raises(CheckError, match="by 0 members"):
        validators_output((A, B), (B, A))
    with pytest.raises(CheckError, match="listed twice"):
        validators_output((A, B), (A, B, B))
    with pytest.raises(CheckError, match="cannot be empty"):
        validators_output((A,), ())


def test_membership_helpers_refuse_no_ops_and_the_last_validator():
    assert added_validators(config(), D) == (A, B, C, D)
    assert removed_validators(config(), B) == (A, C)
    with pytest.raises(CheckError, match="already a validator"):
        added_validators(config(), A)
    with pytest.raises(CheckError, match="is not a validator"):
        removed_validators(config(), D)
    with pytest.raises(CheckError, match="last validator"):
        removed_validators(config(validators=(A,)), A)


def test_admin_and_brake_outputs_refuse_no_ops():
    current = config()
    assert admin_output(current, D) == D
    with pytest.raises(CheckError, match="already the admin"):
        admin_output(current, current.admin)
    assert brake_output(current, True) == b"\x01"
    assert brake_output(config(emergency_brake=True), False) == b""
    with pytest.raises(CheckError, match="already off"):
        brake_output(current, False)


@pytest.mark.parametrize("text", ["0x12", "0x" + "g" * 40, "0x" + "X" * 40, "0x" + "a" * 42, "", "0x"])
def test_addresses_must_be_20_bytes_of_hex(text):
    with pytest.raises(CheckError, match="not an address"):
        parse_address(text)


def test_addresses_take_either_case_and_no_prefix():
    assert parse_address("0X" + "AB" * 20) == b"\xab" * 20
    assert parse_address("ab" * 20) == b"\xab" * 20


def test_a_public_key_starting_with_04_is_verified_too():
    account = account_from_secret(KmsFlavour.SM, 11)  # 11·G's X begins with 0x04 (see gmssl_sm2_key)
    assert account.public.hex().startswith("04")
    digest = bytes(31) + b"\x02"
    assert gmssl_verifies(account, sign_hash(account, digest, DeterministicRandom("04"))[:64], digest)


# --- every output rule at its edges (runner-k8s docs/running-the-chain.md, from the v5.0.0 controller) ---

U32 = "needs exactly 4 bytes, not {n}: fewer crash every v5.0.0 controller at the block that holds the transaction"
MULTIPLE = (
    "lock 1004 (validators) needs a positive multiple of 20 bytes, not {n}: none stops raft, another length is ignored"
)


@pytest.mark.parametrize(
    ("lock", "size", "message"),
    [
        *((Lock.VERSION, n, f"lock 1000 (version) {U32}") for n in (0, 3, 5)),
        *((Lock.BLOCK_INTERVAL, n, f"lock 1003 (block_interval) {U32}") for n in (3, 5)),
        *((Lock.CHAIN_ID, n, "lock 1001 (chain_id) needs 32 bytes, not {n}: it would be ignored") for n in (31, 33)),
        *((Lock.ADMIN, n, "lock 1002 (admin) needs 20 bytes, not {n}: it would be ignored") for n in (0, 19, 21)),
        *((Lock.VALIDATORS, n, MULTIPLE) for n in (0, 19, 21, 39, 41)),
        *((Lock.EMERGENCY_BRAKE, n, "lock 1005 (emergency_brake) takes one byte (on) or nothing (off)") for n in (2,)),
    ],
)
def test_an_output_one_byte_off_is_refused_whole(lock: Lock, size: int, message: str):
    output = b"\x01" * size
    with pytest.raises(CheckError) as refused:
        check_output(lock, output)
    assert str(refused.value) == message.replace("{n}", str(size))


@pytest.mark.parametrize(
    ("lock", "sizes"),
    [
        (Lock.VERSION, (4,)),
        (Lock.BLOCK_INTERVAL, (4,)),
        (Lock.CHAIN_ID, (32,)),
        (Lock.ADMIN, (20,)),
        (Lock.VALIDATORS, (20, 40, 60)),
        (Lock.EMERGENCY_BRAKE, (0, 1)),
    ],
)
def test_an_output_of_the_right_length_passes(lock: Lock, sizes: tuple[int, ...]):
    for size in sizes:
        check_output(lock, b"\x01" * size)


def test_a_brake_byte_other_than_one_is_refused():
    with pytest.raises(CheckError, match=r"^lock 1005 \(emergency_brake\) takes one byte \(on\) or nothing \(off\)$"):
        check_output(Lock.EMERGENCY_BRAKE, b"\x00")


@pytest.mark.parametrize("size", [19, 21])
def test_validators_and_admins_of_19_or_21_bytes_are_refused(size: int):
    odd = b"\x0e" * size
    with pytest.raises(CheckError) as refused:
        validators_output((A, B, C), (A, B, C, odd))
    assert str(refused.value) == "every validator is 20 bytes"
    with pytest.raises(CheckError) as refused:
        admin_output(config(), odd)
    assert str(refused.value) == f"an admin is 20 bytes, not {size}"
    assert validators_output((A, B, C), (A, B, C, D)) == A + B + C + D  # 20 bytes: the last length that passes


def test_the_membership_refusals_are_whole():
    with pytest.raises(CheckError) as refused:
        validators_output((A, B, C), (A, B, D))
    assert str(refused.value) == (
        "the new validator set differs from the current one by 2 members; v5.0.0 applies one membership change per "
        "transaction safely: add or remove one validator at a time"
    )
    with pytest.raises(CheckError) as refused:
        validators_output((A, B), (A, B, B))
    assert str(refused.value) == "a validator is listed twice; raft counts a validator once, the controller would not"
    with pytest.raises(CheckError) as refused:
        validators_output((A,), ())
    assert str(refused.value) == "a validator set cannot be empty: raft would have no voters and the chain would stop"


@pytest.mark.parametrize("size", [31, 33])
@pytest.mark.parametrize("flavour", list(KmsFlavour))
def test_only_a_32_byte_hash_is_signed(flavour: KmsFlavour, size: int):
    account = account_from_secret(flavour, SM_SECRET if flavour is KmsFlavour.SM else ETH_SECRET)
    with pytest.raises(ValueError, match=rf"^a transaction hash is 32 bytes, not {size}$"):
        sign_hash(account, bytes(size), DeterministicRandom("x"))
    layout = {KmsFlavour.SM: 128, KmsFlavour.ETH: 65}  # kms_sm: r, s, public key; kms_eth: r, s, v
    assert len(sign_hash(account, bytes(32), DeterministicRandom("x"))) == layout[flavour]


def test_a_transaction_is_never_built_with_an_output_the_controller_would_crash_on():
    signer = account_from_secret(KmsFlavour.SM, SM_SECRET)
    with pytest.raises(CheckError, match=r"^lock 1002 \(admin\) needs 20 bytes, not 21: it would be ignored$"):
        build_utxo(config(), Lock.ADMIN, b"x" * 21, signer, DeterministicRandom("x"))
    with pytest.raises(CheckError, match=r"^lock 1000 \(version\) needs exactly 4 bytes, not 1"):
        build_utxo(config(), Lock.VERSION, b"\x01", signer, DeterministicRandom("x"))


def scripted(*values: int):
    """A random source that returns these 32-byte numbers, in order."""
    queue = [value.to_bytes(32, "big") for value in values]
    return lambda size: queue.pop(0)


@pytest.mark.parametrize(
    ("drawn", "nonce"),
    [((0, 1), 1), ((SM2_N, SM2_N - 1), SM2_N - 1), ((SM2_N + 5, 0, 2), 2)],
    ids=["0 is redrawn, 1 is used", "n is redrawn, n-1 is used", "above n and 0 redrawn"],
)
def test_the_sm2_nonce_is_drawn_from_1_to_n_minus_1_and_signs_as_gmssl_does(drawn: tuple[int, ...], nonce: int):
    """GM/T 0003.2: k in [1, n-1]. gmssl signs with the same k given: the signatures must be equal bytes."""
    account = account_from_secret(KmsFlavour.SM, SM_SECRET)
    digest = gmssl_sm3(b"a governance transaction")
    ours = sign_hash(account, digest, scripted(*drawn))
    theirs = gmssl_sm2_key(account.public, f"{SM_SECRET:064x}").sign_with_sm3(digest, f"{nonce:064x}")
    assert ours == bytes.fromhex(theirs) + account.public
