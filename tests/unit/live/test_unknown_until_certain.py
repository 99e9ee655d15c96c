"""Finding 2 of issue 13: an order whose submit outcome is unknown stays UNKNOWN (counted
as working exposure, never replaced) until the venue answers with certainty — found by
client order id, or absent from a lookup *and* an order listing after the venue's
acceptance window. Through the loopback fake Alpaca, which can process a POST late."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import SUBMIT, FakeAlpaca
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import fake_session, flat_bars

TIMEOUT = 0.3
PRICE = Decimal(50)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash=Decimal(10_000), prices={"AAA": PRICE}) as server:
        yield server


def _session(fake: FakeAlpaca, path: Path, **options: object) -> tuple[Journal, LiveTrader]:
    return fake_session(fake, path, timeout=TIMEOUT, broker_options=options)


def _status(journal: Journal) -> OrderStatus:
    (order,) = journal.all_orders()
    return order.status


def test_a_post_processed_late_is_recorded_not_dropped(fake: FakeAlpaca, tmp_path: Path) -> None:
    """The finding: the POST times out, the venue processes it later. The order stays
    UNKNOWN through an empty lookup, no second buy goes out, and its fill is recorded."""
    journal, trader = _session(fake, tmp_path / "late.db")
    first, second, third = flat_bars(3, {"AAA": PRICE})
    fake.inject(SUBMIT, delay=6 * TIMEOUT)  # acted upon after the client gave up
    trader.process_bar(first)
    assert _status(journal) is OrderStatus.UNKNOWN
    trader.process_bar(second)  # the venue is still processing: the lookup is empty
    assert _status(journal) is OrderStatus.UNKNOWN, "closed although the venue may act"
    fake.wait_idle()  # ... and now it has placed and filled it
    trader.process_bar(third)
    (order,) = journal.all_orders()  # no replacement was ever planned
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 10
    assert fake.post_attempts[order.client_order_id] == 1
    assert {s: p.quantity for s, p in journal.positions().items()} == {"AAA": 10}
    assert {s: q for s, (q, _) in fake.positions.items()} == {"AAA": 10}
    assert journal.cash() == fake.cash
    journal.close()


def test_unknown_is_closed_only_after_the_acceptance_window(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """A POST whose answer is lost and that never reached the venue: UNKNOWN (and no new
    buy) while the window lasts, then closed as never sent once the lookup and a listing
    both miss it; only then may a later bar buy again."""
    clock = Clock()
    journal, trader = _session(
        fake, tmp_path / "lost.db", acceptance_window=timedelta(minutes=5), clock=clock
    )
    bars = flat_bars(4, {"AAA": PRICE})
    fake.inject(SUBMIT, 504)  # the gateway answers 504, the venue never saw it
    trader.process_bar(bars[0])
    trader.process_bar(bars[1])
    assert _status(journal) is OrderStatus.UNKNOWN and fake.client_ids() == []
    clock.now += timedelta(minutes=6)
    trader.process_bar(bars[2])  # certain now: closed, and this bar may buy again
    orders = journal.all_orders()
    assert orders[0].status is OrderStatus.CANCELED
    assert len(orders) == 2 and orders[1].bar == bars[2].day
    assert fake.client_ids() == [orders[1].client_order_id]
    journal.close()


def test_restart_leaves_an_uncertain_order_open(fake: FakeAlpaca, tmp_path: Path) -> None:
    """Reconciliation at the next start does not close an order the venue may still act
    on: it is listed as unresolved and keeps counting as working exposure."""
    path = tmp_path / "restart.db"
    journal, trader = _session(fake, path)
    first, second = flat_bars(2, {"AAA": PRICE})
    fake.inject(SUBMIT, 500)  # answer lost (a 503 would be retried at once)
    trader.process_bar(first)
    assert _status(journal) is OrderStatus.UNKNOWN
    journal.close()
    journal, trader = _session(fake, path)
    report = trader.reconcile()
    assert report.unresolved == [journal.all_orders()[0].client_order_id]
    assert report.closed_never_sent == [] and _status(journal) is OrderStatus.UNKNOWN
    trader.process_bar(second)
    assert len(journal.all_orders()) == 1  # no replacement buy
    journal.close()


def test_paper_venue_is_certain_at_once(tmp_path: Path) -> None:
    """The paper venue accepts atomically: not holding an order is certainty."""
    from tradefolio.live.paper import PaperBroker

    journal = Journal.open(tmp_path / "p.db")
    journal.initialise(Decimal(1), {})
    broker = PaperBroker(journal.connection, Decimal(1))
    now = datetime.now(UTC)
    assert broker.confirm_absent("never-sent", placed_after=now, missing_since=now)
    journal.close()
