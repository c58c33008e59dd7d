"""The verbs of create_pvc.py: write the PV/PVC manifests storage.py plans."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.create.rules import check_host, check_pvc_name
from runner_k8s.errors import UsageError
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.kube.objects import Manifest
from runner_k8s.kube.storage import (
    DEFAULT_DATA_DIR,
    LOCAL_PVC,
    LOCAL_PVC_KIND,
    NFS_PVC,
    NFS_PVC_KIND,
    check_absolute_path,
    plan_local_pvc,
    plan_nfs_pvc,
    pvc_file,
)
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.plan import File
from runner_k8s.report.reports import FileEntry, Step, files_json, objects_json, steps_json
from runner_k8s.runtime import Runtime
from runner_k8s.write.files import ensure_free, existing_outputs, write_outputs
from runner_k8s.write.lock import check_writable


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
