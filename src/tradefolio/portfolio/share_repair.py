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
   The search stops at the first start whose point is proven within
   `QUADRATIC_RELATIVE_GAP` of B (the claim "optimal" needs no more; the later starts'
   points may be better within that gap). The holdings are the fallback start: searched
   only when no rounding gave a whole point or the holdings as they stand beat it (on
   500 names the rounding starts' points beat the holdings' by gaps of 1e-4 against
   0.14-0.54, and the holdings' search was a third of the repair). When the points leave a
   gap above `mend_above` (SCIP's threshold, `model.SCIP_AFTER_REPAIR_GAP`), the starts
   are searched again mending a broken row first at the least cost over every name (a
   turnover cap one share over is otherwise mended by the first name able to, which may
   keep a whole position the optimum sells).
   Every move is rated by its change (`lot_program.py`: the rows and objective over the
   names' own variables, all options of all names at once) against the state at its
   turn, as a search evaluating the whole point at every move would rate it.

The point is written over the *whole-share* program's own variables (lots, weights,
trades, flags, the factor exposures from their definition rows) and checked there: every
bound and row to 1e-9 during the search and every bound, integrality and row to 1e-6 at
the end (`LotProgram.broken`, `Program.violations`' test over the same rows), so what
`PortfolioModel._result` lists (and re-checks on the trades, `listed.py`) is that point.
The claim: the gap between the objective at that point and B, "optimal" only when it meets
`QUADRATIC_RELATIVE_GAP` (the whole-share model's stated target, SCIP's), else "feasible"
with the gap. No whole-share point found (or a program this module cannot complete) ->
None, and the caller sends the model to SCIP as before.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import SolverError
from tradefolio.portfolio.backends import QUADRATIC_RELATIVE_GAP, RawSolution, claim
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.lot_program import LotMoves, LotProgram, MoveTable, lot_program
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
# `ndarray.all` without its Python wrapper (the same reduction; 1-d arrays here)
_every = np.logical_and.reduce


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
    moves: LotMoves, at: NDArray[np.intp], most: NDArray[np.float64], steps: bool = False
) -> NDArray[np.float64]:
    """Targets one step from the current shares of movable positions `at`, ascending, NaN
    padded (n, 10; n, 6 when none of them holds an odd lot): the holdings, nothing, one lot
    up or down (with the odd lot kept or dropped when one is held); never the current
    target itself. (Each target appears once: a repeat is NaN in its place.)

    In Python floats (a few names: numpy's cost here is per call), the same arithmetic as
    the arrays had: k = floor((t - base) / lot + 1e-9), steps k - 1 .. k + 2 within
    [0, most] (`tests/unit/portfolio/repair_reference.py`). With `steps`, each row ends
    with `LotMoves.step_targets`' two targets (one lot up, one lot down: t + lot, t - lot)."""
    return _option_table(moves, at.tolist(), most[moves.movable[at]].tolist(), steps)


def _option_table(
    moves: LotMoves, positions: list[int], cap: list[float], steps: bool
) -> NDArray[np.float64]:
    """`_options` of movable positions `positions`, each capped at `cap` lots (the search
    reads both once: they do not change while it runs)."""
    odd = moves.odd_of
    width = 10 if any([odd[p] != 0.0 for p in positions]) else 6
    flat: list[float] = []
    for p, most_p in zip(positions, cap, strict=True):
        flat.extend(_option_row(moves, p, most_p, width, steps))
    columns = width + 2 if steps else width
    if not positions:
        return np.empty((0, columns))
    return np.array(flat, dtype=np.float64).reshape(len(positions), columns)


def _option_row(moves: LotMoves, p: int, most_p: float, width: int, steps: bool) -> list[float]:
    """Movable position `p`'s row of `_option_table` (`width` options, NaN padded, then
    with `steps` its two steps): a function of its current target alone (its holdings,
    odd lot, lot size and cap do not change while the search runs)."""
    c, size, d = moves.current[p], moves.lot_of[p], moves.odd_of[p]
    nan = math.nan
    found = [moves.held_of[p], 0.0]
    k = math.floor(c / size + 1e-9)
    for step in (k - 1, k, k + 1, k + 2):
        if 0 <= step <= most_p:
            found.append(step * size)
    if d != 0.0:
        k = math.floor((c - d) / size + 1e-9)
        for step in (k - 1, k, k + 1, k + 2):
            if 0 <= step <= most_p:
                found.append(d + step * size)
    found.sort()
    # the targets other than the current one, a repeat of the one before NaN
    row: list[float] = []
    append = row.append
    before = nan  # (equal to nothing)
    for t in found:
        if t != c:
            append(nan if t == before else t)
            before = t
    row.extend([nan] * (width - len(row)))
    if steps:
        append(c + size)  # (t + 1.0 * lot and t + -1.0 * lot, exactly)
        append(c - size)
    return row


# Two-name moves rated per call (each a row of the global rows near their bounds).
_PAIR_CHUNK = 4096
# Two names by one lot each, in this order per pair (a sells / b buys first).
_PAIR_STEPS = np.array([(1.0, -1.0), (-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0)])


@functools.lru_cache(maxsize=64)
def _pairs_of(count: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The two-name moves of `count` movable positions in `itertools.combinations` order,
    `_PAIR_STEPS` each: (first, second, steps), read-only."""
    names = np.arange(count)
    first, second = np.nonzero(names[:, None] < names)
    steps = np.tile(_PAIR_STEPS, (first.size, 1))
    arrays = (np.repeat(first, 4), np.repeat(second, 4), steps)
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _first_help(
    violation: NDArray[np.float64],
    objective: NDArray[np.float64],
    width: int,
    sign: float,
    now: float,
    objective_now: float,
) -> tuple[int, int] | None:
    """The first row of one-name moves (`LotMoves.singles`, options in the first `width`
    columns) with a move that helps, and its best helping option: (row, option); None when
    no move helps. A move helps when it lowers the total violation or, with every row met,
    keeps them met and raises the objective (signed).

    Which moves help is one array test (numpy's cost is per call: a Python loop over every
    option cost more); the best of the first row that has one is chosen in Python floats,
    as before: the highest signed objective, the first of equals, a NaN objective (a NaN
    target's) kept when it comes first."""
    violation, objective = violation[:, :width], objective[:, :width]
    helping: NDArray[np.bool_]
    if now > 0.0:
        limit = now - 1e-15
        helping = violation < limit
    else:
        helping = (violation == 0.0) & (sign * objective > sign * objective_now + 1e-15)
    if not helping.size:
        return None
    first = int(helping.argmax())  # (row-major: the first helping move of the first row)
    row, choice = divmod(first, width)
    if not helping[row, choice]:
        return None  # (no move helps: the first of all, not helping)
    best, top = -1, -math.inf
    for choice, (helps, score) in enumerate(
        zip(helping[row].tolist(), (sign * objective[row]).tolist(), strict=True)
    ):
        if helps and (best < 0 or score > top):
            best, top = choice, score
    return row, best


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

    def helps(violation: NDArray[np.float64], score: NDArray[np.float64]) -> NDArray[np.bool_]:
        # (violations are >= 0: with every row met only a met row and a better score help)
        now = moves.violation
        better: NDArray[np.bool_]
        if now > 0.0:
            better = violation < now - 1e-15
        else:
            better = (violation == 0.0) & (score > sign * moves.objective + 1e-15)
        return better

    cap = most[moves.movable].tolist()  # (the movable names' lots caps, as `_options` reads)
    current = moves.current
    width = 10 if any([odd != 0.0 for odd in moves.odd_of]) else 6  # (`_option_table`'s)
    # each position's `_option_row` and the target it is of: rebuilt only for a name that
    # moved since (the row is a function of its target alone)
    rows: list[tuple[float, list[float]]] = []

    def rated() -> tuple[MoveTable, int]:
        """The pass's table (every option, then the steps; `_option_table`'s targets) and
        how many options lead it."""
        if not rows:
            rows.extend(
                (c, _option_row(moves, p, cap[p], width, True)) for p, c in enumerate(current)
            )
        flat: list[float] = []
        for p, (of, row) in enumerate(rows):
            if current[p] != of:
                row = _option_row(moves, p, cap[p], width, True)
                rows[p] = (current[p], row)
            flat.extend(row)
        targets = (
            np.array(flat, dtype=np.float64).reshape(count, width + 2)
            if count
            else np.empty((0, width + 2))
        )
        return moves.table(targets), width

    for _ in range(_PASSES):
        improved = False
        table, width = rated()
        if mend_first and moves.violation > 0.0:
            violation, objective, spread = moves.singles_and_spread(table, slice(None), width)
            mends = violation[:, :width] == 0.0
            if mends.any():
                score = np.where(mends, sign * objective[:, :width], -np.inf)
                best_row, best_choice = divmod(int(np.argmax(score)), width)
                moves.move(table, best_row, best_choice, _at(spread, best_row, best_choice))
                improved = True
                table, width = rated()
        turn = 0
        while turn < count:
            violation, objective, spread = moves.singles_and_spread(table, slice(turn, None), width)
            found = _first_help(violation, objective, width, sign, moves.violation, moves.objective)
            if found is None:
                break
            row, choice = found
            moves.move(table, turn + row, choice, _at(spread, row, choice))
            improved = True
            turn += row + 1
        if improved:
            continue
        if count < 2:
            break  # no pair to move
        first, second, steps = _pairs_of(count)
        pair = 0
        # no name moved in this pass: the pass's steps (its last two options) are the state's
        while pair < first.size:
            chunk = slice(pair, pair + _PAIR_CHUNK)  # bounded memory with many names
            a, b = first[chunk], second[chunk]
            violation, objective, up_a, up_b, spread = moves.pairs_and_spread(
                table, a, b, steps[chunk]
            )
            targets = table.targets
            # the first move that helps with both targets at or above 0 shares
            hit = next(
                (
                    h
                    for h in helps(violation, sign * objective).nonzero()[0].tolist()
                    if targets[a[h], up_a[h]] >= 0 and targets[b[h], up_b[h]] >= 0
                ),
                -1,
            )
            if hit < 0:
                pair += _PAIR_CHUNK
                continue
            moves.move(table, int(a[hit]), int(up_a[hit]))
            moves.move(table, int(b[hit]), int(up_b[hit]), _at(spread, hit))
            table = moves.steps()
            improved = True
            pair += hit + 1
        if not improved:
            break
    target = moves.target
    values = evaluator.point(target)
    return target, evaluator.violation(values), evaluator.objective(values)


def _at(spread: NDArray[np.float64] | None, *where: int) -> float | None:
    """The global rows' part of a rated move's violation (`LotMoves.singles_and_spread`,
    `pairs_and_spread`) for `LotMoves.move`, None when the rating did not give it."""
    return None if spread is None else float(spread[where])


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
    most = evaluator.upper[whole.lots]  # (the program's upper bounds as an array)
    program = whole.program
    sign = 1.0 if program.maximize else -1.0
    bound = relaxed.best_bound
    best: tuple[float, NDArray[np.float64]] | None = None
    best_gap = math.inf  # the best point's gap against B (`_search_claim`)
    # names that are or may be held: the others only open a position when the fractional
    # optimum does (a start's rounding) or a move reaches them from there
    starts: list[NDArray[np.float64]] = []
    for start in _starts(shares, held, untraded, lot_sizes):
        # (`np.array_equal` of arrays of one shape: the same test without its wrapper)
        if not any([bool(_every(start == other)) for other in starts]):
            starts.append(start)
    holdings = starts[-1] if bool(_every(starts[-1] == held)) else None
    proven = False
    # the starts by the plain search; when that leaves a gap above `mend_above`, mending first
    for mend_first in (False, True):
        if mend_first and best is not None and (proven or best_gap <= mend_above):
            break
        for start in starts:
            if (
                start is holdings
                and stop_at_gap
                and best is not None
                and not _beats(evaluator, held, best[0])
            ):
                continue  # a rounding's whole point beats the holdings as they stand
            active = ((held > 0) | (shares * prices > 1e-9 * value) | (start > 0)).nonzero()[0]
            target, broken, objective = _search(evaluator, start, most, active, mend_first)
            if broken != 0.0:
                continue
            if best is None or sign * objective > sign * best[0]:
                best = (objective, target)
                status, best_gap = _search_claim(whole, target, objective, bound)
                proven = status == "optimal"
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


__all__ = [
    "REPAIR_SOLVER",
    "REPAIR_SOLVERS",
    "SCIP_REPAIR_SOLVER",
    "solve_by_repair",
    "whole_point",
]
