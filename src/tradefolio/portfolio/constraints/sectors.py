"""Sector caps: the weight of each sector is capped.

    sum_(i in sector s) w_i <= cap_s          for every sector s

Sectors come from a symbol -> sector mapping (the bundled GICS sectors of the sample, or the
user's own); symbols missing from the mapping form the sector "Unclassified", capped too.
Each cap also bounds each of its names (u_i <= cap_s), which tightens the big-M rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints.base import Conflict, Constraint
from tradefolio.portfolio.context import ModelContext

UNCLASSIFIED = "Unclassified"


class SectorCaps(Constraint):
    """Cap per sector: one `cap` for all, or a mapping sector -> cap (default `cap`)."""

    name = "sector caps"

    def __init__(
        self,
        sectors: Mapping[str, str],
        cap: float = 1.0,
        caps: Mapping[str, float] | None = None,
    ) -> None:
        for label, value in [
            ("sector cap", cap),
            *((f"cap of {s}", c) for s, c in (caps or {}).items()),
        ]:
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise InvalidParameter(f"{label} must be in [0, 1], got {value}")
        self.sectors = dict(sectors)
        self.cap = cap
        self.caps = dict(caps or {})

    def _groups(self, ctx: ModelContext) -> dict[str, tuple[list[int], float]]:
        groups: dict[str, list[int]] = {}
        for i, symbol in enumerate(ctx.universe.symbols):
            groups.setdefault(str(self.sectors.get(symbol, UNCLASSIFIED)), []).append(i)
        return {s: (members, self.caps.get(s, self.cap)) for s, members in sorted(groups.items())}

    def tighten(self, ctx: ModelContext) -> None:
        for sector, (members, cap) in self._groups(ctx).items():
            ctx.sector_caps[sector] = (members, cap)
            ctx.cap_weights(members, cap)

    def build(self, ctx: ModelContext) -> None:
        for sector, (members, cap) in self._groups(ctx).items():
            if cap < 1:
                ctx.program.add_row(
                    {ctx.weights[i]: 1.0 for i in members}, hi=cap, group=f"sector cap {sector}"
                )

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        conflicts = []
        w0 = ctx.universe.initial_weights
        for sector, (members, cap) in self._groups(ctx).items():
            held = float(sum(w0[i] for i in members))
            if ctx.max_turnover is not None and held - cap > ctx.max_turnover + 1e-12:
                conflicts.append(
                    Conflict(
                        f"sector cap {sector}",
                        f"holdings are {held:.4f} of the account; the cap {cap:.4f} forces "
                        f"sells of {held - cap:.4f}, more than the turnover budget "
                        f"{ctx.max_turnover:.4f}",
                        held - cap - ctx.max_turnover,
                    )
                )
        return conflicts


__all__ = ["UNCLASSIFIED", "SectorCaps"]
