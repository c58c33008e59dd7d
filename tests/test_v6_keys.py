"""v6.7.4 key material: BLS12-381 public keys and v6 accounts, against known answers and independent libraries.

The BLS known answers were computed with ophelia-blst (blst), the library consensus_overlord loads keys
with; py_ecc (the Ethereum Foundation's pure-Python BLS12-381) is the second implementation. SM2 and SM3
are recomputed with gmssl. The SM2 known answer is controller_hsm's own test key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_typing import BLSPubkey
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.bls.ciphersuites import G2ProofOfPossession
from py_ecc.optimized_bls12_381.optimized_curve import curve_order, field_modulus

from runner_k8s.errors import CheckError, InputError
from runner_k8s.keys import bls
from runner_k8s.plan import SECRET_FILE
from runner_k8s.releases.v6_7_4.accounts import (
    Consensus,
    account_files,
    draw_secret,
    new_v6_account,
    plan_account,
    read_v6_account,
    v6_account_from_secret,
)
from tests.conftest import DeterministicRandom
from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3

# Known answers from ophelia-blst (shared/v6-facts.md).
KAT_ONE = "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
KAT_SECRET = 0x263DBD792F5B1BE47ED85F8938C0F29586AF0D3AC7B977F21C278FE1462040E3
KAT_PUBLIC = "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a"
# controller_hsm v6.7.4 example/private_key and the address its src/crypto.rs test asserts.
CONTROLLER_EXAMPLE_KEY = "ed391472f4ecd53a398b5bac8044afbe27dca9ad356823a723609488b1f31690"
CONTROLLER_EXAMPLE_ADDRESS = "14a0d0eb5538d1c5cc69d0f54c18bafec75ba95c"
R = curve_order  # py_ecc's, not ours
BLS_SECRETS = st.integers(min_value=1, max_value=R - 1)


def script(*chunks: bytes) -> Callable[[int], bytes]:
    """A random source that returns the given chunks in order (each exactly the size asked for)."""
    queue = list(chunks)

    def randbytes(size: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == size
        return chunk

    return randbytes


# --- BLS12-381 ---------------------------------------------------------------------------------------


def test_the_group_order_is_py_eccs():
    assert bls.BLS_ORDER == R
    assert range(1, R) == bls.SECRET_RANGE


def test_known_answers_of_ophelia_blst():
    assert bls.validator_address(1) == KAT_ONE
    assert bls.validator_address(KAT_SECRET) == KAT_PUBLIC
    assert G2ProofOfPossession.SkToPk(KAT_SECRET).hex() == KAT_PUBLIC  # the second implementation agrees


def test_the_last_secret_below_r_passes_and_r_fails():
    # (r-1)·G = -G: the generator's encoding with the y-sign bit (0x20 of the first byte) set.
    minus_g = bytes([bytes.fromhex(KAT_ONE)[0] | 0x20]) + bytes.fromhex(KAT_ONE)[1:]
    assert bls.public_key(R - 1) == minus_g == G2ProofOfPossession.SkToPk(R - 1)
    for refused in (R, R + 1, 0, -1, 2**256 - 1):
        with pytest.raises(ValueError, match="group order r = 0x73eda753"):
            bls.public_key(refused)


@settings(max_examples=20, deadline=None)
@given(BLS_SECRETS)
def test_public_keys_match_py_ecc(secret: int):
    ours = bls.public_key(secret)
    assert len(ours) == 48 and ours == G2ProofOfPossession.SkToPk(secret)
    assert bls.is_public_key(ours) and G2ProofOfPossession.KeyValidate(BLSPubkey(ours))


def _off_subgroup_point() -> bytes:
    """A point on y² = x³ + 4 over Fp that is not in G1 (the cofactor is not 1): compressed."""
    x = 1
    while True:
        rhs = (x**3 + 4) % field_modulus
        y = pow(rhs, (field_modulus + 1) // 4, field_modulus)  # p ≡ 3 (mod 4)
        if y * y % field_modulus == rhs:
            break
        x += 1
    encoded = bytearray(x.to_bytes(48, "big"))
    encoded[0] |= 0x80 | (0x20 if y > (field_modulus - 1) // 2 else 0)
    return bytes(encoded)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("identity", bytes([0xC0]) + bytes(47)),
        ("off the subgroup", _off_subgroup_point()),
        ("uncompressed flag", bytes([bytes.fromhex(KAT_ONE)[0] & 0x7F]) + bytes.fromhex(KAT_ONE)[1:]),
        ("x not on the curve", bytes([0x80]) + bytes(46) + b"\x02"),
        ("47 bytes", bytes.fromhex(KAT_ONE)[:47]),
        ("49 bytes", bytes.fromhex(KAT_ONE) + b"\x00"),
        ("x = p", bytes([field_modulus.to_bytes(48, "big")[0] | 0x80]) + field_modulus.to_bytes(48, "big")[1:]),
    ],
)
def test_is_public_key_refuses_what_py_ecc_refuses(name: str, data: bytes):
    assert not bls.is_public_key(data), name
    assert not G2ProofOfPossession.KeyValidate(BLSPubkey(data)), name


def test_random_secret_rejects_r_and_zero_and_keeps_r_minus_1():
    randbytes = script(R.to_bytes(32, "big"), bytes(32), (2**256 - 1).to_bytes(32, "big"), (R - 1).to_bytes(32, "big"))
    assert bls.random_secret(randbytes) == R - 1
    assert draw_secret(script(bytes(31) + b"\x01")) == 1


# --- v6 accounts -------------------------------------------------------------------------------------


def test_controller_hsm_example_key_gives_its_address():
    account = v6_account_from_secret(int(CONTROLLER_EXAMPLE_KEY, 16), Consensus.RAFT)
    assert account.node_address == CONTROLLER_EXAMPLE_ADDRESS
    assert gmssl_sm3(gmssl_sm2_public(int(CONTROLLER_EXAMPLE_KEY, 16)))[-20:].hex() == CONTROLLER_EXAMPLE_ADDRESS
    assert account.validator_address == CONTROLLER_EXAMPLE_ADDRESS  # raft: the node address
    # The key is above r: consensus_overlord could not load it.
    assert int(CONTROLLER_EXAMPLE_KEY, 16) >= R
    with pytest.raises(ValueError, match="not a BLS12-381 secret key"):
        v6_account_from_secret(int(CONTROLLER_EXAMPLE_KEY, 16), Consensus.OVERLORD)


@settings(max_examples=15, deadline=None)
@given(BLS_SECRETS)
def test_accounts_match_gmssl_and_py_ecc(secret: int):
    overlord = v6_account_from_secret(secret, Consensus.OVERLORD)
    raft = v6_account_from_secret(secret, Consensus.RAFT)
    address = gmssl_sm3(gmssl_sm2_public(secret))[-20:].hex()
    assert overlord.node_address == raft.node_address == raft.validator_address == address
    assert overlord.validator_address == G2ProofOfPossession.SkToPk(secret).hex()
    assert overlord.private_key_hex == f"{secret:064x}"


def test_the_three_files_are_bare_lowercase_hex():
    account = new_v6_account(DeterministicRandom("files"), Consensus.OVERLORD)
    files = account_files(account)
    assert list(files) == ["private_key", "node_address", "validator_address"]
    key, node, validator = (files[name].data.decode("ascii") for name in files)
    assert len(key) == 64 and len(node) == 40 and len(validator) == 96
    for text in (key, node, validator):
        assert text == text.strip().lower() and all(char in "0123456789abcdef" for char in text)
    assert int(key, 16) == account.secret and 1 <= account.secret < R
    assert files["private_key"].mode == SECRET_FILE
    assert files["node_address"].mode == files["validator_address"].mode == 0o644
    assert "private_key" not in repr(account) and key not in repr(account)
    planned = dict(plan_account(account, "acct"))
    assert set(planned) == {"acct", "acct/private_key", "acct/node_address", "acct/validator_address"}


def test_a_fresh_account_is_the_same_for_the_same_random_source():
    first = new_v6_account(DeterministicRandom("same"), Consensus.OVERLORD)
    again = new_v6_account(DeterministicRandom("same"), Consensus.OVERLORD)
    other = new_v6_account(DeterministicRandom("other"), Consensus.OVERLORD)
    assert first == again and first != other


# --- reading an account folder back ------------------------------------------------------------------


def write_folder(folder: Path, **texts: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def account_folder(tmp_path: Path, secret: int, consensus: Consensus) -> Path:
    """The folder as cloud-config's new-account writes it: hex, no newline, files named by the services."""
    node = gmssl_sm3(gmssl_sm2_public(secret))[-20:].hex()
    validator = G2ProofOfPossession.SkToPk(secret).hex() if consensus is Consensus.OVERLORD else node
    return write_folder(tmp_path / node, private_key=f"{secret:064x}", node_address=node, validator_address=validator)


