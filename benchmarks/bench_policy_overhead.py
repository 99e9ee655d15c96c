"""What a policy backtest spends outside the solver (issue 15's "Speed", the non-solver part).

Run: .venv/bin/python benchmarks/bench_policy_overhead.py [--baseline SRC] [--rounds 3]
     [--workload sample|gbm500] [--rebalances N] [--no-record]

`bench_policy.py` times whole runs; this one splits a run's CPU into the solver and the
rest. Each row is a fresh process that runs `run_config` on the loaded prices (as
`tradefolio backtest --portfolio` does) with a CPU timer around the model's solver entry
points (`solve_rebalance`, `solve_by_repair`, `solve_program`, as `PortfolioModel.solve`
calls them) and around the policy's stages (candidates and scores, the risk estimate and
model build, `PortfolioModel.build`, the pre-checks, the result). "Outside the solver" is
the run's CPU less the solver's: scoring, risk, the model build, the listed-trades check,
the engine's own bar loop. A CLI row times `python -m tradefolio backtest` with the same
model (start-up, imports, data loading and output included) next to `python -c "import
tradefolio.cli.backtest, tradefolio.backtest.runner, tradefolio.portfolio.policy"`, the
imports alone, and the same CLI run with its default record (the run folder: weights.csv,
rebalances.csv, fills, equity, positions, and the HTML tearsheet). Children run with
bytecode cached (a warm-up writes it to a scratch `PYTHONPYCACHEPREFIX`), as an installed
package has it; `bench_policy.py`'s CLI rows inherit `PYTHONDONTWRITEBYTECODE` when it is
set and then compile every module at start-up (~0.3 s CPU more).

`--baseline SRC` runs every row again with `PYTHONPATH=SRC` (e.g. main's `src` unpacked by
`git archive main src | tar -x -C /tmp/base`), interleaved round by round; the table shows
the median of `--rounds` rounds. The machine is shared: compare the CPU columns.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from bench_policy import CLI_MODEL, WORKLOADS, _child, _closes, _cut

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"

#: bench_policy.py's CLI row (K = 5 is `backtest`'s default --max-positions).
CLI = ("-m", "tradefolio", "backtest", *CLI_MODEL, "--no-record", "--format", "json")
IMPORTS = (
    "-c",
    "import tradefolio.cli.backtest, tradefolio.backtest.runner, tradefolio.portfolio.policy",
)
#: The solver entry points `PortfolioModel.solve` calls (names in `portfolio.model`).
SOLVERS = ("solve_rebalance", "solve_by_repair", "solve_program")


class _Clock:
    """CPU seconds per label, accumulated over wrapped calls (outermost call only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._depth: dict[str, int] = {}

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = self._depth.get(label, 0)
            self._depth[label] = depth + 1
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth[label] = depth
                if depth == 0:
                    spent = time.process_time() - start
                    self.seconds[label] = self.seconds.get(label, 0.0) + spent

        return timed


def run_row(workload: str, rebalances: int | None) -> dict[str, Any]:
    """One in-process run with the clocks in place (the child's work): the CPU seconds
    by part, and every decision's date, status, objective and target weights."""
    from tradefolio.backtest.config import BacktestConfig
    from tradefolio.backtest.runner import run_config
    from tradefolio.portfolio import build, model, policy

    clock = _Clock()
    for name in SOLVERS:
        setattr(model, name, clock.wrap("solver", getattr(model, name)))
    Policy = policy.AllocationPolicy
    Policy.decide = clock.wrap("decide", Policy.decide)  # type: ignore[method-assign]
    Policy.candidates = clock.wrap("candidates", Policy.candidates)  # type: ignore[method-assign]
    setattr(policy, "build_model", clock.wrap("risk + build_model", build.build_model))  # noqa: B010
    Model = model.PortfolioModel
    Model.build = clock.wrap("PortfolioModel.build", Model.build)  # type: ignore[method-assign]
    Model.precheck = clock.wrap("precheck", Model.precheck)  # type: ignore[method-assign]
    Model._result = clock.wrap("result + listed check", Model._result)  # type: ignore[method-assign]

    config = BacktestConfig.create(**WORKLOADS[workload])
    closes, _ = _cut(_closes(workload), config.risk_lookback + 1, rebalances)
    start = time.process_time()
    result = run_config(config, closes)
    total = time.process_time() - start
    seconds = dict(clock.seconds)
    seconds["run_config"] = total
    seconds["outside the solver"] = total - seconds.get("solver", 0.0)
    seconds["solves"] = float(len(result.decisions))
    decisions = [
        [str(d.day), d.status, d.objective, sorted(d.weights.items())] for _, d in result.decisions
    ]
    return {"seconds": seconds, "decisions": decisions}


def _difference(one: list[list[Any]], two: list[list[Any]]) -> float:
    """The largest difference of objective or weight between two runs' decisions (inf when
    their dates, statuses or names differ)."""
    if [d[:2] for d in one] != [d[:2] for d in two]:
        return math.inf
    worst = 0.0
    for (_, _, objective, weights), (_, _, other, others) in zip(one, two, strict=True):
        if [s for s, _ in weights] != [s for s, _ in others]:
            return math.inf
        if not (math.isnan(objective) and math.isnan(other)):
            worst = max(worst, abs(objective - other))
        worst = max([worst, *(abs(w - v) for (_, w), (_, v) in zip(weights, others, strict=True))])
    return worst


def _round(
    source: Path, workload: str, rebalances: int | None, cli: bool
) -> tuple[dict[str, float], list[list[Any]]]:
    arguments = [str(Path(__file__)), "--row", workload, "--rebalances", str(rebalances)]
    done, _, _ = _child(source, arguments)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    row: dict[str, float] = answer["seconds"]
    if cli:
        _, _, row["CLI run (process CPU)"] = _child(source, list(CLI))
        _, _, row["imports alone (process CPU)"] = _child(source, list(IMPORTS))
        with tempfile.TemporaryDirectory(prefix="bench-policy-runs-") as runs:
            recorded = [*CLI[:-3], "--format", "json", "--out", runs]  # the default: --record
            _, _, row["CLI run, default run folder + tearsheet"] = _child(source, recorded)
    return row, answer["decisions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=None, help="another source tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="sample")
    parser.add_argument("--rebalances", default="None", help="stop after N solves")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    limit = None if args.rebalances == "None" else int(args.rebalances)
    if args.row is not None:  # a child process: one row, as JSON on the last line
        print(json.dumps(run_row(args.row, limit)))
        return
    trees = [("this branch", SOURCE)]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    cli = args.workload == "sample" and limit is None
    # Bytecode cached, as an installed package has it (whatever PYTHONDONTWRITEBYTECODE
    # says): compiling every module at each start-up is no cost a user pays.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-policy-pyc-")
    for _, source in trees:  # the warm-up that writes the caches
        _child(source, list(IMPORTS))
    rounds: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
    decided: dict[str, list[list[Any]]] = {}
    for number in range(args.rounds):
        for label, source in trees:  # interleaved: both sides see the same load
            row, decisions = _round(source, args.workload, limit, cli)
            rounds[label].append(row)
            decided.setdefault(label, decisions)
            Console(stderr=True).print(number, label, row)
    keys = list(rounds[trees[0][0]][0])
    table = Table(title=f"policy backtest CPU seconds, {args.workload} (median of {args.rounds})")
    table.add_column("part")
    for label, _ in trees:
        table.add_column(label)
    lines = ["| part | " + " | ".join(label for label, _ in trees) + " |"]
    lines.append("|" + "---|" * (len(trees) + 1))
    for key in keys:
        cells = []
        for label, _ in trees:
            values = [r[key] for r in rounds[label] if key in r]
            cells.append(f"{statistics.median(values):.2f}" if values else "-")
        table.add_row(key, *cells)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    Console().print(table)
    same = ""
    if args.baseline is not None:
        worst = _difference(decided["this branch"], decided["baseline"])
        same = (
            f" Decisions (date, status, objective, target weights) against the baseline's: "
            f"{'different' if worst > 1e-9 else 'the same'}, largest difference {worst:.1e}."
        )
        Console().print(same.strip())
    if args.no_record:
        return
    baseline = "" if args.baseline is None else f" Baseline = the source tree {args.baseline}."
    append_results(
        f"Policy backtest outside the solver (bench_policy_overhead.py, {args.workload})",
        machine_stamp("ortools", "highspy", "numpy", "pandas"),
        "\n".join(lines),
        f"CPU seconds, median of {args.rounds} interleaved rounds, each a fresh process."
        f"{baseline}{same} 1-minute load at the end: {os.getloadavg()[0]:.1f} on 2 cores.",
    )


if __name__ == "__main__":
    main()
