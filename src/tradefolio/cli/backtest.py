"""`tradefolio backtest`: run a strategy over a price file (or the sample) and report it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradefolio.api.backtesting import backtest
from tradefolio.api.prices import describe_source
from tradefolio.api.results import BacktestResult
from tradefolio.backtest.config import NOT_PORTFOLIO, refuse_given_with_portfolio
from tradefolio.cli.backtest_output import (
    FILL_FIELDS,
    StderrObserver,
    exits_json,
    exits_note,
    rebalance_lines,
    render_table,
    result_to_json,
)
from tradefolio.cli.common import (
    OutputFormat,
    given_on_command_line,
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
from tradefolio.errors import RebalanceFailed
from tradefolio.portfolio.options import ALLOCATE_DEFAULTS as _A

EXAMPLES = """
Examples:

  tradefolio backtest --strategy sma-cross --fast 20 --slow 50 --sizer weight --weight 0.10

  tradefolio backtest --prices closes.csv --sizer risk --risk-per-trade 0.01 --stop-loss 0.08

  tradefolio backtest --beta-sizing --benchmark spx.csv --format json

  tradefolio backtest --portfolio --factor momentum --max-positions 5 --rebalance monthly

  tradefolio backtest --portfolio --objective mean-variance --risk-aversion 5 --sector-cap 0.35 \\
      --max-turnover 0.2 --cost-bps 5 --fixed-cost 1 --min-trade 500 --whole-shares

  tradefolio backtest --prices bars.csv --sizer weight --stop-loss 0.05 --take-profit 0.1

  tradefolio backtest --prices bars.csv --strategy my_strategy.py:MyStrategy --param window=20
"""


def backtest_command(
    prices_file: Annotated[
        Path | None,
        typer.Option("--prices", help="Price file (CSV/Parquet, wide or long; default: sample)."),
    ] = None,
    benchmark_file: Annotated[
        Path | None,
        typer.Option(
            "--benchmark", help="Benchmark price file for betas (default: sample S&P 500)."
        ),
    ] = None,
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
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="table (metrics), json (contract), csv (fills)."),
    ] = OutputFormat.table,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            envvar="TRADEFOLIO_RUNS_DIR",
            help="Folder for the run folder (<UTC timestamp>-<name>/ with tearsheet).",
        ),
    ] = Path("runs"),
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Write the run folder and tearsheet."),
    ] = True,
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also export PNG charts (matplotlib).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")
    ] = False,
) -> None:
    """Backtest a strategy: signals at the close, fills at the next bar, exact ledger."""
    model = model_fields(locals())
    if portfolio:  # `--sizer risk` is its default, but given it says a sizer sizes: refuse
        refuse_given_with_portfolio(given_on_command_line(NOT_PORTFOLIO))
    messages = stderr_console(quiet=quiet)
    spinner = messages.is_terminal and output is OutputFormat.table
    try:
        run = backtest(
            prices_file,
            strategy,
            benchmark=benchmark_file,
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
            observer=StderrObserver(messages, spinner),
            **model,
        )
    except RebalanceFailed as exc:  # `--on-solver-failure stop`: keep the run up to it
        if not record or not isinstance(exc.partial, BacktestResult):
            raise
        kept = exc.partial.save_run_folder(out, png=png)
        raise RebalanceFailed(f"{exc}; the run up to then is in {kept.path}") from exc
    result, config = run.raw, run.options
    assert config is not None  # named strategy and sizer: the config the run used
    metrics = result.metrics()
    folder = None
    if record:
        folder = run.save_run_folder(out, png=png)
        for note in folder.notes:
            messages.print(note, style="yellow")
    if output is not OutputFormat.table and folder is not None:
        messages.print(f"tearsheet: {folder.tearsheet or folder.path}", style="dim", soft_wrap=True)
    # the solves' table, made once: the run folder's record has it (rebalances.csv)
    solves = run.record.rebalances if folder is not None else None
    if output is OutputFormat.json:
        # compact on purpose: thousands of fills, and only the compact encoder runs in C
        payload = result_to_json(result, metrics, exits_json(config), solves)
        print_json(payload, indent=None)
        return
    if output is OutputFormat.csv:
        print_csv(
            FILL_FIELDS,
            [
                [f.date.isoformat(), f.symbol, f.side, f.quantity, f.price, f.commission]
                for f in result.fills
            ],
        )
        return
    name = run.name
    closes = run.closes
    first, last = closes.index[0].date(), closes.index[-1].date()
    source = describe_source(prices_file)
    render_table(result, metrics, f"{name} backtest of {source}, {first} .. {last}")
    stdout_console().print(exits_note(config), soft_wrap=True)
    if result.decisions:
        for line in rebalance_lines(result, solves):
            stdout_console().print(line, soft_wrap=True)
    if result.dropped_orders:
        messages.print(
            f"{result.dropped_orders} orders dropped: no price on their fill bar", style="dim"
        )
    if folder is not None:
        stdout_console().print(f"tearsheet: {folder.tearsheet or folder.path}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `backtest` to the application."""
    app.command("backtest", epilog=EXAMPLES)(backtest_command)


__all__ = ["register", "result_to_json"]
