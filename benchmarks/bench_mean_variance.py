"""Mean-variance with a cardinality cap: tradefolio vs skfolio vs Riskfolio-Lib.

Run: .venv/bin/python benchmarks/bench_mean_variance.py [--repeats 3] [--no-record]
     .venv/bin/python benchmarks/bench_mean_variance.py --pard200 [NAME ...] [--limit 60]
         [--baseline OTHER_TREE/src] [--skip SOLVER ...]
     .venv/bin/python benchmarks/bench_mean_variance.py --speed [--limit 60] [--baseline SRC]
     .venv/bin/python benchmarks/bench_mean_variance.py --growth [--limit 60]

`--speed`: the issue's λ = 200, K = 10 rows at N = 100 / 200 / 400 against skfolio and
Riskfolio-Lib, each with the same limit; `--growth`: time and peak memory from N = 50 to
1,000 (a fresh process per N). `--speed --baseline OTHER_TREE/src` adds a row per N of
that tree's tradefolio (a subprocess with it first on the path, timed around the solve).

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
import importlib
import io
import json
import math
import os
import resource
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
from tradefolio.portfolio.cardinality_search import MAX_NAMES, MIN_NAMES
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


def solve_tradefolio(
    returns: pd.DataFrame, risk_aversion: float, solver: str, limit: float = TIME_LIMIT
) -> Outcome:
    symbols = [str(s) for s in returns.columns]
    mu = returns.mean()
    candidates = [Candidate(s, float(mu[s]), 100.0) for s in symbols]
    risk = risk_model(returns, "sample", periods_per_year=1)
    model = PortfolioModel(
        MeanVariance(risk, risk_aversion),
        [PositionLimits(1.0, 0.0), Cardinality(MAX_POSITIONS), Budget(1.0, 1.0)],
    )
    try:
        result = model.solve(
            make_universe(candidates, 1e6), solver=solver, time_limit=limit, fractional=True
        )
    except TradefolioError as exc:
        print(f"  tradefolio ({solver}) failed: {exc}", flush=True)
        return Outcome(np.full(len(symbols), np.nan), "failed")
    status = "optimal" if result.status == "optimal" else f"gap {result.gap:.1e}"
    weights = result.weights
    return Outcome(np.array([weights.get(s, 0.0) for s in symbols]), status)


def _scip_status(problem: Any) -> str:
    """What SCIP itself returned for a cvxpy problem: its status and final gap."""
    extra = problem.solver_stats.extra_stats if problem.solver_stats is not None else None
    if not isinstance(extra, dict) or "model" not in extra:
        return f"cvxpy {problem.status}"
    return f"SCIP {extra['scip_status']}, gap {extra['model'].getGap():.1e}"


@contextlib.contextmanager
def _last_problem(seen: list[Any]) -> Any:
    """Keep every cvxpy problem solved inside (Riskfolio-Lib does not expose its own)."""
    import cvxpy as cp

    solve = cp.Problem.solve

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return solve(self, *args, **kwargs)

    cp.Problem.solve = spy
    try:
        yield
    finally:
        cp.Problem.solve = solve


def solve_skfolio(
    returns: pd.DataFrame, risk_aversion: float, limit: float | None = None
) -> Outcome:
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_measure=RiskMeasure.VARIANCE,
        risk_aversion=risk_aversion,
        cardinality=MAX_POSITIONS,
        solver="SCIP",
        solver_params=None if limit is None else {"scip_params": {"limits/time": limit}},
        save_problem=True,
    )
    model.fit(returns)
    return Outcome(np.asarray(model.weights_, dtype=float), _scip_status(model.problem_))


def solve_riskfolio(
    returns: pd.DataFrame, risk_aversion: float, limit: float | None = None
) -> Outcome:
    import riskfolio as rp

    portfolio = rp.Portfolio(returns=returns)
    portfolio.assets_stats(method_mu="hist", method_cov="hist")
    portfolio.card = MAX_POSITIONS
    portfolio.solvers = ["SCIP"]
    if limit is not None:
        portfolio.sol_params = {"SCIP": {"scip_params": {"limits/time": limit}}}
    seen: list[Any] = []
    with contextlib.redirect_stdout(io.StringIO()), _last_problem(seen):
        weights = portfolio.optimization(model="Classic", rm="MV", obj="Utility", l=risk_aversion)
    if weights is None:  # Riskfolio returns None when the solver fails
        return Outcome(np.full(returns.shape[1], np.nan), "None")
    status = _scip_status(seen[-1]) if seen else "solved"
    return Outcome(weights["weights"].reindex(returns.columns).to_numpy(dtype=float), status)


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


def _pard_tradefolio_cli(
    folder: Path, rho: float, limit: float, source: str | None = None
) -> tuple[str, float, float]:
    """The done-when command in a subprocess: (status, objective, CPU seconds of the
    process). `source`: another tree's `src` first on the path (the baseline)."""
    command = [
        sys.executable,
        "-c",
        "from tradefolio.cli.app import main; main()",
        *allocate_arguments(folder, rho),
        "--time-limit",
        f"{limit:g}",
    ]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = source
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[:60]}", math.nan, cpu
    answer = json.loads(done.stdout)
    status = answer["status"] if answer["status"] == "optimal" else f"gap {answer['gap']:.1e}"
    return status, float(answer["objective"]), cpu


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


