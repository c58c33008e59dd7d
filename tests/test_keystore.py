"""A whole kms.db, made with a fixed key, read back with plain sqlite3 and independent crypto."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner_k8s.accounts import KmsFlavour, account_from_secret
from runner_k8s.errors import CheckError
from runner_k8s.keystore import load_kms_db, render_kms_db, unlock
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
