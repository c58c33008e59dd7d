"""The verbs of create_k8s_config.py: plan a whole chain, write it at once, summarise it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.create.archives import NodeMaterials, load_node_materials
from runner_k8s.create.existing import ensure_not_mixed, force_hint, gone_objects
from runner_k8s.create.identities import plan_account, utc_now
from runner_k8s.create.spec import LocalClusterSpec, MultiClusterSpec
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.keys.accounts import account_from_secret, new_network_key, random_scalar, secret_range
from runner_k8s.keys.keygen import MadeKeys, draw_node_secrets, make_node_keys
from runner_k8s.keys.keystore import ACCOUNT_ID
from runner_k8s.kube.objects import Manifest, render_yaml
from runner_k8s.plan import PlanItems, secret_file
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.manifests import local_manifests, multi_node_manifests
from runner_k8s.releases.v5_0_0.nodefiles import (
    ChainFiles,
    NetworkConfigs,
    NodeKeys,
    Peer,
    plan_node,
    render_controller_config,
    render_genesis,
    render_init_sys_config,
)
from runner_k8s.releases.v5_0_0.pods import NodePod
from runner_k8s.releases.v5_0_0.syncconfig import API_KEY_SLOT, SyncDevice, new_api_key, render_config_xml, with_api_key
from runner_k8s.report.nextsteps import local_next_steps, multi_next_steps
from runner_k8s.report.reports import (
    ChainReport,
    FileEntry,
    NodeReport,
    local_summary,
    multi_summary,
    recorded,
    say_report,
)
from runner_k8s.runtime import Runtime
from runner_k8s.write.files import ensure_free, existing_outputs, write_outputs
from runner_k8s.write.lock import check_writable

LOCAL_KIND = "local_cluster"
MULTI_KIND = "multi_cluster"


def shared_files(
    chain: str,
    *,
    timestamp_ms: int,
    admin: str,
    validators: Sequence[str],
    block_delay_number: int,
    block_interval: int,
    enable_tls: bool,
) -> ChainFiles:
    """The files every node of the chain holds identically."""
    return ChainFiles(
        genesis=render_genesis(timestamp_ms),
        init_sys_config=render_init_sys_config(chain, admin, validators, block_interval),
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
    check_writable(work_dir)  # before the keys are made: a dry run fails wherever the real run would
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
        block_interval=spec.block_interval,
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

    gone = gone_objects(work_dir, [names.chain_yaml(chain)], manifests) if replaced else []
    files: list[FileEntry] = []
    if dry_run:
        files.extend(_listed(plan()))
    else:
        write_outputs(work_dir, roots, recorded(plan(), files), force=force, hint=force_hint(chain))
    kept = not dry_run  # a dry run's keys are thrown away: their addresses would mislead
    chain_yaml = names.chain_yaml(chain)
    report = ChainReport(
        dry_run=dry_run,
        kind=LOCAL_KIND,
        chain=chain,
        kms=flavour.value,
        work_dir=work_dir,
        outputs=roots,
        replaced=replaced,
        files=files,
        manifests={chain_yaml: manifests},
        super_admin=admin.address if kept else None,
        nodes=[
            NodeReport(
                index=index,
                name=hosts[index],
                address=accounts[index].address if kept else None,
                device_id=identities[index].device_id if kept else None,
                folder=names.node_dir(chain, index),
                yaml=chain_yaml,
                pvc_name=spec.pvc_name,
                ports=node_ports_of(manifests, index, spec.node_port, pods[index]),
                reserved_ports=node_ports_of(manifests, index, spec.node_port, pods[index], reserved=True),
            )
            for index in range(count)
        ],
        next_steps=local_next_steps(
            chain, spec.pvc_name, work_dir, replaced=bool(replaced), namespace=spec.namespace, gone=gone
        ),
    )
    say_report(runtime, report, as_json, local_summary(report, spec.pvc_name))


def _listed(items: PlanItems) -> list[FileEntry]:
    listed: list[FileEntry] = []
    for _ in recorded(items, listed):
        pass
    return listed


def node_ports_of(
    manifests: Sequence[Manifest], index: int, base: int, pod: NodePod, *, reserved: bool = False
) -> dict[str, int]:
    """A local node's NodePorts by slot name: those its Services expose, or (`reserved`) those kept free."""
    used = pod.slots_in_use(LOCAL_LAYOUT)
    slots = [
        slot
        for slot in LOCAL_LAYOUT.offsets
        if slot not in LOCAL_LAYOUT.chain_wide and (slot not in used if reserved else slot in used)
    ]
    return {slot.port_name: external_port(LOCAL_LAYOUT, base, slot, index) for slot in slots}


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
    check_writable(work_dir)
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
        block_interval=spec.block_interval,
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

    files: list[FileEntry] = []
    if dry_run:
        files.extend(_listed(plan()))
    else:
        write_outputs(work_dir, roots, recorded(plan(), files), force=force, hint=force_hint(chain))
    report = ChainReport(
        dry_run=dry_run,
        kind=MULTI_KIND,
        chain=chain,
        kms=spec.services.kms_flavour.value,
        work_dir=work_dir,
        outputs=roots,
        replaced=replaced,
        files=files,
        manifests=node_manifests,
        super_admin=spec.super_admin,
        nodes=[
            NodeReport(
                index=node.index,
                name=names.node_name(chain, node.index),
                address=node.authority,
                device_id=node.device_id,
                folder=names.node_dir(chain, node.index),
                yaml=names.node_yaml(chain, node.index),
                pvc_name=node.pvc_name,
                host=node.host,
                ports={
                    slot.port_name: external_port(MULTI_LAYOUT, node.base_port, slot)
                    for slot in pod.slots_in_use(MULTI_LAYOUT)
                },
                reserved_ports={
                    slot.port_name: external_port(MULTI_LAYOUT, node.base_port, slot)
                    for slot in MULTI_LAYOUT.offsets
                    if slot not in pod.slots_in_use(MULTI_LAYOUT)
                },
            )
            for node, pod in zip(nodes, pods, strict=True)
        ],
        next_steps=multi_next_steps(
            chain, [node.pvc_name for node in nodes], work_dir, replaced=bool(replaced), namespace=spec.namespace
        ),
        still_to_copy=pending_copies(work_dir, materials),
    )
    say_report(runtime, report, as_json, multi_summary(report))


def pending_copies(work_dir: Path, materials: Sequence[NodeMaterials]) -> list[str]:
    """`cp` commands for the key files multi_cluster did not find, paths as seen from the current directory."""
    return [
        f"cp {' '.join(shell_quote(str(copy.source / name)) for name in copy.files)} "
        f"{shell_quote(shown_path(work_dir, copy.destination))}"
        for found in materials
        for copy in found.pending
    ]
