"""The day-2 verbs of create_k8s_config.py: add a node to a chain it wrote, take one away, show the last plan.

Each verb loads the chain (chainload), checks it plans back to itself (membership), plans the chain
with one node more or less through the create verbs' planners, writes every changed file and the plan
(as a script) in one step through the one writer, and prints the plan an operator runs (memberplan).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner_k8s import names
from runner_k8s.day2.chainfiles import read_file
from runner_k8s.day2.chainload import LOCAL_KIND, LoadedChain, NodeState, choose_chain, load_chain
from runner_k8s.day2.memberplan import add_node_stages, remove_node_stages
from runner_k8s.day2.membership import (
    NETWORK_CONFIG,
    chain_files,
    check_unchanged,
    is_local,
    plan_manifests,
    plan_node_files,
    plan_yaml,
)
from runner_k8s.day2.multiseed import local_tar, multi_seeded_plan
from runner_k8s.day2.newnode import NewNode, check_fits, check_room, multi_admin, new_node_keys, plan_reach
from runner_k8s.day2.planscript import script_steps, script_text
from runner_k8s.day2.seeding import ChainView, choose_seed, seeded_plan
from runner_k8s.errors import CheckError, InputError, OutputExistsError, RunnerError, UsageError
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.keys.accounts import new_network_key
from runner_k8s.kube.objects import Manifest
from runner_k8s.plan import File, PlanItems, secret_file
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML, plan_node
from runner_k8s.releases.v5_0_0.syncconfig import new_api_key
from runner_k8s.report.reports import FileEntry, Step, files_json, objects_json, recorded, steps_json
from runner_k8s.runtime import Runtime, utc_now
from runner_k8s.write.files import write_outputs
from runner_k8s.write.lock import check_writable

__all__ = ["NewNode", "PlanOptions", "add_node", "remove_node", "show_plan"]


@dataclass(frozen=True)
class PlanOptions:
    """How the printed plan reaches the chain (kubectl contexts, the super admin's folder), and add_node's seed.

    `seed_from` is the node whose data seeds the new one (--seed_from); `ask_chain` asks the running chain about it.
    """

    contexts: tuple[str, ...] | None = None
    admin_dir: Path | None = None
    seed_from: int | None = None
    ask_chain: Callable[[], ChainView] | None = None


def loaded_chain(work_dir: Path, chain_name: str | None) -> LoadedChain:
    """The chain in work_dir, read back and checked to plan back to itself."""
    check_writable(work_dir)
    chain, kind = choose_chain(work_dir, chain_name)
    loaded = load_chain(work_dir, chain, kind)
    check_unchanged(work_dir, loaded)
    return loaded


def rewritten_files(chain: LoadedChain, nodes: Sequence[NodeState], skip: int | None = None) -> list[tuple[str, File]]:
    """Every node's network-config.toml and config.xml for the chain of `nodes` (but node `skip`'s)."""
    planned = plan_node_files(chain, nodes)
    return [
        (path, secret_file(data) if path.endswith(CONFIG_XML) else File(data))
        for path, data in planned.items()
        if skip is None or not path.startswith(names.node_dir(chain.chain, skip) + "/")
    ]


def plan_file(chain: ChainShown, title: str, steps: Sequence[Step]) -> tuple[str, File]:
    """The plan as a script in the work dir (no secret in it: it reads the admin's password when it runs)."""
    return names.plan_script(chain.chain), File(script_text(title, steps).encode())


def add_node(
    work_dir: Path,
    chain_name: str | None,
    new: NewNode,
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
    options: PlanOptions = PlanOptions(),
) -> None:
    """Write a new node's folder and objects into a chain, rewrite the others' peer files, print the plan."""
    chain = loaded_chain(work_dir, chain_name)
    check_fits(chain, new)
    index = chain.next_index
    check_room(chain, new, index)
    choice = None
    if options.seed_from is not None:
        choice = choose_seed(chain, options.seed_from, index, options.ask_chain, dry_run=dry_run)
    folder = names.node_dir(chain.chain, index)
    yaml_file = names.chain_yaml(chain.chain) if is_local(chain) else names.node_yaml(chain.chain, index)
    seeding_here = [local_tar(index)] if options.seed_from is not None and not is_local(chain) else []
    for fresh in [folder] + ([] if is_local(chain) else [yaml_file, *seeding_here]):
        if (work_dir / fresh).exists():
            raise OutputExistsError(
                f"{work_dir / fresh} already exists though the chain has no node{index}; move it away (an old "
                "copy?) and run again"
            )
    keys, address, device_id, still = new_node_keys(chain, new, index, runtime, utc_now(runtime))
    admin = None if is_local(chain) else multi_admin(chain, options.admin_dir, [new.accounts_dir, work_dir])
    reach = plan_reach(chain, [*(node.index for node in chain.nodes), index], options.contexts, admin)
    password = new.kms_password if new.kms_password is not None else chain.nodes[0].kms_password
    node = NodeState(
        index,
        address,
        device_id,
        new_api_key(runtime.randbytes),
        new_network_key(runtime.randbytes),
        new.pvc_name or chain.nodes[0].pvc_name,
        password,
        new.host,
        new.base_port,
        new.lb_token,
    )
    # A dry run makes throwaway keys to check everything; it shows none of them (the real run makes others).
    throwaway = dry_run and new.authority is None
    shown = dataclasses.replace(node, address=f"NODE{index}_ADDRESS", device_id=f"NODE{index}_DEVICE_ID")
    planner = seeded_plan if is_local(chain) else multi_seeded_plan
    seed_stage, why, keep = planner(chain, choice, node, work_dir, reach)
    stages = add_node_stages(chain, shown if throwaway else node, work_dir, reach, seed_stage, why, keep)
    steps = script_steps(stages)
    nodes = [*chain.nodes, node]
    manifests = plan_manifests(chain, nodes, chain.retired)
    texts = plan_yaml(chain, nodes, chain.retired)
    files = plan_node_files(chain, nodes)
    script = plan_file(chain, f"add node{index} to chain {chain.chain} (create_k8s_config.py add_node)", steps)

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
        yield script

    changed = [path for path, _ in rewritten_files(chain, nodes, skip=index)]
    roots = [folder, *changed, yaml_file, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, [], plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    who = (
        "its address and syncthing identity are made by the real run"
        if throwaway
        else f"{address}, syncthing {device_id}"
    )
    yaml_done = "rewritten" if is_local(chain) else "written"
    summary = [
        f"Chain {chain.chain}: node{index} added ({who}); {len(changed)} files of the other nodes rewritten, "
        f"{yaml_file} {yaml_done}{dry}",
        *(f"Still to copy by hand: {command}" for command in still),
        *([f"The plan: {why}"] if choice else []),
        *([f"Not checked: {choice.unchecked}; the real run asks --rpc"] if choice and choice.unchecked else []),
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
        steps,
        summary,
        dry_run,
    )
    report = dataclasses.replace(report, keys_shown=not throwaway)
    say(runtime, report, as_json)


def remove_node(
    work_dir: Path,
    chain_name: str | None,
    index: int,
    validators: Callable[[], Sequence[str]] | None,
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
    options: PlanOptions = PlanOptions(),
) -> None:
    """Take a node that is no longer a validator out of a chain: its files, its objects, the others' peer files.

    `validators` asks the running chain; None (a dry run without --rpc) leaves that check to the real run.
    """
    chain = loaded_chain(work_dir, chain_name)
    gone = chain.node(index)
    if len(chain.nodes) == 1:
        raise UsageError(f"node{index} is the last node of chain {chain.chain!r}; a chain needs at least one")
    unchecked = []
    try:
        if validators is None:
            raise UsageError("no --rpc was given")
        reported = validators()
    except RunnerError as exc:
        if not dry_run:
            raise
        unchecked.append(f"whether node{index} is still a validator ({exc}); the real run asks --rpc")
        reported = []
    if gone.address.lower() in {address.lower() for address in reported}:
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
    admin = None if is_local(chain) else multi_admin(chain, options.admin_dir, [Path("."), work_dir])
    reach = plan_reach(chain, [node.index for node in chain.nodes], options.contexts, admin)
    steps = script_steps(remove_node_stages(chain, gone, work_dir, reach))
    script = plan_file(chain, f"remove node{index} from chain {chain.chain} (create_k8s_config.py remove_node)", steps)

    def plan() -> PlanItems:
        yield from rewritten_files(chain, remaining)
        for file_name, text in texts.items():
            yield file_name, secret_file(text)
        yield script

    changed = [path for path, _ in rewritten_files(chain, remaining)]
    roots = [*changed, *texts, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, removed, plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {chain.chain}: node{index} ({gone.address}) removed; {len(changed)} files of the other nodes and "
        f"{', '.join(manifests)} rewritten, {', '.join(removed)} deleted{dry}",
        *(f"Not checked: {what}" for what in unchecked),
    ]
    report = Day2Report(
        "remove_node", chain, work_dir, gone, roots, removed, written, manifests, steps, summary, dry_run, unchecked
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


def show_plan(work_dir: Path, chain_name: str | None, *, runtime: Runtime) -> None:
    """Print the plan the last add_node or remove_node saved for the chain, as it was saved."""
    chain, _ = choose_chain(work_dir, chain_name)
    path = work_dir / names.plan_script(chain)
    if not path.is_file():
        raise InputError(
            f"{path} does not exist: no add_node or remove_node has saved a plan for chain {chain!r} in {work_dir}"
        )
    for line in read_file(path).decode(errors="replace").splitlines():
        runtime.say(line)


class ChainShown(Protocol):
    """What the report shows of a chain of either release (chainload.LoadedChain, v6.7.4's V6State)."""

    @property
    def chain(self) -> str: ...

    @property
    def kind(self) -> str: ...


class NodeShown(Protocol):
    """What the report shows of a node of either release."""

    @property
    def index(self) -> int: ...

    @property
    def address(self) -> str: ...

    @property
    def device_id(self) -> str | None: ...


@dataclass(frozen=True)
class Day2Report:
    """What add_node and remove_node tell the user."""

    verb: str
    chain: ChainShown
    work_dir: Path
    node: NodeShown
    roots: Sequence[str]
    removed: Sequence[str]
    written: Sequence[FileEntry]
    manifests: Mapping[str, Sequence[Manifest]]
    steps: Sequence[Step]
    summary: Sequence[str]
    dry_run: bool
    unchecked: Sequence[str] = ()
    keys_shown: bool = True  # False: a dry run's throwaway address and device ID, never shown


def say(runtime: Runtime, report: Day2Report, as_json: bool) -> None:
    """The report: JSON (never a secret), or the summary and the plan to run."""
    work_dir = report.work_dir
    script = shown_path(work_dir, names.plan_script(report.chain.chain))
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
                    "address": report.node.address if report.keys_shown else None,
                    "device_id": report.node.device_id if report.keys_shown else None,
                },
                "outputs": [shown_path(work_dir, root) for root in report.roots],
                "removes": [shown_path(work_dir, root) for root in report.removed],
                "files": files_json(work_dir, report.written),
                "objects": objects_json(work_dir, report.manifests),
                "plan_file": script,
                "not_checked": list(report.unchecked),
                "next": steps_json(report.steps),
            }
        )
        return
    for line in report.summary:
        runtime.say(line)
    if report.dry_run:
        runtime.say(f"The plan would be (the real run saves it as {script}):")
    else:
        runtime.say(
            f"Next, a script to run top to bottom, saved as {script} (run it with: bash {script}; show_plan prints it "
            "again). It stops at the first step that fails, and every step is safe to repeat: fix the cause, then "
            "run the whole script again."
        )
    if work_dir != Path("."):
        runtime.say(f"  cd {shell_quote(str(work_dir))}  # the plan's paths are relative to the work dir")
    cluster: int | None = None
    for step in report.steps:
        if step.node is not None and step.node != cluster:
            runtime.say(f"  # --- in node{step.node}'s cluster ---")
        elif step.node is None and cluster is not None and report.chain.kind != LOCAL_KIND:
            runtime.say("  # --- from where every node's RPC is reachable ---")
        cluster = step.node
        runtime.say(f"  {step.command}")
