"""BLS12-381 public keys as consensus_overlord derives them (min_pk: public keys in G1, 48 bytes compressed).

Overlord (ophelia-blst over blst) reads a node's 32-byte private key as a big-endian scalar, refuses zero
and every value at or above the group order r (no reduction, no hashing) and names the node by the
compressed G1 point secret·G: that is the `validator_address` of an overlord chain, 96 hex digits.
The curve work is py_arkworks_bls12381's (arkworks, Rust); tests/test_v6_keys.py checks it against py_ecc.
"""

from __future__ import annotations

from py_arkworks_bls12381 import G1Point, Scalar

from runner_k8s.keys.accounts import RandBytes, random_scalar

# The order of G1 (and of G2 and of the scalar field), as in the BLS12-381 specification.
BLS_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
SECRET_RANGE = range(1, BLS_ORDER)  # what blst's SecretKey::from_bytes accepts
SECRET_BYTES = 32
PUBLIC_KEY_BYTES = 48
PUBLIC_KEY_HEX = 2 * PUBLIC_KEY_BYTES
_INFINITY_FLAGS = 0xC0  # compressed and at infinity: the first byte of the identity's encoding


def check_secret(secret: int) -> None:
    """Refuse a scalar overlord would refuse (ValueError): 0, or r and above."""
    if secret not in SECRET_RANGE:
        raise ValueError(
            "the private key is not a BLS12-381 secret key: as a number it must be at least 1 and below "
            f"the group order r = {BLS_ORDER:#x}"
        )


def public_key(secret: int) -> bytes:
    """The 48-byte compressed G1 public key secret·G of a secret in [1, r-1] (ValueError otherwise)."""
    check_secret(secret)
    scalar = Scalar.from_be_bytes(secret.to_bytes(SECRET_BYTES, "big"))
    return bytes((G1Point() * scalar).to_compressed_bytes())


def validator_address(secret: int) -> str:
    """An overlord node's validator address: its public key as 96 lowercase hex digits, no 0x."""
    return public_key(secret).hex()


def random_secret(randbytes: RandBytes) -> int:
    """A uniform secret in [1, r-1], by rejection sampling of 32 random bytes (2.2 draws per secret on average)."""
    return random_scalar(SECRET_RANGE, randbytes)


def is_public_key(data: bytes) -> bool:
    """True for a compressed G1 point in the prime-order subgroup other than the identity.

    These are the public keys a secret in [1, r-1] can have: use it to check validator keys read back
    from a chain's files, since overlord panics on a validator list entry that is not a public key.
    """
    if len(data) != PUBLIC_KEY_BYTES or data[0] & _INFINITY_FLAGS == _INFINITY_FLAGS:
        return False
    try:
        point = G1Point.from_compressed_bytes(data)  # checks the encoding, the curve and the subgroup
    except ValueError:
        return False
    return point != G1Point.identity() and point.is_in_subgroup()
