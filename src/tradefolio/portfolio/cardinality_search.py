"""Branch and bound for mean-variance on the simplex with a cardinality cap, over DNN bounds.

The shape (issue 16's λ = 200, K = 10 benchmark, and `allocate --objective mean-variance
--max-positions K --max-weight 1 --min-weight 0` fully invested):

    maximise mu^T w - λ w^T Σ w   s.t.  sum w = 1,  w >= 0,  at most K names held

with nothing else: no floors, no caps below 1, no other rows. `cardinality_shape` reads it
off a `Program` (the names' selections of `branch_and_bound.selection_structure`, the
factor exposures substituted as there) and hands back the dense minimisation form of
`dnn_bound.SimplexCardinality`; anything else is None and goes to `branch_and_bound.py`.

The search (`cardinality_search`):

- the bound of every node is `dnn_bound.CertificateBounds.node` of one certificate
  computed at the start (at most half the time limit; any dual is repaired into an exact
  certificate): the doubly-nonnegative one of the first-order method of
  `dnn_bound.admm_root` (no SCS; it stops once its repaired root bound gains little
  against the gap to the plain relaxation's incumbent, and hands over its root bound as
  the root's start), SCS's when it finds none (up to `SCS_MAX_NAMES`). With neither the
  search is not taken (None): the cheap split's bound is no better than the big-M
  search's. BLAS runs on one thread throughout (SCS's certificate above
  `SCS_THREADED_NAMES` names on the threads it had). Each node starts from its parent's
  bound (θ and the active set's state; the root from its own), its QPs solved by
  `dnn_bound.SimplexPiecesQP`. Nodes fix names out (excluded) or in (held, counting
  towards K); a node whose names not excluded are at most K is solved exactly as the
  plain QP over them (no count can bind);
- incumbents are exact: the QP over a support of at most K names solved by a small active
  set with exact KKT solves (`_simplex_qp`), its value f evaluated at the point; supports
  come from the root relaxation's K largest weights and every node's, each support solved
  once (a swap / drop local search on the first incumbent changed no tree here and cost
  0.14 s at N = 100: dropped);
- branching on the free name with the largest relaxed weight, held child first; best bound
  order; a node is pruned when its bound is within `relative_gap` of the incumbent.

"optimal" only when every open node is pruned; a time limit returns the incumbent with the
best open bound. Every bound is a Lagrangian tangent bound or a Frank-Wolfe bound (valid for
any point and duals), so the proof does not rest on the active sets' accuracy.
"""

from __future__ import annotations

import contextlib
import heapq
import importlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.branch_and_bound import SearchResult, selection_structure
from tradefolio.portfolio.factor_form import factor_definitions
from tradefolio.portfolio.program import INF, Program
from tradefolio.portfolio.types import SolveStatus

if TYPE_CHECKING:  # (imported where used: the policy runs import this module but rarely
    # search with it, and dnn_bound's import was ~6 ms of each run)
    from tradefolio.portfolio.dnn_bound import Certificate, NodeBound, SimplexCardinality

#: Fewer names than this are left to the branch and bound (λ = 200, K = 10 sets: at N = 20
#: it took 0.15 s against this search's 0.32 s, at N = 50 1.07 s against 0.44 s).
MIN_NAMES = 40
#: More names than this are left to it too. With SCS's certificate (session 7) N = 700 ended
#: at a gap of 1.9% at 1.0 GB of memory and N = 1,000 found no incumbent in 60 s; with the
#: first-order one and the tree's own active set (session 10, 30 s limit, loaded machine)
#: N = 700 was proven in 3.4 s of CPU at 130 MB, N = 1,000 ended at a gap of 4.5e-3 (the
#: branch and bound's: 4.3e-2 and 8.2e-2).
MAX_NAMES = 1000
#: Up to this many names the certificate is the first-order method's (`dnn_bound.
#: admm_certificate`), SCS's only when it finds none. Session 10 (the tree's own active
#: set; λ = 200, K = 10, CPU s, 30 s limit): N = 400 3.9 against SCS's 8.5 (both proven),
#: N = 500 at the limit gap 9.0e-4 against SCS's 3.0e-2 (no node); checked every 15
#: iterations N = 400 0.9 s, N = 500 proven in 10.4 s (docs/model.md).
ADMM_MAX_NAMES = 1000
#: SCS's cone program is left out above this many names (its memory: 1.0 GB at N = 700).
SCS_MAX_NAMES = 500
#: Above this many names SCS's certificate runs on the BLAS threads the search found (N = 400
#: on an idle machine: gap 3.8e-4 at 30 s on one thread, 1.4e-4 on two); the tree on one.
SCS_THREADED_NAMES = 350
# Largest objective coefficient after scaling (the active set's tolerances are absolute).
_SCALE_TO = 1e3
# Share of the time limit SCS may take for the certificate.
_CERTIFICATE_SHARE = 0.5
# SCS's accuracy and over-relaxation for the certificate (docs/model.md).
_CERTIFICATE_ACCURACY = 2e-3
_CERTIFICATE_ALPHA = 1.8
# Values of the count's multiplier θ tried per node (from the parent's).
_NODE_EVALUATIONS = 6
# The same at a root without a start (an SCS certificate, or one given).
_THETA_STEPS = 30
# Absolute gap in the scaled objective (largest coefficient 1e3) that counts as closed.
_ABSOLUTE_GAP = 1e-9
# A relaxed weight below this counts as not held.
_HELD = 1e-9


