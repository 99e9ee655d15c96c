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
from tradefolio.live.orders import OrderStatus, Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.trader import LiveTrader, exit_generations
from unit.live.live_helpers import EnterOnEveryBar, FixedUnits, flat_bars


def test_paper_exits_follow_the_fills_of_a_partially_filled_entry(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    broker = PaperBroker(journal.connection, Decimal(10_000), max_fill_per_mark=Decimal(4))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=EnterOnEveryBar(), sizer=FixedUnits(10),
        market=broker, exits=ProtectiveExits(stop_loss=0.05, take_profit=0.10),
    )  # fmt: skip
    covered = []
    for bar in flat_bars(4, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
        held = {p.symbol: p.quantity for p in broker.positions()}.get("AAA", Decimal(0))
        stops = [o for o in broker.open_orders() if o.side is Side.SELL and o.stop_price]
        takes = [o for o in broker.open_orders() if o.side is Side.SELL and o.limit_price]
        covered.append((held, sum(o.quantity for o in stops), sum(o.quantity for o in takes)))
    assert [c[0] for c in covered] == [4, 8, 10, 10]
    assert all(held == stop == take for held, stop, take in covered), covered
    (entry,) = [o for o in journal.all_orders() if o.role == "enter"]
    generations = list(exit_generations(journal.children_of(entry.client_order_id)).values())
    assert [g[0].quantity for g in generations] == [4, 8, 10]
    for older in generations[:-1]:
        assert all(o.status is OrderStatus.CANCELED and not o.filled_quantity for o in older)
    ids = [o.client_order_id for o in broker.all_orders()]
    assert len(ids) == len(set(ids)) == 1 + 2 * len(generations)
