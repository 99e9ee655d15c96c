"""Branch and bound for convex mixed-integer quadratic programs, HiGHS solving the nodes.

Mean-variance and min-variance programs are convex QPs plus integer variables (selections,
lots, trade flags). HiGHS solves convex continuous QPs exactly (active set) but not MIQPs,
so this module searches the integer choices itself:

- each node is the continuous relaxation with tightened integer bounds; its optimum bounds
  every integer solution below it (convexity), so a node whose bound cannot beat the
  incumbent by more than the gap tolerance is pruned;
- branching on the most fractional integer variable (x <= floor(v) | x >= ceil(v));
- best-bound order once an incumbent exists, depth first before (to find one quickly);
  a rounding heuristic at the root (0/1 variables up, general integers down) and the
  caller's hint give early incumbents;
- every incumbent's continuous part is re-solved with its integers fixed, so the returned
  point is an exact QP optimum for its integer choice, not a relaxation's round-off.

The search is finished ("optimal") when no open node's bound is better than the incumbent
by more than `relative_gap`; a time limit ends it early with the best bound of the open
nodes ("feasible" with a gap). Why not SCIP: SCIP handles the quadratic objective by outer
approximation and needs thousands of nodes to close a 1e-6 gap that one exact QP solve
closes (see benchmarks/RESULTS.md); SCIP stays available as `solver="scip"`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, MissingExtra, SolverError
from tradefolio.portfolio.mip import native_stdout_silenced
from tradefolio.portfolio.program import INF, Program
from tradefolio.portfolio.types import SolveStatus

# A value within this of an integer counts as integral.
_INTEGRALITY = 1e-6


def load_highspy() -> Any:
    """Import highspy lazily, naming the extra when it is missing."""
    try:
        import highspy
    except ImportError as exc:
        raise MissingExtra("highspy", "portfolio", "the quadratic allocator") from exc
    return highspy


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The best point found, its status, its objective and the best bound (program sense)."""

    values: NDArray[np.float64]
    status: SolveStatus
    objective: float
    best_bound: float
    nodes: int


class Relaxation:
    """The program's continuous relaxation in HiGHS (minimisation form, scaled objective);
    `solve` takes new bounds for the integer variables and returns (objective, values)."""

    def __init__(self, program: Program, scale: float) -> None:
        highspy = load_highspy()
        self._highspy = highspy
        self.sign = -1.0 if program.maximize else 1.0
        self.scale = scale
        self.constant = program.constant
        self.integers = np.flatnonzero(np.array(program.integer, dtype=bool))
        self.size = program.size
        with native_stdout_silenced():  # HiGHS prints a banner when created
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf

        def finite(values: list[float]) -> NDArray[np.float64]:
            array = np.array(values, dtype=np.float64)
            array[array == INF] = inf
            array[array == -INF] = -inf
            return array

        self.lower = finite(program.lower)
        self.upper = finite(program.upper)
        n = program.size
        h.addVars(n, self.lower, self.upper)
        if program.linear:
            index = np.fromiter(program.linear.keys(), dtype=np.int32)
            cost = np.fromiter(program.linear.values(), dtype=np.float64)
            h.changeColsCost(len(index), index, self.sign * scale * cost)
        starts: list[int] = []
        indices: list[int] = []
        coefficients: list[float] = []
        for row in program.rows:
            starts.append(len(indices))
            indices.extend(row.coefficients.keys())
            coefficients.extend(row.coefficients.values())
        if program.rows:
            h.addRows(
                len(program.rows),
                finite([r.lo for r in program.rows]),
                finite([r.hi for r in program.rows]),
                len(indices),
                np.array(starts, dtype=np.int32),
                np.array(indices, dtype=np.int32),
                np.array(coefficients, dtype=np.float64),
            )
        self._pass_hessian(h, program)
        self.highs = h

    def _pass_hessian(self, h: Any, program: Program) -> None:
        """Q (lower triangle, column-wise) of the objective c^T x + 1/2 x^T Q x."""
        columns: dict[int, dict[int, float]] = {}
        for (i, j), q in program.quadratic.items():
            if q == 0.0:
                continue
            value = self.sign * self.scale * q
            if i == j:
                entry = 2.0 * value
            else:
                entry = value
                i, j = max(i, j), min(i, j)
            columns.setdefault(j, {})
            columns[j][i] = columns[j].get(i, 0.0) + entry
        if any(i == j and v < 0 for j, col in columns.items() for i, v in col.items()):
            raise SolverError("the quadratic objective is not convex; branch and bound needs it")
        start: list[int] = [0]
        index: list[int] = []
        value_list: list[float] = []
        for j in range(program.size):
            for i, v in sorted(columns.get(j, {}).items()):
                index.append(i)
                value_list.append(v)
            start.append(len(index))
        hessian = self._highspy.HighsHessian()
        hessian.dim_ = program.size
        hessian.format_ = self._highspy.HessianFormat.kTriangular
        hessian.start_ = start
        hessian.index_ = index
        hessian.value_ = value_list
        if h.passHessian(hessian) != self._highspy.HighsStatus.kOk:
            raise SolverError("HiGHS refused the quadratic objective (it must be convex)")

    def solve(
        self, lower: NDArray[np.float64], upper: NDArray[np.float64], seconds: float
    ) -> tuple[float, NDArray[np.float64]] | None:
        """Minimum (scaled) and point with the integer variables in [lower, upper];
        None when infeasible. Raises `TimeoutError` when HiGHS stops on the time limit."""
        h = self.highs
        h.changeColsBounds(len(self.integers), self.integers.astype(np.int32), lower, upper)
        # HiGHS's time limit counts its run time over every `run` of this instance.
        h.setOptionValue("time_limit", h.getRunTime() + max(seconds, 1e-3))
        h.run()
        status = h.getModelStatus()
        statuses = self._highspy.HighsModelStatus
        if status == statuses.kInfeasible:
            return None
        if status != statuses.kOptimal:
            if status in (statuses.kTimeLimit, statuses.kIterationLimit):
                raise TimeoutError
            raise SolverError(
                f"HiGHS could not solve a node relaxation: {h.modelStatusToString(status)}"
            )
        values = np.array(h.getSolution().col_value, dtype=np.float64)
        return float(h.getInfo().objective_function_value), values

    def program_value(self, minimised: float) -> float:
        """A scaled minimisation value back in the program's sense and units."""
        return self.sign * minimised / self.scale + self.constant


