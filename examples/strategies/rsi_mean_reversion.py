"""RSI mean reversion with a trailing stop of its own (an event-driven tradefolio strategy).

Buy a symbol when Wilder's RSI closes below `oversold`; sell it when the RSI recovers above
`exit_level`. From the bar after each entry fills, the position is protected by a trailing
stop `trail` below its best close, submitted by the strategy itself. The RSI is kept as
state, updated once per bar (Wilder's smoothing), rather than recomputed from history.

    tradefolio backtest --prices bars.csv --sizer weight --weight 0.1 \\
        --strategy examples/strategies/rsi_mean_reversion.py:RsiMeanReversion \\
        --param window=14 --param oversold=30 --param trail=0.08
"""

from __future__ import annotations

import numpy as np

from tradefolio.execution.events import BarContext
from tradefolio.execution.orders import Order, OrderType


class RsiMeanReversion:
    """Oversold entries, recovery exits, a trailing stop on every position."""

    def __init__(
        self,
        window: int = 14,
        oversold: float = 30.0,
        exit_level: float = 55.0,
        trail: float = 0.08,
    ) -> None:
        if window < 2 or not 0 < oversold < exit_level < 100 or not 0 < trail < 1:
            raise ValueError("need window >= 2, 0 < oversold < exit_level < 100, 0 < trail < 1")
        self.window = window
        self.oversold = oversold
        self.exit_level = exit_level
        self.trail = trail
        self._gain = self._loss = self._last = np.zeros(0)

    name = "rsi-mean-reversion"

    @property
    def warmup(self) -> int:
        """`window` changes seed the averages: window + 1 closes."""
        return self.window + 1

    def _update(self, context: BarContext) -> np.ndarray:
        closes = context.field("close")
        if context.bar == self.warmup - 1:  # first call of a run: seed from the history
            changes = np.diff(context.history(self.warmup), axis=0)
            self._gain = np.nanmean(np.where(changes > 0, changes, 0.0), axis=0)
            self._loss = np.nanmean(np.where(changes < 0, -changes, 0.0), axis=0)
        else:
            change = np.nan_to_num(closes - self._last)
            n = self.window
            self._gain = (self._gain * (n - 1) + np.maximum(change, 0.0)) / n
            self._loss = (self._loss * (n - 1) + np.maximum(-change, 0.0)) / n
        self._last = np.where(np.isnan(closes), self._last if self._last.size else closes, closes)
        with np.errstate(divide="ignore", invalid="ignore"):
            rsi = 100.0 - 100.0 / (1.0 + self._gain / self._loss)
        rsi = np.where(self._loss == 0, np.where(self._gain > 0, 100.0, 50.0), rsi)
        return np.asarray(rsi)

    def on_bar(self, context: BarContext) -> None:
        """Update the RSI, protect new positions, exit recovered ones, enter oversold ones."""
        rsi = self._update(context)
        positions = context.positions
        working = {order.symbol for order in context.open_orders}
        for column, symbol in enumerate(context.symbols):
            position = positions.get(symbol)
            if position is not None:
                if rsi[column] > self.exit_level:
                    context.exit(symbol)  # also cancels its trailing stop
                elif symbol not in working:
                    context.submit(
                        Order(
                            f"{symbol}-{context.bar}-trail",
                            symbol,
                            "sell",
                            position.quantity,
                            OrderType.TRAILING_STOP,
                            trail_percent=self.trail,
                        )
                    )
            elif symbol not in working and rsi[column] < self.oversold:
                context.enter(symbol)
