#!/usr/bin/env python3
"""How fast a new node joins a running chain: boot a chain, let it make history, add a node, time it.

    CITA_CLOUD_BIN=/path/to/bin python3 bench/join.py [--history 300] [--interval 1]

Needs what the live tests need (root, iproute2, syncthing, the v5.0.0 services built from source): it
runs the chain in the live harness (tests/live/). It prints, from the new node's pod start: when its
controller answers, when it is at the head (the same height and hash as the others: history synced
from the others' blocks/ folders), and, after add_validator, when its consensus has replayed raft's
log (its controller logs a commit at the head's height). Nothing is asserted: the issue's goal (at the
head within 60 s of the pod's start, with 300 blocks of history) is read off the output.
"""

from __future__ import annotations

import argparse
import json
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
from tests.live.runs import RPC_PORT, boot_local_chain  # noqa: E402

DATA_DIR = "/home/docker/cita-cloud-datadir"


def heights(controllers: dict[str, Controller]) -> dict[str, int]:
    found = {}
    for name, controller in controllers.items():
        try:
            found[name] = controller.block_number()
        except Exception:
            found[name] = -1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=300, help="blocks before the node joins (default: 300)")
    parser.add_argument("--interval", type=int, default=1, help="the chain's --block_interval (default: 1)")
    args = parser.parse_args()
    bin_dir = Path(os.environ["CITA_CLOUD_BIN"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-join-"))
    chains = boot_local_chain(tmp, bin_dir, "join", "--peers_count", "3", "--block_interval", str(args.interval))
    chain = next(chains)
    try:
        subprocess.run(
            [sys.executable, str(REPO / "create_pvc.py"), "local_pvc"], cwd=chain.work, capture_output=True, check=True
        )
        while min(heights(chain.controllers).values()) < args.history:
            time.sleep(2)
        added = subprocess.run(
            [sys.executable, str(REPO / "create_k8s_config.py"), "add_node", "--json"],
            cwd=chain.work,
            capture_output=True,
            text=True,
            check=True,
        )
        plan = [step["command"] for step in json.loads(added.stdout)["next"]]
        apply_at = next(number for number, command in enumerate(plan) if command.startswith("kubectl apply"))
        with stand_ins(PlanServer(chain.cluster, {DATA_DIR: chain.storage}), tmp / "cli") as env:
            subprocess.run(["bash", "-e", "-c", "\n".join(plan[:apply_at])], cwd=chain.work, env=env, check=True)
            started = time.monotonic()
            subprocess.run(["bash", "-e", "-c", plan[apply_at]], cwd=chain.work, env=env, check=True)
            new = Controller(f"{chain.cluster.pods['join-3'].address}:{RPC_PORT}")
            answered = head = None
            while head is None:
                now = time.monotonic() - started
                others = heights(chain.controllers)
                mine = heights({"new": new})["new"]
                if mine >= 0 and answered is None:
                    answered = now
                if mine >= min(others.values()) - 1:
                    head = now
                time.sleep(0.5)
            top = max(heights(chain.controllers).values())
            print(
                f"history {top} blocks; the new pod's controller answered after {answered:.1f} s, "
                f"was at the head after {head:.1f} s"
            )
            header = [command for command in plan[:apply_at] if command.startswith(("set -", "trap "))]
            rest = "\n".join(header + plan[apply_at + 1 :])  # the trap ends the plan's port-forwards with it
            voted = time.monotonic()
            subprocess.run(["bash", "-e", "-c", rest], cwd=chain.work, env=env, check=True)
            print(f"add_validator and the raft replay took {time.monotonic() - voted:.1f} s more")
    finally:
        chains.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
