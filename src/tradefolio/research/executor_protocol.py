"""What an executor is: the two protocols every executor (serial, local, Ray) implements.

They live apart from `executors.py` so that `ray_executor.py` can implement them without
importing `executors.py`, which itself picks the Ray executor by name (`make_executor`):
no import cycle between the two.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from tradefolio.research.tasks import MarketData, RunOutcome, RunTask


class ExecutorSession(Protocol):
    """Workers that already hold the market data."""

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        """One outcome per task, in completion order."""
        ...


class Executor(Protocol):
    """Something that can run many tasks against one shared `MarketData`."""

    @property
    def name(self) -> str:
        """`serial`, `local` or `ray`."""
        ...

    @property
    def workers(self) -> int:
        """How many runs can happen at once."""
        ...

    def open(self, data: MarketData) -> AbstractContextManager[ExecutorSession]:
        """Ship `data` to the workers once; the session runs tasks against it."""
        ...


__all__ = ["Executor", "ExecutorSession"]