PARD_SOLVERS = (
    "tradefolio allocate",
    "tradefolio allocate (baseline)",
    "tradefolio scip (MathOpt)",
    "cvxpy + SCIP",
    "cvxpy + SCIP perspective",
)


def _load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def pard200_table(
    names: list[str],
    limit: float,
    record: bool,
    baseline: str | None = None,
    skip: tuple[str, ...] = (),
) -> None:
    """Each pard200 instance by each solver of `PARD_SOLVERS` (minus `skip`; the baseline
    row only with `baseline`, another tree's `src`), each with `limit` seconds."""
    known = best_known()
    solvers = [
        s for s in PARD_SOLVERS if s not in skip and (baseline is not None or "baseline" not in s)
    ]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            instance = load_instance(name)
            folder = Path(scratch) / name
            write_instance(instance, folder)
            upper = known[name][0]
            for solver in solvers:
                start, cpu_start = time.perf_counter(), time.process_time()
                if solver == "tradefolio allocate":
                    status, value, cpu = _pard_tradefolio_cli(folder, instance.rho, limit)
                elif solver == "tradefolio allocate (baseline)":
                    status, value, cpu = _pard_tradefolio_cli(folder, instance.rho, limit, baseline)
                elif solver == "cvxpy + SCIP":
                    status, value = _pard_cvxpy_scip(instance, limit)
                elif solver == "cvxpy + SCIP perspective":
                    status, value = _pard_cvxpy_scip_perspective(instance, limit)
                else:
                    status, value = _pard_scip_mathopt(instance, limit)
                seconds = time.perf_counter() - start
                if not solver.startswith("tradefolio allocate"):
                    cpu = time.process_time() - cpu_start
                above = (value - upper) / upper if math.isfinite(value) else math.nan
                rows.append((name, solver, seconds, cpu, value, above, status))
                print(
                    f"{name} {solver}: {seconds:.1f} s (CPU {cpu:.1f} s), {value:.6f} "
                    f"({above:+.2e} vs best known {upper}), {status}, load {_load_average()}",
                    flush=True,
                )
    header = ["instance", "solver", "seconds", "CPU s", "objective", "vs best known", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table = Table(title=f"pard200 (min variance, buy-in floors), limit {limit:g} s")
    for h in header:
        table.add_column(h)
    for name, solver, seconds, cpu, value, above, status in rows:
        cells = [
            name,
            solver,
            f"{seconds:.1f}",
            f"{cpu:.1f}",
            f"{value:.6f}",
            f"{above:+.1e}",
            status,
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    summaries = []
    for label in ("tradefolio allocate", "tradefolio allocate (baseline)"):
        ours = [r for r in rows if r[1] == label]
        if not ours:
            continue
        proven = [r for r in ours if r[6] == "optimal" and abs(r[5]) <= 1e-4]
        summaries.append(
            f"{label}: {len(proven)} of {len(ours)} proven optimal within 0.01% of "
            f"best_known; median {statistics.median(r[2] for r in ours):.1f} s wall "
            f"({statistics.median(r[3] for r in ours):.1f} s CPU), max "
            f"{max(r[2] for r in ours):.1f} s wall ({max(r[3] for r in ours):.1f} s CPU)"
        )
    summary = "; ".join(summaries)
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
            "start-up and file reading included; CPU s: that process's user + system time), "
            "branch and bound with the projected perspective of the cheap diagonal split, "
            "its nodes solved by the warm-started active set of portfolio/node_qp.py; "
            f"(baseline): the same command on {baseline}; tradefolio scip: the same model "
            "through MathOpt + SCIP; cvxpy + SCIP: a direct big-M formulation; cvxpy + SCIP "
            "perspective: x_i^2 <= t_i y_i with the same split (SCIP's default 1e-4 gap). "
            "'vs best known': (objective - best upper bound) / best upper bound. The machine "
            f"was shared with other helpers' jobs (1-minute load {_load_average()} at the end "
            "on 2 cores): wall times are inflated and noisy, CPU times less.",
        )


SPEED_SIZES = (100, 200, 400)
SPEED_TARGETS = {100: 0.3, 200: 1.0, 400: 5.0}
GROWTH_SIZES = (50, 100, 200, 400, 700, 1000)
SPEED_AVERSION = 200.0


def _cpu_timed(solve: Callable[[], Outcome]) -> tuple[float, float, Outcome]:
    start, cpu_start = time.perf_counter(), time.process_time()
    outcome = solve()
    return time.perf_counter() - start, time.process_time() - cpu_start, outcome


def speed_one(n: int, limit: float) -> None:
    """One tradefolio `--speed` row of whatever tree is first on the path (the baseline's
    subprocess), as JSON. The solver libraries are imported before the clock starts where
    the parent process has them already (every N after the first)."""
    returns = returns_for(n)
    if n != SPEED_SIZES[0]:
        for module in ("scipy.sparse", "scs"):
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
    seconds, cpu, outcome = _cpu_timed(
        lambda: solve_tradefolio(returns, SPEED_AVERSION, "highs", limit)
    )
    answer = {"seconds": seconds, "cpu": cpu, "status": outcome.status}
    print(json.dumps({**answer, "weights": outcome.weights.tolist()}))


def _speed_baseline(n: int, limit: float, source: str) -> tuple[float, float, Outcome]:
    """`speed_one` in a subprocess with `source` (another tree's src) first on the path."""
    command = [sys.executable, __file__, "--speed-one", str(n), "--limit", f"{limit:g}"]
    env = {**os.environ, "PYTHONPATH": source}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        return math.nan, math.nan, Outcome(np.full(n, np.nan), "failed")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    weights = np.asarray(answer["weights"], dtype=float)
    return answer["seconds"], answer["cpu"], Outcome(weights, answer["status"])


def _speed_row(
    found: list[tuple[str, float, float, float, int, str]],
    returns: pd.DataFrame,
    n: int,
    name: str,
    seconds: float,
    cpu: float,
    outcome: Outcome,
    limit: float,
) -> None:
    """One `--speed` answer re-evaluated, printed and kept in `found`."""
    weights = outcome.weights
    finite = bool(np.isfinite(weights).all())
    value = utility(returns, weights, SPEED_AVERSION) if finite else math.nan
    status = outcome.status
    if not name.startswith("tradefolio") and seconds >= limit and "SCIP" not in status:
        status = f"{status} (at SCIP's time limit: not proven)"
    names = int((weights > 1e-6).sum()) if finite else 0
    found.append((name, seconds, cpu, value, names, status))
    print(
        f"N={n} {name}: {seconds:.2f} s (CPU {cpu:.2f}), utility {value:.10g}, "
        f"{names} names, {status}, load {_load_average()}",
        flush=True,
    )


def speed_table(limit: float, record: bool, baseline: str | None = None) -> None:
    """λ = 200, K = 10 at N = 100 / 200 / 400: tradefolio, skfolio and Riskfolio-Lib, each
    with `limit` seconds (SCIP's own time limit for the references); with `baseline`
    (another tree's src) also that tree's tradefolio (`speed_one`)."""
    rows = []
    for n in SPEED_SIZES:
        returns = returns_for(n)
        solvers: dict[str, Callable[[], Outcome]] = {
            "tradefolio": lambda r=returns: solve_tradefolio(r, SPEED_AVERSION, "highs", limit),
            "skfolio": lambda r=returns: solve_skfolio(r, SPEED_AVERSION, limit),
            "riskfolio": lambda r=returns: solve_riskfolio(r, SPEED_AVERSION, limit),
        }
        found: list[tuple[str, float, float, float, int, str]] = []
        for name, solve in solvers.items():
            if name == "skfolio" and baseline is not None:
                seconds, cpu, outcome = _speed_baseline(n, limit, baseline)
                _speed_row(found, returns, n, "tradefolio (baseline)", seconds, cpu, outcome, limit)
            try:
                seconds, cpu, outcome = _cpu_timed(solve)
            except Exception as exc:  # a reference library's failure is a row, not a crash
                seconds, cpu = math.nan, math.nan
                outcome = Outcome(np.full(n, np.nan), f"failed: {str(exc)[:40]}")
            _speed_row(found, returns, n, name, seconds, cpu, outcome, limit)
        best = max(v for _, _, _, v, _, _ in found if math.isfinite(v))
        for name, seconds, cpu, value, names, status in found:
            rows.append((n, name, seconds, cpu, value, best - value, names, status))
    header = ["N", "library", "seconds", "CPU s", "utility", "vs best", "names", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n, name, seconds, cpu, value, below, names, status in rows:
        target = f" (target <= {SPEED_TARGETS[n]:g} s)" if name.startswith("tradefolio") else ""
        cells = [
            f"{n}",
            name,
            f"{seconds:.2f}",
            f"{cpu:.2f}",
            f"{value:.10g}",
            "best" if below <= 0 else f"-{below:.2e}",
            f"{names}",
            status + target,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if record:
        append_results(
            "Mean-variance, λ = 200, K = 10: the issue 16 speed rows "
            "(bench_mean_variance.py --speed)",
            machine_stamp(
                "ortools", "highspy", "numpy", "skfolio", "riskfolio-lib", "cvxpy", "pyscipopt"
            ),
            "\n".join(lines),
            f"maximise mu^T w - 200 w^T Σ w, sum w = 1, w >= 0, at most {MAX_POSITIONS} names, "
            f"Σ the sample covariance of {LOOKBACK} daily returns of seeded synthetic GBM "
            f"prices (the same sets as above). Every solver had {limit:g} s (tradefolio's "
            "time limit; SCIP's limits/time for skfolio and Riskfolio-Lib, one run each); "
            "a reference row at its time limit is SCIP's incumbent, not proven. "
            + (
                ""
                if baseline is None
                else f"tradefolio (baseline): the same solve with {baseline} first on the "
                "path, in a subprocess timed around the solve (its solver imports before "
                "the clock from the second N on, as in process). "
            )
            + "'vs best': "
            "utility below the row's best, every answer projected onto sum w = 1, w >= 0. "
            f"1-minute load {_load_average()} at the end on 2 cores (other helpers' jobs).",
        )


def growth_one(n: int, limit: float) -> None:
    """One growth line (run in its own process for its peak memory), as JSON."""
    returns = returns_for(n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    symbols = [str(s) for s in returns.columns]
    mu = returns.mean()
    candidates = [Candidate(s, float(mu[s]), 100.0) for s in symbols]
    risk = risk_model(returns, "sample", periods_per_year=1)
    model = PortfolioModel(
        MeanVariance(risk, SPEED_AVERSION),
        [PositionLimits(1.0, 0.0), Cardinality(MAX_POSITIONS), Budget(1.0, 1.0)],
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    result = model.solve(
        make_universe(candidates, 1e6), solver="highs", time_limit=limit, fractional=True
    )
    answer = {
        "n": n,
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu_start,
        "status": result.status,
        "gap": result.gap,
        "names": sum(1 for w in result.weights.values() if w > 1e-6),
        "rss_before": before,
        "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(answer))


def growth_table(limit: float, record: bool) -> None:
    """Time and peak memory of the λ = 200, K = 10 model from N = 50 to 1,000."""
    lines = [
        "| N | seconds | CPU s | status | gap | names | peak RSS MB | RSS before solve MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in GROWTH_SIZES:
        command = [sys.executable, __file__, "--growth-one", str(n), "--limit", f"{limit:g}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines.append(f"| {n} | failed: {done.stderr.strip()[-80:]} |||||||")
            print(lines[-1], flush=True)
            continue
        a = json.loads(done.stdout.strip().splitlines()[-1])
        lines.append(
            f"| {n:,} | {a['seconds']:.2f} | {a['cpu']:.2f} | {a['status']} | {a['gap']:.1e} | "
            f"{a['names']} | {a['rss_peak']:.0f} | {a['rss_before']:.0f} |"
        )
        print(lines[-1], f"load {_load_average()}", flush=True)
    if record:
        append_results(
            "Mean-variance, λ = 200, K = 10: growth from N = 50 to 1,000 "
            "(bench_mean_variance.py --growth)",
            machine_stamp("highspy", "numpy"),
            "\n".join(lines),
            f"tradefolio's default: from {MIN_NAMES} to {MAX_NAMES} names "
            "the search over doubly-nonnegative bounds of portfolio/cardinality_search.py, "
            "otherwise the branch and bound (nodes by the active set of portfolio/node_qp.py, "
            f"HiGHS its fallback); time limit {limit:g} s, "
            "one fresh process per N (peak RSS: the process's maximum resident set, imports "
            "and data included; 'before solve': after the returns were generated). Σ is "
            f"the sample covariance of {LOOKBACK} daily returns, so it is singular from "
            f"N = {LOOKBACK} on. 1-minute load {_load_average()} at the end on 2 cores.",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--pard200", nargs="*", default=None, metavar="NAME")
    parser.add_argument("--limit", type=float, default=TIME_LIMIT)
    parser.add_argument(
        "--baseline", default=None, metavar="SRC", help="pard200 / speed: a baseline src"
    )
    parser.add_argument("--skip", nargs="*", default=[], metavar="SOLVER")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--growth", action="store_true")
    parser.add_argument("--growth-one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--speed-one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.speed_one is not None:
        speed_one(args.speed_one, args.limit)
        return
    if args.growth_one is not None:
        growth_one(args.growth_one, args.limit)
        return
    if args.pard200 is not None:
        pard200_table(
            args.pard200 or list(NAMES),
            args.limit,
            not args.no_record,
            args.baseline,
            tuple(args.skip),
        )
        return
    if args.speed:
        speed_table(args.limit, not args.no_record, args.baseline)
        return
    if args.growth:
        growth_table(args.limit, not args.no_record)
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
