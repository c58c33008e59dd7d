"""A whole kms.db, made with a fixed key, read back with plain sqlite3 and independent crypto."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner_k8s.errors import CheckError
from runner_k8s.keys.accounts import KmsFlavour, account_from_secret
from runner_k8s.keys.keystore import load_kms_db, render_kms_db, unlock
from tests.independent import check_kms_db
from tests.test_crypto_primitives import ETH_CIPHERTEXT, KECCAK_PW, PLAINTEXT, SM3_PW, SM_CIPHERTEXT

SECRET = int.from_bytes(PLAINTEXT, "big")


@pytest.mark.parametrize(
    ("flavour", "password_hash", "ciphertext"),
    [(KmsFlavour.ETH, KECCAK_PW, ETH_CIPHERTEXT), (KmsFlavour.SM, SM3_PW, SM_CIPHERTEXT)],
)
def test_whole_kms_db_known_answer(tmp_path: Path, flavour, password_hash, ciphertext):
    account = account_from_secret(flavour, SECRET)
    path = tmp_path / "kms.db"
    path.write_bytes(render_kms_db(account, "123456"))
    with sqlite3.connect(path) as db:
        tables = dict(db.execute("select name, sql from sqlite_master where type = 'table'").fetchall())
        config = db.execute("select id, password, config_type from config").fetchall()
        accounts = db.execute("select id, pubkey, privkey, description from account").fetchall()
    db.close()
    assert tables == {
        "config": "CREATE TABLE config(id integer primary key, password BLOB, config_type TEXT)",
        "account": "CREATE TABLE account(id INTEGER PRIMARY KEY, pubkey BLOB, privkey BLOB, description TEXT)",
    }
    assert config == [(1, bytes.fromhex(password_hash), flavour.value)]
    assert len(accounts) == 1
    key_id, pubkey, privkey, description = accounts[0]
    assert (key_id, privkey.hex(), description) == (1, ciphertext, "create by cmd")
    assert len(pubkey) == 64
    # Independently: decrypt, derive the public key and the address.
    assert check_kms_db(path, "123456", account.address) == SECRET


def test_unlock_rejects_wrong_password(tmp_path: Path):
    account = account_from_secret(KmsFlavour.SM, SECRET)
    path = tmp_path / "kms.db"
    path.write_bytes(render_kms_db(account, "right"))
    stored = load_kms_db(path)
    assert unlock(stored, "right", where="node0").address == account.address
    with pytest.raises(CheckError, match="password does not open"):
        unlock(stored, "wrong", where="node0")


def test_load_rejects_a_file_that_is_not_a_kms_db(tmp_path: Path):
    path = tmp_path / "kms.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CheckError, match=r"not a readable kms\.db"):
        load_kms_db(path)


def kms_db_with_accounts(path: Path, *key_ids: int) -> None:
    """A kms.db whose account table holds the same key under each id (sqlite3 alone, not our writer)."""
    account = account_from_secret(KmsFlavour.SM, SECRET)
    path.write_bytes(render_kms_db(account, "pw"))
    with sqlite3.connect(path) as db:
        pubkey, privkey = db.execute("select pubkey, privkey from account where id = 1").fetchone()
        db.execute("delete from account")
        for key_id in key_ids:
            db.execute("insert into account values (?, ?, ?, 'x')", (key_id, pubkey, privkey))
    db.close()


@pytest.mark.parametrize("key_id", [0, 1, 2**63 - 1])
def test_every_key_id_sqlite_can_hold_is_looked_up(tmp_path: Path, key_id: int):
    """The account id is an SQLite integer: 0 up to 2^63-1 are all ids, including both ends."""
    path = tmp_path / "kms.db"
    kms_db_with_accounts(path, key_id)
    with sqlite3.connect(path) as db:
        password, config_type = db.execute("select password, config_type from config").fetchone()
        pubkey, privkey = db.execute("select pubkey, privkey from account").fetchone()
    db.close()
    stored = load_kms_db(path, key_id)
    assert (stored.flavour, stored.stored_password_hash, stored.key_id) == (KmsFlavour.SM, password, key_id)
    assert (stored.public, stored.encrypted_secret) == (pubkey, privkey)
    assert config_type == "sm"
    assert unlock(stored, "pw", where="node0").secret == SECRET


@pytest.mark.parametrize("key_id", [0, 2**63 - 1])
def test_an_id_with_no_account_is_named(tmp_path: Path, key_id: int):
    path = tmp_path / "kms.db"
    kms_db_with_accounts(path, 5)
    with pytest.raises(CheckError) as missing:
        load_kms_db(path, key_id)
    assert str(missing.value) == (
        f"{path} has no account {key_id} (the id in key_id); use the key_id create_account.py wrote beside it"
    )


@pytest.mark.parametrize("key_id", [-1, 2**63])
def test_an_id_outside_sqlite_integers_is_refused_before_opening(tmp_path: Path, key_id: int):
    with pytest.raises(CheckError) as refused:
        load_kms_db(tmp_path / "missing.db", key_id)
    assert str(refused.value) == (
        f"key id {key_id} is outside SQLite's integer range; the key_id file must hold the account id"
    )


def test_loading_never_creates_or_changes_a_file(tmp_path: Path, monkeypatch):
    """The kms.db is opened read-only by URI: a missing one is an error, not a new empty database, and no
    file named after the URI appears in the current folder."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "odd ?#% folder"
    folder.mkdir()
    with pytest.raises(CheckError, match=r"not a readable kms\.db"):
        load_kms_db(folder / "kms.db")
    assert list(folder.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["odd ?#% folder"]
    kms_db_with_accounts(folder / "kms.db", 1)
    before = (folder / "kms.db").read_bytes()
    assert load_kms_db(folder / "kms.db").key_id == 1
    assert (folder / "kms.db").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["odd ?#% folder"]


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("pw \t\r\n", "pw"),
        ("pw\u3000\u2029\x85\xa0", "pw"),  # Unicode White_Space, as Rust's trim_end removes
        ("pw\x1c\x1d\x1e\x1f", "pw\x1c\x1d\x1e\x1f"),  # Python calls these whitespace; Rust does not
        ("pw\u200b", "pw\u200b"),  # zero width space is not White_Space
        (" pw", " pw"),  # only the end is trimmed
    ],
)
def test_a_key_file_loses_only_trailing_unicode_white_space(text: str, password: str):
    from runner_k8s.keys.keystore import password_from_key_file

    assert password_from_key_file(text) == password


