"""Which release a chain's YAML was made for, and the day-2 verbs that do not handle it yet.

A v6.7.4 chain's StatefulSets carry the annotation `runner-k8s/release: v6.7.4` (v5.0.0 ones carry
none). add_node and remove_node re-plan a chain with the v5.0.0 planners only: on a v6.7.4 chain they
stop with one line before reading anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s.day2.chainfiles import Chunk
from runner_k8s.errors import InputError

RELEASE_ANNOTATION = "runner-k8s/release"
V6_RELEASE = "v6.7.4"


def release_of(statefulsets: Sequence[Chunk]) -> str:
    """v6.7.4 when a node's StatefulSet is annotated so, else v5.0.0."""
    line = f"\n    {RELEASE_ANNOTATION}: {V6_RELEASE}\n".encode()
    return V6_RELEASE if any(line in chunk.text for chunk in statefulsets) else "v5.0.0"


def refuse_v6_membership(statefulsets: Sequence[Chunk], where: Path, chain: str) -> None:
    """add_node/remove_node on a v6.7.4 chain: one line saying it is not supported yet, and what works."""
    if release_of(statefulsets) == V6_RELEASE:
        raise InputError(
            f"{where}: chain {chain!r} runs CITA-Cloud v6.7.4, and add_node/remove_node do not support v6.7.4 "
            "membership changes yet (only v5.0.0 chains); its validators can be changed with manage_chain.py "
            "add_validator/remove_validator"
        )
