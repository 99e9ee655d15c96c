"""The rebalance solver's aggregation as it was at session 12's main (4bfb358), verbatim but
for the names: the oracle of `test_setup_oracle.py` (the session-13 rewrite must build the same
reduced program, bit for bit)."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import INF, CoefficientArrays, Program, Row
from tradefolio.portfolio.rebalance_solver import _FEASIBLE, Aggregation


def _costs_only(program: Program, variables: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Whether each of `variables` never helps the objective (a cost in its direction)
    and is not in its quadratic part."""
    linear = program.linear
    coefficient = np.array([linear.get(k, 0.0) for k in variables.tolist()], dtype=np.float64)
    helps = coefficient > 0 if program.maximize else coefficient < 0
    squared = np.zeros(program.size, dtype=bool)
    squared[[k for pair in program.quadratic for k in pair]] = True
    return np.asarray(~helps & ~squared[variables], dtype=bool)


def _zeroable(
    program: Program,
    arrays: CoefficientArrays,
    flags: NDArray[np.intp],
    owner: NDArray[np.intp],
    names: int,
) -> NDArray[np.bool_]:
    """For each of `names` names, whether setting its flags to 0 (with its own variables all
    0) keeps every row they appear in satisfied: each such row only loosens as they fall
    (all their coefficients >= 0 and no lower side, or all <= 0 and no upper side), or it
    reads only the name's own variables and holds 0.

    `flags[k]` / `owner[k]` are the name variable k is a flag of / belongs to (-1: none)."""
    columns, values, lengths = arrays
    numbers = np.repeat(np.arange(len(lengths)), lengths)
    # a row reads only one name's own variables: every entry has that owner
    entry_owner = owner[columns]
    single = np.full(len(lengths), -1, dtype=np.intp)
    if columns.size:
        lowest = np.full(len(lengths), np.iinfo(np.intp).max, dtype=np.intp)
        highest = np.full(len(lengths), -1, dtype=np.intp)
        np.minimum.at(lowest, numbers, entry_owner)
        np.maximum.at(highest, numbers, entry_owner)
        single = np.where((lowest == highest) & (lowest >= 0), lowest, -1)
    lo, hi = program.row_bounds()
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


def _aggregation(ctx: ModelContext, arrays: CoefficientArrays | None = None) -> Aggregation | None:
    """The exact aggregation of the module docstring, or None if no name qualifies.
    `arrays` are the program's `coefficient_arrays` when the caller has them."""
    assert ctx.buys is not None and ctx.sells is not None
    assert ctx.buy_flags is not None and ctx.sell_flags is not None
    program = ctx.program
    if arrays is None:
        arrays = program.coefficient_arrays()
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
    every = np.arange(names, dtype=np.intp)
    for variables in (selected, bought, sold):
        flags[variables[fresh]] = every[fresh]
    flags[bought[capped]] = every[capped]
    for variables in (weights, selected, buys, sells, bought, sold):
        owner[variables[fresh]] = every[fresh]
    for variables in (buys, bought):
        owner[variables[capped]] = every[capped]
    costs = np.ones(names, dtype=bool)
    costs[fresh] = (
        _costs_only(program, selected[fresh])
        & _costs_only(program, bought[fresh])
        & _costs_only(program, sold[fresh])
    )
    costs[capped] = _costs_only(program, bought[capped])
    zeroable = (fresh | capped) & costs & _zeroable(program, arrays, flags, owner, names)
    if not zeroable.any():
        return None
    alias = np.arange(program.size, dtype=np.intp)  # original -> original representative
    zero = np.zeros(program.size, dtype=bool)
    gone = zeroable & capped
    zero[buys[gone]] = zero[bought[gone]] = True
    merged = zeroable & fresh
    alias[buys[merged]], alias[bought[merged]] = weights[merged], selected[merged]
    zero[sells[merged]] = zero[sold[merged]] = True
    return _reduced(program, alias, zero, arrays)


