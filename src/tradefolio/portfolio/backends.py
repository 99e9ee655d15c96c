"""Solver backends for a neutral `Program`: which solver handles which model.

| program                          | backend                             | solvers           |
| -------------------------------- | ----------------------------------- | ----------------- |
| linear (score, cvar, mad, kelly) | OR-Tools `pywraplp`                 | cbc*, scip, highs |
| quadratic (mean/min-variance)    | `branch_and_bound.py`, HiGHS QPs    | highs*            |
| quadratic (mean/min-variance)    | OR-Tools MathOpt                    | scip (gSCIP)*     |

(* the default for "auto": for a quadratic program highs when its only integers are the
names' selections, scip when it has lots, trade flags or fixed costs; the composable model
sends a quadratic program with trade flags and no lots to `rebalance_solver.py`, which runs
the branch and bound on an aggregated copy, `solve_by_branch_and_bound`; a mean-variance
program on the simplex whose only other constraint is a binding cardinality cap goes first
to `cardinality_search.py`, its bounds doubly-nonnegative certificates from SCS)

A quadratic program sent to cbc fails with `SolverUnavailable` naming the fix: CBC has no
quadratic objective. For quadratic programs "highs" means tradefolio's own branch and bound
with HiGHS solving each node's convex QP exactly (HiGHS itself has no MIQP).

Every solve has a time limit and a relative MIP gap target; the answer carries the status,
the objective re-evaluated in Python at the solver's point, the solver's best bound and the
proven gap between the two. "optimal" means the solver stopped on its proof *and* that
proof meets the stated target at the point returned: SCIP checks a quadratic objective only
to its feasibility tolerance and has said OPTIMAL 1.9e-4 below the optimum with a 1e-5
target, so its claim is re-checked against its own dual bound; otherwise "feasible".
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, InvalidParameter, SolverError, SolverUnsuited
from tradefolio.errors import SolverUnavailable as SolverUnavailableError
from tradefolio.extras import import_extra
from tradefolio.portfolio.mip import (
    MIP_SOLVERS,
    create_solver,
    load_pywraplp,
    native_stdout_silenced,
)
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.types import SolveStatus, relative_gap

#: Solver names the composable model accepts; "auto": see `resolve_solver`.
MODEL_SOLVERS: tuple[str, ...] = ("auto", *MIP_SOLVERS)
#: Solvers that take a quadratic objective: tradefolio's branch and bound over HiGHS QP
#: relaxations ("highs", the default) and SCIP through OR-Tools MathOpt.
QUADRATIC_SOLVERS: tuple[str, ...] = ("highs", "scip")
#: Relative gap at which a linear MIP counts as solved.
RELATIVE_GAP = 1e-8
#: Relative gap for quadratic programs on SCIP: it checks the quadratic epigraph to ~1e-6
#: absolute, which on a small objective (a variance of 1e-5) is 1e-6..1e-5 relative; a
#: tighter target burns the time limit (a 3-name model ran 120 s at 1e-6, 0.3 s at 1e-5).
QUADRATIC_RELATIVE_GAP = 1e-5
#: Relative gap of the branch and bound: its node QPs are solved exactly (active set).
BRANCH_AND_BOUND_GAP = 1e-9
#: Absolute gap (in the solvers' scaled objective units, largest coefficient 1e3) that also
#: counts as proven: 1e-10 of the largest coefficient, above the round-off of the node QPs'
#: Lagrangian bounds (optima of 0 with their bounds 3.6e-9 and 1.1e-8 beyond were left
#: "feasible" at 1e-9 and 1e-8: hypothesis draws of all-zero scores).
ABSOLUTE_GAP = 1e-7
#: The same for a linear MIP through pywraplp: CBC, SCIP and HiGHS prove to their primal and
#: integrality tolerances (~1e-7 on the scaled rows), so a bound 6e-6 above an objective of 0
#: (a Kelly model holding nothing) or a 1e-9 score left unheld is their proof's noise, not a
#: shortfall: 1e-8 of the largest objective coefficient.
LINEAR_ABSOLUTE_GAP = 1e-5
# Largest objective coefficient after scaling (solvers use absolute tolerances).
_OBJECTIVE_SCALE = 1e3
# A proven gap below this is round-off between the solver's bound and the Python objective.
_ROUND_OFF_GAP = 1e-12


@dataclass(frozen=True, slots=True)
class RawSolution:
    """Variable values, status, objective (unscaled, from the program), the solver's best
    bound and the proven relative gap between them (0 below round-off)."""

    values: NDArray[np.float64]
    status: SolveStatus
    objective: float
    best_bound: float
    solver: str
    gap: float = 0.0
    # The branch and bound's bound of the QP with the answer's integers fixed (its
    # `SearchResult.incumbent_bound`); NaN from every other solver.
    incumbent_bound: float = math.nan


def resolve_solver(name: str, program: Program) -> str:
    """The concrete solver for `name`; fail clearly if it can't solve `program`.

    "auto" picks cbc for linear programs; for quadratic ones the branch and bound ("highs")
    when every integer is a name's selection (`suits_branch_and_bound`), else SCIP: lots,
    trade flags and tiny fixed-cost coefficients are where HiGHS's QP answers were seen to
    be inexact, and where SCIP's own branching is the safer engine.
    """
    key = name.lower()
    quadratic = program.is_quadratic
    if key not in MODEL_SOLVERS:
        raise InvalidParameter(f"unknown solver {name!r}: choose one of {', '.join(MODEL_SOLVERS)}")
    if not quadratic:
        return "cbc" if key == "auto" else key
    # Imported for quadratic programs only: a linear solve never loads the branch and bound.
    from tradefolio.portfolio.branch_and_bound import suits_branch_and_bound

    if key == "auto":
        return "highs" if suits_branch_and_bound(program) else "scip"
    if key not in QUADRATIC_SOLVERS:
        raise SolverUnsuited(
            f"solver {key!r} cannot solve a quadratic objective (mean-variance, min-variance) "
            "with integer variables; use --solver highs (branch and bound over HiGHS QPs, "
            "the default) or --solver scip (OR-Tools MathOpt with SCIP)"
        )
    if key == "highs" and not suits_branch_and_bound(program):
        raise SolverUnsuited(
            "--solver highs solves quadratic models whose only integer choices are which "
            "names to hold; with whole shares (--whole-shares, or without --fractional any of "
            "--max-turnover, --cost-bps, --fixed-cost, --cost-budget, --min-trade, "
            "--min-invested) use --solver scip, or --solver auto (it picks a route for "
            "whole shares)"
        )
    return key


def _scale(program: Program) -> float:
    """`objective_scale`: 1e3 over the largest |coefficient| of the objective (1 without one)."""
    # (the same magnitudes in the same order as a list of both: one pass, no list built)
    largest = max(
        map(abs, itertools.chain(program.linear.values(), program.quadratic.values())),
        default=0.0,
    )
    scale = _OBJECTIVE_SCALE / largest if largest > 0 else 1.0
    # Subnormal coefficients would overflow the scale: they are zero for any purpose.
    return scale if math.isfinite(scale) else 1.0


def objective_scale(program: Program) -> float:
    """The factor the solvers see `program`'s objective multiplied by (its largest
    coefficient becomes 1e3): the unit of `ABSOLUTE_GAP` and `LINEAR_ABSOLUTE_GAP`."""
    return _scale(program)


def solve_program(
    program: Program,
    solver: str = "auto",
    time_limit: float = 10.0,
    hint: NDArray[np.float64] | None = None,
    relative_gap: float | None = None,
) -> RawSolution:
    """Solve `program`; raise `InfeasibleAllocation`, `SolverError` or `SolverUnavailable`.

    `relative_gap` overrides the linear MIP gap target (`RELATIVE_GAP`).
    """
    name = resolve_solver(solver, program)
    if program.is_quadratic:
        if name == "highs":
            return _solve_branch_and_bound(program, time_limit, hint)
        return _solve_mathopt(program, time_limit, hint)
    return _solve_pywraplp(program, name, time_limit, hint, relative_gap or RELATIVE_GAP)


def proven_gap(objective: float, bound: float, maximize: bool, round_off: float = 0.0) -> float:
    """How far `bound` lies beyond `objective` in the optimisation's direction, relative
    (`types.relative_gap`); 0 when the bound is on the wrong side or within round-off (a
    relative 1e-12, or `round_off` in the objective's units: the solvers' absolute
    tolerance, `claim`); inf (unknown) when there is no finite bound (a solve stopped
    before it had one)."""
    if not math.isfinite(bound):
        return math.inf
    distance = bound - objective if maximize else objective - bound
    if distance <= round_off:
        return 0.0
    gap = relative_gap(objective, bound)
    return 0.0 if gap <= _ROUND_OFF_GAP else gap


def claim(
    program: Program,
    objective: float,
    bound: float,
    target: float,
    absolute_target: float = ABSOLUTE_GAP,
) -> tuple[SolveStatus, float]:
    """The status and proven gap of `objective` against the valid `bound`, whatever the
    solver said (its bound is valid either way; inf never proves). A bound within
    `ABSOLUTE_GAP` (the solvers' scaled units) of the objective is round-off: gap 0 (an
    optimum of 0 with its bound 1e-13 beyond it); any other gap is relative. "optimal" when
    that gap meets `target` or the bound lies within the route's proof noise
    (`absolute_target`: `ABSOLUTE_GAP` on the quadratic routes, so there "optimal" always
    states a gap that meets the target; `LINEAR_ABSOLUTE_GAP` on the linear ones, whose
    gap is then still reported as it is)."""
    scale = _scale(program)
    gap = proven_gap(objective, bound, program.maximize, ABSOLUTE_GAP / scale)
    noise = math.isfinite(bound) and abs(bound - objective) * scale <= absolute_target
    return ("optimal" if gap <= target * (1 + 1e-9) or noise else "feasible"), gap


def _finish(
    program: Program,
    values: NDArray[np.float64],
    bound: float,
    solver: str,
    target: float,
    absolute_target: float = ABSOLUTE_GAP,
) -> RawSolution:
    """Round the integers, re-evaluate the objective and claim (`claim`) against the
    solver's bound at this point: "optimal" only if the proven gap meets `target`."""
    integer = np.array(program.integer, dtype=bool)
    values = values.copy()
    values[integer] = np.round(values[integer])
    objective = program.objective_value(values)
    status, gap = claim(program, objective, bound, target, absolute_target)
    return RawSolution(
        values=values,
        status=status,
        objective=objective,
        best_bound=bound,
        solver=solver,
        gap=gap,
    )


