"""What add_node is told about the node to add, checked against the chain; and how a plan reaches the chain.

The new node's keys are made here, or a pre-made account and identity are checked and copied (as
multi_cluster checks them). `plan_reach` decides how the printed plan reaches each node's cluster
(kubectl's --context) and how it signs as the super admin.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.create.archives import NodeMaterials, PasswordSource, load_node_materials
from runner_k8s.create.rules import DEFAULT_NODE_PORT_RANGE, check_chain_name, check_lb_ranges, parse_port_range
from runner_k8s.day2.chainload import LoadedChain
from runner_k8s.day2.memberplan import Admin, Reach, local_admin
from runner_k8s.day2.membership import is_local, node_pod
from runner_k8s.day2.planscript import Kubectl
from runner_k8s.errors import CheckError, InputError, UsageError
from runner_k8s.flags import shell_quote
from runner_k8s.keys.keygen import draw_node_secrets, make_node_keys
from runner_k8s.plan import KEY_FILE, KMS_DB, NODE_ADDRESS
from runner_k8s.ports import LOCAL_LAYOUT, external_port
from runner_k8s.releases.v5_0_0.inputs import MultiNode
from runner_k8s.releases.v5_0_0.nodefiles import NodeKeys
from runner_k8s.runtime import Runtime


@dataclass(frozen=True)
class NewNode:
    """What add_node is told about the node to add; None where it makes the value itself."""

    authority: str | None = None  # a pre-made account (create_account.py) instead of a new one
    device_id: str | None = None  # a pre-made syncthing identity instead of a new one
    accounts_dir: Path = Path(".")
    syncthing_dir: Path = Path(".")
    kms_password: str | None = None  # multi_cluster: the new node's own account password
    host: str | None = None  # multi_cluster: the new cluster's LoadBalancer address
    base_port: int | None = None
    lb_token: str | None = None
    pvc_name: str | None = None
    node_port_range: str | None = None  # local_cluster: the cluster's NodePort range

    def __repr__(self) -> str:
        return f"NewNode(authority={self.authority}, host={self.host})"


MULTI_ONLY = {"host": "--node", "base_port": "--node_port", "lb_token": "--lbs_token", "kms_password": "--kms_password"}


def check_fits(chain: LoadedChain, new: NewNode) -> None:
    """The flags given are the ones this chain's kind takes."""
    given = [flag for field, flag in MULTI_ONLY.items() if getattr(new, field) is not None]
    if is_local(chain) and given:
        raise UsageError(
            f"chain {chain.chain!r} is a local_cluster chain: {', '.join(given)} are for a multi_cluster chain's "
            "new cluster; leave them out"
        )
    if not is_local(chain):
        missing = [flag for field, flag in MULTI_ONLY.items() if getattr(new, field) is None]
        premade = (("--authority", new.authority), ("--sync_device_id", new.device_id))
        missing += [flag for flag, value in premade if not value]
        if new.pvc_name is None:
            missing.append("--pvc_name")
        if missing:
            raise UsageError(
                f"chain {chain.chain!r} is a multi_cluster chain: its new node needs {', '.join(missing)} "
                "(its cluster's LoadBalancer, claim and its pre-made account and identity)"
            )
        if new.node_port_range is not None:
            raise UsageError("--node_port_range is for local_cluster chains; a multi_cluster node has its LoadBalancer")


def check_room(chain: LoadedChain, new: NewNode, index: int) -> None:
    """The new node's names and ports fit where the others' do."""
    check_chain_name(chain.chain, index + 1)
    if not is_local(chain):
        assert new.host is not None and new.base_port is not None
        hosts = [node.host or "" for node in chain.nodes] + [new.host]
        bases = [node.base_port or 0 for node in chain.nodes] + [new.base_port]
        indices = [node.index for node in chain.nodes] + [index]
        check_lb_ranges(hosts, bases, indices=indices, fix="give the new node a --node_port at least {span} ports away")
        return
    assert chain.node_port is not None
    allowed = parse_port_range(new.node_port_range or DEFAULT_NODE_PORT_RANGE)
    shown = f"--node_port_range {allowed[0]}-{allowed[-1]}"
    used = node_pod(chain, chain.nodes[0]).slots_in_use(LOCAL_LAYOUT)
    for number in [*(node.index for node in chain.nodes), index]:
        for slot in used:
            port = external_port(LOCAL_LAYOUT, chain.node_port, slot, number)
            if port in allowed:
                continue
            if number != index:
                raise UsageError(
                    f"chain {chain.chain!r} already uses NodePort {port} ({slot.port_name} of node{number}), outside "
                    f"{shown}; give the cluster's NodePort range (kube-apiserver --service-node-port-range)"
                )
            last = max(external_port(LOCAL_LAYOUT, chain.node_port, slot, index) for slot in used)
            raise UsageError(
                f"node{index} needs NodePort {port} ({slot.port_name} of node{index}), outside {shown}: the chain's "
                f"NodePorts follow from the --node_port {chain.node_port} it was made with, so node{index} needs a "
                f"range that reaches {last}"
            )


