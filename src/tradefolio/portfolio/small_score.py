"""The score model for a handful of candidates, with the standard library and pywraplp only.

`tradefolio allocate --candidates picks.csv` on a few names used to spend three times the
time of a bare pywraplp script solving the same MIP, most of it importing numpy and the
composable model's modules. For a universe this small (`fits`), this module builds the very
program `allocator.allocate` builds for the score model and solves it with the same
OR-Tools solver, then finishes the answer as `PortfolioModel.solve` does:

    maximise  sum_i s_i w_i      (objective scaled so its largest coefficient is 1e3)
    s.t.      w_i - u x_i <= 0              (links; u = max_weight, w_i in [0, u])
              w_i - min_w x_i >= 0          (floors, when min_w > 0)
              sum_i x_i <= K                (cardinality)
              sum_i w_i <= 1                (cash)

in the same variable and row order, with the same relative gap target (1e-9) and time
limit, the solver's selection polished to its exact weights (`score_path.py`, `exact.py`),
the same claim ("optimal" only when the polished answer is within the target of the
solver's bound, `score_path.polished_claim`), and the weights floored to shares
(`shares.py`). `--solver exact` runs `exact.py`'s algorithm.

It is a second implementation of the score model's arithmetic by design, kept honest by
tests rather than by sharing code with numpy: `tests/unit/portfolio/test_small_score.py`
checks that both give the same `AllocationResult`, field for field and bit for bit, on
random instances, and that this module's constants are the full path's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tradefolio.errors import SolverError
from tradefolio.portfolio.holdings import trades_between
from tradefolio.portfolio.mip import (
    MIP_SOLVERS,
    create_solver,
    load_pywraplp,
    native_stdout_silenced,
)
from tradefolio.portfolio.params import AllocatorParams, check_allocation
from tradefolio.portfolio.shares import whole_or_fractional_shares
from tradefolio.portfolio.types import Allocation, AllocationResult, Candidate, relative_gap

#: Every solver name `allocate` accepts (`allocator.SOLVERS`, without importing numpy).
SOLVERS: tuple[str, ...] = (*MIP_SOLVERS, "exact")
#: The full path's constants (`backends.py`, `score_path.py`, `exact.py`), pinned by a test.
PROTO_FROM_NONZEROS = 200
SCORE_RELATIVE_GAP = 1e-9
LINEAR_ABSOLUTE_GAP = 1e-5
ABSOLUTE_GAP = 1e-7
OBJECTIVE_SCALE = 1e3
ROUND_OFF_GAP = 1e-12
ZERO_WEIGHT = 1e-6
COUNT_TOLERANCE = 1e-9
FEASIBILITY_TOLERANCE = 1e-6


#: A variable: (lower, upper, integer, name, scaled objective coefficient), as `backends.py`
#: lists them (plain tuples: a dataclass costs more to define than this path's solve).
_Column = tuple[float, float, bool, str, float]
#: A row: ((variable, coefficient), ...), lower, upper.
_Row = tuple[tuple[tuple[int, float], ...], float, float]


def fits(candidates: Sequence[Candidate], params: AllocatorParams) -> bool:
    """Whether the score model of `candidates` is small enough for this path: the full path
    hands it to pywraplp through direct calls (fewer than `PROTO_FROM_NONZEROS` non-zeros
    and variables), so both paths give the solver the same model the same way."""
    held = sum(1 for c in candidates if c.score > 0)
    per_name = 7 if params.min_weight > 0 else 5  # objective, link 2, floor 2, count, cash
    return held * per_name < PROTO_FROM_NONZEROS and 2 * held < PROTO_FROM_NONZEROS


def allocate_small(
    candidates: Sequence[Candidate],
    capital: float,
    params: AllocatorParams,
    *,
    fractional: bool = False,
    solver: str = "cbc",
    time_limit: float = 10.0,
) -> AllocationResult | None:
    """`allocator.allocate(candidates, capital, params, ...)` for valid candidates that
    `fit`, or None when the full path must answer (too many names, or a solver calling
    the model infeasible, which the full path explains)."""
    key = check_allocation(capital, time_limit, solver, SOLVERS)
    if not fits(candidates, params):
        return None
    kept = [c for c in candidates if c.score > 0]
    dropped = tuple(c.symbol for c in candidates if c.score <= 0)
    value = float(capital) + 0.0
    scores = [c.score for c in kept]
    if key == "exact":
        weights, objective = _exact(scores, params)
        return _score_result(kept, dropped, value, weights, objective, fractional)
    if not kept:
        return AllocationResult(
            allocations=(),
            status="optimal",
            objective=0.0,
            capital=value,
            cash=value,
            solver=key,
            best_bound=0.0,
            dropped=dropped,
            trades=(),
            costs=0,  # the full path's `sum` over no cost constraints
            turnover=0.0,
            objective_name="score",
            proven_gap=0.0,
        )
    columns, rows, scale = _program(kept, params)
    solved = _solve(columns, rows, key, time_limit)
    if solved is None:
        return None
    values, bound = solved
    size = len(kept)
    selection = [  # `polish_selection`: the names chosen, then their exact weights
        round(values[size + i]) > 0.5 or values[i] > ZERO_WEIGHT for i in range(size)
    ]
    count = sum(selection)
    if count > _max_selectable(size, params):
        raise SolverError(
            f"{key} returned an invalid solution: a selection of {count} names breaks "
            "max_positions or the floors"
        )
    subset = [i for i in range(size) if selection[i]]
    subset_weights, _ = _exact([scores[i] for i in subset], params)
    weights = [0.0] * size
    for i, weight in zip(subset, subset_weights, strict=True):
        weights[i] = weight
    polished = math.fsum(scores[i] * weights[i] for i in subset)
    # `score_path.polished_claim`: the polished answer against the solver's bound
    bound = bound / scale + 0.0
    gap = _proven_gap(polished, bound, ABSOLUTE_GAP / scale)
    proven = gap <= SCORE_RELATIVE_GAP * (1 + 1e-9) or abs(bound - polished) * scale <= (
        LINEAR_ABSOLUTE_GAP
    )
    return _score_result(
        kept,
        dropped,
        value,
        weights,
        polished,
        fractional,
        status="optimal" if proven else "feasible",
        bound=polished if gap == 0.0 else bound,
        solver=key,
        gap=gap,
    )


def _sequential_sum(terms: Any) -> float:
    """Left-to-right float sum, as `Program.row_activities` adds a row's terms (Python
    3.12's `sum` of floats compensates, which would round differently)."""
    total: float = 0.0
    for term in terms:
        total += term
    return total


