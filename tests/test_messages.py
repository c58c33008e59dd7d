"""Every user-facing error in one table: the input, the exit code and the whole line on stderr.

Each line is asserted whole (the script's name, `error:`, the message to its last character), so a
garbled prefix or a changed word fails here even where another test checks only the gist. Every case
also writes nothing and prints nothing on stdout. The scripts run in this process (fast, and seen by
mutation testing); tests/test_bad_input.py runs them as real processes, the way users do.

Lines come from the README and the issue that introduced each message; when a message changes on
purpose, change its line here (and in the README where it is quoted).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import create_account
import create_k8s_config
import create_pvc
import create_syncthing_config
from runner_k8s.write import files
from tests.conftest import REPO, fixed_runtime, tree_snapshot
from tests.inputs import MultiArgs, address, device_id

SHIPPED = (REPO / "service-config.toml").read_text()
V6_SHIPPED = (REPO / "runner_k8s" / "releases" / "v6_7_4" / "service-config.v6.7.4.toml").read_text()
MAINS: dict[str, Callable[..., int]] = {
    "create_k8s_config.py": create_k8s_config.main,
    "create_pvc.py": create_pvc.main,
    "create_account.py": create_account.main,
    "create_syncthing_config.py": create_syncthing_config.main,
}
RESOURCE_FIELDS = "cpu_request, memory_request, cpu_limit, memory_limit"
CONTAINERS = (
    "network, consensus, executor, storage, controller, kms, syncthing, debug, couchdb, monitor-process, "
    "monitor-citacloud"
)
NODE0 = "create_k8s_config.py: error: node0: {tmp}/keys/"
SIX = "network, consensus, executor, storage, controller, kms"


def argparse_invalid_choice(value: str, choices: list[str]) -> str:
    """How this Python's argparse words a value outside its choices (the quoting changed in 3.12)."""
    probe = argparse.ArgumentParser(exit_on_error=False)
    probe.add_argument("--x", choices=choices)
    try:
        probe.parse_args(["--x", value])
    except argparse.ArgumentError as exc:
        return str(exc).removeprefix("argument --x: ")
    raise AssertionError("argparse accepted a value outside its choices")


@dataclass(frozen=True)
class Case:
    """A script's argv ({tmp} is the test's folder), files made first, the exit code and the stderr line."""

    script: str
    argv: Sequence[str]
    code: int
    line: str
    files: dict[str, str | bytes] = field(default_factory=dict)


def local(*extra: str) -> list[str]:
    return ["local_cluster", "--kms_password", "pw", "--pvc_name", "local-pvc", "--work_dir", "{tmp}/work", *extra]


def config(*extra: str) -> list[str]:
    """local_cluster with the service config {tmp}/svc.toml."""
    return local("--service_config", "{tmp}/svc.toml", *extra)


def multi(count: int = 2, *extra: str, **lists: str) -> list[str]:
    """multi_cluster for `count` nodes, with lists overridden by flag name (without the leading --)."""
    argv = MultiArgs(Path("{tmp}/work"), count, {f"--{flag}": value for flag, value in lists.items()}).argv(*extra)
    return [item.replace(str(Path("{tmp}")), "{tmp}") for item in argv]


def v6_local(*extra: str) -> list[str]:
    return ["local_cluster", "--release", "v6.7.4", "--pvc_name", "local-pvc", "--work_dir", "{tmp}/work", *extra]


def v6_multi(*extra: str) -> list[str]:
    """multi_cluster --release v6.7.4 for two nodes whose account folders are under {tmp}/keys."""
    return [
        "multi_cluster",
        "--release",
        "v6.7.4",
        "--super_admin",
        address("admin"),
        "--authorities",
        f"{A0},{A1}",
        "--nodes",
        "192.0.2.10,192.0.2.11",
        "--lbs_tokens",
        "lb-0,lb-1",
        "--node_ports",
        "30000,30000",
        "--pvc_names",
        "p0,p1",
        "--accounts_dir",
        "{tmp}/keys",
        "--work_dir",
        "{tmp}/work",
        *extra,
    ]


def without(service: str) -> str:
    blocks = SHIPPED.split("[[services]]")
    return "[[services]]".join(block for block in blocks if f'name = "{service}"' not in block)


K8S = "create_k8s_config.py: error: "
PVC = "create_pvc.py: error: "
ACCOUNT = "create_account.py: error: "
SVC = K8S + "{tmp}/svc.toml"
WRITE_IT = "write the password into it first, e.g. echo 'my password' > {tmp}/key_file"
NO_PASSWORD = (
    "--kms_password is required: give --kms_password, or --kms_password_file FILE ('-' reads standard input), "
)
A0, A1 = address("node0"), address("node1")
D0 = device_id("device0")

