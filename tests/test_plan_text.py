"""Issue 26, "the plans' text": every printed plan read as a script and played against the clusters it runs on.

Local and multi_cluster, add and remove, a monitored chain too: tests/planparse.py parses the script with
bashlex, reads kubectl's command lines with kubectl's own flags, opens the syncthing CLI's JSON, and
models the clusters from the chain's YAML before the change. Each test asserts the steps and their
order; each mutation below (what a broken planner would print) must be caught.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.chains import make_local_chain
from tests.conftest import fixed_runtime, output_of
from tests.planparse import Facts, Node, PlanError, Played, check_plan, documents, facts, node_of_folder

CHAIN = "test-chain"


@dataclass
class Case:
    """A plan as add_node or remove_node saved it, and the facts to play it against."""

    text: str
    known: Facts

    def play(self, text: str | None = None) -> Played:
        return check_plan(self.text if text is None else text, self.known)


def run(work: Path, *argv: str) -> str:
    runtime = fixed_runtime("plans")
    code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    assert code == 0
    return output_of(runtime)


def yaml_files(work: Path, copy_to: Path) -> dict[str, Path]:
    """The chain's YAML as it is now, kept aside (what runs before the change)."""
    copy_to.mkdir()
    kept = {}
    for path in sorted(work.glob(f"{CHAIN}*.yaml")):
        kept[path.name] = copy_to / path.name
        shutil.copyfile(path, kept[path.name])
    return kept


def local_case(tmp: Path, *extra: str, remove: bool = False, monkeypatch: pytest.MonkeyPatch | None = None) -> Case:
    work = tmp / "work"
    make_local_chain(work, "--peers_count", "3", *extra)
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    before = yaml_files(work, tmp / "before")
    contexts: dict[int, str | None] = {index: None for index in range(4)}
    if remove:
        assert monkeypatch is not None
        gone = node_of_folder(work, CHAIN, 1)
        monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
        run(work, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:9")
        known = facts(work, CHAIN, before, 1, False, contexts, gone)
    else:
        run(work, "add_node")
        known = facts(work, CHAIN, before, 3, True, contexts)
    return Case((work / f"{CHAIN}-plan.sh").read_text(), known)


def multi_case(tmp: Path, *, remove: bool = False, monkeypatch: pytest.MonkeyPatch | None = None) -> Case:
    from tests.test_golden import multi_seed_example
    from tests.test_membership import NEW_CLUSTER, premade

    work = tmp / "work"
    work.mkdir()
    argv = multi_seed_example(work)
    assert create_k8s_config.main(argv, Runtime(stdout=io.StringIO())) == 0
    before = yaml_files(work, tmp / "before")
    if remove:
        assert monkeypatch is not None
        gone = node_of_folder(work, CHAIN, 2)
        monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
        run(work, "remove_node", "--node_index", "2", "--rpc", "127.0.0.1:9", "--contexts", "red,green,blue")
        contexts: dict[int, str | None] = {0: "red", 1: "green", 2: "blue"}
        return Case((work / f"{CHAIN}-plan.sh").read_text(), facts(work, CHAIN, before, 2, False, contexts, gone))
    claim = ["local_pvc", "--pvc_name", "cluster3-pvc", "--data_dir", "/srv/cluster3", "--work_dir", str(work)]
    assert create_pvc.main(claim, fixed_runtime()) == 0
    address, device = premade(work, "password3")
    flags = [*NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work)]
    run(work, "add_node", *flags, *folders, "--contexts", "red,green,blue,black")
    contexts = {0: "red", 1: "green", 2: "blue", 3: "black"}
    return Case((work / f"{CHAIN}-plan.sh").read_text(), facts(work, CHAIN, before, 3, True, contexts))


# --- what a plan must do -------------------------------------------------------------------------------


