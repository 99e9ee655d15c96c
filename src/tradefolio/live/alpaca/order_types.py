"""Which orders Alpaca places natively, and the alpaca-py request that places each one.

Native forms (Alpaca's trading API, US equities):

* **simple orders**: ``market``, ``limit``, ``stop``, ``stop_limit`` and ``trailing_stop``
  (``trail_percent`` is sent in Alpaca's unit, percent: our 0.05 is ``5``; ``trail_amount``
  is Alpaca's ``trail_price``), each with time in force ``day`` or ``gtc``;
* **OCO** (``order_class=oco``): two exits of one position, same symbol, side and
  quantity — a take-profit ``limit`` and a protective ``stop`` or ``stop_limit``. Alpaca
  holds it as one order: the limit is the parent (its client id is the take-profit's), the
  stop its one leg; a fill of either cancels the other at the venue;
* **bracket** (``order_class=bracket``): a ``market`` or ``limit`` entry with a
  take-profit ``limit`` and a ``stop``/``stop_limit`` loss, the two legs held until the
  entry fills and then one-cancels-other; **OTO** (``order_class=oto``): an entry with one
  such exit;
* **replace** (``PATCH /v2/orders/{id}``): a new quantity, limit / stop price, trail or time
  in force for an open order, under a new client order id (the old order becomes
  ``replaced``).

An exit of an OCO group submitted alone (`AlpacaBroker.submit`) is placed as a simple
order, and the one-cancels-other rule is then the trader's (it cancels the peers when one
fills). Alpaca reserves a position's shares for its open sell orders, so a second sell exit
over the same shares is refused ("insufficient qty available", `OrderRejected`): two exits
of one position go together through `AlpacaBroker.submit_group`, as one native OCO.

Prices go on Alpaca's tick ($0.01 at or above $1, $0.0001 below; Alpaca refuses sub-penny
prices): a sell's round up, a buy's down (`venue_price`), so a limit never gets a worse price
and a stop never triggers later than asked; the report carries the price Alpaca holds.

Not native — `native_problem` / `plan_group` say why and `NotNative` carries the reason
(the order is refused before anything is sent; `live` refuses the session's own exits
of this kind at the start: a trailing stop with a stop or a take-profit):

* a fractional quantity with anything but a ``day`` ``market`` order (Alpaca trades
  fractional shares only as simple day market orders), or inside an order class;
* a trailing stop inside an OCO, bracket or OTO (Alpaca's ``stop_loss`` leg takes only
  ``stop_price`` and ``limit_price``); an OCO group of more than two exits (e.g. stop +
  take-profit + trailing stop); two stops or two limits in one group; exits of different
  symbols, sides, quantities or times in force;
* a bracket whose entry is a stop, stop-limit or trailing stop;
* replacing an order's type, side or symbol (that is cancel + submit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from tradefolio.errors import NotNative, OrderRejected
from tradefolio.execution.orders import OrderType, TimeInForce
from tradefolio.live.alpaca.client import Sdk
from tradefolio.live.orders import BrokerOrder, OrderRequest, Side

#: Exit order types Alpaca takes as a ``stop_loss`` leg.
_STOP_LEGS = (OrderType.STOP, OrderType.STOP_LIMIT)


@dataclass(frozen=True, slots=True)
class Group:
    """A group Alpaca places as one order: its class, the order whose client id the venue
    holds (`parent`) and the exits that become its legs (`take_profit`, `stop_loss`)."""

    order_class: str  # "oco", "bracket" or "oto"
    parent: OrderRequest
    take_profit: OrderRequest | None
    stop_loss: OrderRequest | None

    @property
    def legs(self) -> dict[str, OrderRequest]:
        """The exits held as legs of `parent`, by role ("take_profit", "stop_loss")."""
        legs = {"take_profit": self.take_profit, "stop_loss": self.stop_loss}
        if self.order_class == "oco":
            del legs["take_profit"]  # the parent itself
        return {role: order for role, order in legs.items() if order is not None}


def _fractional(quantity: Decimal) -> bool:
    return quantity != quantity.to_integral_value()


def venue_price(price: Decimal, side: Side) -> Decimal:
    """`price` on Alpaca's tick ($0.01 at or above $1, $0.0001 below): a sell's prices round
    up, a buy's down — a limit never gets a worse price, a stop triggers no later (a sell
    stop at 54.796 rests at 54.80), so an order is never less protective than asked."""
    tick = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    rounding = ROUND_CEILING if side is Side.SELL else ROUND_FLOOR
    return (price / tick).to_integral_value(rounding=rounding) * tick


def native_problem(order: OrderRequest) -> str | None:
    """Why `order`, alone, has no native Alpaca form (None: it has one). An exit of an OCO
    group submitted alone is placed as a simple order (its group is then the trader's to
    enforce: it cancels the peers when one fills)."""
    return _terms_problem(order)


def _terms_problem(order: OrderRequest) -> str | None:
    """Why `order`'s quantity or prices have no native form (whatever its group)."""
    if _fractional(order.quantity) and (
        order.type is not OrderType.MARKET or order.time_in_force is not TimeInForce.DAY
    ):
        return (
            f"fractional quantity {order.quantity} with a {order.time_in_force.value} "
            f"{order.type.value} order (Alpaca: fractional shares only as day market orders)"
        )
    return None


