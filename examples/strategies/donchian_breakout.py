"""Donchian channel breakout with bracket orders (an event-driven tradefolio strategy).

When a close breaks above the highest high of the previous `entry_window` bars, buy with
a bracket: a market entry, a protective stop at the lowest low of the last `exit_window`
bars and a take-profit `target` above the close; the two exits are one-cancels-other and
become active the bar after the entry fills. The strategy sizes its own entries:
`weight` of equity at the close.

    tradefolio backtest --prices bars.csv \\
        --strategy examples/strategies/donchian_breakout.py:DonchianBreakout \\
        --param entry_window=20 --param exit_window=10 --param target=0.15
"""

from __future__ import annotations

import math

import numpy as np

from tradefolio.execution.events import BarContext
from tradefolio.execution.orders import Order, bracket


class DonchianBreakout:
    """Channel breakouts, each entered as a bracket (stop at the channel low, take-profit)."""

    def __init__(
        self,
        entry_window: int = 20,
        exit_window: int = 10,
        target: float = 0.15,
        weight: float = 0.1,
    ) -> None:
        if not 2 <= exit_window <= entry_window or target <= 0 or not 0 < weight <= 1:
            raise ValueError("need 2 <= exit_window <= entry_window, target > 0, 0 < weight <= 1")
        self.entry_window = entry_window
        self.exit_window = exit_window
        self.target = target
        self.weight = weight

    name = "donchian-breakout"

    @property
    def warmup(self) -> int:
        """The channel of the previous `entry_window` bars plus this bar."""
        return self.entry_window + 1

    def on_bar(self, context: BarContext) -> None:
        """Submit a bracket for every fresh breakout of a flat symbol."""
        highs = context.history(self.warmup, "high")[:-1]
        lows = context.history(self.exit_window, "low")
        closes = context.field("close")
        with np.errstate(invalid="ignore"):
            channel = np.max(highs, axis=0)
            floor = np.min(lows, axis=0)
            breakout = closes > channel
        positions = context.positions
        working = {order.symbol for order in context.open_orders}
        for column in np.flatnonzero(breakout):
            symbol = context.symbols[column]
            if symbol in positions or symbol in working:
                continue
            close = float(closes[column])
            quantity = math.floor(self.weight * context.equity / close)
            if quantity < 1 or quantity * close > context.cash:
                continue
            entry = Order(f"{symbol}-{context.bar}-breakout", symbol, "buy", quantity)
            for order in bracket(
                entry,
                stop_price=round(float(floor[column]), 2),
                take_profit_price=round(close * (1 + self.target), 2),
            ):
                context.submit(order)
