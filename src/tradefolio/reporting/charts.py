"""The data behind every tearsheet chart, computed once and drawn twice (HTML and PNG).

Each chart is a `Chart(key, title, ...)`; `chart_data(record)` returns the series both
renderers draw, so the interactive HTML and the static PNGs always show the same numbers.
Long curves are drawn at full resolution; the stacked weights are thinned to at most
`MAX_AREA_POINTS` sessions (every k-th session and the last), which keeps the file small and
the picture unchanged at any screen width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradefolio.reporting.metrics import (
    ROLLING_WINDOW,
    benchmark_returns,
    daily_returns,
    drawdown,
    monthly_returns,
    rebalance_turnover,
    rolling_beta,
    rolling_sharpe,
)
from tradefolio.reporting.record import RunRecord

MAX_AREA_POINTS = 1000


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the tearsheet: a stable key (div id, PNG file name) and a title."""

    key: str
    title: str


EQUITY = Chart("equity", "Equity vs benchmark")
DRAWDOWN = Chart("drawdown", "Drawdown (underwater)")
MONTHLY = Chart("monthly_returns", "Monthly returns (%)")
ROLLING_SHARPE = Chart("rolling_sharpe", f"Rolling Sharpe ({ROLLING_WINDOW} sessions)")
ROLLING_BETA = Chart("rolling_beta", f"Rolling beta to the benchmark ({ROLLING_WINDOW} sessions)")
WEIGHTS = Chart("weights", "Weights over time")
TURNOVER = Chart("turnover", "Turnover per rebalance (one-way, % of equity)")
EXPOSURE = Chart("exposure", "Exposure (invested / equity)")


@dataclass(frozen=True, slots=True)
class ChartData:
    """Series of every chart (`benchmark`-based ones are None without a benchmark)."""

    equity: pd.Series
    benchmark: pd.Series | None
    drawdown: pd.Series
    monthly: pd.DataFrame
    rolling_sharpe: pd.Series
    rolling_beta: pd.Series | None
    weights: pd.DataFrame
    turnover: pd.Series
    exposure: pd.Series

    @property
    def charts(self) -> tuple[Chart, ...]:
        """The charts this run has, in page order."""
        charts = [EQUITY, DRAWDOWN, MONTHLY, ROLLING_SHARPE]
        if self.rolling_beta is not None:
            charts.append(ROLLING_BETA)
        charts += [WEIGHTS, TURNOVER, EXPOSURE]
        return tuple(charts)


def realised_weights(record: RunRecord) -> pd.DataFrame:
    """Market value of each holding / equity at every close, plus `cash` (rows sum to 1)."""
    dates = record.dates
    equity = record.equity["equity"]
    positions = record.positions
    if positions.empty:
        values = pd.DataFrame(index=dates)
    else:
        values = positions.pivot_table(
            index="date", columns="symbol", values="market_value", aggfunc="sum", sort=True
        )
        values = values.reindex(index=dates).fillna(0.0)
        values.columns = [str(c) for c in values.columns]
    weights = values.div(equity, axis=0)
    weights["cash"] = record.equity["cash"] / equity
    weights.index.name = "date"
    return weights


def thinned(frame: pd.DataFrame, limit: int = MAX_AREA_POINTS) -> pd.DataFrame:
    """Every k-th row (k = ceil(rows / limit)) and always the last row."""
    step = max(1, math.ceil(len(frame) / limit))
    if step == 1:
        return frame
    rows = np.unique(np.append(np.arange(0, len(frame), step), len(frame) - 1))
    return frame.iloc[rows]


def chart_data(record: RunRecord, window: int = ROLLING_WINDOW) -> ChartData:
    """All chart series of a run (see the module docstring)."""
    equity = record.equity["equity"].astype("float64")
    returns = daily_returns(equity)
    benchmark = None
    beta = None
    if record.benchmark is not None and record.benchmark.notna().any():
        level = record.benchmark.astype("float64")
        first = level.first_valid_index()
        benchmark = level / level.loc[first] * float(equity.loc[first])
        beta = rolling_beta(returns, benchmark_returns(level), window)
    return ChartData(
        equity=equity,
        benchmark=benchmark,
        drawdown=drawdown(equity),
        monthly=monthly_returns(returns),
        rolling_sharpe=rolling_sharpe(returns, window),
        rolling_beta=beta,
        weights=thinned(realised_weights(record)),
        turnover=rebalance_turnover(record.fills, equity),
        exposure=(record.equity["invested"] / equity).rename("exposure"),
    )


__all__ = [
    "DRAWDOWN",
    "EQUITY",
    "EXPOSURE",
    "MAX_AREA_POINTS",
    "MONTHLY",
    "ROLLING_BETA",
    "ROLLING_SHARPE",
    "TURNOVER",
    "WEIGHTS",
    "Chart",
    "ChartData",
    "chart_data",
    "realised_weights",
    "thinned",
]
