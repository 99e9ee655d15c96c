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
        ctx.lots = []
        for i, symbol in enumerate(universe.symbols):
            lot_shares = self.lot_of(symbol)
            price = float(universe.prices[i])
            lot_value = lot_shares * price
            most = math.floor(ctx.weight_upper(i) * value / lot_value + 1e-9)
            lots = program.add_variable(f"lots[{symbol}]", 0.0, float(most), integer=True)
            definition = {ctx.weights[i]: 1.0, lots: -lot_value / value}
            odd = odd_lot(float(universe.held_shares[i]), lot_shares)
            if odd > 0:
                keep = program.add_binary(f"keep_odd_lot[{symbol}]")
                definition[keep] = -odd * price / value
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
