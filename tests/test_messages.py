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
import contextlib
import errno
import fcntl
import hashlib
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import create_account
import create_k8s_config
import create_pvc
import create_syncthing_config
import manage_chain
from runner_k8s.keys.accounts import KmsFlavour, account_from_secret
from runner_k8s.keys.keystore import render_kms_db
from runner_k8s.runtime import Runtime
from runner_k8s.write import files
from tests.conftest import FIXED_NOW, REPO, DeterministicRandom, fixed_runtime, output_of, tree_snapshot
from tests.fakechain import Chain, Tweak, block_hash, oracle_hash, running
from tests.inputs import MultiArgs, address, device_id, device_id_of_certificate
from tests.live.rpc import encode_message

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
    # --- add_node --seed_from (issue 25): the flags, checked before the chain is read ---
    "add_node --rpc without --seed_from": Case(
        "create_k8s_config.py",
        ["add_node", "--rpc", "127.0.0.1:1", "--work_dir", "{tmp}"],
        2,
        K8S + "--rpc and --seed_rpc go with --seed_from: leave them out, or say which node seeds",
    ),
    "add_node --seed_rpc without --rpc": Case(
        "create_k8s_config.py",
        ["add_node", "--seed_from", "1", "--seed_rpc", "127.0.0.1:1", "--work_dir", "{tmp}"],
        2,
        K8S + "--seed_from: give both --rpc (the other nodes) and --seed_rpc (the seed node's RPC)",
    ),
    "add_node two seed addresses": Case(
        "create_k8s_config.py",
        ["add_node", "--seed_from", "1", "--rpc", "127.0.0.1:1", "--seed_rpc", "127.0.0.1:2,127.0.0.1:3"],
        2,
        K8S + "--seed_rpc takes one address (node 1's RPC), not 2",
    ),
    "add_node --seed_from without the chain's answer": Case(
        "create_k8s_config.py",
        ["add_node", "--seed_from", "1", "--work_dir", "{tmp}"],
        2,
        K8S + "--seed_from 1 needs --rpc (the other running nodes' RPC) and --seed_rpc (node 1's RPC): the chain is "
        "asked whether the seed can stop and is at the head (a --dry_run goes without)",
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


# --- manage_chain.py, against a fake chain (tests/fakechain.py) -----------------------------------------
#
# Each case runs manage_chain.py in this process against fake v5.0.0 controllers on 127.0.0.1, with a
# clock that moves only when the tool sleeps. In argv and lines: {rpc} is the --rpc list (the first
# `rpc` nodes), {n0}, {n1}, ... each node's address; {tmp} the test's folder, {admin_dir} the admin's
# folder {tmp}/test-chain-admin and {admin} its address; {V1}..{V4} validators; {b100}, {f100}... the
# fake's block and forked-block hashes; {tx} the hash of the transaction the chain took (for a dry
# run: what the oracle computes from `dry_tx`); {id} the chain id, sha256('test-chain').

CHAIN_PASSWORD = "admin-pass-123"
V1, V2, V3, V4 = (bytes([n]) * 20 for n in (0x11, 0x22, 0x33, 0x44))
ADMIN_SECRET = {"sm": 0x1234567890ABCDEF1234567890ABCDEF << 100, "eth": 0xFEDCBA0987654321FEDCBA0987654321 << 100}
SUCCESSOR_SECRET = 0xABCDEF0123456789ABCDEF0123456789 << 100
CHAIN_ID = "0x26b0b83e7281be3b117658b6f2636d0368cad3d74f22243428f5401a4b70897e"  # contracts.md §2
ZERO_PRE = "0x" + "00" * 33
MC = "manage_chain.py: error: "


ADMIN = account_from_secret(KmsFlavour.SM, ADMIN_SECRET["sm"])
SUCCESSOR = account_from_secret(KmsFlavour.SM, SUCCESSOR_SECRET)


@dataclass(frozen=True)
class ChainCase:
    """manage_chain.py's argv, the chain and its nodes' departures, the exit code, the stderr line, each stdout line."""

    argv: Sequence[str]
    code: int
    err: str = ""
    out: Sequence[str] = ()
    chain: Mapping[str, object] = field(default_factory=dict)
    tweaks: Sequence[Mapping[str, object]] = ({}, {}, {})  # one fakechain.Tweak's fields per node
    rpc: int | None = None  # how many of the nodes --rpc lists (default: all)
    sent: bool = False  # whether a transaction reached a node
    utxo: tuple[int, str] | None = None  # (lock, output hex) of a transaction the chain did not take
    each_sleep: Callable[[Any, list[Any]], None] | None = None  # (chain, tweaks): the world moves on
    terminal: Sequence[str] | None = None  # the status lines on stderr when it is a terminal (a final one ends in \n)
    tick: float = 0.0  # seconds the clock moves at each reading, besides the sleeps


def govern(verb: str, *args: str, admin_dir: str = "{admin_dir}", rpc: str = "{rpc}") -> list[str]:
    return [verb, *args, "--rpc", rpc, "--admin_dir", admin_dir, "--admin_password", CHAIN_PASSWORD]


def checks_line(count: str = "all 3 nodes", height: int = 100) -> str:
    return f"  - {count} answered and agree on the system config and on block {{b{height}}} at height {height}"


CHAIN_CHECKS = ["checks passed:", checks_line(), f"  - the chain id is sha256('test-chain') = {CHAIN_ID}"]
SIGNER = "  - the signer {admin} is the chain's admin"


def transaction(lock: int, label: str, output: str, pre: str = ZERO_PRE) -> list[str]:
    return [
        f"transaction: lock {lock} ({label}), version 0",
        f"  pre_tx_hash {pre}",
        f"  output      {output}",
        "  tx_hash     {tx}",
        "  sender      {admin}",
    ]


BRAKE_WARNING = (
    "warning: with the brake on every node refuses ordinary transactions ('forbidden'); those already in the pool "
    "are still packed. Only the admin's changes get through, including brake off"
)
NODE_LINE = "node {n%d}: height %d, block {b%d} by {V1} at 2023-11-14T22:13:20Z, 2 peers, controller 5.0.0"
CONFIG_LINES = [
    f"  chain_id        {CHAIN_ID}",
    "  admin           {admin}",
    "  validators      {V1}, {V2}, {V3}",
    "  block_interval  6 s",
    "  emergency_brake off",
    "  version         0",
]
UNREACHABLE = "unreachable (Connection refused): check the address and that the node is running"


APPLIED_AT = 101  # the fake chain's block that holds the change (its height is 100 before)


def advance(blocks: int) -> Callable[[Any, list[Any]], None]:
    """Each sleep makes one block, until the chain is `blocks` blocks past the change's (no state: a case may rerun)."""

    def sleep(chain: Any, tweaks: list[Any]) -> None:
        chain.height = min(chain.height + 1, APPLIED_AT + blocks)

    return sleep


def node_line(index: int, height: int, behind: int = 0, block: str = "b", by: str = "V1") -> str:
    lag = f" ({behind} behind)" if behind else ""
    return (
        f"node {{n{index}}}: height {height}{lag}, block {{{block}{height}}} by {{{by}}} at 2023-11-14T22:13:20Z, "
        "2 peers, controller 5.0.0"
    )


def validators_changed(before: str, after: str) -> str:
    return f"changed validators: [{before}] -> [{after}]"


def catch_up(node: int, by: int = 1) -> Callable[[Any, list[Any]], None]:
    """Each sleep takes node `node` `by` blocks closer to the chain's head."""

    def sleep(chain: Any, tweaks: list[Any]) -> None:
        tweaks[node].lag = max(0, tweaks[node].lag - by)

    return sleep


def stop_at(height: int, lagging: int) -> Callable[[Any, list[Any]], None]:
    """Each sleep makes one block until `height`, and takes node `lagging` one block closer to the head."""

    def sleep(chain: Any, tweaks: list[Any]) -> None:
        chain.height = min(height, chain.height + 1)
        tweaks[lagging].lag = max(0, tweaks[lagging].lag - 1)

    return sleep


def then(first: Callable[[Any, list[Any]], None], change: Callable[[Any], None]) -> Callable[[Any, list[Any]], None]:
    def sleep(chain: Any, tweaks: list[Any]) -> None:
        change(chain)
        first(chain, tweaks)

    return sleep


def goes_away(node: int, first: Callable[[Any, list[Any]], None]) -> Callable[[Any, list[Any]], None]:
    """After the first sleep, node `node` answers no GetBlockNumber."""

    def sleep(chain: Any, tweaks: list[Any]) -> None:
        first(chain, tweaks)
        tweaks[node].unavailable = {"GetBlockNumber"}

    return sleep


def interrupt(chain: Any, tweaks: list[Any]) -> None:
    raise KeyboardInterrupt


def terminated(chain: Any, tweaks: list[Any]) -> None:
    from runner_k8s.errors import Stopped

    raise Stopped(15)  # SIGTERM, as the writer's signal handler raises it


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ALL_APPLIED = "applied on all 3 nodes after 0.0 s (heights: {n0} 101, {n1} 101, {n2} 101)"
BRAKE_ON = [
    *CHAIN_CHECKS,
    SIGNER,
    "  - the brake is off now",
    "  - output of 1 byte is valid for lock 1005 (emergency_brake)",
]
REMOVE_V3 = [
    *CHAIN_CHECKS,
    SIGNER,
    "  - {V3} is a validator and not the last one",
    "  - {V3} is not raft's leader (the latest block is by {V1})",
    "  - 3 validators after the change: raft still makes blocks with 1 of them down",
    "  - one membership change: 4 -> 3 validators",
    "  - output of 60 bytes is valid for lock 1004 (validators)",
]
FOUR: Mapping[str, object] = {"validators": [V1, V2, V3, V4]}
NEW_NODE = ["--node_rpc", "{n3}"]  # the fourth fake node runs the new validator; --rpc lists the first three
OTHER_ID = "0x" + hashlib.sha256(b"other-chain").hexdigest()
ADD_V4 = ("add_validator", "{V4}")
SEND_REFUSED = "node {n0} refused the transaction: "
WAIT_BLOCKS = "waiting for 2 more blocks on every node: not done within 5s "


def add_v4(*extra: str) -> list[str]:
    return [*govern(*ADD_V4), *NEW_NODE, *extra]


def new_node_checks(height: int = 100, behind: int = 0, *, before: int = 3) -> list[str]:
    after = before + 1
    return [
        *CHAIN_CHECKS,
        SIGNER,
        "  - {V4} is 20 bytes and not a validator yet",
        f"  - the new validator's node {{n3}} runs this chain at height {height}, {behind} blocks behind (at most 20)",
        f"  - {after} validators after the change: raft still makes blocks with {(after - 1) // 2} of them down",
        f"  - one membership change: {before} -> {after} validators",
        f"  - output of {20 * after} bytes is valid for lock 1004 (validators)",
    ]


def fragile(count: int) -> str:
    noun = "validator" if count == 1 else "validators"
    return (
        f"after this change the chain has {count} {noun}: raft needs {count // 2 + 1} of them, so one node failure "
        "stops the chain"
    )


CHAIN_MESSAGES: dict[str, ChainCase] = {
    # --- status (status.py, chainview.py) ---
    "status of an agreeing chain": ChainCase(
        ["status", "--rpc", "{rpc}"],
        0,
        out=[
            *(node_line(i, 100) for i in range(3)),
            "system config (the same on all 3 nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b100} at height 100",
        ],
    ),
    "status of two nodes": ChainCase(
        ["status", "--rpc", "{rpc}"],
        0,
        out=[
            *(node_line(i, 100) for i in range(2)),
            "system config (the same on both nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b100} at height 100",
        ],
        tweaks=({}, {}),
    ),
    "status of one node": ChainCase(
        ["status", "--rpc", "{rpc}"],
        0,
        out=[
            node_line(0, 100),
            "system config:",
            *CONFIG_LINES,
            "agreement: every node has block {b100} at height 100",
        ],
        tweaks=({},),
    ),
    "status of a chain with a lagging node": ChainCase(
        ["status", "--rpc", "{rpc}"],
        0,
        out=[
            node_line(0, 100),
            node_line(1, 97, behind=3),
            node_line(2, 100),
            "system config (the same on all 3 nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b97} at height 97",
        ],
        tweaks=({}, {"lag": 3}, {}),
    ),
    "status with a node that does not answer": ChainCase(
        ["status", "--rpc", "{rpc},127.0.0.1:1"],
        1,
        "1 problem on the chain: node 127.0.0.1:1: " + UNREACHABLE,
        [node_line(0, 100), "node 127.0.0.1:1: no answer (see below)", "problem: node 127.0.0.1:1: " + UNREACHABLE],
        tweaks=({},),
    ),
    "status with two problems": ChainCase(
        ["status", "--rpc", "{rpc}"],
        1,
        "2 problems on the chain: emergency_brake differs: off on {n0}; on on {n1} (and more above)",
        [
            node_line(0, 100),
            node_line(1, 100, block="f"),
            "problem: emergency_brake differs: off on {n0}; on on {n1}",
            "problem: different blocks at height 100: {b100} on {n0}; {f100} on {n1}",
        ],
        tweaks=({}, {"fork": True, "config": {"emergency_brake": True}}),
    ),
    "status of another chain": ChainCase(
        ["status", "--rpc", "{rpc}", "--chain_name", "other-chain"],
        1,
        f"1 problem on the chain: chain id of {{n0}} is not sha256('other-chain') = {OTHER_ID}: these nodes do not "
        "run the chain other-chain",
        [
            node_line(0, 100),
            "system config:",
            *CONFIG_LINES,
            f"problem: chain id of {{n0}} is not sha256('other-chain') = {OTHER_ID}: these nodes do not run the chain "
            "other-chain",
        ],
        tweaks=({},),
    ),
    "status --watch until Ctrl-C": ChainCase(
        ["status", "--rpc", "{rpc}", "--watch"],
        0,
        out=[
            "2023-11-14T22:13:20Z manage_chain.py status, every 2 s; Ctrl-C ends it",
            node_line(0, 100),
            "system config:",
            *CONFIG_LINES,
            "agreement: every node has block {b100} at height 100",
            "",
        ],
        tweaks=({},),
        each_sleep=interrupt,
    ),
    "status --watch and --wait_synced": ChainCase(
        ["status", "--rpc", "{rpc}", "--watch", "--wait_synced"],
        2,
        "--watch and --wait_synced cannot go together: --watch reports until Ctrl-C",
        tweaks=({},),
    ),
    "status --in_step without --wait_synced": ChainCase(
        ["status", "--rpc", "{rpc}", "--in_step", "15"],
        2,
        "--in_step goes with --wait_synced: it says how long every node must keep up",
        tweaks=({},),
    ),
    "status --wait_synced until a node is 2 behind": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced"],
        0,
        out=[
            node_line(0, 100),
            node_line(1, 98, behind=2),
            "system config (the same on both nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b98} at height 98",
        ],
        tweaks=({}, {"lag": 5}),
        each_sleep=catch_up(1),
    ),
    "status --wait_synced caught up at the deadline exactly": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced", "--timeout", "4"],
        0,
        out=[
            node_line(0, 100),
            node_line(1, 98, behind=2),
            "system config (the same on both nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b98} at height 98",
        ],
        tweaks=({}, {"lag": 4}),
        each_sleep=catch_up(1),
    ),
    "status --wait_synced gives up at the deadline exactly": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced", "--timeout", "4"],
        1,
        "the nodes did not catch up within 4 s: {n1} 3 blocks behind",
        [
            node_line(0, 100),
            node_line(1, 97, behind=3),
            "system config (the same on both nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b97} at height 97",
        ],
        tweaks=({}, {"lag": 5}),
        each_sleep=catch_up(1),
    ),
    "status --wait_synced for two nodes": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced", "--timeout", "1", "--interval", "1"],
        1,
        "the nodes did not catch up within 1 s: {n1} 3 blocks behind (and more above)",
        [
            node_line(0, 100),
            node_line(1, 97, behind=3),
            node_line(2, 96, behind=4),
            "system config (the same on all 3 nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b96} at height 96",
        ],
        tweaks=({}, {"lag": 3}, {"lag": 4}),
    ),
    "status --wait_synced for a node that does not answer": ChainCase(
        ["status", "--rpc", "{rpc},127.0.0.1:1", "--wait_synced", "--timeout", "2"],
        1,
        "the nodes did not catch up within 2 s: node 127.0.0.1:1: " + UNREACHABLE,
        [node_line(0, 100), "node 127.0.0.1:1: no answer (see below)", "problem: node 127.0.0.1:1: " + UNREACHABLE],
        tweaks=({},),
    ),
    # --- the command line (manage_chain.py) ---
    "an --rpc node listed twice": ChainCase(
        ["status", "--rpc", "127.0.0.1:5,127.0.0.1:5"],
        2,
        "argument --rpc: entry 1: 127.0.0.1:5 is listed twice (see manage_chain.py status --help)",
    ),
    "an --rpc entry that is not host:port": ChainCase(
        ["status", "--rpc", "127.0.0.1:5,a b"],
        2,
        "argument --rpc: entry 1: 'a b' is not host:port (an IPv6 address goes in brackets: [::1]:50004) "
        "(see manage_chain.py status --help)",
    ),
    "an --rpc port past 65535": ChainCase(
        ["status", "--rpc", "127.0.0.1:65536"],
        2,
        "argument --rpc: entry 0: '127.0.0.1:65536': the port must be 1-65535 (see manage_chain.py status --help)",
    ),
    "a --timeout that is not a number": ChainCase(
        ["status", "--rpc", "{rpc}", "--timeout", "soon"],
        2,
        "argument --timeout: 'soon' is not a number of seconds (see manage_chain.py status --help)",
    ),
    "a --timeout of 0": ChainCase(
        ["status", "--rpc", "{rpc}", "--timeout", "0"],
        2,
        "argument --timeout: '0' must be more than 0 and at most 86400 seconds (see manage_chain.py status --help)",
    ),
    "a --timeout past a day": ChainCase(
        ["status", "--rpc", "{rpc}", "--timeout", "86400.5"],
        2,
        "argument --timeout: '86400.5' must be more than 0 and at most 86400 seconds "
        "(see manage_chain.py status --help)",
    ),
    "a --timeout of nan": ChainCase(
        ["status", "--rpc", "{rpc}", "--timeout", "nan"],
        2,
        "argument --timeout: 'nan' must be more than 0 and at most 86400 seconds (see manage_chain.py status --help)",
    ),
    "a --timeout of a day": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced", "--timeout", "86400"],
        0,
        out=[
            node_line(0, 100),
            "system config:",
            *CONFIG_LINES,
            "agreement: every node has block {b100} at height 100",
        ],
        tweaks=({},),
    ),
    "an ADDRESS that is not 20 bytes": ChainCase(
        govern("remove_validator", "0x" + "ab" * 19),
        2,
        f"argument ADDRESS: '0x{'ab' * 19}' is not an address: give 0x and 40 hex digits, as in "
        "node_address (see manage_chain.py remove_validator --help)",
    ),
    "an --max_lag past its limit": ChainCase(
        add_v4("--max_lag", "1000001"),
        2,
        "argument --max_lag: '1000001' is too large: the most it can be is 1000000 "
        "(see manage_chain.py add_validator --help)",
        tweaks=({}, {}, {}, {}),
        rpc=3,
    ),
    "an --node_rpc that is not host:port": ChainCase(
        [*govern(*ADD_V4), "--node_rpc", "a b"],
        2,
        "argument --node_rpc: 'a b' is not host:port (an IPv6 address goes in brackets: [::1]:50004) "
        "(see manage_chain.py add_validator --help)",
    ),
    "add_validator without --node_rpc": ChainCase(
        govern(*ADD_V4),
        2,
        "the following arguments are required: --node_rpc (see manage_chain.py add_validator --help)",
    ),
    "no admin password": ChainCase(
        govern("emergency_brake", "on")[:-2],
        2,
        "--admin_password is required: give --admin_password, or --admin_password_file FILE ('-' reads standard "
        "input), or run on a terminal to be asked for it",
    ),
    "set_block_interval on v5.0.0": ChainCase(
        govern("set_block_interval", "3"),
        1,
        "set_block_interval is refused on v5.0.0: a running consensus_raft v5.0.0 never applies a new block "
        "interval (it reads the interval once, when its raft store is empty), so the chain would report one "
        "interval and keep another; choose it when the chain is made (create_k8s_config.py --block_interval), or "
        "run v6.7.4; nothing was sent",
    ),
    # --- the admin's account folder (adminkeys.py) ---
    "a wrong admin password": ChainCase(
        [*govern("emergency_brake", "on")[:-1], "not-the-password"],
        1,
        "--admin_dir {admin_dir}: the password does not open this kms.db; give the password it was made with "
        "(create_k8s_config.py's --kms_password, or the key_file of create_account.py)",
    ),
    "an --admin_dir that is not there": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/nowhere"),
        1,
        "--admin_dir {tmp}/nowhere is not a folder; give the super admin's account folder (<chain>-admin/)",
    ),
    "an --admin_dir without kms.db": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/empty"),
        1,
        "--admin_dir {tmp}/empty: kms.db is missing; give the account folder create_k8s_config.py (<chain>-admin/) "
        "or create_account.py made (kms.db, key_id, node_address)",
    ),
    "an --admin_dir whose kms.db is a folder": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/kms-db-folder"),
        1,
        f"--admin_dir {{tmp}}/kms-db-folder: cannot read kms.db: {os.strerror(errno.EISDIR)}",
    ),
    "an --admin_dir whose node_address is another account's": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/mislabelled"),
        1,
        "--admin_dir {tmp}/mislabelled: node_address says '{successor}', but kms.db holds {admin}",
    ),
    "an --admin_dir whose key_id is not a number": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/bad-key-id"),
        1,
        "--admin_dir {tmp}/bad-key-id: key_id must hold the account id (digits only, no newline)",
    ),
    # --- what every change checks first (governance.py) ---
    "a signer that is not the admin": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "the signer {admin} (--admin_dir {admin_dir}) is not the chain's admin {V4}; give the current admin's "
        "account folder; nothing was sent",
        chain={"admin": V4},
    ),
    "nodes with different admins": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "admin differs: {admin} on {n0}; {V4} on {n1}; nothing was sent",
        tweaks=({}, {"config": {"admin": V4}}),
    ),
    "nodes with different blocks": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "different blocks at height 100: {b100} on {n0}; {f100} on {n1}; nothing was sent",
        tweaks=({}, {"fork": True}),
    ),
    "nodes with two problems": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "admin differs: {admin} on {n0}; {V4} on {n1}; different blocks at height 100: {b100} on {n0}; {f100} on "
        "{n1}; nothing was sent",
        tweaks=({}, {"config": {"admin": V4}, "fork": True}),
    ),
    "a node that does not answer": ChainCase(
        govern("emergency_brake", "on", rpc="{rpc},127.0.0.1:1"),
        1,
        "node 127.0.0.1:1: " + UNREACHABLE + "; nothing was sent",
        tweaks=({},),
    ),
    "the chain of the admin folder's name is not this one": ChainCase(
        govern("emergency_brake", "on", admin_dir="{tmp}/other-chain-admin"),
        1,
        f"chain id of {{n0}}, {{n1}}, {{n2}} is not sha256('other-chain') = {OTHER_ID}: these nodes do not run the "
        "chain other-chain (the name comes from --admin_dir {tmp}/other-chain-admin; give --chain_name if the folder "
        "was renamed); nothing was sent",
    ),
    "--chain_name of another chain": ChainCase(
        [*govern("emergency_brake", "on"), "--chain_name", "other-chain"],
        1,
        f"chain id of {{n0}} is not sha256('other-chain') = {OTHER_ID}: these nodes do not run the chain "
        "other-chain; nothing was sent",
        tweaks=({},),
    ),
    "an admin folder that names no chain": ChainCase(
        [*govern("emergency_brake", "on", admin_dir="{tmp}/admin-folder"), "--dry_run"],
        0,
        out=[
            "checks passed:",
            "  - the node answered, with block {b100} at height 100",
            "  - chain id not compared with a chain name (give --chain_name to compare it)",
            *BRAKE_ON[3:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "would change emergency_brake: off -> on",
            "dry run: nothing was sent",
        ],
        tweaks=({},),
        utxo=(1005, "0x01"),
    ),
    # --- emergency_brake ---
    "emergency_brake on, dry run": ChainCase(
        [*govern("emergency_brake", "on"), "--dry_run"],
        0,
        out=[
            *BRAKE_ON,
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "would change emergency_brake: off -> on",
            "dry run: nothing was sent",
        ],
        utxo=(1005, "0x01"),
    ),
    "emergency_brake on": ChainCase(
        govern("emergency_brake", "on"),
        0,
        out=[
            *BRAKE_ON,
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n0}",
            ALL_APPLIED,
            "changed emergency_brake: off -> on",
        ],
        sent=True,
    ),
    "emergency_brake off on two nodes": ChainCase(
        govern("emergency-brake", "off"),
        0,
        out=[
            "checks passed:",
            checks_line("both nodes"),
            *CHAIN_CHECKS[2:],
            SIGNER,
            "  - the brake is on now",
            "  - output of 0 bytes is valid for lock 1005 (emergency_brake)",
            *transaction(1005, "emergency_brake", "0x"),
            "sent to {n0}",
            "applied on both nodes after 0.0 s (heights: {n0} 101, {n1} 101)",
            "changed emergency_brake: on -> off",
        ],
        chain={"emergency_brake": True},
        tweaks=({}, {}),
        sent=True,
    ),
    "a change applied in a fraction of a second": ChainCase(
        govern("emergency_brake", "on"),
        0,
        out=[
            "checks passed:",
            "  - the node answered, with block {b100} at height 100",
            *BRAKE_ON[2:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n0}",
            "applied on the node after 0.2 s (heights: {n0} 101)",
            "changed emergency_brake: off -> on",
        ],
        tweaks=({},),
        sent=True,
        tick=0.08,  # three readings: the start, the status line, the time taken (0.16 s)
    ),
    "emergency_brake on, applied on the one node": ChainCase(
        govern("emergency_brake", "on"),
        0,
        out=[
            "checks passed:",
            "  - the node answered, with block {b100} at height 100",
            *BRAKE_ON[2:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n0}",
            "applied on the node after 0.0 s (heights: {n0} 101)",
            "changed emergency_brake: off -> on",
        ],
        tweaks=({},),
        sent=True,
    ),
    "the brake already on": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "the emergency brake is already on; nothing to change; nothing was sent",
        chain={"emergency_brake": True},
    ),
    # --- set_admin ---
    "set_admin, dry run": ChainCase(
        [*govern("set_admin", "{successor}"), "--new_admin_dir", "{tmp}/successor", "--dry_run"],
        0,
        out=[
            *CHAIN_CHECKS,
            SIGNER,
            "  - {successor} is 20 bytes and not the admin yet",
            "  - --new_admin_dir {tmp}/successor holds {successor}, an sm account",
            "  - output of 20 bytes is valid for lock 1002 (admin)",
            *transaction(1002, "admin", "{successor}"),
            "would change admin: {admin} -> {successor}",
            "dry run: nothing was sent",
        ],
        utxo=(1002, "{successor}"),
    ),
    "set_admin to an account not shown, with --yes": ChainCase(
        [*govern("set_admin", "{V4}"), "--yes"],
        0,
        out=[
            *CHAIN_CHECKS,
            SIGNER,
            "  - {V4} is 20 bytes and not the admin yet",
            "  - output of 20 bytes is valid for lock 1002 (admin)",
            "warning: only {V4} can govern the chain after this; its account folder was not given (--new_admin_dir), "
            "so it is not known to exist",
            *transaction(1002, "admin", "{V4}"),
            "sent to {n0}",
            ALL_APPLIED,
            "changed admin: {admin} -> {V4}",
        ],
        sent=True,
    ),
    "set_admin to an account not shown": ChainCase(
        govern("set_admin", "{V4}"),
        1,
        "only {V4} can govern the chain after this; its account folder was not given (--new_admin_dir), so it is "
        "not known to exist; give --new_admin_dir DIR or pass --yes; nothing was sent",
    ),
    "set_admin with the folder of another account": ChainCase(
        [*govern("set_admin", "{V4}"), "--new_admin_dir", "{tmp}/successor"],
        1,
        "--new_admin_dir {tmp}/successor holds account {successor}, not {V4}; nothing was sent",
    ),
    "set_admin with an account of the other kms type": ChainCase(
        [*govern("set_admin", "{V4}"), "--new_admin_dir", "{tmp}/eth-successor"],
        1,
        "--new_admin_dir {tmp}/eth-successor is an eth account, but the chain's kms is sm: its signatures would never "
        "match; make it with create_account.py --kms_type sm; nothing was sent",
    ),
    "set_admin to the admin": ChainCase(
        govern("set_admin", "{admin}"),
        1,
        "{admin} is already the admin; nothing to change; nothing was sent",
    ),
    # --- remove_validator ---
    "remove_validator, dry run": ChainCase(
        [*govern("remove_validator", "{V3}"), "--dry_run"],
        0,
        out=[
            *REMOVE_V3,
            *transaction(1004, "validators", "0x" + (V1 + V2 + V4).hex()),
            "would change validators: [{V1}, {V2}, {V3}, {V4}] -> [{V1}, {V2}, {V4}]",
            "dry run: nothing was sent",
        ],
        chain=FOUR,
        utxo=(1004, "0x" + (V1 + V2 + V4).hex()),
    ),
    "remove_validator, and two more blocks": ChainCase(
        govern("remove_validator", "{V3}"),
        0,
        out=[
            *REMOVE_V3,
            *transaction(1004, "validators", "0x" + (V1 + V2 + V4).hex()),
            "sent to {n0}",
            ALL_APPLIED,
            "blocks continue: block 103 {b103} by {V1}, the same on every node",
            validators_changed("{V1}, {V2}, {V3}, {V4}", "{V1}, {V2}, {V4}"),
        ],
        chain=FOUR,
        sent=True,
        each_sleep=advance(2),
    ),
    "remove_validator, and blocks by the removed leader": ChainCase(
        govern("remove_validator", "{V3}"),
        0,
        out=[
            *REMOVE_V3,
            "warning: block 103 was still made by the removed {V3}: it was leading when the change was applied and "
            "v5.0.0 does not step it down; restart its pod",
            *transaction(1004, "validators", "0x" + (V1 + V2 + V4).hex()),
            "sent to {n0}",
            ALL_APPLIED,
            "blocks continue: block 103 {b103} by {V3}, the same on every node",
            validators_changed("{V1}, {V2}, {V3}, {V4}", "{V1}, {V2}, {V4}"),
        ],
        chain=FOUR,
        sent=True,
        each_sleep=then(advance(2), lambda chain: setattr(chain, "leader", V3)),
    ),
    "remove_validator, and the chain stops": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "5"],
        1,
        WAIT_BLOCKS + "({n0}: height 101 of 103; {n1}: height 101 of 103; {n2}: height 101 of 103); the transaction "
        "{tx} was sent to {n0}",
        chain=FOUR,
        sent=True,
    ),
    "remove_validator, and one more block only": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "5"],
        1,
        WAIT_BLOCKS + "({n0}: height 102 of 103; {n1}: height 102 of 103; {n2}: height 102 of 103); the transaction "
        "{tx} was sent to {n0}",
        chain=FOUR,
        sent=True,
        each_sleep=advance(1),
    ),
    "remove_validator, and two blocks at the deadline exactly": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "2"],
        0,
        out=[
            *REMOVE_V3,
            *transaction(1004, "validators", "0x" + (V1 + V2 + V4).hex()),
            "sent to {n0}",
            ALL_APPLIED,
            "blocks continue: block 103 {b103} by {V1}, the same on every node",
            validators_changed("{V1}, {V2}, {V3}, {V4}", "{V1}, {V2}, {V4}"),
        ],
        chain=FOUR,
        sent=True,
        each_sleep=advance(2),
    ),
    "remove_validator, and the second block just after the deadline": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "1"],
        1,
        "waiting for 2 more blocks on every node: not done within 1s ({n0}: height 102 of 103; {n1}: height 102 of "
        "103; {n2}: height 102 of 103); the transaction {tx} was sent to {n0}",
        chain=FOUR,
        sent=True,
        each_sleep=advance(2),
    ),
    "remove_validator, blocks counted from when every node applied it": ChainCase(
        # node1 lags: it applies the change (block 101) a second later, when the chain is at 102; the chain then
        # makes block 103 and stops. Two blocks after block 101, but one only since every node had the change.
        [*govern("remove_validator", "{V3}"), "--timeout", "5"],
        1,
        WAIT_BLOCKS + "({n0}: height 103 of 104; {n1}: height 103 of 104); the transaction {tx} was sent to {n0}",
        chain=FOUR,
        tweaks=({}, {"lag": 2}),
        sent=True,
        each_sleep=stop_at(103, lagging=1),
    ),
    "remove_validator, and a fork after the change": ChainCase(
        govern("remove_validator", "{V3}"),
        1,
        "after the change the nodes have different blocks at height 103: {n0}: {b103}; {n1}: {b103}; {n2}: {f103}; "
        "the transaction {tx} was sent to {n0}",
        chain=FOUR,
        tweaks=({}, {}, {"fork_from": 103}),
        sent=True,
        each_sleep=advance(2),
    ),
    "remove_validator of raft's leader": ChainCase(
        govern("remove_validator", "{V1}"),
        1,
        "{V1} made the latest block: it is raft's leader, and a removed v5.0.0 leader does not step down, its "
        "consensus panics (raft-rs) and stays dead until its pod restarts; restart its pod so that another validator "
        "takes the lead, check with status, then run again; nothing was sent",
        chain=FOUR,
    ),
    "remove_validator of one that is none": ChainCase(
        govern("remove_validator", "{V4}"),
        1,
        "{V4} is not a validator (the validators are {V1}, {V2}, {V3}); nothing was sent",
    ),
    "remove_validator of the last one": ChainCase(
        govern("remove_validator", "{V1}"),
        1,
        "{V1} is the last validator: a chain without validators makes no more blocks (consensus_raft refuses to "
        "remove every voter); add another validator first; nothing was sent",
        chain={"validators": [V1]},
    ),
    "remove_validator leaving 2": ChainCase(
        govern("remove_validator", "{V3}"),
        1,
        fragile(2) + "; pass --yes to do it anyway; nothing was sent",
    ),
    "remove_validator leaving 1": ChainCase(
        govern("remove_validator", "{V2}"),
        1,
        fragile(1) + "; pass --yes to do it anyway; nothing was sent",
        chain={"validators": [V1, V2]},
    ),
    "remove_validator leaving 1, with --yes": ChainCase(
        [*govern("remove_validator", "{V2}"), "--yes", "--dry_run"],
        0,
        out=[
            *CHAIN_CHECKS,
            SIGNER,
            "  - {V2} is a validator and not the last one",
            "  - {V2} is not raft's leader (the latest block is by {V1})",
            "  - one membership change: 2 -> 1 validators",
            "  - output of 20 bytes is valid for lock 1004 (validators)",
            "warning: " + fragile(1),
            *transaction(1004, "validators", "{V1}"),
            "would change validators: [{V1}, {V2}] -> [{V1}]",
            "dry run: nothing was sent",
        ],
        chain={"validators": [V1, V2]},
        utxo=(1004, "{V1}"),
    ),
    # --- add_validator ---
    "add_validator, dry run": ChainCase(
        [*add_v4(), "--dry_run"],
        0,
        out=[
            *new_node_checks(100, 0),
            *transaction(1004, "validators", "0x" + (V1 + V2 + V3 + V4).hex()),
            "would change validators: [{V1}, {V2}, {V3}] -> [{V1}, {V2}, {V3}, {V4}]",
            "dry run: nothing was sent",
        ],
        tweaks=({}, {}, {}, {}),
        rpc=3,
        utxo=(1004, "0x" + (V1 + V2 + V3 + V4).hex()),
    ),
    "add_validator to two makes three": ChainCase(
        [*add_v4(), "--dry_run"],
        0,
        out=[
            *new_node_checks(100, 0, before=2),
            *transaction(1004, "validators", "0x" + (V1 + V2 + V4).hex()),
            "would change validators: [{V1}, {V2}] -> [{V1}, {V2}, {V4}]",
            "dry run: nothing was sent",
        ],
        chain={"validators": [V1, V2]},
        tweaks=({}, {}, {}, {}),
        rpc=3,
        utxo=(1004, "0x" + (V1 + V2 + V4).hex()),
    ),
    "add_validator through one node": ChainCase(
        [*add_v4(), "--dry_run"],
        0,
        out=[
            "checks passed:",
            "  - the node answered, with block {b100} at height 100",
            *new_node_checks(100, 0)[2:],
            *transaction(1004, "validators", "0x" + (V1 + V2 + V3 + V4).hex()),
            "would change validators: [{V1}, {V2}, {V3}] -> [{V1}, {V2}, {V3}, {V4}]",
            "dry run: nothing was sent",
        ],
        tweaks=({}, {}, {}, {}),
        rpc=1,
        utxo=(1004, "0x" + (V1 + V2 + V3 + V4).hex()),
    ),
    "add_validator to one makes two": ChainCase(
        add_v4(),
        1,
        fragile(2) + "; pass --yes to do it anyway; nothing was sent",
        chain={"validators": [V1]},
        tweaks=({}, {}, {}, {}),
        rpc=3,
    ),
    "add_validator of a node at most --max_lag behind": ChainCase(
        [*add_v4(), "--dry_run"],
        0,
        out=[
            *new_node_checks(80, 20),
            *transaction(1004, "validators", "0x" + (V1 + V2 + V3 + V4).hex()),
            "would change validators: [{V1}, {V2}, {V3}] -> [{V1}, {V2}, {V3}, {V4}]",
            "dry run: nothing was sent",
        ],
        tweaks=({}, {}, {}, {"lag": 20}),
        rpc=3,
        utxo=(1004, "0x" + (V1 + V2 + V3 + V4).hex()),
    ),
    "add_validator of a node one block more behind": ChainCase(
        add_v4(),
        1,
        "the new validator's node {n3} is at height 79, 21 blocks behind the chain's 100 (at most 20 allowed, "
        "--max_lag); a validator that has not caught up cannot vote; wait until it has, then run again; nothing was "
        "sent",
        tweaks=({}, {}, {}, {"lag": 21}),
        rpc=3,
    ),
    "add_validator of a node ahead of the others": ChainCase(
        [*add_v4(), "--dry_run"],
        0,
        out=[
            *new_node_checks(101, 0),
            *transaction(1004, "validators", "0x" + (V1 + V2 + V3 + V4).hex()),
            "would change validators: [{V1}, {V2}, {V3}] -> [{V1}, {V2}, {V3}, {V4}]",
            "dry run: nothing was sent",
        ],
        tweaks=({}, {}, {}, {"lag": -1}),
        rpc=3,
        utxo=(1004, "0x" + (V1 + V2 + V3 + V4).hex()),
    ),
    "add_validator of a node on another history, behind": ChainCase(
        add_v4(),
        1,
        "the node at {n3} has block {f99} at height 99, the chain has {b99}: it is on another history; nothing was "
        "sent",
        tweaks=({}, {}, {}, {"lag": 1, "fork": True}),
        rpc=3,
    ),
    "add_validator of a node on another history, at the same height": ChainCase(
        add_v4(),
        1,
        "the node at {n3} has block {f100} at height 100, the chain has {b100}: it is on another history; nothing "
        "was sent",
        tweaks=({}, {}, {}, {"fork": True}),
        rpc=3,
    ),
    "add_validator of a node on another history, ahead": ChainCase(
        add_v4(),
        1,
        "the node at {n3} has block {f100} at height 100, the chain has {b100}: it is on another history; nothing "
        "was sent",
        tweaks=({}, {}, {}, {"lag": -1, "fork_from": 100}),
        rpc=3,
    ),
    "add_validator of a node of another chain": ChainCase(
        add_v4(),
        1,
        f"the node at {{n3}} runs chain 0x{'00' * 32}, not this chain {CHAIN_ID}; nothing was sent",
        tweaks=({}, {}, {}, {"chain_id": bytes(32)}),
        rpc=3,
    ),
    "add_validator of a node that does not answer": ChainCase(
        [*govern(*ADD_V4), "--node_rpc", "127.0.0.1:1"],
        1,
        "the new validator's node 127.0.0.1:1: " + UNREACHABLE + "; start it and let it catch up first; nothing was "
        "sent",
    ),
    "add_validator of a validator": ChainCase(
        [*govern("add_validator", "{V2}"), *NEW_NODE],
        1,
        "{V2} is already a validator; nothing to change; nothing was sent",
        tweaks=({}, {}, {}, {}),
        rpc=3,
    ),
    # --- sending (delivery.py) ---
    "a node that refuses a duplicate": ChainCase(
        govern("emergency_brake", "on"),
        1,
        SEND_REFUSED + "dup; the same transaction is already waiting in the pool: an earlier run's change is still "
        "pending; wait, then run status",
        tweaks=({"reject": "dup"},),
        sent=True,
    ),
    "a node that refuses the pre-hash": ChainCase(
        govern("emergency_brake", "on"),
        1,
        SEND_REFUSED + "Invalid pre_tx_hash; another change of this lock was applied after the pre-check; run status "
        "and decide again",
        tweaks=({"reject": "Invalid pre_tx_hash"},),
        sent=True,
    ),
    "a node that refuses the sender": ChainCase(
        govern("emergency_brake", "on"),
        1,
        SEND_REFUSED + "forbidden; the node does not take this signer as the admin; run status",
        tweaks=({"reject": "forbidden"},),
        sent=True,
    ),
    "a node that refuses for another reason": ChainCase(
        govern("emergency_brake", "on"),
        1,
        SEND_REFUSED + "Invalid version",
        tweaks=({"reject": "Invalid version"},),
        sent=True,
    ),
    "a node that takes the transaction under another hash": ChainCase(
        govern("emergency_brake", "on"),
        1,
        f"node {{n0}} took the transaction as 0x{'42' * 32}, not {{tx}}; it may not be a CITA-Cloud controller",
        tweaks=({"answer_hash": b"\x42" * 32},),
        sent=True,
        utxo=(1005, "0x01"),
    ),
    "no node takes the transaction": ChainCase(
        govern("emergency_brake", "on"),
        1,
        "no node took the transaction (node {n0}: unreachable (gone): check the address and that the node is "
        "running; node {n1}: unreachable (gone): check the address and that the node is running); nothing was sent",
        tweaks=({"unavailable": {"SendRawTransaction"}}, {"unavailable": {"SendRawTransaction"}}),
        sent=True,
    ),
    "the second node takes the transaction": ChainCase(
        govern("emergency_brake", "on"),
        0,
        out=[
            "checks passed:",
            checks_line("both nodes"),
            *BRAKE_ON[2:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n1}",
            "applied on both nodes after 0.0 s (heights: {n0} 101, {n1} 101)",
            "changed emergency_brake: off -> on",
        ],
        tweaks=({"unavailable": {"SendRawTransaction"}}, {}),
        sent=True,
    ),
    # --- waiting (delivery.py) ---
    "a change not applied in time": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "3"],
        1,
        "waiting for all 3 nodes to apply {tx12}…: not done within 3s ({n0}: emergency_brake still off at height 100; "
        "{n1}: emergency_brake still off at height 100; {n2}: emergency_brake still off at height 100); the "
        "transaction {tx} was sent to {n0}",
        chain={"apply": False},
        sent=True,
    ),
    "a change applied at the deadline exactly": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "2"],
        0,
        out=[
            "checks passed:",
            checks_line("both nodes", 98),
            *BRAKE_ON[2:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n0}",
            "applied on both nodes after 2.0 s (heights: {n0} 101, {n1} 101)",
            "changed emergency_brake: off -> on",
        ],
        tweaks=({}, {"lag": 2}),
        sent=True,
        each_sleep=catch_up(1),
    ),
    "a change applied just after the deadline": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "1"],
        1,
        "waiting for both nodes to apply {tx12}…: not done within 1s ({n0}: applied by height 101; {n1}: "
        "emergency_brake still off at height 100); the transaction {tx} was sent to {n0}",
        tweaks=({}, {"lag": 2}),
        sent=True,
        each_sleep=catch_up(1),
    ),
    "another change of the lock first": ChainCase(
        govern("emergency_brake", "on"),
        1,
        f"node {{n0}}: another transaction (0x{'42' * 32}) changed emergency_brake first; emergency_brake is now off; "
        "run status and decide again; the transaction {tx} was sent to {n0}",
        chain={"apply": False},
        sent=True,
        each_sleep=lambda chain, tweaks: chain.pre_hashes.update({1005: b"\x42" * 32}),
    ),
    "a node that goes away while the change is applied": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "1"],
        1,
        "waiting for both nodes to apply {tx12}…: not done within 1s ({n0}: applied by height 101; {n1}: unreachable "
        "(gone): check the address and that the node is running); the transaction {tx} was sent to {n0}",
        tweaks=({}, {"gone_after_send": True}),
        sent=True,
    ),
    "SIGTERM while waiting": ChainCase(
        govern("emergency_brake", "on"),
        143,
        "stopped while waiting; transaction {tx} was sent to {n0} and may still be applied: check with "
        "manage_chain.py status",
        chain={"apply": False},
        sent=True,
        each_sleep=terminated,
    ),
    "a change applied at the deadline exactly, on a terminal": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "2"],
        0,
        out=[
            "checks passed:",
            checks_line("both nodes", 98),
            *BRAKE_ON[2:],
            BRAKE_WARNING,
            *transaction(1005, "emergency_brake", "0x01"),
            "sent to {n0}",
            "applied on both nodes after 2.0 s (heights: {n0} 101, {n1} 101)",
            "changed emergency_brake: off -> on",
        ],
        tweaks=({}, {"lag": 2}),
        sent=True,
        each_sleep=catch_up(1),
        terminal=[
            "waiting for both nodes to apply {tx12}…: 0s of 2s",
            "waiting for both nodes to apply {tx12}…: 1s of 2s",
            "waiting for both nodes to apply {tx12}…: done in 2s\n",
        ],
    ),
    "remove_validator, and the chain stops, on a terminal": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "2"],
        1,
        "waiting for 2 more blocks on every node: not done within 2s ({n0}: height 101 of 103); the transaction "
        "{tx} was sent to {n0}",
        chain=FOUR,
        tweaks=({},),
        sent=True,
        terminal=[
            "waiting for the node to apply {tx12}…: done in 0s\n",
            "waiting for 2 more blocks on every node: 0s of 2s",
            "waiting for 2 more blocks on every node: 1s of 2s",
            "",
        ],
    ),
    "status --wait_synced on a terminal": ChainCase(
        ["status", "--rpc", "{rpc}", "--wait_synced", "--timeout", "4"],
        1,
        "the nodes did not catch up within 4 s: {n1} 5 blocks behind",
        [
            node_line(0, 100),
            node_line(1, 95, behind=5),
            "system config (the same on both nodes):",
            *CONFIG_LINES,
            "agreement: every node has block {b95} at height 95",
        ],
        tweaks=({}, {"lag": 5}),
        terminal=["0s of 4s, waiting: {n1} 5 blocks behind", "2s of 4s, waiting: {n1} 5 blocks behind", ""],
    ),
    "the first node goes away while the change is applied": ChainCase(
        [*govern("emergency_brake", "on"), "--timeout", "1"],
        1,
        "waiting for both nodes to apply {tx12}…: not done within 1s ({n0}: unreachable (gone): check the address "
        "and that the node is running; {n1}: applied by height 101); the transaction {tx} was sent to {n0}",
        tweaks=({"gone_after_send": True}, {}),
        sent=True,
    ),
    "a node goes away while blocks are awaited": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "2"],
        1,
        WAIT_BLOCKS.replace("5s", "2s") + "({n0}: height 103 of 103; {n1}: unreachable (gone): check the address and "
        "that the node is running); the transaction {tx} was sent to {n0}",
        chain=FOUR,
        tweaks=({}, {}),
        sent=True,
        each_sleep=goes_away(1, advance(2)),
    ),
    "a node unreachable from the first round of the blocks wait": ChainCase(
        [*govern("remove_validator", "{V3}"), "--timeout", "2"],
        1,
        WAIT_BLOCKS.replace("5s", "2s") + "({n0}: height 103; {n1}: unreachable (gone): check the address and that the "
        "node is running); the transaction {tx} was sent to {n0}",
        chain=FOUR,
        tweaks=({}, {"gone_after": {"GetBlockNumber": 2}}),
        sent=True,
        each_sleep=advance(2),
    ),
    "Ctrl-C while waiting": ChainCase(
        govern("emergency_brake", "on"),
        130,
        "stopped while waiting; transaction {tx} was sent to {n0} and may still be applied: check with "
        "manage_chain.py status",
        chain={"apply": False},
        sent=True,
        each_sleep=interrupt,
    ),
}


