"""A whole-share program as a function of the target shares, evaluated fully or by the move.

The share repair (`share_repair.py`) searches whole lots: a target of shares per name
fixes every variable of the whole-share program. Per name i the program has up to eight
variables that depend on its target t_i alone (its *slots*: lots n_i, weight w_i, selection
x_i, bought b_i and sold s_i weight, the buy / sell flags and the odd-lot keep), and the
other variables (factor exposures, ...) are *derived*: fixed by equality rows as an affine
map of the slots, d = c + M k (k = all slots). `LotProgram.point` writes every variable
for a target, `violation` and `objective` evaluate a point over the whole program (the
search's reference), `broken` is the final check (`Program.violations`' test as arrays).

A move changes one or two names' targets, so only their slots change (by delta). With the
derived variables substituted, every row is an affine function of the slots,
a_r^T v = const_r + e_r^T k, and the objective is

    f(k) = c0' + l'^T k + k^T H k,     l' = P^T l + 2 P^T Q e,  H = P^T Q P,

with v = e + P k (P: identity on the slots, M on the derived variables, e their constants,
Q the symmetric quadratic form). `LotMoves` keeps, at the current target, the row
activities of the rows that span several names, each name's own rows' violation and the
gradient g = H k on the names that may move; a move's violation and objective are then
computed from its slots alone,

    f(k + delta) = f(k) + (l' + 2 g)^T delta + delta^T H delta,

vectorised over every option of every name (and every pair of names) at once. The rows
a single name spans are its *local* rows (links, trade definitions, flags, minimum
weights); rows over several names (cardinality, sector caps, turnover, budget, cash)
are *global*; rows left with no slot after the substitution (a factor's own definition)
are constant. Equal to the full evaluation up to round-off
(`tests/unit/portfolio/test_lot_program.py` checks it on random moves).

At the sample's sizes (5-6 movable names, 29 global rows) numpy's cost is per call, not
per element: what is a product of one slot kind (the weight, usually) is taken directly,
the repair's choices and options are made in Python floats (`share_repair.py`), and every
sum is the one main's code took, in the same order (`np.bincount` for `np.add.at`), so the
floats, and the answer chosen, are main's (`tests/unit/portfolio/test_repair_fast_path.py`
against `repair_reference.py`).
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import Program

# A row or bound may miss by this (weight units) during the search; the final check is
# `LotProgram.broken` at 1e-6 (`share_repair.py`).
SEARCH_TOLERANCE = 1e-9
# The slots of a name, in this order (a slot is absent when the program has no such
# variable, e.g. no trade flags without a fixed cost or a minimum trade).
_LOTS, _WEIGHT, _SELECTED, _BUY, _SELL, _BUY_FLAG, _SELL_FLAG, _KEEP = range(8)
_SLOTS = 8
# An effective coefficient this small against the terms it was summed from is round-off
# of a cancellation (a factor's definition row after its factor is substituted).
_CANCELLED = 1e-12
# Plans of program structures kept (`_affine`, `_substituted`: a run's programs share one).
_MOST_PLANS = 8
# Up to this many global rows every move evaluates all of them (`LotMoves._near`).
_FEW_GLOBAL_ROWS = 32
_UP_DOWN = np.array([1.0, -1.0])
_LO, _HI = operator.attrgetter("lo"), operator.attrgetter("hi")
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
_NO_COLUMNS = np.zeros(0, dtype=np.intp)
_NO_REACH = np.zeros(0)  # (`MoveTable.reach` when every global row is read)
_NO_REACH.flags.writeable = False
# `LotProgram.name_parts`: prices, holdings, lot sizes, odd lots, has an odd lot, initial
# weights of some names.
_NameParts = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.bool_],
    NDArray[np.float64],
]


# `ndarray.sum` and `ndarray.any` without their Python wrappers (the same reductions)
_sum = np.add.reduce
_any = np.logical_or.reduce


def _full(shape: int | tuple[int, ...], fill: float, dtype: Any = np.float64) -> NDArray[Any]:
    """`np.full` without its Python wrapper's cost (a few microseconds a call here)."""
    out = np.empty(shape, dtype=dtype)
    out.fill(fill)
    return out


def _nonzero(flags: NDArray[Any]) -> NDArray[np.intp]:
    """`np.flatnonzero` of a 1-d array."""
    found: NDArray[np.intp] = flags.nonzero()[0]
    return found


