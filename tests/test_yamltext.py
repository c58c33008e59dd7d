"""render_yaml writes the bytes PyYAML's own yaml.dump_all writes, and they read back as the same objects.

The expectation is PyYAML's: yaml.dump_all with its safe dumper (libyaml's when built, as render_yaml
uses; its pure-Python one too), the options named below, aliases turned off here by our own subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner_k8s.kube import yamltext
from runner_k8s.plan import File
from runner_k8s.releases.v6_7_4.accounts import Consensus
from runner_k8s.releases.v6_7_4.chainplan import plan_local
from runner_k8s.releases.v6_7_4.serviceconfig import SHIPPED, load_service_images
from tests.conftest import fixed_runtime

C_DUMPER: type | None = getattr(yaml, "CSafeDumper", None)


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def pyyaml_dump(documents: Sequence[Any], base: type = C_DUMPER or yaml.SafeDumper) -> bytes:
    """What yaml.dump_all gives with render_yaml's options: `---` before each document, keys in order."""
    dumper = type("Reference", (base,), {"ignore_aliases": NoAliases.ignore_aliases})
    text = yaml.dump_all(
        documents,
        Dumper=dumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        width=2**16,
        allow_unicode=True,
    )
    return text.encode("utf-8")


@pytest.fixture(params=["libyaml", "python"])
def emitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Both emitters render_yaml may run on: libyaml's (when PyYAML was built with it) and PyYAML's own."""
    if request.param == "libyaml":
        if C_DUMPER is None:
            pytest.skip("PyYAML was built without libyaml")
        return C_DUMPER
    monkeypatch.setattr(yamltext, "_Dumper", type("PythonDumper", (NoAliases,), {}))
    return yaml.SafeDumper


def check(documents: list[Any], base: type) -> None:
    rendered = yamltext.render_yaml(documents)
    assert rendered == pyyaml_dump(documents, base)
    if base is yaml.SafeDumper and "\x85".encode() in rendered:
        return  # PyYAML's own Python emitter writes NEL unescaped and its reader takes it for a line break
    assert list(yaml.safe_load_all(rendered)) == documents


AWKWARD = [
    "", " ", "  lead", "trail  ", "\tTab", "1", "-1", "0x1F", "0o17", "017", "1_000", "1e3", "1.5", ".5", "+.inf",
    ".NaN", "12:30:00", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "true", "True", "TRUE", "false",
    "yes", "No", "on", "OFF", "y", "n", "null", "Null", "~", "=", "<<", "- item", "-", "--", "---", "...", "a: b",
    "a:b", "key:", "# note", "a #b", "a#b", "&anchor", "*alias", "!tag", "!!str", "|", ">", "%", "@x", "`x", "'", '"',
    "'quoted'", '"dq"', "[1, 2]", "{a: 1}", "a, b", "?", "? x", "line\nbreak", "two\n\nbreaks", "trailing\n",
    "\nleading", "cr\r\nlf", "\x00nul", "bell\x07", "\x85nel", "\u2028ls", "\ufeffbom", "é", "中文 测试", "emoji 🙂",
    "zero\u200bwidth", "x" * 200, "word " * 20000, "a" * 70000, "🙂" * 129,
]  # fmt: skip


@pytest.mark.parametrize("value", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_scalars_as_values_keys_and_items_at_every_depth(value: str, emitter: type):
    documents = [
        {"k": value},
        {value: "v"},
        [value],
        {"a": [{"b": {"c": value, value: [value, [value]]}}], "d": value},
        value,
    ]
    check(documents, emitter)


def test_every_scalar_type_and_empty_collections(emitter: type):
    documents = [
        {"int": 0, "neg": -7, "big": 2**80, "true": True, "false": False, "none": None, 2: "two", None: 2, False: 3},
        {True: 1, "x": True, "y": 1, 0: False, "z": 0},
        {"empty_map": {}, "empty_list": [], "nested": [[], {}, [[]], [{}]]},
        [],
        {},
        None,
        [1, True, None, "s"],
    ]
    check(documents, emitter)


def test_other_types_go_to_pyyaml_and_render_as_it_does(emitter: type):
    documents: list[Any] = [{"float": 1.5, "inf": float("inf"), "list": [0.1]}, {"k": "v"}]
    assert yamltext.render_yaml(documents) == pyyaml_dump(documents, emitter)
    others: list[Any] = [{"tuple": (1, "a")}, {"set": {1}}, {"bytes": b"\x00\xff"}, [1.0, -0.0, float("nan")]]
    assert yamltext.render_yaml(others) == pyyaml_dump(others, emitter)
    with pytest.raises(yaml.representer.RepresenterError):
        yamltext.render_yaml([{"object": object()}])  # SafeDumper refuses it; so does render_yaml


def test_a_shared_object_is_written_twice_without_an_anchor(emitter: type):
    shared = {"name": "same"}
    documents = [{"a": shared, "b": shared, "c": [shared, shared]}]
    rendered = yamltext.render_yaml(documents)
    assert b"&" not in rendered and b"*" not in rendered
    assert rendered == pyyaml_dump(documents, emitter)


SCALARS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(AWKWARD[:-3]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
)
KEYS = st.one_of(st.text(max_size=150), st.sampled_from(AWKWARD[:-3]), st.integers(-5, 5), st.booleans(), st.none())
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DOCUMENTS, min_size=1, max_size=4))
def test_generated_documents_are_pyyamls_bytes_and_read_back(documents: list[Any]):
    base = C_DUMPER or yaml.SafeDumper
    check(documents, base)


@settings(max_examples=60, deadline=None)
@given(st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_generated_documents_on_the_pure_python_emitter(documents: list[Any]):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamltext, "_Dumper", type("PythonDumper", (NoAliases,), {}))
        check(documents, yaml.SafeDumper)


def test_a_100_node_v6_chain_is_the_bytes_of_pyyamls_own_dump(tmp_path: Path):
    """The chain's YAML file as planned (what the writer puts on disk) against yaml.dump_all of its objects."""
    plan = plan_local(
        chain="test-chain",
        count=100,
        block_interval=3,
        consensus=Consensus.OVERLORD,
        images=load_service_images(SHIPPED),
        node_port=30000,
        pvc_name="local-pvc",
        need_debug=False,
        namespace=None,
        work_dir=tmp_path,
        replaced=False,
        runtime=fixed_runtime("yamltext"),
    )
    (name, objects), *_ = plan.manifests.items()
    written = dict(plan.items())[name]
    assert isinstance(written, File)
    assert len(objects) > 400
    assert written.data == pyyaml_dump(objects)
