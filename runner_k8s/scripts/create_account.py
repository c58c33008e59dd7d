"""Create a kms account from the password in key_file, in a folder named by its address."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import cli, flags
from runner_k8s.create.identities import create_account, create_v6_account
from runner_k8s.create.releasechoice import DEFAULT_RELEASE, RELEASES, V6
from runner_k8s.errors import UsageError
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.plan import KEY_FILE
from runner_k8s.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_account.py."""
    parser = cli.Parser(
        prog="create_account.py",
        description="Create an account in a new folder named by its address. For v5.0.0, a kms account "
        "(kms.db, key_id, node_address) from the password in a key file, which is moved into the folder; for "
        "v6.7.4 (--release v6.7.4), the key files private_key, node_address and validator_address.",
    )
    flags.add_version_flag(parser)
    parser.add_argument(
        "--release",
        choices=RELEASES,
        default=DEFAULT_RELEASE,
        help=f"The CITA-Cloud release the account is for (default: {DEFAULT_RELEASE}).",
    )
    parser.add_argument(
        "--key_file",
        type=Path,
        default=None,
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


V5_ONLY = {
    "--key_file": "a v6.7.4 account has no kms and no password",
    "--kms_type": "a v6.7.4 account is an SM2 key (the release's controller has SM crypto only)",
    "--service_config": "it names v5.0.0's kms image; a v6.7.4 account is an SM2 key",
}


def _run(args: argparse.Namespace, runtime: Runtime) -> None:
    if args.release == V6:
        for flag, reason in V5_ONLY.items():
            if getattr(args, flag.removeprefix("--")) is not None:
                raise UsageError(f"{flag} is a v5.0.0 flag and this is --release {V6}: {reason}; leave it out")
        create_v6_account(output_dir=args.output_dir, runtime=runtime)
        return
    if args.kms_type is not None:
        flavour = KmsFlavour(args.kms_type)
    else:
        from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config  # noqa: PLC0415 - only without --kms_type

        flavour = load_service_config(args.service_config or flags.default_service_config()).kms_flavour
    key_file = Path(KEY_FILE) if args.key_file is None else args.key_file
    create_account(key_file=key_file, flavour=flavour, output_dir=args.output_dir, runtime=runtime)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_account.py; return the exit code."""
    return cli.run(build_parser(), argv, _run, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
