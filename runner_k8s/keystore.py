"""kms.db in the format of the CITA-Cloud v5.0.0 kms_sm and kms_eth services."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .accounts import Account, KmsFlavour, account_from_secret, address_of, flavour_hash
from .errors import CheckError

PASSWORD_SALT = b"Matthew 5-13"
ACCOUNT_ID = 1
DESCRIPTION = "create by cmd"
SCHEMA = (
    "create table if not exists config(id integer primary key, password BLOB, config_type TEXT)",
    "create table if not exists account(id INTEGER PRIMARY KEY, pubkey BLOB, privkey BLOB, description TEXT)",
)


def password_from_key_file(text: str) -> str:
    """The password as the kms reads its key file: trailing whitespace removed."""
    return text.rstrip()


def password_hash(flavour: KmsFlavour, password: str) -> bytes:
    """K = H(password || "Matthew 5-13"): stored in the config table and used as the cipher key."""
    return flavour_hash(flavour, password.encode("utf-8") + PASSWORD_SALT)


def _cipher(flavour: KmsFlavour, key_material: bytes) -> Cipher[modes.CTR] | Cipher[CFB]:
    key, iv = key_material[:16], key_material[16:32]
    if flavour is KmsFlavour.SM:
        return Cipher(algorithms.SM4(key), CFB(iv))
    return Cipher(algorithms.AES(key), modes.CTR(iv))


def encrypt_secret(flavour: KmsFlavour, password: str, plaintext: bytes) -> bytes:
    """Encrypt a private key: SM4-CFB (sm) or AES-128-CTR (eth), key and IV from K."""
    encryptor = _cipher(flavour, password_hash(flavour, password)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def decrypt_secret(flavour: KmsFlavour, password: str, ciphertext: bytes) -> bytes:
    """The inverse of encrypt_secret."""
    decryptor = _cipher(flavour, password_hash(flavour, password)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def render_kms_db(account: Account, password: str) -> bytes:
    """The bytes of a fresh kms.db holding `account` as key id 1, encrypted with `password`."""
    flavour = account.flavour
    with sqlite3.connect(":memory:") as db:
        for statement in SCHEMA:
            db.execute(statement)
        db.execute(
            "insert into config (id, password, config_type) values (1, ?, ?)",
            (password_hash(flavour, password), flavour.value),
        )
        db.execute(
            "insert into account (id, pubkey, privkey, description) values (?, ?, ?, ?)",
            (ACCOUNT_ID, account.public, encrypt_secret(flavour, password, account.secret_bytes), DESCRIPTION),
        )
        db.commit()
        data = db.serialize()
    db.close()
    return bytes(data)


@dataclass(frozen=True)
class StoredAccount:
    """What a kms.db says about one account, before decryption."""

    flavour: KmsFlavour
    stored_password_hash: bytes
    key_id: int
    public: bytes
    encrypted_secret: bytes


def load_kms_db(path: Path, key_id: int = ACCOUNT_ID) -> StoredAccount:
    """Read the config row and account `key_id` of an existing kms.db (read-only)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            config = db.execute("select password, config_type from config where id = 1").fetchone()
            row = db.execute("select pubkey, privkey from account where id = ?", (key_id,)).fetchone()
        db.close()
    except sqlite3.Error as exc:
        raise CheckError(
            f"{path} is not a readable kms.db ({exc}); recreate the account with create_account.py"
        ) from exc
    if config is None or row is None:
        raise CheckError(f"{path} has no config row or no account {key_id}; recreate it with create_account.py")
    try:
        flavour = KmsFlavour(config[1])
    except ValueError:
        raise CheckError(f"{path} has an unknown kms type {config[1]!r}; expected sm or eth") from None
    return StoredAccount(flavour, bytes(config[0]), key_id, bytes(row[0]), bytes(row[1]))


def unlock(stored: StoredAccount, password: str, *, where: str) -> Account:
    """Check the password against the stored hash, decrypt, and check the key matches its pubkey."""
    if password_hash(stored.flavour, password) != stored.stored_password_hash:
        raise CheckError(
            f"{where}: the password does not open this kms.db; give the password used with create_account.py"
        )
    secret = int.from_bytes(decrypt_secret(stored.flavour, password, stored.encrypted_secret), "big")
    try:
        account = account_from_secret(stored.flavour, secret)
    except ValueError:
        raise CheckError(f"{where}: the decrypted private key is invalid; the kms.db is damaged") from None
    if account.public != stored.public or account.address != address_of(stored.flavour, stored.public):
        raise CheckError(f"{where}: the private key does not match the stored public key; the kms.db is damaged")
    return account
