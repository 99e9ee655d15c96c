"""Dev-only oracle: mean-variance with a cardinality cap against cvxpy + SCIP and skfolio.

    maximise  mu^T w - λ w^T Σ w   s.t.  sum w = 1 (or <= 1), 0 <= w <= cap, at most K names

The references solve the same problem through SCIP (pyscipopt, the `reference` extra):
cvxpy from a model written here (a binary per name, w <= cap z, sum z <= K), and
skfolio's `MeanRisk(cardinality=K)` from the returns themselves (tradefolio is then given
skfolio's own estimates of mu and Σ). Both answers are re-evaluated with the formula above.
SCIP proves its optimum only to its own tolerances, so tradefolio (exact QP relaxations)
must be at least as good as the reference, and within 1e-5 relative of it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tradefolio.portfolio.constraints import Budget, Cardinality, Constraint, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import risk_model_from_covariance
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.types import Candidate

pytestmark = pytest.mark.dev

pytest.importorskip("pyscipopt")
pytest.importorskip("highspy")

RELATIVE = 1e-5
# (seed, names, max positions, cap, risk aversion, fully invested)
CASES = [
    (0, 8, 3, 0.5, 4.0, True),
    (1, 10, 3, 0.4, 8.0, True),
    (2, 12, 4, 1.0, 25.0, False),
    (3, 10, 2, 0.6, 3.0, False),
    (4, 12, 3, 0.5, 10.0, True),
]


def random_returns(seed: int, names: int, periods: int = 60) -> pd.DataFrame:
    """Monthly-like returns with a common factor (the optimum spreads over many names)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.01, 0.04, size=(periods, 1))
    beta = rng.uniform(0.5, 1.5, size=names)
    drift = rng.uniform(0.0, 0.03, size=names)
    values = drift + market * beta + rng.normal(0.0, 0.05, size=(periods, names))
    return pd.DataFrame(values, columns=[f"S{i}" for i in range(names)])


def utility(mu: np.ndarray, sigma: np.ndarray, aversion: float, w: np.ndarray) -> float:
    return float(mu @ w - aversion * w @ sigma @ w)


def solve_tradefolio(
    mu: np.ndarray,
    sigma: np.ndarray,
    aversion: float,
    max_positions: int,
    cap: float,
    full: bool,
) -> np.ndarray:
    symbols = [f"S{i}" for i in range(len(mu))]
    risk = risk_model_from_covariance(pd.DataFrame(sigma, index=symbols, columns=symbols))
    constraints: list[Constraint] = [PositionLimits(cap), Cardinality(max_positions)]
    if full:
        constraints.append(Budget(1.0, 1.0))
    candidates = [Candidate(s, float(m), 100.0) for s, m in zip(symbols, mu, strict=True)]
    result = PortfolioModel(MeanVariance(risk, aversion), constraints).solve(
        make_universe(candidates, 1e7), solver="highs", time_limit=30.0, fractional=True
    )
    assert result.status == "optimal"
    weights = result.weights
    w = np.array([weights.get(s, 0.0) for s in symbols])
    assert np.count_nonzero(w > 1e-9) <= max_positions
    assert np.all(w <= cap + 1e-9) and w.sum() <= 1 + 1e-9
    if full:
        assert w.sum() >= 1 - 1e-7
    return w


def check_against(
    reference: np.ndarray, ours: np.ndarray, mu: np.ndarray, sigma: np.ndarray, aversion: float
) -> None:
    ref_value = utility(mu, sigma, aversion, reference)
    our_value = utility(mu, sigma, aversion, ours)
    assert our_value >= ref_value - 1e-9, (our_value, ref_value)
    assert our_value == pytest.approx(ref_value, rel=RELATIVE), (our_value, ref_value)


@pytest.mark.parametrize(("seed", "names", "max_positions", "cap", "aversion", "full"), CASES)
def test_mean_variance_with_cardinality_matches_cvxpy_scip(
    seed: int, names: int, max_positions: int, cap: float, aversion: float, full: bool
) -> None:
    cp = pytest.importorskip("cvxpy")
    if "SCIP" not in cp.installed_solvers():
        pytest.skip("cvxpy has no SCIP interface here (pip install 'tradefolio[reference]')")
    returns = random_returns(seed, names)
    mu = returns.mean().to_numpy()
    sigma = returns.cov().to_numpy()
    w = cp.Variable(names)
    z = cp.Variable(names, boolean=True)
    constraints = [w >= 0, w <= cap * z, cp.sum(z) <= max_positions]
    constraints.append(cp.sum(w) == 1 if full else cp.sum(w) <= 1)
    problem = cp.Problem(
        cp.Maximize(mu @ w - aversion * cp.quad_form(w, cp.psd_wrap(sigma))), constraints
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.SCIP)
    assert problem.status == cp.OPTIMAL
    reference = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    # the premise: the cardinality binds (without it the optimum holds more names)
    relaxed = cp.Problem(
        cp.Maximize(mu @ w - aversion * cp.quad_form(w, cp.psd_wrap(sigma))),
        [w >= 0, w <= cap, cp.sum(w) == 1 if full else cp.sum(w) <= 1],
    )
    relaxed.solve(solver=cp.CLARABEL if "CLARABEL" in cp.installed_solvers() else None)
    assert np.count_nonzero(np.asarray(w.value) > 1e-4) > max_positions
    ours = solve_tradefolio(mu, sigma, aversion, max_positions, cap, full)
    check_against(reference, ours, mu, sigma, aversion)


@pytest.mark.parametrize(("seed", "names", "max_positions", "cap", "aversion", "full"), CASES)
def test_mean_variance_with_cardinality_matches_skfolio(
    seed: int, names: int, max_positions: int, cap: float, aversion: float, full: bool
) -> None:
    skfolio = pytest.importorskip("skfolio")
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    returns = random_returns(seed, names)
    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_measure=skfolio.RiskMeasure.VARIANCE,
        risk_aversion=aversion,
        cardinality=max_positions,
        min_weights=0.0,
        max_weights=cap,
        budget=1.0 if full else None,
        max_budget=None if full else 1.0,
        solver="SCIP",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(returns)
    distribution = model.prior_estimator_.return_distribution_
    mu = np.asarray(distribution.mu, dtype=float)
    sigma = np.asarray(distribution.covariance, dtype=float)
    reference = np.clip(np.asarray(model.weights_, dtype=float), 0.0, None)
    assert np.count_nonzero(reference > 1e-6) <= max_positions
    ours = solve_tradefolio(mu, sigma, aversion, max_positions, cap, full)
    check_against(reference, ours, mu, sigma, aversion)
