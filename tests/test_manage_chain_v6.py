"""manage_chain.py against fake v6.7.4 controllers (tests/fakechain.py, release="v6.7.4").

The fake checks each transaction as controller v6.7.4 does, by other libraries (gmssl's SM3 and SM2,
py_ecc for BLS keys), and applies it as system_config.rs does. tests/test_live_v6_governance.py proves
the same on the real services.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner_k8s.keys import bls
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.releases.v6_7_4.accounts import Consensus, account_files, v6_account_from_secret
from tests.fakechain import V6, Chain, Tweak, block_hash, running
from tests.test_crypto_primitives import gmssl_sm3
from tests.test_manage_chain import CHAIN, PASSWORD, hex0x, run, sent, write_account
from tests.test_manage_chain import admin_account as v5_admin

CHAIN_ID = gmssl_sm3(CHAIN.encode())
ADMIN_SECRET = 0x1234567890ABCDEF1234567890ABCDEF << 100
SUCCESSOR_SECRET = 0xABCDEF0123456789ABCDEF0123456789 << 100
NODE_SECRETS = [0x1111 << 200, 0x2222 << 200, 0x3333 << 200, 0x4444 << 200]


def node_account(index: int, consensus: Consensus):
    return v6_account_from_secret(NODE_SECRETS[index], consensus)


def write_v6_account(folder: Path, secret: int, consensus: Consensus = Consensus.OVERLORD) -> Path:
    folder.mkdir(parents=True)
    for name, entry in account_files(v6_account_from_secret(secret, consensus)).items():
        (folder / name).write_bytes(entry.data)
    return folder


def write_node_dir(folder: Path, index: int, consensus: Consensus) -> Path:
    """A node folder as local_cluster writes it: node_address and validator_address, no key."""
    account = node_account(index, consensus)
    folder.mkdir(parents=True)
    (folder / "node_address").write_text(account.node_address)
    (folder / "validator_address").write_text(account.validator_address)
    return folder


def entry(index: int, consensus: Consensus) -> bytes:
    return bytes.fromhex(node_account(index, consensus).validator_address)


def node_address(index: int) -> bytes:
    return bytes.fromhex(node_account(index, Consensus.RAFT).node_address)


def v6_chain(consensus: Consensus = Consensus.OVERLORD, count: int = 3, **values: object) -> Chain:
    admin = bytes.fromhex(v6_account_from_secret(ADMIN_SECRET, Consensus.OVERLORD).node_address)
    validators = [entry(index, consensus) for index in range(count)]
    chain = Chain("sm", CHAIN_ID, admin, validators, leader=validators[0][:20], release=V6, block_interval=3)
    for name, value in values.items():
        setattr(chain, name, value)
    return chain


def tweaks(count: int = 4, **lags: int) -> list[Tweak]:
    return [Tweak(node_address=node_address(index), lag=lags.get(f"n{index}", 0)) for index in range(count)]


@pytest.fixture
def admin_dir(tmp_path: Path) -> Path:
    return write_v6_account(tmp_path / f"{CHAIN}-admin", ADMIN_SECRET)


@pytest.fixture
def chain() -> Chain:
    return v6_chain()


@pytest.fixture
def nodes(chain: Chain) -> Iterator[list[str]]:
    with running(chain, tweaks(3)) as addresses:
        yield addresses


def change(verb: str, *args: str, nodes: list[str], admin_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [verb, *args, "--rpc", ",".join(nodes), "--admin_dir", str(admin_dir), *extra]


# --- status --------------------------------------------------------------------------------------------


def test_status_of_a_v6_chain_names_its_release_and_node_status(chain: Chain, nodes: list[str]):
    code, out, _ = run("status", "--rpc", ",".join(nodes), "--chain_name", CHAIN)
    assert code == 0, out
    assert f"node {nodes[0]}: height 100, block {hex0x(block_hash(100, False))}" in out
    assert f"controller 6.7.4, node {hex0x(node_address(0))}, in consensus" in out
    assert f"{hex0x(node_address(1))}@100" in out and "2 peers" in out
    assert f"validators      {', '.join(hex0x(entry(i, Consensus.OVERLORD)) for i in range(3))}" in out
    assert "block_interval  3 s" in out and "quota_limit     1073741824" in out and "block_limit     100" in out
    assert "GetNodeStatus" in chain.calls  # GetVersion was answered UNIMPLEMENTED (not served, not logged)


def test_status_json_of_a_v6_chain(chain: Chain, nodes: list[str]):
    code, out, _ = run("status", "--rpc", ",".join(nodes), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["release"] == V6 and report["system_config"]["release"] == V6
    assert report["system_config"]["quota_limit"] == 1073741824
    assert report["nodes"][2]["node_status"]["node_address"] == hex0x(node_address(2))


def test_a_v6_chain_id_is_sm3_of_its_name(chain: Chain, nodes: list[str], capsys: pytest.CaptureFixture[str]):
    chain.chain_id = bytes(32)
    assert run("status", "--rpc", ",".join(nodes), "--chain_name", CHAIN)[0] == 1
    assert f"is not sm3({CHAIN!r}) = {hex0x(CHAIN_ID)}" in capsys.readouterr().err


def test_nodes_of_two_releases_are_a_problem(capsys: pytest.CaptureFixture[str]):
    with (
        running(v6_chain(), tweaks(1)) as v6,
        running(Chain("sm", CHAIN_ID, b"\1" * 20, [b"\2" * 20]), [Tweak()]) as v5,
    ):
        assert run("status", "--rpc", ",".join(v6 + v5))[0] == 1
    assert f"the nodes run different releases: v5.0.0 on {v5[0]}; v6.7.4 on {v6[0]}" in capsys.readouterr().err


# --- the admin folder and the release ------------------------------------------------------------------


def test_a_v5_admin_folder_on_a_v6_chain_is_one_line(
    chain: Chain, nodes: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    folder = write_account(tmp_path / "v5-admin", v5_admin())
    argv = change("emergency_brake", "on", nodes=nodes, admin_dir=folder, extra=("--admin_password", PASSWORD))
    assert run(*argv)[0] == 1
    err = capsys.readouterr().err
    assert err == (
        f"manage_chain.py: error: the chain at --rpc runs v6.7.4, but --admin_dir {folder} holds a v5.0.0 account "
        "(kms.db); give the admin folder of this chain (<chain>-admin/); nothing was sent\n"
    )
    assert not sent(chain)


def test_a_v6_admin_folder_on_a_v5_chain_is_one_line(admin_dir: Path, capsys: pytest.CaptureFixture[str]):
    v5 = Chain("sm", CHAIN_ID, bytes.fromhex(v5_admin().address[2:]), [b"\2" * 20])
    with running(v5, [Tweak()]) as addresses:
        assert run(*change("emergency_brake", "on", nodes=addresses, admin_dir=admin_dir))[0] == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: the chain at --rpc runs v5.0.0, but --admin_dir {admin_dir} holds a v6.7.4 "
        "account (private_key); give the admin folder of this chain (<chain>-admin/); nothing was sent\n"
    )
    assert not sent(v5)


# --- set_admin, emergency_brake ------------------------------------------------------------------------


def test_set_admin_on_v6_signed_with_the_private_key_file(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path
):
    successor = write_v6_account(tmp_path / "next-admin", SUCCESSOR_SECRET)
    new = v6_account_from_secret(SUCCESSOR_SECRET, Consensus.OVERLORD).node_address
    argv = change("set_admin", "0x" + new, nodes=nodes, admin_dir=admin_dir, extra=("--new_admin_dir", str(successor)))
    code, out, _ = run(*argv, "--chain_name", CHAIN)
    assert code == 0, out
    assert chain.admin == bytes.fromhex(new)  # the fake took the SM2 signature (gmssl) and the SM3 hash
    assert f"the chain id is sm3({CHAIN!r})" in out and "changed admin:" in out


def test_set_admin_on_v6_refuses_a_v5_successor_folder(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    successor = write_account(tmp_path / "v5-next", v5_admin(KmsFlavour.ETH))
    argv = change("set_admin", v5_admin(KmsFlavour.ETH).address, nodes=nodes, admin_dir=admin_dir)
    assert run(*argv, "--new_admin_dir", str(successor))[0] == 1
    assert "is a CITA-Cloud v5.0.0 account (kms.db); a v6.7.4 chain needs a private_key file" in capsys.readouterr().err
    assert not sent(chain)


def test_emergency_brake_on_and_off_on_v6(chain: Chain, nodes: list[str], admin_dir: Path):
    code, out, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir))
    assert code == 0 and chain.emergency_brake, out
    assert "'EmergencyBrake'" in out
    code, out, _ = run(*change("emergency_brake", "off", nodes=nodes, admin_dir=admin_dir))
    assert code == 0 and not chain.emergency_brake, out


def test_a_v6_refusal_is_explained_by_its_name(chain: Chain, admin_dir: Path, capsys: pytest.CaptureFixture[str]):
    with running(chain, [Tweak(node_address=node_address(0), reject="DupTransaction")]) as addresses:
        assert run(*change("emergency_brake", "on", nodes=addresses, admin_dir=admin_dir))[0] == 1
    err = capsys.readouterr().err
    assert f"node {addresses[0]} refused the transaction: DupTransaction; the same transaction is already" in err


# --- set_block_interval --------------------------------------------------------------------------------


def test_set_block_interval_applies_on_v6(chain: Chain, nodes: list[str], admin_dir: Path):
    code, out, _ = run(*change("set_block_interval", "1", nodes=nodes, admin_dir=admin_dir, extra=("--json",)))
    assert code == 0, out
    report = json.loads(out)
    assert report["transaction"]["output"] == "0x00000001" and report["transaction"]["lock_id"] == 1003
    assert chain.block_interval == 1 and report["before"] == 3 and report["after"] == 1


@pytest.mark.parametrize(
    ("seconds", "extra", "refusal"),
    [
        ("0", (), "a block interval of 0 s is refused: overlord's round timers would be 0 ms"),
        ("1", (), ""),
        ("60", (), ""),
        ("61", (), "a block every 61 s: every later change, this one's undo included, waits up to that long"),
        ("61", ("--yes",), ""),
        ("4294967", ("--yes",), ""),
        ("4294968", ("--yes",), "consensus_overlord v6.7.4 counts it in milliseconds in 32 bits, which wrap above"),
        ("3", (), "the block interval is already 3 s; nothing to change"),
    ],
)
def test_set_block_interval_limits(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str], seconds: str, extra, refusal
):
    code, out, _ = run(
        *change("set_block_interval", seconds, nodes=nodes, admin_dir=admin_dir, extra=("--dry_run", *extra))
    )
    err = capsys.readouterr().err
    if refusal:
        assert code == 1 and refusal in err and err.count("\n") == 1, err
    else:
        assert code == 0 and "dry run: nothing was sent" in out, err
        assert f"output      0x{int(seconds):08x}" in out
    assert not sent(chain) and chain.block_interval == 3


# --- validators: overlord ------------------------------------------------------------------------------


def test_add_validator_on_overlord_takes_the_bls_key_from_the_node_folder(
    chain: Chain, admin_dir: Path, tmp_path: Path
):
    chain.auto_advance = True  # every GetBlockNumber answered makes a block: the blocks after the change come
    node_dir = write_node_dir(tmp_path / f"{CHAIN}-3", 3, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change(
            "add_validator", hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir,
            extra=("--node_dir", str(node_dir), "--node_rpc", addresses[3], "--yes"),
        )  # fmt: skip
        code, out, _ = run(*argv)
    assert code == 0, out
    assert chain.validators == [entry(index, Consensus.OVERLORD) for index in range(4)]  # py_ecc checked the new key
    assert "is a BLS12-381 public key, not a validator yet; it goes at the end of the list" in out


def test_add_validator_on_overlord_needs_the_node_folder(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    argv = change(
        "add_validator", hex0x(node_address(3)), nodes=nodes, admin_dir=admin_dir, extra=("--node_rpc", nodes[0])
    )
    assert run(*argv)[0] == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: this is an overlord chain: its validators are the nodes' BLS keys, not node "
        f"addresses like {hex0x(node_address(3))}; give the node's folder with --node_dir (its validator_address "
        "holds the key); nothing was sent\n"
    )
    assert not sent(chain)


def test_add_validator_refuses_a_node_rpc_of_another_node(
    chain: Chain, admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change(
            "add_validator", hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir,
            extra=("--node_dir", str(node_dir), "--node_rpc", addresses[1], "--yes"),
        )  # fmt: skip
        assert run(*argv)[0] == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: the node at {addresses[1]} is {hex0x(node_address(1))}, not "
        f"{hex0x(node_address(3))}; give the RPC address of the new validator's own node; nothing was sent\n"
    )
    assert not sent(chain)


def test_a_node_folder_with_a_bad_bls_key_is_refused(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    key = bytearray(entry(3, Consensus.OVERLORD))
    key[47] ^= 1  # off the curve or out of the subgroup: py_ecc says which, overlord would panic
    assert not __import__("tests.fakechain", fromlist=["is_bls_key"]).is_bls_key(bytes(key))
    (node_dir / "validator_address").write_text(key.hex())
    argv = change(
        "add_validator", hex0x(node_address(3)), nodes=nodes, admin_dir=admin_dir, extra=("--node_dir", str(node_dir))
    )
    argv += ["--node_rpc", nodes[0]]
    assert run(*argv)[0] == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: --node_dir {node_dir}: validator_address is not a BLS12-381 public key; give the "
        "folder as it was made\n"
    )
    assert not sent(chain)


def test_remove_validator_on_overlord_by_folder_and_by_key(chain: Chain, admin_dir: Path, tmp_path: Path):
    chain.validators.append(entry(3, Consensus.OVERLORD))
    chain.auto_advance = True
    node_dir = write_node_dir(tmp_path / "n2", 2, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change("remove_validator", hex0x(node_address(2)), nodes=addresses, admin_dir=admin_dir)
        code, out, _ = run(*argv, "--node_dir", str(node_dir), "--yes")
        assert code == 0, out
        assert "overlord has no fixed leader" in out
        key = hex0x(entry(3, Consensus.OVERLORD))
        code, out, _ = run(*change("remove_validator", key, nodes=addresses, admin_dir=admin_dir, extra=("--yes",)))
        assert code == 0, out
    assert chain.validators == [entry(0, Consensus.OVERLORD), entry(1, Consensus.OVERLORD)]


def test_overlord_quorum_is_two_thirds(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    key = hex0x(entry(2, Consensus.OVERLORD))
    assert run(*change("remove_validator", key, nodes=nodes, admin_dir=admin_dir))[0] == 1
    assert "after this change the chain has 2 validators: overlord needs 2 of them" in capsys.readouterr().err
    assert not sent(chain)


def test_add_validator_takes_no_pasted_key(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    key = hex0x(entry(3, Consensus.OVERLORD))
    assert run(*change("add_validator", key, nodes=nodes, admin_dir=admin_dir, extra=("--node_rpc", nodes[0])))[0] == 2
    assert "an overlord validator's key is read from the node's folder (--node_dir)" in capsys.readouterr().err
    assert not chain.calls


# --- validators: raft and its leader -------------------------------------------------------------------


def test_removing_raft_s_leader_is_allowed_on_v6(admin_dir: Path):
    chain = v6_chain(Consensus.RAFT, count=4, auto_advance=True)
    chain.leader = node_address(0)
    with running(chain, tweaks(4)) as addresses:
        code, out, _ = run(*change("remove_validator", hex0x(node_address(0)), nodes=addresses, admin_dir=admin_dir))
    assert code == 0, out
    assert "is raft's leader: consensus_raft v6.7.4 hands the lead to an up-to-date validator first" in out
    assert chain.validators == [node_address(index) for index in (1, 2, 3)]


def test_removing_raft_s_leader_needs_another_validator_at_the_head(
    admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    chain = v6_chain(Consensus.RAFT, count=4)
    chain.leader = node_address(0)
    with running(chain, tweaks(4, n1=10, n2=10, n3=10)) as addresses:
        assert run(*change("remove_validator", hex0x(node_address(0)), nodes=addresses, admin_dir=admin_dir))[0] == 1
    err = capsys.readouterr().err
    assert "is raft's leader and no other validator answers at the head (--rpc) to take the lead" in err
    assert not sent(chain)


def test_raft_validators_are_node_addresses(admin_dir: Path, tmp_path: Path):
    chain = v6_chain(Consensus.RAFT, count=3, auto_advance=True)
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.RAFT)
    with running(chain, tweaks(4)) as addresses:
        argv = change("add_validator", hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir)
        code, out, _ = run(*argv, "--node_rpc", addresses[3], "--node_dir", str(node_dir))
    assert code == 0, out
    assert chain.validators[-1] == node_address(3)


def test_an_overlord_node_folder_on_a_raft_chain_is_refused(
    admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    chain = v6_chain(Consensus.RAFT, count=3)
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change("add_validator", hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir)
        assert run(*argv, "--node_rpc", addresses[3], "--node_dir", str(node_dir))[0] == 1
    assert (
        "this is a raft chain: its validators are 20-byte node addresses, but --node_dir's" in capsys.readouterr().err
    )
    assert not sent(chain)


@pytest.mark.parametrize("verb", ["add_validator", "remove_validator"])
def test_a_raft_chain_names_the_node_folder_or_the_key_given(
    verb: str, admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # remove_validator too says where the BLS key came from: --node_dir's file, or the value typed
    chain = v6_chain(Consensus.RAFT, count=4)
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change(verb, hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir)
        argv += ["--node_rpc", addresses[3]] if verb == "add_validator" else []
        assert run(*argv, "--node_dir", str(node_dir))[0] == 1
        if verb == "remove_validator":
            key = hex0x(entry(3, Consensus.OVERLORD))
            assert run(*change(verb, key, nodes=addresses[:3], admin_dir=admin_dir))[0] == 1
    err = capsys.readouterr().err.splitlines()
    line = "manage_chain.py: error: this is a raft chain: its validators are 20-byte node addresses, but {} is a BLS "
    line += "key (an overlord node's); give a node of this chain; nothing was sent"
    assert err[0] == line.format("--node_dir's validator_address")
    assert err[1:] == ([line.format("the validator given")] if verb == "remove_validator" else [])
    assert not sent(chain)


@pytest.mark.parametrize(("verb", "before", "after"), [("add_validator", 3, 4), ("remove_validator", 4, 3)])
def test_a_v6_dry_run_counts_the_validators_before_and_after(
    verb: str, before: int, after: int, admin_dir: Path, tmp_path: Path
):
    chain = v6_chain(count=before)
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    with running(chain, tweaks(4)) as addresses:
        argv = change(verb, hex0x(node_address(3)), nodes=addresses[:3], admin_dir=admin_dir)
        argv += ["--node_rpc", addresses[3]] if verb == "add_validator" else []
        code, out, _ = run(*argv, "--node_dir", str(node_dir), "--dry_run", "--yes")
    assert code == 0, out
    assert f"  - one membership change: {before} -> {after} validators" in out.splitlines()


def test_the_bls_key_in_the_fake_is_the_one_our_code_derives():
    """The node folders above hold keys made by runner_k8s; py_ecc agrees they are keys (not a tautology)."""
    from tests.fakechain import is_bls_key

    assert all(is_bls_key(entry(index, Consensus.OVERLORD)) for index in range(4))
    assert len(entry(0, Consensus.OVERLORD)) == bls.PUBLIC_KEY_BYTES


def test_if_needed_does_not_take_a_node_address_for_an_overlord_validator(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    """A node address is never in an overlord chain's list of BLS keys: that is no proof there is nothing to do."""
    argv = change("remove_validator", hex0x(node_address(0)), nodes=nodes, admin_dir=admin_dir, extra=("--if_needed",))
    assert run(*argv)[0] == 1
    assert "this is an overlord chain: its validators are the nodes' BLS keys" in capsys.readouterr().err
    assert not sent(chain)


