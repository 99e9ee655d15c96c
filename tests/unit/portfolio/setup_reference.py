"""The rebalance solver's aggregation and `factor_definitions` as they were before they read
the program's coefficients as arrays (main at 63c4139, session 11), verbatim apart from
names: the oracles of `test_setup_arrays.py`."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.factor_form import FactorDefinitions
from tradefolio.portfolio.program import INF, Program, Row
from tradefolio.portfolio.rebalance_solver import Aggregation, _FEASIBLE


def _rows_of(program: Program, variables: set[int]) -> dict[int, list[int]]:
    """The rows each of `variables` appears in (set intersections: the factor rows hold
    N coefficients each, and none of them reads a flag)."""
    uses: dict[int, list[int]] = {}
    among = np.zeros(program.size, dtype=bool)
    among[list(variables)] = True
    for r, row in enumerate(program.rows):
        if row.arrays is not None and not among[row.arrays[0]].any():
            continue  # a row built from arrays (a factor row) over none of them
        for k in row.coefficients.keys() & variables:
            uses.setdefault(k, []).append(r)
    return uses


def _loosens_when_zeroed(row: Row, variables: set[int], own: set[int]) -> bool:
    """Whether setting `variables` to 0 (with the name's `own` variables all 0) keeps
    `row` satisfied: the row only loosens as they fall, or it reads only `own`."""
    coefficients = [row.coefficients[k] for k in variables if k in row.coefficients]
    if all(c >= 0 for c in coefficients) and row.lo == -INF:
        return True
    if all(c <= 0 for c in coefficients) and row.hi == INF:
        return True
    return set(row.coefficients) <= own and row.lo <= _FEASIBLE and row.hi >= -_FEASIBLE


def _costs_only(program: Program, k: int, squared: set[int]) -> bool:
    """Whether variable k never helps the objective (a cost in its direction) and is not
    in its quadratic part (`squared`: the variables there)."""
    coefficient = program.linear.get(k, 0.0)
    helps = coefficient > 0 if program.maximize else coefficient < 0
    return not helps and k not in squared


def _aggregation(ctx: ModelContext) -> Aggregation | None:
    """The exact aggregation of the module docstring, or None if no name qualifies."""
    assert ctx.buys is not None and ctx.sells is not None
    assert ctx.buy_flags is not None and ctx.sell_flags is not None
    program = ctx.program
    uses = _rows_of(program, {*ctx.selected, *ctx.buy_flags, *ctx.sell_flags})
    squared = {k for pair in program.quadratic for k in pair}
    alias = np.arange(program.size, dtype=np.intp)  # original -> original representative
    zero = np.zeros(program.size, dtype=bool)
    held = ctx.universe.held_shares
    for i in range(ctx.size):
        if held[i] > 0 and program.upper[ctx.buys[i]] == 0.0:
            # A held name at or above its cap cannot be bought: b_i = 0, and β_i = 0 at some
            # optimum when its rows only loosen as it falls and it only costs.
            buy, bought = ctx.buys[i], ctx.buy_flags[i]
            if _costs_only(program, bought, squared) and all(
                _loosens_when_zeroed(program.rows[r], {bought}, {buy, bought})
                for r in uses.get(bought, [])
            ):
                zero[buy] = zero[bought] = True
            continue
        if held[i] > 0 or program.upper[ctx.sells[i]] != 0.0:
            continue
        w, x = ctx.weights[i], ctx.selected[i]
        buy, sell = ctx.buys[i], ctx.sells[i]
        bought, sold = ctx.buy_flags[i], ctx.sell_flags[i]
        own = {w, x, buy, sell, bought, sold}
        flags = {x, bought, sold}
        if not all(_costs_only(program, k, squared) for k in flags):
            continue
        if not all(
            _loosens_when_zeroed(program.rows[r], flags, own)
            for k in flags
            for r in uses.get(k, [])
        ):
            continue
        alias[buy], alias[bought] = w, x
        zero[sell] = zero[sold] = True
    if not zero.any():
        return None
    return _reduced(program, alias, zero)


def _reduced(
    program: Program,
    alias: NDArray[np.intp],
    zero: NDArray[np.bool_],
) -> Aggregation:
    """`program` with each variable replaced by its alias and the `zero` ones removed."""
    removed = zero
    size = program.size
    aliases = alias.tolist()  # list lookups, not numpy scalars, in the loops below
    gone = removed.tolist()
    kept = [k for k in range(size) if aliases[k] == k and not gone[k]]
    number = np.full(size + 1, -1, dtype=np.intp)
    number[kept] = np.arange(len(kept))
    source = np.where(removed, -1, number[alias])
    names, lower, upper, integer = program.names, program.lower, program.upper, program.integer
    reduced = Program(
        names=[names[k] for k in kept],
        lower=[lower[k] for k in kept],
        upper=[upper[k] for k in kept],
        integer=[integer[k] for k in kept],
        maximize=program.maximize,
        constant=program.constant,
    )
    to = source.tolist()  # list lookups: the factor rows hold N coefficients each
    moved = {k for k in range(size) if aliases[k] != k or gone[k]}
    for k in sorted(moved):
        j = to[k]
        if j >= 0:
            # an alias carries its own bounds onto its representative
            reduced.lower[j] = max(reduced.lower[j], lower[k])
            reduced.upper[j] = min(reduced.upper[j], upper[k])
    seen: set[tuple[tuple[tuple[int, float], ...], float, float]] = set()
    # Every variable before the first moved one keeps its number (kept in order): a long
    # row over those only (the factor rows over the weights) is copied as it is.
    first_moved = min(moved, default=program.size)
    for row in program.rows:
        given = row.coefficients
        if row.arrays is not None and row.arrays[0].max() < first_moved:
            # read-only coefficients and their arrays: shared, not copied
            reduced.rows.append(Row(given, row.lo, row.hi, row.group, row.unit, row.arrays))
            continue
        if len(given) > 2 and max(given) < first_moved and 0.0 not in given.values():
            reduced.rows.append(Row(dict(given), row.lo, row.hi, row.group, row.unit))
            continue
        if given.keys() & moved:
            coefficients: dict[int, float] = {}
            for k, c in row.coefficients.items():
                j = to[k]
                if j >= 0 and c != 0.0:
                    coefficients[j] = coefficients.get(j, 0.0) + c
            coefficients = {j: c for j, c in coefficients.items() if c != 0.0}
        else:  # no variable merged or removed (the factor rows): renumbered as it is
            coefficients = {to[k]: c for k, c in row.coefficients.items() if c != 0.0}
        if not coefficients:
            continue  # 0 within [lo, hi]: checked by the expanded answer's row check
        if len(coefficients) <= 2:
            # a name's link rows (w <= u x and b <= (u - w0) beta) become the same row
            key = (tuple(sorted(coefficients.items())), row.lo, row.hi)
            if key in seen:
                continue
            seen.add(key)
        reduced.add_row(coefficients, row.lo, row.hi, row.group, row.unit)
    for k, c in program.linear.items():
        j = to[k]
        if j >= 0:
            reduced.linear[j] = reduced.linear.get(j, 0.0) + c
    for (a, b), c in program.quadratic.items():
        pair = (to[a], to[b])
        if min(pair) < 0:
            continue  # fixed at 0
        reduced.quadratic[pair] = reduced.quadratic.get(pair, 0.0) + c
    return Aggregation(reduced, source.astype(np.intp))


def factor_definitions(program: Program) -> FactorDefinitions:
    """The variables y of `program` that may be substituted by their definition.

    y qualifies when it is continuous, has no linear cost and exactly one objective term
    q y^2 with q != 0 (no cross term), appears in exactly one row, that row is a
    definition  pivot y + a . v = 0  (group None), every v in it is bounded, and y's
    bounds do not cut into what the definition implies (|y| <= sum |a_k| max|v_k| /
    |pivot|, to a relative 1e-9). A definition may not read another substituted
    variable (no chains; the bounds rule already excludes them, a row defining two
    variables cannot meet it for both, but the substitution order would then matter):
    such definitions are dropped, one at a time, until none does.
    """
    coupled = {k for pair in program.quadratic if pair[0] != pair[1] for k in pair}
    squares = {
        v: q
        for (v, other), q in program.quadratic.items()
        if v == other
        and q != 0.0
        and v not in coupled
        and not program.integer[v]
        and program.linear.get(v, 0.0) == 0.0
    }
    # how many rows each squared variable appears in, and the last of them (only a
    # variable in exactly one row can be defined by it): a row built from arrays (a factor
    # row) by its columns, any other by a set intersection (rows hold N coefficients)
    squared = np.zeros(program.size, dtype=bool)
    squared[list(squares)] = True
    counted = np.zeros(program.size, dtype=np.int64)
    latest = np.full(program.size, -1, dtype=np.int64)
    in_rows: dict[int, int] = {}
    last: dict[int, int] = {}
    for r, row in enumerate(program.rows):
        if row.arrays is not None:
            hits = row.arrays[0][squared[row.arrays[0]]]
            counted[hits] += 1  # a row's columns are distinct
            latest[hits] = r
            continue
        for k in row.coefficients.keys() & squares.keys():
            in_rows[k] = in_rows.get(k, 0) + 1
            last[k] = r
    magnitude = np.maximum(np.abs(np.array(program.lower)), np.abs(np.array(program.upper)))
    found: dict[int, tuple[int, NDArray[np.intp], NDArray[np.float64], float]] = {}
    with np.errstate(invalid="ignore"):  # 0 * inf: an unbounded variable, not finite
        for v, q in squares.items():
            if in_rows.get(v, 0) + int(counted[v]) != 1:
                continue
            r = max(last.get(v, -1), int(latest[v]))
            row = program.rows[r]
            if row.lo != 0.0 or row.hi != 0.0 or row.group is not None:
                continue
            pivot = row.coefficients[v]
            count = len(row.coefficients)
            if row.arrays is not None:  # the same columns and values, in the same order
                index = row.arrays[0].astype(np.intp)
                loadings = row.arrays[1]
            else:
                index = np.fromiter(row.coefficients.keys(), dtype=np.intp, count=count)
                loadings = np.fromiter(row.coefficients.values(), dtype=np.float64, count=count)
            others = index != v
            index, loadings = index[others], loadings[others]
            reach = float(np.abs(loadings) @ magnitude[index]) / abs(pivot)
            if not math.isfinite(reach):
                continue  # an unbounded variable in the definition: keep the row
            slack = 1e-9 * max(reach, 1.0)
            if program.lower[v] > -reach + slack or program.upper[v] < reach - slack:
                continue  # the bounds of y cut into the definition: keep the row
            found[v] = (r, index, -loadings / pivot, q)
    defined = np.zeros(program.size, dtype=bool)
    defined[list(found)] = True
    while chained := [v for v, d in found.items() if defined[d[1]].any()]:
        del found[chained[0]]
        defined[chained[0]] = False
    variables = np.fromiter(found, dtype=np.intp, count=len(found))
    # the columns read, sorted, by a mask (not np.unique of every definition's columns);
    # a definition's columns are distinct (a dict's keys, an array row's columns), so each
    # entry of the matrix is set once: 0.0 + c as np.add.at gave it, in one assignment
    read = np.zeros(program.size, dtype=bool)
    for _, index, _, _ in found.values():
        read[index] = True
    reads = np.flatnonzero(read)
    column = np.full(program.size, -1, dtype=np.intp)
    column[reads] = np.arange(reads.size)
    matrix = np.zeros((len(found), reads.size))
    if found:
        lengths = [d[1].size for d in found.values()]
        definition = np.repeat(np.arange(len(found)), lengths)
        index = np.concatenate([d[1] for d in found.values()])
        coefficients = np.concatenate([d[2] for d in found.values()])
        matrix[definition, column[index]] = 0.0 + coefficients
    return FactorDefinitions(
        variables=variables,
        rows=np.array([d[0] for d in found.values()], dtype=np.intp),
        reads=reads.astype(np.intp),
        matrix=matrix,
        weights=np.array([d[3] for d in found.values()], dtype=np.float64),
    )
