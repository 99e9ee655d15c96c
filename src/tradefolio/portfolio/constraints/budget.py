"""Budget: how much of the account value is invested.

    min_invested <= sum_i w_i <= max_invested

(The cash row sum_i w_i + costs <= 1, which keeps cash non-negative after costs, is part of
every model; see `model.py`.)
"""

from __future__ import annotations

import math

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


class Budget(Constraint):
    """Invest between `min_invested` and `max_invested` (fractions of the account value)."""

    name = "budget"

    def __init__(self, min_invested: float = 0.0, max_invested: float = 1.0) -> None:
        if not (math.isfinite(max_invested) and 0 < max_invested <= 1):
            raise InvalidParameter(f"max_invested must be in (0, 1], got {max_invested}")
        if not (math.isfinite(min_invested) and 0 <= min_invested <= max_invested):
            raise InvalidParameter(
                f"min_invested must be in [0, max_invested={max_invested}], got {min_invested}"
            )
        self.min_invested = min_invested
        self.max_invested = max_invested

    def tighten(self, ctx: ModelContext) -> None:
        ctx.min_invested = max(ctx.min_invested, self.min_invested)
        ctx.max_invested = min(ctx.max_invested, self.max_invested)
        for i in range(ctx.size):
            ctx.cap_weight(i, self.max_invested)

    def build(self, ctx: ModelContext) -> None:
        terms = {w: 1.0 for w in ctx.weights}
        if self.min_invested > 0:
            ctx.program.add_row(terms, lo=self.min_invested, group="min invested")
        if self.max_invested < 1:
            ctx.program.add_row(terms, hi=self.max_invested, group="max invested")

    def acts_on_trades(self) -> bool:
        return self.min_invested > 0

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        invested = listed.invested
        slack = listed.tolerance / listed.value
        if invested < self.min_invested - slack:
            return [f"{invested:.6g} of the account is invested, below {self.min_invested:g}"]
        if invested > self.max_invested + slack:
            return [f"{invested:.6g} of the account is invested, above {self.max_invested:g}"]
        return []


__all__ = ["Budget"]
