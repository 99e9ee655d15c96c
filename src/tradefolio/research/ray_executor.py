"""The Ray executor (extra `distributed`): a sweep across every core of a Ray cluster.

`open(data)` connects to a cluster (`address`, e.g. `ray://head:10001` or `auto`) or starts
a local Ray (`ray.init(num_cpus=max_workers)`), `ray.put`s the market data into the object
store *once*, and starts one actor per CPU (`max_workers`, default every CPU of the
cluster). Each actor receives the object reference in its constructor, so Ray hands it the
prices once (zero-copy from the node's shared object store for the numpy blocks); a task
then carries only its parameters. Tasks go to an actor `batch_size` at a time (one remote
call per batch: fewer round trips for short runs on a far cluster, coarser progress), and
two calls are kept in flight per actor so a worker never waits for the driver between runs.
Results are the same bits as the local executors' (`tasks.evaluate` on the same frames) and
are sorted by run number by the caller.

On a cluster the workers import `tradefolio` like the driver: install it on every node (or
ship it with a Ray `runtime_env`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tradefolio.errors import InvalidParameter, TradefolioError
from tradefolio.extras import import_extra
from tradefolio.research.executor_protocol import ExecutorSession
from tradefolio.research.tasks import MarketData, RunOutcome, RunTask, evaluate

#: Tasks queued per actor: one running, one waiting, so no actor idles on a round trip.
IN_FLIGHT_PER_WORKER = 2


def import_ray() -> Any:
    """The `ray` module, or `MissingExtra` naming the install that provides it."""
    return import_extra("ray", "distributed", "--executor ray")


class SweepWorker:
    """A Ray actor body: holds the market data, evaluates tasks against it."""

    def __init__(self, data: MarketData) -> None:
        self._data = data

    def run(self, tasks: list[RunTask]) -> list[RunOutcome]:
        """`tasks.evaluate` of each task on this worker's copy of the data."""
        return [evaluate(self._data, task) for task in tasks]


class _RaySession:
    def __init__(self, ray: Any, actors: list[Any], batch_size: int) -> None:
        self._ray = ray
        self._actors = actors
        self._batch_size = batch_size

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        ray = self._ray
        size = self._batch_size
        queue = [list(tasks[i : i + size]) for i in range(0, len(tasks), size)][::-1]
        in_flight: dict[Any, Any] = {}

        def submit(actor: Any) -> None:
            if queue:
                in_flight[actor.run.remote(queue.pop())] = actor

        for actor in self._actors:
            for _ in range(IN_FLIGHT_PER_WORKER):
                submit(actor)
        try:
            while in_flight:
                done, _ = ray.wait(list(in_flight), num_returns=1)
                reference = done[0]
                actor = in_flight.pop(reference)
                try:
                    outcomes: list[RunOutcome] = ray.get(reference)
                except ray.exceptions.RayError as exc:
                    message = " ".join(str(exc).split())[:300]
                    raise TradefolioError(
                        f"a Ray worker failed ({message}); finished runs are kept: run the same "
                        "command again to resume"
                    ) from None
                submit(actor)
                yield from outcomes
        finally:
            for reference in in_flight:
                ray.cancel(reference)


@dataclass(frozen=True, slots=True)
class RayExecutor:
    """Runs on Ray: a local `ray.init()` or the cluster at `address`."""

    max_workers: int | None = None
    address: str | None = None
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.max_workers is not None and self.max_workers < 1:
            raise InvalidParameter(f"--workers must be >= 1, got {self.max_workers}")
        if self.batch_size < 1:
            raise InvalidParameter(f"--batch must be >= 1, got {self.batch_size}")

    @property
    def name(self) -> str:
        """`ray`."""
        return "ray"

    @property
    def workers(self) -> int:
        """`max_workers`; without it this machine's CPUs (the cluster's once connected)."""
        return self.max_workers or os.cpu_count() or 1

    @contextmanager
    def open(self, data: MarketData) -> Iterator[ExecutorSession]:
        """Connect or start Ray, put `data` once, start the actors; tear down on exit."""
        ray = import_ray()
        started_here = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is not None:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.max_workers, **options)
            started_here = True
        actors: list[Any] = []
        try:
            count = self.max_workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
            reference = ray.put(data)
            worker_class = ray.remote(num_cpus=1)(SweepWorker)
            actors = [worker_class.remote(reference) for _ in range(count)]
            yield _RaySession(ray, actors, self.batch_size)
        finally:
            for actor in actors:
                ray.kill(actor)
            if started_here:
                ray.shutdown()


__all__ = ["IN_FLIGHT_PER_WORKER", "RayExecutor", "SweepWorker", "import_ray"]
