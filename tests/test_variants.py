"""What each variant puts in the YAML, asserted against contracts.md §1 and §6 (not only schema-valid)."""

from __future__ import annotations

import base64
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.chains import load_documents
from tests.conftest import REPO
from tests.independent import check_kms_db
from tests.inputs import MultiArgs, local_argv, run_main

SHIPPED = (REPO / "service-config.toml").read_text()
EVM = "citacloud/executor_evm:v5.0.0"
DIGEST = "sha256:" + "0123456789abcdef" * 4
USER, PASSWORD = "couch-admin", "pa ss;$(x)"
WORKLOADS = ("Deployment", "StatefulSet")
NETCAT = "subfuzion/netcat@sha256:7e808e84a631d9c2cd5a04f6a084f925ea388e3127553461536c1248c3333c8a"


def config_with(**images: str) -> str:
    text = SHIPPED
    defaults = {
        "network": "citacloud/network_p2p:v5.0.0",
        "consensus": "citacloud/consensus_raft:v5.0.0",
        "executor": EVM,
        "storage": "citacloud/storage_sqlite:v5.0.0",
        "controller": "citacloud/controller:v5.0.0",
        "kms": "citacloud/kms_sm:v5.0.0",
    }
    for service, image in images.items():
        assert f'"{defaults[service]}"' in text
        text = text.replace(f'"{defaults[service]}"', f'"{image}"')
    return text


def local_chain(work: Path, capsys, config: str, *flags: str) -> list[dict[str, Any]]:
    (work / "svc.toml").write_text(config)
    outcome = run_main(local_argv(work, "--service_config", str(work / "svc.toml"), *flags, count=1), capsys)
    assert outcome.code == 0, outcome.stderr
    return load_documents(work / "test-chain.yaml")


def workload(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] in WORKLOADS and d["metadata"]["name"] == name)


def containers(documents: list[dict[str, Any]], name: str = "test-chain-0") -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in workload(documents, name)["spec"]["template"]["spec"]["containers"]}


def env_value(entry: dict[str, Any], documents: list[dict[str, Any]]) -> str:
    """An env value, written inline or taken from a Secret of the same YAML."""
    if "value" in entry:
        return str(entry["value"])
    ref = entry["valueFrom"]["secretKeyRef"]
    secret = next(d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == ref["name"])
    if "stringData" in secret and ref["key"] in secret["stringData"]:
        return str(secret["stringData"][ref["key"]])
    return base64.b64decode(secret["data"][ref["key"]]).decode()


def container_ports(container: dict[str, Any]) -> set[int]:
    return {port["containerPort"] for port in container.get("ports", [])}


def check_couchdb(documents: list[dict[str, Any]], node: str, data_dir: str) -> None:
    pod = containers(documents, node)
    couchdb = pod["couchdb"]
    assert couchdb["image"] == "couchdb:3.1.1"
    assert couchdb["imagePullPolicy"] == "IfNotPresent", "pinned tag"
    assert container_ports(couchdb) == {5984}
    env = {entry["name"]: env_value(entry, documents) for entry in couchdb["env"]}
    assert env == {"COUCHDB_USER": USER, "COUCHDB_PASSWORD": PASSWORD}
    mounts = [m for m in couchdb["volumeMounts"] if m["name"] == "datadir"]
    assert mounts == [{"name": "datadir", "mountPath": "/opt/couchdb/data", "subPath": f"{data_dir}/state-data"}]
    executor = pod["executor"]
    # The credentials may reach the command through the container's environment (from a Secret): expand it.
    executor_env = {entry["name"]: env_value(entry, documents) for entry in executor.get("env", [])}
    words = [executor_env[w[1:]] if w.startswith("$") else w for w in shlex.split(executor["command"][2])]
    assert words == [
        "executor",
        "run",
        "-p",
        "50002",
        "--couchdb-username",
        USER,
        "--couchdb-password",
        PASSWORD,
    ]
    assert executor["command"][:2] == ["sh", "-c"]
    assert container_ports(executor) == {50002, 7052, 7053}


