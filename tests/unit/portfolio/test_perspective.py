"""The diagonal split and the perspective relaxation: valid (never above the true optimum)
and exact at the end (the branch and bound's answer equals an enumeration's).

The oracle enumerates every set S of names and solves, with HiGHS directly (not through
tradefolio's program), the convex QP of the buy-in problem on S:

    minimise x' Σ x  s.t.  sum x = 1,  mu' x >= rho,  l_i <= x_i <= u_i (i in S),  x_i = 0 else
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.branch_and_bound import Relaxation
from tradefolio.portfolio.constraints import Budget, NameBounds
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import risk_model_from_covariance
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MinVariance
from tradefolio.portfolio.perspective import (
    SplitCache,
    diagonal_split,
    scaled_split,
    verified_split,
)
from tradefolio.portfolio.types import Candidate

highspy = pytest.importorskip("highspy")

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / ".." / "shared" / "data" / "mean-variance-min-buy-in"


def psd_matrices(size: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(rank, size)) * rng.uniform(0.01, 1.0, size)
    return loadings.T @ loadings + np.diag(rng.uniform(0.0, 0.05, size))


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 12),
    rank=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    method=st.sampled_from(["scaled", "auto"]),
)
def test_split_keeps_the_rest_positive_semidefinite(
    size: int, rank: int, seed: int, method: str
) -> None:
    matrix = psd_matrices(size, rank, seed)
    d = diagonal_split(matrix, method)
    assert d.shape == (size,) and np.all(d >= 0)
    rest = matrix - np.diag(d)
    assert np.linalg.eigvalsh(rest)[0] >= -1e-12 * max(np.abs(matrix).max(), 1e-300)
    assert np.all(d <= np.diagonal(matrix) + 1e-15)


def test_split_of_a_diagonal_matrix_takes_it_all_and_bad_input_none() -> None:
    diagonal = np.diag([1.0, 2.0, 3.0])
    np.testing.assert_allclose(scaled_split(diagonal), [1.0, 2.0, 3.0], rtol=1e-6)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert not verified_split(indefinite, np.array([0.5, 0.5])).any()
    cache = SplitCache()
    first = cache.split(diagonal, "scaled")
    second = cache.split(diagonal.copy(), "scaled")
    assert cache.hits == 1 and np.array_equal(first, second)


def qp_on(
    sigma: np.ndarray,
    mu: np.ndarray,
    rho: float,
    low: np.ndarray,
    high: np.ndarray,
    held: tuple[int, ...],
) -> float | None:
    """The oracle's QP on the set `held` (HiGHS directly); None when infeasible."""
    index = list(held)
    n = len(index)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)  # as tradefolio's: HiGHS has one thread scheduler
    h.addVars(n, low[index], high[index])
    inf = highspy.kHighsInf
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
    h.addRow(rho, inf, n, np.arange(n, dtype=np.int32), mu[index])
    block = 2.0 * sigma[np.ix_(index, index)]
    lower = np.tril(block)
    column, row = np.nonzero(lower.T)
    hessian = highspy.HighsHessian()
    hessian.dim_ = n
    hessian.format_ = highspy.HessianFormat.kTriangular
    hessian.start_ = np.searchsorted(column, np.arange(n + 1)).astype(np.int32)
    hessian.index_ = row.astype(np.int32)
    hessian.value_ = lower[row, column]
    h.passHessian(hessian)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.array(h.getSolution().col_value)
    return float(x @ sigma[np.ix_(index, index)] @ x)


def brute_force(
    sigma: np.ndarray, mu: np.ndarray, rho: float, low: np.ndarray, high: np.ndarray
) -> float | None:
    best: float | None = None
    n = len(mu)
    for size in range(1, n + 1):
        for held in itertools.combinations(range(n), size):
            if low[list(held)].sum() > 1.0 + 1e-12 or high[list(held)].sum() < 1.0 - 1e-12:
                continue
            value = qp_on(sigma, mu, rho, low, high, held)
            if value is not None and (best is None or value < best):
                best = value
    return best


