"""`tradefolio allocate`: candidates (a file, or scored from prices) -> MIP allocation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradefolio.cli.allocate_model import (
    OBJECTIVES,
    ModelOptions,
    model_result_to_json,
    print_infeasible,
    render_model_table,
    solve_model,
)
from tradefolio.cli.allocation_json import allocation_json, shares_out
from tradefolio.cli.common import (
    OutputFormat,
    check_fraction,
    check_positive,
    print_csv,
    print_json,
    require,
    stderr_console,
    stdout_console,
)
from tradefolio.data.readers import read_prices
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.candidates import read_candidates, read_user_scores
from tradefolio.portfolio.covariance import ESTIMATORS
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import FACTORS, Scores, score_universe
from tradefolio.portfolio.types import AllocationResult, Candidate

FACTOR_CHOICES = (*FACTORS, "user")

EXAMPLES = """
Examples:

  tradefolio allocate                                   # momentum on the bundled sample

  tradefolio allocate --candidates picks.csv --capital 250000 --format json

  tradefolio allocate --prices closes.csv --factor inverse-volatility --lookback 63

  tradefolio allocate --objective mean-variance --risk-aversion 5 --sector-cap 0.35 \\
      --holdings held.csv --max-turnover 0.2 --fixed-cost 1 --cost-bps 5 --min-trade 500 \\
      --whole-shares
