"""The strategy, sizer, cost and capital options `backtest` and `live` share, defined once.

Both commands validate these options with the same `BacktestConfig`, so they must mean the
same thing in both: each option is one `Annotated` alias here (its flag and help text), and
its default is the config's own (`DEFAULTS`), used as `fast: FastOption = DEFAULTS.fast`.
A help text or a default changed here changes in both commands' `--help`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tradefolio.backtest.config import STRATEGIES, BacktestConfig
from tradefolio.portfolio.allocator import SOLVERS
from tradefolio.portfolio.scoring import FACTORS

#: The defaults of every shared option (`BacktestConfig`'s defaults are the CLI's).
DEFAULTS = BacktestConfig()

StrategyOption = Annotated[
    str,
    typer.Option(
        help=f"Strategy: {', '.join(STRATEGIES)}, or your own class: path/to/file.py:ClassName "
        "or package.module:ClassName."
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="Your strategy's parameter NAME=VALUE, typed by its constructor (repeatable).",
    ),
]
FastOption = Annotated[int, typer.Option(help="sma-cross: fast SMA window (sessions).")]
SlowOption = Annotated[int, typer.Option(help="sma-cross: slow SMA window (sessions).")]
LookbackOption = Annotated[
    int | None, typer.Option(help="momentum / --portfolio: scoring lookback in sessions.")
]
MaxPositionsOption = Annotated[int, typer.Option(help="momentum / --portfolio: most names held.")]
RebalanceOption = Annotated[
    str, typer.Option(help="momentum / --portfolio: monthly, weekly or every N sessions.")
]
PortfolioOption = Annotated[
    bool, typer.Option("--portfolio", help="Score, allocate and trade to the allocator's weights.")
]
FactorOption = Annotated[
    str, typer.Option(help=f"--portfolio scoring factor: {', '.join(FACTORS)}.")
]
MaxWeightOption = Annotated[float, typer.Option(help="--portfolio: cap on one name's weight.")]
MinWeightOption = Annotated[float, typer.Option(help="--portfolio: floor on a held name's weight.")]
SolverOption = Annotated[
    str, typer.Option(help=f"--portfolio allocator solver: {', '.join(SOLVERS)}.")
]
SizerOption = Annotated[
    str,
    typer.Option(help="Entry sizer: risk, weight, or beta (risk sized by rolling beta)."),
]
WeightOption = Annotated[float, typer.Option(help="weight sizer: fraction of equity per entry.")]
RiskPerTradeOption = Annotated[
    float, typer.Option(help="risk sizer: fraction of equity lost at the stop.")
]
StopLossOption = Annotated[
    float | None,
    typer.Option(
        help="Protective stop at fill x (1 - X) on every entry; the risk sizer sizes from it "
        "(risk sizer default 0.05, always placed unless --no-stop)."
    ),
]
TakeProfitOption = Annotated[
    float | None,
    typer.Option(help="Take-profit limit at fill x (1 + Y), one-cancels-other with the stop."),
]
TrailingStopOption = Annotated[
    float | None,
    typer.Option(help="Trailing stop Z (fraction) below the best close since the entry."),
]
NoStopOption = Annotated[
    bool,
    typer.Option(
        "--no-stop", help="Place no stop: the risk sizer sizes from a notional --stop-loss."
    ),
]
MaxPositionOption = Annotated[
    float, typer.Option(help="risk sizer: cap on one position, fraction of equity.")
]
BetaSizingOption = Annotated[
    bool, typer.Option("--beta-sizing", help="Scale entries by rolling beta on the benchmark.")
]
BetaWindowOption = Annotated[int, typer.Option(help="Rolling beta window in sessions.")]
TargetBetaOption = Annotated[float, typer.Option(help="Beta sizing: beta to size towards.")]
CashOption = Annotated[
    float, typer.Option(help="Starting cash (live --broker alpaca: the account's instead).")
]
CommissionBpsOption = Annotated[float, typer.Option(help="Commission, bps of notional.")]
CommissionPerShareOption = Annotated[float, typer.Option(help="Commission per share.")]
CommissionMinOption = Annotated[float, typer.Option(help="Minimum commission per fill.")]
SlippageBpsOption = Annotated[float, typer.Option(help="Slippage, bps against the trader.")]

__all__ = [
    "DEFAULTS",
    "BetaSizingOption",
    "BetaWindowOption",
    "CashOption",
    "CommissionBpsOption",
    "CommissionMinOption",
    "CommissionPerShareOption",
    "FactorOption",
    "FastOption",
    "LookbackOption",
    "MaxPositionOption",
    "MaxPositionsOption",
    "MaxWeightOption",
    "MinWeightOption",
    "NoStopOption",
    "ParamOption",
    "PortfolioOption",
    "RebalanceOption",
    "RiskPerTradeOption",
    "SizerOption",
    "SlippageBpsOption",
    "SlowOption",
    "SolverOption",
    "StopLossOption",
    "StrategyOption",
    "TakeProfitOption",
    "TargetBetaOption",
    "TrailingStopOption",
    "WeightOption",
]
