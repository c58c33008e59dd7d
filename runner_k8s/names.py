"""Every name derived from the chain name: folders and Kubernetes objects, in one place."""

from __future__ import annotations

import re

# Matched with fullmatch: `$` would also accept a trailing newline.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
ROOT_DIR = "cita-cloud"


def chain_dir(chain: str) -> str:
    """`cita-cloud/<chain>`: the tree users copy onto cluster storage."""
    return f"{ROOT_DIR}/{chain}"


def node_dir(chain: str, index: int) -> str:
    """`cita-cloud/<chain>/node<i>`: also the subPath every container mounts."""
    return f"{chain_dir(chain)}/node{index}"


def admin_dir(chain: str) -> str:
    """The super admin's account folder, outside cita-cloud/."""
    return f"{chain}-admin"


# The scheme (README "Object names"): every name is the chain name followed by a fixed suffix, and
# node-level names carry `-<i>` right after the chain name. Chain names may not end in `-<digits>`
# (check_chain_name), so `<chain>-<i>...` of one chain is never a name of another chain: the
# scheme is injective across chains and across both subcommands (tests/test_names.py proves it).
TRAILING_NODE_INDEX = re.compile(r"-[0-9]+\Z")


def node_name(chain: str, index: int) -> str:
    """`<chain>-<i>`: the node's StatefulSet, its Service (the peers' host name) and pod label."""
    return f"{chain}-{index}"


def pod_name(chain: str, index: int) -> str:
    """The pod the node's StatefulSet runs (ordinal 0)."""
    return f"{node_name(chain, index)}-0"


def chain_yaml(chain: str) -> str:
    """local_cluster's manifest file."""
    return f"{chain}.yaml"


def node_yaml(chain: str, index: int) -> str:
    """multi_cluster's manifest file of one node."""
    return f"{node_name(chain, index)}.yaml"


def plan_script(chain: str) -> str:
    """The last plan add_node or remove_node printed for the chain, saved as a script in --work_dir."""
    return f"{chain}-plan.sh"


def kms_secret(chain: str, index: int | None = None) -> str:
    """The chain's Secret (kms password, state-db password): per chain (local) or per node (multi)."""
    return f"{chain}-kms-secret" if index is None else f"{node_name(chain, index)}-kms-secret"


def network_secret(chain: str, index: int) -> str:
    """The node's network key Secret."""
    return f"{node_name(chain, index)}-network-secret"


def config_secret(chain: str, index: int) -> str:
    """A v6.7.4 node's Secret: its config.toml (with its TLS key) and its public addresses."""
    return f"{node_name(chain, index)}-config"


def account_secret(chain: str, index: int) -> str:
    """A v6.7.4 node's Secret holding its account's private key."""
    return f"{node_name(chain, index)}-account"


def peer_endpoints(chain: str, index: int) -> str:
    """In another node's cluster (v6.7.4 multi_cluster): the EndpointSlice that makes node `index` resolve."""
    return f"{node_name(chain, index)}-peer"


def ca_dir(chain: str) -> str:
    """The chain CA of a v6.7.4 chain (its key signs every node's TLS certificate), outside cita-cloud/."""
    return f"{chain}-ca"


def rpc_service(chain: str) -> str:
    """local_cluster's NodePort Service for the controller RPC."""
    return f"{chain}-node-port"


def monitor_service(chain: str, index: int) -> str:
    """The node's monitor NodePort Service (local_cluster)."""
    return f"{node_name(chain, index)}-monitor"


def executor_service(chain: str, index: int) -> str:
    """The node's executor NodePort Service (local_cluster)."""
    return f"{node_name(chain, index)}-executor"


def lb_service(chain: str, index: int) -> str:
    """multi_cluster's LoadBalancer Service of one node: the node's Service, as in local_cluster."""
    return node_name(chain, index)


def chain_network_policy(chain: str) -> str:
    """local_cluster's NetworkPolicy, covering every pod of the chain."""
    return chain


def node_network_policy(chain: str, index: int) -> str:
    """multi_cluster's NetworkPolicy of one node."""
    return node_name(chain, index)


def object_names(chain: str, index: int) -> list[str]:
    """Every object name that node `index` of the chain gets, in either subcommand (for validation)."""
    return [
        kms_secret(chain),
        kms_secret(chain, index),
        network_secret(chain, index),
        config_secret(chain, index),
        account_secret(chain, index),
        peer_endpoints(chain, index),
        rpc_service(chain),
        node_name(chain, index),
        pod_name(chain, index),
        monitor_service(chain, index),
        executor_service(chain, index),
        lb_service(chain, index),
        chain_network_policy(chain),
        node_network_policy(chain, index),
    ]


def ends_like_a_node(chain: str) -> bool:
    """True when the chain name ends in `-<digits>`, the way node names do (not allowed)."""
    return TRAILING_NODE_INDEX.search(chain) is not None


def local_outputs(chain: str) -> list[str]:
    """What local_cluster writes into --work_dir for the chain."""
    return [chain_dir(chain), chain_yaml(chain), admin_dir(chain)]


def multi_outputs(chain: str, count: int) -> list[str]:
    """What multi_cluster writes into --work_dir for a chain of `count` nodes."""
    return [chain_dir(chain), *(node_yaml(chain, index) for index in range(count))]


def is_multi_yaml(chain: str, file_name: str) -> bool:
    """True for `<chain>-<i>.yaml`, a multi_cluster node file of this chain."""
    return re.fullmatch(re.escape(chain) + r"-(0|[1-9][0-9]*)\.yaml", file_name) is not None


def is_dns_label(text: str) -> bool:
    """A DNS-1035 label: lowercase letters, digits and '-', starting with a letter, at most 63."""
    return len(text) <= DNS_LABEL_MAX and DNS_LABEL.fullmatch(text) is not None


def is_dns_subdomain(text: str) -> bool:
    """A DNS-1123 subdomain (the rule for PVC names), at most 253 characters."""
    return len(text) <= DNS_SUBDOMAIN_MAX and DNS_SUBDOMAIN.fullmatch(text) is not None


def suggest_dns_name(text: str) -> str:
    """A close valid name: lowercase, '_' and other characters turned into '-'."""
    fixed = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    fixed = re.sub(r"^[^a-z]+", "", fixed)
    return fixed or "my-chain"