def test_chaincode_ext_local(tmp_path: Path, capsys):
    config = config_with(executor="citacloud/executor_chaincode_ext")
    documents = local_chain(tmp_path, capsys, config, "--state_db_user", USER, "--state_db_password", PASSWORD)
    check_couchdb(documents, "test-chain-0", "cita-cloud/test-chain/node0")
    service = next(d for d in documents if d["metadata"]["name"] == "test-chain-0-executor")
    ports = {p["name"]: (p["port"], p["targetPort"], p["nodePort"]) for p in service["spec"]["ports"]}
    # README NodePorts, base 30004, node 0: chaincode base+3, eventhub base+4, call base+5.
    assert ports == {"call": (50002, 50002, 30009), "chaincode": (7052, 7052, 30007), "eventhub": (7053, 7053, 30008)}


def test_chaincode_ext_multi(tmp_path: Path, capsys):
    (tmp_path / "svc.toml").write_text(config_with(executor="citacloud/executor_chaincode_ext"))
    flags = ("--service_config", str(tmp_path / "svc.toml"), "--state_db_user", USER, "--state_db_password", PASSWORD)
    args = MultiArgs(tmp_path, 2, {"--node_ports": "31000,32000"})
    outcome = run_main(args.argv(*flags), capsys)
    assert outcome.code == 0, outcome.stderr
    for index, base in enumerate((31000, 32000)):
        documents = load_documents(tmp_path / f"test-chain-{index}.yaml")
        check_couchdb(documents, f"test-chain-{index}", f"cita-cloud/test-chain/node{index}")
        service = documents[-1]
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert ports == {
            "network": (base, 40000),
            "sync": (base + 1, 22000),
            "rpc": (base + 2, 50004),
            "call": (base + 3, 50002),
            "chaincode": (base + 6, 7052),
            "eventhub": (base + 7, 7053),
        }


def test_chaincode_without_ext_has_no_couchdb(tmp_path: Path, capsys):
    documents = local_chain(tmp_path, capsys, config_with(executor="citacloud/executor_chaincode"))
    pod = containers(documents)
    assert "couchdb" not in pod
    assert pod["executor"]["command"] == ["sh", "-c", "executor run -p 50002"]
    assert container_ports(pod["executor"]) == {50002, 7052, 7053}


def test_plain_executor_has_only_its_call_port(tmp_path: Path, capsys):
    documents = local_chain(tmp_path, capsys, SHIPPED)
    pod = containers(documents)
    assert "couchdb" not in pod
    assert container_ports(pod["executor"]) == {50002}
    service = next(d for d in documents if d["metadata"]["name"] == "test-chain-0-executor")
    assert [(p["name"], p["nodePort"]) for p in service["spec"]["ports"]] == [("call", 30009)]


# contracts.md §1: Always for an untagged or :latest image, IfNotPresent for a pinned tag; a digest pins.
IMAGES = [
    ("network", "citacloud/network_p2p:latest", "Always"),
    ("network", "citacloud/network_p2p", "Always"),
    ("consensus", "registry:5000/citacloud/consensus_raft", "Always"),
    ("consensus", "registry:5000/citacloud/consensus_raft:latest", "Always"),
    ("consensus", "registry:5000/citacloud/consensus_raft:v5.0.0", "IfNotPresent"),
    ("storage", f"citacloud/storage_sqlite@{DIGEST}", "IfNotPresent"),
    ("storage", f"registry:5000/citacloud/storage_sqlite@{DIGEST}", "IfNotPresent"),
    ("controller", f"citacloud/controller:latest@{DIGEST}", "IfNotPresent"),
    ("controller", "citacloud/controller:v5.0.0", "IfNotPresent"),
    ("kms", f"registry:5000/citacloud/kms_sm:v5.0.0@{DIGEST}", "IfNotPresent"),
    ("kms", "localhost:5000/kms_sm", "Always"),
]


