"""The tearsheet's metrics: the backtest's own, plus drawdown duration, trades, costs, beta.

The headline numbers (total return, CAGR, volatility, Sharpe, Sortino, max drawdown,
Calmar, exposure, turnover, trades, win rate) come from `tradefolio.backtest.metrics`
unchanged: one formula per metric in the code base. This module adds, with daily returns
`r_t = V_t / V_{t-1} - 1`, benchmark returns `b_t` on the same sessions and `A = 252`:

- drawdown           `D_t = V_t / max_{s<=t} V_s - 1` (`indicators.drawdown`); an
                     *episode* is a maximal run of sessions with `D_t < 0`
- episode duration   calendar days from its first to its last session under water,
                     inclusive: `(last - first).days + 1` (quantstats' `drawdown_details`)
- max drawdown days  the duration of the episode holding the deepest `D_t`;
  longest drawdown   the longest episode's duration
- beta               `β = cov(r, b) / var(b)` over sessions where both returns exist
- alpha              `α = A · (mean(r) - β · mean(b))` (annualised intercept, arithmetic,
                     as quantstats' `greeks`; empyrical compounds it instead)
- average win/loss   mean trip return `R` (see `trades`) of closed trips with `P > 0` / `P < 0`,
                     and the same in currency (mean `P`)
- costs paid         Σ commissions + Σ slippage (slippage is paid through the fill price)
- rolling Sharpe     `mean(r) / std(r, ddof=1) · sqrt(A)` over a trailing window of sessions
- rolling beta       `cov(r, b) / var(b)` over a trailing window (`indicators.rolling_beta`)
- monthly return     `Π_{t in month} (1 + r_t) - 1`
- rebalance turnover `(Σ_fills on t |q · p|) / 2 / V_t`: one-way turnover of a trading day

A ratio with a zero denominator (or an average over no trips) is reported as 0, like the
backtest's metrics; beta and alpha are None without a benchmark. The JSON never holds NaN.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd

from tradefolio import __version__
from tradefolio.backtest.ledger import MICRO, Fill, to_micro
from tradefolio.backtest.metrics import Metrics, compute_metrics
from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR
from tradefolio.execution.money import micro_array
from tradefolio.indicators.beta import rolling_beta as indicators_rolling_beta
from tradefolio.indicators.drawdown import drawdown
from tradefolio.reporting.rebalances import rebalance_summary
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.trades import closed_trip_returns, round_trip_table

#: Trailing window (sessions) of the rolling Sharpe and rolling beta charts (~6 months).
ROLLING_WINDOW = 126
#: Identifies the layout of `metrics.json`; bumped on any incompatible change.
METRICS_SCHEMA = "tradefolio.metrics/1"


def daily_returns(equity: pd.Series) -> pd.Series:
    """`r_t = V_t / V_{t-1} - 1` for every session after the first."""
    values = equity.to_numpy(dtype=np.float64)
    return pd.Series(values[1:] / values[:-1] - 1.0, index=equity.index[1:], name="returns")


def benchmark_returns(benchmark: pd.Series) -> pd.Series:
    """Simple returns of the benchmark level, on the sessions after the first (NaN gaps kept)."""
    values = benchmark.to_numpy(dtype=np.float64)
    return pd.Series(values[1:] / values[:-1] - 1.0, index=benchmark.index[1:], name="benchmark")


def _paired(returns: pd.Series, bench: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.concat([returns, bench], axis=1, join="inner").dropna()
    return frame.iloc[:, 0].to_numpy(np.float64), frame.iloc[:, 1].to_numpy(np.float64)


def alpha_beta(
    returns: pd.Series, bench: pd.Series, periods: int = TRADING_DAYS_PER_YEAR
) -> tuple[float, float]:
    """`(α, β)` of `returns` on `bench` (see the module docstring); (0, 0) if undefined."""
    strategy, market = _paired(returns, bench)
    if len(strategy) < 2:
        return 0.0, 0.0
    covariance = np.cov(strategy, market)
    variance = float(covariance[1, 1])
    if variance == 0 or not math.isfinite(variance):
        return 0.0, 0.0
    beta = float(covariance[0, 1]) / variance
    alpha = (float(np.mean(strategy)) - beta * float(np.mean(market))) * periods
    return alpha, beta


def drawdown_episodes(equity: pd.Series) -> pd.DataFrame:
    """One row per drawdown episode, in time order.

    Columns: `start` (first session under water), `trough` (deepest session), `end` (last
    session under water), `recovery` (first session back at the peak, NaT if none),
    `depth` (min `D_t`, < 0), `days` (calendar days start..end inclusive), `sessions`.
    """
    under = drawdown(equity)
    values = under.to_numpy()
    index = pd.DatetimeIndex(equity.index)
    wet = values < 0
    edges = np.diff(np.concatenate(([0], wet.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    columns = ["start", "trough", "end", "recovery", "depth", "days", "sessions"]
    if not len(starts):
        table = pd.DataFrame([], columns=columns)
        for column in ("start", "trough", "end", "recovery"):
            table[column] = pd.to_datetime(table[column])
        return table.astype({"days": "int64", "sessions": "int64", "depth": "float64"})
    # whole arrays, not a Timestamp per episode and field (~2,400 of them on the sample)
    deepest = np.array(
        [
            first + int(np.argmin(values[first:stop]))
            for first, stop in zip(starts.tolist(), stops.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    lasts = stops - 1
    recovered = stops < len(index)
    recovery: Any = index.take(np.where(recovered, stops, -1), allow_fill=True, fill_value=None)
    if not recovered.any():  # NaT alone: the unit pandas gives a column of missing dates
        recovery = pd.to_datetime(pd.Series([pd.NaT] * len(stops), dtype=object))
    days = (index[lasts] - index[starts]).days.to_numpy(np.int64) + 1
    table = pd.DataFrame(
        {
            "start": index[starts],
            "trough": index[deepest],
            "end": index[lasts],
            "recovery": recovery,
            "depth": values[deepest].astype(np.float64),
            "days": days,
            "sessions": (stops - starts).astype(np.int64),
        },
        columns=columns,
    )
    return table.reset_index(drop=True)


def rolling_sharpe(
    returns: pd.Series, window: int = ROLLING_WINDOW, periods: int = TRADING_DAYS_PER_YEAR
) -> pd.Series:
    """Trailing-window Sharpe ratio, annualised (NaN before the window fills)."""
    rolling = returns.rolling(window)
    return rolling.mean() / rolling.std() * math.sqrt(periods)


def rolling_beta(returns: pd.Series, bench: pd.Series, window: int = ROLLING_WINDOW) -> pd.Series:
    """Trailing-window beta of `returns` on `bench` (`indicators.rolling_beta`)."""
    return indicators_rolling_beta(returns, bench, window)


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month: rows are years, columns months 1..12."""
    index = pd.DatetimeIndex(returns.index)
    growth = (1.0 + returns).groupby([index.year, index.month]).prod() - 1.0
    table = growth.unstack()
    table.index.name, table.columns.name = "year", "month"
    return table.reindex(columns=range(1, 13))


