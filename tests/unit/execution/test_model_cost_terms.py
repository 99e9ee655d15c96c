"""One cost formula: the allocation model's cost terms are the trading core's commission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.execution.costs import CostModel
from tradefolio.portfolio.constraints import TransactionCosts
from tradefolio.portfolio.holdings import Trade


@given(
    bps=st.sampled_from([0.0, 1.0, 5.0, 10.0, 25.5]),
    fixed=st.sampled_from([0.0, 1.0, 4.99]),
    quantity=st.integers(1, 100_000),
    price_cents=st.integers(1, 500_000),
    side=st.sampled_from(["buy", "sell"]),
)
def test_the_model_expects_what_the_fill_pays(
    bps: float, fixed: float, quantity: int, price_cents: int, side: str
) -> None:
    costs = CostModel(commission_bps=bps, commission_fixed=fixed)
    model_bps, model_fixed = costs.model_cost_terms()
    assert (model_bps, model_fixed) == (bps, fixed)
    price = price_cents / 100
    expected = TransactionCosts(model_bps, model_fixed).cost_of(
        [Trade("X", quantity if side == "buy" else -quantity, price)]
    )
    paid = costs.commission(Decimal(quantity), Decimal(quantity) * Decimal(str(price)), side)
    cap = quantity * price if side == "sell" else float("inf")  # a sale never costs more
    assert float(paid) == pytest.approx(min(expected, cap), abs=1e-6)


def test_fixed_fee_is_per_fill_and_under_the_minimum() -> None:
    costs = CostModel(commission_bps=10, commission_fixed=1, commission_min=2)
    assert costs.commission_micro(10, 10_000_000, "buy") == 2_000_000  # max(2, 1 + 0.1)
    assert costs.commission_micro(100, 100_000_000, "buy") == 11_000_000  # 1 + 10 bps of 10k
    assert costs.commission_micro(0, 100_000_000, "buy") == 0


def test_slippage_enters_the_model_rate_and_nonlinear_terms_are_refused() -> None:
    bps, fixed = CostModel(commission_bps=5, slippage_bps=10).model_cost_terms()
    assert bps == pytest.approx(15.005) and fixed == 0.0  # s + b + s·b, in bps
    for nonlinear in ({"commission_min": 1.0}, {"commission_per_share": 0.005}):
        with pytest.raises(InvalidParameter, match="--cost-bps and --fixed-cost"):
            CostModel(**nonlinear).model_cost_terms()
