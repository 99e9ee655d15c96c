"""Metrics against hand-computed values on tiny curves."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.ledger import MICRO, Fill
from tradefolio.backtest.metrics import compute_metrics, round_trips


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2021-01-01", periods=len(values)))


def _fill(symbol: str, side: str, quantity: int, price: float, bar: int = 0) -> Fill:
    return Fill(bar, date(2021, 1, 1), symbol, side, quantity, int(price * MICRO), 0)  # type: ignore[arg-type]


def test_returns_risk_and_drawdown() -> None:
    equity = _series([100.0, 110.0, 99.0, 108.9])
    invested = _series([0.0, 55.0, 99.0, 0.0])
    metrics = compute_metrics(equity, invested, _series([0, 0, 0, 0]), [])
    returns = np.array([0.1, -0.1, 0.1])
    years = 3 / 252
    assert metrics.total_return == pytest.approx(0.089)
    assert metrics.cagr == pytest.approx(1.089 ** (1 / years) - 1)
    assert metrics.volatility == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252))
    assert metrics.sharpe == pytest.approx(
        returns.mean() / np.std(returns, ddof=1) * math.sqrt(252)
    )
    assert metrics.sortino == pytest.approx(returns.mean() / math.sqrt(0.01 / 3) * math.sqrt(252))
    assert metrics.max_drawdown == pytest.approx(99 / 110 - 1)
    assert metrics.calmar == pytest.approx(metrics.cagr / (1 - 99 / 110))
    assert metrics.exposure == pytest.approx((0 + 0.5 + 1 + 0) / 4)


def test_flat_curve_reports_zeros_not_nan() -> None:
    flat = _series([100.0] * 5)
    metrics = compute_metrics(flat, flat * 0, flat * 0, [])
    assert metrics.as_dict() == {
        "total_return": 0.0,
        "cagr": 0.0,
        "volatility": 0.0,
        "sharpe": 0.0,
        "sortino": 0.0,
        "max_drawdown": 0.0,
        "calmar": 0.0,
        "exposure": 0.0,
        "turnover": 0.0,
        "trades": 0,
        "win_rate": 0.0,
    }


def test_round_trips_win_rate_and_turnover() -> None:
    fills = [
        _fill("A", "buy", 10, 10.0),
        _fill("B", "buy", 5, 20.0),
        _fill("A", "sell", 4, 12.0),
        _fill("A", "sell", 6, 11.0),  # A: -100 + 48 + 66 = +14, a win
        _fill("B", "sell", 5, 18.0),  # B: -100 + 90 = -10, a loss
        _fill("C", "buy", 1, 5.0),  # still open: not a trade
    ]
    assert round_trips(fills) == [14 * MICRO, -10 * MICRO]
    equity = _series([1000.0] * 253)
    notional = _series([0.0] * 252 + [sum(f.quantity * f.price_micro / MICRO for f in fills)])
    metrics = compute_metrics(equity, equity * 0, notional, fills)
    assert (metrics.trades, metrics.win_rate) == (2, 0.5)
    assert metrics.turnover == pytest.approx((409 / 2) / 1000)
