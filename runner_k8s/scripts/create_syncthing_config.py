"""Create a syncthing identity (cert.pem, key.pem) in a folder named by its device ID."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from runner_k8s import cli, flags
from runner_k8s.create.identities import create_syncthing_identity
from runner_k8s.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_syncthing_config.py."""
    parser = cli.Parser(
        prog="create_syncthing_config.py",
        description="Create a syncthing identity (ECDSA P-384 key and certificate, as syncthing makes them) "
        "in a new folder named by its device ID, and print the device ID.",
    )
    flags.add_version_flag(parser)
    flags.add_work_dir_flag(parser, "--output_dir")
    return parser


def _run(args: argparse.Namespace, runtime: Runtime) -> None:
    create_syncthing_identity(output_dir=args.output_dir, runtime=runtime)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_syncthing_config.py; return the exit code."""
    return cli.run(build_parser(), argv, _run, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