@dataclass(frozen=True, slots=True)
class CardinalityShape:
    """The program as a `SimplexCardinality` (scaled by `scale`, minimised) and where its
    weights, selections and substituted factor exposures are."""

    problem: SimplexCardinality
    weights: NDArray[np.intp]
    selections: NDArray[np.intp]
    scale: float
    maximize: bool


def cardinality_shape(program: Program) -> CardinalityShape | None:
    """The program's `CardinalityShape`, or None when it is not exactly that shape."""
    if not program.is_quadratic:
        return None
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    selections = selection_structure(program, integers)
    if selections is None or np.any(selections.floors > 0) or np.any(selections.caps != 1.0):
        return None
    if len(selections.counting) != 1:
        return None
    count_row, members, counts = selections.counting[0]
    size = len(integers)
    if len(members) != size or np.any(counts != 1.0):
        return None
    limit = program.rows[count_row].hi
    if not math.isfinite(limit) or limit < 1 or limit >= size:
        return None
    weights = selections.weights
    definitions = factor_definitions(program)
    defined = set(definitions.variables.tolist())
    other = set(range(program.size)) - set(weights.tolist()) - set(integers.tolist()) - defined
    if other:
        return None
    if any(program.lower[k] != 0.0 or program.upper[k] < 1.0 for k in weights):
        return None
    weight_set = set(weights.tolist())
    if any(k not in weight_set and c != 0.0 for k, c in program.linear.items()):
        return None  # a linear term on a selection or an exposure: not this objective
    dropped = selections.structural | {count_row} | set(definitions.rows.tolist())
    budget = [row for r, row in enumerate(program.rows) if r not in dropped]
    lo, hi = -INF, INF
    for row in budget:
        if set(row.coefficients) != weight_set or any(c != 1.0 for c in row.coefficients.values()):
            return None
        lo, hi = max(lo, row.lo), min(hi, row.hi)
    if lo != 1.0 or hi != 1.0:
        return None
    form = np.zeros((program.size, program.size))
    for (i, j), q in program.quadratic.items():
        if i == j:
            form[i, i] += q
        else:
            form[i, j] += 0.5 * q
            form[j, i] += 0.5 * q
    reads = definitions.reads
    if len(definitions):
        form[np.ix_(reads, reads)] += definitions.gram()
        if np.any(form[definitions.variables]) or np.any(form[:, definitions.variables]):
            # Only the exposures' own squares may sit there: gram() replaced them.
            form[definitions.variables, definitions.variables] = 0.0
            if np.any(form[definitions.variables]) or np.any(form[:, definitions.variables]):
                return None
    form = form[np.ix_(weights, weights)]
    linear = np.array([program.linear.get(int(k), 0.0) for k in weights])
    sign = -1.0 if program.maximize else 1.0
    hessian = sign * form
    cost = -sign * linear
    largest = max(float(np.abs(hessian).max(initial=0.0)), float(np.abs(cost).max(initial=0.0)))
    if largest <= 0 or not np.all(np.isfinite(hessian)):
        return None
    scale = _SCALE_TO / largest
    # H is PSD as every quadratic model's Σ is (validated, round-off clipped): the leaves'
    # Frank-Wolfe bounds rest on it, as the branch and bound's relaxations do; the
    # certificate's M is checked on its own (`dnn_bound.verified_certificate`).
    hessian = 0.5 * (hessian + hessian.T) * scale
    from tradefolio.portfolio.dnn_bound import SimplexCardinality

    problem = SimplexCardinality(hessian, cost * scale, int(limit))
    return CardinalityShape(problem, weights, integers, scale, program.maximize)


