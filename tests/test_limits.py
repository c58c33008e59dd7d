"""Every limit at its edge: the last value that passes, the first that fails, the exact numbers in the message.

Expectations come from contracts.md and the README's formulas (and the name table in tests/inputs.py),
never from the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chains import load_documents, read_toml
from tests.conftest import REPO
from tests.inputs import (
    DNS_LABEL_MAX,
    LOCAL_NAME_FORMATS,
    MULTI_NAME_FORMATS,
    TIMESTAMP_MS,
    MultiArgs,
    assert_refused_in_process,
    local_argv,
    longest_chain_name,
    run_main,
)


def test_name_table_gives_the_known_limits():
    """The table itself, checked by hand: `<chain>-<i>-network-secret` is the longest name."""
    assert longest_chain_name(LOCAL_NAME_FORMATS, 2) == 63 - len("-1-network-secret") == 46
    assert longest_chain_name(LOCAL_NAME_FORMATS, 11) == 45
    assert longest_chain_name(MULTI_NAME_FORMATS, 10) == 46


def chain_of(length: int) -> str:
    return ("c" + "hain-name-x" * 10)[: length - 1] + "z"


def all_object_names(work: Path, pattern: str) -> list[str]:
    return [doc["metadata"]["name"] for path in sorted(work.glob(pattern)) for doc in load_documents(path)]


# (node count) pairs that straddle the 9 -> 10 digit rollover of the last node index.
ROLLOVER = [1, 2, 10, 11]


@pytest.mark.parametrize("count", ROLLOVER)
def test_local_longest_chain_name_passes_and_one_more_fails(tmp_path: Path, capsys, count: int):
    limit = longest_chain_name(LOCAL_NAME_FORMATS, count)
    ok = run_main(local_argv(tmp_path / "ok", "--chain_name", chain_of(limit), count=count), capsys)
    assert ok.code == 0, ok.stderr
    object_names = all_object_names(tmp_path / "ok", "*.yaml")
    assert max(len(name) for name in object_names) == DNS_LABEL_MAX
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        local_argv(bad, "--chain_name", chain_of(limit + 1), count=count), capsys, bad, 2, "too long"
    )
    assert f"at most {limit} characters" in message and f"exceed {DNS_LABEL_MAX}" in message


@pytest.mark.parametrize("count", [1, 10, 11])
def test_multi_longest_chain_name_passes_and_one_more_fails(tmp_path: Path, capsys, count: int):
    limit = longest_chain_name(MULTI_NAME_FORMATS, count)
    ok = MultiArgs(tmp_path / "ok", count)
    outcome = run_main(ok.argv("--chain_name", chain_of(limit)), capsys)
    assert outcome.code == 0, outcome.stderr
    object_names = all_object_names(tmp_path / "ok", "*.yaml")
    assert max(len(name) for name in object_names) == DNS_LABEL_MAX
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        MultiArgs(bad, count).argv("--chain_name", chain_of(limit + 1)), capsys, bad, 2, "too long"
    )
    assert f"at most {limit} characters" in message and f"exceed {DNS_LABEL_MAX}" in message


def node_ports(work: Path, chain: str = "test-chain") -> dict[str, list[int]]:
    """Service name -> its NodePorts, read from the YAML."""
    return {
        doc["metadata"]["name"]: [port["nodePort"] for port in doc["spec"]["ports"]]
        for doc in load_documents(work / f"{chain}.yaml")
        if doc["kind"] == "Service" and doc["spec"]["type"] == "NodePort"
    }


def test_readme_port_table_three_nodes_all_features(tmp_path: Path, capsys):
    """README "NodePorts": base 30004, three nodes -> 30004 ... 30019, each number written out."""
    chaincode = tmp_path / "cc.toml"
    chaincode.write_text(
        (Path(__file__).parent.parent / "service-config.toml")
        .read_text()
        .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode")
    )
    argv = local_argv(tmp_path, "--need_monitor", "--service_config", str(chaincode), count=3)
    assert run_main(argv, capsys).code == 0
    assert node_ports(tmp_path) == {
        "test-chain-node-port": [30004],
        "test-chain-0-monitor": [30005, 30006],
        "test-chain-0-executor": [30009, 30007, 30008],
        "test-chain-1-monitor": [30010, 30011],
        "test-chain-1-executor": [30014, 30012, 30013],
        "test-chain-2-monitor": [30015, 30016],
        "test-chain-2-executor": [30019, 30017, 30018],
    }


@pytest.mark.parametrize("count", [1, 4])
def test_node_port_top_edge_32767_passes_32768_fails(tmp_path: Path, capsys, count: int):
    # The highest port is node (count-1)'s call port: base + 5 + 5 * (count - 1).
    last_base = 32767 - 5 * count
    work = tmp_path / "ok"
    assert run_main(local_argv(work, "--node_port", str(last_base), count=count), capsys).code == 0
    assert max(port for ports in node_ports(work).values() for port in ports) == 32767
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        local_argv(bad, "--node_port", str(last_base + 1), count=count), capsys, bad, 2, "NodePort 32768"
    )
    assert f"(call of node{count - 1}) is outside 30000-32767" in message
    assert f"use a --node_port between 30000 and {last_base}" in message


def test_node_port_bottom_edge_30000_passes_29999_fails(tmp_path: Path, capsys):
    work = tmp_path / "ok"
    assert run_main(local_argv(work, "--node_port", "30000", count=1), capsys).code == 0
    assert node_ports(work)["test-chain-node-port"] == [30000]
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        local_argv(bad, "--node_port", "29999", count=1), capsys, bad, 2, "NodePort 29999 (rpc of node0)"
    )
    assert "is outside 30000-32767; use a --node_port between 30000 and 32762" in message


def test_default_range_holds_553_nodes_not_554(tmp_path: Path, capsys):
    """README: "The default range holds up to 553 nodes". 30000 + 5 * 553 = 32765 <= 32767 < 32770."""
    from runner_k8s.create.spec import build_local_spec

    config = Path(__file__).parent.parent / "service-config.toml"
    common: dict[str, Any] = {
        "chain_name": "c",
        "block_delay_number": 0,
        "kms_password": "pw",
        "state_db_user": "u",
        "state_db_password": "p",
        "service_config": config,
        "node_port": 30000,
        "node_port_range": "30000-32767",
        "need_monitor": True,
        "need_debug": False,
        "pvc_name": "p",
        "enable_tls": True,
    }
    assert build_local_spec(peers_count=553, **common).peers_count == 553
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        local_argv(bad, "--chain_name", "c", "--node_port", "30000", count=554), capsys, bad, 2, "554 nodes need"
    )
    assert message.endswith(
        "554 nodes need 2771 NodePorts, more than 30000-32767 holds; use fewer nodes or widen "
        "--node_port_range to the cluster's --service-node-port-range\n"
    )


@pytest.mark.parametrize(
    ("port_range", "base", "highest"),
    [
        ("30000-30005", "30000", 30005),  # one node needs exactly six NodePorts: rpc and five slots
        ("1-65535", "65530", 65535),
        ("1-65535", "1", 6),
        ("00001-65535", "1", 6),  # five digits each, leading zeros and all
        (" 30000 - 30005 ", "30000", 30005),  # spaces around the numbers are allowed
    ],
)
def test_node_port_range_last_passing(tmp_path: Path, capsys, port_range: str, base: str, highest: int):
    argv = local_argv(tmp_path, "--node_port_range", port_range, "--node_port", base, count=1)
    outcome = run_main(argv, capsys)
    assert outcome.code == 0, outcome.stderr
    assert sorted(port for ports in node_ports(tmp_path).values() for port in ports) == [int(base), highest]


@pytest.mark.parametrize(
    ("port_range", "base", "message"),
    [
        ("30000-30000", "30000", "1 nodes need 6 NodePorts, more than 30000-30000 holds"),
        ("30000-30004", "30000", "1 nodes need 6 NodePorts, more than 30000-30004 holds"),
        (  # exactly six ports: the chain fits, only the base is off
            "30000-30005",
            "30001",
            "NodePort 30006 (call of node0) is outside 30000-30005; use a --node_port between 30000 and 30000",
        ),
        (
            "1-65535",
            "65531",
            "NodePort 65536 (call of node0) is outside 1-65535; use a --node_port between 1 and 65530",
        ),
        ("1-65535", "0", "argument --node_port: '0' must be at least 1"),
        ("1-65536", "30004", "--node_port_range '1-65536' is not MIN-MAX within 1-65535"),
        ("0-65535", "30004", "--node_port_range '0-65535' is not MIN-MAX within 1-65535"),
        ("32767-30000", "30004", "--node_port_range '32767-30000' is not MIN-MAX"),
        ("30000", "30004", "--node_port_range '30000' is not MIN-MAX"),
        ("a-b", "30004", "--node_port_range 'a-b' is not MIN-MAX"),
        ("030000-32767", "30004", "--node_port_range '030000-32767' is not MIN-MAX"),  # six digits
        ("30000-032767", "30004", "--node_port_range '30000-032767' is not MIN-MAX"),
        ("30000\t-32767", "30004", "--node_port_range '30000\\t-32767' is not MIN-MAX"),  # only spaces are trimmed
        ("30000-\t32767", "30004", "--node_port_range '30000-\\t32767' is not MIN-MAX"),
        ("30000X-32767", "30004", "--node_port_range '30000X-32767' is not MIN-MAX"),
        ("30000-32767X", "30004", "--node_port_range '30000-32767X' is not MIN-MAX"),
        ("X30000-32767", "30004", "--node_port_range 'X30000-32767' is not MIN-MAX"),
        ("30000-X32767", "30004", "--node_port_range '30000-X32767' is not MIN-MAX"),
    ],
)
def test_node_port_range_first_failing(tmp_path: Path, capsys, port_range: str, base: str, message: str):
    argv = local_argv(tmp_path, "--node_port_range", port_range, "--node_port", base, count=1)
    assert_refused_in_process(argv, capsys, tmp_path, 2, message)


MULTI_SLOTS = {  # README "LoadBalancer ports": name -> (offset from base, container port)
    "network": (0, 40000),
    "sync": (1, 22000),
    "rpc": (2, 50004),
    "call": (3, 50002),
    "process": (4, 9256),
    "exporter": (5, 9349),
    "debug": (8, 9999),
}


@pytest.mark.parametrize("base", [1, 65527, "00001", "65527"])
def test_multi_base_port_last_passing(tmp_path: Path, capsys, base: int | str):
    args = MultiArgs(tmp_path, 1, {"--node_ports": str(base)})
    base = int(base)  # at most five digits, leading zeros allowed
    outcome = run_main(args.argv("--need_monitor", "--need_debug"), capsys)
    assert outcome.code == 0, outcome.stderr
    service = load_documents(tmp_path / "test-chain-0.yaml")[-1]
    ports = {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
    assert ports == {name: (base + offset, target) for name, (offset, target) in MULTI_SLOTS.items()}
    assert max(port for port, _ in ports.values()) <= 65535


@pytest.mark.parametrize(
    "base", ["0", "65528", "65535", "65536", "-1", "+1", "1e3", " 30000x", "²", "３００００", "000001", "030000"]
)
def test_multi_base_port_first_failing(tmp_path: Path, capsys, base: str):
    args = MultiArgs(tmp_path, 2, {"--node_ports": f"30000,{base}"})
    entry = base.strip()  # the comma list drops surrounding spaces
    message = assert_refused_in_process(args.argv(), capsys, tmp_path, 2, f"--node_ports entry 1 ({entry!r})")
    assert message.endswith("must be a whole number from 1 to 65527: each node reserves 9 consecutive ports from it\n")


def test_multi_peers_use_each_nodes_own_base(tmp_path: Path, capsys):
    args = MultiArgs(tmp_path, 3, {"--node_ports": "1,65527,30000"})
    assert run_main(args.argv(), capsys).code == 0
    hosts = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    bases = [1, 65527, 30000]
    for index in range(3):
        network = read_toml(tmp_path / "cita-cloud" / "test-chain" / f"node{index}" / "network-config.toml")
        assert network["peers"] == [{"ip": hosts[j], "port": bases[j]} for j in range(3) if j != index]
        genesis = read_toml(tmp_path / "cita-cloud" / "test-chain" / f"node{index}" / "genesis.toml")
        assert genesis["timestamp"] == TIMESTAMP_MS, "--timestamp, not the clock"


@pytest.mark.parametrize("subcommand", ["local_cluster", "multi_cluster"])
@pytest.mark.parametrize("length", [63, 64])
def test_chain_name_of_63_or_more_gets_the_length_message(tmp_path: Path, capsys, subcommand: str, length: int):
    chain = "a" * length
    argv = local_argv(tmp_path) if subcommand == "local_cluster" else MultiArgs(tmp_path).argv()
    message = assert_refused_in_process([*argv, "--chain_name", chain], capsys, tmp_path, 2, "is too long")
    assert "use a chain name of at most 46 characters" in message


def long_dns_name(length: int) -> str:
    """A DNS name of `length` characters made of labels of at most 63."""
    labels, left = [], length
    while left > 0:
        size = min(63, left)
        labels.append("a" * size)
        left -= size + 1
    name = ".".join(labels)
    return name if len(name) == length else name[:length]


@pytest.mark.parametrize("subcommand", ["local_cluster", "multi_cluster"])
def test_pvc_name_253_passes_254_fails(tmp_path: Path, capsys, subcommand: str):
    def argv(work: Path, pvc: str) -> list[str]:
        if subcommand == "local_cluster":
            return local_argv(work, "--pvc_name", pvc, count=1)
        return MultiArgs(work, 1, {"--pvc_names": pvc}).argv()

    assert len(long_dns_name(253)) == 253 and len(long_dns_name(254)) == 254
    ok = run_main(argv(tmp_path / "ok", long_dns_name(253)), capsys)
    assert ok.code == 0, ok.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(argv(bad, long_dns_name(254)), capsys, bad, 2, "is 254 characters long")
    flag = "--pvc_name" if subcommand == "local_cluster" else "--pvc_names entry 0"
    assert message.endswith(
        f"error: {flag} {'a' * 20!r}... is 254 characters long; a Kubernetes name has at most 253\n"
    )


def test_node_host_253_passes_254_fails(tmp_path: Path, capsys):
    ok = run_main(MultiArgs(tmp_path / "ok", 1, {"--nodes": long_dns_name(253)}).argv(), capsys)
    assert ok.code == 0, ok.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    message = assert_refused_in_process(
        MultiArgs(bad, 1, {"--nodes": long_dns_name(254)}).argv(), capsys, bad, 2, "is 254 characters long"
    )
    assert message.endswith(
        f"error: --nodes entry 0 {'a' * 20!r}... is 254 characters long; a DNS name has at most 253\n"
    )


@pytest.mark.parametrize(
    ("chain", "suggestion"),
    [
        ("Test_Chain", "test-chain"),
        ("my chain!", "my-chain"),
        ("1st-chain", "st-chain"),
        ("-a-", "a"),
        ("__", "my-chain"),
        ("42", "my-chain"),
        ("a--b-", "a--b"),
    ],
)
def test_invalid_chain_name_gets_a_valid_suggestion(tmp_path: Path, capsys, chain: str, suggestion: str):
    message = assert_refused_in_process(
        local_argv(tmp_path, f"--chain_name={chain}"), capsys, tmp_path, 2, f"(for example {suggestion!r})"
    )
    assert "is not valid" in message


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("fe80::1%eth0", "--nodes 'fe80::1%eth0' has a zone (%...), which other hosts cannot use; drop it"),
        (
            "10.0.0.256",
            "--nodes '10.0.0.256' is not an IPv4 address (four numbers 0-255 without leading zeros), "
            "and a name cannot end in a number",
        ),
        (
            "bü.12",  # the last label decides, whatever comes before it
            "--nodes 'bü.12' is not an IPv4 address (four numbers 0-255 without leading zeros), "
            "and a name cannot end in a number",
        ),
        ("bü.１２", "--nodes 'bü.１２' is neither an IP address nor a DNS name"),  # not ASCII digits
        ("node.example", None),
        ("node.1a", None),
        ("NODE.Example", None),
        ("2001:DB8::0:1", None),
    ],
)
def test_a_host_is_an_ip_address_or_a_dns_name_not_ending_in_a_number(host: str, message: str | None):
    from runner_k8s.create.rules import check_host
    from runner_k8s.errors import UsageError

    if message is None:
        assert check_host(host, "--nodes") in ("node.example", "node.1a", "2001:db8::1")
        return
    with pytest.raises(UsageError) as refused:
        check_host(host, "--nodes")
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("64Mi", 64 * 2**20), ("1Gi", 2**30), ("500M", 500 * 10**6), ("lots", None), ("", None)],
)
def test_memory_quantities_are_read_in_bytes(text: str, size: int | None):
    from runner_k8s.kube.resources import memory_bytes

    assert memory_bytes(text) == size


def test_a_timestamp_in_seconds_gets_its_value_in_milliseconds_as_the_hint(tmp_path: Path, capsys):
    argv = MultiArgs(tmp_path, 1).argv("--timestamp", "1700000000")  # a multi_cluster flag
    assert_refused_in_process(
        argv,
        capsys,
        tmp_path,
        2,
        "--timestamp 1700000000 is before 1973 when read as milliseconds, as it is; it looks like seconds: give "
        "milliseconds since the epoch (seconds times 1000, for example 1700000000000)",
    )


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "tag", "policy"),
    [  # the OCI reference grammar: [registry[:port]/]path[:tag][@digest]
        ("citacloud/controller:v5.0.0", "v5.0.0", "IfNotPresent"),
        ("citacloud/controller", None, "Always"),
        ("citacloud/controller:latest", "latest", "Always"),
        ("registry:5000/citacloud/controller", None, "Always"),  # a registry port is not a tag
        ("registry:5000/citacloud/controller:v5", "v5", "IfNotPresent"),
        (f"citacloud/controller:v5@{DIGEST}", "v5", "IfNotPresent"),  # the digest is not part of the tag
        (f"registry:5000/citacloud/controller@{DIGEST}", None, "IfNotPresent"),  # a digest pins it
    ],
)
def test_image_tags_and_pull_policies_follow_the_reference_grammar(image: str, tag: str | None, policy: str):
    from runner_k8s.kube.images import image_tag, pull_policy

    assert image_tag(image) == tag
    assert pull_policy(image) == policy


RESOURCE_ERRORS = {  # [resources] of service-config.toml (README, "Resources"): the text -> the message after "svc: "
    "resources = 5": "[resources] must be a table of tables such as [resources.default]",
    "[resources]\ngateway = {}": "[resources.gateway] names no container; use default or one of {known}",
    "[resources]\ndefault = 5": "resources.default must be a table of {fields}",
    "[resources.kms]\ncpu = '1'": "resources.kms.cpu is unknown; use {fields}",
    "[resources.default]\ncpu_limit = 2": 'resources.default.cpu_limit must be a quantity string such as "250m" or "1"',
    "[resources.default]\ncpu_request = '1Gi'": (
        'resources.default.cpu_request must be a quantity string such as "250m" or "1"'
    ),
    "[resources.kms]\nmemory_limit = 'lots'": (
        'resources.kms.memory_limit must be a quantity string such as "64Mi" or "1Gi"'
    ),
    "[resources.controller]\nmemory_request = '1Gi'\nmemory_limit = '1G'": (
        "resources.controller: memory_request 1Gi exceeds memory_limit 1G; Kubernetes refuses a request above its limit"
    ),
    "[resources.default]\ncpu_request = '1001m'\ncpu_limit = '1'": (
        "resources.default: cpu_request 1001m exceeds cpu_limit 1; Kubernetes refuses a request above its limit"
    ),
}


@pytest.mark.parametrize("text", sorted(RESOURCE_ERRORS))
def test_each_resources_mistake_gets_its_message(text: str):
    import tomllib

    from runner_k8s.errors import InputError
    from runner_k8s.kube.resources import parse_resources
    from runner_k8s.releases.v5_0_0.serviceconfig import CONTAINER_NAMES

    with pytest.raises(InputError) as refused:
        parse_resources(tomllib.loads(text).get("resources"), "svc", CONTAINER_NAMES)
    # The containers and keys as the README lists them.
    known = "network, consensus, executor, storage, controller, kms, syncthing, debug, couchdb, monitor-process, "
    known += "monitor-citacloud"
    message = RESOURCE_ERRORS[text].format(known=known, fields="cpu_request, memory_request, cpu_limit, memory_limit")
    assert str(refused.value) == f"svc: {message}"


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        (
            "chain-1",
            "chain name 'chain-1' ends in '-<digits>', the way node names do ('chain-1' is node 1 of "
            "chain 'chain'); drop that '-', e.g. 'chain1'",
        ),
        (
            "my-chain-20",
            "chain name 'my-chain-20' ends in '-<digits>', the way node names do ('my-chain-20' is node "
            "20 of chain 'my-chain'); drop that '-', e.g. 'my-chain20'",
        ),
    ],
)
def test_a_chain_name_like_a_node_name_gets_the_name_to_use(tmp_path: Path, capsys, chain: str, message: str):
    assert_refused_in_process(local_argv(tmp_path, "--chain_name", chain), capsys, tmp_path, 2, message)


def test_a_service_config_file_is_read_up_to_one_mebibyte(tmp_path: Path):
    """The limit at its edge (1 MiB passes, one byte more is refused unread); a mistake names the file."""
    from runner_k8s.errors import InputError
    from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config

    shipped = (REPO / "service-config.toml").read_bytes()
    path = tmp_path / "svc.toml"
    path.write_bytes(shipped + b"#" * (2**20 - len(shipped)))
    assert len(load_service_config(path).services) == 6
    path.write_bytes(shipped + b"#" * (2**20 + 1 - len(shipped)))
    with pytest.raises(InputError) as refused:
        load_service_config(path)
    assert str(refused.value) == f"service config {path} is larger than 1048576 bytes; is it the right file?"
    path.write_bytes(shipped + b"\n[resources]\ngateway = {}\n")
    with pytest.raises(InputError) as named:
        load_service_config(path)
    assert str(named.value).startswith(f"{path}: [resources.gateway] names no container")


def test_a_local_cluster_password_may_hold_a_comma(tmp_path: Path, capsys):
    """Only list entries (--kms_passwords, and create_account.py's accounts meant for it) refuse commas."""
    argv = local_argv(tmp_path, count=1)
    argv[argv.index("--kms_password") + 1] = "pass,word"
    outcome = run_main(argv, capsys)
    assert outcome.code == 0, outcome.stderr
