"""The issue-7 options of `tradefolio allocate`: objectives, constraints, holdings and trades.

Kept apart from `allocate.py` so the seed path (no new option used) stays exactly as it
was; any of these options routes the request through the composable model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.table import Table

from tradefolio.cli.allocation_json import allocation_json, shares_out
from tradefolio.cli.common import check_fraction, require, stdout_console
from tradefolio.data.sample_data import load_sample_sectors
from tradefolio.errors import DataError, InfeasibleAllocation
from tradefolio.portfolio.constraints import (
    Budget,
    Cardinality,
    Constraint,
    MinimumTrade,
    NameBounds,
    PositionLimits,
    SectorCaps,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import ESTIMATORS, RiskModel, period_returns, risk_model
from tradefolio.portfolio.holdings import read_holding_prices, read_holdings
from tradefolio.portfolio.model import PortfolioModel, PortfolioResult
from tradefolio.portfolio.objectives import (
    CVaR,
    Kelly,
    MeanAbsoluteDeviation,
    MeanVariance,
    MinVariance,
    Objective,
    ScoreObjective,
)
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.risk_inputs import (
    aligned_expected_returns,
    aligned_risk,
    checked_bounds,
    read_bounds,
    read_covariance,
    read_expected_returns,
    read_factor_model,
)
from tradefolio.portfolio.types import Candidate

OBJECTIVES: tuple[str, ...] = ("score", "mean-variance", "min-variance", "cvar", "mad", "kelly")
_NEEDS_HISTORY = {"mean-variance", "min-variance", "cvar", "mad", "kelly"}


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """The issue-7 options as parsed from the command line."""

    objective: str = "score"
    risk_aversion: float = 1.0
    min_return: float | None = None
    cvar_alpha: float = 0.95
    covariance: str = "ledoit-wolf"
    risk_lookback: int = 252
    sector_cap: float | None = None
    sectors_file: Path | None = None
    holdings_file: Path | None = None
    max_turnover: float | None = None
    fixed_cost: float = 0.0
    cost_bps: float = 0.0
    cost_budget: float | None = None
    min_trade: float | None = None
    whole_shares: bool = False
    lot: int = 1
    min_invested: float | None = None
    expected_returns_file: Path | None = None
    covariance_file: Path | None = None
    factor_loadings_file: Path | None = None
    factor_covariance_file: Path | None = None
    specific_variance_file: Path | None = None
    bounds_file: Path | None = None

    @property
    def factor_files(self) -> tuple[Path | None, Path | None, Path | None]:
        """--factor-loadings, --factor-covariance, --specific-variance."""
        return (
            self.factor_loadings_file,
            self.factor_covariance_file,
            self.specific_variance_file,
        )

    @property
    def own_risk(self) -> bool:
        """Whether the user brings the covariance (a matrix or a factor model)."""
        return self.covariance_file is not None or any(f is not None for f in self.factor_files)

    @property
    def used(self) -> bool:
        """Whether any option differs from its default (then the composable model runs)."""
        return self != ModelOptions(
            covariance=self.covariance,
            risk_lookback=self.risk_lookback,
            risk_aversion=self.risk_aversion,
            cvar_alpha=self.cvar_alpha,
            lot=self.lot,
        ) or (self.objective != "score")

    @property
    def needs_history(self) -> bool:
        """Whether the objective needs a price history (risk or scenarios)."""
        return self.objective in _NEEDS_HISTORY and not self.own_risk

    def validate(self) -> None:
        """One clear `InvalidParameter` per bad option."""
        require(
            self.objective in OBJECTIVES,
            f"--objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}",
        )
        require(
            math.isfinite(self.risk_aversion) and self.risk_aversion >= 0,
            f"--risk-aversion must be >= 0, got {self.risk_aversion:g}",
        )
        require(
            math.isfinite(self.cvar_alpha) and 0 < self.cvar_alpha < 1,
            f"--cvar-alpha must be in (0, 1), got {self.cvar_alpha:g}",
        )
        require(
            self.covariance in ESTIMATORS,
            f"--covariance must be one of {', '.join(ESTIMATORS)}, got {self.covariance!r}",
        )
        require(self.risk_lookback >= 2, f"--risk-lookback must be >= 2, got {self.risk_lookback}")
        if self.sector_cap is not None:
            check_fraction("--sector-cap", self.sector_cap)
        if self.min_invested is not None:
            check_fraction("--min-invested", self.min_invested, allow_zero=True)
        for flag, value in (
            ("--max-turnover", self.max_turnover),
            ("--fixed-cost", self.fixed_cost),
            ("--cost-bps", self.cost_bps),
            ("--cost-budget", self.cost_budget),
        ):
            require(
                value is None or (math.isfinite(value) and value >= 0),
                f"{flag} must be >= 0, got {value}",
            )
        require(
            self.min_trade is None or (math.isfinite(self.min_trade) and self.min_trade > 0),
            f"--min-trade must be > 0 dollars, got {self.min_trade}",
        )
        require(self.lot >= 1, f"--lot must be >= 1, got {self.lot}")
        require(
            self.min_return is None or math.isfinite(self.min_return),
            f"--min-return must be a finite number, got {self.min_return}",
        )
        self._validate_risk_files()

    def _validate_risk_files(self) -> None:
        factor_flags = ("--factor-loadings", "--factor-covariance", "--specific-variance")
        given = [flag for flag, f in zip(factor_flags, self.factor_files, strict=True) if f]
        require(
            not given or len(given) == 3,
            f"a factor model needs {', '.join(factor_flags)} together; missing "
            f"{', '.join(f for f in factor_flags if f not in given)}",
        )
        require(
            not (given and self.covariance_file is not None),
            "--covariance-file and a factor model (--factor-loadings ...) are two risk models; "
            "pass one",
        )
        quadratic = self.objective in ("mean-variance", "min-variance")
        for flag, path in (
            ("--covariance-file", self.covariance_file),
            ("--factor-loadings", self.factor_loadings_file),
            ("--expected-returns", self.expected_returns_file),
        ):
            require(
                path is None or quadratic,
                f"{flag} is used by --objective mean-variance or min-variance, "
                f"not {self.objective}",
            )


def _read_sectors(path: Path | None) -> dict[str, str]:
    if path is None:
        return {str(k): str(v) for k, v in load_sample_sectors().items()}
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    frame = pd.read_csv(path, dtype=str)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"symbol", "sector"} <= set(frame.columns):
        raise DataError(f"{path}: expected columns symbol,sector")
    return dict(zip(frame["symbol"].str.strip(), frame["sector"].str.strip(), strict=True))


def _own_risk(options: ModelOptions, symbols: list[str]) -> RiskModel:
    """The user's covariance file or factor model, aligned to the candidates."""
    if options.covariance_file is not None:
        return aligned_risk(
            read_covariance(options.covariance_file), symbols, options.covariance_file
        )
    loadings, covariance, specific = options.factor_files
    assert loadings is not None and covariance is not None and specific is not None
    return aligned_risk(read_factor_model(loadings, covariance, specific), symbols, loadings)