#: Non-zeros (objective and rows) from which a model goes to pywraplp as one protobuf (and
#: variables from which its values come back as one): the direct calls win only while the
#: model is tiny (a few names: ~20 non-zeros each) and protobuf is not loaded yet; at 100
#: names (~700 non-zeros) the protobuf is already the faster way in.
PROTO_FROM_NONZEROS = 200


def _pywraplp_model(
    program: Program, solver: Any, fixed: NDArray[np.float64] | None = None
) -> tuple[Any, float]:
    """The one translation of `program` into an empty pywraplp `solver`: its objective and
    the objective scale (`_scale`). With `fixed`, every integer variable is
    fixed at its rounded value there and all variables are continuous (an LP polish).

    A large model goes in as one `MPModelProto` (a call per row instead of one per non-zero:
    about a third faster at N = 10,000 than `Constraint.SetCoefficient`); a small one through
    the direct calls, which spares loading protobuf (~0.04 s CPU, more than the whole solve of
    a few names: what `allocate --candidates` on a small file waits for)."""
    scale = _scale(program)
    columns = []
    linear = program.linear
    rows, zero = _without_huge_coefficients(program)
    for k, (label, lo, hi, integer) in enumerate(
        zip(program.names, program.lower, program.upper, program.integer, strict=True)
    ):
        if fixed is not None and integer:
            lo = hi = float(round(fixed[k]))
            integer = False
        if k in zero:
            lo = hi = 0.0
        columns.append((lo, hi, integer, label, linear.get(k, 0.0) * scale))
    nonzeros = len(linear) + sum(len(row.coefficients) for row in program.rows)
    if nonzeros < PROTO_FROM_NONZEROS:
        variables = [
            solver.IntVar(lo, hi, label) if integer else solver.NumVar(lo, hi, label)
            for lo, hi, integer, label, _ in columns
        ]
        objective = solver.Objective()
        for variable, (*_, coefficient) in zip(variables, columns, strict=True):
            if coefficient:
                objective.SetCoefficient(variable, coefficient)
        objective.SetOptimizationDirection(program.maximize)
        for lo, hi, coefficients in rows:
            constraint = solver.Constraint(lo, hi)
            for k, coefficient in coefficients.items():
                constraint.SetCoefficient(variables[k], coefficient)
        return objective, scale
    from ortools.linear_solver import linear_solver_pb2

    proto = linear_solver_pb2.MPModelProto()
    proto.maximize = program.maximize
    add_variable = proto.variable.add
    for lo, hi, integer, label, coefficient in columns:
        add_variable(
            lower_bound=lo,
            upper_bound=hi,
            is_integer=integer,
            name=label,
            objective_coefficient=coefficient,
        )
    add_constraint = proto.constraint.add
    for lo, hi, coefficients in rows:
        add_constraint(
            lower_bound=lo,
            upper_bound=hi,
            var_index=list(coefficients),
            coefficient=list(coefficients.values()),
        )
    error = solver.LoadModelFromProto(proto)
    if error:  # pragma: no cover - the program is built by tradefolio itself
        raise SolverError(f"OR-Tools rejected the allocation model: {error}")
    return solver.Objective(), scale


