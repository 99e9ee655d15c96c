"""Whole shares inside the optimisation: target positions are integer numbers of lots.

    w_i = (n_i lot_i + o_i k_i) p_i / V,   n_i integer in [0, floor(u_i V / (lot_i p_i))]

so the weights the solver optimises are exactly the ones bought, instead of flooring
continuous weights afterwards. o_i is the odd lot already held (10.5 shares in lots of 1:
o = 0.5) and k_i in {0, 1} whether it is kept: a position moves by whole lots with its
odd lot kept or sold (3 shares in lots of 2 may go to 1, 3 or 5, or to 0, 2 or 4), so it can
stay as it is (no trade) and selling it entirely is always possible. Leftover cash is minimised
as a tie-break (an objective term of relative size 1e-7 favouring investment), and reported.

The model adds this constraint by itself (lots of 1) when a constraint acts on trades and
the shares are not fractional (`Constraint.acts_on_trades`, `model.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import Row


class WholeShares(Constraint):
    """Integer lots per name: `lot` shares each (or per symbol from `lots`)."""

    name = "whole shares"

    def __init__(self, lot: int = 1, lots: Mapping[str, int] | None = None) -> None:
        for value in (lot, *(lots or {}).values()):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(f"lot sizes must be integers >= 1, got {value!r}")
        self.lot = lot
        self.lots = dict(lots or {})

    def lot_of(self, symbol: str) -> int:
        """Shares per lot for `symbol`."""
        return self.lots.get(symbol, self.lot)

    def build(self, ctx: ModelContext) -> None:
        universe = ctx.universe
        value = universe.value
        program = ctx.program
        symbols = universe.symbols
        lot_shares = [self.lot_of(symbol) for symbol in symbols]
        prices = universe.prices.tolist()
        held = universe.held_shares.tolist()
        odds = [odd_lot(h, lot) if h else 0.0 for h, lot in zip(held, lot_shares, strict=True)]
        lot_values = [lot * price for lot, price in zip(lot_shares, prices, strict=True)]
        upper = program.upper
        most = [
            float(math.floor(upper[w] * value / lot_value + 1e-9))
            for w, lot_value in zip(ctx.weights, lot_values, strict=True)
        ]
        if not any(odd > 0 for odd in odds):
            # no odd lot: the lot counts and their definitions as two blocks (the same
            # variables and rows, in the same order, as name by name below)
            ctx.lots = program.add_columns(
                [f"lots[{symbol}]" for symbol in symbols], [0.0] * len(symbols), most, True
            )
            program.rows.extend(
                Row({w: 1.0, lots: -lot_value / value}, 0.0, 0.0, None)
                for w, lots, lot_value in zip(ctx.weights, ctx.lots, lot_values, strict=True)
            )
            ctx.tie_break_investment = True
            return
        ctx.lots = []
        for i, symbol in enumerate(symbols):
            lots = program.add_variable(f"lots[{symbol}]", 0.0, most[i], integer=True)
            definition = {ctx.weights[i]: 1.0, lots: -lot_values[i] / value}
            odd = odds[i]
            if odd > 0:
                keep = program.add_binary(f"keep_odd_lot[{symbol}]")
                definition[keep] = -odd * prices[i] / value
                ctx.odd_lots[i] = (keep, odd)
            program.add_row(definition, lo=0.0, hi=0.0)
            ctx.lots.append(lots)
        ctx.tie_break_investment = True


def odd_lot(held: float, lot: int) -> float:
    """Shares held beyond whole lots (10.5 shares in lots of 1: 0.5), 0 below round-off."""
    whole = math.floor(held / lot + 1e-9) * lot
    odd = held - whole
    return odd if odd > 1e-9 else 0.0


__all__ = ["WholeShares", "odd_lot"]
