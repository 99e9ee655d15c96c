"""Orders as frozen values: market, limit, stop, stop-limit, trailing stop; DAY / GTC; brackets.

Every order carries a `client_order_id` (the idempotency key a venue sees); every change of
its state is an `OrderEvent` value (submitted, filled, canceled, expired, replaced). Nothing
here matches or fills: the backtest's `matching` module and the live brokers do that, with
the same meaning for each field:

- `market`: fills at the next price the venue has (the bar's open in the backtest).
- `limit`: a buy fills at `limit_price` or lower, a sell at `limit_price` or higher.
- `stop`: becomes a market order once the price trades at `stop_price` (a sell at or below
  it, a buy at or above it).
- `stop_limit`: becomes a limit order at `limit_price` once `stop_price` trades.
- `trailing_stop`: a sell stop `trail_percent` (a fraction: 0.05 = 5%) or `trail_amount`
  below the highest close seen since it became active (a buy stop above the lowest close);
  it only ever moves in the trader's favour.
- `time_in_force`: `DAY` lives for the bar it is first active on, `GTC` until filled or
  canceled.
- `parent_id`: a bracket child, inactive until its parent fills (from the next bar on in
  the backtest); `oco_group`: when one order of the group fills, the others are canceled.

Orders are built with `Order(...)` (keywords for the prices); `bracket(...)` builds
entry + protective stop + optional take-profit, the two exits one
OCO group. `ProtectiveExits` describes exits *relative to an entry's fill price* (the
`--stop-loss`, `--take-profit`, `--trailing-stop` options); an engine turns it into
concrete child orders when the entry fills.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Literal

from tradefolio.errors import InvalidParameter
from tradefolio.execution.money import MICRO_QUANTUM, exact

OrderSide = Literal["buy", "sell"]


class OrderType(StrEnum):
    """How an order is priced."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    """How long an order lives."""

    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    """The states an order passes through (an `OrderEvent` records each)."""

    SUBMITTED = "submitted"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"


def _positive_price(name: str, value: Decimal | None, order_id: str) -> None:
    if value is None or not value.is_finite() or value <= 0:
        raise InvalidParameter(f"order {order_id}: {name} must be a price > 0, got {value}")


def check_terms(
    cid: str,
    order_type: OrderType,
    *,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    trail_percent: Decimal | None,
    trail_amount: Decimal | None,
) -> None:
    """Raise `InvalidParameter` unless the prices fit the order type: a limit price exactly
    for limit and stop-limit, a stop price exactly for stop and stop-limit, exactly one
    trail (a fraction in (0, 1) or an amount > 0) for a trailing stop, all prices > 0.
    The one rule for the backtest's `Order` and the live trader's `OrderRequest`."""
    kind = order_type
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        _positive_price("limit_price", limit_price, cid)
    elif limit_price is not None:
        raise InvalidParameter(f"order {cid}: a {kind} order takes no limit_price")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        _positive_price("stop_price", stop_price, cid)
    elif stop_price is not None:
        raise InvalidParameter(f"order {cid}: a {kind} order takes no stop_price")
    if kind is OrderType.TRAILING_STOP:
        given = [v for v in (trail_percent, trail_amount) if v is not None]
        if len(given) != 1:
            raise InvalidParameter(
                f"order {cid}: a trailing stop needs exactly one of trail_percent, trail_amount"
            )
        if trail_percent is not None and not 0 < trail_percent < 1:
            raise InvalidParameter(
                f"order {cid}: trail_percent must be in (0, 1), got {trail_percent}"
            )
        if trail_amount is not None and not trail_amount > 0:
            raise InvalidParameter(f"order {cid}: trail_amount must be > 0, got {trail_amount}")
    elif trail_percent is not None or trail_amount is not None:
        raise InvalidParameter(f"order {cid}: only a trailing stop takes a trail")


@dataclass(frozen=True, slots=True)
class Order:
    """One order (see the module docstring for what each field means)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: int
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_amount: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    parent_id: str | None = None
    oco_group: str | None = None

    def __post_init__(self) -> None:
        for name in ("limit_price", "stop_price", "trail_percent", "trail_amount"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise InvalidParameter(f"order {self.client_order_id}: {name} {value!r}")
                object.__setattr__(self, name, exact(value))  # a number as an exact price
        cid = self.client_order_id
        if not cid:
            raise InvalidParameter("an order needs a non-empty client_order_id")
        if self.side not in ("buy", "sell"):
            raise InvalidParameter(f"order {cid}: side must be buy or sell, got {self.side!r}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidParameter(f"order {cid}: quantity must be whole units")
        if self.quantity <= 0:
            raise InvalidParameter(f"order {cid}: quantity must be > 0, got {self.quantity}")
        check_terms(
            cid,
            self.type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            trail_percent=self.trail_percent,
            trail_amount=self.trail_amount,
        )

    def replaced(
        self,
        client_order_id: str,
        *,
        quantity: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """The replacement of this order (a new id; the fields not given stay)."""
        return replace(
            self,
            client_order_id=client_order_id,
            quantity=self.quantity if quantity is None else quantity,
            limit_price=self.limit_price if limit_price is None else limit_price,
            stop_price=self.stop_price if stop_price is None else stop_price,
        )


def _price(value: float | Decimal | str) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _exit(
    parent: str, role: str, symbol: str, quantity: int, kind: OrderType, **prices: Decimal
) -> Order:
    """A protective sell child of `parent` (id `<parent>-<role>`, OCO group `<parent>-oco`)."""
    return Order(
        f"{parent}-{role}",
        symbol,
        "sell",
        quantity,
        kind,
        parent_id=parent,
        oco_group=f"{parent}-oco",
        **prices,  # type: ignore[arg-type]
    )


def bracket(
    entry: Order,
    *,
    stop_price: float | Decimal,
    take_profit_price: float | Decimal | None = None,
) -> tuple[Order, ...]:
    """Entry, then a protective stop and an optional take-profit: children of the entry,
    one OCO group (`<entry id>-oco`), active once the entry fills."""
    if entry.side != "buy":
        raise InvalidParameter("a bracket's entry is a buy (tradefolio is long-only)")
    base, symbol, quantity = entry.client_order_id, entry.symbol, entry.quantity
    children = [
        _exit(base, "stop", symbol, quantity, OrderType.STOP, stop_price=_price(stop_price))
    ]
    if take_profit_price is not None:
        children.append(
            _exit(
                base,
                "take",
                symbol,
                quantity,
                OrderType.LIMIT,
                limit_price=_price(take_profit_price),
            )
        )
    return (entry, *children)


@dataclass(frozen=True, slots=True)
class ProtectiveExits:
    """Exits placed when an entry fills, priced from its fill price `f`.

    stop at `f · (1 - stop_loss)`, take-profit limit at `f · (1 + take_profit)`, trailing
    stop `trailing_stop` (fraction) below the best close; the ones given form one OCO group
    (checked in that order within a bar). All fractions in (0, 1) (take-profit: > 0).
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "trailing_stop"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise InvalidParameter(f"--{name.replace('_', '-')} must be in (0, 1), got {value}")
        if self.take_profit is not None and not self.take_profit > 0.0:
            raise InvalidParameter(f"--take-profit must be > 0, got {self.take_profit}")

    @property
    def any(self) -> bool:
        """Whether any exit is placed."""
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop))

    def orders_for(self, entry: Order, quantity: int, fill_price: Decimal) -> tuple[Order, ...]:
        """The child orders of `entry` once `quantity` filled at `fill_price`.

        Levels are rounded half-even to the micro-unit (`money.round_micro`); a trailing
        stop's level starts at `fill · (1 - trailing_stop)` and then trails the closes.
        """
        base, symbol = entry.client_order_id, entry.symbol
        children: list[Order] = []
        if self.stop_loss is not None:
            level = _level(fill_price, 1 - exact(self.stop_loss))
            children.append(_exit(base, "stop", symbol, quantity, OrderType.STOP, stop_price=level))
        if self.take_profit is not None:
            level = _level(fill_price, 1 + exact(self.take_profit))
            children.append(
                _exit(base, "take", symbol, quantity, OrderType.LIMIT, limit_price=level)
            )
        if self.trailing_stop is not None:
            percent = exact(self.trailing_stop)
            children.append(
                _exit(
                    base, "trail", symbol, quantity, OrderType.TRAILING_STOP, trail_percent=percent
                )
            )
        return tuple(children)


def _level(price: Decimal, factor: Decimal) -> Decimal:
    return (price * factor).quantize(MICRO_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One state change of one order, at a bar (`price_micro`/`quantity` for a fill)."""

    client_order_id: str
    symbol: str
    bar: int
    status: OrderStatus
    quantity: int = 0
    price_micro: int = 0


NO_EXITS = ProtectiveExits()

__all__ = [
    "NO_EXITS",
    "Order",
    "OrderEvent",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "ProtectiveExits",
    "TimeInForce",
    "bracket",
    "check_terms",
]
