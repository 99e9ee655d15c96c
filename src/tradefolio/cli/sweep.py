"""`tradefolio sweep` and `tradefolio walk-forward`: many backtests, a table, a verdict.

Both read the same space options (`--grid`, `--set`, `--file`, `--random`, `--seed`), run
on `--executor local|ray`, keep their results in a folder (`--out`, by default
`runs/<command>-<key>` where the key is a hash of the space and the prices, so running the
same command again resumes it), show a progress bar on a terminal and print a leaderboard.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tradefolio.api.research import check_sweep, check_walk_forward, market_data, sweep_spec
from tradefolio.backtest.metric_registry import HEADLINE_PERCENT, TRADING_DAYS_PER_YEAR
from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    stderr_console,
    stdout_console,
)
from tradefolio.errors import InvalidParameter
from tradefolio.research.dsr import DeflatedSharpe
from tradefolio.research.executors import DEFAULT_EXECUTOR, EXECUTORS, make_executor
from tradefolio.research.report import (
    DEFAULT_METRIC,
    RANKABLE,
    check_metric,
    default_heatmap_axes,
    deflated_of_best,
    heatmap,
    leaderboard,
)
from tradefolio.research.results import ResultsStore
from tradefolio.research.space import ParamValue, SweepSpec, parse_grid_option, parse_scalar
from tradefolio.research.sweep import run_sweep
from tradefolio.research.tasks import MarketData, RunOutcome
from tradefolio.research.walkforward import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    SCHEMES,
    WalkForwardResult,
    run_walk_forward,
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

# Typer option declarations shared by both commands.
GridOption = Annotated[
    list[str] | None,
    typer.Option(
        "--grid",
        help="Swept parameter NAME=VALUES: a,b,c or low..high or low..high:step (repeatable).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Fixed backtest parameter NAME=VALUE for every run (repeatable)."),
]
FileOption = Annotated[
    Path | None, typer.Option("--file", help="Sweep file (YAML or TOML: base, grid, random).")
]
RandomOption = Annotated[
    int | None,
    typer.Option("--random", help="Sample this many points instead of the full grid."),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed of --random (default 0).")]
PricesOption = Annotated[
    Path | None,
    typer.Option("--prices", help="Price file (CSV/Parquet, wide or long; default: sample)."),
]
BenchmarkOption = Annotated[
    Path | None,
    typer.Option("--benchmark", help="Benchmark prices for beta sizing (default: sample S&P)."),
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", help=f"Where runs happen: {', '.join(EXECUTORS)}.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Parallel runs (default: every core; 1 = in this process)."),
]
AddressOption = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster address (ray://host:10001 or auto)."),
]
BatchOption = Annotated[
    int,
    typer.Option("--batch", help="Ray: runs per remote call (more for short runs on a cluster)."),
]
MetricOption = Annotated[
    str, typer.Option("--metric", help=f"Metric to rank by: {', '.join(RANKABLE)}.")
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Results folder (default runs/<command>-<key>; reruns resume)."),
]
FreshOption = Annotated[
    bool, typer.Option("--fresh", help="Discard earlier results in the folder first.")
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="table (leaderboard), json (summary), csv (every row)."),
]


class _BarProgress:
    """A rich progress bar on stderr (a terminal only); counts failures as it goes."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._label = label
        self._task: Any = None
        self._failed = 0

    def __enter__(self) -> _BarProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, total: int, already_done: int) -> None:
        self._task = self._progress.add_task(
            self._label, total=total, completed=already_done, failed=0
        )

    def advance(self, outcome: RunOutcome) -> None:
        if outcome.status == "failed":
            self._failed += 1
        self._progress.update(self._task, advance=1, failed=self._failed)


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, total: int, already_done: int) -> None:
        return None

    def advance(self, outcome: RunOutcome) -> None:
        return None


def _progress(console: Console, label: str) -> _BarProgress | _Quiet:
    return _BarProgress(console, label) if console.is_terminal else _Quiet()


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


def load_market_data(
    spec: SweepSpec, prices_file: Path | None, benchmark_file: Path | None
) -> MarketData:
    """Prices (the sample by default) and the benchmark when a run needs one."""
    return market_data(spec, prices_file, benchmark_file)


def default_out(command: str, spec: SweepSpec, data: MarketData, extra: Any = None) -> Path:
    """`runs/<command>-<key>`: the same command on the same prices finds its folder again."""
    payload = json.dumps([spec.describe(), data.fingerprint(), extra], sort_keys=True, default=str)
    return Path("runs") / f"{command}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def _format(value: Any, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    percent = HEADLINE_PERCENT
    if name in percent:
        return f"{value:.2%}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        return f"{value:,.2f}" if name == "final_equity" else f"{value:.3f}"
    return str(value)


