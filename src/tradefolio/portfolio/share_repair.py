"""Whole shares by repair: the fractional optimum, rounded and searched to whole lots.

A quadratic rebalance with whole shares (`--whole-shares`, `--lot`) and trade flags (a
fixed cost per trade, a minimum trade) went to SCIP: 0.2-20 s per sample rebalance, often
without a proof. This module solves it in two steps instead:

1. the same model in fractional shares (the whole-share model without its lots) by the
   rebalance solver (`rebalance_solver.py`). Every whole-share portfolio is a point of that
   model (same weights, trades, flags and rows; lots only restrict the weights), so its
   proven bound B is a valid bound for the whole-share model's objective (without the
   leftover-cash tie-break, which is not part of the reported objective);
2. a local search over whole lots from several roundings of that optimum (towards the
   holdings, down, to the nearest lot, and the holdings themselves): one name at a time
   moves to its held shares, to nothing, or by one lot, a move accepted when it lowers the
   total row violation or, with every row met, improves the whole-share program's
   objective (tie-break included: leftover cash is minimised as the model says).

The point is written over the *whole-share* program's own variables (lots, weights,
trades, flags, the factor exposures from their definition rows) and checked there: every
bound and row to 1e-9 during the search and by `Program.violations` at the end, so what
`PortfolioModel._result` lists (and re-checks on the trades, `listed.py`) is that point.
The claim: the gap between the objective at that point and B, "optimal" only when it meets
`QUADRATIC_RELATIVE_GAP` (the whole-share model's stated target, SCIP's), else "feasible"
with the gap. No whole-share point found (or a program this module cannot complete) ->
None, and the caller sends the model to SCIP as before.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import SolverError
from tradefolio.portfolio.backends import QUADRATIC_RELATIVE_GAP, RawSolution, proven_gap
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.rebalance_solver import solve_rebalance
from tradefolio.portfolio.types import SolveStatus

#: The solver name a repaired answer reports (rebalances.csv, the JSON `solver`) when the
#: rebalance solver proved the fractional twin; `SCIP_REPAIR_SOLVER` when SCIP did (the
#: rebalance solver's answer failed its checks, `rebalance_solver.py`).
REPAIR_SOLVER = "highs+repair"
SCIP_REPAIR_SOLVER = "scip+repair"
REPAIR_SOLVERS = (REPAIR_SOLVER, SCIP_REPAIR_SOLVER)
# A row or bound may miss by this (weight units) during the search; the final check is
# `Program.violations` at `_CHECK`.
_SEARCH = 1e-9
_CHECK = 1e-6
# Passes of the one-name search over every name, per start.
_PASSES = 40


@dataclass(frozen=True, slots=True)
class _Evaluator:
    """The whole-share program's rows, bounds and objective as arrays, and how a target in
    shares becomes a point over all its variables."""

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
    linear: NDArray[np.float64]
    quad_i: NDArray[np.int64]
    quad_j: NDArray[np.int64]
    quad_c: NDArray[np.float64]
    derived: NDArray[np.int64]  # variables fixed by their definition rows
    derived_constant: NDArray[np.float64]  # their values = constant + map @ values
    derived_map: NDArray[np.float64]

    def point(self, target: NDArray[np.float64]) -> NDArray[np.float64]:
        """Every variable's value for target shares `target` (universe order)."""
        ctx = self.ctx
        universe = ctx.universe
        assert ctx.lots is not None
        values = np.zeros(self.program.size)
        w = target * universe.prices / universe.value
        w0 = universe.initial_weights
        odd = np.zeros(ctx.size)
        for i, (keep, shares) in ctx.odd_lots.items():
            kept = _has_odd(float(target[i]), shares, float(self.lot_sizes[i]))
            values[keep] = 1.0 if kept else 0.0
            odd[i] = shares if kept else 0.0
        values[ctx.lots] = np.round((target - odd) / self.lot_sizes)
        values[ctx.weights] = w
        values[ctx.selected] = (target > 0).astype(np.float64)
        traded = target != universe.held_shares
        if ctx.buys is not None and ctx.sells is not None:  # no trade variables from cash
            values[ctx.buys] = np.where(traded, np.maximum(w - w0, 0.0), 0.0)
            values[ctx.sells] = np.where(traded, np.maximum(w0 - w, 0.0), 0.0)
        if ctx.buy_flags is not None and ctx.sell_flags is not None:  # no fixed cost / minimum
            values[ctx.buy_flags] = (traded & (target > universe.held_shares)).astype(np.float64)
            values[ctx.sell_flags] = (traded & (target < universe.held_shares)).astype(np.float64)
        if self.derived.size:
            values[self.derived] = self.derived_constant + self.derived_map @ values
        return values

    def violation(self, values: NDArray[np.float64]) -> float:
        """Total amount by which rows and bounds are broken (0 when all hold to _SEARCH)."""
        activity = np.bincount(
            self.row_of, weights=self.data * values[self.columns], minlength=self.lo.size
        )
        rows = np.maximum(self.lo - activity, 0.0) + np.maximum(activity - self.hi, 0.0)
        bounds = np.maximum(self.lower - values, 0.0) + np.maximum(values - self.upper, 0.0)
        total = float(rows[rows > _SEARCH].sum() + bounds[bounds > _SEARCH].sum())
        return total

    def objective(self, values: NDArray[np.float64]) -> float:
        """The program's objective (tie-break included)."""
        quadratic = float(self.quad_c @ (values[self.quad_i] * values[self.quad_j]))
        return float(self.program.constant + self.linear @ values + quadratic)


