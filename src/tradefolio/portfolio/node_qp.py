"""A warm-started primal active-set solver for the node QPs of the branch and bound (the
perspective search of buy-in floors, and the rebalance solver's trade flags).

With buy-in floors every node of the branch and bound is the same convex program over the
weights w (n of them) with a few dense rows and per-weight bounds that change from node to
node:

    minimise   c^T w + 1/2 w^T H w + sum_j t_j(w_j)
    subject to lo_r <= a_r^T w <= hi_r   (a few rows: return floor, budget, capital)
               l_j <= w_j <= u_j

where t_j is convex and piecewise quadratic with at most one kink k_j in [l_j, u_j]: slope
lin0_j + 2 quad0_j w on [l_j, k_j] and lin1_j + 2 quad1_j w on [k_j, u_j] (the projected
perspective d (m w on [0, m], w^2 on [m, u]) of `perspective.py`, or d w^2 once held).

HiGHS's active-set QP solver starts every solve from the vertex of a phase-1 LP: on
`pard200_a` a node takes ~460 iterations and 20-60 ms whether or not it is given the
parent's basis (highspy 1.16's `qp_allow_hot_start` does nothing for QPs: the hot-start
path is a stub). A child differs from its parent in one bound, so starting from the
parent's point and working set needs a handful of iterations. This module does exactly
that (Nocedal & Wright, ch. 16.5, with the kinks as extra "bounds"):

- the state is the point, each weight's status (at a bound, at its kink, or free inside a
  piece) and the working set of rows;
- each iteration solves the KKT system of the free weights and working rows (a small
  dense system), steps to the subspace minimum or the first blocking bound, kink or row;
  at a subspace minimum the multipliers decide which constraint to release, or prove
  optimality;
- a start that breaks a row (the parent's point after the child's bound change) is first
  moved back onto its rows by the least-norm change of the columns free to move (clipped
  to the box, four rounds at most: `_projected_start`), which on the rebalance nodes gives
  a feasible start four times in five; otherwise it gets one
  artificial column a in [0, 2] with the violations as coefficients and a large cost: the
  start is feasible with a = 1, and a is driven to 0 (a positive a at the end means
  infeasible or a too small penalty: the caller then asks HiGHS);
- the step's Hessian has a ridge of 1e-10 of its largest diagonal: a direction of zero
  curvature (Σ - D is singular on purpose) becomes a long step that a bound blocks;
- the KKT systems (10-60 wide on the sample) go to numpy.linalg's own LAPACK gufuncs
  (`_solve`, `_r_diagonal`) without numpy's Python wrappers, which cost as much as the
  factorisations: the same gesv / geqrf on the same arrays, the same numbers bit for bit.

Nothing here needs to be exact for the search to be: the caller bounds the node by the
Lagrangian of the point and duals (`tangent_bound`, valid for any of them), keeps a point
as an incumbent only after checking it, and falls back to HiGHS whenever this solver
raises `NodeQPFailure` (iteration limit, a singular system, an artificial left positive).
"""

from __future__ import annotations

import bisect
import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

try:  # np.linalg's own LAPACK gufuncs: their Python wrappers cost as much as the solves
    from numpy.linalg import _umath_linalg

    _LAPACK_SOLVE: Callable[..., NDArray[np.float64]] | None = _umath_linalg.solve1
    _LAPACK_QR_R: Callable[..., NDArray[np.float64]] | None = _umath_linalg.qr_r_raw
    # (np.linalg.eigvalsh's default UPLO="L" and np.linalg.inv: `coordinate_curvature`)
    _LAPACK_EIGVALSH: Callable[..., NDArray[np.float64]] | None = _umath_linalg.eigvalsh_lo
    _LAPACK_INV: Callable[..., NDArray[np.float64]] | None = _umath_linalg.inv
except (ImportError, AttributeError):  # pragma: no cover - another numpy's layout
    _LAPACK_SOLVE = _LAPACK_QR_R = _LAPACK_EIGVALSH = _LAPACK_INV = None


def _numpy_own(module: str, name: str, public: Callable[..., Any]) -> Callable[..., Any]:
    """numpy's own `module.name` behind a public function (the same loop without the
    public name's Python wrapper), or `public` in a numpy laid out otherwise."""
    try:
        found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # pragma: no cover - another numpy's layout
        return public
    return found


# np.clip's ufunc (the same loop): np.clip's Python wrapper costs 4x the ufunc on the nodes'
# short arrays.
_CLIP_UFUNC: Callable[..., NDArray[np.float64]] = _numpy_own("numpy._core.umath", "clip", np.clip)
# `_count(a)` is np.count_nonzero(a) without its wrapper (nonzero: != 0, NaN included); as
# `a.any()` (> 0) or `a.all()` (== a.size) a fifth of their Python-level reductions' cost on
# the nodes' short arrays.
_count: Callable[..., int] = _numpy_own("numpy._core.multiarray", "count_nonzero", np.count_nonzero)
# ndarray.min / max (axis) without their Python-level wrapper: the same ufunc reductions.
_minimum_of = np.minimum.reduce
_maximum_of = np.maximum.reduce
# ndarray.sum / np.sum of a 1-d array without their Python-level wrappers: the same
# add.reduce (the same pairwise summation, the same float).
_sum_of = np.add.reduce

# Weight statuses.
AT_LOWER, AT_UPPER, AT_KINK, FREE_LOW, FREE_HIGH = 0, 1, 2, 3, 4
# The hot paths' scalar operands as 0-d arrays of the arrays' own dtypes (the same values,
# the same results): numpy 2 resolves a Python scalar operand's type on every call, ~0.3 µs
# an operation on the nodes' 5-60 long arrays, as much as the operation itself.
_ZERO, _HALF, _ONE, _TWO = np.array(0.0), np.array(0.5), np.array(1.0), np.array(2.0)
_INF, _NEG_INF = np.array(np.inf), np.array(-np.inf)
_ONE_COUNT = np.array(1)  # (the default integer: a count of booleans)
_NANO = np.array(1e-9)
_ROW_TOLERANCE = np.array(1e-11)  # (of a row's absolute sum, at least 1: `ActiveSetQP._use`)
_S_AT_LOWER, _S_AT_UPPER, _S_AT_KINK, _S_FREE_LOW, _S_FREE_HIGH = (
    np.array(s, dtype=np.int8) for s in (AT_LOWER, AT_UPPER, AT_KINK, FREE_LOW, FREE_HIGH)
)
# A row's side in the working set.
_LOW_SIDE, _HIGH_SIDE = 1, -1
_RIDGE = 1e-10
_PENALTY = 1e7
# From this many columns on, H x reads only the rows of x's nonzero entries (`_times`).
_SPARSE_PRODUCT_COLUMNS = 128
# Solves per node at most while searching the implied count's multiplier θ.
_COUNT_SOLVES = 2
# A weight implied above this (in the columns' units, times 1 + its cap) forces its
# selection to 1 (`SelectionNodes.forced`); one implied below its floor by as much, to 0.
_FORCED = 1e-9


@dataclass(frozen=True, slots=True)
class RowSet:
    """Rows  lower <= matrix w <= upper."""

    matrix: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


class NodeQPFailure(Exception):
    """The active-set solver gave up on a node; the caller solves it another way."""


@dataclass(frozen=True, slots=True)
class Pieces:
    """The bounds and separable pieces of every weight at one node (see the module)."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    kink: NDArray[np.float64]  # = upper where there is no second piece
    lin0: NDArray[np.float64]
    quad0: NDArray[np.float64]
    lin1: NDArray[np.float64]
    quad1: NDArray[np.float64]
    offset: float = 0.0  # a constant of the node (the costs of flags fixed at 1)

    def separable(self, x: NDArray[np.float64]) -> float:
        """sum_j t_j(x_j) + offset, continuous at the kinks."""
        low = np.minimum(x, self.kink)
        high = np.maximum(x - self.kink, _ZERO)
        first = self.lin0 * low + self.quad0 * low * low
        # On the second piece t(x) = t(k) + integral of lin1 + 2 quad1 s from k to x.
        second = self.lin1 * high + self.quad1 * (x * x - self.kink * self.kink) * (high > _ZERO)
        return float(_sum_of(first + second)) + self.offset

    def slopes(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Left and right derivatives of t_j at x_j (equal away from the kink)."""
        low = self.lin0 + _TWO * self.quad0 * x
        high = self.lin1 + _TWO * self.quad1 * x
        left = np.where(x <= self.kink, low, high)
        right = np.where(x < self.kink, low, high)
        return left, right


@dataclass(frozen=True, slots=True)
class NodeState:
    """Where a solve ended: the start of its children's solves."""

    x: NDArray[np.float64]
    status: NDArray[np.int8]
    working: tuple[tuple[int, int], ...]  # (row, side)
    multiplier: float = 0.0  # θ of the implied count (`SelectionNodes`), the children's start


@dataclass(frozen=True, slots=True)
class NodeSolution:
    """A solved node: point, row duals (y >= 0 on a lower side, <= 0 on an upper side),
    objective, the state for warm starts and the iterations taken."""

    x: NDArray[np.float64]
    duals: NDArray[np.float64]
    objective: float
    state: NodeState
    iterations: int
    infeasible: bool = False  # the artificial stayed positive: `duals` are a phase-1 ray


