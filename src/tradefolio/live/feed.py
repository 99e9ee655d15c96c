"""Bar feeds for the live trader.

`ReplayFeed` replays a price panel (a prices file, or the bundled sample) bar by bar: the
default, so `tradefolio live --paper` runs offline. A bar's `prices` are the prices its
orders are decided and filled at: the opens when the file has them, else the closes (as
the backtest's reference price); `ranges` carry each symbol's open, high, low and close
(`PricePanel.field`: open = high = low = close where only closes exist) for matching the
orders that rest (stops, limits, trailing stops) as the backtest does. It can start after
a given bar (a resumed session continues after the journal's last processed bar) and
throttle to at most `speed` bars per second. A session over a replay ends by itself after
the last bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.errors import InvalidParameter

#: One symbol's bar: open, high, low, close (exact decimals of the file's numbers).
Range = tuple[Decimal, Decimal, Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its date, the reference price (open, else close) of every symbol that has
    one (exact decimals of the file's numbers), the closes *before* it (what a decision on
    this bar may see) and, where known, every symbol's open/high/low/close (`range_of`)."""

    day: date
    prices: dict[str, Decimal]
    history: pd.DataFrame
    ranges: Mapping[str, Range] = field(default_factory=dict)

    def range_of(self, symbol: str) -> Range:
        """`symbol`'s open, high, low, close on this bar (all its price when not known)."""
        found = self.ranges.get(symbol)
        if found is not None:
            return found
        price = self.prices[symbol]
        return price, price, price, price


def to_decimal(value: float) -> Decimal:
    """The shortest decimal that round-trips `value` (what the price file said)."""
    return Decimal(repr(float(value)))


class ReplayFeed:
    """Replays `prices` (closes: DatetimeIndex of sessions, one column per symbol), or the
    bars of `panel` (its closes are `prices`)."""

    def __init__(
        self,
        prices: pd.DataFrame,
        *,
        speed: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        panel: PricePanel | None = None,
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise InvalidParameter(f"--speed must be > 0 bars per second, got {speed}")
        if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
            raise InvalidParameter("replay prices must have strictly increasing dates")
        self.prices = prices
        self.speed = speed
        self._sleep = sleep
        self._days = [pd.Timestamp(ts).date() for ts in prices.index]
        self._symbols = [str(c) for c in prices.columns]
        self._column_of = {symbol: j for j, symbol in enumerate(self._symbols)}
        self._ranges: tuple[np.ndarray, ...] | None = None
        if panel is not None and any(
            getattr(panel, name) is not None for name in ("open", "high", "low")
        ):
            self._ranges = tuple(
                panel.field(name).to_numpy(dtype="float64")
                for name in ("open", "high", "low", "close")
            )
        self._values = prices.to_numpy(dtype="float64") if self._ranges is None else self._ranges[0]

    @property
    def symbols(self) -> list[str]:
        """Symbols in the file's column order."""
        return list(self._symbols)

    @property
    def last_day(self) -> date | None:
        """The file's last bar."""
        return self._days[-1] if self._days else None

    def _start(self, after: date | None) -> int:
        if after is None:
            return 0
        return int(pd.Index(self._days).searchsorted(after, side="right"))

    def remaining(self, after: date | None = None) -> int:
        """How many bars `bars(after)` yields."""
        return len(self._days) - self._start(after)

    def bars(self, after: date | None = None) -> Iterator[Bar]:
        """Bars strictly after `after` (all when None), in order."""
        start = self._start(after)
        for position in range(start, len(self._days)):
            row = self._values[position]
            prices = {
                symbol: to_decimal(row[column])
                for column, symbol in enumerate(self._symbols)
                if math.isfinite(row[column]) and row[column] > 0
            }
            ranges: dict[str, Range] = {}
            if self._ranges is not None:
                rows = [values[position] for values in self._ranges]
                for symbol in prices:
                    column = self._column_of[symbol]
                    cells = [row[column] for row in rows]
                    if all(math.isfinite(c) and c > 0 for c in cells):
                        o, h, low, c = (to_decimal(cell) for cell in cells)
                        ranges[symbol] = (o, h, low, c)
            yield Bar(self._days[position], prices, self.prices.iloc[:position], ranges)
            if self.speed is not None:
                self._sleep(1.0 / self.speed)


__all__ = ["Bar", "Range", "ReplayFeed", "to_decimal"]