# kms_sm v5.0.0 reads its key file as `std::fs::read_to_string(key_file)?.trim_end()` (src/kms.rs), and
# Rust's trim_end drops the characters with Unicode's White_Space property (PropList.txt): these 25.
WHITE_SPACE = frozenset(
    [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)


def test_the_key_file_loses_exactly_the_white_space_the_kms_trims_every_code_point():
    """Every code point, one at a time after a password: dropped if and only if it is White_Space."""
    from runner_k8s.keys.keystore import password_from_key_file

    assert len(WHITE_SPACE) == 25
    dropped = [
        code
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF and password_from_key_file(f"pw{chr(code)}") != f"pw{chr(code)}"
    ]
    assert dropped == sorted(WHITE_SPACE)
    assert password_from_key_file("pwX") == "pwX" and password_from_key_file("pw\u2000") == "pw"
    everything = "".join(map(chr, sorted(WHITE_SPACE)))
    assert password_from_key_file(f"p w{everything}{everything[::-1]}") == "p w"  # however many, in any order


@pytest.mark.slow
def test_the_white_space_list_is_what_rust_trims(tmp_path: Path):
    """The list above against Rust itself (char::is_whitespace, which str::trim_end uses), where rustc is."""
    import shutil
    import subprocess

    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("no rustc on this machine")
    source = tmp_path / "ws.rs"
    source.write_text(
        "fn main() { for c in '\\0'..=char::MAX { if c.is_whitespace() "
        '&& format!("pw{}", c).trim_end() == "pw" { println!("{}", c as u32); } } }\n'
    )
    subprocess.run([rustc, "-O", "-o", str(tmp_path / "ws"), str(source)], check=True, capture_output=True)
    printed = subprocess.run([str(tmp_path / "ws")], check=True, capture_output=True, text=True).stdout
    assert [int(line) for line in printed.split()] == sorted(WHITE_SPACE)
