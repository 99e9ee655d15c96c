"""tradefolio: scores become MIP-optimal weights, weights become sized positions.

Areas (see ARCHITECTURE.md): data -> indicators -> portfolio -> execution ->
backtest / live / reporting -> cli. Lower areas never import higher ones.
"""

from tradefolio.errors import (
    BrokerError,
    DataError,
    InfeasibleAllocation,
    InvalidParameter,
    ReconciliationError,
    SolverUnavailable,
    TradefolioError,
)

__version__ = "0.1.0"

__all__ = [
    "BrokerError",
    "DataError",
    "InfeasibleAllocation",
    "InvalidParameter",
    "ReconciliationError",
    "SolverUnavailable",
    "TradefolioError",
    "__version__",
]
