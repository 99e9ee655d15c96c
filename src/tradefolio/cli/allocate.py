"""`tradefolio allocate`: candidates (a file, or scored from prices) -> MIP allocation.

A client of `tf.allocate`: the flags build `AllocateOptions` (whose defaults are the ones
`--help` shows), `tradefolio.api.allocation.allocate_with` solves, this module prints.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from tradefolio.api.options import (
    ALLOCATE_DEFAULTS,
    FACTOR_CHOICES,
    AllocateOptions,
)
from tradefolio.cli.allocate_output import print_allocation
from tradefolio.cli.allocation_table import print_infeasible, print_notes
from tradefolio.cli.common import OutputFormat, require
from tradefolio.cli.model_options import (
    CostBpsOption,
    CostBudgetOption,
    CovarianceOption,
    CvarAlphaOption,
    FixedCostOption,
    LotOption,
    MaxTurnoverOption,
    MinReturnOption,
    MinTradeOption,
    ObjectiveOption,
    RiskAversionOption,
    RiskLookbackOption,
    SectorCapOption,
    TimeLimitOption,
    WholeSharesOption,
)
from tradefolio.errors import IgnoredInput, InfeasibleAllocation
from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.candidates import check_scoring_unused, read_candidates

_D = ALLOCATE_DEFAULTS

#: `--min-invested` with its default stated (`model_options.MinInvestedOption` does not).
AllocateMinInvestedOption = Annotated[
    float | None,
    typer.Option(
        "--min-invested",
        help="Minimum fraction of the account invested. Default: no floor, except that "
        "--objective min-variance, cvar and mad invest fully: 1 less the worst-case costs "
        "and what whole shares leave in cash (the floor chosen is printed as a note).",
    ),
]

EXAMPLES = """
Examples:

  tradefolio allocate                                   # momentum on the bundled sample

  tradefolio allocate --candidates picks.csv --capital 250000 --format json

  tradefolio allocate --prices closes.csv --factor inverse-volatility --lookback 63

  tradefolio allocate --objective mean-variance --risk-aversion 5 --sector-cap 0.35 \\
      --holdings held.csv --max-turnover 0.2 --fixed-cost 1 --cost-bps 5 --min-trade 500 \\
      --whole-shares