"""


def result_to_json(result: AllocationResult, fractional: bool, excluded: dict[str, str]) -> Any:
    """The stable JSON contract of `allocate` (see README)."""
    return allocation_json(result, fractional, excluded)


def _render_table(result: AllocationResult, fractional: bool, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for name in ("symbol", "weight", "dollars", "shares", "price"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for a in result.allocations:
        shares = f"{a.shares:,.6f}" if fractional else f"{int(a.shares):,d}"
        table.add_row(a.symbol, f"{a.weight:.2%}", f"{a.dollars:,.2f}", shares, f"{a.price:,.2f}")
    console = stdout_console()
    console.print(table)
    proven = (
        "proven optimal"
        if result.status == "optimal"
        else (f"NOT proven optimal (gap {result.gap:.2%}, bound {result.best_bound:.6g})")
    )
    console.print(
        f"{len(result.allocations)} positions, invested {result.invested:,.2f} of "
        f"{result.capital:,.2f}, cash {result.cash:,.2f}; objective {result.objective:.6g} "
        f"({result.solver}, {proven})"
    )


def _candidates(
    candidates_file: Path | None,
    prices_file: Path | None,
    scores_file: Path | None,
    factor: str,
    lookback: int | None,
    needs_history: bool = False,
) -> tuple[list[Candidate], dict[str, str], str]:
    """Candidates, symbols excluded from scoring with reasons, and a title for the table."""
    require(
        candidates_file is None or ((prices_file is None or needs_history) and scores_file is None),
        "--candidates already holds scores and prices; drop --prices/--scores",
    )
    if candidates_file is not None:
        return read_candidates(candidates_file), {}, f"allocation of {candidates_file}"
    prices = read_prices(prices_file) if prices_file else load_sample_prices()
    source = str(prices_file) if prices_file else "the bundled sample"
    if factor == "user":
        require(scores_file is not None, "--factor user needs --scores FILE (symbol,score)")
        assert scores_file is not None
        user = read_user_scores(scores_file)
        last = prices.ffill().iloc[-1]
        unknown = [s for s in user.index if s not in last.index or not last[s] > 0]
        require(
            not unknown,
            f"--scores lists {unknown[0] if unknown else ''!s} with no price in {source}",
        )
        scores = Scores(values=user, prices=last[user.index])
    else:
        require(scores_file is None, "--scores is only used with --factor user")
        scores = score_universe(prices, factor, lookback)
    day = prices.index[-1].date().isoformat()
    return scores.candidates(), dict(scores.excluded), f"{factor} allocation of {source} on {day}"


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
        str, typer.Option(help=f"Scoring factor: {', '.join(FACTOR_CHOICES)}.")
    ] = "momentum",
    lookback: Annotated[
        int | None, typer.Option(help="Lookback in sessions (default depends on the factor).")
    ] = None,
    capital: Annotated[float, typer.Option(help="Capital to allocate, in dollars.")] = 100_000.0,
    max_weight: Annotated[float, typer.Option(help="Cap on any one name's weight.")] = 0.25,
    min_weight: Annotated[
        float, typer.Option(help="Floor on the weight of a held name (0 = none).")
    ] = 0.02,
    max_positions: Annotated[int, typer.Option(help="Cap on the number of names held.")] = 10,
    fractional: Annotated[
        bool, typer.Option("--fractional", help="Allow fractional shares.")
    ] = False,
    solver: Annotated[
        str | None,
        typer.Option(
            help=f"Solver: {', '.join(SOLVERS)} (default cbc; for quadratic objectives highs, "
            "tradefolio's branch and bound over HiGHS QPs, or scip with --whole-shares, "
            "--min-trade or --fixed-cost)."
        ),
    ] = None,
    time_limit: Annotated[float, typer.Option(help="Solver time limit in seconds.")] = 10.0,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
    objective: Annotated[str, typer.Option(help=f"Objective: {', '.join(OBJECTIVES)}.")] = "score",
    risk_aversion: Annotated[
        float, typer.Option(help="λ of mean-variance: score - λ variance.")
    ] = 1.0,
    min_return: Annotated[
        float | None, typer.Option(help="Return floor for min-variance, cvar and mad.")
    ] = None,
    cvar_alpha: Annotated[float, typer.Option(help="Confidence level of cvar.")] = 0.95,
    covariance: Annotated[
        str, typer.Option(help=f"Covariance estimator: {', '.join(ESTIMATORS)}.")
    ] = "ledoit-wolf",
    risk_lookback: Annotated[
        int, typer.Option(help="Sessions of returns for covariance and scenarios.")
    ] = 252,
    sector_cap: Annotated[
        float | None, typer.Option(help="Cap on each sector's weight (GICS of the sample).")
    ] = None,
    sectors_file: Annotated[
        Path | None, typer.Option("--sectors", help="CSV symbol,sector (default: bundled).")
    ] = None,
    holdings_file: Annotated[
        Path | None, typer.Option("--holdings", help="CSV symbol,shares of current holdings.")
    ] = None,
    max_turnover: Annotated[
        float | None, typer.Option(help="Cap on sum |w - w0| (both sides) from the holdings.")
    ] = None,
    fixed_cost: Annotated[float, typer.Option(help="Dollars per traded name.")] = 0.0,
    cost_bps: Annotated[float, typer.Option(help="Cost in bps of traded value.")] = 0.0,
    cost_budget: Annotated[
        float | None, typer.Option(help="Cap on trading costs in dollars.")
    ] = None,
    min_trade: Annotated[
        float | None, typer.Option(help="Trade a name by 0 or at least this many dollars.")
    ] = None,
    whole_shares: Annotated[
        bool, typer.Option("--whole-shares", help="Integer shares inside the optimisation.")
    ] = False,
    lot: Annotated[int, typer.Option(help="Shares per lot with --whole-shares.")] = 1,
    min_invested: Annotated[
        float | None, typer.Option(help="Minimum fraction of the account invested.")
    ] = None,
    expected_returns_file: Annotated[
        Path | None,
        typer.Option(
            "--expected-returns", help="CSV symbol,mu: expected returns (replace scores)."
        ),
    ] = None,
    covariance_file: Annotated[
        Path | None,
        typer.Option("--covariance-file", help="CSV covariance matrix labelled by symbol."),
    ] = None,
    factor_loadings_file: Annotated[
        Path | None,
        typer.Option("--factor-loadings", help="CSV symbol,<factor>...: loadings B."),
    ] = None,
    factor_covariance_file: Annotated[
        Path | None,
        typer.Option("--factor-covariance", help="CSV factor covariance F, labelled by factor."),
    ] = None,
    specific_variance_file: Annotated[
        Path | None,
        typer.Option("--specific-variance", help="CSV symbol,variance: Σ = B F B' + diag."),
    ] = None,
    bounds_file: Annotated[
        Path | None,
        typer.Option("--bounds", help="CSV symbol,min_weight,max_weight: floor if held, cap."),
    ] = None,
) -> None:
    """Turn scores into an optimal allocation: weights, dollars and shares."""
    check_fraction("--max-weight", max_weight)
    check_fraction("--min-weight", min_weight, allow_zero=True)
    require(
        min_weight <= max_weight,
        f"--min-weight ({min_weight:g}) must not exceed --max-weight ({max_weight:g})",
    )
    require(max_positions >= 1, f"--max-positions must be >= 1, got {max_positions}")
    check_positive("--capital", capital)
    check_positive("--time-limit", time_limit)
    options = ModelOptions(
        objective=objective,
        risk_aversion=risk_aversion,
        min_return=min_return,
        cvar_alpha=cvar_alpha,
        covariance=covariance,
        risk_lookback=risk_lookback,
        sector_cap=sector_cap,
        sectors_file=sectors_file,
        holdings_file=holdings_file,
        max_turnover=max_turnover,
        fixed_cost=fixed_cost,
        cost_bps=cost_bps,
        cost_budget=cost_budget,
        min_trade=min_trade,
        whole_shares=whole_shares,
        lot=lot,
        min_invested=min_invested,
        expected_returns_file=expected_returns_file,
        covariance_file=covariance_file,
        factor_loadings_file=factor_loadings_file,
        factor_covariance_file=factor_covariance_file,
        specific_variance_file=specific_variance_file,
        bounds_file=bounds_file,
    )
    options.validate()
    if options.used:
        candidates, excluded, title = _candidates(
            candidates_file, prices_file, scores_file, factor, lookback, options.needs_history
        )
        prices = read_prices(prices_file) if prices_file else load_sample_prices()
        params = AllocatorParams(
            max_weight=max_weight, min_weight=min_weight, max_positions=max_positions
        )
        try:
            model_result = solve_model(
                candidates,
                prices,
                capital,
                params,
                options,
                fractional,
                solver or "auto",
                time_limit,
            )
        except InfeasibleAllocation as exc:
            print_infeasible(exc)
            raise typer.Exit(2) from exc
        if output is OutputFormat.json:
            print_json(model_result_to_json(model_result, fractional, excluded))
        elif output is OutputFormat.csv:
            print_csv(
                ["symbol", "weight", "dollars", "shares", "price"],
                [
                    [a.symbol, a.weight, a.dollars, shares_out(a.shares, fractional), a.price]
                    for a in model_result.allocations
                ],
            )
        else:
            render_model_table(model_result, fractional, title)
        return
    solver = solver or "cbc"
    require(
        solver.lower() in SOLVERS, f"--solver must be one of {', '.join(SOLVERS)}, got {solver!r}"
    )
    require(
        factor in FACTOR_CHOICES,
        f"--factor must be one of {', '.join(FACTOR_CHOICES)}, got {factor!r}",
    )
    require(lookback is None or lookback >= 2, f"--lookback must be >= 2 sessions, got {lookback}")

    candidates, excluded, title = _candidates(
        candidates_file, prices_file, scores_file, factor, lookback
    )
    params = AllocatorParams(
        max_weight=max_weight, min_weight=min_weight, max_positions=max_positions
    )
    result = allocate(
        candidates,
        capital,
        params,
        fractional=fractional,
        solver=solver,
        time_limit=time_limit,
    )
    if output is OutputFormat.json:
        print_json(result_to_json(result, fractional, excluded))
        return
    if output is OutputFormat.csv:
        print_csv(
            ["symbol", "weight", "dollars", "shares", "price"],
            [
                [a.symbol, a.weight, a.dollars, shares_out(a.shares, fractional), a.price]
                for a in result.allocations
            ],
        )
        return
    _render_table(result, fractional, title)
    messages = stderr_console()
    for symbol, reason in excluded.items():
        messages.print(f"excluded {symbol}: {reason}", style="dim")
    if result.dropped:
        messages.print(f"dropped (score <= 0): {', '.join(result.dropped)}", style="dim")


def register(app: typer.Typer) -> None:
    """Add `allocate` to the application."""
    app.command("allocate", epilog=EXAMPLES)(allocate_command)


__all__ = ["register", "result_to_json"]
