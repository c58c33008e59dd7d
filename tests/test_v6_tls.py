"""network_zenoh's TLS material, checked by independent tools: the openssl CLI and a TLS 1.3 handshake.

zenoh 1.0 dials a peer by its domain with rustls: the peer's certificate must chain to the chain CA and
carry that domain as a DNS SAN, and must have a subject CN. Python's ssl (OpenSSL) with check_hostname
and X509_STRICT verifies the same things, against SANs only, as rustls does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from runner_k8s.keys import tls
from tests.conftest import FIXED_NOW, DeterministicRandom

NOW = dt.datetime.fromtimestamp(FIXED_NOW, tz=dt.UTC)  # 2023-11-14T22:13:20Z
CHAIN = "test-chain"
DOMAIN = "test-chain-0"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # SEC 2, not tls.P256_ORDER


@pytest.fixture(scope="module")
def ca() -> tls.ChainCa:
    return tls.new_ca(CHAIN, DeterministicRandom("ca"), NOW)


@pytest.fixture(scope="module")
def node(ca: tls.ChainCa) -> tls.NodeCert:
    return tls.new_node_cert(ca, DOMAIN, DeterministicRandom("node"), NOW)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, timeout=60)


def files(tmp_path: Path, **pems: bytes) -> dict[str, str]:
    paths = {}
    for name, pem in pems.items():
        (tmp_path / f"{name}.pem").write_bytes(pem)
        paths[name] = str(tmp_path / f"{name}.pem")
    return paths


def verify(tmp_path: Path, ca_pem: bytes, cert_pem: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    paths = files(tmp_path, ca=ca_pem, cert=cert_pem)
    return openssl("verify", *extra, "-CAfile", paths["ca"], paths["cert"])


# --- openssl --------------------------------------------------------------------------------------------


def test_openssl_verifies_the_node_certificate_for_its_name(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert):
    result = verify(
        tmp_path, ca.cert_pem, node.cert_pem, "-x509_strict", "-purpose", "sslserver", "-verify_hostname", DOMAIN
    )
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stderr


@pytest.mark.parametrize("other", ["test-chain-1", "test-chain", "test-chain-0.example", "x.test-chain-0"])
def test_openssl_refuses_another_name(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert, other: str):
    result = verify(tmp_path, ca.cert_pem, node.cert_pem, "-verify_hostname", other)
    assert result.returncode != 0 and "hostname mismatch" in result.stdout + result.stderr


def test_openssl_refuses_a_certificate_of_another_chain(tmp_path: Path, node: tls.NodeCert):
    other = tls.new_ca(CHAIN, DeterministicRandom("another ca, same name"), NOW)
    result = verify(tmp_path, other.cert_pem, node.cert_pem)
    # The node's authority key id names another key: openssl finds no issuer for it in this CA file.
    assert result.returncode != 0 and "unable to get local issuer certificate" in result.stdout + result.stderr


def test_the_fields_openssl_reads(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert):
    paths = files(tmp_path, ca=ca.cert_pem, cert=node.cert_pem, key=node.key_pem, cakey=ca.key_pem)
    ca_text = openssl("x509", "-in", paths["ca"], "-noout", "-text").stdout
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in ca_text
    assert "Issuer: O = CITA-Cloud, CN = test-chain CA" in ca_text
    assert "Subject: O = CITA-Cloud, CN = test-chain CA" in ca_text
    assert "ASN1 OID: prime256v1" in ca_text and "ecdsa-with-SHA256" in ca_text
    text = openssl("x509", "-in", paths["cert"], "-noout", "-text").stdout
    assert "X509v3 Subject Alternative Name: \n                DNS:test-chain-0\n" in text
    assert "CA:FALSE" in text and "ASN1 OID: prime256v1" in text
    assert "Not Before: Nov 13 00:00:00 2023 GMT" in text  # the day before NOW
    assert "Not After : Dec 31 23:59:59 9999 GMT" in text
    # zenoh reads the CN with x509-parser's as_str(): a UTF8String (or Printable/IA5/Numeric) string.
    subject = openssl("x509", "-in", paths["cert"], "-noout", "-subject", "-nameopt", "show_type,sep_comma_plus")
    assert "CN=UTF8STRING:test-chain-0" in subject.stdout.replace(" ", "")
    # The key: PKCS#8 PEM, and the certificate's.
    assert node.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key_public = openssl("pkey", "-in", paths["key"], "-pubout").stdout
    assert key_public == openssl("x509", "-in", paths["cert"], "-noout", "-pubkey").stdout != ""
    assert ca.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert (
        openssl("pkey", "-in", paths["cakey"], "-pubout").stdout
        == openssl("x509", "-in", paths["ca"], "-noout", "-pubkey").stdout
    )


def test_valid_from_the_day_before_at_its_first_second(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert):
    start = int(dt.datetime(2023, 11, 13, tzinfo=dt.UTC).timestamp())
    assert verify(tmp_path, ca.cert_pem, node.cert_pem, "-attime", str(start)).returncode == 0
    early = verify(tmp_path, ca.cert_pem, node.cert_pem, "-attime", str(start - 1))
    assert early.returncode != 0 and "not yet valid" in early.stdout + early.stderr
    far = int(dt.datetime(9999, 12, 31, 23, 59, 58, tzinfo=dt.UTC).timestamp())
    assert verify(tmp_path, ca.cert_pem, node.cert_pem, "-attime", str(far)).returncode == 0


# --- a TLS handshake ------------------------------------------------------------------------------------


def handshake(tmp_path: Path, trusted_ca: bytes, node: tls.NodeCert, name: str) -> Any:
    """A TLS 1.3 handshake in memory: the node serves its certificate, a client trusting `trusted_ca` dials
    `name` with hostname checking on. Returns the certificate the client accepted."""
    paths = files(tmp_path, cert=node.cert_pem, key=node.key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(paths["cert"], paths["key"])
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3  # QUIC is TLS 1.3
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    client_context.load_verify_locations(cadata=trusted_ca.decode())
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=name)
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, connection in (("client", client), ("server", server)):
            if not done[side]:
                try:
                    connection.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(to_server.read())
        to_client.write(server_out.read())
        if all(done.values()):
            peer = client.getpeercert()
            assert peer is not None
            return peer
    raise AssertionError("the handshake did not finish")


def test_a_client_that_trusts_the_chain_ca_accepts_the_node(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert):
    peer = handshake(tmp_path, ca.cert_pem, node, DOMAIN)
    assert [rdn for rdn in peer["subject"] if rdn[0][0] == "commonName"] == [(("commonName", DOMAIN),)]
    assert peer["subjectAltName"] == (("DNS", DOMAIN),)


def test_a_client_dialling_another_name_refuses_the_node(tmp_path: Path, ca: tls.ChainCa, node: tls.NodeCert):
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(tmp_path, ca.cert_pem, node, "test-chain-1")


def test_a_client_of_another_chain_refuses_the_node(tmp_path: Path, node: tls.NodeCert):
    other = tls.new_ca("other-chain", DeterministicRandom("other"), NOW)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        handshake(tmp_path, other.cert_pem, node, DOMAIN)


# --- determinism and the random draws ---------------------------------------------------------------------


def test_the_same_random_source_and_day_give_the_same_bytes(ca: tls.ChainCa, node: tls.NodeCert):
    assert tls.new_ca(CHAIN, DeterministicRandom("ca"), NOW) == ca
    assert tls.new_node_cert(ca, DOMAIN, DeterministicRandom("node"), NOW + dt.timedelta(minutes=1)) == node
    next_day = tls.new_node_cert(ca, DOMAIN, DeterministicRandom("node"), NOW + dt.timedelta(days=1))
    assert next_day.key_pem == node.key_pem and next_day.cert_pem != node.cert_pem
    assert tls.new_node_cert(ca, DOMAIN, DeterministicRandom("node 2"), NOW).key_pem != node.key_pem


def script(*chunks: bytes) -> Callable[[int], bytes]:
    queue = list(chunks)
    return lambda size: queue.pop(0)[:size]


def test_draw_key_keeps_scalars_in_1_to_n_minus_1_and_serials_positive():
    drawn = tls.draw_key(script(P256_N.to_bytes(32, "big"), bytes(32), (P256_N - 1).to_bytes(32, "big"), bytes(16)))
    assert drawn == (P256_N - 1, 1)
    secret, serial = tls.draw_key(script(b"\xff" * 32, (1).to_bytes(32, "big"), b"\xff" * 16))
    assert secret == 1 and serial == 2**127 - 1  # 16 bytes, positive
    key = ec.derive_private_key(P256_N - 1, ec.SECP256R1())
    assert key.private_numbers().private_value == P256_N - 1


# --- names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", ["a", "test-chain-0", "a" * 63, "a" * 31 + "." + "b" * 32, "node-1.ns.svc.cluster.local", "9chain"]
)
def test_domains_that_pass(ca: tls.ChainCa, domain: str):
    assert tls.check_domain(domain) == domain
    cert = x509.load_pem_x509_certificate(tls.node_cert_from(ca, domain, 7, 7, NOW).cert_pem)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [domain]


@pytest.mark.parametrize(
    "domain",
    ["", "a" * 64, "a" * 32 + "." + "b" * 32, "Test-chain-0", "test_chain-0", "-a", "a-", "a..b", "10.0.0.1", "a b"],
)
def test_domains_that_fail(ca: tls.ChainCa, domain: str):
    with pytest.raises(ValueError, match=r"node domain|IP address"):
        tls.check_domain(domain)
    with pytest.raises(ValueError, match=r"node domain|IP address"):
        tls.node_cert_from(ca, domain, 7, 7, NOW)


def test_chain_names_up_to_61_characters_make_a_ca():
    assert b"BEGIN CERTIFICATE" in tls.ca_from("c" * 61, 5, 5, NOW).cert_pem
    for bad in ("c" * 62, ""):
        with pytest.raises(ValueError, match="common name must be 1 to 64 characters"):
            tls.ca_from(bad, 5, 5, NOW)


# --- loading a CA back, checking a node's files ----------------------------------------------------------


def test_a_stored_ca_loads_back_and_signs_the_same(ca: tls.ChainCa, node: tls.NodeCert):
    loaded = tls.load_ca(bytes(ca.cert_pem), bytes(ca.key_pem))
    assert tls.new_node_cert(loaded, DOMAIN, DeterministicRandom("node"), NOW) == node
    tls.check_node_cert(loaded, DOMAIN, node.cert_pem, node.key_pem)


def _foreign_ca(key: ec.EllipticCurvePrivateKey, *, key_id: bytes | None, ca: bool = True) -> tls.ChainCa:
    """A CA made the way cloud-config's rcgen makes one (O=CITAHub, CN=CA, no key usage, its own key id)."""
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CITAHub"), x509.NameAttribute(NameOID.COMMON_NAME, "CA")]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(dt.datetime(1975, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(4096, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_id is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return tls.ChainCa(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@pytest.mark.parametrize("key_id", [hashlib.sha256(b"rcgen-style id").digest()[:20], None])
def test_a_foreign_ca_signs_certificates_openssl_chains(tmp_path: Path, key_id: bytes | None):
    foreign = _foreign_ca(ec.derive_private_key(12345, ec.SECP256R1()), key_id=key_id)
    loaded = tls.load_ca(foreign.cert_pem, foreign.key_pem)
    made = tls.node_cert_from(loaded, DOMAIN, 6789, 42, NOW)
    result = verify(tmp_path, foreign.cert_pem, made.cert_pem, "-verify_hostname", DOMAIN)
    assert result.returncode == 0, result.stdout + result.stderr
    tls.check_node_cert(loaded, DOMAIN, made.cert_pem, made.key_pem)


