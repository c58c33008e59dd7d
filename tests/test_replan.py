"""Re-planning keeps what it read: a chain's choices survive add_node and remove_node.

add_node plans the chain again from what it reads back (chainload): a node it adds must be the node
local_cluster would have made with the same flags and service-config.toml (contracts.md §6: requests
and limits as `[resources]` says, images and commands as the config says). The expectation comes from
the create verb run with one node more, and the resources from the TOML itself.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import create_k8s_config
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.chains import load_documents, make_local_chain, read_toml
from tests.conftest import FIXED_NOW, REPO, DeterministicRandom

SHIPPED = (REPO / "service-config.toml").read_text()
RESOURCES = """
[resources.default]
cpu_request = "50m"
memory_limit = "1Gi"

[resources.controller]
cpu_limit = "2"
memory_request = "128Mi"

[resources.syncthing]
memory_limit = "256Mi"
"""
ETH_TIKV = SHIPPED.replace("citacloud/kms_sm:v5.0.0", "citacloud/kms_eth:v5.0.0").replace(
    'docker_image = "citacloud/storage_sqlite:v5.0.0"\ncmd = "storage run -p 50003"',
    'docker_image = "citacloud/storage_tikv"\ncmd = "storage run -p 50003 -e basic-pd:2379"',
)
CHAINCODE_EXT = SHIPPED.replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
COUCHDB = '\n[resources.couchdb]\nmemory_request = "256Mi"\nmemory_limit = "2Gi"\n'

# name -> (service-config.toml, local_cluster flags)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "resources": (SHIPPED + RESOURCES, []),
    "eth, tikv, TLS off, a namespace, monitor and debug": (
        ETH_TIKV + RESOURCES,
        ["--enable_tls", "false", "--namespace", "cita", "--need_monitor", "true", "--need_debug", "true"],
    ),
    "chaincode_ext and its state db": (
        CHAINCODE_EXT + COUCHDB,
        ["--state_db_password", "db-pass-4471", "--block_interval", "3", "--node_port", "31000"],
    ),
}
CHAIN = "test-chain"


def make(work: Path, config: str, flags: list[str], count: int) -> None:
    work.mkdir()
    (work / "svc.toml").write_text(config)
    make_local_chain(work, "--peers_count", str(count), "--service_config", str(work / "svc.toml"), *flags)


def run(work: Path, *argv: str) -> None:
    runtime = Runtime(clock=lambda: FIXED_NOW, randbytes=DeterministicRandom("replan"), stdout=io.StringIO())
    assert create_k8s_config.main([*argv, "--work_dir", str(work)], runtime) == 0


def node_objects(work: Path, index: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Node `index`'s objects but its network Secret (a random key): StatefulSet and Services."""
    prefix = f"{CHAIN}-{index}"
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in load_documents(work / f"{CHAIN}.yaml")
        if doc["kind"] != "Secret"
        and (doc["metadata"]["name"] == prefix or doc["metadata"]["name"].startswith(prefix + "-"))
    }


def statefulset_as_node(work: Path, index: int, shown: int) -> str:
    """Node `index`'s StatefulSet with its index written as `shown` (its NodePorts are its Services')."""
    text = json.dumps(node_objects(work, index)[("StatefulSet", f"{CHAIN}-{index}")], sort_keys=True)
    return text.replace(f"{CHAIN}-{index}", f"{CHAIN}-{shown}").replace(f"node{index}", f"node{shown}")


def resources(work: Path, index: int) -> dict[str, Any]:
    statefulset = node_objects(work, index)[("StatefulSet", f"{CHAIN}-{index}")]
    return {c["name"]: c["resources"] for c in statefulset["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_added_and_removed_nodes_keep_the_chains_choices(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config, flags = VARIANTS[variant]
    grown, made = tmp_path / "grown", tmp_path / "made"
    make(grown, config, flags, 3)
    make(made, config, flags, 4)
    run(grown, "add_node")
    assert node_objects(grown, 3) == node_objects(made, 3)  # the node local_cluster makes with one node more
    # [resources] as the TOML says: the controller's own table over the default one over the built-in one.
    controller = resources(grown, 3)["controller"]
    if RESOURCES in config:
        assert controller == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
        assert resources(grown, 3)["syncthing"]["limits"] == {"cpu": "1", "memory": "256Mi"}
    if COUCHDB in config:
        assert resources(grown, 3)["couchdb"] == {
            "requests": {"cpu": "25m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        }
    node3 = grown / "cita-cloud" / CHAIN / "node3"
    assert read_toml(node3 / "network-config.toml")["enable_tls"] == ("--enable_tls" not in flags)
    # remove_node re-plans the chain too; an add_node after it still makes the same node.
    monkeypatch.setattr(membership_flags, "validators_at", lambda address: [])
    run(grown, "remove_node", "--node", "1", "--rpc", "127.0.0.1:1")
    run(grown, "add_node")
    assert statefulset_as_node(grown, 4, 3) == statefulset_as_node(made, 3, 3)


def test_a_loaded_chain_shows_no_secret_of_itself(tmp_path: Path):
    from runner_k8s.day2.chainload import choose_chain, load_chain
    from tests.chains import PASSWORD, secret_value

    make_local_chain(tmp_path, "--peers_count", "2")
    loaded = load_chain(tmp_path, *choose_chain(tmp_path, None))
    node0 = loaded.nodes[0]
    assert repr(loaded) == "LoadedChain(local_cluster 'test-chain', nodes=[0, 1])"
    assert (
        repr(node0)
        == f"NodeState(index=0, address={(tmp_path / 'cita-cloud/test-chain/node0/node_address').read_text()})"
    )
    network_key = secret_value(
        next(
            doc
            for doc in load_documents(tmp_path / f"{CHAIN}.yaml")
            if doc["metadata"]["name"] == f"{CHAIN}-0-network-secret"
        ),
        "network-key",
    )
    assert (node0.kms_password, node0.network_key) == (PASSWORD, network_key)  # read back, never shown
    for text in (repr(loaded), repr(node0), str(node0)):
        assert PASSWORD not in text and network_key not in text and node0.api_key not in text


def test_indices_of_removed_nodes_are_never_given_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_local_chain(tmp_path, "--peers_count", "3")
    monkeypatch.setattr(membership_flags, "validators_at", lambda address: [])
    run(tmp_path, "remove_node", "--node", "1", "--rpc", "127.0.0.1:1")
    run(tmp_path, "remove_node", "--node", "2", "--rpc", "127.0.0.1:1")
    policy = next(doc for doc in load_documents(tmp_path / f"{CHAIN}.yaml") if doc["kind"] == "NetworkPolicy")
    assert policy["metadata"]["annotations"] == {"runner-k8s/retired-nodes": "1,2"}
    run(tmp_path, "add_node")
    assert sorted(path.name for path in (tmp_path / "cita-cloud" / CHAIN).iterdir()) == ["node0", "node3"]
