"""Minimum variance: minimise  w^T Σ w,  optionally subject to  mu^T w >= min_return.

Without a floor on the investment the empty portfolio has zero variance, so the model
invests fully by default (see `PortfolioModel`). Quadratic: MathOpt with SCIP.
"""

from __future__ import annotations

from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.objectives.base import Objective, add_return_floor, return_floor_conflicts
from tradefolio.portfolio.objectives.risk_terms import FactorRows, add_variance


class MinVariance(Objective):
    """minimise w^T Σ w, optionally with a return floor."""

    name = "min-variance"
    maximize = False
    minimizes_risk = True

    def __init__(self, risk: RiskModel, min_return: float | None = None) -> None:
        self.risk = risk
        self.min_return = min_return
        self._rows: list[FactorRows] = []  # the last universe's factor rows (`add_variance`)

    def build(self, ctx: ModelContext) -> None:
        add_variance(ctx, self.risk, 1.0, self._rows)
        add_return_floor(ctx, self.min_return)

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        return return_floor_conflicts(ctx, self.min_return)


__all__ = ["MinVariance"]
