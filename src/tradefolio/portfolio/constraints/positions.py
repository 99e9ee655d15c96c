"""Per-name limits: a cap on every weight and a floor for every held name.

w_i <= max_weight                 (cap)
w_i >= min_weight x_i             (floor-if-held: a held name carries at least min_weight)
"""

from __future__ import annotations

import math

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext


class PositionLimits(Constraint):
    """Cap `max_weight` in (0, 1] and floor `min_weight` in [0, max_weight]."""

    name = "position limits"

    def __init__(self, max_weight: float = 0.25, min_weight: float = 0.0) -> None:
        if not (math.isfinite(max_weight) and 0 < max_weight <= 1):
            raise InvalidParameter(f"max_weight must be in (0, 1], got {max_weight}")
        if not (math.isfinite(min_weight) and 0 <= min_weight <= max_weight):
            raise InvalidParameter(
                f"min_weight must be in [0, max_weight={max_weight}], got {min_weight}"
            )
        self.max_weight = max_weight
        self.min_weight = min_weight

    def tighten(self, ctx: ModelContext) -> None:
        ctx.cap_weights(range(ctx.size), self.max_weight)

    def build(self, ctx: ModelContext) -> None:
        program = ctx.program
        floor = -self.min_weight
        if not ctx.elastic:
            # the floors only, in one block (the rows take the dicts over, not copied)
            if self.min_weight > 0:
                program.add_rows(
                    [{w: 1.0, x: floor} for w, x in zip(ctx.weights, ctx.selected, strict=True)],
                    lo=0.0,
                    group="min weight",
                )
            return
        for w, x in zip(ctx.weights, ctx.selected, strict=True):
            program.add_row({w: 1.0}, hi=self.max_weight, group="max weight")
            if self.min_weight > 0:
                program.add_row({w: 1.0, x: floor}, lo=0.0, group="min weight")


__all__ = ["PositionLimits"]
