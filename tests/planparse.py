"""Read a printed day-2 plan as the script it is, and check it against the cluster it will run on (issue 26).

The script is parsed by bashlex (an independent bash parser) into the commands bash would run, with
their words as bash passes them (quotes removed), each marked as a skip guard (left of `||`), a
background job (`&`) or a substitution (`$(…)`, `<(…)`). A `kubectl exec … -- sh -c SCRIPT ARGS`
is opened up the same way, with `$0`, `$1` and the loop variable put in.

`check_plan` then plays the plan against a model of the clusters, built from the chain's YAML before
the change (what is running) and the work dir's files after it (what the plan applies and copies):
kubectl's command lines are read with kubectl's flags (tests/kubectl_cli.py); an object is deleted
only if the chain has it; a pod is reached only once it exists and (a new one) has been waited for;
a peer list is copied only when every name in it is a Service that exists; a syncthing device is
added with the fields syncthing's config has, an address, and the ID of a node of the chain. It
returns what the plan did, for the tests to assert (steps, order, the vote, the replay wait).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bashlex
import yaml

from tests.fakesyncthing import DEVICE_FIELDS, DEVICE_ID, SHARE_FIELDS
from tests.kubectl_cli import Call, KubectlError, parse, targets

PLAN_VERBS = {"apply", "delete", "cp", "exec", "port-forward", "get", "rollout status", "wait", "scale"}
SYNC_HOME = "/var/syncthing/config"
SYNC_FOLDERS = ("blocks", "proposals", "txs")
FILES_CONTAINER_PATH = "/data/"
WORKLOADS = ("StatefulSet", "Deployment")


class PlanError(AssertionError):
    """The plan would not do what it must on a real cluster: the reason, with the line."""


@dataclass(frozen=True)
class Invocation:
    """One command bash would run: its words, the plan line, and how it runs."""

    words: tuple[str, ...]
    line: int
    guard: bool = False  # left of `||`: a step is skipped when this succeeds
    background: bool = False
    inner: bool = False  # inside $(…) or <(…)

    @property
    def program(self) -> str:
        return Path(self.words[0]).name if self.words else ""


def invocations(text: str) -> list[Invocation]:
    """Every command of the script, in order; PlanError when bash would not read it."""
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise PlanError(f"bash cannot read the plan: {checked.stderr.strip()}")
    found: list[Invocation] = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            trees = bashlex.parse(line)
        except Exception as error:  # bashlex's ParsingError and its unimplemented corners alike
            raise PlanError(f"line {number + 1}: {line!r}: {error}") from None
        for tree in trees:
            found += list(_walk(tree, number, guard=False, background=False, inner=False))
    return found


def _walk(node: Any, line: int, *, guard: bool, background: bool, inner: bool) -> Iterator[Invocation]:
    kind = node.kind
    if kind == "command":
        words = []
        for part in node.parts:
            if part.kind == "word":
                words.append(part.word)
                for sub in getattr(part, "parts", []):
                    if sub.kind in ("commandsubstitution", "processsubstitution"):
                        yield from _walk(sub.command, line, guard=guard, background=False, inner=True)
        yield Invocation(tuple(words), line, guard, background, inner)
    elif kind == "list":
        parts = node.parts
        for position, part in enumerate(parts):
            if part.kind == "operator":
                continue
            following = (
                parts[position + 1].op if position + 1 < len(parts) and parts[position + 1].kind == "operator" else ""
            )
            yield from _walk(
                part, line, guard=guard or following == "||", background=background or following == "&", inner=inner
            )
    elif kind == "pipeline":
        for part in node.parts:
            if part.kind != "pipe":
                yield from _walk(part, line, guard=guard, background=background, inner=inner)
    elif kind == "compound":
        for part in node.list:
            if part.kind not in ("reservedword", "operator"):
                yield from _walk(part, line, guard=guard, background=background, inner=inner)
    elif kind in ("for", "if", "while", "until"):
        for part in node.parts:
            if part.kind in ("list", "command", "pipeline", "compound"):
                yield from _walk(part, line, guard=guard, background=background, inner=inner)


def shell_script(script: str, args: list[str]) -> list[tuple[str, ...]]:
    """The commands of an `sh -c SCRIPT ARGS…` as they run: $0, $1 and a `for` variable's values put in."""
    commands: list[tuple[str, ...]] = []
    for tree in bashlex.parse(script):
        _sh(tree, {str(index): value for index, value in enumerate(args)}, commands)
    return commands


