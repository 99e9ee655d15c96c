"""tradefolio: scores become MIP-optimal weights, weights become sized positions.

    import tradefolio as tf

    plan = tf.allocate(objective="mean-variance", risk_aversion=5, sector_cap=0.35)
    run = tf.backtest(strategy="sma-cross", fast=20, slow=50)

The names of `tradefolio.api` (`tf.allocate`, `tf.backtest`, `tf.sweep`,
`tf.walk_forward`, `tf.load_prices`, `tf.sample_prices`, the strategy protocols
(vectorised and event-driven), the order types, the sizers, the model's objectives and
constraints) are re-exported here and imported on first use, so `import tradefolio`
stays light (no pandas, no solver) and the CLI starts fast.

Areas (see ARCHITECTURE.md): data -> indicators -> portfolio -> execution ->
backtest / live / reporting -> research -> api -> cli. Lower areas never import higher ones.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from tradefolio.api import EXPORTS, exported
from tradefolio.errors import (
    AccountMismatch,
    BrokerError,
    DataError,
    DuplicateClientOrderId,
    IgnoredInput,
    InfeasibleAllocation,
    InvalidParameter,
    InvalidTransition,
    JournalDamaged,
    JournalError,
    JournalPathError,
    MarketDataUnavailable,
    MissingExtra,
    MissingSolverExtra,
    NotNative,
    OrderRejected,
    ProviderError,
    RebalanceFailed,
    ReconciliationError,
    SolverError,
    SolverUnavailable,
    SolverUnsuited,
    StrategyError,
    SubmitOutcomeUnknown,
    SubmitRefused,
    TradefolioError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from tradefolio.api.allocation import allocate
    from tradefolio.api.backtesting import backtest
    from tradefolio.api.prices import (
        load_prices,
        price_panel,
        sample_benchmark,
        sample_prices,
        sample_sectors,
    )
    from tradefolio.api.research import sweep, walk_forward
    from tradefolio.api.results import (
        AllocationResult,
        BacktestResult,
        SweepResult,
        WalkForwardResult,
    )
    from tradefolio.backtest.config import BacktestConfig
    from tradefolio.backtest.strategies import (
        BuyAndHold,
        MomentumRotation,
        PortfolioRebalance,
        SmaCross,
        SmaCrossEvents,
    )
    from tradefolio.data.panel import PricePanel
    from tradefolio.execution.events import BarContext, EventStrategy
    from tradefolio.execution.orders import (
        Order,
        OrderEvent,
        OrderStatus,
        OrderType,
        ProtectiveExits,
        TimeInForce,
        bracket,
    )
    from tradefolio.execution.sizing import (
        BetaSizer,
        CommissionEstimate,
        PortfolioWeightSizer,
        PositionSizer,
        RiskBasedSizer,
        SizingRequest,
    )
    from tradefolio.execution.strategy import Enter, Exit, Rebalance, SignalPlan, Strategy
    from tradefolio.portfolio.constraints import (
        Budget,
        Cardinality,
        Constraint,
        MinimumTrade,
        PositionLimits,
        SectorCaps,
        TransactionCosts,
        Turnover,
        WholeShares,
    )
    from tradefolio.portfolio.context import make_universe
    from tradefolio.portfolio.covariance import (
        period_returns,
        risk_model,
        risk_model_from_covariance,
    )
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
    from tradefolio.portfolio.params import AllocatorParams
    from tradefolio.portfolio.scoring import score_universe
    from tradefolio.portfolio.types import Candidate

__version__ = "0.1.0"


class _Package(types.ModuleType):
    """The `tradefolio` module: an API function beats a subpackage of the same name.

    Importing `tradefolio.backtest` (the engine's package) makes Python set the attribute
    `tradefolio.backtest` to that package, which would hide `tf.backtest(...)`, the
    function. The package stays importable by its full name (`sys.modules` keeps it);
    only the attribute is left to the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    return exported(__name__, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *EXPORTS])


sys.modules[__name__].__class__ = _Package

__all__ = [
    "AccountMismatch",
    "AllocationResult",
    "AllocatorParams",
    "BacktestConfig",
    "BacktestResult",
    "BarContext",
    "BetaSizer",
    "BrokerError",
    "Budget",
    "BuyAndHold",
    "CVaR",
    "Candidate",
    "Cardinality",
    "CommissionEstimate",
    "Constraint",
    "DataError",
    "DuplicateClientOrderId",
    "Enter",
    "EventStrategy",
    "Exit",
    "IgnoredInput",
    "InfeasibleAllocation",
    "InvalidParameter",
    "InvalidTransition",
    "JournalDamaged",
    "JournalError",
    "JournalPathError",
    "Kelly",
    "MarketDataUnavailable",
    "MeanAbsoluteDeviation",
    "MeanVariance",
    "MinVariance",
    "MinimumTrade",
    "MissingExtra",
    "MissingSolverExtra",
    "MomentumRotation",
    "NotNative",
    "Objective",
    "Order",
    "OrderEvent",
    "OrderRejected",
    "OrderStatus",
    "OrderType",
    "PortfolioModel",
    "PortfolioRebalance",
    "PortfolioWeightSizer",
    "PositionLimits",
    "PositionSizer",
    "PricePanel",
    "ProtectiveExits",
    "ProviderError",
    "Rebalance",
    "RebalanceFailed",
    "ReconciliationError",
    "RiskBasedSizer",
    "ScoreObjective",
    "SectorCaps",
    "SignalPlan",
    "SizingRequest",
    "SmaCross",
    "SmaCrossEvents",
    "SolverError",
    "SolverUnavailable",
    "SolverUnsuited",
    "Strategy",
    "StrategyError",
    "SubmitOutcomeUnknown",
    "SubmitRefused",
    "SweepResult",
    "TimeInForce",
    "TradefolioError",
    "TransactionCosts",
    "Turnover",
    "WalkForwardResult",
    "WholeShares",
    "__version__",
    "allocate",
    "backtest",
    "bracket",
    "load_prices",
    "make_universe",
    "period_returns",
    "price_panel",
    "risk_model",
    "risk_model_from_covariance",
    "sample_benchmark",
    "sample_prices",
    "sample_sectors",
    "score_universe",
    "sweep",
    "walk_forward",
]
