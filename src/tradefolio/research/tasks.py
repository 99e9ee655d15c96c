"""One unit of sweep work: a `RunTask` evaluated against shared `MarketData`, a `RunOutcome` back.

Every executor (serial, local process pool, Ray) calls the same `evaluate(data, task)`, and
every executor hands it a `MarketData` built by `MarketData.from_arrays` from the same
C-ordered float64 arrays, so a run gives the same bits wherever it runs: memory layout can
change the order of floating-point sums, so it is fixed here rather than left to chance.

A task may carry a window `(start, end, trade_from)` of row positions: the backtest sees
rows `start .. end-1` only; with `trade_from` set it may first trade at row `trade_from`
(decided at the close of row `trade_from - 1`), the earlier rows serving as indicator
warm-up, and its metrics cover rows `trade_from - 1 .. end - 1` (the first value is the
starting cash). Walk-forward test windows use this; plain sweeps use no window.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.metrics import compute_metrics
from tradefolio.backtest.runner import (
    build_plan_strategy,
    build_sizing,
    cost_model,
    protective_exits,
    run_config,
)
from tradefolio.errors import DataError
from tradefolio.execution.strategy import SignalPlan, Strategy
from tradefolio.research.space import ParamValue

FloatArray = npt.NDArray[np.float64]
#: `ok`; `held`: the run finished but held its positions at one or more rebalances the
#: allocation model could not solve (`--on-solver-failure hold`); `failed`: no result.
Status = Literal["ok", "held", "failed"]
#: The statuses of a run with a result (ranked, selected, reused on resume).
COMPLETED: frozenset[str] = frozenset({"ok", "held"})
Window = tuple[int, int, int | None]


@dataclass(frozen=True, slots=True)
class MarketData:
    """Closes (and optional opens, benchmark) shared by every run of a sweep.

    `closes` and `opens` are dates x symbols frames over one C-ordered float64 array each;
    `benchmark`, when present, is aligned to the closes' dates.
    """

    closes: pd.DataFrame
    opens: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    highs: pd.DataFrame | None = None
    lows: pd.DataFrame | None = None

    @classmethod
    def from_arrays(
        cls,
        index: pd.DatetimeIndex,
        columns: tuple[str, ...],
        closes: FloatArray,
        opens: FloatArray | None = None,
        benchmark: FloatArray | None = None,
        highs: FloatArray | None = None,
        lows: FloatArray | None = None,
    ) -> MarketData:
        """The canonical frames over the given arrays (no copy when already C-ordered)."""

        def frame(values: FloatArray) -> pd.DataFrame:
            return pd.DataFrame(
                np.ascontiguousarray(values, dtype=np.float64),
                index=index,
                columns=pd.Index(list(columns)),
                copy=False,
            )

        return cls(
            closes=frame(closes),
            opens=frame(opens) if opens is not None else None,
            benchmark=(
                pd.Series(np.ascontiguousarray(benchmark, dtype=np.float64), index=index)
                if benchmark is not None
                else None
            ),
            highs=frame(highs) if highs is not None else None,
            lows=frame(lows) if lows is not None else None,
        )

    @classmethod
    def of(
        cls,
        closes: pd.DataFrame,
        opens: pd.DataFrame | None = None,
        benchmark: pd.Series | None = None,
        highs: pd.DataFrame | None = None,
        lows: pd.DataFrame | None = None,
    ) -> MarketData:
        """Canonical market data from a price panel (the benchmark reindexed to its dates)."""
        if not isinstance(closes.index, pd.DatetimeIndex):
            raise DataError("prices need a DatetimeIndex of sessions")
        index = pd.DatetimeIndex(closes.index)
        bench = (
            benchmark.reindex(index).to_numpy(dtype=np.float64) if benchmark is not None else None
        )
        return cls.from_arrays(
            index,
            tuple(str(c) for c in closes.columns),
            closes.to_numpy(dtype=np.float64, na_value=np.nan),
            opens.to_numpy(dtype=np.float64, na_value=np.nan) if opens is not None else None,
            bench,
            highs.to_numpy(dtype=np.float64, na_value=np.nan) if highs is not None else None,
            lows.to_numpy(dtype=np.float64, na_value=np.nan) if lows is not None else None,
        )

    @property
    def arrays(self) -> dict[str, FloatArray]:
        """The float arrays by role (`closes`, `opens`, `benchmark`), for sharing."""
        arrays = {"closes": np.ascontiguousarray(self.closes.to_numpy(dtype=np.float64))}
        if self.opens is not None:
            arrays["opens"] = np.ascontiguousarray(self.opens.to_numpy(dtype=np.float64))
        if self.benchmark is not None:
            arrays["benchmark"] = np.ascontiguousarray(self.benchmark.to_numpy(dtype=np.float64))
        for role, frame in (("highs", self.highs), ("lows", self.lows)):
            if frame is not None:  # bar ranges, for stops and limits
                arrays[role] = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
        return arrays

    @property
    def nbytes(self) -> int:
        """Bytes of price data a worker needs."""
        return sum(a.nbytes for a in self.arrays.values()) + self.closes.index.nbytes

    def fingerprint(self) -> str:
        """A hash of dates, symbols and every price (results are only reused on equal data)."""
        digest = hashlib.sha256()
        digest.update(pd.DatetimeIndex(self.closes.index).asi8.tobytes())
        digest.update("\x1f".join(str(c) for c in self.closes.columns).encode())
        for name, values in sorted(self.arrays.items()):
            digest.update(name.encode())
            digest.update(values.tobytes())
        return digest.hexdigest()[:16]

    def window(
        self, start: int, end: int
    ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.Series | None]:
        """Rows `start .. end-1` of closes, opens and benchmark."""
        return (
            self.closes.iloc[start:end],
            self.opens.iloc[start:end] if self.opens is not None else None,
            self.benchmark.iloc[start:end] if self.benchmark is not None else None,
        )

    def bar_ranges(self, start: int = 0, end: int | None = None) -> dict[str, pd.DataFrame | None]:
        """`highs` / `lows` rows `start .. end-1` (None where the data has only closes)."""
        return {
            "highs": None if self.highs is None else self.highs.iloc[start:end],
            "lows": None if self.lows is None else self.lows.iloc[start:end],
        }


@dataclass(frozen=True, slots=True)
class RunTask:
    """One backtest to run: its position in the sweep, full config fields and swept values."""

    index: int
    run_id: str
    fields: Mapping[str, ParamValue]
    params: Mapping[str, ParamValue]
    window: Window | None = None
    keep_equity: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run produced, or the error that stopped it (`status == "failed"`).

    `skew` and `kurtosis` (non-excess) are the population moments of the daily returns;
    `observations` their count; with the annualised `metrics["sharpe"]` they are what the
    deflated Sharpe ratio needs. `equity` is kept only when the task asked for it.
    `rebalances_proven` / `rebalances_not_proven` / `rebalances_failed` count the
    allocation model's solves of a `--portfolio` run (optimal; feasible, gap not closed;
    infeasible or error, positions held), as `backtest` prints them; None for a run the
    model did not decide.
    """

    index: int
    run_id: str
    params: Mapping[str, ParamValue]
    status: Status
    error: str | None = None
    final_equity: float | None = None
    n_fills: int | None = None
    metrics: Mapping[str, float | int] | None = None
    skew: float | None = None
    kurtosis: float | None = None
    observations: int | None = None
    seconds: float = 0.0
    equity: FloatArray | None = field(default=None, compare=False)
    rebalances_proven: int | None = None
    rebalances_not_proven: int | None = None
    rebalances_failed: int | None = None