MESSAGES: dict[str, Case] = {
    # --- the command line (cli.py) ---
    "no subcommand": Case(
        "create_pvc.py",
        [],
        2,
        PVC + "the following arguments are required: SUBCOMMAND (see create_pvc.py --help)",
    ),
    "unknown subcommand": Case(
        "create_pvc.py",
        ["nfs_pcv"],
        2,
        PVC + "unknown subcommand 'nfs_pcv'; did you mean nfs_pvc? (the subcommands are local_pvc, nfs_pvc; "
        "see create_pvc.py --help)",
    ),
    "unknown flag": Case(
        "create_pvc.py",
        ["local_pvc", "--zzzzzz"],
        2,
        PVC + "unknown flag --zzzzzz (see create_pvc.py local_pvc --help)",
    ),
    "misspelt flag": Case(
        "create_k8s_config.py",
        local("--peer_count", "3"),
        2,
        K8S + "unknown flag --peer_count; did you mean --peers_count? (see create_k8s_config.py local_cluster --help)",
    ),
    "ambiguous flag": Case(
        "create_k8s_config.py",
        local("--need", "true"),
        2,
        K8S + "--need is ambiguous: it could be --need_debug, --need_monitor "
        "(see create_k8s_config.py local_cluster --help)",
    ),
    "required flags": Case(
        "create_pvc.py",
        ["nfs_pvc", "--work_dir", "{tmp}/work"],
        2,
        PVC + "the following arguments are required: --nfs_server, --nfs_path (see create_pvc.py nfs_pvc --help)",
    ),
    "two password flags": Case(
        "create_k8s_config.py",
        local("--kms_password_file", "f"),
        2,
        K8S + "argument --kms_password_file: not allowed with argument --kms_password "
        "(see create_k8s_config.py local_cluster --help)",
    ),
    "not a boolean": Case(
        "create_k8s_config.py",
        local("--need_monitor", "maybe"),
        2,
        K8S + "argument --need_monitor: 'maybe' is not a boolean: use true or false "
        "(see create_k8s_config.py local_cluster --help)",
    ),
    "not a whole number": Case(
        "create_k8s_config.py",
        local("--peers_count", "three"),
        2,
        K8S + "argument --peers_count: 'three' is not a whole number: use the digits 0-9 only "
        "(see create_k8s_config.py local_cluster --help)",
    ),
    "too large a number": Case(
        "create_k8s_config.py",
        local("--block_delay_number", "4294967296"),
        2,
        K8S + "argument --block_delay_number: '4294967296' is too large: the most it can be is 4294967295 "
        "(see create_k8s_config.py local_cluster --help)",
    ),
    "too small a number": Case(
        "create_k8s_config.py",
        local("--peers_count", "0"),
        2,
        K8S + "argument --peers_count: '0' must be at least 1 (see create_k8s_config.py local_cluster --help)",
    ),
    "a negative number": Case(
        "create_k8s_config.py",
        local("--block_delay_number", "-1"),
        2,
        K8S
        + "argument --block_delay_number: '-1' must not be negative (see create_k8s_config.py local_cluster --help)",
    ),
    "an empty list entry": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work", "--node_list", "a,,b"],
        2,
        PVC + "argument --node_list: entry 1 of the list is empty (entries count from 0, like nodes): separate "
        "values with single commas (see create_pvc.py local_pvc --help)",
    ),
    "no password": Case(
        "create_k8s_config.py",
        ["local_cluster", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        2,
        K8S + NO_PASSWORD + "or run on a terminal to be asked for it",
    ),
    "no password list": Case(
        "create_k8s_config.py",
        [item for item in multi() if item != "--kms_passwords" and not item.startswith("password")],
        2,
        K8S + "--kms_passwords is required: give --kms_passwords, or --kms_passwords_file FILE with one password per "
        "line ('-' reads standard input), or run on a terminal to be asked for them",
    ),
    "missing password file": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password_file", "{tmp}/nofile", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        1,
        K8S + "--kms_password_file {tmp}/nofile does not exist; give the path of the file holding the password",
    ),
    "password file a folder": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password_file", "{tmp}/folder", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        1,
        K8S + f"cannot read --kms_password_file {{tmp}}/folder: {os.strerror(errno.EISDIR)}",
        {"folder/file": ""},
    ),
    "password file not UTF-8": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password_file", "{tmp}/pw", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        1,
        K8S + "--kms_password_file {tmp}/pw is not UTF-8 text",
        {"pw": b"\xff\xfe"},
    ),
    "no claim name": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password", "pw", "--work_dir", "{tmp}/work"],
        2,
        K8S + "the following arguments are required: --pvc_name (see create_k8s_config.py local_cluster --help)",
    ),
    "no subcommand of create_k8s_config.py": Case(
        "create_k8s_config.py",
        [],
        2,
        K8S + "the following arguments are required: SUBCOMMAND (see create_k8s_config.py --help)",
    ),
    # --- passwords (keystore.py) ---
    "empty password": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password", "", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        2,
        K8S + "--kms_password is empty; give a non-empty password",
    ),
    "padded password": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password", "pw ", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        2,
        K8S + "--kms_password starts or ends with whitespace, which the kms or --kms_passwords would cut; remove it",
    ),
    "password with a control character": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password", "p\x07w", "--pvc_name", "p", "--work_dir", "{tmp}/work"],
        2,
        K8S + "--kms_password holds a line break or another control character; use printable characters only",
    ),
    "a listed password with a comma": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "sm"],
        1,
        ACCOUNT + "the password in key file {tmp}/key_file holds a comma, which --kms_passwords would split; "
        "choose a password without commas",
        {"key_file": "pass,word\n"},
    ),
    "a password with a comma in --kms_passwords_file": Case(
        "create_k8s_config.py",
        [
            *(item for item in multi() if item != "--kms_passwords" and not item.startswith("password")),
            "--kms_passwords_file",
            "{tmp}/passwords",
        ],
        2,
        # README "Passwords": a --kms_passwords entry has no comma, in whichever form it is given.
        K8S + "--kms_passwords entry 1 holds a comma, which --kms_passwords would split; choose a password without "
        "commas",
        {"passwords": "password0\npass,word1\n"},
    ),
    "a state db password with whitespace": Case(
        "create_k8s_config.py",
        config("--state_db_password", " pw"),
        2,
        K8S + "--state_db_password starts or ends with whitespace, which the kms or --kms_passwords would cut; "
        "remove it",
        {"svc.toml": SHIPPED.replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")},
    ),
    # --- the values of each kind (rules.py) ---
    "timestamp in seconds": Case(
        "create_k8s_config.py",
        multi(2, "--timestamp", "1700000000"),
        2,
        K8S + "--timestamp 1700000000 is before 1973 when read as milliseconds, as it is; it looks like seconds: "
        "give milliseconds since the epoch (seconds times 1000, for example 1700000000000)",
    ),
    "invalid chain name": Case(
        "create_k8s_config.py",
        local("--chain_name", "Test_Chain"),
        2,
        K8S + "chain name 'Test_Chain' is not valid: use lowercase letters, digits and '-', starting with a letter "
        "and ending with a letter or digit (for example 'test-chain')",
    ),
    "a path as chain name": Case(
        "create_k8s_config.py",
        local("--chain_name", "../evil"),
        2,
        K8S + "chain name '../evil' is not valid: use lowercase letters, digits and '-', starting with a letter "
        "and ending with a letter or digit (for example 'evil')",
    ),
    "chain name like a node": Case(
        "create_k8s_config.py",
        local("--chain_name", "test-chain-1"),
        2,
        K8S + "chain name 'test-chain-1' ends in '-<digits>', the way node names do ('test-chain-1' is node 1 of "
        "chain 'test-chain'); drop that '-', e.g. 'test-chain1'",
    ),
    "chain name too long": Case(
        "create_k8s_config.py",
        local("--chain_name", "a" * 60),
        2,
        # The longest object name is Secret <chain>-<i>-network-secret (README "Safe on a shared cluster").
        K8S + f"chain name '{'a' * 60}' is too long: object name '{'a' * 60}-1-network-secret' would exceed 63 "
        "characters; use a chain name of at most 46 characters",
    ),
    "invalid namespace": Case(
        "create_k8s_config.py",
        local("--namespace", "My_NS"),
        2,
        K8S + "--namespace 'My_NS' is not a valid namespace name: use at most 63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit (for example 'my-ns')",
    ),
    "pvc name too long": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work", "--pvc_name", "p" * 254],
        2,
        PVC + f"--pvc_name '{'p' * 20}'... is 254 characters long; a Kubernetes name has at most 253",
    ),
    "invalid pvc name": Case(
        "create_k8s_config.py",
        ["local_cluster", "--kms_password", "pw", "--pvc_name", "cluster0_pvc", "--work_dir", "{tmp}/work"],
        2,
        K8S + "--pvc_name 'cluster0_pvc' is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.' "
        "(for example 'cluster0-pvc')",
    ),
    "invalid pvc name in a list": Case(
        "create_k8s_config.py",
        multi(2, pvc_names="good,Bad"),
        2,
        K8S + "--pvc_names entry 1 'Bad' is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.' "
        "(for example 'bad')",
    ),
    "bad NodePort range": Case(
        "create_k8s_config.py",
        local("--node_port_range", "30000"),
        2,
        K8S + "--node_port_range '30000' is not MIN-MAX within 1-65535 (for example 30000-32767)",
    ),
    "NodePort outside the range": Case(
        "create_k8s_config.py",
        local("--node_port", "32760"),
        2,
        # README "NodePorts": node 1's call port is base + 10, so the highest base that fits is 32767 - 10.
        K8S + "NodePort 32770 (call of node1) is outside 30000-32767; use a --node_port between 30000 and 32757",
    ),
    "too many nodes for the range": Case(
        "create_k8s_config.py",
        local("--peers_count", "600"),
        2,
        # README "NodePorts": one RPC port for the chain and five per node.
        K8S + "600 nodes need 3001 NodePorts, more than 30000-32767 holds; use fewer nodes or widen "
        "--node_port_range to the cluster's --service-node-port-range",
    ),
    "host too long": Case(
        "create_k8s_config.py",
        multi(2, nodes="192.0.2.1," + "h" * 254),
        2,
        K8S + f"--nodes entry 1 '{'h' * 20}'... is 254 characters long; a DNS name has at most 253",
    ),
    "host ending in a number": Case(
        "create_k8s_config.py",
        multi(2, nodes="192.0.2.1,192.0.2.256"),
        2,
        K8S + "--nodes entry 1 '192.0.2.256' is not an IPv4 address (four numbers 0-255 without leading zeros), "
        "and a name cannot end in a number",
    ),
    "host neither": Case(
        "create_pvc.py",
        ["nfs_pvc", "--work_dir", "{tmp}/work", "--nfs_server", "bad host!", "--nfs_path", "/d"],
        2,
        PVC + "--nfs_server 'bad host!' is neither an IP address nor a DNS name",
    ),
    "host with a zone": Case(
        "create_k8s_config.py",
        multi(2, nodes="192.0.2.1,fe80::1%eth0"),
        2,
        K8S + "--nodes entry 1 'fe80::1%eth0' has a zone (%...), which other hosts cannot use; drop it",
    ),
    "not an address": Case(
        "create_k8s_config.py",
        multi(2, "--super_admin", "0x123"),
        2,
        K8S + "--super_admin '0x123' is not an address: expected 0x followed by 40 hex digits",
    ),
    "lists of other lengths": Case(
        "create_k8s_config.py",
        multi(3, kms_passwords="a,b", lbs_tokens="x"),
        2,
        K8S + "every list needs one entry per node, but --lbs_tokens has 1, --kms_passwords has 2 while the others "
        "have 3; give each list in the same node order",
    ),
    "an authority twice": Case(
        "create_k8s_config.py",
        multi(2, authorities=f"{A0},{A0.upper().replace('0X', '0x')}"),
        2,
        K8S + f"--authorities lists {A0} twice; every node needs its own",
    ),
    "a device twice": Case(
        "create_k8s_config.py",
        multi(2, sync_device_ids=f"{D0},{D0.lower()}"),
        2,
        K8S + f"--sync_device_ids lists {D0} twice; every node needs its own",
    ),
    "a token twice": Case(
        "create_k8s_config.py",
        multi(2, lbs_tokens="lb,lb"),
        2,
        K8S + "--lbs_tokens lists lb twice; every node needs its own",
    ),
    "a bad device id": Case(
        "create_k8s_config.py",
        multi(2, sync_device_ids=f"{D0},ABC"),
        2,
        K8S + "--sync_device_ids entry 1: 'ABC' is not a syncthing device ID (8 groups of 7 characters A-Z, 2-7, "
        "joined by -)",
    ),
    "a bad base port": Case(
        "create_k8s_config.py",
        multi(2, node_ports="30000,65530"),
        2,
        # README "LoadBalancer ports": nine ports from base, base + 8 <= 65535.
        K8S + "--node_ports entry 1 ('65530') must be a whole number from 1 to 65527: each node reserves 9 "
        "consecutive ports from it",
    ),
    "overlapping LoadBalancer ports": Case(
        "create_k8s_config.py",
        multi(2, nodes="192.0.2.1,192.0.2.1", node_ports="30000,30005"),
        2,
        K8S + "nodes 0 and 1 share the address 192.0.2.1 and their LoadBalancer ports 30000-30008 and 30005-30013 "
        "overlap; give them --node_ports entries at least 9 apart",
    ),
    # --- volumes ---
    "relative nfs path": Case(
        "create_pvc.py",
        ["nfs_pvc", "--work_dir", "{tmp}/work", "--nfs_server", "1.2.3.4", "--nfs_path", "data"],
        2,
        PVC + "'data' is not an absolute path for --nfs_path: the directory the NFS server exports, like "
        "/srv/nfs/cita-cloud",
    ),
    "relative data dir": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work", "--data_dir", "relative/dir"],
        2,
        PVC + "'relative/dir' is not an absolute path for --data_dir on the cluster's nodes, like "
        "/home/docker/cita-cloud-datadir",
    ),
    "a node that is no hostname": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work", "--node_list", "Node_1"],
        2,
        PVC + "--node_list entry 0 ('Node_1') is not a node hostname; see `kubectl get nodes`",
    ),
    # --- service-config.toml (serviceconfig.py, reading.py) ---
    "missing service config": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + "service config {tmp}/svc.toml does not exist; pass --service_config with the right path",
    ),
    "service config a folder": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + f"cannot read service config {{tmp}}/svc.toml: {os.strerror(errno.EISDIR)}",
        {"svc.toml/file": ""},
    ),
    "service config not UTF-8": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + "service config {tmp}/svc.toml is not UTF-8 text",
        {"svc.toml": b"\xff"},
    ),
    "service config not TOML": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + "service config {tmp}/svc.toml is not valid TOML: Expected '=' after a key in a key/value pair "
        "(at line 1, column 5); fix that line",
        {"svc.toml": "not toml"},
    ),
    "service config nested too deeply": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + "service config {tmp}/svc.toml nests tables or arrays too deeply; is it the right file?",
        {"svc.toml": "x = " + "[" * 100_000},
    ),
    "service config too large": Case(
        "create_k8s_config.py",
        config(),
        1,
        K8S + "service config {tmp}/svc.toml is larger than 1048576 bytes; is it the right file?",
        {"svc.toml": "#" * (2**20 + 1)},
    ),
    "no services": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + f" has no [[services]] entries; list the six services {SIX}",
        {"svc.toml": "title = 'x'\n"},
    ),
    "services entry not a table": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": services entry 0 is not a table; write it as [[services]]",
        {"svc.toml": "services = [1]\n"},
    ),
    "services entry without an image": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": services entry 3 (at line 25) needs a non-empty string 'docker_image'",
        {"svc.toml": SHIPPED.replace('docker_image = "citacloud/storage_sqlite:v5.0.0"', "docker_image = 5")},
    ),
    "services entry with an empty cmd": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": services entry 3 (at line 25) needs a non-empty string 'cmd'",
        {"svc.toml": SHIPPED.replace('cmd = "storage run -p 50003"', 'cmd = "  "')},
    ),
    "malformed image": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": services entry 4 (at line 35) has docker_image 'c:latest:x', which is not an image reference; write "
        "[registry[:port]/]name[:tag][@digest] with a lowercase name, e.g. citacloud/controller:v5.0.0",
        {"svc.toml": SHIPPED.replace("citacloud/controller:v5.0.0", "c:latest:x")},
    ),
    "unknown service": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + f": unknown service 'gateway'; the services are {SIX}",
        {"svc.toml": SHIPPED + '\n[[services]]\nname = "gateway"\ndocker_image = "x"\ncmd = "y"\n'},
    ),
    "a service twice": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": service 'kms' is listed twice; choose one implementation and remove the other",
        {"svc.toml": SHIPPED + '\n[[services]]\nname = "kms"\ndocker_image = "citacloud/kms_eth:v5.0.0"\ncmd = "k"\n'},
    ),
    "a missing service": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": missing service(s) executor; every chain needs all six services",
        {"svc.toml": without("executor")},
    ),
    "no kms": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": missing service(s) kms; every chain needs all six services",
        {"svc.toml": without("kms")},
    ),
    "another kms": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC
        + ": kms image 'someone/kms_rsa:1' is neither kms_sm nor kms_eth; use citacloud/kms_sm or citacloud/kms_eth",
        {"svc.toml": SHIPPED.replace("citacloud/kms_sm:v5.0.0", "someone/kms_rsa:1")},
    ),
    "resources not a table": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": [resources] must be a table of tables such as [resources.default]",
        {"svc.toml": "resources = 5\n" + SHIPPED},
    ),
    "resources of no container": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + f": [resources.gateway] names no container; use default or one of {CONTAINERS}",
        {"svc.toml": SHIPPED + "\n[resources.gateway]\ncpu_limit = '1'\n"},
    ),
    "a container's resources not a table": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + f": resources.kms must be a table of {RESOURCE_FIELDS}",
        {"svc.toml": SHIPPED + "\n[resources]\nkms = 5\n"},
    ),
    "an unknown resource": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + f": resources.default.cpu is unknown; use {RESOURCE_FIELDS}",
        {"svc.toml": SHIPPED + "\n[resources.default]\ncpu = '1'\n"},
    ),
    "a cpu quantity that is none": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ': resources.kms.cpu_limit must be a quantity string such as "250m" or "1"',
        {"svc.toml": SHIPPED + "\n[resources.kms]\ncpu_limit = '1 core'\n"},
    ),
    "a memory quantity that is a number": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ': resources.kms.memory_limit must be a quantity string such as "64Mi" or "1Gi"',
        {"svc.toml": SHIPPED + "\n[resources.kms]\nmemory_limit = 512\n"},
    ),
    "a cpu request above its limit": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": resources.kms: cpu_request 1001m exceeds cpu_limit 1; Kubernetes refuses a request above its limit",
        {"svc.toml": SHIPPED + "\n[resources.kms]\ncpu_request = '1001m'\ncpu_limit = '1'\n"},
    ),
    "a request above its limit": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + ": resources.default: memory_request 1025Mi exceeds memory_limit 1Gi; Kubernetes refuses a request "
        "above its limit",
        {"svc.toml": SHIPPED + "\n[resources.default]\nmemory_request = '1025Mi'\nmemory_limit = '1Gi'\n"},
    ),
    # --- the key file of create_account.py (identities.py) ---
    "missing key file": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "eth"],
        1,
        ACCOUNT + "key file {tmp}/key_file does not exist; " + WRITE_IT,
    ),
    "key file a folder": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "eth"],
        1,
        ACCOUNT + "key file {tmp}/key_file is a directory; pass the password file with --key_file",
        {"key_file/x": ""},
    ),
    "key file not UTF-8": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "eth"],
        1,
        ACCOUNT + "key file {tmp}/key_file is not UTF-8 text; " + WRITE_IT,
        {"key_file": b"\xff"},
    ),
    "key file without a password": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "eth"],
        1,
        ACCOUNT + "key file {tmp}/key_file holds no password (it is empty or only whitespace); " + WRITE_IT,
        {"key_file": " \n\t\n"},
    ),
    "unknown kms type": Case(
        "create_account.py",
        ["--key_file", "{tmp}/key_file", "--output_dir", "{tmp}/work", "--kms_type", "rsa"],
        2,
        ACCOUNT
        + f"argument --kms_type: {argparse_invalid_choice('rsa', ['sm', 'eth'])} (see create_account.py --help)",
    ),
    # --- the writer (files.py, journal.py, lock.py) ---
    "an output exists": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work"],
        1,
        PVC + "{tmp}/work/local-pvc.yaml already exists: pass --force to replace it, or choose another --work_dir "
        "or --pvc_name",
        {"work/local-pvc.yaml": "mine\n"},
    ),
    "outputs exist": Case(
        "create_k8s_config.py",
        local(),
        1,
        K8S + "{tmp}/work/cita-cloud/test-chain, {tmp}/work/test-chain.yaml already exist: choose another "
        "--chain_name or --work_dir, or pass --force to replace every output of 'test-chain'",
        {"work/cita-cloud/test-chain/x": "", "work/test-chain.yaml": ""},
    ),
    "the other subcommand's outputs": Case(
        "create_k8s_config.py",
        multi(2, "--force"),
        1,
        K8S + "{tmp}/work/test-chain.yaml were made for 'test-chain' by local_cluster; --force replaces only this "
        "subcommand's outputs, so delete those (and cita-cloud/test-chain) or choose another --chain_name or "
        "--work_dir",
        {"work/test-chain.yaml": "", "work/test-chain-0.yaml": ""},
    ),
    "outputs of an earlier, larger chain": Case(
        "create_k8s_config.py",
        multi(2, "--force"),
        1,
        K8S + "{tmp}/work/test-chain-2.yaml belong to an earlier 'test-chain' with more nodes and --force would "
        "leave them beside the new chain; delete them, then run again",
        {"work/test-chain-0.yaml": "", "work/test-chain-2.yaml": ""},
    ),
    "a work dir that is a file": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work"],
        1,
        PVC + f"cannot write {{tmp}}/work: {os.strerror(errno.ENOTDIR)}; nothing was written, choose a writable "
        "--work_dir",
        {"work": "a file"},
    ),
    "a work dir below a file": Case(
        "create_k8s_config.py",
        [*local()[:-1], "{tmp}/blocker/sub"],
        1,
        K8S + f"cannot write {{tmp}}/blocker: {os.strerror(errno.ENOTDIR)}; nothing was written, choose a "
        "writable --work_dir",
        {"blocker": "a file where a folder is expected"},
    ),
    "a damaged journal": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work"],
        1,
        PVC + "{tmp}/work/.runner_k8s/journal is damaged, so the run that wrote it cannot be finished or undone; "
        "check the outputs by hand, then remove {tmp}/work/.runner_k8s",
        {"work/.runner_k8s/journal": "not json"},
    ),
    "an output and its old copy": Case(
        "create_pvc.py",
        ["local_pvc", "--work_dir", "{tmp}/work"],
        1,
        PVC + "cannot finish the run stopped in {tmp}/work: {tmp}/work/out and {tmp}/work/.runner_k8s/old/0 both "
        "exist; move the one you want to keep to {tmp}/work/out and remove {tmp}/work/.runner_k8s",
        {
            "work/out": "put back by hand",
            "work/.runner_k8s/old/0": "old",
            "work/.runner_k8s/new/0": "new",
            "work/.runner_k8s/journal": '{"state": "committed", "roots": ["out"], "made": [], "created": [], '
            '"existed": [true], "retire": []}',
        },
    ),
    # --- two releases: what one release takes and the other refuses (releasechoice.py) ---
    "v6 chain given a kms password": Case(
        "create_k8s_config.py",
        v6_local("--kms_password", "pw"),
        2,
        K8S + "--kms_password is a v5.0.0 flag and this chain is --release v6.7.4: v6.7.4 has no kms: each "
        "node's account key is a file kept in the node's Secret; leave it out",
    ),
    "v6 chain given a block delay": Case(
        "create_k8s_config.py",
        v6_local("--block_delay_number", "0"),
        2,
        K8S + "--block_delay_number is a v5.0.0 flag and this chain is --release v6.7.4: v6.7.4's controller "
        "applies each block at once (there is no block delay); leave it out",
    ),
    "v6 chain without TLS": Case(
        "create_k8s_config.py",
        v6_local("--enable_tls", "false"),
        2,
        K8S + "--enable_tls is a v5.0.0 flag and this chain is --release v6.7.4: v6.7.4's network always "
        "encrypts (zenoh over QUIC with the chain's certificates); leave it out",
    ),
    "v6 chain with monitors": Case(
        "create_k8s_config.py",
        v6_local("--need_monitor"),
        2,
        K8S + "--need_monitor is a v5.0.0 flag and this chain is --release v6.7.4: its two exporters read "
        "v5.0.0's node folder and processes; leave it out",
    ),
    "v6 chain with a state db": Case(
        "create_k8s_config.py",
        v6_local("--state_db_user", "couch"),
        2,
        K8S + "--state_db_user is a v5.0.0 flag and this chain is --release v6.7.4: no v6.7.4 executor keeps "
        "its state in CouchDB; leave it out",
    ),
    "v6 multi_cluster with syncthing ids": Case(
        "create_k8s_config.py",
        [*multi(2), "--release", "v6.7.4"],
        2,
        K8S + "--kms_passwords is a v5.0.0 flag and this chain is --release v6.7.4: v6.7.4 has no kms: the "
        "accounts of create_account.py --release v6.7.4 need no password; leave it out",
    ),
    "v5 chain with overlord": Case(
        "create_k8s_config.py",
        local("--consensus", "overlord"),
        2,
        K8S + "--consensus overlord: v5.0.0 runs consensus_raft only; choose --release v6.7.4 for overlord, "
        "or leave --consensus out",
    ),
    "v6 chain given a v5 service config": Case(
        "create_k8s_config.py",
        v6_local("--service_config", "{tmp}/svc.toml"),
        1,
        SVC + " is a v5.0.0 service config (it lists kms and consensus); for --release v6.7.4 pass "
        "--service_config service-config.v6.7.4.toml or leave the flag out",
        {"svc.toml": SHIPPED},
    ),
    "v5 chain given a v6 service config": Case(
        "create_k8s_config.py",
        config(),
        1,
        SVC + " is a v6.7.4 service config (it lists consensus_overlord and consensus_raft); add --release v6.7.4, "
        "or pass a v5.0.0 service config such as the shipped service-config.toml",
        {"svc.toml": V6_SHIPPED},
    ),
    "v6 service of another program": Case(
        "create_k8s_config.py",
        v6_local("--service_config", "{tmp}/svc.toml"),
        1,
        SVC + ": service 'network' runs 'citacloud/network_p2p:v5.0.0', but v6.7.4's network is the image "
        "network_zenoh; name an image of that repository, e.g. citacloud/network_zenoh:v6.7.4",
        {"svc.toml": V6_SHIPPED.replace("citacloud/network_zenoh:v6.7.4", "citacloud/network_p2p:v5.0.0")},
    ),
    "v6 service with a command": Case(
        "create_k8s_config.py",
        v6_local("--service_config", "{tmp}/svc.toml"),
        1,
        SVC + ": services entry 0 has cmd; a v6.7.4 entry has only name and docker_image (the commands name "
        "the files this tool mounts, so they are fixed)",
        {
            "svc.toml": V6_SHIPPED.replace(
                'docker_image = "citacloud/network_zenoh:v6.7.4"',
                'docker_image = "citacloud/network_zenoh:v6.7.4"\ncmd = "network run"',
            )
        },
    ),
    "v6 multi_cluster given a v5 account": Case(
        "create_k8s_config.py",
        v6_multi(),
        1,
        K8S + f"--authorities entry 0 {{tmp}}/keys/{A0} is a CITA-Cloud v5.0.0 account (kms.db); a v6.7.4 chain "
        "needs a private_key file: make one with create_account.py --release v6.7.4",
        {f"keys/{A0}/kms.db": b"SQLite format 3\x00", f"keys/{A0}/node_address": A0, f"keys/{A0}/key_id": "1"},
    ),
    "v5 multi_cluster given a v6 account": Case(
        "create_k8s_config.py",
        multi(2, accounts_dir="{tmp}/keys"),
        1,
        NODE0 + f"{A0} is a CITA-Cloud v6.7.4 account (private_key); a v5.0.0 chain needs a kms account: make one "
        "with create_account.py (without --release), or add --release v6.7.4",
        {f"keys/{A0}/private_key": "11" * 32, f"keys/{A0}/node_address": A0[2:], f"keys/{A0}/validator_address": "ab"},
    ),
    "v6 account from a key file": Case(
        "create_account.py",
        ["--release", "v6.7.4", "--key_file", "{tmp}/key_file", "--output_dir", "{tmp}"],
        2,
        ACCOUNT + "--key_file is a v5.0.0 flag and this is --release v6.7.4: a v6.7.4 account has no kms and "
        "no password; leave it out",
    ),
    "syncthing identity for a v6 chain": Case(
        "create_syncthing_config.py",
        ["--release", "v6.7.4", "--output_dir", "{tmp}"],
        2,
        "create_syncthing_config.py: error: a --release v6.7.4 chain needs no syncthing identity: v6.7.4 syncs "
        "blocks over its own network, not with syncthing; make its accounts with create_account.py --release "
        "v6.7.4",
    ),
}


