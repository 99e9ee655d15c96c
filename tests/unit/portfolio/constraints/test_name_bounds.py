"""Per-name bounds: min_i x_i <= w_i <= max_i, against an exact enumeration.

For the score objective with positive scores the optimum of a fixed set of held names is
a greedy fill: every held name at its floor, then the rest of the budget in score order up
to the caps. Enumerating the held sets (N <= 6) gives the exact optimum without a solver.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.errors import DataError, InfeasibleAllocation, InvalidParameter
from tradefolio.portfolio.constraints import Budget, Cardinality, NameBounds
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")


def enumerated(scores: list[float], bounds: list[tuple[float, float]], k: int) -> float | None:
    best: float | None = None
    for size in range(k + 1):
        for held in itertools.combinations(range(len(scores)), size):
            floors = sum(bounds[i][0] for i in held)
            if floors > 1 + 1e-12:
                continue
            value = sum(bounds[i][0] * scores[i] for i in held)
            left = 1.0 - floors
            for i in sorted(held, key=lambda i: -scores[i]):
                take = min(bounds[i][1] - bounds[i][0], left)
                value, left = value + take * scores[i], left - take
            best = value if best is None else max(best, value)
    return best


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0.01, 1.0).map(lambda v: round(v, 3)),
            st.sampled_from([0.0, 0.1, 0.3]),
            st.sampled_from([0.2, 0.4, 0.7, 1.0]),
        ),
        min_size=1,
        max_size=6,
    ),
    k=st.integers(1, 6),
)
def test_the_optimum_matches_the_enumeration(
    rows: list[tuple[float, float, float]], k: int
) -> None:
    scores = [score for score, _, _ in rows]
    bounds = [(min(low, high), high) for _, low, high in rows]
    symbols = [f"S{i}" for i in range(len(rows))]
    model = PortfolioModel(
        ScoreObjective(),
        [NameBounds(dict(zip(symbols, bounds, strict=True))), Cardinality(k)],
    )
    candidates = [Candidate(s, sc, 10.0) for s, sc in zip(symbols, scores, strict=True)]
    result = model.solve(make_universe(candidates, 1000.0), fractional=True)
    assert result.objective == pytest.approx(enumerated(scores, bounds, k), abs=1e-7)
    for allocation in result.allocations:
        low, high = bounds[symbols.index(allocation.symbol)]
        assert low - 1e-6 <= allocation.weight <= high + 1e-6


def test_caps_below_the_minimum_investment_are_named() -> None:
    candidates = [Candidate("A", 0.2, 10.0), Candidate("B", 0.1, 10.0)]
    model = PortfolioModel(
        ScoreObjective(), [NameBounds({"A": (0.0, 0.2), "B": (0.0, 0.3)}), Budget(0.8)]
    )
    with pytest.raises(InfeasibleAllocation, match=r"the caps add up to 0\.5, below the minimum"):
        model.solve(make_universe(candidates, 1000.0), fractional=True)


def test_bounds_for_an_unknown_name_and_bad_ranges_are_refused() -> None:
    model = PortfolioModel(ScoreObjective(), [NameBounds({"ZZZ": (0.0, 0.5)})])
    with pytest.raises(DataError, match="bounds name ZZZ which is not a candidate"):
        model.solve(make_universe([Candidate("A", 0.2, 10.0)], 1000.0))
    with pytest.raises(InvalidParameter, match=r"max weight of A must be in \(0, 1\]"):
        NameBounds({"A": (0.0, 0.0)})
    with pytest.raises(InvalidParameter, match=r"min weight of A must be in \[0, its max"):
        NameBounds({"A": (0.6, 0.5)})
