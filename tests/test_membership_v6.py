"""Issue 24: add_node and remove_node on a v6.7.4 local_cluster chain, the files they write checked independently.

Expectations come from the v6.7.4 facts (docs/releases.md, the v6 day-2 notes) and from other tools:
the new node's key gives its node address by gmssl (SM2, SM3) and its validator key by py_ecc (BLS);
its certificate is verified by the openssl command against the chain CA and names `<chain>-<i>`; its
pod, Services and NetworkPolicy are those the create verb makes for a chain that has the node from the
start; every other object is untouched but the other nodes' config.toml, where only `peers` changes
(parsed by tomllib). A chain that does not plan back to itself, or a CA that is not its own, is refused
in one line and nothing is written.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import create_k8s_config
from runner_k8s.scripts import membership_flags
from tests.conftest import fixed_runtime, output_of, tree_snapshot
from tests.test_v6_chain import bls_key_of, node_address_of

CHAIN = "demo"
PEER = {"protocol": "quic", "port": 40000}
SERVICES = ("network", "consensus", "executor", "storage", "controller")


def make(work: Path, count: int, *extra: str, seed: str = "v6 membership") -> None:
    argv = ["local_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--pvc_name", "pvc", "--work_dir", str(work)]
    argv += ["--peers_count", str(count), *extra]
    assert create_k8s_config.main(argv, fixed_runtime(seed)) == 0


def run(work: Path, *argv: str, seed: str = "day 2") -> tuple[int, str]:
    runtime = fixed_runtime(seed)
    code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime)


def objects(work: Path) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all((work / f"{CHAIN}.yaml").read_text()) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def data(docs: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in docs[("Secret", name)]["data"].items()}


def config(docs: dict[tuple[str, str], dict[str, Any]], index: int) -> dict[str, Any]:
    return tomllib.loads(data(docs, f"{CHAIN}-{index}-config")["config.toml"])


def openssl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, input=stdin, check=False, timeout=60)


@pytest.fixture(scope="module", params=["overlord", "raft"])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp(request.param) / "work"
    make(work, 4, "--consensus", request.param)
    return work, request.param


def copy(chain: tuple[Path, str], tmp: Path) -> Path:
    shutil.copytree(chain[0], tmp / "work")
    return tmp / "work"


def test_add_node_writes_a_new_node_and_only_the_peers_of_the_others_change(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    before = objects(work)
    code, out = run(work, "add_node")
    assert code == 0, out
    after = objects(work)
    new = {key for key in after if key not in before}
    assert new == {
        ("Secret", f"{CHAIN}-4-config"),
        ("Secret", f"{CHAIN}-4-account"),
        ("Service", f"{CHAIN}-4"),
        ("StatefulSet", f"{CHAIN}-4"),
        ("Service", f"{CHAIN}-4-executor"),
    }
    for key, document in before.items():
        if key[0] == "Secret" and key[1].endswith("-config"):
            index = int(key[1].split("-")[1])
            old, now = config(before, index), config(after, index)
            assert now["network_zenoh"].pop("peers") == [
                *old["network_zenoh"].pop("peers"),
                {**PEER, "domain": "demo-4"},
            ]
            assert now == old
            old_data, now_data = data(before, key[1]), data(after, key[1])
            assert {k: v for k, v in now_data.items() if k != "config.toml"} == {
                k: v for k, v in old_data.items() if k != "config.toml"
            }
        else:
            assert after[key] == document, key
    # The new node's config: the chain's genesis and initial system config, every other node as a peer.
    mine, first = config(after, 4), config(after, 0)
    assert mine["genesis_block"] == first["genesis_block"] and mine["system_config"] == first["system_config"]
    assert mine["network_zenoh"]["ca_cert"] == first["network_zenoh"]["ca_cert"]
    assert mine["network_zenoh"]["domain"] == f"{CHAIN}-4"
    assert mine["network_zenoh"]["peers"] == [{**PEER, "domain": f"{CHAIN}-{index}"} for index in range(4)]
    # Its account: a fresh key, its addresses by gmssl and py_ecc, the same in its Secret and its folder.
    private = data(after, f"{CHAIN}-4-account")["private_key"]
    assert private not in {data(after, f"{CHAIN}-{index}-account")["private_key"] for index in range(4)}
    address = node_address_of(private)
    validator = bls_key_of(private) if chain[1] == "overlord" else address
    secret = data(after, f"{CHAIN}-4-config")
    assert (secret["node_address"], secret["validator_address"]) == (address, validator)
    folder = work / "cita-cloud" / CHAIN / "node4"
    assert sorted(path.name for path in folder.iterdir()) == ["node_address", "validator_address"]
    assert (folder / "node_address").read_text() == address and (folder / "validator_address").read_text() == validator
    assert f"node4 added (0x{address}" in out
    assert private not in out and private not in (work / f"{CHAIN}-plan.sh").read_text()
    assert (work / f"{CHAIN}.yaml").stat().st_mode & 0o777 == 0o600


def test_the_new_node_certificate_is_signed_by_the_chain_ca(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    assert run(work, "add_node")[0] == 0
    network = config(objects(work), 4)["network_zenoh"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(network["cert"])
    key.write_text(network["priv_key"])
    verified = openssl("verify", "-CAfile", str(work / f"{CHAIN}-ca" / "ca_cert.pem"), str(cert))
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stderr
    names = openssl("x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName")
    assert f"CN = {CHAIN}-4" in names.stdout and f"DNS:{CHAIN}-4" in names.stdout, names.stdout
    from_cert = openssl("x509", "-in", str(cert), "-noout", "-pubkey").stdout
    from_key = openssl("pkey", "-in", str(key), "-pubout").stdout
    assert from_cert and from_cert == from_key


def test_the_new_node_objects_are_those_of_a_chain_made_with_it(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    assert run(work, "add_node")[0] == 0
    fresh = tmp_path / "fresh"
    make(fresh, 5, "--consensus", chain[1], seed="another chain")
    added, made = objects(work), objects(fresh)
    for key in [("StatefulSet", f"{CHAIN}-4"), ("Service", f"{CHAIN}-4"), ("Service", f"{CHAIN}-4-executor")]:
        assert added[key] == made[key], key
    assert added[("NetworkPolicy", CHAIN)] == made[("NetworkPolicy", CHAIN)]


def test_the_plan_applies_once_waits_for_the_peers_then_votes_with_the_folder(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    out = run(work, "add_node")[1]
    script = (work / f"{CHAIN}-plan.sh").read_text()
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert [line for line in lines if line.startswith("kubectl apply")] == [f"kubectl apply -f {CHAIN}.yaml"]
    assert not [line for line in lines if " delete " in line or "rollout restart" in line or " scale " in line]
    waits = [number for number, line in enumerate(lines) if "--wait_synced --peers 4 " in line]
    vote = next(number for number, line in enumerate(lines) if "add_validator" in line)
    assert len(waits) == 2 and waits[0] < vote < waits[1]
    assert f"--node_dir cita-cloud/{CHAIN}/node4 --node_rpc 127.0.0.1:28104 --if_needed" in lines[vote]
    assert f"--admin_dir {CHAIN}-admin " in lines[vote]
    for line in script.splitlines()[3:]:
        assert f"  {line}" in out.splitlines() or line.startswith("cd ")


def test_add_node_twice_gives_the_next_index_and_the_chain_reloads(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    assert run(work, "add_node")[0] == 0
    assert run(work, "add_node", seed="second")[0] == 0
    peers = [peer["domain"] for peer in config(objects(work), 0)["network_zenoh"]["peers"]]
    assert peers == [f"{CHAIN}-{index}" for index in (1, 2, 3, 4, 5)]


def test_remove_node_takes_the_node_out_and_its_index_is_never_given_again(
    chain: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work = copy(chain, tmp_path)
    before = objects(work)
    asked: list[list[str]] = []

    def validators_at(rpc: list[str]) -> list[str]:
        asked.append(list(rpc))
        return ["0x00"]

    monkeypatch.setattr(membership_flags, "validators_at", validators_at)
    code, out = run(work, "remove_node", "--node_index", "3", "--rpc", "127.0.0.1:1")
    assert code == 0, out
    assert asked == [["127.0.0.1:1"]]
    after = objects(work)
    assert {key for key in before if key not in after} == {
        ("Secret", f"{CHAIN}-3-config"),
        ("Secret", f"{CHAIN}-3-account"),
        ("Service", f"{CHAIN}-3"),
        ("StatefulSet", f"{CHAIN}-3"),
        ("Service", f"{CHAIN}-3-executor"),
    }
    assert after[("NetworkPolicy", CHAIN)]["metadata"]["annotations"] == {"runner-k8s/retired-nodes": "3"}
    for index in range(3):
        peers = config(after, index)["network_zenoh"].pop("peers")
        assert peers == [{**PEER, "domain": f"{CHAIN}-{other}"} for other in range(3) if other != index]
    assert not (work / "cita-cloud" / CHAIN / "node3").exists()
    script = (work / f"{CHAIN}-plan.sh").read_text()
    validator = (chain[0] / "cita-cloud" / CHAIN / "node3" / "validator_address").read_text()
    vote = script.index(f"remove_validator 0x{validator} ")
    assert vote < script.index("kubectl apply -f") < script.index("kubectl delete statefulset/demo-3 ")
    assert run(work, "add_node")[0] == 0
    assert ("StatefulSet", f"{CHAIN}-4") in objects(work) and ("StatefulSet", f"{CHAIN}-3") not in objects(work)


def test_remove_node_refuses_the_chain_s_only_validator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    work = tmp_path / "work"
    make(work, 2)
    only = (work / "cita-cloud" / CHAIN / "node1" / "validator_address").read_text()
    monkeypatch.setattr(membership_flags, "validators_at", lambda rpc: ["0x" + only.upper()])
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    assert run(work, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:1")[0] == 1
    assert capsys.readouterr().err == (
        "create_k8s_config.py: error: node1 is the only validator of the running chain: make another node a "
        "validator first (manage_chain.py add_validator), then run remove_node again\n"
    )
    assert tree_snapshot(tmp_path) == before
    other = (work / "cita-cloud" / CHAIN / "node0" / "validator_address").read_text()
    monkeypatch.setattr(membership_flags, "validators_at", lambda rpc: ["0x" + only, "0x" + other])
    assert run(work, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:1")[0] == 0


def test_a_dry_run_writes_nothing_and_shows_no_key(chain: tuple[Path, str], tmp_path: Path):
    work = copy(chain, tmp_path)
    before = tree_snapshot(work)
    code, out = run(work, "add_node", "--dry_run")
    assert code == 0
    assert tree_snapshot(work) == before
    assert "add_validator NODE4_ADDRESS " in out and "its account is made by the real run" in out


def damage_yaml(work: Path, tmp: Path) -> None:
    """node1's peers edited by hand, inside its Secret; every other byte of the file as it was."""
    path = work / f"{CHAIN}.yaml"
    encoded = objects(work)[("Secret", f"{CHAIN}-1-config")]["data"]["config.toml"]
    toml = base64.b64decode(encoded).decode().replace(f'"{CHAIN}-0"', '"elsewhere"')
    path.write_text(path.read_text().replace(encoded, base64.b64encode(toml.encode()).decode()))


