"""The commands a summary prints after a run: complete, and pasteable from where the user stands."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.kube.nodes import INSTANCE_LABEL
from runner_k8s.kube.storage import DEFAULT_DATA_DIR, Storage, load_storage, pvc_file
from runner_k8s.report.reports import Step

SCRIPT_NAMES = ("create_k8s_config.py", "create_pvc.py", "create_account.py", "create_syncthing_config.py")
MINIKUBE = "minikube"
NFS_MOUNT = "/mnt"
# What a chain is made of (README: stop and remove a chain) and the label every object of it carries.
CHAIN_KINDS = "statefulset,service,networkpolicy,secret"


def script_command(name: str) -> str:
    """How to call a sibling script: as this one was called (./x.py, a path, or a bare name on PATH)."""
    called = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if called.name not in SCRIPT_NAMES:
        return f"./{name}"  # run in-process (tests) or with python -m: the repository's scripts
    sibling = called.with_name(name)
    if called.is_absolute():
        return name if shutil.which(name) == str(sibling) else shell_quote(str(sibling))
    text = str(sibling)
    return shell_quote(text if "/" in text else f"./{text}")


def copy_commands(storage: Storage, source: str, destination: str, owner: int | None = None) -> list[str]:
    """Copy a folder into `destination` (relative to the storage root), as the storage is reached.

    With `owner`, the copy is then given to that user and group: the containers that write it run as them.
    """
    root = f"{storage.path.rstrip('/')}/{destination}"
    quoted = shell_quote(source)
    copied = shell_quote(f"{root}/{Path(source).name}")
    if storage.nfs:
        mount = f"sudo mount -t nfs {shell_quote(storage.hosts[0] + ':' + storage.path)} {NFS_MOUNT}"
        target = shell_quote(f"{NFS_MOUNT}/{destination}")
        chown = "" if owner is None else f" && sudo chown -R {owner}:{owner} {target}/{shell_quote(Path(source).name)}"
        return [f"{mount} && sudo mkdir -p {target} && sudo cp -r {quoted} {target}/{chown} && sudo umount {NFS_MOUNT}"]
    if storage.hosts == (MINIKUBE,):
        commands = [
            f"minikube ssh -- mkdir -p {shell_quote(root)}",
            f"scp -i $(minikube ssh-key) -r {quoted} docker@$(minikube ip):{shell_quote(root)}/",
        ]
        if owner is not None:
            commands.append(f"minikube ssh -- sudo chown -R {owner}:{owner} {copied}")
        return commands
    chown = "" if owner is None else " && ssh {host} sudo chown -R " + f"{owner}:{owner} {copied}"
    return [
        f"ssh {host} mkdir -p {shell_quote(root)} && scp -r {quoted} {host}:{shell_quote(root)}/"
        + chown.replace("{host}", host)
        for host in storage.hosts
    ]


def remove_commands(storage: Storage, target: str) -> list[str]:
    """Delete an old copy of a folder (relative to the storage root): containers wrote it as root."""
    path = shell_quote(f"{storage.path.rstrip('/')}/{target}")
    if storage.nfs:
        mount = f"sudo mount -t nfs {shell_quote(storage.hosts[0] + ':' + storage.path)} {NFS_MOUNT}"
        return [f"{mount} && sudo rm -rf {shell_quote(f'{NFS_MOUNT}/{target}')} && sudo umount {NFS_MOUNT}"]
    if storage.hosts == (MINIKUBE,):
        return [f"minikube ssh -- sudo rm -rf {path}"]
    return [f"ssh {host} sudo rm -rf {path}" for host in storage.hosts]


def pvc_steps(claim: str, work_dir: Path, example: str) -> tuple[Storage | None, list[str]]:
    """Make the claim if its file is not in work_dir, then apply it; and what storage it describes."""
    file_name = pvc_file(claim)
    shown = shell_quote(shown_path(work_dir, file_name))
    storage = load_storage(work_dir / file_name)
    if storage is not None:
        return storage, [f"kubectl apply -f {shown}  # if the claim {claim} is not in the cluster yet"]
    where = "" if work_dir == Path(".") else f" --work_dir {shell_quote(str(work_dir))}"
    return None, [f"{script_command('create_pvc.py')} {example} --pvc_name {claim}{where}", f"kubectl apply -f {shown}"]


def delete_chain_command(chain: str, namespace: str | None) -> str:
    """Stop a chain by its label: every object of it, whatever file made it (so also a larger old chain's)."""
    where = f" -n {shell_quote(namespace)}" if namespace else ""
    return f"kubectl delete {CHAIN_KINDS} -l {INSTANCE_LABEL}={chain}{where} --ignore-not-found"


def gone_note(gone: Sequence[str]) -> list[str]:
    """A comment line naming the old objects that the new YAML does not make again."""
    return [f"# gone with the old chain: {', '.join(gone)}"] if gone else []


def local_next_steps(
    chain: str,
    pvc_name: str,
    work_dir: Path,
    *,
    replaced: bool,
    namespace: str | None = None,
    gone: Sequence[str] = (),
    owner: int | None = None,
) -> list[Step]:
    """From generated files to a running local_cluster chain (`owner`: see copy_commands)."""
    storage, steps = pvc_steps(pvc_name, work_dir, "local_pvc")
    if storage is None:
        # What the create_pvc.py step above writes: minikube's default data directory.
        storage = Storage(False, DEFAULT_DATA_DIR, (MINIKUBE,))
        steps[0] += "  # or nfs_pvc --nfs_server HOST --nfs_path PATH for NFS"
    chain_yaml = shell_quote(shown_path(work_dir, names.chain_yaml(chain)))
    before: list[str] = []
    if replaced:
        before = [
            f"{delete_chain_command(chain, namespace)}  # --force replaced the outputs: stop every object of the old "
            "chain",
            *gone_note(gone),
            *(
                f"{command}  # the cluster's copy still holds the old keys"
                for command in remove_commands(storage, names.chain_dir(chain))
            ),
        ]
    copy = copy_commands(storage, shown_path(work_dir, names.chain_dir(chain)), names.ROOT_DIR, owner)
    return [Step(command) for command in [*before, *steps, *copy, f"kubectl apply -f {chain_yaml}"]]


def multi_next_steps(
    chain: str,
    claims: Sequence[str],
    work_dir: Path,
    *,
    replaced: bool,
    namespace: str | None = None,
    owner: int | None = None,
) -> list[Step]:
    """Per node i: the commands to run against cluster i."""
    plans: list[Step] = []
    for index, claim in enumerate(claims):
        storage, steps = pvc_steps(claim, work_dir, "nfs_pvc --nfs_server HOST --nfs_path PATH")
        node_dir = names.node_dir(chain, index)
        node_yaml = shell_quote(shown_path(work_dir, names.node_yaml(chain, index)))
        before: list[str] = []
        if replaced:
            before.append(f"{delete_chain_command(chain, namespace)}  # --force replaced the outputs")
            if storage is not None:
                before += [
                    f"{command}  # the old copy holds the old keys" for command in remove_commands(storage, node_dir)
                ]
        if storage is None:
            steps[0] += "  # or your provider's storage"
            mine = "" if owner is None else f", owned by {owner}:{owner}"
            copy = [f"# copy {shown_path(work_dir, node_dir)} onto that storage as {node_dir}{mine}"]
            if replaced:
                copy.insert(0, f"# first delete the old {node_dir} there: it holds the old keys")
        else:
            copy = copy_commands(storage, shown_path(work_dir, node_dir), names.chain_dir(chain), owner)
        plans += [Step(command, index) for command in [*before, *steps, *copy, f"kubectl apply -f {node_yaml}"]]
    return plans
