"""The verbs of create_k8s_config.py: plan a whole chain, write it at once, summarise it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import names
from .accounts import Account, new_account, new_network_key
from .archives import NodeMaterials, load_node_materials
from .cli import Runtime
from .files import PlanItems, ensure_free, secret_file, write_outputs
from .identities import plan_account, utc_now
from .k8s import Manifest, render_yaml
from .keystore import ACCOUNT_ID, render_kms_db
from .manifests import NODE_PORT, NodePod, local_manifests, multi_node_manifests
from .nodefiles import (
    ChainFiles,
    NodeKeys,
    Peer,
    plan_node,
    render_controller_config,
    render_genesis,
    render_init_sys_config,
)
from .ports import MULTI_LAYOUT, ContainerPort, Slot, external_port
from .spec import LocalClusterSpec, MultiClusterSpec
from .syncthing import SyncDevice, SyncIdentity, new_identity, render_config_xml


@dataclass(frozen=True)
class NodeReport:
    """What the summary says about one node."""

    index: int
    address: str
    device_id: str
    where: str


def force_hint(chain: str) -> str:
    """How to get past existing outputs."""
    return f"choose another --chain_name or --work_dir, or pass --force to replace every output of {chain!r}"


def shared_files(
    chain: str,
    *,
    timestamp_ms: int,
    admin: str,
    validators: Sequence[str],
    block_delay_number: int,
    devices: Sequence[SyncDevice],
    enable_tls: bool,
) -> ChainFiles:
    """The files every node of the chain holds identically."""
    return ChainFiles(
        genesis=render_genesis(timestamp_ms),
        init_sys_config=render_init_sys_config(chain, admin, validators),
        controller_config=render_controller_config(block_delay_number),
        config_xml=render_config_xml(chain, devices),
        enable_tls=enable_tls,
    )


def generated_keys(account: Account, password: str, identity: SyncIdentity) -> NodeKeys:
    """A node's key files, all made here."""
    return NodeKeys(
        key_id=str(ACCOUNT_ID).encode(),
        node_address=account.address.encode(),
        kms_db=render_kms_db(account, password),
        cert_pem=identity.cert_pem,
        key_pem=identity.key_pem,
    )


def local_cluster(spec: LocalClusterSpec, *, work_dir: Path, force: bool, runtime: Runtime) -> None:
    """Write every node folder, `<chain>.yaml` and `<chain>-admin/` of a single-cluster chain."""
    chain, count = spec.chain_name, spec.peers_count
    roots = [names.chain_dir(chain), names.chain_yaml(chain), names.admin_dir(chain)]
    ensure_free(work_dir, roots, force=force, hint=force_hint(chain))
    flavour, password, rand = spec.services.kms_flavour, spec.kms_password, runtime.randbytes
    now = utc_now(runtime)
    admin = new_account(flavour, rand)
    accounts = [new_account(flavour, rand) for _ in range(count)]
    identities = [new_identity(rand, now) for _ in range(count)]
    network_keys = [new_network_key(rand) for _ in range(count)]
    hosts = [names.node_name(chain, index) for index in range(count)]
    shared = shared_files(
        chain,
        timestamp_ms=int(runtime.clock() * 1000),
        admin=admin.address,
        validators=[account.address for account in accounts],
        block_delay_number=spec.block_delay_number,
        devices=[
            SyncDevice(identity.device_id, host, host, int(ContainerPort.SYNC))
            for identity, host in zip(identities, hosts, strict=True)
        ],
        enable_tls=spec.enable_tls,
    )
    pods = [
        NodePod(
            chain=chain,
            index=index,
            services=spec.services,
            pvc_name=spec.pvc_name,
            kms_secret=names.kms_secret(chain),
            need_monitor=spec.need_monitor,
            need_debug=spec.need_debug,
            state_db_user=spec.state_db_user,
            state_db_password=spec.state_db_password,
        )
        for index in range(count)
    ]
    manifests = list(local_manifests(pods, kms_password=password, node_port=spec.node_port, network_keys=network_keys))

    def plan() -> PlanItems:
        for index in range(count):
            peers = [Peer(host, int(ContainerPort.P2P)) for other, host in enumerate(hosts) if other != index]
            yield from plan_node(
                chain, index, shared, peers, generated_keys(accounts[index], password, identities[index])
            )
        yield names.chain_yaml(chain), secret_file(render_yaml(manifests))
        yield from plan_account(admin, password, None, names.admin_dir(chain))

    write_outputs(work_dir, roots, plan(), force=force, hint=force_hint(chain))
    reports = [
        NodeReport(index, accounts[index].address, identities[index].device_id, hosts[index]) for index in range(count)
    ]
    for line in local_summary(spec, work_dir, admin.address, reports, manifests):
        runtime.say(line)


