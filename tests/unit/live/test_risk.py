from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.live.journal import SCHEMA_VERSION, Journal, PlannedOrder
from tradefolio.live.journal_schema import statements
from tradefolio.live.orders import OrderStatus, Side
from tradefolio.live.risk import RiskEngine, RiskLimits, TradingState
from unit.live.live_helpers import open_session

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
    engine.start_day(date(2024, 1, 3))
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


def test_a_restart_resumes_the_days_notional_and_order_rate(tmp_path: Path) -> None:
    """The day's notional and the last minute's orders come from the journal after a
    restart, so restarting cannot double the daily limit or the rate limit."""
    day = date(2024, 3, 5)
    journal, _, _ = open_session(tmp_path / "r.db")
    journal.write_plan(
        day,
        [],
        [
            PlannedOrder("c1", "AAA", Side.BUY, D(10), risk_notional=D(1000)),
            PlannedOrder("c2", "BBB", Side.BUY, D(5), risk_notional=D(500)),
            PlannedOrder("c3", "CCC", Side.BUY, D(50), OrderStatus.DENIED, "x", D(5000)),
        ],
    )
    journal.finish_bar(day, D(100_000), D(100_000), {})
    journal.close()

    limits = RiskLimits(max_daily_notional=D(2500), max_orders_per_minute=3)
    now = [1_000.0]
    engine = RiskEngine(limits, clock=lambda: now[0])
    journal, _, trader = open_session(tmp_path / "r.db", risk=engine)
    trader.start_risk_day(day)
    assert engine.day == day and engine.day_notional == D(1500)  # the denied order is not
    assert _check(engine).allowed  # 1,500 + 1,000 = 2,500: at the limit
    decision = _check(engine)  # the third order of the minute, 3,500 > 2,500
    assert not decision.allowed and "day notional" in decision.reason
    rate = RiskEngine(RiskLimits(max_orders_per_minute=3), clock=lambda: now[0])
    trader = type(trader)(
        journal=journal, broker=trader.broker, strategy=trader.strategy, sizer=trader.sizer,
        risk=rate,
    )  # fmt: skip
    trader.start_risk_day(day)
    assert _check(rate).allowed  # two journaled orders in the minute + this one = 3
    assert "in a minute" in _check(rate).reason
    now[0] += 61
    assert _check(rate).allowed  # the window moved on
    fresh = RiskEngine(limits, clock=lambda: now[0])
    fresh_trader = type(trader)(
        journal=journal, broker=trader.broker, strategy=trader.strategy, sizer=trader.sizer,
        risk=fresh,
    )  # fmt: skip
    fresh_trader.start_risk_day(date(2024, 3, 6))  # another day: nothing counted yet
    assert fresh.day_notional == 0
    journal.close()


def test_an_old_journal_migrates_and_counts_unknown_notional_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    connection = sqlite3.connect(path)
    for statement in statements(1):
        connection.execute(statement)
    connection.execute(
        "INSERT INTO orders(client_order_id, bar, symbol, side, quantity, status, created_at, "
        "updated_at) VALUES ('old', '2024-03-05', 'AAA', 'buy', '3', 'filled', "
        "'2024-03-05T15:00:00+00:00', '2024-03-05T15:00:00+00:00')"
    )
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    journal = Journal.open(path)
    assert journal.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    notional, _ = journal.risk_usage(date(2024, 3, 5), datetime(2024, 1, 1, tzinfo=UTC))
    assert notional == 0
    journal.close()