def _proven_gap(objective: float, bound: float, round_off: float) -> float:
    """`backends.proven_gap` for a maximisation."""
    if bound - objective <= round_off:
        return 0.0
    gap = relative_gap(objective, bound)
    return 0.0 if gap <= ROUND_OFF_GAP else gap


def _program(
    kept: Sequence[Candidate], params: AllocatorParams
) -> tuple[list[_Column], list[_Row], float]:
    """The score model's program (see the module docstring) and its objective scale."""
    size = len(kept)
    cap = max(0.0, min(1.0, params.max_weight))
    largest = max((abs(c.score) for c in kept), default=0.0)
    scale = OBJECTIVE_SCALE / largest if largest > 0 else 1.0
    scale = scale if math.isfinite(scale) else 1.0
    columns: list[_Column] = [(0.0, cap, False, f"w[{c.symbol}]", c.score * scale) for c in kept]
    columns += [(0.0, 1.0, True, f"x[{c.symbol}]", 0.0 * scale) for c in kept]
    rows: list[_Row] = [(((i, 1.0), (size + i, -cap)), -math.inf, 0.0) for i in range(size)]
    if params.min_weight > 0:
        floor = -params.min_weight
        rows += [(((i, 1.0), (size + i, floor)), 0.0, math.inf) for i in range(size)]
    count = float(params.max_positions)
    rows.append((tuple((size + i, 1.0) for i in range(size)), -math.inf, count))
    rows.append((tuple((i, 1.0) for i in range(size)), -math.inf, 1.0))
    return columns, rows, scale


def _load(solver: Any, columns: Sequence[_Column], rows: Sequence[_Row], fixed: Any = None) -> Any:
    """The program into an empty pywraplp `solver` (with `fixed`: integers fixed there,
    every variable continuous); its objective."""
    variables = []
    for k, (lower, upper, integer, name, _) in enumerate(columns):
        if fixed is not None and integer:
            lower = upper = float(round(fixed[k]))
            integer = False
        make = solver.IntVar if integer else solver.NumVar
        variables.append(make(lower, upper, name))
    objective = solver.Objective()
    for variable, (*_, coefficient) in zip(variables, columns, strict=True):
        if coefficient:
            objective.SetCoefficient(variable, coefficient)
    objective.SetOptimizationDirection(True)
    for terms, lower, upper in rows:
        constraint = solver.Constraint(lower, upper)
        for k, coefficient in terms:
            constraint.SetCoefficient(variables[k], coefficient)
    return objective


def _solve(
    columns: Sequence[_Column], rows: Sequence[_Row], name: str, time_limit: float
) -> tuple[list[float], float] | None:
    """Values and the solver's (scaled) bound; None if it calls the model infeasible (the
    full path explains that)."""
    pywraplp = load_pywraplp()
    solver = create_solver(name)
    objective = _load(solver, columns, rows)
    solver.SetTimeLimit(max(1, round(time_limit * 1000)))
    parameters = pywraplp.MPSolverParameters()
    parameters.SetDoubleParam(parameters.RELATIVE_MIP_GAP, SCORE_RELATIVE_GAP)
    if name == "highs":
        solver.SetSolverSpecificParametersAsString(
            f"mip_rel_gap={SCORE_RELATIVE_GAP}\nmip_abs_gap=1e-12"
        )
    with native_stdout_silenced():
        code = solver.Solve(parameters)
    if code == pywraplp.Solver.INFEASIBLE:
        return None
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(
            f"{name} found no solution within the time limit of {time_limit:.3g} s "
            f"(status code {code}); raise --time-limit"
        )
    values = [v.solution_value() for v in solver.variables()]
    bound = float(objective.BestBound())
    if _violates(columns, rows, values):
        values = _polish(columns, rows, values, name)
    return values, bound


