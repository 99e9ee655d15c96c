"""The allocator: candidate scores -> optimal weights -> dollars and shares.

`allocate` is the score model's entry point and a thin front of the composable model
(`model.py`): the `ScoreObjective` with `PositionLimits` and `Cardinality`, candidates with
non-positive scores dropped (they could only take a slot), `capital` as cash and no
holdings. `solver="exact"` is that model's O(N log N) fast path (`exact.py`, also the test
oracle of every MIP backend); cbc, scip and highs solve the same program through OR-Tools
and keep only their choice of names (`score_path.py`). Weights become dollars
(`weight x capital`) and shares (floored to whole units unless fractional shares are
allowed).
"""

from __future__ import annotations

from collections.abc import Iterable

from tradefolio.portfolio.constraints.cardinality import Cardinality
from tradefolio.portfolio.constraints.positions import PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.mip import MIP_SOLVERS
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives.score import ScoreObjective
from tradefolio.portfolio.params import AllocatorParams, check_allocation
from tradefolio.portfolio.shares import FRACTIONAL_DECIMALS, whole_or_fractional_shares
from tradefolio.portfolio.types import AllocationResult, Candidate

#: Every solver name `allocate` accepts.
SOLVERS: tuple[str, ...] = (*MIP_SOLVERS, "exact")


def score_model(params: AllocatorParams) -> PortfolioModel:
    """The score model as a composable model: score objective, caps, floors, cardinality."""
    return PortfolioModel(
        ScoreObjective(),
        [PositionLimits(params.max_weight, params.min_weight), Cardinality(params.max_positions)],
    )


def allocate(
    candidates: Iterable[Candidate],
    capital: float,
    params: AllocatorParams | None = None,
    *,
    fractional: bool = False,
    solver: str = "cbc",
    time_limit: float = 10.0,
) -> AllocationResult:
    """Solve the score-weighted allocation and size it in dollars and shares.

    Raises `DataError` for malformed candidates, `InvalidParameter` for bad parameters,
    `SolverUnavailable` when the solver (or OR-Tools) is missing, `SolverError` when the
    time limit passes without a solution.
    """
    params = params or AllocatorParams()
    solver_key = check_allocation(capital, time_limit, solver, SOLVERS)
    universe = make_universe(candidates, capital, keep_non_positive=False)
    return score_model(params).solve(
        universe, solver=solver_key, time_limit=time_limit, fractional=fractional
    )


__all__ = [
    "FRACTIONAL_DECIMALS",
    "SOLVERS",
    "allocate",
    "score_model",
    "whole_or_fractional_shares",
]