LEADERBOARD_METRICS = ("sharpe", "cagr", "max_drawdown", "calmar", "trades", "final_equity")


def _leaderboard_table(
    board: pd.DataFrame, parameters: Sequence[str], metric: str, title: str
) -> Table:
    shown = [metric, *(m for m in LEADERBOARD_METRICS if m != metric)]
    table = Table(title=title, title_justify="left")
    table.add_column("run", justify="right")
    for name in parameters:
        table.add_column(name, justify="right")
    for name in shown:
        table.add_column(name.replace("_", " "), justify="right")
    for row in board.to_dict(orient="records"):
        table.add_row(
            str(row["run"]),
            *(_format(row[p], p) for p in parameters),
            *(_format(row[m], m) for m in shown),
        )
    return table


def _heatmap_table(grid: pd.DataFrame, metric: str, rows: str, columns: str) -> Table:
    values = grid.to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    table = Table(
        title=f"best {metric} by {rows} (rows) x {columns} (columns)", title_justify="left"
    )
    table.add_column(f"{rows} \\ {columns}", justify="right")
    for column in grid.columns:
        table.add_column(_format(column, columns), justify="right")
    for label, row in zip(grid.index, values, strict=True):
        cells = []
        for value in row:
            if pd.isna(value):
                cells.append("[dim]-[/dim]")
                continue
            share = (value - low) / (high - low) if high > low else 0.5
            colour = "red" if share < 1 / 3 else "yellow" if share < 2 / 3 else "green"
            cells.append(f"[{colour}]{_format(float(value), metric)}[/{colour}]")
        table.add_row(_format(label, rows), *cells)
    return table


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append(
            "| "
            + " | ".join(_format(v, str(c)) for v, c in zip(row, frame.columns, strict=True))
            + " |"
        )
    return "\n".join(lines)


def _deflated_json(deflated: DeflatedSharpe | None) -> dict[str, Any] | None:
    if deflated is None:
        return None
    annual = math.sqrt(TRADING_DAYS_PER_YEAR)
    return {
        "dsr": deflated.dsr,
        "sharpe": deflated.sharpe * annual,
        "expected_max_sharpe": deflated.expected_max_sharpe * annual,
        "n_trials": deflated.n_trials,
        "observations": deflated.observations,
        "skew": deflated.skew,
        "kurtosis": deflated.kurtosis,
    }


def _deflated_line(deflated: DeflatedSharpe | None) -> str:
    if deflated is None:
        return "deflated Sharpe ratio: not enough successful runs"
    annual = math.sqrt(TRADING_DAYS_PER_YEAR)
    return (
        f"deflated Sharpe ratio {deflated.dsr:.3f}: P(true Sharpe > "
        f"{deflated.expected_max_sharpe * annual:.2f}, "
        f"the best expected from {deflated.n_trials} skill-less trials) for an observed "
        f"{deflated.sharpe * annual:.2f} (annualised, {deflated.observations:,d} daily returns)"
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                clean[str(key)] = None
            elif hasattr(value, "item"):
                clean[str(key)] = value.item()
            else:
                clean[str(key)] = value
        records.append(clean)
    return records


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
    data = load_market_data(spec, prices_file, benchmark_file)
    check_sweep(spec, data, prices_file)
    folder = out or default_out("sweep", spec, data)
    messages = stderr_console()
    with _resumable(messages, folder), _progress(messages, f"sweep on {executor.name}") as progress:
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
    _write_report(folder, board, result.parameters, metric, grid_frame, axes, deflated)
    messages.print(
        f"{len(table):,d} runs ({result.executed:,d} run now on {result.executor} x"
        f"{result.workers}, {result.reused:,d} from earlier, {result.failed:,d} failed) in "
        f"{result.seconds:.1f} s; results in {folder / 'results.parquet'}",
        style="dim",
    )
    if output is OutputFormat.csv:
        print_csv(list(table.columns), [list(r.values()) for r in _records(table)])
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
                "leaderboard": _records(board.drop(columns=["seconds"])),
                "deflated_sharpe": _deflated_json(deflated),
            }
        )
        return
    console = stdout_console()
    console.print(
        _leaderboard_table(board, result.parameters, metric, f"top {len(board)} by {metric}")
    )
    if grid_frame is not None and axes is not None:
        console.print(_heatmap_table(grid_frame, metric, *axes))
    console.print(_deflated_line(deflated), highlight=False)
    failures = table[table["status"] == "failed"]
    if not failures.empty:
        first = failures.iloc[0]
        messages.print(
            f"{len(failures)} runs failed; first (run {first['run']}): {first['error']}",
            style="yellow",
        )


