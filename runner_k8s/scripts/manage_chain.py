"""Look at a running CITA-Cloud v5.0.0 chain and govern it with the super admin's transactions."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import cli, flags
from runner_k8s.errors import CheckError, UsageError
from runner_k8s.runtime import Runtime

STATUS = "status"
CHANGES = {
    "add_validator": "Add one validator: its node must run this chain and have caught up (--node_rpc).",
    "remove_validator": "Remove one validator (never the last one, nor raft's current leader).",
    "set_admin": "Hand the super admin's role to another account (--new_admin_dir checks it exists).",
    "emergency_brake": "Switch the emergency brake on (ordinary transactions refused) or off.",
}
REFUSED = "set_block_interval"
BLOCK_INTERVAL_REASON = (
    "set_block_interval is refused: a running v5.0.0 consensus_raft never applies a new block interval (it "
    "reads the interval once, when its raft store is empty), so the chain would report one interval and keep "
    "another; choose it when the chain is made (create_k8s_config.py --block_interval)"
)
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_LAG = 20
SYNCED_LAG = 2  # blocks: nodes polled one after the other differ by one or two at a 1-second interval
DEFAULT_INTERVAL = 2.0
MAX_SECONDS = 86_400.0


def seconds(text: str) -> float:
    """A time in seconds: a positive number up to a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most {MAX_SECONDS:g} seconds")
    return value


def rpc_list(text: str) -> list[str]:
    """--rpc: host:port entries, comma-separated, each once."""
    from runner_k8s.govern.rpc import parse_rpc_address  # noqa: PLC0415 - grpc loads only once a node is called

    addresses = []
    for number, item in enumerate(flags.comma_list(text)):
        try:
            address = parse_rpc_address(item)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"entry {number}: {exc}") from None
        if address in addresses:
            raise argparse.ArgumentTypeError(f"entry {number}: {address} is listed twice")
        addresses.append(address)
    return addresses


def rpc_address(text: str) -> str:
    """--node_rpc: one host:port."""
    from runner_k8s.govern.rpc import parse_rpc_address  # noqa: PLC0415 - grpc loads only once a node is called

    try:
        return parse_rpc_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def address(text: str) -> bytes:
    """ADDRESS: 0x and 40 hex digits, the one rule of every address the scripts take (--authority, --super_admin)."""
    from runner_k8s.govern.transactions import parse_address  # noqa: PLC0415 - protobuf loads only for a change
    from runner_k8s.keys.accounts import is_address  # noqa: PLC0415

    if not is_address(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an address: give 0x and 40 hex digits, as in node_address")
    try:
        return parse_address(text)
    except CheckError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_rpc_flags(parser: argparse.ArgumentParser, *, admin: bool = True) -> None:
    """--rpc and --chain_name: which nodes to ask, and which chain they must run (`admin`: a change's flags)."""
    parser.add_argument(
        "--rpc",
        type=rpc_list,
        required=True,
        metavar="ADDR[,ADDR...]",
        help="Every node's controller RPC address, host:port, comma-separated (port 50004 in the pod; a "
        "NodePort, a LoadBalancer or kubectl port-forward reaches it from outside; required).",
    )
    parser.add_argument(
        "--chain_name",
        default=None,
        help="The chain's name: its chain id must be sha256 of it (default: taken from an --admin_dir named "
        "<chain>-admin, else not compared)."
        if admin
        else "The chain's name: its chain id must be sha256 of it (default: not compared).",
    )


def add_change_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every governance change takes."""
    add_rpc_flags(parser)
    parser.add_argument(
        "--admin_dir",
        type=Path,
        required=True,
        help="The super admin's account folder: <chain>-admin/ of local_cluster, or the folder create_account.py "
        "made (kms.db, key_id, node_address); read only (required).",
    )
    flags.add_password_flag(
        parser,
        "--admin_password",
        help="Password of the super admin's kms.db (asked without echo on a terminal when not given).",
        file_help="File holding that password, e.g. the account's key_file (its trailing whitespace is dropped, "
        "as the kms does)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="Do a change that leaves the chain fragile (a validator set that cannot lose a node, an admin "
        "whose account folder was not shown) after saying why.",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help=f"Seconds to wait until every node has applied the change (default: {DEFAULT_TIMEOUT:g}).",
    )
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="Run every check, then print the signed transaction (lock, pre-hash, output, hash) and the checks "
        "it passed; send nothing.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the report as one JSON document (never a key or a password).",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of manage_chain.py."""
    parser = cli.Parser(
        prog="manage_chain.py",
        description="Look at a running CITA-Cloud v5.0.0 chain (status) and govern it with transactions signed by "
        "its super admin, after checks that refuse what would break it.",
    )
    flags.add_version_flag(parser)
    subparsers = parser.add_subparsers(dest="subcommand", title="subcommands", required=True, metavar="SUBCOMMAND")
    status = subparsers.add_parser(
        STATUS,
        help="Every node's height, latest block, peers and system config, and where they disagree.",
        description="Ask every node for its height, latest block, peer count and system config; say which nodes "
        "disagree and which lag. Exits 1 when a node does not answer or the nodes disagree.",
    )
    add_rpc_flags(status, admin=False)
    status.add_argument("--watch", action="store_true", help="Refresh the report until Ctrl-C (which exits 0).")
    status.add_argument(
        "--interval",
        type=seconds,
        default=DEFAULT_INTERVAL,
        help=f"Seconds between two reports of --watch, or between two looks of --wait_synced (default: "
        f"{DEFAULT_INTERVAL:g}).",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help="Print the report as one JSON document (with --watch: one line of JSON per report).",
    )
    status.add_argument(
        "--wait_synced",
        action="store_true",
        help=f"Ask again every --interval seconds until every node answers, they agree and none is more than "
        f"{SYNCED_LAG} blocks behind (a new node has caught up), then report; exit 1 after --timeout.",
    )
    status.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help=f"How long --wait_synced waits, in seconds (default: {DEFAULT_TIMEOUT:g}).",
    )
    status.set_defaults(handler=_status)
    for verb, text in CHANGES.items():
        change = subparsers.add_parser(verb, help=text, description=text)
        if verb == "emergency_brake":
            change.add_argument("state", choices=["on", "off"], help="on: refuse ordinary transactions; off: take them")
        else:
            change.add_argument("address", type=address, metavar="ADDRESS", help="The account: 0x and 40 hex digits.")
        add_change_flags(change)
        change.set_defaults(handler=_change, verb=verb)
    subparsers.choices["add_validator"].add_argument(
        "--node_rpc",
        type=rpc_address,
        required=True,
        help="RPC address (host:port) of the new validator's own controller: it must run this chain, "
        "caught up (required).",
    )
    subparsers.choices["add_validator"].add_argument(
        "--max_lag",
        type=flags.bounded_int(0, 1_000_000),
        default=DEFAULT_MAX_LAG,
        help=f"How many blocks the new validator's node may be behind the chain (default: {DEFAULT_MAX_LAG}).",
    )
    for verb in ("add_validator", "remove_validator"):
        subparsers.choices[verb].add_argument(
            "--if_needed",
            action="store_true",
            help="Do nothing, and exit 0, when every node already has the change (ADDRESS already a validator, or "
            "no longer one); no password is asked then. A plan that is run again uses it.",
        )
    subparsers.choices["set_admin"].add_argument(
        "--new_admin_dir",
        type=Path,
        default=None,
        help="The new admin's account folder (create_account.py): checked to hold ADDRESS, of the chain's kms "
        "type (no password needed). Without it the change needs --yes.",
    )
    refused = subparsers.add_parser(
        REFUSED,
        help="Refused on v5.0.0: a running chain never applies a new block interval.",
        description=BLOCK_INTERVAL_REASON,
    )
    refused.add_argument("seconds", nargs="?", help="The interval you wanted; v5.0.0 cannot apply it at run time.")
    refused.set_defaults(handler=_refused)
    return parser


