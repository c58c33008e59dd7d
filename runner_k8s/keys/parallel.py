"""Independent work on every core: chunks done in forked worker processes, the results in order.

concurrent.futures and multiprocessing are imported only when a run is large enough to use them: a
small chain never starts a worker, and their imports (logging among them) cost it time for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

PARALLEL_MIN_NODES = 16  # below this, starting worker processes costs more than it saves
CHUNKS_PER_WORKER = 4  # small enough chunks that both cores finish together

Work = TypeVar("Work")
Made = TypeVar("Made")


def worker_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_workers(
    make: Callable[[Sequence[Work]], list[Made]],
    work: Sequence[Work],
    workers: int,
    advance: Callable[[int], None],
) -> list[Made]:
    """make() over `work` cut in chunks, on `workers` processes (forked where the system can), in work order.

    `make` must be picklable (a module-level function or a functools.partial of one); `advance` is told
    how many are done after each chunk.
    """
    import multiprocessing  # noqa: PLC0415 - see the module docstring
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - see the module docstring

    size = max(1, -(-len(work) // (workers * CHUNKS_PER_WORKER)))
    chunks = [work[start : start + size] for start in range(0, len(work), size)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    result: list[Made] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for made in pool.map(make, chunks):
            result.extend(made)
            advance(len(result))
    return result
