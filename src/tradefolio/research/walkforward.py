"""Walk-forward validation: choose on the past, trade the future, stitch what it earned.

Folds over the sessions `0 .. S-1`, with `train` and `test` lengths in sessions:

- fold k tests on rows `[train + k·test, min(train + (k+1)·test, S))` (the last test window
  may be shorter; one of fewer than 2 sessions is dropped);
- its train window ends where the test begins: rows `[test_start − train, test_start)` when
  rolling, `[0, test_start)` when anchored.

On each train window every point of the sweep is backtested on the train rows alone, and
the best by the chosen metric is kept (ties: the earlier point). Test windows are never
seen before the choice, by construction: a train task's backtest is handed only its rows.
The chosen point then runs over its train rows followed by its test rows, allowed to trade
only from the first test session (`TradingFrom`: the train rows warm up its indicators,
the run starts flat with the fold's starting cash); its daily returns over the test window
are the fold's out-of-sample returns. A fold whose train runs all failed stays in cash.

`results.parquet` holds every train run (`fold` = its fold) and in-sample run (`fold` null).
The stitched out-of-sample equity compounds the folds' returns from the starting cash.
Beside it, the in-sample best: every point run over the same span (warm-up before the
first test session), the best chosen with hindsight, and its deflated Sharpe ratio given
all the points tried (`research.dsr`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradefolio.backtest.metric_registry import EQUITY_METRICS, METRICS
from tradefolio.backtest.metrics import compute_metrics
from tradefolio.errors import InvalidParameter
from tradefolio.research.dsr import DeflatedSharpe, deflated_sharpe_ratio
from tradefolio.research.executors import Executor
from tradefolio.research.report import check_metric, deflated_json, json_records, ranked
from tradefolio.research.results import (
    METRIC_COLUMNS,
    ResultsStore,
    build_table,
    outcome_row,
)
from tradefolio.research.space import ParamValue, SweepSpec
from tradefolio.research.sweep import SweepProgress, data_manifest, execute, make_tasks
from tradefolio.research.tasks import COMPLETED, MarketData, RunOutcome, RunTask, Status

SCHEMES = ("rolling", "anchored")
#: Default train and test windows in sessions (`--train`, `--test`): five years, then one.
DEFAULT_TRAIN = 1260
DEFAULT_TEST = 252


@dataclass(frozen=True, slots=True)
class Fold:
    """Row positions (end exclusive) of one train window and the test window after it."""

    number: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def make_folds(sessions: int, train: int, test: int, scheme: str = "rolling") -> list[Fold]:
    """The folds of `sessions` rows (see the module docstring)."""
    if scheme not in SCHEMES:
        raise InvalidParameter(f"--scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if train < 2:
        raise InvalidParameter(f"--train must be >= 2 sessions, got {train}")
    if test < 2:
        raise InvalidParameter(f"--test must be >= 2 sessions, got {test}")
    if train + test > sessions:
        raise InvalidParameter(
            f"--train {train} + --test {test} sessions exceed the {sessions} sessions of prices"
        )
    folds: list[Fold] = []
    test_start = train
    while sessions - test_start >= 2:
        test_end = min(test_start + test, sessions)
        train_start = 0 if scheme == "anchored" else test_start - train
        folds.append(Fold(len(folds), train_start, test_start, test_start, test_end))
        test_start = test_end
    return folds


@dataclass(frozen=True, slots=True)
class FoldResult:
    """A fold's choice on its train window and what it earned on its test window."""

    fold: Fold
    test_first: date
    test_last: date
    chosen: Mapping[str, ParamValue] | None
    train_value: float | None
    test_metrics: Mapping[str, float | int] | None
    error: str | None


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """Folds, the stitched out-of-sample equity, and the in-sample best beside it."""

    metric: str
    scheme: str
    folds: tuple[FoldResult, ...]
    oos_equity: pd.Series
    oos_metrics: Mapping[str, float]
    in_sample_best: Mapping[str, ParamValue] | None
    in_sample_metrics: Mapping[str, float | int] | None
    deflated: DeflatedSharpe | None
    train_table: pd.DataFrame
    in_sample_table: pd.DataFrame
    parameters: tuple[str, ...]
    executed: int
    reused: int
    seconds: float

    def folds_frame(self) -> pd.DataFrame:
        """One row per fold: dates, chosen parameters, train value, test metrics, error."""
        records: list[dict[str, Any]] = []
        for result in self.folds:
            fold = result.fold
            record: dict[str, Any] = {
                "fold": fold.number,
                "test_first": result.test_first,
                "test_last": result.test_last,
                "train_sessions": fold.train_end - fold.train_start,
                "test_sessions": fold.test_end - fold.test_start,
            }
            for name in self.parameters:
                record[name] = result.chosen.get(name) if result.chosen else None
            record[f"train_{self.metric}"] = result.train_value
            metrics = result.test_metrics or {}
            record["test_return"] = metrics.get("total_return")
            record[f"test_{self.metric}"] = metrics.get(self.metric)
            record["error"] = result.error
            records.append(record)
        return pd.DataFrame.from_records(records)


