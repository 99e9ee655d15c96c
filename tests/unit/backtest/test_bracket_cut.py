"""A bracket entry cut to the cash: its children protect the units bought, not the order's."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tradefolio.backtest.engine import run_backtest
from tradefolio.execution.orders import Order, bracket
from tradefolio.execution.sizing import PortfolioWeightSizer


class _TwoBrackets:
    """Bar 1: a bracket buy of AAA and of BBB, each worth 60% of the cash; records the book."""

    name = "two-brackets"
    warmup = 1

    def __init__(self) -> None:
        self.books: list[tuple[dict[str, int], list[tuple[str, int]]]] = []

    def on_bar(self, context: Any) -> None:
        if context.bar == 1:
            for symbol, price in (("AAA", 100.0), ("BBB", 50.0)):
                units = int(0.6 * context.cash / price)
                entry = Order(f"{symbol}-e", symbol, "buy", units)
                for order in bracket(entry, stop_price=price * 0.5, take_profit_price=price * 2):
                    context.submit(order)
        if context.bar >= 3:
            held = {s: p.quantity for s, p in context.positions.items()}
            self.books.append(
                (held, sorted((o.client_order_id, o.quantity) for o in context.open_orders))
            )


def test_the_children_of_a_cut_entry_are_sized_to_its_fill() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=6), name="date")
    closes = pd.DataFrame({"AAA": [100.0] * 6, "BBB": [50.0] * 6}, index=index)
    strategy = _TwoBrackets()
    result = run_backtest(closes, strategy, PortfolioWeightSizer({}), cash=100_000)
    bought = {f.symbol: f.quantity for f in result.fills if f.side == "buy"}
    assert bought == {"AAA": 600, "BBB": 800}  # BBB cut from 1,200 to what the cash paid
    held, working = strategy.books[0]
    assert held == bought
    for child, quantity in working:  # every child sells exactly the units held
        assert quantity == held[child.split("-")[0]], (child, quantity)
    assert len(working) == 4
