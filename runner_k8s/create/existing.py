"""What a work dir already holds for a chain: outputs --force may replace, and objects a new run drops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.errors import OutputExistsError
from runner_k8s.kube.objects import Manifest


def force_hint(chain: str) -> str:
    """How to get past existing outputs."""
    return f"choose another --chain_name or --work_dir, or pass --force to replace every output of {chain!r}"


def ensure_not_mixed(work_dir: Path, chain: str, *, local: bool, count: int) -> None:
    """--force replaces only what this subcommand made for this chain: refuse to mix two generations.

    The other subcommand's outputs of the same chain (local: `<chain>.yaml`, `<chain>-admin/`; multi:
    `<chain>-<i>.yaml`), and multi node files beyond the new node count, would be left describing
    another chain that shares the new `cita-cloud/<chain>/`.
    """
    present = sorted(entry.name for entry in work_dir.iterdir()) if work_dir.is_dir() else []
    multi_files = [name for name in present if names.is_multi_yaml(chain, name)]
    if local:
        foreign = multi_files
        made_by = "multi_cluster"
    else:
        foreign = [name for name in (names.chain_yaml(chain), names.admin_dir(chain)) if name in present]
        made_by = "local_cluster"
        stale = [name for name in multi_files if name not in names.multi_outputs(chain, count)]
        if stale and not foreign:
            raise OutputExistsError(
                f"{', '.join(str(work_dir / name) for name in stale)} belong to an earlier {chain!r} with more "
                "nodes and --force would leave them beside the new chain; delete them, then run again"
            )
    if foreign:
        raise OutputExistsError(
            f"{', '.join(str(work_dir / name) for name in foreign)} were made for {chain!r} by {made_by}; "
            f"--force replaces only this subcommand's outputs, so delete those (and cita-cloud/{chain}) or "
            "choose another --chain_name or --work_dir"
        )


def gone_objects(work_dir: Path, old_files: Sequence[str], new: Sequence[Manifest]) -> list[str]:
    """`Kind name` of each object in the outputs about to be replaced that the new ones do not make again."""
    from runner_k8s.kube.yamltext import object_names_in  # noqa: PLC0415 - only --force reads old YAML (and --help never)

    made = {(doc["kind"], doc["metadata"]["name"]) for doc in new}
    old = [item for name in old_files for item in object_names_in(work_dir / name)]
    return [f"{kind} {name}" for kind, name in old if (kind, name) not in made]
