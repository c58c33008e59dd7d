"""manage_chain.py --if_needed (issue 22): a validator change every node already has is a success that sends nothing.

The plans of add_node and remove_node run their vote with it, so that a plan run again after it stopped
past the vote goes on. Anything else (a change not made yet, nodes that disagree) is checked and sent,
or refused, exactly as without the flag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakechain import Tweak, running
from tests.test_manage_chain import PASSWORD, V1, V2, V3, V4, admin_dir, hex0x, new_chain, run, sent

__all__ = ["admin_dir"]  # the fixture, used here by name


def test_adding_a_validator_that_is_one_sends_nothing(admin_dir: Path):
    chain = new_chain()
    with running(chain, [Tweak(), Tweak(), Tweak()]) as nodes:
        argv = ["add_validator", hex0x(V3), "--rpc", ",".join(nodes), "--node_rpc", nodes[2]]
        code, out, _ = run(*argv, "--admin_dir", "nowhere", "--if_needed")
        assert (code, out) == (0, f"nothing to do: {hex0x(V3)} is already a validator on every node (--if_needed)\n")
        assert not sent(chain)  # and no password was asked: the admin folder does not even exist
        code, _, _ = run(*argv, "--admin_dir", str(admin_dir), "--admin_password", PASSWORD)
        assert code == 1 and not sent(chain)  # without the flag: refused, as before


def test_removing_one_that_is_no_validator_sends_nothing(admin_dir: Path):
    chain = new_chain()
    with running(chain, [Tweak(), Tweak(), Tweak()]) as nodes:
        code, out, _ = run("remove_validator", hex0x(V4), "--rpc", ",".join(nodes), "--admin_dir", "x", "--if_needed")
    assert (code, out) == (0, f"nothing to do: {hex0x(V4)} is no validator on every node (--if_needed)\n")
    assert not sent(chain)


@pytest.mark.parametrize("tweaks", [[Tweak(), Tweak(lag=3), Tweak(config={"validators": [V1, V2]})]])
def test_nodes_that_disagree_are_checked_as_without_the_flag(admin_dir: Path, tweaks: list[Tweak]):
    chain = new_chain()
    with running(chain, tweaks) as nodes:
        argv = ["add_validator", hex0x(V3), "--rpc", ",".join(nodes), "--node_rpc", nodes[0]]
        code, _, _ = run(*argv, "--admin_dir", str(admin_dir), "--admin_password", PASSWORD, "--if_needed")
    assert code == 1 and not sent(chain)


def test_the_change_is_made_when_it_is_needed(admin_dir: Path):
    chain = new_chain()
    with running(chain, [Tweak(), Tweak(), Tweak(), Tweak()]) as nodes:
        chain.auto_advance = True
        argv = ["add_validator", hex0x(V4), "--rpc", ",".join(nodes), "--node_rpc", nodes[3]]
        code, out, _ = run(*argv, "--admin_dir", str(admin_dir), "--admin_password", PASSWORD, "--if_needed")
    assert code == 0, out
    assert sent(chain) and chain.validators == [V1, V2, V3, V4]
