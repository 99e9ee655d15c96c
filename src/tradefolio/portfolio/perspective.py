"""The diagonal split of a covariance for perspective relaxations: Σ = (Σ - D) + D.

A name that may be held only with a buy-in floor m_i (w_i = 0 or m_i <= w_i <= u_i, with a
selection z_i in {0, 1}) has, for any d_i >= 0, the valid strengthening

    d_i w_i^2  >=  d_i w_i^2 / z_i          (the perspective; equal at z_i in {0, 1})

so the variance w^T Σ w = w^T (Σ - D) w + sum_i d_i w_i^2 may be relaxed with the
perspective of the D part as long as D = diag(d) >= 0 and Σ - D is positive semidefinite
(the rest must stay convex). Where z_i is otherwise free, the best z_i in the relaxation is
min(1, w_i / m_i), so the perspective term projects to the convex piecewise function

    d_i phi_i(w_i),   phi_i(w) = m_i w      for 0 <= w <= m_i
                                 w^2        for m_i <= w <= u_i

(the projected perspective of Frangioni, Furini & Gentile 2016). The bigger D, the stronger
the bound; this module chooses d:

- "sdp": maximise sum_i d_i  s.t.  Σ - diag(d) >= 0,  d >= 0  (Frangioni & Gentile 2007),
  solved by a conic solver through cvxpy (SCS, then Clarabel);
- "scaled" (the cheap fallback, one eigendecomposition): d = t diag(Σ) with the largest t
  that keeps Σ - D PSD, t = λmin(S^-1/2 Σ S^-1/2), S = diag(Σ); then a greedy pass raises
  each d_i by half of the slack 1 / [(Σ - D)^-1]_ii that keeps Σ - D PSD;
- "auto": "sdp" when cvxpy and a conic solver are installed, else "scaled".

Every split is verified before use: the smallest eigenvalue of Σ - D must be >= a margin of
1e-9 λmax(Σ) (else d is shrunk until it is), so a solver's round-off never makes the
relaxation non-convex (a non-convex node would not bound what is below it).

`SplitCache` keeps splits by a digest of the matrix: the SDP of a 200-name covariance takes
seconds, and a model solved again with the same covariance needs it only once.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InvalidParameter

SplitMethod = Literal["auto", "sdp", "scaled"]
SPLIT_METHODS: tuple[str, ...] = ("auto", "sdp", "scaled")
# Σ - D keeps at least this share of λmax(Σ) as its smallest eigenvalue.
_MARGIN = 1e-9


def _smallest_eigenvalue(matrix: NDArray[np.float64]) -> float:
    return float(np.linalg.eigvalsh(matrix)[0])


def verified_split(matrix: NDArray[np.float64], d: NDArray[np.float64]) -> NDArray[np.float64]:
    """`d` (clipped to >= 0) shrunk until matrix - diag(d) has its smallest eigenvalue at or
    above the margin; zeros when the matrix itself is not PSD to the margin."""
    size = matrix.shape[0]
    if size == 0:
        return np.zeros(0)
    largest = float(np.abs(np.linalg.eigvalsh(matrix)).max(initial=0.0))
    margin = _MARGIN * max(largest, 1e-300)
    split = np.maximum(np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    for _ in range(60):
        if _smallest_eigenvalue(matrix - np.diag(split)) >= margin:
            return split
        split = np.maximum(split * 0.999 - margin, 0.0) if split.any() else split
        if not split.any():
            break
    return np.zeros(size)


def scaled_split(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """The cheap split: t diag(Σ) with t = λmin of the correlation form, then a greedy pass
    that raises each d_i by half of the largest step keeping Σ - D PSD (Sherman-Morrison)."""
    diagonal = np.diagonal(matrix).copy()
    size = len(diagonal)
    if size == 0 or np.any(diagonal <= 0):
        return np.zeros(size)
    root = 1.0 / np.sqrt(diagonal)
    t = _smallest_eigenvalue(root[:, None] * matrix * root[None, :])
    split = verified_split(matrix, max(t, 0.0) * diagonal * (1.0 - 1e-6))
    rest = matrix - np.diag(split)
    try:
        inverse = np.linalg.inv(rest)
    except np.linalg.LinAlgError:
        return split
    if not np.all(np.isfinite(inverse)):
        return split
    for i in np.argsort(-diagonal):
        slack = inverse[i, i]
        if not (math.isfinite(slack) and slack > 0):
            continue
        step = 0.5 / slack
        # (R - s e_i e_i^T)^-1 = R^-1 + s R^-1 e_i e_i^T R^-1 / (1 - s [R^-1]_ii)
        column = inverse[:, i].copy()
        inverse += step * np.outer(column, column) / (1.0 - step * slack)
        split[i] += step
    return verified_split(matrix, split)


def sdp_split(matrix: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """max sum d s.t. Σ - diag(d) >= 0, d >= 0, by a conic solver via cvxpy; None when
    cvxpy or every conic solver is missing or fails (the caller falls back)."""
    try:
        import cvxpy
    except ImportError:
        return None
    cp: Any = cvxpy  # untyped
    size = matrix.shape[0]
    # Scaled to unit diagonal: the solvers' tolerances are then relative to the entries.
    diagonal = np.diagonal(matrix)
    if size == 0 or np.any(diagonal <= 0):
        return None
    root = 1.0 / np.sqrt(diagonal)
    scaled = root[:, None] * matrix * root[None, :]
    scaled = 0.5 * (scaled + scaled.T)
    d = cp.Variable(size)
    problem = cp.Problem(cp.Maximize(cp.sum(d)), [scaled - cp.diag(d) >> 0, d >= 0])
    installed = set(cp.installed_solvers())
    for solver, options in (("SCS", {"eps": 1e-7, "max_iters": 20000}), ("CLARABEL", {})):
        if solver not in installed:
            continue
        try:
            problem.solve(solver=solver, **options)
        except (cp.error.SolverError, ArithmeticError, ValueError):
            continue
        if d.value is not None and problem.status in ("optimal", "optimal_inaccurate"):
            return np.asarray(d.value, dtype=np.float64) * diagonal
    return None


def diagonal_split(matrix: NDArray[np.float64], method: str = "auto") -> NDArray[np.float64]:
    """A verified d >= 0 with matrix - diag(d) PSD, chosen by `method` (see the module)."""
    if method not in SPLIT_METHODS:
        raise InvalidParameter(
            f"unknown diagonal split {method!r}: choose one of {', '.join(SPLIT_METHODS)}"
        )
    symmetric = 0.5 * (matrix + matrix.T)
    if method in ("auto", "sdp"):
        found = sdp_split(symmetric)
        if found is not None:
            split = verified_split(symmetric, found)
            # The SDP's optimum dominates the cheap split; keep the better of the two when
            # the solver stopped early.
            cheap = scaled_split(symmetric)
            return split if split.sum() >= cheap.sum() else cheap
    return scaled_split(symmetric)


class SplitCache:
    """Splits by (method, digest of the matrix), the most recent `capacity` kept."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._splits: OrderedDict[tuple[str, str], NDArray[np.float64]] = OrderedDict()
        self.hits = 0

    def split(self, matrix: NDArray[np.float64], method: str = "auto") -> NDArray[np.float64]:
        """`diagonal_split(matrix, method)`, computed once per matrix."""
        contiguous = np.ascontiguousarray(matrix, dtype=np.float64)
        digest = hashlib.sha256(contiguous.tobytes()).hexdigest()
        key = (method, f"{contiguous.shape}:{digest}")
        if key in self._splits:
            self._splits.move_to_end(key)
            self.hits += 1
            return self._splits[key].copy()
        split = diagonal_split(contiguous, method)
        self._splits[key] = split
        while len(self._splits) > self.capacity:
            self._splits.popitem(last=False)
        return split.copy()


