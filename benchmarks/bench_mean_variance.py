"""Mean-variance with a cardinality cap: tradefolio (MathOpt/SCIP) vs skfolio vs Riskfolio-Lib.

Run: .venv/bin/python benchmarks/bench_mean_variance.py [--repeats 3] [--no-record]

The same problem for all three, from the same daily returns (252 sessions):

    maximise mu^T w - λ w^T Σ w   s.t.  sum w = 1, 0 <= w <= 1, at most 10 names

mu = mean daily return, Σ = sample covariance (ddof 1), λ = 1. N = 20 is the bundled
sample; N = 50, 100, 200 are seeded synthetic GBM prices with a common factor. skfolio
(`MeanRisk`, `cardinality=10`) and Riskfolio-Lib (`card = 10`, obj "Utility") solve through
cvxpy with SCIP (pyscipopt). Every answer is re-evaluated with the same utility formula;
"same optimum" means within 1e-6 relative of tradefolio's proven optimum.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.data.synthetic import gbm_prices
from tradefolio.portfolio.constraints import Budget, Cardinality, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import period_returns, risk_model
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.types import Candidate

SIZES = (20, 50, 100, 200)
MAX_POSITIONS = 10
RISK_AVERSION = 1.0
LOOKBACK = 252


def returns_for(n: int) -> pd.DataFrame:
    if n == 20:
        prices = load_sample_prices()
    else:
        drift = list(np.random.default_rng(n).normal(0.08, 0.10, n))
        prices = gbm_prices(n, LOOKBACK + 1, seed=n, factor_correlation=0.4, drift=drift)
    return period_returns(prices, LOOKBACK)


def utility(returns: pd.DataFrame, weights: np.ndarray) -> float:
    mu = returns.mean().to_numpy()
    sigma = returns.cov().to_numpy()
    return float(mu @ weights - RISK_AVERSION * weights @ sigma @ weights)


def solve_tradefolio(returns: pd.DataFrame) -> np.ndarray:
    symbols = [str(s) for s in returns.columns]
    mu = returns.mean()
    candidates = [Candidate(s, float(mu[s]), 100.0) for s in symbols]
    risk = risk_model(returns, "sample", periods_per_year=1)
    model = PortfolioModel(
        MeanVariance(risk, RISK_AVERSION),
        [PositionLimits(1.0, 0.0), Cardinality(MAX_POSITIONS), Budget(1.0, 1.0)],
    )
    result = model.solve(make_universe(candidates, 1e6), solver="highs", time_limit=60.0)
    if result.status != "optimal":
        print(f"  tradefolio stopped at the time limit, gap {result.gap:.2e}", flush=True)
    weights = result.weights
    return np.array([weights.get(s, 0.0) for s in symbols])


def solve_skfolio(returns: pd.DataFrame) -> np.ndarray:
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_measure=RiskMeasure.VARIANCE,
        risk_aversion=RISK_AVERSION,
        cardinality=MAX_POSITIONS,
        solver="SCIP",
    )
    model.fit(returns)
    return np.asarray(model.weights_, dtype=float)


def solve_riskfolio(returns: pd.DataFrame) -> np.ndarray:
    import riskfolio as rp

    portfolio = rp.Portfolio(returns=returns)
    portfolio.assets_stats(method_mu="hist", method_cov="hist")
    portfolio.card = MAX_POSITIONS
    portfolio.solvers = ["SCIP"]
    with contextlib.redirect_stdout(io.StringIO()):
        weights = portfolio.optimization(model="Classic", rm="MV", obj="Utility", l=RISK_AVERSION)
    if weights is None:  # Riskfolio returns None when the solver fails
        return np.full(returns.shape[1], np.nan)
    return weights["weights"].reindex(returns.columns).to_numpy(dtype=float)


def timed(solve: Callable[[pd.DataFrame], np.ndarray], returns: pd.DataFrame, repeats: int):
    times, weights = [], np.zeros(0)
    for _ in range(repeats):
        start = time.perf_counter()
        weights = solve(returns)
        times.append(time.perf_counter() - start)
    return statistics.median(times), weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    solvers = {
        "tradefolio": solve_tradefolio,
        "skfolio": solve_skfolio,
        "riskfolio": solve_riskfolio,
    }
    rows = []
    for n in SIZES:
        returns = returns_for(n)
        reference = None
        for name, solve in solvers.items():
            seconds, weights = timed(solve, returns, args.repeats)
            value = utility(returns, weights) if np.isfinite(weights).all() else float("nan")
            if reference is None:
                reference = value
            same = abs(value - reference) <= 1e-6 * max(abs(reference), 1e-12) + 1e-12
            names = int((weights > 1e-6).sum()) if np.isfinite(weights).all() else 0
            rows.append((n, name, seconds, value, names, same))
            print(f"N={n} {name}: {seconds:.3f} s, utility {value:.9g}, {names} names", flush=True)
    table = Table(title="mean-variance, max_positions = 10 (medians)")
    header = ["N", "library", "seconds", "utility", "names", "same optimum"]
    for h in header:
        table.add_column(h)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n, name, seconds, value, names, same in rows:
        cells = [
            f"{n}",
            name,
            f"{seconds:.3f}",
            f"{value:.9g}",
            f"{names}",
            "yes" if same else "no",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    if not args.no_record:
        append_results(
            "Mean-variance with cardinality (benchmarks/bench_mean_variance.py)",
            machine_stamp("ortools", "numpy", "skfolio", "riskfolio-lib", "cvxpy", "pyscipopt"),
            "\n".join(lines),
            f"maximise mu^T w - {RISK_AVERSION} w^T Σ w, sum w = 1, w >= 0, at most "
            f"{MAX_POSITIONS} names; daily returns over {LOOKBACK} sessions (N = 20: bundled "
            "sample, else seeded synthetic GBM). tradefolio: factor-form Σ, MathOpt + SCIP, "
            f"proven optimal; skfolio/Riskfolio: cvxpy + SCIP. Medians of {args.repeats} runs.",
        )


if __name__ == "__main__":
    main()