def build_objective(options: ModelOptions, prices: pd.DataFrame, symbols: list[str]) -> Objective:
    """The objective for `options`, with risk estimated from `prices` over the lookback
    (or the user's own risk model)."""
    name = options.objective
    if options.own_risk:
        risk = _own_risk(options, symbols)
        if name == "mean-variance":
            return MeanVariance(risk, options.risk_aversion)
        return MinVariance(risk, options.min_return)
    if not options.needs_history:
        return ScoreObjective()
    returns = period_returns(prices, options.risk_lookback, symbols)
    if name in ("mean-variance", "min-variance"):
        risk = risk_model(returns, options.covariance)
        if name == "mean-variance":
            return MeanVariance(risk, options.risk_aversion)
        return MinVariance(risk, options.min_return)
    if name == "cvar":
        return CVaR(returns, options.cvar_alpha, options.min_return)
    if name == "mad":
        return MeanAbsoluteDeviation(returns, options.min_return)
    return Kelly(returns)


def solve_model(
    candidates: list[Candidate],
    prices: pd.DataFrame,
    capital: float,
    params: AllocatorParams,
    options: ModelOptions,
    fractional: bool,
    solver: str,
    time_limit: float,
) -> PortfolioResult:
    """Build the composable model from the options and solve it."""
    if options.expected_returns_file is not None:
        mu = aligned_expected_returns(
            read_expected_returns(options.expected_returns_file),
            [c.symbol for c in candidates],
            options.expected_returns_file,
        )
        candidates = [replace(c, score=float(m)) for c, m in zip(candidates, mu, strict=True)]
    holdings = read_holdings(options.holdings_file) if options.holdings_file else None
    held_prices = read_holding_prices(options.holdings_file) if options.holdings_file else {}
    last = prices.ffill().iloc[-1]
    for symbol in holdings or {}:
        if symbol not in held_prices and symbol in last.index and last[symbol] > 0:
            held_prices[symbol] = float(last[symbol])
    universe = make_universe(
        candidates,
        capital,
        holdings,
        held_prices,
        keep_non_positive=options.objective != "score",
    )
    constraints: list[Constraint] = [Cardinality(params.max_positions)]
    if options.bounds_file is not None:
        # Listed names take their own floor and cap; the others --min-weight/--max-weight.
        bounds = read_bounds(options.bounds_file)
        checked_bounds(bounds, universe.symbols, options.bounds_file)
        default = (params.min_weight, params.max_weight)
        constraints.insert(0, NameBounds({s: bounds.get(s, default) for s in universe.symbols}))
    else:
        constraints.insert(0, PositionLimits(params.max_weight, params.min_weight))
    if options.min_invested is not None:
        constraints.append(Budget(options.min_invested, 1.0))
    if options.sector_cap is not None:
        constraints.append(SectorCaps(_read_sectors(options.sectors_file), options.sector_cap))
    if options.max_turnover is not None:
        constraints.append(Turnover(options.max_turnover))
    if options.cost_bps or options.fixed_cost or options.cost_budget is not None:
        constraints.append(
            TransactionCosts(options.cost_bps, options.fixed_cost, budget=options.cost_budget)
        )
    if options.min_trade is not None:
        constraints.append(MinimumTrade(options.min_trade))
    if options.whole_shares:
        constraints.append(WholeShares(options.lot))
    objective = build_objective(options, prices, list(universe.symbols))
    model = PortfolioModel(objective, constraints)
    return model.solve(universe, solver=solver, time_limit=time_limit, fractional=fractional)


