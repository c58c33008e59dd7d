"""Accounts and syncthing identities made ahead of time (multi_cluster): check them, then copy them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runner_k8s.errors import CheckError
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.keys.keystore import SQLITE_INTEGER_MAX, WRONG_PASSWORD_FIX, load_kms_db, unlock
from runner_k8s.keys.syncthing import verify_identity
from runner_k8s.plan import CERT_PEM, KEY_ID, KEY_PEM, KMS_DB, NODE_ADDRESS
from runner_k8s.reading import read_bounded
from runner_k8s.releases.v5_0_0.inputs import MultiNode
from runner_k8s.releases.v5_0_0.nodefiles import NodeKeys

ACCOUNT_FILES = (KMS_DB, KEY_ID, NODE_ADDRESS)
KEY_FILE_MAX_BYTES = 1 << 20  # a kms.db with one account is a few KiB; the other files are smaller still
IDENTITY_FILES = (CERT_PEM, KEY_PEM)
V6_PRIVATE_KEY = "private_key"  # what a v6.7.4 account folder holds instead of kms.db


@dataclass(frozen=True)
class PendingCopy:
    """Files the user still has to copy into a node folder by hand."""

    source: Path
    files: tuple[str, ...]
    destination: str


@dataclass(frozen=True)
class NodeMaterials:
    """A node's key files where they were found (checked), and what is left for the user to copy."""

    keys: NodeKeys
    pending: tuple[PendingCopy, ...]


def _read(folder: Path, name: str, node: str) -> bytes:
    path = folder / name
    expected = IDENTITY_FILES if name in IDENTITY_FILES else ACCOUNT_FILES
    try:
        return read_bounded(path, KEY_FILE_MAX_BYTES, f"{node}:")
    except FileNotFoundError:
        raise CheckError(f"{node}: {path} is missing; {folder} must hold {', '.join(expected)}") from None
    except OSError as exc:
        raise CheckError(f"{node}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class PasswordSource:
    """Where a pre-made account's password came from, and what to do when it does not open the account."""

    given_as: str  # e.g. "--kms_passwords entry 1"
    fix: str = WRONG_PASSWORD_FIX


def load_account(
    folder: Path, node: MultiNode, flavour: KmsFlavour, source: PasswordSource | None = None
) -> tuple[bytes, bytes, bytes]:
    """Check an account folder belongs to the node's authority and opens with its password."""
    where = f"node{node.index}"
    if not (folder / KMS_DB).exists() and (folder / V6_PRIVATE_KEY).exists():
        raise CheckError(
            f"{where}: {folder} is a CITA-Cloud v6.7.4 account (private_key); a v5.0.0 chain needs a kms account: "
            "make one with create_account.py (without --release), or add --release v6.7.4"
        )
    key_id_bytes = _read(folder, KEY_ID, where)
    address_bytes = _read(folder, NODE_ADDRESS, where)
    kms_db = _read(folder, KMS_DB, where)
    if address_bytes != node.authority.encode():
        raise CheckError(
            f"{where}: {folder / NODE_ADDRESS} holds {address_bytes.decode(errors='replace').strip()!r}, "
            f"not the authority {node.authority} (without a trailing newline); is this the right account folder?"
        )
    key_id_text = key_id_bytes.decode(errors="replace")
    if not re.fullmatch(r"[0-9]{1,19}", key_id_text) or int(key_id_text) > SQLITE_INTEGER_MAX:
        raise CheckError(
            f"{where}: {folder / KEY_ID} must hold the account id (digits 0-9 only, at most {SQLITE_INTEGER_MAX}, "
            "no newline)"
        )
    try:
        stored = load_kms_db(folder / KMS_DB, int(key_id_text))
    except CheckError as exc:
        raise CheckError(f"{where}: {exc}") from None
    if stored.flavour is not flavour:
        raise CheckError(
            f"{where}: {folder / KMS_DB} is an {stored.flavour.value} account but the service config's kms is "
            f"{flavour.value}; make the account with create_account.py --kms_type {flavour.value}"
        )
    source = source or PasswordSource(f"--kms_passwords entry {node.index}")
    account = unlock(
        stored, node.kms_password, where=f"{where}: {folder / KMS_DB} with {source.given_as}", fix=source.fix
    )
    if account.address != node.authority:
        raise CheckError(f"{where}: {folder / KMS_DB} holds account {account.address}, not {node.authority}")
    return key_id_bytes, address_bytes, kms_db


def load_identity(folder: Path, node: MultiNode) -> tuple[bytes, bytes]:
    """Check an identity folder: the key matches the certificate, whose device ID is the node's."""
    where = f"node{node.index}"
    cert_pem = _read(folder, CERT_PEM, where)
    key_pem = _read(folder, KEY_PEM, where)
    try:
        device_id = verify_identity(cert_pem, key_pem)
    except ValueError as exc:
        raise CheckError(f"{where}: {folder}: {exc}; use the folder create_syncthing_config.py made") from None
    if device_id != node.device_id:
        raise CheckError(f"{where}: {folder / CERT_PEM} has device ID {device_id}, not {node.device_id}")
    return cert_pem, key_pem


def load_node_materials(
    node: MultiNode,
    node_dir: str,
    *,
    accounts_dir: Path,
    syncthing_dir: Path,
    flavour: KmsFlavour,
    source: PasswordSource | None = None,
) -> NodeMaterials:
    """Checked key files for one node, or a note of what the user must still copy."""
    pending: list[PendingCopy] = []
    account_dir = accounts_dir / node.authority
    key_id = node_address = kms_db = None
    if account_dir.is_dir():
        key_id, node_address, kms_db = load_account(account_dir, node, flavour, source)
    else:
        pending.append(PendingCopy(account_dir, ACCOUNT_FILES, f"{node_dir}/"))
    identity_dir = syncthing_dir / node.device_id
    cert_pem = key_pem = None
    if identity_dir.is_dir():
        cert_pem, key_pem = load_identity(identity_dir, node)
    else:
        pending.append(PendingCopy(identity_dir, IDENTITY_FILES, f"{node_dir}/config/"))
    return NodeMaterials(NodeKeys(key_id, node_address, kms_db, cert_pem, key_pem), tuple(pending))