#: A row coefficient from which the solvers take it as infinite (SCIP refuses the row,
#: CBC and HiGHS call the model infeasible): a `--min-trade 1e30` of a $100k account.
_HUGE_COEFFICIENT = 1e15


def _without_huge_coefficients(
    program: Program,
) -> tuple[list[tuple[float, float, dict[int, float]]], set[int]]:
    """The rows as the solvers get them, and the integers that must be 0.

    A nonnegative integer v_k whose coefficient c in a row is at least `_HUGE_COEFFICIENT`
    can only be 0 when v_k = 1 already puts the row out of reach of the other variables'
    bounds (a minimum trade of 1e25 account values on a buy of at most 1): it is fixed at
    0 and its coefficient dropped, the same program in numbers the solvers hold finite.
    Rows without such a coefficient are passed as they are."""
    rows: list[tuple[float, float, dict[int, float]]] = []
    zero: set[int] = set()
    lower, upper, integer = program.lower, program.upper, program.integer
    for row in program.rows:
        coefficients = row.coefficients
        if not coefficients or max(map(abs, coefficients.values())) < _HUGE_COEFFICIENT:
            rows.append((row.lo, row.hi, coefficients))
            continue
        kept = dict(coefficients)
        for k, c in coefficients.items():
            if abs(c) < _HUGE_COEFFICIENT or not integer[k] or lower[k] != 0.0:
                continue
            rest = [(j, a) for j, a in coefficients.items() if j != k]
            least = sum(a * (lower[j] if a > 0 else upper[j]) for j, a in rest)
            most = sum(a * (upper[j] if a > 0 else lower[j]) for j, a in rest)
            if (c > 0 and c + least > row.hi) or (c < 0 and c + most < row.lo):
                zero.add(k)
                del kept[k]
        rows.append((row.lo, row.hi, kept))
    return rows, zero


