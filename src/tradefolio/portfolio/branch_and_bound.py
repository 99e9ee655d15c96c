"""Branch and bound for convex mixed-integer quadratic programs, HiGHS solving the nodes.

Mean-variance and min-variance programs are convex QPs plus integer variables (selections,
lots, trade flags). HiGHS solves convex continuous QPs exactly (active set) but not MIQPs,
so this module searches the integer choices itself:

- each node is the continuous relaxation with tightened integer bounds; its optimum bounds
  every integer solution below it (convexity), so a node whose bound cannot beat the
  incumbent by more than the gap tolerance is pruned;
- branching on the most fractional integer variable (x <= floor(v) | x >= ceil(v)); with
  trade flags (the rebalance solver's programs) on the free one of largest relaxed value;
- best-bound order once an incumbent exists, depth first before (to find one quickly);
  a rounding heuristic at the root (0/1 variables up, general integers down) and the
  caller's hint give early incumbents;
- an incumbent is the relaxation's own point when its integers are integral to 1e-9 (it is
  then the exact optimum for them), else the QP re-solved with the integers fixed: never a
  relaxation's round-off;
- factor exposures y = B w (defined by a row, used only squared) are substituted out: HiGHS
  sees the dense Hessian B^T B over the weights, which its active set solves reliably where
  the sparse factor rows made it stall on primal infeasibilities of ~1e-5;
- when every integer is a selection z of one weight (see `Selections`), nodes are QPs over
  the weights alone.

The search is finished ("optimal") when no open node's bound is better than the incumbent
by more than `relative_gap`; a time limit ends it early with the best bound of the open
nodes ("feasible" with a gap). SCIP stays available as `solver="scip"`; both, and skfolio
and Riskfolio-Lib, are compared in benchmarks/RESULTS.md.

When every integer is a selection (or, with costs and mixed rows, a trade flag of the
rebalance solver's programs: `Selections`), the nodes are solved by the warm-started active
set of `node_qp.py` (a child starts from its parent's point and working set: ~5 iterations
instead of HiGHS's ~460 from a phase-1 vertex), bounded by its Lagrangian tangent bound
and proven infeasible only by a Farkas certificate; anything it cannot settle goes to
HiGHS as below. With counting rows (a cardinality cap) it takes only the QPs with every
selection fixed. On trade flags' programs a node first fixes the selections its rows force
(`Relaxation.forced`: a held name the turnover cap cannot sell out is held at every point
of the node), where it propagates its rows anyway. docs/model.md has the measurements.

Buy-in floors (w_j = 0 or m_j <= w_j <= u_j): each node QP carries the projected
perspective of a diagonal split of the covariance (`perspective.py`, docs/model.md), every
node's bound is the Lagrangian of HiGHS's answer (valid for any point and duals), free
selections are fixed to 0 by reduced costs, a search restricted to the root's names
gives an early incumbent, and every 10 nodes the node's selections rounded at 1/2 are
tried (an improvement starts a swap / add / drop local search). The active set adds the
count the floors imply (at most k free names fit the budget the held ones leave) by its
Lagrangian (`SelectionNodes`): `pard200_j` proven in ~1 s of CPU where 60 s did not
suffice without it. A node HiGHS fails on is
retried cold, then with a ridge; a QP "infeasible" or "solve error" is settled by the
simplex; what still fails keeps its parent's bound (the result is then "feasible").

Tried and measured, not kept: perspective cuts (t_i >= δ/2 w_i^2 / z_i by tangents, with δ
a share of the smallest eigenvalue of Σ) close ~70% of the root gap when the cardinality cap
binds and halve the nodes, but HiGHS's active set takes ~10x longer per node on the cut rows
(and stalls on degenerate ones), so the search got slower; pseudocost branching needed
3-4x the nodes of most-fractional branching on the same instances; plunging (solving a
node's child right after it) needed 3x the nodes on pard200_a (16,502 vs 5,595); strong
branching on the 8 best candidates above depth 6 needed as many nodes as the perspective
shortfall rule (956 vs 967 on pard200_e) at 1.35x the time; the bound-optimal SDP diagonal
lifts the pard200_a root bound from 183.75 to only 184.15 for 37-149 s (docs/model.md).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, SolverError
from tradefolio.extras import import_extra
from tradefolio.portfolio.factor_form import factor_definitions
from tradefolio.portfolio.mip import native_stdout_silenced
from tradefolio.portfolio.node_qp import (
    _CLIP_UFUNC,
    _HALF,
    _ONE,
    _ZERO,
    ActiveSetQP,
    DownBound,
    NodeQPFailure,
    NodeState,
    SelectionNodes,
    _count,
    _maximum_of,
    _sum_of,
)
from tradefolio.portfolio.perspective import ProjectedPerspective, SplitCache
from tradefolio.portfolio.program import INF, Program, Row
from tradefolio.portfolio.types import SolveStatus

# An integral node is closed only when its own bound is within this (relative) of its
# point's value: the round-off of a solver's duals (on the sample's 384 rebalances the
# largest was 2.6e-7, five of 520 such nodes above 1e-9; `rebalance_solver.py` allows the
# same 1e-6 when it re-solves the answer's node).
_CLOSING_ROUND_OFF = 1e-6
# Near an objective of 0 the same in absolute terms, in the scaled units of the program
# (largest coefficient 1e3). Tighter than the backends' `ABSOLUTE_GAP` (1e-7), which
# decides the claim: a node left open here by round-off is proven there (`backends.claim`).
_ABSOLUTE_ROUND_OFF = 1e-9
# A value within this of an integer counts as integral.
_INTEGRALITY = 1e-6
# Closer than this, rounding changes nothing a result shows (weights below 1e-9 are zero).
_EXACTLY_INTEGRAL = 1e-9
# Node limit of the restricted search for an early incumbent.
_HEURISTIC_NODES = 400
# Local search: unused names tried per pass, and its share of the time limit.
_LOCAL_SEARCH_NAMES = 15
_LOCAL_SEARCH_SHARE = 0.1
# The active-set node solver takes models with at most this many rows (dense KKT systems).
# Its iteration limit on the nodes of trade flags' programs (plus a quarter of the columns).
_COSTED_ITERATIONS = 100
_ACTIVE_SET_ROWS = 64
# Names added to the second ring of the restricted search.
_HEURISTIC_EXTRA = 10
# With buy-in floors, every this many nodes of the search the node's selections rounded at
# 1/2 are tried as an incumbent; one that improves it starts the local search for this
# share of the time limit.
_ROUNDING_EVERY = 10
_LOCAL_SEARCH_AFTER_ROUNDING = 0.05
# A down child's bound by propagation (`Relaxation.down_bound`) is tried only when its
# parent's bound for it is within this share of the incumbent: on the sample, 221 of the
# 1,632 tries were within 1% and found 108 of the 258 children it settles; beyond 10%
# (or before an incumbent) a try costs more than the few nodes it saves.
_DOWN_BOUND_REACH = 0.03


def load_highspy() -> Any:
    """Import highspy lazily, naming the extra when it is missing."""
    return import_extra("highspy", "portfolio", "the quadratic allocator")


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The best point found, its status, its objective and the best bound (program sense)."""

    values: NDArray[np.float64]
    status: SolveStatus
    objective: float
    best_bound: float
    nodes: int
    # A valid bound (program sense) of the QP with every integer fixed at the answer's: the
    # bound of the node whose solve gave the incumbent (that node holds the answer's
    # choices); NaN when unknown. Within round-off of `objective`, the incumbent is the
    # optimum of its own choices (what `rebalance_solver._incumbent_settled` checks).
    incumbent_bound: float = math.nan


