"""The rebalance solver: a quadratic model with trading costs per trade, by branch and bound.

A rebalance with a fixed cost per trade (`--fixed-cost`) or a minimum trade carries two
flags per name (`context.py`): β_i (bought) and σ_i (sold), next to the selection x_i, so the
program has 3N binaries and SCIP's MIQP was ~93% of a policy backtest's time (0.2-2 s per
sample rebalance, no bound at all within 10 s at 500 names). This module solves those
programs exactly with tradefolio's own branch and bound (`branch_and_bound.py`: its nodes by
the warm-started active set of `node_qp.py`, HiGHS the fallback), after an exact aggregation
of the flags:

For a candidate not held (w0_i = 0):

    s_i <= w0_i σ_i = 0            so s_i = 0 and w_i = b_i       (b_i aliased to w_i)
    σ_i only adds costs             so σ_i = 0 is optimal           (σ_i fixed at 0)
    β_i = x_i                       at some optimum                  (β_i aliased to x_i)

The last holds because w_i > 0 forces both x_i = 1 (w_i <= u_i x_i) and β_i = 1
(b_i <= (u_i - w0_i) β_i), and with w_i = 0 setting both to 0 keeps every row (each row on
them either only loosens when they fall, or reads only name i's own variables, which are
then 0) and never raises the objective's costs. Both claims are checked on the program's
rows, not assumed (`_aggregation`); a program that does not pass is solved unreduced.
The held names (at most K of the N, once the policy runs) keep all their variables. At
N = 20 held 5 the program shrinks from 60 to 30 binaries and from 140 to 80 columns. The
factor exposures y = B w of the variance (`risk_terms.py`) stay in the reduced program with
their definition rows: the branch and bound substitutes them itself (`factor_form.py`, one
matrix product into its dense Hessian). Substituting them here as well, into the program's
dict of pairwise terms (125,000 of them at 500 names), and reading that dict back cost
~0.5 s of CPU per 500-name rebalance.

The search starts from the current holdings (the caller's hint: no trade at all), which a
turnover cap keeps close to the optimum, and the answer is checked against the *original*
program: its objective re-evaluated there, every row and bound within 1e-6, "optimal"
only when the branch and bound's Lagrangian bound meets `BRANCH_AND_BOUND_GAP` at that
point by the one claim rule (`backends.claim`); otherwise "feasible" with the proven gap.
The incumbent must also be the optimum of its own integer choices: the search's bound of
the node that gave it shows that (that node holds those choices), else the QP with them
fixed is solved afresh (`_incumbent_settled`).
A node limit is not used: the time limit ends a search with its bound (the gap is
reported). If HiGHS's answer breaks the model, or
the search fails (HiGHS errors, no incumbent within the time limit), the original program
goes to SCIP, as before this module, with what the search left of the time limit (at
least `LEAST_SCIP_SECONDS`).
"""

from __future__ import annotations

import itertools
import operator
import time
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, SolverError, SolverUnavailable
from tradefolio.portfolio.backends import (
    BRANCH_AND_BOUND_GAP,
    RawSolution,
    claim,
    objective_scale,
    proven_gap,
    solve_by_branch_and_bound,
    solve_program,
)
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import (
    INF,
    CoefficientArrays,
    Program,
    Row,
    RowBounds,
)

_ARRAYS = operator.attrgetter("arrays")
# Rows whose activity stays within this of a bound count as satisfied after aggregation.
_FEASIBLE = 1e-12
# The answer mapped back must meet every row of the original program to this.
_CHECK = 1e-6
#: Seconds SCIP gets at least when it is the only way left to an answer (a shorter limit
#: finds nothing on the sample's whole-share programs): a fallback gets what the search
#: left of the time limit, but not less than this.
LEAST_SCIP_SECONDS = 0.5
# The incumbent's own node solved afresh (`_incumbent_settled`) may lie beyond the answer
# by this (relative, or absolute in the solvers' scaled units): the round-off of HiGHS's
# duals (seen up to 1.2e-8 relative on the sample's 384 rebalances) and of SCIP's QP.
_NODE_ROUND_OFF = 1e-6


