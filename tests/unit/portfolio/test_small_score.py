"""The numpy-free score model (`small_score.py`) against the allocator it stands in for.

The oracle is `allocator.allocate` itself (the composable model, numpy, the same OR-Tools
solver): for every instance the two must return the same `AllocationResult`, compared
with `repr` so that every float agrees bit for bit, not just to a tolerance.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.allocation_checks import linked_mip_solvers
from tradefolio.errors import InvalidParameter
from tradefolio.portfolio import backends, exact, score_path
from tradefolio.portfolio import small_score as small
from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")


LINKED = linked_mip_solvers()

scores = st.one_of(
    st.sampled_from([2.0, 1.0, 1.0, 0.5, 1e-7, 1e-12, 0.0, -1.0, 3.0000000000000004]),
    st.floats(min_value=-2.0, max_value=5.0, allow_nan=False, allow_subnormal=False),
)
prices = st.one_of(
    st.sampled_from([1.0, 7.0, 0.01, 333.33]),
    st.floats(min_value=0.01, max_value=5_000.0, allow_nan=False),
)


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Candidate], AllocatorParams, float]:
    count = draw(st.integers(min_value=0, max_value=12))
    candidates = [Candidate(f"S{i:02d}", draw(scores), draw(prices)) for i in range(count)]
    max_weight = draw(st.one_of(st.sampled_from([1.0, 0.25, 0.1, 1 / 3]), st.floats(0.01, 1.0)))
    min_weight = draw(st.one_of(st.just(0.0), st.just(max_weight), st.floats(0.0, max_weight)))
    params = AllocatorParams(max_weight, min_weight, draw(st.integers(1, 14)))
    capital = draw(st.one_of(st.just(100_000.0), st.floats(1.0, 1e9)))
    return candidates, params, capital


def test_the_constants_are_the_full_paths() -> None:
    assert small.SOLVERS == SOLVERS
    assert small.PROTO_FROM_NONZEROS == backends.PROTO_FROM_NONZEROS
    assert small.SCORE_RELATIVE_GAP == score_path.SCORE_RELATIVE_GAP
    assert small.LINEAR_ABSOLUTE_GAP == backends.LINEAR_ABSOLUTE_GAP
    assert small.ABSOLUTE_GAP == backends.ABSOLUTE_GAP
    assert small.OBJECTIVE_SCALE == backends._OBJECTIVE_SCALE
    assert small.ROUND_OFF_GAP == backends._ROUND_OFF_GAP
    assert small.ZERO_WEIGHT == score_path._ZERO_WEIGHT
    assert small.COUNT_TOLERANCE == exact._COUNT_TOLERANCE


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(), solver=st.sampled_from([*LINKED, "exact"]), fractional=st.booleans())
def test_same_result_as_the_allocator_bit_for_bit(
    instance: tuple[list[Candidate], AllocatorParams, float], solver: str, fractional: bool
) -> None:
    candidates, params, capital = instance
    quick = small.allocate_small(candidates, capital, params, fractional=fractional, solver=solver)
    full = allocate(candidates, capital, params, fractional=fractional, solver=solver)
    assert quick is not None  # at most 12 names: always small
    assert repr(quick) == repr(full)
    assert quick == full


def test_ties_tiny_scores_and_floors_match() -> None:
    candidates = [
        Candidate("AAA", 2.0, 10.0),
        Candidate("BBB", 1e-7, 20.0),
        Candidate("CCC", 2.0, 7.0),
        Candidate("DDD", -1.0, 5.0),
        Candidate("EEE", 0.1 + 0.2, 3.0),
    ]
    for params in (AllocatorParams(), AllocatorParams(0.3, 0.3, 3), AllocatorParams(1.0, 0.0, 1)):
        for solver in ("cbc", "exact"):
            quick = small.allocate_small(candidates, 250_000.0, params, solver=solver)
            full = allocate(candidates, 250_000.0, params, solver=solver)
            assert repr(quick) == repr(full)
            assert quick is not None and quick.dropped == ("DDD",)


def test_a_universe_beyond_the_direct_calls_is_left_to_the_allocator() -> None:
    params = AllocatorParams()  # min_weight > 0: 7 non-zeros a name, 200 from 29 names
    fit = [Candidate(f"S{i}", 1.0 + i, 10.0) for i in range(28)]
    assert small.fits(fit, params)
    assert small.allocate_small(fit, 1e5, params) == allocate(fit, 1e5, params)
    beyond = [*fit, Candidate("S28", 0.5, 10.0)]
    assert not small.fits(beyond, params)
    assert small.allocate_small(beyond, 1e5, params) is None
    negative = [Candidate(f"N{i}", -1.0, 10.0) for i in range(1_000)]
    assert small.fits(negative, params)  # nothing to hold: nothing to solve


@pytest.mark.parametrize(
    ("capital", "solver", "time_limit", "fragment"),
    [
        (0.0, "cbc", 10.0, "capital must be a finite number > 0"),
        (float("nan"), "cbc", 10.0, "capital must be a finite number > 0"),
        (1e5, "glpk", 10.0, "unknown solver 'glpk'"),
        (1e5, "cbc", 0.0, "time_limit must be > 0 seconds"),
    ],
)
def test_bad_arguments_are_the_allocators_errors(
    capital: float, solver: str, time_limit: float, fragment: str
) -> None:
    candidates = [Candidate("AAA", 1.0, 10.0)]
    with pytest.raises(InvalidParameter, match=fragment) as quick:
        small.allocate_small(
            candidates, capital, AllocatorParams(), solver=solver, time_limit=time_limit
        )
    with pytest.raises(InvalidParameter) as full:
        allocate(candidates, capital, AllocatorParams(), solver=solver, time_limit=time_limit)
    assert str(quick.value) == str(full.value)
