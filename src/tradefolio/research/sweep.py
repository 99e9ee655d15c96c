"""Running a sweep: tasks from a `SweepSpec`, outcomes from an executor, rows into the store.

`run_sweep` expands the spec into `RunTask`s (run `i` = the spec's i-th point on top of its
`base`), skips the ones the results folder already holds, runs the rest on the executor,
persists outcomes as they arrive, and returns the table in run order. The table does not
depend on the executor, the number of workers or how often the sweep was interrupted.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pandas as pd
from pydantic import ValidationError

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.user_strategy import (
    declared_parameters,
    is_user_spec,
    load_strategy_class,
    source_digest,
    typed_value,
)
from tradefolio.errors import InvalidParameter, TradefolioError
from tradefolio.research.executors import Executor, ExecutorSession
from tradefolio.research.results import ResultsStore, build_table, outcome_row
from tradefolio.research.space import (
    MAX_GRID_RUNS,
    ParamValue,
    SweepSpec,
    is_strategy_param,
    run_id,
)
from tradefolio.research.tasks import MarketData, RunOutcome, RunTask, Window

#: Persist finished runs at least this often (runs, seconds) while a sweep is going.
FLUSH_RUNS = 64
FLUSH_SECONDS = 2.0


class SweepProgress(Protocol):
    """Told how much work there is, then about each run as it finishes."""

    def start(self, total: int, already_done: int) -> None:
        """`total` runs in all, of which `already_done` were found in the results folder."""
        ...

    def advance(self, outcome: RunOutcome) -> None:
        """One more run finished (in completion order)."""
        ...


class _Silent:
    def start(self, total: int, already_done: int) -> None:
        return None

    def advance(self, outcome: RunOutcome) -> None:
        return None


def full_fields(fields: Mapping[str, ParamValue]) -> dict[str, Any]:
    """Every field of the config `fields` make (defaults filled in), or `fields` if invalid."""
    try:
        return BacktestConfig.create(**fields).model_dump()
    except InvalidParameter:
        return dict(fields)


def _describe(point: Mapping[str, ParamValue]) -> str:
    return " ".join(f"{name}={value}" for name, value in point.items()) or "the base"


def check_runnable(
    spec: SweepSpec,
    sessions: int,
    source: str,
    *,
    command: str = "sweep",
    longer: str = "a longer price file",
) -> None:
    """Refuse, before anything runs, a sweep none of whose runs is valid on `sessions` of
    `source` (a bad value, a fast window not shorter than the slow one, a window longer
    than the data), and a value listed on an axis (`--grid max_turnover=-1,0.2`) with
    which no run is valid: `InvalidParameter` naming the first such run, its values, the
    problem and the fix. A run is checked as a single backtest checks its options, without
    running it.

    A sweep where only some runs are invalid, each of its listed values valid with some
    other, runs the rest (a triangular grid is normal); those rows say `failed` with the
    reason. Values drawn from a range (`low..high`), and any value of a random draw
    (`--random`), are not refused one by one.

    A grid is not checked point by point (a config per point: ~15 s at 1M points), with
    the same answers: each value is checked once on its own (`_RunChecker.refused_alone`:
    a field no other value can mend fails every run that holds it), and each listed value
    needs one valid run that holds it, looked for in the runs already found valid with
    that value put in, then one other axis moved, and only then among all the runs with
    it (`_Grid.valid_run_with`)."""
    checker = _RunChecker(spec, sessions, source, longer)
    if spec.samples is not None:
        # a random draw pairs each listed value with a few others only: a value every
        # sampled run of which fails may be valid with one not drawn (those rows say why)
        points = spec.points()
        if not any(checker.problem(point) is None for point in points):
            checker.refuse_all(points[0], len(points), command)
        return
    values = [axis.grid_values() for axis in spec.axes]
    count = math.prod(len(v) for v in values)
    if count > MAX_GRID_RUNS:
        spec.points()  # refuses the grid with its own message
    if count == 0:
        raise InvalidParameter("nothing to sweep: the grid has no points")
    names = [axis.name for axis in spec.axes]
    grid = _Grid(names, values, checker)
    if grid.valid_run() is None:
        checker.refuse_all(grid.point((0,) * len(names)), count, command)
        return
    refused = []
    for position, axis in enumerate(spec.axes):
        if axis.is_range:
            continue
        for index in range(len(values[position])):
            if grid.valid_run_with(position, index) is None:
                refused.append((grid.first_index(position, index), position, index))
    if refused:
        run, position, index = min(refused)
        point = grid.point(tuple(index if p == position else 0 for p in range(len(names))))
        problem = checker.problem(point)
        name, value = names[position], values[position][index]
        raise InvalidParameter(
            f"--grid {name}={value}: every run of the {command} with it would fail; run "
            f"{run} ({_describe(point)}): {problem}; fix {value} or drop it from the grid"
        )


class _RunChecker:
    """Why a run of `spec` would fail (`problem`), and whether a value fails whatever the
    other fields (`refused_alone`)."""

    def __init__(self, spec: SweepSpec, sessions: int, source: str, longer: str) -> None:
        self.base = spec.base
        self.sessions, self.source, self.longer = sessions, source, longer

    def problem(self, point: Mapping[str, ParamValue]) -> str | None:
        """Why the run of `point` (on top of the base) would fail, or None if it is valid."""
        try:
            config = BacktestConfig.create(**{**self.base, **point})
            config.check_sessions(self.sessions, self.source, self.longer)
        except InvalidParameter as exc:
            return str(exc)
        return None

    @staticmethod
    def refused_alone(name: str, value: ParamValue) -> bool:
        """Whether `name=value` breaks its field's own check (a bad number, an unknown
        choice): such a field is reported by every config that holds it, whatever the
        other fields, so every run with it fails. A strategy's `param.NAME` is checked by
        its class, with the strategy: never refused alone."""
        if is_strategy_param(name):
            return False
        try:
            BacktestConfig.model_validate({name: value})
        except ValidationError as exc:
            return any(tuple(error["loc"][:1]) == (name,) for error in exc.errors())
        except TradefolioError:  # a check across fields (a strategy class): not alone
            return False
        return False

    def refuse_all(self, first: Mapping[str, ParamValue], count: int, command: str) -> None:
        """Raise: none of the `count` runs is valid; `first` is run 0."""
        every = "the only run" if count == 1 else f"all {count:,d} runs"
        raise InvalidParameter(
            f"{every} of the {command} would fail; run 0 ({_describe(first)}): "
            f"{self.problem(first)}"
        )


class _Grid:
    """The runs of a grid by the indexes of their values on each axis (the last axis
    varying fastest, as `SweepSpec.points`), searched for valid runs without building a
    config per run: values refused alone are never tried, each run is built once, and the
    valid runs found are the first places to look."""

    def __init__(
        self,
        names: Sequence[str],
        values: Sequence[Sequence[ParamValue]],
        checker: _RunChecker,
    ) -> None:
        self.names, self.values, self.checker = names, values, checker
        self.usable = [
            [k for k, value in enumerate(axis) if not checker.refused_alone(name, value)]
            for name, axis in zip(names, values, strict=True)
        ]
        self.base_refused = any(
            checker.refused_alone(name, value) for name, value in checker.base.items()
        )
        self.valid: list[tuple[int, ...]] = []
        self._checked: dict[tuple[int, ...], bool] = {}

    def point(self, run: tuple[int, ...]) -> dict[str, ParamValue]:
        """The swept values of `run`."""
        return {n: v[k] for n, v, k in zip(self.names, self.values, run, strict=True)}

    def first_index(self, position: int, index: int) -> int:
        """The run order of the first run with value `index` on axis `position`."""
        return index * math.prod(len(v) for v in self.values[position + 1 :])

    def _is_valid(self, run: tuple[int, ...]) -> bool:
        if run not in self._checked:
            valid = self.checker.problem(self.point(run)) is None
            self._checked[run] = valid
            if valid:
                self.valid.append(run)
        return self._checked[run]

    def _first_valid(self, runs: Iterator[tuple[int, ...]]) -> tuple[int, ...] | None:
        return next((run for run in runs if self._is_valid(run)), None)

    def valid_run(self) -> tuple[int, ...] | None:
        """The first valid run in run order, or None if no run is valid."""
        if self.base_refused:
            return None
        return self._first_valid(itertools.product(*self.usable))

    def valid_run_with(self, position: int, index: int) -> tuple[int, ...] | None:
        """A valid run with value `index` on axis `position`, or None if none is: a valid
        run found before with that value put in, then that with one other axis moved,
        then every run with it."""
        if self.base_refused or index not in self.usable[position]:
            return None

        def put(run: tuple[int, ...], at: int, value: int) -> tuple[int, ...]:
            return (*run[:at], value, *run[at + 1 :])

        found = [put(run, position, index) for run in self.valid]
        nearby = (
            put(run, other, k)
            for run in found[:1]
            for other in range(len(self.names))
            if other != position
            for k in self.usable[other]
        )
        every = itertools.product(
            *([index] if axis == position else usable for axis, usable in enumerate(self.usable))
        )
        return self._first_valid(itertools.chain(found, nearby, every))


def typed_strategy_params(spec: SweepSpec) -> SweepSpec:
    """`spec` with the values of every `param.NAME` (fixed or swept) typed as the user's
    strategy class declares NAME (the first class of the sweep that does), each checked:
    `--grid param.hold=5,x` is refused naming `x` as not an int, `5.5,10` naming 5.5
    (10 stays the int 10). Range axes are typed run by run, as every run's `--param`s are."""
    classes = []
    for strategy in (spec.base.get("strategy"), *_swept(spec, "strategy")):
        if isinstance(strategy, str) and is_user_spec(strategy):
            classes.append((strategy, load_strategy_class(strategy)))
    if not classes:
        return spec

    def typed(name: str, value: ParamValue, flag: str) -> ParamValue:
        parameter = name.removeprefix("param.")
        for strategy, cls in classes:
            if parameter in declared_parameters(cls, strategy):
                return typed_value(cls, strategy, parameter, value, flag)  # type: ignore[return-value]
        strategy, cls = classes[0]
        return typed_value(cls, strategy, parameter, value, flag)  # type: ignore[return-value]

    base = {
        name: typed(name, value, f"--set {name}") if is_strategy_param(name) else value
        for name, value in spec.base.items()
    }
    axes = tuple(
        replace(
            axis,
            values=tuple(
                dict.fromkeys(typed(axis.name, v, f"--grid {axis.name}") for v in axis.values)
            ),
        )
        if is_strategy_param(axis.name) and not axis.is_range
        else axis
        for axis in spec.axes
    )
    return replace(spec, base=base, axes=axes)


