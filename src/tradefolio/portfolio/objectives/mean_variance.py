"""Mean-variance: maximise  mu^T w - λ w^T Σ w.

mu are the candidates' scores (expected returns when the score is one, e.g. trailing return
or momentum, annual) and Σ the annualised covariance of the same symbols (see
`covariance.py`); λ is the risk aversion. Quadratic: solved by MathOpt with SCIP.
"""

from __future__ import annotations

import math

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.objectives.risk_terms import FactorRows, add_variance


class MeanVariance(Objective):
    """mu^T w - risk_aversion * w^T Σ w, with risk_aversion >= 0."""

    name = "mean-variance"

    def __init__(self, risk: RiskModel, risk_aversion: float = 1.0) -> None:
        if not (math.isfinite(risk_aversion) and risk_aversion >= 0):
            raise InvalidParameter(f"risk aversion must be >= 0, got {risk_aversion}")
        self.risk = risk
        self.risk_aversion = risk_aversion
        self._rows: list[FactorRows] = []  # the last universe's factor rows (`add_variance`)

    def build(self, ctx: ModelContext) -> None:
        ctx.program.add_objective(ctx.weight_terms(ctx.universe.expected))
        if self.risk_aversion > 0:
            add_variance(ctx, self.risk, -self.risk_aversion, self._rows)


__all__ = ["MeanVariance"]
