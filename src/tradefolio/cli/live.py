"""`tradefolio live`: run a strategy against a broker (paper by default), durably.

A thin client of `tradefolio.live.session`: `run_command` parses the flags into
`SessionOptions` and the backtest's strategy options, `tradefolio.api.live.live_session`
checks them (in the command's order, nothing written on bad input), wires and opens the
session, `LiveSession.run()` trades, and this module prints (messages on stderr, the
status on stdout) and writes the run folder. `live status|halt|resume` read or flip the
same journal, also while a trader runs.

`tradefolio live --paper ...` replays a price file (default: the bundled sample); running
the command again resumes the session in `--db` after the last processed bar.
`--broker alpaca --feed broker --symbols ...` trades a real session on Alpaca's market data
(see `tradefolio.live.session`). The strategy, sizer and cost options mean exactly what
they mean for `backtest`: they are validated by the same `BacktestConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from tradefolio.api.live import live_session
from tradefolio.cli.common import (
    OutputFormat,
    stderr_console,
)
from tradefolio.cli.live_status import (
    halt_command,
    print_status,
    resume_command,
    status_command,
)
from tradefolio.cli.trading_options import (
    DEFAULTS,
    BetaSizingOption,
    BetaWindowOption,
    CashOption,
    CommissionBpsOption,
    CommissionMinOption,
    CommissionPerShareOption,
    FactorOption,
    FastOption,
    LookbackOption,
    MaxPositionOption,
    MaxPositionsOption,
    MaxWeightOption,
    MinWeightOption,
    NoStopOption,
    ParamOption,
    PortfolioOption,
    RebalanceOption,
    RiskPerTradeOption,
    SizerOption,
    SlippageBpsOption,
    SlowOption,
    SolverOption,
    StopLossOption,
    StrategyOption,
    TakeProfitOption,
    TargetBetaOption,
    TrailingStopOption,
    WeightOption,
)
from tradefolio.data.market import report_benchmark
from tradefolio.data.readers import read_benchmark
from tradefolio.errors import DataError
from tradefolio.live.alpaca import DATA_FEEDS
from tradefolio.live.journal import Journal
from tradefolio.live.session import DEFAULT_DB, SessionOptions, status_payload
from tradefolio.reporting.live_record import write_live_run
from tradefolio.reporting.progress import progress_bar

EXAMPLES = """
Examples:

  tradefolio live --paper --strategy sma-cross --fast 20 --slow 50 --sizer weight --weight 0.10

  tradefolio live --paper --portfolio --factor momentum --max-positions 5 --db session.db

  tradefolio live --broker alpaca --feed broker --symbols AAPL,MSFT,SPY --db real.db

  tradefolio live status --db session.db --format json

  tradefolio live halt --db session.db ; tradefolio live resume --db session.db
"""


class _StderrMessages:
    """A session's messages on stderr (`SessionMessages`)."""

    def info(self, text: str) -> None:
        stderr_console().print(text)

    def warning(self, text: str) -> None:
        stderr_console().print(text, style="yellow")

    def event(self, text: str) -> None:
        stderr_console().print(text, style="yellow", soft_wrap=True)


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    with progress_bar(description, total, console=stderr_console()) as advance:
        yield advance


def _write_run_folder(
    journal: Journal,
    config: dict[str, Any],
    prices_file: Path | None,
    benchmark_file: Path | None,
    out: Path,
    png: bool,
    sample: bool = True,
) -> None:
    """The session so far as a run folder with its tearsheet (like a backtest's)."""
    messages = stderr_console()
    given = read_benchmark(benchmark_file) if benchmark_file else None
    benchmark = report_benchmark(given, sample_prices=prices_file is None and sample)
    try:
        folder = write_live_run(journal, config, out, benchmark=benchmark, png=png)
    except DataError as exc:
        messages.print(f"no run folder: {exc}", style="dim")
        return
    for note in folder.notes:
        messages.print(note, style="yellow")
    messages.print(f"tearsheet: {folder.tearsheet or folder.path}", style="dim", soft_wrap=True)


