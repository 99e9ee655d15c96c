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
from tradefolio.portfolio.exact import solve_exact, weights_for_selection
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import SolveStatus

#: OR-Tools backend id for each user-facing MIP solver name.
MIP_SOLVERS: dict[str, str] = {"cbc": "CBC", "scip": "SCIP", "highs": "HIGHS"}

# Prove optimality to (near) machine precision instead of CBC's default 1e-4 relative gap.
_RELATIVE_MIP_GAP = 1e-9
# Largest objective coefficient after scaling: gains of 1e-8 relative stay above CBC's
# absolute tolerances while coefficients stay well inside double precision comfort.
_OBJECTIVE_SCALE = 1e3
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


@dataclass(frozen=True, slots=True)
class ScoreModel:
    """A built (not yet solved) OR-Tools model and the handles needed to read it back."""

    solver: Any
    solver_name: str
    weights: list[Any]
    selected: list[Any]
    scores: NDArray[np.float64]
    scale: float
    params: AllocatorParams


def build_score_model(
    scores: NDArray[np.float64], params: AllocatorParams, solver_name: str = "cbc"
) -> ScoreModel:
    """Build the model for positive `scores`: 2N variables, 2N + 2 constraints, linear time."""
    solver = create_solver(solver_name)
    n = len(scores)
    # Solvers use absolute tolerances (CBC ignores improvements below its 1e-5 cutoff
    # increment): scale the largest score to _OBJECTIVE_SCALE so tiny gains still count.
    largest = float(np.max(scores)) if n else 1.0
    scaled = (scores / largest) * _OBJECTIVE_SCALE
    scale = largest / _OBJECTIVE_SCALE
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
    return ScoreModel(solver, solver_name, weights, selected, scores, scale, params)


def solve_score_model(model: ScoreModel, time_limit: float = 10.0) -> MipSolution:
    """Solve a built model within `time_limit` seconds, proving optimality to a 1e-9 gap."""
    pywraplp = load_pywraplp()
    solver = model.solver
    solver.SetTimeLimit(max(1, round(time_limit * 1000)))
    solve_params = pywraplp.MPSolverParameters()
    solve_params.SetDoubleParam(solve_params.RELATIVE_MIP_GAP, _RELATIVE_MIP_GAP)
    if model.solver_name == "highs":
        # pywraplp does not forward RELATIVE_MIP_GAP to HiGHS (default gap 1e-4); its own
        # option is applied although the call reports False in OR-Tools 9.15.
        solver.SetSolverSpecificParametersAsString(
            f"mip_rel_gap={_RELATIVE_MIP_GAP}\nmip_abs_gap=1e-12"
        )
    with native_stdout_silenced():
        code = solver.Solve(solve_params)

    if code == pywraplp.Solver.INFEASIBLE:
        raise InfeasibleAllocation(f"{model.solver_name} reports the allocation model infeasible")
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(
            f"{model.solver_name} found no solution within the time limit of {time_limit:g} s "
            f"(status code {code}); raise --time-limit or use --solver exact"
        )
    raw_weights = np.array([w.solution_value() for w in model.weights], dtype=np.float64)
    raw_selected = np.array([x.solution_value() for x in model.selected], dtype=np.float64)
    # The solver decides which names are held; the weights of that selection are then
    # recomputed exactly. Besides removing round-off, this repairs primal values that break
    # the model: CBC in OR-Tools 9.15 merges identical columns in presolve and can hand back
    # w = 1.0 for a name capped at 0.93 (with the right objective), so the selection is read
    # from the binaries as well as from the weights.
    selection = (raw_selected > 0.5) | (raw_weights > _ZERO_WEIGHT)
    try:
        weights_for_selection(model.scores, selection, model.params)  # validates the count
    except ValueError as exc:
        raise SolverError(f"{model.solver_name} returned an invalid solution: {exc}") from exc
    # The best weights *within* the selection, which may hold fewer names: a solver can
    # select a name at a floor below its feasibility tolerance (1e-7 < 1e-6) for free.
    subset = np.flatnonzero(selection)
    values = np.zeros(len(model.scores))
    values[subset] = solve_exact(model.scores[subset], model.params).weights
    status: SolveStatus = "optimal" if code == pywraplp.Solver.OPTIMAL else "feasible"
    value = float(model.scores @ values)
    bound = float(solver.Objective().BestBound()) * model.scale if status == "feasible" else value
    return MipSolution(weights=values, status=status, objective=value, best_bound=bound)


def solve_mip(
    scores: NDArray[np.float64],
    params: AllocatorParams,
    solver_name: str = "cbc",
    time_limit: float = 10.0,
) -> MipSolution:
    """Build and solve the model for positive `scores` within `time_limit` seconds."""
    if len(scores) == 0:  # nothing to choose (and some backends reject an empty model)
        create_solver(solver_name)
        return MipSolution(weights=np.zeros(0), status="optimal", objective=0.0, best_bound=0.0)
    return solve_score_model(build_score_model(scores, params, solver_name), time_limit)


__all__ = [
    "MIP_SOLVERS",
    "MipSolution",
    "ScoreModel",
    "build_score_model",
    "create_solver",
    "load_pywraplp",
    "native_stdout_silenced",
    "solve_mip",
    "solve_score_model",
]