def _reduced(
    program: Program,
    alias: NDArray[np.intp],
    zero: NDArray[np.bool_],
    arrays: CoefficientArrays | None = None,
) -> Aggregation:
    """`program` with each variable replaced by its alias and the `zero` ones removed
    (`arrays`: the program's `coefficient_arrays`, when the caller has them).

    Each row's coefficients are merged onto the representatives, in the order each first
    appears, as 0.0 + c_1 + c_2 ... in the row's order; zero sums and empty rows are
    dropped, and a row of at most two coefficients equal to an earlier one (with the same
    bounds) is dropped too: all rows merged in one pass over the program's coefficients as
    arrays, then one dict per row."""
    size = program.size
    kept = np.flatnonzero((alias == np.arange(size)) & ~zero)
    number = np.full(size + 1, -1, dtype=np.intp)
    number[kept] = np.arange(kept.size)
    source = np.where(zero, -1, number[alias]).astype(np.intp)
    names, lower, upper, integer = program.names, program.lower, program.upper, program.integer
    chosen = kept.tolist()
    reduced = Program(
        names=[names[k] for k in chosen],
        lower=[lower[k] for k in chosen],
        upper=[upper[k] for k in chosen],
        integer=[integer[k] for k in chosen],
        maximize=program.maximize,
        constant=program.constant,
    )
    to = source.tolist()  # list lookups, not numpy scalars, in the loops below
    moved = np.flatnonzero((alias != np.arange(size)) | zero).tolist()
    for k in moved:
        j = to[k]
        if j >= 0:
            # an alias carries its own bounds onto its representative
            reduced.lower[j] = max(reduced.lower[j], lower[k])
            reduced.upper[j] = min(reduced.upper[j], upper[k])
    reduced.rows, reduced_arrays = _reduced_rows(
        program, source, moved[0] if moved else size, arrays
    )
    reduced.keep_coefficient_arrays(reduced_arrays)  # its rows are final: built here
    for k, c in program.linear.items():
        j = to[k]
        if j >= 0:
            reduced.linear[j] = reduced.linear.get(j, 0.0) + c
    for (a, b), c in program.quadratic.items():
        pair = (to[a], to[b])
        if min(pair) < 0:
            continue  # fixed at 0
        reduced.quadratic[pair] = reduced.quadratic.get(pair, 0.0) + c
    return Aggregation(reduced, source)


def _reduced_rows(
    program: Program,
    source: NDArray[np.intp],
    first_moved: int,
    arrays: CoefficientArrays | None,
) -> tuple[list[Row], CoefficientArrays]:
    """The rows of `_reduced` (`source`: the reduced variable of each original one, -1
    removed; every variable before `first_moved` keeps its number) and their
    `coefficient_arrays`, as `Program.coefficient_arrays` gives them: a shared row's own
    arrays, every other row's merged entries (its dict's keys and values, in order)."""
    rows = program.rows
    columns, values, lengths = program.coefficient_arrays() if arrays is None else arrays
    every_number = np.repeat(np.arange(len(rows)), lengths)
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
    sums = np.zeros(int(is_first.sum()))
    np.add.at(sums, group, values)  # in the row's order: 0.0 + c_1 + c_2 ...
    nonzero = sums != 0.0
    sums = sums[nonzero]
    merged_columns = target[is_first][nonzero].astype(np.int64)
    row_of = numbers[is_first][nonzero]
    ends = np.searchsorted(row_of, np.arange(1, len(rows) + 1))
    sizes = np.diff(ends, prepend=0)
    column_list, value_list = merged_columns.tolist(), sums.tolist()
    # a row built from arrays over variables that keep their numbers: shared, not copied
    own = ~renumbered & np.fromiter((row.arrays is not None for row in rows), bool, len(rows))
    starts = (ends - sizes).tolist()
    reduced: list[Row] = []
    seen: set[tuple[tuple[tuple[int, float], ...], float, float]] = set()
    reduced_lengths: list[int] = []
    dropped: list[tuple[int, int]] = []  # the merged entries of rows left out as repeats
    for row, start, end, size, mine in zip(
        rows, starts, ends.tolist(), sizes.tolist(), own.tolist(), strict=True
    ):
        if mine:
            # read-only coefficients and their arrays, over variables that keep their
            # numbers: shared, not copied (the factor rows)
            reduced.append(Row(row.coefficients, row.lo, row.hi, row.group, row.unit, row.arrays))
            reduced_lengths.append(size)
        elif size > 2:
            coefficients = dict(zip(column_list[start:end], value_list[start:end], strict=True))
            reduced.append(Row(coefficients, row.lo, row.hi, row.group, row.unit))
            reduced_lengths.append(size)
        elif size:
            # a name's link rows (w <= u x and b <= (u - w0) beta) become the same row
            items = tuple(zip(column_list[start:end], value_list[start:end], strict=True))
            key_of = (tuple(sorted(items)), row.lo, row.hi)
            if key_of not in seen:
                seen.add(key_of)
                reduced.append(Row(dict(items), row.lo, row.hi, row.group, row.unit))
                reduced_lengths.append(size)
            else:
                dropped.append((start, end))
        # else empty: 0 within [lo, hi], checked by the expanded answer's row check
    # The rows' coefficient arrays are the merged entries of the rows kept: a dict row's
    # keys and values are those entries in order, and a shared row's own arrays are its
    # entries too (its columns keep their numbers, are distinct and have no zero value,
    # so each entry is 0.0 + c = c, in the row's order).
    if dropped:
        keep = np.ones(merged_columns.size, dtype=bool)
        for first_entry, end_entry in dropped:
            keep[first_entry:end_entry] = False
        merged_columns, sums = merged_columns[keep], sums[keep]
    return reduced, (merged_columns, sums, np.array(reduced_lengths, dtype=np.int64))
