"""Budget: min_invested <= sum w <= max_invested, on real solves against independent optima."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import Budget, Cardinality, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_a_minimum_investment_matches_brute_force(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["mean-variance", "min-variance", "mad"]))
    inst = data.draw(
        cases(objective, min_invested=st.sampled_from([0.0, 0.3, 0.6, 0.9]), max_weight=0.6)
    )
    result = assert_matches_brute_force(inst)
    if result is not None:
        assert weights_of(inst, result).sum() >= inst.min_invested - 1e-6


@settings(max_examples=30, deadline=None)
@given(
    scores=st.lists(st.floats(0.01, 2.0).map(lambda v: round(v, 3)), min_size=1, max_size=8),
    max_weight=st.sampled_from([0.2, 0.35, 0.5, 1.0]),
    max_positions=st.integers(1, 8),
    max_invested=st.sampled_from([0.1, 0.45, 0.8, 1.0]),
)
def test_a_maximum_investment_is_the_greedy_fill_of_the_best_names(
    scores: list[float], max_weight: float, max_positions: int, max_invested: float
) -> None:
    # Positive scores, caps and no floors: the optimum takes the best `max_positions` names
    # in score order, each up to its cap, until `max_invested` is spent (a fractional
    # knapsack: exact, and independent of any solver).
    candidates = [Candidate(f"S{i}", s, 10.0) for i, s in enumerate(scores)]
    model = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(max_weight), Cardinality(max_positions), Budget(0.0, max_invested)],
    )
    result = model.solve(make_universe(candidates, 1000.0), fractional=True)
    left, best = max_invested, 0.0
    for score in sorted(scores, reverse=True)[:max_positions]:
        take = min(max_weight, left)
        best, left = best + take * score, left - take
    assert result.objective == pytest.approx(best, abs=1e-7)
    assert sum(a.weight for a in result.allocations) <= max_invested + 1e-6


def test_bad_bounds_name_the_parameter() -> None:
    with pytest.raises(InvalidParameter, match=r"max_invested must be in \(0, 1\], got 0"):
        Budget(0.0, 0.0)
    with pytest.raises(InvalidParameter, match=r"min_invested must be in \[0, max_invested=0.5\]"):
        Budget(0.6, 0.5)
