"""What an objective is, and the return floor mu' w >= min_return shared by the risk
minimisers: its row binds on a real solve, its precheck is the greedy bound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.constraints import Cardinality, PositionLimits
from tradefolio.portfolio.context import ModelContext, make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanAbsoluteDeviation, Objective
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")

CANDIDATES = [Candidate("A", 0.12, 10.0), Candidate("B", 0.04, 10.0), Candidate("C", 0.02, 10.0)]
# B never moves; A and C swing together (C cannot hedge A): the least deviation is all B.
SCENARIOS = pd.DataFrame(
    {"A": [0.03, -0.03, 0.03, -0.03], "B": [0.001] * 4, "C": [0.02, -0.02, 0.02, -0.02]}
)


class Halves(Objective):
    """maximise the weight of the first name minus half the second's (a toy objective)."""

    name = "halves"

    def build(self, ctx: ModelContext) -> None:
        ctx.program.add_objective({ctx.weights[0]: 1.0, ctx.weights[1]: -0.5})


def _solve(objective: Objective, *constraints: object) -> tuple[float, dict[str, float]]:
    model = PortfolioModel(objective, [PositionLimits(1.0), *constraints])  # type: ignore[list-item]
    result = model.solve(make_universe(CANDIDATES, 1000.0), fractional=True)
    return result.objective, {a.symbol: a.weight for a in result.allocations}


def test_a_new_objective_is_a_build_method() -> None:
    assert Objective().evaluate(np.zeros(2)) is None
    with pytest.raises(NotImplementedError):
        Objective().build(None)  # type: ignore[arg-type]
    value, weights = _solve(Halves())
    assert value == pytest.approx(1.0) and weights == pytest.approx({"A": 1.0})


def test_a_return_floor_binds_and_trades_deviation_for_return() -> None:
    free, weights = _solve(MeanAbsoluteDeviation(SCENARIOS))
    assert free == pytest.approx(0.0, abs=1e-10) and weights == pytest.approx({"B": 1.0})
    # mu' w >= 0.06: B is better than C on both return and deviation, so the floor is met
    # with A and B: 0.12 a + 0.04 (1 - a) = 0.06 at a = 0.25, deviation 0.25 * 0.03.
    floored, weights = _solve(MeanAbsoluteDeviation(SCENARIOS, min_return=0.06))
    assert weights == pytest.approx({"A": 0.25, "B": 0.75}, abs=1e-7)
    assert floored == pytest.approx(0.25 * 0.03, abs=1e-9)


def test_a_floor_no_allowed_portfolio_reaches_is_refused_with_the_greedy_bound() -> None:
    # One name at most, capped at 0.5: the best reachable return is 0.5 * 0.12 = 0.06.
    objective = MeanAbsoluteDeviation(SCENARIOS, min_return=0.07)
    model = PortfolioModel(objective, [PositionLimits(0.5), Cardinality(1)])
    with pytest.raises(InfeasibleAllocation, match=r"best reachable expected return is 0\.06"):
        model.solve(make_universe(CANDIDATES, 1000.0), fractional=True)