def _solve_pywraplp(
    program: Program,
    name: str,
    time_limit: float,
    hint: NDArray[np.float64] | None,
    relative_gap: float = RELATIVE_GAP,
) -> RawSolution:
    """Solve a linear `program` with `name` and return an exact point (`exact_linear_point`)
    with the solver's claim; when `name`'s answer cannot be made exact, SCIP solves it
    (its own point and proof, `solver="scip"`) with the time left, then HiGHS
    (`_LINEAR_FALLBACKS`); `SolverError` naming what to try when no exact point is found."""
    started = time.monotonic()
    values, bound = _run_pywraplp(program, name, time_limit, hint, relative_gap)
    first = values
    exact = exact_linear_point(program, values)
    tried = [name]
    for fallback in _LINEAR_FALLBACKS:
        if exact is not None:
            break
        if fallback in tried:
            continue
        left = max(time_limit - (time.monotonic() - started), min(time_limit, 1.0))
        tried.append(fallback)
        try:
            values, bound = _run_pywraplp(program, fallback, left, hint, relative_gap)
        except (SolverError, InfeasibleAllocation):
            # the first solver found a point: a fallback's own failure says nothing more
            continue
        exact = exact_linear_point(program, values)
        name = fallback if exact is not None else f"{fallback} (after {', '.join(tried[:-1])})"
    if exact is None:
        raise SolverError(_inexact_message(program, first, tried, time_limit))
    return _finish(program, exact, bound, name, relative_gap, LINEAR_ABSOLUTE_GAP)


#: Row groups that are an investment floor (`Budget`): a whole-share point must add up to it
#: exactly, which the solvers meet only to their tolerance.
_FLOOR_GROUPS = ("min invested", "full investment")
#: The group of the cash row every composable model carries (`model.py`).
_CASH_GROUP = "capital (cash after costs)"


