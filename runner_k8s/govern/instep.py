"""Whether every node keeps up with the chain block by block, from the heights of successive looks (issue 25).

A v5.0.0 node whose controller is behind takes blocks only from the files syncthing copies into its
`blocks/` folder, on a 12-second cycle (controller a5691cd src/controller.rs:254-273). Meanwhile it
refuses every new proposal file as too high (src/chain.rs:268-271) and deletes it (src/controller.rs:
246-248); the leader writes a proposal once and keeps proposing the same block, so a voter that
deleted it cannot accept that block even once it has caught up. Such a node is at the head right
after its cycle and falls behind until the next one; a node in step is never below the head of the
look before. Looks over a window longer than the cycle, in which the chain makes blocks, tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

IN_STEP_BLOCKS = 2  # blocks the chain must make within the window (a stopped chain proves nothing)


@dataclass
class InStep:
    """Feed it every look's heights; it says what is still awaited (nothing once the nodes are proven in step).

    Proven: over consecutive looks spanning `seconds`, in which the head rose by `blocks`, no node was
    ever below the highest height of the look before. A node below it, or one that did not answer,
    starts the window again.
    """

    seconds: float
    blocks: int = IN_STEP_BLOCKS
    _since: float | None = None  # when the current window began
    _first_head: int = 0  # the head at its first look
    _last_head: int | None = None  # the head at the look before
    _restarted_by: str = ""  # why the window last began again

    def look(self, now: float, heights: Mapping[str, int], answered: bool = True) -> list[str]:
        """The look at `now` (monotonic seconds); `answered` False when a node gave no height."""
        if not answered or not heights:
            self._since, self._last_head = None, None
            self._restarted_by = "not every node answered"
            return [self._restarted_by]
        head = max(heights.values())
        before = self._last_head
        self._last_head = head
        below = {address: height for address, height in heights.items() if before is not None and height < before}
        if below or self._since is None:
            self._since, self._first_head = now, head
        if below:
            lagging = [
                f"{address} at height {height}, below {before} (the head a look earlier): not in step yet"
                for address, height in below.items()
            ]
            self._restarted_by = lagging[0]
            return lagging
        spent, made = now - self._since, head - self._first_head
        if spent >= self.seconds and made >= self.blocks:
            return []
        since = f" (counted again since: {self._restarted_by})" if self._restarted_by else ""
        return [f"every node in step for {spent:.0f} of {self.seconds:g} s, {made} of {self.blocks} blocks made{since}"]
