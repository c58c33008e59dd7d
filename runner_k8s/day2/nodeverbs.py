"""The day-2 verbs of create_k8s_config.py: add a node to a chain it wrote, or take one away.

Each verb loads the chain (chainload), checks it plans back to itself (membership), plans the chain
with one node more or less through the create verbs' planners, writes every changed file in one step
through the one writer, and prints the plan an operator follows (memberplan).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.create.archives import NodeMaterials, load_node_materials
from runner_k8s.create.identities import utc_now
from runner_k8s.create.rules import (
    DEFAULT_NODE_PORT_RANGE,
    check_chain_name,
    check_lb_ranges,
    check_node_ports,
    parse_port_range,
)
from runner_k8s.create.spec import MultiNode
from runner_k8s.day2.chainload import LoadedChain, NodeState, choose_chain, load_chain
from runner_k8s.day2.memberplan import add_node_steps, remove_node_steps
from runner_k8s.day2.membership import (
    chain_files,
    check_unchanged,
    is_local,
    node_pod,
    plan_manifests,
    plan_node_files,
    plan_yaml,
)
from runner_k8s.errors import CheckError, OutputExistsError, UsageError
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.keys.accounts import new_network_key
from runner_k8s.keys.keygen import draw_node_secrets, make_node_keys
from runner_k8s.kube.objects import Manifest
from runner_k8s.plan import File, PlanItems, secret_file
from runner_k8s.ports import LOCAL_LAYOUT
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML, NodeKeys, plan_node
from runner_k8s.releases.v5_0_0.syncconfig import new_api_key
from runner_k8s.report.reports import FileEntry, Step, files_json, objects_json, recorded, steps_json
from runner_k8s.runtime import Runtime
from runner_k8s.write.files import write_outputs
from runner_k8s.write.lock import check_writable

NETWORK_CONFIG = "network-config.toml"


@dataclass(frozen=True)
class NewNode:
    """What add_node is told about the node to add; None where it makes the value itself."""

    authority: str | None = None  # a pre-made account (create_account.py) instead of a new one
    device_id: str | None = None  # a pre-made syncthing identity instead of a new one
    accounts_dir: Path = Path(".")
    syncthing_dir: Path = Path(".")
    kms_password: str | None = None  # multi_cluster: the new node's own account password
    host: str | None = None  # multi_cluster: the new cluster's LoadBalancer address
    base_port: int | None = None
    lb_token: str | None = None
    pvc_name: str | None = None
    node_port_range: str | None = None  # local_cluster: the cluster's NodePort range

    def __repr__(self) -> str:
        return f"NewNode(authority={self.authority}, host={self.host})"


MULTI_ONLY = {"host": "--node", "base_port": "--node_port", "lb_token": "--lbs_token", "kms_password": "--kms_password"}


def loaded_chain(work_dir: Path, chain_name: str | None) -> LoadedChain:
    """The chain in work_dir, read back and checked to plan back to itself."""
    check_writable(work_dir)
    chain, kind = choose_chain(work_dir, chain_name)
    loaded = load_chain(work_dir, chain, kind)
    check_unchanged(work_dir, loaded)
    return loaded


def check_fits(chain: LoadedChain, new: NewNode) -> None:
    """The flags given are the ones this chain's kind takes."""
    given = [flag for field, flag in MULTI_ONLY.items() if getattr(new, field) is not None]
    if is_local(chain) and given:
        raise UsageError(
            f"chain {chain.chain!r} is a local_cluster chain: {', '.join(given)} are for a multi_cluster chain's "
            "new cluster; leave them out"
        )
    if not is_local(chain):
        missing = [flag for field, flag in MULTI_ONLY.items() if getattr(new, field) is None]
        premade = (("--authority", new.authority), ("--sync_device_id", new.device_id))
        missing += [flag for flag, value in premade if not value]
        if new.pvc_name is None:
            missing.append("--pvc_name")
        if missing:
            raise UsageError(
                f"chain {chain.chain!r} is a multi_cluster chain: its new node needs {', '.join(missing)} "
                "(its cluster's LoadBalancer, claim and its pre-made account and identity)"
            )
        if new.node_port_range is not None:
            raise UsageError("--node_port_range is for local_cluster chains; a multi_cluster node has its LoadBalancer")


def check_room(chain: LoadedChain, new: NewNode, index: int) -> None:
    """The new node's names and ports fit where the others' do."""
    check_chain_name(chain.chain, index + 1)
    if is_local(chain):
        assert chain.node_port is not None
        allowed = parse_port_range(new.node_port_range or DEFAULT_NODE_PORT_RANGE)
        used = node_pod(chain, chain.nodes[0]).slots_in_use(LOCAL_LAYOUT)
        check_node_ports(LOCAL_LAYOUT, chain.node_port, index + 1, used, allowed)
        return
    assert new.host is not None and new.base_port is not None
    hosts = [node.host or "" for node in chain.nodes] + [new.host]
    bases = [node.base_port or 0 for node in chain.nodes] + [new.base_port]
    indices = [node.index for node in chain.nodes] + [index]
    check_lb_ranges(hosts, bases, indices=indices, fix="give the new node a --node_port at least {span} ports away")