@dataclass(frozen=True, slots=True)
class Selections:
    """Every integer variable is a selection z_j in {0, 1} of one continuous v_j >= 0 (a
    weight, or a trade: the rebalance solver's buy and sell flags), used only in
    v_j <= u_j z_j,  v_j >= m_j z_j,  rows  sum_j c_j z_j + a^T v <= hi  (c_j >= 0) and,
    with `costed`, a cost  e_j z_j  (e_j >= 0 in the minimised sense) in the objective.

    Then the relaxation needs no z columns: every other use of z_j only tightens as z_j
    grows, so a free z_j is best at v_j / u_j (the least the link row allows), and a node is
    the QP over the continuous variables with  v_j in [0, 0] (z_j = 0), [m_j, u_j]
    (z_j = 1) or [0, u_j] (free), each row with selections becoming
    sum_free (c_j / u_j) v_j + a^T v <= hi - sum_ones c_j, and each cost e_j the linear
    term (e_j / u_j) v_j when free, the constant e_j when fixed at 1. Half the columns,
    none of the link rows: each node solves about twice as fast. A row of selections only
    is a counting row (a cardinality cap); one with other variables too (the cash row's
    fixed costs) is a mixed row.
    """

    weights: NDArray[np.intp]  # v_j of the j-th integer variable
    caps: NDArray[np.float64]  # u_j
    floors: NDArray[np.float64]  # m_j
    structural: frozenset[int]  # link and floor rows (gone from the reduced model)
    counting: tuple[tuple[int, NDArray[np.intp], NDArray[np.float64]], ...]  # row, j's, c_j
    costs: NDArray[np.float64]  # e_j: the objective's coefficient of z_j (program's sense)
    mixed: frozenset[int]  # rows of `counting` that also read other variables

    def reducible(self, program: Program) -> bool:
        """Whether nodes may drop the z columns: not when a floor is above its cap (the
        name cannot be held) or a weight has a positive lower bound (it must be): the
        reduced relaxation would allow either name at a fraction of a selection."""
        lower = program.lower
        return bool(
            (self.floors <= self.caps).all() and all(lower[w] <= 0.0 for w in self.weights.tolist())
        )

    @property
    def costed(self) -> NDArray[np.bool_]:
        """Selections whose free value must stay v_j / u_j: those with a cost or in a
        mixed row (a counting row that can bind is marked by the relaxation)."""
        marked: NDArray[np.bool_] = np.asarray(self.costs != 0.0, dtype=bool)
        for r, members, _ in self.counting:
            if r in self.mixed:
                marked[members] = True
        return marked


def suits_branch_and_bound(program: Program) -> bool:
    """Whether the branch and bound is the right default for `program`: no integers, or
    only names' selections (`Selections`). Lots, trade flags and fixed costs bring rows
    with coefficients of 1e-5 (a lot's or a fixed cost's share of the account) on which
    HiGHS's QP answers were seen to be inexact; SCIP handles those."""
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    return integers.size == 0 or selection_structure(program, integers) is not None


def selection_structure(
    program: Program, integers: NDArray[np.intp], costed: bool = False
) -> Selections | None:
    """The `Selections` view of `program`, or None when it does not have that shape.
    Without `costed` only selection-only programs qualify (no cost on a selection, no row
    mixing selections with other variables): `suits_branch_and_bound`'s test."""
    if integers.size == 0:
        return None
    # Plain Python lists and dicts for the per-selection tests (numpy's per-call cost on
    # these ~100-row programs was most of the function): the same values, converted once
    # at the end.
    position = {k: j for j, k in enumerate(integers.tolist())}
    sign = -1.0 if program.maximize else 1.0
    count = len(integers)
    costs = [0.0] * count
    lower, upper, linear = program.lower, program.upper, program.linear
    for k, j in position.items():
        if lower[k] != 0.0 or upper[k] != 1.0:
            return None
        cost = linear.get(k, 0.0)
        if cost != 0.0 and not (costed and sign * cost > 0.0):
            return None
        costs[j] = cost
    # (any key of a quadratic term naming a selection, tested in C over the keys' pairs)
    if not position.keys().isdisjoint(itertools.chain.from_iterable(program.quadratic)):
        return None
    # The rows by the program's flat coefficient arrays (rows in order, each in its dict's
    # order; kept by the model's builder): which rows hold selections, which of them are
    # link rows (`_link_of`'s test, element by element), the rest counting rows. A walk
    # over the rows' dicts was ~70% of the function.
    columns, values, lengths = program.coefficient_arrays()
    row_lo, row_hi = program.row_bounds()
    index_of = np.full(program.size, -1, dtype=np.intp)
    index_of[integers] = np.arange(count, dtype=np.intp)
    entry_selection = index_of[columns]  # j of each entry, -1: not a selection
    hit = entry_selection >= 0
    numbers = np.repeat(np.arange(len(lengths)), lengths)  # each entry's row
    per_row = np.bincount(numbers[hit], minlength=len(lengths))  # a row's keys are distinct
    first = np.cumsum(lengths) - lengths  # each row's first entry
    pairs = np.flatnonzero((per_row == 1) & (lengths == 2))
    head = first[pairs]
    second = head + 1
    z_first = hit[head]
    z_entry = np.where(z_first, head, second)
    w_entry = np.where(z_first, second, head)
    w = columns[w_entry]
    a, b = values[w_entry], values[z_entry]
    # (negated comparisons: a NaN passes each test as `_link_of`'s `or` lets it)
    fits = ~(np.array(program.integer, dtype=bool)[w] | (np.array(lower, dtype=np.float64)[w] < 0))
    fits &= ~(a <= 0) & ~(b >= 0)
    lo, hi = row_lo[pairs], row_hi[pairs]
    is_cap = fits & (lo == -INF) & (hi == 0.0)
    is_link = is_cap | (fits & (lo == 0.0) & (hi == INF))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = -b / a
    weights = [-1] * count
    caps = [0.0] * count
    floors = [0.0] * count
    structural: set[int] = set()
    links = zip(
        pairs[is_link].tolist(),
        entry_selection[z_entry[is_link]].tolist(),
        w[is_link].tolist(),
        ratio[is_link].tolist(),
        is_cap[is_link].tolist(),
        strict=True,
    )
    for r, j, column, share, cap in links:
        if weights[j] != -1 and weights[j] != column:
            return None
        weights[j] = column
        if cap:  # w <= u z
            if caps[j] > 0:
                return None
            caps[j] = share
        elif share > floors[j]:  # w >= m z: the largest floor (`max`'s own test)
            floors[j] = share
        structural.add(r)
    # every other row with selections: a counting (or, with `costed`, mixed) row, where z
    # only tightens it as it grows
    counted = per_row > 0
    counted[pairs[is_link]] = False
    rows = np.flatnonzero(counted)
    every = per_row[rows] == lengths[rows]
    if not (costed or every.all()) or (row_lo[rows] != -INF).any():
        return None
    entries = np.flatnonzero(hit & counted[numbers])
    members = entry_selection[entries]
    counts = values[entries]
    if (counts < 0).any():
        return None
    ends = np.cumsum(per_row[rows]).tolist()
    counting: list[tuple[int, NDArray[np.intp], NDArray[np.float64]]] = []
    start = 0
    for r, end in zip(rows.tolist(), ends, strict=True):
        counting.append((r, members[start:end], counts[start:end]))
        start = end
    mixed = rows[~every].tolist()
    if min(weights) < 0 or any(c <= 0 for c in caps) or len(set(weights)) != count:
        return None
    return Selections(
        np.array(weights, dtype=np.intp),
        np.array(caps, dtype=np.float64),
        np.array(floors, dtype=np.float64),
        frozenset(structural),
        tuple(counting),
        np.array(costs, dtype=np.float64),
        frozenset(mixed),
    )


def _link_of(
    integer: list[bool], lower: list[float], row: Row, selections: list[int]
) -> tuple[int, int, float, bool] | None:
    """(z, w, u or m, whether a cap) when `row` is  w - u z <= 0  or  w - m z >= 0  for one
    selection z and a continuous w >= 0 (u, m > 0), else None (`integer` and `lower` are
    the program's)."""
    if len(selections) != 1 or len(row.coefficients) != 2:
        return None
    z = selections[0]
    (first, a), (second, b) = row.coefficients.items()
    w, a, b = (second, b, a) if first == z else (first, a, b)
    if integer[w] or lower[w] < 0 or a <= 0 or b >= 0:
        return None
    if row.lo == -INF and row.hi == 0.0:
        return z, w, -b / a, True
    if row.lo == 0.0 and row.hi == INF:
        return z, w, -b / a, False
    return None


# `_triangles` by shape (a run's relaxations have a few sizes; emptied when full)
_TRIANGLES: dict[tuple[int, ...], tuple[NDArray[np.bool_], NDArray[np.bool_]]] = {}
_MOST_TRIANGLES = 16


