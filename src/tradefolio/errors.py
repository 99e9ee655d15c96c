"""The one exception hierarchy of tradefolio.

Every error a user can cause or meet derives from `TradefolioError`; messages name the
offending input and how to fix it, so the CLI can print them as one line.
"""

from __future__ import annotations


class TradefolioError(Exception):
    """Root of every error tradefolio raises on purpose."""


class InvalidParameter(TradefolioError, ValueError):
    """A parameter or option is out of its valid range or malformed."""


class InfeasibleAllocation(TradefolioError):
    """The allocation model has no feasible solution under the given constraints."""


class DataError(TradefolioError):
    """Input data (prices, candidates, holdings) is missing, malformed or inconsistent."""


class SolverUnavailable(TradefolioError):
    """The requested solver (or the package providing it) is not installed."""


class SolverError(TradefolioError):
    """The solver ran but produced no usable solution (time limit with no incumbent, ...)."""


class BrokerError(TradefolioError):
    """A broker rejected a request or could not be reached."""


class ReconciliationError(TradefolioError):
    """Journal and broker disagree in a way that cannot be explained automatically."""


class MissingExtra(SolverUnavailable):
    """An optional dependency is missing; the message names the `pip install` that fixes it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'tradefolio[{extra}]'"
        )
        self.package = package
        self.extra = extra


__all__ = [
    "BrokerError",
    "DataError",
    "InfeasibleAllocation",
    "InvalidParameter",
    "MissingExtra",
    "ReconciliationError",
    "SolverError",
    "SolverUnavailable",
    "TradefolioError",
]


class StrategyError(TradefolioError):
    """A user's strategy raised while running: the message names the bar and the symbol it
    was handling; `strategy_traceback` is the strategy's own traceback (the CLI prints it
    under the one `error:` line)."""

    def __init__(self, message: str, strategy_traceback: str = "") -> None:
        super().__init__(message)
        self.strategy_traceback = strategy_traceback
