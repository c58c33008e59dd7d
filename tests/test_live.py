"""Live tests: the real CITA-Cloud v5.0.0 services boot a chain from our output (tests/live/kubelet.py).

They need the services built from their sources in a folder named by CITA_CLOUD_BIN (files network,
consensus, executor, storage, controller, kms_sm, kms_eth), root (network and mount namespaces),
iproute2, util-linux's unshare and Debian's syncthing. Without CITA_CLOUD_BIN they are skipped.
Run them with `CITA_CLOUD_BIN=/path/to/bin python3 -m pytest -m live`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import coincurve
import grpc
import pytest
import sha3

from tests.independent import check_kms_db
from tests.live.kubelet import Cluster
from tests.live.rpc import Controller, Transaction, raw_transaction
from tests.live.runs import (
    PASSWORD,
    LiveChain,
    boot_local_chain,
    boot_multi_chain,
    closed_service_ports,
    wait_until,
)
from tests.test_crypto_primitives import gmssl_sm2_key, gmssl_sm2_public, gmssl_sm3

pytestmark = [pytest.mark.live, pytest.mark.slow]

BOOT_HEIGHT = 10
EXECUTOR_DELAY = 5.0
PANIC = re.compile(r"panicked")


def live_bin_dir() -> Path:
    """The folder of built services, or skip saying why."""
    folder = os.environ.get("CITA_CLOUD_BIN")
    if not folder:
        pytest.skip("live tests need CITA_CLOUD_BIN: a folder with the v5.0.0 services built from source")
    if os.geteuid() != 0:
        pytest.skip("live tests need root for network and mount namespaces")
    for tool in ("ip", "unshare", "syncthing"):
        if shutil.which(tool) is None:
            pytest.skip(f"live tests need {tool}")
    return Path(folder)


def heights(controllers: dict[str, Controller]) -> dict[str, int]:
    """Each node's latest block number."""
    return {name: controller.block_number() for name, controller in controllers.items()}


def wait_for_height(controllers: dict[str, Controller], height: int, timeout: float, cluster: Cluster) -> None:
    """Wait until every node is at `height` or above; on time-out say each node's height."""
    wait_until(
        f"every node at height >= {height}",
        lambda: min(heights(controllers).values()) >= height,
        timeout,
        cluster,
        state=lambda: safe_heights(controllers),
    )


def assert_same_blocks(controllers: dict[str, Controller], up_to: int) -> None:
    """Every node reports the same 32-byte block hash at every height from 1 to `up_to`."""
    for height in range(1, up_to + 1):
        hashes = {name: controller.block_hash(height) for name, controller in controllers.items()}
        assert len(set(hashes.values())) == 1, f"height {height}: {hashes}"
        assert len(next(iter(hashes.values()))) == 32


def safe_heights(controllers: dict[str, Controller]) -> dict[str, int]:
    """Like heights(), with -1 for a node that does not answer (yet)."""
    found = {}
    for name, controller in controllers.items():
        try:
            found[name] = controller.block_number()
        except grpc.RpcError:
            found[name] = -1
    return found


def service_log_panics(cluster: Cluster, storage: Path) -> list[str]:
    """Lines that report a panic, in container output and in the services' own log files."""
    found = [
        f"{name}: {line}" for name, text in cluster.logs().items() for line in text.splitlines() if PANIC.search(line)
    ]
    for log in storage.rglob("logs/*.log"):
        found += [f"{log}: {line}" for line in log.read_text(errors="replace").splitlines() if PANIC.search(line)]
    return found


@pytest.fixture(scope="module")
def sm_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    """The default local_cluster chain (kms_sm, TLS on), three nodes, running for the whole module."""
    bin_dir = live_bin_dir()
    yield from boot_local_chain(tmp_path_factory.mktemp("live-sm"), bin_dir, "live-sm", "--peers_count", "3")


def test_every_node_reaches_height_10_with_identical_blocks(sm_chain: LiveChain):
    cluster, controllers = sm_chain.cluster, sm_chain.controllers
    wait_for_height(controllers, BOOT_HEIGHT, 300, cluster)
    assert_same_blocks(controllers, min(heights(controllers).values()))


def test_controllers_run_the_generated_system_config(sm_chain: LiveChain):
    node0 = sm_chain.storage / "cita-cloud" / sm_chain.chain / "node0"
    init = tomllib.loads((node0 / "init_sys_config.toml").read_text())
    expected_chain_id = hashlib.sha256(sm_chain.chain.encode()).digest()
    for name, controller in sm_chain.controllers.items():
        config = controller.system_config()
        assert config.chain_id == expected_chain_id, name
        assert "0x" + config.admin.hex() == init["admin"], name
        assert ["0x" + v.hex() for v in config.validators] == init["validators"], name
        assert config.block_interval == 6, name
        assert controller.peer_count() == len(sm_chain.controllers) - 1, name


