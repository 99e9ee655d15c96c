"""What a constraint is: the three steps' defaults change nothing, and a subclass that
overrides one of them changes the optimum the way its rows say."""

from __future__ import annotations

import pytest

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.constraints import Cardinality, Constraint, PositionLimits
from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext, make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")

CANDIDATES = [Candidate("A", 0.3, 10.0), Candidate("B", 0.2, 10.0), Candidate("C", 0.1, 10.0)]
LIMITS = [PositionLimits(0.4), Cardinality(2)]


class AtMostHalf(Constraint):
    """sum w <= 0.5, as a user-written constraint would add it."""

    name = "at most half"

    def build(self, ctx: ModelContext) -> None:
        ctx.program.add_row({w: 1.0 for w in ctx.weights}, hi=0.5, group=self.name)


class NeverFeasible(Constraint):
    name = "never"

    def precheck(self, ctx: ModelContext) -> list[Conflict]:
        return [Conflict(self.name, "cannot be met; drop it", 1.0)]


def _solve(*extra: Constraint) -> float:
    model = PortfolioModel(ScoreObjective(), [*LIMITS, *extra])
    return model.solve(make_universe(CANDIDATES, 1000.0), fractional=True).objective


def test_the_defaults_leave_the_optimum_unchanged() -> None:
    plain = Constraint()
    assert not plain.acts_on_trades()
    assert _solve(plain) == pytest.approx(_solve()) == pytest.approx(0.4 * 0.3 + 0.4 * 0.2)


def test_a_constraint_that_adds_a_row_moves_the_optimum() -> None:
    assert _solve(AtMostHalf()) == pytest.approx(0.4 * 0.3 + 0.1 * 0.2)


def test_a_precheck_conflict_stops_the_solve_with_its_line() -> None:
    assert Conflict("budget", "too small", 0.2).line() == "budget: too small"
    with pytest.raises(InfeasibleAllocation, match="never: cannot be met; drop it"):
        _solve(NeverFeasible())
