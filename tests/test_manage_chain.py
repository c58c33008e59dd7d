"""manage_chain.py against fake controllers (tests/fakechain.py): status, every change, every refusal.

The live scenario (tests/test_live_governance.py) proves the same on the real v5.0.0 services.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import manage_chain
from runner_k8s.keys.accounts import Account, KmsFlavour, account_from_secret
from runner_k8s.keys.keystore import render_kms_db
from runner_k8s.runtime import Runtime
from tests.conftest import DeterministicRandom, run_script
from tests.fakechain import Chain, Tweak, block_hash, oracle_hash, running
from tests.live.rpc import encode_message

PASSWORD = "admin-pass-123"
CHAIN = "test-chain"
CHAIN_ID = hashlib.sha256(CHAIN.encode()).digest()
SECRETS = {
    KmsFlavour.SM: 0x1234567890ABCDEF1234567890ABCDEF << 100,
    KmsFlavour.ETH: 0xFEDCBA0987654321FEDCBA0987654321 << 100,
}
SUCCESSOR = 0xABCDEF0123456789ABCDEF0123456789 << 100
V1, V2, V3, V4 = (bytes([n]) * 20 for n in (0x11, 0x22, 0x33, 0x44))


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def write_account(folder: Path, account: Account, password: str = PASSWORD) -> Path:
    folder.mkdir(parents=True)
    (folder / "kms.db").write_bytes(render_kms_db(account, password))
    (folder / "key_id").write_text("1")
    (folder / "node_address").write_text(account.address)
    return folder


def admin_account(flavour: KmsFlavour = KmsFlavour.SM) -> Account:
    return account_from_secret(flavour, SECRETS[flavour])


@pytest.fixture
def admin_dir(tmp_path: Path) -> Path:
    return write_account(tmp_path / f"{CHAIN}-admin", admin_account())


def new_chain(flavour: KmsFlavour = KmsFlavour.SM, **values: object) -> Chain:
    admin = bytes.fromhex(admin_account(flavour).address[2:])
    chain = Chain(flavour.value, CHAIN_ID, admin, [V1, V2, V3], leader=V1)
    for name, value in values.items():
        setattr(chain, name, value)
    return chain


@pytest.fixture
def chain() -> Chain:
    return new_chain()


@pytest.fixture
def nodes(chain: Chain) -> Iterator[list[str]]:
    with running(chain, [Tweak(), Tweak(), Tweak()]) as addresses:
        yield addresses


def runtime(seed: str = "manage") -> Runtime:
    return Runtime(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        randbytes=DeterministicRandom(seed),
        sleep=lambda seconds: time.sleep(0.01),
        interactive=lambda: False,
    )


def run(*argv: str, rt: Runtime | None = None) -> tuple[int, str, Runtime]:
    rt = rt or runtime()
    code = manage_chain.main(list(argv), rt)
    assert isinstance(rt.stdout, io.StringIO)
    return code, rt.stdout.getvalue(), rt


def change(verb: str, *args: str, nodes: list[str], admin_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [verb, *args, "--rpc", ",".join(nodes), "--admin_dir", str(admin_dir), "--admin_password", PASSWORD, *extra]


def sent(chain: Chain) -> bool:
    return "SendRawTransaction" in chain.calls


# --- status ------------------------------------------------------------------------------------------


def test_status_reports_every_node_and_the_config(chain: Chain, nodes: list[str]):
    code, out, _ = run("status", "--rpc", ",".join(nodes))
    assert code == 0, out
    for address in nodes:
        assert f"node {address}: height 100, block {hex0x(hashlib.sha256(b'block 100').digest())}" in out
    assert f"by {hex0x(V1)}" in out and "2 peers, controller 5.0.0" in out
    assert f"chain_id        {hex0x(CHAIN_ID)}" in out
    assert f"validators      {hex0x(V1)}, {hex0x(V2)}, {hex0x(V3)}" in out
    assert "emergency_brake off" in out and "block_interval  6 s" in out
    assert "agreement: every node has block" in out and "at height 100" in out


def test_status_json_holds_what_the_nodes_report(chain: Chain, nodes: list[str]):
    code, out, _ = run("status", "--rpc", ",".join(nodes), "--json", "--chain_name", CHAIN)
    assert code == 0
    report = json.loads(out)
    assert report["agree"] is True and report["problems"] == []
    assert [node["height"] for node in report["nodes"]] == [100, 100, 100]
    config = report["system_config"]
    assert config["admin"] == hex0x(chain.admin) and config["validators"] == [hex0x(v) for v in (V1, V2, V3)]
    assert config["pre_hashes"]["admin"] == hex0x(bytes(33))


def test_status_names_a_lagging_node_and_stays_green(chain: Chain):
    with running(chain, [Tweak(), Tweak(lag=3), Tweak()]) as addresses:
        code, out, _ = run("status", "--rpc", ",".join(addresses))
    assert code == 0
    assert f"node {addresses[1]}: height 97 (3 behind)" in out
    assert "at height 97" in out


def test_status_fails_when_nodes_have_different_blocks(chain: Chain, capsys: pytest.CaptureFixture[str]):
    with running(chain, [Tweak(), Tweak(fork=True), Tweak()]) as addresses:
        code, out, _ = run("status", "--rpc", ",".join(addresses))
    assert code == 1
    assert "problem: different blocks at height 100" in out and addresses[1] in out
    assert "1 problem on the chain: different blocks at height 100" in capsys.readouterr().err


def test_status_fails_when_configs_differ_and_says_who_reports_what(chain: Chain):
    with running(chain, [Tweak(), Tweak(config={"emergency_brake": True}), Tweak()]) as addresses:
        code, out, _ = run("status", "--rpc", ",".join(addresses))
    assert code == 1
    assert f"emergency_brake differs: off on {addresses[0]}, {addresses[2]}; on on {addresses[1]}" in out


def test_status_names_an_unreachable_node(chain: Chain, nodes: list[str], capsys: pytest.CaptureFixture[str]):
    code, out, _ = run("status", "--rpc", f"{nodes[0]},127.0.0.1:1")
    assert code == 1
    assert "node 127.0.0.1:1: no answer" in out
    assert capsys.readouterr().err == (
        "manage_chain.py: error: 1 problem on the chain: node 127.0.0.1:1: unreachable (Connection refused): "
        "check the address and that the node is running\n"
    )


def test_status_refuses_another_chains_id(chain: Chain, nodes: list[str]):
    code, out, _ = run("status", "--rpc", ",".join(nodes), "--chain_name", "other-chain")
    assert code == 1
    assert "is not sha256('other-chain')" in out


def test_status_watch_refreshes_until_ctrl_c_which_exits_0(chain: Chain, nodes: list[str]):
    rt = runtime()
    reports = []

    def sleep(seconds: float) -> None:
        reports.append(seconds)
        if len(reports) == 2:
            raise KeyboardInterrupt

    rt = Runtime(stdout=rt.stdout, stderr=rt.stderr, randbytes=rt.randbytes, sleep=sleep)
    code, out, _ = run("status", "--rpc", nodes[0], "--watch", "--interval", "0.5", "--json", rt=rt)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and all(json.loads(line)["agree"] for line in lines)
    assert reports == [0.5, 0.5]


# --- changes -----------------------------------------------------------------------------------------


def test_dry_run_prints_the_signed_transaction_and_sends_nothing(chain: Chain, nodes: list[str], admin_dir: Path):
    code, out, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir, extra=("--dry_run",)))
    assert code == 0, out
    assert not sent(chain)
    expected = oracle_hash("sm", encode_message([(1, 0), (2, bytes(33)), (3, b"\x01"), (4, 1005)]))
    assert f"tx_hash     {hex0x(expected)}" in out
    assert "transaction: lock 1005 (emergency_brake)" in out and f"pre_tx_hash {hex0x(bytes(33))}" in out
    assert "the signer" in out and "is the chain's admin" in out
    assert "sha256('test-chain')" in out  # the chain name taken from the admin folder's name
    assert out.rstrip().endswith("dry run: nothing was sent")


def test_brake_on_then_off_is_applied_and_reported(chain: Chain, nodes: list[str], admin_dir: Path):
    code, out, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir))
    assert code == 0, out
    assert chain.emergency_brake and "changed emergency_brake: off -> on" in out
    assert "applied on all 3 nodes" in out and "warning: with the brake on" in out
    code, out, _ = run(*change("emergency-brake", "off", nodes=nodes, admin_dir=admin_dir))
    assert code == 0, out
    assert not chain.emergency_brake and len(chain.accepted) == 2


def test_set_admin_hands_over_and_the_old_admin_is_refused(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    successor = account_from_secret(KmsFlavour.SM, SUCCESSOR)
    new_dir = write_account(tmp_path / "successor", successor, "other-pass")
    args = change(
        "set_admin", successor.address, nodes=nodes, admin_dir=admin_dir, extra=("--new_admin_dir", str(new_dir))
    )
    code, out, _ = run(*args, "--json")
    assert code == 0, capsys.readouterr().err
    report = json.loads(out)
    assert (
        report["before"] == hex0x(bytes.fromhex(admin_account().address[2:])) and report["after"] == successor.address
    )
    assert chain.admin == bytes.fromhex(successor.address[2:])
    assert report["transaction"]["tx_hash"] == hex0x(chain.pre_hashes[1002])
    assert set(report["applied_at"]) == set(nodes)
    capsys.readouterr()
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir))
    assert code == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: the signer {admin_account().address} (--admin_dir {admin_dir}) is not the "
        f"chain's admin {successor.address}; give the current admin's account folder; nothing was sent\n"
    )
    code, out, _ = run(
        "emergency_brake", "on", "--rpc", ",".join(nodes), "--admin_dir", str(new_dir), "--admin_password",
        "other-pass", "--chain_name", CHAIN,
    )  # fmt: skip
    assert code == 0 and chain.emergency_brake


def test_set_admin_without_the_new_admins_folder_needs_yes(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    code, _, _ = run(*change("set_admin", hex0x(V4), nodes=nodes, admin_dir=admin_dir))
    assert code == 1 and not sent(chain)
    assert "give --new_admin_dir DIR or pass --yes; nothing was sent" in capsys.readouterr().err
    code, out, _ = run(*change("set_admin", hex0x(V4), nodes=nodes, admin_dir=admin_dir, extra=("--yes",)))
    assert code == 0 and chain.admin == V4 and "warning: only" in out


def test_set_admin_refuses_an_account_of_the_other_kms_type(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    eth = account_from_secret(KmsFlavour.ETH, SUCCESSOR)
    folder = write_account(tmp_path / "eth-admin", eth)
    code, _, _ = run(
        *change("set_admin", eth.address, nodes=nodes, admin_dir=admin_dir, extra=("--new_admin_dir", str(folder)))
    )
    assert code == 1 and not sent(chain)
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: --new_admin_dir {folder} is an eth account, but the chain's kms is sm: its "
        "signatures would never match; make it with create_account.py --kms_type sm; nothing was sent\n"
    )


def test_wrong_password_is_refused_before_any_node_is_asked(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    args = change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir)
    args[args.index(PASSWORD)] = "Zq9-not-it"
    code, _, _ = run(*args)
    assert code == 1 and chain.calls == []
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: --admin_dir {admin_dir}: the password does not open this kms.db; give the "
        "password it was made with (create_k8s_config.py's --kms_password, or the key_file of create_account.py)\n"
    )


def test_password_file_and_stdin_work_like_the_other_scripts(
    chain: Chain, nodes: list[str], admin_dir: Path, tmp_path: Path
):
    key_file = tmp_path / "key_file"
    key_file.write_text(PASSWORD + "\n\n")  # create_account.py's key file: the kms drops trailing whitespace
    base = ["emergency_brake", "on", "--rpc", ",".join(nodes), "--admin_dir", str(admin_dir), "--dry_run"]
    assert run(*base, "--admin_password_file", str(key_file))[0] == 0
    rt = runtime()
    rt = Runtime(stdout=rt.stdout, stdin=io.StringIO(PASSWORD + "\n"), randbytes=rt.randbytes)
    assert run(*base, "--admin_password_file", "-", rt=rt)[0] == 0


def test_no_password_and_no_terminal_is_a_usage_error(
    nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    code, _, _ = run("emergency_brake", "on", "--rpc", nodes[0], "--admin_dir", str(admin_dir))
    assert code == 2
    assert "--admin_password is required" in capsys.readouterr().err


def disagreeing_admins(addresses: list[str]) -> str:
    return f"admin differs: {admin_account().address} on {addresses[0]}; {hex0x(V4)} on {addresses[1]}"


def forked_blocks(addresses: list[str]) -> str:
    return (
        f"different blocks at height 100: {hex0x(block_hash(100, False))} on {addresses[0]}; "
        f"{hex0x(block_hash(100, True))} on {addresses[1]}"
    )


def another_chain_id(addresses: list[str]) -> str:
    return (
        f"chain id of {addresses[1]} is not sha256('test-chain') = {hex0x(CHAIN_ID)}: these nodes do not run the "
        "chain test-chain (the name comes from --admin_dir {admin_dir}; give --chain_name if the folder was renamed)"
    )


@pytest.mark.parametrize(
    ("tweaks", "problem"),
    [
        ([Tweak(), Tweak(config={"admin": V4})], disagreeing_admins),
        ([Tweak(), Tweak(fork=True)], forked_blocks),
        ([Tweak(), Tweak(chain_id=bytes(32))], another_chain_id),
    ],
)
def test_nodes_that_disagree_are_named_and_nothing_is_sent(
    chain: Chain,
    admin_dir: Path,
    tweaks: list[Tweak],
    problem: Callable[[list[str]], str],
    capsys: pytest.CaptureFixture[str],
):
    with running(chain, tweaks) as addresses:
        code, _, _ = run(*change("emergency_brake", "on", nodes=addresses, admin_dir=admin_dir))
    assert code == 1 and not sent(chain)
    message = problem(addresses).replace("{admin_dir}", str(admin_dir))
    assert capsys.readouterr().err == f"manage_chain.py: error: {message}; nothing was sent\n"


def test_an_unreachable_node_stops_the_change(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    code, _, _ = run(*change("emergency_brake", "on", nodes=[*nodes, "127.0.0.1:1"], admin_dir=admin_dir))
    assert code == 1 and not sent(chain)
    assert capsys.readouterr().err == (
        "manage_chain.py: error: node 127.0.0.1:1: unreachable (Connection refused): check the address and that "
        "the node is running; nothing was sent\n"
    )


def test_the_chain_named_by_the_admin_folder_must_be_the_chain(
    nodes: list[str], tmp_path: Path, chain: Chain, capsys: pytest.CaptureFixture[str]
):
    other = write_account(tmp_path / "other-chain-admin", admin_account())
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=other))
    assert code == 1 and not sent(chain)
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: chain id of {', '.join(nodes)} is not sha256('other-chain') = "
        f"{hex0x(hashlib.sha256(b'other-chain').digest())}: these nodes do not run the chain other-chain (the name "
        f"comes from --admin_dir {other}; give --chain_name if the folder was renamed); nothing was sent\n"
    )
    assert run(*change("emergency_brake", "on", nodes=nodes, admin_dir=other, extra=("--chain_name", CHAIN)))[0] == 0


def test_remove_validator_is_applied_and_blocks_must_continue(nodes: list[str], admin_dir: Path):
    chain = new_chain(validators=[V1, V2, V3, V4], auto_advance=True)
    with running(chain, [Tweak(), Tweak()]) as addresses:
        code, out, _ = run(*change("remove_validator", hex0x(V3), nodes=addresses, admin_dir=admin_dir))
    assert code == 0, out
    assert chain.validators == [V1, V2, V4]
    assert "is not raft's leader" in out and "one membership change: 4 -> 3 validators" in out
    assert "blocks continue: block" in out and f"by {hex0x(V1)}, the same on every node" in out


@pytest.mark.parametrize(
    ("validators", "target", "message"),
    [
        ([V1], V1, "is the last validator"),
        ([V1, V2, V3], V4, "is not a validator"),
        ([V1, V2, V3], V1, "it is raft's leader"),
        ([V1, V2, V3], V2, "after this change the chain has 2 validators: raft needs 2 of them"),
    ],
)
def test_removals_that_would_harm_the_chain_are_refused(
    admin_dir: Path, validators: list[bytes], target: bytes, message: str, capsys: pytest.CaptureFixture[str]
):
    chain = new_chain(validators=validators)
    with running(chain, [Tweak()]) as addresses:
        code, _, _ = run(*change("remove_validator", hex0x(target), nodes=addresses, admin_dir=admin_dir))
    assert code == 1 and not sent(chain)
    assert message in capsys.readouterr().err


def test_removing_to_two_validators_goes_with_yes(admin_dir: Path):
    chain = new_chain(auto_advance=True)
    with running(chain, [Tweak()]) as addresses:
        code, out, _ = run(
            *change("remove_validator", hex0x(V3), nodes=addresses, admin_dir=admin_dir, extra=("--yes",))
        )
    assert code == 0 and chain.validators == [V1, V2] and "warning: after this change" in out


def test_add_validator_checks_the_new_node_then_adds_it(chain: Chain, admin_dir: Path):
    chain.auto_advance = True
    with running(chain, [Tweak(), Tweak(), Tweak(lag=5)]) as addresses:
        args = change(
            "add_validator", hex0x(V4), nodes=addresses[:2], admin_dir=admin_dir, extra=("--node_rpc", addresses[2])
        )
        code, out, _ = run(*args)
    assert code == 0, out
    assert chain.validators == [V1, V2, V3, V4]
    assert f"the new validator's node {addresses[2]} runs this chain" in out


@pytest.mark.parametrize(
    ("tweak", "message"),
    [
        (Tweak(lag=25), "25 blocks behind the chain's 100 (at most 20 allowed, --max_lag)"),
        (Tweak(chain_id=bytes(32)), "runs chain 0x" + "00" * 32),
        (Tweak(lag=1, fork=True), "it is on another history"),
    ],
)
def test_a_new_validator_whose_node_is_not_ready_is_refused(
    chain: Chain, admin_dir: Path, tweak: Tweak, message: str, capsys: pytest.CaptureFixture[str]
):
    with running(chain, [Tweak(), tweak]) as addresses:
        args = change(
            "add_validator", hex0x(V4), nodes=addresses[:1], admin_dir=admin_dir, extra=("--node_rpc", addresses[1])
        )
        code, _, _ = run(*args)
    assert code == 1 and not sent(chain)
    assert message in capsys.readouterr().err


def test_add_validator_needs_the_new_nodes_rpc_and_refuses_a_member(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    code, _, _ = run(*change("add_validator", hex0x(V4), nodes=nodes, admin_dir=admin_dir))
    assert code == 2 and "--node_rpc" in capsys.readouterr().err
    code, _, _ = run(
        *change("add_validator", hex0x(V2), nodes=nodes, admin_dir=admin_dir, extra=("--node_rpc", nodes[1]))
    )
    assert code == 1 and "already a validator" in capsys.readouterr().err
    assert chain.calls.count("SendRawTransaction") == 0


def test_adding_a_second_validator_to_one_needs_yes(admin_dir: Path, capsys: pytest.CaptureFixture[str]):
    chain = new_chain(validators=[V1])
    with running(chain, [Tweak(), Tweak()]) as addresses:
        args = change(
            "add_validator", hex0x(V2), nodes=addresses[:1], admin_dir=admin_dir, extra=("--node_rpc", addresses[1])
        )
        assert run(*args)[0] == 1
    assert "the chain has 2 validators: raft needs 2 of them" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["add_validator", "0x12"],
        ["remove_validator", "0x" + "zz" * 20],
        ["set_admin", "0x" + "ab" * 21],
        ["emergency_brake", "maybe"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], nodes: list[str], admin_dir: Path, chain: Chain):
    args = [
        *argv,
        "--rpc",
        nodes[0],
        "--admin_dir",
        str(admin_dir),
        "--admin_password",
        PASSWORD,
        "--node_rpc",
        nodes[0],
    ]
    if argv[0] != "add_validator":
        args = args[:-2]
    assert run(*args)[0] == 2
    assert chain.calls == []


def test_a_change_not_applied_in_time_says_what_each_node_reports(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    chain.apply = False
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir, extra=("--timeout", "0.3")))
    assert code == 1
    [tx_hash] = chain.accepted
    reports = "; ".join(f"{node}: emergency_brake still off at height 100" for node in nodes)
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: waiting for 3 nodes to apply {tx_hash.hex()[:12]}…: not done within 0.3s "
        f"({reports}); the transaction {hex0x(tx_hash)} was sent to {nodes[0]}\n"
    )


def test_another_change_of_the_same_lock_is_reported(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    chain.apply = False
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        chain.pre_hashes[1005] = b"\x42" * 32  # someone else's transaction of lock 1005 got in first

    rt = Runtime(stdout=io.StringIO(), randbytes=DeterministicRandom("x"), sleep=sleep)
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir), rt=rt)
    assert code == 1
    [tx_hash] = chain.accepted
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: node {nodes[0]}: another transaction (0x{'42' * 32}) changed emergency_brake "
        f"first; emergency_brake is now off; run status and decide again; the transaction {hex0x(tx_hash)} was "
        f"sent to {nodes[0]}\n"
    )


def test_a_refusal_by_the_node_is_passed_on_with_a_hint(
    chain: Chain, admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    with running(chain, [Tweak(reject="dup")]) as addresses:
        code, _, _ = run(*change("emergency_brake", "on", nodes=addresses, admin_dir=admin_dir))
    assert code == 1
    assert capsys.readouterr().err == (
        f"manage_chain.py: error: node {addresses[0]} refused the transaction: dup; the same transaction is "
        "already waiting in the pool: an earlier run's change is still pending; wait, then run status\n"
    )


def test_ctrl_c_while_waiting_exits_130_and_says_the_transaction_is_out(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    chain.apply = False

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    rt = Runtime(stdout=io.StringIO(), randbytes=DeterministicRandom("x"), sleep=sleep)
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir), rt=rt)
    assert code == 130
    assert "stopped while waiting; transaction 0x" in capsys.readouterr().err


def test_eth_chain_signatures_are_the_kms_eth_ones(tmp_path: Path):
    chain = new_chain(KmsFlavour.ETH)
    folder = write_account(tmp_path / f"{CHAIN}-admin", admin_account(KmsFlavour.ETH))
    with running(chain, [Tweak(), Tweak()]) as addresses:
        code, out, _ = run(*change("emergency_brake", "on", nodes=addresses, admin_dir=folder, extra=("--json",)))
    assert code == 0, out
    signature = json.loads(out)["transaction"]["signature"]
    assert len(bytes.fromhex(signature[2:])) == 65 and chain.emergency_brake  # the fake recovered it with python-ecdsa


def test_set_block_interval_is_refused_on_v5_with_the_reason(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]
):
    assert run(*change("set_block_interval", "3", nodes=nodes, admin_dir=admin_dir))[0] == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused on v5.0.0" in err and "never applies a new block interval" in err
    assert not sent(chain) and chain.block_interval == 6


def test_no_secret_in_any_output(chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str]):
    secret = f"{SECRETS[KmsFlavour.SM]:064x}"
    outputs = []
    for extra in (("--dry_run", "--json"), ("--json",), ()):
        verb = "on" if not chain.emergency_brake else "off"
        _, out, _ = run(*change("emergency_brake", verb, nodes=nodes, admin_dir=admin_dir, extra=extra))
        outputs += [out, capsys.readouterr().err]
    args = change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir)
    args[args.index(PASSWORD) - 1] = "--admin_pass"  # an abbreviation is still a password flag
    run(*args, "--no_such_flag")
    outputs.append(capsys.readouterr().err)
    for text in outputs:
        assert PASSWORD not in text and secret not in text.lower()


def test_the_script_runs_as_a_user_runs_it(tmp_path: Path):
    result = run_script("manage_chain.py", "status", "--rpc", "127.0.0.1:1", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("manage_chain.py: error: 1 problem on the chain: node 127.0.0.1:1: unreachable")
    result = run_script("manage_chain.py", "status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "manage_chain.py: error: the following arguments are required: --rpc (see manage_chain.py status --help)\n"
    )


def test_ctrl_c_while_sending_says_the_transaction_may_be_out(
    chain: Chain, nodes: list[str], admin_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from runner_k8s.govern import delivery

    def stopped(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(delivery, "send", stopped)
    code, _, _ = run(*change("emergency_brake", "on", nodes=nodes, admin_dir=admin_dir))
    assert code == 130
    assert "may have been sent (the run was stopped while sending it)" in capsys.readouterr().err
