"""Live: no container of a node's pod reads another container's secrets (issue 15, part 2).

A node's secrets are the kms password (the kms container's /kms/key_file), the node's kms.db and the
network key (the network container's /network/network-key). From inside the third-party syncthing
container of a running pod the test looks for each of them everywhere it could be: its own mounts,
every file of those names it can find, and every other process's root through /proc/<pid>/root. The
same search from the kms and network containers finds them, so the search is shown to work.

With --need_monitor the pod shares one process namespace (the process exporter needs it): the test
shows exactly what that exposes. The monitor images have no v5.0.0 source to build here, so they run
as programs that only sleep (the exposure comes from the pod's namespace, not from the image).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.runs import PASSWORD, LiveChain, boot_local_chain, wait_until
from tests.test_live import live_bin_dir

pytestmark = [pytest.mark.live, pytest.mark.slow]

SECRET_NAMES = ("key_file", "network-key", "kms.db")
KMS_PORT = 50005
# Run inside a container with its own sh: print `name sha256` of every readable file that could hold a secret.
SEARCH = r"""
names='( -name key_file -o -name network-key -o -name kms.db )'
for path in $(find / \( -path /proc -o -path /sys \) -prune -o $names -print 2>/dev/null) \
            /proc/[0-9]*/root/kms/key_file /proc/[0-9]*/root/network/network-key /proc/[0-9]*/root/data/kms.db \
            /proc/[0-9]*/cwd/kms.db; do
    [ -r "$path" ] && [ -f "$path" ] && echo "$path $(sha256sum < "$path" | cut -d' ' -f1)"
done
exit 0
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def node_secrets(chain: LiveChain, node: int) -> dict[str, str]:
    """sha256 of each secret of node `node`, by what it is, taken from the YAML and the node folder."""
    secrets = {doc["metadata"]["name"]: doc["data"] for doc in chain.documents if doc["kind"] == "Secret"}
    password = base64.b64decode(secrets[f"{chain.chain}-kms-secret"]["key_file"])
    network_key = base64.b64decode(secrets[f"{chain.chain}-{node}-network-secret"]["network-key"])
    kms_db = (chain.storage / "cita-cloud" / chain.chain / f"node{node}" / "kms.db").read_bytes()
    assert password == PASSWORD.encode()
    return {"kms password": sha256(password), "network key": sha256(network_key), "kms.db": sha256(kms_db)}


def found_from(chain: LiveChain, pod: str, container: str) -> dict[str, list[str]]:
    """Secret -> the paths where `container` of `pod` can read it."""
    result = chain.cluster.exec_in(pod, container, ["sh", "-c", SEARCH], timeout=120)
    assert result.returncode == 0, result.stderr
    by_hash: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        path, _, digest = line.rpartition(" ")
        by_hash.setdefault(digest, []).append(path)
    return {what: by_hash.get(digest, []) for what, digest in node_secrets(chain, 0).items()}


def wait_for_kms(chain: LiveChain, pod: str) -> None:
    """Until the kms has read its key file and opened kms.db (it listens once it has)."""
    listening = f"grep -qs ':{KMS_PORT:04X} [0-9A-F]*:0000 0A' /proc/net/tcp /proc/net/tcp6"
    wait_until(
        "the kms to listen",
        lambda: chain.cluster.exec_in(pod, "kms", ["sh", "-c", listening]).returncode == 0,
        120,
        chain.cluster,
    )


@pytest.fixture(scope="module")
def plain_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    """One node, the shipped defaults: no monitor, so no shared process namespace."""
    yield from boot_local_chain(tmp_path_factory.mktemp("secrets"), live_bin_dir(), "secrets", "--peers_count", "1")


def test_the_syncthing_container_reads_no_secret_of_its_node(plain_chain: LiveChain):
    pod = "secrets-0"
    wait_for_kms(plain_chain, pod)
    assert found_from(plain_chain, pod, "syncthing") == {"kms password": [], "network key": [], "kms.db": []}


def test_the_search_finds_each_secret_where_it_is_meant_to_be(plain_chain: LiveChain):
    """The control: the same search, run where each secret belongs, finds it (so an empty result means absent)."""
    pod = "secrets-0"
    wait_for_kms(plain_chain, pod)
    from_kms = found_from(plain_chain, pod, "kms")
    assert "/kms/key_file" in from_kms["kms password"] and "/data/kms.db" in from_kms["kms.db"]
    assert from_kms["network key"] == []
    from_network = found_from(plain_chain, pod, "network")
    assert "/network/network-key" in from_network["network key"] and from_network["kms password"] == []


@pytest.fixture(scope="module")
def monitored_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    """--need_monitor: the pod shares one process namespace; the exporters run as sleeping stand-ins."""
    yield from boot_local_chain(
        tmp_path_factory.mktemp("secrets-monitor"),
        live_bin_dir(),
        "secrets",
        "--peers_count",
        "1",
        "--need_monitor",
        stand_ins=("monitor-process-exporter", "monitor-citacloud-exporter"),
    )


def test_with_need_monitor_every_container_can_read_the_others_secrets(monitored_chain: LiveChain):
    """What the README says --need_monitor costs: through /proc/<pid>/root, any container of the pod (syncthing
    here) reads the kms password, the network key and the kms.db of the node."""
    pod = "secrets-0"
    wait_for_kms(monitored_chain, pod)
    found = found_from(monitored_chain, pod, "syncthing")
    assert any(path.endswith("/root/kms/key_file") for path in found["kms password"]), found
    assert any(path.endswith("/root/network/network-key") for path in found["network key"]), found
    assert any(path.startswith("/proc/") for path in found["kms.db"]), found
    assert all(path.startswith("/proc/") for paths in found.values() for path in paths), found


def test_names_searched_are_the_files_that_hold_the_secrets():
    """The search looks for the names the YAML and contracts.md §2 give these files."""
    yaml_text = (Path(__file__).parent / "golden" / "local-default" / "test-chain.yaml").read_text()
    assert "key_file" in yaml_text and "network-key" in yaml_text
    assert all(name in SEARCH for name in SECRET_NAMES)
