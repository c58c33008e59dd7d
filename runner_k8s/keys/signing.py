"""Signatures over a 32-byte hash, laid out as the v5.0.0 kms services check them.

kms_sm: SM2 with the default user ID (e = SM3(Z_A ‖ hash)), r ‖ s ‖ the signer's 64-byte public key
(128 bytes). kms_eth: plain recoverable secp256k1 over the hash (no prefix, no second hash),
r ‖ s ‖ v with v the raw recovery id 0 or 1 (65 bytes).
"""

from __future__ import annotations

from runner_k8s.keys.accounts import (
    SM2_A,
    SM2_B,
    SM2_G,
    SM2_N,
    Account,
    KmsFlavour,
    RandBytes,
    random_scalar,
    sm2_multiply,
    sm3,
)

HASH_BYTES = 32
SM2_SIGNATURE_BYTES = 128
ETH_SIGNATURE_BYTES = 65
# GM/T 0009's default signer ID, which efficient-sm2 (inside kms_sm) always uses.
SM2_DEFAULT_ID = b"1234567812345678"


def _field(value: int) -> bytes:
    return value.to_bytes(32, "big")


def sm2_z(public: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL the ID's length in bits (2 bytes)."""
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + _field(SM2_A) + _field(SM2_B) + _field(SM2_G[0]) + _field(SM2_G[1]) + public)


def sm2_sign(account: Account, message: bytes, randbytes: RandBytes) -> bytes:
    """The 64-byte SM2 signature r ‖ s of `message` (GM/T 0003.2 §6.1), nonce k from `randbytes`.

    No library we can depend on signs SM2; this reuses the point multiplication that makes the keys.
    It runs once, offline, on the operator's machine: its timing is not observable by an attacker.
    """
    secret = account.secret
    e = int.from_bytes(sm3(sm2_z(account.public) + message), "big")
    while True:
        k = random_scalar(range(1, SM2_N), randbytes)
        point = sm2_multiply(k)
        assert point is not None, "k in [1, n-1] never gives the point at infinity"
        r = (e + point[0]) % SM2_N
        if r == 0 or r + k == SM2_N:
            continue
        s = pow(1 + secret, -1, SM2_N) * (k - r * secret) % SM2_N
        if s:
            return _field(r) + _field(s)


def eth_sign(account: Account, digest: bytes) -> bytes:
    """R ‖ s ‖ v over the 32-byte digest itself, by libsecp256k1 (coincurve): low s, v = 0 or 1."""
    import coincurve  # noqa: PLC0415 - only eth chains need it

    return bytes(coincurve.PrivateKey(account.secret_bytes).sign_recoverable(digest, hasher=None))


def sign_hash(account: Account, digest: bytes, randbytes: RandBytes) -> bytes:
    """The signature of a transaction hash as the account's kms flavour makes and checks it."""
    if len(digest) != HASH_BYTES:
        raise ValueError(f"a transaction hash is {HASH_BYTES} bytes, not {len(digest)}")
    if account.flavour is KmsFlavour.SM:
        return sm2_sign(account, digest, randbytes) + account.public
    return eth_sign(account, digest)