class FakeClock:
    """A monotonic clock that moves only when the tool sleeps; each sleep lets the world move on."""

    def __init__(self, on_sleep: Callable[[], None], tick: float = 0.0) -> None:
        self.now = 1000.0  # not 0: a time taken must be a difference
        self.on_sleep = on_sleep
        self.tick = tick

    def monotonic(self) -> float:
        self.now += self.tick
        return self.now - self.tick

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep()


def chain_placeholders(tmp: Path, addresses: list[str], case: ChainCase, chain: Chain) -> dict[str, str]:
    values = {
        "tmp": str(tmp),
        "admin_dir": str(tmp / "test-chain-admin"),
        "rpc": ",".join(addresses[: case.rpc]),
        **{f"n{index}": address for index, address in enumerate(addresses)},
        **{f"V{index + 1}": "0x" + value.hex() for index, value in enumerate((V1, V2, V3, V4))},
        **{f"b{height}": "0x" + block_hash(height).hex() for height in range(90, 120)},
        **{f"f{height}": "0x" + block_hash(height, True).hex() for height in range(90, 120)},
        "admin": ADMIN.address,
        "successor": SUCCESSOR.address,
    }
    if case.utxo is not None:
        lock, output = case.utxo
        encoded = encode_message([(2, bytes(33)), (3, bytes.fromhex(fill_all(output, values)[2:])), (4, lock)])
        values["tx"] = "0x" + oracle_hash(chain.flavour, encoded).hex()
    elif chain.accepted:
        values["tx"] = "0x" + chain.accepted[0].hex()
    if "tx" in values:
        values["tx12"] = values["tx"][2:14]
    return values


