"""add_node and remove_node on a v6.7.4 local_cluster chain: read it back, check it, change it, print the plan.

(A multi_cluster v6.7.4 chain is handed to day2.v6multi at the top of each verb.)

The chain is read from its YAML (releases.v6_7_4.chainstate), its node folders and its CA folder, and
must plan back to exactly its own YAML and folders before anything is written. add_node makes the new
node's account (a fresh key) and a TLS certificate signed by `<chain>-ca/`, writes its folder and the
chain's YAML (its objects, and every other node's config.toml with it among the peers); remove_node
writes the YAML without the node and deletes its folder. Both write in one step through the one
writer, then print and save the plan (day2.v6memberplan).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainfiles import YAML_MAX_BYTES, read_documents, read_file
from runner_k8s.day2.chainload import LOCAL_KIND, choose_chain, node_indices
from runner_k8s.day2.newnode import NewNode
from runner_k8s.day2.nodeverbs import Day2Report, PlanOptions, finish, plan_file, say
from runner_k8s.day2.planscript import Kubectl, script_steps
from runner_k8s.day2.releasegate import V6_RELEASE, release_in
from runner_k8s.day2.v6memberplan import add_v6_stages, remove_v6_stages
from runner_k8s.day2.v6multi import add_v6_multi_node, remove_v6_multi_node
from runner_k8s.day2.v6seeding import choose_v6_seed, v6_seeded_plan
from runner_k8s.errors import CheckError, InputError, OutputExistsError, RunnerError, UsageError
from runner_k8s.keys.tls import load_ca
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.plan import NODE_ADDRESS, PlanItems, secret_file
from runner_k8s.releases.v6_7_4.accounts import VALIDATOR_ADDRESS
from runner_k8s.releases.v6_7_4.chainplan import CA_CERT, CA_KEY
from runner_k8s.releases.v6_7_4.chainstate import V6State, check_ca, new_node, node_folder, read_state, state_manifests
from runner_k8s.report.reports import FileEntry
from runner_k8s.runtime import Runtime, utc_now
from runner_k8s.write.lock import check_writable

# add_node's flags that a v6.7.4 local_cluster node has no use for, and why.
NOT_FOR_V6 = {
    "authority": ("--authority", "the new node's account is made here (a fresh key)"),
    "device_id": ("--sync_device_id", "v6.7.4 has no syncthing"),
    "kms_password": ("--kms_password", "v6.7.4 has no kms"),
    "host": ("--node", "it is a multi_cluster flag"),
    "base_port": ("--node_port", "it is a multi_cluster flag"),
    "lb_token": ("--lbs_token", "it is a multi_cluster flag"),
    "pvc_name": ("--pvc_name", "local_cluster nodes share the chain's claim"),
}


def is_v6_chain(work_dir: Path, chain_name: str | None) -> bool:
    """Whether the chain add_node/remove_node would change runs v6.7.4 (its YAML's StatefulSets say so)."""
    chain, kind = choose_chain(work_dir, chain_name)
    if kind == LOCAL_KIND:
        files = [work_dir / names.chain_yaml(chain)]
    else:
        files = sorted(entry for entry in work_dir.iterdir() if names.is_multi_yaml(chain, entry.name))
    return release_in(files) == V6_RELEASE


def load_v6(work_dir: Path, chain_name: str | None) -> V6State:
    """The chain in work_dir, read back and checked to plan back to its own YAML and node folders."""
    check_writable(work_dir)
    chain, kind = choose_chain(work_dir, chain_name)
    if kind != LOCAL_KIND:  # the verbs hand a multi_cluster chain to day2.v6multi first
        raise InputError(f"{work_dir}: chain {chain!r} is a multi_cluster chain; day2.v6multi reads it")
    path = work_dir / names.chain_yaml(chain)
    chunks = read_documents(path, chain)
    documents = [chunk.parsed() for chunk in chunks]
    indices = node_indices([chunk.name for chunk in chunks if chunk.kind == "StatefulSet"], chain)
    if not indices:
        raise InputError(f"{path} holds no node of chain {chain!r}; restore the file made for the chain")
    state = read_state(chain, documents, indices, str(path))
    if render_yaml(state_manifests(state, state.nodes, state.retired)) != read_file(path, YAML_MAX_BYTES):
        raise InputError(
            f"{path} is not what runner_k8s wrote for chain {chain!r} (edited by hand, or objects added or "
            "removed?); a change would replace it, so nothing was done: restore the file"
        )
    for node in state.nodes:
        folder = work_dir / names.node_dir(chain, node.index)
        for file_name, value in ((NODE_ADDRESS, node.account.node_address), (VALIDATOR_ADDRESS, node.validator)):
            if read_file(folder / file_name) != value.encode("ascii"):
                raise InputError(
                    f"{folder / file_name} does not hold node{node.index}'s {file_name} as its Secret does; "
                    "restore the node folder"
                )
    return state


def check_new_flags(new: NewNode, options: PlanOptions) -> None:
    """The flags given are ones a v6.7.4 local_cluster node takes."""
    for field, (flag, why) in NOT_FOR_V6.items():
        if getattr(new, field) is not None:
            raise UsageError(f"{flag} is not for a v6.7.4 chain: {why}; leave it out")
    if options.admin_dir is not None:
        raise UsageError("--admin_dir is for multi_cluster chains; a local_cluster plan signs with <chain>-admin/")


def kubectl_of(state: V6State, contexts: Sequence[str] | None) -> Kubectl:
    """The kubectl of the chain's cluster and namespace (--contexts: one context)."""
    if contexts is not None and len(contexts) != 1:
        raise UsageError(f"chain {state.chain!r} runs in one cluster: give --contexts one context, not {len(contexts)}")
    return Kubectl(contexts[0] if contexts else None, state.namespace)


def check_node_ports(state: V6State, index: int, node_port_range: str | None) -> None:
    """The new node's NodePort (its executor's `call`) fits the cluster's range."""
    from runner_k8s.create.rules import DEFAULT_NODE_PORT_RANGE, check_chain_name, parse_port_range  # noqa: PLC0415
    from runner_k8s.ports import LOCAL_LAYOUT, Slot, external_port  # noqa: PLC0415

    check_chain_name(state.chain, index + 1)
    allowed = parse_port_range(node_port_range or DEFAULT_NODE_PORT_RANGE)
    port = external_port(LOCAL_LAYOUT, state.node_port, Slot.CALL, index)
    if port not in allowed:
        raise UsageError(
            f"node{index} needs NodePort {port} (call of node{index}), outside --node_port_range "
            f"{allowed[0]}-{allowed[-1]}: the chain's NodePorts follow from the --node_port {state.node_port} it was "
            "made with; give the cluster's NodePort range (kube-apiserver --service-node-port-range)"
        )


def add_v6_node(
    work_dir: Path,
    chain_name: str | None,
    new: NewNode,
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
    options: PlanOptions | None = None,
) -> None:
    """Write a new node's folder and the chain's YAML with it, print the plan that starts it and votes it in."""
    options = options or PlanOptions()
    chain, kind = choose_chain(work_dir, chain_name)
    if kind != LOCAL_KIND:
        check_writable(work_dir)
        add_v6_multi_node(work_dir, chain, new, runtime=runtime, dry_run=dry_run, as_json=as_json, options=options)
        return
    check_new_flags(new, options)
    state = load_v6(work_dir, chain_name)
    index = state.next_index
    check_node_ports(state, index, new.node_port_range)
    kubectl = kubectl_of(state, options.contexts)
    folder = names.node_dir(state.chain, index)
    if (work_dir / folder).exists():
        raise OutputExistsError(
            f"{work_dir / folder} already exists though the chain has no node{index}; move it away (an old copy?) "
            "and run again"
        )
    ca_folder = work_dir / names.ca_dir(state.chain)
    try:
        ca = load_ca(read_file(ca_folder / CA_CERT), read_file(ca_folder / CA_KEY))
    except ValueError as exc:
        raise InputError(f"{ca_folder}: {exc}; restore the chain's CA folder") from None
    check_ca(state, ca, str(ca_folder))
    choice = None
    if options.seed_from is not None:
        choice = choose_v6_seed(state, options.seed_from, index, options.ask_chain, dry_run=dry_run)
    node = new_node(state, ca, index, runtime.randbytes, utc_now(runtime))
    seed, why = v6_seeded_plan(state, choice, node, work_dir, kubectl)
    nodes = [*state.nodes, node]
    yaml_file = names.chain_yaml(state.chain)
    text = render_yaml(state_manifests(state, nodes, state.retired))
    shown = f"NODE{index}_ADDRESS" if dry_run else node.address  # a dry run's key is thrown away
    steps = script_steps(add_v6_stages(state, node, work_dir, kubectl, shown, seed, why))
    title = f"add node{index} to chain {state.chain} (create_k8s_config.py add_node, v6.7.4)"
    script = plan_file(state, title, steps)

    def plan() -> PlanItems:
        yield from node_folder(state, node)
        yield yaml_file, secret_file(text)
        yield script

    roots = [folder, yaml_file, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, [], plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    who = "its account is made by the real run" if dry_run else node.address
    summary = [
        f"Chain {state.chain} (v6.7.4): node{index} added ({who}, its certificate signed by "
        f"{names.ca_dir(state.chain)}/); "
        f"{yaml_file} rewritten: node{index}'s objects, and the other {len(state.nodes)} nodes' config.toml with "
        f"node{index} among their peers{dry}",
        f"The plan: {why}",
        *([f"Not checked: {choice.unchecked}; the real run asks --rpc"] if choice and choice.unchecked else []),
    ]
    manifests = {yaml_file: state_manifests(state, nodes, state.retired)}
    report = Day2Report("add_node", state, work_dir, node, roots, [], written, manifests, steps, summary, dry_run)
    if dry_run:
        report = dataclasses.replace(report, keys_shown=False)
    say(runtime, report, as_json)


def remove_v6_node(
    work_dir: Path,
    chain_name: str | None,
    index: int,
    validators: Callable[[], Sequence[str]] | None,
    *,
    runtime: Runtime,
    dry_run: bool = False,
    as_json: bool = False,
    options: PlanOptions | None = None,
) -> None:
    """Take a node out of the chain: the YAML without it, its folder gone, the plan that votes it out first.

    `validators` asks the running chain (None: a dry run without --rpc): the node must not be its last validator.
    """
    options = options or PlanOptions()
    chain, kind = choose_chain(work_dir, chain_name)
    if kind != LOCAL_KIND:
        check_writable(work_dir)
        remove_v6_multi_node(
            work_dir, chain, index, validators, runtime=runtime, dry_run=dry_run, as_json=as_json, options=options
        )
        return
    if options.admin_dir is not None:
        raise UsageError("--admin_dir is for multi_cluster chains; a local_cluster plan signs with <chain>-admin/")
    state = load_v6(work_dir, chain_name)
    gone = state.node(index)
    if len(state.nodes) == 1:
        raise UsageError(f"node{index} is the last node of chain {state.chain!r}; a chain needs at least one")
    kubectl = kubectl_of(state, options.contexts)
    unchecked = []
    try:
        if validators is None:
            raise UsageError("no --rpc was given")
        reported = {validator.lower().removeprefix("0x") for validator in validators()}
    except RunnerError as exc:
        if not dry_run:
            raise
        unchecked.append(f"whether node{index} is the chain's last validator ({exc}); the real run asks --rpc")
        reported = set()
    if reported == {gone.validator}:
        raise CheckError(
            f"node{index} is the only validator of the running chain: make another node a validator first "
            "(manage_chain.py add_validator), then run remove_node again"
        )
    remaining = [node for node in state.nodes if node.index != index]
    retired = tuple(sorted({*state.retired, index}))
    yaml_file = names.chain_yaml(state.chain)
    planned = state_manifests(state, remaining, retired)
    text = render_yaml(planned)
    steps = script_steps(remove_v6_stages(state, gone, work_dir, kubectl))
    title = f"remove node{index} from chain {state.chain} (create_k8s_config.py remove_node, v6.7.4)"
    script = plan_file(state, title, steps)
    removed = [names.node_dir(state.chain, index)]

    def plan() -> PlanItems:
        yield yaml_file, secret_file(text)
        yield script

    roots = [yaml_file, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, removed, plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {state.chain} (v6.7.4): node{index} ({gone.address}) removed; {yaml_file} rewritten (the other "
        f"{len(remaining)} nodes' config.toml without it), {removed[0]} deleted{dry}",
        *(f"Not checked: {what}" for what in unchecked),
    ]
    report = Day2Report(
        "remove_node", state, work_dir, gone, roots, removed, written, {yaml_file: planned}, steps, summary, dry_run,
        unchecked,
    )  # fmt: skip
    say(runtime, report, as_json)
