"""The branch and bound's guards: node bounds valid whatever HiGHS answers, and an early
stop never worse than keeping the holdings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.errors import SolverError
from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.branch_and_bound import Relaxation
from tradefolio.portfolio.constraints import Budget, Cardinality, NameBounds, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance, MinVariance
from tradefolio.portfolio.types import Candidate

pytest.importorskip("highspy")


def floored_relaxation(seed: int, active_set: bool = False) -> tuple[Relaxation, int]:
    """A small min-variance model with buy-in floors; by default its nodes go to HiGHS
    (the guards tested here are HiGHS's; `test_node_qp.py` tests the active set)."""
    rng = np.random.default_rng(seed)
    n = 8
    symbols = [f"S{i}" for i in range(n)]
    risk = RiskModel(tuple(symbols), rng.normal(0, 0.1, (2, n)), rng.uniform(0.01, 0.05, n))
    low = rng.uniform(0.05, 0.2, n)
    bounds = {s: (float(a), float(a) + 0.4) for s, a in zip(symbols, low, strict=True)}
    model = PortfolioModel(MinVariance(risk, 0.05), [NameBounds(bounds), Budget(1.0, 1.0)])
    candidates = [
        Candidate(s, float(m), 10.0) for s, m in zip(symbols, rng.uniform(0, 0.2, n), strict=True)
    ]
    ctx = model.build(make_universe(candidates, 1e5))
    return Relaxation(ctx.program, _scale(ctx.program), active_set=active_set), n


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), noise=st.floats(0.0, 1.0), fixed=st.integers(0, 3))
def test_the_node_bound_is_below_the_node_optimum_for_any_point_and_duals(
    seed: int, noise: float, fixed: int
) -> None:
    """Weak duality: the Lagrangian bound of a *wrong* answer (point and duals perturbed, as
    an inexact solver might return) still never exceeds the node's optimum."""
    relaxation, n = floored_relaxation(seed)
    lower, upper = np.zeros(n), np.ones(n)
    upper[:fixed] = 0.0  # some names excluded, as below the root
    solved = relaxation.solve(lower, upper, 10.0)
    if solved is None:
        return
    optimum = solved[0]
    assert relaxation.bound <= optimum + 1e-9 * abs(optimum)
    h = relaxation.highs
    if h.getModelStatus() == relaxation._highspy.HighsModelStatus.kOptimal:
        # and it is tight (HiGHS has also answered kNotset with a bound of -540 against an
        # optimum of 160: seed 825; valid, not tight)
        assert relaxation.bound >= optimum - 1e-6 * max(abs(optimum), 1.0)
    solution = h.getSolution()
    rng = np.random.default_rng(seed)
    columns = np.asarray(solution.col_value)
    duals = np.asarray(solution.row_dual)
    wrong_columns = columns + noise * rng.normal(0.0, 0.1, columns.shape)
    wrong_duals = duals * (1.0 + noise * rng.normal(0.0, 1.0, duals.shape))
    relaxation._dual_bound(wrong_columns, wrong_duals, np.inf)
    assert relaxation.bound <= optimum + 1e-9 * abs(optimum)


def test_an_early_stop_is_never_worse_than_keeping_the_holdings() -> None:
    rng = np.random.default_rng(1)
    n = 60
    symbols = [f"S{i}" for i in range(n)]
    mu = rng.uniform(0.02, 0.2, n)
    risk = RiskModel(tuple(symbols), rng.normal(0.0, 0.1, (3, n)), rng.uniform(0.02, 0.08, n))
    model = PortfolioModel(MeanVariance(risk, 20.0), [PositionLimits(0.3), Cardinality(10)])
    held = {s: 100.0 for s in symbols[:5]}  # 5 names at 1,000 dollars each
    candidates = [Candidate(s, float(m), 10.0) for s, m in zip(symbols, mu, strict=True)]
    universe = make_universe(candidates, 5_000.0, held)
    w0 = universe.initial_weights
    keep = float(mu @ w0 - 20.0 * risk.variance(w0))
    for time_limit in (0.05, 0.2, 1.0):
        try:
            result = model.solve(universe, time_limit=time_limit)
        except SolverError as exc:
            assert "time limit" in str(exc)
            continue
        assert result.objective >= keep - 1e-12, (time_limit, result.objective, keep)


def test_an_infeasible_node_is_confirmed_by_the_simplex_and_the_hessian_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node the QP calls infeasible is checked by the LP (the Hessian taken out, then put
    back); the next node's QP has its Hessian again (same optimum as before). A heuristic's
    solve (`bounding=False`) takes the QP's "infeasible" at its word: no LP."""
    relaxation, n = floored_relaxation(3)
    everything = (np.zeros(n), np.ones(n))
    before = relaxation.solve(*everything, 30.0)
    assert before is not None
    nothing = np.zeros(n)  # every name out: sum w = 1 cannot hold
    checks = {"n": 0}
    original = Relaxation._linear_point

    def counted(self: Relaxation) -> tuple[np.ndarray, np.ndarray] | None:
        checks["n"] += 1
        return original(self)

    monkeypatch.setattr(Relaxation, "_linear_point", counted)
    assert relaxation.solve(nothing, nothing, 30.0) is None
    assert checks["n"] == 1
    after = relaxation.solve(*everything, 30.0)
    assert after is not None
    assert after[0] == pytest.approx(before[0], rel=1e-9, abs=1e-12)
    assert relaxation.solve(nothing, nothing, 30.0, bounding=False) is None
    assert checks["n"] == 1  # no simplex for a heuristic's point
