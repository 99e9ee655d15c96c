"""What a user waits for: start-up, the default run folder and `report`, against baselines
run in the same process (issue 17's table).

Run: .venv/bin/python benchmarks/bench_cli_costs.py [--repeats 5] [--before SRC]
     [--symbols 500] [--days 2520] [--no-record]

Every row is a fresh `python -m tradefolio ...` subprocess (interpreter start, imports,
work, output), timed as the median wall time of `--repeats` runs, with the median CPU time
(user + system of the child) beside it: on a loaded machine the CPU time is the steadier
number. Baselines, all in the same run:

- a bare pywraplp script: reads the same 4-name candidate file with `csv`, builds the same
  score MIP (weights, selections, budget, cardinality, caps and floors) and solves it with
  CBC, printing the weights: the floor for `tradefolio --help` and `allocate --candidates`;
- the import floors of `allocate --candidates`: a process that only imports the CLI app
  (typer, click) and pywraplp, and the same plus numpy (which the allocator's model and
  exact weights need): what no change inside the command can go below;
- `backtest --no-record`: the backtest alone (load, run, metrics, table); the default run
  (run folder + tearsheet) should cost at most as much again, and so should `report`;
- `--before SRC`: the same commands on another source tree (e.g. /work/main/src, the code
  before this change), for the "before" column.

Prints one table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from tradefolio.data.synthetic import gbm_prices

SOURCE = str(Path(__file__).resolve().parents[1] / "src")

CANDIDATES = "symbol,score,price\nAAA,3,10\nBBB,2,20\nCCC,1,7\nDDD,0.5,5\n"

BARE_PYWRAPLP = """
import csv, sys
from ortools.linear_solver import pywraplp
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
max_weight, min_weight, max_positions = 0.25, 0.02, 10
solver = pywraplp.Solver.CreateSolver("CBC")
inf = solver.infinity()
w = [solver.NumVar(0.0, max_weight, f"w{i}") for i in range(len(rows))]
x = [solver.BoolVar(f"x{i}") for i in range(len(rows))]
budget = solver.Constraint(-inf, 1.0)
count = solver.Constraint(-inf, float(max_positions))
objective = solver.Objective()
for i, row in enumerate(rows):
    cap = solver.Constraint(-inf, 0.0)
    cap.SetCoefficient(w[i], 1.0); cap.SetCoefficient(x[i], -max_weight)
    floor = solver.Constraint(0.0, inf)
    floor.SetCoefficient(w[i], 1.0); floor.SetCoefficient(x[i], -min_weight)
    budget.SetCoefficient(w[i], 1.0); count.SetCoefficient(x[i], 1.0)
    objective.SetCoefficient(w[i], float(row["score"]))
objective.SetMaximization()
assert solver.Solve() == pywraplp.Solver.OPTIMAL
for row, weight in zip(rows, w):
    print(row["symbol"], round(weight.solution_value(), 6))
