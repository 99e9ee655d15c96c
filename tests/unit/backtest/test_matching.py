"""Bar matching: gaps, stop and take-profit in one bar, when bracket children activate,
trailing stops, DAY expiry, close-only data, and the risk sizer's stop as a real order."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.matching import Resting, match
from tradefolio.backtest.runner import run_config
from tradefolio.errors import InvalidParameter
from tradefolio.execution.orders import (
    Order,
    OrderStatus,
    OrderType,
    ProtectiveExits,
    bracket,
)
from tradefolio.execution.sizing import RiskBasedSizer, SizingRequest
from tradefolio.execution.strategy import SignalPlan

M = 1_000_000


class _Units:
    def __init__(self, units: int) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> int:
        return self.units


class _EnterFirst:
    """Enter the only symbol at the first close; exit at `exit_bar` if given."""

    name = "enter-first"

    def __init__(self, exit_bar: int | None = None) -> None:
        self.exit_bar = exit_bar

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        entries = np.zeros(closes.shape, dtype=bool)
        exits = np.zeros(closes.shape, dtype=bool)
        entries[0, 0] = True
        if self.exit_bar is not None:
            exits[self.exit_bar, 0] = True
        return SignalPlan(entries=entries, exits=exits)


def _bars(rows: list[tuple[float, float, float, float]]) -> dict[str, pd.DataFrame]:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=len(rows)), name="date")
    o, h, low, c = (pd.DataFrame({"X": [r[i] for r in rows]}, index=index) for i in range(4))
    return {"closes": c, "opens": o, "highs": h, "lows": low}


def _run(
    rows: list[tuple[float, float, float, float]], exits: ProtectiveExits, **kw: object
) -> BacktestResult:
    bars = _bars(rows)
    return run_backtest(
        bars.pop("closes"), _EnterFirst(**kw), _Units(10), cash=10_000, exits=exits, **bars
    )  # type: ignore[arg-type]


def _sells(result: BacktestResult) -> list[tuple[int, Decimal, str]]:
    return [(f.bar, f.price, f.client_order_id) for f in result.fills if f.side == "sell"]


def test_a_stop_fills_at_the_stop_inside_the_bar_and_at_the_open_on_a_gap() -> None:
    # entry at bar 1's open (100): stop at 95
    inside = _run([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 94, 96)],
                  ProtectiveExits(stop_loss=0.05))  # fmt: skip
    assert _sells(inside) == [(2, Decimal("95"), "X-1-enter-stop")]
    gap = _run([(100, 100, 100, 100), (100, 101, 99, 100), (90, 92, 88, 91)],
               ProtectiveExits(stop_loss=0.05))  # fmt: skip
    assert _sells(gap) == [(2, Decimal("90"), "X-1-enter-stop")]  # the gap's loss, not 95


def test_children_are_not_active_on_the_entry_bar() -> None:
    # bar 1 trades through the stop level after the entry at its open: no stop-out on bar 1
    result = _run([(100, 100, 100, 100), (100, 100, 90, 92), (93, 94, 93, 94)],
                  ProtectiveExits(stop_loss=0.05))  # fmt: skip
    assert _sells(result) == [(2, Decimal("93"), "X-1-enter-stop")]  # gapped below 95 at bar 2


def test_stop_and_take_profit_in_one_bar_fill_the_stop_and_cancel_the_take_profit() -> None:
    result = _run([(100, 100, 100, 100), (100, 100, 100, 100), (100, 120, 80, 100)],
                  ProtectiveExits(stop_loss=0.05, take_profit=0.1))  # fmt: skip
    assert _sells(result) == [(2, Decimal("95"), "X-1-enter-stop")]
    statuses = {e.client_order_id: e.status for e in result.order_events}
    assert statuses["X-1-enter-take"] is OrderStatus.CANCELED


def test_take_profit_gap_fills_at_the_better_open() -> None:
    result = _run([(100, 100, 100, 100), (100, 100, 100, 100), (115, 116, 114, 115)],
                  ProtectiveExits(stop_loss=0.05, take_profit=0.1))  # fmt: skip
    assert _sells(result) == [(2, Decimal("115"), "X-1-enter-take")]


def test_trailing_stop_moves_with_the_close_only_upwards() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 111, 100, 110),
            (110, 112, 104, 105), (105, 106, 103.4, 104)]  # fmt: skip
    # level 95 (from the fill), then 110 · 0.95 = 104.5 after bar 2; bar 3's low 104 hits it
    result = _run(rows, ProtectiveExits(trailing_stop=0.05))
    assert _sells(result) == [(3, Decimal("104.5"), "X-1-enter-trail")]


def test_an_exit_cancels_the_open_legs_and_sells_at_the_open() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (101, 102, 100, 101), (97, 98, 90, 95)]
    result = _run(rows, ProtectiveExits(stop_loss=0.05), exit_bar=2)
    assert _sells(result) == [(3, Decimal("97"), "X-3-exit")]
    statuses = {e.client_order_id: e.status for e in result.order_events}
    assert statuses["X-1-enter-stop"] is OrderStatus.CANCELED


def test_close_only_data_matches_against_the_close() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=4), name="date")
    closes = pd.DataFrame({"X": [100.0, 100.0, 96.0, 94.0]}, index=index)
    result = run_backtest(
        closes, _EnterFirst(), _Units(10), cash=10_000, exits=ProtectiveExits(stop_loss=0.05)
    )
    # open = high = low = close: 96 does not reach 95; 94 gaps through it and fills at 94
    assert _sells(result) == [(3, Decimal("94"), "X-1-enter-stop")]


def _resting(order: Order) -> Resting:
    resting = Resting(order, 0, 0)
    resting.stop = int((order.stop_price or 0) * M)
    resting.limit = int((order.limit_price or 0) * M)
    return resting


@pytest.mark.parametrize(
    ("side", "kind", "prices", "bar", "expected"),
    [
        ("buy", OrderType.LIMIT, {"limit_price": Decimal(99)}, (100, 101, 98, 100), 99),
        ("buy", OrderType.LIMIT, {"limit_price": Decimal(99)}, (97, 101, 96, 100), 97),
        ("buy", OrderType.LIMIT, {"limit_price": Decimal(99)}, (100, 101, 99.5, 100), None),
        ("sell", OrderType.LIMIT, {"limit_price": Decimal(101)}, (102, 103, 100, 101), 102),
        ("buy", OrderType.STOP, {"stop_price": Decimal(101)}, (100, 102, 99, 100), 101),
        ("buy", OrderType.STOP, {"stop_price": Decimal(101)}, (103, 104, 102, 103), 103),
        # stop-limit sell, triggered inside the bar: open <= close fills at the stop
        ("sell", OrderType.STOP_LIMIT, {"stop_price": Decimal(95), "limit_price": Decimal(94)},
         (100, 101, 93, 100), 95),
        # ... open > close, limit above the stop: no fill, but it is now a limit order
        ("sell", OrderType.STOP_LIMIT, {"stop_price": Decimal(95), "limit_price": Decimal(96)},
         (100, 101, 93, 94), None),
    ],
)  # fmt: skip
def test_match_follows_backtraders_rules(
    side: str, kind: OrderType, prices: dict[str, Decimal], bar: tuple[float, ...], expected: int
) -> None:
    order = Order("o", "X", side, 1, kind, **prices)  # type: ignore[arg-type]
    resting = _resting(order)
    price, _ = match(resting, *(int(v * M) for v in bar))
    assert price == (None if expected is None else expected * M)


def test_orders_validate_their_fields_and_brackets_link_their_children() -> None:
    with pytest.raises(InvalidParameter, match="limit_price"):
        Order("a", "X", "buy", 1, OrderType.LIMIT)
    with pytest.raises(InvalidParameter, match="exactly one"):
        Order("b", "X", "sell", 1, OrderType.TRAILING_STOP)
    with pytest.raises(InvalidParameter, match="quantity"):
        Order("c", "X", "buy", 0)
    _, stop, take = bracket(Order("e", "X", "buy", 5), stop_price=95, take_profit_price=110)
    assert (stop.parent_id, take.parent_id) == ("e", "e")
    assert stop.oco_group == take.oco_group == "e-oco"
    moved = stop.replaced("e-stop-2", stop_price=Decimal(97))
    assert moved.stop_price == 97 and moved.quantity == 5 and stop.stop_price == 95


def test_a_day_limit_entry_that_is_not_reached_expires() -> None:
    class _Limit(_EnterFirst):
        def plan(self, closes: pd.DataFrame) -> SignalPlan:
            plan = super().plan(closes)
            limits = np.full(closes.shape, 90.0)
            return SignalPlan(plan.entries, plan.exits, entry_limits=limits)

    bars = _bars([(100, 100, 100, 100), (100, 101, 95, 100), (91, 92, 85, 90)])
    result = run_backtest(bars.pop("closes"), _Limit(), _Units(10), cash=10_000, **bars)  # type: ignore[arg-type]
    assert result.fills == ()
    assert [e.status for e in result.order_events] == [OrderStatus.SUBMITTED, OrderStatus.EXPIRED]


@settings(max_examples=60, deadline=None)
@given(
    equity=st.integers(10_000, 5_000_000),
    price=st.integers(5_00, 2_000_00).map(lambda cents: cents / 100),
    risk=st.sampled_from([0.005, 0.01, 0.02]),
    stop=st.sampled_from([0.03, 0.05, 0.08, 0.2]),  # risk / stop < 1: the cash cap never binds
    per_share=st.sampled_from([0.0, 0.005]),
)
def test_a_gap_free_stop_out_loses_the_risk_budget_within_one_share_plus_costs(
    equity: int, price: float, risk: float, stop: float, per_share: float
) -> None:
    """Risk sizer, default config: entry at the open, then a bar that trades through the stop
    without gapping. The loss is risk_per_trade · sizing equity, within one share's risk
    (the floor of the size), the stop's rounding to the micro-unit and the commissions."""
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=4), name="date")
    rows = [(price, price, price, price)] * 2 + [(price, price, price * (1 - 2 * stop), price)]
    rows.append((price, price, price, price))
    o, h, low, c = (pd.DataFrame({"X": [r[i] for r in rows]}, index=index) for i in range(4))
    config = BacktestConfig.create(
        strategy="buy-and-hold",
        risk_per_trade=risk,
        stop_loss=stop,
        max_position=1.0,
        cash=equity,
        commission_per_share=per_share,
    )
    quantity = RiskBasedSizer(risk, stop, 1.0).size(
        SizingRequest("X", price, float(equity), float(equity))
    )
    assume(quantity > 0)  # a budget below one share's risk buys nothing
    result = run_config(config, c, opens=o, highs=h, lows=low)
    buy, sell = result.fills
    assert sell.client_order_id.endswith("-stop") and sell.bar == 2
    assert buy.quantity == quantity
    loss = float(result.initial_cash - result.final_cash)
    budget = risk * equity
    costs = float(buy.commission + sell.commission)
    assert budget - price * stop - 1e-6 * quantity <= loss - costs <= budget + 1e-6 * quantity
