"""The house rules of the package's layout (docs/development.md), read from the sources with ast.

No import cycles; every module under about 400 lines, one concern each; planners are pure (no verb, no
script, no writer, no network); every module has a role here and a line in docs/development.md.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "runner_k8s"
MAX_LINES = 400

# Every module's role. A new module must be given one (test_every_module_has_a_role).
FOUNDATION = {
    "errors", "plan", "reading", "runtime", "flags", "cli", "launch", "ports", "names",
    "write.stops", "write.durable", "write.journal", "write.lock", "write.files",
}  # fmt: skip
PLANNERS = {
    "keys.accounts", "keys.keystore", "keys.keygen", "keys.parallel", "keys.syncthing", "keys.signing", "keys.bls",
    "keys.tls",
    "releases.v5_0_0.serviceconfig", "releases.v5_0_0.nodefiles", "releases.v5_0_0.syncconfig",
    "releases.v5_0_0.pods", "releases.v5_0_0.manifests", "releases.v5_0_0.inputs", "releases.v5_0_0.chainplan",
    "releases.v6_7_4.accounts", "releases.v6_7_4.keygen", "releases.v6_7_4.serviceconfig", "releases.v6_7_4.config",
    "releases.v6_7_4.pods", "releases.v6_7_4.manifests", "releases.v6_7_4.chainplan", "releases.v6_7_4.govrules",
    "releases.v6_7_4.chainstate", "releases.v6_7_4.multistate",
    "kube.objects", "kube.yamltext", "kube.images", "kube.resources", "kube.nodes", "kube.storage",
    "create.rules", "create.spec", "create.v6spec", "create.releasechoice", "create.archives", "create.existing",
    "report.reports", "report.nextsteps",
    "day2.chainfiles", "day2.chainload", "day2.membership", "day2.planscript", "day2.memberplan", "day2.newnode",
    "day2.releasegate", "day2.seeding", "day2.onstorage", "day2.keepup", "day2.v6memberplan", "day2.v6seeding",
    "day2.v6multiplan", "day2.multiseed",
    "govern.transactions", "govern.adminkeys", "govern.instep",
}  # fmt: skip
NETWORK = {"govern.rpc", "govern.chainview"}
VERBS = {
    "create.identities", "create.chain", "create.volumes", "day2.nodeverbs", "day2.v6nodes", "day2.v6multi",
    "govern.governance", "govern.v6plan", "govern.delivery", "govern.status",
}  # fmt: skip
WRITER = "write.files"
# The folders, lowest first: a module imports only from its own folder or a lower one (no arrow up).
# The top-level modules are the foundation, except cli (it runs a command: it sits under the scripts).
LAYERS = ["", "write", "keys", "kube", "report", "releases", "create", "day2", "govern", "scripts"]
HIGHER_TOP = {"cli": "scripts"}


def modules() -> dict[str, Path]:
    """Dotted name below runner_k8s -> file, the generated protobuf modules left out."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "proto":
            continue
        parts = relative.with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports, at the top or lazily inside a function."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
            elif node.module and (node.module == "runner_k8s" or node.module.startswith("runner_k8s.")):
                base, node_module = [], node.module.removeprefix("runner_k8s").removeprefix(".")
                target = node_module.split(".") if node_module else []
                found.update(_candidates(target, [alias.name for alias in node.names]))
                continue
            else:
                continue
            target = base + (node.module.split(".") if node.module else [])
            found.update(_candidates(target, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("runner_k8s."):
                    found.add(alias.name.removeprefix("runner_k8s."))
    return {module for module in found if module in known and module != name}


def _candidates(target: list[str], names: list[str]) -> set[str]:
    """`from X import a, b`: X itself, and X.a / X.b where those are modules."""
    joined = ".".join(target)
    return {joined} | {".".join([*target, imported]) for imported in names}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_the_reader_sees_imports_of_every_kind():
    """The rules below are only as good as the import reader: check it on a known module."""
    found = modules()
    known = set(found)
    assert imports_of("scripts.create_pvc", found["scripts.create_pvc"], known) >= {"cli", "flags", "create.volumes"}
    assert "write.files" in imports_of("create.volumes", found["create.volumes"], known)
    assert "keys.syncthing" in imports_of("create.identities", found["create.identities"], known)  # a lazy import


def test_there_is_no_import_cycle(graph: dict[str, set[str]]):
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_every_module_is_under_the_line_limit():
    too_long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (limit {MAX_LINES} lines)"


def test_every_module_has_a_role():
    roles = [FOUNDATION, PLANNERS, NETWORK, VERBS]
    top = {
        name
        for name, path in modules().items()
        if name and not name.startswith("scripts") and path.name != "__init__.py"
    }
    assert top == set().union(*roles)
    assert sum(len(role) for role in roles) == len(top), "a module has two roles"


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for imported in graph[todo.pop()]:
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


@pytest.mark.parametrize("planner", sorted(PLANNERS))
def test_a_planner_reaches_no_verb_script_writer_or_network(graph: dict[str, set[str]], planner: str):
    reached = closure(graph, planner)
    forbidden = VERBS | NETWORK | {WRITER} | {name for name in graph if name.startswith("scripts")}
    assert reached & forbidden == set()


def test_the_network_is_reached_only_by_manage_chain(graph: dict[str, set[str]]):
    """rpc (gRPC) loads only for manage_chain.py and the day-2 verbs that ask the running chain."""
    users = {name for name in graph if "govern.rpc" in graph[name]}
    allowed = {
        "govern.chainview", "govern.delivery", "govern.governance", "govern.status",
        "scripts.manage_chain", "scripts.membership_flags",
    }  # fmt: skip
    assert users <= allowed


def layer(name: str) -> int:
    """The rank of a module's folder in LAYERS."""
    folder = HIGHER_TOP.get(name, name.split(".", maxsplit=1)[0] if "." in name else "")
    return LAYERS.index(folder)


def test_every_folder_is_a_layer():
    folders = {name.split(".")[0] for name in modules() if "." in name}
    assert folders <= set(LAYERS)


def test_no_module_imports_from_a_higher_folder(graph: dict[str, set[str]]):
    upward = sorted(
        f"{name} -> {imported}"
        for name, imported_set in graph.items()
        for imported in imported_set
        if name and layer(imported) > layer(name)
    )
    assert upward == []


def spellings(name: str) -> tuple[str, ...]:
    """How the notes may name a module: `chain`; a script as create_pvc.py; the scripts package as `scripts/`."""
    last = name.rsplit(".", 1)[-1]
    if name in {"scripts", *LAYERS} or (name.count(".") == 1 and name.startswith("releases.")):
        return (f"`{last}/`",)
    return (f"`{last}`", f"{last}.py") if name.startswith("scripts.") else (f"`{last}`",)


@pytest.mark.parametrize("document", ["docs/development.md", "docs/development.zh-CN.md"])
def test_every_module_is_named_in_the_development_notes(document: str):
    text = (REPO / document).read_text(encoding="utf-8")
    missing = sorted(name for name in modules() if name and not any(way in text for way in spellings(name)))
    assert missing == []
