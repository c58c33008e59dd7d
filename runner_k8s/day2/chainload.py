"""Day-2 load: read back a chain this tool wrote, into the values its planners take.

A chain is loaded only if re-planning it from what was read gives back exactly its YAML and the
node files a change rewrites (network-config.toml, config.xml): so a day-2 verb changes nothing it
does not understand, and `kubectl apply` of its output leaves every running pod alone.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner_k8s import names
from runner_k8s.day2.chainfiles import Chunk, of_kind, read_documents, read_file
from runner_k8s.day2.releasegate import refuse_v6_membership
from runner_k8s.errors import InputError
from runner_k8s.keys.syncthing import verify_identity
from runner_k8s.kube.nodes import RETIRED_ANNOTATION
from runner_k8s.kube.objects import Manifest
from runner_k8s.plan import CERT_PEM, KEY_PEM, NODE_ADDRESS
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML
from runner_k8s.releases.v5_0_0.pods import DEBUG, MONITOR_PROCESS, STATE_DB_USER_ENV, service_from_container
from runner_k8s.releases.v5_0_0.serviceconfig import SERVICE_NAMES, ServiceConfig, parse_service_config
from runner_k8s.releases.v5_0_0.syncconfig import api_key_of

LOCAL_KIND = "local_cluster"
MULTI_KIND = "multi_cluster"
SHARED_FILES = ("genesis.toml", "init_sys_config.toml", "controller-config.toml")
NODE_ADDRESS_TEXT = re.compile(r"0x[0-9a-f]{40}")  # contracts.md §2: lowercase, no newline


@dataclass(frozen=True)
class NodeState:
    """One node of a loaded chain: who it is and the secrets and settings its objects carry."""

    index: int
    address: str
    device_id: str
    api_key: str
    network_key: str
    pvc_name: str
    kms_password: str  # the chain's (local) or the node's own (multi)
    host: str | None = None  # multi_cluster: the LoadBalancer address peers reach
    base_port: int | None = None  # multi_cluster: the first LoadBalancer port
    lb_token: str | None = None

    def __repr__(self) -> str:
        return f"NodeState(index={self.index}, address={self.address})"


@dataclass(frozen=True)
class LoadedChain:
    """Everything a day-2 verb needs to plan a chain again, node for node."""

    kind: str
    chain: str
    services: ServiceConfig
    nodes: tuple[NodeState, ...]
    shared: Mapping[str, bytes]  # SHARED_FILES, byte-identical in every node folder
    enable_tls: bool
    namespace: str | None
    need_monitor: bool
    need_debug: bool
    state_db_user: str
    state_db_password: str
    node_port: int | None  # local_cluster: the RPC NodePort, the base of the others
    retired: tuple[int, ...]
    documents: Mapping[str, Sequence[Chunk]]  # each YAML file as read, document by document

    def __repr__(self) -> str:
        return f"LoadedChain({self.kind} {self.chain!r}, nodes={[node.index for node in self.nodes]})"

    @property
    def next_index(self) -> int:
        """The index a new node gets: never one a node of this chain has had."""
        return max([node.index for node in self.nodes] + list(self.retired)) + 1

    def node(self, index: int) -> NodeState:
        """The node with this index (InputError naming the ones there are)."""
        for node in self.nodes:
            if node.index == index:
                return node
        there = ", ".join(str(node.index) for node in self.nodes)
        raise InputError(f"chain {self.chain!r} has no node {index}; its nodes are {there}")


def find_chains(work_dir: Path) -> dict[str, str]:
    """Chain name -> kind, for every chain a create verb left in work_dir."""
    root = work_dir / names.ROOT_DIR
    found: dict[str, str] = {}
    if not root.is_dir():
        return found
    present = {entry.name for entry in work_dir.iterdir()}
    for entry in sorted(root.iterdir()):
        chain = entry.name
        if not entry.is_dir():
            continue
        if names.chain_yaml(chain) in present:  # the admin's folder may have gone somewhere safer
            found[chain] = LOCAL_KIND
        elif any(names.is_multi_yaml(chain, name) for name in present):
            found[chain] = MULTI_KIND
    return found


def choose_chain(work_dir: Path, chain: str | None) -> tuple[str, str]:
    """(chain, kind) of the one chain in work_dir, or of --chain_name among several."""
    found = find_chains(work_dir)
    if chain is not None:
        if chain not in found:
            listed = f"; it holds {', '.join(sorted(found))}" if found else ""
            raise InputError(
                f"{work_dir} holds no chain {chain!r} (its cita-cloud/{chain}/ and YAML){listed}; "
                "give the --work_dir and --chain_name local_cluster or multi_cluster wrote"
            )
        return chain, found[chain]
    if not found:
        raise InputError(
            f"{work_dir} holds no chain (cita-cloud/<chain>/ with its YAML); give the --work_dir where "
            "create_k8s_config.py wrote it"
        )
    if len(found) > 1:
        raise InputError(
            f"{work_dir} holds {len(found)} chains ({', '.join(sorted(found))}); say which with --chain_name"
        )
    return next(iter(found.items()))


def secret_text(secrets: Mapping[str, Manifest], name: str, key: str, where: Path) -> str:
    """One key of Secret `name`'s data, decoded (InputError when the Secret or the key is missing or unreadable)."""
    import base64  # noqa: PLC0415 - only the loader decodes Secrets

    if name not in secrets:
        raise InputError(f"{where} has no Secret {name}; restore the file")
    try:
        return base64.b64decode(secrets[name]["data"][key], validate=True).decode("utf-8")
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: Secret {name} has no readable {key!r}; restore the file") from None