def assert_adds(case: Case, played: Played) -> None:
    known = case.known
    new = known.nodes[known.changed]
    new_pod = f"{CHAIN}-{known.changed}-0"
    old_pods = [f"{CHAIN}-{index}-0" for index in known.nodes if index != known.changed]
    order = played.order
    assert played.strict
    yaml_file = f"{CHAIN}.yaml" if not known.multi else f"{CHAIN}-{known.changed}.yaml"
    assert f"apply {yaml_file}" in order, "the new node's objects are never applied"
    assert f"wait {CHAIN}-{known.changed}" in order, "nothing waits for the new pod"
    apply_at, wait_at = order.index(f"apply {yaml_file}"), order.index(f"wait {CHAIN}-{known.changed}")
    assert apply_at < wait_at
    for pod in old_pods:
        assert sorted(played.copied.get(pod, [])) == ["config/config.xml", "network-config.toml"], pod
        assert order.index(f"cp {pod} network-config.toml") > apply_at, "a peer list names a Service not there yet"
        assert played.learned.get(pod) == {new.device_id}, pod
        assert played.shared.get(pod) == {(folder, new.device_id) for folder in ("blocks", "proposals", "txs")}
        assert order.index(f"syncthing {pod}") < apply_at, "syncthing must know the device before it dials"
    assert played.votes == [("add_validator", new.address)]
    assert order.index("wait_synced") < order.index("add_validator")
    # Issue 25: the vote makes a voter that does not keep up yet, so every old one must (docs, "Seeded join").
    steady = [at for at, name in enumerate(order[: order.index("add_validator")]) if name == "in_step"]
    assert steady, "nothing checks the old nodes keep up before the vote"
    asked = played.in_step[len(steady) - 1]
    old_nodes = [f"{CHAIN}-{index}" for index in known.nodes if index != known.changed]
    assert len(asked) == len(old_nodes) and (known.multi or sorted(asked) == old_nodes), asked
    assert "apply" not in " ".join(order[steady[-1] : order.index("add_validator")])
    assert played.replayed == [new_pod]
    assert order.index(f"replay {new_pod}") > order.index("add_validator")
    assert played.deleted == []
    assert len(played.storage) >= (0 if known.multi else 1)


def assert_removes(case: Case, played: Played, objects: set[tuple[str, str]]) -> None:
    known = case.known
    gone = known.nodes[known.changed]
    others = [f"{CHAIN}-{index}-0" for index in known.nodes if index != known.changed]
    order = played.order
    assert played.strict
    assert played.votes == [("remove_validator", gone.address)]
    assert order.index("remove_validator") < order.index("delete")
    for pod in others:
        assert sorted(played.copied.get(pod, [])) == ["config/config.xml", "network-config.toml"], pod
        assert played.forgot.get(pod) == {gone.device_id}, pod
        assert played.unshared.get(pod) == {(folder, gone.device_id) for folder in ("blocks", "proposals", "txs")}, pod
        assert order.index(f"cp {pod} network-config.toml") < order.index("delete"), "the peer list outlives the name"
    assert set(played.deleted) == objects
    assert "wait_synced" in order[order.index("delete") :], "nothing checks the chain goes on"


def node_objects_before(case: Case, index: int) -> set[tuple[str, str]]:
    """What the chain had of node `index` (the expectation, from the YAML that ran before)."""
    name = re.compile(re.escape(CHAIN) + rf"-{index}(-.*)?")
    kinds = {"StatefulSet": "StatefulSet", "Service": "Service", "Secret": "Secret", "NetworkPolicy": "NetworkPolicy"}
    return {
        (kinds[kind], object_name)
        for objects in case.known.before.values()
        for kind, object_name in objects
        if name.fullmatch(object_name)
    }