def _status(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.govern.status import show_status, wait_synced, watch_status  # noqa: PLC0415 - grpc loads only here

    if args.watch and args.wait_synced:
        raise UsageError("--watch and --wait_synced cannot go together: --watch reports until Ctrl-C")
    if args.watch:
        watch_status(args.rpc, runtime, chain_name=args.chain_name, interval=args.interval, as_json=args.json)
    elif args.wait_synced:
        wait_synced(
            args.rpc,
            runtime,
            chain_name=args.chain_name,
            timeout=args.timeout,
            interval=args.interval,
            max_lag=SYNCED_LAG,
            as_json=args.json,
        )
    else:
        show_status(args.rpc, runtime, chain_name=args.chain_name, as_json=args.json)


def _change(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.govern.adminkeys import load_admin  # noqa: PLC0415 - grpc and protobuf load only here
    from runner_k8s.govern.delivery import govern  # noqa: PLC0415
    from runner_k8s.govern.governance import Change, Options  # noqa: PLC0415
    from runner_k8s.govern.transactions import Lock  # noqa: PLC0415
    from runner_k8s.keys.keystore import password_from_key_file  # noqa: PLC0415

    if getattr(args, "if_needed", False):
        from runner_k8s.govern.status import validator_already  # noqa: PLC0415

        adding = args.verb == "add_validator"
        if validator_already(args.rpc, args.address, chain_name=args.chain_name, present=adding):
            state = "already a validator" if adding else "no validator"
            runtime.say(f"nothing to do: 0x{args.address.hex()} is {state} on every node (--if_needed)")
            return
    locks = {"add_validator": Lock.VALIDATORS, "remove_validator": Lock.VALIDATORS, "set_admin": Lock.ADMIN}
    if args.verb == "emergency_brake":
        change = Change(args.verb, Lock.EMERGENCY_BRAKE, on=args.state == "on")
    else:
        change = Change(args.verb, locks[args.verb], address=args.address)
    options = Options(
        rpc=tuple(args.rpc),
        admin_dir=args.admin_dir,
        chain_name=args.chain_name,
        node_rpc=getattr(args, "node_rpc", None),
        new_admin_dir=getattr(args, "new_admin_dir", None),
        yes=args.yes,
        max_lag=getattr(args, "max_lag", DEFAULT_MAX_LAG),
        timeout=args.timeout,
    )
    password = flags.password_from(args, "--admin_password", runtime, prompt="the super admin's kms password")
    assert password is not None
    if args.admin_password_file is not None:
        password = password_from_key_file(password)  # the kms drops trailing whitespace from its key file too
    signer = load_admin(args.admin_dir, password)
    govern(change, options, signer, runtime, dry_run=args.dry_run, as_json=args.json)


def _refused(args: argparse.Namespace, runtime: Runtime) -> None:
    raise CheckError(BLOCK_INTERVAL_REASON)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run manage_chain.py; return the exit code."""
    return cli.run(build_parser(), argv, cli.dispatch, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
