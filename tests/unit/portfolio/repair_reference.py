"""The share repair's search and its lot program (`share_repair.py`, `lot_program.py`) as
main had them before session 12's fast path (main at 05bc860), verbatim apart from being
one module and formatted: the oracle of `test_repair_fast_path.py` (the fast path must
give the same floats, so choose the same answer)."""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
# Up to this many global rows every move evaluates all of them (`LotMoves._near`).
_FEW_GLOBAL_ROWS = 32
_UP_DOWN = np.array([1.0, -1.0])
_NO_COLUMNS = np.zeros(0, dtype=np.intp)
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

    def slot_values(
        self, names: NDArray[np.intp], targets: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The slots of names `names` at `targets` shares: targets (n,) -> (n, 8), or
        (n, options) -> (n, options, 8). NaN targets give NaN slots."""
        expand = (slice(None),) + (None,) * (targets.ndim - 1)
        parts = self.name_parts(names, expand)
        return _slots(targets, *parts, self.value, bool(self.has_odd[names].any()))

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
        return self.point_and_slots(target)[0]

    def point_and_slots(
        self, target: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """`point(target)` and the names' slots there (names, 8)."""
        values = np.zeros(self.program.size)
        slots = self.slot_values(np.arange(target.size), np.asarray(target, dtype=np.float64))
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
        ).astype(np.float64)
        rows = _broken(activity, self.lo, self.hi)
        bounds = _broken(values, self.lower, self.upper)
        return float(rows.sum() + bounds.sum())

    def broken(self, values: NDArray[np.float64], tolerance: float) -> bool:
        """Whether a bound, an integrality or a row is broken by more than `tolerance` at
        `values`: what `Program.violations` checks, over the same rows as arrays."""
        outside = (values < self.lower - tolerance) | (values > self.upper + tolerance)
        fractional = self.integer & (np.abs(values - np.round(values)) > tolerance)
        activity = np.bincount(
            self.row_of, weights=self.data * values[self.columns], minlength=self.lo.size
        )
        rows = (activity < self.lo - tolerance) | (activity > self.hi + tolerance)
        return bool(outside.any() or fractional.any() or rows.any())

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
    # each slot computed into its place (no temporary per slot: numpy's cost here is per pass)
    if any_odd:
        rest = (t - odd) / lot
        kept = has_odd & (t >= odd) & (np.abs(rest - np.round(rest)) < 1e-9)
        np.round((t - np.where(kept, odd, 0.0)) / lot, out=out[..., _LOTS])
        out[..., _KEEP] = kept
    else:
        np.round(np.divide(t, lot, out=out[..., _LOTS]), out=out[..., _LOTS])
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


