"""Doubly-nonnegative lower bounds for mean-variance with a cardinality cap on the simplex.

The problem (issue 16's λ = 200, K = 10 benchmark, in minimisation form):

    minimise   f(w) = w^T H w - c^T w      (H = λ Σ, c = mu)
    subject to sum w = 1,  w >= 0,  at most K names with w_i > 0.

Its big-M relaxation is the plain QP over the simplex (with caps of 1 the count row cannot
bind), and the perspective of a diagonal split Σ = (Σ - D) + D is weak here: Σ is the
sample covariance of 252 daily returns, nearly singular at N = 200 and singular from
N = 252 on, so any D with Σ - D PSD is small. Two facts of the simplex give a much
stronger split:

- every w of the simplex has 1^T w = 1, so for any vector v
  w^T (v 1^T + 1 v^T) w / 2 = v^T w: a form sym(v 1^T) may be moved into a linear term;
- w >= 0, so w^T N w >= 0 for any N >= 0 entrywise (every sample correlation of these
  sets is positive: the off-diagonal mass is what N can take).

A *certificate* is (M, N, d, v) with

    H + (v 1^T + 1 v^T) / 2 = M + N + diag(d),   M PSD,  N >= 0 entrywise,  d >= 0,

and then on the simplex  f(w) = w^T M w + w^T N w + sum d_i w_i^2 - (c + v)^T w
>= w^T M w + sum d_i w_i^2 - (c + v)^T w,  a convex function whose separable part takes
the perspective d_i w_i^2 / z_i of the count sum z <= K (`CertificateBounds`). The best
certificate is the dual of the doubly-nonnegative (DNN) SDP relaxation

    minimise <H, W> - c^T w  s.t.  [1 w^T; w W] PSD,  W >= 0,  W 1 = w,  sum w = 1,
             w_i^2 <= W_ii z_i,  sum z <= K,  0 <= z <= 1,

solved by a first-order method of its own (`admm_certificate`, the search's choice up to
500 names) or by SCS (`dnn_certificate`, the cone program built directly); its duals become a
certificate after an exact repair (`verified_certificate`: N clipped to >= 0, M's
smallest eigenvalue lifted above a round-off margin out of d), so the bound is valid
whatever SCS's accuracy. The diagonal split of `perspective.py` is the certificate with
N = 0, v = 0 (`split_certificate`), the plain relaxation the one with M = H.

Measured (docs/model.md): at N = 100 the DNN bound leaves 0.02% of root gap where the
plain relaxation leaves 1.92% and the cheap split 1.29%; at N = 200 0.1-0.2% against
3.4%. The first-order certificate and the node QPs share the search's time
(`cardinality_search.py`, docs/model.md session 10).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import MissingExtra
from tradefolio.extras import import_extra
from tradefolio.portfolio.node_qp import (
    AT_KINK,
    AT_LOWER,
    FREE_HIGH,
    FREE_LOW,
    ActiveSetQP,
    NodeQPFailure,
    NodeState,
    Pieces,
    tangent_bound,
)
from tradefolio.portfolio.perspective import scaled_split

# Evaluations of the count's multiplier θ per bound (a search on L's derivative).
_THETA_STEPS = 30
# Relative margin below the target under which the θ search gives up (the node branches).
_THETA_PRUNE_MARGIN = 1e-7
# Relative gain of the θ search's concave upper estimate over its best bound that counts
# as none.
_THETA_CONVERGED = 1e-11
# Relative margin by which a repaired M's smallest eigenvalue is lifted above 0.
_EIGEN_MARGIN = 1e-12
# The largest |H| SCS sees (see `dnn_certificate`).
_SCS_SCALE = 0.1


@dataclass(frozen=True, slots=True)
class SimplexCardinality:
    """minimise w^T H w - c^T w over sum w = 1, w >= 0, at most `max_names` names held."""

    hessian: NDArray[np.float64]  # H, symmetric PSD (the form itself, not 1/2 H)
    cost: NDArray[np.float64]  # c
    max_names: int

    @property
    def size(self) -> int:
        return len(self.cost)

    def objective(self, w: NDArray[np.float64]) -> float:
        """f(w) = w^T H w - c^T w."""
        return float(w @ self.hessian @ w - self.cost @ w)


@dataclass(frozen=True, slots=True)
class Certificate:
    """H + sym(v 1^T) = psd + N + diag(diagonal) with psd PSD, N >= 0, diagonal >= 0 (N
    itself is not kept: only that it is >= 0 matters). See the module."""

    psd: NDArray[np.float64]  # M
    diagonal: NDArray[np.float64]  # d
    shift: NDArray[np.float64]  # v


def verified_certificate(
    problem: SimplexCardinality,
    nonnegative: NDArray[np.float64],
    diagonal: NDArray[np.float64],
    shift: NDArray[np.float64],
) -> Certificate | None:
    """The certificate of candidate (N, d, v), repaired to be exact, or None.

    N is symmetrised and clipped to >= 0, d to >= 0; M = H + sym(v 1^T) - N - diag(d). If
    M's smallest eigenvalue is below a round-off margin (an inexact conic answer), M's
    diagonal gains up to that shortfall per name, taken out of d_i, then out of N_ii: the
    identity stays exact. None when M stays indefinite (d and N's diagonal too small where
    M needs them)."""
    size = problem.size
    ones = np.ones(size)
    shift = np.asarray(shift, dtype=np.float64).reshape(size)
    n_matrix = np.maximum(0.5 * (nonnegative + nonnegative.T), 0.0)
    d = np.maximum(np.asarray(diagonal, dtype=np.float64).reshape(size), 0.0)
    moved = problem.hessian + 0.5 * (np.outer(shift, ones) + np.outer(ones, shift))
    psd = moved - n_matrix - np.diag(d)
    psd = 0.5 * (psd + psd.T)
    scale = max(float(np.abs(moved).max(initial=0.0)), 1e-300)
    smallest = float(np.linalg.eigvalsh(psd)[0]) if size else 0.0
    # Lifted only when below a margin for the eigenvalue's own round-off (n eps |M|).
    margin = _EIGEN_MARGIN * scale * max(size, 1)
    if smallest >= margin:
        return Certificate(psd, d, shift)
    # Each name gives at most what its d_i and N_ii hold (the identity stays exact); a name
    # short of the lift may still leave M PSD when the negative direction is elsewhere, so
    # the lift is tried at 1, 4 and 16 times the eigenvalue's shortfall.
    available = d + np.diagonal(n_matrix)
    for factor in (1.0, 4.0, 16.0):
        lift = np.minimum(factor * (margin - smallest), available)
        lifted = psd + np.diag(lift)
        if float(np.linalg.eigvalsh(lifted)[0]) >= 0.0:
            # The lift comes out of d first, then out of N's diagonal (kept implicitly).
            return Certificate(lifted, d - np.minimum(d, lift), shift)
    return None


def split_certificate(problem: SimplexCardinality) -> Certificate:
    """The cheap diagonal split of `perspective.py` as a certificate (N = 0, v = 0)."""
    d = scaled_split(problem.hessian)
    return Certificate(problem.hessian - np.diag(d), d, np.zeros(problem.size))


def plain_certificate(problem: SimplexCardinality) -> Certificate:
    """No split at all (M = H): its bound is the plain continuous relaxation."""
    return Certificate(problem.hessian.copy(), np.zeros(problem.size), np.zeros(problem.size))


def _dnn_cone_program(
    hessian: NDArray[np.float64], cost: NDArray[np.float64], max_names: int
) -> tuple[Any, NDArray[np.float64], NDArray[np.float64], dict[str, Any]]:
    """The DNN relaxation in SCS's form  min c^T x  s.t.  A x + s = b,  s in the cones.

    x = (svec X, z): X = [1 w^T; w W] by SCS's svec (lower triangle column by column,
    off-diagonal entries times sqrt 2). Rows, in SCS's cone order: zero cone X_00 = 1,
    sum w = 1, W 1 - w = 0 (n rows); nonnegative cone W_ij >= 0 for i >= j (n (n + 1) / 2
    rows), z >= 0, z <= 1, sum z <= K; second-order cones (W_ii + z_i, 2 w_i, W_ii - z_i)
    (w_i^2 <= W_ii z_i); the PSD cone svec X."""
    sparse = import_extra("scipy.sparse", "portfolio", "the DNN bound")
    n = len(cost)
    p = n + 1
    m = p * (p + 1) // 2
    root2 = math.sqrt(2.0)

    def index(i: NDArray[np.intp], j: NDArray[np.intp]) -> NDArray[np.intp]:
        high, low = np.maximum(i, j), np.minimum(i, j)
        return np.asarray(low * p - low * (low - 1) // 2 + (high - low), dtype=np.intp)

    def unit(i: NDArray[np.intp], j: NDArray[np.intp]) -> NDArray[np.float64]:
        """X_ij = unit * x[index(i, j)]."""
        return np.where(i == j, 1.0, 1.0 / root2)

    names = np.arange(n)
    rows_i, rows_j = np.tril_indices(n)  # W's lower triangle (i >= j), 0-based in W
    objective = np.zeros(m + n)
    np.add.at(
        objective,
        index(rows_i + 1, rows_j + 1),
        np.where(rows_i == rows_j, 1.0, 2.0 / root2) * hessian[rows_i, rows_j],
    )
    objective[index(names + 1, np.zeros(n, dtype=np.intp))] -= cost / root2
    entries: list[tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]] = []
    right: list[NDArray[np.float64]] = []
    row = 0

    def block(
        count: int, local: NDArray[np.intp], column: NDArray[np.intp], value: NDArray[np.float64]
    ) -> None:
        nonlocal row
        entries.append((row + local, column, value))
        row += count

    zero_w = np.zeros(n, dtype=np.intp)
    block(1, np.zeros(1, dtype=np.intp), np.zeros(1, dtype=np.intp), np.ones(1))
    block(1, zero_w, index(names + 1, zero_w), np.full(n, 1.0 / root2))
    grid_i, grid_j = np.repeat(names, n), np.tile(names, n)
    block(
        n,
        np.concatenate([grid_i, names]),
        np.concatenate([index(grid_i + 1, grid_j + 1), index(names + 1, zero_w)]),
        np.concatenate([unit(grid_i + 1, grid_j + 1), np.full(n, -1.0 / root2)]),
    )
    right += [np.ones(2), np.zeros(n)]
    zeros = row
    pairs = len(rows_i)
    block(pairs, np.arange(pairs), index(rows_i + 1, rows_j + 1), -unit(rows_i + 1, rows_j + 1))
    block(n, names, m + names, -np.ones(n))
    block(n, names, m + names, np.ones(n))
    block(1, zero_w, m + names, np.ones(n))
    right += [np.zeros(pairs + n), np.ones(n), np.array([float(max_names)])]
    linear = row - zeros
    diagonal, first = index(names + 1, names + 1), index(names + 1, zero_w)
    cone_rows = 3 * names
    block(
        3 * n,
        np.concatenate([cone_rows, cone_rows, cone_rows + 1, cone_rows + 2, cone_rows + 2]),
        np.concatenate([diagonal, m + names, first, diagonal, m + names]),
        np.concatenate(
            [-np.ones(n), -np.ones(n), np.full(n, -2.0 / root2), -np.ones(n), np.ones(n)]
        ),
    )
    block(m, np.arange(m), np.arange(m), -np.ones(m))
    right += [np.zeros(3 * n + m)]
    matrix = sparse.csc_matrix(
        (
            np.concatenate([e[2] for e in entries]),
            (np.concatenate([e[0] for e in entries]), np.concatenate([e[1] for e in entries])),
        ),
        shape=(row, m + n),
    )
    cones = {"z": zeros, "l": linear, "q": [3] * n, "s": [p]}
    return matrix, np.concatenate(right), objective, cones


def dnn_certificate(
    problem: SimplexCardinality,
    accuracy: float = 1e-4,
    max_iterations: int = 100_000,
    seconds: float | None = None,
    relaxation: float = 1.5,
) -> Certificate | None:
    """The certificate from the dual of the DNN relaxation (the module) by SCS (`relaxation`
    is its over-relaxation alpha), within
    `seconds` of SCS's time if given (an early stop's duals are repaired like any others);
    None when SCS is missing or fails, or its duals cannot be repaired.

    The program goes to SCS directly (`_dnn_cone_program`): through cvxpy its compilation
    alone took 0.6 s at N = 100. SCS's tolerances are absolute-ish and its speed depended on
    the data's scale (N = 100, eps 1e-4: 1.7 s at largest |H| = 0.1, 6.6 s at 1, 10.8 s
    at 1e3), so it solves the problem scaled to largest |H| = 0.1; the duals scale back."""
    try:
        scs = import_extra("scs", "portfolio", "the DNN bound")
    except MissingExtra:
        return None
    size = problem.size
    largest = float(np.abs(problem.hessian).max(initial=0.0))
    if size == 0 or not largest > 0:
        return None
    scale = _SCS_SCALE / largest
    matrix, right, objective, cones = _dnn_cone_program(
        scale * problem.hessian, scale * problem.cost, problem.max_names
    )
    options: dict[str, Any] = {
        "eps_abs": accuracy,
        "eps_rel": accuracy,
        "max_iters": max_iterations,
        "alpha": relaxation,
        "verbose": False,
    }
    if seconds is not None:
        options["time_limit_secs"] = max(seconds, 1e-3)
    try:
        solver = scs.SCS({"A": matrix, "b": right, "c": objective}, cones, **options)
        answer = solver.solve()
    except (ValueError, ArithmeticError):
        return None
    duals = np.asarray(answer.get("y"), dtype=np.float64)
    if duals.shape != right.shape or not np.all(np.isfinite(duals)):
        return None
    zeros, linear = cones["z"], cones["l"]
    shift = duals[2 : 2 + size]
    pairs = duals[zeros : zeros + size * (size + 1) // 2]
    rows_i, rows_j = np.tril_indices(size)
    nonnegative = np.zeros((size, size))
    # W_ij >= 0 for i > j stands for both W_ij and W_ji: each gets half its dual.
    halves = np.where(rows_i == rows_j, pairs, 0.5 * pairs)
    nonnegative[rows_i, rows_j] = halves
    nonnegative[rows_j, rows_i] = halves
    cone = duals[zeros + linear : zeros + linear + 3 * size].reshape(size, 3)
    diagonal = cone[:, 0] + cone[:, 2]  # the cone's dual on W_ii
    return verified_certificate(problem, nonnegative / scale, diagonal / scale, shift / scale)


# The simplex solver's settings (`SimplexPiecesQP`).
_SIMPLEX_RIDGE = 1e-10  # of the largest diagonal, as node_qp's
_SIMPLEX_REFRESH = 40  # inverse updates between two fresh inverses


class SimplexPiecesQP:
    """minimise q^T x + 1/2 x^T A x + sum_j t_j(x_j) over sum x = 1, 0 <= x <= u (u_j in
    {0, 1}: a name out of the node has u_j = 0), t_j the convex pieces of `node_qp.Pieces`
    with at most one kink in (0, 1): the node problem of `CertificateBounds`.

    The same primal active set as `node_qp.ActiveSetQP` (each weight at 0, at its kink or
    free in a piece; a step to the free weights' minimum on sum x = 1, blocked at the first
    kink or 0; at a subspace minimum the most wrongly signed reduced gradient is released),
    specialised to the one row: the step p and the row's multiplier μ solve
    K [μ; p] = [0; -g] with K = [0 1^T; 1 B], B the free weights' Hessian block plus their
    pieces' curvature and a ridge of `_SIMPLEX_RIDGE`, from an inverse of K kept by
    bordering (a weight freed) and its Schur complement (a weight fixed): O(k^2) per
    iteration instead of a dense (k + 1)-square solve, refreshed every `_SIMPLEX_REFRESH`
    updates. K, not B: B is singular wherever M is on the free names (the certificate's M
    is singular on purpose, and the linear pieces add no curvature), and an inverse of B
    then lost the row (a step summing to 7e-7 was seen). The upper bound of 1 never binds
    on the simplex except at a vertex, and is not tracked.

    Nothing rests on its accuracy: the caller bounds the node by `node_qp.tangent_bound`
    of the end's point and λ, valid for any of them, and falls back to `ActiveSetQP` when
    this raises `NodeQPFailure` (iteration limit, a breakdown of the inverse)."""

    def __init__(self, hessian: NDArray[np.float64], cost: NDArray[np.float64]) -> None:
        self.hessian = np.ascontiguousarray(hessian, dtype=np.float64)
        self.cost = np.asarray(cost, dtype=np.float64)
        self.size = len(self.cost)
        largest = float(np.abs(np.diagonal(self.hessian)).max(initial=0.0))
        self.ridge = _SIMPLEX_RIDGE * max(largest, 1.0)
        self.scale = (
            1.0 + float(np.abs(self.cost).max(initial=0.0)) + float(np.abs(self.hessian).max())
        )
        self.iteration_limit = 20 * self.size + 100

    def _inverse(self, free: list[int], curvature: NDArray[np.float64]) -> NDArray[np.float64]:
        """K^-1 afresh (K = [0 1^T; 1 A_FF + diag(curvature of F) + ridge], see the class)."""
        k = len(free)
        system = np.empty((k + 1, k + 1))
        system[0, 0] = 0.0
        system[0, 1:] = system[1:, 0] = 1.0
        system[1:, 1:] = self.hessian[np.ix_(free, free)]
        system[1 + np.arange(k), 1 + np.arange(k)] += curvature[free] + self.ridge
        try:
            return np.asarray(np.linalg.inv(system), dtype=np.float64)
        except np.linalg.LinAlgError as exc:
            raise NodeQPFailure("singular KKT system") from exc

    def _start(
        self, pieces: Pieces, start: NodeState | None, has_kink: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
        """A feasible start: `start`'s point and statuses, the kinks' weights moved to the
        new kinks and the sum put back on 1 by the free weights inside their pieces (else
        by scaling every weight); without a usable start the best vertex."""
        upper, kink = pieces.upper, pieces.kink
        movable = upper > pieces.lower
        if start is not None:
            old = start.status
            at_kink = has_kink & (old == AT_KINK)
            free = movable & ~at_kink & (old != AT_LOWER) & (old != AT_KINK)
            x = np.where(free, np.clip(start.x, 0.0, upper), 0.0)
            x[at_kink] = kink[at_kink]
            high = free & has_kink & (x > kink)
            status = np.where(free, np.where(high, FREE_HIGH, FREE_LOW), AT_LOWER).astype(np.int8)
            status[at_kink] = AT_KINK
            total = float(x.sum())
            deficit = 1.0 - total
            if abs(deficit) > 1e-15:
                names = np.flatnonzero(free)
                values = x[names]
                if deficit > 0:
                    end = np.where(has_kink[names] & ~high[names], kink[names], upper[names])
                    room = end - values
                else:
                    room = values - np.where(high[names], kink[names], 0.0)
                room = np.maximum(room, 0.0)
                spare = float(room.sum())
                if spare > abs(deficit) * (1.0 + 1e-9):
                    x[names] = values + deficit * room / spare
                elif total > 0.0:
                    x = x / total
                    status = np.where(
                        x > 0.0, np.where(has_kink & (x > kink), FREE_HIGH, FREE_LOW), AT_LOWER
                    ).astype(np.int8)
                else:
                    start = None
            if start is not None:
                return x, status
        # The vertex of least objective: q_j + A_jj / 2 + t_j(1).
        ends = np.ones(self.size)
        values = self.cost + 0.5 * np.diagonal(self.hessian) + _separable_each(pieces, ends)
        vertex = int(np.argmin(np.where(movable, values, np.inf)))
        x = np.zeros(self.size)
        x[vertex] = 1.0
        status = np.full(self.size, AT_LOWER, dtype=np.int8)
        status[vertex] = FREE_HIGH if has_kink[vertex] else FREE_LOW
        return x, status

    def solve(
        self, pieces: Pieces, start: NodeState | None = None, deadline: float = math.inf
    ) -> tuple[NDArray[np.float64], float, NodeState, int]:
        """The node's optimum from `start` (a parent's state): (point, λ, state,
        iterations). Raises `NodeQPFailure` past `deadline` or the iteration limit."""
        hessian, cost = self.hessian, self.cost
        kink = pieces.kink
        movable = pieces.upper > pieces.lower
        if not movable.any():
            raise NodeQPFailure("no name may be held")
        has_kink = movable & (kink > pieces.lower) & (kink < pieces.upper)
        lin0, lin1 = pieces.lin0, pieces.lin1
        curvature0, curvature1 = 2.0 * pieces.quad0, 2.0 * pieces.quad1
        x, status = self._start(pieces, start, has_kink)
        curvature = np.where(status == FREE_HIGH, curvature1, curvature0)
        free = np.flatnonzero(status >= FREE_LOW).tolist()
        inverse = self._inverse(free, curvature)
        updates = 0
        tolerance = 1e-9 * self.scale
        step_floor = 1e-12
        level = 0.0
        for iteration in range(1, self.iteration_limit + 1):
            if iteration % 50 == 0 and time.monotonic() > deadline:
                raise NodeQPFailure("time limit of the node")
            if updates >= _SIMPLEX_REFRESH:
                inverse, updates = self._inverse(free, curvature), 0
            names = np.array(free, dtype=np.intp)
            smooth = cost + hessian @ x
            values = x[names]
            high = status[names] == FREE_HIGH
            gradient = smooth[names] + np.where(
                high,
                lin1[names] + curvature1[names] * values,
                lin0[names] + curvature0[names] * values,
            )
            solved = inverse[:, 1:] @ gradient
            level = float(solved[0])  # -μ: the free weights' common gradient at the step's end
            step = -solved[1:]
            if float(np.abs(step).max()) > step_floor:
                falling = step < 0
                ends = np.where(falling, np.where(high, kink[names], 0.0), np.inf)
                ends = np.where(~falling & (step > 0) & ~high & has_kink[names], kink[names], ends)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = np.where(np.isfinite(ends), (ends - values) / step, np.inf)
                blocking = int(np.argmin(ratios))
                alpha = max(float(ratios[blocking]), 0.0)
                if alpha < 1.0:
                    x[names] = values + alpha * step
                    j = free[blocking]
                    end = float(ends[blocking])
                    x[j] = end
                    status[j] = AT_KINK if end > 0.0 else AT_LOWER
                    inverse = self._without(inverse, free, blocking, curvature)
                    free.pop(blocking)
                    updates += 1
                    if not free:
                        raise NodeQPFailure("every weight fixed")
                    continue
                x[names] = values + step
                smooth = cost + hessian @ x
            # A subspace minimum: the fixed weight whose reduced gradient is most wrong.
            at_lower = movable & (status == AT_LOWER)
            at_kink = status == AT_KINK
            rise = np.where(at_lower, -(smooth + lin0 + curvature0 * x - level), -np.inf)
            rise = np.where(at_kink, -(smooth + lin1 + curvature1 * x - level), rise)
            fall = np.where(at_kink, smooth + lin0 + curvature0 * x - level, -np.inf)
            up, down = int(np.argmax(rise)), int(np.argmax(fall))
            if max(rise[up], fall[down]) <= tolerance:
                break
            if rise[up] >= fall[down]:
                j, becomes = up, FREE_HIGH if status[up] == AT_KINK else FREE_LOW
            else:
                j, becomes = down, FREE_LOW
            status[j] = becomes
            curvature[j] = curvature1[j] if becomes == FREE_HIGH else curvature0[j]
            inverse = self._with(inverse, free, j, curvature)
            free.append(j)
            updates += 1
        else:
            raise NodeQPFailure("iteration limit")
        return x, level, NodeState(x.copy(), status.copy(), ((0, 1),)), iteration

    def _with(
        self,
        inverse: NDArray[np.float64],
        free: list[int],
        j: int,
        curvature: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """K^-1 bordered by weight j (its Schur complement; afresh when that is round-off)."""
        column = np.empty(len(free) + 1)
        column[0] = 1.0
        column[1:] = self.hessian[free, j]
        corner = float(self.hessian[j, j]) + float(curvature[j]) + self.ridge
        solved = inverse @ column
        schur = corner - float(column @ solved)
        if not abs(schur) > 1e-9 * abs(corner):
            return self._inverse([*free, j], curvature)
        k = len(column)
        grown = np.empty((k + 1, k + 1))
        grown[:k, :k] = inverse + np.outer(solved, solved) / schur
        grown[:k, k] = grown[k, :k] = -solved / schur
        grown[k, k] = 1.0 / schur
        return grown

    def _without(
        self,
        inverse: NDArray[np.float64],
        free: list[int],
        position: int,
        curvature: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """K^-1 without free weight `position` (of `free`, still in it):
        (K^-1)_RR - (K^-1)_Rp (K^-1)_pR / (K^-1)_pp; afresh when that pivot is round-off."""
        at = position + 1
        pivot = float(inverse[at, at])
        if not abs(pivot) > 1e-12 * float(np.abs(inverse).max()):
            return self._inverse(free[:position] + free[position + 1 :], curvature)
        keep = np.delete(np.arange(len(inverse)), at)
        column = inverse[keep, at]
        shrunk = inverse[np.ix_(keep, keep)] - np.outer(column, inverse[at, keep]) / pivot
        return np.asarray(shrunk, dtype=np.float64)


def _separable_each(pieces: Pieces, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """t_j(x_j) per weight (`node_qp.Pieces.separable` without the sum)."""
    low = np.minimum(x, pieces.kink)
    high = np.maximum(x - pieces.kink, 0.0)
    first = pieces.lin0 * low + pieces.quad0 * low * low
    second = pieces.lin1 * high + pieces.quad1 * (x * x - pieces.kink * pieces.kink) * (high > 0)
    return np.asarray(first + second, dtype=np.float64)


def _binding_multiplier(reach: NDArray[np.float64], room: int) -> float | None:
    """The θ at which sum_i min(1, reach_i / sqrt θ) = room (the count's slack at a fixed
    point, reach_i = w_i sqrt(d_i)), or None when no θ > 0 gives it (a guess: None only
    costs the θ search a doubling or halving)."""
    ordered = np.sort(reach[reach > 0])[::-1]
    if room <= 0 or len(ordered) <= room:
        return None
    tails = np.cumsum(ordered[::-1])[::-1]  # tails[r] = sum of ordered[r:]
    capped = np.arange(room)  # r names at z = 1, the others share room - r
    level = tails[capped] / (room - capped)
    fits = ordered[capped] <= level
    fits &= np.concatenate([[True], ordered[capped[1:] - 1] >= level[1:]])
    if not fits.any():
        return None
    root = float(level[int(np.argmax(fits))])
    theta = root * root
    # (underflow, names of reach below ~1e-154: a subnormal θ has lost the bits that make
    # the count bind, so it is no θ at all)
    return theta if theta >= sys.float_info.min else None


@dataclass(frozen=True, slots=True)
class NodeBound:
    """A valid lower bound of a node, the relaxation's point at the best θ found, that θ
    and the active set's state there (the children's warm start)."""

    bound: float
    point: NDArray[np.float64]
    multiplier: float
    state: NodeState | None = None


class CertificateBounds:
    """Node bounds of one problem and certificate (its node QPs by `SimplexPiecesQP`,
    `node_qp.ActiveSetQP` the fallback; both built once).

    With the certificate, f(w) >= g(w) + sum_held d_i w_i^2 + sum_free d_i w_i^2 / z_i,
    g(w) = w^T M w - (c + v)^T w, and sum_free z_i <= m = K - |held|. The count enters by
    its Lagrangian: for θ >= 0, min over z_i in (0, 1] of d_i w_i^2 / z_i + θ z_i is
    phi(w_i) = 2 sqrt(θ d_i) w_i up to w_i = sqrt(θ / d_i), then d_i w_i^2 + θ (convex,
    C^1; d_i w_i^2 at θ = 0), and L(θ) = min_simplex [g + sum_held d w^2 + sum_free phi]
    - θ m bounds the node (weak duality). Each L(θ) is the Lagrangian tangent bound
    (`node_qp.tangent_bound`) of the active set's point and duals, valid for any of them;
    θ is searched on L's derivative (the count's slack: sum_free z_i(θ) - m; L is concave,
    the slack a supergradient) and the best bound kept, so fewer evaluations only weaken a
    bound."""

    def __init__(self, problem: SimplexCardinality, certificate: Certificate) -> None:
        self.problem = problem
        self.certificate = certificate
        size = problem.size
        self.qp = ActiveSetQP(
            2.0 * certificate.psd,
            -(problem.cost + certificate.shift),
            np.ones((1, size)),
            np.ones(1),
            np.ones(1),
        )
        self.simplex = SimplexPiecesQP(self.qp.hessian, self.qp.cost)

    def node(
        self,
        excluded: NDArray[np.bool_] | None = None,
        held: NDArray[np.bool_] | None = None,
        start: NodeBound | None = None,
        evaluations: int = _THETA_STEPS,
        target: float = math.inf,
        deadline: float = math.inf,
        resolution: float = 0.0,
    ) -> NodeBound:
        """The node's bound (see the class) from at most `evaluations` values of θ,
        starting at `start`'s θ and state (a parent's) when given (at the θ where the count
        binds at its point when it has none), else at θ = 0; the search stops once the
        bound reaches `target` (the node is pruned anyway), once no θ can reach it or gain
        more than `resolution` (by L's concavity), or at `deadline` (time.monotonic: the
        bound so far, -inf if none)."""
        problem = self.problem
        size = problem.size
        excluded = np.zeros(size, dtype=bool) if excluded is None else excluded
        held = np.zeros(size, dtype=bool) if held is None else held & ~excluded
        room = problem.max_names - int(held.sum())
        if room == 0:
            excluded = ~held  # the held names fill the count
        free = ~excluded & ~held
        if room < 0 or not np.any(~excluded):
            return NodeBound(math.inf, np.zeros(size), 0.0)
        d = self.certificate.diagonal
        upper = np.where(excluded, 0.0, 1.0)
        lower = np.zeros(size)
        counted = free & (d > 0)
        safe_d = np.where(counted, d, 1.0)
        if not counted.any():
            evaluations = 1
        best = NodeBound(-math.inf, np.zeros(size), 0.0)
        state = None if start is None else start.state
        tried: list[tuple[float, float, float]] = []  # (θ, the count's slack, L(θ))
        roots = np.sqrt(np.where(counted, d, 0.0))
        last = np.zeros(size)

        def evaluate(theta: float) -> float:
            """L(θ) (kept in `best` when the largest so far); the count's slack."""
            nonlocal best, state, last
            if theta > 0:
                kink = np.where(counted, np.minimum(np.sqrt(theta / safe_d), upper), upper)
                lin0 = np.where(counted, 2.0 * np.sqrt(theta * safe_d), 0.0)
                quad0 = np.where(held, d, 0.0)
                quad1 = np.where(counted, d, 0.0)
            else:
                kink, lin0, quad1 = upper, np.zeros(size), np.zeros(size)
                quad0 = np.where(excluded, 0.0, d)  # every z is best at 1: d w^2
            pieces = Pieces(lower, upper, kink, lin0, quad0, np.zeros(size), quad1)
            try:
                point, level, state, _ = self.simplex.solve(pieces, state, deadline=deadline)
                duals = np.array([level])
            except NodeQPFailure:
                try:
                    solution = self.qp.solve(pieces, state, deadline=deadline)
                except NodeQPFailure:
                    state = None
                    return math.nan
                point, duals, state = solution.x, solution.duals, solution.state
            value, _, x = tangent_bound(self.qp, pieces, point, duals)
            value -= theta * room
            last = x
            if value > best.bound:
                best = NodeBound(value, x, theta, state)
            # A free name without a diagonal part costs no count: its z can be 0.
            if theta > 0:
                z = np.where(counted, np.minimum(1.0, x * np.sqrt(safe_d / theta)), 0.0)
            else:
                z = ((x > 1e-12) & counted).astype(np.float64)
            slack = float(np.sum(z)) - room
            tried.append((theta, slack, value))
            return slack

        theta = 0.0 if start is None or not counted.any() else start.multiplier
        if start is not None and theta == 0.0 and counted.any():
            # A start without a multiplier (the plain relaxation's point): θ where the count
            # would bind there; L(0) is the bound without the count.
            theta = _binding_multiplier(roots * start.point, room) or 0.0
        for _ in range(max(evaluations, 1)):
            slack = evaluate(theta)
            if math.isnan(slack) or abs(slack) <= 1e-6 or not counted.any():
                break
            if best.bound >= target or (slack < 0 and theta == 0.0):
                break
            below = [t for t in tried if t[1] > 0]  # θ too small
            above = [t for t in tried if t[1] < 0]  # θ too large
            # Where the count would bind at the last point (z_i = min(1, w_i sqrt(d_i / θ))).
            guess = _binding_multiplier(roots * last, room)
            if below and above:
                low, high = max(below), min(above)
                width = high[0] - low[0]
                if width <= 1e-6 * high[0]:
                    break
                # L is concave with derivative the slack (a supergradient): its tangents at
                # the bracket's ends meet above its maximum. Below the target no θ prunes
                # the node, and within round-off of the best bound no θ gains: stop.
                meet = (high[2] - low[2] + low[1] * low[0] - high[1] * high[0]) / (low[1] - high[1])
                ceiling = low[2] + low[1] * (meet - low[0])
                if ceiling < target - _THETA_PRUNE_MARGIN * abs(target):
                    break
                if ceiling - best.bound <= max(
                    resolution, _THETA_CONVERGED * (1.0 + abs(best.bound))
                ):
                    break
                if guess is None or not low[0] < guess < high[0]:
                    # Secant on the slack (the tangents' meeting point: 37 node bounds at
                    # N = 100 against 21, 85 against 61 at N = 200).
                    guess = low[0] + width * low[1] / (low[1] - high[1])
                theta = min(max(guess, low[0] + 0.05 * width), high[0] - 0.05 * width)
            elif theta == 0.0:
                theta = guess if guess is not None else float(np.max(d[counted]))
            elif below:
                theta = guess if guess is not None and guess > theta else 2.0 * theta
            else:
                theta = guess if guess is not None and guess < theta else 0.5 * theta
        return best


