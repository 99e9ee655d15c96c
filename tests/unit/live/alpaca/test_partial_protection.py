"""A partially filled entry is protected as it fills, at the fake Alpaca (which, as Alpaca,
refuses a sell beyond the free position).

The fake fills 4 units per price step: a 10-unit entry fills 4, 8, then 10. The oracle is
the venue's order list at every bar: the open protective sells cover exactly the shares
held (never fewer: the filled part never rides unprotected; never more: the venue would
refuse them), every client id reached the venue once, and every superseded exit was
cancelled unfilled. A stop that fires while the entry is still working stops the rest of
the entry, and the shares it bought meanwhile get exits of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from support.fake_alpaca import SUBMIT, FakeAlpaca
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus
from tradefolio.live.trader import LiveTrader, exit_generations
from unit.live.live_helpers import (
    EnterOnEveryBar,
    FixedUnits,
    bracket_source,
    fake_broker,
    fake_session,
    flat_bars,
)

EXITS = ProtectiveExits(stop_loss=0.05, take_profit=0.10)
STEP = Decimal(4)


class Crash(Exception):
    """The process dies here."""


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(
        cash=Decimal(10_000), prices={"AAA": Decimal(100)}, max_fill_per_step=STEP
    ) as server:
        yield server


def _open_sell_cover(fake: FakeAlpaca, *, protecting: bool = False) -> Decimal:
    """Shares the venue's open sells hold (an OCO group holds its quantity once; pending
    cancels included: the venue checks a new sell against them). `protecting`: only the
    sells not being cancelled (one being cancelled protects nothing: the venue drops it as
    soon as it carries the cancel out)."""
    return sum(
        (o.qty - o.filled_qty for o in fake.orders.values()
         if (o.protecting if protecting else o.open) and o.side == "sell"
         and o.parent is None),
        Decimal(0),
    )  # fmt: skip


def _run_and_watch(trader: LiveTrader, fake: FakeAlpaca, n: int) -> list[tuple[Decimal, Decimal]]:
    """Run `n` flat bars; after each, (shares held, shares the open sells not being
    cancelled protect), checking the venue never holds more for sells than is held."""
    seen = []
    for bar in flat_bars(n, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        assert _open_sell_cover(fake) <= _held(fake)  # the venue would refuse more
        seen.append((_held(fake), _open_sell_cover(fake, protecting=True)))
    return seen


def _held(fake: FakeAlpaca) -> Decimal:
    return fake.positions.get("AAA", (Decimal(0), Decimal(0)))[0]


def _entry(journal: Journal) -> str:
    (entry,) = [o for o in journal.all_orders() if o.role == "enter"]
    return entry.client_order_id


def test_exits_follow_the_fills_and_cover_exactly_the_shares_held(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    notes: list[str] = []
    journal, trader = fake_session(fake, tmp_path / "j.db", exits=EXITS, notify=notes.append)
    covered: list[tuple[Decimal, Decimal]] = []
    for bar in flat_bars(4, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        covered.append((_held(fake), _open_sell_cover(fake)))
    assert (
        covered
        == [(Decimal(4), Decimal(4)), (Decimal(8), Decimal(8))] + [(Decimal(10), Decimal(10))] * 2
    )
    assert not notes, notes  # nothing refused by the venue
    assert all(n == 1 for n in fake.post_attempts.values())
    generations = list(exit_generations(journal.children_of(_entry(journal))).values())
    assert [g[0].quantity for g in generations] == [4, 8, 10]
    for older in generations[:-1]:
        assert all(o.status is OrderStatus.CANCELED and not o.filled_quantity for o in older)
    assert all(o.status is OrderStatus.SUBMITTED for o in generations[-1])
    assert all(o.stop_price == Decimal(95) for g in generations for o in g if o.role == "stop")


def test_a_stop_that_fires_while_the_entry_works_stops_the_entry(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    # No market sink: the venue's prices move only when the test marks them.
    trader = LiveTrader(
        journal=journal, broker=fake_broker(fake), strategy=EnterOnEveryBar(),
        sizer=FixedUnits(10), exits=EXITS,
    )  # fmt: skip
    bars = flat_bars(3, {"AAA": Decimal(100)})
    trader.process_bar(bars[0])  # 4 filled, protected
    fake.mark(bars[0].day, {"AAA": Decimal(94)})  # the stop sells 4; the entry buys 4 more
    assert _held(fake) == 4
    trader.process_bar(bars[1])
    entry = journal.order(_entry(journal))
    assert entry is not None and entry.status is OrderStatus.CANCELED
    assert entry.filled_quantity == 8  # the rest of the entry was not bought
    generations = list(exit_generations(journal.children_of(entry.client_order_id)).values())
    first = {o.role: o for o in generations[0]}
    assert first["stop"].filled_quantity == 4 and first["take"].status is OrderStatus.CANCELED
    assert len(generations) == 2 and all(o.quantity == 4 for o in generations[1])
    assert _open_sell_cover(fake) == _held(fake) == 4  # what it bought meanwhile: protected
    assert journal.positions()["AAA"].quantity == 4


@pytest.mark.parametrize("pending_reads", [0, 3])
@pytest.mark.parametrize("point", ["after_protect_journal", "after_cancel_request", "after_submit"])
def test_a_crash_while_resizing_sends_nothing_twice(
    fake: FakeAlpaca, tmp_path: Path, point: str, pending_reads: int
) -> None:
    fake.cancel_pending_reads = pending_reads  # cancels asynchronous, as on Alpaca
    path = tmp_path / "j.db"
    bars = flat_bars(4, {"AAA": Decimal(100)})
    crashed: list[str] = []

    def checkpoint(name: str) -> None:
        # Once: on the second bar, when the exits of the larger fill are under way.
        if name == point and not crashed and _held(fake) == 8:
            crashed.append(name)
            raise Crash(name)

    journal, trader = fake_session(
        fake, path, exits=EXITS, checkpoint=checkpoint, sleep=lambda _: None
    )
    trader.process_bar(bars[0])
    with pytest.raises(Crash):
        trader.process_bar(bars[1])
    journal.close()
    journal, trader = fake_session(fake, path, exits=EXITS, sleep=lambda _: None)
    trader.reconcile()
    for bar in bars[1:]:
        trader.process_bar(bar)
        assert _open_sell_cover(fake) <= _held(fake)  # never more than the venue holds
    assert crashed
    assert all(n == 1 for n in fake.post_attempts.values())
    assert _open_sell_cover(fake) == _held(fake) == 10
    generations = list(exit_generations(journal.children_of(_entry(journal))).values())
    assert generations[-1][0].quantity == 10
    for older in generations[:-1]:
        assert all(o.status is OrderStatus.CANCELED and not o.filled_quantity for o in older)
    for order in journal.all_orders():  # the journal agrees with the venue on every order
        remote = trader.broker.get_order(order.client_order_id)
        if remote is None:
            assert order.status is OrderStatus.CANCELED, order  # superseded before it was sent
            continue
        assert (remote.status, remote.filled_quantity) == (order.status, order.filled_quantity)


@pytest.mark.parametrize("pending_reads", [3, 6])
def test_an_asynchronous_cancel_does_not_defer_the_exits_of_a_larger_fill(
    fake: FakeAlpaca, tmp_path: Path, pending_reads: int
) -> None:
    # As on the real Alpaca, a cancel leaves the order "pending_cancel" for a while (here
    # for `pending_reads` reads): the exits of the larger fill must still reach the venue
    # within the bar, and never while the older ones still hold the shares.
    fake.cancel_pending_reads = pending_reads
    notes: list[str] = []
    journal, trader = fake_session(
        fake, tmp_path / "j.db", exits=EXITS, notify=notes.append, sleep=lambda _: None
    )
    seen = _run_and_watch(trader, fake, 4)
    assert (
        seen
        == [(Decimal(4), Decimal(4)), (Decimal(8), Decimal(8))] + [(Decimal(10), Decimal(10))] * 2
    )
    assert not notes, notes  # nothing refused by the venue
    assert all(n == 1 for n in fake.post_attempts.values())  # no client id sent twice
    generations = list(exit_generations(journal.children_of(_entry(journal))).values())
    assert [g[0].quantity for g in generations] == [4, 8, 10]
    for older in generations[:-1]:
        assert all(o.status is OrderStatus.CANCELED and not o.filled_quantity for o in older)
    entry = journal.order(_entry(journal))
    assert entry is not None and entry.filled_quantity == 10  # no fill lost


def test_a_resized_exit_a_crashed_process_may_have_sent_is_fenced_not_forgotten(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    # The first process sends the exits of the larger fill (`-r2`), the answer is lost and
    # the process dies before recording anything: the journal holds them PENDING_SUBMIT.
    # The venue processes that POST late, after the restart has looked the exits up in
    # vain. They must not be closed as "never sent" (an untracked live sell, and the exits
    # of the next fill refused): the restart resends them under their own client ids (the
    # venue holds one order per id), then cancels them as superseded.
    path = tmp_path / "j.db"
    bars = flat_bars(4, {"AAA": Decimal(100)})
    late = threading.Event()
    crashed: list[str] = []

    def first_process(name: str) -> None:
        if name == "before_submit" and _held(fake) == 8 and not crashed:
            fake.inject(SUBMIT, hold=late)  # the `-r2` exits' POST: processed late
        if name == "after_submit" and _held(fake) == 8 and not crashed:
            crashed.append(name)
            raise Crash(name)

    journal, trader = fake_session(
        fake, path, timeout=0.3, exits=EXITS, checkpoint=first_process, sleep=lambda _: None
    )
    trader.process_bar(bars[0])
    with pytest.raises(Crash):
        trader.process_bar(bars[1])
    journal.close()
    assert crashed
    inspect = Journal.open(path)
    r2 = [o for o in inspect.all_orders() if "-r2-" in o.client_order_id]
    inspect.close()
    assert r2 and all(o.status is OrderStatus.PENDING_SUBMIT for o in r2)

    def second_process(name: str) -> None:
        # Once the restart has looked the `-r2` exits up in vain (the first exits were
        # cancelled before they were sent) and is about to send, the venue processes the
        # lost POST.
        if name == "before_submit" and not late.is_set():
            late.set()
            fake.wait_idle()

    notes: list[str] = []
    journal, trader = fake_session(
        fake, path, exits=EXITS, checkpoint=second_process, notify=notes.append,
        sleep=lambda _: None,
    )  # fmt: skip
    trader.reconcile()
    for bar in bars[1:]:
        trader.process_bar(bar)
        assert _open_sell_cover(fake) <= _held(fake)
    assert late.is_set()
    assert _open_sell_cover(fake) == _held(fake) == 10  # every share protected, no more
    assert len(fake.client_ids()) == len(set(fake.client_ids()))  # one order per client id
    for order in journal.all_orders():  # the journal agrees with the venue on every order
        remote = trader.broker.get_order(order.client_order_id)
        if remote is None:
            assert order.status is OrderStatus.CANCELED, order
            continue
        assert (remote.status, remote.filled_quantity) == (order.status, order.filled_quantity)
    journaled = {o.client_order_id for o in journal.all_orders()}
    at_venue = {o.client_order_id for o in fake.orders.values() if o.parent is None}
    assert at_venue <= journaled  # no live order the journal does not know
    assert not [n for n in notes if "rejected" in n], notes


@pytest.mark.parametrize("pending_reads", [0, 3])
def test_a_strategys_bracket_children_follow_the_fills_at_alpaca(
    fake: FakeAlpaca, tmp_path: Path, pending_reads: int
) -> None:
    # An event-driven strategy's own bracket (entry 10, stop 95, take-profit 110): its
    # children reach the venue as one OCO for the filled part at once and follow each
    # larger fill (the older OCO cancelled first, the venue refusing nothing).
    fake.cancel_pending_reads = pending_reads
    notes: list[str] = []
    journal, trader = fake_session(
        fake, tmp_path / "j.db", strategy=bracket_source(5, Decimal(100)),
        notify=notes.append, sleep=lambda _: None,
    )  # fmt: skip
    seen = _run_and_watch(trader, fake, 5)
    assert (
        seen
        == [(Decimal(4), Decimal(4)), (Decimal(8), Decimal(8))] + [(Decimal(10), Decimal(10))] * 3
    )
    assert not notes, notes
    assert all(n == 1 for n in fake.post_attempts.values())
    ocos = [b for m, _, b in fake.bodies if m == "POST" and b.get("order_class") == "oco"]
    assert [b["qty"] for b in ocos] == [4.0, 8.0, 10.0]
    assert all(b["stop_loss"] == {"stop_price": 95.0} for b in ocos)
    (entry,) = [o for o in journal.all_orders() if o.role == "strategy"]
    assert entry.filled_quantity == 10


@pytest.mark.parametrize("point", ["after_protect_journal", "after_submit"])
def test_a_crash_while_resizing_a_strategys_bracket_sends_nothing_twice(
    fake: FakeAlpaca, tmp_path: Path, point: str
) -> None:
    path = tmp_path / "j.db"
    crashed: list[str] = []

    def checkpoint(name: str) -> None:
        # Once: on the second bar, when the children of the larger fill are under way.
        if name == point and not crashed and _held(fake) == 8:
            crashed.append(name)
            raise Crash(name)

    bars = flat_bars(5, {"AAA": Decimal(100)})
    journal, trader = fake_session(
        fake, path, strategy=bracket_source(5, Decimal(100)), checkpoint=checkpoint,
        sleep=lambda _: None,
    )  # fmt: skip
    trader.process_bar(bars[0])
    with pytest.raises(Crash):
        trader.process_bar(bars[1])
    journal.close()
    notes: list[str] = []
    journal, trader = fake_session(
        fake, path, strategy=bracket_source(5, Decimal(100)), notify=notes.append,
        sleep=lambda _: None,
    )  # fmt: skip
    trader.reconcile()
    seen = [(_held(fake), _open_sell_cover(fake, protecting=True))]
    for bar in bars[1:]:
        trader.process_bar(bar)
        assert _open_sell_cover(fake) <= _held(fake)
        seen.append((_held(fake), _open_sell_cover(fake, protecting=True)))
    assert crashed and not notes, notes
    assert seen[-1] == (Decimal(10), Decimal(10)), seen
    assert all(n == 1 for n in fake.post_attempts.values())  # no client id sent twice
    assert len([o for o in journal.all_orders() if o.role == "strategy"]) == 1
    for order in journal.all_orders():  # the journal agrees with the venue on every order
        remote = trader.broker.get_order(order.client_order_id)
        if remote is None:
            assert order.status is OrderStatus.CANCELED, order  # never sent
            continue
        assert (remote.status, remote.filled_quantity) == (order.status, order.filled_quantity)
