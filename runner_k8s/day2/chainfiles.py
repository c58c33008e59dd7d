"""Reading back the files of a chain this tool wrote: bounded reads, and its YAML split into documents.

A document keeps its exact text and is parsed only when a value is taken from it, so a 1000-node
chain's YAML is not parsed whole to change one node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from runner_k8s.errors import InputError
from runner_k8s.kube.nodes import MANAGED_BY
from runner_k8s.kube.objects import Manifest
from runner_k8s.kube.yamltext import load_documents
from runner_k8s.reading import read_bounded

YAML_MAX_BYTES = 256 << 20  # a 1000-node chain's YAML is about 25 MiB
FILE_MAX_BYTES = 1 << 20


def read_file(path: Path, limit: int = FILE_MAX_BYTES) -> bytes:
    """A file of the chain, as one clear error when it is missing or unreadable."""
    try:
        return read_bounded(path, limit, "chain file")
    except FileNotFoundError:
        raise InputError(f"{path} is missing: the chain's files are not whole; restore them first") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


@dataclass
class Chunk:
    """One document of a YAML file this tool wrote: its kind and name, its exact text, parsed when asked."""

    kind: str
    name: str
    text: bytes
    where: Path
    _parsed: Manifest | None = None

    @property
    def read(self) -> bool:
        """Whether a value was taken from it (then check_unchanged holds it to its exact text)."""
        return self._parsed is not None

    def parsed(self) -> Manifest:
        """The object (parsed once)."""
        if self._parsed is None:
            self._parsed = parse_chunk(self.text, self.where)
        return self._parsed


KIND_LINE = re.compile(rb"^kind: (\S+)$", re.MULTILINE)
NAME_LINE = re.compile(rb"^metadata:\n  name: (\S+)$", re.MULTILINE)
DOCUMENT_START = b"---\n"


def parse_chunk(text: bytes, where: Path) -> Manifest:
    """One YAML document as an object (InputError when it is not one)."""
    try:
        found = load_documents(text)
    except yaml.YAMLError as exc:
        raise InputError(
            f"{where} is not valid YAML ({str(exc).splitlines()[0]}); restore the file made for the chain"
        ) from None
    if len(found) != 1 or not isinstance(found[0], dict) or not isinstance(found[0].get("metadata"), dict):
        raise InputError(f"{where} holds a document that is no Kubernetes object; restore the file made for the chain")
    return dict(found[0])


def split_documents(data: bytes, where: Path) -> list[Chunk]:
    """The documents of a YAML file, each with the text `render_yaml` gave it (`---` line first).

    Kind and name are read off the lines the dumper writes first; a document that does not start so
    (a file rewritten by another tool) is parsed for them.
    """
    if not data.startswith(DOCUMENT_START):
        data = DOCUMENT_START + data
    chunks = []
    for piece in data.split(b"\n" + DOCUMENT_START):
        text = piece if piece.startswith(DOCUMENT_START) else DOCUMENT_START + piece
        if not text.endswith(b"\n"):
            text += b"\n"
        kind, name = KIND_LINE.search(text), NAME_LINE.search(text)
        if kind is None or name is None:
            document = parse_chunk(text, where)
            chunks.append(
                Chunk(str(document.get("kind")), str(document["metadata"].get("name")), text, where, document)
            )
            continue
        chunks.append(Chunk(kind.group(1).decode(), name.group(1).decode(), text, where))
    return [chunk for chunk in chunks if chunk.text.strip() != DOCUMENT_START.strip()]


def read_documents(path: Path, chain: str) -> list[Chunk]:
    """The objects of a YAML file this tool wrote for `chain` (a file that holds others is refused)."""
    chunks = split_documents(read_file(path, YAML_MAX_BYTES), path)
    owner = f"    app.kubernetes.io/instance: {chain}\n".encode()
    managed = f"    app.kubernetes.io/managed-by: {MANAGED_BY}\n".encode()
    for chunk in chunks:
        if owner in chunk.text and managed in chunk.text:
            continue
        labels = chunk.parsed()["metadata"].get("labels")
        if (
            not isinstance(labels, dict)
            or labels.get("app.kubernetes.io/managed-by") != MANAGED_BY
            or labels.get("app.kubernetes.io/instance") != chain
        ):
            raise InputError(f"{path} holds objects runner_k8s did not make for chain {chain!r}; is it the right file?")
    return chunks


def of_kind(documents: Sequence[Chunk], kind: str) -> dict[str, Chunk]:
    """Name -> document, for the documents of one kind."""
    return {chunk.name: chunk for chunk in documents if chunk.kind == kind}
