"""A v6.7.4 account: one 32-byte key as three small files, `private_key`, `node_address`, `validator_address`.

The same secret is the node's SM2 key (the controller signs with it; node_address = the last 20 bytes of
SM3 over the 64-byte public key X‖Y) and, on an overlord chain, its BLS12-381 key (validator_address =
the 48-byte compressed G1 public key). On a raft chain validator_address is the node address. Every file
holds bare lowercase hex, no 0x and no newline: consensus_overlord decodes private_key as it is and fails
on anything more. The controller image is built with SM crypto only, so there is no eth flavour here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runner_k8s.errors import CheckError, InputError
from runner_k8s.keys import bls
from runner_k8s.keys.accounts import Account, KmsFlavour, RandBytes, account_from_secret, secret_range
from runner_k8s.plan import KMS_DB, NODE_ADDRESS, PRIVATE_DIR, Dir, File, PlanItems, secret_file

PRIVATE_KEY = "private_key"
VALIDATOR_ADDRESS = "validator_address"
ACCOUNT_FILES = (PRIVATE_KEY, NODE_ADDRESS, VALIDATOR_ADDRESS)
ACCOUNT_FILE_MAX_BYTES = 4096
PRIVATE_KEY_HEX = 64
NODE_ADDRESS_HEX = 40
MAKE_ONE = "make one with create_account.py --release v6.7.4"


class Consensus(StrEnum):
    """The two consensus services of v6.7.4 and what they take as a validator."""

    OVERLORD = "overlord"  # BLS12-381 public keys, 48 bytes
    RAFT = "raft"  # node addresses, 20 bytes


@dataclass(frozen=True)
class V6Account:
    """A v6 account: its SM2 key pair (`account.address` is 0x + node address) and its validator address."""

    account: Account
    consensus: Consensus
    validator_address: str

    def __repr__(self) -> str:
        return f"V6Account(node_address={self.node_address}, consensus={self.consensus.value})"

    @property
    def secret(self) -> int:
        """The private key as a number."""
        return self.account.secret

    @property
    def node_address(self) -> str:
        """40 lowercase hex digits, no 0x."""
        return self.account.address.removeprefix("0x")

    @property
    def private_key_hex(self) -> str:
        """The private key as 64 lowercase hex digits, no 0x."""
        return self.account.secret_bytes.hex()


def draw_secret(randbytes: RandBytes) -> int:
    """A fresh key in [1, r-1]: valid for BLS12-381 and for SM2 alike (r is below SM2's order)."""
    return bls.random_secret(randbytes)


def validator_address_of(account: Account, consensus: Consensus) -> str:
    """What `consensus` names the node by (ValueError if the key is no BLS key and consensus is overlord)."""
    if consensus is Consensus.OVERLORD:
        return bls.validator_address(account.secret)
    return account.address.removeprefix("0x")


def v6_account_from_secret(secret: int, consensus: Consensus) -> V6Account:
    """The account of a given key (ValueError if `consensus` cannot use it)."""
    if consensus is Consensus.OVERLORD:
        bls.check_secret(secret)
    account = account_from_secret(KmsFlavour.SM, secret)
    return V6Account(account, consensus, validator_address_of(account, consensus))


def new_v6_account(randbytes: RandBytes, consensus: Consensus) -> V6Account:
    """A fresh random account."""
    return v6_account_from_secret(draw_secret(randbytes), consensus)


def account_files(account: V6Account) -> dict[str, File]:
    """The three files by name, as the services read them; private_key is a secret file (0600)."""
    return {
        PRIVATE_KEY: secret_file(account.private_key_hex.encode("ascii")),
        NODE_ADDRESS: File(account.node_address.encode("ascii")),
        VALIDATOR_ADDRESS: File(account.validator_address.encode("ascii")),
    }


def plan_account(account: V6Account, folder: str) -> PlanItems:
    """An account folder (0700) holding the three files."""
    yield folder, Dir(PRIVATE_DIR)
    for name, entry in account_files(account).items():
        yield f"{folder}/{name}", entry


def _read(folder: Path, name: str, where: str) -> str:
    path = folder / name
    try:
        with open(path, "rb") as stream:
            data = stream.read(ACCOUNT_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        if name == PRIVATE_KEY and (folder / KMS_DB).exists():
            raise InputError(
                f"{where} {folder} is a CITA-Cloud v5.0.0 account (kms.db); a v6.7.4 chain needs a "
                f"{PRIVATE_KEY} file: {MAKE_ONE}"
            ) from None
        raise InputError(
            f"{where} {folder}: {name} is missing; give the folder create_account.py --release v6.7.4 made "
            f"({', '.join(ACCOUNT_FILES)})"
        ) from None
    except OSError as exc:
        raise InputError(f"{where} {folder}: cannot read {name}: {exc.strerror}") from None
    if len(data) > ACCOUNT_FILE_MAX_BYTES:
        limit = ACCOUNT_FILE_MAX_BYTES
        raise InputError(f"{where} {folder}: {name} is larger than {limit} bytes; is it the right file?")
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(f"{where} {folder}: {name} is not text; it must hold hex digits only") from None


def _hex(text: str, digits: tuple[int, ...], folder: Path, name: str, where: str) -> str:
    """Bare hex of one of the given lengths, lowercased (an 0x and surrounding whitespace are tolerated)."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) not in digits or any(char not in "0123456789abcdefABCDEF" for char in body):
        lengths = " or ".join(str(count) for count in digits)
        raise InputError(f"{where} {folder}: {name} must hold {lengths} hex digits, no 0x; {MAKE_ONE}")
    return body.lower()


def read_v6_account(folder: Path, where: str, consensus: Consensus | None = None) -> V6Account:
    """An account folder read back and checked whole (InputError, CheckError naming the file and the fix).

    The key must give the node address written next to it, and validator_address must be what overlord
    (its BLS public key) or raft (the node address) names it by: that of `consensus` when given.
    `where` is the flag or role the message starts with, e.g. "--authorities".
    """
    if not folder.is_dir():
        raise InputError(f"{where} {folder} is not a folder; give an account folder ({', '.join(ACCOUNT_FILES)})")
    texts = {name: _read(folder, name, where) for name in ACCOUNT_FILES}
    secret = int(_hex(texts[PRIVATE_KEY], (PRIVATE_KEY_HEX,), folder, PRIVATE_KEY, where), 16)
    node_address = _hex(texts[NODE_ADDRESS], (NODE_ADDRESS_HEX,), folder, NODE_ADDRESS, where)
    validator = _hex(texts[VALIDATOR_ADDRESS], (NODE_ADDRESS_HEX, bls.PUBLIC_KEY_HEX), folder, VALIDATOR_ADDRESS, where)
    if secret not in secret_range(KmsFlavour.SM):
        raise InputError(f"{where} {folder}: {PRIVATE_KEY} is not a valid SM2 private key (0 or too large); {MAKE_ONE}")
    account = account_from_secret(KmsFlavour.SM, secret)
    derived = account.address.removeprefix("0x")
    if node_address != derived:
        raise CheckError(
            f"{where} {folder}: {NODE_ADDRESS} says {node_address}, but {PRIVATE_KEY} is the key of {derived}; "
            "the files come from different accounts: give the folder as it was made"
        )
    kind = Consensus.OVERLORD if len(validator) == bls.PUBLIC_KEY_HEX else Consensus.RAFT
    if consensus is not None and kind is not consensus:
        raise CheckError(
            f"{where} {folder} is an account for {kind.value} chains ({VALIDATOR_ADDRESS} holds "
            f"{len(validator)} hex digits), but this chain runs {consensus.value}; make one for it with "
            f"create_account.py --release v6.7.4 (consensus {consensus.value})"
        )
    if kind is Consensus.OVERLORD and secret not in bls.SECRET_RANGE:
        raise CheckError(
            f"{where} {folder}: {PRIVATE_KEY} is above the BLS12-381 group order, so consensus_overlord "
            f"cannot load it; {MAKE_ONE}"
        )
    expected = validator_address_of(account, kind)
    if validator != expected:
        what = "the BLS public key of" if kind is Consensus.OVERLORD else "the node address of"
        raise CheckError(
            f"{where} {folder}: {VALIDATOR_ADDRESS} is not {what} {PRIVATE_KEY}; "
            "the files come from different accounts: give the folder as it was made"
        )
    return V6Account(account, kind, validator)


def read_node_folder(folder: Path, where: str) -> tuple[str, str]:
    """A node folder's node_address and validator_address (no key is there), checked to name one node.

    validator_address is the node address (raft) or a BLS12-381 public key (overlord): taken from here,
    a validator key is never typed in by hand.
    """
    if not folder.is_dir():
        raise InputError(
            f"{where} {folder} is not a folder; give the node's folder ({NODE_ADDRESS}, {VALIDATOR_ADDRESS})"
        )
    node_address = _hex(_read(folder, NODE_ADDRESS, where), (NODE_ADDRESS_HEX,), folder, NODE_ADDRESS, where)
    texts = _read(folder, VALIDATOR_ADDRESS, where)
    validator = _hex(texts, (NODE_ADDRESS_HEX, bls.PUBLIC_KEY_HEX), folder, VALIDATOR_ADDRESS, where)
    if len(validator) == NODE_ADDRESS_HEX and validator != node_address:
        raise CheckError(
            f"{where} {folder}: {VALIDATOR_ADDRESS} is neither {NODE_ADDRESS} (raft) nor a BLS key (overlord); "
            "give the folder as it was made"
        )
    if len(validator) == bls.PUBLIC_KEY_HEX and not bls.is_public_key(bytes.fromhex(validator)):
        raise CheckError(
            f"{where} {folder}: {VALIDATOR_ADDRESS} is not a BLS12-381 public key; give the folder as it was made"
        )
    return node_address, validator
