"""Whole shares inside the optimisation: target positions are integer numbers of lots.

    w_i = n_i lot_i p_i / V,   n_i integer in [0, floor(u_i V / (lot_i p_i))]

so the weights the solver optimises are exactly the ones bought, instead of flooring
continuous weights afterwards. Leftover cash is minimised as a tie-break (an objective term
of relative size 1e-7 favouring investment), and reported.
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
            lot_value = self.lot_of(symbol) * float(universe.prices[i])
            most = math.floor(ctx.weight_upper(i) * value / lot_value + 1e-9)
            lots = program.add_variable(f"lots[{symbol}]", 0.0, float(most), integer=True)
            program.add_row({ctx.weights[i]: 1.0, lots: -lot_value / value}, lo=0.0, hi=0.0)
            ctx.lots.append(lots)
        ctx.tie_break_investment = True


__all__ = ["WholeShares"]
