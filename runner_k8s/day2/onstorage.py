"""Commands that run on a claim's storage: the host of a local path (minikube or ssh), or an NFS export mounted here."""

from __future__ import annotations

from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage
from runner_k8s.report.nextsteps import MINIKUBE, NFS_MOUNT


def nfs_mount(storage: Storage) -> str:
    """Mount the claim's NFS export on this machine (at NFS_MOUNT)."""
    return f"sudo mount -t nfs {shell_quote(storage.hosts[0] + ':' + storage.path)} {NFS_MOUNT}"


def chain_root(storage: Storage, chain_dir: str) -> str:
    """The chain's folder as the storage commands see it (the host's path, or the NFS export's mount)."""
    base = NFS_MOUNT if storage.nfs else storage.path
    return f"{base.rstrip('/')}/{chain_dir}"


def on_storage(storage: Storage, script: str) -> str:
    """Run a shell script as root on the storage host (the paths in it are the host's)."""
    wrapped = shell_quote("sudo sh -c " + shell_quote(script))
    if storage.nfs:
        return f"{nfs_mount(storage)} && sudo sh -c {shell_quote(script)} && sudo umount {NFS_MOUNT}"
    if storage.hosts == (MINIKUBE,):
        return f"minikube ssh -- {wrapped}"
    return f"ssh {storage.hosts[0]} {wrapped}"


def storage_has(storage: Storage, path: str) -> str:
    """A guard: succeeds when the path (on the storage host) exists."""
    if storage.nfs:
        return f"( {nfs_mount(storage)} && trap 'sudo umount {NFS_MOUNT}' EXIT && test -e {shell_quote(path)} )"
    if storage.hosts == (MINIKUBE,):
        return f"minikube ssh -- test -e {shell_quote(path)}"
    return f"ssh {storage.hosts[0]} test -e {shell_quote(path)}"
