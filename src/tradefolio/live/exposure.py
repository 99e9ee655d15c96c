"""Working exposure: what the book holds *plus* what its open orders may still add or remove.

Sizing on filled positions alone stacks exposure whenever orders rest unfilled (a closed
market, a partial fill, a submit whose outcome is unknown): every bar sizes the same entry
again. The live trader therefore plans on the working exposure of every symbol:

    working(s) = filled(s) + Σ_open buys (qty − filled) − Σ_open sells (qty − filled)

where an *open* order is any order the journal has not closed: PENDING_SUBMIT of an earlier
bar, UNKNOWN (it may be at the venue), SUBMITTED and PARTIALLY_FILLED. The cash its open
buys may still spend is reserved:

    reserved = Σ_open buys cost(qty − filled at the current mark, with slippage and commission)

and the cash free for new buys is ``cash − reserved``. What may be sold without ever going
short is ``sellable(s) = max(filled(s) − Σ_open sells (qty − filled), 0)``: a sell is never
sized against units an open buy has not delivered yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from tradefolio.live.orders import TERMINAL_STATUSES, JournalOrder, Side

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class WorkingExposure:
    """Filled positions and the unfilled remainder of the open orders, per symbol."""

    filled: Mapping[str, Decimal]
    open_buy: Mapping[str, Decimal] = field(default_factory=dict)
    open_sell: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, filled: Mapping[str, Decimal], orders: Iterable[JournalOrder]) -> WorkingExposure:
        """The exposure of `filled` positions with `orders` (terminal ones are ignored)."""
        buys: dict[str, Decimal] = {}
        sells: dict[str, Decimal] = {}
        for order in orders:
            if order.status in TERMINAL_STATUSES:
                continue
            remaining = order.quantity - order.filled_quantity
            if remaining <= 0:
                continue
            book = buys if order.side is Side.BUY else sells
            book[order.symbol] = book.get(order.symbol, _ZERO) + remaining
        return cls(dict(filled), buys, sells)

    def position(self, symbol: str) -> Decimal:
        """Working position: filled plus open buys minus open sells (unfilled parts)."""
        return (
            self.filled.get(symbol, _ZERO)
            + self.open_buy.get(symbol, _ZERO)
            - self.open_sell.get(symbol, _ZERO)
        )

    def sellable(self, symbol: str) -> Decimal:
        """Units that may still be sold without the book going short, whatever fills."""
        return max(self.filled.get(symbol, _ZERO) - self.open_sell.get(symbol, _ZERO), _ZERO)

    def has_open(self, symbol: str, side: Side) -> bool:
        """Whether an open order on `symbol` in direction `side` still has units to fill."""
        book = self.open_buy if side is Side.BUY else self.open_sell
        return book.get(symbol, _ZERO) > 0

    def symbols(self) -> set[str]:
        """Every symbol held or with an open order."""
        return set(self.filled) | set(self.open_buy) | set(self.open_sell)


__all__ = ["WorkingExposure"]
