"""What a create verb tells the user: one report for the dry run and the real run, as text or as JSON.

The JSON schema is the same for both subcommands and both modes (README, "--json"); a dry run of
local_cluster leaves out the addresses and device IDs of keys it does not keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner_k8s.flags import shown_path
from runner_k8s.kube.objects import Manifest
from runner_k8s.plan import Dir, Entry, PlanItems
from runner_k8s.runtime import Runtime

NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXPOSED_TYPES = (NODE_PORT, LOAD_BALANCER)


@dataclass(frozen=True)
class Step:
    """One next command; `node` names the cluster it runs against (multi_cluster), None the one cluster."""

    command: str
    node: int | None = None


@dataclass(frozen=True)
class NodeReport:
    """What the report says about one node. Addresses and device IDs are None when not kept (dry run)."""

    index: int
    name: str
    address: str | None
    device_id: str | None
    folder: str
    yaml: str
    pvc_name: str
    host: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    reserved_ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileEntry:
    """A planned file or directory: its path (relative to the work dir), kind, mode and size."""

    path: str
    is_dir: bool
    mode: int
    size: int | None


def recorded(items: PlanItems, into: list[FileEntry]) -> Iterator[tuple[str, Entry]]:
    """Pass plan items through unchanged, noting each one's path, kind, mode and size."""
    for path, entry in items:
        is_dir = isinstance(entry, Dir)
        into.append(FileEntry(path, is_dir, entry.mode, None if isinstance(entry, Dir) else len(entry.data)))
        yield path, entry


@dataclass(frozen=True)
class ChainPlan:
    """What a release's planner makes of a chain: its files (planned lazily), objects and the report's parts.

    `nodes(kept)` gives the nodes' reports, with their addresses only when the keys are kept (not a dry run).
    """

    kind: str
    chain: str
    release: str
    consensus: str
    crypto: str
    outputs: Sequence[str]
    items: Callable[[], PlanItems]
    manifests: Mapping[str, Sequence[Manifest]]
    super_admin: Callable[[bool], str | None]
    nodes: Callable[[bool], Sequence[NodeReport]]
    next_steps: Callable[[Sequence[str]], Sequence[Step]]  # given the old objects --force drops
    still_to_copy: Sequence[str] = ()


@dataclass(frozen=True)
class ChainReport:
    """Everything a create verb reports, in either mode."""

    dry_run: bool
    kind: str
    chain: str
    kms: str
    work_dir: Path
    outputs: Sequence[str]
    replaced: Sequence[str]
    files: Sequence[FileEntry]
    manifests: Mapping[str, Sequence[Manifest]]
    super_admin: str | None
    nodes: Sequence[NodeReport]
    next_steps: Sequence[Step]
    still_to_copy: Sequence[str] = ()
    release: str = "v5.0.0"
    consensus: str = "raft"

    def shown(self, relative: str) -> str:
        """A path as the user can paste it from where they ran the script."""
        return shown_path(self.work_dir, relative)


def exposed_ports(manifests: Mapping[str, Sequence[Manifest]]) -> list[dict[str, object]]:
    """The NodePort and LoadBalancer ports of every Service (ClusterIP ports stay inside the cluster)."""
    return [
        {
            "service": doc["metadata"]["name"],
            "type": doc["spec"]["type"],
            "name": port["name"],
            "port": port["targetPort"],
            "exposed": port.get("nodePort", port["port"]),
        }
        for docs in manifests.values()
        for doc in docs
        if doc["kind"] == "Service" and doc["spec"].get("type") in EXPOSED_TYPES
        for port in doc["spec"]["ports"]
    ]


