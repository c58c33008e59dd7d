"""A whole v6.7.4 chain planned: keys, every node's config.toml, the objects, the report's parts.

Pure: the random source and the clock come in, files and objects go out; the verb writes them.
Randomness is drawn in a fixed order (the super admin, the chain CA, then every node's account and
TLS key), so one random source gives one chain, whatever the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.keys.tls import ChainCa, new_ca, new_node_cert
from runner_k8s.kube.objects import Manifest
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.plan import NODE_ADDRESS, PRIVATE_DIR, Dir, File, PlanItems, secret_file
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v6_7_4.accounts import (
    VALIDATOR_ADDRESS,
    Consensus,
    V6Account,
    draw_secret,
    plan_account,
    v6_account_from_secret,
    validator_address_of,
)
from runner_k8s.releases.v6_7_4.config import ChainConfig, NodeTls, ZenohPeer, chain_id_of, render_node_config
from runner_k8s.releases.v6_7_4.keygen import V6NodeKeys, draw_v6_node_secrets, make_v6_node_keys
from runner_k8s.releases.v6_7_4.manifests import (
    LOCAL_SLOTS,
    MULTI_SLOTS,
    NodeSecrets,
    RemotePeer,
    local_manifests,
    multi_node_manifests,
    slots_of,
)
from runner_k8s.releases.v6_7_4.pods import CHAIN_USER, NodePod
from runner_k8s.releases.v6_7_4.serviceconfig import RELEASE, ServiceImages
from runner_k8s.report.nextsteps import local_next_steps, multi_next_steps
from runner_k8s.report.reports import ChainPlan, NodeReport
from runner_k8s.runtime import Runtime, utc_now

CRYPTO = "sm"  # controller_hsm v6.7.4 builds with SM crypto only (its eth feature does not compile)
CA_CERT = "ca_cert.pem"
CA_KEY = "ca_key.pem"
LOCAL_KIND = "local_cluster"
MULTI_KIND = "multi_cluster"


@dataclass(frozen=True)
class MultiMember:
    """One node of a multi_cluster v6.7.4 chain: its account (read from its folder), where it is reached."""

    index: int
    account: V6Account
    host: str
    base_port: int
    lb_token: str
    pvc_name: str

    def __repr__(self) -> str:
        return f"MultiMember(index={self.index}, host={self.host})"


def local_outputs(chain: str) -> list[str]:
    """What local_cluster writes for a v6.7.4 chain: node folders, YAML, the super admin, the chain CA."""
    return [*names.local_outputs(chain), names.ca_dir(chain)]


def multi_outputs(chain: str, count: int) -> list[str]:
    """What multi_cluster writes for a v6.7.4 chain of `count` nodes."""
    return [*names.multi_outputs(chain, count), names.ca_dir(chain)]


def plan_node_folder(chain: str, index: int, account: V6Account, validator: str) -> PlanItems:
    """A node folder on the claim: the working directory of its services, with its public addresses.

    No key is here: the private key and the TLS key live only in the node's Secrets.
    """
    folder = names.node_dir(chain, index)
    yield folder, Dir()
    yield f"{folder}/{NODE_ADDRESS}", File(account.node_address.encode("ascii"))
    yield f"{folder}/{VALIDATOR_ADDRESS}", File(validator.encode("ascii"))


def plan_ca(chain: str, ca: ChainCa) -> PlanItems:
    """The chain CA's folder (0700): its certificate, and its key, which signs the certificate of every node."""
    folder = names.ca_dir(chain)
    yield folder, Dir(PRIVATE_DIR)
    yield f"{folder}/{CA_CERT}", File(ca.cert_pem)
    yield f"{folder}/{CA_KEY}", secret_file(ca.key_pem)


def node_secrets(
    chain: ChainConfig, domain: str, account: V6Account, validator: str, tls: NodeTls, peers: Sequence[ZenohPeer]
) -> NodeSecrets:
    """What a node's Secrets hold."""
    return NodeSecrets(
        render_node_config(chain, domain, tls, peers),
        account.node_address,
        validator,
        account.private_key_hex,
    )