# The first-order method's settings (`admm_certificate`, docs/model.md session 9).
_ADMM_PENALTY = 10.0  # ADMM's penalty, times the largest |H|
_ADMM_CAP = 0.85  # d_i <= cap^2 H_ii; a name below _ADMM_SMALL weight gets exactly that
_ADMM_SMALL = 1e-3
_ADMM_DAMPING = 0.9  # of the perspective's linearisation point between iterations
_ADMM_THETA = 5e-4  # the count's first multiplier, times the largest |H|
_ADMM_CHECK = 15  # iterations between two repaired bounds (docs/model.md, session 10)
_ADMM_STALL = 0.03  # stop once a check gains less than this share of the gap left
_ADMM_EVALUATIONS = 6  # values of θ per check after the first (from the last check's)
_ADMM_RESOLUTION = 0.01  # a check's θ search stops within this share of the gap left


def _simplex_projection(
    target: NDArray[np.float64], level: float
) -> tuple[NDArray[np.float64], float]:
    """max(target - τ, 0) with entries summing to 1 (the projection onto the simplex of
    all entries), τ by Newton's method from `level` (the last iteration's τ): exact once the
    entries above τ repeat, as the sum is piecewise linear in τ."""
    for _ in range(100):
        above = target > level
        count = int(np.count_nonzero(above))
        if count == 0:
            level = float(target.max()) - 1.0
            continue
        step = (float(np.sum(target, where=above)) - 1.0) / count
        if step == level:
            break
        level = step
    return np.maximum(target - level, 0.0), level