def report_json(report: ChainReport) -> dict[str, object]:
    """The one --json document of create_k8s_config.py (both subcommands, dry run or not). No secret."""
    return {
        "dry_run": report.dry_run,
        "kind": report.kind,
        "chain": report.chain,
        "release": report.release,
        "consensus": report.consensus,
        "kms": report.kms,
        "work_dir": str(report.work_dir),
        "outputs": [report.shown(path) for path in report.outputs],
        "replaces": [report.shown(path) for path in report.replaced],
        "super_admin": report.super_admin,
        "nodes": [
            {
                "index": node.index,
                "name": node.name,
                "address": node.address,
                "device_id": node.device_id,
                "folder": report.shown(node.folder),
                "yaml": report.shown(node.yaml),
                "pvc_name": node.pvc_name,
                "host": node.host,
                "ports": dict(node.ports),
                "reserved_ports": dict(node.reserved_ports),
            }
            for node in report.nodes
        ],
        "files": files_json(report.work_dir, report.files),
        "objects": objects_json(report.work_dir, report.manifests),
        "ports": exposed_ports(report.manifests),
        "still_to_copy": list(report.still_to_copy),
        "next": steps_json(report.next_steps),
    }


def files_json(work_dir: Path, files: Iterable[FileEntry]) -> list[dict[str, object]]:
    """`files` of the JSON report: every planned file and directory."""
    return [
        {
            "path": shown_path(work_dir, entry.path),
            "type": "dir" if entry.is_dir else "file",
            "mode": f"{entry.mode:04o}",
            "size": entry.size,
        }
        for entry in files
    ]


def objects_json(work_dir: Path, manifests: Mapping[str, Sequence[Manifest]]) -> list[dict[str, object]]:
    """`objects` of the JSON report: every Kubernetes object, with the file that holds it."""
    return [
        {
            "file": shown_path(work_dir, name),
            "kind": doc["kind"],
            "name": doc["metadata"]["name"],
            "namespace": doc["metadata"].get("namespace"),
        }
        for name, docs in manifests.items()
        for doc in docs
    ]


def steps_json(steps: Iterable[Step]) -> list[dict[str, object]]:
    """`next` of the JSON report."""
    return [{"node": step.node, "command": step.command} for step in steps]


def aligned(rows: Sequence[tuple[str, str]]) -> Iterator[str]:
    """Two indented columns, the first padded to its widest entry."""
    if not rows:
        return
    width = max(len(left) for left, _ in rows)
    for left, right in rows:
        yield f"  {left:<{width}}  {right}"


def plan_lines(report: ChainReport) -> Iterator[str]:
    """--dry_run as text: what would be written (files, objects, ports), having checked everything."""
    yield f"Dry run of chain {report.chain} in {report.work_dir}: every input checked, nothing written."
    if report.replaced:
        yield f"--force would replace: {', '.join(report.shown(root) for root in report.replaced)}"
    yield f"Files ({sum(not entry.is_dir for entry in report.files)}) and directories (mode, path):"
    for entry in report.files:
        yield f"  {entry.mode:04o}  {report.shown(entry.path)}{'/' if entry.is_dir else ''}"
    objects = objects_json(report.work_dir, report.manifests)
    yield f"Kubernetes objects ({len(objects)}):"
    for obj in objects:
        yield f"  {obj['file']}: {obj['kind']} {obj['name']}"
    yield "Service ports (service  port -> exposed/TCP):"
    rows = [
        (str(port["service"]), f"{port['name']} {port['port']} -> {port['exposed']}")
        for port in exposed_ports(report.manifests)
    ]
    yield from aligned(rows)


def say_report(runtime: Runtime, report: ChainReport, as_json: bool, summary: Iterable[str]) -> None:
    """Print the report: JSON, the dry run's plan, or the summary lines of a real run."""
    if as_json:
        runtime.say_json(report_json(report))
        return
    for line in plan_lines(report) if report.dry_run else summary:
        runtime.say(line)


def node_port_table(manifests: Sequence[Manifest]) -> list[str]:
    """`<service>  <port>:<nodePort>/TCP,...` for every NodePort Service, as `kubectl get svc` shows them."""
    rows = [
        (doc["metadata"]["name"], ",".join(f"{p['port']}:{p['nodePort']}/TCP" for p in doc["spec"]["ports"]))
        for doc in manifests
        if doc["kind"] == "Service" and doc["spec"]["type"] == NODE_PORT
    ]
    return list(aligned(rows))


