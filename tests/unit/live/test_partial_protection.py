"""The paper broker's partial fills: a partially filled entry is protected as it fills.

The paper broker fills at most 4 units of a market order per mark, so a 10-unit entry
fills 4, 8, 10 over three bars. The oracle is the paper venue's order list after each bar:
its open protective sells cover exactly the shares held (the filled part never rides
unprotected, never more than is held), and every superseded exit was cancelled unfilled.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.journal import Journal
from tradefolio.live.orders import TERMINAL_STATUSES, OrderStatus, Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.trader import LiveTrader, exit_generations
from unit.live.live_helpers import EnterOnEveryBar, FixedUnits, bracket_source, flat_bars


def _run_and_watch(
    trader: LiveTrader, broker: PaperBroker, n: int
) -> list[tuple[Decimal, Decimal, Decimal]]:
    """Run `n` flat bars; after each, (shares held, open stop units, open take units)."""
    covered = []
    for bar in flat_bars(n, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        held = {p.symbol: p.quantity for p in broker.positions()}.get("AAA", Decimal(0))
        stops = [o for o in broker.open_orders() if o.side is Side.SELL and o.stop_price]
        takes = [o for o in broker.open_orders() if o.side is Side.SELL and o.limit_price]
        covered.append((held, sum(o.quantity for o in stops), sum(o.quantity for o in takes)))
    return covered


def test_paper_exits_follow_the_fills_of_a_partially_filled_entry(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=EnterOnEveryBar(), sizer=FixedUnits(10),
        market=broker, exits=ProtectiveExits(stop_loss=0.05, take_profit=0.10),
    )  # fmt: skip
    covered = _run_and_watch(trader, broker, 4)
    assert [c[0] for c in covered] == [4, 8, 10, 10]
    assert all(held == stop == take for held, stop, take in covered), covered
    (entry,) = [o for o in journal.all_orders() if o.role == "enter"]
    generations = list(exit_generations(journal.children_of(entry.client_order_id)).values())
    assert [g[0].quantity for g in generations] == [4, 8, 10]
    for older in generations[:-1]:
        assert all(o.status is OrderStatus.CANCELED and not o.filled_quantity for o in older)
    ids = [o.client_order_id for o in broker.all_orders()]
    assert len(ids) == len(set(ids)) == 1 + 2 * len(generations)


def test_a_strategys_bracket_children_follow_the_fills_of_its_entry(tmp_path: Path) -> None:
    # An event-driven strategy's own bracket (entry 10, stop 95, take-profit 110), its
    # entry filled 4 units per mark: the children protect the filled part at once and
    # follow each larger fill, never more than is held.
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=bracket_source(5, Decimal(100)),
        sizer=FixedUnits(10), market=broker,
    )  # fmt: skip
    covered = _run_and_watch(trader, broker, 5)
    assert [c[0] for c in covered] == [4, 8, 10, 10, 10]
    assert all(held == stop == take for held, stop, take in covered), covered
    assert all(o.stop_price == 95 for o in broker.open_orders() if o.stop_price)
    ids = [o.client_order_id for o in broker.all_orders()]
    assert len(ids) == len(set(ids))  # every client id placed once
    (entry,) = [o for o in journal.all_orders() if o.role == "strategy"]
    children = journal.children_of(entry.client_order_id)
    assert all(o.role == "child" for o in children)
    assert journal.positions()["AAA"].quantity == 10


def test_a_fully_filled_bracket_sends_the_strategys_own_children(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=bracket_source(3, Decimal(100)),
        sizer=FixedUnits(10), market=broker,
    )  # fmt: skip
    for bar in flat_bars(3, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
    (entry,) = [o for o in journal.all_orders() if o.role == "strategy"]
    children = journal.children_of(entry.client_order_id)
    assert sorted(o.client_order_id.rsplit("-", 1)[-1] for o in children) == ["stop", "take"]
    assert all(o.quantity == 10 and o.status is OrderStatus.SUBMITTED for o in children)


def test_children_the_strategy_cancels_after_a_resize_stay_cancelled(tmp_path: Path) -> None:
    # The strategy cancels its stop and take-profit by their own ids once the trader has
    # resized them (the entry filled 4, then 8): the resized ones are cancelled, and the
    # trader puts nothing back when the entry fills further.
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=bracket_source(5, Decimal(100), cancel_at=2),
        sizer=FixedUnits(10), market=broker,
    )  # fmt: skip
    open_sells = []
    for bar in flat_bars(5, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        open_sells.append(sum(o.quantity for o in broker.open_orders() if o.side is Side.SELL))
    assert open_sells[:2] == [8, 16] and open_sells[2:] == [0, 0, 0], open_sells  # stop + take
    assert journal.positions()["AAA"].quantity == 10
    assert all(o.status in TERMINAL_STATUSES for o in journal.all_orders() if o.is_protective)


def test_a_filled_bracket_with_ids_of_its_own_keeps_its_children_after_a_restart(
    tmp_path: Path,
) -> None:
    # Children the strategy named itself (not `<entry>-stop`) are one generation: a
    # restart must not take one of them for an older one and cancel it.
    path = tmp_path / "j.db"
    bars = flat_bars(4, {"AAA": Decimal(100)})

    def session() -> tuple[Journal, PaperBroker, LiveTrader]:
        journal = Journal.open(path)
        journal.initialise(Decimal(10_000), {})
        broker = PaperBroker(journal.connection, Decimal(10_000))
        source = bracket_source(4, Decimal(100), child_ids=("protect-e1", "target-e1"))
        trader = LiveTrader(
            journal=journal, broker=broker, strategy=source, sizer=FixedUnits(10), market=broker
        )
        return journal, broker, trader

    journal, broker, trader = session()
    for bar in bars[:2]:
        trader.process_bar(bar)
    journal.close()
    journal, broker, trader = session()
    trader.reconcile()
    for bar in bars[2:]:
        trader.process_bar(bar)
    (entry,) = [o for o in journal.all_orders() if o.role == "strategy"]
    children = journal.children_of(entry.client_order_id)
    assert len(children) == 2
    assert all(o.quantity == 10 and o.status is OrderStatus.SUBMITTED for o in children)
    assert sum(o.quantity for o in broker.open_orders() if o.side is Side.SELL) == 20