def _violates(columns: Sequence[_Column], rows: Sequence[_Row], values: Sequence[float]) -> bool:
    """Whether `values` break a bound, an integrality or a row by more than 1e-6."""
    tolerance = FEASIBILITY_TOLERANCE
    for value, (lower, upper, integer, _, _) in zip(values, columns, strict=True):
        if value < lower - tolerance or value > upper + tolerance:
            return True
        if integer and abs(value - round(value)) > tolerance:
            return True
    for terms, lower, upper in rows:
        activity = _sequential_sum(c * values[k] for k, c in terms)
        if activity < lower - tolerance or activity > upper + tolerance:
            return True
    return False


def _polish(
    columns: Sequence[_Column], rows: Sequence[_Row], values: Sequence[float], name: str
) -> list[float]:
    """The continuous values re-solved by GLOP with the integers fixed (`backends.py`:
    CBC's presolve can hand back values that break a bound)."""
    pywraplp = load_pywraplp()
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - GLOP ships with every OR-Tools build
        raise SolverError(f"{name} returned an invalid solution and GLOP is missing")
    _load(solver, columns, rows, fixed=values)
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        raise SolverError(
            f"{name} returned a solution that breaks the model and cannot be repaired"
        )
    return [v.solution_value() for v in solver.variables()]


def _max_selectable(count: int, params: AllocatorParams) -> int:
    """`exact.max_selectable`: min(K, N, floor(1 / min_weight))."""
    limit = min(params.max_positions, count)
    if params.min_weight * limit > 1.0:
        limit = min(limit, math.floor(1.0 / params.min_weight + COUNT_TOLERANCE))
    return limit


def _exact(scores: Sequence[float], params: AllocatorParams) -> tuple[list[float], float]:
    """`exact.solve_exact` in plain floats, operation for operation: the best prefix of the
    names sorted by score, floors first, then top-ups to the highest scores."""
    count = len(scores)
    weights = [0.0] * count
    if count == 0:
        return weights, 0.0
    order = sorted(range(count), key=lambda i: -scores[i])
    ranked = [scores[i] for i in order]
    prefix = [0.0]  # numpy's cumsum: one left-to-right addition per name
    for score in ranked:
        prefix.append(prefix[-1] + score)
    floor_w, top_up = params.min_weight, params.max_weight - params.min_weight
    best_objective, best = -math.inf, (0, 0, 0.0)
    for held in range(_max_selectable(count, params) + 1):
        budget = max(1.0 - held * floor_w, 0.0)
        if top_up > 0:
            full = min(math.floor(budget / top_up + COUNT_TOLERANCE), held)
            remainder = min(max(budget - full * top_up, 0.0), top_up)
        else:
            full, remainder = 0, 0.0
        partial = ranked[min(full, count - 1)] if full < held else 0.0
        objective = floor_w * prefix[held] + top_up * prefix[full] + remainder * partial
        if objective > best_objective:
            best_objective, best = objective, (held, full, remainder)
    held, full, remainder = best
    ranked_weights = [floor_w if j < held else 0.0 for j in range(count)]
    for j in range(full):
        ranked_weights[j] += top_up
    if full < held:
        ranked_weights[full] += remainder
    for j, i in enumerate(order):
        weights[i] = ranked_weights[j]
    return weights, best_objective


def _score_result(
    kept: Sequence[Candidate],
    dropped: tuple[str, ...],
    value: float,
    weights: Sequence[float],
    objective: float,
    fractional: bool,
    *,
    status: str = "optimal",
    bound: float | None = None,
    solver: str = "exact",
    gap: float | None = None,
) -> AllocationResult:
    """`PortfolioModel._score_result`: buys of the target shares, sorted by weight."""
    allocations = []
    spent = 0.0
    for candidate, weight in zip(kept, weights, strict=True):
        if weight > 0:
            dollars = weight * value
            shares = whole_or_fractional_shares(dollars, candidate.price, fractional)
            spent += shares * candidate.price
            allocations.append(
                Allocation(candidate.symbol, weight, dollars, shares, candidate.price)
            )
    allocations.sort(key=lambda a: (-a.weight, a.symbol))
    trades = trades_between(
        {},
        {a.symbol: a.shares for a in allocations if a.shares > 0},
        {a.symbol: a.price for a in allocations},
    )
    return AllocationResult(
        allocations=tuple(allocations),
        status="optimal" if status == "optimal" else "feasible",
        objective=objective,
        capital=value,
        cash=value - spent,
        solver=solver,
        best_bound=objective if bound is None else bound,
        dropped=dropped,
        trades=trades,
        costs=0.0,
        turnover=float(spent / value),
        objective_name="score",
        proven_gap=gap,
    )


__all__ = ["SOLVERS", "allocate_small", "fits"]
