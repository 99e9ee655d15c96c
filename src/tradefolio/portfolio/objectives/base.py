"""What an objective is: terms added to the program, in a direction, with an exact value.

An objective adds its variables and terms to `ctx.program` in `build` and says whether it
maximises. `evaluate` gives the exact value of a weight vector when the program only
approximates it (Kelly's tangent cuts); by default the program's own value is reported.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext


class Objective:
    """Base of every objective."""

    name = "objective"
    maximize = True
    #: Whether an empty portfolio is a trivial optimum unless investment is forced
    #: (risk minimisers): the model then defaults to investing fully.
    minimizes_risk = False

    def build(self, ctx: ModelContext) -> None:
        """Add variables, rows and objective terms."""
        raise NotImplementedError

    def evaluate(self, weights: NDArray[np.float64]) -> float | None:
        """Exact objective of `weights` when the program approximates it, else None."""
        return None

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        """Cheap necessary conditions of the objective's own rows (return floors)."""
        return []


def return_floor_conflicts(ctx: ModelContext, min_return: float | None) -> list[Conflict]:
    """Necessary condition of mu^T w >= min_return: the greedy best return under the caps,
    the investment limit and the cardinality (an LP relaxation bound) reaches the floor."""
    if min_return is None:
        return []
    budget = ctx.max_invested
    caps = np.array([ctx.weight_upper(i) for i in range(ctx.size)])
    order = np.argsort(-ctx.universe.expected)
    best = 0.0
    for count, i in enumerate(order):
        if budget <= 0 or ctx.universe.expected[i] <= 0:
            break
        if ctx.max_positions is not None and count >= ctx.max_positions:
            break
        take = min(float(caps[i]), budget)
        best += take * float(ctx.universe.expected[i])
        budget -= take
    if best + 1e-12 < min_return:
        return [
            Conflict(
                "min return",
                f"the best reachable expected return is {best:.6g} under the caps, budget "
                f"and cardinality, below the floor {min_return:.6g}; lower it by "
                f"{min_return - best:.6g}",
                min_return - best,
            )
        ]
    return []


def add_return_floor(ctx: ModelContext, min_return: float | None) -> None:
    """mu^T w >= min_return (group "min return")."""
    if min_return is not None:
        ctx.program.add_row(
            ctx.weight_terms(ctx.universe.expected), lo=min_return, group="min return"
        )


__all__ = ["Objective", "add_return_floor", "return_floor_conflicts"]
