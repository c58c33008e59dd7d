"""Accounts of the two kms flavours: secp256k1 + Keccak-256 (eth) and SM2 + SM3 (sm)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes

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
Jacobian = tuple[int, int, int]  # (X, Y, Z) stands for (X/Z², Y/Z³); Z = 0 is the point at infinity
INFINITY: Jacobian = (1, 1, 0)
WINDOW_BITS = 4  # fixed-base table: 64 windows of 15 points, built once per process (a few ms)
TABLE_WORTH_IT = 8  # keys: below this, plain double-and-add is cheaper than building the table


class KmsFlavour(StrEnum):
    """The two kms implementations and the crypto each one uses."""

    SM = "sm"
    ETH = "eth"


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (original padding, not NIST SHA3-256)."""
    from Crypto.Hash import keccak  # noqa: PLC0415 - only eth accounts need it; it costs start-up time

    return keccak.new(digest_bits=256, data=data).digest()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def flavour_hash(flavour: KmsFlavour, data: bytes) -> bytes:
    """The hash a kms flavour uses for password hashing and addresses."""
    return sm3(data) if flavour is KmsFlavour.SM else keccak256(data)


def _double(point: Jacobian) -> Jacobian:
    """2P in Jacobian coordinates, using a = -3 (dbl-2001-b)."""
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return INFINITY
    p = SM2_P
    delta = z1 * z1 % p
    gamma = y1 * y1 % p
    beta = x1 * gamma % p
    alpha = 3 * (x1 - delta) * (x1 + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return x3, y3, z3


def _add_affine(point: Jacobian, x2: int, y2: int) -> Jacobian:
    """P + (x2, y2) with P Jacobian and the other point affine (madd-2007-bl)."""
    x1, y1, z1 = point
    if z1 == 0:
        return x2, y2, 1
    p = SM2_P
    z1z1 = z1 * z1 % p
    h = (x2 * z1z1 - x1) % p
    r = 2 * (y2 * z1 * z1z1 - y1) % p
    if h == 0:
        return _double(point) if r == 0 else INFINITY
    hh = h * h % p
    i = 4 * hh % p
    j = h * i % p
    v = x1 * i % p
    x3 = (r * r - j - 2 * v) % p
    y3 = (r * (v - x3) - 2 * y1 * j) % p
    z3 = ((z1 + h) * (z1 + h) - z1z1 - hh) % p
    return x3, y3, z3


def _to_affine(point: Jacobian) -> Point:
    x, y, z = point
    if z == 0:
        return None
    z_inv = pow(z, -1, SM2_P)
    z_inv2 = z_inv * z_inv % SM2_P
    return x * z_inv2 % SM2_P, y * z_inv2 * z_inv % SM2_P


def _batch_to_affine(points: Sequence[Jacobian]) -> list[tuple[int, int]]:
    """Many Jacobian points (none at infinity) to affine with one inversion (Montgomery's trick)."""
    p = SM2_P
    prefix = [1]
    for _, _, z in points:
        prefix.append(prefix[-1] * z % p)
    inverse = pow(prefix[-1], -1, p)
    result: list[tuple[int, int]] = [(0, 0)] * len(points)
    for index in range(len(points) - 1, -1, -1):
        x, y, z = points[index]
        z_inv = inverse * prefix[index] % p
        inverse = inverse * z % p
        z_inv2 = z_inv * z_inv % p
        result[index] = (x * z_inv2 % p, y * z_inv2 * z_inv % p)
    return result


def sm2_multiply(scalar: int, point: Point = SM2_G) -> Point:
    """Scalar multiplication on sm2p256v1: Jacobian double-and-add, one inversion at the end.

    No library we can depend on offers SM2 points. This runs offline on the operator's machine
    to make keys once, so its timing is not observable by an attacker.
    """
    if point is None:
        return None
    x2, y2 = point
    result = INFINITY
    for bit in bin(scalar % SM2_N)[2:]:
        result = _double(result)
        if bit == "1":
            result = _add_affine(result, x2, y2)
    return _to_affine(result)


@functools.cache
def _generator_table() -> tuple[tuple[tuple[int, int], ...], ...]:
    """table[w][d - 1] = d·16^w·G for every 4-bit window w and digit d in 1..15 (affine)."""
    windows = (SM2_N.bit_length() + WINDOW_BITS - 1) // WINDOW_BITS
    jacobian_bases: list[Jacobian] = [(*SM2_G, 1)]
    for _ in range(windows - 1):
        base = jacobian_bases[-1]
        for _ in range(WINDOW_BITS):
            base = _double(base)
        jacobian_bases.append(base)
    rows: list[Jacobian] = []
    for bx, by in _batch_to_affine(jacobian_bases):
        multiple: Jacobian = (bx, by, 1)
        for _ in range(2**WINDOW_BITS - 1):
            rows.append(multiple)
            multiple = _add_affine(multiple, bx, by)
    flat = _batch_to_affine(rows)
    width = 2**WINDOW_BITS - 1
    return tuple(tuple(flat[w * width : (w + 1) * width]) for w in range(windows))


def sm2_multiply_generator(scalar: int) -> Point:
    """scalar·G from the fixed-base table: one mixed addition per non-zero 4-bit window, no doubling."""
    table = _generator_table()
    result = INFINITY
    scalar %= SM2_N
    window = 0
    while scalar:
        digit = scalar & (2**WINDOW_BITS - 1)
        if digit:
            x, y = table[window][digit - 1]
            result = _add_affine(result, x, y)
        scalar >>= WINDOW_BITS
        window += 1
    return _to_affine(result)


def prepare_sm2_table() -> None:
    """Build the fixed-base table now (before worker processes fork, so they share it)."""
    _generator_table()


def _secp256k1_public(secret: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415 - eth accounts only

    numbers = ec.derive_private_key(secret, ec.SECP256K1()).public_key().public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def _sm2_public(secret: int) -> bytes:
    point = sm2_multiply_generator(secret) if _generator_table.cache_info().currsize else sm2_multiply(secret)
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
