"""One bad-input table, run against local_cluster AND multi_cluster: a check missing from either path fails a row.

Each row: the flags that break one rule (appended last, so they override the valid ones), the exit code,
and the message (one for both subcommands, or one per subcommand where their flags differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chains import load_documents
from tests.conftest import REPO
from tests.inputs import MultiArgs, assert_refused_in_process, device_id, local_argv, run_main
from tests.test_messages import MESSAGES, config

SHIPPED = (REPO / "service-config.toml").read_text()
CHAINCODE_EXT = SHIPPED.replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
SUBCOMMANDS = ("local_cluster", "multi_cluster")


@dataclass(frozen=True)
class Rule:
    local: tuple[str, ...]
    multi: tuple[str, ...]
    code: int
    message: str | tuple[str, str]
    service_config: str | None = None
    existing: str | None = None  # an output path made before the run

    def for_subcommand(self, subcommand: str) -> tuple[tuple[str, ...], str]:
        message = self.message if isinstance(self.message, str) else self.message[SUBCOMMANDS.index(subcommand)]
        return (self.local if subcommand == "local_cluster" else self.multi), message


def same(*flags: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return flags, flags


RULES: dict[str, Rule] = {
    "chain name not a DNS label": Rule(*same("--chain_name", "Test_Chain"), 2, "(for example 'test-chain')"),
    "chain name is a path": Rule(*same("--chain_name", "../evil"), 2, "chain name '../evil' is not valid"),
    "chain name ends with '-'": Rule(*same("--chain_name", "chain-"), 2, "chain name 'chain-' is not valid"),
    "chain name starts with a digit": Rule(*same("--chain_name", "1chain"), 2, "chain name '1chain' is not valid"),
    "chain name too long for its objects": Rule(*same("--chain_name", "a" * 47), 2, "use a chain name of at most 46"),
    "chain name of 63 with a capital": Rule(
        *same("--chain_name", "A" + "a" * 62), 2, f"chain name {'A' + 'a' * 62!r} is not valid"
    ),
    "chain name of 64 with a capital": Rule(*same("--chain_name", "A" + "a" * 63), 2, "use a chain name of at most 46"),
    "negative block delay": Rule(*same("--block_delay_number", "-1"), 2, "'-1' must not be negative"),
    "block delay not a number": Rule(*same("--block_delay_number", "1.5"), 2, "'1.5' is not a whole number"),
    "monitor not a boolean": Rule(*same("--need_monitor", "maybe"), 2, "'maybe' is not a boolean"),
    "tls not a boolean": Rule(*same("--enable_tls", "2"), 2, "'2' is not a boolean"),
    "empty kms password": Rule(
        ("--kms_password", ""),
        ("--kms_passwords", "password0,"),
        2,
        ("--kms_password is empty", "entry 1 of the list is empty"),
    ),
    "kms password with a line break": Rule(
        ("--kms_password", "pass\nword"),
        ("--kms_passwords", "password0,pass\nword"),
        2,
        (
            "--kms_password holds a line break or another control character",
            "--kms_passwords entry 1 holds a line break",
        ),
    ),
    "kms password with a carriage return": Rule(
        ("--kms_password", "pass\rword"),
        ("--kms_passwords", "pass\rword,password1"),
        2,
        (
            "--kms_password holds a line break or another control character",
            "--kms_passwords entry 0 holds a line break",
        ),
    ),
    "pvc name with '_'": Rule(
        ("--pvc_name", "cluster0_pvc"),
        ("--pvc_names", "cluster0-pvc,cluster1_pvc"),
        2,
        (
            "--pvc_name 'cluster0_pvc' is not a valid Kubernetes name",
            "--pvc_names entry 1 'cluster1_pvc' is not a valid Kubernetes name",
        ),
    ),
    "service config missing": Rule(
        *same("--service_config", "nowhere.toml"),
        1,
        "service config nowhere.toml does not exist; pass --service_config with the right path",
    ),
    "service config is a directory": Rule(
        *same("--service_config", "blocker-dir"), 1, "cannot read service config blocker-dir: Is a directory"
    ),
    "service config not UTF-8": Rule(*same(), 1, "svc.toml is not UTF-8 text", service_config="name = '\udcff'"),
    "state db user empty (chaincode_ext)": Rule(
        *same("--state_db_user", ""), 2, "--state_db_user is empty", service_config=CHAINCODE_EXT
    ),
    "state db user padded (chaincode_ext)": Rule(
        *same("--state_db_user", " admin"),
        2,
        "--state_db_user starts or ends with",
        service_config=CHAINCODE_EXT,
    ),
    "state db password empty (chaincode_ext)": Rule(
        *same("--state_db_password", ""), 2, "--state_db_password is empty", service_config=CHAINCODE_EXT
    ),
    "state db password with a line break (chaincode_ext)": Rule(
        *same("--state_db_password", "a\nb"),
        2,
        "--state_db_password holds a line break",
        service_config=CHAINCODE_EXT,
    ),
    "work dir under a file": Rule(*same("--work_dir", "blocker/sub"), 1, "cannot write"),
    "existing chain folder without --force": Rule(
        *same(), 1, "cita-cloud/test-chain already exists", existing="cita-cloud/test-chain"
    ),
    "unknown flag": Rule(*same("--peer_count", "3"), 2, "unknown flag --peer_count; did you mean"),
    "namespace not a DNS label": Rule(*same("--namespace", "My_NS"), 2, "--namespace 'My_NS' is not a valid namespace"),
    "namespace with a dot": Rule(*same("--namespace", "a.b"), 2, "--namespace 'a.b' is not a valid namespace"),
    "namespace of 64": Rule(*same("--namespace", "n" * 64), 2, f"--namespace {'n' * 64!r} is not a valid namespace"),
}
# Every service-config.toml mistake of the table of messages: the line from the file's name on.
SERVICE_CONFIGS = {
    name: (text, case.line.split("{tmp}/", 1)[1])
    for name, case in MESSAGES.items()
    if case.argv == config() and isinstance(text := case.files.get("svc.toml"), str)
}
RULES |= {
    f"service config: {name}": Rule(*same(), 1, message, service_config=text)
    for name, (text, message) in SERVICE_CONFIGS.items()
}
SIX = "network, consensus, executor, storage, controller, kms"
RULES |= {  # whole messages: the path, the entry number, every name listed
    "service config: services is a string": Rule(
        *same(),
        1,
        f"svc.toml has no [[services]] entries; list the six services {SIX}",
        service_config="services = 'x'",
    ),
    "service config: services are numbers": Rule(
        *same(),
        1,
        "svc.toml: services entry 0 is not a table; write it as [[services]]",
        service_config="services = [1, 2]",
    ),
    "service config: fourth entry's image a number": Rule(
        *same(),
        1,
        "svc.toml: services entry 3 (at line 25) needs a non-empty string 'docker_image'",  # entries count from 0
        service_config=SHIPPED.replace('docker_image = "citacloud/storage_sqlite:v5.0.0"', "docker_image = 5"),
    ),
    "service config: unknown service": Rule(
        *same(),
        1,
        f"svc.toml: unknown service 'gateway'; the services are {SIX}",
        service_config=SHIPPED + '\n[[services]]\nname = "gateway"\ndocker_image = "x"\ncmd = "y"\n',
    ),
    "service config: two services missing": Rule(
        *same(),
        1,
        "svc.toml: missing service(s) executor, kms; every chain needs all six services",
        service_config="[[services]]".join(
            block
            for block in SHIPPED.split("[[services]]")
            if 'name = "executor"' not in block and 'name = "kms"' not in block
        ),
    ),
}

# What a valid run needs that the rows above leave unset: chaincode_ext credentials are fine when unused.
PASSING: dict[str, tuple[tuple[str, ...], str | None]] = {
    "state db credentials ignored without chaincode_ext": (("--state_db_user", "", "--state_db_password", " "), None),
    "longest chain name": (("--chain_name", "a" * 46), None),
    "block delay zero": (("--block_delay_number", "0"), None),
    "chaincode_ext with credentials": (("--state_db_user", "u", "--state_db_password", "p w;'"), CHAINCODE_EXT),
}


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
@pytest.mark.parametrize("namespace", [None, "n" * 63])
def test_every_object_goes_to_the_namespace_asked_for(tmp_path: Path, capsys, subcommand: str, namespace: str | None):
    flags = () if namespace is None else ("--namespace", namespace)
    outcome = run_main(argv_for(subcommand, tmp_path, flags), capsys)
    assert outcome.code == 0, outcome.stderr
    files = ["test-chain.yaml"] if subcommand == "local_cluster" else ["test-chain-0.yaml", "test-chain-1.yaml"]
    documents = [doc for name in files for doc in load_documents(tmp_path / name)]
    assert len(documents) > 5
    assert {doc["metadata"].get("namespace") for doc in documents} == {namespace}


def argv_for(subcommand: str, work: Path, flags: tuple[str, ...]) -> list[str]:
    return local_argv(work, *flags) if subcommand == "local_cluster" else MultiArgs(work).argv(*flags)


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_bad_input_is_refused_by_both(tmp_path: Path, capsys, monkeypatch, subcommand: str, rule: str):
    row = RULES[rule]
    monkeypatch.chdir(tmp_path)  # relative paths in a row (nowhere.toml, blocker/sub) resolve here
    (tmp_path / "blocker").write_text("a file where a directory is expected")
    (tmp_path / "blocker-dir").mkdir()
    flags, message = row.for_subcommand(subcommand)
    if row.service_config is not None:
        (tmp_path / "svc.toml").write_bytes(row.service_config.encode("utf-8", "surrogateescape"))
        flags = ("--service_config", str(tmp_path / "svc.toml"), *flags)
    if row.existing is not None:
        (tmp_path / row.existing).mkdir(parents=True)
    stderr = assert_refused_in_process(argv_for(subcommand, tmp_path, flags), capsys, tmp_path, row.code, message)
    for secret in ("chain-pass", "password0", "password1"):
        assert secret not in stderr


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
@pytest.mark.parametrize("case", sorted(PASSING))
def test_valid_neighbours_pass_in_both(tmp_path: Path, capsys, subcommand: str, case: str):
    flags, config = PASSING[case]
    if config is not None:
        (tmp_path / "svc.toml").write_text(config)
        flags = ("--service_config", str(tmp_path / "svc.toml"), *flags)
    outcome = run_main(argv_for(subcommand, tmp_path, flags), capsys)
    assert outcome.code == 0, outcome.stderr
    assert outcome.stderr == ""


MULTI_ONLY: dict[str, tuple[dict[str, str], str]] = {
    "same host and base port twice": (
        {"--nodes": "192.0.2.10,192.0.2.10"},
        "nodes 0 and 1 share the address 192.0.2.10 and their LoadBalancer ports 30000-30008 and 30000-30008 overlap",
    ),
    "same DNS name and base port twice": (
        {"--nodes": "lb.example.org,LB.example.org", "--node_ports": "31000,31000"},
        "share the address lb.example.org and their LoadBalancer ports 31000-31008 and 31000-31008 overlap",
    ),
    "same host, windows overlap by one port": (
        {"--nodes": "192.0.2.10,192.0.2.10", "--node_ports": "30000,30008"},
        "ports 30000-30008 and 30008-30016 overlap; give them --node_ports entries at least 9 apart",
    ),
    "same host, lower window second": (
        {"--nodes": "192.0.2.10,192.0.2.10", "--node_ports": "30008,30000"},
        "nodes 0 and 1 share the address 192.0.2.10 and their LoadBalancer ports 30000-30008 and 30008-30016 overlap",
    ),
    "same authority twice": ({"--authorities": "0x" + "ab" * 20 + ",0x" + "AB" * 20}, "--authorities lists 0x"),
    "authority without 0x": (
        {"--authorities": "ab" * 20 + ",0x" + "cd" * 20},
        f"--authorities entry 0 '{'ab' * 20}' is not an address: expected 0x followed by 40 hex digits",
    ),
    "authority one digit short": (
        {"--authorities": "0x" + "cd" * 20 + ",0x" + "a" * 39},
        f"--authorities entry 1 '0x{'a' * 39}' is not an address",
    ),
    "same device ID twice": (
        {"--sync_device_ids": ",".join([device_id("twice")] * 2)},
        f"--sync_device_ids lists {device_id('twice')} twice; every node needs its own",
    ),
    "super admin one digit long": ({"--super_admin": "0x" + "a" * 41}, "--super_admin '0x" + "a" * 41 + "'"),
    "host with a space": (
        {"--nodes": "192.0.2.10,bad host"},
        "--nodes entry 1 'bad host' is neither an IP address nor a DNS name",
    ),
}
LIST_FLAGS = ("--authorities", "--nodes", "--lbs_tokens", "--sync_device_ids", "--kms_passwords", "--node_ports")
SHORT_LISTS = {  # one entry short: the message names that list and both lengths
    flag: ({flag: value}, f"but {flag} has 1 while the others have 2; give each list in the same node order")
    for flag, value in zip(
        (*LIST_FLAGS, "--pvc_names"),
        ("0x" + "ab" * 20, "192.0.2.10", "lb-0", "AAAAAAA", "password0", "30000", "pvc0"),
        strict=True,
    )
}
MULTI_ONLY |= {f"{flag} one entry short": row for flag, row in SHORT_LISTS.items()}
MULTI_ONLY |= {
    "two lists short": (
        {"--nodes": "192.0.2.10", "--pvc_names": "a,b,c"},
        "--nodes has 1, --pvc_names has 3 while the others have 2",
    ),
    "device ID with a wrong check character": (
        {"--sync_device_ids": "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAC,AAAAAAA"},
        "--sync_device_ids entry 0: 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAC' has a wrong",
    ),
}


LOCAL_ONLY: dict[str, tuple[tuple[str, ...], str]] = {
    # multi_cluster's comma lists drop the spaces around each entry, so these reach only local_cluster.
    "kms password with a trailing space": (("--kms_password", "pw "), "--kms_password starts or ends with whitespace"),
    "kms password with a leading tab": (("--kms_password", "\tpw"), "--kms_password starts or ends with whitespace"),
}


@pytest.mark.parametrize("case", sorted(LOCAL_ONLY))
def test_local_only_rules(tmp_path: Path, capsys, case: str):
    flags, message = LOCAL_ONLY[case]
    assert_refused_in_process(local_argv(tmp_path, *flags), capsys, tmp_path, 2, message)


@pytest.mark.parametrize("case", sorted(MULTI_ONLY))
def test_multi_only_rules(tmp_path: Path, capsys, case: str):
    override, message = MULTI_ONLY[case]
    args = MultiArgs(tmp_path, 2, override)
    assert_refused_in_process(args.argv(), capsys, tmp_path, 2, message)


@pytest.mark.parametrize(
    "override",
    [
        {"--nodes": "192.0.2.10,192.0.2.10", "--node_ports": "30000,30009"},  # same LoadBalancer, next nine ports
        {"--nodes": "192.0.2.10,192.0.2.11"},  # two LoadBalancers, same ports
        {"--authorities": "0x" + "AB" * 20 + ",0x" + "cd" * 20},  # mixed case is accepted, written lowercase
    ],
)
def test_multi_neighbours_of_the_duplicate_rules_pass(tmp_path: Path, capsys, override: dict[str, str]):
    outcome = run_main(MultiArgs(tmp_path, 2, override).argv(), capsys)
    assert outcome.code == 0, outcome.stderr


def test_specs_never_show_a_secret_when_printed(tmp_path: Path):
    """A traceback or a debug print of a spec must not leak a password (they are in every spec)."""
    from runner_k8s.create.spec import build_local_spec, build_multi_spec
    from tests.inputs import address, device_id

    common: dict[str, Any] = {
        "chain_name": "c",
        "block_delay_number": 0,
        "service_config": REPO / "service-config.toml",
        "need_monitor": False,
        "need_debug": False,
        "enable_tls": True,
        "state_db_user": "couch-user-secret",
        "state_db_password": "couch-pass-secret",
    }
    local = build_local_spec(
        **common,
        peers_count=2,
        kms_password="kms-pass-secret",
        node_port=30004,
        node_port_range="30000-32767",
        pvc_name="p",
    )
    multi = build_multi_spec(
        **common,
        timestamp_ms=None,
        super_admin=address("admin"),
        authorities=[address("a")],
        nodes=["192.0.2.1"],
        lbs_tokens=["lb"],
        sync_device_ids=[device_id("d")],
        kms_passwords=["node-pass-secret"],
        node_ports=["30000"],
        pvc_names=["p"],
        accounts_dir=tmp_path,
        syncthing_dir=tmp_path,
    )
    shown = " ".join(map(repr, [local, multi, *multi.nodes])) + " ".join(map(str, [local, multi, *multi.nodes]))
    for secret in ("kms-pass-secret", "node-pass-secret", "couch-pass-secret"):
        assert secret not in shown
    assert "'c'" in repr(local) and "peers_count=2" in repr(local)
    assert "nodes=1" in repr(multi) and "192.0.2.1" in repr(multi.nodes[0])


def test_ipv6_nodes_are_bracketed_in_syncthing_addresses(tmp_path: Path, capsys):
    """syncthing reads `tcp://[2001:db8::1]:30001`; without brackets the address's colons run into the port's."""
    args = MultiArgs(tmp_path, 2, {"--nodes": "2001:db8::1,192.0.2.11", "--node_ports": "30000,31000"})
    assert run_main(args.argv(), capsys).code == 0
    config = (tmp_path / "cita-cloud" / "test-chain" / "node1" / "config" / "config.xml").read_text()
    assert "<address>tcp://[2001:db8::1]:30001</address>" in config
    assert "<address>tcp://192.0.2.11:31001</address>" in config


def test_the_names_checked_for_length_are_exactly_the_names_emitted(tmp_path: Path, capsys):
    """The 63-character check measures names.object_names; every one of them must be an object (or a
    StatefulSet's pod, `<statefulset>-<ordinal>`) that one of the two subcommands really writes."""
    from runner_k8s.names import object_names
    from tests.manifest_variants import v6_multi_argv

    emitted: set[str] = set()
    runs = {
        "local_cluster": local_argv(tmp_path / "local", "--need_monitor", count=3),
        "multi_cluster": MultiArgs(tmp_path / "multi", 3).argv("--need_monitor"),
    }
    v6_local = tmp_path / "v6-local"
    runs["v6 local"] = ["local_cluster", "--release", "v6.7.4", "--pvc_name", "p", "--work_dir", str(v6_local)]
    (tmp_path / "v6-multi").mkdir()
    # Every node reached by an IP address, so that each gets the EndpointSlice other clusters resolve it by.
    runs["v6 multi"] = [*v6_multi_argv(tmp_path / "v6-multi"), "--chain_name", "test-chain"]
    runs["v6 multi"][runs["v6 multi"].index("--nodes") + 1] = "192.0.2.10,192.0.2.11,192.0.2.12"
    for argv in runs.values():
        work = Path(argv[argv.index("--work_dir") + 1])
        outcome = run_main(argv, capsys)
        assert outcome.code == 0, outcome.stderr
        for path in sorted(work.glob("*.yaml")):
            for doc in load_documents(path):
                if doc["kind"] in ("StorageClass", "PersistentVolume", "PersistentVolumeClaim"):
                    continue  # the storage objects are named by --pvc_name, not by the chain
                emitted.add(doc["metadata"]["name"])
                if doc["kind"] == "StatefulSet":
                    emitted.add(f"{doc['metadata']['name']}-{doc['spec']['replicas'] - 1}")
    assert emitted == {name for index in range(3) for name in object_names("test-chain", index)}
