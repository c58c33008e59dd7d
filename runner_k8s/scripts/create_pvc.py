"""Generate the PersistentVolume and PersistentVolumeClaim that hold the node folders."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from runner_k8s import cli, flags
from runner_k8s.create.volumes import local_pvc, nfs_pvc
from runner_k8s.kube.storage import DEFAULT_DATA_DIR, LOCAL_PVC, NFS_PVC
from runner_k8s.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """The command line of create_pvc.py."""
    parser = cli.Parser(
        prog="create_pvc.py",
        description="Generate the PV/PVC that hold the chain's node folders: a directory on the cluster's "
        "nodes (local_pvc) or an NFS export (nfs_pvc).",
    )
    flags.add_version_flag(parser)
    subparsers = parser.add_subparsers(dest="subcommand", title="subcommands", required=True, metavar="SUBCOMMAND")
    local = subparsers.add_parser(
        "local_pvc",
        help="A directory on the cluster's nodes (writes local-pvc.yaml).",
        description="Write <pvc_name>.yaml (default local-pvc.yaml): StorageClass local-storage, "
        "PV <name>-pv (local-pv) and the claim <pvc_name> (local-pvc).",
    )
    local.add_argument(
        "--data_dir",
        default=DEFAULT_DATA_DIR,
        help="Root data dir where store data of each node: an absolute path that exists on every "
        f"listed node (default: {DEFAULT_DATA_DIR}).",
    )
    local.add_argument(
        "--node_list",
        type=flags.comma_list,
        default=["minikube"],
        help="Host name list of nodes of k8s cluster, comma-separated, as `kubectl get nodes` "
        "shows them (default: minikube).",
    )
    add_pvc_name_flag(local, LOCAL_PVC)
    flags.add_work_dir_flag(local)
    flags.add_force_flag(local)
    flags.add_output_flags(local)
    local.set_defaults(handler=_local_pvc)
    nfs = subparsers.add_parser(
        "nfs_pvc",
        help="An NFS export (writes nfs-pvc.yaml).",
        description="Write <pvc_name>.yaml (default nfs-pvc.yaml): PV <name>-pv (nfs-pv) and the claim "
        "<pvc_name> (nfs-pvc) bound to it.",
    )
    nfs.add_argument("--nfs_server", required=True, help="Address of nfs server: an IP or DNS name (required).")
    nfs.add_argument("--nfs_path", required=True, help="Path of nfs server: the exported directory (required).")
    add_pvc_name_flag(nfs, NFS_PVC)
    flags.add_work_dir_flag(nfs)
    flags.add_force_flag(nfs)
    flags.add_output_flags(nfs)
    nfs.set_defaults(handler=_nfs_pvc)
    return parser


def add_pvc_name_flag(parser: argparse.ArgumentParser, default: str) -> None:
    """--pvc_name: the claim's name, which also names the PV and the file."""
    parser.add_argument(
        "--pvc_name",
        default=default,
        help="Name of the PersistentVolumeClaim: lowercase letters, digits, '-' and '.'. The file is "
        f"<pvc_name>.yaml and the PV is named to match (<name>-pv) (default: {default}).",
    )


def _output_options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags both subcommands share, as keyword arguments of the verbs."""
    return {
        "pvc_name": args.pvc_name,
        "work_dir": args.work_dir,
        "force": args.force,
        "dry_run": args.dry_run,
        "as_json": args.json,
    }


def _local_pvc(args: argparse.Namespace, runtime: Runtime) -> None:
    local_pvc(data_dir=args.data_dir, node_list=args.node_list, runtime=runtime, **_output_options(args))


def _nfs_pvc(args: argparse.Namespace, runtime: Runtime) -> None:
    nfs_pvc(nfs_server=args.nfs_server, nfs_path=args.nfs_path, runtime=runtime, **_output_options(args))


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    """Run create_pvc.py; return the exit code."""
    return cli.run(build_parser(), argv, cli.dispatch, runtime)


if __name__ == "__main__":
    raise SystemExit(main())
