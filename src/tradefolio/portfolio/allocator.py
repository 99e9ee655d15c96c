"""The allocator: candidate scores -> optimal weights -> dollars and shares.

`allocate` validates its inputs, drops candidates with non-positive scores (they could only
take a slot), solves the score-weighted MIP (see `mip.py`; or `exact.py` for the exact
combinatorial algorithm) and turns weights into dollars (`weight x capital`) and shares
(floored to whole units unless fractional shares are allowed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.exact import solve_exact
from tradefolio.portfolio.mip import MIP_SOLVERS, solve_mip
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import (
    Allocation,
    AllocationResult,
    Candidate,
    SolveStatus,
    positive_score_candidates,
    validate_candidates,
)

#: Every solver name `allocate` accepts.
SOLVERS: tuple[str, ...] = (*MIP_SOLVERS, "exact")
#: Fractional share quantities are floored to this many decimals (never over capital).
FRACTIONAL_DECIMALS = 6
# A computed share count within this of the next integer is that integer (float round-off).
_SHARE_ROUNDING_SLACK = 1e-9


def whole_or_fractional_shares(dollars: float, price: float, fractional: bool) -> float:
    """Shares bought with `dollars` at `price`: floored to whole or to 1e-6 units."""
    raw = dollars / price
    if fractional:
        scale = 10**FRACTIONAL_DECIMALS
        return float(math.floor(raw * scale + _SHARE_ROUNDING_SLACK) / scale)
    return float(math.floor(raw + _SHARE_ROUNDING_SLACK))


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
    if not (math.isfinite(capital) and capital > 0):
        raise InvalidParameter(f"capital must be a finite number > 0, got {capital}")
    if not (math.isfinite(time_limit) and time_limit > 0):
        raise InvalidParameter(f"time_limit must be > 0 seconds, got {time_limit}")
    solver_key = solver.lower()
    if solver_key not in SOLVERS:
        raise InvalidParameter(f"unknown solver {solver!r}: choose one of {', '.join(SOLVERS)}")

    kept, dropped = positive_score_candidates(validate_candidates(candidates))
    scores = np.array([c.score for c in kept], dtype=np.float64)

    status: SolveStatus
    if solver_key == "exact":
        exact = solve_exact(scores, params)
        weights, status, objective, bound = (
            exact.weights,
            "optimal",
            exact.objective,
            exact.objective,
        )
    else:
        mip = solve_mip(scores, params, solver_key, time_limit)
        weights, status, objective, bound = mip.weights, mip.status, mip.objective, mip.best_bound

    allocations: list[Allocation] = []
    spent = 0.0
    for candidate, weight in zip(kept, weights, strict=True):
        if weight <= 0:
            continue
        dollars = float(weight) * capital
        shares = whole_or_fractional_shares(dollars, candidate.price, fractional)
        spent += shares * candidate.price
        allocations.append(
            Allocation(
                symbol=candidate.symbol,
                weight=float(weight),
                dollars=dollars,
                shares=shares,
                price=candidate.price,
            )
        )
    allocations.sort(key=lambda a: (-a.weight, a.symbol))
    return AllocationResult(
        allocations=tuple(allocations),
        status=status,
        objective=objective,
        capital=capital,
        cash=capital - spent,
        solver=solver_key,
        best_bound=bound,
        dropped=dropped,
    )


__all__ = ["FRACTIONAL_DECIMALS", "SOLVERS", "allocate", "whole_or_fractional_shares"]
