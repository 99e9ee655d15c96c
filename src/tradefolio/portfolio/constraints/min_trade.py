"""Minimum trade size: trade a name not at all, or by at least `dollars`.

    b_i >= m β_i,   s_i >= min(m, w0_i) σ_i,     m = dollars / V

Selling a whole position is always allowed, even when it is worth less than the minimum
(otherwise dust could never be cleared).
"""

from __future__ import annotations

import math

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


class MinimumTrade(Constraint):
    """Every trade is zero or at least `dollars` (> 0) in value."""

    name = "min trade"

    def __init__(self, dollars: float) -> None:
        if not (math.isfinite(dollars) and dollars > 0):
            raise InvalidParameter(f"min trade must be > 0 dollars, got {dollars}")
        self.dollars = dollars

    def build(self, ctx: ModelContext) -> None:
        buys, sells = ctx.trade_variables()
        buy_flags, sell_flags = ctx.trade_flags()
        minimum = self.dollars / ctx.universe.value
        w0 = ctx.universe.initial_weights
        program = ctx.program
        for i in range(ctx.size):
            program.add_row({buys[i]: 1.0, buy_flags[i]: -minimum}, lo=0.0, group="min trade")
            if w0[i] > 0:
                program.add_row(
                    {sells[i]: 1.0, sell_flags[i]: -min(minimum, float(w0[i]))},
                    lo=0.0,
                    group="min trade",
                )

    def acts_on_trades(self) -> bool:
        return True

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        outside = {h.symbol for h in listed.universe.outside}
        smallest = self.dollars - listed.tolerance
        return [
            f"the {t.side} of {abs(t.shares):g} {t.symbol} is worth {abs(t.dollars):,.2f}, "
            f"less than --min-trade {self.dollars:,.2f}"
            for t in listed.trades
            if t.symbol not in outside and abs(t.dollars) < smallest and not listed.is_full_sale(t)
        ]


__all__ = ["MinimumTrade"]
