#!/usr/bin/env python3
"""How fast a new node joins a running v6.7.4 chain: boot it, make history, add a node by its plan, time it.

    CITA_CLOUD_BIN_V6=/path/to/bin python3 bench/join_v6.py [--history 300] [--interval 1] [--seed_from 1]

Needs what the v6 live tests need (root, iproute2, the v6.7.4 services built from source) and a network
namespace of its own (the plan port-forwards on fixed loopback ports):
`unshare -n bash -c 'ip link set lo up && exec python3 bench/join_v6.py'`. A three-node overlord chain
makes `--history` blocks while a client sends ordinary transactions; then add_node's plan runs as
printed, its `kubectl apply` timed as the new pod's start. Printed, from that start: when the new
node's controller answers, when it is at the head (its height reaches the others'), when the plan's
vote is applied, and when the new node first proposes a block (overlord's proposer is the first 20
bytes of its BLS key: the first block it led, its first vote that shows on the chain). Also the sync
rate (blocks a second) while it caught up. Nothing is asserted: the issue's goal (the first vote within
60 s of the pod's start at 300 blocks) is read off the output.

With `--seed_from I` the chain has four nodes (four validators: stopping one leaves three, overlord's
quorum) and the node joins by `add_node --seed_from I`: the whole plan is timed from its first step,
with when node I stopped, when its copy was done (and its size), when node I answered again, and the
same figures for the new node, from the plan's start and from its pod's start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live.fakecli import PlanServer, stand_ins  # noqa: E402
from tests.live.rpc import Controller  # noqa: E402
from tests.live.runs_v6 import DATA_DIR, RPC_PORT, V6Chain, boot_v6_local  # noqa: E402
from tests.test_live_v6 import heights  # noqa: E402
from tests.test_live_v6_membership import CHAIN, Client  # noqa: E402


def validators_of(controller: Controller) -> list[bytes]:
    """The validators a node reports; none while it does not answer."""
    try:
        return list(controller.system_config().validators)
    except Exception:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=300, help="blocks before the node joins (default: 300)")
    parser.add_argument("--interval", type=int, default=1, help="the chain's --block_interval (default: 1)")
    parser.add_argument("--seed_from", type=int, default=None, help="join by add_node --seed_from I (four nodes)")
    args = parser.parse_args()
    if not os.environ.get("CITA_CLOUD_BIN_V6"):
        parser.error("CITA_CLOUD_BIN_V6 must name the folder of the v6.7.4 services built from source")
    if args.seed_from is not None and args.seed_from not in range(4):
        parser.error("--seed_from takes the index of one of the four nodes: 0 to 3")
    tmp = Path(tempfile.mkdtemp(prefix="bench-join-v6-"))
    nodes = 3 if args.seed_from is None else 4
    chains = boot_v6_local(tmp, CHAIN, nodes, "--block_interval", str(args.interval))
    chain = next(chains)
    client = Client(chain)
    client.start()
    try:
        while min(heights(chain).values()) < args.history:
            time.sleep(2)
        if args.seed_from is not None:
            seeded(chain, tmp, args.seed_from, client)
            return 0
        added = subprocess.run(
            [sys.executable, str(REPO / "create_k8s_config.py"), "add_node"],
            cwd=chain.work,
            capture_output=True,
            text=True,
            check=True,
        )
        plan = (chain.work / f"{CHAIN}-plan.sh").read_text().splitlines()
        apply_at = next(number for number, line in enumerate(plan) if line.startswith("kubectl apply"))
        key = bytes.fromhex((chain.work / "cita-cloud" / CHAIN / "node3" / "validator_address").read_text())
        with stand_ins(PlanServer(chain.cluster, {DATA_DIR: tmp / "storage"}), tmp / "cli") as env:
            subprocess.run(["bash", "-c", "\n".join(plan[:apply_at])], cwd=chain.work, env=env, check=True)
            header = [line for line in plan[:apply_at] if line.startswith(("set -", "trap ", "cd "))]
            top_at_start = max(heights(chain).values())
            started = time.monotonic()
            rest = subprocess.Popen(  # the apply and everything after it: waits, vote, waits
                ["bash", "-c", "\n".join([*header, *plan[apply_at:]])],
                cwd=chain.work,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            new: Controller | None = None
            answered = head = voted_in = proposed = None
            head_height = voted_height = answered_height = 0
            while proposed is None and time.monotonic() - started < 900:
                now = time.monotonic() - started
                if new is None and f"{CHAIN}-3" in chain.cluster.pods:
                    new = Controller(f"{chain.cluster.pods[f'{CHAIN}-3'].address}:{RPC_PORT}", timeout=2)
                mine = -1
                if new is not None:
                    try:
                        mine = new.block_number()
                    except Exception:
                        mine = -1
                if mine >= 0 and answered is None:
                    answered, answered_height = now, mine
                others = [height for height in heights(chain).values() if height >= 0]
                if head is None and mine >= 0 and others and mine >= min(others) - 1:
                    head, head_height = now, mine
                if head is not None and voted_in is None and new is not None and key in validators_of(new):
                    voted_in, voted_height = now, mine
                if voted_in is not None and mine > voted_height:
                    for height in range(voted_height, mine + 1):
                        if chain.controllers[f"{CHAIN}-0"].block_proposer(height) == key[:20]:
                            proposed = now
                            break
                time.sleep(0.5)
            rest.wait(900)
            rate = (
                f"about {(head_height - answered_height) / (head - answered):.0f} blocks/s once it answered"
                if head and answered and head > answered
                else "it had synced before its RPC answered"
            )
            print(
                f"history {top_at_start} blocks, {client.sent} transactions sent; from the new pod's start: "
                f"controller answered {answered:.1f} s, at the head {head:.1f} s ({rate}), validator "
                f"{voted_in:.1f} s, first block it proposed {proposed:.1f} s; plan exit "
                f"{rest.returncode}"
                if None not in (answered, head, voted_in, proposed)
                else f"incomplete: answered {answered}, head {head}, validator {voted_in}, proposed {proposed}"
            )
            print(added.stdout.splitlines()[0])
    finally:
        client.stop.set()
        chains.close()
    return 0


def seeded(chain: V6Chain, tmp: Path, seed: int, client: Client) -> None:
    """add_node --seed_from SEED on the four-node chain, its whole plan timed from its first step."""
    cluster, new_name = chain.cluster, f"{CHAIN}-4"
    rpc = ",".join(f"{cluster.pods[f'{CHAIN}-{index}'].address}:{RPC_PORT}" for index in range(4) if index != seed)
    seed_rpc = f"{cluster.pods[f'{CHAIN}-{seed}'].address}:{RPC_PORT}"
    argv = ["add_node", "--seed_from", str(seed), "--rpc", rpc, "--seed_rpc", seed_rpc]
    added = subprocess.run(
        [sys.executable, str(REPO / "create_k8s_config.py"), *argv],
        cwd=chain.work,
        capture_output=True,
        text=True,
        check=False,
    )
    if added.returncode != 0:
        raise SystemExit(added.stderr)
    plan = (chain.work / f"{CHAIN}-plan.sh").read_text()
    key = bytes.fromhex((chain.work / "cita-cloud" / CHAIN / "node4" / "validator_address").read_text())
    folder = tmp / "storage" / "cita-cloud" / CHAIN / "node4"
    at: dict[str, float] = {}
    size = 0
    with stand_ins(PlanServer(cluster, {DATA_DIR: tmp / "storage"}), tmp / "cli") as env:
        top_at_start = max(heights(chain).values())
        started = time.monotonic()
        rest = subprocess.Popen(["bash", "-c", plan], cwd=chain.work, env=env, stdout=subprocess.DEVNULL)
        new: Controller | None = None
        voted_height = 0
        while "proposed" not in at and time.monotonic() - started < 900:
            now = round(time.monotonic() - started, 1)
            if cluster.pod_phase(f"{CHAIN}-{seed}") is None:
                at.setdefault("seed stopped", now)
            elif "seed stopped" in at and "seed answers" not in at and answers(cluster.pods[f"{CHAIN}-{seed}"].address):
                at["seed answers"] = now
            if "copied" not in at and (folder / f".seeded-from-node{seed}").exists():
                at["copied"] = now
                du = subprocess.run(
                    ["du", "-sb", str(folder / "chain_data"), str(folder / "data")],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                size = sum(int(line.split()[0]) for line in du.stdout.splitlines())
            if cluster.pod_phase(new_name) is not None:
                at.setdefault("pod start", now)
                new = new or Controller(f"{cluster.pods[new_name].address}:{RPC_PORT}", timeout=2)
            mine = height(new) if new is not None else -1
            if new is not None and mine >= 0:
                at.setdefault("answered", now)
                others = [value for value in heights(chain).values() if value >= 0]
                if "head" not in at and others and mine >= min(others) - 1:
                    at["head"] = now
                if "head" in at and "validator" not in at and key in validators_of(new):
                    at["validator"], voted_height = now, mine
                if "validator" in at and mine > voted_height:
                    for number in range(voted_height, mine + 1):
                        if chain.controllers[f"{CHAIN}-0"].block_proposer(number) == key[:20]:
                            at["proposed"] = now
                            break
            time.sleep(0.3)
        rest.wait(900)
    pod = at.get("pod start", 0.0)
    from_pod = {
        what: round(when - pod, 1) for what, when in at.items() if what in ("answered", "head", "validator", "proposed")
    }
    print(
        f"history {top_at_start} blocks, {client.sent} transactions sent; seeded from node{seed} "
        f"({size / 1e6:.1f} MB copied); from the plan's start (s): {at}; from the new pod's start (s): {from_pod}; "
        f"node{seed} down {at.get('seed answers', 0) - at.get('seed stopped', 0):.1f} s; plan exit {rest.returncode}"
    )


def answers(address: str) -> bool:
    """Whether a controller answers, on a new channel (an old one backs off for a while after failures)."""
    controller = Controller(f"{address}:{RPC_PORT}", timeout=2)
    try:
        return height(controller) >= 0
    finally:
        controller.close()


def height(controller: Controller) -> int:
    """The node's height; -1 while it does not answer."""
    try:
        return controller.block_number()
    except Exception:
        return -1


if __name__ == "__main__":
    raise SystemExit(main())
