"""Live (issue 24): a v6.7.4 node joins seeded from a stopped peer's data, by the printed plan.

A four-node overlord chain (four validators: stopping one leaves three, overlord's more than two thirds)
at a one-second interval makes HISTORY blocks (RK8S_LIVE_SEED_HISTORY, 120) while a client sends
ordinary transactions. `add_node --seed_from 1` asks the running chain, then its plan runs as printed
by bash against the strict stand-ins of tests/live/fakecli.py: node 1 stops (its StatefulSet to 0), its
executor and storage data are copied into node 4's folder on the storage, node 1 starts again and
catches up, node 4 starts on the copy, reaches the head and is voted in. Checked: blocks go on while
node 1 is down (three of four vote) and never stops (no gap of more than one timed-out overlord round,
STALL_FACTOR times the pace); the gaps longer than twice the pace are recorded with the block, its
proposer and when it came in the plan (the issue's goal; two runs each had one, see the docs); node 4
holds node 1's chain data and none of its consensus state, is a validator on every node and proposes a
block; every node has the same hash at every height; no panic. The timeline (node 1 stopped, copied,
back; node 4 started, at the head, voting), the copy's size and the gaps are printed (LIVE-V6 lines).
Needs CITA_CLOUD_BIN_V6 and root; run it in a network namespace of its own (the plans port-forward on
fixed loopback ports): `unshare -n bash -c 'ip link set lo up && exec python3 -m pytest -m live ...'`.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_script
from tests.live.fakecli import PlanServer, stand_ins
from tests.live.rpc import Controller
from tests.live.runs_v6 import DATA_DIR, RPC_PORT, V6Chain, boot_v6_local, v6_bin_dir
from tests.test_live_membership import plan_of, run_plan, saved_plan
from tests.test_live_v6 import CORE, assert_same_blocks, heights, panics, record, wait_for_height
from tests.test_live_v6_membership import CHAIN, INTERVAL, PACE_FACTOR, Client, gaps, pace, validators

pytestmark = [pytest.mark.live, pytest.mark.slow]

HISTORY = int(os.environ.get("RK8S_LIVE_SEED_HISTORY", "120"))
STALL_FACTOR = 6.0  # a gap this many times the pace would be more than one timed-out overlord round
SEED, NEW = 1, 4


def height_of(controller: Controller) -> int:
    """The node's height; -1 while it does not answer."""
    try:
        return controller.block_number()
    except Exception:
        return -1


def answers_now(chain: V6Chain, name: str) -> bool:
    """Whether the pod's controller answers, on a new channel (an old one backs off for a while after failures)."""
    controller = Controller(f"{chain.cluster.pods[name].address}:{RPC_PORT}", timeout=2)
    try:
        return height_of(controller) >= 0
    finally:
        controller.close()


def proposer_of(work: Path, proposer: bytes) -> str:
    """Which node proposed a block (overlord's proposer: the first 20 bytes of its BLS key)."""
    for folder in sorted((work / "cita-cloud" / CHAIN).glob("node*")):
        if bytes.fromhex((folder / "validator_address").read_text())[:20] == proposer:
            return folder.name
    return proposer.hex()


def votes(controller: Controller, key: bytes) -> bool:
    """Whether the node reports the key among the validators (False while it does not answer)."""
    try:
        return key in validators(controller)
    except Exception:
        return False