def _exit_problem(order: OrderRequest) -> str | None:
    if order.type is OrderType.TRAILING_STOP:
        return "a trailing stop cannot be a leg of an OCO, bracket or OTO order at Alpaca"
    if _fractional(order.quantity):
        return f"fractional quantity {order.quantity} inside an order class"
    return _terms_problem(order)


def _split_exits(exits: Sequence[OrderRequest]) -> tuple[OrderRequest | None, OrderRequest | None]:
    """(take-profit limit, stop loss) of `exits`; `NotNative` when they are not one of each
    (or one of them)."""
    limits = [o for o in exits if o.type is OrderType.LIMIT]
    stops = [o for o in exits if o.type in _STOP_LEGS]
    for order in exits:
        problem = _exit_problem(order)
        if problem is not None:
            raise NotNative(order.client_order_id, problem)
    if len(limits) > 1 or len(stops) > 1 or len(limits) + len(stops) != len(exits):
        kinds = ", ".join(o.type.value for o in exits)
        raise NotNative(
            exits[0].client_order_id,
            f"an exit group of {kinds}: Alpaca's order classes hold at most one take-profit "
            "limit and one stop / stop-limit",
        )
    return (limits[0] if limits else None), (stops[0] if stops else None)


def _same(orders: Sequence[OrderRequest], what: str, names: Sequence[str]) -> None:
    first = orders[0]
    for other in orders[1:]:
        for name in names:
            if getattr(other, name) != getattr(first, name):
                raise NotNative(
                    other.client_order_id,
                    f"{what} of different {name.replace('_', ' ')}s "
                    f"({getattr(first, name)} and {getattr(other, name)})",
                )


def plan_group(orders: Sequence[OrderRequest]) -> Group:
    """The native order class of `orders`, or `NotNative` saying why there is none.

    `orders` is either an entry followed by its exits (each exit's `parent_id` is the
    entry's client id): a bracket (take-profit + stop) or an OTO (one of them); or the exits
    of one OCO group (the same `oco_group`): take-profit limit + stop / stop-limit.
    """
    if not orders:
        raise ValueError("an empty order group")
    head, rest = orders[0], list(orders[1:])
    if rest and all(o.parent_id == head.client_order_id for o in rest) and head.parent_id is None:
        if head.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise NotNative(
                head.client_order_id,
                f"a bracket's entry must be market or limit at Alpaca, not {head.type.value}",
            )
        problem = _exit_problem(head) if head.type is OrderType.LIMIT else None
        if _fractional(head.quantity):
            problem = "a fractional entry cannot carry exits"
        if problem is not None:
            raise NotNative(head.client_order_id, problem)
        _same(orders, "an entry and exits", ("symbol", "quantity", "time_in_force"))
        _same(rest, "exits", ("side",))
        if rest[0].side is head.side:
            raise NotNative(head.client_order_id, "an exit on the entry's own side")
        take_profit, stop_loss = _split_exits(rest)
        kind = "bracket" if take_profit is not None and stop_loss is not None else "oto"
        return Group(kind, head, take_profit, stop_loss)
    group = head.oco_group
    if group is None or any(o.oco_group != group for o in orders) or len(orders) != 2:
        raise NotNative(
            head.client_order_id,
            "a group is an entry with its exits (parent_id) or the two exits of one OCO "
            f"group; got {len(orders)} order(s) of OCO groups "
            f"{sorted({str(o.oco_group) for o in orders})}",
        )
    _same(orders, "OCO exits", ("symbol", "side", "quantity", "time_in_force"))
    take_profit, stop_loss = _split_exits(orders)
    if take_profit is None or stop_loss is None:
        raise NotNative(head.client_order_id, "an OCO needs a take-profit limit and a stop")
    return Group("oco", take_profit, take_profit, stop_loss)


def sdk_number(value: Decimal, what: str, client_order_id: str) -> float:
    """`value` as the float alpaca-py's request models hold, refused (`OrderRejected`)
    unless the float is exactly the decimal (Decimal → float → repr is the identity)."""
    number = float(value)
    if Decimal(repr(number)) != value:
        raise OrderRejected(
            f"{client_order_id}: {what} {value} is not exactly representable in alpaca-py's request"
        )
    return number