def other_ca(work: Path, tmp: Path) -> None:
    make(tmp / "other", 1, seed="another CA")
    shutil.rmtree(work / f"{CHAIN}-ca")
    shutil.copytree(tmp / "other" / f"{CHAIN}-ca", work / f"{CHAIN}-ca")


def foreign_certificate(work: Path, tmp: Path) -> None:
    """node1's TLS certificate and key replaced by another chain's node1 (same name, another CA), in its Secret."""
    make(tmp / "other", 2, seed="another CA")
    path = work / f"{CHAIN}.yaml"
    encoded = objects(work)[("Secret", f"{CHAIN}-1-config")]["data"]["config.toml"]
    mine, theirs = config(objects(work), 1)["network_zenoh"], config(objects(tmp / "other"), 1)["network_zenoh"]
    text = base64.b64decode(encoded).decode()
    for field in ("cert", "priv_key"):
        text = text.replace(mine[field], theirs[field])
    path.write_text(path.read_text().replace(encoded, base64.b64encode(text.encode()).decode()))


def swapped_keys(work: Path) -> None:
    """node0's and node1's private keys swapped between their account Secrets; every other byte as it was."""
    path = work / f"{CHAIN}.yaml"
    docs = objects(work)
    first, second = (docs[("Secret", f"{CHAIN}-{index}-account")]["data"]["private_key"] for index in (0, 1))
    text = path.read_text().replace(first, "FIRST").replace(second, first).replace("FIRST", second)
    path.write_text(text)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damage_yaml, "{work}/demo.yaml is not what runner_k8s wrote for chain 'demo' (edited by hand, or objects "
         "added or removed?); a change would replace it, so nothing was done: restore the file"),
        (lambda work, tmp: shutil.rmtree(work / "demo-ca"), "{work}/demo-ca/ca_cert.pem is missing: the chain's "
         "files are not whole; restore them first"),
        (other_ca, "{work}/demo-ca: the CA certificate is not the one the chain's nodes trust (their config.toml's "
         "ca_cert); restore the chain's own CA folder"),
        (lambda work, tmp: (work / "cita-cloud/demo/node0/node_address").write_text("00" * 20), "{work}/cita-cloud/"
         "demo/node0/node_address does not hold node0's node_address as its Secret does; restore the node folder"),
        (lambda work, tmp: swapped_keys(work), "{work}/demo.yaml: Secret demo-0-config names another account than "
         "the key in Secret demo-0-account; restore the file"),
        (foreign_certificate, "{work}/demo-ca: node1's certificate in its config Secret: the node certificate is "
         "not signed by this chain's CA; restore the chain's CA folder and its YAML as they were made"),
    ],
)  # fmt: skip
def test_a_chain_that_is_not_as_written_is_refused_in_one_line(tmp_path: Path, capsys, damage: Any, message: str):
    work = tmp_path / "work"
    make(work, 2)
    damage(work, tmp_path)
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    assert run(work, "add_node")[0] == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"create_k8s_config.py: error: {message.format(work=work)}\n")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--kms_password", "pw"], "--kms_password is not for a v6.7.4 chain: v6.7.4 has no kms; leave it out"),
        (["--authority", "0x" + "11" * 20], "--authority is not for a v6.7.4 chain: the new node's account is made "
         "here (a fresh key); leave it out"),
        (["--pvc_name", "other"], "--pvc_name is not for a v6.7.4 chain: local_cluster nodes share the chain's "
         "claim; leave it out"),
        (["--seed_from", "1", "--dry_run"], "--seed_from 1: chain 'demo' has no node 1; its nodes are 0"),
        (["--admin_dir", "x"], "--admin_dir is for multi_cluster chains; a local_cluster plan signs with "
         "<chain>-admin/"),
        (["--contexts", "a,b"], "chain 'demo' runs in one cluster: give --contexts one context, not 2"),
    ],
)  # fmt: skip
def test_flags_a_v6_node_does_not_take_are_refused(tmp_path: Path, capsys, flags: list[str], message: str):
    work = tmp_path / "work"
    make(work, 1)
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    assert run(work, "add_node", *flags)[0] == 2
    assert capsys.readouterr().err == f"create_k8s_config.py: error: {message}\n"
    assert tree_snapshot(tmp_path) == before


