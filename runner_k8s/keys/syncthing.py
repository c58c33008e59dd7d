"""Syncthing identities (as syncthing 1.x makes them), device IDs and the node's config.xml."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:  # a type only: create_syncthing_config.py needs none of the kms code
    from runner_k8s.keys.accounts import RandBytes

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
P384_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973
LIFETIME = dt.timedelta(days=20 * 365)
NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Syncthing"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Automatically Generated"),
        x509.NameAttribute(NameOID.COMMON_NAME, "syncthing"),
    ]
)


@dataclass(frozen=True)
class SyncIdentity:
    """A device's certificate and key (PEM) and its device ID."""

    cert_pem: bytes
    key_pem: bytes
    device_id: str

    def __repr__(self) -> str:
        return f"SyncIdentity(device_id={self.device_id})"


def luhn_check_char(group: str) -> str:
    """Syncthing's Luhn variant over base32 (not textbook Luhn mod 32)."""
    factor, total = 1, 0
    for char in group:
        addend = factor * ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def device_id_of_der(cert_der: bytes) -> str:
    """SHA-256 of the DER certificate, base32, a check char per 13 chars, grouped by 7."""
    raw = base64.b32encode(hashlib.sha256(cert_der).digest()).decode("ascii").rstrip("=")
    checked = "".join(raw[i : i + 13] + luhn_check_char(raw[i : i + 13]) for i in range(0, 52, 13))
    return "-".join(checked[i : i + 7] for i in range(0, 56, 7))


def parse_device_id(text: str) -> str:
    """Validate a user-given device ID (check characters included); return its canonical form."""
    compact = text.strip().upper().replace("-", "").replace(" ", "")
    if len(compact) != 56 or any(char not in ALPHABET for char in compact):
        raise ValueError(f"{text!r} is not a syncthing device ID (8 groups of 7 characters A-Z, 2-7, joined by -)")
    for start in range(0, 56, 14):
        group = compact[start : start + 14]
        if luhn_check_char(group[:13]) != group[13]:
            raise ValueError(f"{text!r} has a wrong check character; copy the device ID again exactly")
    return "-".join(compact[i : i + 7] for i in range(0, 56, 7))


def draw_identity(randbytes: RandBytes) -> tuple[int, int]:
    """The random part of an identity, in the order it is drawn: the P-384 private scalar, then the serial."""
    while True:
        candidate = int.from_bytes(randbytes(48), "big")
        if 1 <= candidate < P384_ORDER:
            break
    return candidate, int.from_bytes(randbytes(8), "big") >> 1 or 1


def new_identity(randbytes: RandBytes, now: dt.datetime) -> SyncIdentity:
    """A P-384 key and self-signed certificate with the fields syncthing 1.x writes."""
    return identity_from(*draw_identity(randbytes), now)


def identity_from(secret: int, serial: int, now: dt.datetime) -> SyncIdentity:
    """The identity of a given P-384 private scalar and certificate serial (no randomness here)."""
    key = ec.derive_private_key(secret, ec.SECP384R1())
    not_before = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + LIFETIME)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("syncthing")]), critical=False)
    )
    cert = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return SyncIdentity(cert_pem, key_pem, device_id_of_der(cert.public_bytes(serialization.Encoding.DER)))


def verify_identity(cert_pem: bytes, key_pem: bytes) -> str:
    """The device ID of a cert.pem, after checking key.pem is its private key (ValueError if not)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ValueError("cert.pem is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("key.pem is not an unencrypted PEM private key") from None
    key_public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert_public = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if key_public != cert_public:
        raise ValueError("key.pem is not the private key of cert.pem")
    return device_id_of_der(cert.public_bytes(serialization.Encoding.DER))
