"""The score objective: maximise the score-weighted sum  sum_i score_i w_i."""

from __future__ import annotations

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.objectives.base import Objective


class ScoreObjective(Objective):
    """maximise mu^T w with mu the candidates' scores."""

    name = "score"

    def build(self, ctx: ModelContext) -> None:
        ctx.program.add_objective(ctx.weight_terms(ctx.universe.expected))


__all__ = ["ScoreObjective"]
