"""Conditional value at risk (Rockafellar & Uryasev, 2000): minimise the mean of the worst
(1 - α) share of scenario losses, a linear program in auxiliary variables.

    minimise   ζ + 1 / ((1 - α) T) sum_t u_t
    subject to u_t >= -r_t^T w - ζ,  u_t >= 0        (loss of scenario t is -r_t^T w)
               mu^T w >= min_return                   (optional)

At the optimum ζ is the α value at risk and the objective the α-CVaR of the portfolio loss.
Linear, so CBC solves it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.objectives.base import Objective, add_return_floor, return_floor_conflicts
from tradefolio.portfolio.objectives.scenarios import aligned_scenarios

if TYPE_CHECKING:  # annotations only: allocating needs no pandas
    import pandas as pd


def cvar_of(losses: NDArray[np.float64], alpha: float) -> float:
    """Exact α-CVaR of equally likely `losses` (the Rockafellar-Uryasev minimum)."""
    tail = 1.0 - alpha
    candidates = np.sort(losses)
    values = candidates + np.maximum(losses[None, :] - candidates[:, None], 0.0).sum(axis=1) / (
        tail * len(losses)
    )
    return float(values.min())


class CVaR(Objective):
    """minimise α-CVaR of scenario losses (α in (0, 1)), optionally with a return floor."""

    name = "cvar"
    maximize = False
    minimizes_risk = True

    def __init__(
        self, scenarios: pd.DataFrame, alpha: float = 0.95, min_return: float | None = None
    ) -> None:
        if not (math.isfinite(alpha) and 0 < alpha < 1):
            raise InvalidParameter(f"cvar alpha must be in (0, 1), got {alpha}")
        self.scenarios = scenarios
        self.alpha = alpha
        self.min_return = min_return
        self._returns: NDArray[np.float64] | None = None

    def build(self, ctx: ModelContext) -> None:
        returns = aligned_scenarios(self.scenarios, ctx.universe.symbols)
        self._returns = returns
        program = ctx.program
        periods = len(returns)
        var = program.add_variable("value_at_risk", -math.inf, math.inf)
        program.add_objective({var: 1.0})
        weight = 1.0 / ((1.0 - self.alpha) * periods)
        for t in range(periods):
            excess = program.add_variable(f"tail[{t}]", 0.0, math.inf)
            terms = ctx.weight_terms(returns[t])
            terms[excess] = 1.0
            terms[var] = 1.0
            program.add_row(terms, lo=0.0)
            program.add_objective({excess: weight})
        add_return_floor(ctx, self.min_return)

    def evaluate(self, weights: NDArray[np.float64]) -> float | None:
        if self._returns is None:
            return None
        return cvar_of(-(self._returns @ weights), self.alpha)

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        return return_floor_conflicts(ctx, self.min_return)


__all__ = ["CVaR", "cvar_of"]