def _equity_metrics(equity: pd.Series) -> dict[str, float]:
    zeros = pd.Series(np.zeros(len(equity)), index=equity.index)
    metrics = compute_metrics(equity, zeros, zeros, ()).as_dict()
    return {name: float(metrics[name]) for name in EQUITY_METRICS}


def _best(outcomes: list[RunOutcome], metric: str) -> RunOutcome | None:
    ok = [o for o in outcomes if o.status in COMPLETED and o.metrics is not None]
    if not ok:
        return None
    table = pd.DataFrame(
        {"run": [o.index for o in ok], metric: [float(o.metrics[metric]) for o in ok]}  # type: ignore[index]
    ).assign(status="ok")
    best_run = int(ranked(table, metric)["run"].iloc[0])
    return next(o for o in ok if o.index == best_run)


def run_walk_forward(
    spec: SweepSpec,
    data: MarketData,
    executor: Executor,
    *,
    train: int,
    test: int,
    scheme: str = "rolling",
    metric: str = "sharpe",
    store: ResultsStore | None = None,
    fresh: bool = False,
    progress: SweepProgress | None = None,
) -> WalkForwardResult:
    """Walk `spec` forward over `data` (see the module docstring)."""
    check_metric(metric)
    started = time.perf_counter()
    sessions = data.closes.shape[0]
    folds = make_folds(sessions, train, test, scheme)
    points = spec.points()
    first_test = folds[0].test_start
    train_tasks: list[RunTask] = []
    for fold in folds:
        train_tasks += make_tasks(
            spec,
            points=points,
            window=(fold.train_start, fold.train_end, None),
            first_index=len(train_tasks),
        )
    in_sample_tasks = make_tasks(
        spec, points=points, window=(0, sessions, first_test), first_index=len(train_tasks)
    )
    selection_tasks = train_tasks + in_sample_tasks
    rows: dict[str, dict[str, Any]] = {}
    if store is not None:
        manifest = {
            "kind": "walk-forward",
            **data_manifest(data),
            "spec": spec.describe(),
            "train": train,
            "test": test,
            "scheme": scheme,
        }
        store.prepare(manifest, fresh=fresh)
        rows = store.finished()
    pending = [t for t in selection_tasks if t.run_id not in rows]
    reused = len(selection_tasks) - len(pending)
    if progress is not None:
        progress.start(len(selection_tasks) + len(folds), reused)
    with executor.open(data) as session:
        for outcome in execute(session, pending, store=store, progress=progress):
            rows[outcome.run_id] = outcome_row(outcome)
        by_task = {t.index: _outcome_from_row(t, rows[t.run_id]) for t in selection_tasks}
        chosen: list[RunOutcome | None] = []
        test_tasks: list[RunTask] = []
        for number, fold in enumerate(folds):
            fold_outcomes = [
                by_task[i] for i in range(number * len(points), (number + 1) * len(points))
            ]
            best = _best(fold_outcomes, metric)
            chosen.append(best)
            if best is not None:
                test_tasks += make_tasks(
                    spec,
                    points=[dict(best.params)],
                    window=(fold.train_start, fold.test_end, fold.test_start),
                    first_index=number,
                    keep_equity=True,
                )
        tested = {o.index: o for o in execute(session, test_tasks, progress=progress)}
    dates = pd.DatetimeIndex(data.closes.index)
    returns: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    fold_results: list[FoldResult] = []
    for number, fold in enumerate(folds):
        picked = chosen[number]
        tested_outcome = tested.get(number)
        error = None
        flat = np.zeros(fold.test_end - fold.test_start)
        if picked is None:
            error = "every train run failed; the fold stays in cash"
            fold_returns = flat
        elif (
            tested_outcome is None
            or tested_outcome.status not in COMPLETED
            or tested_outcome.equity is None
        ):
            error = (
                tested_outcome.error if tested_outcome else None
            ) or "test run failed; stays in cash"
            fold_returns = flat
        else:
            equity = tested_outcome.equity
            fold_returns = equity[1:] / equity[:-1] - 1.0
        returns.append(fold_returns)
        fold_results.append(
            FoldResult(
                fold=fold,
                test_first=dates[fold.test_start].date(),
                test_last=dates[fold.test_end - 1].date(),
                chosen=dict(picked.params) if picked is not None else None,
                train_value=float(picked.metrics[metric]) if picked and picked.metrics else None,
                test_metrics=tested_outcome.metrics if tested_outcome is not None else None,
                error=error,
            )
        )
    cash = float(spec.base.get("cash", 1_000_000.0))
    growth = np.cumprod(1.0 + np.concatenate(returns))
    oos_equity = pd.Series(
        np.concatenate(([cash], cash * growth)),
        index=data.closes.index[first_test - 1 :],
        name="oos_equity",
    )
    in_sample_outcomes = [by_task[t.index] for t in in_sample_tasks]
    in_best = _best(in_sample_outcomes, metric)
    deflated = None
    if in_best is not None and in_best.metrics is not None and (in_best.observations or 0) >= 2:
        annual = METRICS["sharpe"].annual_scale
        trial_sharpes = [
            float(o.metrics["sharpe"]) / annual
            for o in in_sample_outcomes
            if o.status in COMPLETED and o.metrics is not None
        ]
        deflated = deflated_sharpe_ratio(
            float(in_best.metrics["sharpe"]) / annual,
            trial_sharpes,
            int(in_best.observations or 0),
            float(in_best.skew or 0.0),
            float(in_best.kurtosis or 3.0),
        )
    train_table = build_table(train_tasks, rows, spec.parameter_names)
    in_sample_table = build_table(in_sample_tasks, rows, spec.parameter_names)
    if store is not None:
        store.finalize(_selection_table(train_table, in_sample_table, len(points)))
    return WalkForwardResult(
        metric=metric,
        scheme=scheme,
        folds=tuple(fold_results),
        oos_equity=oos_equity,
        oos_metrics=_equity_metrics(oos_equity),
        in_sample_best=dict(in_best.params) if in_best is not None else None,
        in_sample_metrics=in_best.metrics if in_best is not None else None,
        deflated=deflated,
        train_table=train_table,
        in_sample_table=in_sample_table,
        parameters=spec.parameter_names,
        executed=len(pending) + len(test_tasks),
        reused=reused,
        seconds=time.perf_counter() - started,
    )