@dataclass(frozen=True, slots=True)
class Aggregation:
    """A smaller program and how its variables stand for the original's.

    `source[k]` is the reduced variable original variable k equals, or -1 for a variable
    fixed at 0.
    """

    program: Program
    source: NDArray[np.intp]

    def expand(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """The original program's values for the reduced program's `values`."""
        reduced = np.asarray(values, dtype=np.float64)
        padded = np.append(reduced, 0.0)
        return np.asarray(padded[self.source], dtype=np.float64)

    def restrict(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """The reduced program's values for the original's `values` (first occurrence)."""
        reduced = np.zeros(self.program.size)
        kept = self.source >= 0
        order = np.flatnonzero(kept)[::-1]  # assigned last = first occurrence
        reduced[self.source[order]] = np.asarray(values, dtype=np.float64)[order]
        return reduced


def suits_rebalance_solver(ctx: ModelContext) -> bool:
    """Whether `ctx` is a quadratic model this module solves: trade flags, and no integer
    variables other than the selections and the flags (no whole shares or lots)."""
    program = ctx.program
    if not program.is_quadratic or ctx.buy_flags is None or ctx.sell_flags is None:
        return False
    if ctx.lots is not None or ctx.odd_lots:
        return False
    expected = {*ctx.selected, *ctx.buy_flags, *ctx.sell_flags}
    integers = set(itertools.compress(range(program.size), program.integer))
    return integers == expected


def _costs_only(program: Program) -> NDArray[np.bool_]:
    """Whether each variable of `program` never helps the objective (a cost in its
    direction) and is not in its quadratic part."""
    linear = program.linear
    coefficient = np.zeros(program.size)
    coefficient[np.fromiter(linear.keys(), np.intp, len(linear))] = np.fromiter(
        linear.values(), np.float64, len(linear)
    )
    helps = coefficient > 0 if program.maximize else coefficient < 0
    squared = np.zeros(program.size, dtype=bool)
    quadratic = program.quadratic
    squared[np.fromiter(itertools.chain.from_iterable(quadratic), np.intp, 2 * len(quadratic))] = (
        True
    )
    return np.asarray(~helps & ~squared, dtype=bool)


def _zeroable(
    arrays: CoefficientArrays,
    numbers: NDArray[np.intp],
    bounds: RowBounds,
    flags: NDArray[np.intp],
    owner: NDArray[np.intp],
    names: int,
) -> NDArray[np.bool_]:
    """For each of `names` names, whether setting its flags to 0 (with its own variables all
    0) keeps every row they appear in satisfied: each such row only loosens as they fall
    (all their coefficients >= 0 and no lower side, or all <= 0 and no upper side), or it
    reads only the name's own variables and holds 0.

    `arrays` are the program's coefficients, `numbers` each entry's row and `bounds` the
    rows' (lo, hi); `flags[k]` / `owner[k]` are the name variable k is a flag of / belongs
    to (-1: none)."""
    columns, values, lengths = arrays
    # a row reads only one name's own variables: every entry has that owner
    single = np.full(len(lengths), -1, dtype=np.intp)
    if columns.size:
        # each row's entries are contiguous (rows in order): the least and the greatest
        # owner of each non-empty row by one `reduceat` each (an empty row reads no name)
        entry_owner = owner[columns]
        filled = np.flatnonzero(lengths)
        starts = (np.cumsum(lengths) - lengths)[filled]
        lowest = np.minimum.reduceat(entry_owner, starts)
        highest = np.maximum.reduceat(entry_owner, starts)
        single[filled] = np.where((lowest == highest) & (lowest >= 0), lowest, -1)
    lo, hi = bounds
    at = flags[columns] >= 0
    row, name, coefficient = numbers[at], flags[columns[at]], values[at]
    # per (row, name): a flag coefficient not >= 0, one not <= 0
    pair = row * names + name
    not_rising = np.zeros(len(lengths) * names, dtype=bool)
    not_falling = np.zeros(len(lengths) * names, dtype=bool)
    not_rising[pair[~(coefficient >= 0)]] = True
    not_falling[pair[~(coefficient <= 0)]] = True
    keeps = (
        (~not_rising[pair] & (lo[row] == -INF))
        | (~not_falling[pair] & (hi[row] == INF))
        | ((single[row] == name) & (lo[row] <= _FEASIBLE) & (hi[row] >= -_FEASIBLE))
    )
    broken = np.zeros(names, dtype=bool)
    broken[name[~keeps]] = True
    return ~broken


def _aggregation(
    ctx: ModelContext,
    arrays: CoefficientArrays | None = None,
    bounds: RowBounds | None = None,
) -> Aggregation | None:
    """The exact aggregation of the module docstring, or None if no name qualifies.
    `arrays` are the program's `coefficient_arrays` and `bounds` its `row_bounds` when the
    caller has them."""
    assert ctx.buys is not None and ctx.sells is not None
    assert ctx.buy_flags is not None and ctx.sell_flags is not None
    program = ctx.program
    if arrays is None:
        arrays = program.coefficient_arrays()
    if bounds is None:
        bounds = program.row_bounds()
    names = ctx.size
    upper = np.array(program.upper, dtype=np.float64)
    held = np.asarray(ctx.universe.held_shares) > 0
    weights, selected = np.array(ctx.weights, np.intp), np.array(ctx.selected, np.intp)
    buys, sells = np.array(ctx.buys, np.intp), np.array(ctx.sells, np.intp)
    bought, sold = np.array(ctx.buy_flags, np.intp), np.array(ctx.sell_flags, np.intp)
    # A held name at or above its cap cannot be bought: b_i = 0, and β_i = 0 at some
    # optimum when its rows only loosen as it falls and it only costs.
    capped = held & (upper[buys] == 0.0)
    # A name not held and not sellable: b_i = w_i, β_i = x_i, s_i = σ_i = 0 when its flags
    # only cost and its flags' rows only loosen as they fall.
    fresh = ~held & (upper[sells] == 0.0)
    flags = np.full(program.size, -1, dtype=np.intp)
    owner = np.full(program.size, -1, dtype=np.intp)
    # the fresh and the capped names' numbers (each mask applied once)
    fresh_names, capped_names = np.flatnonzero(fresh), np.flatnonzero(capped)
    fresh_selected, fresh_bought, fresh_sold = (
        selected[fresh_names],
        bought[fresh_names],
        sold[fresh_names],
    )
    capped_bought = bought[capped_names]
    flags[fresh_selected] = flags[fresh_bought] = flags[fresh_sold] = fresh_names
    flags[capped_bought] = capped_names
    for variables in (weights[fresh_names], fresh_selected, buys[fresh_names]):
        owner[variables] = fresh_names
    owner[sells[fresh_names]] = owner[fresh_bought] = owner[fresh_sold] = fresh_names
    owner[buys[capped_names]] = owner[capped_bought] = capped_names
    only_costs = _costs_only(program)
    costs = np.ones(names, dtype=bool)
    costs[fresh_names] = (
        only_costs[fresh_selected] & only_costs[fresh_bought] & only_costs[fresh_sold]
    )
    costs[capped_names] = only_costs[capped_bought]
    numbers = np.repeat(np.arange(len(arrays[2])), arrays[2])  # each entry's row
    zeroable = (fresh | capped) & costs & _zeroable(arrays, numbers, bounds, flags, owner, names)
    if not zeroable.any():
        return None
    alias = np.arange(program.size, dtype=np.intp)  # original -> original representative
    zero = np.zeros(program.size, dtype=bool)
    gone = zeroable & capped
    zero[buys[gone]] = zero[bought[gone]] = True
    merged = zeroable & fresh
    alias[buys[merged]], alias[bought[merged]] = weights[merged], selected[merged]
    zero[sells[merged]] = zero[sold[merged]] = True
    return _reduced(program, alias, zero, arrays, bounds, numbers)


def _reduced(
    program: Program,
    alias: NDArray[np.intp],
    zero: NDArray[np.bool_],
    arrays: CoefficientArrays | None = None,
    bounds: RowBounds | None = None,
    numbers: NDArray[np.intp] | None = None,
) -> Aggregation:
    """`program` with each variable replaced by its alias and the `zero` ones removed
    (`arrays`, `bounds`, `numbers`: the program's `coefficient_arrays`, its `row_bounds` and
    each coefficient's row, when the caller has them).

    Each row's coefficients are merged onto the representatives, in the order each first
    appears, as 0.0 + c_1 + c_2 ... in the row's order; zero sums and empty rows are
    dropped, and a row of at most two coefficients equal to an earlier one (with the same
    bounds) is dropped too: all rows merged in one pass over the program's coefficients as
    arrays, then one dict per row."""
    size = program.size
    moving = (alias != np.arange(size)) | zero  # aliased or removed
    kept = np.flatnonzero(~moving)
    number = np.full(size + 1, -1, dtype=np.intp)
    number[kept] = np.arange(kept.size)
    source = np.where(zero, -1, number[alias]).astype(np.intp)
    names, lower, upper, integer = program.names, program.lower, program.upper, program.integer
    chosen = kept.tolist()
    reduced_lower = [lower[k] for k in chosen]
    reduced_upper = [upper[k] for k in chosen]
    reduced = Program(
        names=[names[k] for k in chosen],
        lower=reduced_lower,
        upper=reduced_upper,
        integer=[integer[k] for k in chosen],
        maximize=program.maximize,
        constant=program.constant,
    )
    to = source.tolist()  # list lookups, not numpy scalars, in the loops below
    moved = np.flatnonzero(moving).tolist()
    for k in moved:
        j = to[k]
        if j >= 0:
            # an alias carries its own bounds onto its representative
            reduced_lower[j] = max(reduced_lower[j], lower[k])
            reduced_upper[j] = min(reduced_upper[j], upper[k])
    if arrays is None:
        arrays = program.coefficient_arrays()
    reduced.rows, reduced_arrays, reduced_bounds = _reduced_rows(
        program,
        source,
        moved[0] if moved else size,
        arrays,
        program.row_bounds() if bounds is None else bounds,
        np.repeat(np.arange(len(arrays[2])), arrays[2]) if numbers is None else numbers,
    )
    # its rows are final: built here
    reduced.keep_coefficient_arrays(reduced_arrays, reduced_bounds)
    linear = reduced.linear
    total = linear.get
    for k, c in program.linear.items():
        j = to[k]
        if j >= 0:
            linear[j] = total(j, 0.0) + c
    quadratic = reduced.quadratic
    square = quadratic.get
    for (a, b), c in program.quadratic.items():
        pair = (to[a], to[b])
        if min(pair) < 0:
            continue  # fixed at 0
        quadratic[pair] = square(pair, 0.0) + c
    return Aggregation(reduced, source)


def _reduced_rows(
    program: Program,
    source: NDArray[np.intp],
    first_moved: int,
    arrays: CoefficientArrays,
    bounds: RowBounds,
    every_number: NDArray[np.intp],
) -> tuple[list[Row], CoefficientArrays, RowBounds]:
    """The rows of `_reduced` (`source`: the reduced variable of each original one, -1
    removed; every variable before `first_moved` keeps its number; `arrays`, `bounds`,
    `every_number`: the program's `coefficient_arrays`, `row_bounds` and each coefficient's
    row), their `coefficient_arrays`, as `Program.coefficient_arrays` gives them: a
    shared row's own arrays, every other row's merged entries (its dict's keys and values,
    in order), and their `row_bounds`."""
    rows = program.rows
    columns, values = arrays[0], arrays[1]
    # a row over variables that all keep their numbers (the factor rows)
    renumbered = np.zeros(len(rows), dtype=bool)
    renumbered[every_number[columns >= first_moved]] = True
    target = source[columns]
    live = (target >= 0) & (values != 0.0)
    numbers, target, values = every_number[live], target[live], values[live]
    # one entry per (row, reduced variable), in the order each first appears in its row:
    # a stable sort by (row, variable) groups them, its heads are the first occurrences
    key = numbers * (len(source) + 1) + target
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    head = np.ones(key.size, dtype=bool)
    head[1:] = ordered[1:] != ordered[:-1]
    first = np.empty(key.size, dtype=np.intp)
    first[order] = order[head][np.cumsum(head) - 1]  # each entry's first occurrence
    is_first = np.zeros(key.size, dtype=bool)
    is_first[first] = True
    group = (np.cumsum(is_first) - 1)[first]
    # in the row's order: 0.0 + c_1 + c_2 ... (`np.bincount` adds its weights one by one in
    # their order onto zeros, as `np.add.at` does, at a fraction of its cost)
    sums = np.bincount(group, weights=values, minlength=int(is_first.sum()))
    nonzero = sums != 0.0
    sums = sums[nonzero]
    merged_columns = target[is_first][nonzero].astype(np.int64)
    row_of = numbers[is_first][nonzero]
    limits = np.searchsorted(row_of, np.arange(len(rows) + 1))
    starts, ends = limits[:-1], limits[1:]
    sizes = ends - starts
    # a row built from arrays over variables that keep their numbers: shared, not copied
    has_arrays = map(operator.is_not, map(_ARRAYS, rows), itertools.repeat(None))
    own = ~renumbered & np.fromiter(has_arrays, bool, len(rows))
    # A name's link rows (w <= u x and b <= (u - w0) beta) become the same row: a row of
    # one or two merged entries equal to an earlier such row (the same entries, sorted by
    # column, and the same bounds) is left out (`_repeats`); an empty row too (0 within
    # [lo, hi], checked by the expanded answer's row check).
    small = ~own & (sizes > 0) & (sizes <= 2)
    lo, hi = bounds
    column_list, value_list = merged_columns.tolist(), sums.tolist()
    repeat = _repeats(small, starts, sizes, merged_columns, sums, lo, hi)
    if repeat is None:  # a NaN among them: the rows' own tuples decide, as Python's sets do
        repeat = _repeats_by_tuples(rows, small, starts, sizes, column_list, value_list)
    kept = np.flatnonzero(own | ((sizes > 0) & ~repeat))
    reduced: list[Row] = []
    for r, start, end, mine in zip(
        kept.tolist(), starts[kept].tolist(), ends[kept].tolist(), own[kept].tolist(), strict=True
    ):
        row = rows[r]
        if mine:
            # read-only coefficients and their arrays, over variables that keep their
            # numbers: shared, not copied (the factor rows)
            reduced.append(Row(row.coefficients, row.lo, row.hi, row.group, row.unit, row.arrays))
            continue
        # the merged entries in order (a display for the one- and two-entry link rows)
        if end - start == 1:
            coefficients = {column_list[start]: value_list[start]}
        elif end - start == 2:
            second = start + 1
            coefficients = {
                column_list[start]: value_list[start],
                column_list[second]: value_list[second],
            }
        else:
            coefficients = dict(zip(column_list[start:end], value_list[start:end], strict=True))
        reduced.append(Row(coefficients, row.lo, row.hi, row.group, row.unit))
    # The rows' coefficient arrays are the merged entries of the rows kept: a dict row's
    # keys and values are those entries in order, and a shared row's own arrays are its
    # entries too (its columns keep their numbers, are distinct and have no zero value,
    # so each entry is 0.0 + c = c, in the row's order).
    if repeat.any():
        keep = ~repeat[row_of]
        merged_columns, sums = merged_columns[keep], sums[keep]
    return reduced, (merged_columns, sums, sizes[kept].astype(np.int64)), (lo[kept], hi[kept])


def _repeats(
    small: NDArray[np.bool_],
    starts: NDArray[np.intp],
    sizes: NDArray[np.intp],
    columns: NDArray[np.int64],
    values: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> NDArray[np.bool_] | None:
    """Which rows repeat an earlier one: among the `small` rows (one or two merged entries
    from `starts`), a row whose entries sorted by column (a row's columns are distinct)
    and bounds equal an earlier small row's, floats compared by ==. Found by one stable
    sort of the rows' keys (equal keys end up adjacent, the earliest row first), not by a
    loop over the rows; None when a value or bound is NaN (`_repeats_by_tuples` decides)."""
    repeat = np.zeros(small.size, dtype=bool)
    rows = np.flatnonzero(small)
    if rows.size < 2:
        return repeat
    first = starts[rows]
    pair = sizes[rows] == 2
    second = np.where(pair, first + 1, first)
    a_column, b_column = columns[first], np.where(pair, columns[second], -1)
    a_value, b_value = values[first], np.where(pair, values[second], 0.0)
    swap = pair & (b_column < a_column)
    a_column, b_column = np.where(swap, b_column, a_column), np.where(swap, a_column, b_column)
    a_value, b_value = np.where(swap, b_value, a_value), np.where(swap, a_value, b_value)
    keys = (hi[rows], lo[rows], b_value, a_value, b_column, a_column)
    if any(np.isnan(key).any() for key in keys[:4]):
        return None
    order = np.lexsort(keys)  # stable: equal keys keep the rows' order
    same = np.ones(rows.size - 1, dtype=bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    repeat[rows[order[1:][same]]] = True
    return repeat


def _repeats_by_tuples(
    rows: list[Row],
    small: NDArray[np.bool_],
    starts: NDArray[np.intp],
    sizes: NDArray[np.intp],
    column_list: list[int],
    value_list: list[float],
) -> NDArray[np.bool_]:
    """`_repeats` by a set of the small rows' (sorted entries, lo, hi) tuples, in order."""
    repeat = np.zeros(small.size, dtype=bool)
    seen: set[tuple[tuple[tuple[int, float], ...], float, float]] = set()
    for r in np.flatnonzero(small).tolist():
        start = int(starts[r])
        end = start + int(sizes[r])
        items = tuple(zip(column_list[start:end], value_list[start:end], strict=True))
        key_of = (tuple(sorted(items)), rows[r].lo, rows[r].hi)
        if key_of in seen:
            repeat[r] = True
        else:
            seen.add(key_of)
    return repeat


def _near(objective: float, other: float, program: Program, maximize: bool) -> bool:
    """Whether `other` lies beyond `objective` (in the optimisation's direction) by no more
    than `_NODE_ROUND_OFF`, relative or in the solvers' scaled units."""
    beyond = proven_gap(objective, other, maximize)
    return (
        beyond <= _NODE_ROUND_OFF
        or abs(other - objective) * objective_scale(program) <= _NODE_ROUND_OFF
    )


def _incumbent_settled(program: Program, found: RawSolution, seconds: float) -> bool:
    """Whether `found` (the search's "optimal" point of `program`) is, to round-off, the
    optimum of its own integer choices: the continuous QP with every integer fixed there.

    The search closes a node whose relaxation is integral as solved, at that point; when
    HiGHS's QP solver fails on that node (a solve error, then the point of its ridged
    retry) the point is feasible but need not be the node's optimum, and the search's
    "optimal" is then wrong: seen on whole-share twins of the sample with `--min-trade`
    (1.37507 "proven" where SCIP finds 1.37669 on the same program). Checked by solving
    that QP afresh over the names the answer holds or trades: HiGHS's Lagrangian bound
    (valid for any point and duals) must meet the answer; where HiGHS fails on it too (a
    trade with a positive lower bound, seen with a minimum trade, trips its QP solver),
    SCIP solves the same small QP and must find nothing better."""
    from tradefolio.portfolio.branch_and_bound import Relaxation
    from tradefolio.portfolio.node_qp import NodeState

    # An integer at 0 and what its link rows (a v - c z <= 0, v >= 0) then hold at 0 are
    # left out (at 500 names ~40 names stay); any row left empty is dropped, which only
    # loosens the QP (its bound stays valid).
    integer = np.array(program.integer, dtype=bool)
    rounded = np.where(integer, np.round(found.values), found.values)
    zero = integer & (rounded == 0.0)
    for row in program.rows:
        if len(row.coefficients) != 2 or row.lo != -INF or row.hi != 0.0:
            continue
        (first, a), (second, b) = row.coefficients.items()
        for v, c, z, d in ((first, a, second, b), (second, b, first, a)):
            if c > 0 > d and zero[z] and not integer[v] and program.lower[v] >= 0.0:
                zero[v] = True
    used = _reduced(program, np.arange(program.size, dtype=np.intp), zero)
    qp = used.program
    if qp.size == 0:  # nothing held or traded: the objective is its constant
        return _near(found.objective, program.constant, program, program.maximize)
    relaxation = Relaxation(qp, objective_scale(qp))
    if relaxation.kept.size == 0:  # only definitions of nothing left: one point, no QP
        value = qp.objective_value(relaxation.complete(np.zeros(qp.size)))
        return _near(found.objective, value, program, program.maximize)
    fixed = used.restrict(rounded)
    # Started at the answer itself (feasible there): the bound below holds for any point
    # and duals the solve ends with, and a cold start cost ~8 ms of a ~30 ms rebalance.
    start = None
    if relaxation.nodes is not None:
        point = used.restrict(found.values)[relaxation.kept]
        start = NodeState(point, np.zeros(len(point), dtype=np.int8), ())
    try:
        solved = relaxation.solve(
            fixed[relaxation.integers], fixed[relaxation.integers], seconds, start=start
        )
    except (SolverError, TimeoutError):
        solved = None
    if solved is not None:
        bound = relaxation.program_value(relaxation.bound)
        if _near(found.objective, bound, program, program.maximize):
            return True
    continuous = replace(
        qp,
        lower=[fixed[k] if qp.integer[k] else lo for k, lo in enumerate(qp.lower)],
        upper=[fixed[k] if qp.integer[k] else hi for k, hi in enumerate(qp.upper)],
        integer=[False] * qp.size,
    )
    try:
        scip = solve_program(continuous, "scip", seconds)
    except (SolverError, InfeasibleAllocation, SolverUnavailable):
        return False
    return _near(found.objective, scip.objective, program, program.maximize)


def solve_rebalance(
    ctx: ModelContext,
    time_limit: float,
    hint: NDArray[np.float64] | None = None,
    gap: float = BRANCH_AND_BOUND_GAP,
) -> RawSolution:
    """Solve `ctx`'s program (`suits_rebalance_solver`) by the aggregated branch and bound,
    proven to `gap` (relative; a whole-share program's fractional twin needs no more than
    a tenth of the whole-share claim's target: `TWIN_GAP`).

    `hint` (a start over the original program's variables, as `PortfolioModel._start`
    builds it: weights and selections, flags 0 = no trade) is the first incumbent. Raises
    what `solve_program` raises; a failed search or an answer of HiGHS that breaks the
    model is re-solved by SCIP (its result is returned as SCIP's)."""
    program = ctx.program
    # the original program's coefficients as arrays, once: read by the aggregation and by
    # the check of the answer
    arrays = program.coefficient_arrays()
    aggregation = _aggregation(ctx, arrays, program.row_bounds())
    target = program if aggregation is None else aggregation.program
    start = hint
    if hint is not None and aggregation is not None:
        start = aggregation.restrict(hint)
    started = time.monotonic()

    def left() -> float:
        # what the search left of `time_limit`, and at least SCIP's least useful time
        return max(time_limit - (time.monotonic() - started), LEAST_SCIP_SECONDS)

    try:
        found = solve_by_branch_and_bound(target, time_limit, start, gap)
    except SolverError:
        return solve_program(program, "scip", left(), hint)
    values = found.values if aggregation is None else aggregation.expand(found.values)
    if program.violations(values, _CHECK, arrays):
        return solve_program(program, "scip", left(), hint)
    # The reduced objective at the reduced point is the original's at the expanded one;
    # re-evaluated here so that the claim rests on the original program, by the one claim
    # rule (`backends.claim`) against the search's bound, whatever the search said.
    objective = program.objective_value(values)
    status, proven = claim(program, objective, found.best_bound, gap)
    # The claim rests on the search's bounds; its incumbent must also be the optimum of its
    # own node (`_incumbent_settled`), else SCIP decides. The search's own bound of the
    # node that gave the incumbent (it holds the incumbent's choices) settles that when it
    # meets the answer: the same test on a bound at least as weak as the fixed QP's, so the
    # re-solve (~6 ms of a ~40 ms sample rebalance) is needed only when it does not.
    if (
        "optimal" in (found.status, status)
        and not _near(found.objective, found.incumbent_bound, target, target.maximize)
        and not _incumbent_settled(target, found, left())
    ):
        return solve_program(program, "scip", left(), hint)
    return RawSolution(values, status, objective, found.best_bound, "highs", proven)


__all__ = ["LEAST_SCIP_SECONDS", "Aggregation", "solve_rebalance", "suits_rebalance_solver"]
