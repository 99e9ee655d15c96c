"""The score objective: maximise sum score_i w_i; against brute force and the exact
O(N log N) algorithm."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.constraints import Cardinality, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.exact import solve_exact
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import assert_matches_brute_force, cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    inst=cases(
        "score",
        max_weight=st.sampled_from([0.3, 0.6]),
        min_weight=st.sampled_from([0.0, 0.2]),
        max_positions=st.integers(1, 3),
    )
)
def test_the_optimum_matches_brute_force(inst) -> None:  # type: ignore[no-untyped-def]
    result = assert_matches_brute_force(inst)
    assert result is not None  # positive scores and no floor on investment: always feasible
    assert result.objective == pytest.approx(float(inst.scores @ weights_of(inst, result)))


@settings(max_examples=30, deadline=None)
@given(
    scores=st.lists(st.floats(0.001, 5.0), min_size=1, max_size=12),
    max_weight=st.sampled_from([0.05, 0.2, 0.5]),
    min_weight=st.sampled_from([0.0, 0.01, 0.04]),
    max_positions=st.integers(1, 12),
    solver=st.sampled_from(["cbc", "scip", "highs"]),
)
def test_every_mip_solver_reaches_the_exact_optimum(
    scores: list[float], max_weight: float, min_weight: float, max_positions: int, solver: str
) -> None:
    candidates = [Candidate(f"S{i}", s, 10.0) for i, s in enumerate(scores)]
    universe = make_universe(candidates, 1000.0)
    model = PortfolioModel(
        ScoreObjective(), [PositionLimits(max_weight, min_weight), Cardinality(max_positions)]
    )
    result = model.solve(universe, solver=solver, fractional=True)
    exact = solve_exact(universe.expected, AllocatorParams(max_weight, min_weight, max_positions))
    assert result.objective == pytest.approx(exact.objective, rel=1e-7, abs=1e-9)
    assert result.objective_name == "score"
