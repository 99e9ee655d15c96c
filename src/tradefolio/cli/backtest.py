"""`tradefolio backtest`: run a strategy over a price file (or the sample) and report it."""

from __future__ import annotations

import contextlib
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradefolio.api.backtesting import backtest
from tradefolio.api.prices import describe_source
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.metric_registry import HEADLINE_PERCENT
from tradefolio.backtest.metrics import Metrics
from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    stderr_console,
    stdout_console,
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

EXAMPLES = """
Examples:

  tradefolio backtest --strategy sma-cross --fast 20 --slow 50 --sizer weight --weight 0.10

  tradefolio backtest --prices closes.csv --sizer risk --risk-per-trade 0.01 --stop-loss 0.08

  tradefolio backtest --beta-sizing --benchmark spx.csv --format json

  tradefolio backtest --portfolio --factor momentum --max-positions 5 --rebalance monthly

  tradefolio backtest --prices bars.csv --sizer weight --stop-loss 0.05 --take-profit 0.1

  tradefolio backtest --prices bars.csv --strategy my_strategy.py:MyStrategy --param window=20
"""

FILL_FIELDS = ["date", "symbol", "side", "quantity", "price", "commission"]


def result_to_json(
    result: BacktestResult, metrics: Metrics, exits: dict[str, Any] | None = None
) -> Any:
    """The stable JSON contract of `backtest` (see README)."""
    return {
        "final_equity": float(result.final_equity),
        "n_fills": len(result.fills),
        "exits": exits,
        "metrics": metrics.as_dict(),
        "fills": [
            {
                "date": fill.date.isoformat(),
                "symbol": fill.symbol,
                "side": fill.side,
                "quantity": fill.quantity,
                "price": float(fill.price),
                "commission": float(fill.commission),
            }
            for fill in result.fills
        ],
    }


def _render_table(result: BacktestResult, metrics: Metrics, title: str) -> None:
    console = stdout_console()
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    percent = HEADLINE_PERCENT
    for name, value in metrics.as_dict().items():
        if name in percent:
            text = f"{value:.2%}"
        elif isinstance(value, int):
            text = f"{value:,d}"
        else:
            text = f"{value:.3f}"
        table.add_row(name.replace("_", " "), text)
    console.print(table)
    buys = sum(1 for fill in result.fills if fill.side == "buy")
    console.print(
        f"final equity {result.final_equity:,.2f} from {result.initial_cash:,.2f}; "
        f"{len(result.fills):,d} fills ({buys:,d} buys, {len(result.fills) - buys:,d} sells), "
        f"{len(result.final_positions)} positions open, cash {result.final_cash:,.2f}"
    )


class _Observer:
    """The run seen on stderr: notes in yellow, a spinner while it runs on a terminal."""

    def __init__(self, messages: Console, spinner: bool) -> None:
        self._messages = messages
        self._spinner = spinner

    def note(self, text: str) -> None:
        self._messages.print(text, style="yellow")

    def running(self) -> AbstractContextManager[object]:
        if self._spinner:
            return self._messages.status("backtesting ...")
        return contextlib.nullcontext()


def run_name(config: BacktestConfig) -> str:
    """The run's short name: the strategy's (a class of your own: its class name)."""
    if config.portfolio:
        return "portfolio"
    return config.strategy.rpartition(":")[2] if ":" in config.strategy else config.strategy


def exits_json(config: BacktestConfig) -> dict[str, Any]:
    """The `exits` object of the JSON contract: what every entry's protective orders were."""
    return {
        "stop_loss": config.placed_stop,
        "take_profit": config.take_profit,
        "trailing_stop": config.trailing_stop,
        "sizing_stop": config.sizing_stop if config.risk_sized else None,
    }


def exits_note(config: BacktestConfig) -> str:
    """One line saying which protective orders every entry gets (or that none are)."""
    parts = []
    if config.placed_stop is not None:
        parts.append(f"stop at fill x (1 - {config.placed_stop:g})")
    if config.take_profit is not None:
        parts.append(f"take-profit at fill x (1 + {config.take_profit:g})")
    if config.trailing_stop is not None:
        parts.append(f"trailing stop {config.trailing_stop:g} below the best close")
    note = "exits on sized entries: " + (", ".join(parts) if parts else "none placed")
    if config.no_stop and config.risk_sized:
        note += f" (--no-stop: the risk sizer sized from a notional {config.sizing_stop:g} stop)"
    return note


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
    messages = stderr_console(quiet=quiet)
    spinner = messages.is_terminal and output is OutputFormat.table
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
        observer=_Observer(messages, spinner),
    )
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
    if output is OutputFormat.json:
        # compact on purpose: thousands of fills, and only the compact encoder runs in C
        print(json.dumps(result_to_json(result, metrics, exits_json(config)), allow_nan=False))
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
    name = run_name(config)
    closes = run.closes
    first, last = closes.index[0].date(), closes.index[-1].date()
    source = describe_source(prices_file)
    _render_table(result, metrics, f"{name} backtest of {source}, {first} .. {last}")
    stdout_console().print(exits_note(config), soft_wrap=True)
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
