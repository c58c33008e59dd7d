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


def node_name(chain: str, index: int) -> str:
    """`<chain>-<i>`: the node's Deployment, Service and pod label."""
    return f"{chain}-{index}"


def chain_yaml(chain: str) -> str:
    """local_cluster's manifest file."""
    return f"{chain}.yaml"


def node_yaml(chain: str, index: int) -> str:
    """multi_cluster's manifest file of one node."""
    return f"{node_name(chain, index)}.yaml"


def kms_secret(chain: str, index: int | None = None) -> str:
    """The kms password Secret: per chain (local) or per node (multi)."""
    return f"kms-secret-{chain}" if index is None else f"kms-secret-{node_name(chain, index)}"


def network_secret(chain: str, index: int) -> str:
    """The node's network key Secret."""
    return f"{node_name(chain, index)}-network-secret"


def rpc_service(chain: str) -> str:
    """local_cluster's NodePort Service for the controller RPC."""
    return f"{chain}-node-port"


def monitor_service(chain: str, index: int) -> str:
    """The node's monitor NodePort Service."""
    return f"monitor-{node_name(chain, index)}"


def executor_service(chain: str, index: int) -> str:
    """The node's executor NodePort Service."""
    return f"executor-{node_name(chain, index)}"


def lb_service(chain: str, index: int) -> str:
    """multi_cluster's LoadBalancer Service of one node."""
    return f"all-{node_name(chain, index)}"


def object_names(chain: str, index: int) -> list[str]:
    """Every object name that node `index` of the chain gets (for validation)."""
    return [
        kms_secret(chain),
        kms_secret(chain, index),
        network_secret(chain, index),
        rpc_service(chain),
        node_name(chain, index),
        monitor_service(chain, index),
        executor_service(chain, index),
        lb_service(chain, index),
    ]


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
