"""Order matching on OHLC bars lives in `tradefolio.execution.matching` (the backtest engine
and the live paper broker use the same one); re-exported here for the backtest's callers."""

from tradefolio.execution.matching import NO_SLIP, SLIP, SLIP_TO_LIMIT, Resting, match, trail

__all__ = ["NO_SLIP", "SLIP", "SLIP_TO_LIMIT", "Resting", "match", "trail"]
