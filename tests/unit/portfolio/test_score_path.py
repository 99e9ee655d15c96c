"""The score model's fast path: which models take it, and the polish of a MIP's selection."""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.errors import InvalidParameter, SolverError
from tradefolio.portfolio.allocator import score_model
from tradefolio.portfolio.backends import RawSolution
from tradefolio.portfolio.constraints import Cardinality, PositionLimits, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.exact import solve_exact
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.score_path import polish_selection, polished_claim, score_shape
from tradefolio.portfolio.types import Candidate

PARAMS = AllocatorParams(max_weight=0.4, min_weight=0.1, max_positions=2)
CANDIDATES = [Candidate("A", 0.3, 10.0), Candidate("B", 0.2, 10.0), Candidate("C", 0.1, 10.0)]


def test_only_the_score_model_is_score_shaped() -> None:
    universe = make_universe(CANDIDATES, 1000.0)
    model = score_model(PARAMS)
    assert score_shape(model.objective, model.constraints, universe) == PARAMS
    assert score_shape(ScoreObjective(), [], universe) == AllocatorParams(1.0, 0.0, 3)
    with_turnover = [*model.constraints, Turnover(0.5)]
    assert score_shape(ScoreObjective(), with_turnover, universe) is None
    held = make_universe(CANDIDATES, 1000.0, {"A": 1.0})
    assert score_shape(model.objective, model.constraints, held) is None
    negative = make_universe([*CANDIDATES, Candidate("D", -0.1, 10.0)], 1000.0)
    assert score_shape(model.objective, model.constraints, negative) is None


def test_exact_is_refused_for_any_other_model() -> None:
    universe = make_universe(CANDIDATES, 1000.0)
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.4), Turnover(0.5)])
    with pytest.raises(InvalidParameter, match="--solver exact solves only the score model"):
        model.solve(universe, solver="exact")


def test_exact_and_cbc_answer_alike_through_the_model() -> None:
    universe = make_universe(CANDIDATES, 1000.0)
    exact = score_model(PARAMS).solve(universe, solver="exact")
    cbc = score_model(PARAMS).solve(universe, solver="cbc")
    assert exact.weights == cbc.weights == {"A": 0.4, "B": 0.4}
    assert exact.objective == pytest.approx(solve_exact(universe.expected, PARAMS).objective)
    assert exact.gap == 0.0 and cbc.status == "optimal"
    assert [t.shares for t in cbc.trades] == [40.0, 40.0]  # buys from cash


def test_the_polish_keeps_the_selection_and_recomputes_its_weights() -> None:
    scores = np.array([0.3, 0.2, 0.1])
    # CBC-like answer: B and C selected with weights off by round-off
    polished = polish_selection(
        scores, np.array([0.0, 0.4000001, 0.3999]), np.array([0.0, 1.0, 1.0]), PARAMS, "cbc"
    )
    assert polished.weights.tolist() == [0.0, 0.4, 0.4]
    assert polished.objective == pytest.approx(0.12)


def test_a_weight_within_tolerance_is_not_an_extra_name() -> None:
    """An unselected 5e-9 weight beyond max_positions is the solver's tolerance, not a
    third name (it used to count, and the selection then broke the cardinality)."""
    scores = np.array([0.3, 0.2, 0.1])
    polished = polish_selection(
        scores, np.array([0.4, 0.4, 5e-9]), np.array([1.0, 1.0, 0.0]), PARAMS, "scip"
    )
    assert np.count_nonzero(polished.weights) == 2


def test_a_selection_that_breaks_the_cardinality_is_a_solver_error() -> None:
    scores = np.array([0.3, 0.2, 0.1])
    with pytest.raises(SolverError, match="invalid solution"):
        polish_selection(scores, np.full(3, 0.3), np.ones(3), PARAMS, "cbc")


def test_cardinality_alone_is_score_shaped() -> None:
    universe = make_universe(CANDIDATES, 1000.0)
    params = score_shape(ScoreObjective(), [Cardinality(1)], universe)
    assert params == AllocatorParams(1.0, 0.0, 1)


def test_a_position_limit_configured_beyond_the_seed_is_not_score_shaped() -> None:
    universe = make_universe(CANDIDATES, 1000.0)
    limits = PositionLimits(0.4, 0.1)
    limits.bounds = {"A": (0.0, 0.1)}  # type: ignore[attr-defined]  # e.g. per-name bounds
    assert score_shape(ScoreObjective(), [limits, Cardinality(2)], universe) is None


def _raw(objective: float, bound: float, status: str = "optimal") -> RawSolution:
    return RawSolution(np.zeros(4), status, objective, bound, "cbc", gap=0.0)  # type: ignore[arg-type]


def test_the_claim_is_made_about_the_polished_answer() -> None:
    """The solver selected a 1e-7 name beside a 2.0 one but left its weight at zero: its own
    point is 5e-8 (relative) short of its bound and "feasible"; the exact weights of that
    selection reach the bound, so the answer returned is proven optimal."""
    scale = 1e3 / 2.0
    optimum = 2.0 * 0.5 + 1e-7 * 0.5
    assert polished_claim(optimum, _raw(1.0, optimum, "feasible"), scale) == (
        "optimal",
        optimum,
        0.0,
    )


def test_a_name_left_out_keeps_its_gap() -> None:
    """Polishing cannot add a name the solver did not select: 1e-6 of a 2.0 score short of
    the bound (5e-4 in the solver's units, beyond its proof's noise) stays "feasible", with
    the solver's bound and the gap to it."""
    scale = 1e3 / 2.0
    status, bound, gap = polished_claim(1.0, _raw(1.0, 1.000001), scale)
    assert status == "feasible"
    assert bound == 1.000001
    assert gap == pytest.approx(1e-6 / 1.000001)


def test_round_off_and_proof_noise_are_optimal() -> None:
    scale = 1e3 / 2.0
    assert polished_claim(1.0, _raw(1.0, 1.0 + 1e-13), scale)[0] == "optimal"  # round-off
    noise = polished_claim(1.0, _raw(1.0, 1.0 + 1.5e-8), scale)  # 7.5e-6 scaled
    assert noise[0] == "optimal"
    assert noise[2] > 1e-9  # the gap is still reported as it is