def test_load_ca_refuses_what_cannot_be_a_chain_ca(ca: tls.ChainCa, node: tls.NodeCert):
    cases = [
        (ca.cert_pem, node.key_pem, "the CA key is not the private key of the CA certificate"),
        (node.cert_pem, node.key_pem, "lacks basicConstraints CA:TRUE"),
        (b"not a pem", ca.key_pem, "the CA certificate is not a PEM certificate"),
        (
            ca.cert_pem,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "the CA key is not an unencrypted",
        ),
    ]
    p384 = ec.derive_private_key(5, ec.SECP384R1())
    other_curve = _foreign_ca(p384, key_id=None)
    cases.append((other_curve.cert_pem, other_curve.key_pem, "curve secp384r1"))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases.append((ca.cert_pem, rsa_pem, "the CA key is not an EC key"))
    not_ca = _foreign_ca(ec.derive_private_key(6, ec.SECP256R1()), key_id=None, ca=False)
    cases.append((not_ca.cert_pem, not_ca.key_pem, "CA:TRUE"))
    for cert_pem, key_pem, message in cases:
        with pytest.raises(ValueError, match=message):
            tls.load_ca(cert_pem, key_pem)


def test_check_node_cert_refuses_files_that_do_not_belong(ca: tls.ChainCa, node: tls.NodeCert):
    other_node = tls.new_node_cert(ca, "test-chain-1", DeterministicRandom("node 1"), NOW)
    other_ca = tls.new_ca(CHAIN, DeterministicRandom("ca 2"), NOW)
    stranger = tls.new_node_cert(other_ca, DOMAIN, DeterministicRandom("node"), NOW)
    cases = [
        (DOMAIN, node.cert_pem, other_node.key_pem, "the node key is not the private key of the node certificate"),
        (DOMAIN, stranger.cert_pem, stranger.key_pem, "not signed by this chain's CA"),
        ("test-chain-1", node.cert_pem, node.key_pem, "common name is \\['test-chain-0'\\], not 'test-chain-1'"),
        (DOMAIN, b"garbage", node.key_pem, "the node certificate is not a PEM certificate"),
        (DOMAIN, node.cert_pem, b"garbage", "the node key is not an unencrypted PEM private key"),
        (f"{CHAIN} CA", ca.cert_pem, ca.key_pem, "has no subject alternative name"),  # the CA's own
    ]
    for domain, cert_pem, key_pem, message in cases:
        with pytest.raises(ValueError, match=message):
            tls.check_node_cert(ca, domain, cert_pem, key_pem)


def test_check_node_cert_wants_the_name_as_a_dns_san(ca: tls.ChainCa):
    """A certificate with the right CN but no SAN (or another one) would fail rustls: refused."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.derive_private_key(77, ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for sans, message in (([], "has no subject alternative name"), (["test-chain-9"], "does not name 'test-chain-0'")):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(5)
            .not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=1))
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        cert_pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        with pytest.raises(ValueError, match=message):
            tls.check_node_cert(ca, DOMAIN, cert_pem, key_pem)