def new_node_keys(
    chain: LoadedChain, new: NewNode, index: int, runtime: Runtime, now: datetime.datetime
) -> tuple[NodeKeys, str, str, list[str]]:
    """(keys, address, device ID, cp commands still to run) of the new node: made here, or checked and copied."""
    password = new.kms_password if new.kms_password is not None else chain.nodes[0].kms_password
    for node in chain.nodes:
        if new.authority == node.address or new.device_id == node.device_id:
            raise CheckError(
                f"{new.authority if new.authority == node.address else new.device_id} is already node{node.index} of "
                f"chain {chain.chain!r}; a new node needs its own account and identity"
            )
    if new.authority is None and new.device_id is None:
        secrets = draw_node_secrets(chain.services.kms_flavour, runtime.randbytes, 1)
        made = make_node_keys(chain.services.kms_flavour, password, now, secrets)[0]
        keys = NodeKeys(b"1", made.account.address.encode(), made.kms_db, made.identity.cert_pem, made.identity.key_pem)
        return keys, made.account.address, made.identity.device_id, []
    if new.authority is None or new.device_id is None:
        raise UsageError("give both --authority and --sync_device_id for a pre-made node, or neither to make new ones")
    for flag, folder, maker in (
        ("--authority", new.accounts_dir / new.authority, "create_account.py"),
        ("--sync_device_id", new.syncthing_dir / new.device_id, "create_syncthing_config.py"),
    ):
        if not folder.is_dir():
            where = "--accounts_dir" if flag == "--authority" else "--syncthing_dir"
            raise InputError(
                f"{flag}: there is no folder {folder} (made by {maker}); check the value, or give {where} where it is"
            )
    if is_local(chain):
        secret = names.kms_secret(chain.chain)
        source = PasswordSource(
            "the chain's kms password",
            f"every node of a local_cluster chain uses the chain's password (its Secret {secret}): make the "
            "account with create_account.py and that password",
        )
    else:
        source = PasswordSource("--kms_password")
    premade = MultiNode(
        index, new.authority, new.host or "", new.lb_token or "", new.device_id, password, new.base_port or 0, ""
    )
    found: NodeMaterials = load_node_materials(
        premade,
        names.node_dir(chain.chain, index),
        accounts_dir=new.accounts_dir,
        syncthing_dir=new.syncthing_dir,
        flavour=chain.services.kms_flavour,
        source=source,
    )
    still = [
        f"cp {' '.join(shell_quote(str(copy.source / name)) for name in copy.files)} {copy.destination}"
        for copy in found.pending
    ]
    return found.keys, new.authority, new.device_id, still


def admin_address(chain: LoadedChain) -> str:
    """The super admin's address, from the chain's init_sys_config.toml."""
    return str(tomllib.loads(chain.shared["init_sys_config.toml"].decode())["admin"])


def multi_admin(chain: LoadedChain, admin_dir: Path | None, places: Sequence[Path]) -> Admin | None:
    """multi_cluster: the super admin's account folder, and its key_file when create_account.py left it there.

    The folder is --admin_dir, else the one create_account.py made in one of `places` (--accounts_dir, the work
    dir); None when there is none.
    """
    address = admin_address(chain)
    found = [place / address for place in places if (place / address / KMS_DB).is_file()]
    folder = admin_dir if admin_dir is not None else (found[0] if found else places[0] / address)
    if not (folder / KMS_DB).is_file():
        if admin_dir is not None:
            raise InputError(f"--admin_dir {admin_dir} holds no kms.db; give the super admin's account folder")
        return None
    held = (folder / NODE_ADDRESS).read_text(errors="replace").strip() if (folder / NODE_ADDRESS).is_file() else address
    if held.lower() != address.lower():
        raise InputError(f"{folder} holds account {held}, not the chain's super admin {address}")
    key_file = folder / KEY_FILE
    # The plan runs in the work dir: name the folder by its absolute path.
    folder, key_file = folder.absolute(), key_file.absolute()
    return Admin(shell_quote(str(folder)), shell_quote(str(key_file)) if key_file.is_file() else None)


def plan_reach(
    chain: LoadedChain,
    indices: Sequence[int],
    contexts: Sequence[str] | None,
    admin: Admin | None,
) -> Reach:
    """The kubectl of each node's cluster (multi_cluster: `--contexts`, else each context named after its node)."""
    if is_local(chain):
        if contexts is not None and len(contexts) != 1:
            raise UsageError(
                f"chain {chain.chain!r} runs in one cluster: give --contexts one context, not {len(contexts)}"
            )
        kubectl = Kubectl(contexts[0] if contexts else None, chain.namespace)
        return Reach({index: kubectl for index in indices}, local_admin(chain, kubectl))
    if contexts is not None and len(contexts) != len(indices):
        nodes = ", ".join(f"node{index}" for index in indices)
        raise UsageError(f"--contexts needs one kubectl context per node ({nodes}), not {len(contexts)}")
    chosen = contexts or [names.node_name(chain.chain, index) for index in indices]
    return Reach(
        {index: Kubectl(context, chain.namespace) for index, context in zip(indices, chosen, strict=True)}, admin
    )
