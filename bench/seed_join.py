#!/usr/bin/env python3
"""How fast a seeded validator votes, at two heights of one chain (issue 25): not a test, figures to read.

    CITA_CLOUD_BIN=/path/to/bin python3 bench/seed_join.py [--heights 500,2000] [--interval 1]

Needs what the live tests need (root, iproute2, syncthing, the v5.0.0 services built from source): the
chain runs in the live harness (tests/live/). A three-node chain grows to the first height; node 3 joins
by the plan `add_node --seed_from 1` prints, run as printed with the strict stand-ins; the chain grows to
the second height; node 4 joins the same way (seeded from node 1 again). For each join it prints:

- seed: the size of the chain data copied, the copy's time, and how long node 1 was stopped (from
  `kubectl scale --replicas=0` to the end of its `rollout status` after `--replicas=1`);
- first vote: from the new node's pod start (its controller's first log line) to the first block from
  which it commits five blocks in a row within a second of node 0 (it held each entry when the chain
  committed it, so its acknowledgement counted: it votes);
- vote: from the pod start to its raft's commit of the block that was the head when `add_validator`
  returned (raft commits a block on a node once that node holds the log up to it), and from the vote to
  that commit; `add_validator --in_step 15` returns 15 s or more after the first vote;
- re-offered: proposals the new node's controller deleted as too high and took later, which only the
  plan's keep-up loop gives back (syncthing never restores a file its own node deleted).

The issue's goal: at most 60 s from pod start to first vote on a chain of 500 blocks, not growing with
the height. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
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
CHAIN = "bench"
SEEDED = ("raft-data-dir", "data", "blocks", "proposals", "txs", "tx_infos", "storage.db")
COMMIT = re.compile(r"^(\S+) INFO controller::chain - commit_block height (\d+):")
DELETED = re.compile(r"sync proposal invalid ([0-9a-f]{64})")
TAKEN = re.compile(r"add remote proposal ([0-9a-f]{64})")
LEVEL = 1.0  # seconds: a block committed this soon after node 0 committed it was held in time
IN_A_ROW = 5


def heights(controllers: dict[str, Controller]) -> dict[str, int]:
    found = {}
    for name, controller in controllers.items():
        try:
            found[name] = controller.block_number()
        except Exception:
            found[name] = -1
    return found


def stamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text[:26]).replace(tzinfo=datetime.UTC).timestamp()


def commit_time(folder: Path, height: int) -> tuple[float, float]:
    """(the controller's first log line, its first raft commit of `height` or above), as Unix times."""
    lines = (folder / "logs" / "controller-service.log").read_text().splitlines()
    for line in lines:
        found = COMMIT.match(line)
        if found and int(found[2]) >= height:
            return stamp(lines[0].split()[0]), stamp(found[1])
    raise RuntimeError(f"{folder.name} has not committed block {height} through raft")


def commits(folder: Path) -> dict[int, float]:
    """Each height's first commit on the node (through raft or a synced block), as a Unix time."""
    found: dict[int, float] = {}
    for line in (folder / "logs" / "controller-service.log").read_text().splitlines():
        matched = COMMIT.match(line)
        if matched:
            found.setdefault(int(matched[2]), stamp(matched[1]))
    return found


def first_vote(folder: Path, first: Path, started: float) -> int | None:
    """The first height from which the node commits IN_A_ROW blocks within LEVEL s of node 0 (`first`)."""
    mine, theirs = commits(folder), commits(first)

    def level(height: int) -> bool:
        return height in mine and height in theirs and mine[height] - theirs[height] < LEVEL

    heights = sorted(height for height in mine if mine[height] >= started)
    return next((h for h in heights if all(level(k) for k in range(h, h + IN_A_ROW))), None)


def reoffered(folder: Path) -> int:
    """Proposals the controller deleted and took later (only the keep-up loop moves them back)."""
    deleted, back = set(), 0
    for line in (folder / "logs" / "controller-service.log").read_text().splitlines():
        gone, taken = DELETED.search(line), TAKEN.search(line)
        if gone:
            deleted.add(gone[1])
        if taken and taken[1] in deleted:
            back += 1
    return back


def size_of(folder: Path) -> int:
    paths = [path for item in SEEDED for path in [folder / item, *(folder / item).rglob("*")]]
    return sum(path.stat().st_size for path in paths if path.is_file())


def join(chain, plans: PlanServer, env: dict[str, str], new: int) -> str:
    """One seeded join of node `new` from node 1, run as printed; its figures."""
    rpc = {index: f"{chain.cluster.pods[f'{CHAIN}-{index}'].address}:{RPC_PORT}" for index in range(new)}
    others = ",".join(address for index, address in rpc.items() if index != 1)
    argv = ["add_node", "--seed_from", "1", "--rpc", others, "--seed_rpc", rpc[1]]
    added = subprocess.run(
        [sys.executable, str(REPO / "create_k8s_config.py"), *argv],
        cwd=chain.work,
        capture_output=True,
        text=True,
        check=True,
    )
    plan = (chain.work / f"{CHAIN}-plan.sh").read_text()
    at = next(number for number, line in enumerate(plan.splitlines()) if "manage_chain.py add_validator" in line)
    first, calls = plan.splitlines()[: at + 1], len(plans.log)
    height = max(heights(chain.controllers).values())
    subprocess.run(["bash", "-c", "\n".join(first)], cwd=chain.work, env=env, check=True, timeout=1800)
    voted_at, voted = max(heights(chain.controllers).values()), time.time()
    subprocess.run(["bash", f"{CHAIN}-plan.sh"], cwd=chain.work, env=env, check=True, timeout=1800)
    chain.controllers[f"{CHAIN}-{new}"] = Controller(f"{chain.cluster.pods[f'{CHAIN}-{new}'].address}:{RPC_PORT}")
    folder = chain.storage / "cita-cloud" / CHAIN / f"node{new}"
    started, committed = commit_time(folder, voted_at)
    level = first_vote(folder, chain.storage / "cita-cloud" / CHAIN / "node0", started)
    at_level = "never" if level is None else f"block {level}, {commits(folder)[level] - started:.1f} s after pod start"
    log, times = plans.log[calls:], plans.times[calls:]
    copy = next(number for number, call in enumerate(log) if "sh -c" in call and "/.seed" in call)
    down = next(number for number, call in enumerate(log) if f"statefulset/{CHAIN}-1 --replicas=0" in call)
    up = next(number for number, call in enumerate(log) if f"rollout status statefulset/{CHAIN}-1 " in call)
    summary = added.stdout.splitlines()[1] if len(added.stdout.splitlines()) > 1 else ""
    return (
        f"height {height}: {summary}\n"
        f"  seed: {size_of(folder) / 1e6:.1f} MB of chain data in the new folder at the end; the copy took "
        f"{times[copy + 1] - times[copy]:.1f} s; node 1 stopped "
        f"{times[up + 1] - times[down]:.0f} s\n"
        f"  first vote (five blocks in a row within {LEVEL:.0f} s of node 0): {at_level}\n"
        f"  vote: pod start to raft commit of block {voted_at} (the head at the vote) {committed - started:.1f} s; "
        f"vote to that commit {committed - voted:.1f} s\n"
        f"  re-offered: {reoffered(folder)} proposals taken after the node had deleted them"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heights", default="500,2000", help="the two heights to join at (default: 500,2000)")
    parser.add_argument("--interval", type=int, default=1, help="the chain's --block_interval (default: 1)")
    args = parser.parse_args()
    targets = [int(item) for item in args.heights.split(",")]
    bin_dir = Path(os.environ["CITA_CLOUD_BIN"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-seed-"))
    chains = boot_local_chain(tmp, bin_dir, CHAIN, "--peers_count", "3", "--block_interval", str(args.interval))
    chain = next(chains)
    try:
        subprocess.run(
            [sys.executable, str(REPO / "create_pvc.py"), "local_pvc"], cwd=chain.work, capture_output=True, check=True
        )
        plans = PlanServer(chain.cluster, {DATA_DIR: chain.storage})
        with stand_ins(plans, tmp / "cli") as env:
            for new, target in enumerate(targets, start=3):
                began = time.monotonic()
                while min(heights(chain.controllers).values()) < target:
                    time.sleep(2)
                print(f"grew to {target} in {time.monotonic() - began:.0f} s", flush=True)
                print(join(chain, plans, env, new), flush=True)
    finally:
        chains.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
