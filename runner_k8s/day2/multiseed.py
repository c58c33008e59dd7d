"""add_node --seed_from I on a v5.0.0 multi_cluster chain: node I's chain data carried from its cluster's storage.

Each node of a multi_cluster chain keeps its folder on its own cluster's claim, so the copy goes through
this machine: node I stops (its StatefulSet to 0 in its own context), its chain data is packed on its
storage into one tar file and brought here (`<work>/.seed-node<new>.tar`, written under a temporary name
and renamed when complete), node I starts again at once, and the tar is unpacked on the new node's
storage into a staging folder that is moved into place, the marker last (the same items and the same
never-copied identity as on a local chain, day2/seeding.py). The lagging nodes are offered their
proposals again from inside their own pods (day2/keepup.py, `keepup_in_pod`): no storage host sees two
clusters' folders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainload import LoadedChain, NodeState
from runner_k8s.day2.keepup import kept_up_in_pod
from runner_k8s.day2.memberplan import (
    CAUGHT_UP_TIMEOUT,
    FILES_CONTAINER,
    IN_STEP_SECONDS,
    READY_TIMEOUT,
    Reach,
    manage_chain,
    rpc_reach,
)
from runner_k8s.day2.onstorage import chain_root, nfs_mount, on_storage, storage_has
from runner_k8s.day2.planscript import Action, Kubectl, Stage
from runner_k8s.day2.seeding import (
    KEEP_MARGIN,
    SEEDED_DB,
    SEEDED_DIRS,
    STAGING,
    STOPPED_TIMEOUT,
    SeedChoice,
    marker,
    plain_reason,
    seed_storage,
)
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage
from runner_k8s.report.nextsteps import MINIKUBE, NFS_MOUNT

ARG = '"$0"'  # the tar's local path, given to `sh -c` after its script (NFS: the script runs here, as root)


def local_tar(new: int) -> str:
    """The seed's chain data on this machine, between the two clusters (relative to the work dir)."""
    return f".seed-node{new}.tar"


def remote_tar(chain: str, new: int) -> str:
    """The tar's name on a storage host (minikube or ssh), where it is packed or unpacked."""
    return f"/tmp/{chain}-seed-node{new}.tar"


def scp_to(storage: Storage) -> tuple[str, str]:
    """Scp's key option (with a trailing space, or nothing) and the host of a storage reached by minikube or ssh."""
    if storage.hosts == (MINIKUBE,):
        return "-i $(minikube ssh-key) ", "docker@$(minikube ip)"
    return "", storage.hosts[0]


def pack_script(root: str, seed: int, out: str) -> str:
    """Pack node I's chain data (its folders, storage.db and its companions) into `out` (a shell word)."""
    items = " ".join(SEEDED_DIRS)
    return "; ".join(
        [
            "set -e",
            f"cd {shell_quote(root)}/node{seed}",
            f'for item in {items} {SEEDED_DB}; do test -e "$item" || {{ echo "node{seed}/$item is missing: '
            f'node{seed} has not run as a v5.0.0 node" >&2; exit 1; }}; done',
            f"tar -cf {out} {items} $(ls -d {SEEDED_DB} {SEEDED_DB}-* 2>/dev/null)",
            # Its checksum beside it: the unpack checks the copy it got is the whole of it (a tar cut at a block
            # boundary unpacks without an error).
            f"sha256sum < {out} | cut -d ' ' -f 1 > {out}.sha256",
        ]
    )


def unpack_script(root: str, seed: int, new: int, tar: str) -> str:
    """Unpack the tar (a shell word) into the new folder's staging folder, then move it in, the marker last."""
    target = f"node{new}"
    items = " ".join(SEEDED_DIRS)
    return "; ".join(
        [
            "set -e",
            f'test "$(sha256sum < {tar} | cut -d " " -f 1)" = "$(cat {tar}.sha256)" || {{ echo "the copy of '
            f"node{seed}'s chain data is damaged (its checksum differs): run the plan again\" >&2; exit 1; }}",
            f"cd {shell_quote(root)}",
            f"rm -rf {target}/{STAGING}",
            f"mkdir {target}/{STAGING}",
            f"tar -C {target}/{STAGING} -xpf {tar}",
            f'for item in {items}; do rm -rf {target}/"$item"; done',
            f"rm -f {target}/{SEEDED_DB} {target}/{SEEDED_DB}-*",
            f"mv {target}/{STAGING}/* {target}/",
            f"rmdir {target}/{STAGING}",
            f"touch {target}/{marker(seed)}",
        ]
    )


def fetch_command(storage: Storage, chain: str, seed: int, new: int) -> tuple[str, ...]:
    """Node I's chain data from its storage into the local tar (complete, or not there at all).

    Several commands, so that the step's guard skips them as a whole (`guard || { a && b; }`: without the
    braces, `guard || a && b` runs b once the guard holds).
    """
    root, here = chain_root(storage, names.chain_dir(chain)), local_tar(new)
    part = f"{here}.part"
    if storage.nfs:
        mount = nfs_mount(storage)
        script = shell_quote(pack_script(root, seed, ARG))
        pack = f'sudo sh -c {script} "$PWD/{part}"'
        return (mount, pack, f"sudo umount {NFS_MOUNT}", f"mv {part}.sha256 {here}.sha256", f"mv {part} {here}")
    remote = remote_tar(chain, new)
    packed = on_storage(storage, pack_script(root, seed, remote))
    key, host = scp_to(storage)
    down = f"scp {key}{host}:{remote} {part}"
    checksum = f"scp {key}{host}:{remote}.sha256 {here}.sha256"
    cleaned = on_storage(storage, f"rm -f {remote} {remote}.sha256")
    return (packed, down, checksum, cleaned, f"mv {part} {here}")