def fill_all(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def account_folders(tmp: Path) -> None:
    """The admin's folder, a successor's, an eth account's, the admin's under other names, and damaged ones."""
    eth = account_from_secret(KmsFlavour.ETH, SUCCESSOR_SECRET)
    folders = {
        "test-chain-admin": (ADMIN, CHAIN_PASSWORD, ADMIN.address, "1"),
        "successor": (SUCCESSOR, "other-pass", SUCCESSOR.address, "1"),
        "eth-successor": (eth, "other-pass", eth.address, "1"),
        "other-chain-admin": (ADMIN, CHAIN_PASSWORD, ADMIN.address, "1"),
        "admin-folder": (ADMIN, CHAIN_PASSWORD, ADMIN.address, "1"),
        "mislabelled": (ADMIN, CHAIN_PASSWORD, SUCCESSOR.address, "1"),
        "bad-key-id": (ADMIN, CHAIN_PASSWORD, ADMIN.address, "one"),
    }
    for name, (account, password, node_address, key_id) in folders.items():
        folder = tmp / name
        folder.mkdir()
        (folder / "kms.db").write_bytes(render_kms_db(account, password))
        (folder / "key_id").write_text(key_id)
        (folder / "node_address").write_text(node_address)
    (tmp / "empty").mkdir()
    (tmp / "kms-db-folder" / "kms.db").mkdir(parents=True)


@pytest.mark.parametrize("case", sorted(CHAIN_MESSAGES))
def test_each_manage_chain_line_is_whole(case: str, tmp_path: Path, capsys):
    message = CHAIN_MESSAGES[case]
    account_folders(tmp_path)
    chain = Chain("sm", bytes.fromhex(CHAIN_ID[2:]), bytes.fromhex(ADMIN.address[2:]), [V1, V2, V3], leader=V1)
    for name, value in message.chain.items():
        setattr(chain, name, value)
    tweaks = [Tweak(**fields) for fields in message.tweaks]  # type: ignore[arg-type]
    each_sleep = message.each_sleep or (lambda chain, tweaks: None)
    clock = FakeClock(lambda: each_sleep(chain, tweaks), message.tick)
    stdout, stderr = io.StringIO(), Terminal() if message.terminal is not None else io.StringIO()
    runtime = Runtime(
        clock=lambda: FIXED_NOW,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        randbytes=DeterministicRandom("manage"),
        stdout=stdout,
        stderr=stderr,
        interactive=lambda: False,
    )
    with running(chain, tweaks) as addresses:
        values = chain_placeholders(tmp_path, addresses, message, chain)
        capsys.readouterr()
        code = manage_chain.main([fill_all(arg, values) for arg in message.argv], runtime)
    values = chain_placeholders(tmp_path, addresses, message, chain)
    expected_err = fill_all(MC + message.err, values) + "\n" if message.err else ""
    assert (code, capsys.readouterr().err) == (message.code, expected_err)
    assert stdout.getvalue().splitlines() == [fill_all(line, values) for line in message.out]
    assert ("SendRawTransaction" in chain.calls) == message.sent
    shown = "".join(f"\r\x1b[K{line}" for line in message.terminal or ())
    assert stderr.getvalue() == fill_all(shown, values)


# --- create_k8s_config.py add_node and remove_node, on a chain made first --------------------------------
#
# Each case copies a chain made once per session (`chain`: local3, local1, multi3, or none), damages it
# (`damage`), runs the verb in this process and asserts the exit code, the whole stderr line and the
# summary lines that open stdout (the plan that follows belongs to tests of the plans). In argv and lines:
# {tmp} is the work dir; {a0}.., {d0}.. each node's address and device ID as its files hold them ({a3},
# {d3}: the node add_node made); {A}, {D} a pre-made account and identity; what remove_node's --rpc node
# reports as validators is `validators` (None: the real question is asked).

K8 = "create_k8s_config.py: error: "
PREMADE_ADDRESS, PREMADE_DEVICE = address("premade"), device_id("premade")
Damage = Callable[[Path, dict[str, str]], None]  # (work dir, placeholders)


@dataclass(frozen=True)
class NodeCase:
    """add_node or remove_node's argv, the chain and its damage, the exit code, the stderr line, the first lines out."""

    argv: Sequence[str]
    code: int
    err: str = ""
    out: Sequence[str] = ()
    chain: str = "local3"
    damage: Damage | None = None
    validators: Sequence[str] | None = ()


def edit(relative: str, old: str, new: str, count: int = 1) -> Damage:
    """Replace `old` in one file of the work dir (it must be there)."""

    def damage(work: Path, values: dict[str, str]) -> None:
        path = work / relative
        text = path.read_text()
        before, after = fill_all(old, values), fill_all(new, values)
        assert before in text, (relative, before)
        path.write_text(text.replace(before, after, count))

    return damage


def edit_object(relative: str, kind: str, name: str, old: str, new: str) -> Damage:
    """Replace `old` in one object of a YAML file (between its `kind:` line and the next document)."""

    def damage(work: Path, values: dict[str, str]) -> None:
        path = work / relative
        text = path.read_text()
        start = text.index(f"kind: {kind}\nmetadata:\n  name: {name}\n")
        end = text.find("\n---\n", start)
        end = len(text) if end < 0 else end
        assert old in text[start:end], (kind, name, old)
        path.write_text(text[:start] + text[start:end].replace(old, new, 1) + text[end:])

    return damage


def delete(relative: str) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        (work / relative).unlink()

    return damage


def replace_with(relative: str, text: str) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        (work / relative).write_text(text)

    return damage


def move(relative: str, to: str) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        (work / relative).rename(work / to)

    return damage


def make_folder(relative: str) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        (work / relative).mkdir()

    return damage


def both(*damages: Damage) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        for one in damages:
            one(work, values)

    return damage


def append(relative: str, text: str) -> Damage:
    def damage(work: Path, values: dict[str, str]) -> None:
        with (work / relative).open("a") as stream:
            stream.write(text)

    return damage


def reverse_objects(work: Path, values: dict[str, str]) -> None:
    documents = (work / Y).read_text().removeprefix("---\n").split("\n---\n")
    (work / Y).write_text("---\n" + "\n---\n".join(reversed(documents)))


def another_chain(work: Path, values: dict[str, str]) -> None:
    from tests.chains import make_local_chain

    make_local_chain(work, "--chain_name", "other-chain", "--node_port", "30100")


def add(*extra: str) -> list[str]:
    return ["add_node", "--work_dir", "{tmp}", *extra]


def remove(node: int, *extra: str) -> list[str]:
    return ["remove_node", "--node", str(node), "--rpc", "127.0.0.1:1", "--work_dir", "{tmp}", *extra]


Y = "test-chain.yaml"
NODE0 = "cita-cloud/test-chain/node0"
RESTORE = "(edited by hand?); a change would replace it, so nothing was done: restore the file"
MULTI_CLUSTER = ["--node", "192.0.2.13", "--node_port", "30000", "--lbs_token", "lb-4", "--pvc_name", "cluster3-pvc"]
PREMADE = ["--authority", PREMADE_ADDRESS, "--sync_device_id", PREMADE_DEVICE]
ADDED = (
    "Chain test-chain: node3 added ({a3}, syncthing {d3}); 6 files of the other nodes rewritten, test-chain.yaml "
    "rewritten"
)
NEXT = (
    "Next, a script to run top to bottom, saved as {tmp}/test-chain-plan.sh (run it with: bash "
    "{tmp}/test-chain-plan.sh; show_plan prints it again). It stops at the first step that fails, and every step "
    "is safe to repeat: fix the cause, then run the whole script again."
)

NODE_MESSAGES: dict[str, NodeCase] = {
    # --- what add_node and remove_node report ---
    "add_node": NodeCase(add(), 0, out=[ADDED, NEXT]),
    "add_node, dry run": NodeCase(
        add("--dry_run"),
        0,
        out=[
            "Chain test-chain: node3 added (its address and syncthing identity are made by the real run); 6 files of "
            "the other nodes rewritten, test-chain.yaml rewritten (dry run: nothing written)",
            "The plan would be (the real run saves it as {tmp}/test-chain-plan.sh):",
        ],
    ),
    "add_node with the admin's folder moved away": NodeCase(
        add(), 0, out=[ADDED, NEXT], damage=move("test-chain-admin", "safe")
    ),
    "add_node beside a stray file in cita-cloud/": NodeCase(
        add(), 0, out=[ADDED, NEXT], damage=replace_with("cita-cloud/a-note", "mine")
    ),
    "add_node to a one-node chain": NodeCase(
        add(),
        0,
        out=[
            "Chain test-chain: node1 added ({a1}, syncthing {d1}); 2 files of the other nodes rewritten, "
            "test-chain.yaml rewritten",
            NEXT,
        ],
        chain="local1",
    ),
    "add_node with a pre-made account whose folder is not there": NodeCase(
        add(*PREMADE),
        1,
        "--authority: there is no folder {A} (made by create_account.py); check the value, or give --accounts_dir "
        "where it is",
    ),
    "remove_node": NodeCase(
        remove(2),
        0,
        out=[
            "Chain test-chain: node2 ({a2}) removed; 4 files of the other nodes and test-chain.yaml rewritten, "
            "cita-cloud/test-chain/node2 deleted",
            NEXT,
        ],
    ),
    "remove_node, dry run": NodeCase(
        remove(0, "--dry_run"),
        0,
        out=[
            "Chain test-chain: node0 ({a0}) removed; 4 files of the other nodes and test-chain.yaml rewritten, "
            "cita-cloud/test-chain/node0 deleted (dry run: nothing written)",
            "The plan would be (the real run saves it as {tmp}/test-chain-plan.sh):",
        ],
    ),
    "remove_node of a multi_cluster node": NodeCase(
        remove(2),
        0,
        out=[
            "Chain test-chain: node2 ({a2}) removed; 4 files of the other nodes and test-chain-0.yaml, "
            "test-chain-1.yaml rewritten, cita-cloud/test-chain/node2, test-chain-2.yaml deleted",
            NEXT,
        ],
        chain="multi3",
    ),
    # --- which chain ---
    "a work dir without a chain": NodeCase(
        add(),
        1,
        "{tmp} holds no chain (cita-cloud/<chain>/ with its YAML); give the --work_dir where create_k8s_config.py "
        "wrote it",
        chain="none",
    ),
    "a work dir with two chains": NodeCase(
        add(), 1, "{tmp} holds 2 chains (other-chain, test-chain); say which with --chain_name", damage=another_chain
    ),
    "a --chain_name in a work dir without a chain": NodeCase(
        add("--chain_name", "my-chain"),
        1,
        "{tmp} holds no chain 'my-chain' (its cita-cloud/my-chain/ and YAML); give the --work_dir and --chain_name "
        "local_cluster or multi_cluster wrote",
        chain="none",
    ),
    "an edit to a StatefulSet add_node does not read": NodeCase(
        add(),
        0,
        out=[ADDED, NEXT],
        damage=edit_object(Y, "StatefulSet", "test-chain-1", "memory: 512Mi", "memory: 1Gi"),
    ),
    "a --chain_name the work dir does not hold": NodeCase(
        add("--chain_name", "my-chain"),
        1,
        "{tmp} holds no chain 'my-chain' (its cita-cloud/my-chain/ and YAML); it holds test-chain; give the "
        "--work_dir and --chain_name local_cluster or multi_cluster wrote",
    ),
    # --- the flags ---
    "multi_cluster flags on a local chain": NodeCase(
        add("--node", "10.0.0.9", "--lbs_token", "lb-9"),
        2,
        "chain 'test-chain' is a local_cluster chain: --node, --lbs_token are for a multi_cluster chain's new "
        "cluster; leave them out",
    ),
    "a multi_cluster node without its cluster's flags": NodeCase(
        add("--node", "192.0.2.13"),
        2,
        "chain 'test-chain' is a multi_cluster chain: its new node needs --node_port, --lbs_token, --kms_password, "
        "--authority, --sync_device_id, --pvc_name (its cluster's LoadBalancer, claim and its pre-made account and "
        "identity)",
        chain="multi3",
    ),
    "a NodePort range for a multi_cluster node": NodeCase(
        add(*MULTI_CLUSTER, *PREMADE, "--kms_password", "pw", "--node_port_range", "30000-32767"),
        2,
        "--node_port_range is for local_cluster chains; a multi_cluster node has its LoadBalancer",
        chain="multi3",
    ),
    "an --authority that is not an address": NodeCase(
        add("--authority", "0x12"), 2, "--authority '0x12' is not an address: expected 0x followed by 40 hex digits"
    ),
    "an --sync_device_id that is not one": NodeCase(
        add("--sync_device_id", "ABC"),
        2,
        "--sync_device_id: 'ABC' is not a syncthing device ID (8 groups of 7 characters A-Z, 2-7, joined by -)",
    ),
    "a --node that is no host": NodeCase(
        add("--node", "bad host!"), 2, "--node 'bad host!' is neither an IP address nor a DNS name"
    ),
    "a --node_port that is no number": NodeCase(
        add("--node_port", "x"),
        2,
        "--node_port ('x') must be a whole number from 1 to 65527: each node reserves 9 consecutive ports from it",
    ),
    "a --pvc_name that is no name": NodeCase(
        add("--pvc_name", "Bad_Name"),
        2,
        "--pvc_name 'Bad_Name' is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.' (for example "
        "'bad-name')",
    ),
    "a --rpc for remove_node that is not host:port": NodeCase(
        ["remove_node", "--node", "1", "--rpc", "a b", "--work_dir", "{tmp}"],
        2,
        "argument --rpc: entry 0: 'a b' is not host:port (an IPv6 address goes in brackets: [::1]:50004) "
        "(see create_k8s_config.py remove_node --help)",
        validators=None,
    ),
    "a NodePort range the new node fills to its last port": NodeCase(
        add("--node_port_range", "30000-30024"), 0, out=[ADDED, NEXT]
    ),
    "a NodePort range one port short for the new node": NodeCase(
        add("--node_port_range", "30000-30023"),
        2,
        "node3 needs NodePort 30024 (call of node3), outside --node_port_range 30000-30023: the chain's NodePorts "
        "follow from the --node_port 30004 it was made with, so node3 needs a range that reaches 30024",
    ),
    "a new cluster at another cluster's LoadBalancer ports": NodeCase(
        add(*MULTI_CLUSTER[:1], "192.0.2.10", *MULTI_CLUSTER[2:], *PREMADE, "--kms_password", "pw"),
        2,
        "nodes 0 and 3 share the address 192.0.2.10 and their LoadBalancer ports 30000-30008 and 30000-30008 "
        "overlap; give the new node a --node_port at least 9 ports away",
        chain="multi3",
    ),
    "a pre-made account without its identity": NodeCase(
        add("--authority", PREMADE_ADDRESS),
        2,
        "give both --authority and --sync_device_id for a pre-made node, or neither to make new ones",
    ),
    "a pre-made account that is already a node": NodeCase(
        add("--authority", "{a1}", "--sync_device_id", PREMADE_DEVICE),
        1,
        "{a1} is already node1 of chain 'test-chain'; a new node needs its own account and identity",
    ),
    "a pre-made identity that is already a node's": NodeCase(
        add("--authority", PREMADE_ADDRESS, "--sync_device_id", "{d2}"),
        1,
        "{d2} is already node2 of chain 'test-chain'; a new node needs its own account and identity",
    ),
    "an old folder where the new node goes": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node3 already exists though the chain has no node3; move it away (an old copy?) "
        "and run again",
        damage=make_folder("cita-cloud/test-chain/node3"),
    ),
    "remove_node of a node the chain does not have": NodeCase(
        remove(7), 1, "chain 'test-chain' has no node 7; its nodes are 0, 1, 2"
    ),
    "remove_node of the last node": NodeCase(
        remove(0), 2, "node0 is the last node of chain 'test-chain'; a chain needs at least one", chain="local1"
    ),
    "remove_node of a validator": NodeCase(
        remove(1),
        1,
        "node1 ({a1}) is still a validator of the running chain: remove it first with manage_chain.py "
        "remove_validator {a1} (then wait until every node reports the new set), and run remove_node again",
        validators=["{a0}", "{a1}"],
    ),
    "remove_node, and no node to ask": NodeCase(
        remove(1),
        1,
        "cannot ask whether the node is still a validator: node 127.0.0.1:1: unreachable (Connection "
        "refused): check the address and that the node is running",
        validators=None,
    ),
    # --- files edited by hand (membership.py) ---
    "an object edited by hand": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: NetworkPolicy test-chain is not what runner_k8s makes for chain 'test-chain' {RESTORE}",
        damage=edit(Y, "component: network-policy", "component: mine"),
    ),
    "an object deleted by hand": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: Service test-chain-1-executor is missing (deleted by hand?); a change would write it again, so "
        "nothing was done: restore the file",
        damage=edit_object(Y, "Service", "test-chain-1-executor", "kind: Service\n", "kind: Gone\n"),
    ),
    "an object added by hand": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: ConfigMap test-chain-extra is not one runner_k8s makes for chain 'test-chain' (added by "
        "hand?); a change would drop it, so nothing was done: move it to a file of its own",
        damage=append(
            Y,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: test-chain-extra\n  labels:\n"
            "    app.kubernetes.io/instance: test-chain\n    app.kubernetes.io/managed-by: runner_k8s\n",
        ),
    ),
    "objects in another order": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: its objects are not in the order runner_k8s writes them {RESTORE}",
        damage=reverse_objects,
    ),
    "a node file edited by hand": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node1/network-config.toml is not what runner_k8s wrote for chain 'test-chain' "
        "(edited by hand?); a change would replace it, so nothing was done: restore the file",
        damage=edit("cita-cloud/test-chain/node1/network-config.toml", "port = 40000", "port = 40001"),
    ),
    # --- damaged chain files (chainload.py, chainfiles.py) ---
    "a StatefulSet without its claim": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: StatefulSet test-chain-0 mounts no claim (persistentVolumeClaim); restore the file",
        damage=edit_object(Y, "StatefulSet", "test-chain-0", "persistentVolumeClaim:", "hostPath:"),
    ),
    "a StatefulSet without volumes": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: StatefulSet test-chain-0 is not one runner_k8s makes; restore the file",
        damage=edit_object(Y, "StatefulSet", "test-chain-0", "      volumes:\n", "      volumez:\n"),
    ),
    "a container without a name": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: a node's containers are not the ones runner_k8s makes; restore the file",
        damage=edit_object(Y, "StatefulSet", "test-chain-0", "      - name: syncthing\n", "      - nome: syncthing\n"),
    ),
    "an executor whose env entry has no name": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: a node's containers are not the ones runner_k8s makes; restore the file",
        damage=edit_object(
            Y,
            "StatefulSet",
            "test-chain-0",
            "      - name: executor\n",
            "      - name: executor\n        env:\n        - value: x\n",
        ),
    ),
    "a NetworkPolicy with null annotations": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: NetworkPolicy test-chain is not what runner_k8s makes for chain 'test-chain' {RESTORE}",
        damage=edit_object(
            Y, "NetworkPolicy", "test-chain", "  name: test-chain\n", "  name: test-chain\n  annotations: null\n"
        ),
    ),
    "an RPC Service without ports": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: Service test-chain-node-port has no nodePort as runner_k8s writes it; restore the file",
        damage=edit_object(Y, "Service", "test-chain-node-port", "  ports:\n", "  portz:\n"),
    ),
    "an RPC Service with a word for a port": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: Service test-chain-node-port has no nodePort as runner_k8s writes it; restore the file",
        damage=edit_object(Y, "Service", "test-chain-node-port", "nodePort: 30004", "nodePort: thirty"),
    ),
    "no RPC Service": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} has no Service test-chain-node-port; restore the file",
        damage=edit_object(
            Y, "Service", "test-chain-node-port", "  name: test-chain-node-port\n", "  name: test-chain-rpc\n"
        ),
    ),
    "a Secret without its data": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: Secret test-chain-kms-secret has no readable 'key_file'; restore the file",
        damage=edit_object(Y, "Secret", "test-chain-kms-secret", "\ndata:\n", "\ndata: null\nother:\n"),
    ),
    "no kms Secret": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} has no Secret test-chain-kms-secret; restore the file",
        damage=edit_object(
            Y, "Secret", "test-chain-kms-secret", "  name: test-chain-kms-secret\n", "  name: test-chain-kms\n"
        ),
    ),
    "no network Secret": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} has no Secret test-chain-1-network-secret; restore the file",
        damage=edit_object(
            Y,
            "Secret",
            "test-chain-1-network-secret",
            "  name: test-chain-1-network-secret\n",
            "  name: test-chain-1-network\n",
        ),
    ),
    "an object whose labels are not ours": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} holds objects runner_k8s did not make for chain 'test-chain'; is it the right file?",
        damage=both(
            edit_object(Y, "Service", "test-chain-0", "  labels:\n", "  labels: null\n  x:\n"),
            edit_object(Y, "Service", "test-chain-0", "managed-by: runner_k8s", "managed-by: me"),
        ),
    ),
    "YAML that does not parse": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} is not valid YAML (while parsing a block mapping); restore the file made for the chain",
        damage=edit_object(
            Y, "StatefulSet", "test-chain-0", "      containers:\n      - ", "      containers:\n        x:\n          "
        ),
    ),
    "a document that is no object": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} holds a document that is no Kubernetes object; restore the file made for the chain",
        damage=append(Y, "---\n- a list\n"),
    ),
    "network-config.toml without enable_tls": NodeCase(
        add(),
        1,
        f"{{tmp}}/{NODE0}/network-config.toml has no enable_tls = true or false, which runner_k8s writes first; "
        "restore the file",
        damage=edit(f"{NODE0}/network-config.toml", "enable_tls = true\n", ""),
    ),
    "network-config.toml with a word for enable_tls": NodeCase(
        add(),
        1,
        f"{{tmp}}/{NODE0}/network-config.toml has no enable_tls = true or false, which runner_k8s writes first; "
        "restore the file",
        damage=edit(f"{NODE0}/network-config.toml", "enable_tls = true\n", 'enable_tls = "yes"\n'),
    ),
    "network-config.toml that is not TOML": NodeCase(
        add(),
        1,
        f"{{tmp}}/{NODE0}/network-config.toml is not the TOML file runner_k8s wrote; restore it",
        damage=edit(f"{NODE0}/network-config.toml", "enable_tls = true\n", "enable_tls = \n"),
    ),
    "a chain YAML without StatefulSets": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y} holds no node of chain 'test-chain'; restore the file made for the chain",
        damage=edit(Y, "kind: StatefulSet\n", "kind: Deployment\n", count=3),
    ),
    "a node_address that is a folder": NodeCase(
        add(),
        1,
        f"cannot read {{tmp}}/cita-cloud/test-chain/node1/node_address: {os.strerror(errno.EISDIR)}",
        damage=both(
            delete("cita-cloud/test-chain/node1/node_address"), make_folder("cita-cloud/test-chain/node1/node_address")
        ),
    ),
    "a node folder without node_address": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node1/node_address is missing: the chain's files are not whole; restore them "
        "first",
        damage=delete("cita-cloud/test-chain/node1/node_address"),
    ),
    "a node_address that is not an address": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node1/node_address holds '{a1}\\n', not an address (0x and 40 lowercase hex "
        "digits, no newline); restore the file",
        damage=append("cita-cloud/test-chain/node1/node_address", "\n"),
    ),
    "a Secret whose key is not base64": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: Secret test-chain-kms-secret has no readable 'key_file'; restore the file",
        damage=edit_object(
            Y, "Secret", "test-chain-kms-secret", "  key_file: Y2hh", "  key_file: Y2hh!"
        ),  # no alphabet
    ),
    "a node whose kms image is neither kms_sm nor kms_eth": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: kms image 'citacloud/kms_rsa:v5.0.0' is neither kms_sm nor kms_eth; use citacloud/kms_sm or "
        "citacloud/kms_eth",
        damage=edit_object(Y, "StatefulSet", "test-chain-0", "citacloud/kms_sm:v5.0.0", "citacloud/kms_rsa:v5.0.0"),
    ),
    "a StatefulSet added by hand": NodeCase(
        add(),
        1,
        f"{{tmp}}/{Y}: StatefulSet test-chain-extra is not one runner_k8s makes for chain 'test-chain' (added by "
        "hand?); a change would drop it, so nothing was done: move it to a file of its own",
        damage=append(
            Y,
            "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: test-chain-extra\n  labels:\n"
            "    app.kubernetes.io/instance: test-chain\n    app.kubernetes.io/managed-by: runner_k8s\n",
        ),
    ),
    "a node whose genesis differs": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node2/genesis.toml differs from node0's: every node of a chain holds the same "
        "one; restore it",
        damage=edit("cita-cloud/test-chain/node2/genesis.toml", "timestamp = ", "timestamp = 1"),
    ),
    "a node whose cert.pem is damaged": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node1/config: cert.pem is not a PEM certificate; the node's syncthing identity is "
        "damaged",
        damage=replace_with("cita-cloud/test-chain/node1/config/cert.pem", "not a PEM\n"),
    ),
    "a config.xml without its API key": NodeCase(
        add(),
        1,
        "{tmp}/cita-cloud/test-chain/node1/config/config.xml has no GUI API key; restore the file",
        damage=edit("cita-cloud/test-chain/node1/config/config.xml", "<apikey>", "<apiKey>"),
    ),
    "a LoadBalancer without the network port": NodeCase(
        remove(2),
        1,
        "{tmp}/test-chain-0.yaml: LoadBalancer Service test-chain-0 has no network port; restore the file",
        chain="multi3",
        damage=edit_object("test-chain-0.yaml", "Service", "test-chain-0", "name: network\n", "name: netwerk\n"),
    ),
    "a LoadBalancer without ports": NodeCase(
        remove(2),
        1,
        "{tmp}/test-chain-0.yaml: LoadBalancer Service test-chain-0 has no network port; restore the file",
        chain="multi3",
        damage=edit_object("test-chain-0.yaml", "Service", "test-chain-0", "  ports:\n", "  ports: null\n  x:\n"),
    ),
    "no LoadBalancer": NodeCase(
        remove(2),
        1,
        "{tmp}/test-chain-1.yaml has no LoadBalancer Service test-chain-1; restore the file",
        chain="multi3",
        damage=edit_object(
            "test-chain-1.yaml", "Service", "test-chain-1", "  name: test-chain-1\n", "  name: test-chain-1-lb\n"
        ),
    ),
    "a config.xml without the node's own device": NodeCase(
        remove(2),
        1,
        "{tmp}/cita-cloud/test-chain/node1/config/config.xml has no device of node1 itself ({d1}); restore the file",
        chain="multi3",
        damage=edit(
            "cita-cloud/test-chain/node1/config/config.xml", '<device id="{d1}" name=', '<device id="{d0}" name='
        ),
    ),
    "a multi_cluster node without its kms Secret": NodeCase(
        remove(2),
        1,
        "{tmp}/test-chain-0.yaml has no Secret test-chain-0-kms-secret; restore the file",
        chain="multi3",
        damage=edit_object(
            "test-chain-0.yaml",
            "Secret",
            "test-chain-0-kms-secret",
            "  name: test-chain-0-kms-secret\n",
            "  name: test-chain-0-kms\n",
        ),
    ),
    "a Secret in another namespace": NodeCase(
        add(),
        1,
        "the nodes of 'test-chain' differ in their namespace; this tool made them alike: restore the files",
        damage=edit_object(
            Y,
            "Secret",
            "test-chain-1-network-secret",
            "  name: test-chain-1-network-secret\n",
            "  name: test-chain-1-network-secret\n  namespace: other\n",
        ),
    ),
    "multi_cluster nodes that retired different nodes": NodeCase(
        remove(2),
        1,
        "the nodes of 'test-chain' differ in their retired nodes; this tool made them alike: restore the files",
        chain="multi3",
        damage=edit_object(
            "test-chain-0.yaml",
            "NetworkPolicy",
            "test-chain-0",
            "  name: test-chain-0\n",
            "  name: test-chain-0\n  annotations:\n    runner-k8s/retired-nodes: '5'\n",
        ),
    ),
    "multi_cluster nodes with different images": NodeCase(
        remove(2),
        1,
        "the nodes of 'test-chain' differ in their containers (images, commands, resources); this tool made them "
        "alike: restore the files",
        chain="multi3",
        damage=edit_object(
            "test-chain-1.yaml", "StatefulSet", "test-chain-1", "controller:v5.0.0", "controller:v5.0.1"
        ),
    ),
}


