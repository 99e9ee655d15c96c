"""The account ledger: exact cash and positions, and the fills that changed them.

Money is kept in integer micro-units (`tradefolio.execution.money`) held in Python ints:
prices quoted with up to six decimals are exact, every product `price · quantity` is exact,
and sums never round. `Decimal` views are offered for reporting; floats only leave the
ledger as analytics (equity curves, metrics).

Invariant (property-tested): at every bar, `cash + Σ quantity_j · mark_j = equity`, with
`cash >= 0` and every quantity >= 0 (long-only, no margin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from tradefolio.errors import InvalidParameter
from tradefolio.execution.money import MICRO, from_micro, to_micro

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed order: `quantity` units of `symbol` at `price_micro` on bar `bar`.

    `commission_micro` is paid on top of a buy and deducted from a sell's proceeds, so the
    cash change is `-(q · p) - c` for a buy and `+(q · p) - c` for a sell.

    `reference_micro` is the price the fill was slipped from (the cost model's reference:
    the fill bar's open for a market order, the matched trigger / limit price of a resting
    one); None when not known. The slippage paid is measured from it, exactly:
    `q · (p - r)` for a buy, `q · (r - p)` for a sell (`slippage_micro`).
    """

    bar: int
    date: date
    symbol: str
    side: Side
    quantity: int
    price_micro: int
    commission_micro: int
    client_order_id: str = ""
    reference_micro: int | None = None

    @property
    def price(self) -> Decimal:
        """Fill price (exact)."""
        return from_micro(self.price_micro)

    @property
    def commission(self) -> Decimal:
        """Commission paid (exact)."""
        return from_micro(self.commission_micro)

    @property
    def reference(self) -> Decimal | None:
        """The reference price the fill was slipped from (exact), None when not known."""
        return None if self.reference_micro is None else from_micro(self.reference_micro)

    @property
    def slippage_micro(self) -> int:
        """Currency paid through the fill price against the reference (micro-units; 0 when
        the reference is not known)."""
        if self.reference_micro is None:
            return 0
        moved = self.price_micro - self.reference_micro
        return self.quantity * (moved if self.side == "buy" else -moved)

    @property
    def slippage(self) -> Decimal:
        """`slippage_micro` as an exact `Decimal`."""
        return from_micro(self.slippage_micro)

    @property
    def cash_change_micro(self) -> int:
        """Signed change of cash caused by this fill, in micro-units."""
        notional = self.quantity * self.price_micro
        if self.side == "buy":
            return -notional - self.commission_micro
        return notional - self.commission_micro


class Ledger:
    """Cash and positions of one long-only account, in exact integer micro-units.

    Mutable by design (it is the engine's state), but only through `buy` and `sell`, which
    refuse to overdraw cash or sell more than is held.
    """

    __slots__ = ("cash_micro", "fills", "positions")

    def __init__(self, cash_micro: int) -> None:
        if cash_micro < 0:
            raise InvalidParameter(f"starting cash must be >= 0, got {from_micro(cash_micro)}")
        self.cash_micro = cash_micro
        #: Units held per symbol column index; a symbol leaves the dict when flat.
        self.positions: dict[int, int] = {}
        self.fills: list[Fill] = []

    def equity_micro(self, marks_micro: Mapping[int, int] | Sequence[int]) -> int:
        """`cash + Σ quantity_j · mark_j`, exactly; `marks_micro[j]` prices column j."""
        return self.cash_micro + sum(q * marks_micro[j] for j, q in self.positions.items())

    def buy(self, fill: Fill, column: int) -> None:
        """Apply a buy; it must not cost more than the free cash."""
        cost = fill.quantity * fill.price_micro + fill.commission_micro
        if fill.quantity <= 0 or cost > self.cash_micro:
            raise InvalidParameter(
                f"buy of {fill.quantity} {fill.symbol} costs {from_micro(cost)}, "
                f"more than cash {from_micro(self.cash_micro)}"
            )
        self.cash_micro -= cost
        self.positions[column] = self.positions.get(column, 0) + fill.quantity
        self.fills.append(fill)

    def sell(self, fill: Fill, column: int) -> None:
        """Apply a sell of at most the units held."""
        held = self.positions.get(column, 0)
        if fill.quantity <= 0 or fill.quantity > held:
            raise InvalidParameter(f"sell of {fill.quantity} {fill.symbol} exceeds {held} held")
        self.cash_micro += fill.quantity * fill.price_micro - fill.commission_micro
        remaining = held - fill.quantity
        if remaining:
            self.positions[column] = remaining
        else:
            del self.positions[column]
        self.fills.append(fill)


__all__ = ["MICRO", "Fill", "Ledger", "Side", "from_micro", "to_micro"]