def _side(sdk: Sdk, side: Side) -> Any:
    return sdk.order_side.BUY if side is Side.BUY else sdk.order_side.SELL


def _tif(sdk: Sdk, tif: TimeInForce) -> Any:
    return sdk.time_in_force.GTC if tif is TimeInForce.GTC else sdk.time_in_force.DAY


def _price_fields(order: OrderRequest) -> dict[str, float]:
    cid = order.client_order_id
    fields: dict[str, float] = {}
    if order.limit_price is not None:
        limit = venue_price(order.limit_price, order.side)
        fields["limit_price"] = sdk_number(limit, "limit_price", cid)
    if order.stop_price is not None:
        stop = venue_price(order.stop_price, order.side)
        fields["stop_price"] = sdk_number(stop, "stop_price", cid)
    if order.trail_percent is not None:  # Alpaca's unit is percent
        fields["trail_percent"] = sdk_number(order.trail_percent * 100, "trail_percent", cid)
    if order.trail_amount is not None:  # a distance: rounded down, a trail no looser
        trail = max(venue_price(order.trail_amount, Side.BUY), Decimal("0.01"))
        fields["trail_price"] = sdk_number(trail, "trail_amount", cid)
    return fields


def _request_class(sdk: Sdk, kind: OrderType) -> Any:
    return {
        OrderType.MARKET: sdk.market_order_request,
        OrderType.LIMIT: sdk.limit_order_request,
        OrderType.STOP: sdk.stop_order_request,
        OrderType.STOP_LIMIT: sdk.stop_limit_order_request,
        OrderType.TRAILING_STOP: sdk.trailing_stop_order_request,
    }[kind]


def order_request(sdk: Sdk, order: OrderRequest) -> Any:
    """The alpaca-py request placing `order` alone; `NotNative` when it has no native form."""
    problem = native_problem(order)
    if problem is not None:
        raise NotNative(order.client_order_id, problem)
    return _request(sdk, order)


def _request(sdk: Sdk, order: OrderRequest, **order_class: Any) -> Any:
    """The SDK's request model for `order`'s type, with `order_class` fields (legs)."""
    return _request_class(sdk, order.type)(
        symbol=order.symbol,
        qty=sdk_number(order.quantity, "quantity", order.client_order_id),
        side=_side(sdk, order.side),
        time_in_force=_tif(sdk, order.time_in_force),
        client_order_id=order.client_order_id,
        **_price_fields(order),
        **order_class,
    )


def group_request(sdk: Sdk, group: Group) -> Any:
    """The alpaca-py request placing `group` as one order of its class."""
    parent = group.parent
    legs: dict[str, Any] = {}
    if group.take_profit is not None:
        take_profit = _price_fields(group.take_profit)
        legs["take_profit"] = sdk.take_profit_request(limit_price=take_profit["limit_price"])
    if group.stop_loss is not None:
        stop = group.stop_loss
        legs["stop_loss"] = sdk.stop_loss_request(**_price_fields(stop))
    return _request(sdk, parent, order_class=sdk.order_class(group.order_class), **legs)


def replace_request(sdk: Sdk, current: BrokerOrder, new: OrderRequest) -> Any:
    """The alpaca-py request turning `current` into `new` (quantity, prices, trail, time in
    force; `new`'s client id); `NotNative` when `new` changes what Alpaca cannot replace."""
    for name in ("symbol", "side", "type"):
        if getattr(new, name) != getattr(current, name):
            raise NotNative(
                new.client_order_id,
                f"replacing the {name} of {current.client_order_id} (cancel and submit instead)",
            )
    if (new.trail_percent is None) != (current.trail_percent is None):
        raise NotNative(new.client_order_id, "switching a trail between percent and amount")
    problem = _terms_problem(new)
    if problem is not None:
        raise NotNative(new.client_order_id, problem)
    cid = new.client_order_id
    fields: dict[str, Any] = {"client_order_id": cid}
    if new.quantity != current.quantity:
        if _fractional(new.quantity):
            raise NotNative(cid, f"a fractional replacement quantity {new.quantity}")
        fields["qty"] = int(new.quantity)
    if new.time_in_force != current.time_in_force:
        fields["time_in_force"] = _tif(sdk, new.time_in_force)
    prices = _price_fields(new)
    for name in ("limit_price", "stop_price"):
        if name in prices and getattr(new, name) != getattr(current, name):
            fields[name] = prices[name]
    trail = prices.get("trail_percent", prices.get("trail_price"))
    if trail is not None and (new.trail_percent, new.trail_amount) != (
        current.trail_percent,
        current.trail_amount,
    ):
        fields["trail"] = trail
    return sdk.replace_order_request(**fields)


__all__ = [
    "Group",
    "NotNative",
    "group_request",
    "native_problem",
    "order_request",
    "plan_group",
    "replace_request",
    "sdk_number",
    "venue_price",
]
