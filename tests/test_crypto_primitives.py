"""Known answers (contracts.md §3) for every primitive, recomputed with independent libraries."""

from __future__ import annotations

import sha3  # safe-pysha3: Keccak from the Keccak team's code, independent of pycryptodome
from Crypto.Cipher import AES  # pycryptodome's AES, independent of cryptography's OpenSSL
from gmssl import func, sm2, sm3, sm4
from hypothesis import given, settings
from hypothesis import strategies as st

from runner_k8s.keys.accounts import (
    SECP256K1_ORDER,
    SM2_N,
    KmsFlavour,
    account_from_secret,
    keccak256,
    sm2_multiply,
)
from runner_k8s.keys.accounts import sm3 as our_sm3
from runner_k8s.keys.keystore import encrypt_secret, password_hash

PASSWORD = "123456"
PLAINTEXT = bytes(range(1, 33))
KECCAK_PW = "0eb05b553ac2946d1df7984ddf29aff7bc098437106601fb0c42cd1862c0bfce"
SM3_PW = "4189679083141ec2f62b4f62ace20c7cbdb9bf257fd6bfbc29293767c77bf544"
ETH_CIPHERTEXT = "961279fae3e00474c5456d0d9d1065ab9c2471931fc3f024618fb6477c63bfbf"
SM_CIPHERTEXT = "da08cc9ab5596c15be37f4c81823b1cf5e6255f968eb8adda4cf3892b0756d38"
SM2_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
SM2_X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
SM2_Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"


def gmssl_sm3(data: bytes) -> bytes:
    return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(data)))


def gmssl_sm4_cfb(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """CFB-128 built by hand on gmssl's SM4 block function."""
    block = sm4.CryptSM4()
    block.set_key(key, sm4.SM4_ENCRYPT)
    out, feedback = b"", iv
    for start in range(0, len(plaintext), 16):
        keystream = block.crypt_ecb(feedback)[:16]  # crypt_ecb pads; the first block is E(feedback)
        chunk = bytes(a ^ b for a, b in zip(plaintext[start : start + 16], keystream, strict=False))
        out += chunk
        feedback = chunk
    return out


def gmssl_sm2_key(public: bytes, private_key: str = "") -> sm2.CryptSM2:
    """gmssl's SM2 for a 64-byte public key X ‖ Y.

    CryptSM2() takes the key as hex and drops a leading "04" with `lstrip("04")`, which also strips
    every further leading '0' and '4' of X: a key whose hex starts with "04" (1 in 256) would come out
    short and fail. So the key is set after construction, as it is.
    """
    curve = sm2.CryptSM2(private_key=private_key, public_key="")
    curve.public_key = public.hex()
    return curve


def gmssl_sm2_public(secret: int) -> bytes:
    curve = sm2.CryptSM2(private_key=f"{secret:064x}", public_key="")
    return bytes.fromhex(curve._kg(secret, curve.ecc_table["g"]))


def test_keccak256_known_answer_and_independent():
    data = b"123456Matthew 5-13"
    assert keccak256(data).hex() == KECCAK_PW
    assert sha3.keccak_256(data).hexdigest() == KECCAK_PW
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_keccak_is_not_nist_sha3():
    import hashlib

    assert keccak256(b"abc") != hashlib.sha3_256(b"abc").digest()


def test_sm3_known_answers_and_independent():
    assert our_sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert our_sm3(b"123456Matthew 5-13").hex() == SM3_PW
    assert gmssl_sm3(b"123456Matthew 5-13").hex() == SM3_PW


def test_password_hashes():
    assert password_hash(KmsFlavour.ETH, PASSWORD).hex() == KECCAK_PW
    assert password_hash(KmsFlavour.SM, PASSWORD).hex() == SM3_PW


def test_eth_cipher_known_answer_and_independent():
    assert encrypt_secret(KmsFlavour.ETH, PASSWORD, PLAINTEXT).hex() == ETH_CIPHERTEXT
    k = bytes.fromhex(KECCAK_PW)
    independent = AES.new(k[:16], AES.MODE_CTR, nonce=b"", initial_value=k[16:]).encrypt(PLAINTEXT)
    assert independent.hex() == ETH_CIPHERTEXT


def test_sm_cipher_known_answer_and_independent():
    assert encrypt_secret(KmsFlavour.SM, PASSWORD, PLAINTEXT).hex() == SM_CIPHERTEXT
    k = bytes.fromhex(SM3_PW)
    assert gmssl_sm4_cfb(k[:16], k[16:], PLAINTEXT).hex() == SM_CIPHERTEXT


def test_secp256k1_known_address():
    assert account_from_secret(KmsFlavour.ETH, 1).address == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def test_sm2_known_answer_and_independent():
    point = sm2_multiply(SM2_D)
    assert point is not None
    assert (f"{point[0]:064X}", f"{point[1]:064X}") == (SM2_X, SM2_Y)
    assert gmssl_sm2_public(SM2_D).hex().upper() == SM2_X + SM2_Y


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=SM2_N - 2))
def test_sm2_matches_gmssl_for_any_scalar(secret):
    account = account_from_secret(KmsFlavour.SM, secret)
    assert account.public == gmssl_sm2_public(secret)
    assert account.address == "0x" + gmssl_sm3(account.public)[-20:].hex()


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=SECP256K1_ORDER - 1))
def test_secp256k1_matches_coincurve_for_any_scalar(secret):
    import coincurve

    account = account_from_secret(KmsFlavour.ETH, secret)
    public = coincurve.PrivateKey.from_int(secret).public_key.format(compressed=False)[1:]
    assert account.public == public
    assert account.address == "0x" + sha3.keccak_256(public).hexdigest()[-40:]


def test_sm2_edge_scalars_stay_on_curve():
    for secret in (1, 2, SM2_N - 2):
        account = account_from_secret(KmsFlavour.SM, secret)
        assert account.public == gmssl_sm2_public(secret)


class Scripted:
    """A random source that returns the given blocks in turn."""

    def __init__(self, *blocks: bytes) -> None:
        self.blocks = list(blocks)

    def __call__(self, size: int) -> bytes:
        block = self.blocks.pop(0)
        assert len(block) == size
        return block


def test_network_key_rejects_zero_and_values_past_the_order():
    from runner_k8s.keys.accounts import new_network_key

    key = new_network_key(Scripted(bytes(32), SECP256K1_ORDER.to_bytes(32, "big"), b"\x01" * 32))
    assert key == "0x" + "01" * 32


def test_sm2_secret_stays_below_n_minus_one():
    from runner_k8s.keys.accounts import new_account

    n_minus_1 = (SM2_N - 1).to_bytes(32, "big")
    account = new_account(KmsFlavour.SM, Scripted(n_minus_1, (SM2_N - 2).to_bytes(32, "big")))
    assert account.secret == SM2_N - 2
    assert account.public == gmssl_sm2_public(SM2_N - 2)