@pytest.mark.parametrize(("service", "image", "policy"), IMAGES)
def test_image_reference_and_pull_policy(tmp_path: Path, capsys, service: str, image: str, policy: str):
    documents = local_chain(tmp_path, capsys, config_with(**{service: image}))
    container = containers(documents)[service]
    assert (container["image"], container["imagePullPolicy"]) == (image, policy)


def test_sidecar_pull_policies(tmp_path: Path, capsys):
    config = config_with(executor="citacloud/executor_chaincode_ext")
    documents = local_chain(tmp_path, capsys, config, "--need_monitor", "--need_debug")
    policies = {name: (c["image"], c["imagePullPolicy"]) for name, c in containers(documents).items()}
    assert policies == {
        "debug": (NETCAT, "IfNotPresent"),  # pinned by digest
        "syncthing": ("syncthing/syncthing:1.16", "IfNotPresent"),
        "network": ("citacloud/network_p2p:v5.0.0", "IfNotPresent"),
        "consensus": ("citacloud/consensus_raft:v5.0.0", "IfNotPresent"),
        "executor": ("citacloud/executor_chaincode_ext", "Always"),
        "storage": ("citacloud/storage_sqlite:v5.0.0", "IfNotPresent"),
        "controller": ("citacloud/controller:v5.0.0", "IfNotPresent"),
        "kms": ("citacloud/kms_sm:v5.0.0", "IfNotPresent"),
        "couchdb": ("couchdb:3.1.1", "IfNotPresent"),
        "monitor-process": ("citacloud/monitor-process-exporter:0.4.1", "IfNotPresent"),
        "monitor-citacloud": ("citacloud/monitor-citacloud-exporter:0.1.1", "IfNotPresent"),
    }


@pytest.mark.parametrize(
    ("image", "config_type"),
    [
        (f"registry:5000/citacloud/kms_eth@{DIGEST}", "eth"),
        ("registry:5000/citacloud/kms_sm:latest", "sm"),
        ("kms_eth", "eth"),
    ],
)
def test_kms_flavour_read_through_registry_and_digest(tmp_path: Path, capsys, image: str, config_type: str):
    local_chain(tmp_path, capsys, config_with(kms=image))
    node = tmp_path / "cita-cloud" / "test-chain" / "node0"
    with sqlite3.connect(f"file:{node / 'kms.db'}?mode=ro", uri=True) as db:
        assert db.execute("select config_type from config").fetchone() == (config_type,)
    db.close()
    check_kms_db(node / "kms.db", "chain-pass", (node / "node_address").read_text())


@pytest.mark.parametrize(
    ("image", "has_chaincode_ports", "has_couchdb"),
    [
        ("chaincode.example:5000/citacloud/executor_evm:v1", False, False),  # the registry's name does not count
        (f"registry:5000/citacloud/executor_chaincode_ext@{DIGEST}", True, True),
        ("registry:5000/executor_chaincode:v2", True, False),
    ],
)
def test_executor_kind_read_from_the_image_name(
    tmp_path: Path, capsys, image: str, has_chaincode_ports: bool, has_couchdb: bool
):
    pod = containers(local_chain(tmp_path, capsys, config_with(executor=image)))
    assert ({7052, 7053} <= container_ports(pod["executor"])) is has_chaincode_ports
    assert ("couchdb" in pod) is has_couchdb


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("citacloud/kms_rsa:v5.0.0", "kms image 'citacloud/kms_rsa:v5.0.0' is neither kms_sm nor kms_eth"),
        # Only the image's own name counts, not its registry's or an organisation's.
        ("kms-sm.example:5000/kms", "kms image 'kms-sm.example:5000/kms' is neither kms_sm nor kms_eth"),
        ("registry.example/kms_sm/kms", "kms image 'registry.example/kms_sm/kms' is neither kms_sm nor kms_eth"),
    ],
)
def test_unknown_kms_image_is_refused(tmp_path: Path, capsys, image: str, message: str):
    (tmp_path / "svc.toml").write_text(config_with(kms=image))
    outcome = run_main(local_argv(tmp_path, "--service_config", str(tmp_path / "svc.toml")), capsys)
    assert outcome.code == 1 and message in outcome.stderr, outcome.stderr