def _support_qp(
    problem: SimplexCardinality, support: NDArray[np.bool_]
) -> tuple[float, NDArray[np.float64], float] | None:
    """min f over the simplex of `support` (no count): (f at the point, the point, a valid
    lower bound), or None when the small active set below does not converge."""
    names = np.flatnonzero(support)
    if len(names) == 0:
        return None
    hessian = problem.hessian[np.ix_(names, names)]
    cost = problem.cost[names]
    x = _simplex_qp(hessian, cost)
    if x is None:
        return None
    # Frank-Wolfe's bound on the simplex, valid for any x (convexity): f(x) + min_i g_i - g^T x.
    gradient = 2.0 * hessian @ x - cost
    value = float(x @ hessian @ x - cost @ x)
    bound = value + float(gradient.min() - gradient @ x)
    point = np.zeros(problem.size)
    point[names] = x
    return problem.objective(point), point, bound


def _simplex_qp(
    hessian: NDArray[np.float64], cost: NDArray[np.float64], iterations: int = 200
) -> NDArray[np.float64] | None:
    """min w^T H w - c^T w over the simplex of a few names by a primal active set with
    exact KKT solves (no ridge: its answer is the face's optimum to round-off, which the
    Frank-Wolfe bound of a leaf then matches). None if it does not converge."""
    size = len(cost)
    vertex_values = np.diagonal(hessian) - cost
    x = np.zeros(size)
    x[int(np.argmin(vertex_values))] = 1.0
    face = x > 0
    scale = 1.0 + float(np.abs(hessian).max()) + float(np.abs(cost).max())
    for _ in range(iterations):
        members = np.flatnonzero(face)
        count = len(members)
        kkt = np.zeros((count + 1, count + 1))
        kkt[:count, :count] = 2.0 * hessian[np.ix_(members, members)]
        kkt[:count, count] = 1.0
        kkt[count, :count] = 1.0
        rhs = np.append(cost[members], 1.0)
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        target = np.zeros(size)
        target[members] = solution[:count]
        if np.all(target[members] > 0):
            x = target
            gradient = 2.0 * hessian @ x - cost
            level = float(gradient[members].mean())
            reduced = gradient - level
            reduced[members] = 0.0
            entering = int(np.argmin(reduced))
            if reduced[entering] >= -1e-12 * scale:
                return x
            face[entering] = True
            continue
        # Step towards the face's optimum until a weight reaches 0; drop it.
        direction = target - x
        shrinking = face & (direction < 0)
        ratios = np.where(shrinking, x / np.where(shrinking, -direction, 1.0), np.inf)
        leaving = int(np.argmin(ratios))
        step = min(1.0, float(ratios[leaving]))
        x = np.clip(x + step * direction, 0.0, None)
        x[leaving] = 0.0
        face[leaving] = False
        x = x / float(x.sum())
    return None


