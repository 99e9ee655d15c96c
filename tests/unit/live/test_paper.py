from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.live.broker import Broker, DuplicateClientOrderId, OrderRejected
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderRequest, OrderStatus, Side
from tradefolio.live.paper import CostModel, PaperBroker


def _broker(tmp_path: Path, **kwargs: object) -> tuple[Journal, PaperBroker]:
    journal = Journal.open(tmp_path / "p.db")
    broker = PaperBroker(journal.connection, Decimal(10_000), **kwargs)  # type: ignore[arg-type]
    broker.mark(date(2024, 1, 1), {"AAA": Decimal("100"), "BBB": Decimal("20.5")})
    return journal, broker


def test_fills_at_mark_with_costs_and_survives_restart(tmp_path: Path) -> None:
    costs = CostModel(
        commission_bps=Decimal(10), commission_min=Decimal(1), slippage_bps=Decimal(5)
    )
    journal, broker = _broker(tmp_path, costs=costs)
    assert isinstance(broker, Broker)
    report = broker.submit(OrderRequest("c1", "AAA", Side.BUY, Decimal(10)))
    assert report.status is OrderStatus.FILLED and report.filled_quantity == 10
    assert report.avg_fill_price == Decimal("100.05")  # 5 bps against the buyer
    assert report.commission == Decimal("1.0005")  # 10 bps of 1000.5 beats the minimum
    assert broker.account().cash == Decimal(10_000) - Decimal("1000.5") - Decimal("1.0005")
    small = broker.submit(OrderRequest("c2", "BBB", Side.BUY, Decimal(1)))
    assert small.commission == Decimal(1)  # the minimum
    with pytest.raises(DuplicateClientOrderId):
        broker.submit(OrderRequest("c1", "AAA", Side.BUY, Decimal(10)))
    journal.close()
    again = Journal.open(tmp_path / "p.db")
    reopened = PaperBroker(again.connection, Decimal(999))  # cash is not reset
    assert reopened.account().cash == Decimal(10_000) - Decimal("1000.5") - Decimal("1.0005") - (
        Decimal("20.51025") + 1
    )
    assert [p.quantity for p in reopened.positions()] == [10, 1]
    again.close()


def test_rejects_and_delayed_partial_fills(tmp_path: Path) -> None:
    journal, broker = _broker(tmp_path, fill_delay_marks=1, max_fill_per_mark=Decimal(4))
    with pytest.raises(OrderRejected):
        broker.submit(OrderRequest("x", "ZZZ", Side.BUY, Decimal(1)))
    with pytest.raises(OrderRejected):
        broker.submit(OrderRequest("y", "AAA", Side.BUY, Decimal(0)))
    report = broker.submit(OrderRequest("c1", "AAA", Side.BUY, Decimal(10)))
    assert report.status is OrderStatus.SUBMITTED and report.filled_quantity == 0
    assert [o.client_order_id for o in broker.open_orders()] == ["c1"]
    broker.mark(date(2024, 1, 2), {"AAA": Decimal(101)})
    partial = broker.get_order("c1")
    assert partial is not None and partial.status is OrderStatus.PARTIALLY_FILLED
    broker.mark(date(2024, 1, 3), {"AAA": Decimal(102)})
    broker.mark(date(2024, 1, 4), {"AAA": Decimal(103)})
    done = broker.get_order("c1")
    assert done is not None and done.status is OrderStatus.FILLED
    assert done.filled_notional == 4 * 101 + 4 * 102 + 2 * 103
    naked = broker.submit(OrderRequest("s1", "BBB", Side.SELL, Decimal(5)))
    broker.mark(date(2024, 1, 5), {"BBB": Decimal(20)})
    rejected = broker.get_order(naked.client_order_id)
    assert rejected is not None and rejected.status is OrderStatus.REJECTED  # no shorting
    journal.close()


def test_cost_model_rejects_negative_costs() -> None:
    with pytest.raises(InvalidParameter, match="slippage_bps"):
        CostModel(slippage_bps=Decimal(-1))
