"""Factor exposures defined by a row, and their substitution into a dense quadratic form.

The factor risk terms of `risk_terms.py` write the variance of a factor model as

    sum_f q_f y_f^2  (+ the names' own variances),   with   pivot_f y_f + a_f . w = 0

one exposure variable y_f per factor, defined by one row. A solver that substitutes
y_f = -(a_f / pivot_f) . w = D_f . w sees the dense quadratic form

    sum_f q_f (D_f . w)^2 = w^T (D^T diag(q) D) w

over the weights: HiGHS's active set solves that reliably where the definition rows made
it stall on primal infeasibilities of ~1e-5 (`branch_and_bound.py`), and it is the
rebalance solver's smaller program (`rebalance_solver.py`). `factor_definitions` finds the
variables that may be substituted (checked on the program, not assumed) and
`FactorDefinitions.gram` is the substitution: one matrix product, where one 500 x 500
outer-product block per factor cost 1.5 s of CPU per 500-name rebalance with 252 factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.program import Program


@dataclass(frozen=True, slots=True)
class FactorDefinitions:
    """Variables `variables[f]` = `matrix[f] . v[reads]`, each defined by row `rows[f]`
    and used only in the objective's square term `weights[f] * v^2`.

    `reads` are the program variables the definitions read (sorted, none of them defined).
    """

    variables: NDArray[np.intp]
    rows: NDArray[np.intp]
    reads: NDArray[np.intp]
    matrix: NDArray[np.float64]
    weights: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.variables.size)

    def values(self, point: NDArray[np.float64]) -> NDArray[np.float64]:
        """The defined variables' values at `point` (over all the program's variables)."""
        return np.asarray(self.matrix @ point[self.reads], dtype=np.float64)

    def gram(self) -> NDArray[np.float64]:
        """H over `reads` with  sum_f weights_f y_f^2 = v[reads]^T H v[reads]."""
        return weighted_gram(self.matrix, self.weights)


def weighted_gram(matrix: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """M^T diag(weights) M: the form of  sum_f weights_f (M_f . v)^2  (symmetric)."""
    return np.asarray(matrix.T @ (weights[:, None] * matrix), dtype=np.float64)


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


__all__ = ["FactorDefinitions", "factor_definitions", "weighted_gram"]
