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


class MissingExtra(TradefolioError):
    """An optional dependency is missing; the message names the `pip install` that fixes it.

    Its own branch of the hierarchy: a missing plotly is not a solver problem. The solver
    extras raise `MissingSolverExtra`, which is both this and a `SolverUnavailable`.
    `tradefolio.extras.import_extra` is the one place that raises it.
    """

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'tradefolio[{extra}]'"
        )
        self.package = package
        self.extra = extra


__all__ = [
    "AccountMismatch",
    "BrokerError",
    "DataError",
    "DuplicateClientOrderId",
    "IgnoredInput",
    "InfeasibleAllocation",
    "InvalidParameter",
    "InvalidTransition",
    "JournalDamaged",
    "JournalError",
    "JournalPathError",
    "MarketDataUnavailable",
    "MissingExtra",
    "MissingSolverExtra",
    "NotNative",
    "OrderRejected",
    "ProviderError",
    "RebalanceFailed",
    "ReconciliationError",
    "SolverError",
    "SolverUnavailable",
    "SolverUnsuited",
    "StrategyError",
    "SubmitOutcomeUnknown",
    "SubmitRefused",
    "TradefolioError",
]


class StrategyError(TradefolioError):
    """A user's strategy raised while running: the message names the bar and the symbol it
    was handling; `strategy_traceback` is the strategy's own traceback (the CLI prints it
    under the one `error:` line)."""

    def __init__(self, message: str, strategy_traceback: str = "") -> None:
        super().__init__(message)
        self.strategy_traceback = strategy_traceback


class MissingSolverExtra(MissingExtra, SolverUnavailable):
    """A solver's package (OR-Tools, highspy) is missing: both a missing extra and an
    unavailable solver, so `except SolverUnavailable` still sees it."""


class ProviderError(TradefolioError):
    """A data provider failed while running (network, service); exit code 1, not 2."""


class MarketDataUnavailable(BrokerError):
    """A market-data request got no usable answer this time (timeout, 429, 5xx); ask again."""


class AccountMismatch(BrokerError, InvalidParameter):
    """The endpoint or the account reached is not the one the explicit flag chose."""


class SubmitOutcomeUnknown(BrokerError):
    """A request's outcome was not observed; resolve it by lookup, never by resending."""


class SubmitRefused(SubmitOutcomeUnknown):
    """The venue answered a submit with "not now" (HTTP 429 or 503): most likely nothing
    was placed, but only a lookup says so; then the trader may resend under the same
    client order id (the venue's unique ids turn a late first attempt into a duplicate)."""


class DuplicateClientOrderId(BrokerError):
    """The broker already holds an order with this client order id."""


class OrderRejected(BrokerError):
    """The broker refused the order (a definitive answer: nothing was placed). With
    `retryable`, the refusal may pass on a second attempt (HTTP 422 during a venue hiccup)
    and the trader retries it within the bar under the same client order id."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class InvalidTransition(TradefolioError):
    """An order was asked to move along an edge the state machine does not have."""


class JournalError(TradefolioError):
    """The journal cannot be used: locked by another trader, newer schema, not a journal."""


class JournalPathError(JournalError, InvalidParameter):
    """`--db` names something that is not a usable journal (missing, a directory, empty,
    damaged, not SQLite, another program's SQLite, read-only): bad input, exit 2."""


class JournalDamaged(JournalPathError):
    """The journal fails its integrity check (``PRAGMA quick_check``) or is malformed."""


class NotNative(OrderRejected):
    """The venue has no native form for this order or group (Alpaca's order types); nothing
    was sent. `reason` says which rule, so the trader can manage the order itself (never
    retryable as it is)."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        super().__init__(f"{client_order_id}: no native Alpaca form: {reason}", retryable=False)
        self.client_order_id = client_order_id
        self.reason = reason


class RebalanceFailed(SolverError):
    """A rebalance of the allocation policy could not be solved and the policy is
    `--on-solver-failure stop` (the message names the date and the solver's status).

    `partial`, when the backtest set it, is the run up to and including the failing
    decision's bar (the engine's result, then `tf.backtest`'s), so the record is kept."""

    partial: object | None = None


class SolverUnsuited(SolverUnavailable, InvalidParameter):
    """The solver the user chose cannot solve this model (`--solver highs` with whole
    shares, `--solver cbc` with a quadratic objective): bad input (exit 2) whose message
    names a solver that can, and still a `SolverUnavailable` for `except` clauses."""


class IgnoredInput(UserWarning):
    """A warning, not an error: part of the user's input was left out on purpose (e.g. the
    names of a covariance file that are not candidates); the message counts what and why.
    The CLI prints it as one `note:` line on stderr."""
