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

from dataclasses import dataclass, field

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
    # Only a variable in exactly one row has its row read below: a plain assignment sets
    # it (its one entry), whatever it leaves for variables in several rows.
    latest = np.full(program.size, -1, dtype=np.int64)
    latest[columns[hits]] = numbers[hits]
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
    # every chosen row's entries, tagged by the definition they belong to
    sizes = lengths[rows_of]
    definition = np.repeat(np.arange(len(chosen)), sizes)
    entry = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    entry += np.repeat(starts[rows_of], sizes)
    read_columns = columns[entry]
    # The index work below depends only on these rows' columns (and which variable each
    # defines): the same for every program of a run, whatever its other rows, so it is
    # done once per such structure (`_DefinitionPlan`).
    key = (
        variables.tobytes(),
        sizes.tobytes(),
        read_columns.dtype.str,
        read_columns.tobytes(),
    )
    plan = _PLANS.get(key)
    if plan is None:
        plan = _definition_plan(variables, definition, read_columns)
        if len(_PLANS) >= _MOST_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    entry, definition, index = entry[plan.others], plan.definition, plan.index
    loadings = values[entry]
    all_lower = np.array(program.lower, dtype=np.float64)
    all_upper = np.array(program.upper, dtype=np.float64)
    magnitude = np.maximum(np.abs(all_lower), np.abs(all_upper))
    lower, upper = all_lower[variables], all_upper[variables]
    # 0 * inf, inf - inf: an unbounded variable, not finite. The reach is a bincount sum,
    # not a dot: it only decides whether y's bounds cut in, to a relative 1e-9.
    with np.errstate(invalid="ignore"):
        reach = np.bincount(
            definition, weights=np.abs(loadings) * magnitude[index], minlength=len(chosen)
        ) / np.abs(pivots)
        slack = 1e-9 * np.maximum(reach, 1.0)
        # an unbounded variable in the definition, or bounds of y that cut into it: kept
        alive = np.isfinite(reach) & ~(lower > -reach + slack) & ~(upper < reach - slack)
    placement = plan.placements.get(alive.tobytes())
    if placement is None:
        placement = _placement(variables, definition, index, alive)
        if len(plan.placements) >= _MOST_PLANS:
            plan.placements.clear()
        plan.placements[alive.tobytes()] = placement
    # (each entry of the matrix set once: 0.0 + c as np.add.at gave it, in one assignment)
    coefficients = -loadings[placement.kept] / pivots[placement.divisors]
    matrix = np.zeros(placement.shape)
    matrix[placement.at] = 0.0 + coefficients
    return FactorDefinitions(
        variables=variables[placement.alive],
        rows=rows_of[placement.alive],
        reads=placement.reads.copy(),
        matrix=matrix,
        weights=weights[placement.alive],
    )


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where `factor_definitions` puts the kept definitions' coefficients, for one plan and
    one set of definitions whose bounds allow them (before the chains are dropped): it
    depends on nothing else."""

    alive: NDArray[np.intp]  # the definitions kept (chains dropped), in order
    kept: NDArray[np.intp]  # their entries, among the plan's
    divisors: NDArray[np.intp]  # each kept entry's definition (its pivot)
    at: tuple[NDArray[np.intp], NDArray[np.intp]]  # each kept entry's place in the matrix
    reads: NDArray[np.intp]  # the columns read, sorted (read-only)
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _DefinitionPlan:
    """`factor_definitions`' index work on the chosen definition rows: the entries other
    than each row's defined variable (their places among the rows' entries, their
    definition and the column each reads) and, by the definitions the bounds allow, where
    the coefficients go (`_Placement`). A function of the key it is kept under (the
    defined variables, the rows' lengths and their columns in order),
    and a placement of that and the allowed definitions: a program of the same structure
    computes only its numbers (loadings, pivots, bounds), as the search in full does."""

    others: NDArray[np.intp]
    definition: NDArray[np.intp]
    index: NDArray[np.intp]
    placements: dict[bytes, _Placement] = field(default_factory=dict)


# `factor_definitions`' plans by the definition rows' structure (a run's programs share one;
# emptied when full, as are a plan's placements)
_PLANS: dict[tuple[bytes, bytes, str, bytes], _DefinitionPlan] = {}
_MOST_PLANS = 8


def _definition_plan(
    variables: NDArray[np.intp],
    definition: NDArray[np.intp],
    read_columns: NDArray[np.int64],
) -> _DefinitionPlan:
    """The `_DefinitionPlan` of the chosen rows: `definition` and `read_columns` are each
    of their entries' definition and column."""
    others = read_columns != variables[definition]
    plan = _DefinitionPlan(
        np.flatnonzero(others),
        definition[others],
        read_columns[others].astype(np.intp),
    )
    for array in (plan.others, plan.definition, plan.index):
        array.flags.writeable = False
    return plan


def _placement(
    variables: NDArray[np.intp],
    definition: NDArray[np.intp],
    index: NDArray[np.intp],
    alive: NDArray[np.bool_],
) -> _Placement:
    """The `_Placement` of the definitions `alive` allows (`definition`, `index`: each
    entry's definition and column, the defined variable's own entries left out).

    A definition may not read another substituted variable (no chains): such definitions
    are dropped, one at a time, until none does."""
    alive = alive.copy()
    # (masks over the columns these rows read: the same places whatever the program's size)
    size = 1 + max(int(variables.max(initial=-1)), int(index.max(initial=-1)))
    defined = np.zeros(size, dtype=bool)
    defined[variables[alive]] = True
    while True:
        reads_defined = np.zeros(len(alive), dtype=bool)
        reads_defined[definition[alive[definition] & defined[index]]] = True
        chained = np.flatnonzero(reads_defined)
        if chained.size == 0:
            break
        alive[chained[0]] = False
        defined[variables[chained[0]]] = False
    keep = alive[definition]
    number = np.cumsum(alive) - 1  # a kept definition's row of the matrix
    kept_definition = definition[keep]
    # the columns read, sorted, by a mask (not np.unique of every definition's columns);
    # a definition's columns are distinct (a dict's keys, an array row's columns)
    read = np.zeros(size, dtype=bool)
    read[index[keep]] = True
    reads = np.flatnonzero(read)
    column = np.full(size, -1, dtype=np.intp)
    column[reads] = np.arange(reads.size)
    placement = _Placement(
        alive=np.flatnonzero(alive),
        kept=np.flatnonzero(keep),
        divisors=kept_definition,
        at=(number[kept_definition], column[index[keep]]),
        reads=reads.astype(np.intp),
        shape=(int(alive.sum()), int(reads.size)),
    )
    for array in (placement.alive, placement.kept, placement.divisors, placement.reads):
        array.flags.writeable = False
    for array in placement.at:
        array.flags.writeable = False
    return placement


__all__ = ["FactorDefinitions", "factor_definitions", "weighted_gram"]
