"""A v6.7.4 chain as its services read it: every expectation from the v6.7.4 sources or an independent tool.

The facts checked (docs/releases.md): each service reads only its own section of config.toml;
network_zenoh reads chain_id without 0x and dials `peers[].domain`, which must be a DNS SAN of the
peer's certificate under the chain CA; the controller takes admin and validators as bare hex;
overlord's validators are the nodes' BLS12-381 public keys (min_pk, compressed G1), raft's their node
addresses; private_key is 64 hex digits without 0x or newline and lives only in the account Secret.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.bls.ciphersuites import G2ProofOfPossession

import create_k8s_config
from runner_k8s.releases.v6_7_4.accounts import Consensus
from tests.conftest import fixed_runtime, output_of
from tests.manifest_variants import v6_multi_argv
from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3

CHAIN = "demo"
CA = f"{CHAIN}-ca"


def make(work: Path, *extra: str, seed: str = "v6 chain") -> str:
    argv = ["local_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--pvc_name", "pvc", "--work_dir", str(work)]
    runtime = fixed_runtime(seed)
    assert create_k8s_config.main([*argv, *extra], runtime) == 0
    return output_of(runtime)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def secret(docs: list[dict[str, Any]], name: str) -> dict[str, bytes]:
    found = next(doc for doc in docs if doc["kind"] == "Secret" and doc["metadata"]["name"] == name)
    return {key: base64.b64decode(value) for key, value in found["data"].items()}


def node_address_of(private_key_hex: str) -> str:
    """gmssl's SM2 public key, SM3 by gmssl, last 20 bytes: the controller's node address."""
    return gmssl_sm3(gmssl_sm2_public(int(private_key_hex, 16)))[-20:].hex()


def bls_key_of(private_key_hex: str) -> str:
    return bytes(G2ProofOfPossession.SkToPk(int(private_key_hex, 16))).hex()


@pytest.fixture(scope="module")
def overlord(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("overlord")
    make(work, "--peers_count", "3")
    return work


def configs(work: Path, count: int) -> list[tuple[dict[str, Any], dict[str, bytes], dict[str, bytes]]]:
    docs = documents(work / f"{CHAIN}.yaml")
    found = []
    for index in range(count):
        config_secret = secret(docs, f"{CHAIN}-{index}-config")
        account = secret(docs, f"{CHAIN}-{index}-account")
        found.append((tomllib.loads(config_secret["config.toml"].decode()), config_secret, account))
    return found


def test_every_service_finds_its_section_and_the_chain_is_the_same_everywhere(overlord: Path):
    nodes = configs(overlord, 3)
    sections = {"network_zenoh", "consensus_overlord", "executor_evm", "storage_opendal", "genesis_block"}
    sections |= {"system_config", "controller"}
    for config, _, _ in nodes:
        assert set(config) == sections
    for shared in ("genesis_block", "system_config"):
        assert all(config[shared] == nodes[0][0][shared] for config, _, _ in nodes)


def test_the_chain_id_is_sm3_of_the_name_without_0x(overlord: Path):
    config = configs(overlord, 1)[0][0]
    expected = gmssl_sm3(CHAIN.encode()).hex()
    assert config["network_zenoh"]["chain_id"] == config["system_config"]["chain_id"] == expected


def test_the_chain_id_of_test_chain_is_cloud_configs():
    """cloud-config's own test vector (network_zenoh example/config.toml): `test-chain` gives 63586a3c…12b4."""
    from runner_k8s.releases.v6_7_4.config import chain_id_of

    assert chain_id_of("test-chain") == "63586a3c0255f337c77a777ff54f0040b8c388da04f23ecee6bfd4953a6512b4"


def test_accounts_validators_and_admin_are_what_the_keys_give(overlord: Path):
    nodes = configs(overlord, 3)
    validators = nodes[0][0]["system_config"]["validators"]
    for index, (_, config_secret, account) in enumerate(nodes):
        private_key = account["private_key"].decode("ascii")
        assert re.fullmatch(r"[0-9a-f]{64}", private_key), "64 lowercase hex digits, no 0x, no newline"
        assert config_secret["node_address"].decode() == node_address_of(private_key)
        assert config_secret["validator_address"].decode() == bls_key_of(private_key)
        assert validators[index] == bls_key_of(private_key)
    admin_key = (overlord / f"{CHAIN}-admin" / "private_key").read_text()
    assert nodes[0][0]["system_config"]["admin"] == node_address_of(admin_key)


