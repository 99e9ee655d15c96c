"""Finding 5 of issue 13: the price band has every reference after a restart that it had
before it. The journal keeps the last price of every symbol seen, not only of the held
ones, so an entry an uninterrupted run denies is denied on the first bar after a restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from tradefolio.execution.sizing import SizingRequest
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus
from tradefolio.live.paper import PaperBroker
from tradefolio.live.risk import RiskEngine, RiskLimits
from tradefolio.live.strategy import Action, Intent
from tradefolio.live.trader import LiveTrader

JUMP_BAR = 6  # BBB gaps up 50 % on this bar, the bar its entry is sent on


class EnterOnJump:
    """Holds AAA from the start; enters BBB (never held before) on the gap bar."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        if len(history) == 1:
            return [Intent("AAA", Action.ENTER)]
        if len(history) == JUMP_BAR:
            return [Intent("BBB", Action.ENTER)]
        return []


class TenUnits:
    def size(self, request: SizingRequest) -> int:
        return 10


def _prices() -> pd.DataFrame:
    days = pd.bdate_range("2024-03-01", periods=10, name="date")
    bbb = [20.0] * JUMP_BAR + [30.0] * (10 - JUMP_BAR)
    return pd.DataFrame({"AAA": [50.0] * 10, "BBB": bbb}, index=days)


def _session(path: Path) -> tuple[Journal, PaperBroker, LiveTrader]:
    journal = Journal.open(path)
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000))
    risk = RiskEngine(RiskLimits(price_band_pct=Decimal("0.10")))
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=EnterOnJump(),
        sizer=TenUnits(),
        risk=risk,
        market=broker,
    )
    return journal, broker, trader


def _bbb(journal: Journal) -> list[OrderStatus]:
    return [o.status for o in journal.all_orders() if o.symbol == "BBB"]


@pytest.mark.parametrize("restart_before", [JUMP_BAR, 3])
def test_band_denies_the_gap_entry_after_a_restart(tmp_path: Path, restart_before: int) -> None:
    prices = _prices()
    journal, _, trader = _session(tmp_path / "one.db")
    trader.run(ReplayFeed(prices).bars())
    assert _bbb(journal) == [OrderStatus.DENIED]  # the uninterrupted run
    journal.close()

    path = tmp_path / "two.db"
    journal, _, trader = _session(path)
    trader.run(ReplayFeed(prices.iloc[:restart_before]).bars())
    journal.close()
    journal, broker, trader = _session(path)  # a new process: references from the journal
    trader.reconcile()
    trader.run(ReplayFeed(prices).bars(journal.last_done_bar()))
    assert _bbb(journal) == [OrderStatus.DENIED], "the band had no reference after restart"
    assert {p.symbol for p in broker.positions()} == {"AAA"}
    journal.close()
