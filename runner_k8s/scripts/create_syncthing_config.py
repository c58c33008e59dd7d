"""Create a syncthing identity (cert.pem, key.pem) in a folder named by its device ID."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from runner_k8s import cli, flags
from runner_k8s.create.identities import create_syncthing_identity
from runner_k8s.create.releasechoice import DEFAULT_RELEASE, RELEASES, V5_ONLY, V6
from runner_k8s.errors import UsageError
from runner_k8s.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_syncthing_config.py."""
    parser = cli.Parser(
        prog="create_syncthing_config.py",
        description="Create a syncthing identity (ECDSA P-384 key and certificate, as syncthing makes them) "
        "in a new folder named by its device ID, and print the device ID.",
    )
    flags.add_version_flag(parser)
    parser.add_argument(
        "--release",
        choices=RELEASES,
        default=DEFAULT_RELEASE,
        help=f"The CITA-Cloud release of the chain: only {DEFAULT_RELEASE} syncs with syncthing (default: "
        f"{DEFAULT_RELEASE}).",
    )
    flags.add_work_dir_flag(parser, "--output_dir")
    return parser


def _run(args: argparse.Namespace, runtime: Runtime) -> None:
    if args.release == V6:
        raise UsageError(
            f"a --release {V6} chain needs no syncthing identity: {V5_ONLY['--sync_device_ids']}; make its "
            f"accounts with create_account.py --release {V6}"
        )
    create_syncthing_identity(output_dir=args.output_dir, runtime=runtime)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_syncthing_config.py; return the exit code."""
    return cli.run(build_parser(), argv, _run, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