def test_a_raft_chain_names_its_validators_by_node_address(tmp_path: Path):
    make(tmp_path, "--consensus", "raft", "--peers_count", "2")
    nodes = configs(tmp_path, 2)
    for index, (config, config_secret, account) in enumerate(nodes):
        assert "consensus_raft" in config and "consensus_overlord" not in config
        assert config["consensus_raft"]["node_addr"] == "/etc/cita-cloud/config/node_address"
        address = node_address_of(account["private_key"].decode())
        assert config_secret["validator_address"].decode() == address
        assert config["system_config"]["validators"][index] == address


def test_every_node_dials_every_other_by_its_certificate_name(overlord: Path, tmp_path: Path):
    nodes = configs(overlord, 3)
    ca_file = overlord / CA / "ca_cert.pem"
    for index, (config, _, _) in enumerate(nodes):
        network = config["network_zenoh"]
        assert network["domain"] == f"{CHAIN}-{index}"
        assert network["protocol"] == "quic"
        others = [f"{CHAIN}-{other}" for other in range(3) if other != index]
        assert [(peer["domain"], peer["port"], peer["protocol"]) for peer in network["peers"]] == [
            (domain, 40000, "quic") for domain in others
        ]
        assert {module["module_name"]: module["port"] for module in network["modules"]} == {
            "consensus": 50001,
            "controller": 50004,
        }
        assert network["ca_cert"] == ca_file.read_text()
        cert = tmp_path / f"{index}.pem"
        cert.write_text(network["cert"])
        openssl_verify(ca_file, cert, network["domain"])
        key = tmp_path / f"{index}.key"
        key.write_text(network["priv_key"])
        assert public_of_key(key) == public_of_cert(cert), "priv_key is the key of cert"


def test_a_certificate_fails_for_another_name(overlord: Path, tmp_path: Path):
    """The check above can fail: openssl refuses node 0's certificate for node 1's name."""
    cert = tmp_path / "0.pem"
    cert.write_text(configs(overlord, 1)[0][0]["network_zenoh"]["cert"])
    with pytest.raises(AssertionError):
        openssl_verify(overlord / CA / "ca_cert.pem", cert, f"{CHAIN}-1")


def openssl_verify(ca: Path, cert: Path, name: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), "-verify_hostname", name, "-purpose", "sslserver", str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    subject = ["openssl", "x509", "-noout", "-subject", "-in", str(cert)]
    text = subprocess.run(subject, capture_output=True, text=True, check=False)
    assert f"CN = {name}" in text.stdout or f"CN={name}" in text.stdout, "zenoh 1.0 reads the CN of a peer"


def public_of_key(key: Path) -> str:
    argv = ["openssl", "pkey", "-in", str(key), "-pubout"]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def public_of_cert(cert: Path) -> str:
    argv = ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def test_no_key_is_on_the_shared_storage_and_key_files_are_0600(overlord: Path):
    keys = [account["private_key"].decode() for _, _, account in configs(overlord, 3)]
    for path in (overlord / "cita-cloud").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY" not in text and not any(key in text for key in keys), path
    assert sorted(path.name for path in (overlord / "cita-cloud" / CHAIN / "node0").iterdir()) == [
        "node_address",
        "validator_address",
    ]
    for secret_file in (
        overlord / f"{CHAIN}.yaml",
        overlord / f"{CHAIN}-admin" / "private_key",
        overlord / CA / "ca_key.pem",
    ):
        assert secret_file.stat().st_mode & 0o777 == 0o600, secret_file
    for folder in (overlord / f"{CHAIN}-admin", overlord / CA):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def pod_spec(work: Path, index: int) -> dict[str, Any]:
    docs = documents(work / f"{CHAIN}.yaml")
    workload = next(
        doc for doc in docs if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == f"{CHAIN}-{index}"
    )
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("consensus", ["overlord", "raft"])
def test_only_the_signing_services_see_the_private_key(tmp_path: Path, consensus: str):
    make(tmp_path, "--consensus", consensus, "--peers_count", "1", "--need_debug")
    spec = pod_spec(tmp_path, 0)
    account_volume = next(
        v["name"] for v in spec["volumes"] if v.get("secret", {}).get("secretName", "").endswith("-account")
    )
    seeing = {c["name"] for c in spec["containers"] if any(m["name"] == account_volume for m in c["volumeMounts"])}
    assert seeing == ({"controller", "consensus"} if consensus == "overlord" else {"controller"})
    commands = {c["name"]: c.get("command") for c in spec["containers"]}
    key_flag = ["-p", "/etc/cita-cloud/account/private_key"]
    assert commands["controller"][-2:] == key_flag
    assert (commands["consensus"][-2:] == key_flag) is (consensus == "overlord")
    assert commands["debug"] is None, "the debug container runs its image's own netcat"
    debug = next(c for c in spec["containers"] if c["name"] == "debug")
    assert debug["volumeMounts"] == [], "the debug container sees none of the node's files"