def _write_report(
    folder: Path,
    board: pd.DataFrame,
    parameters: Sequence[str],
    metric: str,
    grid_frame: pd.DataFrame | None,
    axes: tuple[str, str] | None,
    deflated: DeflatedSharpe | None,
) -> None:
    shown = ["run", *parameters, metric, *(m for m in LEADERBOARD_METRICS if m != metric)]
    parts = [f"# Sweep report\n\n## Top {len(board)} by {metric}\n", _markdown(board[shown])]
    if grid_frame is not None and axes is not None:
        frame = grid_frame.reset_index().rename(columns={axes[0]: f"{axes[0]} \\ {axes[1]}"})
        frame.columns = [str(c) for c in frame.columns]
        parts += [f"\n## Best {metric} by {axes[0]} x {axes[1]}\n", _markdown(frame)]
    parts += ["\n## Selection luck\n", _deflated_line(deflated), ""]
    (folder / "report.md").write_text("\n".join(parts))


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
    data = load_market_data(spec, prices_file, benchmark_file)
    check_walk_forward(spec, data, train, test, scheme)  # bad windows: before any run
    folder = out or default_out("walk-forward", spec, data, [train, test, scheme])
    messages = stderr_console()
    with (
        _resumable(messages, folder),
        _progress(messages, f"walk-forward on {executor.name}") as progress,
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
    _write_walk_forward(folder, result, folds)
    messages.print(
        f"{len(result.folds)} folds, {result.executed:,d} runs now on {executor.name}, "
        f"{result.reused:,d} from earlier, in {result.seconds:.1f} s; results in {folder}",
        style="dim",
    )
    if output is OutputFormat.csv:
        print_csv([str(c) for c in folds.columns], [list(r.values()) for r in _records(folds)])
        return
    if output is OutputFormat.json:
        print_json(_walk_forward_json(result, folds, folder))
        return
    _render_walk_forward(result, folds)


def _walk_forward_json(result: WalkForwardResult, folds: pd.DataFrame, folder: Path) -> Any:
    return {
        "folder": str(folder),
        "metric": result.metric,
        "scheme": result.scheme,
        "folds": [
            {**r, "test_first": str(r["test_first"]), "test_last": str(r["test_last"])}
            for r in _records(folds)
        ],
        "out_of_sample": dict(result.oos_metrics),
        "in_sample_best": {
            "parameters": dict(result.in_sample_best) if result.in_sample_best else None,
            "metrics": dict(result.in_sample_metrics) if result.in_sample_metrics else None,
        },
        "deflated_sharpe": _deflated_json(result.deflated),
    }


def _write_walk_forward(folder: Path, result: WalkForwardResult, folds: pd.DataFrame) -> None:
    folds.astype({"test_first": "string", "test_last": "string"}).to_parquet(
        folder / "folds.parquet", index=False
    )
    result.oos_equity.to_frame().to_parquet(folder / "oos_equity.parquet")
    (folder / "walk_forward.json").write_text(
        json.dumps(_walk_forward_json(result, folds, folder), indent=2, allow_nan=False)
    )


def _render_walk_forward(result: WalkForwardResult, folds: pd.DataFrame) -> None:
    console = stdout_console()
    table = Table(
        title=f"walk-forward ({result.scheme}), best {result.metric} on each train window",
        title_justify="left",
    )
    for column in ("fold", "test_first", "test_last", *result.parameters):
        table.add_column(column.replace("_", " "), justify="right")
    table.add_column(f"train {result.metric}", justify="right")
    table.add_column("test return", justify="right")
    table.add_column(f"test {result.metric}", justify="right")
    for row in _records(folds):
        table.add_row(
            str(row["fold"]),
            str(row["test_first"]),
            str(row["test_last"]),
            *(_format(row[p], p) for p in result.parameters),
            _format(row[f"train_{result.metric}"], result.metric),
            _format(row["test_return"], "total_return"),
            _format(row[f"test_{result.metric}"], result.metric),
        )
    console.print(table)
    summary = Table(
        title="out of sample (stitched) vs in-sample best (hindsight)", title_justify="left"
    )
    summary.add_column("metric")
    summary.add_column("out of sample", justify="right")
    best = result.in_sample_best
    label = ", ".join(f"{k}={_format(v, k)}" for k, v in best.items()) if best else "-"
    summary.add_column(f"in-sample best ({label})", justify="right")
    in_sample = result.in_sample_metrics or {}
    for name, value in result.oos_metrics.items():
        summary.add_row(
            name.replace("_", " "), _format(value, name), _format(in_sample.get(name), name)
        )
    console.print(summary)
    console.print(_deflated_line(result.deflated), highlight=False)


def register(app: typer.Typer) -> None:
    """Add `sweep` and `walk-forward` to the application."""
    app.command("sweep", epilog=SWEEP_EXAMPLES)(sweep_command)
    app.command("walk-forward", epilog=WALK_FORWARD_EXAMPLES)(walk_forward_command)


__all__ = ["build_spec", "load_market_data", "register"]