def has_key(secrets: Mapping[str, Manifest], name: str, key: str) -> bool:
    """Whether Secret `name` holds `key`."""
    data = secrets.get(name, {}).get("data")
    return isinstance(data, dict) and key in data


def services_of(pod_spec: Manifest, where: Path) -> ServiceConfig:
    """The service config that made a node's containers: images, commands and each container's resources."""
    try:
        containers = {container["name"]: container for container in pod_spec["containers"]}
        services = [service_from_container(name, containers[name]) for name in SERVICE_NAMES]
        resources = {
            name: {
                f"{quantity}_{kind}": container["resources"][f"{kind}s"][quantity]
                for kind in ("request", "limit")
                for quantity in ("cpu", "memory")
            }
            for name, container in containers.items()
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(f"{where}: a node's containers are not the ones runner_k8s makes; restore the file") from None
    table: dict[str, object] = {
        "services": [{"name": s.name, "docker_image": s.image, "cmd": s.cmd} for s in services],
        "resources": resources,
    }
    return parse_service_config(table, str(where))


def folder_files(work_dir: Path, chain: str, index: int) -> tuple[str, str, str]:
    """(address, device ID, API key) from a node folder's own files."""
    folder = work_dir / names.node_dir(chain, index)
    address = read_file(folder / NODE_ADDRESS).decode("ascii", errors="replace")
    if not NODE_ADDRESS_TEXT.fullmatch(address):
        raise InputError(
            f"{folder / NODE_ADDRESS} holds {address!r}, not an address (0x and 40 lowercase hex digits, no newline); "
            "restore the file"
        )
    config = folder / CONFIG_DIR
    try:
        device_id = verify_identity(read_file(config / CERT_PEM), read_file(config / KEY_PEM))
    except ValueError as exc:
        raise InputError(f"{config}: {exc}; the node's syncthing identity is damaged") from None
    api_key = api_key_of(read_file(config / CONFIG_XML))
    if api_key is None:
        raise InputError(f"{config / CONFIG_XML} has no GUI API key; restore the file")
    return address, device_id, api_key


def shared_files(work_dir: Path, chain: str, indices: Sequence[int]) -> tuple[dict[str, bytes], bool]:
    """The files every node holds identically, and enable_tls of network-config.toml (the same everywhere)."""
    shared: dict[str, bytes] = {}
    for index in indices:
        folder = work_dir / names.node_dir(chain, index)
        for name in SHARED_FILES:
            data = read_file(folder / name)
            if shared.setdefault(name, data) != data:
                raise InputError(
                    f"{folder / name} differs from node{indices[0]}'s: every node of a chain holds the same one; "
                    "restore it"
                )
    # enable_tls from one node: every node's network-config.toml is then compared whole (check_unchanged).
    path = work_dir / names.node_dir(chain, indices[0]) / "network-config.toml"
    try:
        enable_tls = tomllib.loads(read_file(path).decode()).get("enable_tls")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise InputError(f"{path} is not the TOML file runner_k8s wrote; restore it") from None
    if not isinstance(enable_tls, bool):
        raise InputError(f"{path} has no enable_tls = true or false, which runner_k8s writes first; restore the file")
    return shared, enable_tls


def retired_of(policy: Manifest) -> tuple[int, ...]:
    """The indices of removed nodes, from the annotation remove_node leaves (anything else plans back unlike it)."""
    annotations = policy["metadata"].get("annotations")
    text = annotations.get(RETIRED_ANNOTATION, "") if isinstance(annotations, dict) else ""
    return tuple(int(item) for item in text.split(",") if item.isdigit()) if isinstance(text, str) else ()


def common(values: Sequence[Any], what: str, chain: str) -> Any:
    """The one value every node shares (InputError if they differ)."""
    distinct = {repr(value): value for value in values}
    if len(distinct) != 1:
        raise InputError(f"the nodes of {chain!r} differ in {what}; this tool made them alike: restore the files")
    return next(iter(distinct.values()))


def node_indices(names_found: Sequence[str], chain: str) -> list[int]:
    """The node indices of `<chain>-<i>` names."""
    prefix = f"{chain}-"
    return sorted(
        int(name[len(prefix) :]) for name in names_found if name.startswith(prefix) and name[len(prefix) :].isdigit()
    )


def pod_settings(statefulset: Manifest, where: Path) -> tuple[Manifest, str]:
    """(pod spec, claim name) of a node's StatefulSet."""
    name = statefulset["metadata"].get("name")
    try:
        pod_spec = statefulset["spec"]["template"]["spec"]
        volumes = [volume for volume in pod_spec["volumes"] if "persistentVolumeClaim" in volume]
        claims = [str(volume["persistentVolumeClaim"]["claimName"]) for volume in volumes]
    except (KeyError, TypeError):
        raise InputError(f"{where}: StatefulSet {name} is not one runner_k8s makes; restore the file") from None
    if not claims:
        raise InputError(f"{where}: StatefulSet {name} mounts no claim (persistentVolumeClaim); restore the file")
    return pod_spec, claims[0]


def sidecars_of(pod_spec: Manifest, where: Path) -> tuple[bool, bool, str]:
    """(need_monitor, need_debug, state-db user) as a node's containers show them."""
    containers = {container["name"]: container for container in pod_spec["containers"]}
    try:
        executor_env = {item["name"]: item.get("value") for item in containers["executor"].get("env", [])}
    except (KeyError, TypeError, AttributeError):
        raise InputError(f"{where}: a node's containers are not the ones runner_k8s makes; restore the file") from None
    return MONITOR_PROCESS.name in containers, DEBUG.name in containers, str(executor_env.get(STATE_DB_USER_ENV) or "")


def node_port_of(services: Mapping[str, Manifest], name: str, where: Path) -> int:
    """The nodePort of a local chain's RPC Service, the base of its other NodePorts."""
    if name not in services:
        raise InputError(f"{where} has no Service {name}; restore the file")
    try:
        return int(services[name]["spec"]["ports"][0]["nodePort"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise InputError(f"{where}: Service {name} has no nodePort as runner_k8s writes it; restore the file") from None


def load_chain(work_dir: Path, chain: str, kind: str) -> LoadedChain:
    """Read chain `chain` of kind `kind` from work_dir (InputError naming what is missing or not ours).

    Only the objects whose values a change needs are parsed: the Secrets, the NetworkPolicies, the RPC
    Service, and the StatefulSet the new node's is made like (local_cluster: the first; multi_cluster:
    each node's, in its own file). The others are carried over as they are (membership.check_unchanged).
    """
    if kind == LOCAL_KIND:
        files = {names.chain_yaml(chain): read_documents(work_dir / names.chain_yaml(chain), chain)}
    else:
        present = sorted(entry.name for entry in work_dir.iterdir() if names.is_multi_yaml(chain, entry.name))
        files = {name: read_documents(work_dir / name, chain) for name in present}
    everything = [chunk for chunks in files.values() for chunk in chunks]
    where = work_dir / next(iter(files))

    def file_of(index: int) -> Path:
        """The file that holds node `index`'s objects: the one a message about them names."""
        return work_dir / (names.chain_yaml(chain) if kind == LOCAL_KIND else names.node_yaml(chain, index))

    statefulsets = of_kind(everything, "StatefulSet")
    refuse_v6_membership(list(statefulsets.values()), where, chain)
    secrets = {name: chunk.parsed() for name, chunk in of_kind(everything, "Secret").items()}
    indices = node_indices(list(statefulsets), chain)
    if not indices:
        raise InputError(f"{where} holds no node of chain {chain!r}; restore the file made for the chain")
    read = indices[:1] if kind == LOCAL_KIND else indices
    pods = {index: pod_settings(statefulsets[names.node_name(chain, index)].parsed(), file_of(index)) for index in read}
    services = common(
        [services_of(spec, file_of(index)) for index, (spec, _) in pods.items()],
        "their containers (images, commands, resources)",
        chain,
    )
    monitor, debug, state_db_user = common(
        [sidecars_of(spec, file_of(index)) for index, (spec, _) in pods.items()], "their sidecar containers", chain
    )
    claims = {index: claim for index, (_, claim) in pods.items()}
    policies = [chunk.parsed() for chunk in of_kind(everything, "NetworkPolicy").values()]
    retired = common([retired_of(policy) for policy in policies], "their retired nodes", chain)
    namespaces = [doc.get("metadata", {}).get("namespace") for doc in [*secrets.values(), *policies]]
    namespace = common(namespaces, "their namespace", chain)
    shared, enable_tls = shared_files(work_dir, chain, indices)
    nodes = []
    node_port = None
    state_db_password = ""
    services_by_name = {
        name: chunk.parsed()
        for name, chunk in of_kind(everything, "Service").items()
        if kind == MULTI_KIND or name == names.rpc_service(chain)
    }
    if kind == LOCAL_KIND:
        kms_secret = names.kms_secret(chain)
        password = secret_text(secrets, kms_secret, "key_file", where)
        if has_key(secrets, kms_secret, "state-db-password"):
            state_db_password = secret_text(secrets, kms_secret, "state-db-password", where)
        node_port = node_port_of(services_by_name, names.rpc_service(chain), where)
    for index in indices:
        address, device_id, api_key = folder_files(work_dir, chain, index)
        network_key = secret_text(secrets, names.network_secret(chain, index), "network-key", file_of(index))
        extra: dict[str, Any] = {}
        if kind == MULTI_KIND:
            kms_secret = names.kms_secret(chain, index)
            password = secret_text(secrets, kms_secret, "key_file", file_of(index))
            if has_key(secrets, kms_secret, "state-db-password"):
                state_db_password = secret_text(secrets, kms_secret, "state-db-password", file_of(index))
            extra = multi_settings(work_dir, chain, index, device_id, services_by_name, file_of(index))
        claim = claims.get(index, claims[indices[0]])  # local_cluster: every node on the chain's one claim
        nodes.append(NodeState(index, address, device_id, api_key, network_key, claim, password, **extra))
    return LoadedChain(
        kind=kind,
        chain=chain,
        services=services,
        nodes=tuple(nodes),
        shared=shared,
        enable_tls=enable_tls,
        namespace=namespace,
        need_monitor=monitor,
        need_debug=debug,
        state_db_user=state_db_user,
        state_db_password=state_db_password,
        node_port=node_port,
        retired=retired,
        documents=files,
    )


def multi_settings(
    work_dir: Path, chain: str, index: int, device_id: str, services: Mapping[str, Manifest], where: Path
) -> dict[str, Any]:
    """host, base_port and lb_token of a multi_cluster node: its LoadBalancer and its own config.xml."""
    from runner_k8s.kube.nodes import LB_ID_ANNOTATION  # noqa: PLC0415 - beside the other multi-only names
    from runner_k8s.releases.v5_0_0.syncconfig import devices_of  # noqa: PLC0415

    name = names.lb_service(chain, index)
    if name not in services:
        raise InputError(f"{where} has no LoadBalancer Service {name}; restore the file")
    try:
        ports = {port["name"]: int(port["port"]) for port in services[name]["spec"]["ports"]}
        annotations = services[name]["metadata"].get("annotations") or {}
        lb_token = str(annotations.get(LB_ID_ANNOTATION, ""))
    except (KeyError, TypeError, ValueError, AttributeError):
        ports, lb_token = {}, ""
    if "network" not in ports:
        raise InputError(f"{where}: LoadBalancer Service {name} has no network port; restore the file")
    config = work_dir / names.node_dir(chain, index) / CONFIG_DIR / CONFIG_XML
    own = [device for device in devices_of(read_file(config)) if device.device_id == device_id]
    if not own:
        raise InputError(f"{config} has no device of node{index} itself ({device_id}); restore the file")
    return {"host": own[0].host, "base_port": ports["network"], "lb_token": lb_token}