def run_command(
    ctx: typer.Context,
    paper: Annotated[
        bool, typer.Option("--paper", help="Trade with the embedded paper broker (default).")
    ] = False,
    broker: Annotated[str, typer.Option(help="Broker: paper or alpaca.")] = "paper",
    paper_account: Annotated[
        bool,
        typer.Option(
            "--paper-account/--live-account",
            help="alpaca: the paper (default) or the live, real-money account; this flag alone "
            "chooses it. Keys: APCA_API_KEY_ID, APCA_API_SECRET_KEY; APCA_API_BASE_URL "
            "overrides the endpoint (refused when it names the other account's endpoint).",
        ),
    ] = True,
    feed_name: Annotated[
        str,
        typer.Option(
            "--feed",
            help="Bars: replay (a price file, offline) or broker (the broker's market data, "
            "one bar per new trading session; needs --broker alpaca and --symbols).",
        ),
    ] = "replay",
    symbols_option: Annotated[
        str | None,
        typer.Option("--symbols", help="--feed broker: comma-separated universe, e.g. AAPL,MSFT."),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option(help="--feed broker: seconds between market-data polls.")
    ] = 60.0,
    sessions: Annotated[
        int | None,
        typer.Option(help="--feed broker: stop after N sessions (default: run until stopped)."),
    ] = None,
    history_sessions: Annotated[
        int, typer.Option(help="--feed broker: daily sessions of history per bar.")
    ] = 300,
    data_feed: Annotated[
        str, typer.Option(help=f"--feed broker: Alpaca data feed ({', '.join(DATA_FEEDS)}).")
    ] = "iex",
    prices_file: Annotated[
        Path | None, typer.Option("--prices", help="Replay this price file (default: sample).")
    ] = None,
    benchmark_file: Annotated[
        Path | None, typer.Option("--benchmark", help="Benchmark prices for beta sizing.")
    ] = None,
    db: Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")] = DEFAULT_DB,
    speed: Annotated[
        float | None, typer.Option(help="Replay at most N bars per second (default: unthrottled).")
    ] = None,
    adopt_broker_state: Annotated[
        bool,
        typer.Option("--adopt-broker-state", help="Accept the broker's positions and cash."),
    ] = False,
    cash_tolerance: Annotated[
        float,
        typer.Option(
            help="Reconciliation: accept a cash difference up to this (broker fees, interest)."
        ),
    ] = 0.0,
    strategy: StrategyOption = DEFAULTS.strategy,
    param: ParamOption = None,
    fast: FastOption = DEFAULTS.fast,
    slow: SlowOption = DEFAULTS.slow,
    lookback: LookbackOption = DEFAULTS.lookback,
    max_positions: MaxPositionsOption = DEFAULTS.max_positions,
    rebalance: RebalanceOption = DEFAULTS.rebalance,
    portfolio: PortfolioOption = DEFAULTS.portfolio,
    factor: FactorOption = DEFAULTS.factor,
    max_weight: MaxWeightOption = DEFAULTS.max_weight,
    min_weight: MinWeightOption = DEFAULTS.min_weight,
    solver: SolverOption = DEFAULTS.solver,
    sizer: SizerOption = DEFAULTS.sizer,
    weight: WeightOption = DEFAULTS.weight,
    risk_per_trade: RiskPerTradeOption = DEFAULTS.risk_per_trade,
    stop_loss: StopLossOption = DEFAULTS.stop_loss,
    take_profit: TakeProfitOption = DEFAULTS.take_profit,
    trailing_stop: TrailingStopOption = DEFAULTS.trailing_stop,
    no_stop: NoStopOption = DEFAULTS.no_stop,
    max_position: MaxPositionOption = DEFAULTS.max_position,
    beta_sizing: BetaSizingOption = DEFAULTS.beta_sizing,
    beta_window: BetaWindowOption = DEFAULTS.beta_window,
    target_beta: TargetBetaOption = DEFAULTS.target_beta,
    cash: CashOption = DEFAULTS.cash,
    commission_bps: CommissionBpsOption = DEFAULTS.commission_bps,
    commission_per_share: CommissionPerShareOption = DEFAULTS.commission_per_share,
    commission_min: CommissionMinOption = DEFAULTS.commission_min,
    slippage_bps: SlippageBpsOption = DEFAULTS.slippage_bps,
    max_order_notional: Annotated[
        float | None, typer.Option(help="Risk: max notional per order.")
    ] = None,
    max_daily_notional: Annotated[
        float | None, typer.Option(help="Risk: max notional per day.")
    ] = None,
    max_position_pct: Annotated[
        float | None, typer.Option(help="Risk: max position / equity.")
    ] = None,
    max_orders_per_minute: Annotated[
        int | None, typer.Option(help="Risk: order rate limit.")
    ] = None,
    price_band: Annotated[float | None, typer.Option(help="Risk: max move vs last close.")] = None,
    max_daily_loss: Annotated[
        float | None, typer.Option(help="Risk: HALT below this daily loss.")
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv (see README).")
    ] = OutputFormat.table,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            envvar="TRADEFOLIO_RUNS_DIR",
            help="Folder for the run folder (<UTC timestamp>-live/ with tearsheet).",
        ),
    ] = Path("runs"),
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Write a run folder when the replay ends."),
    ] = True,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Export PNG charts too.")] = True,
) -> None:
    """Trade live (paper by default) with the backtest's strategies and sizers, durably."""
    if ctx.invoked_subcommand is not None:
        return
    options = SessionOptions(
        paper=paper,
        broker=broker,
        paper_account=paper_account,
        feed=feed_name,
        symbols=symbols_option,
        poll_interval=poll_interval,
        sessions=sessions,
        history_sessions=history_sessions,
        data_feed=data_feed,
        prices_file=prices_file,
        benchmark_file=benchmark_file,
        db=db,
        speed=speed,
        adopt_broker_state=adopt_broker_state,
        cash_tolerance=cash_tolerance,
        max_order_notional=max_order_notional,
        max_daily_notional=max_daily_notional,
        max_position_pct=max_position_pct,
        max_orders_per_minute=max_orders_per_minute,
        price_band=price_band,
        max_daily_loss=max_daily_loss,
    )
    session = live_session(
        options,
        _StderrMessages(),
        strategy=strategy,
        param=tuple(param) if param else None,
        fast=fast,
        slow=slow,
        lookback=lookback,
        max_positions=max_positions,
        rebalance=rebalance,
        portfolio=portfolio,
        factor=factor,
        max_weight=max_weight,
        min_weight=min_weight,
        solver=solver,
        sizer=sizer,
        weight=weight,
        risk_per_trade=risk_per_trade,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_stop=trailing_stop,
        no_stop=no_stop,
        max_position=max_position,
        beta_sizing=beta_sizing,
        beta_window=beta_window,
        target_beta=target_beta,
        cash=cash,
        commission_bps=commission_bps,
        commission_per_share=commission_per_share,
        commission_min=commission_min,
        slippage_bps=slippage_bps,
    )

    def write_record(journal: Journal) -> None:
        _write_run_folder(
            journal,
            dict(session.setup.settings),
            prices_file,
            benchmark_file,
            out,
            png,
            sample=not options.polled,
        )

    payload = session.run(progress=_progress, after=write_record if record else None)
    print_status(payload, output)


def build_live_app() -> typer.Typer:
    """The `live` group: running a session is the group's own command."""
    live = typer.Typer(
        help="Live trading (paper by default): durable journal, exactly-once orders.",
        epilog=EXAMPLES,
        invoke_without_command=True,
        no_args_is_help=False,
    )
    live.callback(invoke_without_command=True, epilog=EXAMPLES)(run_command)
    live.command("status")(status_command)
    live.command("halt")(halt_command)
    live.command("resume")(resume_command)
    return live


def register(app: typer.Typer) -> None:
    """Add the `live` group to the application."""
    app.add_typer(build_live_app(), name="live")


__all__ = ["build_live_app", "register", "status_payload"]