def merged_rows(
    rows: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The rows with parallel ones merged into one ranged row (a >= 1 and a <= 1 of the
    same budget become 1 <= a <= 1): two parallel rows in a working set would make its
    KKT system singular. Each row is scaled to a largest coefficient of 1; empty rows
    are dropped."""
    # The scaling in whole arrays (the same divisions, the same numbers as row by row).
    largest = np.abs(rows).max(axis=1, initial=0.0)
    used = (largest != 0.0).nonzero()[0]
    scale = largest[used]
    units = rows[used] / scale[:, None] + 0.0  # -0.0 becomes 0.0: equal rows, equal bytes
    # Each unit row's bytes and its negation's as slices of the whole arrays' bytes (C
    # order: row i is bytes [i w, (i + 1) w)), the same bytes as each row's `tobytes`.
    width = units.shape[1] * units.itemsize
    raw, raw_negated = units.tobytes(), (0.0 - units).tobytes()
    los, his = (lower[used] / scale).tolist(), (upper[used] / scale).tolist()
    kept: list[int] = []  # the unit rows kept, in order (a merged row keeps its first)
    sides: list[list[float]] = []  # [lo, hi] of each kept row
    seen: dict[bytes, int] = {}  # a unit row's bytes -> its place in `kept`
    for i, (lo, hi) in enumerate(zip(los, his, strict=True)):
        unit = raw[i * width : (i + 1) * width]
        same, opposite = seen.get(unit), seen.get(raw_negated[i * width : (i + 1) * width])
        if same is not None:
            other_lo, other_hi = sides[same]
            sides[same] = [max(other_lo, lo), min(other_hi, hi)]
        elif opposite is not None:
            other_lo, other_hi = sides[opposite]
            sides[opposite] = [max(other_lo, -hi), min(other_hi, -lo)]
        else:
            seen[unit] = len(kept)
            kept.append(i)
            sides.append([lo, hi])
    if not kept:
        return np.zeros((0, rows.shape[1])), np.zeros(0), np.zeros(0)
    return (
        units[kept],
        np.array([side[0] for side in sides]),
        np.array([side[1] for side in sides]),
    )


class ActiveSetQP:
    """The node QP of the module over fixed H, c and rows; `solve` takes the pieces."""

    def __init__(
        self,
        hessian: NDArray[np.float64],
        cost: NDArray[np.float64],
        rows: NDArray[np.float64],
        row_lower: NDArray[np.float64],
        row_upper: NDArray[np.float64],
        iteration_limit: int | None = None,
    ) -> None:
        self.hessian = np.ascontiguousarray(hessian, dtype=np.float64)
        self.cost = np.asarray(cost, dtype=np.float64)
        merged = merged_rows(
            np.ascontiguousarray(rows, dtype=np.float64).reshape(-1, len(cost)),
            np.asarray(row_lower, dtype=np.float64),
            np.asarray(row_upper, dtype=np.float64),
        )
        self.base = RowSet(*merged)
        self.size = len(cost)
        largest = float(np.abs(np.diagonal(self.hessian)).max(initial=0.0))
        self.ridge = _RIDGE * max(largest, 1.0)
        self._ridge = np.array(self.ridge)  # (0-d: see _ZERO)
        self.iteration_limit = iteration_limit or 20 * (self.size + len(merged[1])) + 100
        self._extended: NDArray[np.float64] | None = None
        self._cost_scale = (
            1.0
            + float(np.abs(self.cost).max(initial=0.0))
            + float(np.abs(self.hessian).max(initial=0.0))
        )
        self._extended_cost = np.append(self.cost, 0.0)
        self._rows_in_use: RowSet | None = None
        self._sides_of: dict[
            int,
            tuple[RowSet, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]],
        ] = {}
        self._use(self.base)

    def with_rows(
        self,
        matrix: NDArray[np.float64],
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
    ) -> RowSet:
        """The base rows followed by a node's own rows (their order fixed across nodes, so
        a parent's working set still names the same rows)."""
        # (np.concatenate of the 2-d rows: np.vstack's own call, without its wrapper)
        return RowSet(
            np.concatenate((self.base.matrix, matrix)),
            np.concatenate((self.base.lower, lower)),
            np.concatenate((self.base.upper, upper)),
        )

    def _use(self, rows: RowSet) -> None:
        """Make `rows` the rows of the solve that starts (every solve sets them)."""
        if rows is self._rows_in_use:
            return
        self._rows_in_use = rows
        self.rows, self.row_lower, self.row_upper = rows.matrix, rows.lower, rows.upper
        self._row_tolerance, self._least, self._most = self.row_sides(rows)
        self._lower_list = rows.lower.tolist()
        self._upper_list = rows.upper.tolist()
        self._equalities = rows.lower == rows.upper
        self._equality = self._equalities.tolist()
        self._equality_rows = self._equalities.nonzero()[0].tolist()
        self._tolerance_list = self._row_tolerance.tolist()

    def row_sides(
        self, rows: RowSet
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """A row set's tolerance (1e-11 of each row's absolute sum, at least 1) and its sides
        widened by it: a row is broken below / above these. Computed once per row set (kept
        by id, the set itself kept to check it): `SelectionNodes` asks it of a node's rows
        before the solve that uses them (`_start_fits`)."""
        found = self._sides_of.get(id(rows))
        if found is not None and found[0] is rows:
            return found[1]
        norms = _sum_of(np.abs(rows.matrix), axis=1)
        tolerance = _ROW_TOLERANCE * np.maximum(norms, _ONE)
        sides = (tolerance, rows.lower - tolerance, rows.upper + tolerance)
        self._sides_of[id(rows)] = (rows, sides)
        return sides

    def objective(self, x: NDArray[np.float64], pieces: Pieces) -> float:
        """c^T x + 1/2 x^T H x + sum_j t_j(x_j)."""
        if self.size < _SPARSE_PRODUCT_COLUMNS:
            # (`_dot`: the same products as `@` without matmul's dispatch;
            # 0.5 * x @ H @ x is ((0.5 x) H) x)
            half = x * _HALF
            value = _dot(self.cost, x) + _dot(_dot(half, self.hessian), x)
            return float(value) + pieces.separable(x)
        return float(self.cost @ x + 0.5 * x @ _times(self.hessian, x)) + pieces.separable(x)

    def solve(
        self,
        pieces: Pieces,
        start: NodeState | None = None,
        node_rows: RowSet | None = None,
        deadline: float = math.inf,
        polish: bool = True,
    ) -> NodeSolution:
        """The node's optimum from `start` (a parent's state) or from the lower bounds;
        `node_rows` (from `with_rows`) replaces the base rows for this solve. Past
        `deadline` (time.monotonic) it gives up (`NodeQPFailure`).

        The artificial's large cost makes its multipliers large, and the KKT solves lose
        digits with them: its rows end met only to ~1e-7 (seen on the rebalance nodes,
        whose trades have no curvature of their own). Such an end (`polish`) is moved
        onto its rows by the least change of the free weights and solved again from
        there, without the artificial."""
        # (the LAPACK solves of `_solve` report a singular system by a NaN, not a warning)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
            return self._solve_node(pieces, start, node_rows, deadline, polish)

    def _solve_node(
        self,
        pieces: Pieces,
        start: NodeState | None,
        node_rows: RowSet | None,
        deadline: float,
        polish: bool,
    ) -> NodeSolution:
        """`solve`, in its error state."""
        self._use(self.base if node_rows is None else node_rows)
        n = self.size
        lower, upper, kink = pieces.lower, pieces.upper, pieces.kink
        if _count(lower > upper):
            raise NodeQPFailure("empty box")
        # Linear pieces without a kink inside the box (the trade flags' nodes): every slope
        # is lin0, no weight is ever on a second piece or at a kink, and an iteration needs
        # none of the piece arithmetic below (the same numbers: 0 * x adds nothing). (The
        # artificial's piece below is linear too.)
        linear = not (_count(pieces.quad0) or _count(pieces.quad1)) and _count(
            pieces.kink >= pieces.upper
        ) == len(pieces.kink)
        x = _clip(start.x if start is not None else lower, lower, upper)
        status = self._statuses(x, pieces, None if start is None else start.status, linear)
        # Each weight at a bound or kink set to it, the free ones kept: one `choose` by the
        # status (AT_LOWER, AT_UPPER, AT_KINK, FREE_LOW, FREE_HIGH = 0..4), the same values
        # as three `where`s.
        x = status.choose((lower, upper, kink, x, x))
        activity = _dot(self.rows, x)
        count = len(self.row_lower)
        low_gap = self.row_lower - activity
        high_gap = activity - self.row_upper
        tolerance = self._row_tolerance
        violation = np.where(
            low_gap > tolerance, low_gap, np.where(high_gap > tolerance, -high_gap, _ZERO)
        )
        artificial = _count(violation) > 0
        if artificial and polish:
            # A child's bound change usually breaks a row at the parent's point (a held
            # name's weight cut to 0 breaks w - b + s = w0): moving the point back onto
            # its rows by the least change of the columns that may move gives a feasible
            # start without the artificial phase and its polishing re-solve.
            moved = self._projected_start(x, pieces, activity)
            if moved is not None:
                x = moved
                status = self._statuses(x, pieces, None, linear)
                activity = _dot(self.rows, x)
                violation = np.zeros(count)
                artificial = False
        # The artificial column (index n) makes the start feasible: a_r x + v_r a = side.
        rows = self.rows
        cost_scale = self._cost_scale
        given = pieces
        if artificial:
            rows = np.column_stack([self.rows, violation])
            x = np.append(x, 1.0)
            status = np.append(status, FREE_LOW).astype(np.int8)
            pieces = Pieces(
                np.append(lower, 0.0),
                np.append(upper, 2.0),
                np.append(kink, 2.0),
                np.append(pieces.lin0, _PENALTY * cost_scale),
                np.append(pieces.quad0, 0.0),
                np.append(pieces.lin1, 0.0),
                np.append(pieces.quad1, 0.0),
            )
            lower, upper, kink = pieces.lower, pieces.upper, pieces.kink
        size = len(x)
        working: list[tuple[int, int]] = []
        # (plain floats: the same comparisons as numpy's scalars, without their cost)
        violations = violation.tolist()
        tight = [r for r, v in enumerate(violations) if v != 0.0]
        if start is not None:
            tight += [r for r, _ in start.working if r not in tight]
        tight += self._equality_rows
        # (without the artificial, `activity` is already rows x at this x)
        levels = (_dot(rows, x) if artificial else activity).tolist()
        row_lower, row_upper, tolerances = self._lower_list, self._upper_list, self._tolerance_list
        for r in dict.fromkeys(tight):
            if violations[r] > 0 or abs(levels[r] - row_lower[r]) <= tolerances[r]:
                side = _LOW_SIDE
            elif violations[r] < 0 or abs(levels[r] - row_upper[r]) <= tolerances[r]:
                side = _HIGH_SIDE
            else:
                continue
            working.append((r, side))
        working = self._independent(working, rows, status)
        dual_tolerance = 1e-9 * cost_scale
        hess = self._hessian_of(size)
        bordered = self._bordered(hess, rows)
        cost = self.cost if size == n else self._extended_cost
        if linear:
            # Without the pieces' curvature every KKT system's diagonal is h + ridge: added
            # once to the bordered matrix's H block (the same sums; `_kkt(ridged=True)`).
            width = len(bordered) + 1
            bordered.reshape(-1)[: size * width : width] += self._ridge
        else:
            curvature0, curvature1 = 2.0 * pieces.quad0, 2.0 * pieces.quad1
        movable = lower < upper  # (the box of the solve's pieces, the artificial's included)
        iterations = 0
        # c + H x at the current x: kept while x stays (a release changes only statuses
        # or the working set), None once a step moves it.
        smooth: NDArray[np.float64] | None = None
        # The working rows as an index array: kept while the working set stays, None once
        # a row joins or leaves it.
        indices: NDArray[np.intp] | None = None
        # The free weights ascending, what `(status >= FREE_LOW).nonzero()` gives, kept as
        # a list beside `status`: a step's block takes one out, a release puts one in.
        free_list: list[int] = (status >= _S_FREE_LOW).nonzero()[0].tolist()
        free: NDArray[np.intp] | None = None  # (its array: None once the list changes)
        negated: NDArray[np.float64] | None = None
        if linear:
            # Every KKT right-hand side of linear pieces is read off one vector laid out as
            # `bordered`: -(c + H x + lin0) over the columns, 0 over the rows (`_kkt`: the
            # same floats as the free weights' gradient negated into zeros), rewritten
            # whenever c + H x is.
            negated = np.zeros(len(bordered))
            negated_columns = negated[:size]
            # (the box and the movable weights in plain floats: `_box_ratio`, `_release`)
            lower_list, upper_list = lower.tolist(), upper.tolist()
            movable_list = movable.tolist()
        while True:
            iterations += 1
            if iterations > self.iteration_limit:
                raise NodeQPFailure("iteration limit")
            if iterations % 50 == 0 and time.monotonic() > deadline:
                raise NodeQPFailure("time limit of the node")
            if free is None:
                free = np.array(free_list, dtype=np.intp)
            if smooth is None:
                smooth = cost + _times(hess, x)
                if negated is not None:
                    np.negative(smooth + pieces.lin0, out=negated_columns)
            if indices is None:
                indices = np.array([r for r, _ in working], dtype=np.intp)
                placed = indices + size  # (their rows and columns in `bordered`)
                in_working = {r for r, _ in working}
            curvature: NDArray[np.float64] | None
            gradient: NDArray[np.float64] | None
            if linear:
                high = None
                curvature = gradient = None  # (`negated` holds the gradient)
            else:
                high = status[free] == _S_FREE_HIGH
                at = x[free]
                slope = np.where(
                    high,
                    pieces.lin1[free] + curvature1[free] * at,
                    pieces.lin0[free] + curvature0[free] * at,
                )
                curvature = np.where(high, curvature1[free], curvature0[free])
                gradient = smooth[free] + slope
            try:
                step, multipliers = self._kkt(
                    bordered, free, curvature, indices, rows, gradient, placed, linear, negated
                )
            except NodeQPFailure:
                # Singular, or as many working rows as free weights that do not span them
                # (`_kkt`): a row added by a blocking step can lose its free weights to
                # bounds later (seen: an empty row left the node at a point that was not its
                # minimum). A dependent row is dropped (it blocks the first step that would
                # break it).
                independent = self._independent(working, rows, status)
                if len(independent) == len(working):
                    raise
                working = independent
                indices = np.array([r for r, _ in working], dtype=np.intp)
                placed = indices + size
                in_working = {r for r, _ in working}
                step, multipliers = self._kkt(
                    bordered, free, curvature, indices, rows, gradient, placed, linear, negated
                )
            if linear:
                # (plain floats: max |v| as max(max v, -min v), the same maxima as numpy's
                # of the finite step and point: a nonzero step is a finite solve's, whose
                # right-hand side c + H x reads every entry of x; the lists are
                # `_box_ratio`'s too)
                steps = step.tolist()
                biggest = max(max(steps), -min(steps)) if steps else 0.0
                stepping, point = False, []
                if biggest > 0.0:  # (else no x passes the test below: x is not read)
                    point = x.tolist()
                    stepping = biggest > 1e-11 * (1.0 + max(max(point), -min(point)))
            else:
                stepping = float(_maximum_of(np.abs(step), initial=0.0)) > 1e-11 * (
                    1.0 + float(_maximum_of(np.abs(x)))
                )
            if stepping:
                if linear:
                    alpha, blocking = self._box_ratio(
                        point, steps, free_list, lower_list, upper_list
                    )
                    alpha, blocking = self._row_ratio(
                        x, step, free, rows, in_working, alpha, blocking
                    )
                else:
                    alpha, blocking = self._ratio(x, step, free, high, pieces, rows, in_working)
                x[free] += step if alpha == 1.0 else alpha * step  # (1.0 * s is s exactly)
                if blocking is not None:
                    smooth = None  # x moved
                    kind, index, where = blocking
                    if kind == "variable":
                        status[index] = where
                        x[index] = (lower, upper, kink)[where][index]
                        free_list.remove(index)
                        free = None
                    else:
                        working.append((index, where))
                        indices = None
                    continue
                # A full step: the minimum on the working set, where the multipliers hold.
                smooth = cost + _times(hess, x)
                if negated is not None:
                    np.negative(smooth + pieces.lin0, out=negated_columns)
            if linear:
                release = self._release(
                    smooth,
                    multipliers,
                    working,
                    indices,
                    rows,
                    pieces,
                    status,
                    dual_tolerance,
                    movable_list,
                )
            else:
                release = self._most_violated(
                    smooth,
                    multipliers,
                    working,
                    indices,
                    rows,
                    x,
                    pieces,
                    status,
                    dual_tolerance,
                    movable,
                )
            if release is None:
                break
            kind, index, where = release
            if kind == "row":
                working = [w for w in working if w[0] != index]
                indices = None
            else:
                status[index] = where
                bisect.insort(free_list, index)
                free = None
        duals = np.zeros(count)
        # (Python floats: the same values stored, without numpy scalars' iteration)
        for (r, _), value in zip(working, multipliers.tolist(), strict=True):
            duals[r] = value
        # The end must be stationary in its free weights (the optimum the search may take
        # as a node's exact one): else this solver failed, whatever its multipliers say.
        free = (status >= _S_FREE_LOW).nonzero()[0]
        if free.size:
            pulled = _dot(rows.T, duals) if rows.shape[0] else np.zeros(size)
            assert smooth is not None  # c + H x at the end's x
            limit = 1e-6 * cost_scale
            # With linear pieces and a finite end (the check below passing says so: c + H x
            # reads every x) no weight is FREE_HIGH (a release from a bound goes to FREE_LOW,
            # no kink is inside a box) and x <= u <= kink, so the slope is the left one,
            # lin0 + 2 * 0 * x: lin0 but for the sign of a zero, which |residual| drops.
            # Only a failing check is looked at again with the slopes themselves.
            if (
                not linear
                or float(_maximum_of(np.abs((smooth + pieces.lin0 - pulled)[free]))) > limit
            ):
                left, right = pieces.slopes(x)
                slope = np.where(status == _S_FREE_HIGH, right, left)
                residual = (smooth + slope - pulled)[free]
                if float(_maximum_of(np.abs(residual))) > limit:
                    raise NodeQPFailure("the end is not stationary in its free weights")
        if artificial:
            if x[n] > 1e-12:
                return NodeSolution(x[:n], duals, np.inf, NodeState(x[:n], status[:n], ()), 0, True)
            x = x[:n]
            status = status[:n]
            pieces = given
        activity = _dot(self.rows, x)
        if _count(activity < self._least) or _count(activity > self._most):
            if artificial and polish:
                moved = self._onto_rows(x, status, working, activity, pieces)
                if moved is not None:
                    state = NodeState(moved, status.copy(), tuple(working))
                    return self._solve_node(given, state, node_rows, deadline, polish=False)
            raise NodeQPFailure("the point breaks a row")
        state = NodeState(x.copy(), status.copy(), tuple(working))
        if artificial and polish:
            # The artificial's multipliers (up to ~1e11) leave the end's own multipliers
            # and working set unreliable: an end 1.7e-6 above the node's minimum, a row
            # 1.4e-6 off its side still "working", was seen. Solved once more from there,
            # a feasible start, without the artificial.
            return self._solve_node(given, state, node_rows, deadline, polish=False)
        return NodeSolution(x, duals, self.objective(x, pieces), state, iterations)

    def _projected_start(
        self,
        x: NDArray[np.float64],
        pieces: Pieces,
        activity: NDArray[np.float64],
    ) -> NDArray[np.float64] | None:
        """`x` moved onto every row it breaks (its equalities kept) by the least-norm change
        of the columns free to move; a column leaving its box is clipped and held there, a
        row the move breaks joins the rows held at their side (four rounds at most). None
        when the result still breaks a row. Only a start: the solve from it is what its
        answer rests on."""
        lower, upper = pieces.lower, pieces.upper
        target = _clip(activity, self.row_lower, self.row_upper)
        chosen = (target != activity) | self._equalities
        movable = lower < upper
        moved = x
        for _ in range(4):
            rows = chosen.nonzero()[0]
            columns = movable.nonzero()[0]
            if columns.size == 0:
                return None
            held = self.rows.take(rows, axis=0)
            residual = target[rows] - _dot(held, moved)
            change = _least_norm(held.take(columns, axis=1), residual)
            trial = moved.copy()
            trial[columns] += change
            outside = (trial < lower) | (trial > upper)
            moved = _clip(trial, lower, upper)
            movable &= ~outside
            level = _dot(self.rows, moved)
            broken = (level < self._least) | (level > self._most)
            if not _count(broken):
                return moved
            target = np.where(broken, _clip(level, self.row_lower, self.row_upper), target)
            chosen |= broken
        return None

    def _onto_rows(
        self,
        x: NDArray[np.float64],
        status: NDArray[np.int8],
        working: list[tuple[int, int]],
        activity: NDArray[np.float64],
        pieces: Pieces,
    ) -> NDArray[np.float64] | None:
        """`x` moved by the least-norm change of its free weights onto the working rows'
        sides and into every broken row; None when that leaves the box."""
        target = _clip(activity, self.row_lower, self.row_upper)
        for r, side in working:
            target[r] = self.row_lower[r] if side == _LOW_SIDE else self.row_upper[r]
        broken = (activity < self._least) | (activity > self._most)
        chosen = np.array(
            sorted({r for r, _ in working} | set(np.flatnonzero(broken).tolist())), dtype=np.intp
        )
        free = (status >= _S_FREE_LOW).nonzero()[0]
        if chosen.size == 0 or free.size == 0:
            return None
        system = self.rows[np.ix_(chosen, free)]
        change = np.linalg.lstsq(system, target[chosen] - activity[chosen], rcond=None)[0]
        moved = x.copy()
        moved[free] += change
        if np.any(moved < pieces.lower) or np.any(moved > pieces.upper):
            return None
        return moved

    # -- pieces of an iteration --------------------------------------------------------

    @staticmethod
    def _statuses(
        x: NDArray[np.float64],
        pieces: Pieces,
        previous: NDArray[np.int8] | None,
        linear: bool = False,
    ) -> NDArray[np.int8]:
        """Statuses for `x` (already in the box): at a bound or kink it sits on, else
        free in its piece. `linear`: no kink lies inside a box (kink >= upper), so none is
        at one (the kinks' test is skipped: it finds nothing)."""
        lower, upper, kink = pieces.lower, pieces.upper, pieces.kink
        status = np.where(x < kink, _S_FREE_LOW, _S_FREE_HIGH)  # (int8, a new array)
        if not linear:
            status[(kink > lower) & (kink < upper) & (x == kink)] = AT_KINK
        status[x <= lower] = AT_LOWER
        status[(x >= upper) & (upper > lower)] = AT_UPPER
        return status

    def _bordered(
        self, hess: NDArray[np.float64], rows: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """[[H, A^T], [A, 0]] of the solve's Hessian and rows, whose rows and columns of the
        free weights and working rows are a KKT system (`_kkt`)."""
        size = len(hess)
        bordered = np.zeros((size + len(rows), size + len(rows)))
        bordered[:size, :size] = hess
        bordered[:size, size:] = rows.T
        bordered[size:, :size] = rows
        return bordered

    def _hessian_of(self, size: int) -> NDArray[np.float64]:
        """H, with a zero row and column for the artificial when there is one."""
        if size == self.size:
            return self.hessian
        if self._extended is None:
            extended = np.zeros((size, size))
            extended[: self.size, : self.size] = self.hessian
            self._extended = extended
        return self._extended

    def _kkt(
        self,
        bordered: NDArray[np.float64],
        free: NDArray[np.intp],
        curvature: NDArray[np.float64] | None,
        indices: NDArray[np.intp],
        rows: NDArray[np.float64],
        gradient: NDArray[np.float64] | None,
        placed: NDArray[np.intp],
        ridged: bool = False,
        negated: NDArray[np.float64] | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The step on the free weights to the minimum of the model on the working rows
        `indices` (gradient and piece curvature of the free weights given), and the
        working rows' multipliers λ there (gradient = A_WF^T λ at that minimum).
        `bordered` is the solve's [[H, A^T], [A, 0]] (`_bordered`), `placed` the working
        rows' places in it (`indices` plus the columns' count); `ridged`: without the
        pieces' curvature (None), the ridge is already on `bordered`'s H diagonal.
        `negated` (or None): minus every column's gradient and 0 at every row, laid out
        as `bordered`; given, `gradient` may be None (it is minus `negated` at `free`)
        and the system's right-hand side is `negated` at the system's own rows (the same
        floats as the gradient negated into zeros: `-(-g)` is g, bit for bit)."""
        count, k = len(free), len(indices)
        if count <= k:  # no freedom left: λ from the free weights' stationarity alone
            if k == 0:
                return np.zeros(count), np.zeros(0)
            if gradient is None:
                assert negated is not None
                gradient = np.negative(negated.take(free))
            constraints = rows.take(indices, axis=0).take(free, axis=1)
            if count == k:
                square = _solve(constraints.T, gradient)
                if square is not None:
                    return np.zeros(count), square
                # Singular: the rows leave the free weights room (least squares' rank
                # said so on every one of 1,172 such systems recorded on the sample).
                raise NodeQPFailure("dependent working rows")
            fitted, _, rank, _ = np.linalg.lstsq(constraints.T, gradient, rcond=None)
            if rank < count:  # the rows leave the free weights room: not "no freedom"
                raise NodeQPFailure("dependent working rows")
            return np.zeros(count), np.asarray(fitted, dtype=np.float64)
        # The system [[H_FF + D, A_WF^T], [A_WF, 0]] in two `take`s of the bordered matrix
        # (the same entries as assembled block by block); the ridge and the pieces'
        # curvature D added to H_FF's diagonal as before (h + (d + ridge), the same sums).
        # (`take` gives a new C-contiguous array: reshape(-1) is a view of it, and its
        # diagonal in place costs less than the `flat` iterator's copy and write-back)
        chosen = np.concatenate((free, placed))
        system = bordered.take(chosen, axis=0).take(chosen, axis=1)
        if not (ridged and curvature is None):
            width = count + k + 1
            system.reshape(-1)[: count * width : width] += (
                self._ridge if curvature is None else curvature + self._ridge
            )
        if negated is None:
            assert gradient is not None
            right = np.zeros(count + k)
            np.negative(gradient, out=right[:count])
        else:
            right = negated.take(chosen)
        solution = _solve(system, right)
        if solution is None:
            raise NodeQPFailure("singular KKT system (or a non-finite solution)")
        return solution[:count], -solution[count:]

    def _ratio(
        self,
        x: NDArray[np.float64],
        step: NDArray[np.float64],
        free: NDArray[np.intp],
        high: NDArray[np.bool_] | None,
        pieces: Pieces,
        rows: NDArray[np.float64],
        in_working: set[int],
    ) -> tuple[float, tuple[str, int, int] | None]:
        """The longest step <= 1 along `step` that keeps every free weight in its piece and
        every row outside the working set (`in_working`: its rows) feasible; what blocks it
        (None: nothing)."""
        if high is None:  # linear pieces (`solve`): the box alone blocks the weights
            alpha, blocking = self._box_ratio(
                x.tolist(),
                step.tolist(),
                free.tolist(),
                pieces.lower.tolist(),
                pieces.upper.tolist(),
            )
        else:
            alpha, blocking = self._piece_ratio(x[free], step, free, high, pieces)
        return self._row_ratio(x, step, free, rows, in_working, alpha, blocking)

    @staticmethod
    def _box_ratio(
        point: list[float],
        steps: list[float],
        free: list[int],
        lower: list[float],
        upper: list[float],
    ) -> tuple[float, tuple[str, int, int] | None]:
        """`_ratio`'s longest step <= 1 that keeps each free weight in its box (linear
        pieces), in plain floats: x the point, the step's entries in `free`'s order.

        numpy's version, which this replaces bit for bit, took each side's ratios over
        every free weight, (u - x) / s where s > 0 (else an infinity), argmin, and blocked
        at that first least ratio if it was below the step so far; then (l - x) / s where
        s < 0. The same IEEE divisions here, and the same choice: the first weight of the
        least ratio below the step so far, nothing when a ratio of the side is NaN (argmin
        would have picked it, and NaN < alpha is false). ~20 free weights: a loop in plain
        floats costs a third of numpy's dozen calls."""
        alpha = 1.0
        blocking: tuple[str, int, int] | None = None
        least, at, undefined = alpha, -1, False
        for j, s in zip(free, steps, strict=True):
            if s > 0.0:
                ratio = (upper[j] - point[j]) / s
                if ratio < least:
                    least, at = ratio, j
                elif ratio != ratio:
                    undefined = True
        if at >= 0 and not undefined:
            alpha = max(least, 0.0)
            blocking = ("variable", at, AT_UPPER)
        least, at, undefined = alpha, -1, False
        for j, s in zip(free, steps, strict=True):
            if s < 0.0:
                ratio = (lower[j] - point[j]) / s
                if ratio < least:
                    least, at = ratio, j
                elif ratio != ratio:
                    undefined = True
        if at >= 0 and not undefined:
            alpha = max(least, 0.0)
            blocking = ("variable", at, AT_LOWER)
        return alpha, blocking

    @staticmethod
    def _piece_ratio(
        values: NDArray[np.float64],
        step: NDArray[np.float64],
        free: NDArray[np.intp],
        high: NDArray[np.bool_],
        pieces: Pieces,
    ) -> tuple[float, tuple[str, int, int] | None]:
        """`_ratio`'s longest step <= 1 that keeps each free weight in its piece."""
        alpha = 1.0
        blocking: tuple[str, int, int] | None = None
        rising, falling = step > 0, step < 0
        kink = pieces.kink[free]
        if _count(rising):
            end = np.where(high, pieces.upper[free], kink)[rising]
            ratios = (end - values[rising]) / step[rising]
            i = int(ratios.argmin())
            if ratios.item(i) < alpha:
                alpha = max(ratios.item(i), 0.0)
                j = int(free[rising][i])
                inside = not high[rising][i] and pieces.kink[j] < pieces.upper[j]
                blocking = ("variable", j, AT_KINK if inside else AT_UPPER)
        if _count(falling):
            begin = np.where(high, kink, pieces.lower[free])[falling]
            ratios = (begin - values[falling]) / step[falling]
            i = int(ratios.argmin())
            if ratios.item(i) < alpha:
                alpha = max(ratios.item(i), 0.0)
                j = int(free[falling][i])
                blocking = ("variable", j, AT_KINK if high[falling][i] else AT_LOWER)
        return alpha, blocking

    def _row_ratio(
        self,
        x: NDArray[np.float64],
        step: NDArray[np.float64],
        free: NDArray[np.intp],
        rows: NDArray[np.float64],
        in_working: set[int],
        alpha: float,
        blocking: tuple[str, int, int] | None,
    ) -> tuple[float, tuple[str, int, int] | None]:
        """`_ratio`: the step `alpha` (and its `blocking`) shortened to keep every row
        outside the working set feasible."""
        moves = _dot(rows.take(free, axis=1), step).tolist()
        # (|move| > 1e-14 in Python floats: the same comparisons as numpy's on the rows'
        # ~20 moves, without four calls)
        moving = [r for r, move in enumerate(moves) if abs(move) > 1e-14 and r not in in_working]
        if not moving:
            return alpha, blocking
        activity = _dot(rows, x).tolist()
        # A few rows: plain floats beat numpy's per-call overhead here (and only the rows
        # the step moves can block it; their activity is not needed when none of them can).
        for r in moving:
            move, level = moves[r], activity[r]
            if move < -1e-14:
                bound = self._lower_list[r]
                side = _LOW_SIDE
            elif move > 1e-14:
                bound = self._upper_list[r]
                side = _HIGH_SIDE
            else:
                continue
            if math.isfinite(bound):
                ratio = max((bound - level) / move, 0.0)
                if ratio < alpha:
                    alpha, blocking = ratio, ("row", r, side)
        return alpha, blocking

    def _most_violated(
        self,
        smooth: NDArray[np.float64],
        multipliers: NDArray[np.float64],
        working: list[tuple[int, int]],
        indices: NDArray[np.intp],
        rows: NDArray[np.float64],
        x: NDArray[np.float64],
        pieces: Pieces,
        status: NDArray[np.int8],
        tolerance: float,
        movable: NDArray[np.bool_],
    ) -> tuple[str, int, int] | None:
        """The working row or fixed weight whose multiplier has the wrong sign by the most
        (and what it becomes), or None at an optimum. `smooth` is c + H x; `movable`: the
        weights whose box is not a point (the solve's, computed once). Linear pieces
        without a kink in the box go to `_release` instead (`solve`)."""
        worst, found = self._worst_row(multipliers, working, tolerance)
        reduced = self._reduced(smooth, multipliers, indices, rows)
        left, right = pieces.slopes(x)
        kinked = status == AT_KINK
        up = np.where(movable & ((status == AT_LOWER) | kinked), -(reduced + right), -np.inf)
        down = np.where((status == AT_UPPER) | kinked, reduced + left, -np.inf)
        j = int(up.argmax())
        if up.item(j) > worst:
            worst = up.item(j)
            low_piece = status[j] == AT_LOWER and pieces.kink[j] > pieces.lower[j]
            found = ("variable", j, FREE_LOW if low_piece else FREE_HIGH)
        j = int(down.argmax())
        if down.item(j) > worst:
            high_piece = status[j] == AT_UPPER and pieces.kink[j] < pieces.upper[j]
            found = ("variable", j, FREE_HIGH if high_piece else FREE_LOW)
        return found

    def _release(
        self,
        smooth: NDArray[np.float64],
        multipliers: NDArray[np.float64],
        working: list[tuple[int, int]],
        indices: NDArray[np.intp],
        rows: NDArray[np.float64],
        pieces: Pieces,
        status: NDArray[np.int8],
        tolerance: float,
        movable: list[bool],
    ) -> tuple[str, int, int] | None:
        """`_most_violated` for linear pieces without a kink in any box (every slope lin0,
        no weight ever at a kink), the fixed weights' signed multipliers in plain floats.

        numpy's version, which this replaces bit for bit, took r + lin0 (r: c + H x less
        the working rows' A^T λ), up = where(movable & at lower, -(r + lin0), -inf) and
        released its argmax if above the worst so far, then down = where(at upper,
        r + lin0, -inf) likewise. The same sum here (r + lin0 in numpy; a negation is
        exact) and the same choice: each side's first greatest entry, nothing from a side
        with a NaN entry (argmax would have picked it, and NaN > worst is false). ~30
        weights: a loop in plain floats costs a third of numpy's dozen calls."""
        worst, found = self._worst_row(multipliers, working, tolerance)
        reduced = self._reduced(smooth, multipliers, indices, rows)
        signed = (reduced + pieces.lin0).tolist()
        up, up_at, up_undefined = -math.inf, -1, False
        down, down_at, down_undefined = -math.inf, -1, False
        for j, (state, value) in enumerate(zip(status.tolist(), signed, strict=True)):
            if state == AT_LOWER:
                if movable[j]:
                    if -value > up:
                        up, up_at = -value, j
                    elif value != value:
                        up_undefined = True
            elif state == AT_UPPER:
                if value > down:
                    down, down_at = value, j
                elif value != value:
                    down_undefined = True
        if up_at >= 0 and not up_undefined and up > worst:
            worst, j = up, up_at
            low_piece = status[j] == AT_LOWER and pieces.kink[j] > pieces.lower[j]
            found = ("variable", j, FREE_LOW if low_piece else FREE_HIGH)
        if down_at >= 0 and not down_undefined and down > worst:
            j = down_at
            high_piece = status[j] == AT_UPPER and pieces.kink[j] < pieces.upper[j]
            found = ("variable", j, FREE_HIGH if high_piece else FREE_LOW)
        return found

    def _worst_row(
        self, multipliers: NDArray[np.float64], working: list[tuple[int, int]], tolerance: float
    ) -> tuple[float, tuple[str, int, int] | None]:
        """The working inequality whose multiplier has the wrong sign by the most beyond
        `tolerance` (that much and ("row", r, 0)), else (`tolerance`, None)."""
        worst, found = tolerance, None
        equality = self._equality
        for (r, side), value in zip(working, multipliers.tolist(), strict=True):
            if equality[r]:
                continue
            wrong = -value if side == _LOW_SIDE else value
            if wrong > worst:
                worst, found = float(wrong), ("row", r, 0)
        return worst, found

    @staticmethod
    def _reduced(
        smooth: NDArray[np.float64],
        multipliers: NDArray[np.float64],
        indices: NDArray[np.intp],
        rows: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """c + H x less the working rows' A_W^T λ."""
        if not len(indices):
            return smooth
        return smooth - _dot(rows.take(indices, axis=0).T, multipliers)

    def _independent(
        self, working: list[tuple[int, int]], rows: NDArray[np.float64], status: NDArray[np.int8]
    ) -> list[tuple[int, int]]:
        """The rows of `working` kept greedily while linearly independent on the free
        weights (a dependent row is implied by the others there)."""
        free = (status >= _S_FREE_LOW).nonzero()[0]
        kept: list[tuple[int, int]] = []
        if not working or free.size == 0:
            return kept
        block = rows.take([r for r, _ in working], axis=0).take(free, axis=1)
        touched = block != _ZERO
        # (ufunc reductions and a count: `touched[:, touched.sum(axis=0) == 1]
        # .any(axis=1).all()` without the methods' Python-level wrappers)
        alone = touched[:, np.add.reduce(touched, axis=0) == _ONE_COUNT]
        if _count(np.logical_or.reduce(alone, axis=1)) == len(working):
            # Every row has a free column that no other working row reads: independent
            # (in a combination that vanishes, that column forces the row's coefficient
            # to 0). The common case of the rebalance nodes (each held name's own row
            # w - b + s = w0), and ~10x cheaper than the test below.
            return list(working)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block)).tolist()
        if len(working) <= free.size:
            # The greedy test below in one QR: row i's residual against the rows before it
            # (the span of the kept ones) is R_ii of block^T = QR.
            diagonal = _r_diagonal(block.T).tolist()
            return [
                entry
                for entry, norm, left in zip(working, norms, diagonal, strict=True)
                if norm > 0.0 and left > 1e-9 * norm
            ]
        basis = np.zeros((min(len(working), free.size), free.size))
        found = 0
        for entry, row, norm in zip(working, block, norms, strict=True):
            if norm == 0.0 or found == len(basis):
                continue  # empty on the free weights, or the free weights' space is spanned
            residual = row
            if found:  # classical Gram-Schmidt twice: as stable as the modified one
                span = basis[:found]
                residual = residual - (span @ residual) @ span
                residual = residual - (span @ residual) @ span
            left = math.sqrt(float(residual @ residual))
            if left > 1e-9 * norm:
                basis[found] = residual / left
                found += 1
                kept.append(entry)
        # A row left out (even an equality) blocks the first step that would break it.
        return kept


def _times(hessian: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """H x for the symmetric H; with many columns of which few are nonzero (a 500-name
    node holds ~30 names) by the rows of the nonzero ones alone, (x_S^T H_S)^T: the
    same sum but for its order (round-off), in a fraction of the dense product, which
    was most of a large node's own time. Small nodes keep the dense product."""
    if len(x) < _SPARSE_PRODUCT_COLUMNS:
        return _dot(hessian, x)
    nonzero = x.nonzero()[0]
    if 4 * len(nonzero) > len(x):
        return hessian @ x
    return np.asarray(x[nonzero] @ hessian.take(nonzero, axis=0), dtype=np.float64)


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """`a @ b` for a matrix or vector `a` and a vector `b` (or a vector `a` and a matrix
    `b`) by `ndarray.dot`: the same BLAS call (gemv, ddot) without matmul's dispatch, half
    its cost on the nodes' short arrays. Where the summed dimension has length 1 dot
    multiplies directly and matmul adds the product to 0.0 (a -0.0 product comes out
    0.0 there): `@` itself."""
    if b.shape[0] > 1:
        product: NDArray[np.float64] = a.dot(b)
        return product
    return np.asarray(a @ b, dtype=np.float64)


def _clip(
    values: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`np.clip(values, lower, upper)` (its loop is min(max(v, l), u) as well) without
    np.clip's dispatch, a few microseconds a call on the node's short arrays."""
    return np.minimum(np.maximum(values, lower), upper)


def _solve(matrix: NDArray[np.float64], right: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """`np.linalg.solve(matrix, right)` (the same LAPACK gesv, the same numbers) for a
    square matrix and one right-hand side, or None where it would raise (singular) or the
    solution is not finite. The node solves' systems are 10-60 wide: numpy's checks and
    error-state set-up around the gufunc took ~40% of each call."""
    if _LAPACK_SOLVE is None:  # pragma: no cover - another numpy's layout
        try:
            solution = np.asarray(np.linalg.solve(matrix, right), dtype=np.float64)
        except np.linalg.LinAlgError:
            return None
    else:  # (under `ActiveSetQP.solve`'s error state: a singular system gives NaNs)
        solution = _LAPACK_SOLVE(matrix, right)
    # (a finite sum is the cheap test; only a non-finite one needs every entry seen)
    if not math.isfinite(_sum_of(solution)) and not np.all(np.isfinite(solution)):
        return None
    return solution


def _r_diagonal(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """|diag R| of `matrix` = QR: `np.linalg.qr(matrix, mode="r")`'s (the same LAPACK
    geqrf on the same copy), without its wrapper."""
    if _LAPACK_QR_R is None:  # pragma: no cover - another numpy's layout
        return np.asarray(np.abs(np.diagonal(np.linalg.qr(matrix, mode="r"))), dtype=np.float64)
    factored = matrix.astype(np.float64, copy=True)
    _LAPACK_QR_R(factored, signature="d->d")  # R in the upper triangle, in place
    return np.abs(np.diagonal(factored))


def _least_norm(matrix: NDArray[np.float64], right: NDArray[np.float64]) -> NDArray[np.float64]:
    """The least-norm d with matrix d = right (matrix^T (matrix matrix^T)^-1 right: a few
    short rows), by least squares when the rows are dependent."""
    solution = _solve(matrix @ matrix.T, right)
    if solution is not None:
        return _dot(matrix.T, solution)
    return np.asarray(np.linalg.lstsq(matrix, right, rcond=None)[0], dtype=np.float64)


def tangent_bound(
    qp: ActiveSetQP,
    pieces: Pieces,
    x: NDArray[np.float64],
    duals: NDArray[np.float64],
    rows: RowSet | None = None,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """A lower bound of the node for any point `x` and row duals `duals`, with the
    subgradient it used and the point clipped to the box.

    L(w, y) = f(w) - y^T (A w - s) (s: the row bound on the side of y's sign) is convex in
    w, so on the box it is at least L(x, y) + sum_j min(g_j (l_j - x_j), g_j (u_j - x_j))
    for any subgradient g of L at x; at a kink g_j is chosen nearest 0. Weak duality makes
    that a bound of the node whatever the accuracy of x and y.
    """
    rows = qp.base if rows is None else rows
    x = _clip(x, pieces.lower, pieces.upper)
    side = np.where(duals > _ZERO, rows.lower, rows.upper)
    finite = np.isfinite(side)
    y = np.where(finite, duals, _ZERO)
    side = np.where(finite, side, _ZERO)
    curvature = _times(qp.hessian, x)
    # (`_dot`: the same products as `@`; 0.5 * x @ Hx is (0.5 x) Hx)
    smooth = qp.cost + curvature - _dot(rows.matrix.T, y)
    left, right = pieces.slopes(x)
    subgradient = _CLIP_UFUNC(_ZERO, smooth + left, smooth + right)
    lagrangian = float(_dot(qp.cost, x) + _dot(x * _HALF, curvature)) + pieces.separable(x)
    lagrangian -= float(_dot(y, _dot(rows.matrix, x) - side))
    steps = np.minimum(subgradient * (pieces.lower - x), subgradient * (pieces.upper - x))
    return lagrangian + float(_sum_of(steps)), subgradient, x


def coordinate_curvature(hessian: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per column c, a valid lower bound on  min { d^T H d : d_c = 1 }  (0 where none is
    known): what moving column c alone by 1 costs at least, the other columns moving
    freely to soften it.

    For a convex quadratic Lagrangian  L(x) = L(x0) + g^T d + 1/2 d^T H d  (d = x - x0),
    any region where column c takes a value v has  min L >= L(x0) + min g^T d +
    1/2 kappa_c (v - x0_c)^2  (the two minima taken apart, the second over every d with
    d_c = v - x0_c): a node's tangent bound plus this bounds its child that fixes column c
    (`Relaxation.down_increase`). Over the block C of columns with curvature,
    min { d^T H_CC d : d_c = 1 } = 1 / (H_CC^-1)_cc when H_CC is positive definite; a column
    outside C (no curvature: a trade) gets 0. Computed only for a well-conditioned H_CC
    (condition number at most 1e8, where the inverse's diagonal is good to ~1e-8 relative)
    and shrunk by 1e-6 so that round-off never overstates it; otherwise every entry is 0."""
    size = len(hessian)
    kappa = np.zeros(size)
    if size == 0:
        return kappa
    # (without numpy's wrappers, the same numbers and tests: `_maximum_of` for
    # ndarray.max, `nonzero` for np.flatnonzero of a vector, two `take`s for the np.ix_
    # block, no entry != its transpose's (NaN included) for np.array_equal, `_count` for
    # np.all, and the LAPACK gufuncs of np.linalg.eigvalsh / inv)
    curved = (_maximum_of(np.abs(hessian), axis=1) > 0.0).nonzero()[0]
    if curved.size == 0:
        return kappa
    block = hessian.take(curved, axis=0).take(curved, axis=1)
    if _count(block != block.T):
        return kappa
    eigenvalues = _eigenvalues(block)
    if not (eigenvalues[0] > 0.0 and eigenvalues[-1] <= 1e8 * eigenvalues[0]):
        return kappa
    inverse = np.diagonal(_inverse(block))
    if _count(np.isfinite(inverse) & (inverse > 0.0)) != len(inverse):
        return kappa
    kappa[curved] = (1.0 - 1e-6) / inverse
    return kappa


def _eigenvalues(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """`np.linalg.eigvalsh(matrix)` (ascending; the same LAPACK syevd on the lower triangle,
    the same numbers) of a square float64 matrix, without its wrapper (its checks and
    error-state set-up cost more than the gufunc on the ~30-wide blocks of
    `coordinate_curvature`). Where the wrapper would raise (no convergence) the gufunc
    gives NaNs, which `coordinate_curvature`'s tests turn into "no curvature known"."""
    if _LAPACK_EIGVALSH is None:  # pragma: no cover - another numpy's layout
        return np.asarray(np.linalg.eigvalsh(matrix), dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        return _LAPACK_EIGVALSH(matrix, signature="d->d")


def _inverse(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """`np.linalg.inv(matrix)` (the same LAPACK gesv against the identity, the same
    numbers) of a square float64 matrix, without its wrapper; a singular matrix gives
    NaNs / infinities instead of raising (only asked of a positive definite one)."""
    if _LAPACK_INV is None:  # pragma: no cover - another numpy's layout
        return np.asarray(np.linalg.inv(matrix), dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        return _LAPACK_INV(matrix, signature="d->d")


def proves_infeasible(
    qp: ActiveSetQP, pieces: Pieces, duals: NDArray[np.float64], rows: RowSet | None = None
) -> bool:
    """Whether `duals` are a Farkas certificate that no point of the box meets the rows:
    with y >= 0 on lower sides and <= 0 on upper sides, every feasible w has
    y^T (A w - s) >= 0, so  max over the box of y^T A w < y^T s  proves there is none."""
    rows = qp.base if rows is None else rows
    side = np.where(duals > 0, rows.lower, rows.upper)
    usable = np.isfinite(side) & (duals != 0.0)
    if not usable.any():
        return False
    y = np.where(usable, duals, 0.0)
    side = np.where(usable, side, 0.0)
    pulled = rows.matrix.T @ y
    reach = float(np.maximum(pulled * pieces.lower, pulled * pieces.upper).sum())
    scale = float(np.abs(y).sum()) * (1.0 + float(np.abs(side).max(initial=0.0)))
    return reach < float(y @ side) - 1e-9 * scale


def propagation_infeasible(
    rows: RowSet, lower: NDArray[np.float64], upper: NDArray[np.float64], rounds: int = 2
) -> bool:
    """Whether bound propagation proves that no w in [lower, upper] meets the rows.

    Each row's least and greatest activity over the box, min_a = sum_k min(a_k l_k, a_k u_k)
    and max_a; min_a > hi or max_a < lo leaves no point. Else every row implies a bound on
    each of its columns (a_k w_k <= hi - (min_a - min(a_k l_k, a_k u_k)), and so on), which
    tightens the box for the next round: a held name fixed at 0 has w = 0, so its row
    w - b + s = w0 gives s >= w0, which the turnover row then cannot pay for. Only a
    violation beyond 1e-9 of the row's scale counts, and each implied bound is loosened by
    1e-12 of its size, so round-off never proves a feasible node infeasible. With an
    infinite bound it proves nothing (returns False). `Propagation` does the same with
    the rows' parts prepared once (what the search's nodes use)."""
    return Propagation(rows).infeasible(lower, upper, rounds)


class Propagation:
    """`propagation_infeasible` over one row set, its per-row-set parts computed once.

    With a = a+ + a- (positive and negative parts) the least activity is a+ l + a- u (two
    products), and the bound row r implies on column k, (hi_r - (min_r - min(a l, a u)))/a
    for a > 0, is (hi_r - min_r)/a + l_k: every implied bound is a column's own bound plus
    a row's slack times 1/a, the rows whose side is infinite (or a = 0) masked by adding
    an infinity that is prepared once."""

    def __init__(self, rows: RowSet) -> None:
        matrix = rows.matrix
        self.rows = rows
        self.positive = np.maximum(matrix, _ZERO)
        self.negative = np.minimum(matrix, _ZERO)
        self.magnitude = np.abs(matrix)
        finite_hi, finite_lo = np.isfinite(rows.upper), np.isfinite(rows.lower)
        self.scale = _ONE + np.where(finite_hi, np.abs(rows.upper), _ZERO)
        # Every implied bound of a round in one product (`implied`): the rows' slacks
        # [hi - min; lo - max] (2m, a side 0 where infinite) times the stacked reciprocals
        #     [[up, -down], [down, -up]]   (2m x 2n: implied upper bounds | -implied lower)
        # (up = 1/a where a > 0, down = 1/a where a < 0, else 0) plus an infinity where
        # that row side implies nothing on that column (the side infinite, or a coefficient
        # of the other sign or 0), then one minimum per column. Each entry is the dense
        # form's  from_hi up + from_lo down + no_high  (or minus that of the lower bounds)
        # without its term in the 0 of the other sign, which adds ±0 (the same float but
        # for a zero's sign, which the 1e-12 widening that follows erases); the lower
        # bounds' maximum is minus the minimum of their negatives.
        # With e = [a, -a] the blocks are 1/e where [e; -e] > 0 (-(1/a) is 1/(-a)), built
        # in whole arrays (the same reciprocals; ~3,000 row sets on the sample).
        m, n = matrix.shape
        self._size = n
        doubled = np.concatenate((matrix, np.negative(matrix)), axis=1)
        signed = np.concatenate((doubled, np.negative(doubled)))
        implies = signed > _ZERO
        self._spread = np.zeros((2 * m, 2 * n))
        np.divide(_ONE, np.concatenate((doubled, doubled)), out=self._spread, where=implies)
        finite = np.concatenate((finite_hi, finite_lo))
        self._nothing = np.where(implies & finite[:, None], _ZERO, _INF)
        self._sides = np.where(finite, np.concatenate((rows.upper, rows.lower)), _ZERO)
        self._signs, self._widen = _signs_and_widening(n)

    def infeasible(
        self, lower: NDArray[np.float64], upper: NDArray[np.float64], rounds: int = 2
    ) -> bool:
        """`propagation_infeasible(self.rows, lower, upper, rounds)`."""
        return self.implied(lower, upper, rounds)[0]

    def implied(
        self, lower: NDArray[np.float64], upper: NDArray[np.float64], rounds: int = 2
    ) -> tuple[bool, NDArray[np.float64], NDArray[np.float64]]:
        """(whether propagation proves the box infeasible, the box the rows imply): the
        propagation of `infeasible`, its tightened bounds returned as well (each loosened
        by 1e-12 of its size: every point of the box meeting the rows is in them)."""
        # (a finite sum is the cheap test; only a non-finite one needs every entry seen)
        if not math.isfinite(float(_sum_of(lower)) + float(_sum_of(upper))) and not (
            np.isfinite(lower).all() and np.isfinite(upper).all()
        ):
            return False, lower, upper
        rows = self.rows
        if rows.matrix.shape[0] == 0:
            return bool(np.any(lower > upper)), lower, upper
        positive, negative = self.positive, self.negative
        low, high = lower, upper
        n = self._size
        # (`_dot`: the same products as `@`, without matmul's dispatch)
        slack = _NANO * (_dot(self.magnitude, np.maximum(np.abs(low), np.abs(high))) + self.scale)
        most, least = rows.upper + slack, rows.lower - slack
        width: NDArray[np.float64] | None = None
        for round_ in range(rounds + 1):
            smallest = _dot(positive, low) + _dot(negative, high)
            largest = _dot(positive, high) + _dot(negative, low)
            if _count(smallest > most) or _count(largest < least):
                return True, low, high
            if round_ == rounds:
                break
            # (`__init__`: [low + min of the implied highs; high + max of the implied lows],
            # each widened by 1e-12 of its size; +-1e-12 q is -(1e-12 q), high - m is
            # high + -m, the same floats)
            room = self._sides - np.concatenate((smallest, largest))
            least_of = _minimum_of(room[:, None] * self._spread + self._nothing, 0)
            bounds = np.concatenate((low, high)) + self._signs * least_of
            bounds = bounds + self._widen * (_ONE + np.abs(bounds))
            implied_high, implied_low = bounds[:n], bounds[n:]
            tighter_high, tighter_low = implied_high < high, implied_low > low
            if not (_count(tighter_high) or _count(tighter_low)):
                return False, low, high  # nothing moved: the next round would find the same
            high = np.where(tighter_high, implied_high, high)
            low = np.where(tighter_low, implied_low, low)
            if width is None:
                width = _NANO * (_ONE + np.abs(lower) + np.abs(upper))
            if _count(low > high + width):
                return True, low, high
        return False, low, high


_SIGNS_AND_WIDENINGS: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}


def _signs_and_widening(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`Propagation.implied`'s [+1, -1] (n each: the upper bounds' and the lower bounds'
    signs) and [1e-12, -1e-12] (their widening), made once per n."""
    found = _SIGNS_AND_WIDENINGS.get(n)
    if found is None:
        found = _SIGNS_AND_WIDENINGS[n] = (
            np.concatenate((np.ones(n), np.full(n, -1.0))),
            np.concatenate((np.full(n, 1e-12), np.full(n, -1e-12))),
        )
    return found


@dataclass(frozen=True, slots=True)
class DownBound:
    """What `SelectionNodes.down_bound` needs of a solved node: its tangent bound, the
    subgradient and clipped point it was taken at, the node's pieces and its rows'
    `Propagation` (built on first use)."""

    tangent: float
    subgradient: NDArray[np.float64]
    x: NDArray[np.float64]
    pieces: Pieces
    propagation: Callable[[], Propagation]


def _next_multiplier(tried: list[tuple[float, float]], cap: float) -> float | None:
    """The next θ in [0, cap] to try from the (θ, slack) pairs so far (the slack, the
    count at θ's point less its limit, is the derivative of the concave L(θ)), or None
    to stop: at a slack of 0, at θ = 0 with a negative slack, or at the cap."""
    theta, slack = tried[-1]
    if abs(slack) <= 1e-6 or (slack < 0 and theta == 0.0) or (slack > 0 and theta >= cap):
        return None
    below = [t for t in tried if t[1] > 0]  # θ too small
    above = [t for t in tried if t[1] < 0]  # θ too large
    if below and above:
        low = max(below)
        high = min(above)
        return low[0] + (high[0] - low[0]) * low[1] / (low[1] - high[1])
    if below:
        return min(cap, max(2.0 * theta, 0.5 * cap))
    return 0.5 * theta


# The counting rows flattened: row t, selection j, c_j and j's weight column per member,
# then the rows' other coefficients and their right-hand sides.
_RowParts = tuple[
    NDArray[np.intp],
    NDArray[np.intp],
    NDArray[np.float64],
    NDArray[np.intp],
    NDArray[np.float64],
    NDArray[np.float64],
]


class SelectionNodes:
    """The node QPs of a search whose integers are names' selections (`Selections` of
    branch_and_bound.py) as `ActiveSetQP` problems over the relaxation's kept columns.

    A selection j (weight column c_j, floor m_j, cap u_j) is, at a node: 0 (w in [0, 0]),
    1 (w in [max(l_j, m_j), u_j], term d_j w^2 for a perspective member) or free
    (w in [l_j, u_j], term d_j phi_j(w): slope d_j m_j up to the kink m_j, then d_j w^2).
    Other kept columns keep their box and no term. A counting row  sum_j c_j z_j <= hi
    (a cardinality cap) becomes, at a node,  sum_free (c_j / u_j) w_j <= hi - sum_held c_j
    (a free z_j is best at w_j / u_j), the node's own row after the base rows; a mixed row
    (the rebalance programs' cash row: the flags' fixed costs next to the weights) keeps its
    other coefficients too. With `costs` (a flag's fixed cost e_j) a free selection adds
    e_j / u_j to its column's slopes and a held one the constant e_j (`Pieces.offset`);
    infeasible nodes of those programs are first tried by `propagation_infeasible`, and
    `forced` fixes the selections the node's rows force (a weight implied above 0 or below
    its floor by the same propagation).

    The implied count. A row  sum_k a_k w_k <= hi  with a >= 0 over columns >= 0 (the
    budget) lets at most  k  of the free floored names be held at a node: the most of
    them whose floor costs a_j m_j fit in what the held names leave,  hi - sum_held a_j m_j
    (the smallest first). In the relaxation a free name's selection is  y_j = min(w_j, m_j)
    / m_j, so the count  sum_S y_j <= k  is concave in w and cannot be a row; it enters by
    its Lagrangian instead: for θ >= 0 the slope of a member's first piece becomes
    d_j m_j + θ / m_j (still convex while θ <= d_j m_j^2, the slope after the floor being
    2 d_j m_j) and  L(θ) = min_w [f(w) + θ sum_S y_j] - θ k  bounds the node (weak
    duality: any selection held within the node has sum_S y_j <= k). Two warm-started
    solves at most per node search θ (the count's slack is L's derivative). On `pard200_i` this
    lifts the root bound from 178.46 to 181.71 (the optimum is 182.04). A point integral in
    its selections is returned from θ = 0, so it stays the node's relaxation optimum.
    """

    def __init__(
        self,
        qp: ActiveSetQP,
        column_lower: NDArray[np.float64],
        column_upper: NDArray[np.float64],
        weight_columns: NDArray[np.int32],
        floors: NDArray[np.float64],
        member_selections: NDArray[np.intp],
        member_split: NDArray[np.float64],
        caps: NDArray[np.float64] | None = None,
        counting: tuple[
            tuple[NDArray[np.intp], NDArray[np.float64], float, NDArray[np.float64]], ...
        ] = (),
        implied_count: bool = True,
        costs: NDArray[np.float64] | None = None,
    ) -> None:
        self.qp = qp
        self.caps = np.ones(len(floors)) if caps is None else caps
        # (selections j, c_j, hi, a over the columns) per counting or mixed row
        self.counting = counting
        # e_j: each selection's own cost (minimised units), or None
        self.costs = costs
        # e_j / u_j, a free selection's cost per unit of its weight (`pieces`)
        self._cost_per_weight = None if costs is None else costs / self.caps
        self._parts: _RowParts | None = None
        self._curvature: NDArray[np.float64] | None = None  # `coordinate_curvature`, lazily
        self._half_curvature: NDArray[np.float64] | None = None  # (of the weights, `solve`)
        # c_j / u_j per member of the counting rows (`node_rows`), computed once
        self._per_weight_counts: NDArray[np.float64] | None = None
        self._row_cache: dict[bytes, RowSet | None] = {}
        # (`node_rows`, once: whether the members' places in the counting rows are
        # distinct, those places in the flattened rows and the rows' other coefficients
        # there; the rows' lower sides, -inf)
        self._distinct_places: tuple[bool, NDArray[np.intp], NDArray[np.float64]] | None = None
        self._unbounded_below: NDArray[np.float64] | None = None
        self._propagations: dict[bytes, Propagation] = {}
        self.column_lower = column_lower
        self.column_upper = column_upper
        self.weight_columns = weight_columns.astype(np.intp)
        self.floors = floors
        # The weights' own bounds and a held one's lower bound (`pieces`, per node).
        weight_lower = column_lower[self.weight_columns]
        self._weight_bounds = (
            weight_lower,
            np.maximum(weight_lower, floors),
            column_upper[self.weight_columns],
        )
        self.members = member_selections
        self.member_columns = self.weight_columns[member_selections]
        self.split = member_split
        self._split_of = np.zeros(len(floors))
        self._split_of[member_selections] = member_split
        # (no member of the perspective, no count: the trade flags' programs)
        self._budgets = self._budget_rows() if implied_count and self.members.size else []
        # The bounds `forced` last propagated without finding the node infeasible.
        # (and their pieces, which `solve` reuses).
        self._propagated: tuple[NDArray[np.float64], NDArray[np.float64], Pieces] | None = None
        # What the last `solve` leaves for `down_bound` (None: nothing known).
        self.last_down: DownBound | None = None

    def _budget_rows(self) -> list[NDArray[np.float64]]:
        """Per base row  sum_k a_k w_k <= hi  with a >= 0 over columns >= 0 (a budget): each
        selection's floor cost a_j m_j, with hi appended."""
        rows = self.qp.base
        found: list[NDArray[np.float64]] = []
        for matrix_row, hi in zip(rows.matrix, rows.upper, strict=True):
            if not math.isfinite(float(hi)) or np.any(matrix_row < 0):
                continue
            if np.any((matrix_row > 0) & (self.column_lower < 0)):
                continue
            costs = matrix_row[self.weight_columns] * self.floors
            if np.any(costs > 0):
                found.append(np.append(costs, hi))
        return found

    def implied_count(
        self, lower: NDArray[np.float64], upper: NDArray[np.float64]
    ) -> tuple[NDArray[np.bool_], int, float] | None:
        """(the free members S counted, at most how many of them can be held, the largest θ
        keeping the pieces convex) for the tightest budget row, or None when no count can
        bind (see the class)."""
        if not self._budgets or self.members.size == 0:
            return None
        free = np.zeros(len(self.floors), dtype=bool)
        free[self.members] = True
        free &= (lower < 0.5) & (upper > 0.5) & (self.floors > 0) & (self._split_of > 0)
        one = lower > 0.5
        best: tuple[NDArray[np.bool_], int, float] | None = None
        for row in self._budgets:
            costs, hi = row[:-1], float(row[-1])
            counted = free & (costs > 0)
            if not counted.any():
                continue
            room = hi - float(costs[one].sum())
            # Rounded up (a count too large is weaker, never wrong).
            room += 1e-9 * max(abs(hi), 1.0)
            limit = int(np.searchsorted(np.cumsum(np.sort(costs[counted])), room, side="right"))
            size = int(counted.sum())
            if limit >= size:
                continue
            if best is None or size - limit > int(best[0].sum()) - best[1]:
                cap = float(np.min(self._split_of[counted] * self.floors[counted] ** 2))
                best = (counted, limit, cap)
        return best

    def _counted_pieces(self, pieces: Pieces, counted: NDArray[np.bool_], theta: float) -> Pieces:
        """`pieces` with θ / m_j added to the first slope of each counted selection."""
        if theta == 0.0:
            return pieces
        lin0 = pieces.lin0.copy()
        lin0[self.weight_columns[counted]] += theta / self.floors[counted]
        return replace(pieces, lin0=lin0)

    def _integral(
        self, x: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64]
    ) -> bool:
        """Whether every free selection's relaxed value (w / m_j with a floor, w / u_j
        without) is within 1e-9 of 0 or 1."""
        free = (lower < _HALF) & (upper > _HALF)
        weights = np.maximum(x[self.weight_columns], 0.0)
        scale = np.where(self.floors > 0, self.floors, self.caps)
        values = np.minimum(weights / scale, 1.0)[free]
        return bool(np.all(np.minimum(values, 1.0 - values) <= 1e-9))

    def pieces(self, lower: NDArray[np.float64], upper: NDArray[np.float64]) -> Pieces:
        """The node's pieces for selection bounds `lower`, `upper` (0/1 values)."""
        zero, one = upper < _HALF, lower > _HALF
        columns = self.weight_columns
        column_lower = self.column_lower.copy()
        column_upper = self.column_upper.copy()
        weight_lower, held_lower, weight_upper = self._weight_bounds
        column_lower[columns] = np.where(zero, _ZERO, np.where(one, held_lower, weight_lower))
        column_upper[columns] = np.where(zero, _ZERO, weight_upper)
        kink = column_upper.copy()
        size = len(kink)
        lin0, quad0, lin1, quad1 = np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size)
        if self.members.size:  # none with trade flags: their pieces are linear
            m = self.member_columns
            held, free = one[self.members], ~zero[self.members] & ~one[self.members]
            floors = self.floors[self.members]
            kink[m] = np.where(
                free, np.clip(floors, column_lower[m], column_upper[m]), column_upper[m]
            )
            lin0[m] = np.where(free, self.split * floors, 0.0)
            quad0[m] = np.where(held, self.split, 0.0)
            quad1[m] = self.split
        offset = 0.0
        if self.costs is not None:  # e_j / u_j on a free selection's weight, e_j once held
            assert self._cost_per_weight is not None
            per_weight = np.where(~zero & ~one, self._cost_per_weight, _ZERO)
            lin0[columns] += per_weight
            lin1[columns] += per_weight
            offset = float(_sum_of(self.costs[one]))
        return Pieces(column_lower, column_upper, kink, lin0, quad0, lin1, quad1, offset)

    def solve(
        self,
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        start: NodeState | None,
        deadline: float = math.inf,
    ) -> tuple[NodeSolution, float, NDArray[np.float64], NDArray[np.float64]] | None:
        """(solution, a valid lower bound of the node, valid lower bounds on the bound's
        rise when each free selection is set to 1 and when it is set to 0), or None when
        the node is proven infeasible. Raises `NodeQPFailure` when neither is established.

        The rise at 0 (`fall`): the child fixes the selection's weight column c at 0 and
        is the node on that face (its rows and costs read a free selection only through
        w_c), so it is bounded by the node's tangent bound plus 1/2 kappa_c x_c^2
        (`coordinate_curvature`, x the clipped point the bound was taken at); computed
        without the implied count (whose θ terms are not the node's Lagrangian) and for
        nodes of at most `_SPARSE_PRODUCT_COLUMNS` columns (one small inverse per search;
        0 elsewhere)."""
        self.last_down = None
        checked, self._propagated = self._propagated, None
        propagated = checked is not None and checked[0] is lower and checked[1] is upper
        plain = checked[2] if checked is not None and propagated else self.pieces(lower, upper)
        rows, propagation = self._rows_and_propagation(lower)
        if (
            self.costs is not None
            and not propagated
            and not self._start_fits(start, plain, rows)
            and propagation().infeasible(plain.lower, plain.upper)
        ):
            # Trade flags' nodes are often infeasible (a held name fixed at 0 sells more
            # than the turnover cap allows): a quarter of the sample's nodes, each of them
            # an artificial phase, a certificate or HiGHS's turn otherwise.
            return None
        count = self.implied_count(lower, upper)
        theta = 0.0 if count is None or start is None else min(start.multiplier, count[2])
        chosen: tuple[float, float, NodeSolution, Pieces] | None = None
        tried: list[tuple[float, float]] = []  # (θ, the count's slack at θ's point)
        state = start
        for _ in range(_COUNT_SOLVES):
            pieces = plain if count is None else self._counted_pieces(plain, count[0], theta)
            solution = self.qp.solve(pieces, state, rows, deadline)
            if solution.infeasible:
                if proves_infeasible(self.qp, pieces, solution.duals, rows):
                    return None
                raise NodeQPFailure("no feasible point found and no certificate of infeasibility")
            state = solution.state
            tangent_of = tangent_bound(self.qp, pieces, solution.x, solution.duals, rows)
            bound = min(tangent_of[0], solution.objective)
            if count is None:
                chosen = (bound, theta, solution, pieces)
                break
            counted, limit, cap = count
            bound -= theta * limit
            if chosen is None or bound > chosen[0]:
                chosen = (bound, theta, solution, pieces)
            taken = np.maximum(solution.x[self.weight_columns[counted]], 0.0)
            slack = float(np.sum(np.minimum(taken / self.floors[counted], 1.0))) - limit
            tried.append((theta, slack))
            following = _next_multiplier(tried, cap)
            if following is None:
                break
            theta = following
        assert chosen is not None
        best_bound, theta, solution, pieces = chosen
        if theta > 0.0 and self._integral(solution.x, lower, upper):
            # The search takes an integral point as the node's relaxation optimum (nothing
            # below it is better): only true of θ = 0's point. The bound stays the best.
            again = self.qp.solve(plain, solution.state, rows, deadline)
            if again.infeasible:
                raise NodeQPFailure("the node without its count found no feasible point")
            solution, pieces, theta = again, plain, 0.0
        if count is not None:  # else the loop's one solve is the chosen one
            tangent_of = tangent_bound(self.qp, pieces, solution.x, solution.duals, rows)
        tangent, subgradient, x = tangent_of
        self.last_down = (
            DownBound(tangent, subgradient, x, pieces, propagation)
            if count is None and len(x) <= _SPARSE_PRODUCT_COLUMNS
            else None
        )
        own = min(tangent, solution.objective) - theta * (0 if count is None else count[1])
        bound = max(own, best_bound)
        # Setting a free selection to 1 raises its weight's lower bound to the floor and
        # leaves the objective unchanged there (phi_j(w) = w^2 from the floor on), so the
        # same tangent bounds the child on the smaller box.
        columns = self.weight_columns
        g, at = subgradient[columns], x[columns]
        weight_lower = pieces.lower[columns]
        held_lower = np.maximum(weight_lower, self.floors)
        to_upper = g * (pieces.upper[columns] - at)  # (the same in both minima)
        before = np.minimum(g * (weight_lower - at), to_upper)
        after = np.minimum(g * (held_lower - at), to_upper)
        free = (lower < _HALF) & (upper > _HALF)
        # The rise is of this solve's own bound (with θ: the child's count is at most
        # k - 1 and its piece there is the parent's less θ, so it holds for the Lagrangian).
        rise = np.where(free, np.maximum(after - before - (bound - own), _ZERO), _ZERO)
        if count is None and len(x) <= _SPARSE_PRODUCT_COLUMNS:
            # (without the count, `bound` is `own`: the tangent bound at x, or below it)
            if self._half_curvature is None:  # 0.5 kappa of the weights' columns, once
                self._half_curvature = 0.5 * self.curvature()[columns]
            fall = np.where(free, self._half_curvature * at * at, _ZERO)
        else:
            fall = np.zeros(len(rise))
        # Setting j to 1 also rewrites the counting rows it is in: the estimate holds only
        # where those rows' duals are 0. With trade flags (`costs`) it holds anyway: the
        # child's rows (hi - c_j, no c_j / u_j w_j) are tighter than the parent's for any
        # w_j <= u_j and its cost e_j >= e_j w_j / u_j, so the child is a subset of the
        # parent on the smaller box, which the same Lagrangian bounds (weak duality).
        if self.costs is None:
            first = len(self.qp.base.lower)
            for t, (members, _, _, _) in enumerate(self.counting):
                if solution.duals[first + t] != 0.0:
                    rise[members] = 0.0
        # (the point's value without the count's θ terms; built directly, not by
        # dataclasses.replace: the same fields at a fraction of its cost per node)
        objective = solution.objective if pieces is plain else self.qp.objective(solution.x, plain)
        ended = solution.state
        solution = NodeSolution(
            solution.x,
            solution.duals,
            objective,
            NodeState(ended.x, ended.status, ended.working, theta),
            solution.iterations,
            solution.infeasible,
        )
        return solution, bound, rise, fall

    def down_bound(self, found: DownBound, j: int) -> float | None:
        """A valid lower bound of the child of `found`'s node with selection j at 0, or None
        when bound propagation proves that child infeasible.

        The child is the node on the face w_c = 0 (c: j's weight column; its rows and
        pieces read a free selection only through w_c), and every point of it meeting the
        node's rows lies in the box [l', u'] that `Propagation.implied` derives from the
        node's box with w_c = 0 (a sell flag at 0 fixes the held name's weight through its
        row w + s = w0, and so on). The node's Lagrangian L (convex, its smooth part the
        QP's Hessian Q, its pieces convex) is at least L(x) + g^T d + 1/2 d^T Q d at
        x + d (g the subgradient the tangent bound used at the clipped point x), so over
        the child it is at least  L(x) + sum_k min(g_k (l'_k - x_k), g_k (u'_k - x_k))
        + 1/2 max_k kappa_k dist(x_k, [l'_k, u'_k])^2  (the two minima taken apart;
        kappa: `coordinate_curvature`, d^T Q d >= kappa_k d_k^2 for every k). Weak duality
        makes that a bound of the child."""
        c = int(self.weight_columns[j])
        pieces = found.pieces
        lower = pieces.lower.copy()
        upper = pieces.upper.copy()
        lower[c] = upper[c] = 0.0
        # (`_sum_of` / `_maximum_of` for ndarray.sum / np.max and 0-d operands: the same
        # reductions and numbers without their wrappers)
        if not math.isfinite(float(_sum_of(lower)) + float(_sum_of(upper))):
            return -math.inf  # an infinite side: propagation proves nothing, no bound
        infeasible, low, high = found.propagation().implied(lower, upper)
        if infeasible:
            return None
        g, x = found.subgradient, found.x
        before = float(_sum_of(np.minimum(g * (pieces.lower - x), g * (pieces.upper - x))))
        after = float(_sum_of(np.minimum(g * (low - x), g * (high - x))))
        if not (math.isfinite(before) and math.isfinite(after)):
            return -math.inf
        distance = np.maximum(low - x, _ZERO) + np.maximum(x - high, _ZERO)
        lift = 0.5 * float(
            _maximum_of(self.curvature() * distance * distance, axis=None, initial=0.0)
        )
        return found.tangent - before + after + lift

    def curvature(self) -> NDArray[np.float64]:
        """`coordinate_curvature` of the node QPs' Hessian, per column (computed once)."""
        if self._curvature is None:
            self._curvature = coordinate_curvature(self.qp.hessian)
        return self._curvature

    def forced(
        self,
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        start: NodeState | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The node's selection bounds with the selections its rows force fixed, or None
        when propagation proves the node infeasible.

        Every integer point of the node meets the node's relaxed rows (a held z_j = 1 pays
        c_j >= c_j w_j / u_j), so the box `Propagation.implied` derives from them holds for
        each of its points: a free selection whose weight is implied above 0 is 1 at every
        point of the node (w_j <= u_j z_j), one whose weight cannot reach its floor is 0
        (w_j >= m_j z_j). Fixing them changes no integer point of the node and only
        tightens its relaxation (a held name's whole name under the turnover cap, a
        position over its cap that must be sold: nodes the search branched on before).

        Only where `solve` would propagate anyway: at the root (no `start`) and where the
        start (the parent's point) clipped to the node's box breaks its rows; a node
        whose start fits keeps its bounds (every node propagated: 4% fewer nodes on the
        sample for 12% more time)."""
        free = (lower < _HALF) & (upper > _HALF)
        if not _count(free):
            return lower, upper
        plain = self.pieces(lower, upper)
        rows, propagation = self._rows_and_propagation(lower)
        if self._start_fits(start, plain, rows):
            self._propagated = (lower, upper, plain)  # `solve` would not propagate either
            return lower, upper
        infeasible, low, high = propagation().implied(plain.lower, plain.upper)
        if infeasible:
            return None
        columns = self.weight_columns
        one = free & (low[columns] > _FORCED * (1.0 + self.caps))
        zero = free & ~one & (high[columns] < self.floors - _FORCED * (1.0 + self.floors))
        if not (_count(one) or _count(zero)):
            self._propagated = (lower, upper, plain)  # `solve` need not propagate again
            return lower, upper
        return np.where(one, 1.0, lower), np.where(zero, 0.0, upper)

    def _rows_and_propagation(
        self, lower: NDArray[np.float64]
    ) -> tuple[RowSet | None, Callable[[], Propagation]]:
        """`node_rows(lower)` and its `Propagation` (built on first use), kept per pattern of
        held members of the counting rows (the only part of `lower` the rows read): nodes
        of one search share some, and the same row set lets the active set keep its row
        data."""
        taken = lower[self._node_row_parts()[1]] > _HALF if self.counting else None
        key = b"" if taken is None else taken.tobytes()
        if key not in self._row_cache:
            self._row_cache[key] = None if taken is None else self._node_rows_of(taken)
        rows = self._row_cache[key]

        def propagation() -> Propagation:
            built = self._propagations.get(key)
            if built is None:
                built = self._propagations[key] = Propagation(
                    self.qp.base if rows is None else rows
                )
            return built

        return rows, propagation

    def _start_fits(self, start: NodeState | None, pieces: Pieces, rows: RowSet | None) -> bool:
        """Whether the start (the parent's point) clipped to the node's box meets its rows
        to the active set's tolerance: then propagation cannot prove the node infeasible
        and is not tried (only a filter: the solve decides the node either way)."""
        if start is None:
            return False
        rows = self.qp.base if rows is None else rows
        # (the active set's own widened sides of the row set, shared with its solve)
        _, least, most = self.qp.row_sides(rows)
        x = _clip(start.x, pieces.lower, pieces.upper)
        activity = _dot(rows.matrix, x)
        count = len(activity)
        return _count(activity >= least) == count and _count(activity <= most) == count

    def node_rows(self, lower: NDArray[np.float64]) -> RowSet | None:
        """The base rows and the node's counting rows (None: no counting rows)."""
        if not self.counting:
            return None
        return self._node_rows_of(lower[self._node_row_parts()[1]] > _HALF)

    def _node_rows_of(self, taken: NDArray[np.bool_]) -> RowSet:
        """`node_rows` of the nodes whose counting rows' members are held where `taken`
        (per member, `_node_row_parts`' order): all that the rows read of a node."""
        rows, members, counts, columns, others, his = self._node_row_parts()
        if self._per_weight_counts is None:
            self._per_weight_counts = counts / self.caps[members]
        matrix = others.copy()
        added = np.where(taken, _ZERO, self._per_weight_counts)
        if self._distinct_places is None:
            # Whether no (row, column) is any other member's: then one fancy-indexed sum
            # adds each entry once, as np.add.at does (which costs ~10x more), the same sums
            # (`others` at those places read once: `+=` reads them, adds and writes back).
            places = rows * matrix.shape[1] + columns
            self._distinct_places = (
                len(np.unique(places)) == len(places),
                places,
                others.reshape(-1)[places],
            )
        distinct, places, at_places = self._distinct_places
        if distinct:
            matrix.reshape(-1)[places] = at_places + added
        else:
            np.add.at(matrix, (rows, columns), added)
        upper = his - np.bincount(rows, weights=np.where(taken, counts, _ZERO), minlength=len(his))
        if self._unbounded_below is None:
            self._unbounded_below = np.full(len(upper), -np.inf)
        return self.qp.with_rows(matrix, self._unbounded_below, upper)

    def _node_row_parts(
        self,
    ) -> _RowParts:
        """The counting rows flattened once: (row t, selection j, c_j, j's weight column)
        per member, the rows' other coefficients and their right-hand sides."""
        if self._parts is None:
            rows = np.concatenate(
                [np.full(len(m), t, dtype=np.intp) for t, (m, _, _, _) in enumerate(self.counting)]
            )
            members = np.concatenate([m for m, _, _, _ in self.counting]).astype(np.intp)
            counts = np.concatenate([c for _, c, _, _ in self.counting]).astype(np.float64)
            others = np.array([o for _, _, _, o in self.counting], dtype=np.float64)
            his = np.array([hi for _, _, hi, _ in self.counting], dtype=np.float64)
            self._parts = (rows, members, counts, self.weight_columns[members], others, his)
        return self._parts


__all__ = [
    "ActiveSetQP",
    "DownBound",
    "NodeQPFailure",
    "NodeSolution",
    "NodeState",
    "Pieces",
    "Propagation",
    "RowSet",
    "SelectionNodes",
    "coordinate_curvature",
    "propagation_infeasible",
    "proves_infeasible",
    "tangent_bound",
]
