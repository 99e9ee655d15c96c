"""Minimum variance: minimise w' Σ w (optionally with a return floor); against brute force
and a closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.constraints import PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MinVariance
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, risk_cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(inst=risk_cases("min-variance"))
def test_the_optimum_matches_brute_force(inst) -> None:  # type: ignore[no-untyped-def]
    result = assert_matches_brute_force(inst)
    if result is not None:
        w = weights_of(inst, result)
        sigma = inst.loadings.T @ inst.loadings + 0.01 * np.eye(len(w))
        assert result.objective == pytest.approx(float(w @ sigma @ w), abs=1e-7)


def test_uncorrelated_names_are_held_in_inverse_variance_and_a_floor_tilts_them() -> None:
    # Σ = diag(0.04, 0.01), fully invested: w ∝ 1/σ² = (0.2, 0.8), variance 0.008.
    risk = RiskModel(("A", "B"), np.zeros((1, 2)), np.array([0.04, 0.01]))
    universe = make_universe([Candidate("A", 0.10, 10.0), Candidate("B", 0.02, 10.0)], 1000.0)
    plain = PortfolioModel(MinVariance(risk), [PositionLimits(1.0)])
    result = plain.solve(universe, fractional=True)
    weights = {a.symbol: a.weight for a in result.allocations}
    assert weights == pytest.approx({"A": 0.2, "B": 0.8}, abs=1e-5)
    assert result.objective == pytest.approx(0.008, abs=1e-7)
    # A return floor of 0.06 = 0.1 a + 0.02 (1 - a) needs a = 0.5: variance 0.0125.
    floored = PortfolioModel(MinVariance(risk, min_return=0.06), [PositionLimits(1.0)])
    result = floored.solve(universe, fractional=True)
    weights = {a.symbol: a.weight for a in result.allocations}
    assert weights == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-5)
    assert result.objective == pytest.approx(0.0125, abs=1e-7)


def test_a_floor_above_the_best_reachable_return_is_named() -> None:
    risk = RiskModel(("A",), np.zeros((1, 1)), np.array([0.04]))
    universe = make_universe([Candidate("A", 0.10, 10.0)], 1000.0)
    model = PortfolioModel(MinVariance(risk, min_return=0.2), [PositionLimits(0.5)])
    with pytest.raises(InfeasibleAllocation, match=r"best reachable expected return is 0\.05"):
        model.solve(universe, fractional=True)
