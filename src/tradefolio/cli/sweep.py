"""`tradefolio sweep` and `tradefolio walk-forward`: many backtests, a table, a verdict.

Both read the same space options (`--grid`, `--set`, `--file`, `--random`, `--seed`), run
on `--executor local|ray`, keep their results in a folder (`--out`, by default
`runs/<command>-<key>` where the key is a hash of the space and the prices, so running the
same command again resumes it), show a progress bar on a terminal and print a leaderboard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tradefolio.api.research import check_sweep, check_walk_forward, market_data, sweep_spec
from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    stderr_console,
    stdout_console,
)
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
)
from tradefolio.cli.research_tables import heatmap_table, leaderboard_table, render_walk_forward
from tradefolio.errors import InvalidParameter
from tradefolio.reporting.progress import runs_progress
from tradefolio.research.executors import DEFAULT_EXECUTOR, make_executor
from tradefolio.research.report import (
    DEFAULT_METRIC,
    check_metric,
    default_heatmap_axes,
    deflated_json,
    deflated_line,
    deflated_of_best,
    heatmap,
    json_records,
    leaderboard,
    write_sweep_report,
)
from tradefolio.research.results import ResultsStore
from tradefolio.research.space import ParamValue, SweepSpec, parse_grid_option, parse_scalar
from tradefolio.research.sweep import run_sweep
from tradefolio.research.tasks import MarketData
from tradefolio.research.walkforward import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    SCHEMES,
    run_walk_forward,
    walk_forward_json,
    write_walk_forward,
)

SWEEP_EXAMPLES = """
Examples:

  tradefolio sweep --grid fast=10,20,50 --grid slow=100,200 --set sizer=weight

  tradefolio sweep --grid fast=5..50 --grid slow=60..250 --random 200 --seed 7 --workers 2

  tradefolio sweep --file sweep.yaml --executor ray --address auto --metric calmar

  tradefolio sweep --grid max_positions=3..10 --set strategy=momentum --format csv
"""

WALK_FORWARD_EXAMPLES = """
Examples:

  tradefolio walk-forward --grid fast=10,20,50 --grid slow=100,200 --train 1260 --test 252

  tradefolio walk-forward --file sweep.yaml --scheme anchored --metric sortino --executor ray
