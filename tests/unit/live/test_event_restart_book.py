"""A restarted event-driven strategy catches up with the book the journal recorded.

The strategy keeps state of its own (how long it has held each symbol, from the positions
it is shown) and decides from it. A session stopped half-way and resumed with a fresh
strategy instance calls it on every bar it has not seen (catching up, its actions
discarded) with the book the journal recorded at that bar's close — cash, positions with
entry prices, open orders (the protective stops) — not with today's book. The oracle is an
uninterrupted run: the restarted instance is shown, for every bar it catches up on, the
very book the uninterrupted run showed, and the two sessions end with the same orders.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.execution.events import BarContext
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import EventSource
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import WeightSizer, gbm_prices

EXITS = ProtectiveExits(stop_loss=0.02)
Shown = tuple[float, tuple[tuple[str, int, float], ...], tuple[tuple[str, str, int, object], ...]]


class HoldFor:
    """Enter when flat; exit after holding `bars` bars (counted from the positions shown:
    state of its own, which a wrong book at a restart would corrupt)."""

    name = "hold-for"
    warmup = 2

    def __init__(self, bars: int = 4) -> None:
        self.bars = bars
        self.held_for: dict[str, int] = {}
        self.shown: dict[object, Shown] = {}

    def on_bar(self, context: BarContext) -> None:
        positions = context.positions
        self.shown[context.date] = (
            context.cash,
            tuple(sorted((s, p.quantity, p.entry_price) for s, p in positions.items())),
            tuple(
                sorted((o.symbol, o.side, o.quantity, o.stop_price) for o in context.open_orders)
            ),
        )
        for symbol in context.symbols:
            if symbol in positions:
                self.held_for[symbol] = self.held_for.get(symbol, 0) + 1
                if self.held_for[symbol] >= self.bars:
                    context.exit(symbol)
            else:
                self.held_for.pop(symbol, None)
                context.enter(symbol)


def _trader(path: Path, strategy: HoldFor, prices: pd.DataFrame) -> tuple[Journal, LiveTrader]:
    journal = Journal.open(path)
    journal.initialise(Decimal(100_000), {"test": True})
    broker = PaperBroker(journal.connection, Decimal(100_000))
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=EventSource(strategy, PricePanel.from_closes(prices)),  # type: ignore[arg-type]
        sizer=WeightSizer(0.2),
        market=broker,
        exits=EXITS,
    )
    return journal, trader


def _orders(journal: Journal) -> list[tuple[object, ...]]:
    return [
        (o.bar, o.symbol, o.side, o.type, o.quantity, o.stop_price, o.status, o.filled_quantity)
        for o in journal.all_orders()
    ]


def test_a_restarted_strategy_is_shown_the_books_of_the_bars_it_catches_up_on(
    tmp_path: Path,
) -> None:
    prices = gbm_prices(3, 60, seed=8)
    whole = HoldFor()
    journal, trader = _trader(tmp_path / "whole.db", whole, prices)
    trader.run(ReplayFeed(prices).bars())
    expected = _orders(journal)
    journal.close()
    assert any(o[3].value == "stop" and o[6].value == "filled" for o in expected)

    first = HoldFor()
    journal, trader = _trader(tmp_path / "halves.db", first, prices)
    trader.run(list(ReplayFeed(prices).bars())[:30])
    journal.close()
    again = HoldFor()  # a new process: the strategy's state is gone
    journal, trader = _trader(tmp_path / "halves.db", again, prices)
    trader.run(ReplayFeed(prices).bars(journal.last_done_bar()))
    caught_up = [day for day in again.shown if day in first.shown]
    assert len(caught_up) >= 25
    assert {d: again.shown[d] for d in caught_up} == {d: whole.shown[d] for d in caught_up}
    books = {again.shown[d] for d in caught_up}
    assert any(book[1] for book in books) and any(book[2] for book in books)  # held, stops
    assert len(books) > 5  # the books differ from bar to bar: not today's book repeated
    assert again.shown == whole.shown
    assert _orders(journal) == expected
    journal.close()
