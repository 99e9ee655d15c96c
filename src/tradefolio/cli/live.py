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

from pathlib import Path

import typer

from tradefolio.api.live import live_session
from tradefolio.backtest.config import NOT_PORTFOLIO, refuse_given_with_portfolio
from tradefolio.cli.common import (
    OutputFormat,
    given_on_command_line,
)
from tradefolio.cli.live_options import (
    SESSION_DEFAULTS,
    AdoptBrokerStateOption,
    BenchmarkOption,
    BrokerOption,
    CashToleranceOption,
    DataFeedOption,
    DbOption,
    FeedOption,
    FormatOption,
    HistorySessionsOption,
    MaxDailyLossOption,
    MaxDailyNotionalOption,
    MaxOrderNotionalOption,
    MaxOrdersPerMinuteOption,
    MaxPositionPctOption,
    OutOption,
    PaperAccountOption,
    PaperOption,
    PngOption,
    PollIntervalOption,
    PriceBandOption,
    PricesOption,
    RecordOption,
    SessionsOption,
    SpeedOption,
    SymbolsOption,
)
from tradefolio.cli.live_output import (
    StderrMessages,
    print_status,
    replay_progress,
    write_run_folder,
)
from tradefolio.cli.live_status import halt_command, resume_command, status_command
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
from tradefolio.live.journal import Journal
from tradefolio.live.session import SessionOptions, status_payload
from tradefolio.portfolio.options import ALLOCATE_DEFAULTS as _A

EXAMPLES = """
Examples:

  tradefolio live --paper --strategy sma-cross --fast 20 --slow 50 --sizer weight --weight 0.10

  tradefolio live --paper --portfolio --factor momentum --max-positions 5 --db session.db

  tradefolio live --broker alpaca --feed broker --symbols AAPL,MSFT,SPY --db real.db

  tradefolio live status --db session.db --format json

  tradefolio live halt --db session.db ; tradefolio live resume --db session.db
"""


def run_command(
    ctx: typer.Context,
    paper: PaperOption = False,
    broker: BrokerOption = SESSION_DEFAULTS.broker,
    paper_account: PaperAccountOption = SESSION_DEFAULTS.paper_account,
    feed_name: FeedOption = SESSION_DEFAULTS.feed,
    symbols_option: SymbolsOption = None,
    poll_interval: PollIntervalOption = SESSION_DEFAULTS.poll_interval,
    sessions: SessionsOption = None,
    history_sessions: HistorySessionsOption = SESSION_DEFAULTS.history_sessions,
    data_feed: DataFeedOption = SESSION_DEFAULTS.data_feed,
    prices_file: PricesOption = None,
    benchmark_file: BenchmarkOption = None,
    db: DbOption = SESSION_DEFAULTS.db,
    speed: SpeedOption = None,
    adopt_broker_state: AdoptBrokerStateOption = False,
    cash_tolerance: CashToleranceOption = SESSION_DEFAULTS.cash_tolerance,
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
    max_order_notional: MaxOrderNotionalOption = None,
    max_daily_notional: MaxDailyNotionalOption = None,
    max_position_pct: MaxPositionPctOption = None,
    max_orders_per_minute: MaxOrdersPerMinuteOption = None,
    price_band: PriceBandOption = None,
    max_daily_loss: MaxDailyLossOption = None,
    output: FormatOption = OutputFormat.table,
    out: OutOption = Path("runs"),
    record: RecordOption = True,
    png: PngOption = True,
) -> None:
    """Trade live (paper by default) with the backtest's strategies and sizers, durably."""
    if ctx.invoked_subcommand is not None:
        return
    model = model_fields(locals())
    if portfolio:  # `--sizer risk` is its default, but given it says a sizer sizes: refuse
        refuse_given_with_portfolio(given_on_command_line(NOT_PORTFOLIO))
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
        StderrMessages(),
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
        **model,
    )

    def write_record(journal: Journal) -> None:
        write_run_folder(
            journal,
            dict(session.setup.settings),
            prices_file,
            benchmark_file,
            out,
            png,
            sample=not options.polled,
        )

    payload = session.run(progress=replay_progress, after=write_record if record else None)
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
