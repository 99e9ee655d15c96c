"""Re-enter after a stop-out, but only after a cooling-off period (a stateful rule).

Hold a symbol while its close is above its `sma`-day average. Entries go through the run's
sizer and get the run's protective exits (the risk sizer's stop by default, or
`--stop-loss`). When a stop takes a position out, the strategy notices (it held the symbol
at the last close, did not ask to sell, and is flat now) and waits `cooldown` bars before
it may enter that symbol again, however strong the trend looks.

    tradefolio backtest --prices bars.csv --stop-loss 0.05 \\
        --strategy examples/strategies/reentry.py:ReEntryAfterStop --param cooldown=5
"""

from __future__ import annotations

import numpy as np

from tradefolio.execution.events import BarContext


class ReEntryAfterStop:
    """Trend following above an SMA with a cooling-off period after each stop-out."""

    def __init__(self, sma: int = 50, cooldown: int = 5) -> None:
        if sma < 2 or cooldown < 0:
            raise ValueError("need sma >= 2 and cooldown >= 0")
        self.sma = sma
        self.cooldown = cooldown
        self._held: set[str] = set()
        self._exiting: set[str] = set()
        self.stopped_out: dict[str, list[int]] = {}

    name = "re-entry-after-stop"

    @property
    def warmup(self) -> int:
        """The SMA's window."""
        return self.sma

    def on_bar(self, context: BarContext) -> None:
        """Exit below the SMA; after a stop-out wait `cooldown` bars; enter above the SMA."""
        if context.bar == self.warmup - 1:  # a new run
            self._held, self._exiting, self.stopped_out = set(), set(), {}
        average = np.mean(context.history(self.sma), axis=0)
        closes = context.field("close")
        held = set(context.positions)
        working = {order.symbol for order in context.open_orders if order.side == "buy"}
        for symbol in self._held - held - self._exiting:
            self.stopped_out.setdefault(symbol, []).append(context.bar)
        self._exiting = set()
        for column, symbol in enumerate(context.symbols):
            above = bool(closes[column] > average[column])
            if symbol in held:
                if not above:
                    context.exit(symbol)
                    self._exiting.add(symbol)
                continue
            last_stop = self.stopped_out.get(symbol, [-(10**9)])[-1]
            if above and symbol not in working and context.bar - last_stop >= self.cooldown:
                context.enter(symbol)
        self._held = held
