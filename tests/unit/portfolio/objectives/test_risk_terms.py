"""The variance w' Σ w as factor rows plus a diagonal: the compression keeps Σ, and the
terms added to a program are the variance at every point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tradefolio.portfolio.constraints import (
    PositionLimits,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance, MinVariance
from tradefolio.portfolio.objectives.risk_terms import compressed_loadings
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")

entries = st.floats(-0.5, 0.5, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    factors=st.integers(1, 12),
    names=st.integers(1, 5),
    data=st.data(),
)
def test_compression_keeps_the_covariance_with_at_most_n_rows(
    factors: int, names: int, data: st.DataObject
) -> None:
    loadings = data.draw(arrays(np.float64, (factors, names), elements=entries))
    compressed = compressed_loadings(loadings)
    assert compressed.shape[0] <= max(names, 0) or compressed.shape[0] == factors <= names
    assert compressed.shape[1] == names
    np.testing.assert_allclose(compressed.T @ compressed, loadings.T @ loadings, atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(
    loadings=arrays(np.float64, (6, 3), elements=entries),
    specific=arrays(np.float64, 3, elements=st.floats(0.001, 0.05)),
)
def test_the_program_terms_are_the_variance_at_the_optimum(
    loadings: np.ndarray, specific: np.ndarray
) -> None:
    # More factors than names (a return history): compressed first, same Σ.
    risk = RiskModel(("A", "B", "C"), loadings, specific)
    universe = make_universe([Candidate(s, 0.1, 10.0) for s in "ABC"], 1000.0)
    result = PortfolioModel(MinVariance(risk), [PositionLimits(1.0)]).solve(
        universe, fractional=True
    )
    weights = np.array(
        [{a.symbol: a.weight for a in result.allocations}.get(s, 0.0) for s in "ABC"]
    )
    sigma = loadings.T @ loadings + np.diag(specific)
    assert result.objective == pytest.approx(float(weights @ sigma @ weights), abs=1e-9)
    # And it is the minimum: no fully invested corner or the centre does better.
    for point in (np.eye(3), np.full((1, 3), 1 / 3)):
        for w in point:
            assert result.objective <= float(w @ sigma @ w) + 1e-7


def _rows(program: Program) -> list[tuple[object, ...]]:
    return [(tuple(r.coefficients.items()), r.lo, r.hi, r.group, r.unit) for r in program.rows]


@settings(max_examples=25, deadline=None)
@given(
    loadings=arrays(np.float64, (4, 5), elements=entries),
    specific=arrays(np.float64, 5, elements=st.floats(0.001, 0.05)),
    held=st.lists(st.integers(0, 30), min_size=5, max_size=5),
    cap=st.floats(0.05, 1.0),
)
def test_the_memoised_factor_rows_are_a_fresh_builds_and_the_twin_shares_them(
    loadings: np.ndarray, specific: np.ndarray, held: list[int], cap: float
) -> None:
    """A whole-share rebalance builds its factor rows once (the fractional twin reuses
    them): every program is the one a fresh objective builds, bit for bit; another
    universe or other caps build their own."""
    symbols = ("A", "B", "C", "D", "E")
    risk = RiskModel(symbols, loadings, specific)
    universe = make_universe(
        [Candidate(s, 0.1 * k, 10.0 + k) for k, s in enumerate(symbols)],
        1000.0,
        {s: float(q) for s, q in zip(symbols, held, strict=True) if q},
    )
    constraints = [PositionLimits(cap), Turnover(0.3), TransactionCosts(5.0, 1.0)]

    def model(objective: MeanVariance) -> PortfolioModel:
        return PortfolioModel(objective, [*constraints, WholeShares()])

    shared = MeanVariance(risk, 5.0)
    ctx = model(shared).build(universe)
    twin = model(shared)._fractional_twin(universe, ctx)
    assert twin is not None
    for built, fresh in (
        (ctx, model(MeanVariance(risk, 5.0)).build(universe)),
        (twin, PortfolioModel(MeanVariance(risk, 5.0), constraints).build(universe)),
    ):
        assert _rows(built.program) == _rows(fresh.program)
        assert built.program.names == fresh.program.names
        assert built.program.lower == fresh.program.lower
        assert built.program.upper == fresh.program.upper
        assert built.program.quadratic == fresh.program.quadratic
    factor_rows = [
        (a, b)
        for a, b in zip(ctx.program.rows, twin.program.rows, strict=False)
        if a.arrays is not None
    ]
    assert len(factor_rows) == int(np.all(loadings != 0.0, axis=1).sum())  # rows of no zero
    assert all(a.coefficients is b.coefficients for a, b in factor_rows)  # built once
    tighter = PortfolioModel(shared, [PositionLimits(cap / 2), *constraints[1:]]).build(universe)
    expected = PortfolioModel(MeanVariance(risk, 5.0), [PositionLimits(cap / 2), *constraints[1:]])
    assert _rows(tighter.program) == _rows(expected.build(universe).program)
    assert tighter.program.lower == expected.build(universe).program.lower
