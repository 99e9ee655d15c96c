"""The score model's fast path: the score allocation solved exactly, and MIP answers polished.

A composable model is *score-shaped* when it is exactly the score model of `exact.py`:

    maximise sum_i s_i w_i   s.t.  min_w x_i <= w_i <= max_w x_i,  sum_i w_i <= 1,
                                   sum_i x_i <= K,  x_i in {0, 1},   every s_i > 0,

that is a `ScoreObjective` with at most one `PositionLimits` and one `Cardinality`, no
holdings and positive scores. For such a model

- `--solver exact` runs the O(N log N) algorithm of `exact.py` without building a program
  (the N = 10,000 allocation in a few milliseconds), and
- a MIP solver's answer keeps only its choice of names: the weights of that selection are
  recomputed exactly (`weights_for_selection` validates the count, `solve_exact` on the
  subset gives the best weights within it, which may hold fewer names). This removes
  round-off and repairs primal values that break the model: CBC in OR-Tools 9.15 merges
  identical columns in presolve and can hand back w = 1.0 for a name capped at 0.93 (with
  the right objective), so the selection is read from the binaries as well as the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import SolverError
from tradefolio.portfolio.backends import (
    ABSOLUTE_GAP,
    LINEAR_ABSOLUTE_GAP,
    RawSolution,
    proven_gap,
)
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.constraints.cardinality import Cardinality
from tradefolio.portfolio.constraints.positions import PositionLimits
from tradefolio.portfolio.context import Universe
from tradefolio.portfolio.exact import solve_exact, weights_for_selection
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.objectives.score import ScoreObjective
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import SolveStatus

#: Relative gap the MIP solvers prove on a score-shaped model (its objective is linear and
#: well scaled, so near machine precision costs little).
SCORE_RELATIVE_GAP = 1e-9
# An unselected name's weight below this is the solver's feasibility tolerance, not a
# position (a 5e-9 weight must not count as an extra name beyond max_positions).
_ZERO_WEIGHT = 1e-6


_SCORE_MODEL_SETTINGS: dict[type, set[str]] = {
    PositionLimits: {"max_weight", "min_weight"},
    Cardinality: {"max_positions"},
}


@dataclass(frozen=True, slots=True)
class ScoreSolution:
    """Target weights in universe order and their objective sum_i s_i w_i."""

    weights: NDArray[np.float64]
    objective: float


def score_shape(
    objective: Objective, constraints: Sequence[Constraint], universe: Universe
) -> AllocatorParams | None:
    """The score model's parameters if the model is score-shaped for `universe`, else None."""
    if type(objective) is not ScoreObjective:
        return None
    if universe.outside or bool(np.any(universe.held_shares != 0)):
        return None
    if universe.size and not bool(np.all(universe.expected > 0)):
        return None
    limits = [c for c in constraints if type(c) is PositionLimits]
    counts = [c for c in constraints if type(c) is Cardinality]
    if len(limits) + len(counts) != len(constraints) or len(limits) > 1 or len(counts) > 1:
        return None
    # Only the score model's settings: a piece configured beyond them (say per-name bounds added
    # to the position limits) is not the score model, and takes the general path.
    if vars(objective) or any(set(vars(c)) != _SCORE_MODEL_SETTINGS[type(c)] for c in constraints):
        return None
    max_weight = limits[0].max_weight if limits else 1.0
    min_weight = limits[0].min_weight if limits else 0.0
    max_positions = counts[0].max_positions if counts else max(1, universe.size)
    return AllocatorParams(max_weight, min_weight, max_positions)


def solve_score_exact(universe: Universe, params: AllocatorParams) -> ScoreSolution:
    """The exact optimum of the score-shaped model (`exact.py`)."""
    exact = solve_exact(universe.expected, params)
    return ScoreSolution(weights=exact.weights, objective=exact.objective)


def polish_selection(
    scores: NDArray[np.float64],
    weights: NDArray[np.float64],
    selected: NDArray[np.float64],
    params: AllocatorParams,
    solver: str,
) -> ScoreSolution:
    """Exact weights for the names a MIP solver chose (see the module docstring).

    Raises `SolverError` when the solver's selection breaks a discrete limit.
    """
    selection = (selected > 0.5) | (weights > _ZERO_WEIGHT)
    try:
        weights_for_selection(scores, selection, params)  # validates the count
    except ValueError as exc:
        raise SolverError(f"{solver} returned an invalid solution: {exc}") from exc
    subset = np.flatnonzero(selection)
    values = np.zeros(len(scores))
    values[subset] = solve_exact(scores[subset], params).weights
    # Correctly rounded (math.fsum), not a BLAS dot whose rounding depends on the CPU's
    # kernel: the same selection reports the same objective on every machine, and
    # `small_score.py` (no numpy) reports it bit for bit.
    products = (scores[subset] * values[subset]).tolist()
    return ScoreSolution(weights=values, objective=math.fsum(products))


def polished_claim(
    objective: float, raw: RawSolution, scale: float
) -> tuple[SolveStatus, float, float]:
    """Status, best bound and proven gap of the polished answer (`objective`).

    The claim is made about the point returned, not the solver's: the solver's bound holds
    for the model whatever point it came with, so the polished answer is proven optimal
    when its own gap to that bound meets the score target (`SCORE_RELATIVE_GAP`) or lies
    within the linear proof's noise (`backends.LINEAR_ABSOLUTE_GAP`, in the solver's units
    of `scale`); a gap within round-off (`backends.ABSOLUTE_GAP`) is 0 (`backends.claim`).
    A solver that selects a name and leaves its weight within its tolerances of zero (seen
    with a 1e-7 score beside 2.0) is proven right once the weights are exact; a name it left
    out for good keeps its gap and stays "feasible".
    """
    bound = raw.best_bound
    gap = proven_gap(objective, bound, maximize=True, round_off=ABSOLUTE_GAP / scale)
    proven = gap <= SCORE_RELATIVE_GAP * (1 + 1e-9) or abs(bound - objective) * scale <= (
        LINEAR_ABSOLUTE_GAP
    )
    return ("optimal" if proven else "feasible"), (objective if gap == 0.0 else bound), gap


__all__ = [
    "SCORE_RELATIVE_GAP",
    "ScoreSolution",
    "polish_selection",
    "polished_claim",
    "score_shape",
    "solve_score_exact",
]
