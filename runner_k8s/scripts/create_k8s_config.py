"""Generate the node folders and Kubernetes YAML of a CITA-Cloud chain."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner_k8s import cli, flags
from runner_k8s.create.chain import local_cluster, multi_cluster, v6_local_cluster, v6_multi_cluster
from runner_k8s.create.releasechoice import CONSENSUS_CHOICES, DEFAULT_RELEASE, RELEASES, V6, check_release_flags
from runner_k8s.create.rules import (
    BLOCK_DELAY_MAX,
    BLOCK_INTERVAL_DEFAULT,
    BLOCK_INTERVAL_RANGE,
    DEFAULT_NODE_PORT_RANGE,
    PORT_MAX,
    TIMESTAMP_MAX,
    block_delay_problem,
    block_interval_problem,
)
from runner_k8s.errors import UsageError
from runner_k8s.runtime import Runtime
from runner_k8s.scripts.membership_flags import add_add_node, add_remove_node, add_show_plan

LOCAL_CLUSTER = "local_cluster"
DEFAULT_STATE_DB_PASSWORD = "citacloud"
DEFAULT_STATE_DB_USER = "citacloud"
MULTI_CLUSTER = "multi_cluster"
MULTI_LISTS = {
    "--authorities": "Authorities (addresses) list: node i's account address, made by create_account.py.",
    "--nodes": "Node network ip list: the external IP (or DNS name) of each node's cluster LoadBalancer.",
    "--lbs_tokens": "The token list of LBS: each cluster's LoadBalancer id (e.g. Alibaba Cloud lb-xxxx).",
    "--sync_device_ids": "Device id list of syncthings, made by create_syncthing_config.py (v5.0.0).",
    "--node_ports": "The list of first LoadBalancer ports: node i's LoadBalancer uses its entry and the next "
    "eight ports (network, sync, rpc, call, then ports reserved for optional features).",
    "--pvc_names": "The list of persistentVolumeClaim names, one per cluster: lowercase letters, digits, '-' and "
    "'.' (create them with create_pvc.py --pvc_name).",
}


def block_delay_number(text: str) -> int:
    """--block_delay_number: a whole number, and 0, the only value that gives a chain on v5.0.0 (README)."""
    value = flags.bounded_int(0, BLOCK_DELAY_MAX)(text)
    problem = block_delay_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def block_interval(text: str) -> int:
    """--block_interval: whole seconds between blocks, within what v5.0.0 runs and this tool has booted."""
    value = flags.non_negative_int(text)
    problem = block_interval_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def add_chain_flags(parser: argparse.ArgumentParser) -> None:
    """Flags both subcommands share."""
    parser.add_argument(
        "--release",
        choices=RELEASES,
        default=DEFAULT_RELEASE,
        help=f"The CITA-Cloud release the chain runs: {RELEASES[0]} (the original layout) or {RELEASES[1]} "
        f"(today's release: zenoh network, overlord or raft, no kms, no syncthing) (default: {DEFAULT_RELEASE}).",
    )
    parser.add_argument(
        "--consensus",
        choices=CONSENSUS_CHOICES,
        default=None,
        help=f"The consensus of a {V6} chain: overlord (BFT, the release's default) or raft; v5.0.0 runs raft "
        "only (default: overlord on v6.7.4, raft on v5.0.0).",
    )
    parser.add_argument(
        "--block_delay_number",
        type=block_delay_number,
        default=None,
        help="The block delay number of chain: only 0, the one value the v5.0.0 services can run; v5.0.0 only "
        "(default: 0).",
    )
    parser.add_argument(
        "--block_interval",
        type=block_interval,
        default=BLOCK_INTERVAL_DEFAULT,
        metavar="SECONDS",
        help=f"Seconds between blocks, {BLOCK_INTERVAL_RANGE[0]} to {BLOCK_INTERVAL_RANGE[-1]}; fixed for the "
        f"chain's life on v5.0.0, changed later by manage_chain.py on {V6} (default: {BLOCK_INTERVAL_DEFAULT}).",
    )
    parser.add_argument(
        "--chain_name",
        default="test-chain",
        help="The name of chain: a folder name and part of every object name, so lowercase "
        "letters, digits and '-', starting with a letter (default: test-chain). "
        "Must be unique among the chains of one cluster.",
    )
    flags.add_service_config_flag(parser)
    flags.add_bool_flag(
        parser, "--need_monitor", default=False, unset=True, help="Add the two monitor exporters to every node (v5.0.0)"
    )
    flags.add_bool_flag(parser, "--need_debug", default=False, help="Add a netcat debug container on port 9999")
    flags.add_bool_flag(
        parser,
        "--enable_tls",
        default=True,
        unset=True,
        help="Encrypt the p2p network (network_p2p v5 needs it; v6.7.4 always encrypts)",
    )
    parser.add_argument(
        "--state_db_user",
        default=None,
        help="User of state db (CouchDB, only for executor_chaincode_ext on v5.0.0; default: citacloud).",
    )
    flags.add_password_flag(
        parser,
        "--state_db_password",
        help=f"Password of state db (only for executor_chaincode_ext; default: {DEFAULT_STATE_DB_PASSWORD}).",
        file_help="File holding the state db password instead of --state_db_password",
    )
    parser.add_argument(
        "--namespace",
        default=None,
        help="Kubernetes namespace written into every object (default: none, so kubectl's current namespace).",
    )
    flags.add_work_dir_flag(parser)
    flags.add_force_flag(parser)
    flags.add_output_flags(parser)


V5_FLAG_DESTS = {
    "--kms_password": "kms_password",
    "--kms_password_file": "kms_password_file",
    "--kms_passwords": "kms_passwords",
    "--kms_passwords_file": "kms_passwords_file",
    "--block_delay_number": "block_delay_number",
    "--enable_tls": "enable_tls",
    "--need_monitor": "need_monitor",
    "--state_db_user": "state_db_user",
    "--state_db_password": "state_db_password",
    "--state_db_password_file": "state_db_password_file",
    "--sync_device_ids": "sync_device_ids",
    "--syncthing_dir": "syncthing_dir",
}


def check_release(args: argparse.Namespace) -> None:
    """The flags given are ones the chosen release takes (one line saying why not, before anything is read)."""
    given = {flag: getattr(args, dest, None) for flag, dest in V5_FLAG_DESTS.items()}
    check_release_flags(args.release, {**given, "--consensus": args.consensus})


def shared_chain_args(args: argparse.Namespace, runtime: Runtime) -> dict[str, Any]:
    """The values of the flags add_chain_flags defines, as v5.0.0 spec keyword arguments."""
    state_db_password = flags.password_from(args, "--state_db_password", runtime, prompt=None)
    return {
        "chain_name": args.chain_name,
        "block_delay_number": 0 if args.block_delay_number is None else args.block_delay_number,
        "block_interval": args.block_interval,
        "service_config": args.service_config or flags.default_service_config(),
        "need_monitor": bool(args.need_monitor),
        "need_debug": args.need_debug,
        "enable_tls": True if args.enable_tls is None else args.enable_tls,
        "state_db_user": DEFAULT_STATE_DB_USER if args.state_db_user is None else args.state_db_user,
        "state_db_password": DEFAULT_STATE_DB_PASSWORD if state_db_password is None else state_db_password,
        "namespace": args.namespace,
    }


def v6_chain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The values of the flags add_chain_flags defines, as v6.7.4 spec keyword arguments."""
    from runner_k8s.releases.v6_7_4.accounts import Consensus  # noqa: PLC0415 - a v5 chain never loads v6 modules

    return {
        "chain_name": args.chain_name,
        "block_interval": args.block_interval,
        "consensus": Consensus(args.consensus or Consensus.OVERLORD.value),
        "service_config": args.service_config,
        "need_debug": args.need_debug,
        "namespace": args.namespace,
    }


