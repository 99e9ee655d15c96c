"""The CLI's imports, made without Python's cyclic garbage collector looking on.

Importing a command's modules (pandas, pydantic's models, typer, ...) allocates some
100,000 container objects that live as long as the process, and the collector, which
counts allocations, runs its passes over them again and again with nothing to find: in
`tradefolio backtest --portfolio` on the sample, ~220 passes during the imports and one
full pass after the run that traversed them all again, ~0.2 s of the run (timed by
`gc.callbacks`). `long_lived_imports` pauses the collector while modules are imported
and then freezes what exists (`gc.freeze`: moved to the permanent generation, which no
later pass traverses); the collector runs as before afterwards, over the objects the
command itself makes. `app.main` pauses it while it imports typer's side (`root.py`),
`root.load_commands` while it imports the command's module, and freezes then.

Reference counting frees everything else as usual; no result depends on the collector
(the allocation model pauses it during every solve for the same reason:
`portfolio.model.collector_paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_imports(*, freeze: bool = True) -> Iterator[None]:
    """The collector paused for the block (if it was running) and running again after;
    with `freeze`, every object that exists then frozen, once per process (only when
    nothing is frozen yet: a process that runs commands again and again, a test session
    or a notebook calling `app.main`, does not freeze what each command left behind)."""
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


__all__ = ["long_lived_imports"]
