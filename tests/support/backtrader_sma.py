"""backtrader pieces shared by the dev-only oracles (backtrader is imported by the caller)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def sma_crossovers(bt: Any, datas: list[Any], fast: int, slow: int) -> list[Any]:
    """One `CrossOver(SMA_fast, SMA_slow)` indicator of the closes per data feed."""
    return [
        bt.ind.CrossOver(bt.ind.SMA(d.close, period=fast), bt.ind.SMA(d.close, period=slow))
        for d in datas
    ]


def completed_fill(bt: Any, order: Any) -> tuple[str, str, str, int, Decimal]:
    """A completed order as (date, symbol, side, quantity, price)."""
    return (
        bt.num2date(order.executed.dt).date().isoformat(),
        order.data._name,
        "buy" if order.isbuy() else "sell",
        abs(int(order.executed.size)),
        Decimal(repr(order.executed.price)),
    )


def cash_and_equity_at_open(strategy: Any) -> tuple[float, float]:
    """In `next_open`: the cash, and cash + holdings at the open (`getvalue()` is stale)."""
    free = float(strategy.broker.getcash())
    return free, free + sum(strategy.getposition(d).size * d.open[0] for d in strategy.datas)
