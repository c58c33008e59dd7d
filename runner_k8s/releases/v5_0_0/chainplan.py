"""A whole v5.0.0 chain planned: keys, node folders, objects and the report's parts (contracts.md).

Pure: the random source and the clock come in, files and objects go out; the verb writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.keys.accounts import account_from_secret, new_network_key, random_scalar, secret_range
from runner_k8s.keys.keygen import MadeKeys, draw_node_secrets, make_node_keys
from runner_k8s.keys.keystore import ACCOUNT_ID, plan_kms_account
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.plan import PlanItems, secret_file
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.inputs import LocalClusterSpec, MultiClusterSpec
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
from runner_k8s.report.reports import ChainPlan, NodeReport
from runner_k8s.runtime import Runtime, utc_now

RELEASE = "v5.0.0"
CONSENSUS = "raft"  # v5.0.0 has consensus_raft only
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


def node_ports_of(index: int, base: int, pod: NodePod, *, reserved: bool = False) -> dict[str, int]:
    """A local node's NodePorts by slot name: those its Services expose, or (`reserved`) those kept free."""
    used = pod.slots_in_use(LOCAL_LAYOUT)
    slots = [
        slot
        for slot in LOCAL_LAYOUT.offsets
        if slot not in LOCAL_LAYOUT.chain_wide and (slot not in used if reserved else slot in used)
    ]
    return {slot.port_name: external_port(LOCAL_LAYOUT, base, slot, index) for slot in slots}


def plan_local(spec: LocalClusterSpec, *, work_dir: Path, replaced: bool, runtime: Runtime) -> ChainPlan:
    """Every node folder, `<chain>.yaml` and `<chain>-admin/` of a single-cluster chain."""
    chain, count = spec.chain_name, spec.peers_count
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
    chain_yaml = names.chain_yaml(chain)

    def items() -> PlanItems:
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
        yield chain_yaml, secret_file(render_yaml(manifests))
        yield from plan_kms_account(admin, password, names.admin_dir(chain))

    def nodes(kept: bool) -> list[NodeReport]:
        # A dry run's keys are thrown away: their addresses would mislead.
        return [
            NodeReport(
                index=index,
                name=hosts[index],
                address=accounts[index].address if kept else None,
                device_id=identities[index].device_id if kept else None,
                folder=names.node_dir(chain, index),
                yaml=chain_yaml,
                pvc_name=spec.pvc_name,
                ports=node_ports_of(index, spec.node_port, pods[index]),
                reserved_ports=node_ports_of(index, spec.node_port, pods[index], reserved=True),
            )
            for index in range(count)
        ]

    return ChainPlan(
        kind=LOCAL_KIND,
        chain=chain,
        release=RELEASE,
        consensus=CONSENSUS,
        crypto=flavour.value,
        outputs=names.local_outputs(chain),
        items=items,
        manifests={chain_yaml: manifests},
        super_admin=lambda kept: admin.address if kept else None,
        nodes=nodes,
        next_steps=lambda gone: local_next_steps(
            chain, spec.pvc_name, work_dir, replaced=replaced, namespace=spec.namespace, gone=gone
        ),
    )


def plan_multi(
    spec: MultiClusterSpec,
    keys: Sequence[NodeKeys],
    *,
    work_dir: Path,
    replaced: bool,
    runtime: Runtime,
    still_to_copy: Sequence[str] = (),
) -> ChainPlan:
    """Every node folder and one `<chain>-<i>.yaml` per node; `keys` are the key files found for each node."""
    chain, nodes = spec.chain_name, spec.nodes
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

    def items() -> PlanItems:
        for node, found in zip(nodes, keys, strict=True):
            yield from plan_node(
                chain,
                node.index,
                shared,
                (),
                found,
                config_xml=with_api_key(config_xml, api_keys[node.index]),
                network_config=network.for_node(node.index),
            )
            file_name = names.node_yaml(chain, node.index)
            yield file_name, secret_file(render_yaml(node_manifests[file_name]))

    def node_reports(kept: bool) -> list[NodeReport]:
        return [
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
        ]

    return ChainPlan(
        kind=MULTI_KIND,
        chain=chain,
        release=RELEASE,
        consensus=CONSENSUS,
        crypto=spec.services.kms_flavour.value,
        outputs=names.multi_outputs(chain, len(nodes)),
        items=items,
        manifests=node_manifests,
        super_admin=lambda kept: spec.super_admin,
        nodes=node_reports,
        next_steps=lambda gone: multi_next_steps(
            chain, [node.pvc_name for node in nodes], work_dir, replaced=replaced, namespace=spec.namespace
        ),
        still_to_copy=still_to_copy,
    )
