"""Issue 24: add_node and remove_node on a v6.7.4 multi_cluster chain, the files they write checked independently.

The expectation for every object is what the create verb writes for a chain that has the new node
from the start (the same accounts, LoadBalancers and claims): its objects and the other nodes' peer
objects must be those, byte for byte but the keys the CA draws; the config Secrets differ from those
only by the TLS certificates, and from the files before only by `peers` (parsed by tomllib). The new
node's key is the account folder's (its node address by gmssl), its certificate is verified by the
`openssl` command against the chain's CA. Every kubectl line of a plan names its node's cluster.
A chain not as written, or a flag a v6.7.4 multi_cluster node does not take, is refused in one line
and nothing is written.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import create_account
import create_k8s_config
from runner_k8s.ports import MULTI_LAYOUT
from runner_k8s.scripts import membership_flags
from tests.conftest import fixed_runtime, output_of, tree_snapshot
from tests.test_v6_chain import node_address_of

CHAIN = "mc"
HOSTS = ["192.0.2.10", "2001:db8::11", "node2.example.org"]
NEW = ["--node", "192.0.2.40", "--node_port", "33000", "--lbs_token", "lb-d", "--pvc_name", "pvc-3"]


def accounts(work: Path, count: int) -> list[str]:
    made = []
    for number in range(count):
        runtime = fixed_runtime(f"v6 multi account {number}")
        assert create_account.main(["--release", "v6.7.4", "--output_dir", str(work)], runtime) == 0
        made.append(output_of(runtime).split()[1].rstrip(":"))
    return made


def create(work: Path, authorities: list[str], admin: str, hosts: list[str], seed: str) -> None:
    count = len(authorities)
    argv = ["multi_cluster", "--release", "v6.7.4", "--chain_name", CHAIN, "--super_admin", admin]
    argv += ["--authorities", ",".join(authorities), "--nodes", ",".join(hosts)]
    argv += ["--lbs_tokens", ",".join(f"lb-{'abcd'[index]}" for index in range(count))]
    argv += ["--node_ports", ",".join(str(30000 + 1000 * index) for index in range(count))]
    argv += ["--pvc_names", ",".join(f"pvc-{index}" for index in range(count))]
    argv += ["--accounts_dir", str(work), "--work_dir", str(work), "--timestamp", "1700000000000"]
    assert create_k8s_config.main(argv, fixed_runtime(seed)) == 0


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A three-node chain (IPv4, IPv6 and host name LoadBalancers); accounts 0-2 its nodes, 3 its admin, 4 spare."""
    work = tmp_path_factory.mktemp("v6multi") / "work"
    found = accounts(work, 5)
    create(work, found[:3], found[3], HOSTS, "v6 multi chain")
    return work, found


def copy(made: tuple[Path, list[str]], tmp: Path) -> Path:
    shutil.copytree(made[0], tmp / "work")
    return tmp / "work"


def run(work: Path, *argv: str, seed: str = "day 2") -> tuple[int, str]:
    runtime = fixed_runtime(seed)
    code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime)


def add(work: Path, made: tuple[Path, list[str]], *extra: str) -> tuple[int, str]:
    return run(work, "add_node", "--authority", made[1][4], "--accounts_dir", str(work), *NEW, *extra)


def objects(work: Path, index: int) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all((work / f"{CHAIN}-{index}.yaml").read_text()) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def data(docs: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in docs[("Secret", name)]["data"].items()}


def config(work: Path, index: int) -> dict[str, Any]:
    return tomllib.loads(data(objects(work, index), f"{CHAIN}-{index}-config")["config.toml"])


def without_secrets(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: doc for key, doc in docs.items() if key[0] != "Secret"}


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, timeout=60)