"""


def allocate_command(
    candidates_file: Annotated[
        Path | None, typer.Option("--candidates", help="CSV with columns symbol,score,price.")
    ] = None,
    prices_file: Annotated[
        Path | None,
        typer.Option("--prices", help="Price file to score (default: the bundled sample)."),
    ] = None,
    scores_file: Annotated[
        Path | None, typer.Option("--scores", help="CSV symbol,score for --factor user.")
    ] = None,
    factor: Annotated[
        str,
        typer.Option(
            help=f"Scoring factor of --prices: {', '.join(FACTOR_CHOICES)} (not with "
            "--candidates, which holds its own scores)."
        ),
    ] = _D.factor,
    lookback: Annotated[
        int | None, typer.Option(help="Lookback in sessions (default depends on the factor).")
    ] = _D.lookback,
    capital: Annotated[
        float,
        typer.Option(
            help="Capital to allocate, in dollars; with --holdings, the cash beside them "
            "(0 for a fully invested account)."
        ),
    ] = _D.capital,
    max_weight: Annotated[
        float, typer.Option(help="Cap on any one name's weight.")
    ] = _D.max_weight,
    min_weight: Annotated[
        float, typer.Option(help="Floor on the weight of a held name (0 = none).")
    ] = _D.min_weight,
    max_positions: Annotated[
        int, typer.Option(help="Cap on the number of names held.")
    ] = _D.max_positions,
    fractional: Annotated[
        bool, typer.Option("--fractional", help="Allow fractional shares.")
    ] = _D.fractional,
    solver: Annotated[
        str | None,
        typer.Option(
            help=f"Solver: {', '.join(SOLVERS)} (default cbc; for quadratic objectives highs, "
            "tradefolio's branch and bound over HiGHS QPs, or scip with --whole-shares, "
            "--min-trade or --fixed-cost)."
        ),
    ] = _D.solver,
    time_limit: TimeLimitOption = _D.time_limit,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="table (targets, trades, summary), json (the contract), csv (targets only).",
        ),
    ] = OutputFormat.table,
    objective: ObjectiveOption = _D.objective,
    risk_aversion: RiskAversionOption = _D.risk_aversion,
    min_return: MinReturnOption = _D.min_return,
    cvar_alpha: CvarAlphaOption = _D.cvar_alpha,
    covariance: CovarianceOption = _D.covariance,
    risk_lookback: RiskLookbackOption = _D.risk_lookback,
    sector_cap: SectorCapOption = _D.sector_cap,
    sectors_file: Annotated[
        Path | None, typer.Option("--sectors", help="CSV symbol,sector (default: bundled).")
    ] = None,
    holdings_file: Annotated[
        Path | None, typer.Option("--holdings", help="CSV symbol,shares of current holdings.")
    ] = None,
    max_turnover: MaxTurnoverOption = _D.max_turnover,
    fixed_cost: FixedCostOption = _D.fixed_cost,
    cost_bps: CostBpsOption = _D.cost_bps,
    cost_budget: CostBudgetOption = _D.cost_budget,
    min_trade: MinTradeOption = _D.min_trade,
    whole_shares: WholeSharesOption = _D.whole_shares,
    lot: LotOption = _D.lot,
    min_invested: AllocateMinInvestedOption = _D.min_invested,
    expected_returns: Annotated[
        Path | None,
        typer.Option(
            "--expected-returns", help="CSV symbol,mu: expected returns (replace scores)."
        ),
    ] = None,
    covariance_file: Annotated[
        Path | None,
        typer.Option("--covariance-file", help="CSV covariance matrix labelled by symbol."),
    ] = None,
    factor_loadings: Annotated[
        Path | None,
        typer.Option("--factor-loadings", help="CSV symbol,<factor>...: loadings B."),
    ] = None,
    factor_covariance: Annotated[
        Path | None,
        typer.Option("--factor-covariance", help="CSV factor covariance F, labelled by factor."),
    ] = None,
    specific_variance: Annotated[
        Path | None,
        typer.Option("--specific-variance", help="CSV symbol,variance: Σ = B F B' + diag."),
    ] = None,
    bounds: Annotated[
        Path | None,
        typer.Option("--bounds", help="CSV symbol,min_weight,max_weight: floor if held, cap."),
    ] = None,
) -> None:
    """Turn scores into an optimal allocation: weights, dollars and shares."""
    options = AllocateOptions(
        factor=factor,
        lookback=lookback,
        capital=capital,
        max_weight=max_weight,
        min_weight=min_weight,
        max_positions=max_positions,
        fractional=fractional,
        solver=solver,
        time_limit=time_limit,
        objective=objective,
        risk_aversion=risk_aversion,
        min_return=min_return,
        cvar_alpha=cvar_alpha,
        covariance=covariance,
        risk_lookback=risk_lookback,
        sector_cap=sector_cap,
        max_turnover=max_turnover,
        fixed_cost=fixed_cost,
        cost_bps=cost_bps,
        cost_budget=cost_budget,
        min_trade=min_trade,
        whole_shares=whole_shares,
        lot=lot,
        min_invested=min_invested,
        expected_returns=expected_returns,
        covariance_file=covariance_file,
        factor_loadings=factor_loadings,
        factor_covariance=factor_covariance,
        specific_variance=specific_variance,
        bounds=bounds,
    )
    options.validate()
    model = options.uses_model(sectors=sectors_file is not None, holdings=holdings_file is not None)
    if candidates_file is not None and not model:
        # a candidates file and the score model: no price history to read
        options.validate_score_model(SOLVERS, FACTOR_CHOICES)
        require(
            prices_file is None and scores_file is None,
            "--candidates already holds scores and prices; drop --prices/--scores",
        )
        check_scoring_unused(options)
        allocation = allocate(
            read_candidates(candidates_file),
            capital,
            options.params,
            fractional=fractional,
            solver=solver or "cbc",
            time_limit=time_limit,
        )
        print_allocation(allocation, fractional, {}, f"allocation of {candidates_file}", output)
        return
    from tradefolio.api.allocation import allocate_with  # pandas: only when prices are read

    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IgnoredInput)
            planned = allocate_with(
                options,
                prices=prices_file,
                candidates=candidates_file,
                scores=scores_file,
                sectors=sectors_file,
                holdings=holdings_file,
                notes=notes,
            )
    except InfeasibleAllocation as exc:
        print_infeasible(exc)
        raise typer.Exit(2) from exc
    finally:
        print_notes(caught, notes)
    print_allocation(
        planned.raw,
        fractional,
        dict(planned.excluded),
        planned.title,
        output,
        model=planned.model is not None,
    )


def register(app: typer.Typer) -> None:
    """Add `allocate` to the application."""
    app.command("allocate", epilog=EXAMPLES)(allocate_command)


__all__ = ["register"]
