"""Doubly-nonnegative bounds and the cardinality search on the simplex, against brute force.

The oracle enumerates every face of the simplex with at most K names: the optimum of
min w^T H w - c^T w over the K-sparse simplex is a stationary point of the face it lies
in, so the smallest feasible stationary point over all such faces is the optimum. Every
certificate (plain, cheap split, DNN from SCS) must be exact (M PSD, d >= 0, N >= 0 by the
identity) and bound every node below the enumeration of that node's supports; the search
must return the enumeration's optimum, "optimal", whatever certificate it is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tradefolio.portfolio.cardinality_search import cardinality_search, cardinality_shape
from tradefolio.portfolio.constraints import Budget, Cardinality, NameBounds, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.dnn_bound import (
    Certificate,
    CertificateBounds,
    NodeBound,
    SimplexCardinality,
    SimplexPiecesQP,
    _binding_multiplier,
    admm_certificate,
    dnn_certificate,
    plain_certificate,
    split_certificate,
)
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.node_qp import ActiveSetQP, Pieces, tangent_bound
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.types import Candidate

pytest.importorskip("cvxpy")


def instance(seed: int, n: int, sessions: int, aversion: float) -> tuple[NDArray[np.float64], ...]:
    """Daily-like returns with a common factor: (centred returns / sqrt(T - 1), mu)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.01, sessions)
    returns = 0.6 * market[:, None] + rng.normal(0.0, 0.012, (sessions, n))
    returns += rng.normal(0.0005, 0.002, n)
    mu = returns.mean(axis=0)
    factor = (returns - mu) / np.sqrt(sessions - 1)
    return factor * np.sqrt(aversion), mu


def brute_force(
    hessian: NDArray[np.float64],
    cost: NDArray[np.float64],
    max_names: int,
    excluded: NDArray[np.bool_] | None = None,
    held: NDArray[np.bool_] | None = None,
) -> float:
    """min f over the node's points: names avoiding `excluded`, count with `held` <= K."""
    n = len(cost)
    excluded = np.zeros(n, dtype=bool) if excluded is None else excluded
    held = np.zeros(n, dtype=bool) if held is None else held
    allowed = [i for i in range(n) if not excluded[i]]
    best = np.inf
    for size in range(1, max_names + 1):
        for face in itertools.combinations(allowed, size):
            if len(set(face) | set(np.flatnonzero(held).tolist())) > max_names:
                continue
            names = list(face)
            ones = np.ones((size, 1))
            kkt = np.block(
                [[2.0 * hessian[np.ix_(names, names)], ones], [ones.T, np.zeros((1, 1))]]
            )
            rhs = np.concatenate([cost[names], [1.0]])
            solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
            if np.linalg.norm(kkt @ solution - rhs) > 1e-9 * (1 + np.linalg.norm(rhs)):
                continue
            w = solution[:size]
            if np.all(w >= -1e-12):
                point = np.zeros(n)
                point[names] = np.clip(w, 0.0, None)
                best = min(best, float(point @ hessian @ point - cost @ point))
    return best