def print_infeasible(error: InfeasibleAllocation) -> None:
    """The explanation as plain lines on stderr: `error: ...` then one line per conflict."""
    lines = str(error).splitlines()
    click.echo(f"error: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line, err=True)


def model_result_to_json(
    result: PortfolioResult, fractional: bool, excluded: dict[str, str]
) -> Any:
    """The seed JSON contract plus `model`, `costs`, `turnover` and `trades`."""
    return {
        **allocation_json(result, fractional, excluded),
        "model": result.objective_name,
        "costs": round(result.costs, 6),
        "turnover": result.turnover,
        "trades": [
            {
                "symbol": t.symbol,
                "side": t.side,
                "shares": shares_out(abs(t.shares), fractional or not float(t.shares).is_integer()),
                "price": t.price,
                "dollars": abs(t.dollars),
            }
            for t in result.trades
        ],
    }


def render_model_table(result: PortfolioResult, fractional: bool, title: str) -> None:
    """Targets, then trades, then one summary line."""
    console = stdout_console()
    table = Table(title=f"{result.objective_name} {title}", title_justify="left")
    for name in ("symbol", "weight", "dollars", "shares", "price"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for a in result.allocations:
        shares = f"{a.shares:,.6f}" if fractional else f"{int(a.shares):,d}"
        table.add_row(a.symbol, f"{a.weight:.2%}", f"{a.dollars:,.2f}", shares, f"{a.price:,.2f}")
    console.print(table)
    if result.trades:
        trades = Table(title="trades", title_justify="left")
        for name in ("symbol", "side", "shares", "dollars"):
            trades.add_column(name, justify="left" if name in ("symbol", "side") else "right")
        for t in result.trades:
            trades.add_row(t.symbol, t.side, f"{abs(t.shares):,.6g}", f"{abs(t.dollars):,.2f}")
        console.print(trades)
    proven = (
        "proven optimal"
        if result.status == "optimal"
        else f"NOT proven optimal (gap {result.gap:.2%}, bound {result.best_bound:.6g})"
    )
    console.print(
        f"{len(result.allocations)} positions, invested {result.invested:,.2f} of "
        f"{result.capital:,.2f}, cash {result.cash:,.2f}, costs {result.costs:,.2f}, turnover "
        f"{result.turnover:.2%}; objective {result.objective:.6g} ({result.solver}, {proven})"
    )


__all__ = [
    "OBJECTIVES",
    "ModelOptions",
    "build_objective",
    "model_result_to_json",
    "print_infeasible",
    "render_model_table",
    "solve_model",
]