@pytest.fixture(scope="session")
def made_chains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each kind of chain, made once; a case works on a copy."""
    from tests.chains import make_local_chain
    from tests.test_golden import multi_seed_example

    root = tmp_path_factory.mktemp("chains")
    made = {name: root / name for name in ("local3", "local1", "multi3", "none")}
    for folder in made.values():
        folder.mkdir()
    make_local_chain(made["local3"], "--peers_count", "3")
    make_local_chain(made["local1"], "--peers_count", "1")
    assert create_k8s_config.main(multi_seed_example(made["multi3"]), fixed_runtime("multi")) == 0
    return made


def node_placeholders(work: Path) -> dict[str, str]:
    """{tmp}, and each node's address and device ID (from its cert.pem, by contracts.md §5's rule)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    values = {"tmp": str(work), "A": PREMADE_ADDRESS, "D": PREMADE_DEVICE}
    for node in sorted((work / "cita-cloud" / "test-chain").glob("node*")):
        index = node.name.removeprefix("node")
        with contextlib.suppress(OSError):  # a case may damage it
            values[f"a{index}"] = (node / "node_address").read_text()
        with contextlib.suppress(OSError, ValueError):
            cert = x509.load_pem_x509_certificate((node / "config" / "cert.pem").read_bytes())
            values[f"d{index}"] = device_id_of_certificate(cert.public_bytes(serialization.Encoding.DER))
    return values


