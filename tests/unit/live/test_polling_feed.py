"""`PollingFeed`: one bar per new session, never twice, resumable; equal to the replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.live.feed import Bar, ReplayFeed, to_decimal
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus
from tradefolio.live.polling_feed import (
    LatestCloses,
    MarketData,
    MarketDataUnavailable,
    PollingFeed,
)
from tradefolio.live.trader import Checkpoint
from unit.live.live_helpers import gbm_prices, open_session

SESSION_SECONDS = 1000.0  # a new session appears every this many fake seconds


class FakeClock:
    """Monotonic time that only moves when the feed sleeps: tests run instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


class FrameMarket:
    """Market data over a price frame: session i is the latest at fake time i · 1000 s
    (`first` shifts the start); `failures` makes the next requests unanswered."""

    def __init__(self, prices: pd.DataFrame, clock: FakeClock, first: int = 0) -> None:
        self.prices = prices
        self.clock = clock
        self.first = first
        self.failures = 0
        self.latest_calls = 0

    def _current(self) -> int:
        return min(self.first + int(self.clock.now // SESSION_SECONDS), len(self.prices) - 1)

    def latest_closes(self, symbols: Sequence[str]) -> LatestCloses | None:
        self.latest_calls += 1
        if self.failures:
            self.failures -= 1
            raise MarketDataUnavailable("HTTP 503 (injected)")
        row = self.prices.iloc[self._current()]
        day = pd.Timestamp(self.prices.index[self._current()]).date()
        return LatestCloses(day, {s: to_decimal(row[s]) for s in symbols})

    def daily_closes(self, symbols: Sequence[str], before: date, sessions: int) -> pd.DataFrame:
        return self.prices.loc[self.prices.index < pd.Timestamp(before), list(symbols)].iloc[
            -sessions:
        ]


def _feed(prices: pd.DataFrame, clock: FakeClock, market: FrameMarket, **kw: object) -> PollingFeed:
    options: dict[str, object] = {"history_sessions": 10_000, "poll_interval": 60.0}
    options.update(kw)
    return PollingFeed(
        market,
        list(prices.columns),
        clock=clock,
        sleep=clock.sleep,
        **options,  # type: ignore[arg-type]
    )


def _same(a: Bar, b: Bar) -> None:
    assert a.day == b.day and a.prices == b.prices
    pd.testing.assert_frame_equal(a.history, b.history, check_freq=False)


def test_bars_equal_the_replay_one_per_session() -> None:
    prices = gbm_prices(3, 30, seed=2)
    clock = FakeClock()
    market = FrameMarket(prices, clock)
    assert isinstance(market, MarketData)
    feed = _feed(prices, clock, market)
    polled = list(feed.bars(max_bars=30))
    replayed = list(ReplayFeed(prices).bars())
    assert [b.day for b in polled] == [b.day for b in replayed]  # each session exactly once
    for got, want in zip(polled, replayed, strict=True):
        _same(got, want)
    # ~16 polls a session (60 s cadence, a session every 1000 s): the repeats emitted nothing
    assert market.latest_calls > 10 * len(polled)
    assert all(s <= 60.0 for s in clock.sleeps)


def test_history_window_and_resume_after() -> None:
    prices = gbm_prices(2, 40, seed=5)
    clock = FakeClock()
    market = FrameMarket(prices, clock, first=20)
    feed = _feed(prices, clock, market, history_sessions=7)
    after = prices.index[24].date()
    bars = list(feed.bars(after=after, max_bars=3))
    assert [b.day for b in bars] == [d.date() for d in prices.index[25:28]]
    first = bars[0]
    assert list(first.history.index) == list(prices.index[18:25])
    assert list(first.history.columns) == ["S0", "S1"]


def test_stop_and_validation() -> None:
    prices = gbm_prices(2, 10, seed=1)
    clock = FakeClock()
    market = FrameMarket(prices, clock)
    feed = _feed(prices, clock, market)
    stop_at = 3 * SESSION_SECONDS + 1

    bars = list(feed.bars(stop=lambda: clock.now >= stop_at))
    assert [b.day for b in bars] == [d.date() for d in prices.index[:4]]
    assert clock.now < stop_at + 2  # the wait noticed the stop within a second
    with pytest.raises(InvalidParameter, match="poll-interval"):
        _feed(prices, clock, market, poll_interval=0.0)
    with pytest.raises(InvalidParameter, match="history_sessions"):
        _feed(prices, clock, market, history_sessions=0)
    with pytest.raises(InvalidParameter, match="duplicate"):
        PollingFeed(market, ["S0", "S0"], history_sessions=5)


def test_unanswered_polls_are_retried_then_give_up() -> None:
    prices = gbm_prices(2, 10, seed=1)
    clock = FakeClock()
    market = FrameMarket(prices, clock)
    market.failures = 4
    feed = _feed(prices, clock, market, max_failures=5)
    bars = list(feed.bars(max_bars=2))
    assert [b.day for b in bars] == [d.date() for d in prices.index[:2]]
    market.failures = 5
    with pytest.raises(MarketDataUnavailable):
        list(feed.bars(after=bars[-1].day, max_bars=1))


def _summary(journal: Journal) -> tuple[object, ...]:
    orders = [(o.bar, o.symbol, o.side, o.quantity, o.status) for o in journal.all_orders()]
    fills = [(f.symbol, f.side, f.quantity, f.price, f.commission) for f in journal.fills()]
    positions = {s: p.quantity for s, p in journal.positions().items()}
    return orders, fills, positions, journal.cash(), journal.last_done_bar()


def test_polled_session_with_restarts_equals_the_replay(tmp_path: Path) -> None:
    prices = gbm_prices(4, 120, seed=3)
    journal, _, trader = open_session(tmp_path / "replay.db")
    trader.run(ReplayFeed(prices).bars())
    expected = _summary(journal)
    assert len(expected[1]) > 10
    journal.close()

    clock = FakeClock()
    market = FrameMarket(prices, clock)
    # A window of slow + margin sessions decides like the whole history.
    for chunk in (30, 45, 45):
        journal, _, trader = open_session(tmp_path / "polled.db")
        trader.reconcile()
        feed = _feed(prices, clock, market, history_sessions=100)
        trader.run(feed.bars(journal.last_done_bar(), max_bars=chunk))
        journal.close()
    journal, _, _ = open_session(tmp_path / "polled.db")
    assert _summary(journal) == expected
    journal.close()


def test_restart_on_a_later_session_closes_the_unsent_plan(tmp_path: Path) -> None:
    """A crash after a bar's plan was journaled, restarted when the market has moved on:
    the plan's orders are never sent late, the bar is closed, trading continues."""
    prices = gbm_prices(3, 90, seed=11)
    clock = FakeClock()
    market = FrameMarket(prices, clock)

    class Crash(Exception):
        pass

    def crash_after_plan(name: str) -> None:
        if name == "after_plan" and journal.orders_for_bar(current[0]):
            raise Crash

    current: list[date] = [date.min]
    checkpoint: Checkpoint = crash_after_plan
    journal, broker, trader = open_session(tmp_path / "s.db", checkpoint=checkpoint)
    feed = _feed(prices, clock, market, history_sessions=100)
    with pytest.raises(Crash):
        for bar in feed.bars():
            current[0] = bar.day
            trader.process_bar(bar)
    stale = current[0]
    planned = journal.orders_for_bar(stale)
    assert planned and all(o.status is OrderStatus.PENDING_SUBMIT for o in planned)
    journal.close()

    clock.now += 3 * SESSION_SECONDS  # down for three sessions
    journal, broker, trader = open_session(tmp_path / "s.db")
    assert journal.open_plan_bar() == stale
    trader.reconcile()
    bars = list(_feed(prices, clock, market, history_sessions=100).bars(stale, max_bars=1))
    assert bars[0].day > stale
    trader.run(bars)
    assert journal.open_plan_bar() is None and journal.last_done_bar() == bars[0].day
    assert all(o.status is OrderStatus.CANCELED for o in journal.orders_for_bar(stale))
    sent = {o.client_order_id for o in broker.all_orders()}
    assert not sent & {o.client_order_id for o in planned}
    assert trader.reconcile().ok
    journal.close()


def test_prices_are_exact_decimals() -> None:
    prices = gbm_prices(1, 3, seed=1)
    clock = FakeClock()
    bar = next(_feed(prices, clock, FrameMarket(prices, clock)).bars())
    assert bar.prices == {"S0": Decimal(repr(float(prices.iloc[0, 0])))}
