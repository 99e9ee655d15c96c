"""The live trader's protective exits reach Alpaca in their native form (the fake's JSON is
the oracle), once each, and a stop the venue fills is recorded from the venue's report."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from support.fake_alpaca import FakeAlpaca
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.orders import OrderStatus
from unit.live.live_helpers import fake_session, flat_bars


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(prices={"AAA": Decimal(100)}) as server:
        yield server


def test_the_risk_stop_is_a_native_stop_at_alpaca_and_its_fill_is_journaled(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    journal, trader = fake_session(fake, tmp_path / "j.db", exits=ProtectiveExits(stop_loss=0.05))
    bars = flat_bars(3, {"AAA": Decimal(100)})
    trader.process_bar(bars[0])
    trader.process_bar(bars[1])
    stops = [b for m, _, b in fake.bodies if m == "POST" and b["type"] == "stop"]
    assert stops, [b for _, _, b in fake.bodies]
    first = stops[0]
    assert first["side"] == "sell" and first["stop_price"] == 95.0 and first["qty"] == 10.0
    assert first["client_order_id"].endswith("-stop") and "order_class" not in first
    assert all(fake.post_attempts[s["client_order_id"]] == 1 for s in stops)
    stop_id = first["client_order_id"]
    fake.mark(bars[1].day, {"AAA": Decimal(94)})  # the venue triggers the stop at 94
    assert fake.order(stop_id).status == "filled"
    trader.process_bar(bars[2])
    recorded = journal.order(stop_id)
    assert recorded is not None and recorded.status is OrderStatus.FILLED
    assert recorded.filled_quantity == 10
