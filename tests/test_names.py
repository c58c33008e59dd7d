"""The object-name and output-path scheme is injective across chains and both subcommands (hypothesis)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from runner_k8s import names
from runner_k8s.create.rules import check_chain_name
from runner_k8s.errors import UsageError
from runner_k8s.releases.v5_0_0.manifests import local_manifests, multi_node_manifests
from runner_k8s.releases.v5_0_0.pods import NodePod
from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config
from tests.conftest import REPO

# A chaincode_ext config, with monitor and debug on: the largest set of objects a chain can get.
EXT = load_service_config(REPO / "tests" / "data" / "chaincode-service-config.toml")
EXT = type(EXT)(EXT.services, EXT.kms_flavour, type(EXT.executor_kind).CHAINCODE_EXT)
LOCAL, MULTI = "local_cluster", "multi_cluster"
chain_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,14}[a-z0-9])?\Z")
# Suffixes and prefixes that make one chain's name look like another chain's object names.
tails = st.sampled_from(
    ["-0", "-1", "-10", "-0-executor", "-executor", "-monitor", "-kms-secret", "-node-port", "-node", "-admin", "-lb"]
)
heads = st.sampled_from(["executor-", "monitor-", "all-", "kms-secret-", "node-"])


def pods(chain: str, count: int) -> list[NodePod]:
    secret = names.kms_secret(chain)
    return [NodePod(chain, i, EXT, "pvc", secret, True, True, "user") for i in range(count)]


def objects(chain: str, count: int, subcommand: str) -> set[tuple[str, str]]:
    """(kind, name) of every object the chain gets, its pods included."""
    if subcommand == LOCAL:
        documents = list(
            local_manifests(
                pods(chain, count), kms_password="p", state_db_password="d", node_port=30004, network_keys=["k"] * count
            )
        )
    else:
        documents = [
            document
            for pod in pods(chain, count)
            for document in multi_node_manifests(
                pod, kms_password="p", state_db_password="d", network_key="k", base=30000, lb_token="lb"
            )
        ]
    found = {(document["kind"], document["metadata"]["name"]) for document in documents}
    found |= {("Pod", f"{name}-0") for kind, name in found if kind == "StatefulSet"}
    return found


def outputs(chain: str, count: int, subcommand: str) -> set[PurePosixPath]:
    """Every path the run writes into --work_dir (its roots and each node folder)."""
    roots = names.local_outputs(chain) if subcommand == LOCAL else names.multi_outputs(chain, count)
    return {PurePosixPath(root) for root in roots} | {
        PurePosixPath(names.node_dir(chain, index)) for index in range(count)
    }


def shared(first: tuple[str, int, str], second: tuple[str, int, str]) -> list[object]:
    """What two runs would both claim: equal object names of one kind, equal or nested output paths."""
    clashes: list[object] = list(sorted(objects(*first) & objects(*second)))
    for one in outputs(*first):
        for other in outputs(*second):
            if one == other or one in other.parents or other in one.parents:
                clashes.append((one, other))
    return clashes


def valid(chain: str, count: int) -> bool:
    try:
        check_chain_name(chain, count)
    except UsageError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    first=chain_names,
    second=st.one_of(
        chain_names, st.tuples(chain_names, tails).map("".join), st.tuples(heads, chain_names).map("".join)
    ),
    derive=st.sampled_from(["free", "tail", "head"]),
    tail=tails,
    head=heads,
    counts=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    subcommands=st.tuples(st.sampled_from([LOCAL, MULTI]), st.sampled_from([LOCAL, MULTI])),
)
@example("a", "executor-a", "free", "-0", "all-", (2, 2), (LOCAL, LOCAL))
@example("x", "x-0", "free", "-0", "all-", (1, 1), (MULTI, LOCAL))
@example("a", "all-a", "free", "-0", "all-", (1, 1), (MULTI, MULTI))
@example("a", "a-0-executor", "free", "-0", "all-", (1, 1), (LOCAL, LOCAL))
def test_two_chains_never_share_a_name_or_a_path(first, second, derive, tail, head, counts, subcommands):
    if derive == "tail":
        second = first + tail
    elif derive == "head":
        second = head + first
    assume(first != second and valid(first, counts[0]) and valid(second, counts[1]))
    clashes = shared((first, counts[0], subcommands[0]), (second, counts[1], subcommands[1]))
    assert not clashes, clashes


def test_the_check_finds_the_collisions_the_rules_prevent():
    """Without the chain-name rule, local chain x-0 and multi chain x would both own x-0.yaml and the names."""
    clashes = shared(("x-0", 1, LOCAL), ("x", 1, MULTI))
    assert (PurePosixPath("x-0.yaml"), PurePosixPath("x-0.yaml")) in clashes
    assert not valid("x-0", 1)


@pytest.mark.parametrize(
    ("old", "chain", "other"),
    [("executor-a-0", "a", "executor-a"), ("monitor-a-0", "a", "monitor-a"), ("all-a-0", "a", "all-a")],
)
def test_the_original_prefixes_no_longer_collide(old, chain, other):
    """The issue's examples: `executor-a-0` was chain a's executor Service and chain executor-a's node Service."""
    mine = {name for _, name in objects(chain, 1, LOCAL) | objects(chain, 1, MULTI)}
    theirs = {name for _, name in objects(other, 1, LOCAL) | objects(other, 1, MULTI)}
    assert old not in mine
    assert f"{other}-0" in theirs
    assert not (objects(chain, 1, LOCAL) & objects(other, 1, LOCAL))


@pytest.mark.parametrize(
    ("chain", "ok"), [("a-b", True), ("a1", True), ("a-1b", True), ("a-1", False), ("a-00", False)]
)
def test_chain_names_may_not_end_like_a_node(chain, ok):
    assert valid(chain, 1) is ok


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("chain-0.yaml", True),
        ("chain-9.yaml", True),
        ("chain-10.yaml", True),
        ("chain-01.yaml", False),
        ("chain.yaml", False),
        ("chain-.yaml", False),
        ("chain-0.YAML", False),
        ("chain-0.yml", False),
        ("chain-0.yaml.bak", False),
        ("other-0.yaml", False),
        ("chainX0.yaml", False),
    ],
)
def test_a_multi_cluster_node_file_is_recognised_by_its_whole_name(file_name: str, expected: bool):
    from runner_k8s.names import is_multi_yaml

    assert is_multi_yaml("chain", file_name) is expected
