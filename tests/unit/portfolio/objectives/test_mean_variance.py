"""Mean-variance: maximise mu' w - λ w' Σ w; against brute force and the score model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import Cardinality, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance, ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import assert_matches_brute_force, cases

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    inst=cases(
        "mean-variance",
        max_weight=st.sampled_from([0.5, 1.0]),
        min_weight=st.sampled_from([0.0, 0.1]),
        max_positions=st.integers(1, 4),
    )
)
def test_the_optimum_matches_brute_force(inst) -> None:  # type: ignore[no-untyped-def]
    assert_matches_brute_force(inst)


def test_one_name_in_closed_form() -> None:
    # max mu w - λ σ² w², w in [0, 1]: w* = mu / (2 λ σ²) = 0.1 / (2 * 2 * 0.05) = 0.5.
    risk = RiskModel(("A",), np.zeros((1, 1)), np.array([0.05]))
    universe = make_universe([Candidate("A", 0.1, 10.0)], 1000.0)
    result = PortfolioModel(MeanVariance(risk, 2.0), [PositionLimits(1.0)]).solve(
        universe, fractional=True
    )
    assert result.allocations[0].weight == pytest.approx(0.5, abs=1e-6)
    assert result.objective == pytest.approx(0.1 * 0.5 - 2.0 * 0.05 * 0.25, abs=1e-8)


@settings(max_examples=10, deadline=None)
@given(
    scores=st.lists(st.floats(0.01, 1.0).map(lambda v: round(v, 3)), min_size=1, max_size=6),
    max_positions=st.integers(1, 6),
)
def test_without_risk_aversion_it_is_the_score_model(
    scores: list[float], max_positions: int
) -> None:
    symbols = tuple(f"S{i}" for i in range(len(scores)))
    risk = RiskModel(symbols, np.ones((1, len(scores))) * 0.3, np.full(len(scores), 0.02))
    universe = make_universe(
        [Candidate(s, sc, 10.0) for s, sc in zip(symbols, scores, strict=True)], 1000.0
    )
    limits = [PositionLimits(0.3), Cardinality(max_positions)]
    blind = PortfolioModel(MeanVariance(risk, 0.0), limits).solve(universe, fractional=True)
    score = PortfolioModel(ScoreObjective(), limits).solve(universe, fractional=True)
    assert blind.objective == pytest.approx(score.objective, abs=1e-7)


def test_a_negative_risk_aversion_is_refused() -> None:
    risk = RiskModel(("A",), np.zeros((1, 1)), np.array([0.05]))
    with pytest.raises(InvalidParameter, match="risk aversion must be >= 0, got -1"):
        MeanVariance(risk, -1.0)