def _inexact_message(
    program: Program, values: NDArray[np.float64], tried: list[str], time_limit: float
) -> str:
    """What `_solve_pywraplp` says when no solver's answer could be made exact: which row
    the first answer met only to the solvers' tolerance and what the user can change.

    The common case is an investment floor at (or within a share of) the whole cash with
    whole shares: `--min-invested 1 --whole-shares` asks for share counts whose prices add
    up to the cash exactly (0 left over); the solvers meet such a row to ~1e-7 of the
    account and no exact point may exist, or none was found within the time limit."""
    point = values.copy()
    integer = np.array(program.integer, dtype=bool)
    point[integer] = np.round(point[integer])
    broken, _ = _broken(program, point)
    rows = [r for r in broken if r >= 0]
    solvers = ", ".join(tried)
    limit = f"within --time-limit {time_limit:g} s"
    floors = [r for r, row in enumerate(program.rows) if row.group in _FLOOR_GROUPS]
    cash = next((row for row in program.rows if row.group == _CASH_GROUP), None)
    lot = _cheapest_lot(program)
    broken_groups = {program.rows[r].group for r in rows}
    if floors and (
        broken_groups & set(_FLOOR_GROUPS)
        or (
            _CASH_GROUP in broken_groups
            and cash is not None
            and lot is not None
            and cash.hi - program.rows[floors[0]].lo < lot
        )
    ):
        # the floor below and the cash above, within a share: shares that must cost the
        # floor (nearly) exactly
        row = program.rows[floors[0]]
        activity = program.row_activities(point)
        miss = max(
            max(program.rows[r].lo - activity[r], activity[r] - program.rows[r].hi)
            for r in rows
            if program.rows[r].group in (*_FLOOR_GROUPS, _CASH_GROUP)
        )
        user = row.group == "min invested"
        source = (
            f"--min-invested {row.lo:g}"
            if user
            else f"the full investment of a risk objective ({row.lo:.6g})"
        )
        amount = f"{'exactly' if row.lo >= 1 else 'at least'} {row.lo * 100:.6g}%"
        hint = ""
        if cash is not None and lot is not None and cash.hi - lot > 0:
            hint = f" (e.g. {math.floor((cash.hi - lot) * 1e4) / 1e4:g})"
        fix = "lower --min-invested" if user else "set --min-invested"
        return (
            f"{source} with whole shares: no allocation found whose shares cost {amount} of "
            "the account (share counts times prices that add up to the cash with nothing "
            f"left over); {solvers} met it only to their tolerance (off by {miss:.2g} of the "
            f"account) and found no exact point {limit}, and there may be none; {fix} so "
            f"that up to a share of the cheapest name may stay in cash{hint}, use "
            "--fractional, or raise --time-limit"
        )
    if rows:
        # the group's own name (infeasibility.GROUP_FLAGS names its flag, but that module
        # imports this one)
        group = program.rows[rows[0]].group
        what = f"the {group} row" if group else "a definition row of the model"
        return (
            f"no exact allocation found: {solvers} met {what} only to their tolerance and no "
            f"point meeting it exactly (in whole shares) was found {limit}; try --fractional, "
            "another --solver (scip, highs, cbc) or a longer --time-limit"
        )
    return (
        f"no exact allocation found: {solvers} returned integers that break their bounds "
        f"and no exact point was found {limit}; try --fractional, another --solver "
        "(scip, highs, cbc) or a longer --time-limit"
    )


def _cheapest_lot(program: Program) -> float | None:
    """The smallest lot value (a fraction of the account) among the whole-share definition
    rows w_i - (lot_i p_i / V) n_i = 0 of `program` (`WholeShares`), None without lots."""
    values = [
        -c
        for row in program.rows
        if row.group is None and row.lo == row.hi == 0.0 and len(row.coefficients) == 2
        for k, c in row.coefficients.items()
        if program.integer[k] and c < 0 and program.upper[k] > 1.0
    ]
    return min(values, default=None)


#: Solvers that answer a linear program in turn when the one asked for gives a point that
#: cannot be made exact (`exact_linear_point`): SCIP, as on the quadratic routes, then
#: HiGHS (its integers come back rounded by OR-Tools).
_LINEAR_FALLBACKS = ("scip", "highs")


def _run_pywraplp(
    program: Program,
    name: str,
    time_limit: float,
    hint: NDArray[np.float64] | None,
    relative_gap: float,
) -> tuple[NDArray[np.float64], float]:
    """One pywraplp solve: the solver's values (as returned) and its bound (unscaled)."""
    pywraplp = load_pywraplp()
    solver = create_solver(name)
    objective, scale = _pywraplp_model(program, solver)
    if hint is not None and name != "highs":
        # No start for HiGHS: OR-Tools 9.15's `highs_proto_solver.cc` copies a hint into
        # `std::vector<HighsInt> hint_index(0, num_hints)` (count and value swapped: an
        # empty vector) and writes past its end, so any hint, whole or partial, of any
        # length, corrupts the heap and segfaults inside `Solve`.
        solver.SetHint(solver.variables(), [float(v) for v in hint])
    solver.SetTimeLimit(max(1, round(time_limit * 1000)))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, relative_gap)
    if name == "highs":
        # pywraplp does not forward RELATIVE_MIP_GAP to HiGHS (default gap 1e-4); its own
        # option is applied although the call reports False in OR-Tools 9.15.
        solver.SetSolverSpecificParametersAsString(f"mip_rel_gap={relative_gap}\nmip_abs_gap=1e-12")
    with native_stdout_silenced():
        code = solver.Solve(params)
    if code == pywraplp.Solver.INFEASIBLE:
        raise InfeasibleAllocation(f"{name} reports the allocation model infeasible")
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(
            f"{name} found no solution within the time limit of {time_limit:.3g} s "
            f"(status code {code}); raise --time-limit"
        )
    return _solution_values(solver), float(objective.BestBound()) / scale + program.constant


