"""`tradefolio walk-forward`: choose parameters on each train window, trade them on the next
test window, stitch the test windows into one out-of-sample curve.

The same space options as `sweep` (`tradefolio.cli.research_options`); the folds, the
stitched curve and `walk_forward.json` land in `--out` (by default `runs/walk-forward-<key>`,
so the same command resumes), written by `tradefolio.research.walkforward`. A fold that
trades a `--portfolio` point (`--set portfolio=true`) adds its rebalance record to the
folder's `weights.csv` and `rebalances.csv`, the columns `backtest --portfolio` writes
(`fold_rebalances`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from tradefolio.api.research import check_walk_forward, market_data
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.runner import run_portfolio_from
from tradefolio.cli.backtest_output import failure_line, rebalance_line
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
from tradefolio.errors import RebalanceFailed
from tradefolio.reporting.progress import runs_progress
from tradefolio.reporting.rebalances import rebalance_summary, rebalance_table
from tradefolio.reporting.run_folder import DATE_FORMAT, REBALANCES_FILE, WEIGHTS_FILE
from tradefolio.research.executors import DEFAULT_EXECUTOR, make_executor
from tradefolio.research.report import DEFAULT_METRIC, check_metric, json_records
from tradefolio.research.results import ResultsStore, default_results_folder
from tradefolio.research.space import SweepSpec
from tradefolio.research.tasks import MarketData
from tradefolio.research.walkforward import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    SCHEMES,
    WalkForwardResult,
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
    record = fold_rebalances(spec, data, result)
    rebalances = None if record is None else write_rebalances(folder, *record)
    messages.print(
        f"{len(result.folds)} folds, {result.executed:,d} runs now on {executor.name}, "
        f"{result.reused:,d} from earlier, in {result.seconds:.1f} s; results in {folder}",
        style="dim",
    )
    if record is not None:
        for line in (rebalance_line(record[1]), failure_line(record[1])):
            if line is not None:
                messages.print(f"test windows: {line}", soft_wrap=True)
        messages.print(
            f"rebalance record: {folder / WEIGHTS_FILE}, {folder / REBALANCES_FILE}",
            style="dim",
            soft_wrap=True,
        )
    if output is OutputFormat.csv:
        print_csv([str(c) for c in folds.columns], [list(r.values()) for r in json_records(folds)])
        return
    if output is OutputFormat.json:
        print_json({**walk_forward_json(result, folds, folder), "rebalances": rebalances})
        return
    render_walk_forward(result, folds)


def fold_rebalances(
    spec: SweepSpec, data: MarketData, result: WalkForwardResult
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The rebalance record of the folds that trade a `--portfolio` point: (target weights
    by decision date, one column per symbol, as weights.csv; one row per decision, as
    rebalances.csv), the folds in order. Each such fold's chosen point is run again on its
    rows through the rebalancing policy, deciding from its first test decision (the last
    train session's close) on, so its fills are its test run's; a run that stopped on a
    failed solve (`--on-solver-failure stop`) gives its record up to that decision. None
    when no fold traded a `--portfolio` point."""
    symbols = [str(c) for c in data.closes.columns]
    tables: list[pd.DataFrame] = []
    weights: list[pd.DataFrame] = []
    for picked in result.folds:
        if picked.chosen is None:
            continue
        config = BacktestConfig.create(**{**spec.base, **picked.chosen})
        if not config.portfolio:
            continue
        fold = picked.fold
        closes, opens, benchmark = data.window(fold.train_start, fold.test_end)
        try:
            run = run_portfolio_from(
                config,
                closes,
                fold.test_start - fold.train_start - 1,
                opens=opens,
                benchmark=benchmark,
                **data.bar_ranges(fold.train_start, fold.test_end),
            )
        except RebalanceFailed as exc:
            if not isinstance(exc.partial, BacktestResult):
                raise
            run = exc.partial
        tables.append(rebalance_table(run.decisions, run.fills))
        bars = sorted(run.targets)
        weights.append(
            pd.DataFrame(
                [[float(run.targets[b].get(s, 0.0)) for s in symbols] for b in bars],
                index=pd.DatetimeIndex([run.dates[b] for b in bars], name="date"),
                columns=symbols,
                dtype="float64",
            )
        )
    if not tables:
        return None
    return pd.concat(weights), pd.concat(tables, ignore_index=True)


def write_rebalances(folder: Path, weights: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    """weights.csv and rebalances.csv in `folder` (as a backtest's run folder writes them);
    the `rebalances` object of the JSON: their summary and paths."""
    weights.to_csv(folder / WEIGHTS_FILE, date_format=DATE_FORMAT, lineterminator="\n")
    table.to_csv(
        folder / REBALANCES_FILE, index=False, date_format=DATE_FORMAT, lineterminator="\n"
    )
    files = {"weights": str(folder / WEIGHTS_FILE), "rebalances": str(folder / REBALANCES_FILE)}
    return {**rebalance_summary(table), "files": files}


def register(app: typer.Typer) -> None:
    """Add `walk-forward` to the application."""
    app.command("walk-forward", epilog=WALK_FORWARD_EXAMPLES)(walk_forward_command)


__all__ = ["register"]