def plan_local(
    *,
    chain: str,
    count: int,
    block_interval: int,
    consensus: Consensus,
    images: ServiceImages,
    node_port: int,
    pvc_name: str,
    need_debug: bool,
    namespace: str | None,
    work_dir: Path,
    replaced: bool,
    runtime: Runtime,
) -> ChainPlan:
    """A single-cluster v6.7.4 chain of `count` nodes."""
    rand, now = runtime.randbytes, utc_now(runtime)
    admin = v6_account_from_secret(draw_secret(rand), consensus)
    ca = new_ca(chain, rand, now)
    domains = [names.node_name(chain, index) for index in range(count)]
    made = make_v6_node_keys(
        consensus, ca, now, domains, draw_v6_node_secrets(rand, count), runtime.progress("making keys", count).advance
    )
    shared = ChainConfig(
        chain_id=chain_id_of(chain),
        timestamp_ms=int(runtime.clock() * 1000),
        admin=admin.node_address,
        validators=tuple(keys.account.validator_address for keys in made),
        block_interval=block_interval,
        consensus=consensus,
        ca_cert_pem=ca.cert_pem.decode("ascii"),
    )
    pods = [NodePod(chain, index, images, consensus, pvc_name, need_debug) for index in range(count)]
    everyone = [ZenohPeer(domain, int(ContainerPort.P2P)) for domain in domains]
    secrets = [
        node_secrets(
            shared,
            domains[index],
            keys.account,
            keys.account.validator_address,
            NodeTls(keys.cert.cert_pem.decode("ascii"), keys.cert.key_pem.decode("ascii")),
            everyone[:index] + everyone[index + 1 :],  # every other node (the domains are distinct)
        )
        for index, keys in enumerate(made)
    ]
    manifests = list(local_manifests(pods, secrets, node_port=node_port, namespace=namespace))
    chain_yaml = names.chain_yaml(chain)

    def items() -> PlanItems:
        progress = runtime.progress("writing node folders", count)
        for index, keys in enumerate(made):
            yield from plan_node_folder(chain, index, keys.account, keys.account.validator_address)
            progress.advance(index + 1)
        yield chain_yaml, secret_file(render_yaml(manifests))
        yield from plan_account(admin, names.admin_dir(chain))
        yield from plan_ca(chain, ca)

    def nodes(kept: bool) -> list[NodeReport]:
        return [local_node_report(chain, index, keys, pvc_name, node_port, kept) for index, keys in enumerate(made)]

    return ChainPlan(
        kind=LOCAL_KIND,
        chain=chain,
        release=RELEASE,
        consensus=consensus.value,
        crypto=CRYPTO,
        outputs=local_outputs(chain),
        items=items,
        manifests={chain_yaml: manifests},
        super_admin=lambda kept: admin.account.address if kept else None,
        nodes=nodes,
        next_steps=lambda gone: local_next_steps(
            chain, pvc_name, work_dir, replaced=replaced, namespace=namespace, gone=gone, owner=CHAIN_USER
        ),
    )


def local_node_report(
    chain: str, index: int, keys: V6NodeKeys, pvc_name: str, node_port: int, kept: bool
) -> NodeReport:
    """A local node's report: its NodePorts (rpc is the chain's, call its own)."""
    return NodeReport(
        index=index,
        name=names.node_name(chain, index),
        address=keys.account.account.address if kept else None,
        device_id=None,
        folder=names.node_dir(chain, index),
        yaml=names.chain_yaml(chain),
        pvc_name=pvc_name,
        ports={slot.port_name: external_port(LOCAL_LAYOUT, node_port, slot, index) for slot in LOCAL_SLOTS},
        reserved_ports={
            slot.port_name: external_port(LOCAL_LAYOUT, node_port, slot, index)
            for slot in LOCAL_LAYOUT.offsets
            if slot not in LOCAL_SLOTS and slot not in LOCAL_LAYOUT.chain_wide
        },
    )


def remote_peers(members: Sequence[MultiMember], index: int) -> list[RemotePeer]:
    """How node `index`'s cluster reaches every other node: its LoadBalancer's network port."""
    return [
        RemotePeer(member.index, member.host, external_port(MULTI_LAYOUT, member.base_port, Slot.NETWORK))
        for member in members
        if member.index != index
    ]


