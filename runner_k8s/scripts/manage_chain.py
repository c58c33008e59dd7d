"""Look at a running CITA-Cloud v5.0.0 or v6.7.4 chain and govern it with the super admin's transactions.

The chain's release is its own answer (v6.7.4 serves GetNodeStatus, v5.0.0 GetVersion); the admin
folder's kind (kms.db or private_key) must match it.
"""

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
    "remove_validator": "Remove one validator (never the last one; on v5.0.0 never raft's current leader).",
    "set_admin": "Hand the super admin's role to another account (--new_admin_dir checks it exists).",
    "emergency_brake": "Switch the emergency brake on (ordinary transactions refused) or off.",
    "set_block_interval": "Set the seconds between blocks: v6.7.4 applies it from the next block; refused on "
    "v5.0.0, whose raft never applies it.",
}
VALIDATOR_VERBS = ("add_validator", "remove_validator")
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


def validator(text: str) -> bytes:
    """add_validator/remove_validator's ADDRESS: a node address, or (remove only) a validator key as status shows it."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) == 96 and all(char in "0123456789abcdefABCDEF" for char in body):
        return bytes.fromhex(body)
    return address(text)


def block_seconds(text: str) -> int:
    """set_block_interval's SECONDS: a whole number (its range is checked against the chain's release)."""
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    return int(text)


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
        "made (v5.0.0: kms.db, key_id, node_address; v6.7.4: private_key, node_address, validator_address); "
        "read only (required).",
    )
    flags.add_password_flag(
        parser,
        "--admin_password",
        help="Password of the super admin's kms.db (asked without echo on a terminal when not given; a v6.7.4 "
        "admin's private_key has none).",
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
        description="Look at a running CITA-Cloud v5.0.0 or v6.7.4 chain (status) and govern it with transactions "
        "signed by its super admin, after checks that refuse what would break it.",
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
    status.add_argument(
        "--peers",
        type=flags.non_negative_int,
        default=None,
        metavar="N",
        help="With --wait_synced, v6.7.4: also wait until every node lists at least N peers in its GetNodeStatus "
        "(the peers of its config.toml it is connected to: after add_node, the sign that it re-read its peers).",
    )
    status.add_argument(
        "--in_step",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="With --wait_synced, also wait until every node has kept up with the chain block by block for SECONDS "
        "(never below the head of the look before, while the chain makes 2 blocks): a v5.0.0 node that takes "
        "blocks only from synced files, every 12 s, is not in step and deletes the proposals it will need.",
    )
    status.set_defaults(handler=_status)
    for verb, text in CHANGES.items():
        change = subparsers.add_parser(verb, help=text, description=text)
        if verb == "emergency_brake":
            change.add_argument("state", choices=["on", "off"], help="on: refuse ordinary transactions; off: take them")
        elif verb == "set_block_interval":
            change.add_argument("seconds", type=block_seconds, metavar="SECONDS", help="The new interval, in seconds.")
        elif verb in VALIDATOR_VERBS:
            change.add_argument(
                "address",
                type=validator,
                metavar="ADDRESS",
                help="The node's address: 0x and 40 hex digits (remove_validator also takes a validator's BLS key "
                "as status shows it).",
            )
            change.add_argument(
                "--node_dir",
                type=Path,
                default=None,
                help="The node's folder (node_address, validator_address): an overlord chain's validator is the "
                "BLS key in its validator_address (needed on v6.7.4 overlord).",
            )
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
    subparsers.choices["add_validator"].add_argument(
        "--in_step",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="Return only once every --rpc node has also kept up with the chain block by block for SECONDS after "
        "the change (as status --in_step): the new validator then votes at once. Within --timeout.",
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
    return parser


def _status(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.govern.status import show_status, wait_synced, watch_status  # noqa: PLC0415 - grpc loads only here

    if args.watch and args.wait_synced:
        raise UsageError("--watch and --wait_synced cannot go together: --watch reports until Ctrl-C")
    if args.peers is not None and not args.wait_synced:
        raise UsageError("--peers goes with --wait_synced: it says how many peers every node must list")
    if args.in_step is not None and not args.wait_synced:
        raise UsageError("--in_step goes with --wait_synced: it says how long every node must keep up")
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
            min_peers=args.peers,
            in_step=args.in_step or 0.0,
        )
    else:
        show_status(args.rpc, runtime, chain_name=args.chain_name, as_json=args.json)


def _validator_entry(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """(validator entry, node address) of add_validator/remove_validator: from --node_dir when given."""
    from runner_k8s.releases.v6_7_4.accounts import read_node_folder  # noqa: PLC0415

    given: bytes = args.address
    if args.node_dir is None:
        if len(given) != 20 and args.verb == "add_validator":
            raise UsageError(
                "add_validator takes the node's address (0x and 40 hex digits), not a key: an overlord validator's "
                "key is read from the node's folder (--node_dir)"
            )
        return given, given if len(given) == 20 else b""
    node_address, validator_address = read_node_folder(args.node_dir, "--node_dir")
    if given.hex() not in (node_address, validator_address):
        raise CheckError(f"--node_dir {args.node_dir} is node 0x{node_address}, not 0x{given.hex()}")
    return bytes.fromhex(validator_address), bytes.fromhex(node_address)


def _change(args: argparse.Namespace, runtime: Runtime) -> None:
    from runner_k8s.govern.adminkeys import V6_RELEASE, admin_release, load_admin, load_v6_admin  # noqa: PLC0415
    from runner_k8s.govern.delivery import govern  # noqa: PLC0415
    from runner_k8s.govern.governance import Change, Options  # noqa: PLC0415
    from runner_k8s.govern.transactions import Lock  # noqa: PLC0415
    from runner_k8s.keys.keystore import password_from_key_file  # noqa: PLC0415

    if args.verb in VALIDATOR_VERBS:
        entry, node_address = _validator_entry(args)
        change = Change(
            args.verb,
            Lock.VALIDATORS,
            address=entry,
            node_address=node_address,
            node_dir_given=args.node_dir is not None,
        )
    elif args.verb == "emergency_brake":
        change = Change(args.verb, Lock.EMERGENCY_BRAKE, on=args.state == "on")
    elif args.verb == "set_block_interval":
        change = Change(args.verb, Lock.BLOCK_INTERVAL, seconds=args.seconds)
    else:
        change = Change(args.verb, Lock.ADMIN, address=args.address)
    if getattr(args, "if_needed", False):
        from runner_k8s.govern.status import validator_already  # noqa: PLC0415

        adding = args.verb == "add_validator"
        if validator_already(args.rpc, change.address, chain_name=args.chain_name, present=adding):
            state = "already a validator" if adding else "no validator"
            runtime.say(f"nothing to do: 0x{change.address.hex()} is {state} on every node (--if_needed)")
            return
    options = Options(
        rpc=tuple(args.rpc),
        admin_dir=args.admin_dir,
        chain_name=args.chain_name,
        node_rpc=getattr(args, "node_rpc", None),
        new_admin_dir=getattr(args, "new_admin_dir", None),
        yes=args.yes,
        max_lag=getattr(args, "max_lag", DEFAULT_MAX_LAG),
        timeout=args.timeout,
        in_step=getattr(args, "in_step", None) or 0.0,
        admin_release=admin_release(args.admin_dir),
    )
    if options.admin_release == V6_RELEASE:
        signer = load_v6_admin(args.admin_dir)
    else:
        password = flags.password_from(args, "--admin_password", runtime, prompt="the super admin's kms password")
        assert password is not None
        if args.admin_password_file is not None:
            password = password_from_key_file(password)  # the kms drops trailing whitespace from its key file too
        signer = load_admin(args.admin_dir, password)
    govern(change, options, signer, runtime, dry_run=args.dry_run, as_json=args.json)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run manage_chain.py; return the exit code."""
    return cli.run(build_parser(), argv, cli.dispatch, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
