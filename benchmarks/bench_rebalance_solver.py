"""The rebalance solver alone on the sample policy run's own programs (issue 15, "Speed").

Run: .venv/bin/python benchmarks/bench_rebalance_solver.py [--baseline SRC] [--reps 3]
     [--limit N] [--no-record]

`bench_policy.py` times whole runs, in which the rebalance solver's branch and bound is one
part among the share repair, the model build and the backtest. This benchmark isolates it:

1. one policy run of the bundled sample (mean-variance, risk aversion 5, K = 5, sector cap
   0.35, turnover cap 0.2, 5 bps + $1 per trade: 384 monthly rebalances, as
   `tradefolio backtest --portfolio ...` runs it) records every `solve_rebalance` call
   (its model context, time limit and hint) with this tree, in a child process;
2. each tree (this one, and `--baseline SRC`, e.g. main's `src` unpacked by
   `git archive main src | tar -x -C /tmp/base`) re-solves those same programs in a fresh
   process, `--reps` times interleaved (both see the same load); the table has the
   smallest CPU time of the reps, the branch and bound's node count (per rebalance: mean,
   median, max), CPU ms per node and per rebalance, and how many answers differ from the
   baseline's (values beyond 1e-6 or objective beyond 1e-9 relative) or from this
   tree's when there is no baseline.

The programs are the same for both trees, so the node counts are exact comparisons; the
CPU times are as noisy as the machine (say so when it is loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import append_results, child_stdout, machine_stamp
from bench_policy import WORKLOADS

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"
FLAGS = WORKLOADS["sample"]  # the sample run, as bench_policy.py times it


def capture(path: Path) -> None:
    """Run the sample policy backtest, pickling every `solve_rebalance` call to `path`."""
    from tradefolio.backtest.config import BacktestConfig
    from tradefolio.backtest.runner import run_config
    from tradefolio.data.sample_data import load_sample_prices
    from tradefolio.portfolio import model, rebalance_solver, share_repair

    calls: list[tuple[Any, ...]] = []
    solve = rebalance_solver.solve_rebalance

    def recorded(ctx: Any, time_limit: float, *rest: Any) -> Any:
        calls.append((ctx, time_limit, *rest))  # the hint and the gap when given
        return solve(ctx, time_limit, *rest)

    for module in (model, share_repair):  # where the policy run calls it from
        module.__dict__["solve_rebalance"] = recorded
    run_config(BacktestConfig.create(**FLAGS), load_sample_prices())
    with path.open("wb") as handle:
        pickle.dump(calls, handle)


def replay(calls_path: Path, answers_path: Path, limit: int | None) -> dict[str, float]:
    """Re-solve the recorded calls; their answers pickled to `answers_path`, numbers back."""
    import numpy as np

    from tradefolio.portfolio import branch_and_bound, rebalance_solver

    with calls_path.open("rb") as source:
        calls = pickle.load(source)[:limit]
    nodes: list[int] = []
    search = branch_and_bound.branch_and_bound

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = search(*args, **kwargs)
        nodes.append(found.nodes)
        return found

    branch_and_bound.__dict__["branch_and_bound"] = counted
    per_call: list[int] = []
    answers = []
    cpu = time.process_time()
    for call in calls:
        before = len(nodes)
        raw = rebalance_solver.solve_rebalance(*call)
        per_call.append(sum(nodes[before:]))
        answers.append((np.asarray(raw.values), raw.objective, raw.status))
    cpu = time.process_time() - cpu
    with answers_path.open("wb") as target:
        pickle.dump(answers, target)
    return {
        "calls": len(calls),
        "cpu": cpu,
        "nodes": sum(per_call),
        "mean": statistics.mean(per_call),
        "median": statistics.median(per_call),
        "max": max(per_call),
        "proven": sum(status == "optimal" for _, _, status in answers),
    }


def _child(source: Path, arguments: list[str]) -> str:
    return child_stdout(Path(__file__), source, arguments)[-1]


def _changed(first: Path, second: Path) -> int:
    import numpy as np

    with first.open("rb") as a, second.open("rb") as b:
        mine, theirs = pickle.load(a), pickle.load(b)
    return sum(
        float(np.max(np.abs(x - y), initial=0.0)) > 1e-6
        or abs(f - g) > 1e-9 * max(abs(g), 1e-9)
        or s != t
        for (x, f, s), (y, g, t) in zip(mine, theirs, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=None, help="another source tree")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="replay the first N only")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--capture", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--replay", nargs=2, type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capture is not None:  # a child process
        capture(args.capture)
        print("captured")
        return
    if args.replay is not None:  # a child process: numbers as JSON on the last line
        print(json.dumps(replay(args.replay[0], args.replay[1], args.limit)))
        return
    trees = [("this branch", SOURCE)]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    limit = [] if args.limit is None else ["--limit", str(args.limit)]
    with tempfile.TemporaryDirectory() as folder:
        calls = Path(folder) / "calls.pkl"
        Console(stderr=True).print("recording the sample run's rebalance programs ...")
        _child(SOURCE, ["--capture", str(calls)])
        results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
        for _ in range(args.reps):
            for label, source in trees:
                answers = Path(folder) / f"{label}.pkl"
                line = _child(source, ["--replay", str(calls), str(answers), *limit])
                results[label].append(json.loads(line))
                Console(stderr=True).print(label, results[label][-1])
        reference = Path(folder) / f"{trees[-1][0]}.pkl"
        changed = {label: _changed(Path(folder) / f"{label}.pkl", reference) for label, _ in trees}
    table = Table(title="rebalance solver on the sample run's programs (CPU: least of the reps)")
    columns = [
        "tree", "rebalances", "nodes (mean / median / max per rebalance)", "CPU (s)",
        "ms per node", "ms per rebalance", "proven", "answers changed vs baseline",
    ]  # fmt: skip
    for column in columns:
        table.add_column(column)
    rows = []
    for label, _ in trees:
        best = min(results[label], key=lambda r: r["cpu"])
        rows.append([
            label,
            f"{best['calls']:.0f}",
            f"{best['nodes']:.0f} ({best['mean']:.1f} / {best['median']:.0f} / {best['max']:.0f})",
            f"{best['cpu']:.2f}",
            f"{1000 * best['cpu'] / max(best['nodes'], 1):.2f}",
            f"{1000 * best['cpu'] / max(best['calls'], 1):.1f}",
            f"{best['proven']:.0f}",
            "-" if label == trees[-1][0] else str(changed[label]),
        ])  # fmt: skip
        table.add_row(*rows[-1])
    Console().print(table)
    if args.no_record:
        return
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    load = os.getloadavg()[0]
    baseline = "" if args.baseline is None else f" Baseline = the source tree {args.baseline}."
    append_results(
        "Rebalance solver on the sample run's programs (bench_rebalance_solver.py)",
        machine_stamp("highspy", "numpy"),
        "\n".join(lines),
        f"The {rows[0][1]} programs recorded from one sample policy run (this tree), "
        f"re-solved by each tree in a fresh process, least CPU of {args.reps} interleaved "
        f"reps; ms per node = CPU / nodes (the whole solve, set-up included).{baseline} "
        f"1-minute load when the run ended: {load:.1f} on 2 cores (other sessions' work).",
    )


if __name__ == "__main__":
    main()
