"""Where node folders live: the PV/PVC of a local path or an NFS export (contracts.md §8), and reading one back.

Pure planning: create_pvc.py's verbs (volumes.py) write these objects; the summaries read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner_k8s.errors import UsageError
from runner_k8s.kube.objects import Manifest, build_persistent_volume, build_pvc, build_storage_class

LOCAL_STORAGE_CLASS = "local-storage"
LOCAL_PVC, NFS_PVC = "local-pvc", "nfs-pvc"
LOCAL_PVC_KIND, NFS_PVC_KIND = "local_pvc", "nfs_pvc"
DEFAULT_DATA_DIR = "/home/docker/cita-cloud-datadir"
PVC_SUFFIX, PV_SUFFIX = "-pvc", "-pv"
PV_SIZE, PVC_SIZE = "100Gi", "10Gi"
ACCESS_MODE = "ReadWriteMany"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# No class: the claim binds to our PV, not to a volume the cluster's default StorageClass would make.
NO_STORAGE_CLASS = ""


@dataclass(frozen=True)
class Storage:
    """Where a PVC file says the node folders live: a directory on some nodes, or an NFS export."""

    nfs: bool
    path: str
    hosts: tuple[str, ...]


def pvc_file(claim: str) -> str:
    """The YAML create_pvc.py writes for a claim: `<claim>.yaml` (local-pvc.yaml, nfs-pvc.yaml)."""
    return f"{claim}.yaml"


def pv_name(claim: str) -> str:
    """The PersistentVolume named to match its claim: local-pvc -> local-pv, data -> data-pv."""
    return claim.removesuffix(PVC_SUFFIX) + PV_SUFFIX


def check_absolute_path(path: str, what: str) -> str:
    """An absolute POSIX path without '..' parts; `what` says where it lives and gives an example."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise UsageError(f"{path!r} is not {what}")
    return str(pure)


def plan_local_pvc(data_dir: str, node_list: Sequence[str], claim: str = LOCAL_PVC) -> list[Manifest]:
    """StorageClass local-storage, a PersistentVolume on the listed nodes, and its claim."""
    affinity = {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": list(node_list)}]}
            ]
        }
    }
    # Bound by name: another chain's PV of the same class must never satisfy this claim.
    volume = pv_name(claim)
    return [
        build_storage_class(LOCAL_STORAGE_CLASS, "kubernetes.io/no-provisioner", "WaitForFirstConsumer"),
        build_persistent_volume(
            volume,
            PV_SIZE,
            ACCESS_MODE,
            {"local": {"path": data_dir}, "nodeAffinity": affinity},
            storageClassName=LOCAL_STORAGE_CLASS,
        ),
        build_pvc(claim, PVC_SIZE, ACCESS_MODE, LOCAL_STORAGE_CLASS, volume_name=volume),
    ]


def plan_nfs_pvc(server: str, path: str, claim: str = NFS_PVC) -> list[Manifest]:
    """A PersistentVolume on the NFS export and its claim, bound to it by name."""
    volume = pv_name(claim)
    return [
        build_persistent_volume(
            volume, PV_SIZE, ACCESS_MODE, {"nfs": {"server": server, "path": path}}, storageClassName=NO_STORAGE_CLASS
        ),
        build_pvc(claim, PVC_SIZE, ACCESS_MODE, NO_STORAGE_CLASS, volume_name=volume),
    ]


def storage_of(manifests: Sequence[Manifest]) -> Storage | None:
    """What the PersistentVolume in a PVC file points at (None if it has none we know)."""
    for doc in manifests:
        if not isinstance(doc, dict) or doc.get("kind") != "PersistentVolume":
            continue
        spec = doc.get("spec") or {}
        if isinstance(spec.get("nfs"), dict):
            return Storage(True, str(spec["nfs"].get("path", "")), (str(spec["nfs"].get("server", "")),))
        if isinstance(spec.get("local"), dict):
            terms = spec.get("nodeAffinity", {}).get("required", {}).get("nodeSelectorTerms", [])
            hosts = [
                str(host) for term in terms for rule in term.get("matchExpressions", []) for host in rule["values"]
            ]
            return Storage(False, str(spec["local"].get("path", "")), tuple(hosts))
    return None


def load_storage(path: Path) -> Storage | None:
    """The storage a PVC file made by create_pvc.py describes; None if it is not there or unreadable."""
    import yaml  # noqa: PLC0415 - only the summary reads YAML back

    try:
        return storage_of(list(yaml.safe_load_all(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return None
