"""Trading costs: commission (per share and/or bps of notional, with a minimum) and slippage.

For a fill of `q` units at reference price `p` (the bar's open, or close for close-only data):

    fill price   p_f = p · (1 + s)  for a buy,  p · (1 - s)  for a sell,   s = slippage_bps / 1e4
                 (rounded half-even to the ledger's micro-unit)
    commission   c = max(minimum, per_share · q + bps / 1e4 · q · p_f)
                 (rounded half-even to the micro-unit; a sell's commission never exceeds its
                 proceeds, so a sale can never drive cash below zero)

All arithmetic is exact (`Decimal` rates on integer micro-units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from tradefolio.backtest.ledger import MICRO, Side
from tradefolio.errors import InvalidParameter

_BPS = Decimal(10_000)


def _rate(name: str, value: float | Decimal) -> Decimal:
    rate = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not rate.is_finite() or rate < 0:
        raise InvalidParameter(f"{name} must be a finite number >= 0, got {value}")
    return rate


@dataclass(frozen=True, slots=True)
class CostModel:
    """Commission and slippage parameters (all >= 0; the default costs nothing)."""

    commission_bps: float = 0.0
    commission_per_share: float = 0.0
    commission_min: float = 0.0
    slippage_bps: float = 0.0
    _bps: Decimal = field(init=False, repr=False, compare=False)
    _per_share_micro: Decimal = field(init=False, repr=False, compare=False)
    _min_micro: Decimal = field(init=False, repr=False, compare=False)
    _slippage: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        setters = object.__setattr__
        setters(self, "_bps", _rate("commission_bps", self.commission_bps) / _BPS)
        setters(
            self,
            "_per_share_micro",
            _rate("commission_per_share", self.commission_per_share) * MICRO,
        )
        setters(self, "_min_micro", _rate("commission_min", self.commission_min) * MICRO)
        setters(self, "_slippage", _rate("slippage_bps", self.slippage_bps) / _BPS)

    @property
    def free(self) -> bool:
        """True when trading costs nothing (the engine then skips the cost arithmetic)."""
        return not (self._bps or self._per_share_micro or self._min_micro or self._slippage)

    def fill_price_micro(self, reference_micro: int, side: Side) -> int:
        """Reference price moved against the trader by the slippage, in micro-units."""
        if not self._slippage:
            return reference_micro
        factor = 1 + self._slippage if side == "buy" else 1 - self._slippage
        return int((reference_micro * factor).to_integral_value(ROUND_HALF_EVEN))

    def commission_micro(self, quantity: int, price_micro: int, side: Side) -> int:
        """Commission of a fill of `quantity` at `price_micro`, in micro-units."""
        if not (self._bps or self._per_share_micro or self._min_micro):
            return 0
        notional = quantity * price_micro
        raw = self._per_share_micro * quantity + self._bps * notional
        commission = int(max(self._min_micro, raw).to_integral_value(ROUND_HALF_EVEN))
        return min(commission, notional) if side == "sell" else commission

    def affordable_quantity(self, wanted: int, price_micro: int, cash_micro: int) -> int:
        """Largest `q <= wanted` with `q · price + commission(q) <= cash` (0 if none)."""
        if wanted <= 0 or price_micro <= 0:
            return 0
        high = min(wanted, cash_micro // price_micro)
        if high * price_micro + self.commission_micro(high, price_micro, "buy") <= cash_micro:
            return high
        low = 0  # invariant: cost(low) <= cash < cost(high); commission is monotone in q
        while high - low > 1:
            middle = (low + high) // 2
            cost = middle * price_micro + self.commission_micro(middle, price_micro, "buy")
            if cost <= cash_micro:
                low = middle
            else:
                high = middle
        return low


NO_COSTS = CostModel()

__all__ = ["NO_COSTS", "CostModel"]