@dataclass(frozen=True, slots=True)
class ProjectedPerspective:
    """The projected perspective terms of a node relaxation in HiGHS.

    For each floored selection j (weight column w_j, floor m_j, cap u_j, split d_j > 0) two
    columns a_j in [0, m_j], b_j in [0, u_j - m_j] with the row  w_j - a_j - b_j = 0, the
    costs d_j m_j a_j + 2 d_j m_j b_j and the square d_j b_j^2, while the weights keep
    Σ - D. Since a_j is cheaper than b_j, the optimum fills a_j first, and the terms add up
    to d_j phi_j(w_j) (see the module). A node sets z_j = 0 by a_j = b_j = 0 and z_j = 1 by
    a_j = m_j: the terms are then exactly d_j w_j^2, so a node with every selection fixed
    has the true objective.
    """

    members: NDArray[np.intp]  # selection indices j with a term
    columns: NDArray[np.int32]  # their weight columns
    split: NDArray[np.float64]  # d_j, in the relaxation's (minimised, scaled) units
    floors: NDArray[np.float64]  # m_j
    spans: NDArray[np.float64]  # u_j - m_j

    @classmethod
    def none(cls) -> ProjectedPerspective:
        """No perspective terms."""
        empty = np.zeros(0)
        return cls(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int32), empty, empty, empty)

    @classmethod
    def of(
        cls,
        hessian: NDArray[np.float64],
        weight_columns: NDArray[np.int32],
        floors: NDArray[np.float64],
        caps: NDArray[np.float64],
        cache: SplitCache,
        method: str,
    ) -> ProjectedPerspective:
        """The terms for the floored selections; none when no selection has a floor or the
        quadratic part reaches beyond the weights (`hessian` is that of 1/2 x^T H x)."""
        floored = (floors > 0) & (caps >= floors)
        if not floored.any() or len(weight_columns) == 0:
            return cls.none()
        others = np.ones(hessian.shape[0], dtype=bool)
        others[weight_columns] = False
        if np.any(hessian[others] != 0.0):
            return cls.none()
        block = 0.5 * hessian[np.ix_(weight_columns, weight_columns)]
        split = cache.split(block, method)
        largest = float(np.abs(np.diagonal(block)).max(initial=0.0))
        keep = floored & (split > 1e-12 * max(largest, 1e-300))
        if not keep.any():
            return cls.none()
        members = np.flatnonzero(keep)
        return cls(
            members,
            weight_columns[members].astype(np.int32),
            split[members],
            floors[members],
            np.maximum(caps[members] - floors[members], 0.0),
        )

    @property
    def size(self) -> int:
        """Number of perspective terms."""
        return len(self.members)

    def extend(self, highs: Any, hessian: NDArray[np.float64], kept: int) -> NDArray[np.float64]:
        """Add the a and b columns after the `kept` columns; the Hessian over all columns."""
        count = self.size
        if count == 0:
            return hessian
        highs.addVars(2 * count, np.zeros(2 * count), np.concatenate([self.floors, self.spans]))
        cost = np.concatenate([self.split * self.floors, 2.0 * self.split * self.floors])
        highs.changeColsCost(2 * count, np.arange(kept, kept + 2 * count, dtype=np.int32), cost)
        extended = np.zeros((kept + 2 * count, kept + 2 * count))
        extended[:kept, :kept] = hessian
        extended[self.columns, self.columns] -= 2.0 * self.split
        squares = np.arange(kept + count, kept + 2 * count)
        extended[squares, squares] = 2.0 * self.split
        return extended

    def add_rows(self, highs: Any, kept: int) -> None:
        """w_j - a_j - b_j = 0 for every term (after the model's rows)."""
        count = self.size
        if count == 0:
            return
        index = np.column_stack(
            [self.columns, kept + np.arange(count), kept + count + np.arange(count)]
        ).ravel()
        values = np.tile(np.array([1.0, -1.0, -1.0]), count)
        highs.addRows(
            count,
            np.zeros(count),
            np.zeros(count),
            3 * count,
            np.arange(0, 3 * count, 3, dtype=np.int32),
            index.astype(np.int32),
            values,
        )

    def set_bounds(
        self, highs: Any, zero: NDArray[np.bool_], one: NDArray[np.bool_], kept: int
    ) -> None:
        """Bounds of a and b for selections fixed at 0 (`zero`), at 1 (`one`) or free."""
        count = self.size
        if count == 0:
            return
        off, on = zero[self.members], one[self.members]
        a_lower = np.where(on, self.floors, 0.0)
        a_upper = np.where(off, 0.0, self.floors)
        b_upper = np.where(off, 0.0, self.spans)
        columns = np.arange(kept, kept + 2 * count, dtype=np.int32)
        highs.changeColsBounds(
            2 * count,
            columns,
            np.concatenate([a_lower, np.zeros(count)]),
            np.concatenate([a_upper, b_upper]),
        )


__all__ = [
    "SPLIT_METHODS",
    "ProjectedPerspective",
    "SplitCache",
    "SplitMethod",
    "diagonal_split",
    "scaled_split",
    "sdp_split",
    "verified_split",
]