def _swept(spec: SweepSpec, name: str) -> tuple[ParamValue, ...]:
    for axis in spec.axes:
        if axis.name == name and not axis.is_range:
            return axis.values
    return ()


def make_tasks(
    spec: SweepSpec,
    *,
    points: Sequence[Mapping[str, ParamValue]] | None = None,
    window: Window | None = None,
    first_index: int = 0,
    keep_equity: bool = False,
) -> list[RunTask]:
    """One task per point of the spec (or the given `points`), indexed from `first_index`.

    A run's id hashes its full configuration and, for a class of the user's
    (`strategy=file.py:Class`), the content of the strategy's source file: an edited
    strategy is a different run, never one reused from the results folder."""
    tasks = []
    digests: dict[str, str | None] = {}
    for offset, point in enumerate(spec.points() if points is None else points):
        fields = {**spec.base, **point}
        keyed = full_fields(fields)
        strategy = keyed.get("strategy")
        if isinstance(strategy, str) and is_user_spec(strategy):
            if strategy not in digests:
                digests[strategy] = _source_digest(strategy)
            keyed["strategy_source"] = digests[strategy]
        tasks.append(
            RunTask(
                index=first_index + offset,
                run_id=run_id(keyed, window),
                fields=fields,
                params=dict(point),
                window=window,
                keep_equity=keep_equity,
            )
        )
    return tasks