def _has_odd(target: float, odd: float, lot: float) -> bool:
    """Whether `target` shares include the odd lot `odd` (target = k lots + odd)."""
    rest = (target - odd) / lot
    return target >= odd and abs(rest - round(rest)) < 1e-9


def _evaluator(ctx: ModelContext, lot_sizes: NDArray[np.float64]) -> _Evaluator | None:
    """The arrays of `ctx`'s program, or None if a variable outside the lots, weights,
    selections, trades and flags is not fixed by an equality row over the others."""
    program = ctx.program
    if ctx.lots is None:
        return None
    known = {
        *ctx.lots,
        *ctx.weights,
        *ctx.selected,
        *(ctx.buys or ()),
        *(ctx.sells or ()),
        *(ctx.buy_flags or ()),
        *(ctx.sell_flags or ()),
        *(keep for keep, _ in ctx.odd_lots.values()),
    }
    # each derived variable as an affine function of the known ones: constant + row . v
    affine: dict[int, tuple[float, NDArray[np.float64]]] = {}
    pending = [r for r, row in enumerate(program.rows) if row.lo == row.hi]
    progress = True
    while progress and len(known) < program.size:
        progress = False
        for r in list(pending):
            row = program.rows[r]
            unknown = [k for k in row.coefficients if k not in known]
            if len(unknown) != 1:
                continue
            k = unknown[0]
            pivot = row.coefficients[k]
            constant, linear_part = row.lo / pivot, np.zeros(program.size)
            for j, c in row.coefficients.items():
                if j == k:
                    continue
                if j in affine:  # a chain: substitute the earlier definition
                    constant -= c / pivot * affine[j][0]
                    linear_part -= c / pivot * affine[j][1]
                else:
                    linear_part[j] -= c / pivot
            affine[k] = (constant, linear_part)
            known.add(k)
            pending.remove(r)
            progress = True
    if len(known) < program.size:
        return None
    lengths = [len(r.coefficients) for r in program.rows]
    linear = np.zeros(program.size)
    for k, c in program.linear.items():
        linear[k] += c
    pairs = list(program.quadratic.items())
    return _Evaluator(
        program=program,
        ctx=ctx,
        lot_sizes=lot_sizes,
        columns=np.fromiter(
            itertools.chain.from_iterable(r.coefficients for r in program.rows), np.int64
        ),
        data=np.fromiter(
            itertools.chain.from_iterable(r.coefficients.values() for r in program.rows),
            np.float64,
        ),
        row_of=np.repeat(np.arange(len(program.rows)), lengths).astype(np.int64),
        lo=np.array([r.lo for r in program.rows], dtype=np.float64),
        hi=np.array([r.hi for r in program.rows], dtype=np.float64),
        lower=np.array(program.lower, dtype=np.float64),
        upper=np.array(program.upper, dtype=np.float64),
        linear=linear,
        quad_i=np.array([i for (i, _), _ in pairs], dtype=np.int64),
        quad_j=np.array([j for (_, j), _ in pairs], dtype=np.int64),
        quad_c=np.array([c for _, c in pairs], dtype=np.float64),
        derived=np.fromiter(affine, np.int64, len(affine)),
        derived_constant=np.array([a[0] for a in affine.values()], dtype=np.float64),
        derived_map=(
            np.vstack([a[1] for a in affine.values()]) if affine else np.zeros((0, program.size))
        ),
    )


def _moves(current: float, held: float, odd: float, lot: float, most: float) -> list[float]:
    """Targets one step from `current` shares: the holdings, nothing, one lot up or down
    (with the odd lot kept or dropped when one is held)."""
    options = {held, 0.0}
    bases = {0.0} if odd == 0.0 else {0.0, odd}
    for base in bases:
        k = math.floor((current - base) / lot + 1e-9)
        for step in (k - 1, k, k + 1, k + 2):
            if 0 <= step <= most:
                options.add(base + step * lot)
    options.discard(current)
    return sorted(options)


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


