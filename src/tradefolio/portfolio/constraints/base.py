"""What a constraint is: a piece that tightens bounds, adds rows, and pre-checks itself.

Each constraint module holds one concept and its math. A constraint works in three steps,
called by `PortfolioModel` in this order for every constraint before moving on:

1. `tighten(ctx)`: shrink variable bounds it implies (big-M tightening for the solver),
2. `build(ctx)`:   add its rows (with a `group` label, so they can be relaxed when the
                   model is infeasible) and cost terms,
3. `precheck(ctx)`: before any solve, cheap necessary conditions; each failure is a
                   `Conflict` explaining what must move and by how much.

After the solve, a constraint that acts on trades (`acts_on_trades`) checks itself on the
shares and trades actually listed (`listed_violations`, see `listed.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.listed import ListedTrades


@dataclass(frozen=True, slots=True)
class Conflict:
    """One reason the model cannot be satisfied: `constraint` must move by `amount`."""

    constraint: str
    message: str
    amount: float = 0.0

    def line(self) -> str:
        """One plain line for the CLI."""
        return f"{self.constraint}: {self.message}"


class Constraint:
    """Base of every constraint: no-op defaults for the three steps."""

    name = "constraint"

    def tighten(self, ctx: ModelContext) -> None:
        """Shrink variable bounds implied by this constraint."""

    def build(self, ctx: ModelContext) -> None:
        """Add rows to `ctx.program`."""

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        """Cheap necessary conditions, checked before solving."""
        return []

    def acts_on_trades(self) -> bool:
        """Whether the constraint reads the trades or the invested total, which rounding the
        weights to shares after the solve would change: the model then makes the shares
        integer inside the optimisation (unless fractional), so the trades listed are the
        ones the solver proved (`model.py`)."""
        return False

    def listed_violations(self, listed: ListedTrades) -> list[str]:
        """How the listed shares and trades break this constraint (see `listed.py`)."""
        return []


__all__ = ["Conflict", "Constraint"]
