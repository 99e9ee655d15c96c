"""The data behind every tearsheet chart, computed once and drawn twice (HTML and PNG).

Each chart is a `Chart(key, title, ...)`; `chart_data(record)` returns the series both
renderers draw, so the interactive HTML and the static PNGs always show the same numbers.
What a person can read, and only what is drawn:

- equity opens on a log axis when it spans more than `LOG_SCALE_SPAN` (10x): on a linear
  axis the first decades of a long compounding run are a flat line;
- weights show the `MAX_NAMED_WEIGHTS` names with the largest average weight, one
  "other" band summing the rest, and cash (a 500-name run is 12 bands, not 500), thinned to
  at most `MAX_AREA_POINTS` sessions (every k-th session and the last);
- the monthly heatmap has a compounded "Year" column;
- turnover is summed per calendar month (one bar per month, not a hairline per trading
  day) and exposure is a trailing `EXPOSURE_WINDOW`-session mean;
- a run of the allocation model adds two panels: the target weights of its
  `MAX_TRACKED_NAMES` largest names at each rebalance against the weights the fills
  reached (at the close of the fill bar), and per rebalance the turnover and costs the
  model expected against what the fills realised.
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
#: Names drawn on their own in the weights chart; the rest are summed into "other".
MAX_NAMED_WEIGHTS = 10
#: Equity spanning more than this ratio (max / min) opens on a log axis.
LOG_SCALE_SPAN = 10.0
#: Sessions of the trailing mean drawn as exposure (a quarter: daily exposure of a
#: crossover strategy swings between 0 and 100% and reads as noise over years).
EXPOSURE_WINDOW = 63
OTHER = "other"
CASH = "cash"


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
TURNOVER = Chart("turnover", "Turnover per month (one-way, % of equity)")
EXPOSURE = Chart(
    "exposure", f"Exposure (invested / equity, trailing {EXPOSURE_WINDOW}-session mean)"
)
#: Names whose target and realised weights the rebalance panel draws.
MAX_TRACKED_NAMES = 6
REBALANCE_WEIGHTS = Chart(
    "rebalance_weights", "Target (markers) vs realised (lines) weights at each rebalance"
)
REBALANCE_COSTS = Chart(
    "rebalance_costs", "Turnover and costs per rebalance: expected by the model vs realised"
)


@dataclass(frozen=True, slots=True)
class ChartData:
    """Series of every chart (`benchmark`-based ones are None without a benchmark)."""

    equity: pd.Series
    benchmark: pd.Series | None
    drawdown: pd.Series
    monthly: pd.DataFrame
    yearly: pd.Series
    rolling_sharpe: pd.Series
    rolling_beta: pd.Series | None
    weights: pd.DataFrame
    turnover: pd.Series
    exposure: pd.Series
    #: The allocation model's solves (rebalances.csv), None for other runs.
    rebalances: pd.DataFrame | None = None
    #: Target and realised weights of the largest names at each rebalance.
    target_tracking: pd.DataFrame | None = None
    realised_tracking: pd.DataFrame | None = None

    @property
    def charts(self) -> tuple[Chart, ...]:
        """The charts this run has, in page order."""
        charts = [EQUITY, DRAWDOWN, MONTHLY, ROLLING_SHARPE]
        if self.rolling_beta is not None:
            charts.append(ROLLING_BETA)
        charts += [WEIGHTS, TURNOVER, EXPOSURE]
        if self.rebalances is not None and len(self.rebalances):
            charts += [REBALANCE_WEIGHTS, REBALANCE_COSTS]
        return tuple(charts)


def realised_weights(record: RunRecord) -> pd.DataFrame:
    """Market value of each holding / equity at every close, plus `cash` (rows sum to 1)."""
    dates = record.dates
    equity = record.equity["equity"]
    positions = record.positions
    held = None if positions.empty else _held_values(positions, dates)
    if positions.empty:
        values = pd.DataFrame(index=dates)
    elif held is not None:
        values = held
    else:  # the pivot itself sums what `_held_values` does not lay out
        values = positions.pivot_table(
            index="date", columns="symbol", values="market_value", aggfunc="sum", sort=True
        )
        values = values.reindex(index=dates).fillna(0.0)
        values.columns = [str(c) for c in values.columns]
    weights = values.div(equity, axis=0)
    weights["cash"] = record.equity["cash"] / equity
    weights.index.name = "date"
    return weights


def _held_values(positions: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame | None:
    """Market value by (session, symbol), 0 when not held: the pivot of `positions` laid
    out directly (one cell per row), or None when the pivot must sum or drop something
    (a repeated (date, symbol), a value that is not finite, a symbol that is not text)."""
    market = positions["market_value"].to_numpy(dtype=np.float64)
    if not np.isfinite(market).all():
        return None
    columns, symbols = pd.factorize(positions["symbol"], sort=True)
    names = list(symbols)
    if (columns < 0).any() or not all(type(name) is str for name in names):
        return None
    rows = dates.get_indexer(pd.DatetimeIndex(positions["date"]))
    kept = rows >= 0  # a date outside the sessions: the pivot's reindex drops it
    cells = rows[kept] * len(names) + columns[kept]
    if len(np.unique(cells)) != len(cells):
        return None
    table = np.zeros((len(dates), len(names)))
    table.ravel()[cells] = market[kept]
    return pd.DataFrame(table, index=dates, columns=names)


def top_weights(weights: pd.DataFrame, named: int = MAX_NAMED_WEIGHTS) -> pd.DataFrame:
    """The `named` holdings with the largest mean |weight|, then `other` (the sum of the
    rest, only if any is held) and `cash`; columns never held are dropped. Rows still sum
    to 1: nothing is lost, the small names are just drawn as one band."""
    holdings = weights.drop(columns=[CASH], errors="ignore")
    holdings = holdings.loc[:, (holdings != 0).any(axis=0)]
    ranked = holdings.abs().mean(axis=0).sort_values(ascending=False, kind="stable")
    keep = list(ranked.index[:named])
    shown = holdings.loc[:, keep].copy()
    rest = holdings.drop(columns=keep)
    if rest.shape[1]:
        shown[OTHER] = rest.sum(axis=1)
    if CASH in weights.columns:
        shown[CASH] = weights[CASH]
    return shown


def rebalance_tracking(
    record: RunRecord,
    named: int = MAX_TRACKED_NAMES,
    realised: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Target weights of the `named` names with the largest mean target at each rebalance,
    and their realised weights at the close of the next session (the fill bar);
    `realised` is `realised_weights(record)` when the caller has it."""
    targets = record.target_weights
    if record.rebalances is None or targets.empty:
        return None
    means = targets.mean(axis=0)
    names = [str(c) for c in means[means > 0].sort_values(ascending=False).index[:named]]
    if realised is None:
        realised = realised_weights(record)
    rows = np.minimum(realised.index.get_indexer(targets.index) + 1, len(realised) - 1)
    reached = realised.reindex(columns=names, fill_value=0.0).iloc[rows]
    reached.index = targets.index
    return targets.loc[:, names], reached