def aligned(rows: Sequence[tuple[str, str]]) -> Iterator[str]:
    """Two indented columns, the first padded to its widest entry."""
    width = max(len(left) for left, _ in rows)
    for left, right in rows:
        yield f"  {left:<{width}}  {right}"


def port_table(manifests: Sequence[Manifest]) -> list[str]:
    """`<service>  <port>:<nodePort>/TCP,...` for every NodePort Service, as `kubectl get svc` shows them."""
    rows = [
        (doc["metadata"]["name"], ",".join(f"{p['port']}:{p['nodePort']}/TCP" for p in doc["spec"]["ports"]))
        for doc in manifests
        if doc["kind"] == "Service" and doc["spec"]["type"] == NODE_PORT
    ]
    return list(aligned(rows))


def local_summary(
    spec: LocalClusterSpec, work_dir: Path, admin: str, nodes: Sequence[NodeReport], manifests: Sequence[Manifest]
) -> Iterator[str]:
    """The lines printed after a local_cluster run. Never a password or a key."""
    chain = spec.chain_name
    yield f"Chain {chain}: {len(nodes)} node(s), kms {spec.services.kms_flavour.value}, written in {work_dir}"
    outputs = [
        (f"{names.chain_dir(chain)}/", "node folders: copy the cita-cloud/ tree onto the cluster storage"),
        (names.chain_yaml(chain), "Secrets, Services, Deployments (mode 0600: it holds the kms password)"),
        (f"{names.admin_dir(chain)}/", "the super admin's account: keep it off the cluster storage"),
    ]
    yield from aligned(outputs)
    yield f"Super admin: {admin}"
    yield "Nodes:"
    for node in nodes:
        yield f"  node{node.index}  {node.address}  {node.where}  syncthing {node.device_id}"
    yield "NodePorts (service  port:nodePort/TCP):"
    yield from port_table(manifests)
    yield "Next (minikube):"
    yield "  minikube ssh -- mkdir -p cita-cloud-datadir"
    yield "  scp -i ~/.minikube/machines/minikube/id_rsa -r cita-cloud docker@$(minikube ip):~/cita-cloud-datadir/"
    yield f"  kubectl apply -f {names.chain_yaml(chain)}"


