"""Executors: where a sweep's runs happen, behind one small interface.

`executor.open(data)` ships the price data to the workers *once* and yields a session;
`session.run(tasks)` yields one `RunOutcome` per task in completion order (callers sort by
`task.index`, so every executor gives the same table in the same order). Every executor
calls the same `tasks.evaluate`, on `MarketData` of the same memory layout, so results are
identical bit for bit wherever they run.

- `SerialExecutor`: in this process (the baseline; `--workers 1`).
- `LocalExecutor`: a `concurrent.futures.ProcessPoolExecutor` over this machine's cores.
  The prices go into one `multiprocessing.shared_memory` block; each worker maps it once
  in its initializer and wraps it in frames without copying. A task carries only its
  parameters (a few hundred bytes), never the prices.
- `RayExecutor` (`research.ray_executor`, extra `distributed`): one Ray actor per CPU
  holding a reference to the prices `ray.put` once into the object store.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
import pandas as pd

from tradefolio.errors import InvalidParameter, TradefolioError
from tradefolio.research.executor_protocol import Executor, ExecutorSession
from tradefolio.research.tasks import MarketData, RunOutcome, RunTask, evaluate

EXECUTORS = ("local", "ray")
#: Where runs happen unless told otherwise (`--executor`).
DEFAULT_EXECUTOR = "local"


class _InProcessSession:
    def __init__(self, data: MarketData) -> None:
        self._data = data

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        for task in tasks:
            yield evaluate(self._data, task)


@dataclass(frozen=True, slots=True)
class SerialExecutor:
    """Every run in this process, one after another."""

    @property
    def name(self) -> str:
        """`serial`."""
        return "serial"

    @property
    def workers(self) -> int:
        """One."""
        return 1

    @contextmanager
    def open(self, data: MarketData) -> Iterator[ExecutorSession]:
        """A session over `data` as it is (nothing to ship)."""
        yield _InProcessSession(data)


@dataclass(frozen=True, slots=True)
class SharedArraysHandle:
    """What a worker needs to map the shared prices: block name, layout, dates, symbols."""

    block: str
    layout: dict[str, tuple[int, tuple[int, ...]]]
    index: pd.DatetimeIndex
    columns: tuple[str, ...]


def share_market_data(data: MarketData) -> tuple[SharedMemory, SharedArraysHandle]:
    """Copy the price arrays into one new shared-memory block (the caller unlinks it)."""
    arrays = data.arrays
    size = sum(a.nbytes for a in arrays.values())
    block = SharedMemory(create=True, size=max(size, 1))
    layout: dict[str, tuple[int, tuple[int, ...]]] = {}
    offset = 0
    for role, values in arrays.items():
        target: np.ndarray[Any, np.dtype[np.float64]] = np.ndarray(
            values.shape, dtype=np.float64, buffer=block.buf, offset=offset
        )
        target[...] = values
        layout[role] = (offset, values.shape)
        offset += values.nbytes
    handle = SharedArraysHandle(
        block=block.name,
        layout=layout,
        index=pd.DatetimeIndex(data.closes.index),
        columns=tuple(str(c) for c in data.closes.columns),
    )
    return block, handle


def attach_market_data(handle: SharedArraysHandle) -> tuple[SharedMemory, MarketData]:
    """Map a shared block read-only and wrap it in canonical frames (no copy)."""
    block = SharedMemory(name=handle.block)
    views: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for role, (offset, shape) in handle.layout.items():
        view: np.ndarray[Any, np.dtype[np.float64]] = np.ndarray(
            shape, dtype=np.float64, buffer=block.buf, offset=offset
        )
        view.flags.writeable = False
        views[role] = view
    data = MarketData.from_arrays(
        handle.index,
        handle.columns,
        views["closes"],
        views.get("opens"),
        views.get("benchmark"),
        views.get("highs"),
        views.get("lows"),
    )
    return block, data


#: Per-process state of a pool worker: the mapped block (kept open) and its market data.
#: A `ProcessPoolExecutor` initializer can only hand state to later tasks through the
#: worker's module globals; nothing in the parent process ever touches this.
_WORKER_STATE: dict[str, Any] = {}


def _init_worker(handle: SharedArraysHandle) -> None:
    # Ctrl-C goes to the whole process group: the parent decides, workers keep quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    block, data = attach_market_data(handle)
    _WORKER_STATE["block"] = block
    _WORKER_STATE["data"] = data


def _evaluate_in_worker(task: RunTask) -> RunOutcome:
    return evaluate(_WORKER_STATE["data"], task)


class _PoolSession:
    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        futures: list[Future[RunOutcome]] = [
            self._pool.submit(_evaluate_in_worker, task) for task in tasks
        ]
        try:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    raise TradefolioError(
                        "a sweep worker process died (out of memory or killed?); finished runs "
                        "are kept: run the same command again to resume"
                    ) from None
                yield outcome
        finally:
            for future in futures:
                future.cancel()


def default_start_method() -> str:
    """`fork` where it is safe and cheap (Linux), else `spawn`."""
    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods and os.uname().sysname == "Linux" else "spawn"


@dataclass(frozen=True, slots=True)
class LocalExecutor:
    """A process pool over this machine's cores, prices in shared memory."""

    max_workers: int | None = None
    start_method: str | None = None

    def __post_init__(self) -> None:
        if self.max_workers is not None and self.max_workers < 1:
            raise InvalidParameter(f"--workers must be >= 1, got {self.max_workers}")

    @property
    def name(self) -> str:
        """`local`."""
        return "local"

    @property
    def workers(self) -> int:
        """`max_workers`, or the number of CPUs."""
        return self.max_workers or os.cpu_count() or 1

    @contextmanager
    def open(self, data: MarketData) -> Iterator[ExecutorSession]:
        """Share `data`, start the pool, and clean both up on the way out."""
        block, handle = share_market_data(data)
        try:
            context = multiprocessing.get_context(self.start_method or default_start_method())
            pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(handle,),
            )
            try:
                yield _PoolSession(pool)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            block.close()
            block.unlink()


def make_executor(
    name: str, workers: int | None = None, address: str | None = None, batch_size: int = 1
) -> Executor:
    """The executor `--executor NAME` names (`ray` imports Ray lazily)."""
    if name == "local":
        if address is not None:
            raise InvalidParameter("--address is for --executor ray")
        if batch_size != 1:
            raise InvalidParameter("--batch is for --executor ray")
        if workers == 1:
            return SerialExecutor()
        return LocalExecutor(max_workers=workers)
    if name == "ray":
        from tradefolio.research.ray_executor import RayExecutor

        return RayExecutor(max_workers=workers, address=address, batch_size=batch_size)
    raise InvalidParameter(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")


__all__ = [
    "DEFAULT_EXECUTOR",
    "EXECUTORS",
    "Executor",
    "ExecutorSession",
    "LocalExecutor",
    "SerialExecutor",
    "SharedArraysHandle",
    "attach_market_data",
    "default_start_method",
    "make_executor",
    "share_market_data",
]