class Watch(threading.Thread):
    """Samples, every 0.2 s, when node 1 stopped, when its copy was marked done, when it answered again, when
    node 4's pod started, when it answered and when it reached the others' height (monotonic and wall times)."""

    def __init__(self, chain: V6Chain, storage: Path) -> None:
        super().__init__(daemon=True)
        self.chain, self.folder = chain, storage / "cita-cloud" / CHAIN / f"node{NEW}"
        self.stop = threading.Event()
        self.at: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.copied_bytes = 0
        self.key = b""  # node 4's BLS key, once add_node has made it
        self.vote_height = 0

    def mark(self, what: str) -> None:
        if what not in self.at:
            self.at[what], self.wall[what] = time.monotonic(), time.time()

    def run(self) -> None:
        cluster = self.chain.cluster
        seed, new = f"{CHAIN}-{SEED}", f"{CHAIN}-{NEW}"
        new_rpc: Controller | None = None
        while not self.stop.wait(0.2):
            if cluster.pod_phase(seed) is None:
                self.mark("seed stopped")
            elif "seed stopped" in self.at and "seed answers" not in self.at and answers_now(self.chain, seed):
                self.mark("seed answers")
            if (self.folder / f".seeded-from-node{SEED}").exists() and "copied" not in self.at:
                self.mark("copied")
                du = subprocess.run(
                    ["du", "-sb", str(self.folder / "chain_data"), str(self.folder / "data")],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                self.copied_bytes = sum(int(line.split()[0]) for line in du.stdout.splitlines())
            if cluster.pod_phase(new) is not None:
                self.mark("new pod")
                if new_rpc is None:
                    new_rpc = Controller(f"{cluster.pods[new].address}:{RPC_PORT}", timeout=2)
                mine = height_of(new_rpc)
                if mine < 0:
                    continue
                self.mark("new answers")
                others = [height for name, height in heights(self.chain).items() if name != new and height >= 0]
                if others and mine >= min(others):
                    self.mark("new at head")
                if "new at head" in self.at and "voted" not in self.at and votes(new_rpc, self.key):
                    self.mark("voted")
                    self.vote_height = mine
        if new_rpc is not None:
            new_rpc.close()


def test_a_v6_node_joins_seeded_from_a_stopped_validator(tmp_path: Path):
    v6_bin_dir("consensus_overlord", *CORE)
    chains = boot_v6_local(tmp_path, CHAIN, 4, "--block_interval", str(INTERVAL))
    chain = next(chains)
    client = Client(chain)
    client.start()
    watch = Watch(chain, tmp_path / "storage")
    try:
        cluster, work, storage = chain.cluster, chain.work, tmp_path / "storage"
        started = time.monotonic()
        wait_for_height(chain, HISTORY, HISTORY * 4)
        zero = chain.controllers[f"{CHAIN}-0"]
        carried = sum(1 for height in range(1, HISTORY + 1) if zero.block_tx_hashes(height))
        record(chain, "history", height=HISTORY, seconds=round(time.monotonic() - started), blocks_with_txs=carried)
        assert carried >= HISTORY * 0.8, carried
        rpc = [f"{cluster.pods[f'{CHAIN}-{index}'].address}:{RPC_PORT}" for index in (0, 2, 3)]
        seed_rpc = f"{cluster.pods[f'{CHAIN}-{SEED}'].address}:{RPC_PORT}"
        argv = ["add_node", "--seed_from", str(SEED), "--rpc", ",".join(rpc), "--seed_rpc", seed_rpc]
        added = run_script("create_k8s_config.py", *argv, cwd=work)
        assert added.returncode == 0, added.stderr
        assert f"The plan: seeded from node{SEED} (3 of 4 validators keep voting)" in added.stdout
        plan = saved_plan(work, CHAIN, plan_of(added.stdout))
        before = max(heights(chain).values())
        chain_pace = pace(zero, before)
        plans = PlanServer(cluster, {DATA_DIR: storage})
        key = bytes.fromhex((work / "cita-cloud" / CHAIN / f"node{NEW}" / "validator_address").read_text())
        watch.key = key
        with stand_ins(plans, tmp_path / "cli") as env:
            watch.start()
            plan_started, plan_wall = time.monotonic(), time.time()
            run_plan(plan, env, work)
            plan_seconds = time.monotonic() - plan_started
        watch.stop.set()
        watch.join(10)
        assert plans.restarted == []  # node 1 was stopped and started by its StatefulSet, no pod made again
        seed = f"{CHAIN}-{SEED}"
        chain.controllers.pop(seed).close()  # its channel may still back off after the failures while it was down
        chain.controllers[seed] = Controller(f"{cluster.pods[seed].address}:{RPC_PORT}")
        after = min(heights(chain).values())
        new = f"{CHAIN}-{NEW}"
        chain.controllers[new] = Controller(f"{cluster.pods[new].address}:{RPC_PORT}")
        assert all(key in validators(controller) for controller in chain.controllers.values())
        folder = storage / "cita-cloud" / CHAIN / f"node{NEW}"
        assert (folder / "chain_data").is_dir() and (folder / "data" / "statedb").is_dir()
        seeded_from = storage / "cita-cloud" / CHAIN / f"node{SEED}"
        assert (folder / "node_address").read_text() != (seeded_from / "node_address").read_text()
        # The timeline, from the plan's start.
        at = {what: round(when - plan_started, 1) for what, when in watch.at.items()}
        for what in ("seed stopped", "copied", "seed answers", "new pod", "new answers", "new at head", "voted"):
            assert what in at, (what, at)
        assert at["seed stopped"] < at["copied"] < at["seed answers"] < at["new pod"] <= at["new at head"], at
        # Blocks while node 1 was down: the chain went on (three of four validators vote).
        down = (watch.wall["seed stopped"] - 1.0, watch.wall["seed answers"] + 2 * chain_pace)
        block_gaps = gaps(zero, before + 1, after)
        stamps = {height: zero.block_timestamp(height) / 1000 for height in block_gaps}
        while_down = {height: gap for height, gap in block_gaps.items() if down[0] <= stamps[height] <= down[1]}
        outside = {height: gap for height, gap in block_gaps.items() if height not in while_down}
        # The block that makes the fifth validator count, and the next: overlord starts the new set's first
        # round (a round that times out when its proposer is not ready yet), plan or no plan; recorded apart.
        vote = watch.vote_height
        at_vote = {height: gap for height, gap in outside.items() if vote - 1 <= height <= vote + 2}
        steady = {height: gap for height, gap in outside.items() if height not in at_vote}
        assert len(while_down) >= 3, (while_down, down)
        longest = max(block_gaps, key=lambda height: block_gaps[height])
        record(
            chain,
            "seeded add_node plan",
            heights=[before, after],
            seconds=round(plan_seconds, 1),
            timeline=at,
            seed_down_seconds=round(watch.at["seed answers"] - watch.at["seed stopped"], 1),
            copied_mb=round(watch.copied_bytes / 1e6, 2),
            pace=round(chain_pace, 3),
            blocks_while_seed_down=len(while_down),
            longest_gap_while_seed_down=max(while_down.values()),
            vote_height=vote,
            longest_gap_at_the_vote=max(at_vote.values(), default=None),
            longest_gap_otherwise=max(steady.values()),
            longest_gap_at=longest,
            longest_gap_seconds_into_plan=round(stamps[longest] - plan_wall, 1),
            longest_gap_proposer=proposer_of(work, zero.block_proposer(longest)),
            gaps_over_twice_the_pace={h: g for h, g in steady.items() if g > PACE_FACTOR * chain_pace},
            transactions_sent=client.sent,
            plan_started_wall=round(plan_wall, 1),
        )
        # The chain never stops. Of three live runs two had one overlord round that timed out (3.0 s at the vote,
        # 5.1 s as node 4 reached the head; docs), so twice the pace is recorded, not asserted.
        assert vote > 0 and max(block_gaps.values()) <= STALL_FACTOR * chain_pace, block_gaps
        # The new validator proposes a block (overlord's proposer: the first 20 bytes of its BLS key).
        voted_at = max(heights(chain).values())
        deadline = time.monotonic() + 120
        proposed = None
        while proposed is None and time.monotonic() < deadline:
            top = min(heights(chain).values())
            proposed = next((h for h in range(voted_at, top + 1) if zero.block_proposer(h) == key[:20]), None)
            time.sleep(1)
        assert proposed is not None, "node 4 proposed no block"
        top = min(heights(chain).values())
        assert_same_blocks(chain, top)
        record(chain, "node 4 votes", first_proposed=proposed, same_hashes_up_to=top)
        assert panics(chain) == []
    finally:
        watch.stop.set()
        client.stop.set()
        client.join(10)
        chains.close()