def test_the_new_node_port_must_fit_the_range_at_its_edge(tmp_path: Path, capsys):
    work = tmp_path / "work"
    make(work, 2)
    calls = [
        objects(work)[("Service", f"{CHAIN}-{index}-executor")]["spec"]["ports"][0]["nodePort"] for index in range(2)
    ]
    needed = calls[0] + 2 * (calls[1] - calls[0])  # node2's call port, as the others' are laid out
    capsys.readouterr()
    assert run(work, "add_node", "--dry_run", "--node_port_range", f"30000-{needed - 1}")[0] == 2
    assert f"node2 needs NodePort {needed} (call of node2), outside --node_port_range 30000-{needed - 1}" in (
        capsys.readouterr().err
    )
    assert run(work, "add_node", "--node_port_range", f"30000-{needed}")[0] == 0
    assert objects(work)[("Service", f"{CHAIN}-2-executor")]["spec"]["ports"][0]["nodePort"] == needed


def test_the_json_report_names_the_node_and_holds_no_key(chain: tuple[Path, str], tmp_path: Path):
    import json

    work = copy(chain, tmp_path)
    code, out = run(work, "add_node", "--json")
    assert code == 0
    report = json.loads(out)
    private = data(objects(work), f"{CHAIN}-4-account")["private_key"]
    address = (work / "cita-cloud" / CHAIN / "node4" / "node_address").read_text()
    assert report["node"] == {"index": 4, "address": "0x" + address, "device_id": None}
    assert report["outputs"] == [f"{work}/cita-cloud/{CHAIN}/node4", f"{work}/{CHAIN}.yaml", f"{work}/{CHAIN}-plan.sh"]
    assert private not in out and "PRIVATE KEY" not in out