def new_node_keys(
    chain: LoadedChain, new: NewNode, index: int, runtime: Runtime
) -> tuple[NodeKeys, str, str, list[str]]:
    """(keys, address, device ID, cp commands still to run) of the new node: made here, or checked and copied."""
    password = new.kms_password if new.kms_password is not None else chain.nodes[0].kms_password
    for node in chain.nodes:
        if new.authority == node.address or new.device_id == node.device_id:
            raise CheckError(
                f"{new.authority if new.authority == node.address else new.device_id} is already node{node.index} of "
                f"chain {chain.chain!r}; a new node needs its own account and identity"
            )
    if new.authority is None and new.device_id is None:
        secrets = draw_node_secrets(chain.services.kms_flavour, runtime.randbytes, 1)
        made = make_node_keys(chain.services.kms_flavour, password, utc_now(runtime), secrets)[0]
        keys = NodeKeys(b"1", made.account.address.encode(), made.kms_db, made.identity.cert_pem, made.identity.key_pem)
        return keys, made.account.address, made.identity.device_id, []
    if new.authority is None or new.device_id is None:
        raise UsageError("give both --authority and --sync_device_id for a pre-made node, or neither to make new ones")
    premade = MultiNode(
        index, new.authority, new.host or "", new.lb_token or "", new.device_id, password, new.base_port or 0, ""
    )
    found: NodeMaterials = load_node_materials(
        premade,
        names.node_dir(chain.chain, index),
        accounts_dir=new.accounts_dir,
        syncthing_dir=new.syncthing_dir,
        flavour=chain.services.kms_flavour,
    )
    still = [
        f"cp {' '.join(shell_quote(str(copy.source / name)) for name in copy.files)} {copy.destination}"
        for copy in found.pending
    ]
    return found.keys, new.authority, new.device_id, still


@dataclass(frozen=True)
class Change:
    """What a day-2 verb writes: the outputs it replaces or adds, those it removes, and the plan items."""

    roots: list[str]
    removed: list[str]
    items: PlanItems


def rewritten_files(chain: LoadedChain, nodes: Sequence[NodeState], skip: int | None = None) -> list[tuple[str, File]]:
    """Every node's network-config.toml and config.xml for the chain of `nodes` (but node `skip`'s)."""
    planned = plan_node_files(chain, nodes)
    return [
        (path, secret_file(data) if path.endswith(CONFIG_XML) else File(data))
        for path, data in planned.items()
        if skip is None or not path.startswith(names.node_dir(chain.chain, skip) + "/")
    ]


