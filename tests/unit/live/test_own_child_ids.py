"""A strategy's bracket children with ids of its own (not `<entry>-stop`, or with a dash in
the suffix): they follow partial fills (the shares held are covered after every bar) and,
once resized, a cancel by the strategy's ids cancels the resized copies too."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tradefolio.live.journal import Journal
from tradefolio.live.orders import Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.trader import LiveTrader
from unit.live import live_helpers
from unit.live.live_helpers import FixedUnits, flat_bars


class CancelOwnIds(live_helpers.BracketOnce):
    def on_bar(self, context: Any) -> None:
        if context.bar == self.cancel_at and self.child_ids:
            for cid in self.child_ids:
                context.cancel(cid)
        self.cancel_at_saved, self.cancel_at = self.cancel_at, None
        try:
            super().on_bar(context)
        finally:
            self.cancel_at = self.cancel_at_saved


def _source(n: int, **options: Any) -> Any:
    import pandas as pd

    from tradefolio.data.panel import PricePanel
    from tradefolio.live.strategy import EventSource

    days = pd.bdate_range("2024-03-01", periods=n + 1, name="date")
    closes = pd.DataFrame({"AAA": [100.0] * (n + 1)}, index=days)
    return EventSource(CancelOwnIds(**options), PricePanel.from_closes(closes))


def run(tmp_path: Path, child_ids: tuple[str, str] | None) -> list[Decimal]:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=_source(5, cancel_at=2, child_ids=child_ids),
        sizer=FixedUnits(10),
        market=broker,
    )
    open_sells = []
    for bar in flat_bars(5, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        open_sells.append(sum(o.quantity for o in broker.open_orders() if o.side is Side.SELL))
    return open_sells


def test_default_ids_control(tmp_path: Path) -> None:
    s = run(tmp_path, ("e1-stop", "e1-take"))
    assert s[2:] == [0, 0, 0], s


def test_own_ids_cancelled(tmp_path: Path) -> None:
    s = run(tmp_path, ("protect-e1", "target-e1"))
    assert s[2:] == [0, 0, 0], s


def test_dashed_suffix_no_cancel(tmp_path: Path) -> None:
    s = run(tmp_path, ("e1-stop-loss", "e1-take-profit"))
    assert s[2:] == [0, 0, 0], s


def test_dashed_suffix_follows_fills(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=_source(6, cancel_at=None, child_ids=("e1-stop-loss", "e1-take-profit")),
        sizer=FixedUnits(10),
        market=broker,
    )
    seen = []
    for bar in flat_bars(6, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        held = {p.symbol: p.quantity for p in broker.positions()}.get("AAA", Decimal(0))
        stops = sum(
            o.quantity for o in broker.open_orders() if o.side is Side.SELL and o.stop_price
        )
        takes = sum(
            o.quantity for o in broker.open_orders() if o.side is Side.SELL and o.limit_price
        )
        seen.append((held, stops, takes))
    assert all(h == s == t for h, s, t in seen), seen