"""


PYWRAPLP_IMPORT = "from ortools.linear_solver import pywraplp"


@dataclass(frozen=True, slots=True)
class Timing:
    """Median wall and CPU seconds of one command over the repeats."""

    wall: float
    cpu: float


def timed(command: Sequence[str], source: str, cwd: Path, repeats: int) -> Timing:
    """Run `command` `repeats` times with `source` first on PYTHONPATH; medians."""
    environment = {**os.environ, "PYTHONPATH": source, "TRADEFOLIO_RUNS_DIR": str(cwd / "runs")}
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=environment, cwd=cwd)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return Timing(statistics.median(walls), statistics.median(cpus))


def latest_run(folder: Path) -> Path:
    """The newest run folder under `folder`."""
    return max((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="another source tree for the 'before' column")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    python = sys.executable
    tf = [python, "-m", "tradefolio"]

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "candidates.csv").write_text(CANDIDATES)
        (work / "bare.py").write_text(BARE_PYWRAPLP)
        gbm_prices(args.symbols, args.days, seed=7).round(2).to_csv(work / "gbm.csv")
        big = f"GBM {args.symbols} x {args.days:,}"
        commands: list[tuple[str, list[str], int]] = [
            ("bare pywraplp script, same MIP", [python, "bare.py", "candidates.csv"], args.repeats),
            (
                "floor: import the CLI app + pywraplp",
                [python, "-c", f"import tradefolio.cli.app; {PYWRAPLP_IMPORT}"],
                args.repeats,
            ),
            (
                "floor: import the CLI app + pywraplp + numpy",
                [python, "-c", f"import tradefolio.cli.app, numpy; {PYWRAPLP_IMPORT}"],
                args.repeats,
            ),
            ("tradefolio --help", [*tf, "--help"], args.repeats),
            (
                "allocate --candidates (4 names)",
                [*tf, "allocate", "--candidates", "candidates.csv"],
                args.repeats,
            ),
            (
                "allocate --candidates --format json",
                [*tf, "allocate", "--candidates", "candidates.csv", "--format", "json"],
                args.repeats,
            ),
            (
                f"backtest {big} --no-record",
                [*tf, "backtest", "--prices", "gbm.csv", "--no-record", "-q"],
                3,
            ),
            (
                f"backtest {big} (default: run folder + tearsheet)",
                [*tf, "backtest", "--prices", "gbm.csv", "-q", "--out", "gbm-runs"],
                3,
            ),
            (
                f"backtest {big} --png",
                [*tf, "backtest", "--prices", "gbm.csv", "-q", "--png", "--out", "png-runs"],
                1,
            ),
            ("backtest sample --no-record", [*tf, "backtest", "--no-record", "-q"], 3),
            ("backtest sample (default)", [*tf, "backtest", "-q"], 3),
        ]
        trees = [("after", SOURCE)] + ([("before", args.before)] if args.before else [])
        results: dict[tuple[str, str], Timing] = {}
        sizes: dict[str, int] = {}
        for tree, source in trees:
            for label, command, repeats in commands:
                if tree == "before" and label.startswith("bare"):
                    continue
                results[(tree, label)] = timed(command, source, work, repeats)
            # report on this tree's last default run folder on the GBM prices
            folder = latest_run(work / "gbm-runs")
            sizes[tree] = (folder / "tearsheet.html").stat().st_size
            results[(tree, f"report {big} folder")] = timed(
                [*tf, "report", str(folder), "-q", "--no-png"], source, work, 3
            )
        load = os.getloadavg()[0]

    labels = [label for label, _, _ in commands] + [f"report {big} folder"]
    bare = results[("after", labels[0])]
    alone = results[("after", f"backtest {big} --no-record")]
    table = Table(title="CLI costs (median wall s / CPU s of fresh processes)")
    columns = ["command", "wall s", "CPU s", "vs baseline (wall / CPU)"]
    if args.before:
        columns += ["before wall s", "before CPU s"]
    for name in columns:
        table.add_column(name, justify="left" if name == "command" else "right")
    rows = []
    for label in labels:
        after = results[("after", label)]
        if label.startswith(("tradefolio --help", "allocate", "floor")):
            base = bare
        elif label.startswith(("backtest GBM", "report GBM")) and "--no-record" not in label:
            base = alone
        elif label == "backtest sample (default)":
            base = results[("after", "backtest sample --no-record")]
        else:
            base = None
        ratio = f"{after.wall / base.wall:.2f}x / {after.cpu / base.cpu:.2f}x" if base else "-"
        row = [label, f"{after.wall:.3f}", f"{after.cpu:.3f}", ratio]
        if args.before:
            before = results.get(("before", label))
            row += [f"{before.wall:.3f}", f"{before.cpu:.3f}"] if before else ["-", "-"]
        rows.append(row)
        table.add_row(*row)
    console = Console()
    console.print(table)
    size_note = ", ".join(f"{tree} {size / 1e6:.1f} MB" for tree, size in sizes.items())
    console.print(f"tearsheet of the {big} run: {size_note}; 1-minute load average {load:.1f}")
    if args.no_record:
        return
    markdown = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    markdown += "\n".join("| " + " | ".join(row) + " |" for row in rows)
    notes = (
        "Fresh `python -m tradefolio` processes; medians of "
        f"{args.repeats} runs (3 for backtests and report, 1 for --png). 'vs baseline': "
        "start-up rows against the bare pywraplp script solving the same MIP (bound: 2x); "
        "'floor' rows only import what `allocate --candidates` cannot do without; "
        f"run-folder and report rows against `backtest {big} --no-record` (bound: 2x, i.e. "
        "the report costs at most as much again as the backtest). "
        + (f"'before': the same commands on {args.before}. " if args.before else "")
        + f"Tearsheet of the {big} run: {size_note}. 1-minute load average at the end: "
        f"{load:.1f} (2 cores shared with other work: wall times are noisy, CPU times less)."
    )
    append_results(
        "CLI costs: start-up, run folder, report (benchmarks/bench_cli_costs.py)",
        machine_stamp("ortools", "pandas", "numpy", "plotly", "matplotlib", "typer"),
        markdown,
        notes,
    )


if __name__ == "__main__":
    main()
