"""The verbs of create_k8s_config.py: plan a whole chain with its release's planner, write it at once, summarise it.

The release decides what a chain is made of (releases/v5_0_0, releases/v6_7_4); what happens around
it is the same for both: the work dir's checks, the one writer, the report and its JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner_k8s import names
from runner_k8s.create.existing import ensure_not_mixed, force_hint, gone_objects
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.plan import PlanItems
from runner_k8s.report.reports import (
    ChainPlan,
    ChainReport,
    FileEntry,
    local_summary,
    multi_summary,
    recorded,
    say_report,
)
from runner_k8s.runtime import Runtime
from runner_k8s.write.files import ensure_free, existing_outputs, write_outputs
from runner_k8s.write.lock import check_writable

if TYPE_CHECKING:  # each verb imports its own release's modules when it runs: a chain loads only one release
    from runner_k8s.create.archives import NodeMaterials
    from runner_k8s.create.v6spec import V6LocalSpec, V6MultiSpec
    from runner_k8s.releases.v5_0_0.inputs import LocalClusterSpec, MultiClusterSpec

LOCAL_KIND = "local_cluster"
MULTI_KIND = "multi_cluster"


def _free(work_dir: Path, chain: str, roots: Sequence[str], *, force: bool, local: bool, count: int) -> list[str]:
    """Check the work dir before any key is made (a dry run fails where the real run would); what --force replaces."""
    check_writable(work_dir)
    ensure_free(work_dir, roots, force=force, hint=force_hint(chain))
    ensure_not_mixed(work_dir, chain, local=local, count=count)
    return existing_outputs(work_dir, roots)


def local_cluster(
    spec: LocalClusterSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write every node folder, `<chain>.yaml` and the super admin's folder of a single-cluster v5.0.0 chain."""
    from runner_k8s.releases.v5_0_0 import chainplan as v5  # noqa: PLC0415 - see TYPE_CHECKING above

    def plan(replaced: bool) -> ChainPlan:
        return v5.plan_local(spec, work_dir=work_dir, replaced=replaced, runtime=runtime)

    roots = names.local_outputs(spec.chain_name)
    _local(spec.chain_name, spec.peers_count, spec.pvc_name, roots, plan, work_dir, force, runtime, dry_run, as_json)


