"""Issue 25: whether every node keeps up with the chain block by block (runner_k8s/govern/instep.py).

The looks below are what live run D showed (/tmp/live25-runD, docs "Seeded join"): the seed node,
restarted, reached the head only at its controller's 12-second block-file cycles (heights 523, 527,
531, 534 at 06:42:02, :14, :26, :38) while the others made a block every 2 s.
"""

from __future__ import annotations

import pytest

from runner_k8s.govern.instep import InStep


def looks(steps: InStep, rows: list[tuple[float, dict[str, int]]]) -> list[list[str]]:
    return [steps.look(now, heights) for now, heights in rows]


def steady(start: int, until: float, every: float = 1.0, pace: float = 2.0) -> list[tuple[float, dict[str, int]]]:
    """Three nodes in step: a block every `pace` seconds, looked at every `every` seconds."""
    rows, now = [], 0.0
    while now <= until:
        head = start + int(now // pace)
        rows.append((now, {"a": head, "b": head, "c": head}))
        now += every
    return rows


@pytest.mark.parametrize(("until", "done"), [(14.0, False), (15.0, True)])
def test_nodes_in_step_are_proven_once_the_window_is_long_enough(until: float, done: bool):
    said = looks(InStep(15), steady(100, until))
    assert (said[-1] == []) == done, said[-1]
    assert all(said[:-1]), "proven before the window was long enough"


@pytest.mark.parametrize(("pace", "done"), [(8.0, False), (7.5, True)])
def test_the_chain_must_make_two_blocks_within_the_window(pace: float, done: bool):
    # 15 s of looks: at a block every 7.5 s the head rises by 2 (100 -> 102), at 8 s only by 1.
    said = looks(InStep(15), steady(100, 15.0, pace=pace))
    assert (said[-1] == []) == done, said[-1]
    if not done:
        assert said[-1] == ["every node in step for 15 of 15 s, 1 of 2 blocks made"]


def test_a_stopped_chain_proves_nothing():
    said = looks(InStep(15), [(float(now), {"a": 7, "b": 7}) for now in range(60)])
    assert said[-1] == ["every node in step for 59 of 15 s, 0 of 2 blocks made"]


def test_a_node_that_takes_blocks_only_every_12_seconds_is_never_in_step():
    rows = []
    for now in range(0, 60):
        head = 500 + now // 2
        synced = 500 + (now // 12) * 6  # at the head right after each 12-s cycle, behind until the next
        rows.append((float(now), {"a": head, "b": head, "seed": synced}))
    said = looks(InStep(15), rows)
    assert all(said), "a node that lags between cycles was taken as in step"
    assert "seed at height 500, below 501 (the head a look earlier): not in step yet" in said[3]


@pytest.mark.parametrize(("height", "done"), [(130, True), (129, False)])
def test_a_node_at_the_head_of_the_look_before_is_in_step_and_one_below_is_not(height: int, done: bool):
    rows = steady(100, 60.0, every=1.0, pace=1.0)  # head 100 + t
    steps = InStep(15)
    looks(steps, rows[:31])  # head 130 at t = 30
    said = steps.look(31.0, {"a": 131, "b": 131, "c": height})
    assert (said == [] or said[0].startswith("every node in step")) == done, said
    if not done:
        assert said == ["c at height 129, below 130 (the head a look earlier): not in step yet"]


def test_a_node_behind_or_silent_starts_the_window_again():
    steps = InStep(15)
    looks(steps, steady(100, 14.0))  # in step for 14 s
    assert steps.look(15.0, {"a": 107, "b": 107}, answered=False) == ["not every node answered"]
    # the window starts again at the next look: 15 s more are needed
    said = looks(steps, [(16.0 + now, heights) for now, heights in steady(108, 14.0)])
    assert said[-1] == [
        "every node in step for 14 of 15 s, 7 of 2 blocks made (counted again since: not every node answered)"
    ]
    assert steps.look(31.0, {"a": 115, "b": 115, "c": 115}) == []
