"""The verbs of create_k8s_config.py: plan a whole chain, write it at once, summarise it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import names
from .accounts import account_from_secret, new_network_key, random_scalar, secret_range
from .archives import NodeMaterials, load_node_materials
from .cli import Runtime, shell_quote, shown_path
from .errors import OutputExistsError
from .files import ensure_free, existing_outputs, write_outputs
from .identities import plan_account, utc_now
from .k8s import Manifest, render_yaml
from .keygen import MadeKeys, draw_node_secrets, make_node_keys
from .keystore import ACCOUNT_ID
from .manifests import LOAD_BALANCER, NODE_PORT, NodePod, local_manifests, multi_node_manifests
from .nextsteps import local_next_steps, multi_next_steps
from .nodefiles import (
    ChainFiles,
    NetworkConfigs,
    NodeKeys,
    Peer,
    plan_node,
    render_controller_config,
    render_genesis,
    render_init_sys_config,
)
from .plan import Dir, PlanItems, secret_file
from .ports import MULTI_LAYOUT, ContainerPort, Slot, external_port
from .spec import LocalClusterSpec, MultiClusterSpec
from .syncthing import API_KEY_SLOT, SyncDevice, new_api_key, render_config_xml, with_api_key


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


def ensure_not_mixed(work_dir: Path, chain: str, *, local: bool, count: int) -> None:
    """--force replaces only what this subcommand made for this chain: refuse to mix two generations.

    The other subcommand's outputs of the same chain (local: `<chain>.yaml`, `<chain>-admin/`; multi:
    `<chain>-<i>.yaml`), and multi node files beyond the new node count, would be left describing
    another chain that shares the new `cita-cloud/<chain>/`.
    """
    present = sorted(entry.name for entry in work_dir.iterdir()) if work_dir.is_dir() else []
    multi_files = [name for name in present if names.is_multi_yaml(chain, name)]
    if local:
        foreign = multi_files
        made_by = "multi_cluster"
    else:
        foreign = [name for name in (names.chain_yaml(chain), names.admin_dir(chain)) if name in present]
        made_by = "local_cluster"
        stale = [name for name in multi_files if name not in names.multi_outputs(chain, count)]
        if stale and not foreign:
            raise OutputExistsError(
                f"{', '.join(str(work_dir / name) for name in stale)} belong to an earlier {chain!r} with more "
                "nodes and --force would leave them beside the new chain; delete them, then run again"
            )
    if foreign:
        raise OutputExistsError(
            f"{', '.join(str(work_dir / name) for name in foreign)} were made for {chain!r} by {made_by}; "
            f"--force replaces only this subcommand's outputs, so delete those (and cita-cloud/{chain}) or "
            "choose another --chain_name or --work_dir"
        )


def shared_files(
    chain: str,
    *,
    timestamp_ms: int,
    admin: str,
    validators: Sequence[str],
    block_delay_number: int,
    enable_tls: bool,
) -> ChainFiles:
    """The files every node of the chain holds identically."""
    return ChainFiles(
        genesis=render_genesis(timestamp_ms),
        init_sys_config=render_init_sys_config(chain, admin, validators),
        controller_config=render_controller_config(block_delay_number),
        enable_tls=enable_tls,
    )


def generated_keys(keys: MadeKeys) -> NodeKeys:
    """A node's key files, all made here."""
    return NodeKeys(
        key_id=str(ACCOUNT_ID).encode(),
        node_address=keys.account.address.encode(),
        kms_db=keys.kms_db,
        cert_pem=keys.identity.cert_pem,
        key_pem=keys.identity.key_pem,
    )


