"""Syncthing identities (as syncthing 1.x makes them), device IDs and the node's config.xml."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .accounts import RandBytes

TEMPLATE = Path(__file__).resolve().parent / "templates" / "syncthing-config.xml"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
P384_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973
LIFETIME = dt.timedelta(days=20 * 365)
SYNC_FOLDERS = ("blocks", "proposals", "txs")
SYNC_ROOT = "/var/syncthing"
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


@dataclass(frozen=True)
class SyncDevice:
    """A device as config.xml lists it."""

    device_id: str
    name: str
    host: str
    port: int


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


API_KEY_SLOT = "runner-k8s-api-key-slot"  # rendered once per chain, replaced by each node's own key


def with_api_key(config_xml: bytes, api_key: str) -> bytes:
    """A config.xml rendered with API_KEY_SLOT, with the node's own API key in its place."""
    slot = f"<apikey>{API_KEY_SLOT}</apikey>".encode()
    assert config_xml.count(slot) == 1, "render the config with API_KEY_SLOT as the key"
    return config_xml.replace(slot, f"<apikey>{api_key}</apikey>".encode("ascii"))


def new_api_key(randbytes: RandBytes) -> str:
    """A random GUI/REST API key: 32 characters of lowercase base32 (160 bits), as long as syncthing's own."""
    return base64.b32encode(randbytes(20)).decode("ascii").lower()


@functools.cache
def _template() -> ET.Element:
    return ET.parse(TEMPLATE).getroot()


def render_config_xml(api_key: str, devices: Sequence[SyncDevice]) -> bytes:
    """config.xml: three shared folders with every device, then every device with its address."""
    root = copy.deepcopy(_template())
    folder_skeleton = root.find("folder")
    device_skeleton = root.find("device")
    api_key_element = root.find("gui/apikey")
    assert folder_skeleton is not None and device_skeleton is not None and api_key_element is not None
    root.remove(folder_skeleton)
    root.remove(device_skeleton)
    api_key_element.text = api_key
    position = 0
    for folder_id in SYNC_FOLDERS:
        folder = copy.deepcopy(folder_skeleton)
        folder.set("id", folder_id)
        folder.set("path", f"{SYNC_ROOT}/{folder_id}")
        for offset, device in enumerate(devices, start=1):
            folder.insert(offset, ET.Element("device", {"id": device.device_id, "introducedBy": ""}))
        root.insert(position, folder)
        position += 1
    for device in devices:
        element = copy.deepcopy(device_skeleton)
        element.set("id", device.device_id)
        element.set("name", device.name)
        address = element.find("address")
        assert address is not None
        host = f"[{device.host}]" if ":" in device.host else device.host  # an IPv6 address, bracketed in a URL
        address.text = f"tcp://{host}:{device.port}"
        root.insert(position, element)
        position += 1
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def _parsed(config_xml: bytes) -> ET.Element | None:
    try:
        return ET.fromstring(config_xml)
    except ET.ParseError:
        return None


def api_key_of(config_xml: bytes) -> str | None:
    """The GUI/REST API key of a config.xml (None when it has none or is not XML)."""
    root = _parsed(config_xml)
    element = None if root is None else root.find("gui/apikey")
    return None if element is None or not element.text else element.text


def devices_of(config_xml: bytes) -> list[SyncDevice]:
    """The top-level devices of a config.xml this tool wrote: id, name and the host and port of its address."""
    root = _parsed(config_xml)
    found = []
    for element in [] if root is None else root.findall("device"):
        address = element.findtext("address") or ""
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        if not port.isdigit():
            continue
        found.append(SyncDevice(element.get("id", ""), element.get("name", ""), host.strip("[]"), int(port)))
    return found