@dataclass(order=True, slots=True)
class _Node:
    key: tuple[float, ...]
    order: int
    bound: float
    depth: int
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def branch_and_bound(
    program: Program,
    scale: float,
    time_limit: float,
    relative_gap: float,
    hint: NDArray[np.float64] | None = None,
) -> SearchResult:
    """Solve `program` (convex quadratic objective, linear rows, integers) to `relative_gap`."""
    deadline = time.monotonic() + time_limit
    relaxation = Relaxation(program, scale)
    ints = relaxation.integers
    root_lower = np.ceil(relaxation.lower[ints] - _INTEGRALITY)
    root_upper = np.floor(relaxation.upper[ints] + _INTEGRALITY)
    binary = (root_lower >= 0) & (root_upper <= 1)

    best_value = math.inf
    best_point: NDArray[np.float64] | None = None

    def remaining() -> float:
        return deadline - time.monotonic()

    def try_integers(fixed: NDArray[np.float64]) -> None:
        """Solve with the integers fixed at `fixed`; keep the point if it improves."""
        nonlocal best_value, best_point
        fixed = np.clip(fixed, root_lower, root_upper)
        solved = relaxation.solve(fixed, fixed, remaining())
        if solved is not None and solved[0] < best_value:
            best_value, best_point = solved
            best_point = best_point.copy()
            best_point[ints] = fixed

    def prunable(bound: float) -> bool:
        return bound >= best_value - relative_gap * max(abs(best_value), 1e-9)

    counter = itertools.count()
    open_nodes = [_Node((0.0, -math.inf), next(counter), -math.inf, 0, root_lower, root_upper)]
    nodes = 0
    stopped = False
    best_first = False
    while open_nodes:
        if best_point is not None and not best_first:
            best_first = True
            for other in open_nodes:
                other.key = (0.0, other.bound)
            heapq.heapify(open_nodes)
        node = heapq.heappop(open_nodes)
        if prunable(node.bound):  # best-first: every other open node is worse
            open_nodes.clear()
            break
        try:
            if remaining() <= 0:
                raise TimeoutError
            solved = relaxation.solve(node.lower, node.upper, remaining())
        except TimeoutError:
            heapq.heappush(open_nodes, node)
            stopped = True
            break
        nodes += 1
        if solved is None:
            if nodes == 1:
                raise InfeasibleAllocation("the allocation model is infeasible (root node)")
            continue
        bound, point = solved
        values = point[ints]
        fraction = np.abs(values - np.round(values))
        integral = fraction.size == 0 or float(fraction.max()) <= _INTEGRALITY
        try:
            if nodes == 1 and hint is not None:
                try_integers(np.round(hint[ints]))
            if integral:
                try_integers(np.round(values))
            elif nodes == 1:
                up = np.ceil(values - _INTEGRALITY)
                try_integers(np.where(binary, up, np.floor(values + _INTEGRALITY)))
        except TimeoutError:
            stopped = True
        if integral and bound < best_value - relative_gap * max(abs(best_value), 1e-9):
            # Only when polishing timed out: the relaxation's own point is integral.
            best_value, best_point = bound, point.copy()
            best_point[ints] = np.round(values)
        if stopped:
            if not integral:
                node.bound = bound
                heapq.heappush(open_nodes, node)
            break
        if integral or prunable(bound):
            continue
        branch = int(np.argmax(fraction))
        down_upper = node.upper.copy()
        down_upper[branch] = math.floor(values[branch])
        up_lower = node.lower.copy()
        up_lower[branch] = math.ceil(values[branch])
        depth = node.depth + 1
        for lower, upper in ((node.lower, down_upper), (up_lower, node.upper)):
            key = (0.0, bound) if best_first else (-float(depth), bound)
            heapq.heappush(open_nodes, _Node(key, next(counter), bound, depth, lower, upper))
    if best_point is None:
        if stopped:
            raise SolverError(
                f"branch and bound found no solution within the time limit of {time_limit:g} s; "
                "raise --time-limit"
            )
        raise InfeasibleAllocation("the allocation model is infeasible (branch and bound)")
    open_bounds = [n.bound for n in open_nodes if not prunable(n.bound)]
    bound_min = min([*open_bounds, best_value])
    status: SolveStatus = "feasible" if stopped and open_bounds else "optimal"
    return SearchResult(
        values=best_point,
        status=status,
        objective=relaxation.program_value(best_value),
        best_bound=relaxation.program_value(bound_min),
        nodes=nodes,
    )


__all__ = ["Relaxation", "SearchResult", "branch_and_bound", "load_highspy"]