def _sh(node: Any, values: dict[str, str], into: list[tuple[str, ...]]) -> None:
    if node.kind == "command":
        into.append(tuple(_expand(part, values) for part in node.parts if part.kind == "word"))
    elif node.kind == "for":
        words = [part for part in node.parts if part.kind == "word"]
        body = [part for part in node.parts if part.kind in ("list", "command", "pipeline", "compound")]
        for item in words[1:]:
            for part in body:
                _sh(part, {**values, words[0].word: item.word}, into)
    elif node.kind in ("list", "pipeline", "compound", "if"):
        for part in getattr(node, "parts", None) or getattr(node, "list", []):
            if part.kind not in ("operator", "pipe", "reservedword"):
                _sh(part, values, into)


def _expand(word: Any, values: dict[str, str]) -> str:
    text = str(word.word)
    for name, value in values.items():
        text = text.replace(f"${name}", value)
    return text


# --- the clusters the plan runs against --------------------------------------------------------------


@dataclass
class Node:
    """A node of the chain after the change (or the removed one): its names and how peers reach it."""

    index: int
    address: str
    device_id: str
    peer_host: str  # how the other nodes name it in network-config.toml
    sync_address: str  # tcp://host:port in the others' syncthing


@dataclass
class Facts:
    """What the plan runs against: the chain's objects per context before the change, its nodes, its files."""

    chain: str
    work: Path
    context_of: Mapping[int, str | None]  # node index -> kubectl context (None: the current one)
    before: dict[str | None, dict[tuple[str, str], dict[str, Any]]]
    nodes: dict[int, Node]  # every node before or after the change (the removed one too)
    changed: int  # the node added or removed
    adding: bool

    @property
    def multi(self) -> bool:
        """One cluster per node: every kubectl command must name its node's context."""
        return len(set(self.context_of.values())) > 1

    def context(self, name: str) -> int | None:
        """The node an object or pod name belongs to (multi_cluster), else None."""
        found = re.fullmatch(re.escape(self.chain) + r"-(\d+)(-.*)?", name)
        return int(found.group(1)) if found and self.multi else None


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def node_of_folder(work: Path, chain: str, index: int) -> Node:
    """A node as its own folder says: node_address, its device ID (by syncthing's own binary, from its cert), and
    its own device entry in its config.xml (how the others' syncthing and network reach it)."""
    folder = work / "cita-cloud" / chain / f"node{index}"
    shown = subprocess.run(
        ["syncthing", "serve", "--device-id", "--home", str(folder / "config")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    device_id = shown.stdout.strip()
    root = ET.parse(folder / "config" / "config.xml").getroot()
    own = next(device for device in root.findall("device") if device.get("id") == device_id)
    sync_address = own.findtext("address") or ""
    host = sync_address.removeprefix("tcp://").rsplit(":", 1)[0].strip("[]")
    return Node(index, (folder / "node_address").read_text(), device_id, host, sync_address)


def facts(
    work: Path,
    chain: str,
    before_yaml: Mapping[str, Path],
    changed: int,
    adding: bool,
    contexts: Mapping[int, str | None],
    gone: Node | None = None,
) -> Facts:
    """Facts from the work dir after the change, the YAML files as they were before it (file -> path), and the
    removed node as its folder said before it went."""
    before: dict[str | None, dict[tuple[str, str], dict[str, Any]]] = {}
    for name, path in before_yaml.items():
        found = re.fullmatch(re.escape(chain) + r"-(\d+)\.yaml", name)
        context = contexts[int(found.group(1))] if found else contexts[min(contexts)]
        for doc in documents(path):
            before.setdefault(context, {})[(doc["kind"], doc["metadata"]["name"])] = doc
    nodes = {}
    for folder in sorted((work / "cita-cloud" / chain).glob("node*")):
        index = int(folder.name.removeprefix("node"))
        nodes[index] = node_of_folder(work, chain, index)
    if gone is not None:
        nodes[gone.index] = gone
    return Facts(chain, work, contexts, before, nodes, changed, adding)


@dataclass
class Played:
    """What the plan did, in order: the tests assert on it."""

    strict: bool = False
    applied: list[str] = field(default_factory=list)
    waited: list[str] = field(default_factory=list)  # StatefulSets waited for (rollout status / wait)
    copied: dict[str, list[str]] = field(default_factory=dict)  # pod -> files copied in
    learned: dict[str, set[str]] = field(default_factory=dict)  # pod -> device IDs added to its syncthing
    shared: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # pod -> (folder, device) shared
    forgot: dict[str, set[str]] = field(default_factory=dict)  # pod -> device IDs deleted
    unshared: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # pod -> (folder, device) unshared
    deleted: list[tuple[str, str]] = field(default_factory=list)
    votes: list[tuple[str, str]] = field(default_factory=list)  # (verb, address)
    waits: list[str] = field(default_factory=list)  # manage_chain.py status --wait_synced
    in_step: list[tuple[str, ...]] = field(default_factory=list)  # status --in_step: the pods (or addresses) asked
    votes_in_step: list[float | None] = field(default_factory=list)  # each vote's --in_step
    replayed: list[str] = field(default_factory=list)  # pods whose replay wait ran
    storage: list[str] = field(default_factory=list)  # the storage commands (copy, rm)
    scaled: list[tuple[str, int]] = field(default_factory=list)  # (StatefulSet, replicas) of `kubectl scale`
    gone: list[str] = field(default_factory=list)  # pods waited for until deleted
    order: list[str] = field(default_factory=list)  # a short name of each step, in order
    keep_ups: list[tuple[int, int, int]] = field(default_factory=list)  # keep-up loops: (target, source, plan line)
    keep_stops: list[tuple[int, int]] = field(default_factory=list)  # an EXIT trap stops node's loop: (node, line)
    pod_keep_ups: list[tuple[str, int]] = field(default_factory=list)  # keep-up loops inside a pod: (pod, plan line)
    pod_keep_stops: list[tuple[str, int]] = field(default_factory=list)  # an EXIT trap stops a pod's loop


def check_plan(text: str, known: Facts) -> Played:
    """Play the plan against the model; PlanError at the first thing a real cluster would refuse."""
    played = Played()
    cluster = {context: dict(objects) for context, objects in known.before.items()}
    ready = {(context, name) for context, objects in cluster.items() for kind, name in objects if kind in WORKLOADS}
    forwards: dict[str, str] = {}  # 127.0.0.1:port -> pod
    steps = [step for step in invocations(text) if step.words]
    if not steps or steps[0].words != ("set", "-euo", "pipefail"):
        raise PlanError("the plan must begin with `set -euo pipefail`: it must stop at the first step that fails")
    played.strict = True
    for step in steps[1:]:
        where = f"line {step.line + 1} ({' '.join(step.words)[:80]})"
        if step.program == "kubectl":
            try:
                call = parse(list(step.words[1:]))
            except Exception as error:
                raise PlanError(f"{where}: kubectl refuses it: {error}") from None
            _kubectl(call, step, known, cluster, ready, forwards, played, where)
        elif step.program == "manage_chain.py":
            _manage(step, known, forwards, played, where)
        elif step.program == "trap" and len(step.words) == 3 and step.words[2] == "EXIT":
            stop = re.search(r"node(\d+)/\.keepup/stop", step.words[1])
            if stop:
                played.keep_stops.append((int(stop[1]), step.line))
            in_pod = re.search(r"exec (\S+) -c controller -- sh -c .*\.keepup/stop", step.words[1])
            if in_pod:
                played.pod_keep_stops.append((in_pod[1], step.line))
        elif step.program in ("minikube", "scp", "ssh", "sudo") and not step.inner:
            played.storage.append(" ".join(step.words))
            if step.guard:
                continue
            joined = " ".join(step.words)
            loop = re.search(r"k=node(\d+)/\.keepup;.* for f in node(\d+)/proposals/", joined)
            if loop:
                if not step.background:
                    raise PlanError(f"{where}: the keep-up loop runs in the foreground: the wait never starts")
                played.keep_ups.append((int(loop[1]), int(loop[2]), step.line))
                played.order.append(f"keep-up node{loop[1]}")
                continue
            seeding = "sh -c" in joined and "/.seed" in joined
            played.order.append("seed copy" if seeding else f"storage {step.words[1] if len(step.words) > 1 else ''}")
    return played


def _context(call: Call, known: Facts, name: str, where: str) -> str | None:
    """The command's context: in multi_cluster, the context of the node whose object it names."""
    context = call.option("context")
    index = known.context(name)
    if known.multi and index is not None and context != known.context_of.get(index):
        wanted = known.context_of.get(index)
        raise PlanError(f"{where}: runs in context {context!r}, but node{index}'s cluster is {wanted!r}")
    return context


def _claimed_by(known: Facts, claims: list[str]) -> str:
    """The StatefulSet (of the YAML after the change) that mounts one of these claims."""
    for path in sorted(known.work.glob(f"{known.chain}*.yaml")):
        for doc in documents(path):
            volumes = doc["spec"]["template"]["spec"].get("volumes", []) if doc["kind"] in WORKLOADS else []
            if any(volume.get("persistentVolumeClaim", {}).get("claimName") in claims for volume in volumes):
                return str(doc["metadata"]["name"])
    return ""


def _kubectl(
    call: Call,
    step: Invocation,
    known: Facts,
    cluster: dict[str | None, dict[tuple[str, str], dict[str, Any]]],
    ready: set[tuple[str | None, str]],
    forwards: dict[str, str],
    played: Played,
    where: str,
) -> None:
    if call.verb not in PLAN_VERBS:
        raise PlanError(f"{where}: kubectl {call.verb} is not a step a plan needs")
    if known.multi and call.option("context") not in set(known.context_of.values()):
        raise PlanError(f"{where}: every kubectl command of a multi_cluster plan names its cluster's context")
    if call.verb == "apply":
        path = known.work / str(call.option("filename"))
        loaded = documents(path)
        workloads = [doc["metadata"]["name"] for doc in loaded if doc["kind"] in WORKLOADS]
        claims = [doc["metadata"]["name"] for doc in loaded if doc["kind"] == "PersistentVolumeClaim"]
        context = _context(call, known, workloads[-1] if workloads else _claimed_by(known, claims), where)
        objects = cluster.setdefault(context, {})
        for doc in loaded:
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
        played.applied.append(path.name)
        played.order.append(f"apply {path.name}")
        return
    try:
        found = targets(call) if call.verb in ("delete", "get", "rollout status", "wait", "scale") else []
    except KubectlError as error:
        raise PlanError(f"{where}: {error}") from None
    if call.verb == "delete":
        for kind, name in found:
            context = _context(call, known, name, where)
            if (kind, name) not in known.before.get(context, {}):
                raise PlanError(f"{where}: deletes {kind} {name}, which the chain does not have there")
            cluster.get(context, {}).pop((kind, name), None)
            ready.discard((context, name))
            played.deleted.append((kind, name))
        played.order.append("delete")
        return
    if call.verb == "scale":
        (kind, name), context = found[0], call.option("context")
        if kind != "StatefulSet" or (kind, name) not in known.before.get(context, {}):
            raise PlanError(f"{where}: scales {kind} {name}, which is no running node of the chain")
        if call.option("replicas") not in ("0", "1"):
            raise PlanError(f"{where}: a node's StatefulSet runs one pod or none, not {call.option('replicas')}")
        ready.discard((context, name))  # stopping, or Pending until waited for
        played.scaled.append((name, int(call.option("replicas") or "0")))
        played.order.append(f"scale {name} {call.option('replicas')}")
        return
    if call.verb == "wait" and call.option("for") == "delete":
        (kind, name), context = found[0], call.option("context")
        workload = name.removesuffix("-0")
        if kind != "Pod" or not played.scaled or played.scaled[-1] != (workload, 0):
            raise PlanError(f"{where}: waits for {kind} {name} to go, but its StatefulSet was not just scaled to 0")
        played.gone.append(name)
        played.order.append(f"gone {name}")
        return
    if call.verb in ("rollout status", "wait"):
        (kind, name), context = found[0], call.option("context")
        if (kind, name) not in cluster.get(context, {}):
            raise PlanError(f"{where}: waits for {kind} {name}, which is not in the cluster yet")
        if call.verb == "wait" and (call.option("for") or "") != "condition=Ready":
            raise PlanError(f"{where}: waits for something else than the pod's Ready condition")
        ready.add((context, name.removesuffix("-0")))
        played.waited.append(name)
        played.order.append(f"wait {name}")
        return
    if call.verb == "get":
        (kind, name), context = found[0], call.option("context")
        if not step.guard and (kind, name) not in cluster.get(context, {}):
            raise PlanError(f"{where}: reads {kind} {name}, which is not there")
        return
    pod = (call.args[1].partition(":")[0] if call.verb == "cp" else call.args[0]).removeprefix("pod/")
    workload = pod.removesuffix("-0")
    context = _context(call, known, workload, where)
    if ("StatefulSet", workload) not in cluster.get(context, {}):
        raise PlanError(f"{where}: pod {pod} does not exist in that cluster")
    if (context, workload) not in ready:
        raise PlanError(f"{where}: pod {pod} may still be Pending: wait for it first (kubectl rollout status)")
    if call.verb == "port-forward":
        local, _, remote = call.args[1].partition(":")
        if remote != "50004" or not step.background:
            raise PlanError(f"{where}: a port-forward to the controller's RPC (50004) runs in the background")
        forwards[f"127.0.0.1:{local}"] = workload
        played.order.append(f"forward {workload}")
        return
    template = cluster[context][("StatefulSet", workload)]["spec"]["template"]["spec"]
    containers = {container["name"] for container in template["containers"]}
    if call.option("container") not in containers:
        raise PlanError(f"{where}: pod {pod} has no container {call.option('container')!r}")
    if call.verb == "cp":
        _copy(call, known, cluster[context], pod, played, where)
        return
    _exec(call, known, pod, played, where)


def _copy(
    call: Call, known: Facts, objects: dict[tuple[str, str], dict[str, Any]], pod: str, played: Played, where: str
) -> None:
    source, target = call.args[0], call.args[1].partition(":")[2]
    if not target.startswith(FILES_CONTAINER_PATH):
        raise PlanError(f"{where}: copies to {target}, outside the node folder at /data")
    if target.endswith("network-config.toml"):
        peers = tomllib.loads((known.work / source).read_text()).get("peers", [])
        services = {name for kind, name in objects if kind == "Service"}
        for peer in peers:
            host = str(peer["ip"])
            if known.multi:
                continue  # a LoadBalancer address: it resolves without any Service of this cluster
            if host not in services:
                raise PlanError(f"{where}: the peer list names {host}, whose Service does not exist yet")
    played.copied.setdefault(pod, []).append(target.removeprefix(FILES_CONTAINER_PATH))
    played.order.append(f"cp {pod} {target.rsplit('/', 1)[-1]}")


def _exec(call: Call, known: Facts, pod: str, played: Played, where: str) -> None:
    command = call.command
    if command[:2] == ["sh", "-c"] and call.option("container") == "syncthing":
        for words in shell_script(command[2], command[3:]):
            _syncthing(words, known, pod, played, where)
        played.order.append(f"syncthing {pod}")
        return
    if call.option("container") == "controller" and command[:2] == ["sh", "-c"] and "k=.keepup;" in command[2]:
        played.pod_keep_ups.append((pod, int(where.split()[1]) - 1))
        played.order.append(f"keep-up {pod}")
        return
    if call.option("container") == "controller" and command[:1] == ["timeout"] and "until" in " ".join(command):
        played.replayed.append(pod)
        played.order.append(f"replay {pod}")
        return
    raise PlanError(f"{where}: an exec the plans do not need: {command}")


def _syncthing(words: tuple[str, ...], known: Facts, pod: str, played: Played, where: str) -> None:
    if words[:1] != ("syncthing",):
        return  # grep, and the shell's own words
    if words[1:5] != ("cli", "--home", SYNC_HOME, "config"):
        raise PlanError(f"{where}: syncthing {' '.join(words[1:5])}: not the pod's syncthing CLI")
    rest = words[5:]
    ids = {node.device_id: node for node in known.nodes.values()}
    if rest[:2] == ("devices", "add-json"):
        value = json.loads(rest[2])
        unknown = set(value) - DEVICE_FIELDS
        if unknown or not DEVICE_ID.fullmatch(str(value.get("deviceID", ""))):
            raise PlanError(f"{where}: syncthing device JSON {rest[2]}: fields {sorted(unknown)} or a bad deviceID")
        node = ids.get(value["deviceID"])
        if node is None:
            raise PlanError(f"{where}: device {value['deviceID']} is no node of the chain")
        if value.get("addresses") != [node.sync_address]:
            raise PlanError(f"{where}: device {value['deviceID']} needs addresses [{node.sync_address}]")
        played.learned.setdefault(pod, set()).add(value["deviceID"])
    elif rest[:1] == ("folders",) and rest[2:4] == ("devices", "add-json"):
        value = json.loads(rest[4])
        if rest[1] not in SYNC_FOLDERS or set(value) - SHARE_FIELDS or value.get("deviceID") not in ids:
            raise PlanError(f"{where}: shares folder {rest[1]} with {rest[4]}")
        played.shared.setdefault(pod, set()).add((rest[1], value["deviceID"]))
    elif rest[-1:] == ("delete",) and rest[:1] == ("devices",):
        played.forgot.setdefault(pod, set()).add(rest[1])
    elif rest[-1:] == ("delete",) and rest[:1] == ("folders",) and rest[2:3] == ("devices",):
        if rest[1] not in SYNC_FOLDERS:
            raise PlanError(f"{where}: unshares folder {rest[1]}, which syncthing does not have")
        played.unshared.setdefault(pod, set()).add((rest[1], rest[3]))
    elif rest[-1:] != ("list",):
        raise PlanError(f"{where}: syncthing {' '.join(rest)}: not a change the plans make")


def _manage(step: Invocation, known: Facts, forwards: dict[str, str], played: Played, where: str) -> None:
    import manage_chain

    words = list(step.words[1:])
    try:
        args = manage_chain.build_parser().parse_args(words)
    except BaseException as error:  # argparse: SystemExit, or the tool's UsageError
        raise PlanError(f"{where}: manage_chain.py refuses it: {error}") from None
    local = not known.multi
    for address in args.rpc:
        if address.startswith("127.0.0.1:") and address not in forwards:
            raise PlanError(f"{where}: --rpc {address} is no port-forward the plan started")
    if args.subcommand == "status":
        if not args.wait_synced:
            raise PlanError(f"{where}: status without --wait_synced waits for nothing")
        played.waits.append(",".join(args.rpc))
        played.order.append("wait_synced")
        if getattr(args, "in_step", None) is not None:
            played.in_step.append(tuple(forwards.get(address, address) for address in args.rpc))
            played.order.append("in_step")
        return
    address = "0x" + args.address.hex()
    changed = known.nodes.get(known.changed)
    if changed is None or address != changed.address or not args.if_needed:
        raise PlanError(f"{where}: {args.subcommand} {address}: not node{known.changed}'s, or without --if_needed")
    if args.subcommand == "add_validator" and local and forwards.get(args.node_rpc) != f"{known.chain}-{known.changed}":
        raise PlanError(f"{where}: --node_rpc {args.node_rpc} does not reach node{known.changed}")
    played.votes.append((args.subcommand, address))
    played.votes_in_step.append(getattr(args, "in_step", None))
    played.order.append(args.subcommand)