def _source_digest(strategy: str) -> str | None:
    """The hash of a user strategy's source file (None when it cannot be read: such a run
    fails with the loader's own message)."""
    try:
        return source_digest(strategy)
    except InvalidParameter:
        return None


def execute(
    session: ExecutorSession,
    tasks: Sequence[RunTask],
    *,
    store: ResultsStore | None = None,
    progress: SweepProgress | None = None,
) -> list[RunOutcome]:
    """Run `tasks` on a session, persisting outcomes as they come; outcomes in task order."""
    outcomes: list[RunOutcome] = []
    buffer: list[RunOutcome] = []
    last_flush = time.monotonic()
    stream: Iterator[RunOutcome] = session.run(tasks)
    try:
        for outcome in stream:
            outcomes.append(outcome)
            buffer.append(outcome)
            if store is not None and (
                len(buffer) >= FLUSH_RUNS or time.monotonic() - last_flush >= FLUSH_SECONDS
            ):
                store.append(buffer)
                buffer, last_flush = [], time.monotonic()
            if progress is not None:
                progress.advance(outcome)
    finally:
        if store is not None:
            store.append(buffer)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return sorted(outcomes, key=lambda o: o.index)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The table of a finished sweep and how it came about."""

    table: pd.DataFrame
    parameters: tuple[str, ...]
    executed: int
    reused: int
    seconds: float
    executor: str
    workers: int

    @property
    def failed(self) -> int:
        """Runs whose row says `failed`."""
        return int((self.table["status"] == "failed").sum())


def data_manifest(data: MarketData) -> dict[str, Any]:
    """What a results folder records about the prices it was computed on."""
    index = data.closes.index
    return {
        "data": data.fingerprint(),
        "symbols": int(data.closes.shape[1]),
        "sessions": int(data.closes.shape[0]),
        "first": str(index[0].date()) if len(index) else None,
        "last": str(index[-1].date()) if len(index) else None,
    }


def run_sweep(
    spec: SweepSpec,
    data: MarketData,
    executor: Executor,
    *,
    store: ResultsStore | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Run every point of `spec` on `data` (see the module docstring)."""
    started = time.perf_counter()
    tasks = make_tasks(spec)
    progress = progress or _Silent()
    rows: dict[str, dict[str, Any]] = {}
    if store is not None:
        manifest = {"kind": "sweep", **data_manifest(data), "spec": spec.describe()}
        store.prepare(manifest, fresh=fresh)
        rows = store.finished(retry_failed=retry_failed)
    pending = [t for t in tasks if t.run_id not in rows]
    reused = len(tasks) - len(pending)
    progress.start(len(tasks), reused)
    if pending:
        with executor.open(data) as session:
            for outcome in execute(session, pending, store=store, progress=progress):
                rows[outcome.run_id] = outcome_row(outcome)
    table = build_table(tasks, rows, spec.parameter_names)
    if store is not None:
        store.finalize(table)
    return SweepResult(
        table=table,
        parameters=spec.parameter_names,
        executed=len(pending),
        reused=reused,
        seconds=time.perf_counter() - started,
        executor=executor.name,
        workers=executor.workers,
    )


__all__ = [
    "SweepProgress",
    "SweepResult",
    "check_runnable",
    "data_manifest",
    "execute",
    "full_fields",
    "make_tasks",
    "run_sweep",
    "typed_strategy_params",
]
