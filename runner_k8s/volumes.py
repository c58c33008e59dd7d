"""The verbs of create_pvc.py: PV/PVC manifests for a local path or an NFS export (contracts.md §8)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from . import names
from .cli import Runtime
from .errors import UsageError
from .files import File, write_outputs
from .k8s import Manifest, build_persistent_volume, build_pvc, build_storage_class, render_yaml
from .spec import check_host

LOCAL_STORAGE_CLASS = "local-storage"
LOCAL_PV, LOCAL_PVC, LOCAL_YAML = "local-pv", "local-pvc", "local-pvc.yaml"
NFS_PV, NFS_PVC, NFS_YAML = "nfs-pv", "nfs-pvc", "nfs-pvc.yaml"
PV_SIZE, PVC_SIZE = "100Gi", "10Gi"
ACCESS_MODE = "ReadWriteMany"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# No class: the claim binds to our PV, not to a volume the cluster's default StorageClass would make.
NO_STORAGE_CLASS = ""


def check_absolute_path(path: str, flag: str) -> str:
    """An absolute POSIX path without '..' parts."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise UsageError(f"{flag} {path!r} must be an absolute path on the node, like /home/docker/cita-cloud-datadir")
    return str(pure)


def plan_local_pvc(data_dir: str, node_list: Sequence[str]) -> list[Manifest]:
    """StorageClass local-storage, PersistentVolume local-pv on the listed nodes, PVC local-pvc."""
    affinity = {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": list(node_list)}]}
            ]
        }
    }
    return [
        build_storage_class(LOCAL_STORAGE_CLASS, "kubernetes.io/no-provisioner", "WaitForFirstConsumer"),
        build_persistent_volume(
            LOCAL_PV,
            PV_SIZE,
            ACCESS_MODE,
            {"local": {"path": data_dir}, "nodeAffinity": affinity},
            storageClassName=LOCAL_STORAGE_CLASS,
        ),
        build_pvc(LOCAL_PVC, PVC_SIZE, ACCESS_MODE, LOCAL_STORAGE_CLASS),
    ]


def plan_nfs_pvc(server: str, path: str) -> list[Manifest]:
    """PersistentVolume nfs-pv on the NFS export, PVC nfs-pvc bound to it."""
    return [
        build_persistent_volume(
            NFS_PV, PV_SIZE, ACCESS_MODE, {"nfs": {"server": server, "path": path}}, storageClassName=NO_STORAGE_CLASS
        ),
        build_pvc(NFS_PVC, PVC_SIZE, ACCESS_MODE, NO_STORAGE_CLASS, volume_name=NFS_PV),
    ]


def _write(work_dir: Path, file_name: str, manifests: list[Manifest], force: bool, runtime: Runtime) -> None:
    write_outputs(
        work_dir,
        [file_name],
        [(file_name, File(render_yaml(manifests)))],
        force=force,
        hint="pass --force to replace it, or choose another --work_dir",
    )
    claim = manifests[-1]["metadata"]["name"]
    runtime.say(f"Wrote {work_dir / file_name}: PersistentVolumeClaim {claim}")
    runtime.say(f"Next: kubectl apply -f {file_name}, then pass --pvc_name {claim} to create_k8s_config.py")


def local_pvc(*, data_dir: str, node_list: Sequence[str], work_dir: Path, force: bool, runtime: Runtime) -> None:
    """Write local-pvc.yaml."""
    data_dir = check_absolute_path(data_dir, "--data_dir")
    for node in node_list:
        if not names.is_dns_subdomain(node):
            raise UsageError(f"--node_list entry {node!r} is not a node hostname; see `kubectl get nodes`")
    _write(work_dir, LOCAL_YAML, plan_local_pvc(data_dir, node_list), force, runtime)


def nfs_pvc(*, nfs_server: str, nfs_path: str, work_dir: Path, force: bool, runtime: Runtime) -> None:
    """Write nfs-pvc.yaml."""
    server = check_host(nfs_server, "--nfs_server")
    path = check_absolute_path(nfs_path, "--nfs_path")
    _write(work_dir, NFS_YAML, plan_nfs_pvc(server, path), force, runtime)
