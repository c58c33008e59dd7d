"""create_k8s_config.py add_node, remove_node and show_plan: their flags, and the adapters to the verbs."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner_k8s import cli, flags
from runner_k8s.errors import CheckError, RunnerError, UsageError
from runner_k8s.runtime import Runtime
from runner_k8s.scripts.manage_chain import rpc_list

if TYPE_CHECKING:
    from runner_k8s.day2.nodeverbs import PlanOptions
    from runner_k8s.day2.seeding import ChainView

ADD_NODE = "add_node"
REMOVE_NODE = "remove_node"
SHOW_PLAN = "show_plan"
# A node commits a block up to about half a second after another (each controller takes the proposal on its own
# 1-s tick): a seed asked just after the others may still be committing their head. It is asked again, a second
# apart, before add_node calls it behind (live run F: 500 against 501).
SEED_ASKS = 4
SEED_ASK_PAUSE = 1.0


def add_common(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    """--work_dir (where the chain is), --chain_name (which one), and --dry_run, --json."""
    flags.add_work_dir_flag(parser)
    parser.add_argument(
        "--chain_name",
        default=None,
        help="The chain to change, when --work_dir holds more than one (default: the one chain there).",
    )
    if output:
        flags.add_output_flags(parser)


def add_plan_flags(parser: argparse.ArgumentParser, nodes: str) -> None:
    """--contexts and --admin_dir: how the printed plan reaches each cluster and signs as the super admin."""
    parser.add_argument(
        "--contexts",
        type=flags.comma_list,
        default=None,
        metavar="CONTEXT[,CONTEXT...]",
        help=f"The kubectl context of each node's cluster, one per node ({nodes}), put in every kubectl command of "
        "the plan (default: multi_cluster, each node's name <chain>-<i>; local_cluster, the current context; a "
        "local_cluster chain takes one).",
    )
    parser.add_argument(
        "--admin_dir",
        type=Path,
        default=None,
        help="multi_cluster: the super admin's account folder, for the plan's validator change (default: the folder "
        "create_account.py made, named after the admin's address, when it is there; its key_file is the password).",
    )


def add_add_node(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """add_node: one more node for a chain local_cluster or multi_cluster wrote."""
    parser = subparsers.add_parser(
        ADD_NODE,
        help="Add a node to a chain this tool wrote (its folder, its objects, the others' peer files).",
        description="Add a node to the chain in --work_dir: its node folder (the chain's genesis and system "
        "config, a new or pre-made account and syncthing identity), its objects in the chain's YAML (a new YAML "
        "for a multi_cluster node), and the other nodes' network-config.toml and config.xml; then print (and save "
        "as <chain>-plan.sh) the script that starts it without costing quorum and makes it a validator once it "
        "has caught up. On a v6.7.4 local_cluster chain: a new key and a certificate signed by <chain>-ca/, and the "
        "chain's YAML with the new node among the others' peers, which they re-read while they run.",
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
    parser.add_argument(
        "--seed_from",
        type=flags.non_negative_int,
        default=None,
        metavar="INDEX",
        help="local_cluster: start the new node on a copy of node INDEX's chain data (v5.0.0: so that it takes only "
        "the raft entries made since the copy, whatever the chain's age; v6.7.4: the executor's and storage's data, "
        "instead of syncing every block); the plan stops node INDEX for the copy (refused when that would cost the "
        "chain its quorum, or node INDEX is behind). Needs --rpc and --seed_rpc.",
    )
    parser.add_argument(
        "--rpc",
        type=rpc_list,
        default=None,
        metavar="ADDR[,ADDR...]",
        help="With --seed_from: host:port of the other running nodes' controller RPC (50004), asked for the "
        "validators and their heights (required, but for --dry_run).",
    )
    parser.add_argument(
        "--seed_rpc",
        type=rpc_list,
        default=None,
        metavar="ADDR",
        help="With --seed_from: host:port of node INDEX's own controller RPC, asked for its height (required with "
        "--seed_from, but for --dry_run).",
    )
    add_plan_flags(parser, "the chain's nodes in index order, then the new one")
    parser.set_defaults(handler=_add_node)


def add_remove_node(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """remove_node: take a node that is no longer a validator out of a chain."""
    parser = subparsers.add_parser(
        REMOVE_NODE,
        help="Remove a node that is no longer a validator from a chain this tool wrote.",
        description="Remove node --node_index from the chain in --work_dir: its folder and objects go, the other "
        "nodes' network-config.toml and config.xml are rewritten without it, and its index is never given to "
        "another node. The running chain is asked first (--rpc) whether the node is still a validator (v6.7.4: "
        "whether it is the only one; the plan votes it out first).",
    )
    add_common(parser)
    parser.add_argument(
        "--node_index", type=flags.non_negative_int, default=None, help="The index of the node to remove (required)."
    )
    parser.add_argument(
        "--node",
        default=None,
        metavar="INDEX",
        help="The old spelling of --node_index, still read when it is a plain index (in add_node, --node is the new "
        "cluster's LoadBalancer host).",
    )
    parser.add_argument(
        "--rpc",
        type=rpc_list,
        default=None,
        metavar="ADDR[,ADDR...]",
        help="host:port of running nodes' controller RPC (50004), comma-separated: the first that answers says "
        "whether the node is still a validator (required, but for --dry_run, which then says it did not check).",
    )
    add_plan_flags(parser, "the chain's nodes in index order, the removed one included")
    parser.set_defaults(handler=_remove_node)


def add_show_plan(subparsers: argparse._SubParsersAction[cli.Parser]) -> None:
    """show_plan: print the last plan add_node or remove_node saved."""
    parser = subparsers.add_parser(
        SHOW_PLAN,
        help="Print again the plan the last add_node or remove_node printed (saved as <chain>-plan.sh).",
        description="Print the script the last add_node or remove_node of the chain in --work_dir saved as "
        "<chain>-plan.sh, as it was printed: run it with bash, again from the top after a failure.",
    )
    add_common(parser, output=False)
    parser.set_defaults(handler=_show_plan)


def plan_options(args: argparse.Namespace) -> PlanOptions:
    """The plan's --contexts and --admin_dir (and add_node's seed: --seed_from, asked at --rpc and --seed_rpc)."""
    from runner_k8s.day2.nodeverbs import PlanOptions  # noqa: PLC0415 - the day-2 verbs load only here

    seed_from = getattr(args, "seed_from", None)
    ask = None
    if seed_from is None:
        if getattr(args, "seed_rpc", None) is not None or (args.handler is _add_node and args.rpc is not None):
            raise UsageError("--rpc and --seed_rpc go with --seed_from: leave them out, or say which node seeds")
    else:
        if (args.rpc is None) != (args.seed_rpc is None):
            raise UsageError("--seed_from: give both --rpc (the other nodes) and --seed_rpc (the seed node's RPC)")
        if args.rpc is None and not args.dry_run:
            raise UsageError(
                f"--seed_from {seed_from} needs --rpc (the other running nodes' RPC) and --seed_rpc (node "
                f"{seed_from}'s RPC): the chain is asked whether the seed can stop and is at the head (a --dry_run "
                "goes without)"
            )
        if args.rpc is not None:
            rpc, seed_rpc = list(args.rpc), list(args.seed_rpc)
            if len(seed_rpc) != 1:
                raise UsageError(f"--seed_rpc takes one address (node {seed_from}'s RPC), not {len(seed_rpc)}")
            ask = lambda: chain_view(rpc, seed_rpc[0])  # noqa: E731
    return PlanOptions(tuple(args.contexts) if args.contexts else None, args.admin_dir, seed_from, ask)


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
    from runner_k8s.day2.v6nodes import add_v6_node, is_v6_chain  # noqa: PLC0415

    options = plan_options(args)
    verb = add_v6_node if is_v6_chain(args.work_dir, args.chain_name) else add_node
    verb(args.work_dir, args.chain_name, new, runtime=runtime, dry_run=args.dry_run, as_json=args.json, options=options)


def validators_at(addresses: Sequence[str]) -> Sequence[str]:
    """The validators the first answering node reports (its controller's GetSystemConfig), as 0x addresses."""
    from runner_k8s.govern.rpc import Controller  # noqa: PLC0415 - grpc loads only for remove_node

    failures = []
    for address in addresses:
        with Controller(address) as controller:
            try:
                config = controller.system_config()
            except RunnerError as exc:
                failures.append(str(exc))
                continue
        return ["0x" + validator.hex() for validator in config.validators]
    raise CheckError(f"cannot ask whether the node is still a validator: {'; '.join(failures)}")


def chain_view(rpc: Sequence[str], seed_rpc: str) -> ChainView:
    """The validators (first answering --rpc), every --rpc node's height, then the seed's own height (asked last).

    The seed is asked up to SEED_ASKS times, SEED_ASK_PAUSE apart, while it is below the others' head.
    """
    from runner_k8s.day2.seeding import ChainView  # noqa: PLC0415
    from runner_k8s.govern.rpc import Controller  # noqa: PLC0415 - grpc loads only here

    validators = validators_at(rpc)
    heights = {}
    for address in rpc:
        with Controller(address) as controller:
            heights[address] = controller.block_number()
    head = max(heights.values(), default=0)
    for ask in range(1, SEED_ASKS + 1):
        with Controller(seed_rpc) as controller:
            seed_height = controller.block_number()
        if seed_height >= head or ask == SEED_ASKS:
            break
        time.sleep(SEED_ASK_PAUSE)
    return ChainView(validators, heights, seed_height)


def node_index(args: argparse.Namespace) -> int:
    """--node_index, or the old spelling --node when it is a plain index."""
    if args.node is not None:
        if args.node_index is not None:
            raise UsageError("give the node once: --node_index (--node is its old spelling)")
        try:
            return flags.non_negative_int(args.node)
        except argparse.ArgumentTypeError:
            raise UsageError(
                f"--node {args.node!r}: remove_node takes the node's index, --node_index N (--node is add_node's "
                "LoadBalancer host)"
            ) from None
    if args.node_index is None:
        raise UsageError("--node_index is required: the index of the node to remove (see the summary's nodeN)")
    return int(args.node_index)


def _remove_node(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.day2.nodeverbs import remove_node  # noqa: PLC0415 - the day-2 verbs load only here

    index = node_index(args)
    if args.rpc is None and not args.dry_run:
        raise UsageError(
            "--rpc is required: a running node's RPC address (host:port), asked whether the node is still a "
            "validator (a --dry_run goes without it)"
        )
    rpc = args.rpc
    from runner_k8s.day2.v6nodes import is_v6_chain, remove_v6_node  # noqa: PLC0415

    options = plan_options(args)
    verb = remove_v6_node if is_v6_chain(args.work_dir, args.chain_name) else remove_node
    verb(
        args.work_dir,
        args.chain_name,
        index,
        None if rpc is None else (lambda: validators_at(rpc)),
        runtime=runtime,
        dry_run=args.dry_run,
        as_json=args.json,
        options=options,
    )


def _show_plan(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.day2.nodeverbs import show_plan  # noqa: PLC0415 - the day-2 verbs load only here

    show_plan(args.work_dir, args.chain_name, runtime=runtime)
