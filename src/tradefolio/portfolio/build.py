"""From `AllocateOptions` to a `PortfolioModel`: the objective and constraints the options name.

One builder for every caller that solves the composable model: `tf.allocate` /
`tradefolio allocate` (one solve), and the allocation policy that `backtest --portfolio`,
`live --portfolio` and `sweep` run at every rebalance (`portfolio/policy.py`). A flag means
the same model wherever it is passed:

    --max-weight / --min-weight   PositionLimits (or --bounds: NameBounds per name)
    --max-positions               Cardinality
    --min-invested                Budget(min_invested, 1)
    --sector-cap                  SectorCaps (the bundled GICS sectors unless given)
    --max-turnover                Turnover
    --cost-bps / --fixed-cost     TransactionCosts (in the objective; --cost-budget caps them)
    --min-trade                   MinimumTrade
    --whole-shares / --lot        WholeShares
    --objective                   ScoreObjective, MeanVariance, MinVariance, CVaR, MAD, Kelly
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from tradefolio.data.sample_data import load_sample_sectors
from tradefolio.errors import DataError
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
from tradefolio.portfolio.covariance import (
    RiskModel,
    period_returns,
    risk_model,
    risk_model_from_covariance,
    risk_model_of,
)
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import (
    CVaR,
    Kelly,
    MeanAbsoluteDeviation,
    MeanVariance,
    MinVariance,
    Objective,
    ScoreObjective,
)
from tradefolio.portfolio.options import AllocateOptions
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


def default_sectors() -> dict[str, str]:
    """Symbol -> GICS sector of the bundled sample (what `--sector-cap` uses by default)."""
    return {str(k): str(v) for k, v in load_sample_sectors().items()}


def covered_sectors(table: Mapping[str, str], symbols: Sequence[str]) -> dict[str, str]:
    """`table` if it names a sector for every symbol; else `DataError` naming the missing
    ones. A sector cap over unmapped names would cap them all together as one sector."""
    missing = [s for s in symbols if s not in table]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise DataError(
            f"--sector-cap: no sector for {shown} (the bundled sample's map unless --sectors "
            "is given); give every candidate a sector in --sectors FILE (columns symbol,sector)"
        )
    return dict(table)


def read_sectors(path: str | Path) -> dict[str, str]:
    """Symbol -> sector from a CSV `symbol,sector` (`--sectors`); `DataError` if unusable."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    frame = pd.read_csv(file, dtype=str)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"symbol", "sector"} <= set(frame.columns):
        raise DataError(f"{file}: expected columns symbol,sector")
    return dict(zip(frame["symbol"].str.strip(), frame["sector"].str.strip(), strict=True))


def own_risk(options: AllocateOptions, symbols: list[str]) -> RiskModel:
    """The user's covariance file or factor model, aligned to the candidates."""
    if options.covariance_file is not None:
        return aligned_risk(
            read_covariance(options.covariance_file), symbols, options.covariance_file
        )
    loadings, covariance, specific = options.factor_files
    assert loadings is not None and covariance is not None and specific is not None
    return aligned_risk(read_factor_model(loadings, covariance, specific), symbols, loadings)


def build_objective(
    options: AllocateOptions,
    prices: pd.DataFrame | PriceHistory,
    symbols: list[str],
    covariance: pd.DataFrame | None = None,
) -> Objective:
    """The objective `options` name, with risk estimated from `prices` over the lookback
    (or taken from the annualised `covariance` matrix, or the user's covariance file or
    factor model, when one is given). Only the last `risk_lookback + 1` rows of `prices`
    are read: a caller passing the history up to a decision bar gets no later data.
    `prices` as a `PriceHistory` (a rebalance's array view) gives the same objective."""
    if options.own_risk:
        risk = own_risk(options, symbols)
        if options.objective == "mean-variance":
            return MeanVariance(risk, options.risk_aversion)
        return MinVariance(risk, options.min_return)
    if not options.needs_history:
        return ScoreObjective()
    name = options.objective
    if name in ("mean-variance", "min-variance"):
        if covariance is not None:
            risk = risk_model_from_covariance(covariance).subset(symbols)
        elif isinstance(prices, PriceHistory):
            values = prices.returns(options.risk_lookback, symbols)
            risk = risk_model_of(values, tuple(symbols), options.covariance)
        else:
            returns = period_returns(prices, options.risk_lookback, symbols)
            risk = risk_model(returns, options.covariance)
        if name == "mean-variance":
            return MeanVariance(risk, options.risk_aversion)
        return MinVariance(risk, options.min_return)
    if isinstance(prices, PriceHistory):
        returns = prices.returns_frame(options.risk_lookback, symbols)
    else:
        returns = period_returns(prices, options.risk_lookback, symbols)
    if name == "cvar":
        return CVaR(returns, options.cvar_alpha, options.min_return)
    if name == "mad":
        return MeanAbsoluteDeviation(returns, options.min_return)
    return Kelly(returns)


def model_candidates(options: AllocateOptions, candidates: list[Candidate]) -> list[Candidate]:
    """`candidates` with the user's expected returns (`--expected-returns`) as their scores."""
    if options.expected_returns is None:
        return candidates
    mu = aligned_expected_returns(
        read_expected_returns(options.expected_returns),
        [c.symbol for c in candidates],
        options.expected_returns,
    )
    return [replace(c, score=float(m)) for c, m in zip(candidates, mu, strict=True)]


def build_constraints(
    options: AllocateOptions, symbols: Sequence[str], sectors: Mapping[str, str] | None
) -> list[Constraint]:
    """The constraints `options` name, for a universe of `symbols` (see the module table);
    `sectors` (default: the bundled sample's) is read only with a sector cap."""
    params = options.params
    constraints: list[Constraint] = [Cardinality(params.max_positions)]
    if options.bounds is not None:
        bounds = read_bounds(options.bounds)
        checked_bounds(bounds, symbols, options.bounds)
        default = (params.min_weight, params.max_weight)
        constraints.insert(0, NameBounds({s: bounds.get(s, default) for s in symbols}))
    else:
        constraints.insert(0, PositionLimits(params.max_weight, params.min_weight))
    if options.min_invested is not None:
        constraints.append(Budget(options.min_invested, 1.0))
    if options.sector_cap is not None:
        table = default_sectors() if sectors is None else dict(sectors)
        constraints.append(SectorCaps(covered_sectors(table, symbols), options.sector_cap))
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
    return constraints


def build_model(
    options: AllocateOptions,
    symbols: Sequence[str],
    prices: pd.DataFrame | PriceHistory,
    sectors: Mapping[str, str] | None = None,
    covariance: pd.DataFrame | None = None,
) -> PortfolioModel:
    """The composable model `options` describe for a universe of `symbols`, with risk
    from `prices` (see `build_objective`)."""
    constraints = build_constraints(options, symbols, sectors)
    objective = build_objective(options, prices, list(symbols), covariance)
    return PortfolioModel(objective, constraints)


__all__ = [
    "build_constraints",
    "build_model",
    "build_objective",
    "default_sectors",
    "model_candidates",
    "own_risk",
    "read_sectors",
]
