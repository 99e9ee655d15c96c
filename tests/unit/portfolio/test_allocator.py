"""The score allocator: CBC/SCIP/HiGHS agree with the exact O(N log N) oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.allocation_checks import assert_satisfies_model, linked_mip_solvers
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio import AllocatorParams, Candidate, allocate
from tradefolio.portfolio.exact import solve_exact

pytest.importorskip("ortools")


LINKED_MIP_SOLVERS = linked_mip_solvers()


def brute_force_objective(scores: list[float], params: AllocatorParams) -> float:
    """Independent oracle for tiny N: every subset, each solved as an LP by greedy on weights."""
    positive = [s for s in scores if s > 0]
    best = 0.0
    for size in range(1, min(params.max_positions, len(positive)) + 1):
        for subset in itertools.combinations(positive, size):
            budget = 1.0 - size * params.min_weight
            if budget < -1e-12:
                continue
            value = params.min_weight * sum(subset)
            for score in sorted(subset, reverse=True):
                top_up = min(params.max_weight - params.min_weight, max(budget, 0.0))
                value += score * top_up
                budget -= top_up
            best = max(best, value)
    return best


scores_strategy = st.lists(
    st.one_of(
        st.sampled_from([0.5, 1.0, 2.0, -1.0, 0.0]),  # ties and non-positive scores
        st.floats(min_value=-2.0, max_value=5.0, allow_nan=False),
    ),
    min_size=0,
    max_size=30,
)


@st.composite
def params_strategy(draw: st.DrawFn) -> AllocatorParams:
    max_weight = draw(st.floats(min_value=0.01, max_value=1.0))
    min_weight = draw(st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=max_weight)))
    max_positions = draw(st.integers(min_value=1, max_value=40))
    return AllocatorParams(max_weight, min_weight, max_positions)


def _candidates(scores: list[float], rng_seed: int = 0) -> list[Candidate]:
    rng = np.random.default_rng(rng_seed)
    return [
        Candidate(f"S{i:03d}", float(score), float(rng.uniform(1, 500)))
        for i, score in enumerate(scores)
    ]


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores=scores_strategy, params=params_strategy())
def test_cbc_and_exact_agree_on_random_instances(
    scores: list[float], params: AllocatorParams
) -> None:
    candidates = _candidates(scores)
    exact = allocate(candidates, 1_000_000, params, solver="exact")
    cbc = allocate(candidates, 1_000_000, params, solver="cbc")
    assert math.isclose(cbc.objective, exact.objective, rel_tol=1e-6, abs_tol=1e-9)
    # The claim is honest against the exact optimum: "optimal" only within what the proof
    # promises (a 1e-9 relative gap, CBC's noise of 1e-8 of the largest score, or what the
    # names it may leave out add: score x cap); else "feasible" with a bound that holds
    # the optimum. CBC may leave out a name whose score
    # is 1e-7 of the largest (its tolerances), so "optimal" is required only for scores
    # within three orders of magnitude.
    positive = [s for s in scores if s > 0]
    largest = max(positive, default=0.0)
    ignorable = sum(s * params.max_weight for s in positive if s < 1e-7 * largest)
    noise = max(1e-9 * abs(exact.objective), 1e-8 * largest, ignorable) + 1e-12
    if cbc.status == "optimal":
        assert exact.objective - cbc.objective <= noise
    else:
        assert cbc.best_bound >= exact.objective - noise
        assert cbc.gap > 0
    if not positive or min(positive) >= 1e-3 * max(positive):
        assert cbc.status == "optimal"
    assert_satisfies_model(exact, candidates, params)
    assert_satisfies_model(cbc, candidates, params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores=scores_strategy, params=params_strategy())
@pytest.mark.parametrize("solver", [s for s in LINKED_MIP_SOLVERS if s != "cbc"])
def test_other_mip_solvers_agree_with_exact(
    solver: str, scores: list[float], params: AllocatorParams
) -> None:
    candidates = _candidates(scores)
    exact = allocate(candidates, 1_000_000, params, solver="exact")
    result = allocate(candidates, 1_000_000, params, solver=solver)
    assert math.isclose(result.objective, exact.objective, rel_tol=1e-6, abs_tol=1e-9)
    assert_satisfies_model(result, candidates, params)


@settings(max_examples=1500, deadline=None)
@given(scores=st.lists(st.floats(-1.0, 3.0), max_size=8), params=params_strategy())
def test_exact_matches_brute_force(scores: list[float], params: AllocatorParams) -> None:
    positive = np.array([s for s in scores if s > 0])
    exact = solve_exact(positive, params)
    assert math.isclose(
        exact.objective, brute_force_objective(scores, params), rel_tol=1e-9, abs_tol=1e-12
    )
    assert exact.weights.sum() <= 1 + 1e-9
    held = exact.weights > 0
    assert held.sum() <= params.max_positions
    assert np.all(exact.weights[held] >= params.min_weight - 1e-12)
    assert np.all(exact.weights <= params.max_weight + 1e-12)


@pytest.mark.parametrize("solver", LINKED_MIP_SOLVERS)
@pytest.mark.parametrize(
    ("params", "n"),
    [
        (AllocatorParams(0.3, 0.2, 10), 20),  # max_positions * min_weight > 1
        (AllocatorParams(0.05, 0.01, 5), 20),  # max_positions * max_weight < 1
        (AllocatorParams(0.5, 0.1, 10), 3),  # fewer candidates than max_positions
        (AllocatorParams(1.0, 0.0, 1), 12),  # single name, no floor
        (AllocatorParams(0.25, 0.25, 4), 9),  # min == max
    ],
)
def test_every_linked_solver_agrees_with_exact_on_edge_cases(
    solver: str, params: AllocatorParams, n: int
) -> None:
    rng = np.random.default_rng(n)
    candidates = _candidates(list(rng.uniform(-0.2, 1.0, size=n)), n)
    exact = allocate(candidates, 50_000, params, solver="exact")
    result = allocate(candidates, 50_000, params, solver=solver)
    assert math.isclose(result.objective, exact.objective, rel_tol=1e-6)
    assert_satisfies_model(result, candidates, params)


def test_ties_everywhere() -> None:
    candidates = _candidates([1.0] * 15)
    params = AllocatorParams(0.1, 0.05, 12)
    exact = allocate(candidates, 10_000, params, solver="exact")
    cbc = allocate(candidates, 10_000, params, solver="cbc")
    assert math.isclose(exact.objective, 1.0) and math.isclose(cbc.objective, 1.0)
    assert_satisfies_model(cbc, candidates, params)


def test_known_small_instance() -> None:
    candidates = [
        Candidate("A", 3.0, 10.0),
        Candidate("B", 2.0, 20.0),
        Candidate("C", 1.0, 7.0),
        Candidate("D", -1.0, 5.0),
    ]
    result = allocate(candidates, 1000, AllocatorParams(0.4, 0.1, 3), solver="cbc")
    assert result.weights == pytest.approx({"A": 0.4, "B": 0.4, "C": 0.2})
    assert result.objective == pytest.approx(3 * 0.4 + 2 * 0.4 + 0.2)
    assert {a.symbol: a.shares for a in result.allocations} == {"A": 40, "B": 20, "C": 28}
    assert result.cash == pytest.approx(1000 - 400 - 400 - 196)
    assert result.dropped == ("D",)


def test_fractional_shares_spend_dollars() -> None:
    candidates = [Candidate("A", 1.0, 333.0), Candidate("B", 0.5, 77.7)]
    params = AllocatorParams(0.5, 0.0, 2)
    result = allocate(candidates, 1000, params, fractional=True, solver="exact")
    assert_satisfies_model(result, candidates, params, fractional=True)
    assert result.cash < 0.01


def test_all_scores_non_positive_gives_empty_allocation() -> None:
    result = allocate(_candidates([-1.0, 0.0]), 1000, solver="cbc")
    assert result.allocations == () and result.cash == 1000 and result.objective == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_weight": 0.0}, "max_weight"),
        ({"max_weight": 1.5}, "max_weight"),
        ({"min_weight": -0.1}, "min_weight"),
        ({"min_weight": 0.5, "max_weight": 0.4}, "must not exceed"),
        ({"max_positions": 0}, "max_positions"),
        ({"max_weight": float("nan")}, "max_weight"),
    ],
)
def test_invalid_params_name_the_parameter(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        AllocatorParams(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([Candidate("A", 1, 10), Candidate("A", 2, 10)], "duplicate"),
        ([Candidate("A", float("nan"), 10)], "finite"),
        ([Candidate("A", float("inf"), 10)], "finite"),
        ([Candidate("A", 1, 0)], "price"),
        ([Candidate("A", 1, -3)], "price"),
    ],
)
def test_bad_candidates_raise_data_error(candidates: list[Candidate], message: str) -> None:
    with pytest.raises(DataError, match=message):
        allocate(candidates, 1000)


def test_bad_capital_solver_and_time_limit() -> None:
    candidates = _candidates([1.0])
    with pytest.raises(InvalidParameter, match="capital"):
        allocate(candidates, 0)
    with pytest.raises(InvalidParameter, match="unknown solver"):
        allocate(candidates, 1000, solver="gurobi")
    with pytest.raises(InvalidParameter, match="time_limit"):
        allocate(candidates, 1000, time_limit=0)


def test_large_instance_cbc_matches_exact() -> None:
    rng = np.random.default_rng(7)
    candidates = _candidates(list(rng.normal(0.05, 0.1, size=2000)), 7)
    params = AllocatorParams(0.04, 0.01, 40)
    exact = allocate(candidates, 1e6, params, solver="exact")
    cbc = allocate(candidates, 1e6, params, solver="cbc")
    assert math.isclose(cbc.objective, exact.objective, rel_tol=1e-6)
    assert_satisfies_model(cbc, candidates, params)


@pytest.mark.parametrize("solver", LINKED_MIP_SOLVERS)
def test_identical_columns_regression(solver: str) -> None:
    """CBC's presolve merges identical columns and once returned w = 1.0 above a 0.93 cap."""
    candidates = _candidates([0.5, 0.5, 1.0, 0.5, 1.0, 1.0])
    params = AllocatorParams(0.9300286916542706, 0.0, 6)
    result = allocate(candidates, 1_000_000, params, solver=solver)
    assert result.objective == pytest.approx(1.0)
    assert_satisfies_model(result, candidates, params)


def test_tiny_scores_still_count() -> None:
    """Solvers' absolute tolerances must not swallow small but real score differences."""
    candidates = _candidates([0.5, 0.5, 1.0, 0.99999])
    params = AllocatorParams(0.4375, 0.25, 3)
    exact = allocate(candidates, 1e6, params, solver="exact")
    for solver in LINKED_MIP_SOLVERS:
        result = allocate(candidates, 1e6, params, solver=solver)
        assert result.objective == pytest.approx(exact.objective, rel=1e-9), solver
