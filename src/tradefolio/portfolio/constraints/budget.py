"""Budget: how much of the account value is invested.

    min_invested <= sum_i w_i <= max_invested

(The cash row sum_i w_i + costs <= 1, which keeps cash non-negative after costs, is part of
every model; see `model.py`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Conflict, Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


class Budget(Constraint):
    """Invest between `min_invested` and `max_invested` (fractions of the account value)."""

    name = "budget"

    def __init__(
        self, min_invested: float = 0.0, max_invested: float = 1.0, implied_by: str | None = None
    ) -> None:
        if not (math.isfinite(max_invested) and 0 < max_invested <= 1):
            raise InvalidParameter(f"max_invested must be in (0, 1], got {max_invested}")
        if not (math.isfinite(min_invested) and 0 <= min_invested <= max_invested):
            raise InvalidParameter(
                f"min_invested must be in [0, max_invested={max_invested}], got {min_invested}"
            )
        self.min_invested = min_invested
        self.max_invested = max_invested
        #: What sets the floor, in the user's words: their `--min-invested`, or the full
        #: investment a risk minimiser implies (`implied_by`: the objective's name).
        self.source = (
            f"--min-invested {min_invested:g}"
            if implied_by is None
            else f"the full investment of --objective {implied_by}"
        )
        self._group = "min invested" if implied_by is None else "full investment"

    def tighten(self, ctx: ModelContext) -> None:
        ctx.min_invested = max(ctx.min_invested, self.min_invested)
        ctx.max_invested = min(ctx.max_invested, self.max_invested)
        ctx.cap_weights(range(ctx.size), self.max_invested)

    def build(self, ctx: ModelContext) -> None:
        terms = {w: 1.0 for w in ctx.weights}
        if self.min_invested > 0:
            ctx.program.add_row(terms, lo=self.min_invested, group=self._group)
        if self.max_invested < 1:
            ctx.program.add_row(terms, hi=self.max_invested, group="max invested")

    def acts_on_trades(self) -> bool:
        return self.min_invested > 0

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        """A turnover cap too small to reach the floor from the holdings: reaching it
        takes buys of at least floor - kept (kept: the holdings within their caps) on top
        of the forced sells, all counted by sum |w - w0|."""
        if ctx.max_turnover is None or self.min_invested <= 0:
            return []
        universe = ctx.universe
        caps = np.array([ctx.weight_upper(i) for i in range(ctx.size)])
        w0 = universe.initial_weights
        kept = float(np.minimum(w0, caps).sum())
        forced = universe.forced_sell_weight + float(np.maximum(w0 - caps, 0.0).sum())
        needed = forced + max(0.0, ctx.min_invested - kept)
        if needed <= ctx.max_turnover + 1e-9:
            return []
        start = "cash" if not np.any(w0 > 0) else "the holdings"
        reachable = kept + max(0.0, ctx.max_turnover - forced)
        return [
            Conflict(
                "turnover",
                f"--max-turnover {ctx.max_turnover:g} cannot reach {self.source} from "
                f"{start} (it takes a turnover of {needed:.4g}): raise --max-turnover to "
                f"{math.ceil(needed * 1e4) / 1e4:g} or set --min-invested to at most "
                f"{math.floor(reachable * 1e4) / 1e4:g}",
                needed - ctx.max_turnover,
            )
        ]

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        invested = listed.invested
        slack = listed.tolerance / listed.value
        if invested < self.min_invested - slack:
            return [f"{invested:.6g} of the account is invested, below {self.min_invested:g}"]
        if invested > self.max_invested + slack:
            return [f"{invested:.6g} of the account is invested, above {self.max_invested:g}"]
        return []


def budget_source(constraints: Sequence[Constraint]) -> str:
    """The words for the investment floor of a model: the `Budget` that sets it."""
    budgets = [c for c in constraints if isinstance(c, Budget)]
    if not budgets:
        return "--min-invested"
    return max(budgets, key=lambda b: b.min_invested).source


__all__ = ["Budget", "budget_source"]
