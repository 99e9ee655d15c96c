"""Mean-variance with a cardinality cap: tradefolio vs skfolio vs Riskfolio-Lib.

Run: .venv/bin/python benchmarks/bench_mean_variance.py [--repeats 3] [--no-record]
     .venv/bin/python benchmarks/bench_mean_variance.py --pard200 [NAME ...] [--limit 60]

`--pard200` runs the public buy-in benchmark instead (see `pard200_table`): the done-when
command of issue 16 (`tradefolio allocate` on the files of `convert_pard200.py`), SCIP
through MathOpt on the same model, and cvxpy + SCIP on a direct formulation, each with the
same time limit, against best_known.tsv.

The same problem for all three, from the same daily returns (252 sessions):

    maximise mu^T w - λ w^T Σ w   s.t.  sum w = 1, 0 <= w <= 1, at most 10 names

mu = mean daily return, Σ = sample covariance (ddof 1). N = 20 is the bundled sample;
N = 50, 100, 200 are seeded synthetic GBM prices with a common factor. Two scenarios:
λ = 1, where the optimum holds fewer than 10 names (the cap does not bind), and λ = 200,
where the risk term spreads the unconstrained optimum over many names and the cap binds
(the hard case for branch and bound; the references take minutes there, so it runs once,
at N <= 100). tradefolio: its default quadratic solver (branch and bound over HiGHS QPs),
plus SCIP through MathOpt as the in-house baseline on the easy scenario. skfolio
(`MeanRisk`, `cardinality=10`) and Riskfolio-Lib (`card = 10`, obj "Utility") solve through
cvxpy with SCIP (pyscipopt). Every answer is re-evaluated with the same utility formula;
"vs best" is the utility's distance below the best answer of the row's N and scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from convert_pard200 import (
    NAMES,
    Instance,
    allocate_arguments,
    best_known,
    load_instance,
    write_instance,
)
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.data.synthetic import gbm_prices
from tradefolio.errors import TradefolioError
from tradefolio.portfolio.constraints import Budget, Cardinality, NameBounds, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import period_returns, risk_model, risk_model_from_covariance
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance, MinVariance
from tradefolio.portfolio.types import Candidate

SIZES = (20, 50, 100, 200)
MAX_POSITIONS = 10
LOOKBACK = 252
TIME_LIMIT = 60.0


@dataclass(frozen=True)
class Scenario:
    name: str
    risk_aversion: float
    sizes: tuple[int, ...]
    repeats: int | None  # None: the command line's --repeats
    solvers: tuple[str, ...]


SCENARIOS = (
    Scenario("λ = 1", 1.0, SIZES, None, ("tradefolio", "tradefolio-scip", "skfolio", "riskfolio")),
    Scenario(
        "λ = 200 (cap binds)", 200.0, (20, 50, 100), 1, ("tradefolio", "skfolio", "riskfolio")
    ),
)


def returns_for(n: int) -> pd.DataFrame:
    if n == 20:
        prices = load_sample_prices()
    else:
        drift = list(np.random.default_rng(n).normal(0.08, 0.10, n))
        prices = gbm_prices(n, LOOKBACK + 1, seed=n, factor_correlation=0.4, drift=drift)
    return period_returns(prices, LOOKBACK)


def feasible(weights: np.ndarray) -> np.ndarray:
    """The weights projected onto sum w = 1, w >= 0: solvers with a 1e-6 feasibility
    tolerance may return a budget slightly above 1, which would flatter their utility."""
    clipped = np.clip(weights, 0.0, None)
    return clipped / clipped.sum()


def utility(returns: pd.DataFrame, weights: np.ndarray, risk_aversion: float) -> float:
    weights = feasible(weights)
    mu = returns.mean().to_numpy()
    sigma = returns.cov().to_numpy()
    return float(mu @ weights - risk_aversion * weights @ sigma @ weights)


@dataclass
class Outcome:
    weights: np.ndarray
    status: str = "optimal"


def solve_tradefolio(returns: pd.DataFrame, risk_aversion: float, solver: str) -> Outcome:
    symbols = [str(s) for s in returns.columns]
    mu = returns.mean()
    candidates = [Candidate(s, float(mu[s]), 100.0) for s in symbols]
    risk = risk_model(returns, "sample", periods_per_year=1)
    model = PortfolioModel(
        MeanVariance(risk, risk_aversion),
        [PositionLimits(1.0, 0.0), Cardinality(MAX_POSITIONS), Budget(1.0, 1.0)],
    )
    try:
        result = model.solve(make_universe(candidates, 1e6), solver=solver, time_limit=TIME_LIMIT)
    except TradefolioError as exc:
        print(f"  tradefolio ({solver}) failed: {exc}", flush=True)
        return Outcome(np.full(len(symbols), np.nan), "failed")
    status = "optimal" if result.status == "optimal" else f"gap {result.gap:.1e}"
    weights = result.weights
    return Outcome(np.array([weights.get(s, 0.0) for s in symbols]), status)


def solve_skfolio(returns: pd.DataFrame, risk_aversion: float) -> Outcome:
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_measure=RiskMeasure.VARIANCE,
        risk_aversion=risk_aversion,
        cardinality=MAX_POSITIONS,
        solver="SCIP",
    )
    model.fit(returns)
    return Outcome(np.asarray(model.weights_, dtype=float), "solved")


def solve_riskfolio(returns: pd.DataFrame, risk_aversion: float) -> Outcome:
    import riskfolio as rp

    portfolio = rp.Portfolio(returns=returns)
    portfolio.assets_stats(method_mu="hist", method_cov="hist")
    portfolio.card = MAX_POSITIONS
    portfolio.solvers = ["SCIP"]
    with contextlib.redirect_stdout(io.StringIO()):
        weights = portfolio.optimization(model="Classic", rm="MV", obj="Utility", l=risk_aversion)
    if weights is None:  # Riskfolio returns None when the solver fails
        return Outcome(np.full(returns.shape[1], np.nan), "None")
    return Outcome(weights["weights"].reindex(returns.columns).to_numpy(dtype=float), "solved")


SOLVERS: dict[str, Callable[[pd.DataFrame, float], Outcome]] = {
    "tradefolio": lambda r, lam: solve_tradefolio(r, lam, "highs"),
    "tradefolio-scip": lambda r, lam: solve_tradefolio(r, lam, "scip"),
    "skfolio": solve_skfolio,
    "riskfolio": solve_riskfolio,
}


def timed(
    solve: Callable[[pd.DataFrame, float], Outcome],
    returns: pd.DataFrame,
    risk_aversion: float,
    repeats: int,
) -> tuple[float, Outcome]:
    times, outcome = [], Outcome(np.zeros(0))
    for _ in range(repeats):
        start = time.perf_counter()
        outcome = solve(returns, risk_aversion)
        times.append(time.perf_counter() - start)
    return statistics.median(times), outcome


def _pard_tradefolio_cli(folder: Path, rho: float, limit: float) -> tuple[str, float]:
    """The done-when command in a subprocess: (status, objective)."""
    command = [
        sys.executable,
        "-c",
        "from tradefolio.cli.app import main; main()",
        *allocate_arguments(folder, rho),
        "--time-limit",
        f"{limit:g}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[:60]}", math.nan
    answer = json.loads(done.stdout)
    status = answer["status"] if answer["status"] == "optimal" else f"gap {answer['gap']:.1e}"
    return status, float(answer["objective"])


def _pard_scip_mathopt(instance: Instance, limit: float) -> tuple[str, float]:
    symbols = instance.symbols
    risk = risk_model_from_covariance(
        pd.DataFrame(instance.covariance, index=symbols, columns=symbols)
    )
    bounds = {
        s: (float(a), float(b))
        for s, a, b in zip(symbols, instance.lower, instance.upper, strict=True)
    }
    model = PortfolioModel(MinVariance(risk, instance.rho), [NameBounds(bounds), Budget(1.0, 1.0)])
    candidates = [Candidate(s, float(m), 100.0) for s, m in zip(symbols, instance.mu, strict=True)]
    try:
        result = model.solve(
            make_universe(candidates, 1e5), solver="scip", time_limit=limit, fractional=True
        )
    except TradefolioError as exc:
        return f"failed: {str(exc)[:50]}", math.nan
    status = "optimal" if result.status == "optimal" else f"gap {result.gap:.1e}"
    return status, result.objective


def _scip_answer(problem: Any, x: Any, instance: Instance, limit: float) -> tuple[str, float]:
    """Solve a cvxpy problem with SCIP within `limit`; (status, x'Qx at its answer)."""
    import cvxpy as cp

    try:
        problem.solve(solver="SCIP", scip_params={"limits/time": limit})
    except cp.error.SolverError as exc:
        return f"failed: {str(exc)[:50]}", math.nan
    if x.value is None:
        return f"no answer ({problem.status})", math.nan
    w = np.asarray(x.value, dtype=float)
    return str(problem.status), float(w @ instance.covariance @ w)


def _pard_cvxpy_scip(instance: Instance, limit: float) -> tuple[str, float]:
    import cvxpy as cp

    n = len(instance.mu)
    x = cp.Variable(n)
    y = cp.Variable(n, boolean=True)
    q = cp.psd_wrap(instance.covariance)
    problem = cp.Problem(
        cp.Minimize(cp.quad_form(x, q)),
        [
            cp.sum(x) == 1,
            instance.mu @ x >= instance.rho,
            x >= cp.multiply(instance.lower, y),
            x <= cp.multiply(instance.upper, y),
        ],
    )
    return _scip_answer(problem, x, instance, limit)


def _pard_cvxpy_scip_perspective(instance: Instance, limit: float) -> tuple[str, float]:
    """cvxpy + SCIP on the perspective reformulation (an independent exact check):
    min x'(Q - D)x + sum d_i t_i,  x_i^2 <= t_i y_i,  with tradefolio's split D."""
    import cvxpy as cp

    from tradefolio.portfolio.perspective import scaled_split

    n = len(instance.mu)
    split = scaled_split(instance.covariance)
    rest = np.linalg.cholesky(instance.covariance - np.diag(split) + 1e-12 * np.eye(n))
    x = cp.Variable(n)
    t = cp.Variable(n)
    y = cp.Variable(n, boolean=True)
    constraints = [
        cp.sum(x) == 1,
        instance.mu @ x >= instance.rho,
        x >= cp.multiply(instance.lower, y),
        x <= cp.multiply(instance.upper, y),
    ] + [cp.quad_over_lin(x[i], y[i]) <= t[i] for i in range(n)]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(rest.T @ x) + split @ t), constraints)
    return _scip_answer(problem, x, instance, limit)