def check_exact(problem: SimplexCardinality, certificate: Certificate) -> None:
    """M PSD, d >= 0 and N = H + sym(v 1^T) - M - diag(d) >= 0 (to round-off)."""
    scale = float(np.abs(problem.hessian).max())
    v, ones = certificate.shift, np.ones(problem.size)
    rest = problem.hessian + 0.5 * (np.outer(v, ones) + np.outer(ones, v))
    rest -= certificate.psd + np.diag(certificate.diagonal)
    assert np.linalg.eigvalsh(certificate.psd)[0] >= -1e-12 * scale
    assert np.all(certificate.diagonal >= 0)
    assert rest.min() >= -1e-12 * scale


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(3, 7),
    cap=st.integers(1, 4),
    aversion=st.sampled_from([1.0, 50.0, 200.0]),
    node_seed=st.integers(0, 1000),
)
def test_every_certificate_bounds_every_node_below_brute_force(
    seed: int, n: int, cap: int, aversion: float, node_seed: int
) -> None:
    factor, mu = instance(seed, n, 2 * n + 3, aversion)
    problem = SimplexCardinality(factor.T @ factor, mu, min(cap, n))
    certificates = [plain_certificate(problem), split_certificate(problem)]
    dnn = dnn_certificate(problem)
    assert dnn is not None
    certificates.append(dnn)
    own = admm_certificate(problem)
    if own is not None:  # the search falls back to SCS's without one
        certificates.append(own)
    rng = np.random.default_rng(node_seed)
    excluded = rng.random(n) < 0.25
    held = (rng.random(n) < 0.2) & ~excluded
    if held.sum() > problem.max_names:
        held[:] = False
    optimum = brute_force(problem.hessian, problem.cost, problem.max_names)
    node_optimum = brute_force(problem.hessian, problem.cost, problem.max_names, excluded, held)
    tolerance = 1e-9 * (1.0 + abs(optimum))
    for certificate in certificates:
        check_exact(problem, certificate)
        bounds = CertificateBounds(problem, certificate)
        assert bounds.node().bound <= optimum + tolerance
        if np.isfinite(node_optimum):
            assert bounds.node(excluded, held).bound <= node_optimum + tolerance


def test_the_dnn_bound_closes_most_of_the_plain_gap() -> None:
    """On a binding cap (12 names, at most 3, risk-averse) the DNN certificate's root bound
    closes most of the plain relaxation's gap (a broken certificate, e.g. d = 0 or N = 0,
    closes little): the reason the search uses it."""
    factor, mu = instance(7, 12, 40, 200.0)
    problem = SimplexCardinality(factor.T @ factor, mu, 3)
    optimum = brute_force(problem.hessian, problem.cost, 3)
    plain = CertificateBounds(problem, plain_certificate(problem)).node().bound
    dnn = dnn_certificate(problem)
    assert dnn is not None
    strong = CertificateBounds(problem, dnn).node().bound
    assert plain < strong <= optimum + 1e-12
    assert (optimum - strong) < 0.25 * (optimum - plain)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_first_order_certificate_is_as_strong_as_scs(seed: int) -> None:
    """The first-order method's certificate (no SCS) is exact and its root bound closes as
    much of the plain relaxation's gap as SCS's DNN certificate, to a tenth of that gap."""
    factor, mu = instance(seed, 12, 40, 200.0)
    problem = SimplexCardinality(factor.T @ factor, mu, 3)
    optimum = brute_force(problem.hessian, problem.cost, 3)
    plain = CertificateBounds(problem, plain_certificate(problem)).node().bound
    dnn = dnn_certificate(problem, 1e-6)
    own = admm_certificate(problem)
    assert dnn is not None and own is not None
    check_exact(problem, own)
    strong = CertificateBounds(problem, dnn).node().bound
    mine = CertificateBounds(problem, own).node().bound
    assert plain < mine <= optimum + 1e-12
    assert mine >= strong - 0.1 * (optimum - plain)


def test_the_search_needs_no_scs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SCS (its certificate None) the search still takes the shape, with the
    first-order certificate, and proves the enumeration's optimum."""
    import tradefolio.portfolio.dnn_bound as bounds  # (imported by the search where used)

    monkeypatch.setattr(bounds, "dnn_certificate", lambda *args, **kwargs: None)
    factor, mu = instance(11, 40, 60, 200.0)
    model, candidates = cardinality_model(factor, mu, 2)
    program = model.build(make_universe(candidates, 1e6)).program
    found = cardinality_search(program, 30.0, 1e-9)
    assert found is not None and found.status == "optimal"
    optimum = -brute_force(factor.T @ factor, mu, 2)
    assert found.objective == pytest.approx(optimum, rel=1e-9, abs=1e-12)


def test_the_search_runs_blas_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node bound of the search runs with BLAS limited to one thread (two threads on
    the shared 2-core machine made its eigendecompositions 20x slower)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import tradefolio.portfolio.dnn_bound as bounds  # (imported by the search where used)

    threads: list[int] = []
    node = bounds.CertificateBounds.node

    def counted(self: CertificateBounds, *args: object, **kwargs: object) -> object:
        infos = threadpoolctl.threadpool_info()  # OpenMP runtimes of other tests are not BLAS
        threads.extend(info["num_threads"] for info in infos if info["user_api"] == "blas")
        return node(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bounds.CertificateBounds, "node", counted)
    factor, mu = instance(11, 40, 60, 200.0)
    model, candidates = cardinality_model(factor, mu, 2)
    program = model.build(make_universe(candidates, 1e6)).program
    assert cardinality_search(program, 30.0, 1e-9) is not None
    assert threads and set(threads) == {1}


