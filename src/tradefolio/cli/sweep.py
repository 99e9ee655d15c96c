"""`tradefolio sweep`: many backtests over a grid or a random sample, a table, a verdict.

The space options (`--grid`, `--set`, `--file`, `--random`, `--seed`) are shared with
`walk-forward` (`tradefolio.cli.research_options`); runs happen on `--executor local|ray`
and land in a folder (`--out`, by default `runs/sweep-<key>` where the key is a hash of the
space and the prices, so running the same command again resumes it); a progress bar shows
on a terminal; the leaderboard, the heatmap and the deflated Sharpe ratio are printed and
written to `report.md` (`tradefolio.research.report`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tradefolio.api.research import check_sweep, market_data
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import exits_note
from tradefolio.cli.backtest_output import exits_json
from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    stderr_console,
    stdout_console,
)
from tradefolio.cli.model_options import (
    CostBpsOption,
    CostBudgetOption,
    CovarianceOption,
    CvarAlphaOption,
    FixedCostOption,
    LotOption,
    MaxTurnoverOption,
    MinInvestedOption,
    MinReturnOption,
    MinTradeOption,
    ObjectiveOption,
    OnSolverFailureOption,
    RiskAversionOption,
    RiskLookbackOption,
    SectorCapOption,
    SectorsOption,
    TimeLimitOption,
    WholeSharesOption,
    model_fields,
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
    build_spec,
    resumable,
)
from tradefolio.cli.research_tables import heatmap_table, leaderboard_table
from tradefolio.cli.trading_options import DEFAULTS, PortfolioOption
from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.options import ALLOCATE_DEFAULTS as _A
from tradefolio.reporting.progress import runs_progress
from tradefolio.research.executors import DEFAULT_EXECUTOR, make_executor
from tradefolio.research.report import (
    DEFAULT_METRIC,
    check_metric,
    default_heatmap_axes,
    deflated_line,
    deflated_of_best,
    heatmap,
    held_line,
    held_runs,
    json_records,
    leaderboard,
    sweep_json,
    write_sweep_report,
)
from tradefolio.research.results import ResultsStore, default_results_folder
from tradefolio.research.space import SweepSpec
from tradefolio.research.sweep import run_sweep

SWEEP_EXAMPLES = """
Examples:

  tradefolio sweep --grid fast=10,20,50 --grid slow=100,200 --set sizer=weight

  tradefolio sweep --grid fast=5..50 --grid slow=60..250 --random 200 --seed 7 --workers 2

  tradefolio sweep --file sweep.yaml --executor ray --address auto --metric calmar

  tradefolio sweep --grid max_positions=3..10 --set strategy=momentum --format csv
"""


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
    portfolio: PortfolioOption = DEFAULTS.portfolio,
    objective: ObjectiveOption = _A.objective,
    risk_aversion: RiskAversionOption = _A.risk_aversion,
    min_return: MinReturnOption = _A.min_return,
    cvar_alpha: CvarAlphaOption = _A.cvar_alpha,
    covariance: CovarianceOption = _A.covariance,
    risk_lookback: RiskLookbackOption = _A.risk_lookback,
    sector_cap: SectorCapOption = _A.sector_cap,
    max_turnover: MaxTurnoverOption = _A.max_turnover,
    fixed_cost: FixedCostOption = _A.fixed_cost,
    cost_bps: CostBpsOption = _A.cost_bps,
    cost_budget: CostBudgetOption = _A.cost_budget,
    min_trade: MinTradeOption = _A.min_trade,
    whole_shares: WholeSharesOption = _A.whole_shares,
    lot: LotOption = _A.lot,
    min_invested: MinInvestedOption = _A.min_invested,
    time_limit: TimeLimitOption = _A.time_limit,
    on_solver_failure: OnSolverFailureOption = DEFAULTS.on_solver_failure,
    sectors: SectorsOption = None,
) -> None:
    """Sweep backtest parameters over a grid or a random sample; one Parquet row per run.

    `--portfolio` and the allocation model's flags (allocate's names) are fixed settings of
    every run, as `--set NAME=VALUE` is; grid them with `--grid max_turnover=0.05,0.1`."""
    given = model_fields(locals())
    fixed = [
        *(fixed or []),
        *(["portfolio=true"] if portfolio else []),
        *(f"{name}={value}" for name, value in given.items() if value != getattr(DEFAULTS, name)),
    ]
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
    data = market_data(spec, prices_file, benchmark_file)
    check_sweep(spec, data, prices_file)
    folder = out or default_results_folder("sweep", spec, data)
    messages = stderr_console()
    with (
        resumable(messages, folder),
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
    held_runs_now = len(held_runs(table))
    held_count = f", {held_runs_now:,d} held" if held_runs_now else ""
    messages.print(
        f"{len(table):,d} runs ({result.executed:,d} run now on {result.executor} x"
        f"{result.workers}, {result.reused:,d} from earlier, {result.failed:,d} failed"
        f"{held_count}) in "
        f"{result.seconds:.1f} s; results in {folder / 'results.parquet'}",
        style="dim",
    )
    held = held_line(table)
    if held is not None:  # unsolved rebalances are never a silent "ok"
        messages.print(held, style="yellow", soft_wrap=True)
    exits = run_exits(spec)
    for note in dict.fromkeys(note for note, _ in exits):
        messages.print(note if len(exits) == 1 else f"some runs: {note}", soft_wrap=True)
    if output is OutputFormat.csv:
        print_csv(list(table.columns), [list(r.values()) for r in json_records(table)])
        return
    if output is OutputFormat.json:
        payload = sweep_json(result, board, metric, folder, deflated)
        print_json({**payload, "exits": [placed for _, placed in exits]})
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


def run_exits(spec: SweepSpec) -> list[tuple[str, dict[str, Any]]]:
    """The protective exits the sweep's runs place on their entries, as `backtest` says
    them (its stderr line and its JSON `exits` object), once per distinct set (the runs
    whose configuration is invalid are left out: their rows say why)."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for point in spec.points():
        fields = {**spec.base, **point}
        key = repr([fields.get(name) for name in _EXIT_FIELDS])
        if key in seen:
            continue
        try:
            config = BacktestConfig.create(**fields)
        except InvalidParameter:
            continue
        seen[key] = (exits_note(config), exits_json(config))
    return list(seen.values())


#: The fields that decide which protective orders a run places.
_EXIT_FIELDS = ("sizer", "stop_loss", "take_profit", "trailing_stop", "no_stop", "portfolio")


def register(app: typer.Typer) -> None:
    """Add `sweep` to the application."""
    app.command("sweep", epilog=SWEEP_EXAMPLES)(sweep_command)


__all__ = ["register", "run_exits"]