@dataclass(frozen=True, slots=True)
class TradingFrom:
    """A strategy that may act only from decision bar `first_decision` on.

    Rows before it are indicator warm-up: their entries, exits and rebalances are dropped,
    so the run starts flat at `first_decision` with its signals computed on full history.
    """

    inner: Strategy
    first_decision: int

    @property
    def name(self) -> str:
        """The inner strategy's name."""
        return self.inner.name

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """The inner plan with every intent before `first_decision` removed."""
        plan = self.inner.plan(closes)
        entries = plan.entries.copy()
        exits = plan.exits.copy()
        entries[: self.first_decision] = False
        exits[: self.first_decision] = False
        rebalances = {b: w for b, w in plan.rebalances.items() if b >= self.first_decision}
        return SignalPlan(entries=entries, exits=exits, rebalances=rebalances)


def return_moments(equity: FloatArray) -> tuple[float, float, int]:
    """Skewness and (non-excess) kurtosis of simple returns, and their count.

    `skew = m3 / m2^1.5`, `kurtosis = m4 / m2^2` with central moments `m_k = mean((r - r̄)^k)`;
    (0, 3) for fewer than two returns or zero variance (the normal distribution's values).
    """
    returns = equity[1:] / equity[:-1] - 1.0 if len(equity) > 1 else np.zeros(0)
    count = len(returns)
    if count < 2:
        return 0.0, 3.0, count
    centred = returns - returns.mean()
    m2 = float(np.mean(centred**2))
    if m2 == 0 or not math.isfinite(m2):
        return 0.0, 3.0, count
    skew = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return skew, kurtosis, count


