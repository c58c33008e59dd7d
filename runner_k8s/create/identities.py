"""The verbs of create_account.py and create_syncthing_config.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runner_k8s.errors import InputError
from runner_k8s.plan import (
    CERT_PEM,
    KEY_FILE,
    KEY_PEM,
    PRIVATE_DIR,
    Dir,
    File,
    PlanItems,
    secret_file,
)
from runner_k8s.reading import read_bounded
from runner_k8s.runtime import Runtime, utc_now
from runner_k8s.write.files import write_outputs

# Each small script loads only its own keys' code: create_account.py no X.509, create_syncthing_config.py
# no kms (bench/run.py measures their start against the libraries alone).
if TYPE_CHECKING:
    from runner_k8s.keys.accounts import Account, KmsFlavour
    from runner_k8s.keys.syncthing import SyncIdentity

KEY_FILE_MAX_BYTES = 1 << 16


def read_key_file(path: Path) -> tuple[bytes, str]:
    """The key file's bytes and the password the kms would read from it (checked as --kms_passwords are)."""
    from runner_k8s.keys.keystore import check_password, password_from_key_file  # noqa: PLC0415 - see TYPE_CHECKING above

    hint = f"write the password into it first, e.g. echo 'my password' > {path}"
    try:
        raw = read_bounded(path, KEY_FILE_MAX_BYTES, "key file")
    except FileNotFoundError:
        raise InputError(f"key file {path} does not exist; {hint}") from None
    except IsADirectoryError:
        raise InputError(f"key file {path} is a directory; pass the password file with --key_file") from None
    except OSError as exc:
        raise InputError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        password = password_from_key_file(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"key file {path} is not UTF-8 text; {hint}") from None
    if not password:
        raise InputError(f"key file {path} holds no password (it is empty or only whitespace); {hint}")
    check_password(password, f"the password in key file {path}", in_list=True, error=InputError)
    return raw, password


def plan_account(account: Account, password: str, key_file_bytes: bytes | None, folder: str) -> PlanItems:
    """The account folder as the kms left it: kms.db, key_id, node_address (and the key file)."""
    from runner_k8s.keys.keystore import plan_kms_account  # noqa: PLC0415 - see TYPE_CHECKING above

    yield from plan_kms_account(account, password, folder)
    if key_file_bytes is not None:
        yield f"{folder}/{KEY_FILE}", secret_file(key_file_bytes)


OUTPUT_DIR_FLAG = "--output_dir"


def create_account(*, key_file: Path, flavour: KmsFlavour, output_dir: Path, runtime: Runtime) -> Account:
    """Make an account from the password in key_file; move key_file into the account's folder."""
    from runner_k8s.keys.accounts import new_account  # noqa: PLC0415 - see TYPE_CHECKING above
    from runner_k8s.keys.keystore import ACCOUNT_ID  # noqa: PLC0415

    raw, password = read_key_file(key_file)
    account = new_account(flavour, runtime.randbytes)
    folder = account.address
    # The key file moves into the account folder: its copy is written and its original removed in
    # the same step (a pipe or /dev/fd/N cannot be removed, and is left alone).
    write_outputs(
        output_dir,
        [folder],
        plan_account(account, password, raw, folder),
        force=False,
        hint="nothing was changed; run create_account.py again for a new account",
        retire=[key_file],
        flag=OUTPUT_DIR_FLAG,
    )
    runtime.say(f"kms create output: key_id:{ACCOUNT_ID},address:{account.address}")
    return account


def create_v6_account(*, output_dir: Path, runtime: Runtime) -> str:
    """Make a v6.7.4 account (private_key, node_address, validator_address) in a folder named by its address."""
    from runner_k8s.releases.v6_7_4.accounts import Consensus, new_v6_account, plan_account  # noqa: PLC0415

    account = new_v6_account(runtime.randbytes, Consensus.OVERLORD)
    folder = account.account.address
    write_outputs(
        output_dir,
        [folder],
        plan_account(account, folder),
        force=False,
        hint="nothing was changed; run create_account.py --release v6.7.4 again for a new account",
        flag=OUTPUT_DIR_FLAG,
    )
    runtime.say(f"account {folder}: validator_address {account.validator_address} (overlord; on raft: {folder[2:]})")
    return folder


def plan_identity(identity: SyncIdentity, folder: str) -> PlanItems:
    """A syncthing identity folder: cert.pem and key.pem (0600)."""
    yield folder, Dir(PRIVATE_DIR)
    yield f"{folder}/{CERT_PEM}", File(identity.cert_pem)
    yield f"{folder}/{KEY_PEM}", secret_file(identity.key_pem)


def create_syncthing_identity(*, output_dir: Path, runtime: Runtime) -> SyncIdentity:
    """Make a syncthing identity in a folder named by its device ID."""
    from runner_k8s.keys.syncthing import new_identity  # noqa: PLC0415 - see TYPE_CHECKING above

    identity = new_identity(runtime.randbytes, utc_now(runtime))
    write_outputs(
        output_dir,
        [identity.device_id],
        plan_identity(identity, identity.device_id),
        force=False,
        hint="nothing was changed; run create_syncthing_config.py again for a new identity",
        flag=OUTPUT_DIR_FLAG,
    )
    runtime.say(f"device_id: {identity.device_id}")
    return identity
