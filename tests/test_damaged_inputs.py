"""multi_cluster's pre-made accounts and identities, damaged one way at a time: each gets its own clear error.

The damage is done with plain sqlite3 and file writes; the password-derived keystream that makes an invalid
key is computed with gmssl, not with our keystore.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import create_account
import create_syncthing_config
from tests.conftest import fixed_runtime, output_of
from tests.inputs import MultiArgs, assert_refused_in_process, run_main
from tests.test_crypto_primitives import gmssl_sm3, gmssl_sm4_cfb
from tests.test_messages import KEY_FOLDER_MESSAGES

PASSWORDS = ("password0", "password1")


@dataclass
class Keys:
    root: Path
    authorities: list[str]
    device_ids: list[str]

    def args(self, work: Path) -> MultiArgs:
        return MultiArgs(
            work,
            2,
            {
                "--authorities": ",".join(self.authorities),
                "--sync_device_ids": ",".join(self.device_ids),
                "--kms_passwords": ",".join(PASSWORDS),
                "--accounts_dir": str(work / "keys"),
                "--syncthing_dir": str(work / "keys"),
            },
        )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("keys")
    authorities, device_ids = [], []
    for number, password in enumerate(PASSWORDS):
        (root / "key_file").write_text(password + "\n")
        runtime = fixed_runtime(seed=f"damaged account {number}")
        assert create_account.main(["--output_dir", str(root), "--key_file", str(root / "key_file")], runtime) == 0
        authorities.append(output_of(runtime).strip().rsplit(":", 1)[1])
        runtime = fixed_runtime(seed=f"damaged identity {number}")
        assert create_syncthing_config.main(["--output_dir", str(root)], runtime) == 0
        device_ids.append(output_of(runtime).strip().removeprefix("device_id: "))
    return Keys(root, authorities, device_ids)


@pytest.fixture
def keys(made: Keys, tmp_path: Path) -> Keys:
    shutil.copytree(made.root, tmp_path / "keys")
    return Keys(tmp_path / "keys", made.authorities, made.device_ids)


def test_undamaged_keys_are_accepted_and_copied(keys: Keys, tmp_path: Path, capsys):
    outcome = run_main(keys.args(tmp_path).argv(), capsys)
    assert outcome.code == 0, outcome.stderr
    node0 = tmp_path / "cita-cloud" / "test-chain" / "node0"
    assert (node0 / "kms.db").read_bytes() == (keys.root / keys.authorities[0] / "kms.db").read_bytes()
    assert (node0 / "config" / "key.pem").read_bytes() == (keys.root / keys.device_ids[0] / "key.pem").read_bytes()


def sql(path: Path, statement: str, *values: object) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement, values)
    db.close()


def zero_key_ciphertext(password: str) -> bytes:
    """SM4-CFB of 32 zero bytes under K = SM3(password || salt): decrypts to the invalid private key 0."""
    k = gmssl_sm3(password.encode() + b"Matthew 5-13")
    return gmssl_sm4_cfb(k[:16], k[16:], bytes(32))


Damage = Callable[[Keys], object]


def account(keys: Keys, index: int = 0) -> Path:
    return keys.root / keys.authorities[index]


def identity(keys: Keys, index: int = 0) -> Path:
    return keys.root / keys.device_ids[index]


def other_pubkey(keys: Keys) -> bytes:
    with sqlite3.connect(account(keys, 1) / "kms.db") as db:
        (pubkey,) = db.execute("select pubkey from account where id = 1").fetchone()
    db.close()
    return bytes(pubkey)


MALFORMED_CERT = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

# name -> (damage, the words of its message). Every message also names node0 and the file's folder.
DAMAGES: dict[str, tuple[Damage, str]] = {
    "stored pubkey is another account's": (
        lambda k: sql(account(k) / "kms.db", "update account set pubkey = ?", other_pubkey(k)),
        "the private key does not match the stored public key; the kms.db is damaged",
    ),
    "private key decrypts to zero": (
        lambda k: sql(account(k) / "kms.db", "update account set privkey = ?", zero_key_ciphertext(PASSWORDS[0])),
        "the decrypted private key is invalid; the kms.db is damaged",
    ),
    "account row deleted": (
        lambda k: sql(account(k) / "kms.db", "delete from account"),
        "has no account 1 (the id in key_id)",
    ),
    "config row deleted": (
        lambda k: sql(account(k) / "kms.db", "delete from config"),
        "has no config row",
    ),
    "unknown config_type": (
        lambda k: sql(account(k) / "kms.db", "update config set config_type = 'rsa'"),
        "has an unknown kms type 'rsa'; expected sm or eth",
    ),
    "pubkey is NULL": (
        lambda k: sql(account(k) / "kms.db", "update account set pubkey = NULL"),
        "is not stored as bytes; the kms.db is damaged",
    ),
    "password hash stored as text": (
        lambda k: sql(account(k) / "kms.db", "update config set password = 'abc'"),
        "is not stored as bytes; the kms.db is damaged",
    ),
    "stored password hash changed": (
        lambda k: sql(account(k) / "kms.db", "update config set password = ?", bytes(32)),
        "with --kms_passwords entry 0: the password does not open this kms.db",
    ),
    "kms.db without tables": (
        lambda k: sql(account(k) / "kms.db", "drop table account"),
        "is not a readable kms.db (no such table: account)",
    ),
    "kms.db not sqlite": (
        lambda k: (account(k) / "kms.db").write_bytes(b"SQLite format 2\x00" + bytes(200)),
        "is not a readable kms.db",
    ),
    "kms.db missing": (
        lambda k: (account(k) / "kms.db").unlink(),
        "kms.db is missing",
    ),
    "key_id ends with a newline": (
        lambda k: (account(k) / "key_id").write_bytes(b"1\n"),
        "key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    ),
    "key_id is a word": (
        lambda k: (account(k) / "key_id").write_bytes(b"one"),
        "key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    ),
    "key_id is a superscript digit": (
        lambda k: (account(k) / "key_id").write_text("\u00b2"),
        "key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    ),
    "key_id is empty": (
        lambda k: (account(k) / "key_id").write_bytes(b""),
        "key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    ),
    "key_id names no account": (
        lambda k: (account(k) / "key_id").write_bytes(b"2"),
        "has no account 2",
    ),
    "key_id past SQLite's integers": (
        lambda k: (account(k) / "key_id").write_bytes(b"9223372036854775808"),
        "key_id must hold the account id (digits 0-9 only, at most 9223372036854775807, no newline)",
    ),
    "node_address with a newline": (
        lambda k: (account(k) / "node_address").write_text(k.authorities[0] + "\n"),
        "not the authority {a0} (without a trailing newline)",
    ),
    "node_address of another account": (
        lambda k: (account(k) / "node_address").write_text(k.authorities[1]),
        "holds '{a1}', not the authority {a0}",
    ),
    "malformed cert.pem": (
        lambda k: (identity(k) / "cert.pem").write_bytes(MALFORMED_CERT),
        "cert.pem is not a PEM certificate",
    ),
    "truncated cert.pem": (
        lambda k: (identity(k) / "cert.pem").write_bytes((identity(k) / "cert.pem").read_bytes()[:100]),
        "cert.pem is not a PEM certificate",
    ),
    "empty key.pem": (
        lambda k: (identity(k) / "key.pem").write_bytes(b""),
        "key.pem is not an unencrypted PEM private key",
    ),
    "key.pem of another identity": (
        lambda k: shutil.copy(identity(k, 1) / "key.pem", identity(k) / "key.pem"),
        "key.pem is not the private key of cert.pem",
    ),
    "identity of another device": (
        lambda k: [shutil.copy(identity(k, 1) / name, identity(k) / name) for name in ("cert.pem", "key.pem")],
        "cert.pem has device ID {d1}, not {d0}",
    ),
    "cert.pem missing": (
        lambda k: (identity(k) / "cert.pem").unlink(),
        "cert.pem is missing",
    ),
}


def test_every_damage_has_its_whole_line_in_the_table_of_messages():
    assert sorted(DAMAGES) == sorted(KEY_FOLDER_MESSAGES)


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_damaged_input_is_refused_with_its_own_message(keys: Keys, tmp_path: Path, capsys, case: str):
    damage, words = DAMAGES[case]
    damage(keys)
    expected = words.format(
        a0=keys.authorities[0], a1=keys.authorities[1], d0=keys.device_ids[0], d1=keys.device_ids[1]
    )
    stderr = assert_refused_in_process(keys.args(tmp_path).argv(), capsys, tmp_path, 1, expected)
    assert (
        stderr
        == KEY_FOLDER_MESSAGES[case].format(
            tmp=tmp_path, a0=keys.authorities[0], a1=keys.authorities[1], d0=keys.device_ids[0], d1=keys.device_ids[1]
        )
        + "\n"
    ), "the whole line: the node, the damaged file and what to do"
    for password in PASSWORDS:
        assert password not in stderr