@pytest.mark.parametrize("case", sorted(NODE_MESSAGES))
def test_each_add_node_and_remove_node_line_is_whole(case: str, tmp_path: Path, made_chains, monkeypatch, capsys):
    import shutil

    from runner_k8s.scripts import membership_flags

    message = NODE_MESSAGES[case]
    work = tmp_path / "work"
    shutil.copytree(made_chains[message.chain], work)
    values = node_placeholders(work)
    if message.damage is not None:
        message.damage(work, values)
    if message.validators is not None:
        reported = [fill_all(item, values) for item in message.validators]
        monkeypatch.setattr(membership_flags, "validators_at", lambda address: reported)
    before = tree_snapshot(work)
    runtime = fixed_runtime("day2")
    capsys.readouterr()
    code = create_k8s_config.main([fill_all(arg, values) for arg in message.argv], runtime)
    values = node_placeholders(work) | values
    out, err = output_of(runtime), capsys.readouterr().err
    assert (code, err) == (message.code, fill_all(K8 + message.err, values) + "\n" if message.err else "")
    assert out.splitlines()[: len(message.out)] == [fill_all(line, values) for line in message.out]
    if code:
        assert out == "" and tree_snapshot(work) == before, "nothing may be written"


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
def test_a_multi_cluster_chain_of_both_releases_is_refused_in_one_line(verb: str, tmp_path: Path, capsys):
    """A v5.0.0 chain by its first file whose node1 file holds a v6.7.4 StatefulSet: neither loader can change it."""
    from tests.manifest_variants import make_multi_chain

    work = tmp_path / "work"
    make_multi_chain(work)
    second = next(path for path in sorted(work.glob("*-1.yaml")))
    text = second.read_text()
    marker = "kind: StatefulSet\nmetadata:\n"
    assert marker in text
    second.write_text(text.replace(marker, marker + "  annotations:\n    runner-k8s/release: v6.7.4\n"))
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    argv = [verb, "--work_dir", str(work)]
    argv += [] if verb == "add_node" else ["--node_index", "1", "--rpc", "127.0.0.1:1"]
    assert create_k8s_config.main(argv, fixed_runtime()) == 1
    first = second.with_name(second.name.replace("-1.yaml", "-0.yaml"))
    chain = first.name.removesuffix("-0.yaml")
    assert capsys.readouterr() == (
        "",
        f"create_k8s_config.py: error: {first}: chain {chain!r} mixes v5.0.0 and v6.7.4 node files (its first file "
        "is v5.0.0, another is v6.7.4); restore the files multi_cluster wrote\n",
    )
    assert tree_snapshot(tmp_path) == before
