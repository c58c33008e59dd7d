"""kms.db in the format of the CITA-Cloud v5.0.0 kms_sm and kms_eth services."""

from __future__ import annotations

import sqlite3
import unicodedata
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from runner_k8s.errors import CheckError, RunnerError, UsageError
from runner_k8s.keys.accounts import Account, KmsFlavour, account_from_secret, flavour_hash
from runner_k8s.plan import KEY_ID, KMS_DB, NODE_ADDRESS, PRIVATE_DIR, Dir, File, PlanItems, secret_file

PASSWORD_SALT = b"Matthew 5-13"
ACCOUNT_ID = 1
DESCRIPTION = "create by cmd"
SCHEMA = (
    "create table if not exists config(id integer primary key, password BLOB, config_type TEXT)",
    "create table if not exists account(id INTEGER PRIMARY KEY, pubkey BLOB, privkey BLOB, description TEXT)",
)


# Rust's char::is_whitespace (Unicode White_Space): what the kms's trim_end() drops. Python's
# str.rstrip() would also drop U+001C-U+001F, which the kms keeps.
KMS_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
SQLITE_INTEGER_MAX = 2**63 - 1


def password_from_key_file(text: str) -> str:
    """The password as the kms reads its key file: trailing whitespace removed (`trim_end`)."""
    return text.rstrip(KMS_WHITESPACE)


def check_password(password: str, what: str, *, in_list: bool = False, error: type[RunnerError] = UsageError) -> str:
    """A kms password the kms and our lists pass on unchanged: one rule for every script.

    `in_list`: the password must also survive --kms_passwords (create_account.py makes accounts
    for it), so no comma. Whitespace at either end is refused, as the kms drops it at the end and
    the comma list at both ends.
    """
    if not password:
        raise error(f"{what} is empty; give a non-empty password")
    if password[0].isspace() or password[-1].isspace():
        raise error(f"{what} starts or ends with whitespace, which the kms or --kms_passwords would cut; remove it")
    if any(unicodedata.category(char) == "Cc" for char in password):
        raise error(f"{what} holds a line break or another control character; use printable characters only")
    if in_list and "," in password:
        raise error(f"{what} holds a comma, which --kms_passwords would split; choose a password without commas")
    return password


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
    if not 0 <= key_id <= SQLITE_INTEGER_MAX:
        raise CheckError(f"key id {key_id} is outside SQLite's integer range; the key_id file must hold the account id")
    # Percent-encode the path: `?`, `#` and `%` in a folder name would otherwise end or change the URI.
    uri = f"file:{urllib.parse.quote(str(Path(path).absolute()))}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as db:
            config = db.execute("select password, config_type from config where id = 1").fetchone()
            row = db.execute("select pubkey, privkey from account where id = ?", (key_id,)).fetchone()
        db.close()
    except sqlite3.Error as exc:
        raise CheckError(
            f"{path} is not a readable kms.db ({exc}); recreate the account with create_account.py"
        ) from exc
    if config is None:
        raise CheckError(f"{path} has no config row; recreate the account with create_account.py")
    if row is None:
        raise CheckError(
            f"{path} has no account {key_id} (the id in key_id); use the key_id create_account.py wrote beside it"
        )
    try:
        flavour = KmsFlavour(config[1])
    except ValueError:
        raise CheckError(f"{path} has an unknown kms type {config[1]!r}; expected sm or eth") from None
    if not all(isinstance(value, bytes) for value in (config[0], row[0], row[1])):
        raise CheckError(f"{path}: the password hash or a key is not stored as bytes; the kms.db is damaged")
    return StoredAccount(flavour, config[0], key_id, row[0], row[1])


WRONG_PASSWORD_FIX = "give the password used with create_account.py"


def unlock(stored: StoredAccount, password: str, *, where: str, fix: str = WRONG_PASSWORD_FIX) -> Account:
    """Check the password against the stored hash, decrypt, and check the key matches its pubkey."""
    if password_hash(stored.flavour, password) != stored.stored_password_hash:
        raise CheckError(f"{where}: the password does not open this kms.db; {fix}")
    secret = int.from_bytes(decrypt_secret(stored.flavour, password, stored.encrypted_secret), "big")
    try:
        account = account_from_secret(stored.flavour, secret)
    except ValueError:
        raise CheckError(f"{where}: the decrypted private key is invalid; the kms.db is damaged") from None
    if account.public != stored.public:  # the address is derived from the public key: it then matches too
        raise CheckError(f"{where}: the private key does not match the stored public key; the kms.db is damaged")
    return account


def plan_kms_account(account: Account, password: str, folder: str) -> PlanItems:
    """An account folder as the v5.0.0 kms leaves it: kms.db (0600), key_id, node_address."""
    yield folder, Dir(PRIVATE_DIR)
    yield f"{folder}/{KMS_DB}", secret_file(render_kms_db(account, password))
    yield f"{folder}/{KEY_ID}", File(str(ACCOUNT_ID).encode())
    yield f"{folder}/{NODE_ADDRESS}", File(account.address.encode())
