"""Accounts of the two kms flavours: secp256k1 + Keccak-256 (eth) and SM2 + SM3 (sm)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from Crypto.Hash import keccak
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

RandBytes = Callable[[int], bytes]

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# SM2 recommended curve sm2p256v1 (GM/T 0003.5).
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)

Point = tuple[int, int] | None


class KmsFlavour(StrEnum):
    """The two kms implementations and the crypto each one uses."""

    SM = "sm"
    ETH = "eth"


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (original padding, not NIST SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def flavour_hash(flavour: KmsFlavour, data: bytes) -> bytes:
    """The hash a kms flavour uses for password hashing and addresses."""
    return sm3(data) if flavour is KmsFlavour.SM else keccak256(data)


def _sm2_add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if (y1 + y2) % SM2_P == 0:
            return None
        slope = (3 * x1 * x1 + SM2_A) * pow(2 * y1, -1, SM2_P) % SM2_P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, SM2_P) % SM2_P
    x3 = (slope * slope - x1 - x2) % SM2_P
    return x3, (slope * (x1 - x3) - y1) % SM2_P


def sm2_multiply(scalar: int, point: Point = SM2_G) -> Point:
    """Scalar multiplication on sm2p256v1 (affine double-and-add).

    No library we can depend on offers SM2 points. This runs offline on the operator's machine
    to make keys once, so its timing is not observable by an attacker.
    """
    result: Point = None
    addend = point
    while scalar:
        if scalar & 1:
            result = _sm2_add(result, addend)
        addend = _sm2_add(addend, addend)
        scalar >>= 1
    return result


def _secp256k1_public(secret: int) -> bytes:
    numbers = ec.derive_private_key(secret, ec.SECP256K1()).public_key().public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def _sm2_public(secret: int) -> bytes:
    point = sm2_multiply(secret)
    assert point is not None, "a secret in [1, n-2] never gives the point at infinity"
    return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def secret_range(flavour: KmsFlavour) -> range:
    """Valid private keys: [1, n-1] for secp256k1, [1, n-2] for SM2 (GM/T 0003)."""
    return range(1, SM2_N - 1) if flavour is KmsFlavour.SM else range(1, SECP256K1_ORDER)


def random_scalar(valid: range, randbytes: RandBytes) -> int:
    """A uniform scalar in `valid` by rejection sampling of 32 random bytes."""
    while True:
        candidate = int.from_bytes(randbytes(32), "big")
        if candidate in valid:
            return candidate


@dataclass(frozen=True)
class Account:
    """A kms account: its private scalar, 64-byte public key (X||Y) and address."""

    flavour: KmsFlavour
    secret: int
    public: bytes
    address: str

    def __repr__(self) -> str:
        return f"Account(flavour={self.flavour.value}, address={self.address})"

    @property
    def secret_bytes(self) -> bytes:
        """The private key as 32 big-endian bytes."""
        return self.secret.to_bytes(32, "big")


def address_of(flavour: KmsFlavour, public: bytes) -> str:
    """`0x` + the last 20 bytes of H(X||Y), lowercase."""
    return "0x" + flavour_hash(flavour, public)[-20:].hex()


def account_from_secret(flavour: KmsFlavour, secret: int) -> Account:
    """The account of a given private key."""
    if secret not in secret_range(flavour):
        raise ValueError(f"private key out of range for {flavour.value}")
    public = _sm2_public(secret) if flavour is KmsFlavour.SM else _secp256k1_public(secret)
    return Account(flavour, secret, public, address_of(flavour, public))


def new_account(flavour: KmsFlavour, randbytes: RandBytes) -> Account:
    """A fresh random account."""
    return account_from_secret(flavour, random_scalar(secret_range(flavour), randbytes))


def new_network_key(randbytes: RandBytes) -> str:
    """A p2p network key: `0x` + 64 hex of a raw secp256k1 secret."""
    return "0x" + random_scalar(secret_range(KmsFlavour.ETH), randbytes).to_bytes(32, "big").hex()


def is_address(text: str) -> bool:
    """True for `0x` + 40 hex digits."""
    body = text[2:]
    return text[:2] in ("0x", "0X") and len(body) == 40 and all(c in "0123456789abcdefABCDEF" for c in body)
