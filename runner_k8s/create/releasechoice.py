"""Which release a chain is for, and the flags each release refuses (one line saying why, nothing written)."""

from __future__ import annotations

from collections.abc import Mapping

from runner_k8s.errors import UsageError

V5 = "v5.0.0"
V6 = "v6.7.4"
RELEASES = (V5, V6)
DEFAULT_RELEASE = V5  # the original tool's layout; v6.7.4 is chosen with --release
CONSENSUS_CHOICES = ("overlord", "raft")
V5_CONSENSUS = "raft"

# Flags whose meaning is part of v5.0.0 only, and what v6.7.4 has instead.
V5_ONLY = {
    "--kms_password": "v6.7.4 has no kms: each node's account key is a file kept in the node's Secret",
    "--kms_password_file": "v6.7.4 has no kms: each node's account key is a file kept in the node's Secret",
    "--kms_passwords": "v6.7.4 has no kms: the accounts of create_account.py --release v6.7.4 need no password",
    "--kms_passwords_file": "v6.7.4 has no kms: the accounts of create_account.py --release v6.7.4 need no password",
    "--block_delay_number": "v6.7.4's controller applies each block at once (there is no block delay)",
    "--enable_tls": "v6.7.4's network always encrypts (zenoh over QUIC with the chain's certificates)",
    "--need_monitor": "its two exporters read v5.0.0's node folder and processes",
    "--state_db_user": "no v6.7.4 executor keeps its state in CouchDB",
    "--state_db_password": "no v6.7.4 executor keeps its state in CouchDB",
    "--state_db_password_file": "no v6.7.4 executor keeps its state in CouchDB",
    "--sync_device_ids": "v6.7.4 syncs blocks over its own network, not with syncthing",
    "--syncthing_dir": "v6.7.4 syncs blocks over its own network, not with syncthing",
}


def check_release_flags(release: str, given: Mapping[str, object]) -> None:
    """Refuse the first flag given that `release` does not take; `given` maps flags to values (None = not given)."""
    for flag, value in given.items():
        if value is None:
            continue
        if release == V6 and flag in V5_ONLY:
            raise UsageError(f"{flag} is a v5.0.0 flag and this chain is --release {V6}: {V5_ONLY[flag]}; leave it out")
        if release == V5 and flag == "--consensus" and value != V5_CONSENSUS:
            raise UsageError(
                f"--consensus {value}: v5.0.0 runs consensus_raft only; choose --release {V6} for {value}, "
                "or leave --consensus out"
            )