def test_if_needed_with_the_node_folder(chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path):
    node_dir = write_node_dir(tmp_path / "n3", 3, Consensus.OVERLORD)
    argv = change("remove_validator", hex0x(node_address(3)), nodes=nodes, admin_dir=admin_dir)
    code, out, _ = run(*argv, "--node_dir", str(node_dir), "--if_needed")
    assert code == 0 and f"nothing to do: {hex0x(entry(3, Consensus.OVERLORD))} is no validator" in out, out
    assert not sent(chain)


# --- status --wait_synced --peers (issue 24: the plan of add_node watches the peers reload) ---------------


def test_wait_synced_peers_passes_at_the_count_every_node_lists_and_waits_above_it(
    chain: Chain, nodes: list[str], capsys
):
    rpc = ",".join(nodes)  # three nodes: each lists the two others
    code, out, _ = run("status", "--rpc", rpc, "--wait_synced", "--peers", "2", "--timeout", "5")
    assert code == 0, out
    capsys.readouterr()
    code, _, _ = run("status", "--rpc", rpc, "--wait_synced", "--peers", "3", "--timeout", "0.3")
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"manage_chain.py: error: the nodes did not catch up within 0.3 s: {nodes[0]} lists 2 of 3 peers (and more "
        "above)"
    )