def _affine(
    columns: NDArray[np.int64],
    data: NDArray[np.float64],
    row_of: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    known: NDArray[np.bool_],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], list[int]] | None:
    """The variables not `known`, each as constant + map . v over the known ones, solved
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
    pending = np.flatnonzero(lo == hi)
    while pending.size and not known.all():
        free_entry = ~known[columns]
        unknown = np.bincount(row_of, weights=free_entry, minlength=lo.size)[pending]
        ready = pending[unknown == 1]
        pending = pending[unknown > 1]
        if not ready.size:
            break
        is_ready = np.zeros(lo.size, dtype=bool)
        is_ready[ready] = True
        pivots = np.flatnonzero(is_ready[row_of] & free_entry)  # one per ready row, in order
        unknown_of = columns[pivots]
        # a variable two ready rows define is defined by the first (rows in order)
        _, first = np.unique(unknown_of, return_index=True)
        first.sort()
        pivots, unknown_of = pivots[first], unknown_of[first]
        rows = row_of[pivots]
        place = np.full(lo.size, -1, dtype=np.int64)
        place[rows] = np.arange(rows.size)
        entries = np.flatnonzero(place[row_of] >= 0)
        pivot = data[pivots]
        weights = np.zeros((rows.size, size))  # a_rj / a_rk over the row's known columns j
        weights[place[row_of[entries]], columns[entries]] = (
            data[entries] / pivot[place[row_of[entries]]]
        )
        weights[np.arange(rows.size), unknown_of] = 0.0
        # x_k = lo_r / a_rk - sum_j weights_j v_j, an earlier definition substituted for v_j
        constant = lo[rows] / pivot
        # a chain only through an earlier round's definitions (none in the first round)
        chained = np.flatnonzero(is_defined & weights.any(axis=0)) if variables else _NO_COLUMNS
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
        return None
    if not variables:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros((0, size)), []
    return (
        np.concatenate(variables).astype(np.int64),
        np.concatenate(constants),
        maps[0] if len(maps) == 1 else np.vstack(maps),
        np.concatenate(definitions).astype(np.int64).tolist(),
    )


def lot_program(ctx: ModelContext, lot_sizes: NDArray[np.float64]) -> LotProgram | None:
    """The arrays of `ctx`'s whole-share program, or None if a variable outside the slots
    (lots, weights, selections, trades, flags, odd-lot keeps) is not fixed by an equality
    row over the others."""
    program = ctx.program
    if ctx.lots is None:
        return None
    n = ctx.size
    slot_index = np.full((n, _SLOTS), -1, dtype=np.int64)
    for slot, variables in (
        (_LOTS, ctx.lots),
        (_WEIGHT, ctx.weights),
        (_SELECTED, ctx.selected),
        (_BUY, ctx.buys),
        (_SELL, ctx.sells),
        (_BUY_FLAG, ctx.buy_flags),
        (_SELL_FLAG, ctx.sell_flags),
    ):
        if variables is not None:
            slot_index[:, slot] = variables
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
    lo = np.fromiter((r.lo for r in rows), np.float64, len(rows))
    hi = np.fromiter((r.hi for r in rows), np.float64, len(rows))
    lower = np.array(program.lower, dtype=np.float64)
    upper = np.array(program.upper, dtype=np.float64)
    linear = np.zeros(size)
    linear[np.fromiter(program.linear, np.int64, len(program.linear))] = np.fromiter(
        program.linear.values(), np.float64, len(program.linear)
    )  # (the keys are distinct)
    pairs = list(program.quadratic.items())
    quad_i = np.array([i for (i, _), _ in pairs], dtype=np.int64)
    quad_j = np.array([j for (_, j), _ in pairs], dtype=np.int64)
    quad_c = np.array([c for _, c in pairs], dtype=np.float64)
    known = np.zeros(size, dtype=bool)
    known[slot_index[slot_index >= 0]] = True
    solved = _affine(columns, data, row_of, lo, hi, known)
    if solved is None:
        return None
    derived, derived_constant, derived_map, definitions = solved
    # the map's non-zero columns and the map on them, once for every reader below
    reach = np.flatnonzero(np.any(derived_map != 0.0, axis=0))
    compact = np.ascontiguousarray(derived_map[:, reach])
    universe = ctx.universe
    value = universe.value
    substituted = _substituted(
        slot_index, columns, data, row_of, lo, hi, lower, upper, derived, derived_constant,
        derived_map, np.array(definitions, dtype=np.int64), reach, compact,
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
        integer=np.array(program.integer, dtype=bool),
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
    (the rows the derived variables were solved from) hold by construction: left out."""
    n = slot_index.shape[0]
    defining = np.zeros(lo.size, dtype=bool)
    defining[definitions] = True
    kept = ~defining[row_of]
    columns, data, row_of = columns[kept], data[kept], row_of[kept]
    lo, hi = np.where(defining, -np.inf, lo), np.where(defining, np.inf, hi)
    size = lower.size
    owner = np.full(size, -1, dtype=np.int64)
    kind = np.full(size, -1, dtype=np.int64)
    present = slot_index >= 0
    owner[slot_index[present]] = np.nonzero(present)[0]
    kind[slot_index[present]] = np.nonzero(present)[1]
    is_derived = np.zeros(size, dtype=bool)
    is_derived[derived] = True
    position = np.full(size, -1, dtype=np.int64)
    position[derived] = np.arange(derived.size)
    rows = lo.size
    direct = ~is_derived[columns]
    entry_row, entry_col, entry_val = row_of[direct], columns[direct], data[direct]
    constant = np.zeros(rows)
    if (~direct).any():
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
    bounded = np.flatnonzero(np.isfinite(lower[derived]) | np.isfinite(upper[derived]))
    if bounded.size:
        # the map's rows on its non-zero columns: the same entries in the same order
        on_reach = compact[bounded]
        r, at = np.nonzero(on_reach)
        entry_row = np.concatenate([entry_row, rows + r])
        entry_col = np.concatenate([entry_col, reach[at]])
        entry_val = np.concatenate([entry_val, on_reach[r, at]])
        constant = np.concatenate([constant, derived_constant[bounded]])
        lo = np.concatenate([lo, lower[derived][bounded]])
        hi = np.concatenate([hi, upper[derived][bounded]])
        rows += bounded.size
    entry_name, entry_slot = owner[entry_col], kind[entry_col]
    first = np.full(rows, n, dtype=np.int64)
    last = np.full(rows, -1, dtype=np.int64)
    np.minimum.at(first, entry_row, entry_name)
    np.maximum.at(last, entry_row, entry_name)
    empty = last < 0
    local = ~empty & (first == last)
    spread = ~empty & (first != last)
    # local rows: padded per name, (names, rows of the busiest name, slots)
    local_rows = np.flatnonzero(local)
    local_owner = first[local_rows]
    order = np.argsort(local_owner, kind="stable")
    local_rows, local_owner = local_rows[order], local_owner[order]
    starts = np.searchsorted(local_owner, np.arange(n))
    rank = np.arange(local_rows.size) - starts[local_owner]
    depth = int(rank.max()) + 1 if rank.size else 0
    local_rank = np.full(rows, -1, dtype=np.int64)
    local_rank[local_rows] = rank
    coefficients = np.zeros((n, depth, _SLOTS))
    local_constant = np.zeros((n, depth))
    local_lo = np.full((n, depth), -np.inf)
    local_hi = np.full((n, depth), np.inf)
    mine = local[entry_row]
    coefficients[entry_name[mine], local_rank[entry_row[mine]], entry_slot[mine]] = entry_val[mine]
    local_constant[local_owner, rank] = constant[local_rows]
    local_lo[local_owner, rank] = lo[local_rows]
    local_hi[local_owner, rank] = hi[local_rows]
    spread_rows = np.flatnonzero(spread)
    spread_at = np.full(rows, -1, dtype=np.int64)
    spread_at[spread_rows] = np.arange(spread_rows.size)
    wide = spread[entry_row]
    slot_lower = np.full((n, _SLOTS), -np.inf)
    slot_upper = np.full((n, _SLOTS), np.inf)
    slot_lower[present] = lower[slot_index[present]]
    slot_upper[present] = upper[slot_index[present]]
    empty_rows = np.flatnonzero(empty)
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
        "global_row": spread_at[entry_row[wide]],
        "global_name": entry_name[wide],
        "global_slot": entry_slot[wide],
        "global_value": entry_val[wide],
        "constant_violation": float(
            _broken(constant[empty_rows], lo[empty_rows], hi[empty_rows]).sum()
        ),
    }


