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
it. Per solve: median and max seconds, proven / feasible / failed counts, largest gap.
"""

from __future__ import annotations

import argparse
import statistics
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


def run(name: str, closes: pd.DataFrame, options: dict[str, object], limit: int | None) -> dict:
    config = BacktestConfig.create(**options)
    seed = BacktestConfig.create(
        portfolio=True, max_positions=config.max_positions, lookback=config.lookback
    )
    start = time.perf_counter()
    run_config(seed, closes)
    baseline = time.perf_counter() - start
    window = config.risk_lookback + 1
    cut, full = _cut(closes, window, limit)
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
        "seed model (s)": f"{baseline:.2f}",
        "policy wall (s)": f"{wall:.1f}",
        "policy CPU (s)": f"{cpu:.1f}",
        "full run, extrapolated (s)": f"{wall * full / max(done, 1):.0f}",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebalances", type=int, default=None)
    parser.add_argument("--synthetic-rebalances", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = [
        run("sample, 20 names, K=5", load_sample_prices(), {**MODEL, "max_positions": 5},
            args.rebalances),
        run("GBM 500 x 2520, K=30", gbm_prices(500, 2520, seed=15, factor_correlation=0.3),
            {**MODEL, "sector_cap": None, "max_positions": 30, "max_weight": 0.1,
             "min_weight": 0.0},
            args.synthetic_rebalances),
    ]  # fmt: skip
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
    append_results(
        "Allocation-policy backtests (bench_policy.py)",
        machine_stamp("ortools", "highspy", "numpy", "pandas"),
        "\n".join(lines),
        "Seed model = the score model on the same prices (baseline, same process). "
        "Extrapolated = wall x full solves / solves run. The machine is shared by several "
        "sessions: wall time includes waiting for a core (compare the CPU column).",
    )


if __name__ == "__main__":
    main()
