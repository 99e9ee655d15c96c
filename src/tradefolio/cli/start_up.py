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
(the allocation model pauses it during every solve for the same reason; both use
`tradefolio.collector.collector_paused`, which imports only the standard library).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from tradefolio.collector import collector_paused


def long_lived_imports(*, freeze: bool = True) -> AbstractContextManager[None]:
    """The collector paused for the block (if it was running) and running again after;
    with `freeze`, every object that exists then frozen, once per process (only when
    nothing is frozen yet: a process that runs commands again and again, a test session
    or a notebook calling `app.main`, does not freeze what each command left behind).
    `tradefolio.collector.collector_paused` is the implementation."""
    return collector_paused(freeze=freeze)


__all__ = ["long_lived_imports"]
