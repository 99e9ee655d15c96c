from __future__ import annotations

from decimal import Decimal

import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.live.orders import Side
from tradefolio.live.risk import RiskEngine, RiskLimits, TradingState

D = Decimal


def _check(engine: RiskEngine, **overrides: object):  # type: ignore[no-untyped-def]
    order: dict[str, object] = dict(
        state=TradingState.ACTIVE,
        symbol="AAA",
        side=Side.BUY,
        quantity=D(10),
        price=D(100),
        reference_price=D(100),
        position=D(0),
        equity=D(100_000),
    )
    order.update(overrides)
    return engine.check(**order)  # type: ignore[arg-type]


def test_states() -> None:
    engine = RiskEngine()
    assert _check(engine).allowed
    assert not _check(engine, state=TradingState.HALTED).allowed
    assert not _check(engine, state=TradingState.REDUCING).allowed
    assert _check(engine, state=TradingState.REDUCING, side=Side.SELL, position=D(30)).allowed
    # a sell that flips a long into a short does not reduce risk
    assert not _check(engine, state=TradingState.REDUCING, side=Side.SELL, position=D(5)).allowed


def test_limits() -> None:
    engine = RiskEngine(RiskLimits(max_order_notional=D(1500), max_daily_notional=D(2500)))
    assert "order notional" in _check(engine, quantity=D(20)).reason
    assert _check(engine).allowed and _check(engine).allowed
    assert "day notional" in _check(engine).reason
    engine.start_day(__import__("datetime").date(2024, 1, 3))
    assert _check(engine).allowed
    position = RiskEngine(RiskLimits(max_position_pct=D("0.1")))
    assert _check(position, quantity=D(100)).allowed
    assert "of equity" in _check(position, quantity=D(101)).reason
    band = RiskEngine(RiskLimits(price_band_pct=D("0.1")))
    assert _check(band, price=D(110)).allowed
    assert "band" in _check(band, price=D("110.01")).reason
    now = [0.0]
    rate = RiskEngine(RiskLimits(max_orders_per_minute=2), clock=lambda: now[0])
    assert _check(rate).allowed and _check(rate).allowed
    assert "in a minute" in _check(rate).reason
    now[0] = 60.0
    assert _check(rate).allowed


def test_daily_loss_and_validation() -> None:
    engine = RiskEngine(RiskLimits(max_daily_loss_pct=D("0.05")))
    assert not engine.daily_loss_breached(D(1000), D(950))
    assert engine.daily_loss_breached(D(1000), D("949.99"))
    with pytest.raises(InvalidParameter):
        RiskLimits(max_position_pct=D("1.5"))
    with pytest.raises(InvalidParameter):
        RiskLimits(max_orders_per_minute=0)
