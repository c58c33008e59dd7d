"""Validated, frozen inputs of a v6.7.4 chain, checked by the same rules as a v5.0.0 chain's (rules.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s.create.rules import (
    BLOCK_INTERVAL_DEFAULT,
    check_address,
    check_base_port,
    check_block_numbers,
    check_chain_name,
    check_host,
    check_input_dir,
    check_lb_ranges,
    check_namespace,
    check_node_ports,
    check_pvc_name,
    check_same_length,
    check_timestamp,
    no_duplicates,
    parse_port_range,
)
from runner_k8s.errors import CheckError
from runner_k8s.keys import bls
from runner_k8s.ports import LOCAL_LAYOUT
from runner_k8s.releases.v6_7_4.accounts import Consensus, read_v6_account
from runner_k8s.releases.v6_7_4.chainplan import MultiMember
from runner_k8s.releases.v6_7_4.manifests import LOCAL_SLOTS
from runner_k8s.releases.v6_7_4.serviceconfig import ServiceImages, default_service_config, load_service_images

RELEASE = "v6.7.4"
CONSENSUS_DEFAULT = Consensus.OVERLORD  # the release's own default


@dataclass(frozen=True)
class V6LocalSpec:
    """Everything local_cluster needs for a v6.7.4 chain, checked."""

    chain_name: str
    block_interval: int
    peers_count: int
    consensus: Consensus
    images: ServiceImages
    node_port: int
    need_debug: bool
    pvc_name: str
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"V6LocalSpec(chain_name={self.chain_name!r}, peers_count={self.peers_count})"


def build_v6_local_spec(
    *,
    chain_name: str,
    block_interval: int = BLOCK_INTERVAL_DEFAULT,
    peers_count: int,
    consensus: Consensus = CONSENSUS_DEFAULT,
    service_config: Path | None,
    node_port: int,
    node_port_range: str,
    need_debug: bool,
    pvc_name: str,
    namespace: str | None = None,
) -> V6LocalSpec:
    """Check every input of a single-cluster v6.7.4 chain; raise on the first problem."""
    check_chain_name(chain_name, peers_count)
    check_block_numbers(0, block_interval)
    check_namespace(namespace)
    check_pvc_name(pvc_name)
    images = load_service_images(service_config or default_service_config())
    check_node_ports(LOCAL_LAYOUT, node_port, peers_count, LOCAL_SLOTS, parse_port_range(node_port_range))
    return V6LocalSpec(
        chain_name=chain_name,
        block_interval=block_interval,
        peers_count=peers_count,
        consensus=consensus,
        images=images,
        node_port=node_port,
        need_debug=need_debug,
        pvc_name=pvc_name,
        namespace=namespace,
    )


@dataclass(frozen=True)
class V6MultiSpec:
    """Everything multi_cluster needs for a v6.7.4 chain, checked (the accounts read and checked whole)."""

    chain_name: str
    block_interval: int
    consensus: Consensus
    images: ServiceImages
    need_debug: bool
    timestamp_ms: int | None
    super_admin: str
    members: tuple[MultiMember, ...]
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"V6MultiSpec(chain_name={self.chain_name!r}, nodes={len(self.members)})"


def build_v6_multi_spec(
    *,
    chain_name: str,
    block_interval: int = BLOCK_INTERVAL_DEFAULT,
    consensus: Consensus = CONSENSUS_DEFAULT,
    service_config: Path | None,
    need_debug: bool,
    timestamp_ms: int | None,
    super_admin: str,
    authorities: Sequence[str],
    nodes: Sequence[str],
    lbs_tokens: Sequence[str],
    node_ports: Sequence[str],
    pvc_names: Sequence[str],
    accounts_dir: Path,
    namespace: str | None = None,
) -> V6MultiSpec:
    """Check every input of a one-node-per-cluster v6.7.4 chain; raise on the first problem."""
    count = check_same_length(
        {
            "--authorities": authorities,
            "--nodes": nodes,
            "--lbs_tokens": lbs_tokens,
            "--node_ports": node_ports,
            "--pvc_names": pvc_names,
        }
    )
    check_chain_name(chain_name, count)
    check_block_numbers(0, block_interval)
    check_input_dir(accounts_dir, "--accounts_dir", "where create_account.py --release v6.7.4 left the account folders")
    check_namespace(namespace)
    admin = check_address(super_admin, "--super_admin")
    addresses = [check_address(item, f"--authorities entry {number}") for number, item in enumerate(authorities)]
    no_duplicates(addresses, "--authorities")
    hosts = [check_host(item, f"--nodes entry {number}") for number, item in enumerate(nodes)]
    bases = [check_base_port(item, number) for number, item in enumerate(node_ports)]
    check_lb_ranges(hosts, bases)
    no_duplicates(lbs_tokens, "--lbs_tokens")
    check_timestamp(timestamp_ms)
    claims = [check_pvc_name(item, f"--pvc_names entry {number}") for number, item in enumerate(pvc_names)]
    images = load_service_images(service_config or default_service_config())
    members = []
    for index, address in enumerate(addresses):
        where = f"--authorities entry {index}"
        folder = accounts_dir / address
        account = read_v6_account(folder, where)
        if account.account.address != address:
            raise CheckError(f"{where}: {folder} holds account {account.account.address}, not {address}")
        if consensus is Consensus.OVERLORD and account.secret not in bls.SECRET_RANGE:
            raise CheckError(
                f"{where}: {folder}/private_key is above the BLS12-381 group order, so consensus_overlord cannot "
                "use it; make the account again with create_account.py --release v6.7.4"
            )
        members.append(MultiMember(index, account, hosts[index], bases[index], lbs_tokens[index], claims[index]))
    return V6MultiSpec(
        chain_name=chain_name,
        block_interval=block_interval,
        consensus=consensus,
        images=images,
        need_debug=need_debug,
        timestamp_ms=timestamp_ms,
        super_admin=admin,
        members=tuple(members),
        namespace=namespace,
    )