def rebalance_turnover(fills: pd.DataFrame, equity: pd.Series) -> pd.Series:
    """One-way turnover of each trading day: `Σ |q · p| / 2 / V_t`, indexed by date."""
    if fills.empty:
        return pd.Series(dtype="float64", name="turnover")
    notional = (fills["quantity"].astype("float64") * fills["price"].astype("float64")).abs()
    traded = notional.groupby(pd.DatetimeIndex(fills["date"])).sum()
    return (traded / 2.0 / equity.reindex(traded.index)).rename("turnover")


def ledger_fills(fills: pd.DataFrame, dates: pd.DatetimeIndex) -> tuple[Fill, ...]:
    """A fills frame as the backtest ledger's `Fill` values (exact micro-unit prices)."""
    day_index = pd.DatetimeIndex(fills["date"])
    bars = dates.get_indexer(day_index)
    quantities = fills["quantity"]
    prices = fills["price"].to_numpy()
    commissions = fills["commission"].to_numpy()
    if (
        quantities.dtype.kind in "iu"
        and prices.dtype == np.float64
        and commissions.dtype == np.float64
        and np.isfinite(prices).all()
        and np.isfinite(commissions).all()
        and not day_index.hasnans
    ):
        # a backtest's fills (whole units, float prices): the same values, whole columns at
        # once (`micro_array` is `to_micro` cell by cell, bit for bit)
        return tuple(
            Fill(
                bar=bar,
                date=day,
                symbol=str(symbol),
                side=side,
                quantity=quantity,
                price_micro=price,
                commission_micro=commission,
            )
            for bar, day, symbol, side, quantity, price, commission in zip(
                bars.tolist(),
                day_index.date.tolist(),
                fills["symbol"].tolist(),
                fills["side"].tolist(),
                quantities.to_numpy().tolist(),
                micro_array(prices.copy()).tolist(),
                micro_array(commissions.copy()).tolist(),
                strict=True,
            )
        )
    result = []
    for bar, (day, symbol, side, quantity, price, commission) in zip(
        bars.tolist(),
        fills.loc[:, ["date", "symbol", "side", "quantity", "price", "commission"]].itertuples(
            index=False, name=None
        ),
        strict=True,
    ):
        units = Decimal(str(quantity))
        # Whole units stay ints (the backtest ledger's type); a live broker's fractional
        # units stay exact Decimals, which the round-trip arithmetic handles the same way.
        whole: int = int(units) if units == units.to_integral_value() else cast(int, units)
        result.append(
            Fill(
                bar=int(bar),
                date=pd.Timestamp(day).date(),
                symbol=str(symbol),
                side=side,
                quantity=whole,
                price_micro=to_micro(str(price)),
                commission_micro=to_micro(str(commission)),
            )
        )
    return tuple(result)