def test_every_service_port_of_the_yaml_is_listening(sm_chain: LiveChain):
    """Each Service's targetPort answers on the pod it selects: no port in the YAML points nowhere."""
    assert closed_service_ports(sm_chain) == []


def test_every_probe_of_the_yaml_passes_on_the_running_chain(sm_chain: LiveChain):
    """A probe that fails on the real services would have Kubernetes restart a healthy node forever."""
    cluster, controllers = sm_chain.cluster, sm_chain.controllers
    wait_for_height(controllers, 1, 300, cluster)
    assert cluster.failing_probes() == []


def admin_secret(chain: LiveChain) -> tuple[int, bytes]:
    """The super admin's private key and address, read from `<chain>-admin/` with independent tools."""
    admin_dir = chain.work / f"{chain.chain}-admin"
    address = (admin_dir / "node_address").read_text()
    return check_kms_db(admin_dir / "kms.db", PASSWORD, address), bytes.fromhex(address[2:])


def sm_signed(secret: int, tx_bytes: bytes) -> tuple[bytes, bytes]:
    """kms_sm's scheme by gmssl: hash SM3; signature SM2 (Z with the default ID) laid out r ‖ s ‖ pubkey."""
    tx_hash = gmssl_sm3(tx_bytes)
    public = gmssl_sm2_public(secret)
    signer = gmssl_sm2_key(public, private_key=f"{secret:064x}")
    signature = bytes.fromhex(signer.sign_with_sm3(tx_hash))
    assert len(signature) == 64
    return tx_hash, signature + public


def eth_signed(secret: int, tx_bytes: bytes) -> tuple[bytes, bytes]:
    """kms_eth's scheme by safe-pysha3 and coincurve: hash Keccak-256; recoverable secp256k1 r ‖ s ‖ v."""
    tx_hash = sha3.keccak_256(tx_bytes).digest()
    signature = coincurve.PrivateKey(secret.to_bytes(32, "big")).sign_recoverable(tx_hash, hasher=None)
    assert len(signature) == 65
    return tx_hash, signature


def send_admin_transaction(chain: LiveChain, sign: Callable[[int, bytes], tuple[bytes, bytes]]) -> None:
    """Send a store transaction signed with the super admin's key; see it in one block on every node."""
    controllers, cluster = chain.controllers, chain.cluster
    wait_for_height(controllers, 1, 300, cluster)
    secret, sender = admin_secret(chain)
    entry = next(iter(controllers.values()))
    transaction = Transaction(
        to=bytes.fromhex("00" * 19 + "01"),
        nonce=os.urandom(8).hex(),
        quota=3_000_000,
        valid_until_block=entry.block_number() + 50,
        data=b"stored by the runner_k8s live test",
        value=bytes(32),
        chain_id=hashlib.sha256(chain.chain.encode()).digest(),
    )
    tx_hash, signature = sign(secret, transaction.encode())
    accepted = entry.send_raw_transaction(raw_transaction(transaction, tx_hash, signature, sender))
    assert accepted == tx_hash

    def included_everywhere() -> bool:
        for controller in controllers.values():
            height = controller.transaction_block_number(tx_hash)
            if tx_hash not in controller.block_tx_hashes(height):
                return False
        return True

    wait_until(
        "the transaction in a block on every node",
        included_everywhere,
        120,
        cluster,
        state=lambda: safe_heights(controllers),
    )
    heights_seen = {controller.transaction_block_number(tx_hash) for controller in controllers.values()}
    assert len(heights_seen) == 1


def test_a_transaction_signed_by_the_super_admin_lands_on_every_node(sm_chain: LiveChain):
    send_admin_transaction(sm_chain, sm_signed)


def test_a_stopped_node_catches_up_after_restart(sm_chain: LiveChain):
    cluster, controllers = sm_chain.cluster, sm_chain.controllers
    victim = f"{sm_chain.chain}-2"
    others = {name: c for name, c in controllers.items() if name != victim}
    wait_for_height(controllers, 2, 300, cluster)
    cluster.stop_pod(victim)
    stopped_at = min(heights(others).values())
    wait_until(
        "the other two nodes keep producing blocks",
        lambda: min(heights(others).values()) >= stopped_at + 3,
        120,
        cluster,
        state=lambda: safe_heights(controllers),
    )
    cluster.start_pod(victim)
    target = max(heights(others).values())
    wait_until(
        f"{victim} catches up to height {target}",
        lambda: safe_heights({victim: controllers[victim]})[victim] >= target,
        240,
        cluster,
        state=lambda: safe_heights(controllers),
    )


