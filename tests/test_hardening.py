"""What the manifests promise an operator of a shared cluster, checked on every variant."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from runner_k8s.kube.objects import listening_check
from tests.chains import PASSWORD, load_documents
from tests.manifest_variants import write_variants

APP_LABELS = ("name", "instance", "component", "part-of", "managed-by", "version")
PUBLISHING = ("NodePort", "LoadBalancer")
KNOWN_SECRETS = [PASSWORD, "db-pass-4471", "pw-0", "pw-1", "pw-2"]


@pytest.fixture(scope="module")
def every_variant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every chain variant of both releases (tests/test_v6_chain.py checks what only v6.7.4 pods promise)."""
    files = write_variants(tmp_path_factory.mktemp("hardening"))
    return {
        name: [doc for path in paths for doc in load_documents(path)] for name, paths in files.items() if name != "pvc"
    }


@pytest.fixture(scope="module")
def variants(every_variant: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The v5.0.0 variants: the promises below name v5.0.0's containers."""
    return {name: documents for name, documents in every_variant.items() if not name.startswith("v6-")}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def test_no_secret_outside_the_secrets(every_variant):
    for name, documents in every_variant.items():
        secrets = [
            base64.b64decode(value).decode() for doc in of_kind(documents, "Secret") for value in doc["data"].values()
        ]
        assert len(secrets) >= 2, name
        for secret in [*secrets, *KNOWN_SECRETS]:
            for document in documents:
                if document["kind"] == "Secret":
                    continue
                leaked = [text for text in strings(document) if secret in text]
                assert not leaked, f"{name}: {document['kind']} {document['metadata']['name']} holds a secret"


def test_the_scan_above_can_fail(variants):
    planted = {**variants["plain"][-1], "note": f"password is {PASSWORD}"}
    assert any(PASSWORD in text for text in strings(planted))


def test_every_object_carries_the_app_labels_and_one_selector_finds_a_chain(every_variant):
    for name, documents in every_variant.items():
        for document in documents:
            labels = document["metadata"]["labels"]
            for key in APP_LABELS:
                assert labels.get(f"app.kubernetes.io/{key}"), (name, document["metadata"]["name"], key)
            assert labels["app.kubernetes.io/instance"] == name
            assert labels["app.kubernetes.io/managed-by"] == "runner_k8s"
        for workload in of_kind(documents, "StatefulSet"):
            template = workload["spec"]["template"]["metadata"]["labels"]
            assert template["app.kubernetes.io/instance"] == name and template["chain_name"] == name
    everything = [doc for documents in every_variant.values() for doc in documents]
    selected = [doc for doc in everything if doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "plain"]
    assert selected == every_variant["plain"]


def test_namespace_only_when_asked(every_variant):
    for name, documents in every_variant.items():
        wanted = "cita" if name in ("monitor-debug", "multi-all", "v6-overlord") else None
        assert {doc["metadata"].get("namespace") for doc in documents} == {wanted}, name


def test_pods_are_hardened(variants):
    for name, documents in variants.items():
        workloads = of_kind(documents, "StatefulSet")
        assert workloads and not of_kind(documents, "Deployment"), name
        for workload in workloads:
            spec = pod_spec(workload)
            assert spec["automountServiceAccountToken"] is False
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for container in spec["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert "NET_RAW" in container["securityContext"]["capabilities"]["drop"]
                image = container["image"]
                assert "@sha256:" in image or ":" in image.rsplit("/", 1)[-1] or "chaincode" in image, image
                ports = {port["containerPort"] for port in container["ports"]}
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    action = container[probe]
                    if "tcpSocket" in action:
                        assert action["tcpSocket"]["port"] in ports, (container["name"], probe)
                    else:
                        command = " ".join(action["exec"]["command"])
                        assert any(f":{port:04X} " in command for port in ports), (container["name"], command)
                assert container["resources"]["requests"] and container["resources"]["limits"]
            syncthing = next(c for c in spec["containers"] if c["name"] == "syncthing")
            assert {"name": "STGUIADDRESS", "value": "127.0.0.1:8384"} in syncthing["env"]
            all_ports = [p["containerPort"] for c in spec["containers"] for p in c["ports"]]
            assert 8384 not in all_ports


def test_no_service_publishes_the_syncthing_gui_or_the_kms(variants):
    for name, documents in variants.items():
        for service in of_kind(documents, "Service"):
            targets = {port["targetPort"] for port in service["spec"]["ports"]}
            assert not targets & {8384, 50005, 50001, 50003, 50000, 5984}, (name, service["metadata"]["name"])


def policy_rules(policy: dict[str, Any]) -> tuple[set[int], set[int], list[dict[str, Any]]]:
    """(ports open to anyone, ports open to the `from` peers, the `from` peers)."""
    anyone: set[int] = set()
    restricted: set[int] = set()
    peers: list[dict[str, Any]] = []
    for rule in policy["spec"]["ingress"]:
        ports = {port["port"] for port in rule["ports"]}
        if "from" in rule:
            restricted |= ports
            peers += rule["from"]
        else:
            anyone |= ports
    return anyone, restricted, peers


def test_network_policy_opens_only_what_the_services_publish(variants):
    for name, documents in variants.items():
        policies = of_kind(documents, "NetworkPolicy")
        workloads = of_kind(documents, "StatefulSet")
        assert len(policies) == (1 if name in ("plain", "monitor-debug", "chaincode", "chaincode-ext") else 3)
        for workload in workloads:
            labels = workload["spec"]["template"]["metadata"]["labels"]
            covering = [
                policy
                for policy in policies
                if all(labels.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())
            ]
            assert len(covering) == 1, (name, workload["metadata"]["name"])
            policy = covering[0]
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            selected = [
                service
                for service in of_kind(documents, "Service")
                if all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
            ]
            published = {
                p["targetPort"] for s in selected if s["spec"]["type"] in PUBLISHING for p in s["spec"]["ports"]
            }
            internal = {
                p["targetPort"] for s in selected if s["spec"]["type"] == "ClusterIP" for p in s["spec"]["ports"]
            }
            anyone, restricted, peers = policy_rules(policy)
            assert anyone == published, (name, sorted(anyone), sorted(published))
            assert restricted == internal
            if internal:
                assert internal == {40000, 22000}
                assert peers == [{"podSelector": {"matchLabels": {"chain_name": name}}}]
            container_ports = {p["containerPort"] for c in pod_spec(workload)["containers"] for p in c["ports"]}
            assert {50005, 50001, 50003, 50000} <= container_ports - anyone - restricted, "kms, consensus... shut"


@pytest.fixture(params=["debian", "busybox"])
def shell_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH for the probe's `sh` and `grep`: the system's (debian images) or busybox's (syncthing's alpine image)."""
    if request.param == "debian":
        return os.environ["PATH"]
    busybox = shutil.which("busybox")
    assert busybox, "busybox is installed by .ci/run (apt-get install busybox)"
    tools = tmp_path_factory.mktemp("busybox")
    for tool in ("sh", "grep"):
        (tools / tool).symlink_to(busybox)
    return str(tools)


def probe(port: int, path: str) -> int:
    return subprocess.run(listening_check(port), env={"PATH": path}, check=False).returncode


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])  # noqa: S104 - a test listener
def test_listening_probe_command_sees_a_listener(host: str, shell_path: str):
    """The exec probe passes while the port listens (on loopback or on every address), fails otherwise."""
    with socket.socket() as listener:
        listener.bind((host, 0))
        port = listener.getsockname()[1]
        assert probe(port, shell_path) == 1, "bound but not listening yet"
        listener.listen(1)
        assert probe(port, shell_path) == 0
    assert probe(port, shell_path) == 1


def test_listening_probe_ignores_connected_sockets(shell_path: str):
    """A connected socket's own port (state ESTABLISHED) is not a listener."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()) as client:
            assert probe(client.getsockname()[1], shell_path) == 1


# --- what each container can reach (issue 15, part 2) --------------------------------------------------

NODE_SECRETS = {"kms.db", "key_id", "node_address"}  # files of the node folder only the services need
SERVICES = {"network", "consensus", "executor", "storage", "controller", "kms"}
MONITORED = {"monitor-debug", "chaincode", "multi-all"}  # the variants made with --need_monitor


def test_only_a_monitored_pod_shares_its_process_namespace(variants):
    """Shared, any container reaches the others' files through /proc/<pid>/root; only the process exporter needs it."""
    for name, documents in variants.items():
        for workload in of_kind(documents, "StatefulSet"):
            spec = pod_spec(workload)
            names = {container["name"] for container in spec["containers"]}
            assert spec["shareProcessNamespace"] is (name in MONITORED), name
            assert ("monitor-process" in names) is (name in MONITORED), name


def test_syncthing_sees_its_identity_and_the_three_shared_folders_only(variants):
    for name, documents in variants.items():
        for workload in of_kind(documents, "StatefulSet"):
            syncthing = next(c for c in pod_spec(workload)["containers"] if c["name"] == "syncthing")
            node_dir = next(c for c in pod_spec(workload)["containers"] if c["name"] == "kms")["volumeMounts"][0]
            mounts = {(mount["mountPath"], mount["subPath"]) for mount in syncthing["volumeMounts"]}
            folder = node_dir["subPath"]
            # contracts.md §5: config.xml names /var/syncthing/<id> for blocks, proposals and txs.
            assert mounts == {
                ("/var/syncthing/config", f"{folder}/config"),
                ("/var/syncthing/blocks", f"{folder}/blocks"),
                ("/var/syncthing/proposals", f"{folder}/proposals"),
                ("/var/syncthing/txs", f"{folder}/txs"),
            }, name


def test_secrets_are_mounted_only_into_the_container_that_uses_them(variants):
    for name, documents in variants.items():
        for workload in of_kind(documents, "StatefulSet"):
            spec = pod_spec(workload)
            secret_volumes = {volume["name"] for volume in spec["volumes"] if "secret" in volume}
            users = {
                (container["name"], mount["name"])
                for container in spec["containers"]
                for mount in container["volumeMounts"]
                if mount["name"] in secret_volumes
            }
            assert users == {("kms", "kms-key"), ("network", "network-key")}, name


def test_the_verified_services_run_with_a_read_only_root(variants):
    """The live harness runs the v5.0.0 images with a read-only root; images never run here keep a writable one."""
    for name, documents in variants.items():
        for workload in of_kind(documents, "StatefulSet"):
            for container in pod_spec(workload)["containers"]:
                read_only = container["securityContext"].get("readOnlyRootFilesystem", False)
                chaincode = "chaincode" in container["image"]
                assert read_only is (container["name"] in SERVICES and not chaincode), (name, container["name"])
