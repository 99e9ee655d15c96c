"""Position sizing: the one question execution asks, "how many units?".

The backtest engine and the live trader both call `PositionSizer.size(request)` with what
they know at decision time and never branch on which sizer they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

#: A quantity of units: whole shares as `int`, fractional quantities as `Decimal`.
Quantity = int | Decimal


@dataclass(frozen=True, slots=True)
class SizingRequest:
    """What the caller knows when it asks for a size.

    `equity` is cash plus all positions marked at the current price; `cash` is what is free
    to spend now; `position` is the units already held in `symbol`; `stop_price`, when
    given, replaces the sizer's default stop distance.
    """

    symbol: str
    price: float
    equity: float
    cash: float
    position: float = 0.0
    stop_price: float | None = None


@runtime_checkable
class PositionSizer(Protocol):
    """A policy answering "how many units of `symbol` should the position hold?"."""

    def size(self, request: SizingRequest) -> Quantity:
        """A non-negative number of units (int, or Decimal for fractional accounts)."""
        ...


__all__ = ["PositionSizer", "Quantity", "SizingRequest"]
