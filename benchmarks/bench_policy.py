"""Allocation-policy backtests: the whole model solved at every monthly rebalance (issue 15).

Run: .venv/bin/python benchmarks/bench_policy.py [--rebalances N] [--no-record]

Two workloads, each timed end to end (`run_config`, as `tradefolio backtest --portfolio`
runs it, prices already loaded) with the seed score model on the same data as the baseline
in the same process:

1. the bundled sample (20 names, 1990-2022, monthly: ~384 solves), mean-variance, K = 5,
   sector cap 0.35, turnover cap 0.2, costs 5 bps + $1 per trade (issue target: <= 5 s on
   2 cores for the whole CLI run);
2. 500 synthetic GBM names x 2,520 sessions, monthly, mean-variance K = 30, weight cap 0.1,
   the same turnover cap and costs (no sectors: synthetic names have none); target
   <= 60 s, every rebalance proven or its gap reported.

`--rebalances N` stops each policy run after N solves (the price panel is cut after the
N-th decision bar) and the table extrapolates the full run linearly: say so when quoting
it (`--synthetic-rebalances`, default 12, and `--scip-rebalances`, default 40, do the same
for the 500-name run and for the SCIP rows). Per solve: median and max seconds, proven /
feasible / failed counts, largest gap. Two CLI rows time `tradefolio backtest` itself (a
fresh process: what the issue's "whole CLI run" means), the seed model's as the baseline.
Each policy workload also runs with `--solver scip`, the route `auto` took before
`portfolio/rebalance_solver.py` (same process, same data).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import pandas as pd
from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.data.synthetic import gbm_prices
from tradefolio.execution.schedule import rebalance_bars

MODEL = {
    "portfolio": True,
    "objective": "mean-variance",
    "risk_aversion": 5.0,
    "sector_cap": 0.35,
    "max_turnover": 0.2,
    "cost_bps": 5.0,
    "fixed_cost": 1.0,
}


def _cut(closes: pd.DataFrame, window: int, rebalances: int | None) -> tuple[pd.DataFrame, int]:
    """`closes` up to the bar after the `rebalances`-th decision, and the full run's count."""
    bars = [b for b in rebalance_bars(pd.DatetimeIndex(closes.index), "monthly").nonzero()[0]
            if b + 1 >= window]  # fmt: skip
    full = len([b for b in bars if b < len(closes) - 1])
    if rebalances is None or rebalances >= full:
        return closes, full
    return closes.iloc[: bars[rebalances - 1] + 2], full


def _policy_row(
    name: str, closes: pd.DataFrame, options: dict[str, object], limit: int | None
) -> dict[str, str]:
    """One policy run (`run_config`, prices loaded), cut after `limit` solves."""
    config = BacktestConfig.create(**options)
    cut, full = _cut(closes, config.risk_lookback + 1, limit)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_config(config, cut)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    seconds = [d.seconds for _, d in result.decisions]
    statuses = [d.status for _, d in result.decisions]
    gaps = [d.gap for _, d in result.decisions if d.gap == d.gap]
    done = len(result.decisions)
    return {
        "workload": name,
        "solves": f"{done} of {full}",
        "wall (s)": f"{wall:.1f}",
        "CPU (s)": f"{cpu:.1f}",
        "full run, extrapolated wall / CPU (s)": (
            f"{wall * full / max(done, 1):.0f} / {cpu * full / max(done, 1):.0f}"
        ),
        "median / max solve (s)": f"{statistics.median(seconds):.2f} / {max(seconds):.2f}",
        "proven / feasible / failed": (
            f"{statuses.count('optimal')} / {statuses.count('feasible')} / "
            f"{sum(s in ('infeasible', 'error') for s in statuses)}"
        ),
        "largest gap": (
            "no bound" if len(gaps) < done else f"{max(gaps, default=0.0):.2e}"
        ),  # an incumbent without a finite bound has no proven gap: say so, never 0
        "solvers": ", ".join(sorted(set(d.solver for _, d in result.decisions))),
    }


