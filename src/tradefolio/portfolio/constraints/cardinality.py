"""Cardinality: hold at most `max_positions` names.

sum_i x_i <= max_positions
"""

from __future__ import annotations

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


class Cardinality(Constraint):
    """At most `max_positions` (>= 1) names in the target."""

    name = "max positions"

    def __init__(self, max_positions: int = 10) -> None:
        if isinstance(max_positions, bool) or not isinstance(max_positions, int):
            raise InvalidParameter(f"max_positions must be an integer, got {max_positions!r}")
        if max_positions < 1:
            raise InvalidParameter(f"max_positions must be >= 1, got {max_positions}")
        self.max_positions = max_positions

    def tighten(self, ctx: ModelContext) -> None:
        current = ctx.max_positions
        ctx.max_positions = (
            self.max_positions if current is None else min(current, self.max_positions)
        )

    def build(self, ctx: ModelContext) -> None:
        ctx.program.add_rows(
            [dict.fromkeys(ctx.selected, 1.0)],
            hi=float(self.max_positions),
            group="max positions",
            unit="names",
        )

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        # counted on the listed shares: a 1-share position is a name, whatever the
        # solver's selection said (its big-M link met to the solver's tolerance)
        if listed.positions <= self.max_positions:
            return []
        return [f"{listed.positions} names listed, more than --max-positions {self.max_positions}"]


__all__ = ["Cardinality"]
