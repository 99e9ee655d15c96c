"""Finding 3 of issue 13: every submit reads the trading state at the moment it is sent.
A halt journaled after a bar's plan — by `live halt` while the trader was down, or by
another process between planning and sending — stops the plan's orders (REDUCING lets
only the orders through that shrink a position): paper broker and fake Alpaca alike."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from tradefolio.execution.sizing import SizingRequest
from tradefolio.live.broker import Broker
from tradefolio.live.feed import Bar
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus, Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import Action, Intent
from tradefolio.live.trader import LiveTrader, MarketSink
from unit.live.live_helpers import fake_broker

CASH = Decimal(10_000)
PRICES = {"AAA": Decimal(50), "BBB": Decimal(20)}


class AaaThenBbb:
    """Bar 1: buy AAA. Bar 2: sell AAA and buy BBB."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        if len(history) == 1:
            return [Intent("AAA", Action.ENTER)]
        if len(history) == 2:
            return [Intent("AAA", Action.EXIT), Intent("BBB", Action.ENTER)]
        return []


class TenUnits:
    def size(self, request: SizingRequest) -> int:
        return 10


class Crash(Exception):
    pass


def _bars() -> list[Bar]:
    days = pd.bdate_range("2024-03-01", periods=3, name="date")
    closes = pd.DataFrame({s: [float(p)] * 3 for s, p in PRICES.items()}, index=days)
    return [Bar(days[i].date(), dict(PRICES), closes.iloc[:i]) for i in (1, 2)]


def _paper(path: Path) -> tuple[Journal, PaperBroker, LiveTrader]:
    journal = Journal.open(path)
    journal.initialise(CASH, {})
    broker = PaperBroker(journal.connection, CASH)
    return journal, broker, _trader(journal, broker, broker)


def _trader(journal: Journal, broker: Broker, market: MarketSink | None) -> LiveTrader:
    return LiveTrader(
        journal=journal, broker=broker, strategy=AaaThenBbb(), sizer=TenUnits(), market=market
    )


def _set_state(path: Path, state: str) -> None:
    """What `tradefolio live halt [--reducing]` does: another connection, no writer lock."""
    other = Journal.open(path, writer=False)
    other.set_trading_state(state, "operator", "cli")
    other.close()


def _crash_after_plan(name: str) -> None:
    if name == "after_plan":
        raise Crash


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("HALTED", {"AAA": OrderStatus.DENIED, "BBB": OrderStatus.DENIED}),
        ("REDUCING", {"AAA": OrderStatus.FILLED, "BBB": OrderStatus.DENIED}),
    ],
)
def test_halt_while_down_stops_the_resumed_plan(
    tmp_path: Path, state: str, expected: dict[str, OrderStatus]
) -> None:
    path = tmp_path / "j.db"
    journal, broker, trader = _paper(path)
    first, second = _bars()
    trader.process_bar(first)  # AAA bought
    trader._checkpoint = _crash_after_plan
    with pytest.raises(Crash):
        trader.process_bar(second)  # planned (sell AAA, buy BBB), nothing sent
    journal.close()
    _set_state(path, state)  # the operator halts while the trader is down
    journal, broker, trader = _paper(path)
    trader.reconcile()
    assert journal.open_plan_bar() == second.day
    trader.process_bar(second)  # resumes the journaled plan
    got = {o.symbol: o.status for o in journal.orders_for_bar(second.day)}
    assert got == expected
    sent = [(o.symbol, o.side) for o in broker.all_orders()]
    assert ("BBB", Side.BUY) not in sent
    assert (("AAA", Side.SELL) in sent) is (state == "REDUCING")
    assert journal.cash() == broker.account().cash
    journal.close()


def test_halt_between_plan_and_send_in_a_running_trader(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    journal, broker, trader = _paper(path)
    first, _ = _bars()

    def halt_now(name: str) -> None:
        if name == "after_plan":
            _set_state(path, "HALTED")

    trader._checkpoint = halt_now
    trader.process_bar(first)
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.DENIED and broker.all_orders() == []
    journal.close()


pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import FakeAlpaca  # noqa: E402


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash=CASH, prices=PRICES) as server:
        yield server


def test_alpaca_resumed_plan_after_a_halt_sends_nothing(fake: FakeAlpaca, tmp_path: Path) -> None:
    path = tmp_path / "a.db"

    def session() -> tuple[Journal, LiveTrader]:
        journal = Journal.open(path)
        journal.initialise(CASH, {})
        broker = fake_broker(fake, timeout=2.0)
        return journal, _trader(journal, broker, fake)

    journal, trader = session()
    first, _ = _bars()
    trader._checkpoint = _crash_after_plan
    with pytest.raises(Crash):
        trader.process_bar(first)
    journal.close()
    _set_state(path, "HALTED")
    journal, trader = session()
    trader.reconcile()
    trader.process_bar(first)
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.DENIED
    assert fake.client_ids() == [] and sum(fake.post_attempts.values()) == 0
    journal.close()
