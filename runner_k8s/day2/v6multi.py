"""add_node and remove_node on a v6.7.4 multi_cluster chain: one YAML file and one cluster per node.

The chain is read back from its node files (releases.v6_7_4.multistate), its node folders and its CA
folder, and must plan back to exactly its own files before anything is written. add_node takes the new
node's account made beforehand (create_account.py --release v6.7.4, as multi_cluster does), its
cluster's LoadBalancer (`--node`, `--node_port`, `--lbs_token`) and claim (`--pvc_name`), signs its TLS
certificate with `<chain>-ca/`, writes its folder and its file, and rewrites every other node's file
(its config Secret's peers, and the name that leads to the new node's LoadBalancer). remove_node writes
the others' files without the node and deletes its file and folder. Both write in one step through
the one writer, then print and save the plan (day2.v6multiplan).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainfiles import YAML_MAX_BYTES, read_documents, read_file
from runner_k8s.day2.newnode import NewNode
from runner_k8s.day2.nodeverbs import Day2Report, PlanOptions, finish, plan_file, say
from runner_k8s.day2.planscript import Kubectl, script_steps
from runner_k8s.day2.v6multiplan import MultiReach, add_multi_stages, remove_multi_stages
from runner_k8s.errors import CheckError, InputError, OutputExistsError, RunnerError, UsageError
from runner_k8s.flags import shell_quote
from runner_k8s.keys.tls import load_ca, new_node_cert
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.plan import NODE_ADDRESS, PlanItems, secret_file
from runner_k8s.releases.v6_7_4.accounts import VALIDATOR_ADDRESS, read_v6_account
from runner_k8s.releases.v6_7_4.chainplan import CA_CERT, CA_KEY, plan_node_folder
from runner_k8s.releases.v6_7_4.chainstate import V6Node, check_ca
from runner_k8s.releases.v6_7_4.config import NodeTls
from runner_k8s.releases.v6_7_4.multistate import Seat, V6MultiState, multi_state_manifests, read_multi_state
from runner_k8s.report.reports import FileEntry
from runner_k8s.runtime import Runtime, utc_now

# add_node's flags that a v6.7.4 multi_cluster node has no use for, and why.
NOT_FOR_V6_MULTI = {
    "device_id": ("--sync_device_id", "v6.7.4 has no syncthing"),
    "kms_password": ("--kms_password", "v6.7.4 has no kms (the account's key is in its folder)"),
    "node_port_range": ("--node_port_range", "a multi_cluster node is reached at its LoadBalancer, not a NodePort"),
}
NEEDED = {
    "authority": "--authority",
    "host": "--node",
    "base_port": "--node_port",
    "lb_token": "--lbs_token",
    "pvc_name": "--pvc_name",
}


def load_multi(work_dir: Path, chain: str) -> V6MultiState:
    """The chain's node files read back and checked to plan back to themselves; its node folders checked."""
    found = sorted(entry.name for entry in work_dir.iterdir() if names.is_multi_yaml(chain, entry.name))
    files = {}
    for file_name in found:
        index = int(file_name.removesuffix(".yaml").rsplit("-", 1)[1])
        path = work_dir / file_name
        files[index] = (str(path), [chunk.parsed() for chunk in read_documents(path, chain)])
    if not files:
        raise InputError(f"{work_dir} holds no node file of chain {chain!r} (<chain>-<i>.yaml); restore them")
    state = read_multi_state(chain, files)
    planned = multi_state_manifests(state, state.nodes, state.seats, state.retired)
    for index, (where, _) in files.items():
        if render_yaml(planned[names.node_yaml(chain, index)]) != read_file(Path(where), YAML_MAX_BYTES):
            raise InputError(
                f"{where} is not what runner_k8s wrote for chain {chain!r} (edited by hand, or objects added or "
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


def reach_of(state: V6MultiState, indices: Sequence[int], options: PlanOptions, places: Sequence[Path]) -> MultiReach:
    """The kubectl of each node's cluster (--contexts, else `<chain>-<i>`), and the super admin's folder if found."""
    contexts = options.contexts
    if contexts is not None and len(contexts) != len(indices):
        nodes = ", ".join(f"node{index}" for index in indices)
        raise UsageError(f"--contexts needs one kubectl context per node ({nodes}), not {len(contexts)}")
    chosen = contexts or [names.node_name(state.chain, index) for index in indices]
    kubectl = {index: Kubectl(context, state.namespace) for index, context in zip(indices, chosen, strict=True)}
    return MultiReach(kubectl, admin_folder(state, options.admin_dir, places))


def admin_folder(state: V6MultiState, admin_dir: Path | None, places: Sequence[Path]) -> str | None:
    """The super admin's account folder (a shell word): --admin_dir, else `0x<admin>` in one of `places`."""
    admin = state.config.admin
    if admin_dir is not None:
        account = read_v6_account(admin_dir, "--admin_dir")
        if account.node_address != admin:
            raise InputError(
                f"--admin_dir {admin_dir} holds account 0x{account.node_address}, not the chain's super admin 0x{admin}"
            )
        return shell_quote(str(admin_dir.absolute()))
    for place in places:
        folder = place / f"0x{admin}"
        try:
            if read_v6_account(folder, "--admin_dir").node_address == admin:
                return shell_quote(str(folder.absolute()))
        except RunnerError:
            continue
    return None


def check_new_multi(state: V6MultiState, new: NewNode, options: PlanOptions, index: int) -> None:
    """The flags given are those a v6.7.4 multi_cluster node takes, and its LoadBalancer fits beside the others'."""
    from runner_k8s.create.rules import check_chain_name, check_lb_ranges  # noqa: PLC0415

    for field, (flag, why) in NOT_FOR_V6_MULTI.items():
        if getattr(new, field) is not None:
            raise UsageError(f"{flag} is not for a v6.7.4 multi_cluster chain: {why}; leave it out")
    if options.seed_from is not None:
        raise UsageError(
            f"--seed_from is for local_cluster chains: node{options.seed_from} of multi_cluster chain {state.chain!r} "
            "keeps its data on its own cluster's storage; leave --seed_from out (the plain join)"
        )
    missing = [flag for field, flag in NEEDED.items() if getattr(new, field) is None]
    if missing:
        raise UsageError(
            f"chain {state.chain!r} is a v6.7.4 multi_cluster chain: its new node needs {', '.join(missing)} (its "
            "account made by create_account.py --release v6.7.4, its cluster's LoadBalancer and claim)"
        )
    check_chain_name(state.chain, index + 1)
    assert new.host is not None and new.base_port is not None
    seats = [state.seats[node.index] for node in state.nodes]
    check_lb_ranges(
        [seat.host for seat in seats] + [new.host],
        [seat.base_port for seat in seats] + [new.base_port],
        indices=[node.index for node in state.nodes] + [index],
        fix="give the new node a --node_port at least {span} ports away",
    )
    for node, seat in zip(state.nodes, seats, strict=True):
        if seat.lb_token == new.lb_token:
            raise UsageError(
                f"--lbs_token {new.lb_token!r} is node{node.index}'s LoadBalancer already; give the new cluster's own"
            )


def new_member(state: V6MultiState, new: NewNode, index: int, runtime: Runtime, work_dir: Path) -> V6Node:
    """The new node: its pre-made account checked, a TLS certificate for `<chain>-<index>` signed by the chain CA."""
    assert new.authority is not None
    account = read_v6_account(new.accounts_dir / new.authority, "--authority", state.consensus)
    if account.account.address != new.authority:
        raise CheckError(
            f"--authority: {new.accounts_dir / new.authority} holds account {account.account.address}, not "
            f"{new.authority}"
        )
    for node in state.nodes:
        if node.account.node_address == account.node_address:
            raise CheckError(
                f"{new.authority} is already node{node.index} of chain {state.chain!r}; a new node needs its own "
                "account (create_account.py --release v6.7.4)"
            )
    ca_folder = work_dir / names.ca_dir(state.chain)
    try:
        ca = load_ca(read_file(ca_folder / CA_CERT), read_file(ca_folder / CA_KEY))
    except ValueError as exc:
        raise InputError(f"{ca_folder}: {exc}; restore the chain's CA folder") from None
    check_ca(state, ca, str(ca_folder))
    cert = new_node_cert(ca, names.node_name(state.chain, index), runtime.randbytes, utc_now(runtime))
    return V6Node(index, account, NodeTls(cert.cert_pem.decode("ascii"), cert.key_pem.decode("ascii")))


def add_v6_multi_node(
    work_dir: Path, chain: str, new: NewNode, *, runtime: Runtime, dry_run: bool, as_json: bool, options: PlanOptions
) -> None:
    """Write a new node's folder and file and the others' files, print the plan that starts it and votes it in."""
    state = load_multi(work_dir, chain)
    index = state.next_index
    check_new_multi(state, new, options, index)
    folder, yaml_file = names.node_dir(chain, index), names.node_yaml(chain, index)
    for fresh in (folder, yaml_file):
        if (work_dir / fresh).exists():
            raise OutputExistsError(
                f"{work_dir / fresh} already exists though the chain has no node{index}; move it away (an old copy?) "
                "and run again"
            )
    node = new_member(state, new, index, runtime, work_dir)
    assert new.host is not None and new.base_port is not None and new.lb_token is not None and new.pvc_name
    seats = {**state.seats, index: Seat(new.host, new.base_port, new.lb_token, new.pvc_name)}
    nodes = [*state.nodes, node]
    reach = reach_of(state, [n.index for n in nodes], options, [new.accounts_dir, work_dir])
    steps = script_steps(add_multi_stages(state, node, seats, work_dir, reach, node.address))
    script = plan_file(state, f"add node{index} to chain {chain} (create_k8s_config.py add_node, v6.7.4)", steps)
    planned = multi_state_manifests(state, nodes, seats, state.retired)

    def plan() -> PlanItems:
        yield from plan_node_folder(chain, index, node.account, node.validator)
        for file_name, documents in planned.items():
            yield file_name, secret_file(render_yaml(documents))
        yield script

    roots = [folder, *planned, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, [], plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {chain} (v6.7.4 multi_cluster): node{index} added ({node.address}, its certificate signed by "
        f"{names.ca_dir(chain)}/, reached at {new.host}); {yaml_file} written, and the other {len(state.nodes)} "
        f"nodes' files with node{index} among their peers and the name {names.node_name(chain, index)} leading to "
        f"its LoadBalancer{dry}",
        *([] if reach.admin_dir else [f"The super admin's folder 0x{state.config.admin} was not found (give "
                                      "--admin_dir): the plan leaves the vote to you"]),
    ]  # fmt: skip
    report = Day2Report(
        "add_node", state, work_dir, node, roots, [], written, {yaml_file: planned[yaml_file]}, steps, summary, dry_run
    )
    say(runtime, report, as_json)


def remove_v6_multi_node(
    work_dir: Path,
    chain: str,
    index: int,
    validators: Callable[[], Sequence[str]] | None,
    *,
    runtime: Runtime,
    dry_run: bool,
    as_json: bool,
    options: PlanOptions,
) -> None:
    """Take a node out of the chain: the others' files without it, its file and folder gone, the plan."""
    state = load_multi(work_dir, chain)
    gone = state.node(index)
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
    reach = reach_of(state, [node.index for node in state.nodes], options, [Path("."), work_dir])
    remaining = [node for node in state.nodes if node.index != index]
    retired = tuple(sorted({*state.retired, index}))
    planned = multi_state_manifests(state, remaining, state.seats, retired)
    own = multi_state_manifests(state, state.nodes, state.seats, state.retired)[names.node_yaml(chain, index)]
    # The StatefulSet first: its pod stops before the Secrets it mounts go.
    objects = sorted(
        ((str(doc["kind"]), str(doc["metadata"]["name"])) for doc in own), key=lambda o: o[0] != "StatefulSet"
    )
    steps = script_steps(remove_multi_stages(state, gone, objects, work_dir, reach))
    title = f"remove node{index} from chain {chain} (create_k8s_config.py remove_node, v6.7.4)"
    script = plan_file(state, title, steps)
    removed = [names.node_dir(chain, index), names.node_yaml(chain, index)]

    def plan() -> PlanItems:
        for file_name, documents in planned.items():
            yield file_name, secret_file(render_yaml(documents))
        yield script

    roots = [*planned, script[0]]
    written: list[FileEntry] = []
    finish(work_dir, roots, removed, plan(), written, dry_run=dry_run)
    dry = " (dry run: nothing written)" if dry_run else ""
    summary = [
        f"Chain {chain} (v6.7.4 multi_cluster): node{index} ({gone.address}) removed; the other {len(remaining)} "
        f"nodes' files rewritten (their peers without it), {', '.join(removed)} deleted{dry}",
        *([] if reach.admin_dir else [f"The super admin's folder 0x{state.config.admin} was not found (give "
                                      "--admin_dir): the plan leaves the vote to you"]),
        *(f"Not checked: {what}" for what in unchecked),
    ]  # fmt: skip
    report = Day2Report(
        "remove_node", state, work_dir, gone, roots, removed, written, planned, steps, summary, dry_run, unchecked
    )
    say(runtime, report, as_json)