# multi_cluster's pre-made key folders, damaged one way at a time (tests/test_damaged_inputs.py makes the
# damage): the whole line, with {tmp} the test's folder, {a0}/{a1} the authorities, {d0}/{d1} the device IDs.
KEY_FOLDER_MESSAGES: dict[str, str] = {
    "account row deleted": NODE0
    + "{a0}/kms.db has no account 1 (the id in key_id); use the key_id create_account.py wrote beside it",
    "cert.pem missing": NODE0 + "{d0}/cert.pem is missing; {tmp}/keys/{d0} must hold cert.pem, key.pem",
    "config row deleted": NODE0 + "{a0}/kms.db has no config row; recreate the account with create_account.py",
    "empty key.pem": NODE0
    + "{d0}: key.pem is not an unencrypted PEM private key; use the folder create_syncthing_config.py made",
    "identity of another device": NODE0 + "{d0}/cert.pem has device ID {d1}, not {d0}",
    "key.pem of another identity": NODE0
    + "{d0}: key.pem is not the private key of cert.pem; use the folder create_syncthing_config.py made",
    "key_id ends with a newline": NODE0
    + "{a0}/key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    "key_id is a superscript digit": NODE0
    + "{a0}/key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    "key_id is a word": NODE0
    + "{a0}/key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    "key_id is empty": NODE0
    + "{a0}/key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    "key_id names no account": NODE0
    + "{a0}/kms.db has no account 2 (the id in key_id); use the key_id create_account.py wrote beside it",
    "key_id past SQLite's integers": NODE0
    + "{a0}/key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    "kms.db missing": NODE0 + "{a0}/kms.db is missing; {tmp}/keys/{a0} must hold kms.db, key_id, node_address",
    "kms.db not sqlite": NODE0
    + "{a0}/kms.db is not a readable kms.db (file is not a database); recreate the account with create_account.py",
    "kms.db without tables": NODE0
    + "{a0}/kms.db is not a readable kms.db (no such table: account); recreate the account with create_account.py",
    "malformed cert.pem": NODE0
    + "{d0}: cert.pem is not a PEM certificate; use the folder create_syncthing_config.py made",
    "node_address of another account": NODE0
    + "{a0}/node_address holds '{a1}', not the authority {a0} (without a trailing newline); "
    "is this the right account folder?",
    "node_address with a newline": NODE0
    + "{a0}/node_address holds '{a0}', not the authority {a0} (without a trailing newline); "
    "is this the right account folder?",
    "password hash stored as text": NODE0
    + "{a0}/kms.db: the password hash or a key is not stored as bytes; the kms.db is damaged",
    "private key decrypts to zero": NODE0
    + "{a0}/kms.db with --kms_passwords entry 0: the decrypted private key is invalid; the kms.db is damaged",
    "pubkey is NULL": NODE0 + "{a0}/kms.db: the password hash or a key is not stored as bytes; the kms.db is damaged",
    "stored password hash changed": NODE0
    + "{a0}/kms.db with --kms_passwords entry 0: the password does not open this kms.db; "
    "give the password used with create_account.py",
    "stored pubkey is another account's": NODE0
    + "{a0}/kms.db with --kms_passwords entry 0: the private key does not match the stored public key; "
    "the kms.db is damaged",
    "truncated cert.pem": NODE0
    + "{d0}: cert.pem is not a PEM certificate; use the folder create_syncthing_config.py made",
    "unknown config_type": NODE0 + "{a0}/kms.db has an unknown kms type 'rsa'; expected sm or eth",
}


def fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def make_files(case: Case, tmp: Path) -> None:
    for relative, content in case.files.items():
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_each_error_is_one_whole_line(case: str, tmp_path: Path, capsys):
    message = MESSAGES[case]
    make_files(message, tmp_path)
    before = tree_snapshot(tmp_path)
    capsys.readouterr()
    code = MAINS[message.script]([fill(arg, tmp_path) for arg in message.argv], fixed_runtime())
    out, err = capsys.readouterr()
    assert (code, err) == (message.code, fill(message.line, tmp_path) + "\n")
    assert out == ""
    assert tree_snapshot(tmp_path) == before, "nothing may be written"


def test_a_busy_work_dir_is_one_whole_line(tmp_path: Path, monkeypatch, capsys):
    """The lock another run holds: the README's line, with the wait it was given."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", 0.2)
    holder = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    finally:
        os.close(holder)
    assert capsys.readouterr().err == (
        f"create_pvc.py: error: another run is writing in {work}: waited 0.2 s for it to finish; "
        "run again once it has finished\n"
    )
    assert list(work.iterdir()) == []


# --- v6.7.4 chains: manage_chain.py's refusals against fake v6 controllers, add_node/remove_node's -------

V6_CHANGE_MESSAGES = {
    "block interval 0": (
        ["set_block_interval", "0"],
        1,
        "a block interval of 0 s is refused: overlord's round timers would be 0 ms and raft's leader would ask "
        "for blocks in a busy loop; give 1 to 4294967 seconds; nothing was sent",
    ),
    "block interval above the u32 milliseconds": (
        ["set_block_interval", "4294968", "--yes"],
        1,
        "a block interval of 4294968 s is refused: consensus_overlord v6.7.4 counts it in milliseconds in 32 bits, "
        "which wrap above 4294967 s; give 1 to 4294967 seconds; nothing was sent",
    ),
    "block interval above a minute without --yes": (
        ["set_block_interval", "61"],
        1,
        "a block every 61 s: every later change, this one's undo included, waits up to that long for the block "
        "that applies it; pass --yes to do it anyway (at most 60 s without); nothing was sent",
    ),
    "overlord validator without its folder": (
        ["add_validator", "{n3}", "--node_rpc", "{rpc0}"],
        1,
        "this is an overlord chain: its validators are the nodes' BLS keys, not node addresses like {n3}; give the "
        "node's folder with --node_dir (its validator_address holds the key); nothing was sent",
    ),
    "a pasted validator key": (
        ["add_validator", "0x" + "ab" * 48, "--node_rpc", "{rpc0}"],
        2,
        "add_validator takes the node's address (0x and 40 hex digits), not a key: an overlord validator's key is "
        "read from the node's folder (--node_dir)",
    ),
    "a validator that is not one": (
        ["remove_validator", "0x" + "ab" * 48],
        1,
        "0x" + "ab" * 48 + " is not a BLS12-381 public key: an overlord chain's validators are the 48-byte keys of "
        "the nodes' validator_address files; give the node's folder (--node_dir); nothing was sent",
    ),
    "a v5 admin folder": (
        ["emergency_brake", "on", "--admin_dir", "{v5admin}", "--admin_password", "admin-pass-123"],
        1,
        "the chain at --rpc runs v6.7.4, but --admin_dir {v5admin} holds a v5.0.0 account (kms.db); give the admin "
        "folder of this chain (<chain>-admin/); nothing was sent",
    ),
}


@pytest.mark.parametrize("case", sorted(V6_CHANGE_MESSAGES))
def test_each_v6_governance_refusal_is_one_whole_line(case: str, tmp_path: Path, capsys):
    import manage_chain
    from tests.fakechain import running
    from tests.test_manage_chain import admin_account, write_account
    from tests.test_manage_chain_v6 import ADMIN_SECRET, node_address, tweaks, v6_chain, write_v6_account

    admin = write_v6_account(tmp_path / "test-chain-admin", ADMIN_SECRET)
    v5admin = write_account(tmp_path / "v5-admin", admin_account())
    argv, code, line = V6_CHANGE_MESSAGES[case]
    chain = v6_chain()
    with running(chain, tweaks(3)) as nodes:
        values = {"{rpc0}": nodes[0], "{n3}": "0x" + node_address(3).hex(), "{v5admin}": str(v5admin)}
        full = [*argv, "--rpc", ",".join(nodes)]
        if "--admin_dir" not in argv:
            full += ["--admin_dir", str(admin)]
        for key, value in values.items():
            full = [item.replace(key, value) for item in full]
            line = line.replace(key, value)
        capsys.readouterr()
        assert manage_chain.main(full, fixed_runtime()) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"manage_chain.py: error: {line}\n")
    assert "SendRawTransaction" not in chain.calls


@pytest.mark.parametrize("verb", ["add_node", "remove_node"])
@pytest.mark.parametrize("kind", ["local_cluster", "multi_cluster"])
def test_membership_on_a_v6_chain_is_refused_in_one_line(verb: str, kind: str, tmp_path: Path, capsys):
    from tests.manifest_variants import V6_MULTI, v6_multi_argv

    chain = "tc" if kind == "local_cluster" else V6_MULTI
    work = tmp_path / "work"
    made = v6_local("--chain_name", chain) if kind == "local_cluster" else v6_multi_argv(work)
    assert create_k8s_config.main([fill(arg, tmp_path) for arg in made], fixed_runtime()) == 0, capsys.readouterr()
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    argv = [verb, "--work_dir", str(work)]
    argv += ["--kms_password", "pw"] if verb == "add_node" else ["--node", "1", "--rpc", "127.0.0.1:1"]
    assert create_k8s_config.main(argv, fixed_runtime()) == 1
    out, err = capsys.readouterr()
    yaml = "tc.yaml" if kind == "local_cluster" else f"{chain}-0.yaml"
    assert (out, err) == (
        "",
        f"create_k8s_config.py: error: {work}/{yaml}: chain {chain!r} runs CITA-Cloud v6.7.4, and add_node/remove_node "
        "do not support v6.7.4 membership changes yet (only v5.0.0 chains); its validators can be changed with "
        "manage_chain.py add_validator/remove_validator\n",
    )
    assert tree_snapshot(tmp_path) == before
