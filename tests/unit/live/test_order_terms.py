"""Order terms (issue 14): live order values carry type, prices, time in force, parent and
OCO group; the journal keeps them (schema 4) and migrates older journals to DAY market."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.execution.orders import NO_EXITS, Order, ProtectiveExits
from tradefolio.live.journal import SCHEMA_VERSION, Journal, PlannedOrder
from tradefolio.live.journal_schema import statements
from tradefolio.live.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce

D = Decimal


def test_a_request_defaults_to_a_day_market_order_and_checks_its_terms() -> None:
    plain = OrderRequest("c1", "AAA", Side.BUY, D(3))
    assert (plain.type, plain.time_in_force, plain.parent_id) == (
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
    )
    assert not plain.is_protective
    with pytest.raises(InvalidParameter, match="stop_price"):
        OrderRequest("c2", "AAA", Side.SELL, D(3), type=OrderType.STOP)
    with pytest.raises(InvalidParameter, match="takes no limit_price"):
        OrderRequest("c3", "AAA", Side.SELL, D(3), limit_price=D(10))
    with pytest.raises(InvalidParameter, match="exactly one of"):
        OrderRequest(
            "c4", "AAA", Side.SELL, D(3), type=OrderType.TRAILING_STOP,
            trail_percent=D("0.1"), trail_amount=D(2),
        )  # fmt: skip


def test_protective_exits_become_requests_with_their_entry_and_oco_group() -> None:
    entry = Order("tf-e", "AAA", "buy", 10)
    exits = ProtectiveExits(stop_loss=0.05, take_profit=0.1, trailing_stop=0.08)
    requests = [OrderRequest.from_order(o) for o in exits.orders_for(entry, 10, D("100"))]
    assert [r.client_order_id for r in requests] == ["tf-e-stop", "tf-e-take", "tf-e-trail"]
    assert {r.parent_id for r in requests} == {"tf-e"}
    assert {r.oco_group for r in requests} == {"tf-e-oco"}
    assert [r.type for r in requests] == [
        OrderType.STOP,
        OrderType.LIMIT,
        OrderType.TRAILING_STOP,
    ]
    assert requests[0].stop_price == D("95") and requests[1].limit_price == D("110")
    assert requests[2].trail_percent == D("0.08")
    assert all(r.side is Side.SELL and r.time_in_force is TimeInForce.GTC for r in requests)
    assert NO_EXITS.orders_for(entry, 10, D("100")) == ()


def test_the_journal_keeps_every_term_and_resends_the_order_as_planned(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(D(1000), {})
    stop = OrderRequest(
        "p-stop", "AAA", Side.SELL, D(4), type=OrderType.STOP_LIMIT, stop_price=D("9.5"),
        limit_price=D("9.25"), time_in_force=TimeInForce.GTC, parent_id="p", oco_group="p-oco",
    )  # fmt: skip
    trail = OrderRequest(
        "p-trail", "AAA", Side.SELL, D(4), type=OrderType.TRAILING_STOP, trail_amount=D("0.5"),
        time_in_force=TimeInForce.GTC, parent_id="p", oco_group="p-oco",
    )  # fmt: skip
    day = date(2024, 3, 5)
    journal.write_plan(day, [], [PlannedOrder("p", "AAA", Side.BUY, D(4))])
    journal.add_orders(
        day, [PlannedOrder(r.client_order_id, r.symbol, r.side, r.quantity, **r.terms())
              for r in (stop, trail)]
    )  # fmt: skip
    journal.close()
    reopened = Journal.open(tmp_path / "j.db")
    by_id = {o.client_order_id: o for o in reopened.all_orders()}
    assert by_id["p"].request() == OrderRequest("p", "AAA", Side.BUY, D(4))
    assert by_id["p-stop"].request() == stop
    assert by_id["p-trail"].request() == trail
    assert by_id["p-stop"].is_protective and by_id["p-stop"].status is OrderStatus.PENDING_SUBMIT
    reopened.close()


def _schema_3_journal(path: Path) -> None:
    connection = sqlite3.connect(path)
    for version in range(1, 4):
        for statement in statements(version):
            connection.execute(statement)
    connection.execute(
        "INSERT INTO orders(client_order_id, bar, symbol, side, quantity, status, created_at, "
        "updated_at) VALUES ('old', '2024-03-05', 'AAA', 'buy', '3', 'submitted', "
        "'2024-03-05T15:00:00+00:00', '2024-03-05T15:00:00+00:00')"
    )
    connection.execute("PRAGMA user_version = 3")
    connection.commit()
    connection.close()


def test_a_schema_3_journal_reads_and_migrates_its_orders_as_day_market_orders(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    _schema_3_journal(path)
    reader = Journal.open(path, writer=False)  # a reader never migrates
    (old,) = reader.all_orders()
    assert (old.type, old.time_in_force, old.parent_id) == (
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
    )
    reader.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
    writer = Journal.open(path)
    assert writer.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    (migrated,) = writer.all_orders()
    assert migrated == old
    assert migrated.request() == OrderRequest("old", "AAA", Side.BUY, D(3))
    writer.close()
