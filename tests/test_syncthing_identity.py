"""Syncthing identities and device IDs, checked with the real syncthing binary."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

import create_syncthing_config
from runner_k8s.keys.syncthing import ALPHABET, device_id_of_der, luhn_check_char, parse_device_id, verify_identity
from tests.conftest import fixed_runtime, output_of, run_script, tree_snapshot
from tests.inputs import device_id_of_certificate

ID_LINE = re.compile(r"^device_id: ([A-Z2-7]{7}(?:-[A-Z2-7]{7}){7})$")


def syncthing_device_id(syncthing: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [syncthing, "serve", "--device-id", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_identity(tmp_path: Path) -> tuple[str, Path]:
    result = run_script("create_syncthing_config.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    match = ID_LINE.match(result.stdout.strip())
    assert match, result.stdout
    return match.group(1), tmp_path / match.group(1)


def test_real_syncthing_agrees_with_our_device_id(tmp_path: Path, syncthing: str):
    device_id, folder = make_identity(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["cert.pem", "key.pem"]
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    real = syncthing_device_id(syncthing, folder)
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip() == device_id


def test_real_syncthing_rejects_a_key_that_does_not_match(tmp_path: Path, syncthing: str):
    """The check above can fail: syncthing refuses a key.pem from another identity."""
    _, first = make_identity(tmp_path)
    _, second = make_identity(tmp_path)
    (first / "key.pem").write_bytes((second / "key.pem").read_bytes())
    assert syncthing_device_id(syncthing, first).returncode != 0
    with pytest.raises(ValueError, match="not the private key"):
        verify_identity((first / "cert.pem").read_bytes(), (first / "key.pem").read_bytes())


def test_certificate_fields_match_syncthing(tmp_path: Path):
    runtime = fixed_runtime()
    assert create_syncthing_config.main(["--output_dir", str(tmp_path)], runtime) == 0
    device_id = ID_LINE.match(output_of(runtime).strip()).group(1)  # type: ignore[union-attr]
    cert = x509.load_pem_x509_certificate((tmp_path / device_id / "cert.pem").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=syncthing,OU=Automatically Generated,O=Syncthing"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256
    assert cert.not_valid_before_utc.isoformat() == "2023-11-14T00:00:00+00:00"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 7300
    assert 0 < cert.serial_number < 2**63
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["syncthing"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert [oid.dotted_string for oid in eku.value] == ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]


def test_our_device_id_of_a_cert_made_by_syncthing(tmp_path: Path, syncthing: str):
    home = tmp_path / "home"
    generated = subprocess.run(
        [syncthing, "generate", "--home", str(home)], capture_output=True, text=True, timeout=60, check=False
    )
    assert generated.returncode == 0, generated.stderr
    printed = re.search(r"Device ID: (\S+)", generated.stdout + generated.stderr)
    assert printed
    cert_pem, key_pem = (home / "cert.pem").read_bytes(), (home / "key.pem").read_bytes()
    assert verify_identity(cert_pem, key_pem) == printed.group(1)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    assert device_id_of_der(der) == printed.group(1)


def test_check_characters_are_syncthings_variant():
    # A known ID printed by syncthing; textbook Luhn mod 32 would give other check characters.
    known = "ZQJLXPG-PS2ST4S-VKUEV3T-GWG36BV-HYRRFDZ-VXPWVGJ-NXM6I4O-K2ZLSQL"
    assert parse_device_id(known.lower()) == known
    compact = known.replace("-", "")
    for start in range(0, 56, 14):
        assert luhn_check_char(compact[start : start + 13]) == compact[start + 13]
    broken = known[:-1] + ("A" if known[-1] != "A" else "B")
    with pytest.raises(ValueError, match="check character"):
        parse_device_id(broken)
    with pytest.raises(ValueError, match="not a syncthing device ID"):
        parse_device_id("ZQJLXPG-PS2ST4S")


@given(st.binary(min_size=1, max_size=64))
def test_any_device_id_matches_the_contracts_recipe(der: bytes):
    device_id = device_id_of_der(der)
    assert device_id == device_id_of_certificate(der), "recomputed from contracts.md §5 in tests/inputs.py"
    assert parse_device_id(device_id) == device_id
    assert all(c in ALPHABET for c in device_id.replace("-", ""))


def test_existing_identity_folder_is_never_overwritten(tmp_path: Path):
    assert create_syncthing_config.main(["--output_dir", str(tmp_path)], fixed_runtime(seed="s")) == 0
    before = tree_snapshot(tmp_path)
    assert create_syncthing_config.main(["--output_dir", str(tmp_path)], fixed_runtime(seed="s")) == 1
    assert tree_snapshot(tmp_path) == before


def test_unwritable_output_dir_is_one_line(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_script("create_syncthing_config.py", "--output_dir", str(blocker / "sub"), cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_tests_own_check_characters_agree_with_syncthing():
    """tests/inputs.py's luhn32 (the oracle of the device-ID tests) on an ID printed by syncthing."""
    from tests.inputs import luhn32

    compact = "ZQJLXPG-PS2ST4S-VKUEV3T-GWG36BV-HYRRFDZ-VXPWVGJ-NXM6I4O-K2ZLSQL".replace("-", "")
    assert [luhn32(compact[start : start + 13]) for start in range(0, 56, 14)] == [compact[13::14][i] for i in range(4)]
