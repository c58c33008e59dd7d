"""network_zenoh's TLS material: a chain CA and, per node, a certificate for the node's domain (ECDSA P-256).

What zenoh 1.0 asks of them: a peer's certificate must chain to the chain CA and carry a
DNS subject alternative name equal to the name it is dialled by (rustls checks the SAN only), and its
subject must have a common name (zenoh reads it after the handshake and panics without one). So a node's
certificate has CN = SAN = its domain. Its key is written as unencrypted PKCS#8 PEM.

Everything is a function of the caller's random source and clock: the EC keys come from scalars drawn
with `randbytes` (ec.derive_private_key), the serials too, and the signatures are deterministic ECDSA
(RFC 6979), so the same inputs give the same bytes (keygen's parallel run relies on it).

Validity: from the day before `now` (a node whose clock lags the machine that made the files by up to a
day still accepts them) to 9999-12-31 23:59:59 UTC, RFC 5280's value for "no well-defined expiration".
network_zenoh reads its certificates only at start and a chain has no way to roll them over while it
runs (every node would need new files and a restart at once), so an expiry date would be an outage set
for the future; cloud-config likewise makes certificates valid until 4096. A node leaves the chain by
being removed from the peers lists and stopped, not by its certificate expiring.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runner_k8s.keys.accounts import RandBytes
from runner_k8s.names import DNS_LABEL_MAX, DNS_SUBDOMAIN

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ORGANIZATION = "CITA-Cloud"
CA_SUFFIX = " CA"
COMMON_NAME_MAX = 64  # ub-common-name (RFC 5280)
SERIAL_BITS = 127  # positive and at most 16 bytes (RFC 5280 allows 20)
CLOCK_SKEW = dt.timedelta(days=1)
NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ChainCa:
    """The chain CA: its certificate and its private key (PKCS#8), as PEM."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        return "ChainCa(...)"


@dataclass(frozen=True)
class NodeCert:
    """A node's certificate for its domain and the certificate's private key (PKCS#8), as PEM."""

    domain: str
    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        return f"NodeCert(domain={self.domain})"


def check_domain(domain: str) -> str:
    """A node domain as zenoh dials it and a certificate can name it (ValueError if not): a DNS name."""
    if (
        not DNS_SUBDOMAIN.fullmatch(domain)
        or len(domain) > COMMON_NAME_MAX
        or any(len(label) > DNS_LABEL_MAX for label in domain.split("."))
    ):
        raise ValueError(
            f"{domain!r} is not a node domain: use a DNS name of lowercase letters, digits, '-' and '.', "
            f"at most {COMMON_NAME_MAX} characters and {DNS_LABEL_MAX} between dots"
        )
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        return domain
    raise ValueError(f"{domain!r} is an IP address; a node domain must be a DNS name its peers resolve")


def draw_key(randbytes: RandBytes) -> tuple[int, int]:
    """The random part of a CA or node certificate, in the order it is drawn: the P-256 scalar, then the serial."""
    while True:
        secret = int.from_bytes(randbytes(32), "big")
        if 1 <= secret < P256_ORDER:
            break
    return secret, int.from_bytes(randbytes(16), "big") >> (128 - SERIAL_BITS) or 1


def _not_before(now: dt.datetime) -> dt.datetime:
    day = now.astimezone(dt.UTC)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - CLOCK_SKEW


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),  # UTF8String: zenoh reads it as a str
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def ca_from(chain: str, secret: int, serial: int, now: dt.datetime) -> ChainCa:
    """The CA of a chain (CN `<chain> CA`) from a given P-256 scalar and serial (no randomness here)."""
    common_name = chain + CA_SUFFIX
    if not chain or len(common_name) > COMMON_NAME_MAX:
        raise ValueError(f"chain name {chain!r}: the CA's common name must be 1 to {COMMON_NAME_MAX} characters")
    key = ec.derive_private_key(secret, ec.SECP256R1())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_not_before(now))
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return ChainCa(cert.public_bytes(serialization.Encoding.PEM), _pkcs8(key))


def new_ca(chain: str, randbytes: RandBytes, now: dt.datetime) -> ChainCa:
    """A fresh CA for a chain."""
    return ca_from(chain, *draw_key(randbytes), now)


@functools.lru_cache(maxsize=8)
def _loaded_ca(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = _load_cert(cert_pem, "the CA certificate")
    key = _load_key(key_pem, "the CA key")
    _check_pair(cert, key, "the CA key", "the CA certificate")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError("the CA certificate is not a CA certificate (it lacks basicConstraints CA:TRUE)")
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"the CA key is on curve {key.curve.name}; a chain CA here is an ECDSA P-256 key")
    return cert, key


def load_ca(cert_pem: bytes, key_pem: bytes) -> ChainCa:
    """A stored chain CA, checked (ValueError): a CA certificate, and an EC P-256 key that is its key."""
    _loaded_ca(cert_pem, key_pem)
    return ChainCa(cert_pem, key_pem)


def node_cert_from(ca: ChainCa, domain: str, secret: int, serial: int, now: dt.datetime) -> NodeCert:
    """A node's certificate for `domain`, signed by the CA, from a given P-256 scalar and serial."""
    check_domain(domain)
    ca_cert, ca_key = _loaded_ca(ca.cert_pem, ca.key_pem)
    key = ec.derive_private_key(secret, ec.SECP256R1())
    try:
        ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id)
    except x509.ExtensionNotFound:
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(domain))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_not_before(now))
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority, critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return NodeCert(domain, cert.public_bytes(serialization.Encoding.PEM), _pkcs8(key))


def new_node_cert(ca: ChainCa, domain: str, randbytes: RandBytes, now: dt.datetime) -> NodeCert:
    """A fresh key and certificate for a node's domain."""
    return node_cert_from(ca, domain, *draw_key(randbytes), now)


def _load_cert(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError(f"{what} is not a PEM certificate") from None


def _load_key(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError(f"{what} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{what} is not an EC key")
    return key


def _check_pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, key_what: str, cert_what: str) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != cert.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise ValueError(f"{key_what} is not the private key of {cert_what}")


def check_node_cert(ca: ChainCa, domain: str, cert_pem: bytes, key_pem: bytes) -> None:
    """Check a node's certificate and key (ValueError saying what is wrong).

    The key is the certificate's, the chain CA signed it, and it names `domain` as its common name and as
    a DNS name.
    """
    ca_cert, _ = _loaded_ca(ca.cert_pem, ca.key_pem)
    cert = _load_cert(cert_pem, "the node certificate")
    _check_pair(cert, _load_key(key_pem, "the node key"), "the node key", "the node certificate")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ValueError("the node certificate is not signed by this chain's CA") from None
    names = [attribute.value for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [domain]:
        raise ValueError(f"the node certificate's common name is {names!r}, not {domain!r}")
    try:
        dns_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValueError(f"the node certificate has no subject alternative name; it must name {domain!r}") from None
    if domain not in dns_names.get_values_for_type(x509.DNSName):
        raise ValueError(f"the node certificate does not name {domain!r} as a DNS name; peers would refuse it")
