"""`PollingFeed`: bars of a real session, polled from the broker's market data.

The replay feed (`tradefolio.live.feed`) walks a price file; a real session has no file. It
asks a `MarketData` source on a fixed cadence for the latest price of every symbol and emits
one `Bar` — the same value `ReplayFeed` yields — per *new trading session*:

* ``day`` is the session the latest prices belong to (the exchange's date of the latest
  bar), so weekends and holidays emit nothing: the latest prices are still those of the
  session already emitted;
* ``prices`` are the latest closes as exact decimals (what the trader sizes and checks
  orders with, and the bar the decision is executed on);
* ``history`` is the daily closes of the ``history_sessions`` sessions *before* ``day``
  (DatetimeIndex of session dates without tz, one column per symbol in the feed's order):
  what a decision on this bar may see, exactly as with the replay.

A session is emitted at most once per feed, and never one at or before ``after`` (the
journal's last processed bar): a restart resumes after it. A bar whose plan was journaled
but not finished (a crash mid-bar) is emitted again while its session lasts, so the trader
re-executes that plan; once the market has moved on it is not (the trader closes it).

Polls are scheduled on an injectable monotonic ``clock`` at ``poll_interval`` seconds
(start + k · interval, so a slow answer does not drift the cadence), waiting with an
injectable ``sleep``: tests run a whole multi-day session instantly. A market-data answer
that was not observed (`MarketDataUnavailable`: timeout, 429, 5xx) is retried at the next
poll; ``max_failures`` such answers in a row end the feed with that error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

import pandas as pd

from tradefolio.errors import BrokerError, InvalidParameter, MarketDataUnavailable
from tradefolio.live.feed import Bar


@dataclass(frozen=True, slots=True)
class LatestCloses:
    """The latest price of each symbol and the trading session they belong to.

    Symbols whose latest price is from an earlier session (halted, not yet traded today)
    are left out, like a replay bar leaves out a symbol without a close.
    """

    session: date
    prices: Mapping[str, Decimal]


@runtime_checkable
class MarketData(Protocol):
    """A source of prices for a real session (the broker's market-data API)."""

    def latest_closes(self, symbols: Sequence[str]) -> LatestCloses | None:
        """The latest prices of `symbols` and their session; None when there are none."""
        ...

    def daily_closes(self, symbols: Sequence[str], before: date, sessions: int) -> pd.DataFrame:
        """Daily closes of the last `sessions` sessions strictly before `before`:
        DatetimeIndex of session dates (no tz, ascending), one float column per symbol in
        `symbols` order (NaN where a symbol did not trade)."""
        ...


class PollingFeed:
    """Bars of new trading sessions from `market`, one per session, polled on a clock."""

    def __init__(
        self,
        market: MarketData,
        symbols: Sequence[str],
        *,
        history_sessions: int,
        poll_interval: float = 60.0,
        max_failures: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not symbols:
            raise InvalidParameter("the polling feed needs at least one symbol")
        if len(set(symbols)) != len(symbols):
            raise InvalidParameter(f"duplicate symbols in the feed: {list(symbols)}")
        if history_sessions < 1:
            raise InvalidParameter(f"history_sessions must be >= 1, got {history_sessions}")
        if not (math.isfinite(poll_interval) and poll_interval > 0):
            raise InvalidParameter(f"--poll-interval must be > 0 seconds, got {poll_interval}")
        if max_failures < 1:
            raise InvalidParameter(f"max_failures must be >= 1, got {max_failures}")
        self._market = market
        self._symbols = [str(s) for s in symbols]
        self.history_sessions = history_sessions
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self._clock = clock
        self._sleep = sleep
        self.polls = 0

    @property
    def symbols(self) -> list[str]:
        """Symbols in the feed's column order."""
        return list(self._symbols)

    def bars(
        self,
        after: date | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        max_bars: int | None = None,
    ) -> Iterator[Bar]:
        """Bars of sessions strictly after `after`, each at most once, as they appear.

        Runs until `stop()` is true (checked before every poll and wait) or `max_bars`
        bars were emitted; a real session otherwise never ends by itself.
        """
        if max_bars is not None and max_bars < 1:
            raise InvalidParameter(f"--sessions must be >= 1, got {max_bars}")
        last = after
        emitted = 0
        failures = 0
        start = self._clock()
        while max_bars is None or emitted < max_bars:
            if stop is not None and stop():
                return
            self.polls += 1
            try:
                latest = self._market.latest_closes(self._symbols)
                bar = None
                if latest is not None and latest.prices and (last is None or latest.session > last):
                    bar = self._bar(latest)
                failures = 0
            except MarketDataUnavailable:
                failures += 1
                if failures >= self.max_failures:
                    raise
                bar = None
            if bar is not None:
                last = bar.day
                emitted += 1
                yield bar
                continue  # poll again at the next tick, after the trader is done
            self._wait(start, stop)

    def _bar(self, latest: LatestCloses) -> Bar:
        prices = {
            s: latest.prices[s]
            for s in self._symbols
            if s in latest.prices and latest.prices[s].is_finite() and latest.prices[s] > 0
        }
        history = self._market.daily_closes(self._symbols, latest.session, self.history_sessions)
        if len(history) and history.index[-1].date() >= latest.session:
            raise BrokerError(
                f"market data returned history up to {history.index[-1].date()} for a bar "
                f"on {latest.session}; history must end before the bar"
            )
        return Bar(latest.session, prices, history)

    def _wait(self, start: float, stop: Callable[[], bool] | None) -> None:
        """Sleep until the next tick of the cadence (start + k · interval)."""
        now = self._clock()
        ticks = math.floor((now - start) / self.poll_interval) + 1
        remaining = start + ticks * self.poll_interval - now
        # Sleep in slices of at most a second so a stop request is seen promptly.
        while remaining > 0:
            if stop is not None and stop():
                return
            step = min(remaining, 1.0)
            self._sleep(step)
            remaining -= step


def closes_frame(
    rows: Mapping[str, Mapping[date, float]], symbols: Sequence[str], before: date, sessions: int
) -> pd.DataFrame:
    """Per-symbol daily closes as the feed's history frame: the last `sessions` session dates
    before `before` (union over symbols), ascending, one column per symbol (NaN gaps)."""
    days = sorted({d for per_symbol in rows.values() for d in per_symbol if d < before})
    days = days[-sessions:]
    # Nanosecond unit, like the panels the data layer reads.
    index = pd.DatetimeIndex([pd.Timestamp(d) for d in days], name="date").as_unit("ns")
    data = {s: [rows.get(s, {}).get(d, math.nan) for d in days] for s in symbols}
    return pd.DataFrame(data, index=index, columns=list(symbols), dtype="float64")


__all__ = ["LatestCloses", "MarketData", "MarketDataUnavailable", "PollingFeed", "closes_frame"]
