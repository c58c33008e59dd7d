"""Validated, frozen inputs: each subcommand's spec, built only from values that passed every rule.

The rules themselves live by kind of value: rules.py (names, hosts, addresses, ports, times),
serviceconfig.py (service-config.toml and [resources]) and keystore.py (passwords).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from runner_k8s.errors import UsageError
from runner_k8s.keys.keystore import check_password
from runner_k8s.keys.syncthing import parse_device_id
from runner_k8s.ports import LOCAL_LAYOUT
from runner_k8s.releases.v5_0_0.inputs import LocalClusterSpec, MultiClusterSpec, MultiNode
from runner_k8s.releases.v5_0_0.serviceconfig import ExecutorKind, load_service_config


def build_local_spec(
    *,
    chain_name: str,
    block_delay_number: int,
    block_interval: int = BLOCK_INTERVAL_DEFAULT,
    peers_count: int,
    kms_password: str,
    state_db_user: str,
    state_db_password: str,
    service_config: Path,
    node_port: int,
    node_port_range: str,
    need_monitor: bool,
    need_debug: bool,
    pvc_name: str,
    enable_tls: bool,
    namespace: str | None = None,
) -> LocalClusterSpec:
    """Check every local_cluster input; raise on the first problem."""
    check_chain_name(chain_name, peers_count)
    check_block_numbers(block_delay_number, block_interval)
    check_namespace(namespace)
    check_password(kms_password, "--kms_password")
    check_pvc_name(pvc_name)
    services = load_service_config(service_config)
    if services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        check_password(state_db_user, "--state_db_user")
        check_password(state_db_password, "--state_db_password")
    spec = LocalClusterSpec(
        chain_name=chain_name,
        block_delay_number=block_delay_number,
        block_interval=block_interval,
        peers_count=peers_count,
        kms_password=kms_password,
        state_db_user=state_db_user,
        state_db_password=state_db_password,
        services=services,
        node_port=node_port,
        need_monitor=need_monitor,
        need_debug=need_debug,
        pvc_name=pvc_name,
        enable_tls=enable_tls,
        namespace=namespace,
    )
    check_node_ports(LOCAL_LAYOUT, node_port, peers_count, spec.used_slots, parse_port_range(node_port_range))
    return spec


def build_multi_spec(
    *,
    chain_name: str,
    block_delay_number: int,
    block_interval: int = BLOCK_INTERVAL_DEFAULT,
    service_config: Path,
    need_monitor: bool,
    need_debug: bool,
    timestamp_ms: int | None,
    super_admin: str,
    authorities: Sequence[str],
    nodes: Sequence[str],
    lbs_tokens: Sequence[str],
    sync_device_ids: Sequence[str],
    kms_passwords: Sequence[str],
    node_ports: Sequence[str],
    pvc_names: Sequence[str],
    state_db_user: str,
    state_db_password: str,
    enable_tls: bool,
    accounts_dir: Path,
    syncthing_dir: Path,
    namespace: str | None = None,
) -> MultiClusterSpec:
    """Check every multi_cluster input; raise on the first problem."""
    count = check_same_length(
        {
            "--authorities": authorities,
            "--nodes": nodes,
            "--lbs_tokens": lbs_tokens,
            "--sync_device_ids": sync_device_ids,
            "--kms_passwords": kms_passwords,
            "--node_ports": node_ports,
            "--pvc_names": pvc_names,
        }
    )
    check_chain_name(chain_name, count)
    check_block_numbers(block_delay_number, block_interval)
    check_input_dir(accounts_dir, "--accounts_dir", "where create_account.py left the account folders (0x...)")
    check_input_dir(syncthing_dir, "--syncthing_dir", "where create_syncthing_config.py left the device folders")
    check_namespace(namespace)
    admin = check_address(super_admin, "--super_admin")
    addresses = [check_address(item, f"--authorities entry {number}") for number, item in enumerate(authorities)]
    no_duplicates(addresses, "--authorities")
    device_ids = []
    for number, item in enumerate(sync_device_ids):
        try:
            device_ids.append(parse_device_id(item))
        except ValueError as exc:
            raise UsageError(f"--sync_device_ids entry {number}: {exc}") from None
    no_duplicates(device_ids, "--sync_device_ids")
    hosts = [check_host(item, f"--nodes entry {number}") for number, item in enumerate(nodes)]
    bases = [check_base_port(item, number) for number, item in enumerate(node_ports)]
    check_lb_ranges(hosts, bases)
    no_duplicates(lbs_tokens, "--lbs_tokens")
    for number, password in enumerate(kms_passwords):
        check_password(password, f"--kms_passwords entry {number}", in_list=True)
    check_timestamp(timestamp_ms)
    claims = [check_pvc_name(item, f"--pvc_names entry {number}") for number, item in enumerate(pvc_names)]
    services = load_service_config(service_config)
    if services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        check_password(state_db_user, "--state_db_user")
        check_password(state_db_password, "--state_db_password")
    return MultiClusterSpec(
        chain_name=chain_name,
        block_delay_number=block_delay_number,
        block_interval=block_interval,
        services=services,
        need_monitor=need_monitor,
        need_debug=need_debug,
        timestamp_ms=timestamp_ms,
        super_admin=admin,
        nodes=tuple(
            MultiNode(
                index,
                addresses[index],
                hosts[index],
                lbs_tokens[index],
                device_ids[index],
                kms_passwords[index],
                bases[index],
                claims[index],
            )
            for index in range(count)
        ),
        state_db_user=state_db_user,
        state_db_password=state_db_password,
        enable_tls=enable_tls,
        accounts_dir=accounts_dir,
        syncthing_dir=syncthing_dir,
        namespace=namespace,
    )
