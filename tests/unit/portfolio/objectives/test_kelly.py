"""Kelly's tangent cuts: the documented error bound, checked against log itself and scipy.

kelly.py claims: with cut points spaced by ratio ρ in y = 1 + z, the lower envelope of the
tangents of log(1 + z) exceeds log(1 + z) by at most e(ρ) = L - 1 - log L,
L = ρ log ρ / (ρ - 1), and ρ = cut_ratio(tolerance) keeps e(ρ) <= tolerance. So the cut
model's optimum is within `tolerance` of the true expected log growth. These tests check
the envelope pointwise, the formula for e(ρ) by brute force on a grid, and the model's
optimum against an independent maximisation (scipy SLSQP) of mean log(1 + r_t^T w).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.constraints import PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import Kelly
from tradefolio.portfolio.objectives.kelly import cut_points, cut_ratio, envelope_error
from tradefolio.portfolio.types import Candidate

optimize = pytest.importorskip("scipy.optimize")

tolerances = st.floats(1e-9, 0.05, allow_nan=False)


def envelope(z: float | np.ndarray, points: np.ndarray) -> np.ndarray:
    """min_k log(1 + z_k) + (z - z_k) / (1 + z_k): the cut model of log(1 + z)."""
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    tangents = np.log1p(points)[None, :] + (z[:, None] - points[None, :]) / (1.0 + points)[None, :]
    result: np.ndarray = tangents.min(axis=1)
    return result


# ----------------------------------------------------------------------------- the bound


@settings(max_examples=100, deadline=None)
@given(tolerance=tolerances)
def test_cut_ratio_is_the_largest_ratio_within_the_tolerance(tolerance: float) -> None:
    ratio = cut_ratio(tolerance)
    assert ratio > 1.0
    assert envelope_error(ratio) <= tolerance
    # largest: a slightly wider spacing breaks the tolerance (bisection to ~1e-15)
    assert envelope_error(ratio * (1 + 1e-9) + 1e-12) > tolerance * (1 - 1e-6)


@settings(max_examples=40, deadline=None)
@given(ratio=st.floats(1.0001, 4.0), y=st.floats(0.05, 20.0))
def test_envelope_error_formula_is_the_largest_gap_between_two_tangents(
    ratio: float, y: float
) -> None:
    """Independently: the tangents at y and ρy cross at x* (root found by brentq); each
    tangent minus log is convex and zero at its own point, so the largest gap of their
    minimum over [y, ρy] is at x*, and a fine grid never exceeds it."""

    def lower_tangent(x: np.ndarray | float) -> np.ndarray | float:
        return math.log(y) + (x - y) / y

    def upper_tangent(x: np.ndarray | float) -> np.ndarray | float:
        return math.log(ratio * y) + (x - ratio * y) / (ratio * y)

    crossing = optimize.brentq(
        lambda x: lower_tangent(x) - upper_tangent(x), y, ratio * y, xtol=1e-15 * y, rtol=1e-15
    )
    at_crossing = float(lower_tangent(crossing)) - math.log(crossing)
    # depends on ρ only, not on y
    assert at_crossing == pytest.approx(envelope_error(ratio), rel=1e-7, abs=1e-14)
    grid = np.linspace(y, ratio * y, 2001)
    gap = np.minimum(lower_tangent(grid), upper_tangent(grid)) - np.log(grid)
    assert float(gap.min()) >= -1e-15
    assert float(gap.max()) <= envelope_error(ratio) + 1e-14


@settings(max_examples=100, deadline=None)
@given(
    low=st.floats(-0.95, 0.0),
    high=st.floats(0.0, 3.0),
    tolerance=tolerances,
)
def test_cut_points_cover_the_range_with_the_ratio(
    low: float, high: float, tolerance: float
) -> None:
    ratio = cut_ratio(tolerance)
    points = cut_points(low, high, ratio)
    if high == low:
        assert len(points) == 1
        return
    assert points[0] == pytest.approx(low, abs=1e-15)
    assert points[-1] == pytest.approx(high, rel=1e-12, abs=1e-15)
    steps = (1.0 + points[1:]) / (1.0 + points[:-1])
    assert np.all(steps <= ratio * (1 + 1e-12))
    assert np.all(steps > 1.0)


@settings(max_examples=150, deadline=None)
@given(
    low=st.floats(-0.9, 0.0),
    high=st.floats(0.0, 2.0),
    position=st.floats(0.0, 1.0),
    tolerance=tolerances,
)
def test_envelope_minus_log_is_within_the_bound(
    low: float, high: float, position: float, tolerance: float
) -> None:
    """For a portfolio return r in the covered range: 0 <= Ĝ(r) - log(1 + r) <= tolerance."""
    ratio = cut_ratio(tolerance)
    points = cut_points(low, high, ratio)
    r = low + position * (high - low)
    gap = float(envelope(r, points)[0]) - math.log1p(r)
    # tangents of a concave function lie above it (up to the round-off of log1p)
    assert gap >= -1e-15
    assert gap <= envelope_error(ratio) + 1e-15
    assert gap <= tolerance + 1e-15


def test_bound_is_attained_between_two_cuts() -> None:
    """The bound is tight: with a loose tolerance the worst gap on a dense grid is close to it
    (a test that only checked `<=` would pass with far too many cuts)."""
    tolerance = 1e-3
    ratio = cut_ratio(tolerance)
    points = cut_points(-0.5, 1.0, ratio)
    grid = np.linspace(-0.5, 1.0, 200001)
    gap = envelope(grid, points) - np.log1p(grid)
    assert float(gap.max()) <= tolerance
    assert float(gap.max()) >= 0.5 * tolerance


# ----------------------------------------------------------------------------- the model


def true_optimum(returns: np.ndarray, cap: float) -> tuple[float, np.ndarray]:
    """max mean log(1 + R w) s.t. sum w <= 1, 0 <= w <= cap, by SLSQP from several starts."""
    n = returns.shape[1]

    def negative_growth(w: np.ndarray) -> float:
        return -float(np.mean(np.log1p(returns @ w)))

    def gradient(w: np.ndarray) -> np.ndarray:
        result: np.ndarray = -(returns / (1.0 + returns @ w)[:, None]).mean(axis=0)
        return result

    best_value, best_w = -math.inf, np.zeros(n)
    for start in (np.zeros(n), np.full(n, min(cap, 1.0 / n)), np.full(n, 0.5 * min(cap, 1 / n))):
        res = optimize.minimize(
            negative_growth,
            start,
            jac=gradient,
            method="SLSQP",
            bounds=[(0.0, cap)] * n,
            constraints=[{"type": "ineq", "fun": lambda w: 1.0 - w.sum()}],
            options={"ftol": 1e-15, "maxiter": 2000},
        )
        w = np.clip(res.x, 0.0, cap)
        if w.sum() > 1.0:
            w /= w.sum()
        value = -negative_growth(w)
        if value > best_value:
            best_value, best_w = value, w
    return best_value, best_w


@st.composite
def kelly_instances(draw: st.DrawFn) -> tuple[np.ndarray, float, float]:
    n = draw(st.integers(2, 4))
    periods = draw(st.integers(4, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    drift = rng.uniform(-0.02, 0.06, size=n)
    returns = (drift + rng.normal(0.0, 0.15, size=(periods, n))).clip(-0.9, 2.0).round(5)
    cap = draw(st.sampled_from([0.5, 0.8, 1.0]))
    tolerance = draw(st.sampled_from([1e-6, 1e-4, 1e-3]))
    return returns, cap, tolerance


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(instance=kelly_instances())
def test_model_optimum_is_within_the_bound_of_the_true_kelly_optimum(
    instance: tuple[np.ndarray, float, float],
) -> None:
    returns, cap, tolerance = instance
    n = returns.shape[1]
    symbols = [f"K{i}" for i in range(n)]
    scenarios = pd.DataFrame(returns, columns=symbols)
    # large account, fractional shares: no integer choice binds
    universe = make_universe([Candidate(s, 0.1, 50.0) for s in symbols], 1e7)
    model = PortfolioModel(Kelly(scenarios, tolerance=tolerance), [PositionLimits(cap)])
    result = model.solve(universe, fractional=True)
    assert result.status == "optimal"
    weights = np.array([result.weights.get(s, 0.0) for s in symbols])
    assert np.all(weights >= 0) and np.all(weights <= cap + 1e-9)
    assert weights.sum() <= 1.0 + 1e-9
    # the reported objective is the true log growth at the returned weights, not the cuts'
    growth = float(np.mean(np.log1p(returns @ weights)))
    assert result.objective == pytest.approx(growth, rel=1e-12, abs=1e-15)
    optimum, _ = true_optimum(returns, cap)
    # G(w*) - tolerance <= G(ŵ) <= G(w*)  (scipy's own accuracy: 1e-9)
    assert growth >= optimum - tolerance - 1e-9, (growth, optimum, tolerance)
    assert growth <= optimum + 1e-9, (growth, optimum)


def test_loose_tolerance_costs_growth_but_stays_within_it() -> None:
    """A fixed instance where the cut optimum visibly differs from the true one (so the
    comparison above is not vacuous) yet stays within the documented bound."""
    rng = np.random.default_rng(5)
    returns = (np.array([0.03, 0.02, 0.01]) + rng.normal(0.0, 0.2, size=(10, 3))).clip(-0.9)
    symbols = ["A", "B", "C"]
    scenarios = pd.DataFrame(returns, columns=symbols)
    universe = make_universe([Candidate(s, 0.1, 50.0) for s in symbols], 1e7)
    optimum, best_w = true_optimum(returns, 1.0)
    assert best_w.sum() > 0.05  # the true optimum invests
    for tolerance in (1e-2, 1e-3, 1e-5):
        kelly = Kelly(scenarios, tolerance=tolerance)
        result = PortfolioModel(kelly, [PositionLimits(1.0)]).solve(universe, fractional=True)
        assert optimum - tolerance - 1e-9 <= result.objective <= optimum + 1e-9
        assert kelly.cuts > 0
    fine = Kelly(scenarios, tolerance=1e-7)
    result = PortfolioModel(fine, [PositionLimits(1.0)]).solve(universe, fractional=True)
    assert result.objective == pytest.approx(optimum, abs=2e-7)


def test_kelly_rejects_bad_inputs() -> None:
    scenarios = pd.DataFrame({"A": [0.1, -1.0], "B": [0.0, 0.1]})
    universe = make_universe([Candidate("A", 0.1, 10.0), Candidate("B", 0.1, 10.0)], 1000.0)
    with pytest.raises(DataError, match="-100%"):
        PortfolioModel(Kelly(scenarios)).solve(universe)
    with pytest.raises(DataError, match="C"):
        PortfolioModel(Kelly(scenarios)).solve(make_universe([Candidate("C", 0.1, 10.0)], 1000.0))
    for tolerance in (0.0, 0.1, math.nan, -1e-3):
        with pytest.raises(InvalidParameter):
            Kelly(scenarios, tolerance=tolerance)