def _selection_table(train: pd.DataFrame, in_sample: pd.DataFrame, points: int) -> pd.DataFrame:
    """Train and in-sample runs in one table, with a `fold` column (null: in-sample)."""
    train = train.copy()
    train.insert(1, "fold", (train["run"] // max(points, 1)).astype("Int64"))
    in_sample = in_sample.copy()
    in_sample.insert(1, "fold", pd.Series([None] * len(in_sample), dtype="Int64"))
    return pd.concat([train, in_sample], ignore_index=True)


def _outcome_from_row(task: RunTask, row: Mapping[str, Any]) -> RunOutcome:
    """A stored row as an outcome of `task` (what selection and the DSR need)."""
    status: Status = row["status"] if row["status"] in COMPLETED else "failed"
    metrics = None
    if status in COMPLETED:
        metrics = {
            name: (int(row[name]) if name == "trades" else float(row[name]))
            for name in METRIC_COLUMNS
        }
    return RunOutcome(
        index=task.index,
        run_id=task.run_id,
        params=task.params,
        status=status,
        error=row.get("error"),
        final_equity=row.get("final_equity"),
        n_fills=row.get("n_fills"),
        metrics=metrics,
        skew=row.get("skew"),
        kurtosis=row.get("kurtosis"),
        observations=row.get("observations"),
        seconds=float(row.get("seconds") or 0.0),
        rebalances_proven=_count(row.get("rebalances_proven")),
        rebalances_not_proven=_count(row.get("rebalances_not_proven")),
        rebalances_failed=_count(row.get("rebalances_failed")),
    )


def _count(value: Any) -> int | None:
    """A stored rebalance count (null for a run the model did not decide)."""
    return None if value is None else int(value)


def walk_forward_json(result: WalkForwardResult, folds: pd.DataFrame, folder: Path) -> Any:
    """The JSON contract of `walk-forward --format json` (also `walk_forward.json`)."""
    return {
        "folder": str(folder),
        "metric": result.metric,
        "scheme": result.scheme,
        "folds": [
            {**r, "test_first": str(r["test_first"]), "test_last": str(r["test_last"])}
            for r in json_records(folds)
        ],
        "out_of_sample": dict(result.oos_metrics),
        "in_sample_best": {
            "parameters": dict(result.in_sample_best) if result.in_sample_best else None,
            "metrics": dict(result.in_sample_metrics) if result.in_sample_metrics else None,
        },
        "deflated_sharpe": deflated_json(result.deflated),
    }


def write_walk_forward(folder: Path, result: WalkForwardResult, folds: pd.DataFrame) -> None:
    """The walk-forward's files in its folder: folds.parquet, oos_equity.parquet and
    walk_forward.json."""
    folds.astype({"test_first": "string", "test_last": "string"}).to_parquet(
        folder / "folds.parquet", index=False
    )
    result.oos_equity.to_frame().to_parquet(folder / "oos_equity.parquet")
    (folder / "walk_forward.json").write_text(
        json.dumps(walk_forward_json(result, folds, folder), indent=2, allow_nan=False)
    )


__all__ = [
    "DEFAULT_TEST",
    "DEFAULT_TRAIN",
    "EQUITY_METRICS",
    "SCHEMES",
    "Fold",
    "FoldResult",
    "WalkForwardResult",
    "make_folds",
    "run_walk_forward",
    "walk_forward_json",
    "write_walk_forward",
]