def _triangles(shape: tuple[int, ...]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The masks of a matrix of `shape` on and below its diagonal and strictly below it, as
    `np.tril` builds them (`np.tri`), read-only: a function of the shape alone."""
    found = _TRIANGLES.get(shape)
    if found is None:
        rows, columns = shape
        found = (
            np.tri(rows, columns, 0, dtype=bool),
            np.tri(rows, columns, -1, dtype=bool),
        )
        for mask in found:
            mask.flags.writeable = False
        if len(_TRIANGLES) >= _MOST_TRIANGLES:
            _TRIANGLES.clear()
        _TRIANGLES[shape] = found
    return found


def _highs_values(values: list[float], inf: float) -> NDArray[np.float64]:
    """`values` as an array with HiGHS's infinity for +-inf."""
    array = np.array(values, dtype=np.float64)
    if inf != INF:  # (highspy's kHighsInf is IEEE infinity: nothing to replace)
        array[array == INF] = inf
        array[array == -INF] = -inf
    return array


class _DeferredCalls:
    """Method calls recorded for an object that does not exist yet (`Relaxation.highs`),
    replayed on it in order; `later` records a function of it instead (work whose result
    only that object needs)."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self._calls.append((name, args))

        return record

    def later(self, function: Callable[[Any], None]) -> None:
        """Call `function(target)` at this place of the replay."""
        self._calls.append(("", (function,)))

    def replay(self, target: Any) -> None:
        """Make every recorded call on `target`."""
        for name, args in self._calls:
            if name:
                getattr(target, name)(*args)
            else:
                args[0](target)


@dataclass(slots=True)
class _NodeRow:
    """A row with selections in a relaxation: `sum_j c_j z_j + a^T v <= hi` as HiGHS's
    row `number`, with the coefficients its members' weight columns have now (`current`:
    `base` + c_j / u_j while free) and `base`, the part a^T v reads there."""

    number: int
    members: NDArray[np.intp]
    counts: NDArray[np.float64]
    hi: float
    current: NDArray[np.float64]
    base: NDArray[np.float64]
    mixed: bool
    others: dict[int, float]  # column -> a_k of the variables other than selections
    binds: bool = True  # mixed, or sum_j c_j > hi: some node point could break it


def _add_rows(
    h: Any,
    *,
    rows: list[tuple[int, Row]],
    columns: list[int],
    counting: list[_NodeRow],
    caps: NDArray[np.float64] | None,
    weight_columns: NDArray[np.int32] | None,
    inf: float,
) -> None:
    """Give HiGHS a relaxation's `rows` (program rows over the kept `columns`): a counting
    row as its node rows are at the root, sum_free (c_j / u_j) w_j + a^T v (`counting`:
    the relaxation's `_NodeRow`s, `caps` and `weight_columns` its selections')."""
    by_number = {row.number: row for row in counting}
    starts: list[int] = []
    indices: list[int] = []
    coefficients: list[float] = []
    for number, (_, row) in enumerate(rows):
        starts.append(len(indices))
        node_row = by_number.get(number)
        if node_row is not None and caps is not None and weight_columns is not None:
            members = node_row.members
            per_weight = node_row.counts / caps[members]
            merged = dict(node_row.others)
            for c, value in zip(weight_columns[members].tolist(), per_weight.tolist(), strict=True):
                merged[c] = merged.get(c, 0.0) + value
            indices.extend(merged)
            coefficients.extend(merged.values())
            continue
        indices.extend([columns[k] for k in row.coefficients])
        coefficients.extend(row.coefficients.values())
    h.addRows(
        len(rows),
        _highs_values([row.lo for _, row in rows], inf),
        _highs_values([row.hi for _, row in rows], inf),
        len(indices),
        np.array(starts, dtype=np.int32),
        np.array(indices, dtype=np.int32),
        np.array(coefficients, dtype=np.float64),
    )


class Relaxation:
    """The program's continuous relaxation in HiGHS (minimisation form, scaled objective);
    `solve` takes new bounds for the integer variables and returns (objective, values)."""

    def __init__(
        self,
        program: Program,
        scale: float,
        splits: SplitCache | None = None,
        split_method: str = "scaled",
        node_seconds: float = 5.0,
        active_set: bool = True,
        implied_count: bool = True,
    ) -> None:
        highspy = load_highspy()
        self._highspy = highspy
        self.sign = -1.0 if program.maximize else 1.0
        self.scale = scale
        self.constant = program.constant
        self.integers = np.flatnonzero(np.array(program.integer, dtype=bool))
        self.size = program.size
        # HiGHS is built on its first use (`highs`): with the active set solving every
        # node of a rebalance, creating and filling it was ~10% of the relaxation's set-up
        # for nothing. Until then its calls are recorded in order.
        h: Any = _DeferredCalls()
        self._deferred: _DeferredCalls | None = h
        self._built: Any = None
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        self.lower = _highs_values(program.lower, highspy.kHighsInf)
        self.upper = _highs_values(program.upper, highspy.kHighsInf)
        n = program.size
        # Factor exposures v = D x (`factor_form.py`): their squares become one dense form
        # over the x they read; the v columns and their defining rows are dropped.
        self.definitions = factor_definitions(program)
        dropped = set(self.definitions.rows.tolist())
        self.selections = selection_structure(program, self.integers, costed=True)
        self._costed = False  # a selection with a cost or in a mixed row (trade flags)
        costed = None if self.selections is None else self.selections.costed
        if self.selections is not None and costed is not None and costed.any():
            self._costed = True
            # A flag whose floor is above its cap (a minimum trade larger than the room to
            # buy) cannot be 1: fixed at 0, which keeps every row (they only tighten as it
            # grows) and the cost.
            hopeless = self.selections.floors > self.selections.caps
            if hopeless.any():
                self.upper[self.integers[hopeless]] = 0.0
                floors = np.where(hopeless, 0.0, self.selections.floors)
                self.selections = replace(self.selections, floors=floors)
        if self.selections is not None and not self.selections.reducible(program):
            self.selections = None
            costed = None
        excluded = set(self.definitions.variables.tolist())
        selected = set(self.integers.tolist())
        # sum_j c_j of each counting row (whether it can bind), summed once
        count_sums: dict[int, float] = {}
        if self.selections is not None:
            excluded |= selected
            dropped |= self.selections.structural
            # A counting row of selections only whose counts fit even with every member
            # held (sum_j c_j <= hi: the sample's 'buy or sell' pairs of a name with one
            # flag) holds at every node: sum_free (c_j / u_j) w_j <= hi - sum_held c_j
            # with w_j <= u_j. Left out of the nodes (HiGHS's and the active set's, which
            # never had it) instead of rewritten at each: ~17 of the sample's ~21.
            # (Summed for rows of selections only: a mixed row binds whatever its sum.)
            program_rows, mixed = program.rows, self.selections.mixed
            for r, _, counts in self.selections.counting:
                if r in mixed:
                    continue
                # (np.add.reduce: ndarray.sum's own reduction, the same float; of one count,
                # 0.0 + c: c itself but for -0.0, which compares as 0.0 does, and the sums
                # are only compared)
                total = float(_sum_of(counts)) if len(counts) > 1 else float(counts.item())
                count_sums[r] = total
                if total <= program_rows[r].hi:
                    dropped.add(r)
        # HiGHS sees only the kept columns; `position` maps a program variable to its column.
        self.kept = np.array([k for k in range(n) if k not in excluded], dtype=np.intp)
        position = np.full(n, -1, dtype=np.intp)
        position[self.kept] = np.arange(len(self.kept))
        self.integer_columns = position[self.integers].astype(np.int32)
        # Q over the kept columns only (a 500-name program's n x n one, 1,252 columns, was
        # built and then cut to its 500 kept ones): each kept entry has the same sums in
        # the same order, the quadratic terms' then the factor form's.
        hessian = self._dense_hessian(program, position, len(self.kept))
        reads = self.definitions.reads
        if reads.size:
            at = position[reads]
            inside = at >= 0
            form = 2.0 * self.sign * scale * self.definitions.gram()
            if not inside.all():
                at, form = at[inside], form[np.ix_(inside, inside)]
            if at.size and int(at[-1]) - int(at[0]) == at.size - 1:
                # (`reads` are sorted and `position` increases: consecutive columns are a
                # block, added to in place as the fancy index would)
                hessian[int(at[0]) : int(at[-1]) + 1, int(at[0]) : int(at[-1]) + 1] += form
            else:
                hessian[np.ix_(at, at)] += form
        column_upper = self.upper.copy()
        self.perspective = ProjectedPerspective.none()
        if self.selections is not None:
            weights = self.selections.weights
            column_upper[weights] = np.minimum(column_upper[weights], self.selections.caps)
            self._weight_columns = position[weights].astype(np.int32)
            self._weight_lower = self.lower[weights]
            self._weight_upper = column_upper[weights]
            # Trade flags' programs keep the plain relaxation: split over the names'
            # weights only (a trade's column has no curvature of its own), the perspective
            # of the sample's 2% floors left the search as it was (2,331 nodes for 100
            # rebalances against 2,320). (Without floors `of` gives no terms: not asked.)
            if not self._costed:
                self.perspective = ProjectedPerspective.of(
                    hessian,
                    self._weight_columns,
                    self.selections.floors,
                    self._weight_upper,
                    splits if splits is not None else SplitCache(),
                    split_method,
                )
        h.addVars(len(self.kept), self.lower[self.kept], column_upper[self.kept])
        cost = np.zeros(n)
        if program.linear:  # (a dict's keys are distinct: each entry 0.0 + s c_k, as +=)
            factor = self.sign * scale
            keys = np.fromiter(program.linear.keys(), np.intp, len(program.linear))
            cost[keys] = 0.0 + factor * np.fromiter(
                program.linear.values(), np.float64, len(program.linear)
            )
        h.changeColsCost(len(self.kept), np.arange(len(self.kept), dtype=np.int32), cost[self.kept])
        # The selections' own costs e_j (minimised, scaled): e_j / u_j on v_j when free, the
        # constant e_j when fixed at 1 (`_offset`, added to every node's value and bound).
        self._selection_cost = cost[self.integers] if self.selections is not None else None
        self._offset = 0.0
        if self.selections is not None:
            self._weight_cost = cost[self.selections.weights]
        hessian = self.perspective.extend(h, hessian, len(self.kept))
        counting = {} if self.selections is None else {c[0]: c for c in self.selections.counting}
        rows = [(r, row) for r, row in enumerate(program.rows) if r not in dropped]
        self._counting: list[_NodeRow] = []
        self._count_matrix: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        # The selection bounds `forced` last returned as given, their held selections fitting
        # the counting rows (`solve` does not count them again; None: none).
        self._fitting: NDArray[np.float64] | None = None
        # Selections in a counting row that can bind, in a mixed row or with a cost: their
        # free value must stay w / u.
        self._counted = np.zeros(len(self.integers), dtype=bool)
        # `_values`' floored selections outside binding counting rows, their divisors and
        # whether there are any (computed on first use, once `_counted` is complete).
        self._floored: tuple[NDArray[np.bool_], NDArray[np.float64], bool] | None = None
        if costed is not None:
            self._counted |= costed
        # Python ints by list lookups (a numpy scalar per coefficient was ~10% of the set-up).
        columns = position.tolist()
        for number, (r, row) in enumerate(rows):
            if r in counting and self.selections is not None:
                _, members, counts = counting[r]
                per_weight = counts / self.selections.caps[members]
                is_mixed = r in self.selections.mixed
                others: dict[int, float] = {}
                if is_mixed:  # (else every entry is a selection's: no other columns)
                    for k, c in row.coefficients.items():
                        if k not in selected:
                            others[columns[k]] = others.get(columns[k], 0.0) + c
                    base = np.array(
                        [others.get(c, 0.0) for c in self._weight_columns[members].tolist()]
                    )
                else:
                    base = np.zeros(len(members))
                binds = is_mixed or count_sums[r] > row.hi
                self._counting.append(
                    _NodeRow(
                        number,
                        members,
                        counts,
                        row.hi,
                        base + per_weight,
                        base,
                        is_mixed,
                        others,
                        binds,
                    )
                )
                if binds:
                    self._counted[members] = True
        if rows:
            # HiGHS's rows are assembled when HiGHS is built (`highs`), in their place
            # among its calls: with the active set solving every node, mostly never.
            # (a function of the rows, the counting rows and the caps, not of `self`: no
            # reference cycle through the recorded calls)
            h.later(
                functools.partial(
                    _add_rows,
                    rows=rows,
                    columns=columns,
                    counting=self._counting,
                    caps=None if self.selections is None else self.selections.caps,
                    weight_columns=None if self.selections is None else self._weight_columns,
                    inf=highspy.kHighsInf,
                )
            )
        self.perspective.add_rows(h, len(self.kept))
        self._full_hessian = self._symmetric(hessian)
        # HiGHS's triangle of it is built and passed on HiGHS's first node (`_highs_ready`):
        # with the active set solving the nodes, a 500-name model's triangle (~30 ms per
        # relaxation) was mostly never used.
        self._triangle: Any = None
        self._hessian_passed = False
        # The warm-started active set of node_qp.py solves the nodes when the only integers
        # are selections without counting rows; HiGHS is its fallback.
        self.nodes: SelectionNodes | None = None
        self.last_state: NodeState | None = None
        # The last node solve's data for `down_bound` (active-set nodes only).
        self.last_down: DownBound | None = None
        self.fallbacks = 0
        # Counting rows (a cardinality cap) are the nodes' own rows there (`SelectionNodes`).
        if active_set and self.selections is not None:
            counted_rows = {c[0] for c in self.selections.counting}
            self.nodes = self._selection_nodes(
                [(r, row) for r, row in rows if r not in counted_rows],
                position,
                cost[self.kept],
                column_upper[self.kept],
                implied_count,
            )
        self._ridged: Any = None
        self._empty: Any = None
        # A node guard: a near-singular Hessian can make the active set cycle inside one
        # node for the whole time limit (issue 15); such a node is retried cold once, then
        # left unexplored with its parent's bound.
        self.node_seconds = node_seconds
        self.node_iterations = max(10_000, 50 * (len(self.kept) + 2 * self.perspective.size))
        h.setOptionValue("qp_iteration_limit", self.node_iterations)
        self.bound = -math.inf
        self.up_increase = np.zeros(len(self.integers))
        self.down_increase = np.zeros(len(self.integers))
        if self.nodes is None:
            self._highs_ready()

    @property
    def highs(self) -> Any:
        """The relaxation's HiGHS instance, created (and given the calls recorded so far)
        on first use."""
        if self._built is None:
            with native_stdout_silenced():  # HiGHS prints a banner when created
                built = self._highspy.Highs()
            assert self._deferred is not None
            self._deferred.replay(built)
            self._deferred = None
            self._built = built
        return self._built

    def _selection_nodes(
        self,
        rows: list[tuple[int, Any]],
        position: NDArray[np.intp],
        cost: NDArray[np.float64],
        column_upper: NDArray[np.float64],
        implied_count: bool = True,
    ) -> SelectionNodes | None:
        """The node QPs over the kept columns for `node_qp.py`; None with too many rows
        for its dense working set."""
        assert self.selections is not None
        if len(rows) > _ACTIVE_SET_ROWS:
            return None
        kept = len(self.kept)
        columns = position.tolist()
        # (Python lists, each entry 0.0 + c_k in the rows' order as numpy's += gave it: a
        # numpy scalar per coefficient was most of this)
        lines: list[list[float]] = []
        for _, row in rows:
            line = [0.0] * kept
            for k, c in row.coefficients.items():
                line[columns[k]] += c
            lines.append(line)
        matrix = np.array(lines, dtype=np.float64).reshape(len(rows), kept)
        row_lower = np.array([row.lo for _, row in rows], dtype=np.float64)
        row_upper = np.array([row.hi for _, row in rows], dtype=np.float64)
        # Trade flags' nodes end in at most 28 iterations on the sample when they succeed,
        # and the few that cycle (degenerate trades without curvature) went on to the
        # default limit of ~1,000: HiGHS takes those sooner.
        limit = _COSTED_ITERATIONS + kept // 4 if self._costed else None
        qp = ActiveSetQP(
            self._full_hessian[:kept, :kept], cost, matrix, row_lower, row_upper, limit
        )
        terms = self.perspective
        return SelectionNodes(
            qp,
            self.lower[self.kept].copy(),
            column_upper,
            self._weight_columns,
            self.selections.floors,
            terms.members,
            terms.split,
            self.selections.caps,
            # A counting row that cannot bind (sum_j c_j <= hi: `--max-positions` at least
            # the number of names) cannot be broken by any node point: left out.
            tuple(
                (row.members, row.counts, row.hi, self._dense(row.others, kept))
                for row in self._counting
                if row.binds
            ),
            implied_count,
            self._selection_cost if self._costed else None,
        )

    @staticmethod
    def _dense(coefficients: dict[int, float], size: int) -> NDArray[np.float64]:
        """`coefficients` (column -> value) as a dense row of `size` columns."""
        row = [0.0] * size  # (0.0 + value in order, as numpy's += gave it)
        for column, value in coefficients.items():
            if 0 <= column < size:
                row[column] += value
        return np.array(row, dtype=np.float64)

    def _dense_hessian(
        self, program: Program, position: NDArray[np.intp], size: int
    ) -> NDArray[np.float64]:
        """Q of the minimised objective c^T x + 1/2 x^T Q x (scaled), symmetric, over the
        `size` columns `position` maps variables to (-1: not a column)."""
        hessian = np.zeros((size, size))
        column = position.tolist()
        for (i, j), q in program.quadratic.items():
            a, b = column[i], column[j]
            if a < 0 or b < 0:
                continue
            value = self.sign * self.scale * q
            if i == j:
                hessian[a, a] += 2.0 * value
            else:
                hessian[a, b] += value
                hessian[b, a] += value
        return hessian

    @staticmethod
    def _symmetric(hessian: NDArray[np.float64]) -> NDArray[np.float64]:
        """The symmetric Q that `hessian` stands for, tiny round-off dropped (what HiGHS is
        given and what the active set and the bounds use)."""
        if (np.diagonal(hessian) < 0).any():
            raise SolverError("the quadratic objective is not convex; branch and bound needs it")
        # (np.tril(m, k) is np.where(np.tri(..., k, dtype=bool), m, 0): the same with the
        # triangles of this size made once, `_triangles`)
        on_and_below, below = _triangles(hessian.shape)
        lower = np.where(on_and_below, hessian, 0.0)
        # Round-off of the substitution (1e-14 where an entry is zero) is dropped: HiGHS
        # would drop it too, with a warning.
        magnitude = np.abs(lower)
        lower[magnitude <= 1e-12 * max(float(magnitude.max(initial=0.0)), 1e-300)] = 0.0
        symmetric: NDArray[np.float64] = lower + np.where(below, lower, 0.0).T
        return symmetric

    @property
    def _hessian(self) -> Any:
        """HiGHS's triangle of the Hessian, built on first use."""
        if self._triangle is None:
            self._triangle = self._hessian_value(self._full_hessian)
        return self._triangle

    def _highs_ready(self) -> None:
        """Pass HiGHS its Hessian before its first node."""
        if not self._hessian_passed:
            self._pass_hessian(self.highs, self._hessian)
            self._hessian_passed = True

    def _hessian_value(self, symmetric: NDArray[np.float64]) -> Any:
        """The lower triangle of a symmetric Q, column-wise, as HiGHS wants it."""
        lower = np.tril(symmetric)
        column, row = np.nonzero(lower.T)  # row-major over Q^T = column-major over Q
        start = np.searchsorted(column, np.arange(symmetric.shape[0] + 1)).astype(np.int32)
        hessian_value = self._highspy.HighsHessian()
        hessian_value.dim_ = symmetric.shape[0]
        hessian_value.format_ = self._highspy.HessianFormat.kTriangular
        hessian_value.start_ = start
        hessian_value.index_ = row.astype(np.int32)
        hessian_value.value_ = lower[row, column]
        return hessian_value

    def _pass_hessian(self, h: Any, hessian_value: Any) -> None:
        """Give HiGHS a Hessian built by `_hessian_value` (built once: rebuilding a dense
        600 x 600 triangle per infeasible node cost more than the node solves)."""
        if h.passHessian(hessian_value) == self._highspy.HighsStatus.kError:
            raise SolverError("HiGHS refused the quadratic objective (it must be convex)")

    def _ridged_hessian(self) -> Any:
        """The Hessian with the ridge of the node guard, built on first use."""
        if self._ridged is None:
            largest = float(np.abs(np.diagonal(self._full_hessian)).max(initial=0.0))
            ridge = np.eye(len(self._full_hessian)) * 1e-7 * max(largest, 1e-300)
            self._ridged = self._hessian_value(self._full_hessian + ridge)
        return self._ridged

    def _empty_hessian(self) -> Any:
        """No Hessian (the LP of a node), built on first use."""
        if self._empty is None:
            size = len(self._full_hessian)
            empty = self._highspy.HighsHessian()
            empty.dim_ = size
            empty.format_ = self._highspy.HessianFormat.kTriangular
            empty.start_ = np.zeros(size + 1, dtype=np.int32)
            empty.index_ = np.zeros(0, dtype=np.int32)
            empty.value_ = np.zeros(0)
            self._empty = empty
        return self._empty

    def complete(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """`values` with every substituted definition variable filled in."""
        if len(self.definitions):
            values[self.definitions.variables] = self.definitions.values(values)
        return values

    def solve(
        self,
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        seconds: float,
        bounding: bool = True,
        start: NodeState | None = None,
    ) -> tuple[float, NDArray[np.float64]] | None:
        """Minimum (scaled) and point with the integer variables in [lower, upper];
        None when infeasible. With `bounding` False (a heuristic wanting a point, whose
        "infeasible" prunes nothing) a QP that says infeasible or fails gives None at once,
        without the simplex's confirmation. Raises `TimeoutError` when `seconds` run out,
        `SolverError` when HiGHS fails or stalls on the node (past `node_seconds` or
        `node_iterations`, even from a cold start). After a solve `bound` is a valid lower
        bound of the node (the Lagrangian dual of HiGHS's answer, never above its objective)
        and `up_increase[j]` a valid lower bound on how much the bound rises when selection j
        is set to 1 (reduced costs: 0 where nothing is known). `start` (a parent's
        `last_state`, else the last solve's) warm-starts the active-set solver. The
        objective is the true (scaled) value at the point; with the active set's implied
        count (`SelectionNodes`) the point minimises a Lagrangian, so `bound` may exceed
        it, except at a point integral in its selections, which is always the relaxation's
        own optimum."""
        self.last_down = None
        fitting, self._fitting = self._fitting, None
        if self.nodes is not None:
            if lower is not fitting and not self._counts_fit(lower):
                return None
            try:
                deadline = time.monotonic() + min(seconds, self.node_seconds)
                found = self.nodes.solve(lower, upper, start or self.last_state, deadline)
            except NodeQPFailure:
                self.fallbacks += 1  # HiGHS below decides the node
            else:
                if found is None:  # a Farkas certificate: no point meets the rows
                    return None
                solution, self.bound, self.up_increase, self.down_increase = found
                self.last_state = solution.state
                self.last_down = self.nodes.last_down
                return solution.objective, self._values(solution.x, lower, upper)
        h = self.highs
        self._highs_ready()
        if self.selections is None:
            h.changeColsBounds(len(self.integers), self.integer_columns, lower, upper)
        else:
            self._set_selections(lower, upper)
        statuses = self._highspy.HighsModelStatus
        capped = seconds > self.node_seconds
        regularised = False
        for attempt in range(3):
            # HiGHS's time limit counts its run time over every `run` of this instance.
            h.setOptionValue(
                "time_limit", h.getRunTime() + max(min(seconds, self.node_seconds), 1e-3)
            )
            h.run()
            status = h.getModelStatus()
            stalled = status == statuses.kIterationLimit or (
                status == statuses.kTimeLimit and capped
            )
            if regularised:
                self._pass_hessian(h, self._hessian)
            if not (status == statuses.kSolveError or stalled) or attempt == 2:
                break
            if not bounding and status == statuses.kSolveError:
                return None
            # The active set can stall on a warm start from a distant node: start cold;
            # then once more with a ridge on the Hessian (a near-singular Σ - D). The
            # ridge changes only HiGHS's path: the bound below is the Lagrangian of the
            # true objective, valid for any point and duals.
            h.clearSolver()
            if attempt == 1:
                self._pass_hessian(h, self._ridged_hessian())
                regularised = True
        fallback: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        if not bounding and status in (statuses.kInfeasible, statuses.kSolveError):
            return None
        if status == statuses.kInfeasible:
            # Dropping a node drops its subtree: the QP solver's claim is confirmed by
            # the simplex on the same rows (an active set near degeneracy can be wrong).
            fallback = self._linear_point()
            if fallback is None:
                return None
        elif status == statuses.kSolveError:
            # "Optimal but primal infeasible by 1e-4": typically a node at the edge of
            # feasibility. The LP (no Hessian) decides feasibility; if feasible, the
            # Lagrangian bound at the LP's point and duals is still valid (for any point
            # and duals), and the node has no primal value.
            fallback = self._linear_point()
            if fallback is None:
                return None
        elif status != statuses.kOptimal:
            if status == statuses.kTimeLimit and not capped:
                raise TimeoutError
            if stalled:
                raise SolverError(
                    f"HiGHS stalled on a node relaxation (over {self.node_seconds:g} s or "
                    f"{self.node_iterations} iterations)"
                )
            reason = h.modelStatusToString(status)
            raise SolverError(f"HiGHS could not solve a node relaxation: {reason}")
        if fallback is not None:
            columns, duals = fallback
            objective = math.inf  # no primal value: not an incumbent
        else:
            solution = h.getSolution()
            columns = np.asarray(solution.col_value)
            duals = np.asarray(solution.row_dual)
            objective = float(h.getInfo().objective_function_value)
        if regularised:  # the true objective at the point
            cost = np.asarray(h.getLp().col_cost_)
            objective = float(cost @ columns + 0.5 * columns @ self._full_hessian @ columns)
        self._dual_bound(columns, duals, objective)
        objective += self._offset  # the selections fixed at 1 pay their costs
        self.bound += self._offset
        if fallback is not None:
            self.up_increase = np.zeros(len(self.integers))
        return objective, self._values(columns, lower, upper)

    def _values(
        self,
        columns: NDArray[np.float64],
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """The program's variables from a node's column values: the kept columns, the
        selections' relaxed values and the substituted definitions."""
        values = np.zeros(self.size)
        values[self.kept] = columns[: len(self.kept)]
        if self.selections is not None:
            weights = np.maximum(values[self.selections.weights], _ZERO)
            free = np.minimum(weights / self.selections.caps, _ONE)
            # Outside a binding counting row a floored name's best selection in the
            # relaxation is min(1, w / m): 1 once the weight reaches its floor.
            if self._floored is None:  # (fixed once the relaxation is built)
                floors = self.selections.floors
                floored = (~self._counted) & (floors > 0)
                self._floored = (floored, np.where(floored, floors, 1.0), bool(floored.any()))
            floored, divisors, any_floored = self._floored
            if any_floored:  # (else np.where would give `free` itself)
                free = np.where(floored, np.minimum(weights / divisors, _ONE), free)
            values[self.integers] = np.where(
                lower > _HALF, _ONE, np.where(upper < _HALF, _ZERO, free)
            )
        return self.complete(values)

    def _linear_point(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The node's LP optimum (simplex, Hessian removed): point and row duals; None
        when the node is infeasible."""
        h = self.highs
        self._pass_hessian(h, self._empty_hessian())
        h.clearSolver()
        h.run()
        status = h.getModelStatus()
        solution = h.getSolution()
        found = (np.asarray(solution.col_value), np.asarray(solution.row_dual))
        self._pass_hessian(h, self._hessian)
        h.clearSolver()
        statuses = self._highspy.HighsModelStatus
        if status == statuses.kInfeasible:
            return None
        if status != statuses.kOptimal:
            raise SolverError(f"HiGHS could not solve a node: {h.modelStatusToString(status)}")
        return found

    def _dual_bound(
        self, columns: NDArray[np.float64], duals: NDArray[np.float64], objective: float
    ) -> None:
        """Set `bound` and `up_increase` from HiGHS's primal point x and row duals y.

        For any y the Lagrangian  L(x, y) = c^T x + 1/2 x^T H x - y^T (A x - s)  (s: the
        row bound on the side of y's sign) is convex in x, so on the node's box it is at
        least its tangent at x:  L(x, y) + sum_k min(g_k (l_k - x_k), g_k (u_k - x_k)),
        g = c + H x - A^T y. That minimum is a lower bound of the node whatever HiGHS's
        accuracy (weak duality), unlike the primal objective of an inexact answer.
        """
        lp = self.highs.getLp()
        lower = np.asarray(lp.col_lower_)
        upper = np.asarray(lp.col_upper_)
        x = np.clip(columns, lower, upper)
        matrix = lp.a_matrix_
        start = np.asarray(matrix.start_)
        index = np.asarray(matrix.index_)
        value = np.asarray(matrix.value_)
        column_of = np.repeat(np.arange(len(x)), np.diff(start))
        side = np.where(duals > 0, np.asarray(lp.row_lower_), np.asarray(lp.row_upper_))
        finite = np.isfinite(side)
        y = np.where(finite, duals, 0.0)
        side = np.where(finite, side, 0.0)
        activity = np.bincount(index, weights=value * x[column_of], minlength=len(y))
        pulled = np.bincount(column_of, weights=value * y[index], minlength=len(x))
        curvature = self._full_hessian @ x
        cost = np.asarray(lp.col_cost_)
        gradient = cost + curvature - pulled
        lagrangian = float(cost @ x + 0.5 * x @ curvature - y @ activity + y @ side)
        with np.errstate(invalid="ignore"):
            steps = np.minimum(gradient * (lower - x), gradient * (upper - x))
        steps = np.where(np.isnan(steps), 0.0, steps)  # a zero gradient on an infinite side
        self.bound = min(objective, lagrangian + float(steps.sum()))
        self.up_increase = np.zeros(len(self.integers))
        self.down_increase = np.zeros(len(self.integers))  # (only the active set's: 0 here)
        if self.selections is not None:
            floors = self.selections.floors
            rise = np.maximum(gradient[self._weight_columns], 0.0) * np.maximum(
                floors - x[self._weight_columns], 0.0
            )
            terms = self.perspective
            if terms.size:
                first = len(self.kept)
                a_columns = first + np.arange(terms.size)
                rise[terms.members] += np.maximum(gradient[a_columns], 0.0) * np.maximum(
                    terms.floors - x[a_columns], 0.0
                )
            # Setting j to 1 also rewrites the counting rows it is in (coefficient and
            # right-hand side): the estimate holds only where those rows' duals are 0, or
            # with trade flags, where the child is a subset of the parent
            # (`SelectionNodes.solve`).
            if not self._costed:
                for row in self._counting:
                    if duals[row.number] != 0.0:
                        rise[row.members] = 0.0
            self.up_increase = rise

    def forced(
        self,
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        start: NodeState | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """A node's integer bounds with the selections its rows force fixed (trade flags'
        programs: `SelectionNodes.forced`, `start` the node's warm start), None when they
        prove it infeasible; other programs' bounds as given."""
        if self.nodes is None or not self._costed or not self._counts_fit(lower):
            return lower, upper
        found = self.nodes.forced(lower, upper, start or self.last_state)
        if found is not None and found[0] is lower:
            # (the same bounds, whose held selections fit: the node's `solve` need not
            # count them again; new bounds hold more selections and are counted there)
            self._fitting = lower
        return found

    def _counts_fit(self, lower: NDArray[np.float64]) -> bool:
        """Whether the selections fixed at 1 fit every counting row (sum c_j <= hi)."""
        if self._count_matrix is None:
            pure = [row for row in self._counting if not row.mixed]  # a mixed row's other
            matrix = np.zeros((len(pure), len(self.integers)))  # part may be negative
            for t, row in enumerate(pure):
                matrix[t, row.members] += row.counts
            his = np.array([row.hi for row in pure], dtype=np.float64)
            self._count_matrix = (matrix, his + 1e-9 * np.maximum(np.abs(his), 1.0))
        matrix, limits = self._count_matrix
        held = lower > _HALF
        # (a count, not np.all: the same test for a fraction of its cost per node; the
        # product by `ndarray.dot`, the same BLAS gemv as `@` without matmul's dispatch,
        # `@` itself where it sums one term: `node_qp._dot`)
        totals = matrix.dot(held) if len(held) > 1 else matrix @ held
        return bool(_count(totals <= limits) == len(limits))

    def _set_selections(self, lower: NDArray[np.float64], upper: NDArray[np.float64]) -> None:
        """Weight bounds and counting rows for selections fixed at 0, fixed at 1 or free."""
        assert self.selections is not None
        h = self.highs
        zero, one = upper < 0.5, lower > 0.5
        weight_lower = np.where(one, np.maximum(self._weight_lower, self.selections.floors), 0.0)
        weight_lower = np.where(zero, 0.0, np.maximum(weight_lower, self._weight_lower))
        weight_upper = np.where(zero, 0.0, self._weight_upper)
        h.changeColsBounds(len(zero), self._weight_columns, weight_lower, weight_upper)
        self.perspective.set_bounds(h, zero, one, len(self.kept))
        inf = self._highspy.kHighsInf
        for row in self._counting:
            members, current = row.members, row.current
            wanted = row.base + np.where(
                one[members], 0.0, row.counts / self.selections.caps[members]
            )
            for i in np.flatnonzero(wanted != current):
                h.changeCoeff(row.number, int(self._weight_columns[members[i]]), float(wanted[i]))
                current[i] = wanted[i]
            h.changeRowBounds(row.number, -inf, row.hi - float(row.counts[one[members]].sum()))
        if self._costed:
            assert self._selection_cost is not None
            free = ~zero & ~one
            per_weight = np.where(free, self._selection_cost / self.selections.caps, 0.0)
            h.changeColsCost(len(zero), self._weight_columns, self._weight_cost + per_weight)
            self._offset = float(self._selection_cost[one].sum())

    def branching_scores(
        self, point: NDArray[np.float64], fraction: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """How much branching on each integer promises: the perspective term the relaxation
        underestimates (d_j (m_j w_j - w_j^2) for 0 < w_j < m_j) when any is positive,
        else the fractionality; 0 for integral variables. With trade flags (`_costed`) the
        relaxed value itself: the trade or name the relaxation leans to most is settled
        first (its up child pays the fixed cost in full, its down child loses the most),
        6,054 nodes for the sample's 384 rebalances against 7,102 by fractionality."""
        if self._costed:
            values = point[self.integers]
            return np.where(fraction > _INTEGRALITY, np.maximum(values, 1e-300), 0.0)
        terms = self.perspective
        if terms.size and self.selections is not None:
            weights = point[self.selections.weights[terms.members]]
            shortfall = terms.split * np.maximum(terms.floors * weights - weights * weights, 0.0)
            shortfall = np.where(fraction[terms.members] > _INTEGRALITY, shortfall, 0.0)
            if shortfall.max(initial=0.0) > 0.0:
                scores = np.zeros(len(fraction))
                scores[terms.members] = shortfall
                return scores
        return np.where(fraction > _INTEGRALITY, fraction, 0.0)

    def branching_choice(self, point: NDArray[np.float64], fraction: NDArray[np.float64]) -> int:
        """The integer to branch on: the best of `branching_scores`."""
        scores = self.branching_scores(point, fraction)
        # (ndarray.max's and np.argmax's own reductions, without their Python wrappers)
        if _maximum_of(scores, initial=0.0) > 0.0:
            return int(scores.argmax())
        return int(fraction.argmax())

    def down_bound(self, found: DownBound | None, branch: int) -> float | None:
        """A valid lower bound of the child of a node solved by the active set (`found`:
        its `last_down`) with integer `branch` at 0 (`SelectionNodes.down_bound`), None
        when that child is proven infeasible; -inf when nothing is known."""
        if found is None or self.nodes is None:
            return -math.inf
        return self.nodes.down_bound(found, branch)

    def program_value(self, minimised: float) -> float:
        """A scaled minimisation value back in the program's sense and units."""
        return self.sign * minimised / self.scale + self.constant


@dataclass(order=True, slots=True)
class _Node:
    key: tuple[float, ...]
    order: int
    bound: float
    depth: int
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    start: NodeState | None = field(default=None, compare=False)  # the parent's end state


def branch_and_bound(
    program: Program,
    scale: float,
    time_limit: float,
    relative_gap: float,
    hint: NDArray[np.float64] | None = None,
    heuristics: bool = True,
) -> SearchResult:
    """Solve `program` (convex quadratic objective, linear rows, integers) to `relative_gap`.

    `heuristics=False` skips the restricted searches and the local search before the main
    tree (the rebalance solver's choice: its hint, the holdings, is already a close
    incumbent, and on its programs the heuristics cost 6x the QPs of the proof)."""
    deadline = time.monotonic() + time_limit
    relaxation = Relaxation(program, scale)
    ints = relaxation.integers
    root_lower = np.ceil(relaxation.lower[ints] - _INTEGRALITY)
    root_upper = np.floor(relaxation.upper[ints] + _INTEGRALITY)
    binary = (root_lower >= 0) & (root_upper <= 1)

    best_value = math.inf
    best_point: NDArray[np.float64] | None = None
    best_own = -math.inf  # the incumbent's own node bound (see `SearchResult`)

    def remaining() -> float:
        return deadline - time.monotonic()

    def try_integers(fixed: NDArray[np.float64]) -> None:
        """Solve with the integers fixed at `fixed`; keep the point if it improves. A
        heuristic's failure (HiGHS error) is not the search's: it is ignored."""
        nonlocal best_value, best_point, best_own
        fixed = _CLIP_UFUNC(fixed, root_lower, root_upper)  # (np.clip's own ufunc)
        try:
            solved = relaxation.solve(fixed, fixed, remaining(), bounding=False)
        except SolverError:
            return
        if solved is not None and solved[0] < best_value:
            best_value, best_point = solved
            best_own = relaxation.bound
            best_point = best_point.copy()
            best_point[ints] = fixed

    def gap_of(value: float) -> float:
        return relative_gap * max(abs(value), 1e-9)

    # The least bound of the regions pruned within the gap tolerance (below the incumbent
    # by at most `gap_of`): part of the proof, so the reported bound is not the objective
    # by fiat when the search closes.
    least_pruned = math.inf

    def prunable(bound: float) -> bool:
        return bound >= best_value - gap_of(best_value)

    def pruned(bound: float) -> bool:
        """`prunable`, remembering the bound of a region it prunes."""
        nonlocal least_pruned
        if not prunable(bound):
            return False
        least_pruned = min(least_pruned, bound)
        return True

    def swap_search(rise: NDArray[np.float64], until: float) -> None:
        """Local search on the incumbent's selections: swap a held name for one of the
        unused names cheapest to add (by root reduced cost), drop or add one; first
        improvement, repeated until none improves or `until` passes."""
        assert best_point is not None
        improved = True
        while improved and time.monotonic() < until:
            improved = False
            held = np.round(best_point[ints]) > 0.5
            unused = np.flatnonzero(~held)
            order = [int(j) for j in unused[np.argsort(rise[unused])][:_LOCAL_SEARCH_NAMES]]
            holding = [int(i) for i in np.flatnonzero(held)]
            moves = [(i, -1) for i in holding] + [(-1, j) for j in order]
            moves += [(i, j) for j in order for i in holding]
            for out, into in moves:
                if time.monotonic() >= until:
                    return
                trial = held.astype(np.float64)
                if out >= 0:
                    trial[out] = 0.0
                if into >= 0:
                    trial[into] = 1.0
                before = best_value
                try:
                    try_integers(trial)
                except TimeoutError:
                    return
                if best_value < before - gap_of(before):
                    improved = True
                    break

    counter = itertools.count()
    unresolved: list[float] = []  # bounds of nodes HiGHS failed on (kept, not explored)
    nodes = 0

    def explore(start: _Node, node_limit: int | None, main: bool) -> tuple[list[_Node], bool]:
        """Search below `start` (depth first until an incumbent, then best first); the
        open nodes left and whether the time ran out. `main` is the whole tree: only
        there does a failing root raise and count nodes."""
        nonlocal best_value, best_point, best_own, nodes, least_pruned
        open_nodes = [start]
        explored = 0
        stopped = False
        best_first = False
        while open_nodes:
            if best_point is not None and not best_first:
                best_first = True
                for other in open_nodes:
                    other.key = (other.bound, -float(other.depth))
                heapq.heapify(open_nodes)
            if node_limit is not None and explored >= node_limit:
                break
            node = heapq.heappop(open_nodes)
            if pruned(node.bound):  # best-first: every other open node is worse
                open_nodes.clear()
                break
            try:
                if remaining() <= 0:
                    raise TimeoutError
                forced = relaxation.forced(node.lower, node.upper, node.start)
                if forced is None:
                    solved = None
                else:
                    node.lower, node.upper = forced
                    solved = relaxation.solve(node.lower, node.upper, remaining(), start=node.start)
            except TimeoutError:
                heapq.heappush(open_nodes, node)
                stopped = True
                break
            except SolverError:
                if node.depth == 0 and main:
                    raise
                if main:
                    unresolved.append(node.bound)  # its parent's bound still bounds it
                continue
            explored += 1
            if main:
                nodes += 1
            if solved is None:
                if node.depth == 0 and main:
                    raise InfeasibleAllocation("the allocation model is infeasible (root node)")
                continue
            objective, point = solved
            state = relaxation.last_state  # the children's warm start
            down_of = relaxation.last_down  # (before a heuristic's solve replaces it)
            own_bound = relaxation.bound  # what `up_increase` adds to
            bound = max(node.bound, own_bound)
            up_increase = relaxation.up_increase
            # (read before the heuristics too: their integer-fixed solves leave the reduced
            # costs of their own boxes, which bound nothing of this node's)
            down_increase = relaxation.down_increase
            values = point[ints]
            fraction = np.abs(values - values.round())  # (np.round's own method, unwrapped)
            largest = float(_maximum_of(fraction, initial=0.0))  # (ndarray.max's own)
            if not math.isfinite(objective) and not prunable(bound) and largest <= _INTEGRALITY:
                # HiGHS gave no exact point (see `Relaxation.solve`): the bound is valid,
                # the point only guides branching; with nothing left to branch on the
                # node stays open with its bound.
                if main:
                    unresolved.append(bound)
                continue
            try:
                if node.depth == 0 and main:
                    if hint is not None:
                        try_integers(np.round(hint[ints]))
                    try_integers(root_lower)  # cash (nothing selected), when allowed
                if largest <= _EXACTLY_INTEGRAL and math.isfinite(objective):
                    # The relaxation's optimum already has these integers: it is the exact
                    # optimum for them, no second solve needed; nothing below it is better.
                    if objective < best_value:
                        best_value, best_point = objective, point.copy()
                        best_point[ints] = values.round()
                        best_own = own_bound
                    if main and own_bound < objective - max(
                        _CLOSING_ROUND_OFF * abs(objective), _ABSOLUTE_ROUND_OFF
                    ):
                        # Closed only on its own bound: a point that is not the node's
                        # optimum (a failed solve's retry) leaves the node open with it.
                        unresolved.append(bound)
                    continue
                rounded = largest <= _INTEGRALITY and math.isfinite(objective)
                if rounded:
                    try_integers(values.round())  # closes the node if it matches the bound
                elif node.depth == 0 and main:
                    up = np.ceil(values - _INTEGRALITY)
                    try_integers(np.where(binary, up, np.floor(values + _INTEGRALITY)))
                    try_integers(np.where(binary, values.round(), np.floor(values)))
                elif main and rounding and nodes % _ROUNDING_EVERY == 0:
                    # Rounding the relaxation deep in the tree finds incumbents the root's
                    # heuristics miss (pard200_j: 191.9 -> 190.1 in the same 120 s); only
                    # measured with buy-in floors, so only used there.
                    before = best_value
                    try_integers(np.where(values >= 0.5, 1.0, 0.0))
                    if best_value < before - gap_of(before):
                        share = _LOCAL_SEARCH_AFTER_ROUNDING * time_limit
                        swap_search(rise_at_root, time.monotonic() + share)
            except TimeoutError:
                node.bound = max(node.bound, bound)
                heapq.heappush(open_nodes, node)
                stopped = True
                break
            if pruned(bound):
                continue
            branch = relaxation.branching_choice(point, fraction)
            # Reduced-cost fixing: a free selection whose setting to 1 would lift the bound
            # past the incumbent is 0 everywhere below this node.
            free = (node.lower < _HALF) & (node.upper > _HALF)
            cutoff = best_value - gap_of(best_value)  # (what `prunable` compares with)
            hopeless = free & (own_bound + up_increase >= cutoff)
            hopeless[branch] = False
            upper = node.upper
            if _count(hopeless):  # (np.count_nonzero's own)
                least_pruned = min(least_pruned, own_bound + float(up_increase[hopeless].min()))
                upper = upper.copy()
                upper[hopeless] = 0.0
            # The same the other way: a free selection whose setting to 0 would lift the
            # bound past the incumbent (`Relaxation.down_increase`) is 1 everywhere below.
            sure = free & ~hopeless & (own_bound + down_increase >= cutoff)
            sure[branch] = False
            lower = node.lower
            if _count(sure):
                least_pruned = min(least_pruned, own_bound + float(down_increase[sure].min()))
                lower = lower.copy()
                lower[sure] = 1.0
            down_upper = upper.copy()
            down_upper[branch] = math.floor(values[branch])
            up_lower = lower.copy()
            up_lower[branch] = math.ceil(values[branch])
            depth = node.depth + 1
            # The down child (the selection at 0) is the node on the face w_j = 0: its
            # bound is at least this node's plus what moving w_j alone to 0 costs in the
            # node's Lagrangian (`Relaxation.down_increase`); one that cannot beat the
            # incumbent is pruned unsolved.
            down_bound = max(bound, own_bound + float(down_increase[branch]))
            children = [(up_lower, upper, bound)]
            if not prunable(down_bound) and best_value - down_bound <= _DOWN_BOUND_REACH * max(
                abs(best_value), 1e-9
            ):
                # Still open but near the incumbent: the node's Lagrangian over the box its
                # rows imply with the branch at 0 (`Relaxation.down_bound`). An infeasible
                # child is dropped, one that cannot beat the incumbent at all is pruned; a
                # bound only within the gap tolerance is not used (the child's own solve may
                # prove more: the reported bound of the search would be no better).
                implied = relaxation.down_bound(down_of, branch)
                if implied is None:
                    down_bound = math.inf
                elif implied >= best_value:
                    down_bound = max(down_bound, implied)
            if not pruned(down_bound):
                children.append((lower, down_upper, down_bound))
            for child_lower, child_upper, child_bound in children:
                key = (child_bound, -float(depth)) if best_first else (-float(depth), child_bound)
                heapq.heappush(
                    open_nodes,
                    _Node(key, next(counter), child_bound, depth, child_lower, child_upper, state),
                )
        return open_nodes, stopped

    root = _Node((0.0, -math.inf), next(counter), -math.inf, 0, root_lower, root_upper)
    rise_at_root = np.zeros(len(ints))
    rounding = bool(binary.all()) and relaxation.perspective.size > 0
    if heuristics and binary.any() and time_limit > 0:
        # The same search restricted to the names the root relaxation uses (a small tree,
        # node-limited) finds a near-optimal incumbent early, which the reduced-cost
        # fixing of the whole search then feeds on.
        try:
            first = relaxation.solve(root_lower, root_upper, remaining())
        except (SolverError, TimeoutError):
            first = None
        if first is not None:
            root.bound = relaxation.bound  # kept if the time runs out before the root
            used = first[1][ints] > _INTEGRALITY
            rise = relaxation.up_increase.copy()
            rise_at_root[:] = rise
            # Two rings: the root's names, then with the unused names that are cheapest
            # to add by reduced cost (the optimum often holds one the root does not).
            rings = [used]
            if np.any(rise[~used] > 0):
                cheapest = np.flatnonzero(~used)[np.argsort(rise[~used])][:_HEURISTIC_EXTRA]
                wider = used.copy()
                wider[cheapest] = True
                rings.append(wider)
            for ring in rings:
                restricted = np.where(binary & ~ring, root_lower, root_upper)
                if np.any(restricted != root_upper):
                    explore(
                        _Node(
                            (0.0, -math.inf), next(counter), -math.inf, 0, root_lower, restricted
                        ),
                        _HEURISTIC_NODES,
                        main=False,
                    )
            if best_point is not None and binary.all():
                swap_search(rise, time.monotonic() + _LOCAL_SEARCH_SHARE * time_limit)
    open_nodes, stopped = explore(root, None, main=True)
    if best_point is None:
        if stopped:
            raise SolverError(
                f"branch and bound found no solution within the time limit of {time_limit:.3g} s; "
                "raise --time-limit"
            )
        if unresolved:
            raise SolverError(
                "branch and bound found no solution: HiGHS failed on some nodes; use --solver scip"
            )
        raise InfeasibleAllocation("the allocation model is infeasible (branch and bound)")
    open_bounds = [b for b in [*(n.bound for n in open_nodes), *unresolved] if not pruned(b)]
    bound_min = min([*open_bounds, best_value, least_pruned])
    status: SolveStatus = "feasible" if open_bounds else "optimal"
    return SearchResult(
        values=best_point,
        status=status,
        objective=relaxation.program_value(best_value),
        best_bound=relaxation.program_value(bound_min),
        nodes=nodes,
        incumbent_bound=relaxation.program_value(best_own) if best_own > -math.inf else math.nan,
    )


__all__ = [
    "Relaxation",
    "SearchResult",
    "Selections",
    "branch_and_bound",
    "load_highspy",
    "selection_structure",
    "suits_branch_and_bound",
]
