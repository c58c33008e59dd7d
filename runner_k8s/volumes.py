"""The verbs of create_pvc.py: PV/PVC manifests for a local path or an NFS export (contracts.md §8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import names
from .errors import UsageError
from .files import ensure_free, existing_outputs, write_outputs
from .flags import shell_quote, shown_path
from .k8s import Manifest, build_persistent_volume, build_pvc, build_storage_class, render_yaml
from .lock import check_writable
from .plan import File
from .reports import FileEntry, Step, files_json, objects_json, steps_json
from .rules import check_host, check_pvc_name
from .runtime import Runtime

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


def _write(
    kind: str,
    claim: str,
    manifests: list[Manifest],
    *,
    work_dir: Path,
    force: bool,
    dry_run: bool,
    as_json: bool,
    runtime: Runtime,
) -> None:
    file_name = pvc_file(claim)
    hint = "pass --force to replace it, or choose another --work_dir or --pvc_name"
    ensure_free(work_dir, [file_name], force=force, hint=hint)
    replaced = existing_outputs(work_dir, [file_name])
    entry = File(render_yaml(manifests))
    check_writable(work_dir)
    if not dry_run:
        write_outputs(work_dir, [file_name], [(file_name, entry)], force=force, hint=hint)
    shown = shown_path(work_dir, file_name)
    next_steps = [
        Step(f"kubectl apply -f {shell_quote(shown)}"),
        Step(f"# then pass --pvc_name {claim} (or put {claim} in --pvc_names) to create_k8s_config.py"),
    ]
    if as_json:
        runtime.say_json(
            {
                "dry_run": dry_run,
                "kind": kind,
                "claim": claim,
                "work_dir": str(work_dir),
                "outputs": [shown],
                "replaces": [shown_path(work_dir, name) for name in replaced],
                "files": files_json(work_dir, [FileEntry(file_name, False, entry.mode, len(entry.data))]),
                "objects": objects_json(work_dir, {file_name: manifests}),
                "ports": [],
                "next": steps_json(next_steps),
            }
        )
        return
    what = ", ".join(f"{doc['kind']} {doc['metadata']['name']}" for doc in manifests)
    if dry_run:
        runtime.say(f"Dry run, nothing written: {shown} would hold {what}")
        return
    runtime.say(f"Wrote {shown}: {what}")
    runtime.say(
        f"Next: {next_steps[0].command}, then pass --pvc_name {claim} (or put {claim} in --pvc_names) "
        "to create_k8s_config.py"
    )


def local_pvc(
    *,
    data_dir: str,
    node_list: Sequence[str],
    pvc_name: str = LOCAL_PVC,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write <pvc_name>.yaml (local-pvc.yaml by default) for a directory on the cluster's nodes."""
    claim = check_pvc_name(pvc_name)
    data_dir = check_absolute_path(
        data_dir, f"an absolute path for --data_dir on the cluster's nodes, like {DEFAULT_DATA_DIR}"
    )
    for number, node in enumerate(node_list):
        if not names.is_dns_subdomain(node):
            raise UsageError(f"--node_list entry {number} ({node!r}) is not a node hostname; see `kubectl get nodes`")
    manifests = plan_local_pvc(data_dir, node_list, claim)
    _write(
        LOCAL_PVC_KIND,
        claim,
        manifests,
        work_dir=work_dir,
        force=force,
        dry_run=dry_run,
        as_json=as_json,
        runtime=runtime,
    )


def nfs_pvc(
    *,
    nfs_server: str,
    nfs_path: str,
    pvc_name: str = NFS_PVC,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write <pvc_name>.yaml (nfs-pvc.yaml by default) for an NFS export."""
    claim = check_pvc_name(pvc_name)
    server = check_host(nfs_server, "--nfs_server")
    path = check_absolute_path(
        nfs_path, "an absolute path for --nfs_path: the directory the NFS server exports, like /srv/nfs/cita-cloud"
    )
    manifests = plan_nfs_pvc(server, path, claim)
    _write(
        NFS_PVC_KIND,
        claim,
        manifests,
        work_dir=work_dir,
        force=force,
        dry_run=dry_run,
        as_json=as_json,
        runtime=runtime,
    )
