"""Allocator speed: `allocate()` end to end for the exact algorithm, CBC, SCIP and HiGHS.

Run: .venv/bin/python benchmarks/bench_allocator.py [--repeats 5] [--baseline SRC] [--no-record]

Prints one table (medians of several runs) and appends it to benchmarks/RESULTS.md.
The exact O(N log N) solver is the baseline every MIP backend is compared against, and
each MIP objective is checked against it. With `--baseline SRC` (a source tree, e.g. an
older commit unpacked with `git archive`) the same measurements run for that tree in a
subprocess, interleaved with the current tree's (two rounds each, the faster median
kept, so a load spike on a shared machine hits both alike), and the table gains a
"before" column. `make_universe` at N = 10,000 is timed once per tree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp

SIZES = (100, 1_000, 10_000)
SOLVERS = ("exact", "cbc", "scip", "highs")
MAX_WEIGHT, MIN_WEIGHT, MAX_POSITIONS = 0.05, 0.01, 30


def median_seconds(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (CPU time is what a loaded, shared machine
    distorts least: the solvers run single-threaded here)."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(repeats: int) -> dict[str, float]:
    """Seconds per `allocate()` call, keyed "N/solver", plus each MIP's objective error and
    the time of `make_universe` at N = 10,000 (only tradefolio's public API is used, so the
    same function measures an older source tree)."""
    from tradefolio.errors import SolverUnavailable
    from tradefolio.portfolio import AllocatorParams, Candidate, allocate
    from tradefolio.portfolio.context import make_universe

    params = AllocatorParams(MAX_WEIGHT, MIN_WEIGHT, MAX_POSITIONS)
    timings: dict[str, float] = {}
    for n in SIZES:
        rng = np.random.default_rng(n)
        scores = rng.normal(0.05, 0.1, size=n)
        prices = rng.uniform(5, 500, size=n)
        candidates = [
            Candidate(f"S{i:05d}", float(s), float(p))
            for i, (s, p) in enumerate(zip(scores, prices, strict=True))
        ]
        exact = allocate(candidates, 1e6, params, solver="exact").objective
        for solver in SOLVERS:
            try:
                allocate(candidates[:1], 1e6, params, solver=solver)
            except SolverUnavailable:
                continue
            count = repeats if n < 10_000 or solver == "exact" else max(1, repeats // 2)
            objective = math.nan

            def run(name: str = solver, universe: list[Candidate] = candidates) -> None:
                nonlocal objective
                objective = allocate(universe, 1e6, params, solver=name, time_limit=120).objective

            timings[f"{n}/{solver}"], timings[f"{n}/{solver}/cpu"] = median_seconds(run, count)
            timings[f"{n}/{solver}/error"] = abs(objective - exact) / abs(exact)
        if n == SIZES[-1]:
            timings["make_universe"], timings["make_universe/cpu"] = median_seconds(
                lambda c=candidates: make_universe(c, 1e6, keep_non_positive=False), 1
            )
    return timings


def measure_tree(source: Path | None, repeats: int) -> dict[str, float]:
    """`measure` in a subprocess with `source`/src (or this tree) first on the path."""
    tree = source or Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import bench_allocator as b; "
        "print(json.dumps(b.measure(int(sys.argv[2]))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(repeats)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def faster(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per measurement the smaller value over the rounds."""
    return {key: min(run[key] for run in runs if key in run) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="source tree to compare against")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()

    current_runs, baseline_runs = [], []
    for _ in range(2 if args.baseline else 1):
        if args.baseline:
            baseline_runs.append(measure_tree(args.baseline, args.repeats))
        current_runs.append(measure_tree(None, args.repeats))
    current = faster(current_runs)
    baseline = faster(baseline_runs) if baseline_runs else {}

    header = ["N", "solver", "wall ms", "CPU ms", "CPU vs exact", "same optimum"]
    if baseline:
        header += ["before wall ms", "before CPU ms", "CPU after / before"]

    def cells(key: str) -> list[str]:
        row = [f"{current[key] * 1e3:.2f}", f"{current[key + '/cpu'] * 1e3:.2f}"]
        return row

    def before_cells(key: str) -> list[str]:
        if not baseline:
            return []
        if key not in baseline:
            return ["", "", ""]
        ratio = current[key + "/cpu"] / max(baseline[key + "/cpu"], 1e-9)
        return [f"{baseline[key] * 1e3:.2f}", f"{baseline[key + '/cpu'] * 1e3:.2f}", f"{ratio:.2f}"]

    rows: list[list[str]] = []
    for n in SIZES:
        exact = current[f"{n}/exact/cpu"]
        for solver in SOLVERS:
            key = f"{n}/{solver}"
            if key not in current:
                rows.append([f"{n:,}", solver, "not linked", "", "", "", *before_cells(key)])
                continue
            error = current[f"{key}/error"]
            ratio = current[key + "/cpu"] / max(exact, 1e-9)
            rows.append(
                [
                    f"{n:,}",
                    solver,
                    *cells(key),
                    "1.0x" if solver == "exact" else f"{ratio:.0f}x",
                    "yes" if error <= 1e-6 else f"NO (relative error {error:.2g})",
                    *before_cells(key),
                ]
            )
    rows.append(
        ["10,000", "make_universe", *cells("make_universe"), "", "", *before_cells("make_universe")]
    )

    table = Table(title="Allocator: medians of allocate() end to end")
    for column in header:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)

    markdown = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    markdown += "\n".join("| " + " | ".join(row) + " |" for row in rows)
    if not args.no_record:
        notes = (
            f"Parameters: max_weight={MAX_WEIGHT}, min_weight={MIN_WEIGHT}, "
            f"max_positions={MAX_POSITIONS}; scores ~ N(0.05, 0.1), about 69% positive. "
            "Each cell is allocate(..., solver=...) end to end (validation, model, solve, "
            "shares), the median of the runs, as wall-clock and as CPU time of the process "
            "(the solvers run single-threaded; on a shared, loaded machine CPU time is the "
            "steadier comparison); 'make_universe' aligns the 10,000 candidates once."
        )
        if baseline:
            notes += (
                f" 'before' is the source tree {args.baseline} measured in the same run "
                "(two interleaved rounds per tree, the faster median kept)."
            )
        append_results(
            "Allocator (benchmarks/bench_allocator.py)",
            machine_stamp("ortools", "numpy"),
            markdown,
            notes,
        )


if __name__ == "__main__":
    main()
