"""Many nodes' keys at once: every random byte drawn here in a fixed order, the curve work on every core."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner_k8s.keys.accounts import (
    TABLE_WORTH_IT,
    Account,
    KmsFlavour,
    RandBytes,
    account_from_secret,
    prepare_sm2_table,
    random_scalar,
    secret_range,
)
from runner_k8s.keys.keystore import render_kms_db
from runner_k8s.keys.parallel import PARALLEL_MIN_NODES, in_workers, worker_count
from runner_k8s.keys.syncthing import SyncIdentity, draw_identity, identity_from


@dataclass(frozen=True)
class NodeSecrets:
    """The random inputs of one node's keys: its account's private scalar and its identity's scalar and serial."""

    account_secret: int
    identity_secret: int
    identity_serial: int

    def __repr__(self) -> str:
        return "NodeSecrets(...)"


@dataclass(frozen=True)
class MadeKeys:
    """One node's account, its kms.db and its syncthing identity."""

    account: Account
    kms_db: bytes
    identity: SyncIdentity

    def __repr__(self) -> str:
        return f"MadeKeys(address={self.account.address}, device_id={self.identity.device_id})"


def draw_node_secrets(flavour: KmsFlavour, randbytes: RandBytes, count: int) -> list[NodeSecrets]:
    """Every account scalar first, then every identity (scalar, serial): the order the keys were always drawn in."""
    accounts = [random_scalar(secret_range(flavour), randbytes) for _ in range(count)]
    identities = [draw_identity(randbytes) for _ in range(count)]
    return [NodeSecrets(account, *identity) for account, identity in zip(accounts, identities, strict=True)]


def _make_chunk(flavour: KmsFlavour, password: str, now: dt.datetime, chunk: Sequence[NodeSecrets]) -> list[MadeKeys]:
    made = []
    for secrets in chunk:
        account = account_from_secret(flavour, secrets.account_secret)
        identity = identity_from(secrets.identity_secret, secrets.identity_serial, now)
        made.append(MadeKeys(account, render_kms_db(account, password), identity))
    return made


def make_node_keys(
    flavour: KmsFlavour,
    password: str,
    now: dt.datetime,
    secrets: Sequence[NodeSecrets],
    advance: Callable[[int], None] = lambda done: None,
) -> list[MadeKeys]:
    """Every node's keys, in node order; spread over the cores when there are enough nodes."""
    if flavour is KmsFlavour.SM and len(secrets) >= TABLE_WORTH_IT:
        prepare_sm2_table()  # before the workers fork, so they share it
    workers = worker_count() if len(secrets) >= PARALLEL_MIN_NODES else 1
    if workers < 2:
        made = _make_chunk(flavour, password, now, secrets)
        advance(len(made))
        return made
    return in_workers(functools.partial(_make_chunk, flavour, password, now), secrets, workers, advance)
