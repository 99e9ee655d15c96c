"""Turnover budget from current holdings.

    sum_i |w_i - w0_i| + forced <= max_turnover,   |w_i - w0_i| = b_i + s_i

`forced` is the weight of held names outside the universe, which are always sold. Turnover
counts both sides (selling 10% to buy 10% elsewhere is a turnover of 0.2).
"""

from __future__ import annotations

import math

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


class Turnover(Constraint):
    """sum |w - w0| <= `max_turnover` (>= 0), counting both buys and sells."""

    name = "turnover"

    def __init__(self, max_turnover: float) -> None:
        if not (math.isfinite(max_turnover) and max_turnover >= 0):
            raise InvalidParameter(f"max_turnover must be >= 0, got {max_turnover}")
        self.max_turnover = max_turnover

    def tighten(self, ctx: ModelContext) -> None:
        current = ctx.max_turnover
        ctx.max_turnover = self.max_turnover if current is None else min(current, self.max_turnover)

    def build(self, ctx: ModelContext) -> None:
        buys, sells = ctx.trade_variables()
        # the row takes the dict over (built here, not copied)
        ctx.program.add_rows(
            [dict.fromkeys((*buys, *sells), 1.0)],
            hi=self.max_turnover - ctx.universe.forced_sell_weight,
            group="turnover",
        )

    def acts_on_trades(self) -> bool:
        return True

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        turnover = listed.turnover
        if turnover * listed.value > self.max_turnover * listed.value + listed.tolerance:
            return [f"turnover {turnover:.6g} is above --max-turnover {self.max_turnover:g}"]
        return []


__all__ = ["Turnover"]
