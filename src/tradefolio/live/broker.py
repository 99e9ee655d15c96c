"""The `Broker` protocol: the venue seen from the live trader, and its failure vocabulary.

Two errors carry meaning for exactly-once submission:

* `SubmitOutcomeUnknown` — the request may or may not have reached the venue (timeout,
  connection reset, 5xx, 429 after the SDK gave up). The trader never resends blindly; it
  looks the order up by client id.
  `SubmitRefused` (429/503) is the kind a lookup may prove was not placed: it is retried.
* `DuplicateClientOrderId` — the venue already has an order with this client id (typically
  the first attempt of a submit whose answer was lost). It means "look it up", not failure.

Orders carry their terms (`live.orders.OrderTerms`: type, limit / stop price, trail, time in
force, `parent_id`, `oco_group`). The trader submits a protective exit only once its entry
has a fill (its `parent_id` names the entry), so a venue never holds an inactive child.
Orders sharing an `oco_group` are one-cancels-other: when one of them fills (even in
part), the others are canceled — by the venue where it has a native form, and in every
case by the trader on seeing the fill (canceling a finished order is a no-op).

`Broker.batch()` groups the submits of one bar: a venue that can accept them together (the
paper broker: one durable commit instead of one per order) does so; a remote venue, where
every submit is its own request, does nothing. Reports returned inside the block are
provisional until it exits normally — the trader records them in its journal only after.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradefolio.errors import (
    DuplicateClientOrderId,
    OrderRejected,
    SubmitOutcomeUnknown,
    SubmitRefused,
)
from tradefolio.live.orders import BrokerOrder, OrderRequest


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position as the broker reports it."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """Cash and equity as the broker reports them."""

    cash: Decimal
    equity: Decimal


@runtime_checkable
class Broker(Protocol):
    """A venue the live trader sends orders to (market, limit, stop, stop-limit, trailing
    stop; DAY or GTC; OCO groups of protective exits)."""

    def submit(self, order: OrderRequest) -> BrokerOrder:
        """Place `order` once, with its terms (a venue that cannot place a type raises
        `OrderRejected` saying so). Raises `SubmitOutcomeUnknown`, `DuplicateClientOrderId` or
        `OrderRejected`; never retries by itself."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """A block of submits the venue may make durable together, at its normal exit (a
        crash inside it: as if none was sent). A no-op where each submit is a request."""
        ...

    def cancel(self, client_order_id: str) -> None:
        """Request cancellation of an open order (a finished or unknown one: a no-op)."""
        ...

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, or None if the broker has never seen it."""
        ...

    def confirm_absent(
        self, client_order_id: str, *, placed_after: datetime, missing_since: datetime
    ) -> bool:
        """True only when the venue says with certainty that it holds no order with this
        id and never will: a lookup that comes back empty is not enough where a request
        can still be processed late. `placed_after` bounds when the order could have been
        sent (its plan's time); `missing_since` is when it was first looked up in vain.
        Any failure to ask is False (not certain)."""
        ...

    def open_orders(self) -> list[BrokerOrder]:
        """Orders that are not yet filled, canceled or rejected."""
        ...

    def positions(self) -> list[BrokerPosition]:
        """Non-zero positions."""
        ...

    def account(self) -> BrokerAccount:
        """Cash and equity."""
        ...

    def fills_since(self, since: datetime) -> list[BrokerOrder]:
        """Cumulative execution reports of every order with a fill updated at or after
        `since` (UTC), oldest first."""
        ...


@runtime_checkable
class NativeGroups(Protocol):
    """A venue that places the exits of one OCO group as one native order (Alpaca's
    ``order_class=oco``: a venue that holds a position's shares for its open sells refuses
    a second, independent sell over them) and re-learns such a group after a restart, when
    it holds legs under ids of its own (`AlpacaBroker`). The paper broker matches OCO
    groups itself; any other broker gets the exits one by one, the trader cancelling the
    rest of a group when one fills."""

    def submit_group(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder]:
        """Place `orders` (the exits of one OCO group) as one native order, once; their
        reports in the order given. Raises as `Broker.submit` does, and `NotNative` (nothing
        sent) when the group has no native form."""
        ...

    def track(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder] | None:
        """The reports of a group placed by `submit_group` (its legs re-learned), or None
        when the venue does not hold it."""
        ...


__all__ = [
    "Broker",
    "BrokerAccount",
    "BrokerPosition",
    "DuplicateClientOrderId",
    "NativeGroups",
    "OrderRejected",
    "SubmitOutcomeUnknown",
    "SubmitRefused",
]
