"""Position limits: w_i <= max_weight and w_i >= min_weight x_i, against brute force."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation, InvalidParameter
from tradefolio.portfolio.constraints import Budget, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_caps_and_floors_match_brute_force_and_hold(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "min-variance", "mad"]))
    inst = data.draw(
        cases(
            objective,
            max_weight=st.sampled_from([0.3, 0.5, 1.0]),
            min_weight=st.sampled_from([0.0, 0.1, 0.25]),
            max_positions=st.integers(1, 4),
        )
    )
    result = assert_matches_brute_force(inst)
    if result is None:
        return
    weights = weights_of(inst, result)
    assert (weights <= inst.max_weight + 1e-6).all()
    held = weights > 1e-6
    assert (weights[held] >= inst.min_weight - 1e-6).all()


def test_caps_too_small_for_the_minimum_investment_are_infeasible() -> None:
    candidates = [Candidate("A", 0.2, 10.0), Candidate("B", 0.1, 10.0)]
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.3), Budget(0.7)])
    with pytest.raises(InfeasibleAllocation):
        model.solve(make_universe(candidates, 1000.0), fractional=True)
    # 0.3 + 0.3 = 0.6 of the account at most: with a 0.6 floor on investment it is feasible.
    feasible = PortfolioModel(ScoreObjective(), [PositionLimits(0.3), Budget(0.6)])
    result = feasible.solve(make_universe(candidates, 1000.0), fractional=True)
    assert result.objective == pytest.approx(0.3 * 0.2 + 0.3 * 0.1)


def test_limits_outside_their_range_name_it() -> None:
    with pytest.raises(InvalidParameter, match=r"max_weight must be in \(0, 1\], got 1.5"):
        PositionLimits(1.5)
    with pytest.raises(InvalidParameter, match=r"min_weight must be in \[0, max_weight=0.2\]"):
        PositionLimits(0.2, 0.3)
