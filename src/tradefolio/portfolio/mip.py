"""The score-weighted allocation as a mixed-integer program, solved through OR-Tools.

    maximise   sum_i score_i w_i
    subject to w_i <= max_weight x_i        (zero unless selected)
               w_i >= min_weight x_i        (floor for a held name)
               sum_i w_i <= 1               (invest at most 100%)
               sum_i x_i <= max_positions   (cardinality cap)
               0 <= w_i <= max_weight, x_i in {0, 1}

The model is built with one `SetCoefficient` call per non-zero, so building it is linear in
the number of candidates (no Python-level expression trees).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, InvalidParameter, MissingExtra, SolverError
from tradefolio.errors import SolverUnavailable as SolverUnavailableError
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import SolveStatus

#: OR-Tools backend id for each user-facing MIP solver name.
MIP_SOLVERS: dict[str, str] = {"cbc": "CBC", "scip": "SCIP", "highs": "HIGHS"}

# Prove optimality to (near) machine precision instead of CBC's default 1e-4 relative gap.
_RELATIVE_MIP_GAP = 1e-9
# Below this a solver's weight is round-off, not a position.
_ZERO_WEIGHT = 1e-9


@dataclass(frozen=True, slots=True)
class MipSolution:
    """Weights in input order, the solver's status, objective and best bound."""

    weights: NDArray[np.float64]
    status: SolveStatus
    objective: float
    best_bound: float


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Send C-level writes to fd 1 to /dev/null: HiGHS prints a banner on every solve,
    which would corrupt `--format json` output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def load_pywraplp() -> Any:
    """Import OR-Tools' linear solver wrapper lazily, naming the extra when it is missing."""
    try:
        from ortools.linear_solver import pywraplp
    except ImportError as exc:
        raise MissingExtra("ortools", "portfolio", "the MIP allocator") from exc
    return pywraplp


def create_solver(name: str) -> Any:
    """An empty OR-Tools solver for `name` (cbc, scip, highs) or `SolverUnavailable`."""
    key = name.lower()
    if key not in MIP_SOLVERS:
        raise InvalidParameter(
            f"unknown solver {name!r}: choose one of {', '.join([*MIP_SOLVERS, 'exact'])}"
        )
    pywraplp = load_pywraplp()
    solver = pywraplp.Solver.CreateSolver(MIP_SOLVERS[key])
    if solver is None:
        raise SolverUnavailableError(
            f"solver {name!r} is not linked into the installed OR-Tools; use --solver cbc"
        )
    return solver


def solve_mip(
    scores: NDArray[np.float64],
    params: AllocatorParams,
    solver_name: str = "cbc",
    time_limit: float = 10.0,
) -> MipSolution:
    """Solve the model for positive `scores` with an OR-Tools backend within `time_limit` s."""
    solver = create_solver(solver_name)
    pywraplp = load_pywraplp()
    n = len(scores)
    # Solvers use absolute tolerances: scale scores to O(1) so tiny scores still count.
    scale = float(np.max(scores)) if n else 1.0
    scaled = scores / scale
    infinity = solver.infinity()
    weights = [solver.NumVar(0.0, params.max_weight, f"w{i}") for i in range(n)]
    selected = [solver.BoolVar(f"x{i}") for i in range(n)]

    budget = solver.Constraint(-infinity, 1.0, "budget")
    cardinality = solver.Constraint(-infinity, float(params.max_positions), "cardinality")
    objective = solver.Objective()
    for i in range(n):
        w, x = weights[i], selected[i]
        cap = solver.Constraint(-infinity, 0.0, f"cap{i}")
        cap.SetCoefficient(w, 1.0)
        cap.SetCoefficient(x, -params.max_weight)
        floor = solver.Constraint(0.0, infinity, f"floor{i}")
        floor.SetCoefficient(w, 1.0)
        floor.SetCoefficient(x, -params.min_weight)
        budget.SetCoefficient(w, 1.0)
        cardinality.SetCoefficient(x, 1.0)
        objective.SetCoefficient(w, float(scaled[i]))
    objective.SetMaximization()

    solver.SetTimeLimit(max(1, round(time_limit * 1000)))
    solve_params = pywraplp.MPSolverParameters()
    solve_params.SetDoubleParam(solve_params.RELATIVE_MIP_GAP, _RELATIVE_MIP_GAP)
    with native_stdout_silenced():
        code = solver.Solve(solve_params)

    if code == pywraplp.Solver.INFEASIBLE:
        raise InfeasibleAllocation(f"{solver_name} reports the allocation model infeasible")
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(
            f"{solver_name} found no solution within the time limit of {time_limit:g} s "
            "(status code {code}); raise --time-limit or use --solver exact"
        )
    values = np.array([w.solution_value() for w in weights], dtype=np.float64)
    values[values < _ZERO_WEIGHT] = 0.0
    status: SolveStatus = "optimal" if code == pywraplp.Solver.OPTIMAL else "feasible"
    value = float(scores @ values)
    bound = float(objective.BestBound()) * scale if status == "feasible" else value
    return MipSolution(weights=values, status=status, objective=value, best_bound=bound)


__all__ = ["MIP_SOLVERS", "MipSolution", "create_solver", "load_pywraplp", "solve_mip"]
