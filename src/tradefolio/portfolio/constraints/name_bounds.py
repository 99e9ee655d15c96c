"""Per-name limits: each listed name has its own cap and its own floor-if-held.

    w_i <= max_i                 (cap)
    w_i >= min_i x_i             (buy-in floor: a held name carries at least min_i)

Names not listed keep whatever the other constraints say (e.g. `PositionLimits`). With
floors, "which names to hold" is combinatorial (w_i = 0 or min_i <= w_i <= max_i): the
classic mean-variance problem with minimum buy-in (see docs/model.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.constraints.base import Conflict, Constraint
from tradefolio.portfolio.context import ModelContext


class NameBounds(Constraint):
    """`bounds[symbol] = (min_weight, max_weight)`, 0 <= min_weight <= max_weight <= 1."""

    name = "name bounds"

    def __init__(self, bounds: Mapping[str, tuple[float, float]]) -> None:
        checked: dict[str, tuple[float, float]] = {}
        for symbol, (low, high) in bounds.items():
            if not (math.isfinite(high) and 0 < high <= 1):
                raise InvalidParameter(f"max weight of {symbol} must be in (0, 1], got {high}")
            if not (math.isfinite(low) and 0 <= low <= high):
                raise InvalidParameter(
                    f"min weight of {symbol} must be in [0, its max weight {high}], got {low}"
                )
            checked[str(symbol)] = (float(low), float(high))
        self.bounds = checked

    def _indices(self, ctx: ModelContext) -> list[tuple[int, float, float]]:
        position = {s: i for i, s in enumerate(ctx.universe.symbols)}
        unknown = [s for s in self.bounds if s not in position]
        if unknown:
            raise DataError(
                f"bounds name {', '.join(sorted(unknown)[:5])} which is not a candidate; "
                "remove it from the bounds or add it to the candidates"
            )
        return [(position[s], low, high) for s, (low, high) in self.bounds.items()]

    def tighten(self, ctx: ModelContext) -> None:
        for i, _, high in self._indices(ctx):
            ctx.cap_weight(i, high)

    def build(self, ctx: ModelContext) -> None:
        program = ctx.program
        for i, low, high in self._indices(ctx):
            if ctx.elastic:
                program.add_row({ctx.weights[i]: 1.0}, hi=high, group="name max weight")
            if low > 0:
                program.add_row(
                    {ctx.weights[i]: 1.0, ctx.selected[i]: -low}, lo=0.0, group="name min weight"
                )

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        """The caps must leave room for the minimum investment."""
        caps = sum(ctx.weight_upper(i) for i in range(ctx.size))
        if caps + 1e-12 < ctx.min_invested:
            return [
                Conflict(
                    self.name,
                    f"the caps add up to {caps:.6g}, below the minimum invested "
                    f"{ctx.min_invested:.6g}; raise some caps",
                    ctx.min_invested - caps,
                )
            ]
        return []


__all__ = ["NameBounds"]