def local_cluster(
    spec: LocalClusterSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write every node folder, `<chain>.yaml` and `<chain>-admin/` of a single-cluster chain."""
    chain, count = spec.chain_name, spec.peers_count
    roots = names.local_outputs(chain)
    ensure_free(work_dir, roots, force=force, hint=force_hint(chain))
    ensure_not_mixed(work_dir, chain, local=True, count=count)
    replaced = existing_outputs(work_dir, roots)
    flavour, password, rand = spec.services.kms_flavour, spec.kms_password, runtime.randbytes
    now = utc_now(runtime)
    admin_secret = random_scalar(secret_range(flavour), rand)
    secrets = draw_node_secrets(flavour, rand, count)
    network_keys = [new_network_key(rand) for _ in range(count)]
    made = make_node_keys(flavour, password, now, secrets, runtime.progress("making keys", count).advance)
    admin = account_from_secret(flavour, admin_secret)
    accounts = [keys.account for keys in made]
    identities = [keys.identity for keys in made]
    hosts = [names.node_name(chain, index) for index in range(count)]
    devices = [
        SyncDevice(identity.device_id, host, host, int(ContainerPort.SYNC))
        for identity, host in zip(identities, hosts, strict=True)
    ]
    # One rendering for the whole chain; each node gets it with its own random API key.
    config_xml = render_config_xml(API_KEY_SLOT, devices)
    api_keys = [new_api_key(rand) for _ in range(count)]
    shared = shared_files(
        chain,
        timestamp_ms=int(runtime.clock() * 1000),
        admin=admin.address,
        validators=[account.address for account in accounts],
        block_delay_number=spec.block_delay_number,
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
        )
        for index in range(count)
    ]
    manifests = list(
        local_manifests(
            pods,
            kms_password=password,
            state_db_password=spec.state_db_password,
            node_port=spec.node_port,
            network_keys=network_keys,
            namespace=spec.namespace,
        )
    )

    network = NetworkConfigs(spec.enable_tls, [Peer(host, int(ContainerPort.P2P)) for host in hosts])

    def plan() -> PlanItems:
        progress = runtime.progress("writing node folders", count)
        for index, keys in enumerate(made):
            yield from plan_node(
                chain,
                index,
                shared,
                (),
                generated_keys(keys),
                config_xml=with_api_key(config_xml, api_keys[index]),
                network_config=network.for_node(index),
            )
            progress.advance(index + 1)
        yield names.chain_yaml(chain), secret_file(render_yaml(manifests))
        yield from plan_account(admin, password, None, names.admin_dir(chain))

    if dry_run:
        report_plan(runtime, chain, work_dir, roots, replaced, plan(), {names.chain_yaml(chain): manifests}, as_json)
        return
    write_outputs(work_dir, roots, plan(), force=force, hint=force_hint(chain))
    reports = [
        NodeReport(index, accounts[index].address, identities[index].device_id, hosts[index]) for index in range(count)
    ]
    steps = local_next_steps(chain, spec.pvc_name, work_dir, replaced=bool(replaced))
    if as_json:
        runtime.say_json(local_report(spec, work_dir, admin.address, reports, manifests, steps))
        return
    for line in local_summary(spec, work_dir, admin.address, reports, manifests, steps):
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
    spec: LocalClusterSpec,
    work_dir: Path,
    admin: str,
    nodes: Sequence[NodeReport],
    manifests: Sequence[Manifest],
    next_steps: Sequence[str],
) -> Iterator[str]:
    """The lines printed after a local_cluster run. Never a password or a key."""
    chain = spec.chain_name
    yield f"Chain {chain}: {len(nodes)} node(s), kms {spec.services.kms_flavour.value}, written in {work_dir}"
    outputs = [
        (f"{names.chain_dir(chain)}/", "node folders: copy them onto the storage of the claim " + spec.pvc_name),
        (
            names.chain_yaml(chain),
            "Secrets, NetworkPolicy, Services, StatefulSets (mode 0600: it holds the kms password)",
        ),
        (f"{names.admin_dir(chain)}/", "the super admin's account: keep it off the cluster storage"),
    ]
    yield from aligned([(shown_path(work_dir, path), text) for path, text in outputs])
    yield f"Super admin: {admin}"
    yield "Nodes:"
    for node in nodes:
        yield f"  node{node.index}  {node.address}  {node.where}  syncthing {node.device_id}"
    yield "NodePorts (service  port:nodePort/TCP):"
    yield from port_table(manifests)
    yield "Next:"
    for step in next_steps:
        yield f"  {step}"


def node_ports(manifests: Sequence[Manifest]) -> list[dict[str, object]]:
    """Every NodePort of the chain's Services, for --json."""
    return [
        {"service": doc["metadata"]["name"], "name": p["name"], "port": p["port"], "node_port": p["nodePort"]}
        for doc in manifests
        if doc["kind"] == "Service" and doc["spec"]["type"] == NODE_PORT
        for p in doc["spec"]["ports"]
    ]


def local_report(
    spec: LocalClusterSpec,
    work_dir: Path,
    admin: str,
    nodes: Sequence[NodeReport],
    manifests: Sequence[Manifest],
    next_steps: Sequence[str],
) -> dict[str, object]:
    """The --json summary of a local_cluster run: addresses, device IDs, ports, files. No secret."""
    chain = spec.chain_name
    return {
        "chain": chain,
        "kind": "local_cluster",
        "kms": spec.services.kms_flavour.value,
        "work_dir": str(work_dir),
        "files": [
            shown_path(work_dir, path)
            for path in (names.chain_dir(chain), names.chain_yaml(chain), names.admin_dir(chain))
        ],
        "super_admin": admin,
        "pvc_name": spec.pvc_name,
        "nodes": [
            {
                "index": node.index,
                "name": node.where,
                "address": node.address,
                "device_id": node.device_id,
                "folder": shown_path(work_dir, names.node_dir(chain, node.index)),
            }
            for node in nodes
        ],
        "node_ports": node_ports(manifests),
        "next": list(next_steps),
    }


def report_plan(
    runtime: Runtime,
    chain: str,
    work_dir: Path,
    roots: Sequence[str],
    replaced: Sequence[str],
    items: PlanItems,
    manifests: Mapping[str, Sequence[Manifest]],
    as_json: bool,
) -> None:
    """--dry_run: what would be written (files, objects, ports), having checked everything. Writes nothing."""
    entries = [(path, entry) for path, entry in items]
    files = [
        {
            "path": shown_path(work_dir, path),
            "type": "dir" if isinstance(entry, Dir) else "file",
            "mode": f"{entry.mode:04o}",
            **({} if isinstance(entry, Dir) else {"size": len(entry.data)}),
        }
        for path, entry in entries
    ]
    objects = [
        {"file": shown_path(work_dir, name), "kind": doc["kind"], "name": doc["metadata"]["name"]}
        for name, docs in manifests.items()
        for doc in docs
    ]
    ports = [port for docs in manifests.values() for port in service_ports(docs)]
    if as_json:
        runtime.say_json(
            {
                "dry_run": True,
                "chain": chain,
                "work_dir": str(work_dir),
                "replaces": [shown_path(work_dir, root) for root in replaced],
                "files": files,
                "objects": objects,
                "ports": ports,
            }
        )
        return
    runtime.say(f"Dry run of chain {chain} in {work_dir}: every input checked, nothing written.")
    if replaced:
        runtime.say(f"--force would replace: {', '.join(shown_path(work_dir, root) for root in replaced)}")
    runtime.say(f"Files ({sum(item['type'] == 'file' for item in files)}) and directories (mode, path):")
    for item in files:
        suffix = "/" if item["type"] == "dir" else ""
        runtime.say(f"  {item['mode']}  {item['path']}{suffix}")
    runtime.say(f"Kubernetes objects ({len(objects)}):")
    for obj in objects:
        runtime.say(f"  {obj['file']}: {obj['kind']} {obj['name']}")
    runtime.say("Service ports (service  port -> exposed/TCP):")
    rows = [(str(port["service"]), f"{port['name']} {port['port']} -> {port['exposed']}") for port in ports]
    for line in aligned(rows) if rows else []:
        runtime.say(line)


def service_ports(manifests: Sequence[Manifest]) -> list[dict[str, object]]:
    """The NodePort and LoadBalancer ports of every Service (ClusterIP ports stay inside the cluster)."""
    rows: list[dict[str, object]] = []
    for doc in manifests:
        if doc["kind"] != "Service":
            continue
        for p in doc["spec"]["ports"]:
            exposed = p.get("nodePort", p["port"]) if doc["spec"].get("type") in (NODE_PORT, LOAD_BALANCER) else None
            if exposed is not None:
                rows.append(
                    {"service": doc["metadata"]["name"], "name": p["name"], "port": p["targetPort"], "exposed": exposed}
                )
    return rows


def multi_cluster(
    spec: MultiClusterSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write every node folder and one `<chain>-<i>.yaml` per node of a one-node-per-cluster chain."""
    chain, nodes = spec.chain_name, spec.nodes
    roots = names.multi_outputs(chain, len(nodes))
    ensure_free(work_dir, roots, force=force, hint=force_hint(chain))
    ensure_not_mixed(work_dir, chain, local=False, count=len(nodes))
    replaced = existing_outputs(work_dir, roots)
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
    devices = [
        SyncDevice(node.device_id, node.host, node.host, external_port(MULTI_LAYOUT, node.base_port, Slot.SYNC))
        for node in nodes
    ]
    config_xml = render_config_xml(API_KEY_SLOT, devices)
    api_keys = [new_api_key(runtime.randbytes) for _ in nodes]
    shared = shared_files(
        chain,
        timestamp_ms=timestamp_ms,
        admin=spec.super_admin,
        validators=[node.authority for node in nodes],
        block_delay_number=spec.block_delay_number,
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
        )
        for node in nodes
    ]

    node_manifests = {
        names.node_yaml(chain, node.index): multi_node_manifests(
            pod,
            kms_password=node.kms_password,
            state_db_password=spec.state_db_password,
            network_key=network_key,
            base=node.base_port,
            lb_token=node.lb_token,
            namespace=spec.namespace,
        )
        for node, pod, network_key in zip(nodes, pods, network_keys, strict=True)
    }

    network = NetworkConfigs(
        spec.enable_tls, [Peer(node.host, external_port(MULTI_LAYOUT, node.base_port, Slot.NETWORK)) for node in nodes]
    )

    def plan() -> PlanItems:
        for node, found in zip(nodes, materials, strict=True):
            yield from plan_node(
                chain,
                node.index,
                shared,
                (),
                found.keys,
                config_xml=with_api_key(config_xml, api_keys[node.index]),
                network_config=network.for_node(node.index),
            )
            file_name = names.node_yaml(chain, node.index)
            yield file_name, secret_file(render_yaml(node_manifests[file_name]))

    if dry_run:
        report_plan(runtime, chain, work_dir, roots, replaced, plan(), node_manifests, as_json)
        return
    write_outputs(work_dir, roots, plan(), force=force, hint=force_hint(chain))
    steps = multi_next_steps(chain, [node.pvc_name for node in nodes], work_dir, replaced=bool(replaced))
    if as_json:
        runtime.say_json(multi_report(spec, work_dir, pods, materials, steps))
        return
    for line in multi_summary(spec, work_dir, pods, materials, steps):
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


def pending_copies(work_dir: Path, materials: Sequence[NodeMaterials]) -> list[str]:
    """`cp` commands for the key files multi_cluster did not find, paths as seen from the current directory."""
    return [
        f"cp {' '.join(shell_quote(str(copy.source / name)) for name in copy.files)} "
        f"{shell_quote(shown_path(work_dir, copy.destination))}"
        for found in materials
        for copy in found.pending
    ]


def multi_report(
    spec: MultiClusterSpec,
    work_dir: Path,
    pods: Sequence[NodePod],
    materials: Sequence[NodeMaterials],
    next_steps: Sequence[tuple[int, Sequence[str]]],
) -> dict[str, object]:
    """The --json summary of a multi_cluster run: addresses, device IDs, ports, files. No secret."""
    chain = spec.chain_name
    steps = dict(next_steps)
    nodes = []
    for node, pod in zip(spec.nodes, pods, strict=True):
        used = pod.slots_in_use(MULTI_LAYOUT)
        nodes.append(
            {
                "index": node.index,
                "address": node.authority,
                "host": node.host,
                "device_id": node.device_id,
                "pvc_name": node.pvc_name,
                "folder": shown_path(work_dir, names.node_dir(chain, node.index)),
                "yaml": shown_path(work_dir, names.node_yaml(chain, node.index)),
                "ports": {slot.port_name: external_port(MULTI_LAYOUT, node.base_port, slot) for slot in used},
                "reserved_ports": {
                    slot.port_name: external_port(MULTI_LAYOUT, node.base_port, slot)
                    for slot in MULTI_LAYOUT.offsets
                    if slot not in used
                },
                "next": list(steps.get(node.index, [])),
            }
        )
    return {
        "chain": chain,
        "kind": "multi_cluster",
        "kms": spec.services.kms_flavour.value,
        "work_dir": str(work_dir),
        "files": [
            shown_path(work_dir, names.chain_dir(chain)),
            *(shown_path(work_dir, names.node_yaml(chain, node.index)) for node in spec.nodes),
        ],
        "super_admin": spec.super_admin,
        "nodes": nodes,
        "still_to_copy": pending_copies(work_dir, materials),
    }


def multi_summary(
    spec: MultiClusterSpec,
    work_dir: Path,
    pods: Sequence[NodePod],
    materials: Sequence[NodeMaterials],
    next_steps: Sequence[tuple[int, Sequence[str]]],
) -> Iterator[str]:
    """The lines printed after a multi_cluster run. Never a password or a key."""
    chain = spec.chain_name
    yield (
        f"Chain {chain}: {len(spec.nodes)} node(s), one per cluster, kms {spec.services.kms_flavour.value}, "
        f"written in {work_dir}"
    )
    outputs = [(f"{names.chain_dir(chain)}/", "node folders: node<i>/ goes onto cluster i's storage")]
    outputs += [
        (
            names.node_yaml(chain, node.index),
            f"node{node.index}'s Secrets, NetworkPolicy, StatefulSet, LoadBalancer Service (0600)",
        )
        for node in spec.nodes
    ]
    yield from aligned([(shown_path(work_dir, path), text) for path, text in outputs])
    yield f"Super admin: {spec.super_admin}"
    yield "Nodes (address, IP, LoadBalancer ports):"
    for node, pod in zip(spec.nodes, pods, strict=True):
        yield f"  node{node.index}  {node.authority}  {node.host}  {port_plan(pod, node.base_port)}"
    pending = pending_copies(work_dir, materials)
    if pending:
        yield "Still to copy by hand (the node cannot start without them):"
        for command in pending:
            yield f"  {command}"
    else:
        yield "Every account and syncthing identity was checked and copied: the node folders are complete."
    for index, steps in next_steps:
        yield f"Next, in node{index}'s cluster:"
        for step in steps:
            yield f"  {step}"