def buy_in_model(
    sigma: np.ndarray, mu: np.ndarray, rho: float, low: np.ndarray, high: np.ndarray
) -> tuple[PortfolioModel, list[Candidate]]:
    symbols = [f"S{i:03d}" for i in range(len(mu))]
    risk = risk_model_from_covariance(pd.DataFrame(sigma, index=symbols, columns=symbols))
    bounds = {s: (float(a), float(b)) for s, a, b in zip(symbols, low, high, strict=True)}
    model = PortfolioModel(MinVariance(risk, rho), [NameBounds(bounds), Budget(1.0, 1.0)])
    return model, [Candidate(s, float(m), 50.0) for s, m in zip(symbols, mu, strict=True)]


def root_bound(model: PortfolioModel, candidates: list[Candidate]) -> float:
    """The perspective relaxation's root bound, in the program's units."""
    ctx = model.build(make_universe(candidates, 1e6))
    relaxation = Relaxation(ctx.program, _scale(ctx.program))
    assert relaxation.perspective.size > 0  # the floors give perspective terms
    count = len(relaxation.integers)
    solved = relaxation.solve(np.zeros(count), np.ones(count), 30.0)
    assert solved is not None
    # (The bound may exceed the value at the returned point: the active set's implied
    # count makes that point a Lagrangian's minimiser; the callers compare the bound with
    # the enumerated optimum.)
    return relaxation.program_value(relaxation.bound)


@st.composite
def buy_in_instances(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    n = draw(st.integers(3, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    sigma = psd_matrices(n, draw(st.integers(1, n)), seed) + np.diag(rng.uniform(0.001, 0.02, n))
    mu = rng.uniform(0.0, 0.1, n)
    low = rng.uniform(0.05, 0.3, n)
    high = np.minimum(low + rng.uniform(0.05, 0.6, n), 1.0)
    rho = float(draw(st.floats(0.0, 1.0)) * 0.8 * mu.max())
    return sigma, mu, rho, low, high


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buy_in_instances())
def test_perspective_bound_is_valid_and_the_search_exact(
    instance: tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray],
) -> None:
    sigma, mu, rho, low, high = instance
    oracle = brute_force(sigma, mu, rho, low, high)
    if oracle is None or high.sum() < 1.0:
        return  # infeasible instances are the infeasibility tests' business
    model, candidates = buy_in_model(sigma, mu, rho, low, high)
    bound = root_bound(model, candidates)
    assert bound <= oracle + 1e-9 * max(oracle, 1e-12) + 1e-12  # never above the optimum
    result = model.solve(make_universe(candidates, 1e6), solver="highs", fractional=True)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(oracle, rel=1e-7, abs=1e-12)


def pard200(name: str) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from convert_pard200 import load_instance
    finally:
        sys.path.pop(0)
    instance = load_instance(name, DATA)
    return instance.covariance, instance.mu, instance.rho, instance.lower, instance.upper


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/mean-variance-min-buy-in")
def test_a_reduced_pard200_instance_matches_enumeration() -> None:
    """The first 12 names of pard200_a (the full instances run in the benchmark: about
    2 minutes each on a loaded machine): the perspective root bound stays below the
    enumerated optimum, and the search proves that optimum."""
    sigma, mu, rho, low, high = pard200("pard200_a")
    keep = np.arange(12)
    sigma, mu, low, high = sigma[np.ix_(keep, keep)], mu[keep], low[keep], high[keep]
    oracle = brute_force(sigma, mu, rho, low, high)
    assert oracle is not None
    model, candidates = buy_in_model(sigma, mu, rho, low, high)
    assert root_bound(model, candidates) <= oracle * (1 + 1e-9)
    result = model.solve(make_universe(candidates, 1e6), solver="highs", fractional=True)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(oracle, rel=1e-7)
