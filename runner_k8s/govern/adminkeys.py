"""The super admin's account folder: its key opened read-only, a successor's address, the chain it names.

Two kinds: a v5.0.0 account is a kms.db opened with its password; a v6.7.4 account is a plain
`private_key` file (no password) next to node_address and validator_address.
"""

from __future__ import annotations

import re
from pathlib import Path

from runner_k8s.errors import CheckError, InputError
from runner_k8s.keys.accounts import Account, address_of
from runner_k8s.keys.keystore import ACCOUNT_ID, SQLITE_INTEGER_MAX, StoredAccount, load_kms_db, password_hash, unlock
from runner_k8s.plan import KEY_ID, KMS_DB, NODE_ADDRESS
from runner_k8s.reading import read_bounded
from runner_k8s.releases.v6_7_4.accounts import PRIVATE_KEY, read_v6_account

V5_RELEASE = "v5.0.0"
V6_RELEASE = "v6.7.4"

ADMIN_FILE_MAX_BYTES = 1 << 20
ADMIN_SUFFIX = "-admin"  # create_k8s_config.py local_cluster writes the admin's account to <chain>-admin/


def _read_account_file(folder: Path, name: str, flag: str) -> bytes:
    path = folder / name
    try:
        return read_bounded(path, ADMIN_FILE_MAX_BYTES, flag)
    except FileNotFoundError:
        raise InputError(
            f"{flag} {folder}: {name} is missing; give the account folder create_k8s_config.py (<chain>-admin/) "
            "or create_account.py made (kms.db, key_id, node_address)"
        ) from None
    except OSError as exc:
        raise InputError(f"{flag} {folder}: cannot read {name}: {exc.strerror}") from None


def _key_id(folder: Path, flag: str) -> int:
    if not (folder / KEY_ID).exists():
        return ACCOUNT_ID
    text = _read_account_file(folder, KEY_ID, flag).decode(errors="replace")
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > SQLITE_INTEGER_MAX:
        raise InputError(f"{flag} {folder}: {KEY_ID} must hold the account id (digits only, no newline)")
    return int(text)


def _check_node_address(folder: Path, flag: str, address: str) -> None:
    if not (folder / NODE_ADDRESS).exists():
        return
    written = _read_account_file(folder, NODE_ADDRESS, flag).decode(errors="replace").strip()
    if written.lower() != address:
        raise CheckError(f"{flag} {folder}: {NODE_ADDRESS} says {written!r}, but kms.db holds {address}")


def _stored_account(folder: Path, flag: str, what: str) -> StoredAccount:
    """The kms.db of an account folder, read only and not yet unlocked."""
    if not folder.is_dir():
        raise InputError(f"{flag} {folder} is not a folder; give {what}")
    _read_account_file(folder, KMS_DB, flag)
    return load_kms_db(folder / KMS_DB, _key_id(folder, flag))


def load_admin(folder: Path, password: str) -> Account:
    """The super admin's account from its folder's kms.db (read-only), opened with its password."""
    flag = "--admin_dir"
    stored = _stored_account(folder, flag, "the super admin's account folder (<chain>-admin/)")
    if password_hash(stored.flavour, password) != stored.stored_password_hash:
        raise CheckError(
            f"{flag} {folder}: the password does not open this kms.db; give the password it was made with "
            "(create_k8s_config.py's --kms_password, or the key_file of create_account.py)"
        )
    account = unlock(stored, password, where=f"{flag} {folder}")
    _check_node_address(folder, flag, account.address)
    return account


def admin_release(folder: Path) -> str:
    """The release an admin account folder is for: v6.7.4 when it holds private_key and no kms.db."""
    return V6_RELEASE if (folder / PRIVATE_KEY).exists() and not (folder / KMS_DB).exists() else V5_RELEASE


def load_v6_admin(folder: Path) -> Account:
    """A v6.7.4 super admin's account: its private_key, checked against node_address (no password)."""
    return read_v6_account(folder, "--admin_dir").account


def new_admin_address(folder: Path, signer: Account, release: str = V5_RELEASE) -> str:
    """The address of the account in `folder` (no password needed), checked to be of the signer's kms flavour."""
    flag = "--new_admin_dir"
    if release == V6_RELEASE:
        return read_v6_account(folder, flag).account.address
    stored = _stored_account(folder, flag, "the new admin's account folder (create_account.py)")
    if stored.flavour is not signer.flavour:
        raise CheckError(
            f"{flag} {folder} is an {stored.flavour.value} account, but the chain's kms is {signer.flavour.value}: "
            f"its signatures would never match; make it with create_account.py --kms_type {signer.flavour.value}"
        )
    address = address_of(stored.flavour, stored.public)
    _check_node_address(folder, flag, address)
    return address


def admin_chain_name(folder: Path) -> str | None:
    """The chain a `<chain>-admin/` folder of create_k8s_config.py local_cluster belongs to, or None."""
    name = folder.resolve().name
    return name.removesuffix(ADMIN_SUFFIX) if name.endswith(ADMIN_SUFFIX) and len(name) > len(ADMIN_SUFFIX) else None
