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
from tradefolio.portfolio.program import INF, Program, Row

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
    integers = {k for k, integer in enumerate(program.integer) if integer}
    return integers == expected


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
    aggregation = _aggregation(ctx)
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
    if program.violations(values, _CHECK):
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