@pytest.mark.parametrize("consensus", list(Consensus))
def test_a_folder_reads_back_as_the_account(tmp_path: Path, consensus: Consensus):
    folder = account_folder(tmp_path, KAT_SECRET, consensus)
    account = read_v6_account(folder, "--authorities", consensus)
    assert account == v6_account_from_secret(KAT_SECRET, consensus)
    assert read_v6_account(folder, "--authorities") == account  # the kind is read from validator_address


def test_the_controller_example_folder_is_a_raft_account(tmp_path: Path):
    folder = write_folder(
        tmp_path / "example",
        private_key=CONTROLLER_EXAMPLE_KEY + "\n",  # as an editor leaves it: tolerated
        node_address=CONTROLLER_EXAMPLE_ADDRESS,
        validator_address="0x" + CONTROLLER_EXAMPLE_ADDRESS.upper(),
    )
    assert read_v6_account(folder, "--super_admin", Consensus.RAFT).node_address == CONTROLLER_EXAMPLE_ADDRESS


def test_an_overlord_folder_whose_key_is_above_r_is_refused(tmp_path: Path):
    folder = write_folder(
        tmp_path / "above",
        private_key=CONTROLLER_EXAMPLE_KEY,
        node_address=CONTROLLER_EXAMPLE_ADDRESS,
        validator_address=KAT_PUBLIC,
    )
    with pytest.raises(CheckError, match="private_key is above the BLS12-381 group order"):
        read_v6_account(folder, "--authorities")