def traded_notional(fills: tuple[Fill, ...], dates: pd.DatetimeIndex) -> pd.Series:
    """`Σ q · p` of each session's fills (float64), as the backtest engine sums it."""
    notional = np.zeros(len(dates))
    if fills:
        bars = np.fromiter((f.bar for f in fills), dtype=np.int64, count=len(fills))
        amounts = np.fromiter(
            (float(f.quantity * f.price_micro / MICRO) for f in fills),
            dtype=np.float64,
            count=len(fills),
        )
        np.add.at(notional, bars, amounts)
    return pd.Series(notional, index=dates, name="traded_notional")


def headline_metrics(record: RunRecord) -> Metrics:
    """The backtest's `Metrics` of a run record (the same function the engine uses)."""
    dates = record.dates
    fills = ledger_fills(record.fills, dates)
    return compute_metrics(
        record.equity["equity"], record.equity["invested"], traded_notional(fills, dates), fills
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _mean(values: pd.Series) -> float:
    return _finite(float(values.mean())) if len(values) else 0.0


def _day(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def run_metrics(record: RunRecord, trades: pd.DataFrame | None = None) -> dict[str, Any]:
    """The `metrics.json` document of a run (field by field in docs/cli.md); `trades` is
    `round_trip_table(record.fills)` when the caller has it (the tearsheet lists them)."""
    equity = record.equity["equity"]
    headline = headline_metrics(record)
    episodes = drawdown_episodes(equity)
    if trades is None:
        trades = round_trip_table(record.fills)
    closed = trades[trades["status"] == "closed"]
    trip_returns = closed_trip_returns(trades)
    pnl = closed["pnl"].astype("float64")
    commissions = float(record.fills["commission"].astype("float64").sum())
    slippage = float(record.fills["slippage"].astype("float64").sum())
    deepest = episodes.iloc[int(np.argmin(episodes["depth"].to_numpy()))] if len(episodes) else None
    alpha: float | None = None
    beta: float | None = None
    if record.benchmark is not None:
        alpha, beta = alpha_beta(daily_returns(equity), benchmark_returns(record.benchmark))
    values: dict[str, Any] = {
        "schema": METRICS_SCHEMA,
        "tradefolio_version": __version__,
        "kind": record.kind,
        "start": _day(equity.index[0]),
        "end": _day(equity.index[-1]),
        "sessions": len(equity),
        "initial_equity": float(equity.iloc[0]),
        "final_equity": float(equity.iloc[-1]),
    }
    values.update(headline.as_dict())
    values.update(
        {
            "max_drawdown_days": int(deepest["days"]) if deepest is not None else 0,
            "max_drawdown_sessions": int(deepest["sessions"]) if deepest is not None else 0,
            "max_drawdown_start": _day(deepest["start"]) if deepest is not None else None,
            "max_drawdown_trough": _day(deepest["trough"]) if deepest is not None else None,
            "max_drawdown_recovery": _day(deepest["recovery"]) if deepest is not None else None,
            "longest_drawdown_days": int(episodes["days"].max()) if len(episodes) else 0,
            "avg_win": _mean(trip_returns[trip_returns > 0]),
            "avg_loss": _mean(trip_returns[trip_returns < 0]),
            "avg_win_pnl": _mean(pnl[pnl > 0]),
            "avg_loss_pnl": _mean(pnl[pnl < 0]),
            "open_trades": int((trades["status"] == "open").sum()),
            "n_fills": len(record.fills),
            "commissions": commissions,
            "slippage": slippage,
            "costs_paid": commissions + slippage,
            "beta": beta,
            "alpha": alpha,
        }
    )
    if record.rebalances is not None:  # the allocation model's solves (rebalances.csv)
        values["rebalances"] = rebalance_summary(record.rebalances)
    return values


__all__ = [
    "METRICS_SCHEMA",
    "ROLLING_WINDOW",
    "alpha_beta",
    "benchmark_returns",
    "daily_returns",
    "drawdown",
    "drawdown_episodes",
    "headline_metrics",
    "ledger_fills",
    "monthly_returns",
    "rebalance_turnover",
    "rolling_beta",
    "rolling_sharpe",
    "run_metrics",
    "traded_notional",
]