def multi_cluster(spec: MultiClusterSpec, *, work_dir: Path, force: bool, runtime: Runtime) -> None:
    """Write every node folder and one `<chain>-<i>.yaml` per node of a one-node-per-cluster chain."""
    chain, nodes = spec.chain_name, spec.nodes
    roots = [names.chain_dir(chain), *(names.node_yaml(chain, node.index) for node in nodes)]
    ensure_free(work_dir, roots, force=force, hint=force_hint(chain))
    materials = [
        load_node_materials(
            node,
            names.node_dir(chain, node.index),
            accounts_dir=spec.accounts_dir,
            syncthing_dir=spec.syncthing_dir,
            flavour=spec.services.kms_flavour,
        )
        for node in nodes
    ]
    network_keys = [new_network_key(runtime.randbytes) for _ in nodes]
    timestamp_ms = spec.timestamp_ms if spec.timestamp_ms is not None else int(runtime.clock() * 1000)
    shared = shared_files(
        chain,
        timestamp_ms=timestamp_ms,
        admin=spec.super_admin,
        validators=[node.authority for node in nodes],
        block_delay_number=spec.block_delay_number,
        devices=[
            SyncDevice(node.device_id, node.host, node.host, external_port(MULTI_LAYOUT, node.base_port, Slot.SYNC))
            for node in nodes
        ],
        enable_tls=spec.enable_tls,
    )
    pods = [
        NodePod(
            chain=chain,
            index=node.index,
            services=spec.services,
            pvc_name=node.pvc_name,
            kms_secret=names.kms_secret(chain, node.index),
            need_monitor=spec.need_monitor,
            need_debug=spec.need_debug,
            state_db_user=spec.state_db_user,
            state_db_password=spec.state_db_password,
        )
        for node in nodes
    ]

    def plan() -> PlanItems:
        for node, pod, found, network_key in zip(nodes, pods, materials, network_keys, strict=True):
            peers = [
                Peer(other.host, external_port(MULTI_LAYOUT, other.base_port, Slot.NETWORK))
                for other in nodes
                if other.index != node.index
            ]
            yield from plan_node(chain, node.index, shared, peers, found.keys)
            manifests = multi_node_manifests(
                pod,
                kms_password=node.kms_password,
                network_key=network_key,
                base=node.base_port,
                lb_token=node.lb_token,
            )
            yield names.node_yaml(chain, node.index), secret_file(render_yaml(manifests))

    write_outputs(work_dir, roots, plan(), force=force, hint=force_hint(chain))
    for line in multi_summary(spec, work_dir, pods, materials):
        runtime.say(line)


def port_plan(pod: NodePod, base: int) -> str:
    """`network 30000, sync 30001, ...` for the ports in use, then the reserved ones."""
    used = pod.slots_in_use(MULTI_LAYOUT)
    on = ", ".join(f"{slot.port_name} {external_port(MULTI_LAYOUT, base, slot)}" for slot in used)
    off = [
        f"{slot.port_name} {external_port(MULTI_LAYOUT, base, slot)}"
        for slot in MULTI_LAYOUT.offsets
        if slot not in used
    ]
    return on + (f" (reserved: {', '.join(off)})" if off else "")


def multi_summary(
    spec: MultiClusterSpec, work_dir: Path, pods: Sequence[NodePod], materials: Sequence[NodeMaterials]
) -> Iterator[str]:
    """The lines printed after a multi_cluster run. Never a password or a key."""
    chain = spec.chain_name
    yield (
        f"Chain {chain}: {len(spec.nodes)} node(s), one per cluster, kms {spec.services.kms_flavour.value}, "
        f"written in {work_dir}"
    )
    outputs = [(f"{names.chain_dir(chain)}/", "node folders: node<i>/ goes onto cluster i's storage")]
    outputs += [
        (names.node_yaml(chain, node.index), f"node{node.index}'s Secrets, Deployment, LoadBalancer Service (0600)")
        for node in spec.nodes
    ]
    yield from aligned(outputs)
    yield f"Super admin: {spec.super_admin}"
    yield "Nodes (address, IP, LoadBalancer ports):"
    for node, pod in zip(spec.nodes, pods, strict=True):
        yield f"  node{node.index}  {node.authority}  {node.host}  {port_plan(pod, node.base_port)}"
    pending = [copy for found in materials for copy in found.pending]
    if pending:
        yield "Still to copy by hand (the node cannot start without them):"
        for copy in pending:
            yield f"  cp {' '.join(str(copy.source / name) for name in copy.files)} {copy.destination}"
    else:
        yield "Every account and syncthing identity was checked and copied: the node folders are complete."
    yield "Next, in each node's own cluster:"
    node_path = f"{names.chain_dir(chain)}/node<i>"
    yield f"  copy {node_path} onto that cluster's storage at the same path ({node_path})"
    yield f"  kubectl apply -f {chain}-<i>.yaml"
