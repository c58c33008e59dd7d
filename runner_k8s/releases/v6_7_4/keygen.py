"""Many v6 nodes' keys at once: every random byte drawn here in a fixed order, the curve work on every core.

A node costs about 2 ms here (SM2 in Python 1 ms, its BLS key and its certificate a few tenths each), so
1,000 nodes take about 2 s on one core; from PARALLEL_MIN_NODES on, forked workers share the work. The
output is the same bytes as making the nodes one at a time in node order from the same random source.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner_k8s.keys.accounts import TABLE_WORTH_IT, RandBytes, prepare_sm2_table
from runner_k8s.keys.parallel import PARALLEL_MIN_NODES, in_workers, worker_count
from runner_k8s.keys.tls import ChainCa, NodeCert, check_domain, draw_key, load_ca, node_cert_from
from runner_k8s.releases.v6_7_4.accounts import Consensus, V6Account, draw_secret, v6_account_from_secret


@dataclass(frozen=True)
class V6NodeSecrets:
    """The random inputs of one node: its account's key and its certificate's P-256 scalar and serial."""

    account_secret: int
    cert_secret: int
    cert_serial: int

    def __repr__(self) -> str:
        return "V6NodeSecrets(...)"


@dataclass(frozen=True)
class V6NodeKeys:
    """One node's account and its network certificate."""

    account: V6Account
    cert: NodeCert

    def __repr__(self) -> str:
        return f"V6NodeKeys(node_address={self.account.node_address}, domain={self.cert.domain})"


def draw_v6_node_secrets(randbytes: RandBytes, count: int) -> list[V6NodeSecrets]:
    """Every account key first, then every certificate's (scalar, serial); one node draws as new_v6_node_keys."""
    accounts = [draw_secret(randbytes) for _ in range(count)]
    certs = [draw_key(randbytes) for _ in range(count)]
    return [V6NodeSecrets(account, *cert) for account, cert in zip(accounts, certs, strict=True)]


def _make_chunk(
    consensus: Consensus, ca: ChainCa, now: dt.datetime, chunk: Sequence[tuple[str, V6NodeSecrets]]
) -> list[V6NodeKeys]:
    return [
        V6NodeKeys(
            v6_account_from_secret(secrets.account_secret, consensus),
            node_cert_from(ca, domain, secrets.cert_secret, secrets.cert_serial, now),
        )
        for domain, secrets in chunk
    ]


def make_v6_node_keys(
    consensus: Consensus,
    ca: ChainCa,
    now: dt.datetime,
    domains: Sequence[str],
    secrets: Sequence[V6NodeSecrets],
    advance: Callable[[int], None] = lambda done: None,
) -> list[V6NodeKeys]:
    """Every node's account and certificate, in node order; spread over the cores when there are enough nodes.

    Raises ValueError, before any work, for a bad domain or CA (tls.check_domain, tls.load_ca).
    """
    if len(domains) != len(secrets):
        raise ValueError(f"{len(domains)} domains for {len(secrets)} nodes' secrets")
    for domain in domains:
        check_domain(domain)
    load_ca(ca.cert_pem, ca.key_pem)  # checked and cached before the workers fork
    if len(secrets) >= TABLE_WORTH_IT:
        prepare_sm2_table()  # before the workers fork, so they share it
    work = list(zip(domains, secrets, strict=True))
    workers = worker_count() if len(work) >= PARALLEL_MIN_NODES else 1
    if workers < 2:
        made = _make_chunk(consensus, ca, now, work)
        advance(len(made))
        return made
    return in_workers(functools.partial(_make_chunk, consensus, ca, now), work, workers, advance)


def new_v6_node_keys(
    consensus: Consensus, ca: ChainCa, domain: str, randbytes: RandBytes, now: dt.datetime
) -> V6NodeKeys:
    """One node's keys (day 2 adds nodes one at a time): the same draws as draw_v6_node_secrets with count 1."""
    return make_v6_node_keys(consensus, ca, now, [domain], draw_v6_node_secrets(randbytes, 1))[0]