def add_local_cluster(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """The local_cluster subcommand: every node in one cluster, NodePort services."""
    parser = subparsers.add_parser(
        LOCAL_CLUSTER,
        help="Create a chain whose nodes all run in one Kubernetes cluster.",
        description="Create a chain whose nodes all run in one Kubernetes cluster: writes "
        "cita-cloud/<chain>/node<i>/, <chain>.yaml and <chain>-admin/ into --work_dir.",
    )
    add_chain_flags(parser)
    parser.add_argument("--peers_count", type=flags.positive_int, default=2, help="Count of peers (default: 2).")
    flags.add_password_flag(
        parser,
        "--kms_password",
        help="Password of kms, shared by every node and the super admin (required: this, "
        "--kms_password_file, or typed when asked on a terminal).",
        file_help="File holding the kms password instead of --kms_password",
    )
    parser.add_argument(
        "--node_port",
        type=flags.bounded_int(1, PORT_MAX),
        default=30004,
        help="The node port of rpc; the NodePorts of node i follow it (default: 30004).",
    )
    parser.add_argument(
        "--node_port_range",
        default=DEFAULT_NODE_PORT_RANGE,
        help="The cluster's NodePort range (kube-apiserver --service-node-port-range); every "
        f"NodePort must fall in it (default: {DEFAULT_NODE_PORT_RANGE}).",
    )
    parser.add_argument(
        "--pvc_name", required=True, help="Name of persistentVolumeClaim holding the node folders (required)."
    )
    parser.set_defaults(handler=_local_cluster)


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_k8s_config.py."""
    parser = cli.Parser(
        prog="create_k8s_config.py",
        description="Generate the node folders and Kubernetes YAML of a CITA-Cloud chain.",
    )
    flags.add_version_flag(parser)
    subparsers = parser.add_subparsers(dest="subcommand", title="subcommands", required=True, metavar="SUBCOMMAND")
    add_local_cluster(subparsers)
    add_multi_cluster(subparsers)
    add_add_node(subparsers)
    add_remove_node(subparsers)
    add_show_plan(subparsers)
    return parser


def add_multi_cluster(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """The multi_cluster subcommand: one node per cluster, LoadBalancer services."""
    parser = subparsers.add_parser(
        MULTI_CLUSTER,
        help="Create a chain with one node per Kubernetes cluster.",
        description="Create a chain with one node per Kubernetes cluster from accounts and syncthing identities "
        "made beforehand: writes cita-cloud/<chain>/node<i>/ and <chain>-<i>.yaml into --work_dir. All lists "
        "are comma-separated, in the same node order.",
    )
    add_chain_flags(parser)
    parser.add_argument(
        "--timestamp",
        type=flags.bounded_int(0, TIMESTAMP_MAX),
        default=None,
        help="Timestamp of genesis block, in milliseconds since the epoch (default: now).",
    )
    parser.add_argument(
        "--super_admin", default=None, help="Address of super admin, made by create_account.py (required)."
    )
    for flag, text in MULTI_LISTS.items():
        # Checked once the release is known (required_lists), so that one message names every list missing.
        needed = "required on v5.0.0" if flag in V6_UNUSED_LISTS else "required"
        parser.add_argument(flag, type=flags.comma_list, default=None, help=f"{text} ({needed})")
    flags.add_password_flag(
        parser,
        "--kms_passwords",
        value_type=flags.exact_comma_list,
        help="Password list of kms: the password of each authority's account, comma-separated (required: "
        "this, --kms_passwords_file, or typed when asked on a terminal).",
        file_help="File holding the kms passwords, one per line in node order",
    )
    parser.add_argument(
        "--accounts_dir",
        type=Path,
        default=Path("."),
        help="Where create_account.py left the account folders (0x...): each authority's kms.db, "
        "key_id and node_address are checked and copied from there (default: .).",
    )
    parser.add_argument(
        "--syncthing_dir",
        type=Path,
        default=None,
        help="Where create_syncthing_config.py left the device folders: each device's cert.pem "
        "and key.pem are checked and copied from there (default: .).",
    )
    parser.set_defaults(handler=_multi_cluster)


V6_UNUSED_LISTS = ("--sync_device_ids",)


def required_lists(args: argparse.Namespace) -> None:
    """Every required multi_cluster flag of the chain's release that is missing, named in one message."""
    wanted = ["--super_admin", *(flag for flag in MULTI_LISTS if args.release != V6 or flag not in V6_UNUSED_LISTS)]
    missing = [flag for flag in wanted if getattr(args, flag.removeprefix("--")) is None]
    if missing:
        named = ", ".join(missing)
        raise UsageError(
            f"the following arguments are required: {named} (see create_k8s_config.py multi_cluster --help)"
        )


def _multi_cluster(args: argparse.Namespace, runtime: Runtime) -> None:
    check_release(args)
    required_lists(args)
    if args.release == V6:
        from runner_k8s.create.v6spec import build_v6_multi_spec  # noqa: PLC0415 - each release loads its own

        v6_spec = build_v6_multi_spec(
            **v6_chain_args(args),
            timestamp_ms=args.timestamp,
            super_admin=args.super_admin,
            authorities=args.authorities,
            nodes=args.nodes,
            lbs_tokens=args.lbs_tokens,
            node_ports=args.node_ports,
            pvc_names=args.pvc_names,
            accounts_dir=args.accounts_dir,
        )
        v6_multi_cluster(
            v6_spec, work_dir=args.work_dir, force=args.force, runtime=runtime, dry_run=args.dry_run, as_json=args.json
        )
        return
    from runner_k8s.create.spec import build_multi_spec  # noqa: PLC0415 - each release loads its own

    prompts = [f"kms password of node {index} ({address})" for index, address in enumerate(args.authorities)]
    spec = build_multi_spec(
        **shared_chain_args(args, runtime),
        timestamp_ms=args.timestamp,
        super_admin=args.super_admin,
        authorities=args.authorities,
        nodes=args.nodes,
        lbs_tokens=args.lbs_tokens,
        sync_device_ids=args.sync_device_ids,
        kms_passwords=flags.password_list_from(args, "--kms_passwords", runtime, prompts=prompts),
        node_ports=args.node_ports,
        pvc_names=args.pvc_names,
        accounts_dir=args.accounts_dir,
        syncthing_dir=Path(".") if args.syncthing_dir is None else args.syncthing_dir,
    )
    multi_cluster(
        spec, work_dir=args.work_dir, force=args.force, runtime=runtime, dry_run=args.dry_run, as_json=args.json
    )


def _local_cluster(args: argparse.Namespace, runtime: Runtime) -> None:
    check_release(args)
    if args.release == V6:
        from runner_k8s.create.v6spec import build_v6_local_spec  # noqa: PLC0415 - each release loads its own

        v6_spec = build_v6_local_spec(
            **v6_chain_args(args),
            peers_count=args.peers_count,
            node_port=args.node_port,
            node_port_range=args.node_port_range,
            pvc_name=args.pvc_name,
        )
        v6_local_cluster(
            v6_spec, work_dir=args.work_dir, force=args.force, runtime=runtime, dry_run=args.dry_run, as_json=args.json
        )
        return
    from runner_k8s.create.spec import build_local_spec  # noqa: PLC0415 - each release loads its own

    kms_password = flags.password_from(args, "--kms_password", runtime, prompt="kms password", confirm=True)
    assert kms_password is not None  # asked for when not given
    spec = build_local_spec(
        **shared_chain_args(args, runtime),
        peers_count=args.peers_count,
        kms_password=kms_password,
        node_port=args.node_port,
        node_port_range=args.node_port_range,
        pvc_name=args.pvc_name,
    )
    local_cluster(
        spec, work_dir=args.work_dir, force=args.force, runtime=runtime, dry_run=args.dry_run, as_json=args.json
    )


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_k8s_config.py; return the exit code."""
    return cli.run(build_parser(), argv, cli.dispatch, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