def test_wait_synced_peers_waits_until_a_node_has_re_read_its_peers(chain: Chain):
    looks: list[int] = []

    def peers() -> list[tuple[bytes, int]]:  # node0 has not re-read its config for its first three answers
        looks.append(1)
        known = [node_address(1), node_address(2)] if len(looks) > 3 else [node_address(1)]
        return [(address, chain.height) for address in known]

    models = tweaks(3)
    models[0].peers = peers
    with running(chain, models) as addresses:
        code, out, _ = run("status", "--rpc", ",".join(addresses), "--wait_synced", "--peers", "2", "--timeout", "20")
    assert code == 0, out
    assert len(looks) == 4  # it looked again until node0 listed both peers, then stopped


def test_peers_needs_wait_synced_and_a_v6_chain(chain: Chain, nodes: list[str], capsys):
    capsys.readouterr()
    assert run("status", "--rpc", nodes[0], "--peers", "1")[0] == 2
    assert capsys.readouterr().err.endswith(
        "manage_chain.py: error: --peers goes with --wait_synced: it says how many peers every node must list\n"
    )
    v5 = Chain("sm", CHAIN_ID, b"\x01" * 20, [b"\x02" * 20])
    with running(v5, [Tweak()]) as addresses:
        assert run("status", "--rpc", addresses[0], "--wait_synced", "--peers", "0", "--timeout", "5")[0] == 1
    assert capsys.readouterr().err.endswith(
        f"manage_chain.py: error: {addresses[0]} runs CITA-Cloud v5.0.0, which does not list its peers (GetNodeStatus "
        "is v6.7.4's); leave --peers out\n"
    )
