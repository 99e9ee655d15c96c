"""`tradefolio walk-forward`: choose parameters on each train window, trade them on the next
test window, stitch the test windows into one out-of-sample curve.

The same space options as `sweep` (`tradefolio.cli.research_options`); the folds, the
stitched curve and `walk_forward.json` land in `--out` (by default `runs/walk-forward-<key>`,
so the same command resumes), written by `tradefolio.research.walkforward`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tradefolio.api.research import check_walk_forward, market_data
from tradefolio.cli.common import OutputFormat, print_csv, print_json, stderr_console
from tradefolio.cli.research_options import (
    AddressOption,
    BatchOption,
    BenchmarkOption,
    ExecutorOption,
    FileOption,
    FormatOption,
    FreshOption,
    GridOption,
    MetricOption,
    OutOption,
    PricesOption,
    RandomOption,
    SeedOption,
    SetOption,
    WorkersOption,
    build_spec,
    resumable,
)
from tradefolio.cli.research_tables import render_walk_forward
from tradefolio.reporting.progress import runs_progress
from tradefolio.research.executors import DEFAULT_EXECUTOR, make_executor
from tradefolio.research.report import DEFAULT_METRIC, check_metric, json_records
from tradefolio.research.results import ResultsStore, default_results_folder
from tradefolio.research.walkforward import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    SCHEMES,
    run_walk_forward,
    walk_forward_json,
    write_walk_forward,
)

WALK_FORWARD_EXAMPLES = """
Examples:

  tradefolio walk-forward --grid fast=10,20,50 --grid slow=100,200 --train 1260 --test 252

  tradefolio walk-forward --file sweep.yaml --scheme anchored --metric sortino --executor ray
"""


def walk_forward_command(
    grid: GridOption = None,
    fixed: SetOption = None,
    file: FileOption = None,
    samples: RandomOption = None,
    seed: SeedOption = None,
    prices_file: PricesOption = None,
    benchmark_file: BenchmarkOption = None,
    train: Annotated[
        int, typer.Option("--train", help="Train window in sessions.")
    ] = DEFAULT_TRAIN,
    test: Annotated[int, typer.Option("--test", help="Test window in sessions.")] = DEFAULT_TEST,
    scheme: Annotated[
        str, typer.Option("--scheme", help=f"Train windows: {', '.join(SCHEMES)}.")
    ] = SCHEMES[0],
    executor_name: ExecutorOption = DEFAULT_EXECUTOR,
    workers: WorkersOption = None,
    address: AddressOption = None,
    batch: BatchOption = 1,
    metric: MetricOption = DEFAULT_METRIC,
    out: OutOption = None,
    fresh: FreshOption = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Choose parameters on each train window, trade them on the next test window, stitch."""
    check_metric(metric)
    spec = build_spec(grid or [], fixed or [], file, samples, seed)
    executor = make_executor(executor_name, workers, address, batch)
    data = market_data(spec, prices_file, benchmark_file)
    check_walk_forward(spec, data, train, test, scheme)  # bad windows: before any run
    folder = out or default_results_folder("walk-forward", spec, data, [train, test, scheme])
    messages = stderr_console()
    with (
        resumable(messages, folder),
        runs_progress(messages, f"walk-forward on {executor.name}") as progress,
    ):
        result = run_walk_forward(
            spec,
            data,
            executor,
            train=train,
            test=test,
            scheme=scheme,
            metric=metric,
            store=ResultsStore(folder),
            fresh=fresh,
            progress=progress,
        )
    folds = result.folds_frame()
    write_walk_forward(folder, result, folds)
    messages.print(
        f"{len(result.folds)} folds, {result.executed:,d} runs now on {executor.name}, "
        f"{result.reused:,d} from earlier, in {result.seconds:.1f} s; results in {folder}",
        style="dim",
    )
    if output is OutputFormat.csv:
        print_csv([str(c) for c in folds.columns], [list(r.values()) for r in json_records(folds)])
        return
    if output is OutputFormat.json:
        print_json(walk_forward_json(result, folds, folder))
        return
    render_walk_forward(result, folds)


def register(app: typer.Typer) -> None:
    """Add `walk-forward` to the application."""
    app.command("walk-forward", epilog=WALK_FORWARD_EXAMPLES)(walk_forward_command)


__all__ = ["register"]
