"""Which release a chain's YAML was made for, and what the day-2 verbs do not handle on it.

A v6.7.4 chain's StatefulSets carry the annotation `runner-k8s/release: v6.7.4` (v5.0.0 ones carry
none). add_node and remove_node send a chain to the v5.0.0 or the v6.7.4 code by its first YAML file;
a multi_cluster chain whose other files hold v6.7.4 nodes is refused by the v5.0.0 loader in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s.day2.chainfiles import YAML_MAX_BYTES, Chunk, read_file
from runner_k8s.errors import InputError

RELEASE_ANNOTATION = "runner-k8s/release"
V6_RELEASE = "v6.7.4"
V6_LINE = f"\n    {RELEASE_ANNOTATION}: {V6_RELEASE}\n".encode()


def release_of(statefulsets: Sequence[Chunk]) -> str:
    """v6.7.4 when a node's StatefulSet is annotated so, else v5.0.0."""
    return V6_RELEASE if any(V6_LINE in chunk.text for chunk in statefulsets) else "v5.0.0"


def release_in(yaml_files: Sequence[Path]) -> str:
    """v6.7.4 when the first of a chain's YAML files holds a StatefulSet annotated so, else v5.0.0."""
    return V6_RELEASE if yaml_files and V6_LINE in read_file(yaml_files[0], YAML_MAX_BYTES) else "v5.0.0"


def refuse_v6_membership(statefulsets: Sequence[Chunk], where: Path, chain: str) -> None:
    """A v5.0.0 multi_cluster chain (by its first file) whose other files hold v6.7.4 nodes: one line."""
    if release_of(statefulsets) == V6_RELEASE:
        raise InputError(
            f"{where}: chain {chain!r} mixes v5.0.0 and v6.7.4 node files (its first file is v5.0.0, another is "
            "v6.7.4); restore the files multi_cluster wrote"
        )