def _seed_row(name: str, closes: pd.DataFrame, max_positions: int) -> dict[str, str]:
    """The seed score model on the same prices: the baseline of the same process."""
    seed = BacktestConfig.create(portfolio=True, max_positions=max_positions)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_config(seed, closes)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = len(result.targets)
    return {
        "workload": name,
        "solves": f"{rows} of {rows}",
        "wall (s)": f"{wall:.1f}",
        "CPU (s)": f"{cpu:.1f}",
        "full run, extrapolated wall / CPU (s)": f"{wall:.0f} / {cpu:.0f}",
        "median / max solve (s)": "-",
        "proven / feasible / failed": "-",
        "largest gap": "-",
        "solvers": "exact / cbc",
    }


def _cli_row(name: str, flags: tuple[str, ...]) -> dict[str, str]:
    """`tradefolio backtest` on the sample as a user runs it: a fresh process (start-up,
    imports, the whole run, the JSON), wall and the child's CPU (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tradefolio", "backtest", *flags, "--no-record", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(done.stdout).get("rebalances") or {}
    proven = summary.get("proven", "-")
    count = summary.get("rebalances", "-")
    return {
        "workload": name,
        "solves": f"{count} of {count}",
        "wall (s)": f"{wall:.1f}",
        "CPU (s)": f"{cpu:.1f}",
        "full run, extrapolated wall / CPU (s)": f"{wall:.0f} / {cpu:.0f}",
        "median / max solve (s)": "-",
        "proven / feasible / failed": (
            "-"
            if not summary
            else f"{proven} / {summary.get('not_proven')} / {summary.get('failed')}"
        ),
        "largest gap": "-" if not summary else f"{summary.get('max_gap', 0.0):.2e}",
        "solvers": "cli",
    }


CLI_MODEL = (
    "--portfolio", "--objective", "mean-variance", "--risk-aversion", "5", "--sector-cap",
    "0.35", "--max-turnover", "0.2", "--cost-bps", "5", "--fixed-cost", "1",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebalances", type=int, default=None)
    parser.add_argument("--synthetic-rebalances", type=int, default=12)
    parser.add_argument("--scip-rebalances", type=int, default=40)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    sample = load_sample_prices()
    synthetic = gbm_prices(500, 2520, seed=15, factor_correlation=0.3)
    sample_model = {**MODEL, "max_positions": 5}
    synthetic_model = {**MODEL, "sector_cap": None, "max_positions": 30, "max_weight": 0.1,
                       "min_weight": 0.0}  # fmt: skip
    rows = [
        _cli_row("CLI: seed score model, sample", ("--portfolio",)),
        _cli_row("CLI: the policy, sample (issue target <= 5 s)", CLI_MODEL),
        _seed_row("seed score model, sample", sample, 5),
        _policy_row("policy, sample, K=5, auto", sample, sample_model, args.rebalances),
        _policy_row(
            "policy, sample, K=5, --solver scip (before)",
            sample,
            {**sample_model, "solver": "scip"},
            args.scip_rebalances,
        ),
        _seed_row("seed score model, GBM 500 x 2520", synthetic, 30),
        _policy_row(
            "policy, GBM 500 x 2520, K=30, auto (target <= 60 s)",
            synthetic,
            synthetic_model,
            args.synthetic_rebalances,
        ),
        _policy_row(
            "policy, GBM 500 x 2520, K=30, --solver scip (before)",
            synthetic,
            {**synthetic_model, "solver": "scip"},
            2,
        ),
    ]
    table = Table(title="allocation-policy backtests (monthly, mean-variance)")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    Console().print(table)
    if args.no_record:
        return
    header = "| " + " | ".join(rows[0]) + " |"
    rule = "|" + "---|" * len(rows[0])
    lines = [header, rule, *("| " + " | ".join(r.values()) + " |" for r in rows)]
    load = os.getloadavg()[0]
    append_results(
        "Allocation-policy backtests (bench_policy.py)",
        machine_stamp("ortools", "highspy", "numpy", "pandas"),
        "\n".join(lines),
        "Seed model = the score model on the same prices (baseline, same process); "
        "'--solver scip (before)' = the route `auto` took before the rebalance solver, same "
        "process. CLI rows: a fresh `python -m tradefolio backtest ... --no-record --format "
        "json` (start-up and imports included). Extrapolated = x full solves / solves run. "
        f"1-minute load when the run ended: {load:.1f} on 2 cores (other sessions' work): "
        "wall time includes waiting for a core (compare the CPU columns).",
    )


if __name__ == "__main__":
    main()
