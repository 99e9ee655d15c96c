"""The strategy protocol, as the backtest's callers have always imported it.

The protocol and its intents live in `tradefolio.execution.strategy`, below the backtest
and the live trader, which both use it; this module re-exports them for existing imports.
"""

from tradefolio.execution.strategy import (
    Enter,
    Exit,
    Intent,
    Rebalance,
    SignalPlan,
    Strategy,
    decide,
)

__all__ = ["Enter", "Exit", "Intent", "Rebalance", "SignalPlan", "Strategy", "decide"]
