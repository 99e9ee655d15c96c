"""Exact O(N log N) solver of the score-weighted allocation model.

    maximise   sum_i s_i w_i
    subject to min_w x_i <= w_i <= max_w x_i,  sum_i w_i <= 1,  sum_i x_i <= K,  x_i in {0,1}

with all s_i > 0. Two facts make it combinatorial:

1. Some optimal selection is a *prefix* of the names sorted by score: swapping a selected
   name for an unselected higher-scoring one, with the same weight, keeps every constraint
   and does not lower the objective.
2. For a fixed selection of m names the rest is a fractional knapsack with unit sizes:
   every name gets its floor min_w, and the budget left, B = 1 - m min_w, tops up the
   highest scores first, each by at most d = max_w - min_w.

So with prefix sums P of the sorted scores, q = min(m, floor(B / d)) names get the full
top-up and the next one gets the remainder r = B - q d:

    f(m) = min_w P(m) + d P(q) + [q < m] r s_(q+1),   m = 0 .. min(K, N, floor(1 / min_w))

and the optimum is max_m f(m): one sort plus O(N) vectorised work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.params import AllocatorParams

# Slack for floating-point round-off when counting how many floors fit in the budget.
_COUNT_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class ExactSolution:
    """Optimal weights in the input order and their objective."""

    weights: NDArray[np.float64]
    objective: float


def max_selectable(n_candidates: int, params: AllocatorParams) -> int:
    """Largest feasible number of held names: min(K, N, floor(1 / min_weight))."""
    limit = min(params.max_positions, n_candidates)
    if params.min_weight * limit > 1.0:
        limit = min(limit, int(np.floor(1.0 / params.min_weight + _COUNT_TOLERANCE)))
    return limit


def solve_exact(scores: NDArray[np.float64], params: AllocatorParams) -> ExactSolution:
    """Optimal weights for positive `scores` (ties broken by input order, fewest names)."""
    n = len(scores)
    weights = np.zeros(n)
    if n == 0:
        return ExactSolution(weights=weights, objective=0.0)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    prefix = np.concatenate(([0.0], np.cumsum(sorted_scores)))

    floor_w, cap_w = params.min_weight, params.max_weight
    top_up = cap_w - floor_w
    counts = np.arange(max_selectable(n, params) + 1)
    budget = np.clip(1.0 - counts * floor_w, 0.0, None)
    if top_up > 0:
        full = np.minimum(np.floor(budget / top_up + _COUNT_TOLERANCE).astype(np.int64), counts)
        remainder = np.clip(budget - full * top_up, 0.0, top_up)
    else:
        full = np.zeros_like(counts)
        remainder = np.zeros(len(counts))
    partial_score = np.where(full < counts, sorted_scores[np.minimum(full, n - 1)], 0.0)
    objectives = floor_w * prefix[counts] + top_up * prefix[full] + remainder * partial_score

    best = int(np.argmax(objectives))
    m, q = int(counts[best]), int(full[best])
    sorted_weights = np.zeros(n)
    sorted_weights[:m] = floor_w
    sorted_weights[:q] += top_up
    if q < m:
        sorted_weights[q] += remainder[best]
    weights[order] = sorted_weights
    return ExactSolution(weights=weights, objective=float(objectives[best]))


def weights_for_selection(
    scores: NDArray[np.float64], selected: NDArray[np.bool_], params: AllocatorParams
) -> NDArray[np.float64]:
    """Optimal weights once the held names are fixed (fact 2 above): floors, then top-ups
    to the highest scores. Raises `ValueError` if the selection breaks a discrete limit."""
    count = int(selected.sum())
    if count > max_selectable(len(scores), params):
        raise ValueError(f"a selection of {count} names breaks max_positions or the floors")
    weights = np.zeros(len(scores))
    weights[selected] = params.min_weight
    budget = max(1.0 - count * params.min_weight, 0.0)
    top_up = params.max_weight - params.min_weight
    for index in np.flatnonzero(selected)[np.argsort(-scores[selected], kind="stable")]:
        extra = min(top_up, budget)
        if extra <= 0:
            break
        weights[index] += extra
        budget -= extra
    return weights


__all__ = ["ExactSolution", "max_selectable", "solve_exact", "weights_for_selection"]