def v6_local_cluster(
    spec: V6LocalSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """The same for a v6.7.4 chain (its chain CA's folder too)."""
    from runner_k8s.releases.v6_7_4 import chainplan as v6  # noqa: PLC0415 - see TYPE_CHECKING above

    def plan(replaced: bool) -> ChainPlan:
        return v6.plan_local(
            chain=spec.chain_name,
            count=spec.peers_count,
            block_interval=spec.block_interval,
            consensus=spec.consensus,
            images=spec.images,
            node_port=spec.node_port,
            pvc_name=spec.pvc_name,
            need_debug=spec.need_debug,
            namespace=spec.namespace,
            work_dir=work_dir,
            replaced=replaced,
            runtime=runtime,
        )

    roots = v6.local_outputs(spec.chain_name)
    _local(spec.chain_name, spec.peers_count, spec.pvc_name, roots, plan, work_dir, force, runtime, dry_run, as_json)


def _local(
    chain: str,
    count: int,
    pvc_name: str,
    roots: Sequence[str],
    plan_of: Callable[[bool], ChainPlan],
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool,
    as_json: bool,
) -> None:
    replaced = _free(work_dir, chain, roots, force=force, local=True, count=count)
    plan = plan_of(bool(replaced))
    gone = (
        gone_objects(work_dir, [names.chain_yaml(chain)], plan.manifests[names.chain_yaml(chain)]) if replaced else []
    )
    report = write_chain(plan, roots, replaced, gone, work_dir=work_dir, force=force, dry_run=dry_run)
    say_report(runtime, report, as_json, local_summary(report, pvc_name))


def multi_cluster(
    spec: MultiClusterSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write every node folder and one `<chain>-<i>.yaml` per node of a one-node-per-cluster v5.0.0 chain."""
    from runner_k8s.create.archives import load_node_materials  # noqa: PLC0415 - see TYPE_CHECKING above
    from runner_k8s.releases.v5_0_0 import chainplan as v5  # noqa: PLC0415 - see TYPE_CHECKING above

    chain = spec.chain_name
    count = len(spec.nodes)
    roots = names.multi_outputs(chain, count)
    replaced = _free(work_dir, chain, roots, force=force, local=False, count=count)
    materials = [
        load_node_materials(
            node,
            names.node_dir(chain, node.index),
            accounts_dir=spec.accounts_dir,
            syncthing_dir=spec.syncthing_dir,
            flavour=spec.services.kms_flavour,
        )
        for node in spec.nodes
    ]
    plan = v5.plan_multi(
        spec,
        [found.keys for found in materials],
        work_dir=work_dir,
        replaced=bool(replaced),
        runtime=runtime,
        still_to_copy=pending_copies(work_dir, materials),
    )
    report = write_chain(plan, roots, replaced, [], work_dir=work_dir, force=force, dry_run=dry_run)
    say_report(runtime, report, as_json, multi_summary(report))


def v6_multi_cluster(
    spec: V6MultiSpec,
    *,
    work_dir: Path,
    force: bool,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """The same for a v6.7.4 chain (its chain CA's folder too)."""
    from runner_k8s.releases.v6_7_4 import chainplan as v6  # noqa: PLC0415 - see TYPE_CHECKING above

    chain = spec.chain_name
    count = len(spec.members)
    roots = v6.multi_outputs(chain, count)
    replaced = _free(work_dir, chain, roots, force=force, local=False, count=count)
    plan = v6.plan_multi(
        chain=chain,
        members=spec.members,
        super_admin=spec.super_admin,
        timestamp_ms=spec.timestamp_ms,
        block_interval=spec.block_interval,
        consensus=spec.consensus,
        images=spec.images,
        need_debug=spec.need_debug,
        namespace=spec.namespace,
        work_dir=work_dir,
        replaced=bool(replaced),
        runtime=runtime,
    )
    report = write_chain(plan, roots, replaced, [], work_dir=work_dir, force=force, dry_run=dry_run)
    say_report(runtime, report, as_json, multi_summary(report))


def write_chain(
    plan: ChainPlan,
    roots: Sequence[str],
    replaced: Sequence[str],
    gone: Sequence[str],
    *,
    work_dir: Path,
    force: bool,
    dry_run: bool,
) -> ChainReport:
    """Write the planned chain in one step through the one writer (or only list it), and make its report."""
    files: list[FileEntry] = []
    if dry_run:
        files.extend(_listed(plan.items()))
    else:
        write_outputs(work_dir, roots, recorded(plan.items(), files), force=force, hint=force_hint(plan.chain))
    kept = not dry_run
    return ChainReport(
        dry_run=dry_run,
        kind=plan.kind,
        chain=plan.chain,
        kms=plan.crypto,
        work_dir=work_dir,
        outputs=roots,
        replaced=replaced,
        files=files,
        manifests=plan.manifests,
        super_admin=plan.super_admin(kept),
        nodes=plan.nodes(kept),
        next_steps=plan.next_steps(gone),
        still_to_copy=plan.still_to_copy,
        release=plan.release,
        consensus=plan.consensus,
    )


def _listed(items: PlanItems) -> list[FileEntry]:
    listed: list[FileEntry] = []
    for _ in recorded(items, listed):
        pass
    return listed


def pending_copies(work_dir: Path, materials: Sequence[NodeMaterials]) -> list[str]:
    """`cp` commands for the key files multi_cluster did not find, paths as seen from the current directory."""
    return [
        f"cp {' '.join(shell_quote(str(copy.source / name)) for name in copy.files)} "
        f"{shell_quote(shown_path(work_dir, copy.destination))}"
        for found in materials
        for copy in found.pending
    ]
