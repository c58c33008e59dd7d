"""create_k8s_config.py add_node and remove_node: their flags, and the adapters to the verbs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import cli, flags
from runner_k8s.errors import CheckError, RunnerError, UsageError
from runner_k8s.runtime import Runtime

ADD_NODE = "add_node"
REMOVE_NODE = "remove_node"


def add_common(parser: argparse.ArgumentParser) -> None:
    """--work_dir (where the chain is), --chain_name (which one), --dry_run, --json."""
    flags.add_work_dir_flag(parser)
    parser.add_argument(
        "--chain_name",
        default=None,
        help="The chain to change, when --work_dir holds more than one (default: the one chain there).",
    )
    flags.add_output_flags(parser)


def add_add_node(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """add_node: one more node for a chain local_cluster or multi_cluster wrote."""
    parser = subparsers.add_parser(
        ADD_NODE,
        help="Add a node to a chain this tool wrote (its folder, its objects, the others' peer files).",
        description="Add a node to the chain in --work_dir: its node folder (the chain's genesis and system "
        "config, a new or pre-made account and syncthing identity), its objects in the chain's YAML (a new YAML "
        "for a multi_cluster node), and the other nodes' network-config.toml and config.xml; then print the "
        "steps that start it without costing quorum and make it a validator once it has caught up.",
    )
    add_common(parser)
    parser.add_argument("--authority", default=None, help="A pre-made account (create_account.py) for the node.")
    parser.add_argument(
        "--sync_device_id", default=None, help="A pre-made syncthing identity (create_syncthing_config.py)."
    )
    parser.add_argument(
        "--accounts_dir", type=Path, default=Path("."), help="Where the --authority folder is (default: .)."
    )
    parser.add_argument(
        "--syncthing_dir", type=Path, default=Path("."), help="Where the --sync_device_id folder is (default: .)."
    )
    flags.add_password_flag(
        parser,
        "--kms_password",
        help="multi_cluster: the password of the new node's --authority account (local_cluster nodes share the "
        "chain's).",
        file_help="File holding that password instead of --kms_password",
    )
    parser.add_argument("--node", default=None, help="multi_cluster: the new cluster's LoadBalancer IP or DNS name.")
    parser.add_argument("--node_port", default=None, help="multi_cluster: the first of its nine LoadBalancer ports.")
    parser.add_argument("--lbs_token", default=None, help="multi_cluster: its LoadBalancer id (e.g. lb-xxxx).")
    parser.add_argument(
        "--pvc_name", default=None, help="multi_cluster: the claim in its cluster (local nodes share the chain's)."
    )
    parser.add_argument(
        "--node_port_range",
        default=None,
        help="local_cluster: the cluster's NodePort range, which the new node's NodePorts must fit (default: "
        "30000-32767).",
    )
    parser.set_defaults(handler=_add_node)


def add_remove_node(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """remove_node: take a node that is no longer a validator out of a chain."""
    parser = subparsers.add_parser(
        REMOVE_NODE,
        help="Remove a node that is no longer a validator from a chain this tool wrote.",
        description="Remove node --node from the chain in --work_dir: its folder and objects go, the other "
        "nodes' network-config.toml and config.xml are rewritten without it, and its index is never given to "
        "another node. The running chain is asked first (--rpc) whether the node is still a validator.",
    )
    add_common(parser)
    parser.add_argument("--node", type=flags.non_negative_int, required=True, help="The index of the node (required).")
    parser.add_argument(
        "--rpc",
        required=True,
        help="host:port of any running node's controller RPC (50004), to check the node is no validator (required).",
    )
    parser.set_defaults(handler=_remove_node)


def _add_node(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.create.rules import check_address, check_base_port, check_host, check_pvc_name  # noqa: PLC0415
    from runner_k8s.day2.nodeverbs import NewNode, add_node  # noqa: PLC0415 - the day-2 verbs load only here
    from runner_k8s.keys.syncthing import parse_device_id  # noqa: PLC0415

    device_id = None
    if args.sync_device_id is not None:
        try:
            device_id = parse_device_id(args.sync_device_id)
        except ValueError as exc:
            raise UsageError(f"--sync_device_id: {exc}") from None
    new = NewNode(
        authority=None if args.authority is None else check_address(args.authority, "--authority"),
        device_id=device_id,
        accounts_dir=args.accounts_dir,
        syncthing_dir=args.syncthing_dir,
        kms_password=flags.password_from(args, "--kms_password", runtime, prompt=None),
        host=None if args.node is None else check_host(args.node, "--node"),
        base_port=None if args.node_port is None else check_base_port(args.node_port, None),
        lb_token=args.lbs_token,
        pvc_name=None if args.pvc_name is None else check_pvc_name(args.pvc_name),
        node_port_range=args.node_port_range,
    )
    add_node(args.work_dir, args.chain_name, new, runtime=runtime, dry_run=args.dry_run, as_json=args.json)


def validators_at(address: str) -> Sequence[str]:
    """The validators a running node reports (its controller's GetSystemConfig), as 0x addresses."""
    from runner_k8s.govern.rpc import Controller, parse_rpc_address  # noqa: PLC0415 - grpc loads only for remove_node

    try:
        target = parse_rpc_address(address)
    except ValueError as exc:
        raise UsageError(f"--rpc {address!r}: {exc}") from None
    with Controller(target) as controller:
        try:
            config = controller.system_config()
        except RunnerError as exc:
            raise CheckError(f"cannot ask {target} whether the node is still a validator: {exc}") from None
    return ["0x" + validator.hex() for validator in config.validators]


def _remove_node(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.day2.nodeverbs import remove_node  # noqa: PLC0415 - the day-2 verbs load only here

    remove_node(
        args.work_dir,
        args.chain_name,
        args.node,
        lambda: validators_at(args.rpc),
        runtime=runtime,
        dry_run=args.dry_run,
        as_json=args.json,
    )
