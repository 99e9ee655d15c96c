"""The one average-cost position update, against an independent reference ledger.

The reference keeps the position as units and an average price in exact rationals
(`Fraction`) and books a fill the way a broker statement explains it: an opening fill
moves the average to the quantity-weighted mean, a closing one realises
``(price - average) x units closed`` on the side held, and a fill that crosses zero closes
everything and opens the rest at its own price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.live.orders import Side
from tradefolio.live.positions import average_price, book_fill

D = Decimal


@dataclass
class ReferenceLedger:
    """Units held (signed), their average price, realised P&L and cash, exact rationals."""

    units: Fraction = Fraction(0)
    average: Fraction = Fraction(0)
    realised: Fraction = Fraction(0)
    cash: Fraction = Fraction(0)

    def fill(self, side: Side, quantity: Fraction, price: Fraction, fee: Fraction) -> None:
        signed = quantity if side is Side.BUY else -quantity
        self.cash += -signed * price - fee
        if self.units == 0 or (self.units > 0) == (signed > 0):
            total = abs(self.units) + quantity
            self.average = (abs(self.units) * self.average + quantity * price) / total
            self.units += signed
            return
        closed = min(quantity, abs(self.units))
        direction = 1 if self.units > 0 else -1
        self.realised += (price - self.average) * closed * direction
        self.units += signed
        if self.units == 0:
            self.average = Fraction(0)
        elif (self.units > 0) != (direction > 0):  # crossed zero: the rest opens here
            self.average = price


quantities = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)
prices = st.decimals(min_value=D("0.01"), max_value=D("2000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("5"), places=2)
fills = st.lists(st.tuples(st.sampled_from(Side), quantities, prices, fees), max_size=30)


def _close(exact: Fraction, value: Decimal) -> bool:
    """Equal to the rational up to the Decimal context's rounding (28 digits)."""
    return abs(Fraction(value) - exact) <= Fraction(1, 10**12) * max(1, abs(exact))


@settings(max_examples=300, deadline=None)
@given(fills)
def test_book_fill_agrees_with_the_reference_ledger(sequence: list[tuple[Side, D, D, D]]) -> None:
    held, cost, realised, cash = D(0), D(0), D(0), D(0)
    reference = ReferenceLedger()
    for side, quantity, price, fee in sequence:
        booked = book_fill(held, cost, side, quantity, price * quantity, fee)
        reference.fill(side, Fraction(quantity), Fraction(price), Fraction(fee))
        held, cost = booked.quantity, booked.cost
        realised += booked.realised_pnl
        cash += booked.cash_change
        assert held == reference.units  # units are exact
        assert _close(reference.units * reference.average, cost)
        assert _close(reference.realised, realised)
        assert cash == reference.cash  # cash is exact too: no division touches it
        if held == 0:
            assert cost == 0 and average_price(held, cost) == 0
        else:
            assert (cost > 0) == (held > 0)  # the basis has the position's sign
            # the average price is rounded to the price quantum (1e-10), half of it at most
            assert abs(Fraction(average_price(held, cost)) - reference.average) <= Fraction(
                1, 2 * 10**10
            )


def _previous_long_rule(
    held: D, cost: D, side: Side, quantity: D, notional: D, commission: D
) -> tuple[D, D, D]:
    """The journal's and the paper venue's own copies before they shared `book_fill`
    (long positions: a sell never exceeds what is held)."""
    if side is Side.BUY:
        return held + quantity, cost + notional, -notional - commission
    new_held = held - quantity
    new_cost = D(0) if new_held == 0 or held == 0 else cost * new_held / held
    return new_held, new_cost, notional - commission


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), quantities, prices, fees), max_size=30))
def test_a_long_book_moves_to_the_digit_as_before(
    sequence: list[tuple[bool, D, D, D]],
) -> None:
    held, cost = D(0), D(0)
    for buy, quantity, price, fee in sequence:
        side = Side.BUY if buy or held == 0 else Side.SELL
        take = quantity if side is Side.BUY else min(quantity, held)
        expected = _previous_long_rule(held, cost, side, take, price * take, fee)
        booked = book_fill(held, cost, side, take, price * take, fee)
        assert (booked.quantity, booked.cost, booked.cash_change) == expected
        held, cost = booked.quantity, booked.cost


def test_buys_sells_partial_closes_and_a_flip_by_hand() -> None:
    # buy 10 @ 100, buy 10 @ 110: 20 at an average of 105
    first = book_fill(D(0), D(0), Side.BUY, D(10), D(1000), D(1))
    second = book_fill(first.quantity, first.cost, Side.BUY, D(10), D(1100), D(1))
    assert (second.quantity, second.cost) == (D(20), D(2100))
    assert average_price(second.quantity, second.cost) == D(105)
    assert first.realised_pnl == second.realised_pnl == 0
    assert first.cash_change == D(-1001)
    # sell 5 @ 120: realises (120 - 105) x 5, the average stays
    partial = book_fill(second.quantity, second.cost, Side.SELL, D(5), D(600), D(1))
    assert (partial.quantity, partial.cost) == (D(15), D(1575))
    assert average_price(partial.quantity, partial.cost) == D(105)
    assert partial.realised_pnl == D(75) and partial.cash_change == D(599)
    # sell 20 @ 100: closes 15 (realising -75) and opens a short of 5 at 100
    flip = book_fill(partial.quantity, partial.cost, Side.SELL, D(20), D(2000), D(0))
    assert (flip.quantity, flip.cost) == (D(-5), D(-500))
    assert average_price(flip.quantity, flip.cost) == D(100)
    assert flip.realised_pnl == D(-75)
    # buy 5 @ 90 covers the short: +50, flat, no cost left
    cover = book_fill(flip.quantity, flip.cost, Side.BUY, D(5), D(450), D(0))
    assert (cover.quantity, cover.cost, cover.realised_pnl) == (D(0), D(0), D(50))


@pytest.mark.parametrize(
    ("quantity", "cost", "expected"),
    [(D(0), D(0), D(0)), (D(3), D(10), D("3.3333333333")), (D(-4), D(-10), D("2.5"))],
)
def test_average_price_is_cost_per_unit_at_the_price_quantum(
    quantity: D, cost: D, expected: D
) -> None:
    assert average_price(quantity, cost) == expected