"""


@contextmanager
def _resumable(messages: Console, folder: Path) -> Iterator[None]:
    """On Ctrl-C, say where the finished runs are and how to resume, then stop."""
    try:
        yield
    except KeyboardInterrupt:
        messages.print(
            f"interrupted: finished runs are saved in {folder}; run the same command again "
            "to resume",
            style="yellow",
        )
        raise


def _fixed(options: Sequence[str]) -> dict[str, ParamValue]:
    fixed: dict[str, ParamValue] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name.strip():
            raise InvalidParameter(f"--set expects NAME=VALUE (e.g. sizer=weight), got {option!r}")
        fixed[name.strip().replace("-", "_")] = parse_scalar(value)
    return fixed


def build_spec(
    grid: Sequence[str],
    fixed: Sequence[str],
    file: Path | None,
    samples: int | None,
    seed: int | None,
) -> SweepSpec:
    """The sweep the options describe (the file first, command-line options on top)."""
    return sweep_spec([parse_grid_option(option) for option in grid], _fixed(fixed), file,
                      samples, seed)  # fmt: skip


def _load_market_data(
    spec: SweepSpec, prices_file: Path | None, benchmark_file: Path | None
) -> MarketData:
    """Prices (the sample by default) and the benchmark when a run needs one."""
    return market_data(spec, prices_file, benchmark_file)


def default_out(command: str, spec: SweepSpec, data: MarketData, extra: Any = None) -> Path:
    """`runs/<command>-<key>`: the same command on the same prices finds its folder again."""
    payload = json.dumps([spec.describe(), data.fingerprint(), extra], sort_keys=True, default=str)
    return Path("runs") / f"{command}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def sweep_command(
    grid: GridOption = None,
    fixed: SetOption = None,
    file: FileOption = None,
    samples: RandomOption = None,
    seed: SeedOption = None,
    prices_file: PricesOption = None,
    benchmark_file: BenchmarkOption = None,
    executor_name: ExecutorOption = DEFAULT_EXECUTOR,
    workers: WorkersOption = None,
    address: AddressOption = None,
    batch: BatchOption = 1,
    metric: MetricOption = DEFAULT_METRIC,
    top: Annotated[int, typer.Option("--top", help="Rows of the leaderboard.")] = 10,
    heatmap_axes: Annotated[
        str | None,
        typer.Option(
            "--heatmap", help="ROWS,COLUMNS parameters of the heatmap (default: first two)."
        ),
    ] = None,
    out: OutOption = None,
    fresh: FreshOption = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again the runs that failed last time.")
    ] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Sweep backtest parameters over a grid or a random sample; one Parquet row per run."""
    check_metric(metric)
    if top < 1:
        raise InvalidParameter(f"--top must be >= 1, got {top}")
    chosen_axes = None
    if heatmap_axes is not None:  # checked before any run, like every other option
        names = [n.strip().replace("-", "_") for n in heatmap_axes.split(",")]
        if len(names) != 2:
            raise InvalidParameter(f"--heatmap expects ROWS,COLUMNS, got {heatmap_axes!r}")
        chosen_axes = (names[0], names[1])
    spec = build_spec(grid or [], fixed or [], file, samples, seed)
    executor = make_executor(executor_name, workers, address, batch)
    data = _load_market_data(spec, prices_file, benchmark_file)
    check_sweep(spec, data, prices_file)
    folder = out or default_out("sweep", spec, data)
    messages = stderr_console()
    with (
        _resumable(messages, folder),
        runs_progress(messages, f"sweep on {executor.name}") as progress,
    ):
        result = run_sweep(
            spec,
            data,
            executor,
            store=ResultsStore(folder),
            fresh=fresh,
            retry_failed=retry_failed,
            progress=progress,
        )
    table = result.table
    axes = chosen_axes or default_heatmap_axes(table, result.parameters)
    grid_frame = heatmap(table, metric, *axes) if axes else None
    board = leaderboard(table, metric, top)
    deflated = deflated_of_best(table, metric)
    write_sweep_report(folder, board, result.parameters, metric, grid_frame, axes, deflated)
    messages.print(
        f"{len(table):,d} runs ({result.executed:,d} run now on {result.executor} x"
        f"{result.workers}, {result.reused:,d} from earlier, {result.failed:,d} failed) in "
        f"{result.seconds:.1f} s; results in {folder / 'results.parquet'}",
        style="dim",
    )
    if output is OutputFormat.csv:
        print_csv(list(table.columns), [list(r.values()) for r in json_records(table)])
        return
    if output is OutputFormat.json:
        print_json(
            {
                "results": str(folder / "results.parquet"),
                "runs": len(table),
                "executed": result.executed,
                "reused": result.reused,
                "failed": result.failed,
                "metric": metric,
                "parameters": list(result.parameters),
                "leaderboard": json_records(board.drop(columns=["seconds"])),
                "deflated_sharpe": deflated_json(deflated),
            }
        )
        return
    console = stdout_console()
    console.print(
        leaderboard_table(board, result.parameters, metric, f"top {len(board)} by {metric}")
    )
    if grid_frame is not None and axes is not None:
        console.print(heatmap_table(grid_frame, metric, *axes))
    console.print(deflated_line(deflated), highlight=False)
    failures = table[table["status"] == "failed"]
    if not failures.empty:
        first = failures.iloc[0]
        messages.print(
            f"{len(failures)} runs failed; first (run {first['run']}): {first['error']}",
            style="yellow",
        )


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
    data = _load_market_data(spec, prices_file, benchmark_file)
    check_walk_forward(spec, data, train, test, scheme)  # bad windows: before any run
    folder = out or default_out("walk-forward", spec, data, [train, test, scheme])
    messages = stderr_console()
    with (
        _resumable(messages, folder),
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
    """Add `sweep` and `walk-forward` to the application."""
    app.command("sweep", epilog=SWEEP_EXAMPLES)(sweep_command)
    app.command("walk-forward", epilog=WALK_FORWARD_EXAMPLES)(walk_forward_command)


__all__ = ["build_spec", "register"]
