"""The whole-share repair alone (`portfolio/share_repair.py`), on the rebalances of real runs.

Run: .venv/bin/python benchmarks/bench_share_repair.py [--baseline SRC] [--no-record]
     [--sample-rebalances N] [--synthetic-rebalances N]

A policy backtest (`bench_policy.py`'s workloads: the bundled sample, 384 monthly
mean-variance rebalances with K = 5, sector cap, turnover cap and costs, solved in whole
shares; and 500 synthetic names, K = 30) is run once with this tree, and every call of
`solve_by_repair` is recorded with its inputs (the whole-share and fractional programs
and the fractional twin's proven solution) to a temporary file. Each tree (this one, and
`--baseline SRC`, e.g. main's `src` from `git archive main src | tar -x -C /tmp/base`) then
replays those same calls in a fresh process: CPU seconds of the repair alone (total,
median, max per rebalance), its statuses, and how many answers equal the first tree's
(the same whole-share targets and objective) or are better / worse.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from _machine import append_results, child_stdout, machine_stamp, show_table

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"


def capture(workload: str, limit: int | None, out: Path) -> None:
    """Run `workload` for `limit` rebalances with this tree and record the repair calls."""
    import bench_policy
    from tradefolio.backtest.config import BacktestConfig
    from tradefolio.backtest.runner import run_config
    from tradefolio.portfolio import model as model_module

    calls: list[dict[str, Any]] = []
    repair = model_module.solve_by_repair

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append({"args": args, "kwargs": kwargs})
        return repair(*args, **kwargs)

    model_module.solve_by_repair = recorded  # type: ignore[assignment]
    config = BacktestConfig.create(**bench_policy.WORKLOADS[workload])  # type: ignore[arg-type]
    closes = bench_policy._closes(workload)
    cut, _ = bench_policy._cut(closes, config.risk_lookback + 1, limit)
    run_config(config, cut)
    with out.open("wb") as handle:
        pickle.dump(calls, handle)


def replay(cases: Path, answers: Path) -> dict[str, Any]:
    """Every recorded call again with the tree on the path: CPU seconds, the answers."""
    import numpy as np

    from tradefolio.portfolio import share_repair

    with cases.open("rb") as handle:
        calls = pickle.load(handle)
    # the keywords this tree's repair takes (an older tree: the ones it knows)
    known = inspect.signature(share_repair.solve_by_repair).parameters
    seconds, results = [], []
    for call in calls:
        keywords = {k: v for k, v in call.get("kwargs", {}).items() if k in known}
        start = time.process_time()
        raw = share_repair.solve_by_repair(*call["args"], **keywords)
        seconds.append(time.process_time() - start)
        whole = call["args"][0]
        results.append(
            None
            if raw is None
            else (raw.status, raw.objective, np.asarray(raw.values)[whole.lots].tolist())
        )
    with answers.open("wb") as handle:
        pickle.dump((results, [c["args"][0].program.maximize for c in calls]), handle)
    return {
        "total": sum(seconds),
        "median": statistics.median(seconds),
        "max": max(seconds),
        "count": len(seconds),
    }


def _child(source: Path, arguments: list[str]) -> dict[str, Any]:
    lines = child_stdout(Path(__file__), source, arguments)
    return json.loads(lines[-1]) if lines else {}


def _compare(reference: Path, other: Path) -> tuple[int, int, int, float, dict[str, int]]:
    """(equal, better, worse, the largest relative difference of two unequal objectives,
    statuses) of `other`'s answers against `reference`'s."""
    with reference.open("rb") as handle:
        first, maximize = pickle.load(handle)
    with other.open("rb") as handle:
        second, _ = pickle.load(handle)
    equal = better = worse = 0
    difference = 0.0
    statuses: dict[str, int] = {}
    for a, b, up in zip(first, second, maximize, strict=True):
        status = "none" if b is None else b[0]
        statuses[status] = statuses.get(status, 0) + 1
        if a == b or (a is not None and b is not None and a[2] == b[2]):
            equal += 1
            continue
        if a is not None and b is not None:
            difference = max(difference, abs(b[1] - a[1]) / max(abs(a[1]), 1e-9))
        if a is None or (b is not None and (b[1] - a[1]) * (1 if up else -1) > 0):
            better += 1
        else:
            worse += 1
    return equal, better, worse, difference, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=None, help="another source tree")
    parser.add_argument("--sample-rebalances", type=int, default=None)
    parser.add_argument("--synthetic-rebalances", type=int, default=12)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--capture", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--replay", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capture is not None:
        workload, limit, out = args.capture
        capture(workload, None if limit == "None" else int(limit), Path(out))
        return
    if args.replay is not None:
        print(json.dumps(replay(Path(args.replay[0]), Path(args.replay[1]))))
        return
    trees = [("this branch", SOURCE)]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        for workload, limit in (
            ("sample", args.sample_rebalances),
            ("gbm500", args.synthetic_rebalances),
        ):
            cases = Path(folder) / f"{workload}.pkl"
            _child(SOURCE, ["--capture", workload, str(limit), str(cases)])
            answers = []
            for label, source in trees:
                answer = Path(folder) / f"{workload}-{label}.answers"
                timing = _child(source, ["--replay", str(cases), str(answer)])
                answers.append(answer)
                equal, better, worse, difference, statuses = _compare(answers[0], answer)
                rows.append({
                    "workload": f"{workload}, {label}",
                    "rebalances": str(timing["count"]),
                    "repair CPU total (s)": f"{timing['total']:.2f}",
                    "median / max per rebalance (s)":
                        f"{timing['median']:.4f} / {timing['max']:.3f}",
                    "statuses": ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
                    "equal / better / worse than this branch": f"{equal} / {better} / {worse}",
                    "largest relative difference": f"{difference:.1e}",
                })  # fmt: skip
                Console(stderr=True).print(rows[-1])
    markdown = show_table("whole-share repair alone, on the rebalances of real runs", rows)
    if args.no_record:
        return
    load = os.getloadavg()[0]
    baseline = "" if args.baseline is None else f" Baseline = the source tree {args.baseline}."
    append_results(
        "Whole-share repair alone (bench_share_repair.py)",
        machine_stamp("numpy", "highspy", "ortools"),
        markdown,
        "Each tree replays the same recorded `solve_by_repair` calls (inputs from one run "
        "with this branch) in a fresh process; CPU seconds of the repair alone. "
        f"{baseline} 1-minute load when the run ended: {load:.1f} on 2 cores (other "
        "sessions' work).",
    )


if __name__ == "__main__":
    main()