def test_add_node_writes_what_multi_cluster_writes_for_a_chain_made_with_the_node(
    made: tuple[Path, list[str]], tmp_path: Path
):
    work = copy(made, tmp_path)
    before = {index: objects(work, index) for index in range(3)}
    code, out = add(work, made)
    assert code == 0, out
    fresh = tmp_path / "fresh"
    shutil.copytree(work, fresh, ignore=shutil.ignore_patterns(f"{CHAIN}*", "cita-cloud"))
    create(fresh, [*made[1][:3], made[1][4]], made[1][3], [*HOSTS, "192.0.2.40"], "another CA")
    for index in range(4):
        # Every object but the Secrets is what the create verb makes for four nodes (peer names included).
        assert without_secrets(objects(work, index)) == without_secrets(objects(fresh, index)), index
        mine, theirs = config(work, index), config(fresh, index)
        for field in ("cert", "priv_key", "ca_cert"):
            mine["network_zenoh"].pop(field), theirs["network_zenoh"].pop(field)
        # The genesis validators stay the chain's first three: node3 is voted in by the plan.
        assert mine["system_config"].pop("validators") == theirs["system_config"].pop("validators")[:3]
        assert mine == theirs, index
    for index in range(3):  # the old files: only the peers of the config, and the new peer objects
        old, now = before[index], objects(work, index)
        assert set(now) - set(old) == ({("Service", f"{CHAIN}-3"), ("EndpointSlice", f"{CHAIN}-3-peer")})
        for key, document in old.items():
            if key != ("Secret", f"{CHAIN}-{index}-config"):
                assert now[key] == document, key
        old_config = tomllib.loads(data(old, f"{CHAIN}-{index}-config")["config.toml"])
        new_config = config(work, index)
        peers = new_config["network_zenoh"].pop("peers")
        assert peers == [*old_config["network_zenoh"].pop("peers"), {"protocol": "quic", "port": 33000,
                                                                      "domain": f"{CHAIN}-3"}]  # fmt: skip
        assert new_config == old_config
    slice_ = objects(work, 0)[("EndpointSlice", f"{CHAIN}-3-peer")]
    assert slice_["endpoints"][0]["addresses"] == ["192.0.2.40"] and slice_["ports"][0]["port"] == 33000
    # The new node's key is the account folder's; its node address by gmssl; its folder holds no key.
    account = work / made[1][4]
    private = data(objects(work, 3), f"{CHAIN}-3-account")["private_key"]
    assert private == (account / "private_key").read_text().strip()
    assert node_address_of(private) == (account / "node_address").read_text().strip()
    folder = work / "cita-cloud" / CHAIN / "node3"
    assert sorted(path.name for path in folder.iterdir()) == ["node_address", "validator_address"]
    assert private not in out and private not in (work / f"{CHAIN}-plan.sh").read_text()
    assert (work / f"{CHAIN}-3.yaml").stat().st_mode & 0o777 == 0o600


def test_the_new_node_certificate_is_signed_by_the_chain_ca(made: tuple[Path, list[str]], tmp_path: Path):
    work = copy(made, tmp_path)
    assert add(work, made)[0] == 0
    network = config(work, 3)["network_zenoh"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(network["cert"])
    key.write_text(network["priv_key"])
    verified = openssl("verify", "-CAfile", str(work / f"{CHAIN}-ca" / "ca_cert.pem"), str(cert))
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stderr
    subject = openssl("x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName").stdout
    assert f"CN = {CHAIN}-3" in subject and f"DNS:{CHAIN}-3" in subject, subject
    assert (
        openssl("x509", "-in", str(cert), "-noout", "-pubkey").stdout
        == openssl("pkey", "-in", str(key), "-pubout").stdout
    )


def kubectl_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("kubectl")]


def test_the_add_plan_names_each_cluster_and_makes_names_before_configs_use_them(
    made: tuple[Path, list[str]], tmp_path: Path
):
    work = copy(made, tmp_path)
    code, out = add(work, made, "--contexts", "east,west,north,south")
    assert code == 0, out
    script = (work / f"{CHAIN}-plan.sh").read_text()
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    contexts = {0: "east", 1: "west", 2: "north", 3: "south"}
    lines = kubectl_lines(script)
    for line in lines:  # each command in the cluster of the node whose file or object it names
        index = next(i for i in range(4) if f" {CHAIN}-{i}.yaml" in line or f"/{CHAIN}-{i}" in line)
        assert line.startswith(f"kubectl --context {contexts[index]} "), line
    order = [
        *(f"kubectl --context {contexts[i]} apply -f {CHAIN}-{i}.yaml -l app.kubernetes.io/component=peer"
          for i in range(3)),
        f"kubectl --context south apply -f {CHAIN}-3.yaml",
        f"kubectl --context south rollout status statefulset/{CHAIN}-3 --timeout=600s  # its pod runs and is ready",
        *(f"kubectl --context {contexts[i]} apply -f {CHAIN}-{i}.yaml" for i in range(3)),
    ]  # fmt: skip
    assert lines == order
    assert not [line for line in lines if " delete " in line or "rollout restart" in line]
    rest = script.splitlines()
    rpcs = "192.0.2.10:30002,[2001:db8::11]:31002,node2.example.org:32002,192.0.2.40:33002"
    waits = [n for n, line in enumerate(rest) if f"status --rpc {rpcs} " in line and "--wait_synced --peers 3 " in line]
    vote = next(n for n, line in enumerate(rest) if " add_validator " in line)
    assert len(waits) == 2 and rest.index(lines[-1]) < waits[0] < vote < waits[1]
    admin = (work / made[1][3]).absolute()
    assert rest[vote].endswith(
        f"add_validator {made[1][4]} --node_dir cita-cloud/{CHAIN}/node3 --node_rpc 192.0.2.40:33002 --rpc {rpcs} "
        f"--chain_name {CHAIN} --admin_dir {admin} --if_needed"
    )
    assert "port-forward" not in script


