"""Keep-up: offer a lagging v5.0.0 node the proposals it deleted, so it votes at its next block-file cycle.

Why (controller a5691cd, docs/adding-and-removing-nodes.md, "Seeded join"): a node that has just started
takes blocks only on its 12-s block-file cycle (`controller.rs:254-273`); a proposal file arriving while
its height is more than 2 below is "too high" and deleted (`chain.rs:268-271`, `controller.rs:246-248`);
every node deletes a proposal once its height is committed (`chain.rs:195-200`, `712-717`), and nothing writes it
again. Its raft takes an append only when the controller holds every proposal in it
(consensus_raft `peer.rs:390-440`), so after each cycle the node lacks the proposals of the last blocks,
and it stays a cycle behind - for minutes when the chain's pace divides 12 s (bench/seed_join.py).

The keep-up loop runs on the storage host while the plan waits for the node to keep up: it keeps a copy
of every proposal an in-step node (the source) holds, for 20 s, and every 2 s moves back into the lagging
node's `proposals/` each kept one the node no longer has (a rename: the controller's watch takes only
`IN_MOVED_TO`, `sync.rs:179`). The files are the ones syncthing delivered, byte for byte; a proposal
below the node's height is refused as "too low" and deleted again. After its next cycle the node holds
the blocks up to the head and the proposals above them, and raft's next append passes. The loop ends when
the plan touches its stop file, or after its time limit. On a multi_cluster chain no storage host sees two
nodes' folders: the loop runs inside the lagging node's own pod (`kept_up_in_pod`), fed by its own
`proposals/`, looked at every 0.1 s (a file stays there only until the controller's next 1-s tick).
"""

from __future__ import annotations

from runner_k8s.day2.onstorage import on_storage
from runner_k8s.day2.planscript import Kubectl
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage

KEEP = ".keepup"  # in the lagging node's folder, outside every syncthing folder
STEP = "0.5"  # seconds between two looks at the source's proposals
OFFER_EVERY = 4  # steps: the kept proposals are moved back every 2 s
KEPT_STEPS = 40  # steps: a proposal is kept 20 s (more than one 12-s cycle)
# Inside the lagging node's own pod (multi_cluster: no storage host sees another node's folder) the source is the
# node's own proposals/, where each file stays only until the controller's next 1-s tick: looked at every 0.1 s.
POD_STEP = "0.1"
POD_OFFER_EVERY = 20
POD_KEPT_STEPS = 200


def _loop(cd: str, src: str, dst: str, keep: str, limit: int, step: str, offer: int, kept: int, settle: bool) -> str:
    """The loop's script: keep each new file of `src`/proposals, move back into `dst`/proposals what it lacks."""
    settled = ' && [ ! "$f" -nt "$k/tick" ]' if settle else ""
    return "; ".join(
        [
            "set -e",
            f"cd {shell_quote(cd)}",
            f"k={keep}",
            'rm -rf "$k"',  # a loop left by an earlier run of the plan: its kept proposals are old, its stop file too
            'mkdir -p "$k/seen"',
            ': > "$k/tick"',
            f"end=$(( $(date +%s) + {limit} ))",
            "i=0",
            'while [ ! -e "$k/stop" ] && [ "$(date +%s)" -lt "$end" ]; do i=$((i + 1))',
            # Keep each proposal of the source once it has stopped changing (the leader writes its own in place).
            f'for f in {src}/proposals/*; do n=${{f##*/}}; if [ -f "$f" ] && [ ! -e "$k/seen/$n" ]{settled} && '
            'cp -p "$f" "$k/.part" 2>/dev/null; then mv "$k/.part" "$k/$i.$n"; : > "$k/seen/$n"; fi; done',
            f'if [ $((i % {offer})) -eq 0 ]; then for f in "$k"/*.*; do [ -f "$f" ] || continue; b=${{f##*/}}; '
            f'if [ "${{b%%.*}}" -lt $((i - {kept})) ]; then rm -f "$f"; continue; fi; n=${{b#*.}}; '
            f'if [ ! -e {dst}/proposals/"$n" ]; then cp -p "$f" "$k/.part" && mv "$k/.part" {dst}/proposals/"$n"; fi; '
            "done; fi",
            ': > "$k/tick"',
            f"sleep {step}",
            "done",
            'rm -rf "$k"',
        ]
    )


def keepup_script(root: str, source: int, target: int, limit: int) -> str:
    """The loop, for `sh` as root on the storage host (paths under the chain's folder `root`)."""
    keep = f"node{target}/{KEEP}"
    return _loop(root, f"node{source}", f"node{target}", keep, limit, STEP, OFFER_EVERY, KEPT_STEPS, True)


def pod_script(folder: str, limit: int) -> str:
    """The loop inside the lagging node's pod: its own proposals kept as they arrive, and moved back."""
    return _loop(folder, ".", ".", KEEP, limit, POD_STEP, POD_OFFER_EVERY, POD_KEPT_STEPS, False)


def stop_script(root: str, target: int | None) -> str:
    """Touch the loop's stop file, when the loop runs (its folder is there); target None: `root` is the node's."""
    keep = f"{root}/{KEEP}" if target is None else f"{root}/node{target}/{KEEP}"
    return f"if [ -d {shell_quote(keep)} ]; then touch {shell_quote(keep + '/stop')}; fi"


def kept_up(storage: Storage, root: str, source: int, target: int, limit: int, command: str) -> str:
    """`command` with the keep-up loop beside it: a subshell that stops the loop and waits for it when it ends.

    On NFS the loop holds the export mounted on this machine (at /mnt), so the stop is a local touch.
    """
    start = on_storage(storage, keepup_script(root, source, target, limit))
    if storage.nfs:
        stop = f"sudo sh -c {shell_quote(stop_script(root, target))}"
    else:
        stop = on_storage(storage, stop_script(root, target))
    trap = f'{stop} || true; if [ -n "${{keep:-}}" ]; then wait "$keep" || true; fi'
    return f"( trap {shell_quote(trap)} EXIT; {{ {start} >/dev/null & keep=$!; }}; {command} )"


def kept_up_in_pod(kubectl: Kubectl, pod: str, container: str, limit: int, command: str) -> str:
    """`command` with the keep-up loop running inside the pod (through kubectl exec), stopped when it ends."""
    run = kubectl("exec", pod, "-c", container, "--", "sh", "-c")
    # The containers' working directory is the node's folder (the harness runs an exec there as well): relative paths.
    start = f"{run} {shell_quote(pod_script('.', limit))}"
    stop = f"{run} {shell_quote(stop_script('.', None))}"
    trap = f'{stop} || true; if [ -n "${{keep:-}}" ]; then wait "$keep" || true; fi'
    return f"( trap {shell_quote(trap)} EXIT; {{ {start} >/dev/null & keep=$!; }}; {command} )"