def test_the_pod_runs_as_the_images_user_with_nothing_writable_but_its_volumes(overlord: Path):
    spec = pod_spec(overlord, 1)
    assert spec["securityContext"]["runAsUser"] == spec["securityContext"]["fsGroup"] == 1000
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    assert "shareProcessNamespace" not in spec
    for container in spec["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    network = next(c for c in spec["containers"] if c["name"] == "network")
    work = next(v for v in spec["volumes"] if v["name"] == "network-work")
    assert work["emptyDir"]["medium"] == "Memory", "network writes its TLS key into its working dir"
    assert network["workingDir"] == "/network"
    assert {(p["containerPort"], p["protocol"]) for p in network["ports"]} == {(40000, "UDP"), (50000, "TCP")}
    assert not any(m.get("subPath") for m in network["volumeMounts"]), "a subPath mount never sees an update"


def test_the_node_service_carries_zenoh_over_udp_and_the_policy_lets_only_peers_in(overlord: Path):
    docs = documents(overlord / f"{CHAIN}.yaml")
    service = next(doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == f"{CHAIN}-0")
    assert service["spec"]["ports"] == [{"name": "network", "port": 40000, "targetPort": 40000, "protocol": "UDP"}]
    policy = next(doc for doc in docs if doc["kind"] == "NetworkPolicy")
    peers, published = policy["spec"]["ingress"]
    assert peers["from"] == [{"podSelector": {"matchLabels": {"chain_name": CHAIN}}}]
    assert peers["ports"] == [{"protocol": "UDP", "port": 40000}]
    assert published["ports"] == [{"protocol": "TCP", "port": 50004}, {"protocol": "TCP", "port": 50002}]


def test_multi_cluster_peers_resolve_to_their_load_balancers(tmp_path: Path):
    runtime = fixed_runtime("v6 multi")
    assert create_k8s_config.main(v6_multi_argv(tmp_path), runtime) == 0
    node0 = documents(tmp_path / "v6-multi-0.yaml")
    config = tomllib.loads(secret(node0, "v6-multi-0-config")["config.toml"].decode())
    assert [(peer["domain"], peer["port"]) for peer in config["network_zenoh"]["peers"]] == [
        ("v6-multi-1", 31000),
        ("v6-multi-2", 32000),
    ]
    by_name = {(doc["kind"], doc["metadata"]["name"]): doc for doc in node0}
    slice_ = by_name[("EndpointSlice", "v6-multi-1-peer")]
    assert slice_["addressType"] == "IPv6" and slice_["endpoints"][0]["addresses"] == ["2001:db8::11"]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "v6-multi-1"
    assert slice_["ports"] == [{"name": "network", "protocol": "UDP", "port": 31000}]
    assert "selector" not in by_name[("Service", "v6-multi-1")]["spec"]
    assert by_name[("Service", "v6-multi-2")]["spec"] == {"type": "ExternalName", "externalName": "node2.example.org"}
    lb = by_name[("Service", "v6-multi-0")]
    assert {(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in lb["spec"]["ports"]} == {
        ("network", 30000, 40000, "UDP"),
        ("rpc", 30002, 50004, "TCP"),
        ("call", 30003, 50002, "TCP"),
        ("debug", 30008, 9999, "TCP"),
    }


def test_the_release_and_consensus_are_recorded_for_later_verbs(overlord: Path):
    docs = documents(overlord / f"{CHAIN}.yaml")
    for workload in (doc for doc in docs if doc["kind"] == "StatefulSet"):
        annotations = workload["metadata"]["annotations"]
        assert annotations == {"runner-k8s/release": "v6.7.4", "runner-k8s/consensus": "overlord"}
        assert workload["metadata"]["labels"]["app.kubernetes.io/version"] == "v6.7.4"


def test_json_has_the_same_schema_as_v5(tmp_path: Path):
    runtime = fixed_runtime()
    argv = ["local_cluster", "--release", "v6.7.4", "--pvc_name", "p", "--work_dir", str(tmp_path / "v6"), "--json"]
    assert create_k8s_config.main(argv, runtime) == 0
    v6 = json.loads(output_of(runtime))
    runtime = fixed_runtime()
    argv = [
        "local_cluster",
        "--kms_password",
        "pw-1234",
        "--pvc_name",
        "p",
        "--work_dir",
        str(tmp_path / "v5"),
        "--json",
    ]
    assert create_k8s_config.main(argv, runtime) == 0
    v5 = json.loads(output_of(runtime))
    assert set(v6) == set(v5)
    assert set(v6["nodes"][0]) == set(v5["nodes"][0])
    assert (v6["release"], v6["consensus"], v6["kms"]) == ("v6.7.4", "overlord", "sm")
    assert (v5["release"], v5["consensus"]) == ("v5.0.0", "raft")
    assert v6["nodes"][0]["device_id"] is None
    assert v6["outputs"][-1] == str(tmp_path / "v6" / "test-chain-ca")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True), st.integers(1, 65535)), max_size=6
    )
)
def test_peer_lines_rendered_once_are_tomli_ws_own_rendering(peers: list[tuple[str, int]]):
    """The peers array is spliced in from lines rendered once per chain: the file is what tomli_w makes whole."""
    import tomli_w

    from runner_k8s.releases.v6_7_4 import config

    chain = config.ChainConfig("ab" * 32, 1, "cd" * 20, ("ef" * 48,), 3, Consensus.OVERLORD, "CA\n")
    tls = config.NodeTls("CERT\n", "KEY\n")
    zenoh = [config.ZenohPeer(domain, port) for domain, port in peers]
    spliced = config.render_node_config(chain, "me", tls, zenoh).decode()
    whole = tomllib.loads(spliced)
    assert whole["network_zenoh"]["peers"] == [config.peer_table(peer) for peer in zenoh]
    expected = dict(whole)
    assert spliced == tomli_w.dumps(expected, multiline_strings=True)