#: How far a row or bound of a linear answer may miss, in its own units, once its integers
#: are rounded and its continuous values re-solved with them fixed: the round-off of a
#: row's sum, not a solver's tolerance. A weight row's unit is the account value V, and
#: the solvers' ~1e-7..1e-6 is $20..$200 on the sample's $200M rebalances (cash overspent
#: by 0.12, a turnover cap missed by $15, a 1-share position of an unselected name through
#: its big-M link); 1e-11 of V is a cent on $1B.
EXACT_ROW_TOLERANCE = 1e-11
#: Integers moved by one per round of the search for an exact point, at most, and rounds.
_MOST_REPAIRS = 96
_REPAIR_ROUNDS = 3
#: Steps of a lot count tried in one move: a turnover cap missed by 1.2 lots of one name
#: is met by cutting 2, where no single lot gives GLOP a feasible point to go on from.
_REPAIR_STEPS = (1.0, 2.0, 4.0)
#: Continuous variables a move's path may pass from a broken row to an integer: the
#: turnover row reaches a lot through a buy (its trade row) and the weight (its lot row).
_REPAIR_DEPTH = 2


def exact_linear_point(program: Program, values: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """`values` made exact: every integer rounded, and every row and bound met within
    `EXACT_ROW_TOLERANCE`; None if no such point is found near it.

    A solver's point meets the rows to its own tolerance only, and CBC has returned values
    that are not the point its objective belongs to (sells of every holding with their
    trade flags at 0, after reporting the optimum: the 1994-10-03 rebalance of a $4.2M
    account in lots of one share). In turn, until a point meets every row:

    1. the solver's values with the integers rounded;
    2. the continuous values re-solved by GLOP with those integers fixed (`_polish_linear`);
    3. up to `_REPAIR_ROUNDS` rounds of moving one integer (a lot cut, a name
       dropped, a flag set) among those near a broken row (`_repair_moves`), each move
       polished: the best objective among the moves that meet every row, else the move
       that leaves the fewest rows broken (then the least excess) for the next round.
       A 1-share position of an unselected name under a binding turnover cap takes two:
       sell the share, then buy one share less elsewhere.
    """
    integer = np.array(program.integer, dtype=bool)
    point = np.array(values, dtype=np.float64)
    point[integer] = np.round(point[integer])
    if not _broken(program, point)[0]:
        return point
    current = _polish_linear(program, point)
    if current is None:
        current = point
    sign = 1.0 if program.maximize else -1.0
    rows_of: dict[int, list[int]] = {}
    for r, row in enumerate(program.rows):
        for k in row.coefficients:
            rows_of.setdefault(k, []).append(r)
    for _ in range(_REPAIR_ROUNDS):
        broken, excess = _broken(program, current)
        if not broken:
            return current
        exact: NDArray[np.float64] | None = None
        exact_objective = -math.inf
        nearest: tuple[int, float, NDArray[np.float64]] | None = None
        moves = _repair_moves(program, current, broken, integer, rows_of)
        for k, step in moves[:_MOST_REPAIRS]:
            moved = current.copy()
            moved[k] += step
            candidate = _polish_linear(program, moved)
            if candidate is None:
                continue
            left, missed = _broken(program, candidate)
            if not left:
                objective = sign * program.objective_value(candidate)
                if objective > exact_objective:
                    exact, exact_objective = candidate, objective
            elif nearest is None or (len(left), missed) < nearest[:2]:
                nearest = (len(left), missed, candidate)
        if exact is not None:
            return exact
        if nearest is None or nearest[:2] >= (len(broken), excess):
            return None
        current = nearest[2]
    return current if not _broken(program, current)[0] else None


def _broken(program: Program, values: NDArray[np.float64]) -> tuple[list[int], float]:
    """The rows `values` misses by more than `EXACT_ROW_TOLERANCE` (-1 for a broken bound
    or integrality; empty: the point is exact) and the sum of the misses."""
    lower = np.array(program.lower, dtype=np.float64)
    upper = np.array(program.upper, dtype=np.float64)
    integer = np.array(program.integer, dtype=bool)
    tolerance = EXACT_ROW_TOLERANCE
    beyond = np.maximum(lower - values, values - upper)
    off_grid = integer & (values != np.round(values))
    bounds = bool(np.any(beyond > tolerance) or np.any(off_grid))
    activity = program.row_activities(values)
    lo = np.fromiter((r.lo for r in program.rows), np.float64, len(program.rows))
    hi = np.fromiter((r.hi for r in program.rows), np.float64, len(program.rows))
    miss = np.maximum(lo - activity, activity - hi)
    rows = np.flatnonzero(miss > tolerance)
    excess = float(miss[rows].sum()) + float(np.clip(beyond, 0.0, None).sum())
    return [-1] * bounds + [int(r) for r in rows], excess


def _repair_moves(
    program: Program,
    values: NDArray[np.float64],
    broken: list[int],
    integer: NDArray[np.bool_],
    rows_of: dict[int, list[int]],
) -> list[tuple[int, float]]:
    """(integer, step) moves of one within bounds for the integers near the `broken` rows:
    in one, or reached from one through at most `_REPAIR_DEPTH` continuous variables and
    their rows; cuts before additions, single steps before the larger `_REPAIR_STEPS` (of
    a lot count; a binary moves by one)."""
    seen_rows = {r for r in broken if r >= 0}
    frontier = sorted(seen_rows)
    seen_columns: set[int] = set()
    near: list[int] = []
    for _ in range(_REPAIR_DEPTH + 1):
        continuous: list[int] = []
        for r in frontier:
            for k in program.rows[r].coefficients:
                if k in seen_columns:
                    continue
                seen_columns.add(k)
                (near if integer[k] else continuous).append(k)
        frontier = []
        for k in continuous:
            for r in rows_of.get(k, ()):
                if r not in seen_rows:
                    seen_rows.add(r)
                    frontier.append(r)
    moves: list[tuple[int, float]] = []
    for sign in (-1.0, 1.0):
        for size in _REPAIR_STEPS:
            moves.extend(
                (k, sign * size)
                for k in near
                if (size == 1.0 or program.upper[k] - program.lower[k] > 1.0)
                and program.lower[k] <= values[k] + sign * size <= program.upper[k]
            )
    return moves


def _polish_linear(program: Program, values: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Values of the continuous variables re-solved by GLOP with the integers fixed at
    `values` (rounded); None when GLOP finds those integers infeasible."""
    pywraplp = load_pywraplp()
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - GLOP ships with every OR-Tools build
        raise SolverError("the linear answer needs GLOP to check it, and GLOP is missing")
    _pywraplp_model(program, solver, fixed=values)
    params = pywraplp.MPSolverParameters()
    # GLOP's presolve substitutes a fixed lot into its weight's row to its own tolerance:
    # a weight left at its cap 0.25 while the lot row makes it 0.25 - 6e-11
    params.SetIntegerParam(params.PRESOLVE, params.PRESOLVE_OFF)
    if solver.Solve(params) != pywraplp.Solver.OPTIMAL:
        return None
    polished = _solution_values(solver)
    integer = np.array(program.integer, dtype=bool)
    polished[integer] = np.round(values[integer])
    return polished


def _solution_values(solver: Any) -> NDArray[np.float64]:
    """Every variable's value: in one protobuf call for a large model (a value per variable
    through SWIG is 10x slower), one by one for a small one (no protobuf to load)."""
    if solver.NumVariables() < PROTO_FROM_NONZEROS:
        return np.array([v.solution_value() for v in solver.variables()], dtype=np.float64)
    from ortools.linear_solver import linear_solver_pb2

    response = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(response)
    if len(response.variable_value) != solver.NumVariables():  # pragma: no cover - defensive
        return np.array([v.solution_value() for v in solver.variables()], dtype=np.float64)
    return np.array(response.variable_value, dtype=np.float64)


def _solve_branch_and_bound(
    program: Program,
    time_limit: float,
    hint: NDArray[np.float64] | None,
    heuristics: bool = True,
    gap: float = BRANCH_AND_BOUND_GAP,
) -> RawSolution:
    from tradefolio.portfolio.branch_and_bound import branch_and_bound

    # Mean-variance on the simplex with a binding cardinality cap and nothing else: the
    # search over doubly-nonnegative bounds (cardinality_search.py: its own first-order
    # certificate up to ADMM_MAX_NAMES names, SCS above). Imported only then: the
    # rebalance solver's searches (no heuristics) never need it.
    started = time.monotonic()
    found = None
    if heuristics:
        from tradefolio.portfolio.cardinality_search import cardinality_search

        found = cardinality_search(program, time_limit, gap, hint)
    if found is None:
        found = branch_and_bound(
            program,
            _scale(program),
            max(time_limit - (time.monotonic() - started), 0.0),
            gap,
            hint,
            heuristics,
        )
    solution = _finish(program, found.values, found.best_bound, "highs", gap)
    solution = replace(solution, incumbent_bound=found.incumbent_bound)
    broken = program.violations(solution.values, 1e-6)
    if broken:
        # HiGHS's active set can stop short on badly scaled rows (lots, tiny fixed costs):
        # never hand back a point that breaks the model.
        raise SolverError(
            f"the branch and bound's answer breaks the model ({broken[0]}); use --solver scip"
        )
    return solution


def load_mathopt() -> Any:
    """Import OR-Tools MathOpt lazily, naming the extra when it is missing."""
    return import_extra("ortools.math_opt.python.mathopt", "portfolio", "the quadratic allocator")


def _solve_mathopt(
    program: Program, time_limit: float, hint: NDArray[np.float64] | None
) -> RawSolution:
    mathopt = load_mathopt()
    model = mathopt.Model(name="portfolio")
    variables = [
        model.add_variable(lb=lo, ub=hi, is_integer=integer, name=n)
        for n, lo, hi, integer in zip(
            program.names, program.lower, program.upper, program.integer, strict=True
        )
    ]
    for row in program.rows:
        constraint = model.add_linear_constraint(lb=row.lo, ub=row.hi)
        for k, c in row.coefficients.items():
            constraint.set_coefficient(variables[k], c)
    scale = _scale(program)
    objective = model.objective
    objective.is_maximize = program.maximize
    for k, c in program.linear.items():
        objective.set_linear_coefficient(variables[k], c * scale)
    for (i, j), c in program.quadratic.items():
        objective.set_quadratic_coefficient(variables[i], variables[j], c * scale)
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=time_limit),
        relative_gap_tolerance=QUADRATIC_RELATIVE_GAP,
        absolute_gap_tolerance=1e-9,
        gscip=_gscip_parameters(program),
    )
    model_params = None
    if hint is not None:
        model_params = mathopt.ModelSolveParameters(
            solution_hints=[
                mathopt.SolutionHint(
                    variable_values={v: float(x) for v, x in zip(variables, hint, strict=True)}
                )
            ]
        )
    try:
        with native_stdout_silenced():
            result = mathopt.solve(
                model, mathopt.SolverType.GSCIP, params=params, model_params=model_params
            )
    except Exception as exc:  # MathOpt raises bare status errors for unsupported models
        raise SolverUnavailableError(f"MathOpt/SCIP could not solve the model: {exc}") from exc
    reason = result.termination.reason
    reasons = mathopt.TerminationReason
    if reason in (reasons.INFEASIBLE, reasons.INFEASIBLE_OR_UNBOUNDED):
        raise InfeasibleAllocation("scip reports the allocation model infeasible")
    if not result.has_primal_feasible_solution():
        raise SolverError(
            f"scip found no solution within the time limit of {time_limit:.3g} s "
            f"({reason.name.lower()}); raise --time-limit"
        )
    values = np.array([result.variable_values(v) for v in variables], dtype=np.float64)
    bound = float(result.termination.objective_bounds.dual_bound) / scale + program.constant
    solution = _finish(program, values, bound, "scip", QUADRATIC_RELATIVE_GAP)
    broken = program.violations(solution.values, SCIP_FEASIBILITY)
    if broken:
        # A point off the model's rows is off its objective too (a factor exposure that is
        # not the weights' makes the variance another number): never list it.
        raise SolverError(f"scip's answer breaks the model ({broken[0]}); raise --time-limit")
    return solution


#: How far (weight units) a row of SCIP's answer may miss: its feasibility tolerance.
SCIP_FEASIBILITY = 1e-6


def _gscip_parameters(program: Program) -> Any:
    """SCIP's own parameters for `program`: no (multi-)aggregation in presolve when it has
    integers beyond binaries (lots).

    A lot's definition row w_i = (lot_i p_i / V) n_i has a coefficient of 1e-7..1e-5 (a
    lot's share of the account) on an integer of domain up to 1e6. SCIP's presolve
    aggregates w_i away and writes every row and the objective in n_i; on the sample's
    1992-12-01 rebalance (docs/model.md, "SCIP and whole shares") it then declared
    OPTIMAL 0.270328 with gap 0 where 0.288354 is feasible, its point off a factor row by
    3.3e-5. With aggregation off the same model solves to 0.288354 in the same time.
    """
    from ortools.math_opt.solvers.gscip import gscip_pb2

    parameters = gscip_pb2.GScipParameters()
    lots = any(
        integer and (lo < 0.0 or hi > 1.0)
        for integer, lo, hi in zip(program.integer, program.lower, program.upper, strict=True)
    )
    if lots:
        parameters.bool_params["presolving/donotaggr"] = True
        parameters.bool_params["presolving/donotmultaggr"] = True
    return parameters


def solve_by_branch_and_bound(
    program: Program,
    time_limit: float,
    hint: NDArray[np.float64] | None = None,
    gap: float = BRANCH_AND_BOUND_GAP,
) -> RawSolution:
    """The branch and bound over HiGHS QPs on `program`, whatever its integers, for a
    caller that has already decided it suits them (`rebalance_solver.py`: trade flags,
    aggregated and checked against the original program); `SolverError` if the answer
    breaks `program`. The search starts from `hint` without the heuristics of the main
    tree (`branch_and_bound(heuristics=False)`) and proves `gap` (relative)."""
    return _solve_branch_and_bound(program, time_limit, hint, heuristics=False, gap=gap)


__all__ = [
    "BRANCH_AND_BOUND_GAP",
    "MODEL_SOLVERS",
    "QUADRATIC_RELATIVE_GAP",
    "QUADRATIC_SOLVERS",
    "RELATIVE_GAP",
    "RawSolution",
    "claim",
    "load_mathopt",
    "objective_scale",
    "proven_gap",
    "resolve_solver",
    "solve_by_branch_and_bound",
    "solve_program",
]
