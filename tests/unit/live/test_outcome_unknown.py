"""Every path of `LiveTrader._execute` where a submit's outcome is not known: resolved by a
lookup by client order id, never by a second submit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from tradefolio.execution.sizing import SizingRequest
from tradefolio.live.broker import DuplicateClientOrderId, SubmitOutcomeUnknown
from tradefolio.live.feed import Bar
from tradefolio.live.journal import Journal
from tradefolio.live.orders import BrokerOrder, OrderRequest, OrderStatus
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import Action, Intent
from tradefolio.live.trader import LiveTrader

DAY1, DAY2 = date(2024, 3, 4), date(2024, 3, 5)
PRICE = Decimal(50)


class BuyOnce:
    """Enters AAA on the first bar with history."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        return [Intent("AAA", Action.ENTER)] if len(history) == 1 else []


class TenUnits:
    def size(self, request: SizingRequest) -> int:
        return 10


class ScriptedBroker:
    """A `PaperBroker` whose submit and lookups misbehave as scripted.

    `submit_mode`: "ok", "placed_then_lost" (placed, answer lost), "lost" (never placed,
    answer lost) or "duplicate" (placed earlier; the broker answers duplicate id).
    `lookup_failures`: how many lookups raise SubmitOutcomeUnknown before answering.
    """

    def __init__(
        self,
        inner: PaperBroker,
        submit_mode: str,
        lookup_failures: int = 0,
        empty_lookups: int = 0,
    ) -> None:
        self.inner = inner
        self.submit_mode = submit_mode
        self.lookup_failures = lookup_failures
        self.empty_lookups = empty_lookups
        self.submits: list[str] = []
        self.lookups = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def submit(self, order: OrderRequest) -> BrokerOrder:
        self.submits.append(order.client_order_id)
        mode, self.submit_mode = self.submit_mode, "ok"
        if mode == "lost":
            raise SubmitOutcomeUnknown("read timeout")
        if mode in ("placed_then_lost", "duplicate"):
            self.inner.submit(order)
            if mode == "duplicate":
                raise DuplicateClientOrderId("client_order_id must be unique")
            raise SubmitOutcomeUnknown("HTTP 504")
        return self.inner.submit(order)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        self.lookups += 1
        if self.lookup_failures:
            self.lookup_failures -= 1
            raise SubmitOutcomeUnknown("HTTP 503")
        if self.empty_lookups:  # the broker's lookup lags its own order book
            self.empty_lookups -= 1
            return None
        return self.inner.get_order(client_order_id)


def _bars() -> list[Bar]:
    history1 = pd.DataFrame({"AAA": [49.0]}, index=pd.DatetimeIndex(["2024-03-01"], name="date"))
    history2 = pd.DataFrame(
        {"AAA": [49.0, 50.0]}, index=pd.DatetimeIndex(["2024-03-01", "2024-03-04"], name="date")
    )
    return [Bar(DAY1, {"AAA": PRICE}, history1), Bar(DAY2, {"AAA": PRICE}, history2)]


def _session(
    path: Path, mode: str, lookup_failures: int = 0
) -> tuple[Journal, ScriptedBroker, PaperBroker, LiveTrader]:
    journal = Journal.open(path)
    journal.initialise(Decimal(10_000), {})
    paper = PaperBroker(journal.connection, Decimal(10_000))
    broker = ScriptedBroker(paper, mode, lookup_failures)
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=BuyOnce(), sizer=TenUnits(), market=paper
    )
    return journal, broker, paper, trader