@pytest.fixture(scope="module")
def local_add(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return local_case(tmp_path_factory.mktemp("local-add"))


@pytest.fixture(scope="module")
def multi_add(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return multi_case(tmp_path_factory.mktemp("multi-add"))


def test_the_local_add_plan(local_add: Case):
    assert_adds(local_add, local_add.play())


def test_a_monitored_chains_add_plan(tmp_path: Path):
    case = local_case(tmp_path, "--need_monitor")
    assert_adds(case, case.play())


def test_the_multi_cluster_add_plan_runs_in_each_clusters_context(multi_add: Case):
    played = multi_add.play()
    assert_adds(multi_add, played)
    assert played.applied[:2] == ["cluster3-pvc.yaml", f"{CHAIN}-3.yaml"]


@pytest.mark.parametrize("monitor", [False, True], ids=["plain", "monitored"])
def test_the_local_remove_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, monitor: bool):
    case = local_case(tmp_path, *(["--need_monitor"] if monitor else []), remove=True, monkeypatch=monkeypatch)
    expected = node_objects_before(case, 1)
    assert ("Service", f"{CHAIN}-1-monitor") in expected if monitor else ("Service", f"{CHAIN}-1-executor") in expected
    assert_removes(case, case.play(), expected)


def test_the_multi_cluster_remove_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    case = multi_case(tmp_path, remove=True, monkeypatch=monkeypatch)
    played = case.play()
    assert_removes(case, played, node_objects_before(case, 2))
    assert sorted(played.applied) == [f"{CHAIN}-0.yaml", f"{CHAIN}-1.yaml"]  # the policies record the retired index


# --- mutations: what a broken planner would print, each caught ---------------------------------------


def drop(pattern: str) -> Callable[[str], str]:
    return lambda text: "\n".join(line for line in text.splitlines() if not re.search(pattern, line)) + "\n"


def replace(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return mutate


def move_before(moved: str, anchor: str) -> Callable[[str], str]:
    """Every line matching `moved` put just before the first line matching `anchor`."""

    def mutate(text: str) -> str:
        lines = text.splitlines()
        taken = [line for line in lines if re.search(moved, line)]
        rest = [line for line in lines if not re.search(moved, line)]
        at = next(number for number, line in enumerate(rest) if re.search(anchor, line))
        return "\n".join(rest[:at] + taken + rest[at:]) + "\n"

    return mutate


def device_without_addresses(text: str) -> str:
    return re.sub(r',"addresses":\["[^"]*"\]', "", text)


ADD_MUTATIONS: dict[str, Callable[[str], str]] = {
    "no kubectl apply": drop(r"^kubectl (--context \S+ )?apply -f test-chain(-3)?\.yaml"),
    "no replay wait": drop(r"timeout 900 sh -c"),
    "a syncthing device without addresses": device_without_addresses,
    "no wait for the new pod": drop(r"rollout status"),
    "peer lists before the Service": move_before(
        r"network-config\.toml", r"^kubectl (--context \S+ )?apply -f test-chain"
    ),
    "no set -e": drop(r"^set -euo pipefail"),
    "the vote as a comment": lambda text: re.sub(
        r"^(?!#)(.*manage_chain\.py add_validator)", r"# \1", text, flags=re.M
    ),
    "a vote without --if_needed": replace(" --if_needed", ""),
    "a kubectl flag kubectl lacks": replace(" -c controller", " --containr controller"),
    "another node's address in the vote": lambda text: re.sub(
        r"(add_validator 0x)[0-9a-f]{40}", r"\g<1>" + "0" * 40, text
    ),
    "the shell cannot read it": replace("kubectl apply", "kubectl apply )"),
    "no in-step wait before the vote": replace(" --interval 1 --in_step 15", ""),
    "the in-step wait asks only two old nodes": replace(
        "--rpc 127.0.0.1:28100,127.0.0.1:28101,", "--rpc 127.0.0.1:28101,"
    ),
}


@pytest.mark.parametrize("name", sorted(ADD_MUTATIONS))
def test_a_broken_local_add_plan_is_caught(local_add: Case, name: str):
    mutated = ADD_MUTATIONS[name](local_add.text)
    assert mutated != local_add.text
    with pytest.raises((PlanError, AssertionError, ValueError, StopIteration)):
        assert_adds(local_add, local_add.play(mutated))


MULTI_MUTATIONS: dict[str, Callable[[str], str]] = {
    "a command without its context": replace("kubectl --context black apply", "kubectl apply"),
    "the claim made in another cluster": replace(
        "--context black apply -f cluster3-pvc.yaml", "--context red apply -f cluster3-pvc.yaml"
    ),
    "the vote as a comment": lambda text: re.sub(
        r"^(?!#)(.*manage_chain\.py add_validator)", r"# \1", text, flags=re.M
    ),
    "another cluster's context": replace("kubectl --context red exec", "kubectl --context green exec"),
    "no kubectl apply": drop(r"apply -f test-chain-3\.yaml"),
    "no replay wait": drop(r"timeout 900 sh -c"),
}


@pytest.mark.parametrize("name", sorted(MULTI_MUTATIONS))
def test_a_broken_multi_add_plan_is_caught(multi_add: Case, name: str):
    mutated = MULTI_MUTATIONS[name](multi_add.text)
    assert mutated != multi_add.text
    with pytest.raises((PlanError, AssertionError, ValueError, StopIteration)):
        assert_adds(multi_add, multi_add.play(mutated))


REMOVE_MUTATIONS: dict[str, Callable[[str], str]] = {
    "an invalid kind": replace("statefulset/test-chain-1 ", "XXnetworkpolicyXX/test-chain-1 "),
    "an object the chain does not have": replace("service/test-chain-1 ", "service/test-chain-1 service/test-chain-7 "),
    "another node's StatefulSet": replace("statefulset/test-chain-1 ", "statefulset/test-chain-0 "),
    "no delete": drop(r"kubectl delete"),
    "the Service gone before the peer lists": move_before(r"kubectl delete", r"network-config\.toml"),
    "syncthing keeps the device": drop(r"devices list \| grep"),
    "no check that the chain goes on": lambda text: (
        text[: text.rindex("manage_chain.py status")].rsplit("\n", 1)[0] + "\n"
    ),
}


@pytest.mark.parametrize("name", sorted(REMOVE_MUTATIONS))
def test_a_broken_local_remove_plan_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str):
    case = local_case(tmp_path, remove=True, monkeypatch=monkeypatch)
    expected = node_objects_before(case, 1)
    assert_removes(case, case.play(), expected)  # the control
    mutated = REMOVE_MUTATIONS[name](case.text)
    assert mutated != case.text
    with pytest.raises((PlanError, AssertionError, ValueError, StopIteration)):
        assert_removes(case, case.play(mutated), expected)


def test_the_parser_reads_the_words_bash_passes():
    from tests.planparse import invocations, shell_script

    found = invocations("set -euo pipefail\nkubectl get x/y >/dev/null 2>&1 || { a && b 'c d'; }\nsleep 1 &\n")
    assert [(step.words, step.guard, step.background) for step in found] == [
        (("set", "-euo", "pipefail"), False, False),
        (("kubectl", "get", "x/y"), True, False),
        (("a",), False, False),
        (("b", "c d"), False, False),
        (("sleep", "1"), False, True),
    ]
    assert shell_script('for f in a b; do x "$f" "$0" || exit 1; done', ["zero"]) == [
        ("x", "a", "zero"),
        ("exit", "1"),
        ("x", "b", "zero"),
        ("exit", "1"),
    ]


def test_a_node_read_from_its_folder(local_add: Case):
    node: Node = local_add.known.nodes[3]
    assert node.sync_address == f"tcp://{CHAIN}-3:22000" and node.peer_host == f"{CHAIN}-3"


# --- v6.7.4 (issue 24): the plain and the seeded add plan ------------------------------------------------------


def v6_case(tmp: Path, *argv: str, view: tuple[list[int], int] | None = None) -> Case:
    """add_node on a four-node v6.7.4 overlord chain; `view`: the validators' indices and the height the chain
    answers --seed_from's question with."""
    from runner_k8s.day2.seeding import ChainView

    work = tmp / "work"
    make = ["local_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--peers_count", "4", "--pvc_name", "pvc"]
    assert create_k8s_config.main([*make, "--work_dir", str(work)], fixed_runtime("v6 plans")) == 0
    assert create_pvc.main(["local_pvc", "--pvc_name", "pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    before = yaml_files(work, tmp / "before")
    folder = work / "cita-cloud" / CHAIN
    if view is not None:
        keys = ["0x" + (folder / f"node{index}" / "validator_address").read_text() for index in view[0]]
        original = membership_flags.chain_view
        membership_flags.chain_view = lambda rpc, seed_rpc: ChainView(keys, {"a": view[1]}, view[1])
        try:
            run(work, "add_node", *argv)
        finally:
            membership_flags.chain_view = original
    else:
        run(work, "add_node", *argv)
    nodes = {
        index: Node(index, "0x" + (folder / f"node{index}" / "node_address").read_text(), "", f"{CHAIN}-{index}", "")
        for index in range(5)
    }
    objects = {(doc["kind"], doc["metadata"]["name"]): doc for path in before.values() for doc in documents(path)}
    known = Facts(CHAIN, work, dict.fromkeys(range(5)), {None: objects}, nodes, 4, True)
    return Case((work / f"{CHAIN}-plan.sh").read_text(), known)


def assert_v6_adds(case: Case, played: Played) -> None:
    """One apply, the new pod waited for, a wait that sees every peer list before the vote, no exec and no cp."""
    order = played.order
    assert played.strict
    assert played.applied == [f"{CHAIN}.yaml"], "the chain's YAML is applied once"
    apply_at, wait_at = order.index(f"apply {CHAIN}.yaml"), order.index(f"wait {CHAIN}-4")
    assert any(step.startswith("storage") for step in order[:apply_at]), "node4's folder is not on the storage"
    assert apply_at < wait_at < order.index("wait_synced", wait_at) < order.index("add_validator")
    assert played.votes == [("add_validator", case.known.nodes[4].address)]
    assert "wait_synced" in order[order.index("add_validator") :], "nothing checks the chain goes on"
    assert played.copied == {} and played.replayed == [] and played.deleted == []


def assert_v6_seeds(case: Case, played: Played) -> None:
    """The plain plan's steps, and before node4 starts: node1 checked, stopped, copied, started and caught up."""
    assert_v6_adds(case, played)
    order = played.order
    stop, gone, copy = order.index(f"scale {CHAIN}-1 0"), order.index(f"gone {CHAIN}-1-0"), order.index("seed copy")
    start, ready = order.index(f"scale {CHAIN}-1 1"), order.index(f"wait {CHAIN}-1")
    assert order.index("wait_synced") < stop, "nothing checks the seed is at the head before it stops"
    assert stop < gone < copy < start < ready, order
    assert "wait_synced" in order[ready : order.index(f"apply {CHAIN}.yaml")], "node1 never waited for"
    assert played.scaled == [(f"{CHAIN}-1", 0), (f"{CHAIN}-1", 1)]


@pytest.fixture(scope="module")
def v6_seeded(tmp_path_factory: pytest.TempPathFactory) -> Case:
    argv = ("--seed_from", "1", "--rpc", "127.0.0.1:1", "--seed_rpc", "127.0.0.1:2")
    return v6_case(tmp_path_factory.mktemp("v6-seeded"), *argv, view=([0, 1, 2, 3], 5000))


def test_the_v6_add_plan(tmp_path: Path):
    case = v6_case(tmp_path)
    played = case.play()
    assert_v6_adds(case, played)
    assert played.scaled == [] and "seed copy" not in played.order


def test_the_seeded_v6_add_plan(v6_seeded: Case):
    assert_v6_seeds(v6_seeded, v6_seeded.play())
    assert "# seeded from node1 (3 of 4 validators keep voting): at height 5000" in v6_seeded.text


V6_SEED_MUTATIONS: dict[str, Callable[[str], str]] = {
    "no kubectl apply": drop(rf"^kubectl apply -f {CHAIN}\.yaml"),
    "the vote as a comment": lambda text: re.sub(
        r"^(?!#)(.*manage_chain\.py add_validator)", r"# \1", text, flags=re.M
    ),
    "a vote without --if_needed": replace(" --if_needed", ""),
    "no stop": drop(r"--replicas=0"),
    "no wait until the pod is gone": drop(r"wait --for=delete"),
    "the copy before the stop": move_before(r"sudo sh -c", r"--replicas=0"),
    "node1 never started again": drop(r"--replicas=1"),
    "node1 not waited for": drop(rf"rollout status statefulset/{CHAIN}-1 "),
    "a port-forward to node1 before it is back": move_before(r"node1 has caught up", rf"statefulset/{CHAIN}-1 --t"),
    "no check before the stop": drop(r"node1 is at the head"),
    "scales a node the chain lacks": replace(
        f"scale statefulset/{CHAIN}-1 --replicas=0", f"scale statefulset/{CHAIN}-9 --replicas=0"
    ),
}


@pytest.mark.parametrize("name", sorted(V6_SEED_MUTATIONS))
def test_a_broken_seeded_v6_plan_is_caught(v6_seeded: Case, name: str):
    mutated = V6_SEED_MUTATIONS[name](v6_seeded.text)
    assert mutated != v6_seeded.text
    with pytest.raises((PlanError, AssertionError, ValueError, StopIteration)):
        assert_v6_seeds(v6_seeded, v6_seeded.play(mutated))