def _symmetric_product(
    quad_i: NDArray[np.int64],
    quad_j: NDArray[np.int64],
    quad_c: NDArray[np.float64],
    vector: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Q v for the symmetric Q of sum_p c_p v_i v_j (so v^T Q v is that sum)."""
    out = np.zeros(vector.size)
    np.add.at(out, quad_i, 0.5 * quad_c * vector[quad_j])
    np.add.at(out, quad_j, 0.5 * quad_c * vector[quad_i])
    return out


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
    touched = np.unique(np.concatenate([quad_i, quad_j]))
    reached[touched] = True
    is_derived = np.zeros(size, dtype=bool)
    is_derived[derived] = True
    rows_reached = reached[derived]
    if rows_reached.any():
        reached[reach] |= np.any(compact[rows_reached] != 0.0, axis=0)
    reached[derived] = False
    kinds = np.unique(np.nonzero(present & reached[np.maximum(slot_index, 0)])[1])
    return {
        "slot_linear": slot_linear,
        "objective_constant": objective_constant,
        "quadratic_slots": kinds.astype(np.int64),
    }


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
        names = np.arange(self.target.size)
        values, slots = lots.point_and_slots(self.target)
        self.objective = lots.objective(values)
        self.slots = slots[self.movable]
        self.own = self._own_violation(names, slots)  # (names,)
        active = np.full(self.target.size, -1, dtype=np.intp)
        active[self.movable] = np.arange(self.movable.size)
        self.position = active
        activity = lots.global_constant.copy()
        np.add.at(
            activity,
            lots.global_row,
            lots.global_value * slots[lots.global_name, lots.global_slot],
        )
        self.activity = activity
        moving = active[lots.global_name] >= 0
        self.global_by_name = np.zeros((self.movable.size, _SLOTS, activity.size))
        self.global_by_name[
            active[lots.global_name[moving]],
            lots.global_slot[moving],
            lots.global_row[moving],
        ] = lots.global_value[moving]
        self._hessian(values)
        # what the moves of the movable names read, gathered once (the search's tables are
        # over all of them; numpy's cost is per call at a few names)
        m = self.movable
        self._parts = lots.name_parts(m, (slice(None), None))
        self._any_odd = bool(lots.has_odd[m].any())
        self._slot_linear = lots.slot_linear[m][:, :, None]  # (movable, slots, 1)
        self._local_constant = lots.local_constant[m][:, None, :]  # (movable, 1, rows)
        self._local_matrix = np.ascontiguousarray(lots.local_coefficients[m].transpose(0, 2, 1))
        self._local_lo = lots.local_lo[m][:, None, :]
        self._local_hi = lots.local_hi[m][:, None, :]
        self._slot_lower = lots.slot_lower[m][:, None, :]
        self._slot_upper = lots.slot_upper[m][:, None, :]
        everyone = np.arange(m.size)
        self._diagonal = self._blocks(everyone, everyone)  # (movable, kinds, kinds)
        self._everyone = everyone
        self._few_rows = self.activity.size <= _FEW_GLOBAL_ROWS
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

    def _hessian(self, values: NDArray[np.float64]) -> None:
        """H on the movable names' quadratic slots and g = H k there."""
        lots = self.lots
        kinds = lots.quadratic_slots
        variables = lots.slot_index[self.movable][:, kinds]  # (movable, kinds), -1 absent
        flat = variables.ravel()
        count = flat.size
        size = lots.program.size
        derived = lots.derived.size
        # P's rows on these columns, one per derived variable, a zero row, one per column
        # (a unit row); each quadratic pair's variables read theirs
        present = flat >= 0
        safe = np.where(present, flat, 0)
        source = np.full(size, derived, dtype=np.int64)  # not a column nor derived: zero row
        source[lots.derived] = np.arange(derived)
        source[flat[present]] = derived + 1 + np.flatnonzero(present)
        rows = np.zeros((derived + 1 + count, count))
        if derived:
            # each column's place among the derived map's columns (-1: no derived variable uses it)
            in_map = np.full(size, -1, dtype=np.int64)
            in_map[lots.derived_columns] = np.arange(lots.derived_columns.size)
            reached = np.where(present, in_map[safe], -1)
            rows[:derived] = np.where(
                reached >= 0, lots.derived_compact[:, np.maximum(reached, 0)], 0.0
            )
        rows[derived + 1 + np.arange(count), np.arange(count)] = 1.0
        left, right = rows[source[lots.quad_i]], rows[source[lots.quad_j]]
        hessian = 0.5 * (left.T @ (lots.quad_c[:, None] * right))
        self.hessian = hessian + hessian.T  # (count, count)
        shift = np.zeros(size)
        shift[lots.derived] = lots.derived_constant
        pulled = _symmetric_product(lots.quad_i, lots.quad_j, lots.quad_c, values - shift)
        reduced = pulled.copy()
        reduced[lots.derived_columns] += lots.derived_compact.T @ pulled[lots.derived]
        self.gradient = np.where(flat >= 0, reduced[safe], 0.0).reshape(variables.shape)
        self.kinds = kinds

    def _settle(self) -> None:
        """The totals after the state changed."""
        self.broken_names = int(np.count_nonzero(self.own))
        self.own_total = float(self.own.sum())
        self.global_broken = _broken(self.activity, self.lots.global_lo, self.lots.global_hi)
        total = self.lots.constant_violation + self.own_total + float(self.global_broken.sum())
        self.violation = total

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
        delta = slots - self.slots[:, None, :]
        quadratic = delta[..., self.kinds]
        fixed = (delta @ self._slot_linear)[..., 0] + (
            (quadratic @ self._diagonal) * quadratic
        ).sum(axis=-1)
        spread = delta @ self.global_by_name  # (movable, options, global rows)
        activity = self._local_constant + slots @ self._local_matrix
        own = _broken(activity, self._local_lo, self._local_hi).sum(axis=-1) + _broken(
            slots, self._slot_lower, self._slot_upper
        ).sum(axis=-1)
        own[np.isnan(targets)] = np.inf
        return MoveTable(
            at=self._everyone,
            names=self.movable,
            targets=targets,
            slots=slots,
            own=own,
            spread=spread,
            reach=np.zeros(0)  # every global row is read (`_near`)
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
        near: NDArray[np.intp] = np.flatnonzero(
            (activity - reach <= lots.global_lo + margin)
            | (activity + reach >= lots.global_hi - margin)
        )
        return near

    def singles(
        self, table: MoveTable, rows: slice = slice(None)
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Violation and objective, at the current state, of each move of `table`'s `rows`
        (a name moved alone; NaN targets: inf violation, NaN objective)."""
        lots = self.lots
        own = self.own[table.names[rows]]
        # the other names' own violation, exactly 0 when only this name breaks
        others = np.where(self.broken_names - (own > 0) == 0, 0.0, self.own_total - own)
        if self._few_rows:
            moved = self.activity + table.spread[rows]
            spread_broken = _broken(moved, lots.global_lo, lots.global_hi).sum(axis=-1)
        else:
            near = self._near(table.reach)
            spread_broken = _broken(
                self.activity[near] + table.spread[rows][..., near],
                lots.global_lo[near],
                lots.global_hi[near],
            ).sum(axis=-1)
        violation = lots.constant_violation + others[:, None] + table.own[rows] + spread_broken
        gradient = self.gradient[rows][:, None, :]  # (n, 1, kinds): the table is everyone's
        change = table.fixed[rows] + 2.0 * (table.quadratic[rows] * gradient).sum(axis=-1)
        return violation, self.objective + change

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
        steps[p, 0] and steps[p, 1] lots (`table` = `steps()` at the current state); and
        each's option in `table`."""
        lots = self.lots
        up_a = np.where(steps[:, 0] > 0, 0, 1)
        up_b = np.where(steps[:, 1] > 0, 0, 1)
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

    def move(self, table: MoveTable, row: int, option: int) -> None:
        """Take move `option` of `table`'s row `row` (the state follows)."""
        at, name = int(table.at[row]), int(table.names[row])
        quadratic = table.quadratic[row, option]
        self.objective += float(table.fixed[row, option] + 2.0 * quadratic @ self.gradient[at])
        kinds = self.kinds.size
        column = self.hessian[:, at * kinds : (at + 1) * kinds] @ quadratic
        self.gradient += column.reshape(self.gradient.shape)
        self.activity = self.activity + table.spread[row, option]
        self.own[name] = table.own[row, option]
        self.slots[at] = table.slots[row, option]
        self.target[name] = table.targets[row, option]
        self._settle()


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


# ---- share_repair.py


import math

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import SolverError
from tradefolio.portfolio.backends import QUADRATIC_RELATIVE_GAP, RawSolution, claim
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.rebalance_solver import solve_rebalance

#: The solver name a repaired answer reports (rebalances.csv, the JSON `solver`) when the
#: rebalance solver proved the fractional twin; `SCIP_REPAIR_SOLVER` when SCIP did (the
#: rebalance solver's answer failed its checks, `rebalance_solver.py`).
REPAIR_SOLVER = "highs+repair"
SCIP_REPAIR_SOLVER = "scip+repair"
REPAIR_SOLVERS = (REPAIR_SOLVER, SCIP_REPAIR_SOLVER)
# A row or bound may miss by `lot_program.SEARCH_TOLERANCE` (weight units) during the
# search; the final check is every row, bound and integrality at `_CHECK`
# (`LotProgram.broken`: `Program.violations`' check over the program's rows as arrays).
_CHECK = 1e-6
# Passes of the one-name search over every name, per start.
_PASSES = 40
# The multi-start search stops at the first start whose point is proven within this gap of
# the fractional bound (`solve_by_repair`): the claim "optimal" needs no more.
_STOP_GAP = QUADRATIC_RELATIVE_GAP


#: The whole-share program as arrays over the names' slots (`lot_program.py`); the names
#: the tests and callers know it by.
_Evaluator = LotProgram
_evaluator = lot_program


def _starts(
    fractional: NDArray[np.float64],
    held: NDArray[np.float64],
    untraded: NDArray[np.bool_],
    lots: NDArray[np.float64],
) -> list[NDArray[np.float64]]:
    """Roundings of the fractional target shares: towards the holdings, down, nearest;
    and the holdings. A name the fractional optimum leaves alone keeps its shares."""
    down = np.floor(fractional / lots + 1e-9) * lots
    up = np.ceil(fractional / lots - 1e-9) * lots
    nearest = np.where(fractional - down <= up - fractional, down, up)
    towards = np.where(fractional >= held, np.maximum(down, np.minimum(held, up)), up)
    starts = []
    for start in (towards, down, nearest):
        starts.append(np.where(untraded, held, np.maximum(start, 0.0)))
    starts.append(held.copy())
    return starts


def _options(
    moves: LotMoves, at: NDArray[np.intp], most: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Targets one step from the current shares of movable positions `at`, ascending, NaN
    padded (n, 10; n, 6 when none of them holds an odd lot): the holdings, nothing, one lot
    up or down (with the odd lot kept or dropped when one is held); never the current
    target itself."""
    lots = moves.lots
    names = moves.movable[at]
    current = moves.target[names]
    lot, odd, cap = lots.lot_sizes[names], lots.odd[names], most[names]
    if odd.any():
        bases = np.stack([np.zeros(names.size), odd], axis=1)[:, :, None]  # (n, 2, 1)
        k = np.floor((current[:, None, None] - bases) / lot[:, None, None] + 1e-9)
        step = k + _OFFSETS
        usable = (step >= 0) & (step <= cap[:, None, None])
        usable[:, 1] &= (odd != 0.0)[:, None]
        lots_away = np.where(usable, bases + step * lot[:, None, None], np.nan)
        lots_away = lots_away.reshape(names.size, 8)
    else:  # the same targets without the odd-lot base
        step = np.floor(current / lot + 1e-9)[:, None] + _OFFSETS
        usable = (step >= 0) & (step <= cap[:, None])
        lots_away = np.where(usable, step * lot[:, None], np.nan)
    options = np.empty((names.size, 2 + lots_away.shape[1]))
    options[:, 0] = lots.held[names]
    options[:, 1] = 0.0
    options[:, 2:] = lots_away
    options[options == current[:, None]] = np.nan
    options.sort(axis=1)  # NaN last
    options[:, 1:][options[:, 1:] == options[:, :-1]] = np.nan  # each target once
    return options


_OFFSETS = np.array([-1.0, 0.0, 1.0, 2.0])
# Two-name moves rated per call (each a row of the global rows near their bounds).
_PAIR_CHUNK = 4096
# Two names by one lot each, in this order per pair (a sells / b buys first).
_PAIR_STEPS = np.array([(1.0, -1.0), (-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0)])


def _search(
    evaluator: LotProgram,
    start: NDArray[np.float64],
    most: NDArray[np.float64],
    active: NDArray[np.intp],
    mend_first: bool = False,
) -> tuple[NDArray[np.float64], float, float]:
    """Moves of the `active` names from `start` until none helps: one name to any of its
    `_options` (the best objective of those that help: a broken row is repaired by the
    move that costs least), names in turn; then (when none of those helps) two names by
    one lot each, in any direction (a sector at its cap with the turnover cap binding
    needs one name sold more and another bought less), the first that helps taken.
    A move helps when it lowers the total violation or, with every row met, raises the
    objective (signed). Each move is evaluated incrementally (`LotMoves`) against the state
    at its turn, as a one-at-a-time search would; the answer is evaluated in full.
    With `mend_first`, a pass that starts with broken rows one move mends takes first the
    mending move of the best objective over *every* name (the first name in turn able to
    mend them may cost far more: keeping a position the optimum sells, for a turnover
    cap one share over). Returns (target, violation, objective).

    A pass rates its options and the one-lot steps of the two-name moves in one table
    (`LotMoves.table`: its cost is per call, not per option): the steps are read only by a
    pass that moved no name, when that table is still the state's."""
    sign = 1.0 if evaluator.program.maximize else -1.0
    moves = evaluator.state(start, np.asarray(active, dtype=np.intp))
    count = moves.movable.size
    pairs: tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]] | None = None

    def helps(violation: NDArray[np.float64], score: NDArray[np.float64]) -> NDArray[np.bool_]:
        # (violations are >= 0: with every row met only a met row and a better score help)
        now = moves.violation
        better: NDArray[np.bool_]
        if now > 0.0:
            better = violation < now - 1e-15
        else:
            better = (violation == 0.0) & (score > sign * moves.objective + 1e-15)
        return better

    everyone = np.arange(count)

    def rated() -> tuple[MoveTable, MoveTable, MoveTable]:
        """The pass's table: (every option, the options alone, the steps alone)."""
        options = _options(moves, everyone, most)
        width = options.shape[1]
        both = moves.table(np.concatenate([options, moves.step_targets()], axis=1))
        return both, both.columns(slice(0, width)), both.columns(slice(width, None))

    for _ in range(_PASSES):
        improved = False
        _, table, stepped = rated()
        if mend_first and moves.violation > 0.0:
            violation, objective = moves.singles(table)
            mends = violation == 0.0
            if mends.any():
                score = np.where(mends, sign * objective, -np.inf)
                best_row, best_choice = divmod(int(np.argmax(score)), score.shape[1])
                moves.move(table, best_row, best_choice)
                improved = True
                _, table, stepped = rated()
        turn = 0
        while turn < count:
            violation, objective = moves.singles(table, slice(turn, None))
            score = sign * objective
            helping = helps(violation, score)
            rows = np.flatnonzero(helping.any(axis=1))
            if not rows.size:
                break
            row = int(rows[0])
            choice = int(np.argmax(np.where(helping[row], score[row], -np.inf)))
            moves.move(table, turn + row, choice)
            improved = True
            turn += row + 1
        if improved:
            continue
        if count < 2:
            break  # no pair to move
        if pairs is None:  # the pairs in `itertools.combinations` order
            names = np.arange(count)
            first, second = np.nonzero(names[:, None] < names)
            steps = np.tile(_PAIR_STEPS, (first.size, 1))
            pairs = (np.repeat(first, 4), np.repeat(second, 4), steps)
        first, second, steps = pairs
        pair = 0
        table = stepped  # no name moved in this pass: the pass's steps are the state's
        while pair < first.size:
            chunk = slice(pair, pair + _PAIR_CHUNK)  # bounded memory with many names
            a, b = first[chunk], second[chunk]
            violation, objective, up_a, up_b = moves.pairs(table, a, b, steps[chunk])
            helping = (
                helps(violation, sign * objective)
                & (table.targets[a, up_a] >= 0)
                & (table.targets[b, up_b] >= 0)
            )
            found = np.flatnonzero(helping)
            if not found.size:
                pair += _PAIR_CHUNK
                continue
            hit = int(found[0])
            moves.move(table, int(a[hit]), int(up_a[hit]))
            moves.move(table, int(b[hit]), int(up_b[hit]))
            table = moves.steps()
            improved = True
            pair += hit + 1
        if not improved:
            break
    target = moves.target
    values = evaluator.point(target)
    return target, evaluator.violation(values), evaluator.objective(values)


def whole_point(
    whole: ModelContext, lot_sizes: NDArray[np.float64], values: NDArray[np.float64]
) -> NDArray[np.float64] | None:
    """Every variable of `whole`'s program at the whole shares that `values` (another
    solver's point, e.g. SCIP's) hold in its lots, with the weights, trades, flags and
    factor exposures exact for them; None when the program is not one `_Evaluator` covers."""
    evaluator = _evaluator(whole, lot_sizes)
    if evaluator is None or whole.lots is None:
        return None
    target = np.round(values[whole.lots]) * lot_sizes
    for index, (keep, odd) in whole.odd_lots.items():
        if values[keep] > 0.5:
            target[index] += odd
    return evaluator.point(target)


def _reported(whole: ModelContext, values: NDArray[np.float64], objective: float) -> float:
    """The objective `PortfolioModel._result` reports at `values` (without the tie-break),
    from the program's `objective` there."""
    return objective - whole.tie_break_scale * float(values[whole.weights].sum())


def _search_claim(
    whole: ModelContext, target: NDArray[np.float64], objective: float, bound: float
) -> tuple[str, float]:
    """The claim (status, gap) against `bound` of a point of the search (`target` shares,
    its program `objective` with the tie-break, every row met), at `_STOP_GAP`
    (`QUADRATIC_RELATIVE_GAP`: "optimal"). Only for the search's stops: the claim itself is
    made on the final check."""
    universe = whole.universe
    weights = target * universe.prices / universe.value  # the point's weights (`slot_values`)
    reported = objective - whole.tie_break_scale * float(weights.sum())
    return claim(whole.program, reported, bound, _STOP_GAP)


def _beats(evaluator: LotProgram, target: NDArray[np.float64], objective: float) -> bool:
    """Whether the whole point at `target` shares meets every row and has a better
    program objective than `objective`."""
    values = evaluator.point(target)
    if evaluator.violation(values) != 0.0:
        return False
    sign = 1.0 if evaluator.program.maximize else -1.0
    return sign * evaluator.objective(values) > sign * objective


def solve_by_repair(
    whole: ModelContext,
    fractional: ModelContext,
    lot_sizes: NDArray[np.float64],
    time_limit: float,
    hint: NDArray[np.float64] | None = None,
    relaxed: RawSolution | None = None,
    *,
    stop_at_gap: bool = True,
    mend_above: float = math.inf,
) -> RawSolution | None:
    """Solve the whole-share program of `whole` through its fractional twin `fractional`
    (the same model without lots, `suits_rebalance_solver`), as the module docstring says;
    None when no whole-share point is found. Raises what `solve_rebalance` raises for the
    fractional model (infeasible, bad input), since it binds the whole-share model too.
    `relaxed` is the twin's solution when the caller has it (a twin without trade flags,
    solved by the branch and bound: its bound is as valid).

    The starts are searched in `_starts`' order and, with `stop_at_gap`, the search stops
    at the first start whose point is proven within `_STOP_GAP` (`QUADRATIC_RELATIVE_GAP`)
    of B: the claim "optimal" the remaining starts could only repeat (their points may be
    better, within that gap). Without it every start is searched and the best kept; with
    it the holdings start (the fallback) only when no rounding gave a whole point better
    than the holdings as they stand. When no start gives a whole point, or the best one's
    gap is above `mend_above` (the model passes SCIP's threshold under `--solver auto`),
    the starts are searched again mending first (`_search`'s `mend_first`: a turnover cap
    broken by one share's rounding, mended at the least cost over every name), and the
    best of both rounds kept. The status and gap are always those proven for the point
    returned."""
    evaluator = _evaluator(whole, lot_sizes)
    if evaluator is None:
        return None
    if relaxed is None:
        try:
            relaxed = solve_rebalance(fractional, time_limit, hint)
        except SolverError:
            return None
    universe = whole.universe
    value, prices, held = universe.value, universe.prices, universe.held_shares
    if fractional.buy_flags is not None and fractional.sell_flags is not None:
        untraded = (relaxed.values[fractional.buy_flags] < 0.5) & (
            relaxed.values[fractional.sell_flags] < 0.5
        )
    else:  # a weight the twin left within the solvers' tolerance of the holdings
        untraded = np.abs(relaxed.values[fractional.weights] - universe.initial_weights) <= 1e-6
    shares = relaxed.values[fractional.weights] * value / prices
    most = np.array(whole.program.upper, dtype=np.float64)[whole.lots]
    program = whole.program
    sign = 1.0 if program.maximize else -1.0
    bound = relaxed.best_bound
    best: tuple[float, NDArray[np.float64]] | None = None
    # names that are or may be held: the others only open a position when the fractional
    # optimum does (a start's rounding) or a move reaches them from there
    starts: list[NDArray[np.float64]] = []
    for start in _starts(shares, held, untraded, lot_sizes):
        if not any(np.array_equal(start, other) for other in starts):
            starts.append(start)
    holdings = starts[-1] if np.array_equal(starts[-1], held) else None
    proven = False
    # the starts by the plain search; when that leaves a gap above `mend_above`, mending first
    for mend_first in (False, True):
        if (
            mend_first
            and best is not None
            and (proven or _search_claim(whole, best[1], best[0], bound)[1] <= mend_above)
        ):
            break
        for start in starts:
            if (
                start is holdings
                and stop_at_gap
                and best is not None
                and not _beats(evaluator, held, best[0])
            ):
                continue  # a rounding's whole point beats the holdings as they stand
            active = np.flatnonzero((held > 0) | (shares * prices > 1e-9 * value) | (start > 0))
            target, broken, objective = _search(evaluator, start, most, active, mend_first)
            if broken != 0.0:
                continue
            if best is None or sign * objective > sign * best[0]:
                best = (objective, target)
                proven = _search_claim(whole, target, objective, bound)[0] == "optimal"
            if stop_at_gap and proven:
                break  # proven within the stated gap of B: the later starts could only repeat it
    if best is None:
        return None
    values = evaluator.point(best[1])
    if evaluator.broken(values, _CHECK):
        return None
    objective = program.objective_value(values)
    reported = _reported(whole, values, objective)  # the objective `_result` reports
    if sign * (reported - bound) > 1e-9 * max(abs(bound), 1.0):
        return None  # beats the fractional bound: the relaxation is not what it claims
    status, gap = claim(program, reported, bound, QUADRATIC_RELATIVE_GAP)
    # `_result` reports objective + (best_bound - objective): the fractional bound B.
    solver = SCIP_REPAIR_SOLVER if relaxed.solver == "scip" else REPAIR_SOLVER
    return RawSolution(values, status, objective, objective + (bound - reported), solver, gap)
