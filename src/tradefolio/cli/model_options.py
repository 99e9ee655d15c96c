"""The allocation model's flags, declared once for `allocate`, `backtest`, `live` and `sweep`.

`tradefolio allocate --max-turnover 0.2` and `tradefolio backtest --portfolio --max-turnover
0.2` are the same flag with the same help text and default (`ALLOCATE_DEFAULTS`): each is
one `Annotated` alias here. In a `--portfolio` run the model is solved at every rebalance on
the account's holdings and cash, and `--cost-bps` / `--fixed-cost` are also the fills'
commission (one cost formula); `sweep` grids them by the same names
(`--grid max_turnover=0.05,0.1`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from tradefolio.portfolio.choices import ESTIMATORS
from tradefolio.portfolio.options import (
    ALLOCATE_DEFAULTS,
    FAILURE_POLICIES,
    MODEL_FIELDS,
    OBJECTIVES,
)

_D = ALLOCATE_DEFAULTS

ObjectiveOption = Annotated[str, typer.Option(help=f"Objective: {', '.join(OBJECTIVES)}.")]
RiskAversionOption = Annotated[float, typer.Option(help="λ of mean-variance: score - λ variance.")]
MinReturnOption = Annotated[
    float | None, typer.Option(help="Return floor for min-variance, cvar and mad.")
]
CvarAlphaOption = Annotated[float, typer.Option(help="Confidence level of cvar.")]
CovarianceOption = Annotated[
    str, typer.Option(help=f"Covariance estimator: {', '.join(ESTIMATORS)}.")
]
RiskLookbackOption = Annotated[
    int, typer.Option(help="Sessions of returns for covariance and scenarios.")
]
SectorCapOption = Annotated[
    float | None, typer.Option(help="Cap on each sector's weight (GICS of the sample).")
]
MaxTurnoverOption = Annotated[
    float | None, typer.Option(help="Cap on sum |w - w0| (both sides) from the holdings.")
]
FixedCostOption = Annotated[float, typer.Option(help="Dollars per traded name.")]
CostBpsOption = Annotated[float, typer.Option(help="Cost in bps of traded value.")]
CostBudgetOption = Annotated[
    float | None,
    typer.Option(
        help="Cap on trading costs in dollars, checked at the decision prices (backtest and "
        "live fill at the next bar's: rebalances.csv lists expected and realised costs)."
    ),
]
MinTradeOption = Annotated[
    float | None,
    typer.Option(
        help="Trade a name by 0 or at least this many dollars (a held position worth less "
        "may still be sold whole)."
    ),
]
WholeSharesOption = Annotated[
    bool, typer.Option("--whole-shares", help="Integer shares inside the optimisation.")
]
LotOption = Annotated[int, typer.Option(help="Shares per lot with --whole-shares.")]
MinInvestedOption = Annotated[
    float | None,
    typer.Option(
        help="Minimum fraction of the account invested. Default: no floor, except that "
        "--objective min-variance, cvar and mad invest fully: 1 less the worst-case costs "
        "and what whole shares leave in cash."
    ),
]
TimeLimitOption = Annotated[float, typer.Option(help="Solver time limit in seconds.")]
OnSolverFailureOption = Annotated[
    str,
    typer.Option(
        help=f"--portfolio: a rebalance the solver cannot answer: {', '.join(FAILURE_POLICIES)} "
        "(hold keeps the positions and logs it in rebalances.csv)."
    ),
]

SectorsOption = Annotated[
    str | None,
    typer.Option("--sectors", help="CSV symbol,sector for --sector-cap (default: bundled)."),
]

#: The flags above that a `--portfolio` run passes to `BacktestConfig` (its field names).
RUN_MODEL_FIELDS: tuple[str, ...] = (*MODEL_FIELDS, "on_solver_failure", "sectors")


def model_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The model flags among a command's parameters (`locals()`), by field name (a
    `--sectors` path as text, as `BacktestConfig` and a sweep's settings hold it)."""
    fields = {name: values[name] for name in RUN_MODEL_FIELDS}
    if fields["sectors"] is not None:
        fields["sectors"] = str(fields["sectors"])
    return fields


__all__ = [
    "RUN_MODEL_FIELDS",
    "CostBpsOption",
    "CostBudgetOption",
    "CovarianceOption",
    "CvarAlphaOption",
    "FixedCostOption",
    "LotOption",
    "MaxTurnoverOption",
    "MinInvestedOption",
    "MinReturnOption",
    "MinTradeOption",
    "ObjectiveOption",
    "OnSolverFailureOption",
    "RiskAversionOption",
    "RiskLookbackOption",
    "SectorCapOption",
    "SectorsOption",
    "TimeLimitOption",
    "WholeSharesOption",
    "model_fields",
]