def chain_line(report: ChainReport, what: str) -> str:
    """The summary's first line: the chain, its nodes, its release and what it runs."""
    if report.release == "v5.0.0":
        runs = f"kms {report.kms}"
    else:
        runs = f"release {report.release}, consensus {report.consensus}, crypto {report.kms}"
    return f"Chain {report.chain}: {len(report.nodes)} node(s){what}, {runs}, written in {report.work_dir}"


def local_summary(report: ChainReport, pvc_name: str) -> Iterator[str]:
    """The lines printed after a local_cluster run. Never a password or a key."""
    v5 = report.release == "v5.0.0"
    yield chain_line(report, "")
    node_folders, chain_yaml, admin, *rest = report.outputs
    secret = "the kms password" if v5 else "every node's keys and config.toml"
    outputs = [
        (f"{node_folders}/", "node folders: copy them onto the storage of the claim " + pvc_name),
        (chain_yaml, f"Secrets, NetworkPolicy, Services, StatefulSets (mode 0600: it holds {secret})"),
        (f"{admin}/", "the super admin's account: keep it off the cluster storage"),
    ]
    outputs += [(f"{ca}/", "the chain CA: its key signs the certificate of every node added later") for ca in rest]
    yield from aligned([(report.shown(path), text) for path, text in outputs])
    yield f"Super admin: {report.super_admin}"
    yield "Nodes:"
    for node in report.nodes:
        identity = f"  syncthing {node.device_id}" if v5 else ""
        yield f"  node{node.index}  {node.address}  {node.name}{identity}"
    yield "NodePorts (service  port:nodePort/TCP):"
    yield from node_port_table(report.manifests[chain_yaml])
    yield "Next:"
    for step in report.next_steps:
        yield f"  {step.command}"


def port_plan(node: NodeReport) -> str:
    """`network 30000, sync 30001, ...` for the ports in use, then the reserved ones."""
    on = ", ".join(f"{name} {port}" for name, port in node.ports.items())
    off = [f"{name} {port}" for name, port in node.reserved_ports.items()]
    return on + (f" (reserved: {', '.join(off)})" if off else "")


def multi_summary(report: ChainReport) -> Iterator[str]:
    """The lines printed after a multi_cluster run. Never a password or a key."""
    v5 = report.release == "v5.0.0"
    yield chain_line(report, ", one per cluster")
    outputs = [(f"{report.outputs[0]}/", "node folders: node<i>/ goes onto cluster i's storage")]
    peers = "" if v5 else ", the Services that reach the other nodes"
    outputs += [
        (node.yaml, f"node{node.index}'s Secrets, NetworkPolicy, StatefulSet, LoadBalancer Service{peers} (0600)")
        for node in report.nodes
    ]
    outputs += [
        (f"{ca}/", "the chain CA: its key signs the certificate of every node added later")
        for ca in report.outputs[1 + len(report.nodes) :]
    ]
    yield from aligned([(report.shown(path), text) for path, text in outputs])
    yield f"Super admin: {report.super_admin}"
    yield "Nodes (address, IP, LoadBalancer ports):"
    for node in report.nodes:
        yield f"  node{node.index}  {node.address}  {node.host}  {port_plan(node)}"
    if report.still_to_copy:
        yield "Still to copy by hand (the node cannot start without them):"
        for command in report.still_to_copy:
            yield f"  {command}"
    elif v5:
        yield "Every account and syncthing identity was checked and copied: the node folders are complete."
    else:
        yield "Every account was checked; its key is in its node's Secret: the node folders are complete."
    for node in report.nodes:
        yield f"Next, in node{node.index}'s cluster:"
        for step in report.next_steps:
            if step.node == node.index:
                yield f"  {step.command}"
