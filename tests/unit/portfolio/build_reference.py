"""`factor_definitions` and `backends._scale` as they were at int13 (128bb7c), verbatim but
for the names: the oracles of `test_build_oracle.py` (session 13's round-2 rewrites must give
the same definitions and scale, bit for bit)."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import math

import numpy as np

from tradefolio.portfolio.backends import _OBJECTIVE_SCALE
from tradefolio.portfolio.factor_form import FactorDefinitions
from tradefolio.portfolio.program import Program


def scale(program: Program) -> float:
    largest = max(
        [abs(c) for c in program.linear.values()] + [abs(c) for c in program.quadratic.values()],
        default=0.0,
    )
    scale = _OBJECTIVE_SCALE / largest if largest > 0 else 1.0
    # Subnormal coefficients would overflow the scale: they are zero for any purpose.
    return scale if math.isfinite(scale) else 1.0


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
    # Everything below reads the program's coefficients as flat arrays, once (rows in
    # order, each in its dict's order): how many rows each squared variable appears in and
    # the last of them (only a variable in exactly one row can be defined by it).
    columns, values, lengths = program.coefficient_arrays()
    starts = np.concatenate(([0], np.cumsum(lengths)))
    numbers = np.repeat(np.arange(len(program.rows)), lengths)
    squared = np.zeros(program.size, dtype=bool)
    squared[list(squares)] = True
    hits = squared[columns]
    counted = np.bincount(columns[hits], minlength=program.size)  # a row's keys are distinct
    latest = np.full(program.size, -1, dtype=np.int64)
    np.maximum.at(latest, columns[hits], numbers[hits])
    once = (counted == 1).tolist()
    last = latest.tolist()
    rows = program.rows
    chosen: list[tuple[int, int, float, float]] = []  # (y, its row, pivot, q), in `squares`' order
    for v, q in squares.items():
        if not once[v]:
            continue
        r = last[v]
        row = rows[r]
        if row.lo != 0.0 or row.hi != 0.0 or row.group is not None:
            continue
        chosen.append((v, r, row.coefficients[v], q))
    variables = np.array([c[0] for c in chosen], dtype=np.intp)
    rows_of = np.array([c[1] for c in chosen], dtype=np.intp)
    pivots = np.array([c[2] for c in chosen], dtype=np.float64)
    weights = np.array([c[3] for c in chosen], dtype=np.float64)
    # every chosen row's entries other than its y, tagged by the definition they belong to
    sizes = lengths[rows_of]
    definition = np.repeat(np.arange(len(chosen)), sizes)
    entry = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    entry += np.repeat(starts[rows_of], sizes)
    others = columns[entry] != variables[definition]
    definition, entry = definition[others], entry[others]
    index = columns[entry].astype(np.intp)
    loadings = values[entry]
    magnitude = np.maximum(np.abs(np.array(program.lower)), np.abs(np.array(program.upper)))
    lower = np.array(program.lower, dtype=np.float64)[variables]
    upper = np.array(program.upper, dtype=np.float64)[variables]
    # 0 * inf, inf - inf: an unbounded variable, not finite. The reach is a bincount sum,
    # not a dot: it only decides whether y's bounds cut in, to a relative 1e-9.
    with np.errstate(invalid="ignore"):
        reach = np.bincount(
            definition, weights=np.abs(loadings) * magnitude[index], minlength=len(chosen)
        ) / np.abs(pivots)
        slack = 1e-9 * np.maximum(reach, 1.0)
        # an unbounded variable in the definition, or bounds of y that cut into it: kept
        alive = np.isfinite(reach) & ~(lower > -reach + slack) & ~(upper < reach - slack)
    defined = np.zeros(program.size, dtype=bool)
    defined[variables[alive]] = True
    while True:
        reads_defined = np.zeros(len(chosen), dtype=bool)
        reads_defined[definition[alive[definition] & defined[index]]] = True
        chained = np.flatnonzero(reads_defined)
        if chained.size == 0:
            break
        alive[chained[0]] = False
        defined[variables[chained[0]]] = False
    keep = alive[definition]
    number = np.cumsum(alive) - 1  # a kept definition's row of the matrix
    definition, index = number[definition[keep]], index[keep]
    coefficients = -loadings[keep] / pivots[alive][definition]
    # the columns read, sorted, by a mask (not np.unique of every definition's columns);
    # a definition's columns are distinct (a dict's keys, an array row's columns), so each
    # entry of the matrix is set once: 0.0 + c as np.add.at gave it, in one assignment
    read = np.zeros(program.size, dtype=bool)
    read[index] = True
    reads = np.flatnonzero(read)
    column = np.full(program.size, -1, dtype=np.intp)
    column[reads] = np.arange(reads.size)
    matrix = np.zeros((int(alive.sum()), reads.size))
    matrix[definition, column[index]] = 0.0 + coefficients
    return FactorDefinitions(
        variables=variables[alive],
        rows=rows_of[alive],
        reads=reads.astype(np.intp),
        matrix=matrix,
        weights=weights[alive],
    )
