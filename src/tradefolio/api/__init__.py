"""The public Python API: what `import tradefolio as tf` gives a notebook.

    import tradefolio as tf

    prices = tf.sample_prices()                                   # a DataFrame
    plan = tf.allocate(prices, objective="mean-variance", risk_aversion=5, sector_cap=0.35)
    plan.allocations                                              # a DataFrame by symbol
    run = tf.backtest(prices, "sma-cross", fast=20, slow=50, sizer="weight", weight=0.1)
    run.equity, run.fills, run.metrics                            # Series, DataFrame, Series
    run.tearsheet("tearsheet.html")

One module a concept: `prices` (prices in), `allocation`, `backtesting`, `research` (sweeps,
walk-forward), `results` (what comes back), `options` (allocate's options, checked once
for the CLI and the API). The API sits above the engines (research, backtest, live,
reporting) and below the CLI, whose commands call it.

Importing this package (or `tradefolio`) loads nothing heavy: each name is imported from
its module the first time it is used (`EXPORTS` says from where).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module it is defined in (re-exported by `tradefolio` and here).
EXPORTS: dict[str, str] = {
    # functions of the API
    "allocate": "tradefolio.api.allocation",
    "backtest": "tradefolio.api.backtesting",
    "sweep": "tradefolio.api.research",
    "walk_forward": "tradefolio.api.research",
    "load_prices": "tradefolio.api.prices",
    "price_panel": "tradefolio.api.prices",
    "sample_prices": "tradefolio.api.prices",
    "sample_benchmark": "tradefolio.api.prices",
    "sample_sectors": "tradefolio.api.prices",
    # what they return
    "AllocationResult": "tradefolio.api.results",
    "BacktestResult": "tradefolio.api.results",
    "SweepResult": "tradefolio.api.results",
    "WalkForwardResult": "tradefolio.api.results",
    "PricePanel": "tradefolio.data.panel",
    # the strategy protocol and the bundled strategies
    "Strategy": "tradefolio.execution.strategy",
    "SignalPlan": "tradefolio.execution.strategy",
    "Enter": "tradefolio.execution.strategy",
    "Exit": "tradefolio.execution.strategy",
    "Rebalance": "tradefolio.execution.strategy",
    "SmaCross": "tradefolio.backtest.strategies",
    "MomentumRotation": "tradefolio.backtest.strategies",
    "BuyAndHold": "tradefolio.backtest.strategies",
    "PortfolioRebalance": "tradefolio.backtest.strategies",
    "SmaCrossEvents": "tradefolio.backtest.strategies",
    # event-driven strategies and the orders they place
    "EventStrategy": "tradefolio.execution.events",
    "BarContext": "tradefolio.execution.events",
    "Order": "tradefolio.execution.orders",
    "OrderType": "tradefolio.execution.orders",
    "TimeInForce": "tradefolio.execution.orders",
    "OrderStatus": "tradefolio.execution.orders",
    "OrderEvent": "tradefolio.execution.orders",
    "ProtectiveExits": "tradefolio.execution.orders",
    "bracket": "tradefolio.execution.orders",
    "BacktestConfig": "tradefolio.backtest.config",
    # sizers
    "PositionSizer": "tradefolio.execution.sizing",
    "SizingRequest": "tradefolio.execution.sizing",
    "RiskBasedSizer": "tradefolio.execution.sizing",
    "PortfolioWeightSizer": "tradefolio.execution.sizing",
    "BetaSizer": "tradefolio.execution.sizing",
    "CommissionEstimate": "tradefolio.execution.sizing",
    # the allocation model, for those who compose their own
    "AllocatorParams": "tradefolio.portfolio.params",
    "Candidate": "tradefolio.portfolio.types",
    "score_universe": "tradefolio.portfolio.scoring",
    "PortfolioModel": "tradefolio.portfolio.model",
    "make_universe": "tradefolio.portfolio.context",
    "risk_model": "tradefolio.portfolio.covariance",
    "risk_model_from_covariance": "tradefolio.portfolio.covariance",
    "period_returns": "tradefolio.portfolio.covariance",
    "Objective": "tradefolio.portfolio.objectives",
    "ScoreObjective": "tradefolio.portfolio.objectives",
    "MeanVariance": "tradefolio.portfolio.objectives",
    "MinVariance": "tradefolio.portfolio.objectives",
    "CVaR": "tradefolio.portfolio.objectives",
    "MeanAbsoluteDeviation": "tradefolio.portfolio.objectives",
    "Kelly": "tradefolio.portfolio.objectives",
    "Constraint": "tradefolio.portfolio.constraints",
    "PositionLimits": "tradefolio.portfolio.constraints",
    "Cardinality": "tradefolio.portfolio.constraints",
    "Budget": "tradefolio.portfolio.constraints",
    "SectorCaps": "tradefolio.portfolio.constraints",
    "Turnover": "tradefolio.portfolio.constraints",
    "TransactionCosts": "tradefolio.portfolio.constraints",
    "MinimumTrade": "tradefolio.portfolio.constraints",
    "WholeShares": "tradefolio.portfolio.constraints",
}


def resolve(name: str) -> Any:
    """The object `EXPORTS[name]` names (imports its module on first use)."""
    return getattr(importlib.import_module(EXPORTS[name]), name)


def exported(module: str, name: str) -> Any:
    """The attribute `name` of the module `module` (this package or `tradefolio`) when it is
    one of `EXPORTS`, imported on first use; else Python's own `AttributeError`."""
    if name not in EXPORTS:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return resolve(name)


def __getattr__(name: str) -> Any:
    return exported(__name__, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *EXPORTS])


__all__ = sorted(EXPORTS)