def push_command(storage: Storage, chain: str, seed: int, new: int) -> tuple[str, ...]:
    """The local tar onto the new node's storage, unpacked into its folder (staged, the marker last)."""
    root, here = chain_root(storage, names.chain_dir(chain)), local_tar(new)
    if storage.nfs:
        mount = nfs_mount(storage)
        script = shell_quote(unpack_script(root, seed, new, ARG))
        unpack = f'sudo sh -c {script} "$PWD/{here}"'
        return (mount, unpack, f"sudo umount {NFS_MOUNT}")
    remote = remote_tar(chain, new)
    key, host = scp_to(storage)
    up, checksum = f"scp {key}{here} {host}:{remote}", f"scp {key}{here}.sha256 {host}:{remote}.sha256"
    unpacked = on_storage(storage, unpack_script(root, seed, new, remote) + f"; rm -f {remote} {remote}.sha256")
    return (up, checksum, unpacked)


def in_step(chain: LoadedChain, rpcs: Sequence[str], note: str) -> Action:
    """Every old node answers, agrees, is not behind and keeps up block by block (through its LoadBalancer)."""
    return Action(
        (
            f"{manage_chain()} status --rpc {','.join(rpcs)} --chain_name {chain.chain} --wait_synced --interval 1 "
            f"--in_step {IN_STEP_SECONDS} --timeout {CAUGHT_UP_TIMEOUT}",
        ),
        note=note,
    )


def pod_keeper(chain: LoadedChain, kubectl: Kubectl, index: int) -> Callable[[str], str]:
    """A wait run beside the keep-up loop inside node `index`'s pod (its controller container)."""
    pod = names.pod_name(chain.chain, index)
    return lambda command: kept_up_in_pod(kubectl, pod, FILES_CONTAINER, CAUGHT_UP_TIMEOUT + KEEP_MARGIN, command)


def multi_seed_stage(
    chain: LoadedChain, seed: NodeState, new: NodeState, seed_storage: Storage, new_storage: Storage, reach: Reach
) -> Stage:
    """Stop node I in its cluster, bring its chain data here, start it again, put the data on the new storage."""
    kubectl, new_kubectl = reach.kubectl[seed.index], reach.kubectl[new.index]
    _, rpcs = rpc_reach(chain, chain.nodes, reach)
    new_root = chain_root(new_storage, names.chain_dir(chain.chain))
    done = storage_has(new_storage, f"{new_root}/node{new.index}/{marker(seed.index)}")
    seeded = f"{new_kubectl.exists('statefulset', names.node_name(chain.chain, new.index))} || {done}"
    seed_sts = f"statefulset/{names.node_name(chain.chain, seed.index)}"
    seed_pod = names.pod_name(chain.chain, seed.index)
    replicas = kubectl("get", seed_sts, "-o", "jsonpath='{.spec.replicas}'")
    stopped = f'test "$({replicas})" = 0'
    fetched = f"test -e {local_tar(new.index)}"
    wait_back = in_step(chain, rpcs, "")
    where = seed.index
    actions = (
        Action(
            wait_back.commands,
            f"{seeded} || {fetched} || {stopped}",
            note=f"every node answers, none is behind, each keeps up: node{seed.index} is at the head, the others vote",
        ),
        Action(
            (kubectl("scale", seed_sts, "--replicas=0"),),
            f"{seeded} || {fetched}",
            where,
            note=f"node{seed.index} stops, all at once",
        ),
        Action(
            (kubectl("wait", "--for=delete", f"pod/{seed_pod}", f"--timeout={STOPPED_TIMEOUT}"),),
            f"{seeded} || {fetched}",
            where,
            note="its pod is gone: every container stopped, every file closed",
        ),
        Action(
            fetch_command(seed_storage, chain.chain, seed.index, new.index),
            f"{seeded} || {fetched}",
            note=f"node{seed.index}'s chain data packed on its storage and brought here, never its identity",
        ),
        Action((kubectl("scale", seed_sts, "--replicas=1"),), cluster=where, note=f"node{seed.index} starts again"),
        Action(
            (kubectl("rollout", "status", seed_sts, f"--timeout={READY_TIMEOUT}"),),
            cluster=where,
            note="its pod runs and is ready",
        ),
        Action(
            (pod_keeper(chain, kubectl, seed.index)(wait_back.commands[0]),),
            note=f"node{seed.index} has caught up and keeps up block by block (offered its proposals again meanwhile)",
        ),
        Action(
            push_command(new_storage, chain.chain, seed.index, new.index),
            seeded,
            note=f"the chain data into node{new.index}'s folder on its claim's storage, the marker last",
        ),
        Action((f"rm -f {local_tar(new.index)} {local_tar(new.index)}.sha256",), note="not needed now"),
    )
    return Stage(
        f"seed node{new.index} from node{seed.index}: stop it, bring its chain data here, start it again, put the "
        f"data on node{new.index}'s storage (skipped once node{new.index}'s folder is seeded)",
        actions,
    )


def multi_seeded_plan(
    chain: LoadedChain, choice: SeedChoice | None, new: NodeState, work_dir: Path, reach: Reach
) -> tuple[Stage | None, str, Callable[[str], str] | None]:
    """The seed stage of a multi_cluster chain (None: a plain sync), why, and the new node's in-pod keep-up."""
    if choice is None:
        return None, plain_reason(new.index), None
    seed_at, new_at = seed_storage(choice.seed.pvc_name, work_dir), seed_storage(new.pvc_name, work_dir)
    stage = multi_seed_stage(chain, choice.seed, new, seed_at, new_at, reach)
    return stage, choice.reason, pod_keeper(chain, reach.kubectl[new.index], new.index)