def node_pieces(
    certificate: Certificate, theta: float, excluded: NDArray[np.bool_], held: NDArray[np.bool_]
) -> Pieces:
    """The pieces of `CertificateBounds.node` at θ (held names d w^2, free ones the
    perspective's Lagrangian, excluded ones fixed at 0)."""
    d = certificate.diagonal
    upper = np.where(excluded, 0.0, 1.0)
    counted = ~excluded & ~held & (d > 0)
    safe = np.where(counted, d, 1.0)
    kink = np.where(counted, np.minimum(np.sqrt(theta / safe), upper), upper)
    lin0 = np.where(counted, 2.0 * np.sqrt(theta * safe), 0.0)
    quad1 = np.where(counted, d, 0.0)
    n = len(d)
    return Pieces(np.zeros(n), upper, kink, lin0, np.where(held, d, 0.0), np.zeros(n), quad1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(4, 30),
    theta=st.floats(0.05, 20.0),
    node_seed=st.integers(0, 1000),
)
def test_the_simplex_solver_finds_the_active_sets_optimum(
    seed: int, n: int, theta: float, node_seed: int
) -> None:
    """The node problem's own active set (`SimplexPiecesQP`: an inverse of the free block
    kept by bordering and Schur complements) ends at node_qp's optimum from a cold start
    and from the parent's state after a bound change, its point on the simplex and its
    tangent bound equal to its value (it is the node's exact minimum)."""
    factor, mu = instance(seed, n, 2 * n + 3, 200.0)
    problem = SimplexCardinality(factor.T @ factor, mu, max(1, n // 3))
    certificate = admm_certificate(problem)
    assume(certificate is not None)
    assert certificate is not None
    reference = ActiveSetQP(
        2.0 * certificate.psd,
        -(problem.cost + certificate.shift),
        np.ones((1, n)),
        np.ones(1),
        np.ones(1),
    )
    own = SimplexPiecesQP(reference.hessian, reference.cost)
    nothing = np.zeros(n, dtype=bool)
    parent_pieces = node_pieces(certificate, theta, nothing, nothing)
    x, level, parent, _ = own.solve(parent_pieces)
    expected = reference.solve(parent_pieces)
    scale = 1.0 + abs(expected.objective)
    assert reference.objective(x, parent_pieces) == pytest.approx(
        expected.objective, abs=1e-9 * scale
    )
    rng = np.random.default_rng(node_seed)
    excluded = rng.random(n) < 0.3
    excluded[int(np.argmax(x))] = True  # the parent's largest weight is cut: a real change
    if excluded.all():
        excluded[int(np.argmin(x))] = False
    held = (rng.random(n) < 0.2) & ~excluded
    pieces = node_pieces(certificate, theta * float(rng.uniform(0.5, 2.0)), excluded, held)
    x, level, _, _ = own.solve(pieces, parent)
    expected = reference.solve(pieces)
    assert abs(float(x.sum()) - 1.0) <= 1e-12 and np.all(x >= 0) and not x[excluded].any()
    value = reference.objective(x, pieces)
    assert value == pytest.approx(expected.objective, abs=1e-9 * scale)
    bound = tangent_bound(reference, pieces, x, np.array([level]))[0]
    assert value - 1e-9 * scale <= bound <= value + 1e-9 * scale


@settings(max_examples=50, deadline=None)
@given(
    reach=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30),
    room=st.integers(1, 10),
)
@example(reach=[3e-160, 2e-160, 1e-160, 5e-161, 1e-161], room=2)  # θ ~1e-320, subnormal
def test_the_binding_multiplier_makes_the_count_bind(reach: list[float], room: int) -> None:
    """At the θ of `_binding_multiplier`, sum_i min(1, reach_i / sqrt θ) is the room; None
    only when at most `room` names reach (no θ > 0 binds the count) or θ underflows (below
    the least normal float: a subnormal θ gave a count off by up to 6%)."""
    values = np.array(reach)
    theta = _binding_multiplier(values, room)
    if theta is None:
        reaching = np.sort(values[values > 0])[::-1]
        assert len(reaching) <= room or float(reaching[room:].sum()) < 1e-150
        return
    assert theta > 0
    total = float(np.minimum(1.0, values / np.sqrt(theta)).sum())
    assert total == pytest.approx(room, rel=1e-9)


def test_every_node_of_the_search_starts_from_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node bound of the tree, the root's included, starts from a bound's θ and
    active-set state (the root from its own: from θ = 0 it took ~500 active-set iterations
    at N = 100 to a bound 3% weaker, its children's start)."""
    import tradefolio.portfolio.dnn_bound as bounds  # (imported by the search where used)

    starts: list[NodeBound | None] = []
    node = bounds.CertificateBounds.node

    def recorded(self: CertificateBounds, *args: object, **kwargs: object) -> NodeBound:
        found = node(self, *args, **kwargs)  # type: ignore[arg-type]
        starts.append(args[2] if len(args) > 2 else kwargs.get("start"))  # type: ignore[arg-type]
        return found

    monkeypatch.setattr(bounds.CertificateBounds, "node", recorded)
    factor, mu = instance(11, 40, 60, 200.0)
    model, candidates = cardinality_model(factor, mu, 3)
    program = model.build(make_universe(candidates, 1e6)).program
    found = cardinality_search(program, 30.0, 1e-9)
    assert found is not None and found.status == "optimal"
    # The plain relaxation's bound is cold; the first-order method's checks, the search's
    # root and every node after start from one.
    assert starts[0] is None
    assert len(starts) > 2 and all(s is not None and s.state is not None for s in starts[1:])


def test_the_tree_stays_on_one_blas_thread_when_scs_has_its_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above `SCS_THREADED_NAMES` SCS's certificate runs on BLAS's own threads and the tree
    still on one (on two, the N = 400 tree's KKT solves took 48 ms each on the loaded
    machine: no node in 30 s)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import tradefolio.portfolio.cardinality_search as search
    import tradefolio.portfolio.dnn_bound as bounds  # (imported by the search where used)

    def blas_threads() -> set[int]:
        infos = threadpoolctl.threadpool_info()
        return {info["num_threads"] for info in infos if info["user_api"] == "blas"}

    own = blas_threads()
    if own == {1}:
        pytest.skip("BLAS runs one thread here anyway")
    monkeypatch.setattr(search, "ADMM_MAX_NAMES", 20)  # no first-order certificate here
    monkeypatch.setattr(search, "SCS_THREADED_NAMES", 20)
    certificate_threads: list[set[int]] = []
    node_threads: list[set[int]] = []
    certify = bounds.dnn_certificate
    node = bounds.CertificateBounds.node

    def certified(*args: object, **kwargs: object) -> Certificate | None:
        certificate_threads.append(blas_threads())
        return certify(*args, **kwargs)  # type: ignore[arg-type]

    def counted(self: CertificateBounds, *args: object, **kwargs: object) -> NodeBound:
        node_threads.append(blas_threads())
        return node(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bounds, "dnn_certificate", certified)
    monkeypatch.setattr(bounds.CertificateBounds, "node", counted)
    factor, mu = instance(11, 40, 60, 200.0)
    model, candidates = cardinality_model(factor, mu, 2)
    program = model.build(make_universe(candidates, 1e6)).program
    found = cardinality_search(program, 30.0, 1e-9)
    assert found is not None and found.status == "optimal"
    assert certificate_threads == [own]
    assert node_threads and all(threads == {1} for threads in node_threads)


def test_the_first_order_checks_keep_to_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check's root bound of the first-order method gets the method's deadline (one
    check's bound without it took 21.6 s at N = 1,000 under load, past a 30 s limit)."""
    import tradefolio.portfolio.dnn_bound as dnn

    deadlines: list[float] = []
    node = dnn.CertificateBounds.node

    def recorded(self: CertificateBounds, *args: object, **kwargs: object) -> NodeBound:
        deadlines.append(float(kwargs.get("deadline", np.inf)))  # type: ignore[arg-type]
        return node(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dnn.CertificateBounds, "node", recorded)
    factor, mu = instance(7, 12, 40, 200.0)
    problem = SimplexCardinality(factor.T @ factor, mu, 3)
    assert admm_certificate(problem, seconds=60.0) is not None
    assert deadlines and all(np.isfinite(deadlines))


def cardinality_model(
    factor: NDArray[np.float64], mu: NDArray[np.float64], cap: int, floors: bool = False
) -> tuple[PortfolioModel, list[Candidate]]:
    n = len(mu)
    symbols = [f"S{i}" for i in range(n)]
    risk = RiskModel(tuple(symbols), factor, np.zeros(n))
    candidates = [Candidate(s, float(m), 100.0) for s, m in zip(symbols, mu, strict=True)]
    limits = NameBounds({s: (0.05, 1.0) for s in symbols}) if floors else PositionLimits(1.0, 0.0)
    model = PortfolioModel(MeanVariance(risk, 1.0), [limits, Cardinality(cap), Budget(1.0, 1.0)])
    return model, candidates


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(4, 9),
    cap=st.integers(1, 4),
    aversion=st.sampled_from([1.0, 200.0]),
    which=st.sampled_from(["plain", "split", "dnn", "admm"]),
)
def test_the_search_finds_the_brute_force_optimum(
    seed: int, n: int, cap: int, aversion: float, which: str
) -> None:
    factor, mu = instance(seed, n, 2 * n + 3, aversion)
    cap = min(cap, n - 1)  # a cap of n cannot bind: not the module's shape
    model, candidates = cardinality_model(factor, mu, cap)
    program = model.build(make_universe(candidates, 1e6)).program
    shape = cardinality_shape(program)
    assert shape is not None
    problem = shape.problem
    makers: dict[str, Callable[[SimplexCardinality], Certificate | None]] = {
        "plain": plain_certificate,
        "split": split_certificate,
        "dnn": dnn_certificate,
        "admm": admm_certificate,
    }
    certificate = makers[which](problem)
    found = cardinality_search(program, 30.0, 1e-9, certificate=certificate, min_names=1)
    assert found is not None and found.status == "optimal"
    optimum = -brute_force(factor.T @ factor, mu, cap)  # the program maximises utility
    assert found.objective == pytest.approx(optimum, rel=1e-9, abs=1e-12)
    assert found.best_bound >= found.objective - 1e-9 * abs(found.objective) - 1e-15
    assert not program.violations(found.values, 1e-9)
    weights = found.values[shape.weights]
    assert np.count_nonzero(weights) <= cap


def test_other_shapes_are_left_to_the_branch_and_bound() -> None:
    """Floors, or a cap that cannot bind, are not the module's shape."""
    factor, mu = instance(3, 6, 15, 200.0)
    floored, candidates = cardinality_model(factor, mu, 2, floors=True)
    assert cardinality_shape(floored.build(make_universe(candidates, 1e6)).program) is None
    slack, candidates = cardinality_model(factor, mu, 6)
    assert cardinality_shape(slack.build(make_universe(candidates, 1e6)).program) is None


def test_allocate_takes_the_search_from_40_names_and_finds_the_optimum() -> None:
    """The composable model's default quadratic path (backends) sends this shape with 40
    names to the cardinality search; its answer is the enumeration's optimum, "optimal"."""
    factor, mu = instance(11, 40, 60, 200.0)
    model, candidates = cardinality_model(factor, mu, 2)
    universe = make_universe(candidates, 1e6)
    program = model.build(universe).program
    assert cardinality_search(program, 30.0, 1e-9) is not None  # the search takes it
    result = model.solve(universe, solver="highs", time_limit=30.0, fractional=True)
    optimum = -brute_force(factor.T @ factor, mu, 2)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(optimum, rel=1e-9, abs=1e-12)
    assert sum(1 for w in result.weights.values() if w > 0) <= 2