def test_the_last_key_below_r_reads_and_r_is_refused(tmp_path: Path):
    assert read_v6_account(account_folder(tmp_path, R - 1, Consensus.OVERLORD), "x").secret == R - 1
    raft_r = account_folder(tmp_path, R, Consensus.RAFT)  # a valid SM2 key: fine for raft
    assert read_v6_account(raft_r, "x", Consensus.RAFT).secret == R
    (raft_r / "validator_address").write_text(KAT_PUBLIC)
    with pytest.raises(CheckError, match="above the BLS12-381 group order"):
        read_v6_account(raft_r, "x")


Damage = Callable[[Path], None]
KEY_ADDRESS = "--authorities"


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda f: (f / "private_key").unlink(), InputError, "private_key is missing; give the folder create_account"),
        (lambda f: (f / "node_address").unlink(), InputError, "node_address is missing"),
        (lambda f: (f / "validator_address").unlink(), InputError, "validator_address is missing"),
        (lambda f: (f / "private_key").write_text("00" * 31), InputError, "private_key must hold 64 hex digits"),
        (lambda f: (f / "private_key").write_text("zz" * 32), InputError, "private_key must hold 64 hex digits"),
        (lambda f: (f / "private_key").write_text("0" * 64), InputError, "not a valid SM2 private key"),
        (lambda f: (f / "private_key").write_bytes(b"\xff" * 64), InputError, "private_key is not text"),
        (lambda f: (f / "private_key").write_bytes(b"0" * 4097), InputError, "larger than 4096 bytes"),
        (lambda f: (f / "node_address").write_text("ab" * 20), CheckError, "the files come from different accounts"),
        (lambda f: (f / "node_address").write_text("ab" * 21), InputError, "node_address must hold 40 hex digits"),
        (lambda f: (f / "validator_address").write_text("ab" * 47), InputError, "96 hex digits"),
        (lambda f: (f / "validator_address").write_text(KAT_ONE), CheckError, "is not the BLS public key"),
        (
            lambda f: (f / "private_key").write_text(f"{KAT_SECRET + 1:064x}"),
            CheckError,
            "node_address says .* but private_key is the key of",
        ),
    ],
)
def test_a_damaged_folder_is_refused_naming_the_file(
    tmp_path: Path, damage: Damage, error: type[Exception], message: str
):
    folder = account_folder(tmp_path, KAT_SECRET, Consensus.OVERLORD)
    damage(folder)
    with pytest.raises(error, match=message) as caught:
        read_v6_account(folder, KEY_ADDRESS, Consensus.OVERLORD)
    assert str(caught.value).startswith(f"{KEY_ADDRESS} {folder}")
    assert "\n" not in str(caught.value) and CONTROLLER_EXAMPLE_KEY not in str(caught.value)


def test_a_raft_folder_whose_validator_is_another_address_is_refused(tmp_path: Path):
    folder = account_folder(tmp_path, KAT_SECRET, Consensus.RAFT)
    (folder / "validator_address").write_text(CONTROLLER_EXAMPLE_ADDRESS)
    with pytest.raises(CheckError, match="validator_address is not the node address of private_key"):
        read_v6_account(folder, "x")


@pytest.mark.parametrize(
    ("made", "chain"), [(Consensus.RAFT, Consensus.OVERLORD), (Consensus.OVERLORD, Consensus.RAFT)]
)
def test_an_account_of_the_other_consensus_is_refused(tmp_path: Path, made: Consensus, chain: Consensus):
    folder = account_folder(tmp_path, KAT_SECRET, made)
    with pytest.raises(CheckError, match=f"is an account for {made.value} chains .* this chain runs {chain.value}"):
        read_v6_account(folder, "--authorities", chain)


def test_a_v5_account_folder_is_named_as_such(tmp_path: Path):
    texts: dict[str, str | bytes] = {"kms.db": b"SQLite format 3\x00", "key_id": "1", "node_address": "0x" + "ab" * 20}
    folder = write_folder(tmp_path / "v5", **texts)
    with pytest.raises(InputError, match=r"is a CITA-Cloud v5\.0\.0 account \(kms\.db\).*--release v6\.7\.4"):
        read_v6_account(folder, "--authorities")


def test_not_a_folder(tmp_path: Path):
    with pytest.raises(InputError, match="is not a folder"):
        read_v6_account(tmp_path / "missing", "--authorities")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is not a folder"):
        read_v6_account(tmp_path / "file", "--authorities")
