"""The average-cost position update on a fill: the one rule both live ledgers book with.

The journal's ledger (`Journal`) and the paper venue's own account (`PaperBroker`) each
keep, per symbol, the units held and their total cost, exact `Decimal`s; a fill moves both
and the cash through `book_fill`, so the trader's book and the venue's agree by
construction, not by two copies kept alike.

With signed units ``h`` (short < 0), signed cost ``C = h · avg`` and a fill of ``q > 0``
units for ``n`` (price ``p = n / q``), ``d = ±q`` and signed notional ``m = ±n`` (+ for a
buy):

* opening or adding (``h = 0`` or ``d`` has the sign of ``h``): ``h' = h + d``,
  ``C' = C + m``; the average price is the quantity-weighted mean of the fills.
* reducing (``|d| ≤ |h|``): ``h' = h + d``, ``C' = C · h' / h`` (cost leaves pro rata, the
  average price is unchanged; a position closed out has no cost left).
* flipping (``|d| > |h|``): the old position closes, the rest ``h' = h + d`` opens at the
  fill's price: ``C' = m · h' / d``.

The P&L a fill realises is what the cost basis gained minus what the fill paid,
``realised = (C' - C) - m`` (0 when opening or adding; ``(p - avg) · q`` when a sell
reduces a long), and the cash moves by ``-m - commission``: commission is a cost of the
fill, not part of the position's basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradefolio.live.orders import Side

#: Quantum of derived, informational prices (average prices); the ledger itself is exact.
PRICE_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True, slots=True)
class BookedFill:
    """A position after one fill, what the fill realised, and how it moved the cash."""

    #: Units held after the fill (signed: negative is short).
    quantity: Decimal
    #: Total cost of the units held after the fill (the sign of `quantity`; 0 when flat).
    cost: Decimal
    #: P&L the fill realised on the units it closed (before commission).
    realised_pnl: Decimal
    #: Cash change: what the fill paid or received, less its commission.
    cash_change: Decimal


def average_price(quantity: Decimal, cost: Decimal) -> Decimal:
    """Cost per unit held, quantised to `PRICE_QUANTUM` (0 when flat)."""
    if quantity == 0:
        return Decimal(0)
    return (cost / quantity).quantize(PRICE_QUANTUM)


def book_fill(
    held: Decimal,
    cost: Decimal,
    side: Side,
    quantity: Decimal,
    notional: Decimal,
    commission: Decimal,
) -> BookedFill:
    """The position (`held` units costing `cost` in all) after a fill of `quantity` (> 0)
    units on `side` for `notional` (price x quantity) and `commission`; the formulas are
    the module's."""
    delta = quantity if side is Side.BUY else -quantity
    signed_notional = notional if side is Side.BUY else -notional
    new_held = held + delta
    if held == 0 or (held > 0) == (delta > 0):
        new_cost = cost + signed_notional
    elif new_held == 0:
        new_cost = Decimal(0)
    elif (new_held > 0) == (held > 0):
        new_cost = cost * new_held / held
    else:
        new_cost = signed_notional * new_held / delta
    return BookedFill(
        quantity=new_held,
        cost=new_cost,
        realised_pnl=(new_cost - cost) - signed_notional,
        cash_change=-signed_notional - commission,
    )


__all__ = ["PRICE_QUANTUM", "BookedFill", "average_price", "book_fill"]