def admm_certificate(
    problem: SimplexCardinality,
    iterations: int = 400,
    seconds: float | None = None,
    upper: float = math.inf,
) -> Certificate | None:
    """`admm_root`'s certificate."""
    found = admm_root(problem, iterations, seconds, upper)
    return None if found is None else found[0]


def admm_root(
    problem: SimplexCardinality,
    iterations: int = 400,
    seconds: float | None = None,
    upper: float = math.inf,
    start: NodeBound | None = None,
) -> tuple[Certificate, NodeBound] | None:
    """A certificate from the DNN relaxation by a first-order method of its own (no SCS),
    every `_ADMM_CHECK` iterations repaired (`verified_certificate`) and rated by its root
    bound; the best one found, None if no check gave one.

    The lifting: on the simplex X = [1 w^T; w W] with w = W 1, 1^T W 1 = 1 is PSD exactly
    when W is, so the DNN is min <Q, W> over W PSD, W >= 0, sum W = 1 (Q = H - sym(c 1^T)),
    plus the perspective (W 1)_i^2 <= W_ii z_i, sum z <= K. The count enters by a multiplier
    θ (the last check's root θ), and θ (W 1)_i^2 / W_ii by its tangent at t_i = (W 1)_i / W_ii
    (damped), a valid Lagrangian: the diagonal d = θ t^2, the linear part 2 θ t. t_i is at
    most cap sqrt(H_ii / θ), exactly that for a name of weight below `_ADMM_SMALL` (a large d
    where the relaxation holds nothing: with d from the tangent alone the root bound is
    SCS's but the children's are weak, docs/model.md). ADMM then alternates the PSD
    projection (one eigendecomposition) and the projection onto the simplex of all
    entries; the latter's normal cone is N >= 0 and -y E, so H + sym(v 1^T) = M + N + diag(d)
    with v = 2 θ t - c + y 1, M from the identity: a candidate for the repair, whatever the
    accuracy. Stops after `iterations`, at `seconds`, once a check gains less than
    `_ADMM_STALL` of the gap to `upper` (an incumbent's value; relative 1e-5 without one)
    or once the root bound reaches `upper`. With the certificate comes its root bound
    (`CertificateBounds.node`, the search's root start); the first check's θ search starts
    at `start` (the plain relaxation's bound: its point) when given."""
    size = problem.size
    hessian, cost = problem.hessian, problem.cost
    largest = float(np.abs(hessian).max(initial=0.0))
    if size == 0 or not largest > 0 or not np.all(np.isfinite(hessian)):
        return None
    deadline = math.inf if seconds is None else time.monotonic() + seconds
    penalty = _ADMM_PENALTY * largest
    scaled = (hessian - 0.5 * (cost[:, None] + cost[None, :])) / penalty
    variance = np.maximum(np.diagonal(hessian), 0.0)
    theta = _ADMM_THETA * largest
    lifted = np.full((size, size), 1.0 / (size * size))
    dual = np.zeros((size, size))
    level = 0.0
    point: NDArray[np.float64] | None = None
    diagonal = np.arange(size)
    best: Certificate | None = None
    best_bound = -math.inf
    best_root: NodeBound | None = None
    previous: NodeBound | None = start
    checked = False
    for iteration in range(1, iterations + 1):
        values, vectors = np.linalg.eigh(lifted - dual)
        positive = values > 0
        kept = vectors[:, positive]
        psd = (kept * values[positive]) @ kept.T
        weights = lifted.sum(axis=1)
        squares = np.maximum(np.diagonal(lifted), 1e-300)
        ceiling = _ADMM_CAP * np.sqrt(variance / theta)
        fresh = np.where(weights < _ADMM_SMALL, ceiling, np.minimum(weights / squares, ceiling))
        point = fresh if point is None else _ADMM_DAMPING * point + (1 - _ADMM_DAMPING) * fresh
        slope = theta * point
        target = psd + dual - scaled
        target -= (slope[:, None] + slope[None, :]) / penalty
        target[diagonal, diagonal] += slope * point / penalty
        lifted, level = _simplex_projection(target, level)
        dual += psd - lifted
        last = iteration == iterations or time.monotonic() >= deadline
        if iteration % _ADMM_CHECK and not last:
            continue
        nonnegative = penalty * np.maximum(level - target, 0.0)
        shift = 2.0 * slope - cost + penalty * level
        candidate = verified_certificate(problem, nonnegative, slope * point, shift)
        if candidate is not None:
            # From the last check's θ and active set, as a child from its parent's.
            # A check's bound only rates the certificate: to a share of the gap left.
            resolution = _ADMM_RESOLUTION * (upper - best_bound) if math.isfinite(upper) else 0.0
            root = CertificateBounds(problem, candidate).node(
                start=previous,
                evaluations=_ADMM_EVALUATIONS if checked else _THETA_STEPS,
                # (without it one check's bound took 21.6 s at N = 1,000 under load, past
                # the search's 30 s limit)
                deadline=deadline,
                resolution=resolution if math.isfinite(resolution) else 0.0,
            )
            previous, checked = root, True
            gained = root.bound - best_bound
            if root.bound > best_bound:
                best, best_bound, best_root = candidate, root.bound, root
            if root.multiplier > 0:
                theta = root.multiplier
            if best_bound >= upper:
                break
            left = upper - best_bound if math.isfinite(upper) else 1e-5 * abs(best_bound)
            if gained < (_ADMM_STALL if math.isfinite(upper) else 1.0) * left:
                break
        if last:
            break
    if best is None or best_root is None:
        return None
    return best, best_root


def certificate_bound(
    problem: SimplexCardinality,
    certificate: Certificate,
    excluded: NDArray[np.bool_] | None = None,
    held: NDArray[np.bool_] | None = None,
) -> NodeBound:
    """A lower bound of f over every point of the problem whose names avoid `excluded`
    and whose count, with the `held` names counted, is at most K (`CertificateBounds`)."""
    return CertificateBounds(problem, certificate).node(excluded, held)


__all__ = [
    "Certificate",
    "CertificateBounds",
    "NodeBound",
    "SimplexCardinality",
    "admm_certificate",
    "admm_root",
    "certificate_bound",
    "dnn_certificate",
    "plain_certificate",
    "split_certificate",
    "verified_certificate",
]