def add_node(
    work_dir: Path,
    chain_name: str | None,
    new: NewNode,
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Write a new node's folder and objects into a chain, rewrite the others' peer files, print the plan."""
    chain = loaded_chain(work_dir, chain_name)
    check_fits(chain, new)
    index = chain.next_index
    check_room(chain, new, index)
    folder = names.node_dir(chain.chain, index)
    yaml_file = names.chain_yaml(chain.chain) if is_local(chain) else names.node_yaml(chain.chain, index)
    for fresh in [folder] + ([] if is_local(chain) else [yaml_file]):
        if (work_dir / fresh).exists():
            raise OutputExistsError(
                f"{work_dir / fresh} already exists though the chain has no node{index}; move it away (an old "
                "copy?) and run again"
            )
    keys, address, device_id, still = new_node_keys(chain, new, index, runtime)
    pvc_name = new.pvc_name or chain.nodes[0].pvc_name
    password = new.kms_password if new.kms_password is not None else chain.nodes[0].kms_password
    node = NodeState(
        index,
        address,
        device_id,
        new_api_key(runtime.randbytes),
        new_network_key(runtime.randbytes),
        pvc_name,
        password,
        new.host,
        new.base_port,
        new.lb_token,
    )
    nodes = [*chain.nodes, node]
    manifests = plan_manifests(chain, nodes, chain.retired)
    texts = plan_yaml(chain, nodes, chain.retired)
    files = plan_node_files(chain, nodes)

    def plan() -> PlanItems:
        yield from plan_node(
            chain.chain,
            index,
            chain_files(chain),
            (),
            keys,
            config_xml=files[f"{folder}/{CONFIG_DIR}/{CONFIG_XML}"],
            network_config=files[f"{folder}/{NETWORK_CONFIG}"],
        )
        yield from rewritten_files(chain, nodes, skip=index)
        yield yaml_file, secret_file(texts[yaml_file])

    changed = [path for path, _ in rewritten_files(chain, nodes, skip=index)]
    roots = [folder, *changed, yaml_file]
    written: list[FileEntry] = []
    finish(work_dir, roots, [], plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {chain.chain}: node{index} added ({address}, syncthing {device_id}); {len(changed)} files of the "
        f"other nodes and {yaml_file} rewritten{dry}",
        *(f"Still to copy by hand: {command}" for command in still),
    ]
    report = Day2Report(
        "add_node",
        chain,
        work_dir,
        node,
        roots,
        [],
        written,
        {yaml_file: manifests[yaml_file]},
        add_node_steps(chain, node, work_dir),
        summary,
        dry_run,
    )
    say(runtime, report, as_json)


def remove_node(
    work_dir: Path,
    chain_name: str | None,
    index: int,
    validators: Callable[[], Sequence[str]],
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Take a node that is no longer a validator out of a chain: its files, its objects, the others' peer files."""
    chain = loaded_chain(work_dir, chain_name)
    gone = chain.node(index)
    if len(chain.nodes) == 1:
        raise UsageError(f"node{index} is the last node of chain {chain.chain!r}; a chain needs at least one")
    if gone.address.lower() in {address.lower() for address in validators()}:
        raise CheckError(
            f"node{index} ({gone.address}) is still a validator of the running chain: remove it first with "
            f"manage_chain.py remove_validator {gone.address} (then wait until every node reports the new set), "
            "and run remove_node again"
        )
    remaining = [node for node in chain.nodes if node.index != index]
    retired = tuple(sorted({*chain.retired, index}))
    texts = plan_yaml(chain, remaining, retired)
    manifests = {name: docs for name, docs in plan_manifests(chain, remaining, retired).items() if name in texts}
    removed = [names.node_dir(chain.chain, index)]
    if not is_local(chain):
        removed.append(names.node_yaml(chain.chain, index))

    def plan() -> PlanItems:
        yield from rewritten_files(chain, remaining)
        for file_name, text in texts.items():
            yield file_name, secret_file(text)

    changed = [path for path, _ in rewritten_files(chain, remaining)]
    roots = [*changed, *texts]
    written: list[FileEntry] = []
    finish(work_dir, roots, removed, plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {chain.chain}: node{index} ({gone.address}) removed; {len(changed)} files of the other nodes and "
        f"{', '.join(manifests)} rewritten, {', '.join(removed)} deleted{dry}"
    ]
    report = Day2Report(
        "remove_node",
        chain,
        work_dir,
        gone,
        roots,
        removed,
        written,
        manifests,
        remove_node_steps(chain, gone, work_dir),
        summary,
        dry_run,
    )
    say(runtime, report, as_json)


def finish(
    work_dir: Path, roots: list[str], removed: list[str], items: PlanItems, into: list[FileEntry], *, dry_run: bool
) -> None:
    """Write the change in one step (or, for a dry run, only list it)."""
    if dry_run:
        for _ in recorded(items, into):
            pass
        return
    write_outputs(work_dir, [*roots, *removed], recorded(items, into), force=True, remove=removed)


@dataclass(frozen=True)
class Day2Report:
    """What add_node and remove_node tell the user."""

    verb: str
    chain: LoadedChain
    work_dir: Path
    node: NodeState
    roots: Sequence[str]
    removed: Sequence[str]
    written: Sequence[FileEntry]
    manifests: Mapping[str, Sequence[Manifest]]
    steps: Sequence[Step]
    summary: Sequence[str]
    dry_run: bool


def say(runtime: Runtime, report: Day2Report, as_json: bool) -> None:
    """The report: JSON (never a secret), or the summary and the plan to follow."""
    work_dir = report.work_dir
    if as_json:
        runtime.say_json(
            {
                "dry_run": report.dry_run,
                "kind": report.verb,
                "chain": report.chain.chain,
                "chain_kind": report.chain.kind,
                "work_dir": str(work_dir),
                "node": {
                    "index": report.node.index,
                    "address": report.node.address,
                    "device_id": report.node.device_id,
                },
                "outputs": [shown_path(work_dir, root) for root in report.roots],
                "removes": [shown_path(work_dir, root) for root in report.removed],
                "files": files_json(work_dir, report.written),
                "objects": objects_json(work_dir, report.manifests),
                "next": steps_json(report.steps),
            }
        )
        return
    for line in report.summary:
        runtime.say(line)
    runtime.say("The plan would be:" if report.dry_run else "Next, a script to run top to bottom (see the README):")
    cluster: int | None = None
    for step in report.steps:
        if step.node is not None and step.node != cluster:
            runtime.say(f"  # --- in node{step.node}'s cluster ---")
        elif step.node is None and cluster is not None and not is_local(report.chain):
            runtime.say("  # --- from where every node's RPC is reachable ---")
        cluster = step.node
        runtime.say(f"  {step.command}")