@dataclass(order=True)
class _Node:
    bound: float
    order: int
    excluded: NDArray[np.bool_] = field(compare=False)
    held: NDArray[np.bool_] = field(compare=False)
    parent: NodeBound | None = field(compare=False, default=None)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[Callable[[], contextlib.AbstractContextManager[object]]]:
    """BLAS and LAPACK on one thread (threadpoolctl, which scikit-learn of the `portfolio`
    extra brings; without it nothing changes): the search's matrices are small, and on the
    shared 2-core machine numpy's two OpenBLAS threads made one 101-square
    eigendecomposition 48 ms of wall time against 2 ms on one (docs/model.md, session 9).
    It yields a context that gives BLAS back the threads it had before (SCS's
    certificate above `SCS_THREADED_NAMES` names)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        yield contextlib.nullcontext
        return
    # One scan of the loaded libraries (each took ~20 ms in a fresh process: 0.07 s of an
    # N = 100 search went to two info calls and a limit).
    controller = threadpoolctl.ThreadpoolController()
    before = controller.info()

    def restored() -> contextlib.AbstractContextManager[object]:
        return controller.limit(limits=before)  # type: ignore[no-any-return]

    with controller.limit(limits=1, user_api="blas"):
        yield restored


def cardinality_search(
    program: Program,
    time_limit: float,
    relative_gap: float,
    hint: NDArray[np.float64] | None = None,
    certificate: Certificate | None = None,
    min_names: int = MIN_NAMES,
    max_names: int = MAX_NAMES,
) -> SearchResult | None:
    """Solve `program` when it has the shape of the module and a certificate is found
    (else None: the caller's branch and bound), with `min_names` to `max_names` names; see
    the module. `certificate` (tests and benchmarks) replaces the one computed at the start."""
    shape = cardinality_shape(program)
    if shape is None or not min_names <= shape.problem.size <= max_names:
        return None
    with _one_blas_thread() as all_threads:
        return _search(program, shape, time_limit, relative_gap, hint, certificate, all_threads)


def _search(
    program: Program,
    shape: CardinalityShape,
    time_limit: float,
    relative_gap: float,
    hint: NDArray[np.float64] | None,
    certificate: Certificate | None,
    all_threads: Callable[[], contextlib.AbstractContextManager[object]],
) -> SearchResult | None:
    """`cardinality_search` of a program of the module's shape (`all_threads`: BLAS's
    threads from before the search, for SCS above `SCS_THREADED_NAMES` names)."""
    from tradefolio.portfolio.dnn_bound import (
        CertificateBounds,
        admm_root,
        dnn_certificate,
        plain_certificate,
    )

    deadline = time.monotonic() + time_limit
    problem = shape.problem
    size = problem.size
    limit = problem.max_names
    best_value = math.inf
    best_point = np.zeros(size)
    nodes = 0

    def remaining() -> float:
        return deadline - time.monotonic()

    def gap_of(value: float) -> float:
        # The scaled objective's absolute floor is the backends' (`ABSOLUTE_GAP`): a leaf's
        # exact QP is closed by its Frank-Wolfe bound, ~1e-13 below its value by round-off.
        return max(relative_gap * abs(value), _ABSOLUTE_GAP)

    tried: dict[bytes, float] = {}

    def try_support(support: NDArray[np.bool_]) -> float:
        """The exact QP over `support` (at most K names) as an incumbent; its lower bound.
        A support seen before is not solved again (nodes' K largest weights repeat: at
        N = 400, 240 solves took 0.8 s of a 3 s tree)."""
        nonlocal best_value, best_point
        key = support.tobytes()
        if key in tried:
            return tried[key]
        found = _support_qp(problem, support)
        if found is None:
            tried[key] = -math.inf
            return -math.inf
        value, point, bound = found
        if np.count_nonzero(point > 0) <= limit and value < best_value:
            best_value, best_point = value, point
        tried[key] = bound
        return bound

    def top_names(
        point: NDArray[np.float64], base: NDArray[np.bool_] | None = None
    ) -> NDArray[np.bool_]:
        chosen = np.zeros(size, dtype=bool) if base is None else base.copy()
        room = limit - int(chosen.sum())
        if room > 0:
            order = [int(i) for i in np.argsort(-point) if not chosen[i] and point[i] > _HELD]
            chosen[order[:room]] = True
        return chosen

    if hint is not None:
        held_hint = np.asarray(hint)[shape.weights] > _HELD
        if 0 < held_hint.sum() <= limit:
            try_support(held_hint)
    root_start: NodeBound | None = None
    if certificate is None:
        # An incumbent first (the plain relaxation's K largest weights): the first-order
        # method stops once its bound's gains are small against the gap to it.
        plain = CertificateBounds(problem, plain_certificate(problem)).node(deadline=deadline)
        try_support(top_names(plain.point))
        budget = max(remaining() * _CERTIFICATE_SHARE, 0.0)
        if size <= ADMM_MAX_NAMES:
            first_order = admm_root(problem, seconds=budget, upper=best_value, start=plain)
            if first_order is not None:
                certificate, root_start = first_order
        if certificate is None and size <= SCS_MAX_NAMES:
            # SCS gets its share of what the first-order method left, not the same budget
            budget = max(remaining() * _CERTIFICATE_SHARE, 0.0)
            threads = all_threads() if size > SCS_THREADED_NAMES else contextlib.nullcontext()
            with threads:
                certificate = dnn_certificate(
                    problem, _CERTIFICATE_ACCURACY, seconds=budget, relaxation=_CERTIFICATE_ALPHA
                )
        if certificate is None:
            # The cheap split's bound is no better than the big-M search's (1.29% against
            # 1.92% of root gap at N = 100, none at N = 200): that search.
            return None
    bounds = CertificateBounds(problem, certificate)
    # From the first-order method's own root bound when it gave the certificate (cold,
    # 28 values of θ and 0.4 s at N = 200): one value, its θ; the tree's first node (the
    # root again) searches θ from there towards the incumbent.
    root = bounds.node(
        start=root_start,
        evaluations=1 if root_start is not None else _THETA_STEPS,
        target=best_value - gap_of(best_value),
        deadline=deadline,
    )
    try_support(top_names(root.point))
    counter = itertools.count()
    # The root starts from its own bound's θ and state (from θ = 0 its 6 values of θ took
    # ~500 active-set iterations at N = 100 to a bound 3% weaker, its children's start).
    open_nodes = [
        _Node(
            root.bound,
            next(counter),
            np.zeros(size, dtype=bool),
            np.zeros(size, dtype=bool),
            root,
        )
    ]
    unfinished: list[float] = []
    while open_nodes:
        node = heapq.heappop(open_nodes)
        if node.bound >= best_value - gap_of(best_value):
            open_nodes.clear()
            break
        if remaining() <= 0:
            unfinished.append(node.bound)
            break
        nodes += 1
        allowed = ~node.excluded
        if int(allowed.sum()) <= limit:
            # No count can bind: the node's optimum is the plain QP over its names.
            bound = try_support(allowed)
            if bound < best_value - gap_of(best_value):
                unfinished.append(max(bound, node.bound))
            continue
        target = best_value - gap_of(best_value)
        found = bounds.node(
            node.excluded, node.held, node.parent, _NODE_EVALUATIONS, target, deadline
        )
        bound = max(node.bound, found.bound)
        if bound >= best_value - gap_of(best_value):
            continue
        point = found.point
        try_support(top_names(point, node.held))
        if bound >= best_value - gap_of(best_value):
            continue
        free = allowed & ~node.held
        candidates = np.flatnonzero(free & (point > _HELD))
        if candidates.size == 0:
            candidates = np.flatnonzero(free)
        branch = int(candidates[np.argmax(point[candidates])])
        held = node.held.copy()
        held[branch] = True
        excluded = node.excluded.copy()
        excluded[branch] = True
        if int(held.sum()) == limit:
            full = ~held  # a held child at the count: every other name is out
            heapq.heappush(open_nodes, _Node(bound, next(counter), full, held, found))
        else:
            heapq.heappush(
                open_nodes, _Node(bound, next(counter), node.excluded.copy(), held, found)
            )
        heapq.heappush(open_nodes, _Node(bound, next(counter), excluded, node.held.copy(), found))
    if not math.isfinite(best_value):
        return None
    open_bounds = [n.bound for n in open_nodes] + unfinished
    open_bounds = [b for b in open_bounds if b < best_value - gap_of(best_value)]
    bound = min([*open_bounds, best_value])
    status: SolveStatus = "feasible" if open_bounds else "optimal"
    values = np.zeros(program.size)
    values[shape.weights] = best_point
    values[shape.selections] = (best_point > 0).astype(np.float64)
    definitions = factor_definitions(program)
    if len(definitions):
        values[definitions.variables] = definitions.values(values)
    sign = -1.0 if shape.maximize else 1.0
    return SearchResult(
        values=values,
        status=status,
        objective=sign * best_value / shape.scale + program.constant,
        best_bound=sign * bound / shape.scale + program.constant,
        nodes=nodes,
    )


__all__ = [
    "ADMM_MAX_NAMES",
    "MAX_NAMES",
    "MIN_NAMES",
    "SCS_MAX_NAMES",
    "SCS_THREADED_NAMES",
    "CardinalityShape",
    "cardinality_search",
    "cardinality_shape",
]
