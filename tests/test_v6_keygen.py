"""Many v6 nodes' keys at once: the same bytes as one at a time, on one core or several."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from py_ecc.bls.ciphersuites import G2ProofOfPossession

from runner_k8s.keys import tls
from runner_k8s.releases.v6_7_4 import keygen
from runner_k8s.releases.v6_7_4.accounts import Consensus, new_v6_account, v6_account_from_secret
from tests.conftest import FIXED_NOW, DeterministicRandom
from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3

NOW = dt.datetime.fromtimestamp(FIXED_NOW, tz=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> tls.ChainCa:
    return tls.new_ca("bulk", DeterministicRandom("bulk ca"), NOW)


def domains(count: int) -> list[str]:
    return [f"bulk-{index}" for index in range(count)]


def one_at_a_time(
    consensus: Consensus, ca: tls.ChainCa, secrets: list[keygen.V6NodeSecrets]
) -> list[keygen.V6NodeKeys]:
    return [
        keygen.V6NodeKeys(
            v6_account_from_secret(node.account_secret, consensus),
            tls.node_cert_from(ca, domain, node.cert_secret, node.cert_serial, NOW),
        )
        for domain, node in zip(domains(len(secrets)), secrets, strict=True)
    ]


def test_one_node_draws_as_an_account_then_a_certificate(ca: tls.ChainCa):
    made = keygen.new_v6_node_keys(Consensus.OVERLORD, ca, "bulk-0", DeterministicRandom("one"), NOW)
    randbytes = DeterministicRandom("one")
    account = new_v6_account(randbytes, Consensus.OVERLORD)
    assert made == keygen.V6NodeKeys(account, tls.new_node_cert(ca, "bulk-0", randbytes, NOW))


@pytest.mark.parametrize("consensus", list(Consensus))
def test_serial_and_parallel_give_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch, ca: tls.ChainCa, consensus: Consensus
):
    secrets = keygen.draw_v6_node_secrets(DeterministicRandom(f"many {consensus}"), 9)
    expected = one_at_a_time(consensus, ca, secrets)
    assert keygen.make_v6_node_keys(consensus, ca, NOW, domains(9), secrets) == expected  # under the threshold
    monkeypatch.setattr(keygen, "PARALLEL_MIN_NODES", 2)
    monkeypatch.setattr(keygen, "worker_count", lambda: 2)
    progress: list[int] = []
    assert keygen.make_v6_node_keys(consensus, ca, NOW, domains(9), secrets, progress.append) == expected
    assert progress[-1] == 9 and progress == sorted(progress)


def test_every_node_is_right_by_the_independent_tools(tmp_path: Path, ca: tls.ChainCa):
    count = 5
    made = keygen.make_v6_node_keys(
        Consensus.OVERLORD, ca, NOW, domains(count), keygen.draw_v6_node_secrets(DeterministicRandom("check"), count)
    )
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    for domain, node in zip(domains(count), made, strict=True):
        secret = node.account.secret
        assert node.account.node_address == gmssl_sm3(gmssl_sm2_public(secret))[-20:].hex()
        assert node.account.validator_address == G2ProofOfPossession.SkToPk(secret).hex()
        (tmp_path / "cert.pem").write_bytes(node.cert.cert_pem)
        result = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-verify_hostname", domain, "-CAfile", str(tmp_path / "ca.pem"),
             str(tmp_path / "cert.pem")],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    assert len({node.account.secret for node in made}) == count
    assert len({node.cert.key_pem for node in made}) == count


def test_bad_inputs_are_refused_before_any_work(ca: tls.ChainCa):
    secrets = keygen.draw_v6_node_secrets(DeterministicRandom("bad"), 2)
    with pytest.raises(ValueError, match="1 domains for 2 nodes"):
        keygen.make_v6_node_keys(Consensus.RAFT, ca, NOW, ["bulk-0"], secrets)
    with pytest.raises(ValueError, match="not a node domain"):
        keygen.make_v6_node_keys(Consensus.RAFT, ca, NOW, ["bulk-0", "Bulk_1"], secrets)
    broken = tls.ChainCa(ca.cert_pem, tls.new_ca("x", DeterministicRandom("x"), NOW).key_pem)
    with pytest.raises(ValueError, match="not the private key of the CA certificate"):
        keygen.make_v6_node_keys(Consensus.RAFT, broken, NOW, domains(2), secrets)


def test_secrets_hide_in_reprs(ca: tls.ChainCa):
    secrets = keygen.draw_v6_node_secrets(DeterministicRandom("repr"), 1)
    made = keygen.make_v6_node_keys(Consensus.OVERLORD, ca, NOW, ["bulk-0"], secrets)[0]
    for text in (repr(secrets[0]), repr(made), repr(made.cert), repr(ca)):
        assert f"{made.account.secret:064x}" not in text and "PRIVATE KEY" not in text
        assert str(secrets[0].cert_secret) not in text
