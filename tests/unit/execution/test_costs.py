"""The one cost model: the issue's examples cost the same in the backtest and on paper."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.backtest.engine import run_backtest
from tradefolio.execution.costs import CostModel, largest_affordable
from tradefolio.execution.sizing import CommissionEstimate, SizingRequest
from tradefolio.execution.strategy import SignalPlan
from tradefolio.live.orders import OrderRequest, Side
from tradefolio.live.paper import CostModel as PaperCosts
from tradefolio.live.paper import PaperBroker


class _Fixed:
    """A sizer that always wants `units`."""

    def __init__(self, units: int) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> int:
        return self.units


class _EnterThenExit:
    name = "enter-then-exit"

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        entries = np.zeros(closes.shape, dtype=bool)
        exits = np.zeros(closes.shape, dtype=bool)
        entries[0, 0] = True
        exits[1, 0] = True
        return SignalPlan(entries=entries, exits=exits)


def _backtest_commissions(price: float, units: int, costs: CostModel) -> list[Decimal]:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=4), name="date")
    closes = pd.DataFrame({"X": [price] * 4}, index=index)
    result = run_backtest(closes, _EnterThenExit(), _Fixed(units), cash=10_000, costs=costs)
    return [f.commission for f in result.fills]


def _paper_commissions(price: str, units: str, costs: PaperCosts) -> list[Decimal]:
    broker = PaperBroker(sqlite3.connect(":memory:", isolation_level=None), Decimal(10_000), costs)
    broker.mark(date(2024, 1, 2), {"X": Decimal(price)})
    bought = broker.submit(OrderRequest("b1", "X", Side.BUY, Decimal(units)))
    sold = broker.submit(OrderRequest("s1", "X", Side.SELL, Decimal(units)))
    return [bought.commission, sold.commission]


def test_minimum_only_commission_costs_the_minimum_in_backtest_and_paper() -> None:
    # 10 shares at $100 with only a $1 minimum: 1.00 on both sides, everywhere
    backtest = _backtest_commissions(100.0, 10, CostModel(commission_min=1.0))
    paper = _paper_commissions("100", "10", PaperCosts(commission_min=Decimal(1)))
    assert backtest == paper == [Decimal("1.00"), Decimal("1.00")]


def test_a_sale_never_pays_more_than_its_proceeds_in_backtest_and_paper() -> None:
    # selling 1 share at $2 with 10 bps and a $5 minimum: the minimum is capped at $2.00
    backtest = _backtest_commissions(2.0, 1, CostModel(commission_bps=10, commission_min=5.0))
    paper = _paper_commissions(
        "2", "1", PaperCosts(commission_bps=Decimal(10), commission_min=Decimal(5))
    )
    assert backtest == paper == [Decimal("5.00"), Decimal("2.00")]


def test_the_sizers_estimate_is_the_cost_model() -> None:
    estimate = CommissionEstimate(bps=10, per_share=0.005, minimum=1.0)
    model = CostModel(commission_bps=10, commission_per_share=0.005, commission_min=1.0)
    for units, price in [(1, 2.0), (10, 100.0), (1234, 37.125), (500_000, 3.3)]:
        expected = units * price + model.commission_micro(units, int(price * 1e6), "buy") / 1e6
        assert estimate.cost(units, price) == pytest.approx(expected, rel=0, abs=1e-9)
    assert estimate.cost(0, 10.0) == 0.0


def test_decimal_and_micro_views_round_once_and_agree() -> None:
    model = CostModel(commission_bps=3.3, commission_per_share=0.0035, commission_min=0.35)
    for quantity, price in [(7, 12_345_678), (1, 1), (999, 250_000_001)]:
        micro = model.commission_micro(quantity, price, "buy")
        exact = model.commission(Decimal(quantity), Decimal(quantity * price).scaleb(-6), "buy")
        assert exact == Decimal(micro).scaleb(-6)


@given(
    answer=st.integers(0, 10**7),
    guess=st.integers(0, 10**8),
    upper=st.one_of(st.none(), st.integers(0, 10**8)),
)
def test_largest_affordable_finds_the_boundary_from_any_guess(
    answer: int, guess: int, upper: int | None
) -> None:
    calls: list[int] = []

    def fits(n: int) -> bool:
        calls.append(n)
        return n <= answer

    expected = answer if upper is None else min(answer, upper)
    assert largest_affordable(fits, guess, upper) == max(expected, 0)
    assert len(calls) < 120
