"""Turnover: sum |w - w0| <= max_turnover from the current holdings, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import PositionLimits, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_the_budget_matches_brute_force_and_holds(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "mad"]))
    inst = data.draw(
        cases(
            objective,
            holdings=True,
            max_turnover=st.sampled_from([0.0, 0.2, 0.6, 1.2]),
            max_weight=0.6,
        )
    )
    result = assert_matches_brute_force(inst)
    if result is not None:
        turnover = np.abs(weights_of(inst, result) - inst.w0).sum()
        assert turnover <= inst.max_turnover + 1e-6  # type: ignore[operator]


def test_a_zero_budget_keeps_the_holdings_and_a_small_one_moves_the_best_way() -> None:
    # V = 1,000: 30 A at 10 (0.3) held, 700 cash; B scores higher than A.
    candidates = [Candidate("A", 0.1, 10.0), Candidate("B", 0.3, 10.0)]
    universe = make_universe(candidates, 700.0, {"A": 30})
    frozen = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), Turnover(0.0)])
    kept = frozen.solve(universe, fractional=True)
    assert {a.symbol: a.weight for a in kept.allocations} == pytest.approx({"A": 0.3})
    # 0.4 of turnover is best spent buying 0.4 of B (worth more than selling A to buy B).
    moved = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), Turnover(0.4)])
    result = moved.solve(universe, fractional=True)
    assert {a.symbol: a.weight for a in result.allocations} == pytest.approx(
        {"A": 0.3, "B": 0.4}, abs=1e-7
    )
    assert result.turnover == pytest.approx(0.4, abs=1e-7)


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(InvalidParameter, match=r"max_turnover must be >= 0, got -0\.1"):
        Turnover(-0.1)
