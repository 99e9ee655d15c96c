"""Minimum trade: a name is traded not at all or by at least the minimum; a full sale is
always allowed. Against brute force and by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import MinimumTrade, PositionLimits, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_the_minimum_matches_brute_force_and_holds(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "mad"]))
    inst = data.draw(
        cases(
            objective,
            holdings=True,
            min_trade=st.sampled_from([60.0, 250.0]),
            max_turnover=st.sampled_from([None, 0.5]),
            max_weight=0.6,
        )
    )
    result = assert_matches_brute_force(inst)
    if result is None:
        return
    held = dict(zip(inst.symbols, inst.held, strict=True))
    targets = {a.symbol: a.shares for a in result.allocations}
    for trade in result.trades:
        full_sale = targets.get(trade.symbol, 0.0) == 0 and held[trade.symbol] > 0
        # To the solvers' feasibility tolerance, 1e-6 of the account (`listed.LISTED_TOLERANCE`).
        assert full_sale or abs(trade.dollars) >= inst.min_trade - 1e-3  # type: ignore[operator]


def test_dust_can_always_be_sold_and_small_buys_are_skipped() -> None:
    # 3 A at 10 (30 dollars of dust) held; B scores best but the turnover budget of 0.05
    # (50 dollars) is below the 100-dollar minimum for a buy: sell the dust, buy nothing.
    candidates = [Candidate("A", -0.1, 10.0), Candidate("B", 0.3, 10.0)]
    universe = make_universe(candidates, 970.0, {"A": 3})
    model = PortfolioModel(
        ScoreObjective(), [PositionLimits(1.0), MinimumTrade(100.0), Turnover(0.05)]
    )
    result = model.solve(universe)
    assert [(t.symbol, t.shares) for t in result.trades] == [("A", -3.0)]
    assert result.allocations == ()


def test_a_minimum_must_be_positive() -> None:
    with pytest.raises(InvalidParameter, match="min trade must be > 0 dollars, got 0"):
        MinimumTrade(0.0)