def _search(
    evaluator: _Evaluator,
    start: NDArray[np.float64],
    most: NDArray[np.float64],
    active: NDArray[np.intp],
) -> tuple[NDArray[np.float64], float, float]:
    """Moves of the `active` names from `start` until none helps: one name to any of its
    `_moves`, then (when none of those helps) two names by one lot each, in any
    direction (a sector at its cap with the turnover cap binding needs one name sold
    more and another bought less). Returns (target, violation, objective)."""
    ctx = evaluator.ctx
    held = ctx.universe.held_shares
    odd = np.zeros(ctx.size)
    for i, (_, shares) in ctx.odd_lots.items():
        odd[i] = shares
    lots = evaluator.lot_sizes
    sign = 1.0 if ctx.program.maximize else -1.0
    target = start.copy()
    values = evaluator.point(target)
    state = (evaluator.violation(values), sign * evaluator.objective(values))

    def better(trial: NDArray[np.float64], than: tuple[float, float]) -> tuple[float, float] | None:
        point = evaluator.point(trial)
        v, s = evaluator.violation(point), sign * evaluator.objective(point)
        helps = v < than[0] - 1e-15 or (v == 0.0 and than[0] == 0.0 and s > than[1] + 1e-15)
        return (v, s) if helps else None

    for _ in range(_PASSES):
        improved = False
        for i in active:
            best: tuple[NDArray[np.float64], tuple[float, float]] | None = None
            for option in _moves(
                float(target[i]), float(held[i]), float(odd[i]), float(lots[i]), float(most[i])
            ):
                trial = target.copy()
                trial[i] = option
                # of the moves that help, the best objective: a broken row is repaired by
                # the move that costs least (not by jumping to the holdings or to cash)
                found = better(trial, state)
                if found is not None and (best is None or found[1] > best[1][1]):
                    best = (trial, found)
            if best is not None:
                target, state = best
                improved = True
        if improved:
            continue
        for a, b in itertools.combinations(active, 2):
            for da, db in ((1, -1), (-1, 1), (1, 1), (-1, -1)):
                trial = target.copy()
                trial[a] += da * lots[a]
                trial[b] += db * lots[b]
                if trial[a] < 0 or trial[b] < 0:
                    continue
                found = better(trial, state)
                if found is not None:
                    target, state = trial, found
                    improved = True
        if not improved:
            break
    return target, state[0], sign * state[1]


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


def solve_by_repair(
    whole: ModelContext,
    fractional: ModelContext,
    lot_sizes: NDArray[np.float64],
    time_limit: float,
    hint: NDArray[np.float64] | None = None,
    relaxed: RawSolution | None = None,
) -> RawSolution | None:
    """Solve the whole-share program of `whole` through its fractional twin `fractional`
    (the same model without lots, `suits_rebalance_solver`), as the module docstring says;
    None when no whole-share point is found. Raises what `solve_rebalance` raises for the
    fractional model (infeasible, bad input), since it binds the whole-share model too.
    `relaxed` is the twin's solution when the caller has it (a twin without trade flags,
    solved by the branch and bound: its bound is as valid)."""
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
    best: tuple[float, NDArray[np.float64]] | None = None
    # names that are or may be held: the others only open a position when the fractional
    # optimum does (a start's rounding) or a move reaches them from there
    seen: list[NDArray[np.float64]] = []
    for start in _starts(shares, held, untraded, lot_sizes):
        if any(np.array_equal(start, other) for other in seen):
            continue
        seen.append(start)
        active = np.flatnonzero((held > 0) | (shares * prices > 1e-9 * value) | (start > 0))
        target, broken, objective = _search(evaluator, start, most, active)
        if broken == 0.0 and (best is None or sign * objective > sign * best[0]):
            best = (objective, target)
    if best is None:
        return None
    values = evaluator.point(best[1])
    if program.violations(values, _CHECK):
        return None
    objective = program.objective_value(values)
    tie_break = whole.tie_break_scale * float(values[whole.weights].sum())
    reported = objective - tie_break  # the objective `_result` reports
    bound = relaxed.best_bound
    if sign * (reported - bound) > 1e-9 * max(abs(bound), 1.0):
        return None  # beats the fractional bound: the relaxation is not what it claims
    gap = proven_gap(reported, bound, program.maximize)
    status: SolveStatus = "optimal" if gap <= QUADRATIC_RELATIVE_GAP else "feasible"
    # `_result` reports objective + (best_bound - objective): the fractional bound B.
    solver = SCIP_REPAIR_SOLVER if relaxed.solver == "scip" else REPAIR_SOLVER
    return RawSolution(values, status, objective, objective + (bound - reported), solver, gap)


__all__ = [
    "REPAIR_SOLVER",
    "REPAIR_SOLVERS",
    "SCIP_REPAIR_SOLVER",
    "solve_by_repair",
    "whole_point",
]
