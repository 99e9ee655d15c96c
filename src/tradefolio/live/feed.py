"""Bar feeds for the live trader.

`ReplayFeed` replays a close-price panel (a prices file, or the bundled sample) bar by bar:
the default, so `tradefolio live --paper` runs offline. It can start after a given bar (a
resumed session continues after the journal's last processed bar) and throttle to at most
`speed` bars per second. A session over a replay ends by itself after the last bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pandas as pd

from tradefolio.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its date, the closes of every symbol that has one (exact decimals of the
    file's numbers) and the history *before* it (what a decision on this bar may see)."""

    day: date
    prices: dict[str, Decimal]
    history: pd.DataFrame


def to_decimal(value: float) -> Decimal:
    """The shortest decimal that round-trips `value` (what the price file said)."""
    return Decimal(repr(float(value)))


class ReplayFeed:
    """Replays `prices` (DatetimeIndex of sessions, one column per symbol)."""

    def __init__(
        self,
        prices: pd.DataFrame,
        *,
        speed: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise InvalidParameter(f"--speed must be > 0 bars per second, got {speed}")
        if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
            raise InvalidParameter("replay prices must have strictly increasing dates")
        self.prices = prices
        self.speed = speed
        self._sleep = sleep
        self._days = [pd.Timestamp(ts).date() for ts in prices.index]
        self._values = prices.to_numpy(dtype="float64")
        self._symbols = [str(c) for c in prices.columns]

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
            yield Bar(self._days[position], prices, self.prices.iloc[:position])
            if self.speed is not None:
                self._sleep(1.0 / self.speed)


__all__ = ["Bar", "ReplayFeed", "to_decimal"]
