"""Transaction costs: bps of traded value plus a fixed cost per traded name, paid from cash,
in the objective or under a budget; against brute force and by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation, InvalidParameter
from tradefolio.portfolio.constraints import PositionLimits, TransactionCosts
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_costs_in_the_objective_match_brute_force(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "cvar"]))
    inst = data.draw(
        cases(
            objective,
            holdings=True,
            bps=st.sampled_from([10.0, 100.0]),
            fixed=st.sampled_from([0.0, 3.0]),
            max_weight=0.6,
        )
    )
    result = assert_matches_brute_force(inst)
    if result is not None:
        # What the result reports is the formula over the trades it lists.
        expected = sum(inst.bps / 1e4 * abs(t.dollars) + inst.fixed for t in result.trades)
        assert result.costs == pytest.approx(expected, abs=1e-6)
        assert result.cash >= -1e-6


def test_costs_are_paid_from_cash_and_a_budget_limits_the_trading() -> None:
    # 1,000 cash, one name: 100 bps means buying w costs 0.01 w, so w + 0.01 w <= 1.
    candidates = [Candidate("A", 0.2, 10.0)]
    universe = make_universe(candidates, 1000.0)
    paid = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), TransactionCosts(bps=100.0)])
    result = paid.solve(universe, fractional=True)
    assert result.allocations[0].weight == pytest.approx(1 / 1.01)
    assert result.costs == pytest.approx(1000 / 1.01 * 0.01)
    assert result.objective == pytest.approx(0.2 / 1.01 - 0.01 / 1.01)
    # A budget of 2 dollars at 100 bps allows 200 dollars of trading, no more.
    capped = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(1.0), TransactionCosts(bps=100.0, in_objective=False, budget=2.0)],
    )
    result = capped.solve(universe, fractional=True)
    assert result.allocations[0].dollars == pytest.approx(200.0, abs=1e-6)
    assert result.costs == pytest.approx(2.0, abs=1e-8)


def test_forced_sells_beyond_the_budget_are_named() -> None:
    # OLD is held but no candidate: its 500 dollars are always sold, at 1% = 5 > budget 1.
    universe = make_universe([Candidate("A", 0.1, 10.0)], 500.0, {"OLD": 50}, {"OLD": 10.0})
    model = PortfolioModel(
        ScoreObjective(), [PositionLimits(1.0), TransactionCosts(bps=100.0, budget=1.0)]
    )
    with pytest.raises(InfeasibleAllocation, match=r"costs 5\.00, more than the budget 1\.00"):
        model.solve(universe, fractional=True)


def test_negative_rates_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="cost bps must be >= 0, got -1"):
        TransactionCosts(bps=-1)
    with pytest.raises(InvalidParameter, match="cost budget must be >= 0 dollars, got -5"):
        TransactionCosts(budget=-5)
