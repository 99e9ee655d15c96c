"""Money: one exact type (integer micro-units) and one float -> exact rule.

Every amount that moves cash (prices, notionals, commissions, cash) is an `int` number of
micro-units (1 micro = 1e-6 of the currency) in the backtest ledger, or a `Decimal` that is
an exact multiple of 1e-6 at the boundary to the live journal. Floats only leave as analytics.

**The float -> exact rule** (the only one in tradefolio): a float becomes the decimal its
shortest `repr` spells (`0.1` is 0.1, not 0.1000000000000000055...), then is rounded
half-even at the sixth decimal. `micro_array` applies the same rule to a whole numpy array
fast: `rint(x · 1e6)` is exact except within a hair of a half-micro tie, and those cells
(rare) are redone through `repr`.

**The rounding rule** for a computed amount (a slipped price, a commission, a fractional
notional): half-even at the micro-unit, once, where the amount is made.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt

from tradefolio.errors import InvalidParameter

#: Micro-units per currency unit.
MICRO = 1_000_000
#: One micro-unit as a `Decimal` quantum.
MICRO_QUANTUM = Decimal("0.000001")

#: An exact amount of money in integer micro-units.
Micro = int


def exact(amount: float | int | Decimal | str) -> Decimal:
    """`amount` as an exact `Decimal` (a float through its shortest repr)."""
    value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    if not value.is_finite():
        raise InvalidParameter(f"amount must be finite, got {amount}")
    return value


def round_micro(amount_micro: Decimal) -> int:
    """A computed amount already in micro-units, rounded half-even to a whole micro-unit."""
    return int(amount_micro.to_integral_value(ROUND_HALF_EVEN))


def to_micro(amount: float | int | Decimal | str) -> int:
    """`amount` in integer micro-units (the float -> exact rule of the module docstring)."""
    return round_micro(exact(amount) * MICRO)


def from_micro(micro: int) -> Decimal:
    """Micro-units back to an exact `Decimal` amount."""
    return Decimal(micro).scaleb(-6)


def micro_array(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """`to_micro` of every cell (NaN -> 0), vectorised; identical to the scalar rule."""
    scaled = values * MICRO
    if not np.isfinite(scaled.sum()):  # one reduction tells that no cell is NaN (usual)
        scaled[np.isnan(scaled)] = 0.0
    rounded = np.rint(scaled)
    result = rounded.astype(np.int64)
    # x · 1e6 and repr(x) are both within ~1e-16 relative of x's true value: only a cell
    # that close to a half-micro tie can round differently from its repr; redo those exactly.
    # A cell's distance to the tie is 0.5 - |scaled - rint(scaled)| (exact near a tie); the
    # cells within the largest cell's tolerance are found first (none, for quotes in cents:
    # one reduction says so), then held to their own.
    gap = np.subtract(scaled, rounded, out=rounded)
    np.abs(gap, out=gap)
    largest = max(float(scaled.max(initial=0.0)), -float(scaled.min(initial=0.0)))
    threshold = 0.5 - 2 * (1e-9 + 1e-12 * largest)
    if float(gap.max(initial=0.0)) > threshold:
        candidates = np.flatnonzero(gap.ravel() > threshold)
        near = scaled.ravel()[candidates]
        distance = 0.5 - gap.ravel()[candidates]
        suspects = candidates[distance < 1e-9 + 1e-12 * np.abs(near)]
        flat = result.reshape(-1)
        source = values.reshape(-1)
        for index in suspects.tolist():
            flat[index] = to_micro(float(source[index]))
    return result


__all__ = [
    "MICRO",
    "MICRO_QUANTUM",
    "Micro",
    "exact",
    "from_micro",
    "micro_array",
    "round_micro",
    "to_micro",
]