@settings(max_examples=60, deadline=None)
@given(
    domain=st.from_regex(r"[a-z][a-z0-9-]{0,40}[a-z0-9]", fullmatch=True),
    pem=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60),
    validators=st.lists(st.from_regex(r"[0-9a-f]{40,96}", fullmatch=True), min_size=1, max_size=5),
    consensus=st.sampled_from(list(Consensus)),
    peers=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True), max_size=4),
)
def test_a_node_config_is_the_bytes_of_one_tomli_w_call(
    domain: str, pem: str, validators: list[str], consensus: Consensus, peers: list[str]
):
    """The chain's part is rendered once and each node's values put in: the same bytes as tomli_w on the whole."""
    import tomli_w

    from runner_k8s.releases.v6_7_4 import config

    chain = config.ChainConfig("ab" * 32, 7, "cd" * 20, tuple(validators), 3, consensus, "-----CA-----\nMIIB\n")
    for index in range(3):  # the second and third nodes use the template the first made
        tls = config.NodeTls(f"CERT {index}\n{pem}\n", f"KEY {index}\n{pem}")
        zenoh = [config.ZenohPeer(peer, 40000 + index) for peer in peers]
        own_domain = f"{domain}-{index}"
        whole = config.node_document(chain, own_domain, tls, [config.peer_table(peer) for peer in zenoh])
        expected = tomli_w.dumps(whole, multiline_strings=True).encode("utf-8")
        assert config.render_node_config(chain, own_domain, tls, zenoh) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80),
        st.text(st.sampled_from('ab"\\\t\n\r\x00\x08\x0b\x1f\x7f\x80é🙂 -='), max_size=30),
    )
)
def test_a_string_value_is_written_as_tomli_w_writes_it(value: str):
    """The short cut for text that needs no escape gives tomli_w's own bytes, and the rest goes to tomli_w."""
    import tomli_w

    from runner_k8s.releases.v6_7_4 import config

    assert config._value_text(value) == tomli_w.dumps({"v": value}, multiline_strings=True)[len("v = ") : -1]
