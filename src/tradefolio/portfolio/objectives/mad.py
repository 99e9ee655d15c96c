"""Mean absolute deviation (Konno & Yamazaki, 1991): a linear stand-in for variance.

    minimise   (1 / T) sum_t d_t
    subject to d_t >= +(r_t - r̄)^T w,   d_t >= -(r_t - r̄)^T w
               mu^T w >= min_return                 (optional)

r̄ is the mean scenario return per name. Linear, so CBC solves it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.objectives.base import Objective, add_return_floor, return_floor_conflicts
from tradefolio.portfolio.objectives.scenarios import aligned_scenarios

if TYPE_CHECKING:  # annotations only: allocating needs no pandas
    import pandas as pd


class MeanAbsoluteDeviation(Objective):
    """minimise the mean absolute deviation of the portfolio's scenario returns."""

    name = "mad"
    maximize = False
    minimizes_risk = True

    def __init__(self, scenarios: pd.DataFrame, min_return: float | None = None) -> None:
        self.scenarios = scenarios
        self.min_return = min_return

    def build(self, ctx: ModelContext) -> None:
        returns = aligned_scenarios(self.scenarios, ctx.universe.symbols)
        deviations = returns - returns.mean(axis=0)
        program = ctx.program
        periods = len(returns)
        for t in range(periods):
            spread = program.add_variable(f"deviation[{t}]", 0.0, math.inf)
            terms = ctx.weight_terms(deviations[t])
            up = {**terms, spread: -1.0}
            down = {**{k: -c for k, c in terms.items()}, spread: -1.0}
            program.add_row(up, hi=0.0)
            program.add_row(down, hi=0.0)
            program.add_objective({spread: 1.0 / periods})
        add_return_floor(ctx, self.min_return)

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        return return_floor_conflicts(ctx, self.min_return)


def mad_of(returns: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """Mean absolute deviation of the portfolio returns `returns @ weights`."""
    portfolio = returns @ weights
    return float(np.abs(portfolio - portfolio.mean()).mean())


__all__ = ["MeanAbsoluteDeviation", "mad_of"]