def _statuses(journal: Journal) -> list[str]:
    rows = journal.connection.execute("SELECT to_status FROM order_events ORDER BY id")
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("mode", "lookup_failures", "day1_status", "final_status", "placed"),
    [
        # answer lost, the lookup finds it: applied at once
        ("placed_then_lost", 0, OrderStatus.FILLED, OrderStatus.FILLED, True),
        # answer lost, the lookup fails too: UNKNOWN; the next bar's lookup finds it
        ("placed_then_lost", 1, OrderStatus.UNKNOWN, OrderStatus.FILLED, True),
        # never placed, answer lost: UNKNOWN, not resent; the next bar closes it
        ("lost", 0, OrderStatus.UNKNOWN, OrderStatus.CANCELED, False),
        # duplicate id: looked up and applied
        ("duplicate", 0, OrderStatus.FILLED, OrderStatus.FILLED, True),
        # duplicate id, the lookup fails: UNKNOWN (was an uncaught error), found next bar
        ("duplicate", 1, OrderStatus.UNKNOWN, OrderStatus.FILLED, True),
    ],
)
def test_outcome_unknown_is_resolved_by_lookup_never_resent(
    tmp_path: Path,
    mode: str,
    lookup_failures: int,
    day1_status: OrderStatus,
    final_status: OrderStatus,
    placed: bool,
) -> None:
    journal, broker, paper, trader = _session(tmp_path / "j.db", mode, lookup_failures)
    first, second = _bars()
    trader.process_bar(first)
    (order,) = journal.all_orders()
    assert order.status is day1_status
    trader.process_bar(second)
    (order,) = journal.all_orders()
    assert order.status is final_status
    assert broker.submits == [order.client_order_id]  # one submit, ever
    at_broker = [o.client_order_id for o in paper.all_orders()]
    assert at_broker == ([order.client_order_id] if placed else [])
    assert journal.cash() == paper.account().cash
    assert (order.filled_quantity == 10) is placed
    if day1_status is OrderStatus.UNKNOWN:
        assert "unknown" in _statuses(journal)
    journal.close()


@pytest.mark.parametrize(
    ("placed_before_crash", "lookup_failures", "submits", "status"),
    [
        (True, 0, 0, OrderStatus.FILLED),  # it reached the broker: applied, not resent
        (False, 0, 1, OrderStatus.FILLED),  # it never did: sent once, now
        (False, 1, 0, OrderStatus.PENDING_SUBMIT),  # lookup fails: nothing sent
    ],
)
def test_resumed_plan_looks_up_before_sending(
    tmp_path: Path,
    placed_before_crash: bool,
    lookup_failures: int,
    submits: int,
    status: OrderStatus,
) -> None:
    path = tmp_path / "r.db"
    journal, broker, paper, trader = _session(path, "ok")
    first, _ = _bars()

    class Crash(Exception):
        pass

    def crash(name: str) -> None:
        # Placed: the broker's batch committed, the journal has not recorded the outcome.
        # Not placed: the crash comes inside the batch, before the order is submitted.
        if name == ("after_submit" if placed_before_crash else "before_submit"):
            raise Crash

    trader._checkpoint = crash
    with pytest.raises(Crash):
        trader.process_bar(first)
    journal.close()

    journal, broker, paper, trader = _session(path, "ok", lookup_failures)
    assert journal.open_plan_bar() == DAY1
    trader.process_bar(first)  # the feed emits the open bar again
    (order,) = journal.all_orders()
    assert len(broker.submits) == submits and order.status is status
    assert len(paper.all_orders()) == (0 if status is OrderStatus.PENDING_SUBMIT else 1)
    journal.close()


def test_an_order_the_broker_said_it_holds_is_never_closed_on_an_empty_lookup(
    tmp_path: Path,
) -> None:
    """Duplicate id, then lookups that come back empty (a lagging order book): the order
    stays UNKNOWN, is never cancelled as "never reached the broker" nor resent, and its
    fill is recorded once a lookup finds it."""
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    paper = PaperBroker(journal.connection, Decimal(10_000))
    broker = ScriptedBroker(paper, "duplicate", empty_lookups=2)
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=BuyOnce(), sizer=TenUnits(), market=paper
    )
    first, second = _bars()
    history3 = pd.DataFrame(
        {"AAA": [49.0, 50.0, 50.0]},
        index=pd.DatetimeIndex(["2024-03-01", "2024-03-04", "2024-03-05"], name="date"),
    )
    third = Bar(date(2024, 3, 6), {"AAA": PRICE}, history3)
    trader.process_bar(first)
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.UNKNOWN
    trader.process_bar(second)  # the second empty lookup
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.UNKNOWN, "closed although the broker holds it"
    trader.process_bar(third)  # the lookup finds it
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 10
    assert broker.submits == [order.client_order_id]
    assert journal.cash() == paper.account().cash
    journal.close()