def _run(
    data: MarketData, config: BacktestConfig, window: Window | None
) -> tuple[BacktestResult, int]:
    """The backtest of `config` on the task's rows; also the first row its metrics cover."""
    if window is None:
        result = run_config(
            config, data.closes, opens=data.opens, benchmark=data.benchmark, **data.bar_ranges()
        )
        return result, 0
    start, end, trade_from = window
    closes, opens, benchmark = data.window(start, end)
    ranges = data.bar_ranges(start, end)
    if trade_from is None:
        return run_config(config, closes, opens=opens, benchmark=benchmark, **ranges), 0
    first_decision = trade_from - start - 1
    strategy: Strategy = TradingFrom(build_plan_strategy(config, "walk-forward"), first_decision)
    result = run_backtest(
        closes,
        strategy,
        build_sizing(config, closes, benchmark),
        cash=config.cash,
        costs=cost_model(config),
        opens=opens,
        highs=ranges["highs"],
        lows=ranges["lows"],
        exits=protective_exits(config),
    )
    return result, first_decision


def evaluate(data: MarketData, task: RunTask) -> RunOutcome:
    """Run one task; any exception becomes a failed outcome carrying its message."""
    started = time.perf_counter()
    try:
        config = BacktestConfig.create(**task.fields)
        result, first = _run(data, config, task.window)
        equity = result.equity.iloc[first:]
        metrics = compute_metrics(
            equity,
            result.invested.iloc[first:],
            result.traded_notional.iloc[first:],
            result.fills,
        )
        values = equity.to_numpy(dtype=np.float64)
        skew, kurtosis, observations = return_moments(values)
    except Exception as exc:  # one bad run is recorded, never fatal to the sweep
        return RunOutcome(
            index=task.index,
            run_id=task.run_id,
            params=task.params,
            status="failed",
            error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
            seconds=time.perf_counter() - started,
        )
    counts = rebalance_counts(result)
    return RunOutcome(
        index=task.index,
        run_id=task.run_id,
        params=task.params,
        status="held" if counts is not None and counts[2] > 0 else "ok",
        rebalances_proven=None if counts is None else counts[0],
        rebalances_not_proven=None if counts is None else counts[1],
        rebalances_failed=None if counts is None else counts[2],
        final_equity=float(result.final_equity),
        n_fills=len(result.fills),
        metrics=metrics.as_dict(),
        skew=skew,
        kurtosis=kurtosis,
        observations=observations,
        seconds=time.perf_counter() - started,
        equity=values.copy() if task.keep_equity else None,
    )


def rebalance_counts(result: BacktestResult) -> tuple[int, int, int] | None:
    """(proven, not proven, failed) of the allocation model's solves in `result`, the
    counts of `backtest`'s "N rebalances: ..." line (`reporting.rebalances`); None when
    the model decided nothing (a strategy, or the score allocator without the model)."""
    if not result.decisions:
        return None
    decisions = [decision for _, decision in result.decisions]
    proven = sum(decision.proven for decision in decisions)
    failed = sum(decision.failed for decision in decisions)
    return proven, len(decisions) - proven - failed, failed


def outcome_fields(outcome: RunOutcome) -> dict[str, Any]:
    """The deterministic content of an outcome (everything but timing), for comparisons."""
    return {
        "index": outcome.index,
        "run_id": outcome.run_id,
        "params": dict(outcome.params),
        "status": outcome.status,
        "error": outcome.error,
        "final_equity": outcome.final_equity,
        "n_fills": outcome.n_fills,
        "metrics": dict(outcome.metrics) if outcome.metrics is not None else None,
        "skew": outcome.skew,
        "kurtosis": outcome.kurtosis,
        "observations": outcome.observations,
        "rebalances_proven": outcome.rebalances_proven,
        "rebalances_not_proven": outcome.rebalances_not_proven,
        "rebalances_failed": outcome.rebalances_failed,
    }


__all__ = [
    "COMPLETED",
    "MarketData",
    "RunOutcome",
    "RunTask",
    "TradingFrom",
    "Window",
    "evaluate",
    "outcome_fields",
    "rebalance_counts",
    "return_moments",
]