def pard200_table(names: list[str], limit: float, record: bool) -> None:
    """Each pard200 instance by the three solvers, each with `limit` seconds."""
    known = best_known()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            instance = load_instance(name)
            folder = Path(scratch) / name
            write_instance(instance, folder)
            upper = known[name][0]
            for solver in (
                "tradefolio allocate",
                "tradefolio scip (MathOpt)",
                "cvxpy + SCIP",
                "cvxpy + SCIP perspective",
            ):
                start = time.perf_counter()
                if solver == "tradefolio allocate":
                    status, value = _pard_tradefolio_cli(folder, instance.rho, limit)
                elif solver == "cvxpy + SCIP":
                    status, value = _pard_cvxpy_scip(instance, limit)
                elif solver == "cvxpy + SCIP perspective":
                    status, value = _pard_cvxpy_scip_perspective(instance, limit)
                else:
                    status, value = _pard_scip_mathopt(instance, limit)
                seconds = time.perf_counter() - start
                above = (value - upper) / upper if math.isfinite(value) else math.nan
                rows.append((name, solver, seconds, value, above, status))
                print(
                    f"{name} {solver}: {seconds:.1f} s, {value:.6f} ({above:+.2e} vs best "
                    f"known {upper}), {status}",
                    flush=True,
                )
    header = ["instance", "solver", "seconds", "objective", "vs best known", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table = Table(title=f"pard200 (min variance, buy-in floors), limit {limit:g} s")
    for h in header:
        table.add_column(h)
    for name, solver, seconds, value, above, status in rows:
        cells = [name, solver, f"{seconds:.1f}", f"{value:.6f}", f"{above:+.1e}", status]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    ours = [r for r in rows if r[1] == "tradefolio allocate"]
    proven = [r for r in ours if r[5] == "optimal" and abs(r[4]) <= 1e-4]
    summary = (
        f"tradefolio: {len(proven)} of {len(ours)} proven optimal within 0.01% of best_known; "
        f"median {statistics.median(r[2] for r in ours):.1f} s, max {max(r[2] for r in ours):.1f} s"
    )
    Console().print(table)
    print(summary)
    if record:
        append_results(
            "pard200: mean-variance with minimum buy-in (bench_mean_variance.py --pard200)",
            machine_stamp("ortools", "highspy", "numpy", "cvxpy", "pyscipopt"),
            "\n".join(lines),
            f"{summary}. minimise x'Qx s.t. mu'x >= rho, sum x = 1, l_i y_i <= x_i <= u_i y_i "
            "(../shared/data/mean-variance-min-buy-in). tradefolio allocate: the done-when "
            "command of issue 16 on the files of benchmarks/convert_pard200.py (a subprocess, "
            "start-up and file reading included), branch and bound with the projected "
            "perspective of the cheap diagonal split; tradefolio scip: the same model through "
            "MathOpt + SCIP; cvxpy + SCIP: a direct big-M formulation; cvxpy + SCIP "
            "perspective: x_i^2 <= t_i y_i with the same split (SCIP's default 1e-4 gap). "
            "'vs best known': "
            "(objective - best upper bound) / best upper bound. The machine was shared with "
            "other jobs (load average about 8 on 2 cores): times are inflated and noisy.",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--pard200", nargs="*", default=None, metavar="NAME")
    parser.add_argument("--limit", type=float, default=TIME_LIMIT)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.pard200 is not None:
        pard200_table(args.pard200 or list(NAMES), args.limit, not args.no_record)
        return
    rows = []
    for scenario in SCENARIOS:
        repeats = scenario.repeats or args.repeats
        for n in scenario.sizes:
            returns = returns_for(n)
            found = []
            for name in scenario.solvers:
                seconds, outcome = timed(SOLVERS[name], returns, scenario.risk_aversion, repeats)
                weights = outcome.weights
                finite = bool(np.isfinite(weights).all())
                value = utility(returns, weights, scenario.risk_aversion) if finite else math.nan
                names = int((weights > 1e-6).sum()) if finite else 0
                found.append((name, seconds, value, names, outcome.status))
                print(
                    f"{scenario.name} N={n} {name}: {seconds:.3f} s, utility {value:.10g}, "
                    f"{names} names, {outcome.status}",
                    flush=True,
                )
            best = max(v for _, _, v, _, _ in found if math.isfinite(v))
            for name, seconds, value, names, status in found:
                rows.append((scenario.name, n, name, seconds, value, best - value, names, status))
    table = Table(title=f"mean-variance, max_positions = {MAX_POSITIONS} (medians)")
    header = ["scenario", "N", "library", "seconds", "utility", "vs best", "names", "status"]
    for h in header:
        table.add_column(h)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario_name, n, name, seconds, value, below, names, status in rows:
        cells = [
            scenario_name,
            f"{n}",
            name,
            f"{seconds:.3f}",
            f"{value:.10g}",
            "best" if below <= 0 else f"-{below:.2e}",
            f"{names}",
            status,
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    if not args.no_record:
        append_results(
            "Mean-variance with cardinality (benchmarks/bench_mean_variance.py)",
            machine_stamp(
                "ortools", "highspy", "numpy", "skfolio", "riskfolio-lib", "cvxpy", "pyscipopt"
            ),
            "\n".join(lines),
            f"maximise mu^T w - λ w^T Σ w, sum w = 1, w >= 0, at most {MAX_POSITIONS} names; "
            f"daily returns over {LOOKBACK} sessions (N = 20: bundled sample, else seeded "
            "synthetic GBM). tradefolio: branch and bound over exact HiGHS QP relaxations "
            "(the default); tradefolio-scip: the same model through MathOpt + SCIP; "
            "skfolio/Riskfolio: cvxpy + SCIP. Time limit "
            f"{TIME_LIMIT:g} s for tradefolio (none for the references). Medians of "
            f"{args.repeats} runs for λ = 1, one run for λ = 200. 'vs best': utility below "
            "the best answer for that N and scenario, every answer first projected onto "
            "sum w = 1, w >= 0 (the references stop at SCIP's 1e-6 tolerances).",
        )


if __name__ == "__main__":
    main()
