"""Transaction costs: proportional (bps of traded value) plus a fixed cost per traded name.

    cost = (bps / 1e4) sum_i (b_i + s_i) + (fixed / V) sum_i (β_i + σ_i)      (in weight units)

Costs are always paid from cash (the cash row sum w + cost <= 1), and either enter the
objective (`in_objective`, subtracted from a maximised objective or added to a minimised
one, times `aversion`) or are capped by a budget in dollars (`budget`), or both.
Forced sells of names outside the universe add a constant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Conflict, Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.holdings import Trade
from tradefolio.portfolio.listed import ListedTrades


class TransactionCosts(Constraint):
    """`bps` per traded dollar and `fixed` dollars per traded name."""

    name = "transaction costs"

    def __init__(
        self,
        bps: float = 0.0,
        fixed: float = 0.0,
        *,
        in_objective: bool = True,
        aversion: float = 1.0,
        budget: float | None = None,
    ) -> None:
        for label, value in (("cost bps", bps), ("fixed cost", fixed), ("cost aversion", aversion)):
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameter(f"{label} must be >= 0, got {value}")
        if budget is not None and not (math.isfinite(budget) and budget >= 0):
            raise InvalidParameter(f"cost budget must be >= 0 dollars, got {budget}")
        self.bps = bps
        self.fixed = fixed
        self.in_objective = in_objective
        self.aversion = aversion
        self.budget = budget

    def forced_cost(self, ctx: ModelContext) -> float:
        """Cost (weight units) of selling the holdings outside the universe."""
        universe = ctx.universe
        return self.bps / 1e4 * universe.forced_sell_weight + self.fixed / universe.value * len(
            universe.outside
        )

    def tighten(self, ctx: ModelContext) -> None:
        if self.budget is not None:
            dollars = self.budget
            ctx.cost_budget = dollars if ctx.cost_budget is None else min(ctx.cost_budget, dollars)

    def build(self, ctx: ModelContext) -> None:
        value = ctx.universe.value
        # Every trade variable and every flag is a distinct column: each term is 0.0 + its
        # rate (the rate itself: rates are >= 0, never -0.0), set by `dict.fromkeys`.
        terms: dict[int, float] = {}
        if self.bps > 0:
            buys, sells = ctx.trade_variables()
            terms.update(dict.fromkeys((*buys, *sells), self.bps / 1e4))
        if self.fixed > 0:
            buy_flags, sell_flags = ctx.trade_flags()
            terms.update(dict.fromkeys((*buy_flags, *sell_flags), self.fixed / value))
        cost_terms = ctx.cost_terms
        if not cost_terms:
            cost_terms.update(terms)  # each 0.0 + c = c
        else:
            total = cost_terms.get
            for v, c in terms.items():
                cost_terms[v] = total(v, 0.0) + c
        ctx.cost_constant += self.forced_cost(ctx)
        if self.in_objective:
            ctx.cost_in_objective += self.aversion
        if self.budget is not None:
            ctx.program.add_row(
                terms, hi=self.budget / value - self.forced_cost(ctx), group="cost budget"
            )

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        if self.budget is None:
            return []
        forced = self.forced_cost(ctx) * ctx.universe.value
        if forced > self.budget + 1e-9:
            return [
                Conflict(
                    "cost budget",
                    f"selling holdings outside the universe costs {forced:,.2f}, more than the "
                    f"budget {self.budget:,.2f}; raise it by {forced - self.budget:,.2f}",
                    forced - self.budget,
                )
            ]
        return []

    def cost_of(self, trades: Iterable[Trade]) -> float:
        """Dollars the listed `trades` cost: bps/1e4 |dollars| + fixed, per trade."""
        return sum(self.bps / 1e4 * abs(t.dollars) + self.fixed for t in trades)

    def acts_on_trades(self) -> bool:
        return True

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        if self.budget is None:
            return []
        cost = self.cost_of(listed.trades)
        if cost > self.budget + listed.tolerance:
            return [f"the trades cost {cost:,.2f}, more than --cost-budget {self.budget:,.2f}"]
        return []


__all__ = ["TransactionCosts"]
