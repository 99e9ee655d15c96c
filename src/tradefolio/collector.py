"""Python's cyclic garbage collector paused for a block: the one implementation.

Two places pause the collector while they allocate many container objects that live at
least as long as the block, over which its passes would find nothing to collect: the
CLI's imports (`cli/start_up.py`, which also freezes what exists after them) and every
allocation model's solve (`portfolio/model.py`: rows, their lists, the search's nodes;
182 passes over six 500-name rebalances, 0.085 s of their 2.9 s of CPU, timed by
`gc.callbacks`, for a few hundred cyclic objects in all, freed by the first pass after
the block). Reference counting frees everything else as usual; no result depends on the
collector.

Only the standard library is imported here: the CLI uses this before it imports
anything heavy (its `--help` stays cheap), the model below numpy.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """The collector paused for the block (if it was running) and running again after,
    also when the block raises; left as it was when it was paused already.

    With `freeze`, every object that exists at the end of the block is frozen
    (`gc.freeze`: moved to the permanent generation, which no later pass traverses),
    once per process: only when nothing is frozen yet, so a process that runs commands
    again and again does not freeze what each one left behind."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze and gc.get_freeze_count() == 0:
            gc.freeze()
        gc.enable()


__all__ = ["collector_paused"]