def yearly_returns(returns: pd.Series) -> pd.Series:
    """Compounded return of each calendar year: `Π_{t in year} (1 + r_t) - 1`."""
    index = pd.DatetimeIndex(returns.index)
    growth = (1.0 + returns).groupby(index.year).prod() - 1.0
    growth.index.name = "year"
    return growth.rename("year")


def monthly_turnover(turnover: pd.Series) -> pd.Series:
    """One-way turnover summed per calendar month, indexed by the month's first day."""
    if turnover.empty:
        return turnover
    index = pd.DatetimeIndex(turnover.index)
    months = index.to_period("M").to_timestamp()
    return turnover.groupby(months).sum().rename("turnover")


def use_log_scale(equity: pd.Series, span: float = LOG_SCALE_SPAN) -> bool:
    """Whether `equity` (all > 0) spans more than `span` times, max over min."""
    values = equity.to_numpy(np.float64)
    values = values[np.isfinite(values)]
    if not len(values) or values.min() <= 0:
        return False
    return bool(values.max() / values.min() > span)


def number_text(value: float, decimals: int = 1) -> str:
    """`value` with `decimals` decimals, never "-0.0" (a rounded zero has no sign)."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


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
    realised = realised_weights(record)  # one pivot of the positions for both charts
    tracking = rebalance_tracking(record, realised=realised)
    return ChartData(
        rebalances=record.rebalances,
        target_tracking=None if tracking is None else tracking[0],
        realised_tracking=None if tracking is None else tracking[1],
        equity=equity,
        benchmark=benchmark,
        drawdown=drawdown(equity),
        monthly=monthly_returns(returns),
        yearly=yearly_returns(returns),
        rolling_sharpe=rolling_sharpe(returns, window),
        rolling_beta=beta,
        weights=thinned(top_weights(realised)),
        turnover=monthly_turnover(rebalance_turnover(record.fills, equity)),
        exposure=(record.equity["invested"] / equity)
        .rolling(EXPOSURE_WINDOW, min_periods=1)
        .mean()
        .rename("exposure"),
    )


__all__ = [
    "CASH",
    "DRAWDOWN",
    "EQUITY",
    "EXPOSURE",
    "EXPOSURE_WINDOW",
    "LOG_SCALE_SPAN",
    "MAX_AREA_POINTS",
    "MAX_NAMED_WEIGHTS",
    "MAX_TRACKED_NAMES",
    "MONTHLY",
    "OTHER",
    "REBALANCE_COSTS",
    "REBALANCE_WEIGHTS",
    "ROLLING_BETA",
    "ROLLING_SHARPE",
    "TURNOVER",
    "WEIGHTS",
    "Chart",
    "ChartData",
    "chart_data",
    "monthly_turnover",
    "number_text",
    "realised_weights",
    "rebalance_tracking",
    "thinned",
    "top_weights",
    "use_log_scale",
    "yearly_returns",
]
