"""What a planner returns: files and directories with their modes, written later by files.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PUBLIC_FILE = 0o644
SECRET_FILE = 0o600
PUBLIC_DIR = 0o755
PRIVATE_DIR = 0o700

# Names of the files a node folder and an account folder hold (contracts.md), shared by the planners,
# the small scripts and the day-2 readers.
KEY_ID = "key_id"
NODE_ADDRESS = "node_address"
KMS_DB = "kms.db"
CERT_PEM = "cert.pem"
KEY_PEM = "key.pem"
KEY_FILE = "key_file"  # the password file create_account.py moves into the account folder


@dataclass(frozen=True)
class File:
    """A file to write: its bytes and its permission bits."""

    data: bytes
    mode: int = PUBLIC_FILE


@dataclass(frozen=True)
class Dir:
    """A directory to create (possibly empty) with its permission bits."""

    mode: int = PUBLIC_DIR


Entry = File | Dir
PlanItems = Iterable[tuple[str, Entry]]


def secret_file(data: bytes) -> File:
    """A file that holds a password or a private key (mode 0600)."""
    return File(data, SECRET_FILE)
