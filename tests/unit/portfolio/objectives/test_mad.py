"""Mean absolute deviation (Konno-Yamazaki): the LP against brute force and by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from tradefolio.portfolio.constraints import Budget, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanAbsoluteDeviation
from tradefolio.portfolio.objectives.mad import mad_of
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, risk_cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(inst=risk_cases("mad"))
def test_the_optimum_matches_brute_force(inst) -> None:  # type: ignore[no-untyped-def]
    result = assert_matches_brute_force(inst)
    if result is not None:
        assert result.objective == pytest.approx(
            mad_of(inst.scenarios, weights_of(inst, result)), abs=1e-8
        )


def test_two_names_that_move_against_each_other_hedge_to_zero_deviation() -> None:
    # A: +2%, -2%, +2%, -2%; B the mirror image: half in each never deviates from its mean.
    scenarios = pd.DataFrame({"A": [0.02, -0.02, 0.02, -0.02], "B": [-0.02, 0.02, -0.02, 0.02]})
    universe = make_universe([Candidate("A", 0.1, 10.0), Candidate("B", 0.1, 10.0)], 1000.0)
    model = PortfolioModel(MeanAbsoluteDeviation(scenarios), [PositionLimits(1.0), Budget(1.0)])
    result = model.solve(universe, fractional=True)
    weights = {a.symbol: a.weight for a in result.allocations}
    assert weights == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-7)
    assert result.objective == pytest.approx(0.0, abs=1e-10)
    assert mad_of(scenarios.to_numpy(), np.array([1.0, 0.0])) == pytest.approx(0.02)