def plan_multi(
    *,
    chain: str,
    members: Sequence[MultiMember],
    super_admin: str,
    timestamp_ms: int | None,
    block_interval: int,
    consensus: Consensus,
    images: ServiceImages,
    need_debug: bool,
    namespace: str | None,
    work_dir: Path,
    replaced: bool,
    runtime: Runtime,
) -> ChainPlan:
    """A one-node-per-cluster v6.7.4 chain from accounts made beforehand (create_account.py --release v6.7.4)."""
    rand, now = runtime.randbytes, utc_now(runtime)
    ca = new_ca(chain, rand, now)
    certs = [new_node_cert(ca, names.node_name(chain, member.index), rand, now) for member in members]
    validators = [validator_of(member.account, consensus) for member in members]
    shared = ChainConfig(
        chain_id=chain_id_of(chain),
        timestamp_ms=timestamp_ms if timestamp_ms is not None else int(runtime.clock() * 1000),
        admin=super_admin.removeprefix("0x"),
        validators=tuple(validators),
        block_interval=block_interval,
        consensus=consensus,
        ca_cert_pem=ca.cert_pem.decode("ascii"),
    )
    pods = [NodePod(chain, member.index, images, consensus, member.pvc_name, need_debug) for member in members]
    node_manifests: dict[str, list[Manifest]] = {}
    for member, pod, cert, validator in zip(members, pods, certs, validators, strict=True):
        peers = remote_peers(members, member.index)
        secrets = node_secrets(
            shared,
            pod.name,
            member.account,
            validator,
            NodeTls(cert.cert_pem.decode("ascii"), cert.key_pem.decode("ascii")),
            [ZenohPeer(names.node_name(chain, peer.index), peer.port) for peer in peers],
        )
        node_manifests[names.node_yaml(chain, member.index)] = multi_node_manifests(
            pod,
            secrets,
            base=member.base_port,
            lb_token=member.lb_token,
            peers=peers,
            namespace=namespace,
        )

    def items() -> PlanItems:
        for member, validator in zip(members, validators, strict=True):
            yield from plan_node_folder(chain, member.index, member.account, validator)
            file_name = names.node_yaml(chain, member.index)
            yield file_name, secret_file(render_yaml(node_manifests[file_name]))
        yield from plan_ca(chain, ca)

    def nodes(kept: bool) -> list[NodeReport]:
        return [multi_node_report(chain, member, pod) for member, pod in zip(members, pods, strict=True)]

    return ChainPlan(
        kind=MULTI_KIND,
        chain=chain,
        release=RELEASE,
        consensus=consensus.value,
        crypto=CRYPTO,
        outputs=multi_outputs(chain, len(members)),
        items=items,
        manifests=node_manifests,
        super_admin=lambda kept: super_admin,
        nodes=nodes,
        next_steps=lambda gone: multi_next_steps(
            chain,
            [member.pvc_name for member in members],
            work_dir,
            replaced=replaced,
            namespace=namespace,
            owner=CHAIN_USER,
        ),
    )


def validator_of(account: V6Account, consensus: Consensus) -> str:
    """What the chain names a node by: its BLS public key (overlord) or its node address (raft)."""
    return validator_address_of(account.account, consensus)


def multi_node_report(chain: str, member: MultiMember, pod: NodePod) -> NodeReport:
    """A multi_cluster node's report: its LoadBalancer ports in use, and the ones kept free."""
    used = slots_of(pod, MULTI_SLOTS)
    return NodeReport(
        index=member.index,
        name=names.node_name(chain, member.index),
        address=member.account.account.address,
        device_id=None,
        folder=names.node_dir(chain, member.index),
        yaml=names.node_yaml(chain, member.index),
        pvc_name=member.pvc_name,
        host=member.host,
        ports={slot.port_name: external_port(MULTI_LAYOUT, member.base_port, slot) for slot in used},
        reserved_ports={
            slot.port_name: external_port(MULTI_LAYOUT, member.base_port, slot)
            for slot in MULTI_LAYOUT.offsets
            if slot not in used
        },
    )
