"""The YAML text of our objects: written through PyYAML's emitter from events, read back with its loader.

yaml.dump_all builds a node per value with PyYAML's representer, in Python, and its serializer then
asks the resolver, in Python again, about every scalar twice; for a 100-node chain (84,000 values)
that was most of a quarter second. render_yaml walks the documents once instead and hands the emitter
the very events the representer and serializer would have handed it (the same tags, implicit flags
and styles), each distinct scalar's event made once and reused. The emitter is the one yaml.dump_all
would use (libyaml's when present), so the bytes are the same (tests/test_yamltext.py compares them).
A value of any other type than dict, list, str, int, bool or None sends the whole call to
yaml.dump_all, which renders or refuses it as before.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

TAG = "tag:yaml.org,2002:"
MAP_TAG, SEQ_TAG = TAG + "map", TAG + "seq"
# How SafeRepresenter writes each scalar type: its tag, and its text.
SCALAR_TAGS: dict[type, str] = {str: TAG + "str", int: TAG + "int", bool: TAG + "bool", type(None): TAG + "null"}


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml when present (same output, faster); never anchors and aliases, even for shared dicts."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "explicit_start": True,
    "default_flow_style": False,
    "width": 2**16,
    "allow_unicode": True,
}


class _Unsupported(Exception):
    """A value the fast path does not write (a float, a tuple, a subclass): yaml.dump_all decides."""


def _scalar_text(value: object) -> str:
    """The text SafeRepresenter gives a str, int, bool or None."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _emit_documents(dumper: Any, documents: list[Any]) -> None:
    """Every document's events, as SafeRepresenter and the serializer would make them, to the emitter."""
    emit, resolve = dumper.emit, dumper.resolve
    seen: dict[tuple[type, object], ScalarEvent] = {}
    mapping_start = MappingStartEvent(None, MAP_TAG, True, flow_style=False)
    sequence_start = SequenceStartEvent(None, SEQ_TAG, True, flow_style=False)
    mapping_end, sequence_end = MappingEndEvent(), SequenceEndEvent()

    def scalar(value: object) -> ScalarEvent:
        kind = type(value)
        tag = SCALAR_TAGS.get(kind)
        if tag is None:
            raise _Unsupported(kind.__name__)
        text = _scalar_text(value)
        implicit = (resolve(ScalarNode, text, (True, False)) == tag, resolve(ScalarNode, text, (False, True)) == tag)
        event = seen[kind, value] = ScalarEvent(None, tag, implicit, text)
        return event

    def walk(data: Any) -> None:
        kind = type(data)
        if kind is dict:
            emit(mapping_start)
            for key, value in data.items():
                walk(key)
                walk(value)
            emit(mapping_end)
        elif kind is list:
            emit(sequence_start)
            for item in data:
                walk(item)
            emit(sequence_end)
        else:
            try:
                event = seen[kind, data]
            except (KeyError, TypeError):  # not seen yet, or unhashable (a set, a bytearray: unsupported)
                event = scalar(data)
            emit(event)

    emit(StreamStartEvent())
    for document in documents:
        emit(DocumentStartEvent(explicit=True))
        walk(document)
        emit(DocumentEndEvent(explicit=False))
    emit(StreamEndEvent())


def render_yaml(documents: Iterable[Any]) -> bytes:
    """A multi-document YAML file, each document starting with `---`, keys in builder order.

    The bytes of yaml.dump_all(documents, Dumper=_Dumper, **OPTIONS) encoded as UTF-8.
    """
    documents = list(documents)
    stream = io.StringIO()
    try:
        _emit_documents(_Dumper(stream, **OPTIONS), documents)
    except _Unsupported:
        text: str = yaml.dump_all(documents, Dumper=_Dumper, **OPTIONS)
        return text.encode("utf-8")
    return stream.getvalue().encode("utf-8")


def load_documents(data: bytes) -> list[Any]:
    """Every document of a multi-document YAML text; yaml.YAMLError when it is not YAML.

    libyaml's safe loader when present: a large chain's YAML reads ten times faster.
    """
    return [doc for doc in yaml.load_all(data, Loader=_Loader) if doc is not None]


def object_names_in(path: Path, limit: int = 64 << 20) -> list[tuple[str, str]]:
    """(kind, name) of every object in a YAML file we wrote; [] when it is missing or not such a file."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit)
        documents = load_documents(data)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    found = []
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            kind, name = doc.get("kind"), doc["metadata"].get("name")
            if isinstance(kind, str) and isinstance(name, str):
                found.append((kind, name))
    return found
