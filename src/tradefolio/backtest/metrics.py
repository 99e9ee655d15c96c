"""Performance metrics of a backtest (float64 analytics from the equity curve and fills).

With daily equity `V_0..V_T`, simple returns `r_t = V_t / V_{t-1} - 1`, `A = 252` sessions
a year and `Y = T / A` years:

- total return      `V_T / V_0 - 1`
- CAGR              `(V_T / V_0)^(1/Y) - 1`
- volatility        `std(r, ddof=1) · sqrt(A)`
- Sharpe            `mean(r) / std(r, ddof=1) · sqrt(A)`  (risk-free rate 0)
- Sortino           `mean(r) / sqrt(mean(min(r, 0)^2)) · sqrt(A)`
- max drawdown      `min_t (V_t / max_{s<=t} V_s - 1)`  (a number <= 0)
- Calmar            `CAGR / |max drawdown|`
- exposure          `mean_t(invested_t / V_t)`: the average fraction of equity in positions
- turnover          `(Σ |traded notional| / 2) / mean(V) / Y`: one-way turnover per year
- trades            closed round trips (flat -> long -> flat) per symbol
- win rate          share of closed round trips whose cash flows (costs included) sum > 0

A ratio whose denominator is 0 is reported as 0 (no risk taken, nothing to scale), so the
JSON output never holds NaN or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from tradefolio.backtest.ledger import Fill
from tradefolio.backtest.metric_registry import METRICS
from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR


@dataclass(frozen=True, slots=True)
class Metrics:
    """Summary statistics of one run (see the module docstring for each formula).

    The fields are `metric_registry.HEADLINE_METRICS`, in that order (labels, formats and
    directions live there).
    """

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    exposure: float
    turnover: float
    trades: int
    win_rate: float

    def as_dict(self) -> dict[str, float | int]:
        """Field name -> value, for JSON output."""
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or not math.isfinite(denominator):
        return 0.0
    value = numerator / denominator
    return value if math.isfinite(value) else 0.0


def round_trips(fills: Iterable[Fill]) -> list[int]:
    """Net cash flow (micro-units, costs included) of each closed flat->long->flat trip."""
    open_flow: dict[str, int] = {}
    held: dict[str, int] = {}
    closed: list[int] = []
    for fill in fills:
        symbol = fill.symbol
        open_flow[symbol] = open_flow.get(symbol, 0) + fill.cash_change_micro
        quantity = held.get(symbol, 0) + (fill.quantity if fill.side == "buy" else -fill.quantity)
        held[symbol] = quantity
        if quantity == 0:
            closed.append(open_flow.pop(symbol))
    return closed


def compute_metrics(
    equity: pd.Series,
    invested: pd.Series,
    traded_notional: pd.Series,
    fills: Iterable[Fill],
) -> Metrics:
    """All metrics of a run from its daily equity, invested value, traded notional and fills."""
    values = equity.to_numpy(dtype=np.float64)
    sessions = len(values) - 1
    years = sessions / TRADING_DAYS_PER_YEAR
    start, end = float(values[0]), float(values[-1])
    total_return = _ratio(end, start) - 1.0 if start > 0 else 0.0
    cagr = (end / start) ** (1.0 / years) - 1.0 if years > 0 and start > 0 and end > 0 else 0.0
    returns = values[1:] / values[:-1] - 1.0 if sessions > 0 else np.zeros(0)
    spread = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    mean = float(np.mean(returns)) if len(returns) else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if len(returns) else 0.0
    annual = METRICS["sharpe"].annual_scale
    drawdown = float(np.min(values / np.maximum.accumulate(values) - 1.0))
    trips = round_trips(fills)
    wins = sum(1 for flow in trips if flow > 0)
    gross = float(np.sum(traded_notional.to_numpy(dtype=np.float64)))
    return Metrics(
        total_return=total_return,
        cagr=cagr,
        volatility=spread * annual,
        sharpe=_ratio(mean, spread) * annual,
        sortino=_ratio(mean, downside) * annual,
        max_drawdown=drawdown,
        calmar=_ratio(cagr, abs(drawdown)),
        exposure=float(np.mean(invested.to_numpy(dtype=np.float64) / values)),
        turnover=_ratio(_ratio(gross / 2.0, float(np.mean(values))), years),
        trades=len(trips),
        win_rate=_ratio(wins, len(trips)),
    )


__all__ = ["TRADING_DAYS_PER_YEAR", "Metrics", "compute_metrics", "round_trips"]
