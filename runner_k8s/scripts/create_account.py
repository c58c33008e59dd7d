"""Create a kms account from the password in key_file, in a folder named by its address."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import cli, flags
from runner_k8s.create.identities import create_account
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.plan import KEY_FILE
from runner_k8s.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_account.py."""
    parser = cli.Parser(
        prog="create_account.py",
        description="Create a kms account (kms.db, key_id, node_address) from the password in a key file. "
        "The key file is moved into a new folder named by the account's address.",
    )
    flags.add_version_flag(parser)
    parser.add_argument(
        "--key_file",
        type=Path,
        default=Path(KEY_FILE),
        help="File holding the kms password; trailing whitespace is ignored, as the kms does (default: key_file).",
    )
    parser.add_argument(
        "--kms_type",
        choices=[flavour.value for flavour in KmsFlavour],
        default=None,
        help="sm (SM2/SM3/SM4, for kms_sm) or eth (secp256k1/Keccak-256/AES, for kms_eth) "
        "(default: the flavour of the kms image in the service config).",
    )
    flags.add_service_config_flag(parser)
    flags.add_work_dir_flag(parser, "--output_dir")
    return parser


def _run(args: argparse.Namespace, runtime: Runtime) -> None:
    if args.kms_type is not None:
        flavour = KmsFlavour(args.kms_type)
    else:
        from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config  # noqa: PLC0415 - only without --kms_type

        flavour = load_service_config(args.service_config or flags.default_service_config()).kms_flavour
    create_account(key_file=args.key_file, flavour=flavour, output_dir=args.output_dir, runtime=runtime)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_account.py; return the exit code."""
    return cli.run(build_parser(), argv, _run, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