def memory_limits(documents: list[dict[str, Any]]) -> dict[str, int]:
    """`pod/container` → its memory limit in bytes, from the workloads of the YAML."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    limits = {}
    for document in documents:
        if document["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            text = container["resources"]["limits"]["memory"]
            limits[f"{document['metadata']['name']}/{container['name']}"] = int(text[:-2]) * units[text[-2:]]
    return limits


def test_every_container_stayed_within_its_memory_limit(sm_chain: LiveChain):
    """After the chain ran (blocks, a transaction, a restart), no container's peak memory reached its limit."""
    peaks = sm_chain.cluster.peak_memory()
    limits = memory_limits(sm_chain.documents)
    assert set(peaks) == set(limits)
    over = {name: (peak, limits[name]) for name, peak in peaks.items() if peak >= limits[name]}
    print("peak resident memory (MiB):", {name: round(peak / 2**20, 1) for name, peak in sorted(peaks.items())})
    assert over == {}
    assert all(peak > 0 for peak in peaks.values()), peaks


def test_no_service_logged_a_panic(sm_chain: LiveChain):
    assert service_log_panics(sm_chain.cluster, sm_chain.storage) == []
    assert sm_chain.cluster.exited() == []


def wait_for_common_chain(chain: LiveChain, height: int, timeout: float) -> None:
    """Every node at `height` or above, with the same block hash at every height up to it."""
    controllers = chain.controllers
    wait_for_height(controllers, height, timeout, chain.cluster)
    assert_same_blocks(controllers, height)


@pytest.fixture(scope="module")
def multi_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    """multi_cluster with accounts and identities made beforehand by our scripts; one 'cluster' per node."""
    from tests.test_multi_cluster import PASSWORDS

    tmp = tmp_path_factory.mktemp("live-multi")
    yield from boot_multi_chain(tmp, live_bin_dir(), "live-multi", PASSWORDS)


def test_multi_cluster_nodes_reach_each_other_by_the_addresses_in_the_yaml(multi_chain: LiveChain):
    wait_for_common_chain(multi_chain, 5, timeout=300)
    for name, controller in multi_chain.controllers.items():
        assert controller.peer_count() == len(multi_chain.controllers) - 1, name
    assert service_log_panics(multi_chain.cluster, multi_chain.storage) == []


ETH_SERVICE_CONFIG = """
[[services]]
name = "network"
docker_image = "citacloud/network_p2p:v5.0.0"
cmd = "network run -p 50000 -k /network/network-key"
[[services]]
name = "consensus"
docker_image = "citacloud/consensus_raft:v5.0.0"
cmd = "consensus run -p 50001"
[[services]]
name = "executor"
docker_image = "citacloud/executor_evm:v5.0.0"
cmd = "executor run -p 50002"
[[services]]
name = "storage"
docker_image = "citacloud/storage_sqlite:v5.0.0"
cmd = "storage run -p 50003"
[[services]]
name = "controller"
docker_image = "citacloud/controller:v5.0.0"
cmd = "controller run -p 50004"
[[services]]
name = "kms"
docker_image = "citacloud/kms_eth:v5.0.0"
cmd = "kms run -p 50005 -k /kms/key_file"
"""


def test_eth_chain_boots_with_a_late_executor_and_takes_an_eth_signed_transaction(tmp_path: Path):
    """kms_eth with the v5.0.0 executor_evm; node1's executor starts 5 s after its other containers.

    A controller of a new chain executes the genesis block once, without retrying: were it to start
    before its executor, it would record a zero state root, and the nodes would never agree on a
    block. The generated controller command waits for the executor's port, so start order cannot
    matter (the first live run without that wait stalled this very chain).
    """
    bin_dir = live_bin_dir()
    config = tmp_path / "eth-service-config.toml"
    config.write_text(ETH_SERVICE_CONFIG)
    chains = boot_local_chain(
        tmp_path,
        bin_dir,
        "live-eth",
        "--peers_count",
        "2",
        "--service_config",
        str(config),
        delays={"live-eth-1": {"executor": EXECUTOR_DELAY}},
    )
    chain = next(chains)
    try:
        wait_for_common_chain(chain, 5, timeout=300)
        send_admin_transaction(chain, eth_signed)
        assert service_log_panics(chain.cluster, chain.storage) == []
    finally:
        chains.close()