def test_remove_node_takes_the_node_out_everywhere_and_its_index_is_never_given_again(
    made: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work = copy(made, tmp_path)
    before = {index: objects(work, index) for index in range(3)}
    monkeypatch.setattr(membership_flags, "validators_at", lambda rpc: ["0x00"])
    code, out = run(work, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:1")
    assert code == 0, out
    assert not (work / f"{CHAIN}-1.yaml").exists() and not (work / "cita-cloud" / CHAIN / "node1").exists()
    for index in (0, 2):
        now = objects(work, index)
        assert set(before[index]) - set(now) == ({("Service", f"{CHAIN}-1"), ("EndpointSlice", f"{CHAIN}-1-peer")})
        assert now[("NetworkPolicy", f"{CHAIN}-{index}")]["metadata"]["annotations"] == {
            "runner-k8s/retired-nodes": "1"
        }
        assert [peer["domain"] for peer in config(work, index)["network_zenoh"]["peers"]] == [
            f"{CHAIN}-{other}" for other in (0, 2) if other != index
        ]
    script = (work / f"{CHAIN}-plan.sh").read_text()
    validator = (made[0] / "cita-cloud" / CHAIN / "node1" / "validator_address").read_text()
    lines = script.splitlines()
    vote = next(n for n, line in enumerate(lines) if f"remove_validator 0x{validator} " in line)
    applies = [n for n, line in enumerate(lines) if " apply -f " in line]
    stop = next(n for n, line in enumerate(lines) if line.startswith(f"kubectl --context {CHAIN}-1 delete "))
    names_go = [n for n, line in enumerate(lines) if f"delete service/{CHAIN}-1 endpointslice/{CHAIN}-1-peer " in line]
    assert vote < min(applies) and max(applies) < stop < min(names_go) and len(names_go) == 2
    assert lines[stop].startswith(f"kubectl --context {CHAIN}-1 delete statefulset/{CHAIN}-1 ")
    for name in ("secret/mc-1-config", "secret/mc-1-account", "networkpolicy/mc-1", "service/mc-1",
                 "service/mc-0", "endpointslice/mc-0-peer", "service/mc-2"):  # fmt: skip
        assert f" {name} " in lines[stop]
    for line in kubectl_lines(script):
        assert line.startswith("kubectl --context mc-")
    code, out = add(work, made)
    assert code == 0, out
    assert (work / f"{CHAIN}-3.yaml").is_file() and not (work / f"{CHAIN}-1.yaml").exists()


def test_the_index_of_a_removed_last_node_is_not_given_again(
    made: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """node2, the highest, removed: the next node is node3 (the NetworkPolicies record 2), never node2 again."""
    work = copy(made, tmp_path)
    monkeypatch.setattr(membership_flags, "validators_at", lambda rpc: ["0x00"])
    assert run(work, "remove_node", "--node_index", "2", "--rpc", "127.0.0.1:1")[0] == 0
    code, out = add(work, made)
    assert code == 0, out
    assert sorted(path.name for path in work.glob(f"{CHAIN}-*.yaml")) == [f"{CHAIN}-0.yaml", f"{CHAIN}-1.yaml",
                                                                          f"{CHAIN}-3.yaml"]  # fmt: skip
    assert [peer["domain"] for peer in config(work, 3)["network_zenoh"]["peers"]] == [f"{CHAIN}-0", f"{CHAIN}-1"]


def test_a_dry_run_writes_nothing(made: tuple[Path, list[str]], tmp_path: Path):
    work = copy(made, tmp_path)
    before = tree_snapshot(work)
    code, out = add(work, made, "--dry_run")
    assert code == 0 and "dry run: nothing written" in out
    code, out = run(work, "remove_node", "--node_index", "2", "--dry_run")
    assert code == 0 and "Not checked: whether node2 is the chain's last validator" in out
    assert tree_snapshot(work) == before


def test_the_new_load_balancer_ports_must_not_overlap_at_their_edge(made: tuple[Path, list[str]], tmp_path: Path):
    """node0 is at 192.0.2.10 from 30000: a node behind the same address needs a base MULTI_LAYOUT.span away."""
    work = copy(made, tmp_path)
    span = MULTI_LAYOUT.span
    flags = ["--authority", made[1][4], "--accounts_dir", str(work), "--lbs_token", "lb-d", "--pvc_name", "pvc-3"]
    flags += ["--node", "192.0.2.10"]
    code, _ = run(work, "add_node", *flags, "--node_port", str(30000 + span - 1), "--dry_run")
    assert code == 2
    code, out = run(work, "add_node", *flags, "--node_port", str(30000 + span))
    assert code == 0, out


def damaged_peer(work: Path) -> None:
    """node0's file gives node1 another address (its EndpointSlice edited by hand)."""
    path = work / f"{CHAIN}-0.yaml"
    path.write_text(path.read_text().replace("2001:db8::11", "2001:db8::99"))


def edited_secret(work: Path) -> None:
    path = work / f"{CHAIN}-1.yaml"
    encoded = objects(work, 1)[("Secret", f"{CHAIN}-1-config")]["data"]["config.toml"]
    text = base64.b64decode(encoded).decode().replace("port = 32000", "port = 32001")
    path.write_text(path.read_text().replace(encoded, base64.b64encode(text.encode()).decode()))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damaged_peer, "node1's LoadBalancer is 2001:db8::99 in {work}/mc-0.yaml but 2001:db8::11 in {work}/mc-2.yaml; "
         "restore the files as multi_cluster wrote them"),
        (edited_secret, "{work}/mc-1.yaml is not what runner_k8s wrote for chain 'mc' (edited by hand, or objects "
         "added or removed?); a change would replace it, so nothing was done: restore the file"),
        (lambda work: (work / "cita-cloud/mc/node2/node_address").write_text("00" * 20), "{work}/cita-cloud/mc/node2/"
         "node_address does not hold node2's node_address as its Secret does; restore the node folder"),
        (lambda work: shutil.rmtree(work / "mc-ca"), "{work}/mc-ca/ca_cert.pem is missing: the chain's files are not "
         "whole; restore them first"),
    ],
)  # fmt: skip
def test_a_chain_not_as_written_is_refused_in_one_line(
    made: tuple[Path, list[str]], tmp_path: Path, capsys, damage: Any, message: str
):
    work = copy(made, tmp_path)
    damage(work)
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    assert add(work, made)[0] == 1
    assert capsys.readouterr() == ("", f"create_k8s_config.py: error: {message.format(work=work)}\n")
    assert tree_snapshot(tmp_path) == before