def _broken(
    activity: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> NDArray[np.float64]:
    """How far each activity lies outside [lo, hi] (lo <= hi), 0 when within
    SEARCH_TOLERANCE (and for a NaN activity)."""
    miss = np.maximum(lo - activity, activity - hi)  # at most one side is positive
    return np.where(miss > SEARCH_TOLERANCE, miss, 0.0)


@dataclass(frozen=True, slots=True)
class LotProgram:
    """The whole-share program's rows, bounds and objective as arrays over the names'
    slots and the derived variables (see the module docstring)."""

    program: Program
    ctx: ModelContext
    lot_sizes: NDArray[np.float64]
    columns: NDArray[np.int64]
    data: NDArray[np.float64]
    row_of: NDArray[np.int64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    integer: NDArray[np.bool_]
    linear: NDArray[np.float64]
    quad_i: NDArray[np.int64]
    quad_j: NDArray[np.int64]
    quad_c: NDArray[np.float64]
    derived: NDArray[np.int64]  # variables fixed by their definition rows
    derived_constant: NDArray[np.float64]  # their values = constant + map @ values
    derived_map: NDArray[np.float64]
    derived_columns: NDArray[np.int64]  # the map's non-zero columns (the map on them: compact)
    derived_compact: NDArray[np.float64]
    # per name: its price, holdings, odd lot, the variable of each slot (-1: absent)
    value: float
    prices: NDArray[np.float64]
    held: NDArray[np.float64]
    initial: NDArray[np.float64]
    odd: NDArray[np.float64]
    has_odd: NDArray[np.bool_]
    slot_index: NDArray[np.int64]
    # the substituted program (module docstring)
    slot_lower: NDArray[np.float64]  # (names, slots), -inf / inf where absent
    slot_upper: NDArray[np.float64]
    local_coefficients: NDArray[np.float64]  # (names, local rows, slots)
    local_constant: NDArray[np.float64]  # (names, local rows)
    local_lo: NDArray[np.float64]
    local_hi: NDArray[np.float64]
    global_constant: NDArray[np.float64]  # (global rows,)
    global_lo: NDArray[np.float64]
    global_hi: NDArray[np.float64]
    global_row: NDArray[np.int64]  # the global rows' slot entries: row, name, slot, value
    global_name: NDArray[np.int64]
    global_slot: NDArray[np.int64]
    global_value: NDArray[np.float64]
    constant_violation: float  # of the rows without a slot
    slot_linear: NDArray[np.float64]  # l' per (name, slot)
    objective_constant: float  # c0'
    quadratic_slots: NDArray[np.int64]  # the slot kinds H touches (usually the weight)
    # `point`'s answers by target (the search's answer is written out again by the repair)
    points: dict[bytes, NDArray[np.float64]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def slot_values(
        self, names: NDArray[np.intp], targets: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The slots of names `names` at `targets` shares: targets (n,) -> (n, 8), or
        (n, options) -> (n, options, 8). NaN targets give NaN slots."""
        expand = (slice(None),) + (None,) * (targets.ndim - 1)
        parts = self.name_parts(names, expand)
        return _slots(targets, *parts, self.value, bool(_any(self.has_odd[names])))

    def name_parts(self, names: NDArray[np.intp], expand: tuple[Any, ...]) -> _NameParts:
        """What the slots of names `names` are computed from (`_slots`'s per-name arguments:
        prices, holdings, lot sizes, odd lots, has an odd lot, initial weights), shaped by
        `expand` to broadcast against their targets."""
        return (
            self.prices[names][expand],
            self.held[names][expand],
            self.lot_sizes[names][expand],
            self.odd[names][expand],
            self.has_odd[names][expand],
            self.initial[names][expand],
        )

    def point(self, target: NDArray[np.float64]) -> NDArray[np.float64]:
        """Every variable's value for target shares `target` (universe order)."""
        shares = np.asarray(target, dtype=np.float64)
        key = shares.tobytes()
        values = self.points.get(key)
        if values is None:
            values = self.point_and_slots(shares)[0]
            if len(self.points) < 64:
                self.points[key] = values
        return values.copy()

    def point_and_slots(
        self, target: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """`point(target)` and the names' slots there (names, 8)."""
        values = np.zeros(self.program.size)
        # every name's slots (`slot_values` over all names, the arrays as they are)
        slots = _slots(
            np.asarray(target, dtype=np.float64),
            self.prices,
            self.held,
            self.lot_sizes,
            self.odd,
            self.has_odd,
            self.initial,
            self.value,
            bool(_any(self.has_odd)),
        )
        present = self.slot_index >= 0
        values[self.slot_index[present]] = slots[present]
        if self.derived.size:
            values[self.derived] = (
                self.derived_constant + self.derived_compact @ values[self.derived_columns]
            )
        return values, slots

    def violation(self, values: NDArray[np.float64]) -> float:
        """Total amount by which rows and bounds are broken (0 when all hold to
        SEARCH_TOLERANCE)."""
        activity = np.bincount(
            self.row_of, weights=self.data * values[self.columns], minlength=self.lo.size
        ).astype(np.float64, copy=False)  # (bincount's sums are float64 already)
        rows = _broken(activity, self.lo, self.hi)
        bounds = _broken(values, self.lower, self.upper)
        return float(_sum(rows) + _sum(bounds))

    def broken(self, values: NDArray[np.float64], tolerance: float) -> bool:
        """Whether a bound, an integrality or a row is broken by more than `tolerance` at
        `values`: what `Program.violations` checks, over the same rows as arrays."""
        outside = (values < self.lower - tolerance) | (values > self.upper + tolerance)
        fractional = self.integer & (np.abs(values - np.rint(values)) > tolerance)
        activity = np.bincount(
            self.row_of, weights=self.data * values[self.columns], minlength=self.lo.size
        )
        rows = (activity < self.lo - tolerance) | (activity > self.hi + tolerance)
        return bool(_any(outside) or _any(fractional) or _any(rows))

    def objective(self, values: NDArray[np.float64]) -> float:
        """The program's objective (tie-break included)."""
        quadratic = float(self.quad_c @ (values[self.quad_i] * values[self.quad_j]))
        return float(self.program.constant + self.linear @ values + quadratic)

    def state(self, target: NDArray[np.float64], movable: NDArray[np.intp]) -> LotMoves:
        """The incremental state at `target`, where only the names `movable` may move."""
        return LotMoves(self, target, movable)


def _slots(
    t: NDArray[np.float64],
    prices: NDArray[np.float64],
    held: NDArray[np.float64],
    lot: NDArray[np.float64],
    odd: NDArray[np.float64],
    has_odd: NDArray[np.bool_],
    initial: NDArray[np.float64],
    value: float,
    any_odd: bool,
) -> NDArray[np.float64]:
    """The slots (..., 8) of target shares `t`, the per-name arrays broadcast against it.
    A name's trades are max(+-(w - w0), 0): exactly 0 when untraded (t = held gives w = w0,
    the same formula), so no flag is needed to zero them."""
    out = np.empty((*t.shape, _SLOTS))
    # each slot computed into its place (no temporary per slot: numpy's cost here is per pass;
    # `np.rint` is `np.round` to whole numbers without its Python wrapper)
    if any_odd:
        rest = (t - odd) / lot
        kept = has_odd & (t >= odd) & (np.abs(rest - np.rint(rest)) < 1e-9)
        np.rint((t - np.where(kept, odd, 0.0)) / lot, out=out[..., _LOTS])
        out[..., _KEEP] = kept
    else:
        np.rint(np.divide(t, lot, out=out[..., _LOTS]), out=out[..., _LOTS])
        out[..., _KEEP] = 0.0
    w = np.multiply(t, prices, out=out[..., _WEIGHT])
    w /= value
    np.greater(t, 0, out=out[..., _SELECTED])
    change = w - initial
    np.maximum(change, 0.0, out=out[..., _BUY])
    np.negative(change, out=change)
    np.maximum(change, 0.0, out=out[..., _SELL])
    np.greater(t, held, out=out[..., _BUY_FLAG])
    np.less(t, held, out=out[..., _SELL_FLAG])
    return out


#: `_affine`'s answer: the derived variables, their constants, their map rows and the
#: rows they were solved from.
_Affine = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]


@dataclass(frozen=True, slots=True)
class _AffinePlan:
    """`_affine`'s index work for a program whose derived variables one round of
    definitions solves (each from a row whose other entries are all known): the ready
    rows' pivots and entries, and where their weights go."""

    pivots: NDArray[np.intp]
    rows: NDArray[np.int64]
    place: NDArray[np.int64]  # each entry's ready row (its weights' row)
    columns: NDArray[np.int64]  # each entry's column
    entries: NDArray[np.intp]
    count: NDArray[np.intp]  # 0 .. ready rows - 1
    unknown: NDArray[np.int64]  # the variable each ready row defines
    variables: NDArray[np.int64]  # (the answer's, read-only)
    definitions: NDArray[np.int64]


# `_affine`'s plans by the structure they were derived from (emptied when full)
_AFFINE_PLANS: dict[tuple[Any, ...], _AffinePlan] = {}


def _affine(
    columns: NDArray[np.int64],
    data: NDArray[np.float64],
    row_of: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    known: NDArray[np.bool_],
) -> _Affine | None:
    """The variables not `known`, each as constant + map . v over the known ones, solved
    from the equality rows with one unknown (rows in order, chains substituted): (those
    variables, constants, map rows, the rows solved from, which hold by construction);
    None when a variable stays unknown. Rows are the flat (columns, data, row_of).

    A program of a structure seen before (the same entries, equality rows and known
    variables) that one round solved takes that round's indices from its plan
    (`_AffinePlan`) and computes its numbers as `_affine_in_full` does, bit for bit."""
    key = (
        known.size,
        lo.size,
        columns.tobytes(),
        row_of.tobytes(),
        (lo == hi).tobytes(),
        known.tobytes(),
    )
    plan = _AFFINE_PLANS.get(key)
    if plan is None:
        solved, plan = _affine_in_full(columns, data, row_of, lo, hi, known)
        if plan is not None:
            if len(_AFFINE_PLANS) >= _MOST_PLANS:
                _AFFINE_PLANS.clear()
            _AFFINE_PLANS[key] = plan
        return solved
    # `_affine_in_full`'s first round's numbers (no earlier definition to chain through)
    pivot = data[plan.pivots]
    weights = np.zeros((plan.rows.size, known.size))
    weights[plan.place, plan.columns] = data[plan.entries] / pivot[plan.place]
    weights[plan.count, plan.unknown] = 0.0
    constant = lo[plan.rows] / pivot
    linear = np.subtract(0.0, weights, out=weights)  # (+0.0 where a column is absent)
    return plan.variables, constant, linear, plan.definitions


def _affine_in_full(
    columns: NDArray[np.int64],
    data: NDArray[np.float64],
    row_of: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    known: NDArray[np.bool_],
) -> tuple[_Affine | None, _AffinePlan | None]:
    """`_affine` in full, and its index work as a plan for programs of the same
    structure when one round solved every variable (None otherwise).

    The variables not `known`, each as constant + map . v over the known ones, solved
    from the equality rows with one unknown (rows in order, chains substituted): (those
    variables, constants, map rows, the rows solved from, which hold by construction);
    None when a variable stays unknown. Rows are the flat (columns, data, row_of)."""
    size = known.size
    known = known.copy()
    is_defined = np.zeros(size, dtype=bool)
    variables: list[NDArray[np.int64]] = []
    constants: list[NDArray[np.float64]] = []
    maps: list[NDArray[np.float64]] = []
    definitions: list[NDArray[np.int64]] = []
    pending = _nonzero(lo == hi)
    while pending.size and not known.all():
        free_entry = ~known[columns]
        unknown = np.bincount(row_of, weights=free_entry, minlength=lo.size)[pending]
        ready = pending[unknown == 1]
        pending = pending[unknown > 1]
        if not ready.size:
            break
        is_ready = np.zeros(lo.size, dtype=bool)
        is_ready[ready] = True
        pivots = _nonzero(is_ready[row_of] & free_entry)  # one per ready row, in order
        unknown_of = columns[pivots]
        # a variable two ready rows define is defined by the first (rows in order)
        seen = np.zeros(size, dtype=bool)
        seen[unknown_of] = True
        if np.count_nonzero(seen) < unknown_of.size:  # (else each is defined once)
            _, first = np.unique(unknown_of, return_index=True)
            first.sort()
            pivots, unknown_of = pivots[first], unknown_of[first]
        rows = row_of[pivots]
        place = _full(lo.size, -1, dtype=np.int64)
        place[rows] = np.arange(rows.size)
        entries = _nonzero(place[row_of] >= 0)
        pivot = data[pivots]
        if not variables:  # (the first round's indices: a one-round program's plan)
            row_place = place[row_of[entries]]
            first_round = (pivots, rows, row_place, columns[entries], entries, unknown_of)
        weights = np.zeros((rows.size, size))  # a_rj / a_rk over the row's known columns j
        weights[place[row_of[entries]], columns[entries]] = (
            data[entries] / pivot[place[row_of[entries]]]
        )
        weights[np.arange(rows.size), unknown_of] = 0.0
        # x_k = lo_r / a_rk - sum_j weights_j v_j, an earlier definition substituted for v_j
        constant = lo[rows] / pivot
        # a chain only through an earlier round's definitions (none in the first round)
        chained = _nonzero(is_defined & weights.any(axis=0)) if variables else _NO_COLUMNS
        through = weights[:, chained]  # (a copy: the weights are negated in place next)
        linear = np.subtract(0.0, weights, out=weights)  # (+0.0 where a column is absent)
        if chained.size:
            earlier = np.concatenate(variables)
            at = np.searchsorted(earlier, chained, sorter=np.argsort(earlier))
            order = np.argsort(earlier)[at]
            earlier_constant = np.concatenate(constants)[order]
            earlier_map = np.vstack(maps)[order]
            linear[:, chained] = 0.0
            constant = constant - through @ earlier_constant
            linear = linear - through @ earlier_map
        variables.append(unknown_of)
        constants.append(constant)
        maps.append(linear)
        definitions.append(rows)
        known[unknown_of] = True
        is_defined[unknown_of] = True
    if not known.all():
        return None, None
    if not variables:
        nothing = np.zeros(0, np.int64), np.zeros(0), np.zeros((0, size)), np.zeros(0, np.int64)
        return nothing, None
    solved = (
        np.concatenate(variables).astype(np.int64),
        np.concatenate(constants),
        maps[0] if len(maps) == 1 else np.vstack(maps),
        np.concatenate(definitions).astype(np.int64),
    )
    if len(variables) > 1:
        return solved, None
    pivots, rows, row_place, entry_columns, entries, unknown_of = first_round
    plan = _AffinePlan(
        pivots=pivots,
        rows=rows,
        place=row_place,
        columns=entry_columns,
        entries=entries,
        count=np.arange(rows.size),
        unknown=unknown_of,
        variables=solved[0],
        definitions=solved[3],
    )
    for array in (plan.variables, plan.definitions):
        array.flags.writeable = False  # (the programs of this plan hold them as they are)
    return (solved[0], solved[1], solved[2], plan.definitions), plan


def lot_program(ctx: ModelContext, lot_sizes: NDArray[np.float64]) -> LotProgram | None:
    """The arrays of `ctx`'s whole-share program, or None if a variable outside the slots
    (lots, weights, selections, trades, flags, odd-lot keeps) is not fixed by an equality
    row over the others."""
    program = ctx.program
    if ctx.lots is None:
        return None
    n = ctx.size
    absent = [-1] * n
    kinds = (
        ctx.lots,
        ctx.weights,
        ctx.selected,
        ctx.buys,
        ctx.sells,
        ctx.buy_flags,
        ctx.sell_flags,
        None,  # the odd-lot keeps, below
    )
    slot_index = (
        np.fromiter(
            itertools.chain.from_iterable(absent if v is None else v for v in kinds),
            np.int64,
            _SLOTS * n,
        )
        .reshape(_SLOTS, n)
        .T.copy()
    )  # (names, slots) in `_LOTS` .. `_KEEP` order
    odd = np.zeros(n)
    has_odd = np.zeros(n, dtype=bool)
    for i, (keep, shares) in ctx.odd_lots.items():
        slot_index[i, _KEEP] = keep
        odd[i] = shares
        has_odd[i] = True
    size = program.size
    rows = program.rows
    columns, data, lengths = program.coefficient_arrays()
    row_of = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    lo = np.fromiter(map(_LO, rows), np.float64, len(rows))
    hi = np.fromiter(map(_HI, rows), np.float64, len(rows))
    lower = np.fromiter(program.lower, np.float64, len(program.lower))
    upper = np.fromiter(program.upper, np.float64, len(program.upper))
    linear = np.zeros(size)
    linear[np.fromiter(program.linear, np.int64, len(program.linear))] = np.fromiter(
        program.linear.values(), np.float64, len(program.linear)
    )  # (the keys are distinct)
    quadratic = program.quadratic
    quad_i = np.fromiter(map(_FIRST, quadratic), np.int64, len(quadratic))
    quad_j = np.fromiter(map(_SECOND, quadratic), np.int64, len(quadratic))
    quad_c = np.fromiter(quadratic.values(), np.float64, len(quadratic))
    known = np.zeros(size, dtype=bool)
    known[slot_index[slot_index >= 0]] = True
    solved = _affine(columns, data, row_of, lo, hi, known)
    if solved is None:
        return None
    derived, derived_constant, derived_map, definitions = solved
    # the map's non-zero columns and the map on them, once for every reader below
    reach = _nonzero((derived_map != 0.0).any(axis=0))
    compact = np.ascontiguousarray(derived_map[:, reach])
    universe = ctx.universe
    value = universe.value
    substituted = _substituted(
        slot_index, columns, data, row_of, lo, hi, lower, upper, derived, derived_constant,
        derived_map, definitions, reach, compact,
    )  # fmt: skip
    objective = _objective_in_slots(
        slot_index, linear, quad_i, quad_j, quad_c, program.constant, derived,
        derived_constant, reach, compact,
    )  # fmt: skip
    return LotProgram(
        program=program,
        ctx=ctx,
        lot_sizes=lot_sizes,
        columns=columns,
        data=data,
        row_of=row_of,
        lo=lo,
        hi=hi,
        lower=lower,
        upper=upper,
        integer=np.fromiter(program.integer, bool, len(program.integer)),
        linear=linear,
        quad_i=quad_i,
        quad_j=quad_j,
        quad_c=quad_c,
        derived=derived,
        derived_constant=derived_constant,
        derived_map=derived_map,
        derived_columns=reach,
        derived_compact=compact,
        value=value,
        prices=universe.prices,
        held=universe.held_shares,
        initial=universe.held_shares * universe.prices / value,
        odd=odd,
        has_odd=has_odd,
        slot_index=slot_index,
        **substituted,
        **objective,
    )


@dataclass(frozen=True, slots=True)
class _SubstitutionPlan:
    """What `_substituted` derives from a program's structure alone (its rows' entries,
    the slots, the derived variables, which of them are bounded and the map's entries
    there): the programs of one rebalance sample share it, and only their numbers are
    gathered anew (`_substituted`)."""

    defining: NDArray[np.bool_]  # the definition rows (freed: their bounds infinite)
    entries: NDArray[np.intp]  # the kept entries' places among the program's entries
    mine: NDArray[np.intp]  # the entries of local rows, and where they go
    coefficient_at: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]
    local_at: tuple[NDArray[np.int64], NDArray[np.int64]]
    local_rows: NDArray[np.intp]
    depth: int
    present: NDArray[np.bool_]
    present_variables: NDArray[np.int64]
    spread_rows: NDArray[np.intp]
    wide: NDArray[np.intp]  # the entries of global rows
    global_row: NDArray[np.int64]
    global_name: NDArray[np.int64]
    global_slot: NDArray[np.int64]
    empty_rows: NDArray[np.intp]

    def shared(self) -> tuple[NDArray[Any], ...]:
        """The arrays every program of this plan holds as they are."""
        return (self.global_row, self.global_name, self.global_slot)


# `_substituted`'s plans by the structure they were derived from (a few: a run's programs
# share one; emptied when full)
_PLANS: dict[tuple[Any, ...], _SubstitutionPlan] = {}


def _substituted(
    slot_index: NDArray[np.int64],
    columns: NDArray[np.int64],
    data: NDArray[np.float64],
    row_of: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    derived: NDArray[np.int64],
    derived_constant: NDArray[np.float64],
    derived_map: NDArray[np.float64],
    definitions: NDArray[np.int64],
    reach: NDArray[np.intp],
    compact: NDArray[np.float64],
) -> dict[str, Any]:
    """The rows and bounds over the slots alone (the derived variables substituted, their
    finite bounds as rows), split into constant, local and global rows (`reach`: the
    map's non-zero columns, `compact`: the map on them). The `definitions`
    (the rows the derived variables were solved from) hold by construction: left out.

    A program of a structure seen before (the same entries, slots, derived variables and
    definitions, the same derived variables bounded, the map's entries there in the same
    places) takes the index work from its plan (`_SubstitutionPlan`) and gathers its own
    numbers into the places `_substituted_in_full` puts them: the same arrays, bit for
    bit (`tests/unit/portfolio/test_w15_repair_plans.py`)."""
    lower_derived, upper_derived = lower[derived], upper[derived]
    bounded = _nonzero(np.isfinite(lower_derived) | np.isfinite(upper_derived))
    on_reach = compact[bounded]
    r, at = np.nonzero(on_reach)
    key = (
        lo.size,
        lower.size,
        slot_index.tobytes(),
        columns.tobytes(),
        row_of.tobytes(),
        derived.tobytes(),
        definitions.tobytes(),
        reach.tobytes(),
        bounded.tobytes(),
        r.tobytes(),
        at.tobytes(),
    )
    plan = _PLANS.get(key)
    if plan is None:
        substituted, plan = _substituted_in_full(
            slot_index, columns, data, row_of, lo, hi, lower, upper, derived,
            derived_constant, derived_map, definitions, reach, compact,
        )  # fmt: skip
        if plan is not None:
            if len(_PLANS) >= _MOST_PLANS:
                _PLANS.clear()
            _PLANS[key] = plan
        return substituted
    # `_substituted_in_full`'s numbers, with its indices (no row reads a derived variable
    # but its definition: the entries are the kept ones, the constants 0 but the bounds')
    defining = plan.defining
    lo, hi = np.where(defining, -np.inf, lo), np.where(defining, np.inf, hi)
    entry_val = data[plan.entries]
    constant = np.zeros(lo.size)
    if bounded.size:
        entry_val = np.concatenate([entry_val, on_reach[r, at]])
        constant = np.concatenate([constant, derived_constant[bounded]])
        lo = np.concatenate([lo, lower_derived[bounded]])
        hi = np.concatenate([hi, upper_derived[bounded]])
    n, depth = slot_index.shape[0], plan.depth
    coefficients = np.zeros((n, depth, _SLOTS))
    local_constant = np.zeros((n, depth))
    local_lo = _full((n, depth), -np.inf)
    local_hi = _full((n, depth), np.inf)
    coefficients[plan.coefficient_at] = entry_val[plan.mine]
    local_rows = plan.local_rows
    local_constant[plan.local_at] = constant[local_rows]
    local_lo[plan.local_at] = lo[local_rows]
    local_hi[plan.local_at] = hi[local_rows]
    slot_lower = _full((n, _SLOTS), -np.inf)
    slot_upper = _full((n, _SLOTS), np.inf)
    slot_lower[plan.present] = lower[plan.present_variables]
    slot_upper[plan.present] = upper[plan.present_variables]
    spread_rows, empty_rows = plan.spread_rows, plan.empty_rows
    return {
        "slot_lower": slot_lower,
        "slot_upper": slot_upper,
        "local_coefficients": coefficients,
        "local_constant": local_constant,
        "local_lo": local_lo,
        "local_hi": local_hi,
        "global_constant": constant[spread_rows],
        "global_lo": lo[spread_rows],
        "global_hi": hi[spread_rows],
        "global_row": plan.global_row,
        "global_name": plan.global_name,
        "global_slot": plan.global_slot,
        "global_value": entry_val[plan.wide],
        "constant_violation": float(
            _broken(constant[empty_rows], lo[empty_rows], hi[empty_rows]).sum()
        ),
    }


def _substituted_in_full(
    slot_index: NDArray[np.int64],
    columns: NDArray[np.int64],
    data: NDArray[np.float64],
    row_of: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    derived: NDArray[np.int64],
    derived_constant: NDArray[np.float64],
    derived_map: NDArray[np.float64],
    definitions: NDArray[np.int64],
    reach: NDArray[np.intp],
    compact: NDArray[np.float64],
) -> tuple[dict[str, Any], _SubstitutionPlan | None]:
    """`_substituted` computed in full, and the index work it did as a plan for the
    programs of the same structure (None when a row other than its definition reads a
    derived variable: which entries cancel then depends on the values).

    The rows and bounds over the slots alone (the derived variables substituted, their
    finite bounds as rows), split into constant, local and global rows (`reach`: the
    map's non-zero columns, `compact`: the map on them). The `definitions`
    (the rows the derived variables were solved from) hold by construction: left out."""
    n = slot_index.shape[0]
    defining = np.zeros(lo.size, dtype=bool)
    defining[definitions] = True
    kept = ~defining[row_of]
    kept_entries = _nonzero(kept)
    columns, data, row_of = columns[kept], data[kept], row_of[kept]
    lo, hi = np.where(defining, -np.inf, lo), np.where(defining, np.inf, hi)
    size = lower.size
    owner = _full(size, -1, dtype=np.int64)
    kind = _full(size, -1, dtype=np.int64)
    present = slot_index >= 0
    present_variables = slot_index[present]
    present_names, present_kinds = np.nonzero(present)
    owner[present_variables] = present_names
    kind[present_variables] = present_kinds
    is_derived = np.zeros(size, dtype=bool)
    is_derived[derived] = True
    position = _full(size, -1, dtype=np.int64)
    position[derived] = np.arange(derived.size)
    rows = lo.size
    direct = ~is_derived[columns]
    entry_row, entry_col, entry_val = row_of[direct], columns[direct], data[direct]
    constant = np.zeros(rows)
    through_rows = bool((~direct).any())
    if through_rows:
        through = np.unique(row_of[~direct])
        at = np.searchsorted(through, row_of[~direct])
        maps = derived_map[position[columns[~direct]]]
        effective = np.zeros((through.size, size))
        magnitude = np.zeros((through.size, size))
        np.add.at(effective, at, data[~direct][:, None] * maps)
        np.add.at(magnitude, at, np.abs(data[~direct])[:, None] * np.abs(maps))
        own = np.isin(entry_row, through)
        own_at = np.searchsorted(through, entry_row[own])
        np.add.at(effective, (own_at, entry_col[own]), entry_val[own])
        np.add.at(magnitude, (own_at, entry_col[own]), np.abs(entry_val[own]))
        effective[np.abs(effective) <= _CANCELLED * magnitude] = 0.0
        np.add.at(
            constant, row_of[~direct], data[~direct] * derived_constant[position[columns[~direct]]]
        )
        r, c = np.nonzero(effective)
        entry_row = np.concatenate([entry_row[~own], through[r]])
        entry_col = np.concatenate([entry_col[~own], c])
        entry_val = np.concatenate([entry_val[~own], effective[r, c]])
    # finite bounds of derived variables: rows constant + M_d k in [lower_d, upper_d]
    lower_derived, upper_derived = lower[derived], upper[derived]
    bounded = _nonzero(np.isfinite(lower_derived) | np.isfinite(upper_derived))
    if bounded.size:
        # the map's rows on its non-zero columns: the same entries in the same order
        on_reach = compact[bounded]
        r, at = np.nonzero(on_reach)
        entry_row = np.concatenate([entry_row, rows + r])
        entry_col = np.concatenate([entry_col, reach[at]])
        entry_val = np.concatenate([entry_val, on_reach[r, at]])
        constant = np.concatenate([constant, derived_constant[bounded]])
        lo = np.concatenate([lo, lower_derived[bounded]])
        hi = np.concatenate([hi, upper_derived[bounded]])
        rows += bounded.size
    entry_name, entry_slot = owner[entry_col], kind[entry_col]
    first = _full(rows, n, dtype=np.int64)
    last = _full(rows, -1, dtype=np.int64)
    np.minimum.at(first, entry_row, entry_name)
    np.maximum.at(last, entry_row, entry_name)
    empty = last < 0
    local = ~empty & (first == last)
    spread = ~empty & (first != last)
    # local rows: padded per name, (names, rows of the busiest name, slots)
    local_rows = _nonzero(local)
    local_owner = first[local_rows]
    order = np.argsort(local_owner, kind="stable")
    local_rows, local_owner = local_rows[order], local_owner[order]
    starts = np.searchsorted(local_owner, np.arange(n))
    rank = np.arange(local_rows.size) - starts[local_owner]
    depth = int(rank.max()) + 1 if rank.size else 0
    local_rank = _full(rows, -1, dtype=np.int64)
    local_rank[local_rows] = rank
    coefficients = np.zeros((n, depth, _SLOTS))
    local_constant = np.zeros((n, depth))
    local_lo = _full((n, depth), -np.inf)
    local_hi = _full((n, depth), np.inf)
    mine = local[entry_row]
    coefficients[entry_name[mine], local_rank[entry_row[mine]], entry_slot[mine]] = entry_val[mine]
    local_constant[local_owner, rank] = constant[local_rows]
    local_lo[local_owner, rank] = lo[local_rows]
    local_hi[local_owner, rank] = hi[local_rows]
    spread_rows = _nonzero(spread)
    spread_at = _full(rows, -1, dtype=np.int64)
    spread_at[spread_rows] = np.arange(spread_rows.size)
    wide = spread[entry_row]
    slot_lower = _full((n, _SLOTS), -np.inf)
    slot_upper = _full((n, _SLOTS), np.inf)
    slot_lower[present] = lower[present_variables]
    slot_upper[present] = upper[present_variables]
    empty_rows = _nonzero(empty)
    substituted = {
        "slot_lower": slot_lower,
        "slot_upper": slot_upper,
        "local_coefficients": coefficients,
        "local_constant": local_constant,
        "local_lo": local_lo,
        "local_hi": local_hi,
        "global_constant": constant[spread_rows],
        "global_lo": lo[spread_rows],
        "global_hi": hi[spread_rows],
        "global_row": spread_at[entry_row[wide]],
        "global_name": entry_name[wide],
        "global_slot": entry_slot[wide],
        "global_value": entry_val[wide],
        "constant_violation": float(
            _broken(constant[empty_rows], lo[empty_rows], hi[empty_rows]).sum()
        ),
    }
    if through_rows:
        return substituted, None
    plan = _SubstitutionPlan(
        defining=defining,
        entries=kept_entries[direct],
        mine=_nonzero(mine),
        coefficient_at=(entry_name[mine], local_rank[entry_row[mine]], entry_slot[mine]),
        local_at=(local_owner, rank),
        local_rows=local_rows,
        depth=depth,
        present=present,
        present_variables=present_variables,
        spread_rows=spread_rows,
        wide=_nonzero(wide),
        global_row=substituted["global_row"],
        global_name=substituted["global_name"],
        global_slot=substituted["global_slot"],
        empty_rows=empty_rows,
    )
    for array in plan.shared():
        array.flags.writeable = False  # (each program reads them: none writes them)
    return substituted, plan


def _symmetric_product(
    quad_i: NDArray[np.int64],
    quad_j: NDArray[np.int64],
    quad_c: NDArray[np.float64],
    vector: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Q v for the symmetric Q of sum_p c_p v_i v_j (so v^T Q v is that sum)."""
    # (one pass over both halves in order: the sums `np.add.at` over each half in turn gave)
    half = 0.5 * quad_c
    out = np.bincount(
        np.concatenate([quad_i, quad_j]),
        weights=np.concatenate([half * vector[quad_j], half * vector[quad_i]]),
        minlength=vector.size,
    )
    return cast("NDArray[np.float64]", out)


def _objective_in_slots(
    slot_index: NDArray[np.int64],
    linear: NDArray[np.float64],
    quad_i: NDArray[np.int64],
    quad_j: NDArray[np.int64],
    quad_c: NDArray[np.float64],
    constant: float,
    derived: NDArray[np.int64],
    derived_constant: NDArray[np.float64],
    reach: NDArray[np.intp],
    compact: NDArray[np.float64],
) -> dict[str, Any]:
    """l' per slot, c0' and the slot kinds the quadratic part reaches (module docstring);
    `compact` is the derived map M on its non-zero columns `reach`."""
    size = linear.size
    shift = np.zeros(size)  # e: the derived variables' constants
    shift[derived] = derived_constant
    through = 2.0 * _symmetric_product(quad_i, quad_j, quad_c, shift) + linear
    # P^T y = y on the slots + M^T y_derived
    reduced = through.copy()
    reduced[reach] += compact.T @ through[derived]
    reduced[derived] = 0.0
    present = slot_index >= 0
    slot_linear = np.zeros(slot_index.shape)
    slot_linear[present] = reduced[slot_index[present]]
    objective_constant = float(constant + linear @ shift + quad_c @ (shift[quad_i] * shift[quad_j]))
    reached = np.zeros(size, dtype=bool)
    reached[quad_i] = True
    reached[quad_j] = True
    is_derived = np.zeros(size, dtype=bool)
    is_derived[derived] = True
    rows_reached = reached[derived]
    if _any(rows_reached):
        reached[reach] |= (compact[rows_reached] != 0.0).any(axis=0)
    reached[derived] = False
    touched = cast("NDArray[np.bool_]", (present & reached[np.maximum(slot_index, 0)]).any(axis=0))
    kinds = _nonzero(touched)
    return {
        "slot_linear": slot_linear,
        "objective_constant": objective_constant,
        "quadratic_slots": kinds.astype(np.int64),
    }


@dataclass(frozen=True, slots=True)
class _MovesPlan:
    """`LotMoves`' index work at one structure (`_moves_plan`): what its state reads where,
    for one set of movable names (the states of that set share it: none writes it). Only
    indices: a plan keeps no array of the names' squared size (64 plans are kept)."""

    position: NDArray[np.intp]  # each name's place among the movable ones, -1 if fixed
    bins: NDArray[np.int64]  # the global rows, then each global entry's row
    entry_slots: NDArray[np.int64]  # each global entry's place in the (names, slots) slots
    moving: NDArray[np.intp]  # the global entries of movable names
    by_name: tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]  # their places
    everyone: NDArray[np.intp]  # 0 .. movable - 1
    # `LotMoves._hessian`: the quadratic slots' variables (movable, kinds) flat
    shape: tuple[int, ...]
    present: NDArray[np.bool_]
    safe: NDArray[np.int64]  # (0 where absent)
    unit_places: tuple[NDArray[np.int64], NDArray[np.int64]]  # P's unit entries (row, column)
    in_map: NDArray[np.bool_]  # the columns the derived map reads
    map_column: NDArray[np.int64]  # the column's place among the map's columns (0 if none)
    left: NDArray[np.int64]  # each quadratic pair's variables' rows of P
    right: NDArray[np.int64]


# `_moves_plan`'s plans by structure and movable names (emptied when full)
_MOVES_PLANS: dict[tuple[Any, ...], _MovesPlan] = {}
_MOST_MOVES_PLANS = 64


def _moves_plan(lots: LotProgram, movable: NDArray[np.intp], size: int) -> _MovesPlan:
    """The index work of a `LotMoves` state of `lots` whose names `movable` may move
    (`size` names): built once per structure and set of names, as `LotMoves` did it."""
    key = (
        size,
        lots.program.size,
        lots.global_constant.size,
        movable.tobytes(),
        lots.slot_index.tobytes(),
        lots.quadratic_slots.tobytes(),
        lots.derived.tobytes(),
        lots.derived_columns.tobytes(),
        lots.quad_i.tobytes(),
        lots.quad_j.tobytes(),
        lots.global_row.tobytes(),
        lots.global_name.tobytes(),
        lots.global_slot.tobytes(),
    )
    plan = _MOVES_PLANS.get(key)
    if plan is not None:
        return plan
    active = _full(size, -1, dtype=np.intp)
    active[movable] = np.arange(movable.size)
    rows = lots.global_constant.size
    moving = active[lots.global_name] >= 0
    # `_hessian`'s indices
    kinds = lots.quadratic_slots
    variables = lots.slot_index.take(movable, 0)[:, kinds]  # (movable, kinds), -1 absent
    flat = variables.ravel()
    count = flat.size
    derived = lots.derived.size
    present = flat >= 0
    safe = np.where(present, flat, 0)
    source = _full(lots.program.size, derived, dtype=np.int64)  # not a column nor derived: 0
    source[lots.derived] = np.arange(derived)
    source[flat[present]] = derived + 1 + _nonzero(present)
    columns = np.arange(count)
    # each column's place among the derived map's columns (-1: no derived variable uses it)
    in_map = _full(lots.program.size, -1, dtype=np.int64)
    in_map[lots.derived_columns] = np.arange(lots.derived_columns.size)
    reached = np.where(present, in_map[safe], -1)
    plan = _MovesPlan(
        position=active,
        bins=np.concatenate([np.arange(rows), lots.global_row]),
        entry_slots=lots.global_name * _SLOTS + lots.global_slot,
        moving=_nonzero(moving),
        by_name=(
            active[lots.global_name[moving]],
            lots.global_slot[moving],
            lots.global_row[moving],
        ),
        everyone=np.arange(movable.size),
        shape=variables.shape,
        present=present,
        safe=safe,
        unit_places=(derived + 1 + columns, columns),
        in_map=reached >= 0,
        map_column=np.maximum(reached, 0),
        left=source[lots.quad_i],
        right=source[lots.quad_j],
    )
    for array in (plan.position, plan.everyone, *plan.by_name, *plan.unit_places):
        array.flags.writeable = False  # (states hold them: none writes them)
    if len(_MOVES_PLANS) >= _MOST_MOVES_PLANS:
        _MOVES_PLANS.clear()
    _MOVES_PLANS[key] = plan
    return plan


class LotMoves:
    """The search's state at a target: global row activities, each name's own violation,
    the objective and its gradient on the movable names' quadratic slots; the violation and
    objective of every one- and two-name move, vectorised (module docstring)."""

    def __init__(
        self, lots: LotProgram, target: NDArray[np.float64], movable: NDArray[np.intp]
    ) -> None:
        self.lots = lots
        self.movable = np.asarray(movable, dtype=np.intp)
        self.target = np.array(target, dtype=np.float64)
        values, slots = lots.point_and_slots(self.target)
        self.objective = lots.objective(values)
        # (`take`: the gather of `[movable]` without fancy indexing's cost on 2-d arrays)
        self.slots = slots.take(self.movable, 0)
        self._slots_by_option = self.slots[:, None, :]  # (a view: `move` writes the slots)
        # each name's own violation (`_own_violation` over every name, the arrays as they are)
        activity = lots.local_constant + (
            slots.reshape(slots.shape[0], -1, _SLOTS) @ lots.local_coefficients.transpose(0, 2, 1)
        ).reshape(slots.shape[0], -1)
        self.own = _sum(_broken(activity, lots.local_lo, lots.local_hi), axis=-1) + _sum(
            _broken(slots, lots.slot_lower, lots.slot_upper), axis=-1
        )
        plan = _moves_plan(lots, self.movable, self.target.size)
        self.position = plan.position
        rows = lots.global_constant.size
        # each row's constant, then its entries in order (the sums `np.add.at` gave onto it)
        entries = lots.global_value * slots.reshape(-1).take(plan.entry_slots)
        activity = cast(
            "NDArray[np.float64]",  # (a string: the alias is not built at every call)
            np.bincount(
                plan.bins,
                weights=np.concatenate([lots.global_constant, entries]),
                minlength=rows,
            ),
        )
        self.activity = activity
        self.global_by_name = np.zeros((self.movable.size, _SLOTS, activity.size))
        self.global_by_name[plan.by_name] = lots.global_value.take(plan.moving)
        self._hessian(values, plan)
        # what the moves of the movable names read, gathered once (the search's tables are
        # over all of them; numpy's cost is per call at a few names)
        m = self.movable
        self._parts = lots.name_parts(m, (slice(None), None))
        self._any_odd = bool(_any(lots.has_odd[m]))
        self._slot_linear = lots.slot_linear.take(m, 0)[:, :, None]  # (movable, slots, 1)
        self._local_constant = lots.local_constant.take(m, 0)[:, None, :]  # (movable, 1, rows)
        self._local_matrix = np.ascontiguousarray(
            lots.local_coefficients.take(m, 0).transpose(0, 2, 1)
        )
        self._local_lo = lots.local_lo.take(m, 0)[:, None, :]
        self._local_hi = lots.local_hi.take(m, 0)[:, None, :]
        self._slot_lower = lots.slot_lower.take(m, 0)[:, None, :]
        self._slot_upper = lots.slot_upper.take(m, 0)[:, None, :]
        # (the local rows' bounds, then the slots': what `table` checks its moves against)
        self._own_bounds = (
            np.concatenate((self._local_lo, self._slot_lower), axis=-1),
            np.concatenate((self._local_hi, self._slot_upper), axis=-1),
        )
        everyone = plan.everyone
        self._everyone = everyone
        self._few_rows = self.activity.size <= _FEW_GLOBAL_ROWS
        # one quadratic slot kind (the weight): H's blocks are numbers, a move's products
        # are taken directly (the same products the (1 x 1) matrix products gave)
        self._one_kind = self.kinds.size == 1
        self._kind = int(self.kinds[0]) if self._one_kind else -1
        if self._one_kind:
            self._diagonal = self.hessian.diagonal()[:, None, None]  # (movable, 1, 1)
            self._diagonal_of = self._diagonal[:, :, 0]
            # H's columns, each shaped as the gradient: (movable, movable, 1)
            self._column_of = self.hessian.T.reshape(m.size, *self.gradient.shape).copy()
        else:
            self._diagonal = self._blocks(everyone, everyone)  # (movable, kinds, kinds)
            self._diagonal_of = self._diagonal
        # the movable names' holdings, odd lots, lot sizes and current targets as floats
        # (`share_repair._options` reads them per name)
        self.held_of: list[float] = lots.held[m].tolist()
        self.odd_of: list[float] = lots.odd[m].tolist()
        self.lot_of: list[float] = lots.lot_sizes[m].tolist()
        self.current: list[float] = self.target[m].tolist()
        self._settle()

    def _own_violation(
        self, names: NDArray[np.intp], slots: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Each name's local rows and slot bounds broken, for slots (n, ..., 8)."""
        lots = self.lots
        expand = (slice(None),) + (None,) * (slots.ndim - 2)
        matrix = lots.local_coefficients[names].transpose(0, 2, 1)  # (n, slots, rows)
        activity = lots.local_constant[names][expand] + (
            slots.reshape(names.size, -1, _SLOTS) @ matrix
        ).reshape(*slots.shape[:-1], -1)
        rows = _broken(activity, lots.local_lo[names][expand], lots.local_hi[names][expand])
        bounds = _broken(slots, lots.slot_lower[names][expand], lots.slot_upper[names][expand])
        total: NDArray[np.float64] = rows.sum(axis=-1) + bounds.sum(axis=-1)
        return total

    def _hessian(self, values: NDArray[np.float64], plan: _MovesPlan) -> None:
        """H on the movable names' quadratic slots and g = H k there (`plan`: the index
        work, `_moves_plan`)."""
        lots = self.lots
        derived = lots.derived.size
        # P's rows on these columns, one per derived variable, a zero row, one per column
        # (a unit row at the plan's places); each quadratic pair's variables read theirs
        count = plan.present.size
        rows = np.zeros((derived + 1 + count, count))
        rows[plan.unit_places] = 1.0
        if derived:
            rows[:derived] = np.where(plan.in_map, lots.derived_compact[:, plan.map_column], 0.0)
        left, right = rows.take(plan.left, 0), rows.take(plan.right, 0)
        hessian = 0.5 * (left.T @ (lots.quad_c[:, None] * right))
        self.hessian = hessian + hessian.T  # (count, count)
        shift = np.zeros(lots.program.size)
        shift[lots.derived] = lots.derived_constant
        pulled = _symmetric_product(lots.quad_i, lots.quad_j, lots.quad_c, values - shift)
        reduced = pulled.copy()
        reduced[lots.derived_columns] += lots.derived_compact.T @ pulled[lots.derived]
        self.gradient = np.where(plan.present, reduced[plan.safe], 0.0).reshape(plan.shape)
        self.kinds = lots.quadratic_slots

    def _settle(
        self, changed: tuple[float, float] | None = None, spread: float | None = None
    ) -> None:
        """The totals after the state changed (`changed`: one name's own violation, before
        and after, when only it changed; `spread`: the global rows' part of the violation
        at the new activity when the caller has it, the sum this takes)."""
        lots = self.lots
        if changed is None:
            self.broken_names = int(np.count_nonzero(self.own))
        else:  # (the count `np.count_nonzero` gives)
            before, after = changed
            self.broken_names += int(after != 0.0) - int(before != 0.0)
        # (a sum of zeros is 0.0: the sum itself only when a name breaks its own rows)
        self.own_total = float(_sum(self.own)) if self.broken_names else 0.0
        if spread is None:
            spread = float(_sum(_broken(self.activity, lots.global_lo, lots.global_hi)))
        self.violation = lots.constant_violation + self.own_total + spread

    def _others(self, excluded: list[NDArray[np.intp]]) -> NDArray[np.float64]:
        """The other names' own violation, exactly 0 when only the excluded ones break."""
        own = self.own
        count = self.broken_names - sum((own[e] > 0).astype(np.int64) for e in excluded)
        rest = self.own_total - sum(own[e] for e in excluded)
        return np.where(count == 0, 0.0, rest)

    def table(self, targets: NDArray[np.float64]) -> MoveTable:
        """What moving each movable name n alone to `targets[n, o]` changes that does not
        depend on the other names (valid until that name itself moves). NaN targets: an
        infinite own violation and NaN changes."""
        slots = _slots(targets, *self._parts, self.lots.value, self._any_odd)
        delta = slots - self._slots_by_option
        if self._one_kind:  # the (1 x 1) products below, taken directly
            quadratic = delta[..., self._kind : self._kind + 1]  # (a view: the same numbers)
            alone = quadratic[..., 0]
            fixed = (delta @ self._slot_linear)[..., 0] + (alone * self._diagonal_of) * alone
        else:
            quadratic = delta[..., self.kinds]
            fixed = (delta @ self._slot_linear)[..., 0] + (
                (quadratic @ self._diagonal) * quadratic
            ).sum(axis=-1)
        spread = delta @ self.global_by_name  # (movable, options, global rows)
        activity = self._local_constant + slots @ self._local_matrix
        # the local rows and the slot bounds broken in one pass (`_own_bounds`), summed
        # apart: each sum is the one over its own rows, as two passes gave it
        broken = _broken(np.concatenate((activity, slots), axis=-1), *self._own_bounds)
        depth = activity.shape[-1]
        own = _sum(broken[..., :depth], axis=-1) + _sum(broken[..., depth:], axis=-1)
        own[np.isnan(targets)] = np.inf
        return MoveTable(
            at=self._everyone,
            names=self.movable,
            targets=targets,
            slots=slots,
            own=own,
            spread=spread,
            reach=_NO_REACH  # every global row is read (`_near`)
            if self._few_rows
            else np.fmax.reduce(np.abs(spread).reshape(-1, spread.shape[-1]), axis=0, initial=0.0),
            fixed=fixed,
            quadratic=quadratic,
        )

    def _blocks(self, a: NDArray[np.intp], b: NDArray[np.intp]) -> NDArray[np.float64]:
        """H's (kinds x kinds) blocks between movable positions a and b."""
        kinds = self.kinds.size
        rows = a[:, None] * kinds + np.arange(kinds)
        cols = b[:, None] * kinds + np.arange(kinds)
        blocks: NDArray[np.float64] = self.hessian[rows[:, :, None], cols[:, None, :]]
        return blocks

    def _near(self, reach: NDArray[np.float64]) -> NDArray[np.intp] | slice:
        """The global rows a change of at most `reach` in their activity may break (or that
        are broken): every other row stays met for every such move, so it adds 0 exactly.
        (All of them when there are few: choosing costs more than it saves.)"""
        activity, lots = self.activity, self.lots
        if activity.size <= _FEW_GLOBAL_ROWS:
            return slice(None)
        margin = SEARCH_TOLERANCE + 1e-12 * (1.0 + np.abs(activity) + reach)
        near: NDArray[np.intp] = _nonzero(
            (activity - reach <= lots.global_lo + margin)
            | (activity + reach >= lots.global_hi - margin)
        )
        return near

    def singles(
        self, table: MoveTable, rows: slice = slice(None)
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Violation and objective, at the current state, of each move of `table`'s `rows`
        (a name moved alone; NaN targets: inf violation, NaN objective)."""
        violation, objective, _ = self.singles_and_spread(table, rows)
        return violation, objective

    def singles_and_spread(
        self, table: MoveTable, rows: slice = slice(None), options: int | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
        """`singles` and, when every global row is read (`_few_rows`), each move's global
        rows' part of its violation: the very sum the state takes after that move (`move`'s
        `spread`: the same activity, rows in the same places); None otherwise. With
        `options`, only each row's first `options` moves are rated (the same numbers: each
        move's are its own, summed over its global rows alone; a pass's steps are read only
        by the two-name moves)."""
        lots = self.lots
        spread_part: NDArray[np.float64] | None = None
        head: NDArray[np.float64] | float
        if self.broken_names == 0:  # no name breaks its own rows: the others' part is 0
            head = lots.constant_violation + 0.0
        else:
            own = self.own[table.names[rows]]
            # the other names' own violation, exactly 0 when only this name breaks
            others = np.where(self.broken_names - (own > 0) == 0, 0.0, self.own_total - own)
            head = lots.constant_violation + others[:, None]
        columns = slice(None, options)
        if self._few_rows:
            moved = self.activity + table.spread[rows, columns]
            spread_broken = _sum(_broken(moved, lots.global_lo, lots.global_hi), axis=-1)
            spread_part = spread_broken
        else:
            near = self._near(table.reach)
            spread_broken = _broken(
                self.activity[near] + table.spread[rows, columns][..., near],
                lots.global_lo[near],
                lots.global_hi[near],
            ).sum(axis=-1)
        violation = head + table.own[rows, columns] + spread_broken
        if self._one_kind:  # (the table is everyone's: its rows are the gradient's)
            change = table.fixed[rows, columns] + 2.0 * (
                table.quadratic[rows, columns, 0] * self.gradient[rows]
            )
        else:
            gradient = self.gradient[rows][:, None, :]  # (n, 1, kinds)
            change = table.fixed[rows, columns] + 2.0 * (
                table.quadratic[rows, columns] * gradient
            ).sum(axis=-1)
        return violation, self.objective + change, spread_part

    def steps(self) -> MoveTable:
        """Every movable name one lot up (option 0) and one lot down (option 1)."""
        return self.table(self.step_targets())

    def step_targets(self) -> NDArray[np.float64]:
        """`steps()`' targets: each movable name's shares one lot up and one lot down."""
        names = self.movable
        lots = self.lots.lot_sizes[names][:, None]
        stepped: NDArray[np.float64] = self.target[names][:, None] + _UP_DOWN * lots
        return stepped

    def pairs(
        self,
        table: MoveTable,
        first: NDArray[np.intp],
        second: NDArray[np.intp],
        steps: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], NDArray[np.intp]]:
        """Violation and objective of moving positions first[p] and second[p] together by
        steps[p, 0] and steps[p, 1] lots (`table`'s last two options = `steps()` at the
        current state: `steps()` itself, or a pass's table of options then steps); and
        each's option in `table`."""
        violation, objective, up_a, up_b, _ = self.pairs_and_spread(table, first, second, steps)
        return violation, objective, up_a, up_b

    def pairs_and_spread(
        self,
        table: MoveTable,
        first: NDArray[np.intp],
        second: NDArray[np.intp],
        steps: NDArray[np.float64],
    ) -> tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.intp],
        NDArray[np.intp],
        NDArray[np.float64] | None,
    ]:
        """`pairs` and, when every global row is read and one slot kind is quadratic, each
        pair's global rows' part of its violation: the sum the state takes after both moves
        (the second `move`'s `spread`: activity + a's change + b's change, in that order);
        None otherwise."""
        lots = self.lots
        width = table.targets.shape[1]
        up_a = np.where(steps[:, 0] > 0, width - 2, width - 1)
        up_b = np.where(steps[:, 1] > 0, width - 2, width - 1)
        if not (self._few_rows and self._one_kind):
            return (*self._pairs(table, first, second, up_a, up_b), None)
        # the same sums as `_pairs`, on the moves' entries gathered by their flat index
        at_a, at_b = first * width + up_a, second * width + up_b
        head: NDArray[np.float64] | float
        if self.broken_names == 0:  # no name breaks its own rows: the others' part is 0
            head = lots.constant_violation + 0.0
        else:
            head = lots.constant_violation + self._others([table.names[first], table.names[second]])
        own = table.own.reshape(-1)
        spread = table.spread.reshape(-1, table.spread.shape[-1])
        moved = self.activity + spread.take(at_a, 0) + spread.take(at_b, 0)
        spread_part = np.add.reduce(_broken(moved, lots.global_lo, lots.global_hi), axis=-1)
        violation = head + own[at_a] + own[at_b] + spread_part
        quadratic = table.quadratic.reshape(-1)  # (one kind)
        fixed = table.fixed.reshape(-1)
        gradient = self.gradient[:, 0]
        qa, qb = quadratic[at_a], quadratic[at_b]
        alone_a = fixed[at_a] + 2.0 * (qa * gradient[first])
        alone_b = fixed[at_b] + 2.0 * (qb * gradient[second])
        cross = (qa * self.hessian[first, second]) * qb
        objective = self.objective + alone_a + alone_b + 2.0 * cross
        return violation, objective, up_a, up_b, spread_part

    def _pairs(
        self,
        table: MoveTable,
        first: NDArray[np.intp],
        second: NDArray[np.intp],
        up_a: NDArray[np.intp],
        up_b: NDArray[np.intp],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], NDArray[np.intp]]:
        """`pairs` over many global rows (those near their bounds) or quadratic slot kinds."""
        lots = self.lots
        near = slice(None) if self._few_rows else self._near(2.0 * table.reach)
        spread = table.spread[..., near]
        violation = (
            lots.constant_violation
            + self._others([table.names[first], table.names[second]])
            + table.own[first, up_a]
            + table.own[second, up_b]
            + _broken(
                self.activity[near] + spread[first, up_a] + spread[second, up_b],
                lots.global_lo[near],
                lots.global_hi[near],
            ).sum(axis=-1)
        )
        qa, qb = table.quadratic[first, up_a], table.quadratic[second, up_b]
        cross = ((qa[:, None, :] @ self._blocks(first, second))[:, 0, :] * qb).sum(axis=-1)
        alone = table.fixed + 2.0 * (table.quadratic * self.gradient[:, None, :]).sum(axis=-1)
        objective = self.objective + alone[first, up_a] + alone[second, up_b] + 2.0 * cross
        return violation, objective, up_a, up_b

    def move(self, table: MoveTable, row: int, option: int, spread: float | None = None) -> None:
        """Take move `option` of `table`'s row `row` (the state follows). `spread`: the
        global rows' part of the violation after it, when the caller rated the move at this
        state (`singles_and_spread`, `pairs_and_spread`): not summed again."""
        at, name = int(table.at[row]), int(table.names[row])
        if self._one_kind:  # the (1 x 1) products, taken directly
            step = float(table.quadratic[row, option, 0])
            self.objective += float(table.fixed[row, option]) + 2.0 * step * float(
                self.gradient[at, 0]
            )
            self.gradient += self._column_of[at] * step
        else:
            quadratic = table.quadratic[row, option]
            self.objective += float(table.fixed[row, option] + 2.0 * quadratic @ self.gradient[at])
            kinds = self.kinds.size
            column = self.hessian[:, at * kinds : (at + 1) * kinds] @ quadratic
            self.gradient += column.reshape(self.gradient.shape)
        self.activity = self.activity + table.spread[row, option]
        before, after = float(self.own[name]), float(table.own[row, option])
        self.own[name] = after
        self.slots[at] = table.slots[row, option]
        target = float(table.targets[row, option])
        self.target[name] = target
        self.current[at] = target
        self._settle((before, after), spread)


@dataclass(frozen=True, slots=True)
class MoveTable:
    """Moves of some movable names (`LotMoves.table`): their targets (n, options) and what
    each changes on its own: slots, own violation, global activity, the objective's part
    without the gradient (l'^T delta + delta^T H delta) and the quadratic slots' delta.
    (NaN targets: NaN moves.)"""

    at: NDArray[np.intp]
    names: NDArray[np.intp]
    targets: NDArray[np.float64]
    slots: NDArray[np.float64]
    own: NDArray[np.float64]
    spread: NDArray[np.float64]
    reach: NDArray[np.float64]  # per global row, the largest |activity change| of a move
    fixed: NDArray[np.float64]
    quadratic: NDArray[np.float64]

    def columns(self, options: slice) -> MoveTable:
        """The same moves restricted to `options` (views: valid as long as this table)."""
        return MoveTable(
            at=self.at,
            names=self.names,
            targets=self.targets[:, options],
            slots=self.slots[:, options],
            own=self.own[:, options],
            spread=self.spread[:, options],
            reach=self.reach,  # (of every option: the rows it keeps are a superset, as exact)
            fixed=self.fixed[:, options],
            quadratic=self.quadratic[:, options],
        )


__all__ = ["SEARCH_TOLERANCE", "LotMoves", "LotProgram", "MoveTable", "lot_program"]
