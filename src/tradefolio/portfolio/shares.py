"""Share counts from dollars: whole units, or fractional units floored to 1e-6.

Used wherever a weight becomes an order quantity without integer variables in the model
(the score allocation and any model whose constraints do not act on trades), so that a
target never spends more than its dollars.
"""

from __future__ import annotations

import math

#: Fractional share quantities are floored to this many decimals (never over capital).
FRACTIONAL_DECIMALS = 6
# A computed share count within this of the next integer is that integer (float round-off).
_SHARE_ROUNDING_SLACK = 1e-9


def whole_or_fractional_shares(dollars: float, price: float, fractional: bool) -> float:
    """Shares bought with `dollars` at `price`: floored to whole or to 1e-6 units."""
    raw = dollars / price
    if fractional:
        scale = 10**FRACTIONAL_DECIMALS
        return float(math.floor(raw * scale + _SHARE_ROUNDING_SLACK) / scale)
    return float(math.floor(raw + _SHARE_ROUNDING_SLACK))


__all__ = ["FRACTIONAL_DECIMALS", "whole_or_fractional_shares"]
