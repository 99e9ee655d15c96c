"""Cost model: exact commission, slippage and the affordable quantity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.backtest.costs import NO_COSTS, CostModel
from tradefolio.errors import InvalidParameter


def test_no_costs_is_free() -> None:
    assert NO_COSTS.free
    assert NO_COSTS.fill_price_micro(1_234_567, "buy") == 1_234_567
    assert NO_COSTS.commission_micro(100, 1_000_000, "sell") == 0


def test_commission_and_slippage() -> None:
    costs = CostModel(
        commission_bps=10, commission_per_share=0.01, commission_min=1.0, slippage_bps=50
    )
    assert costs.fill_price_micro(10_000_000, "buy") == 10_050_000
    assert costs.fill_price_micro(10_000_000, "sell") == 9_950_000
    # 0.01 · 1000 + 10bps · 1000 · 10 = 10 + 10 = 20
    assert costs.commission_micro(1_000, 10_000_000, "buy") == 20_000_000
    assert costs.commission_micro(1, 10_000_000, "buy") == 1_000_000  # the minimum
    # a sale's commission never exceeds its proceeds
    assert CostModel(commission_min=5.0).commission_micro(1, 1_000_000, "sell") == 1_000_000


@pytest.mark.parametrize(
    "field", ["commission_bps", "commission_per_share", "commission_min", "slippage_bps"]
)
def test_negative_costs_are_rejected(field: str) -> None:
    with pytest.raises(InvalidParameter, match=field):
        CostModel(**{field: -1.0})


@given(
    wanted=st.integers(0, 10_000),
    price=st.integers(1, 50_000_000),
    cash=st.integers(0, 10**11),
    bps=st.sampled_from([0.0, 1.0, 30.0]),
    per_share=st.sampled_from([0.0, 0.005, 1.0]),
    minimum=st.sampled_from([0.0, 1.0, 10.0]),
)
def test_affordable_quantity_is_the_largest_that_cash_pays_for(
    wanted: int, price: int, cash: int, bps: float, per_share: float, minimum: float
) -> None:
    costs = CostModel(commission_bps=bps, commission_per_share=per_share, commission_min=minimum)

    def cost(quantity: int) -> int:
        return quantity * price + costs.commission_micro(quantity, price, "buy")

    quantity = costs.affordable_quantity(wanted, price, cash)
    assert 0 <= quantity <= wanted
    if quantity:
        assert cost(quantity) <= cash
    if quantity < wanted:
        assert cost(quantity + 1) > cash