def test_a_one_node_chain_is_refused_in_one_line(tmp_path: Path, capsys):
    work = tmp_path / "work"
    found = accounts(work, 3)
    create(work, found[:1], found[1], HOSTS[:1], "one node")
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    argv = ["--authority", found[2], "--accounts_dir", str(work), *NEW]
    assert run(work, "add_node", *argv)[0] == 1
    assert capsys.readouterr() == (
        "",
        f"create_k8s_config.py: error: {work}/mc-0.yaml: chain 'mc' has one node, and its LoadBalancer address is "
        "written only in the other nodes' files; add_node and remove_node change multi_cluster v6.7.4 chains of two "
        "nodes or more\n",
    )
    assert tree_snapshot(tmp_path) == before


NEEDS = "(its account made by create_account.py --release v6.7.4, its cluster's LoadBalancer and claim)"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sync_device_id", "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2"], "--sync_device_id "
         "is not for a v6.7.4 multi_cluster chain: v6.7.4 has no syncthing; leave it out"),
        (["--kms_password", "pw"], "--kms_password is not for a v6.7.4 multi_cluster chain: v6.7.4 has no kms (the "
         "account's key is in its folder); leave it out"),
        (["--node_port_range", "30000-32767"], "--node_port_range is not for a v6.7.4 multi_cluster chain: a "
         "multi_cluster node is reached at its LoadBalancer, not a NodePort; leave it out"),
        (["--seed_from", "0", "--dry_run", ""], "--seed_from is for local_cluster chains: node0 of multi_cluster chain "
         "'mc' keeps its data on its own cluster's storage; leave --seed_from out (the plain join)"),
        (["--lbs_token", "lb-b"], "--lbs_token 'lb-b' is node1's LoadBalancer already; give the new cluster's own"),
        (["--contexts", "a,b,c"], "--contexts needs one kubectl context per node (node0, node1, node2, node3), not 3"),
        (["--node", None], f"chain 'mc' is a v6.7.4 multi_cluster chain: its new node needs --node {NEEDS}"),
        (["--authority", None, "--pvc_name", None], "chain 'mc' is a v6.7.4 multi_cluster chain: its new node needs "
         f"--authority, --pvc_name {NEEDS}"),
    ],
)  # fmt: skip
def test_flags_a_v6_multi_cluster_node_does_not_take_are_refused(
    made: tuple[Path, list[str]], tmp_path: Path, capsys, flags: list[str | None], message: str
):
    work = copy(made, tmp_path)
    given = {"--authority": made[1][4], "--accounts_dir": str(work), **dict(zip(NEW[::2], NEW[1::2], strict=True))}
    extra: list[str] = []
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        assert flag is not None
        if value is None:
            given.pop(flag)
        elif flag in given:
            given[flag] = value
        else:
            extra += [flag, value] if value else [flag]
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    argv = [word for pair in given.items() for word in pair]
    assert run(work, "add_node", *argv, *extra)[0] == 2
    assert capsys.readouterr() == ("", f"create_k8s_config.py: error: {message}\n")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("which", "message"),
    [
        (0, "{work}/{authority} is already node0 of chain 'mc'; a new node needs its own account (create_account.py "
         "--release v6.7.4)"),
        (3, "--admin_dir {admin} holds account {address}, not the chain's super admin {admin_address}"),
    ],
)  # fmt: skip
def test_an_account_of_the_chain_is_refused_as_the_new_node_or_admin(
    made: tuple[Path, list[str]], tmp_path: Path, capsys, which: int, message: str
):
    work = copy(made, tmp_path)
    capsys.readouterr()
    before = tree_snapshot(tmp_path)
    if which == 0:
        code, _ = run(work, "add_node", "--authority", made[1][0], "--accounts_dir", str(work), *NEW)
        line = message.format(work=work, authority=made[1][0]).removeprefix(f"{work}/")
    else:
        admin = work / made[1][0]
        code, _ = add(work, made, "--admin_dir", str(admin))
        line = message.format(admin=admin, address=made[1][0], admin_address=made[1][3])
    assert code == 1
    assert capsys.readouterr() == ("", f"create_k8s_config.py: error: {line}\n")
    assert tree_snapshot(tmp_path) == before


PLANS = Path(__file__).resolve().parent / "golden" / "plans"


@pytest.mark.parametrize("case", ["v6-multi-add", "v6-multi-remove"])
def test_the_v6_multi_cluster_plans_are_the_reviewed_ones(
    case: str, made: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool
):
    """Every line of both plans, as reviewed in tests/golden/plans/ (regenerate with --update-golden, then review)."""
    from tests.conftest import REPO

    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
    monkeypatch.chdir(REPO)  # manage_chain.py is the checkout's, by its absolute path
    work = copy(made, tmp_path)
    if case == "v6-multi-add":
        code, out = add(work, made)
    else:
        code, out = run(work, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:9", "--contexts", "r,g,b")
    assert code == 0, out
    text = (work / f"{CHAIN}-plan.sh").read_text().replace(str(work.absolute()), "{work}").replace(str(REPO), "{repo}")
    expected = PLANS / f"{case}.sh"
    if update_golden:
        expected.write_text(text)
        pytest.skip(f"rewrote {expected}")
    assert text == expected.read_text()
