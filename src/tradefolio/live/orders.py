"""Orders of the live trader: values, the order state machine and deterministic client ids.

An order's life is a path through `OrderStatus`. `PENDING_SUBMIT` is written to the journal
*before* the order is sent; `UNKNOWN` means a submit was attempted but its outcome was not
observed (timeout, 5xx, crash). Both are resolved by looking the order up at the broker by
its `client_order_id`, which is a pure function of (run id, decision bar, symbol, side), so
a restarted trader computes the same id and a broker that enforces unique client ids turns
any resend into a duplicate instead of a second order.

An order's terms are those of `tradefolio.execution.orders.Order` (one meaning for both
engines): `type` (market, limit, stop, stop-limit, trailing stop), `limit_price`,
`stop_price`, `trail_percent` (a fraction: 0.05 = 5%) or `trail_amount`, `time_in_force`
(DAY, GTC), and for a protective exit its entry's client id (`parent_id`) and its
one-cancels-other group (`oco_group`). The defaults are a DAY market order, what the
trader sent before orders had terms.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradefolio.errors import InvalidTransition
from tradefolio.execution.orders import Order, OrderType, TimeInForce, check_terms


class Side(StrEnum):
    """Direction of an order."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell (the sign of the position change)."""
        return 1 if self is Side.BUY else -1


class OrderStatus(StrEnum):
    """States of an order, from the trader's point of view."""

    PENDING_SUBMIT = "pending_submit"  # journaled, not (known to be) sent
    UNKNOWN = "unknown"  # sent, outcome not observed; resolve by lookup
    DENIED = "denied"  # stopped by the risk engine, never sent
    SUBMITTED = "submitted"  # acknowledged by the broker
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused by the broker


TERMINAL_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED}
)
#: Orders whose existence at the broker is not established: look up before anything else.
UNRESOLVED_STATUSES = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN})

_S = OrderStatus
#: Allowed transitions. Broker-reported states may skip steps (a market order is often
#: reported FILLED on its first acknowledgement), but never leave a terminal state.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_SUBMIT: frozenset(
        {
            _S.UNKNOWN,
            _S.DENIED,
            _S.SUBMITTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.REJECTED,
        }
    ),
    _S.UNKNOWN: frozenset(
        {_S.PENDING_SUBMIT, _S.SUBMITTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED}
    ),
    _S.SUBMITTED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED}),
    _S.DENIED: frozenset(),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise `InvalidTransition` unless `current -> new` is allowed (a no-op move is allowed
    for non-terminal states, which makes repeated broker reports idempotent)."""
    if new is current and current not in TERMINAL_STATUSES:
        return
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"order cannot move from {current.value} to {new.value}")


_UNSAFE = re.compile(r"[^A-Za-z0-9]")


def client_order_id(run_id: str, bar: date, symbol: str, side: Side) -> str:
    """The deterministic client order id of the order for `symbol`/`side` decided on `bar`.

    Readable prefix (run, bar, symbol, side) plus 10 hex digits of SHA-256 over the exact
    inputs, so symbols that sanitize alike (``BRK.B``/``BRK_B``) still get distinct ids.
    At most 48 characters (Alpaca accepts 128).
    """
    digest = hashlib.sha256(f"{run_id}|{bar.isoformat()}|{symbol}|{side.value}".encode())
    readable = _UNSAFE.sub("_", symbol)[:12]
    return f"tf-{run_id[:8]}-{bar:%Y%m%d}-{readable}-{side.value[0]}-{digest.hexdigest()[:10]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTerms:
    """How an order is priced and how long it lives (keywords; see the module docstring).
    `OrderRequest`, `BrokerOrder` and `JournalOrder` carry the same terms."""

    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_amount: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    parent_id: str | None = None
    oco_group: str | None = None

    @property
    def is_protective(self) -> bool:
        """Whether this is a protective exit of an entry (a bracket child)."""
        return self.parent_id is not None

    def terms(self) -> dict[str, Any]:
        """The terms as keywords, to build another order value with the same terms."""
        return {name.name: getattr(self, name.name) for name in fields(OrderTerms)}


@dataclass(frozen=True, slots=True)
class OrderRequest(OrderTerms):
    """An order the trader wants the broker to execute (a DAY market order unless its
    terms say otherwise; the terms are checked as `execution.orders.Order` checks them)."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal

    def __post_init__(self) -> None:
        check_terms(
            self.client_order_id,
            self.type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            trail_percent=self.trail_percent,
            trail_amount=self.trail_amount,
        )

    @classmethod
    def from_order(cls, order: Order) -> OrderRequest:
        """The request that places `order` (an engine-neutral order value) as it is."""
        return cls(
            order.client_order_id,
            order.symbol,
            Side(order.side),
            Decimal(order.quantity),
            type=order.type,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            trail_percent=order.trail_percent,
            trail_amount=order.trail_amount,
            time_in_force=order.time_in_force,
            parent_id=order.parent_id,
            oco_group=order.oco_group,
        )


@dataclass(frozen=True, slots=True)
class BrokerOrder(OrderTerms):
    """What the broker reports about one order: cumulative fill quantity, the average price
    of those fills, the cumulative commission charged (0 where the broker charges none) and,
    where the broker knows it exactly, the cumulative notional; and the order's terms as
    the broker holds them (`stop_price` of a trailing stop: its current level, where the
    broker reports one)."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    status: OrderStatus
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    commission: Decimal = Decimal(0)
    notional: Decimal | None = None
    #: Cumulative Σ units · reference price the fills were slipped from, where the venue
    #: knows it (the paper venue; None elsewhere).
    reference_notional: Decimal | None = None

    @property
    def filled_notional(self) -> Decimal:
        """Cumulative notional of the fills: exact when the broker reports it, else
        average price × filled quantity."""
        if self.notional is not None:
            return self.notional
        if self.avg_fill_price is None:
            return Decimal(0)
        return self.avg_fill_price * self.filled_quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution as recorded in the journal (`quantity` > 0, direction in `side`).

    `reference_price` is the (average) price the fill was slipped from, as the venue
    reported it (None: not known); `slippage` the currency paid through the price against
    it, exact from the notionals: `notional - reference notional` for a buy, the reverse
    for a sell (0 when not known), as the backtest's `Fill.slippage`.
    """

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    at: datetime
    reference_price: Decimal | None = None
    slippage: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class JournalOrder(OrderTerms):
    """An order as the journal knows it (with its terms, as `OrderRequest` has them)."""

    client_order_id: str
    bar: date
    symbol: str
    side: Side
    quantity: Decimal
    status: OrderStatus
    broker_order_id: str | None
    filled_quantity: Decimal
    fill_notional: Decimal
    commission: Decimal
    seq: int
    #: Why the trader placed it (`journal.ROLES`; '' for an order of an older journal).
    role: str = ""

    def request(self) -> OrderRequest:
        """The request that (re)sends this order under its client id, with its terms."""
        return OrderRequest(
            self.client_order_id, self.symbol, self.side, self.quantity, **self.terms()
        )


__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "UNRESOLVED_STATUSES",
    "BrokerOrder",
    "Fill",
    "InvalidTransition",
    "JournalOrder",
    "OrderRequest",
    "OrderStatus",
    "OrderTerms",
    "OrderType",
    "Side",
    "TimeInForce",
    "check_transition",
    "client_order_id",
]
