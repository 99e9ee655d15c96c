"""The risk engine: the one gate between the sizer and the broker.

Checks each order against `RiskLimits` and the trading state, NautilusTrader-style:

* ACTIVE — every check below applies;
* REDUCING — only orders that shrink an existing position (|position| goes down) pass;
* HALTED — nothing passes.

Checks (each limit is off when None): notional per order, notional per day (sum of the
day's accepted orders), position value after the order as a fraction of equity (only for
orders that grow the position), orders per rolling minute (wall clock, injected), and a
price band (the order's price within `price_band_pct` of the reference price, the last
trusted close). A daily-loss limit trips the state to HALTED when equity falls more than
`max_daily_loss_pct` below the day's starting equity.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tradefolio.errors import InvalidParameter
from tradefolio.live.orders import Side


class TradingState(StrEnum):
    """What the trader may do now."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits of the risk engine; None switches a check off."""

    max_order_notional: Decimal | None = None
    max_daily_notional: Decimal | None = None
    max_position_pct: Decimal | None = None
    max_orders_per_minute: int | None = None
    price_band_pct: Decimal | None = None
    max_daily_loss_pct: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_daily_notional"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidParameter(f"{name} must be > 0, got {value}")
        for name in ("max_position_pct", "price_band_pct", "max_daily_loss_pct"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise InvalidParameter(f"{name} must be in (0, 1], got {value}")
        if self.max_orders_per_minute is not None and self.max_orders_per_minute < 1:
            raise InvalidParameter(
                f"max_orders_per_minute must be >= 1, got {self.max_orders_per_minute}"
            )


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Whether an order may go out and, if not, why (one line for the journal)."""

    allowed: bool
    reason: str = ""


class RiskEngine:
    """Stateful gate: keeps the day's notional and the recent order times.

    `clock` returns seconds (monotonic) for the per-minute limit; inject a fake in tests.
    """

    def __init__(
        self,
        limits: RiskLimits | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.limits = limits or RiskLimits()
        self._clock = clock or time.monotonic
        self._day: date | None = None
        self._day_notional = Decimal(0)
        self._recent: deque[float] = deque()

    @property
    def day(self) -> date | None:
        """The day the notional counter is for (None before the first order)."""
        return self._day

    @property
    def day_notional(self) -> Decimal:
        """Notional of the orders allowed on `day` so far."""
        return self._day_notional

    def start_day(self, day: date, notional_already_sent: Decimal = Decimal(0)) -> None:
        """Reset the per-day counters (seeded from the journal after a restart)."""
        if day != self._day:
            self._day = day
            self._day_notional = notional_already_sent

    def restore(self, day: date, notional: Decimal, order_ages: list[float]) -> None:
        """Resume after a restart: `notional` already counted on `day`, and the ages
        (seconds before now) of the orders allowed within the last minute, both from the
        journal. Without this a restart would start the day, and the minute, from zero."""
        self._day = day
        self._day_notional = notional
        now = self._clock()
        self._recent = deque(sorted(now - age for age in order_ages if 0 <= age < 60.0))

    def daily_loss_breached(self, start_equity: Decimal, equity: Decimal) -> bool:
        """True when equity fell more than `max_daily_loss_pct` below the day's start."""
        limit = self.limits.max_daily_loss_pct
        if limit is None or start_equity <= 0:
            return False
        return equity < start_equity * (1 - limit)

    def check(
        self,
        *,
        state: TradingState,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        reference_price: Decimal | None,
        position: Decimal,
        equity: Decimal,
    ) -> RiskDecision:
        """Decide one order; an allowed order is counted against the day and minute."""
        limits = self.limits
        after = position + side.sign * quantity
        reducing = reduces(position, side, quantity)
        notional = quantity * price
        refusal = state_refusal(state, symbol, side, quantity, position)
        if refusal:
            return RiskDecision(False, refusal)
        band = limits.price_band_pct
        if band is not None and reference_price is not None and reference_price > 0:
            move = abs(price / reference_price - 1)
            if move > band:
                return RiskDecision(
                    False,
                    f"price {price} of {symbol} is {move:.2%} from the reference "
                    f"{reference_price} (band {band:.2%})",
                )
        if not reducing:
            if limits.max_order_notional is not None and notional > limits.max_order_notional:
                return RiskDecision(
                    False, f"order notional {notional:.2f} > max {limits.max_order_notional}"
                )
            if (
                limits.max_daily_notional is not None
                and self._day_notional + notional > limits.max_daily_notional
            ):
                return RiskDecision(
                    False,
                    f"day notional {self._day_notional + notional:.2f} > max "
                    f"{limits.max_daily_notional}",
                )
            if limits.max_position_pct is not None and equity > 0:
                share = abs(after) * price / equity
                if share > limits.max_position_pct:
                    return RiskDecision(
                        False,
                        f"{symbol} would be {share:.2%} of equity > max "
                        f"{limits.max_position_pct:.2%}",
                    )
        if limits.max_orders_per_minute is not None:
            now = self._clock()
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if len(self._recent) >= limits.max_orders_per_minute:
                return RiskDecision(
                    False, f"more than {limits.max_orders_per_minute} orders in a minute"
                )
            self._recent.append(now)
        self._day_notional += notional
        return RiskDecision(True)


def reduces(position: Decimal, side: Side, quantity: Decimal) -> bool:
    """Whether the order shrinks |position| without crossing zero."""
    after = position + side.sign * quantity
    return abs(after) < abs(position) and (after == 0 or (after > 0) == (position > 0))


def state_refusal(
    state: TradingState, symbol: str, side: Side, quantity: Decimal, position: Decimal
) -> str:
    """Why the trading state forbids the order ('' when it allows it): HALTED forbids
    everything, REDUCING everything that does not shrink the position."""
    if state is TradingState.HALTED:
        return "trading is HALTED"
    if state is TradingState.REDUCING and not reduces(position, side, quantity):
        return f"REDUCING: {side.value} {quantity} {symbol} grows the position"
    return ""


def is_finite_price(value: float) -> bool:
    """A usable price: finite and > 0."""
    return math.isfinite(value) and value > 0


__all__ = [
    "RiskDecision",
    "RiskEngine",
    "RiskLimits",
    "TradingState",
    "is_finite_price",
    "reduces",
    "state_refusal",
]
