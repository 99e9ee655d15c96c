"""`Relaxation.down_bound` (a down child's bound from its parent's Lagrangian over the box
the node's rows imply with the branch at 0) against the child itself, solved by HiGHS on
the relaxation that keeps every flag as a column with its link rows: never above the
child's optimum, never None (infeasible) for a child with a point; and it does prune.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.branch_and_bound import Relaxation
from unit.portfolio.test_node_qp import branch_at_random, floored_program, rebalance_program

pytest.importorskip("highspy")


def _unreduced(program: object, scale: float) -> Relaxation:
    """The relaxation with every flag as a column and its link rows, by HiGHS."""
    from tradefolio.portfolio import branch_and_bound as search

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(search, "selection_structure", lambda *args, **kwargs: None)
        full = Relaxation(program, scale, active_set=False)  # type: ignore[arg-type]
    assert full.selections is None
    return full


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    path=st.integers(0, 2**31 - 1),
    min_trade=st.sampled_from([None, 30.0]),
    max_turnover=st.sampled_from([None, 0.1, 0.3]),
)
@example(seed=26083, path=0, min_trade=None, max_turnover=0.3)  # HiGHS's bound 1.3e-7 loose
def test_the_down_bound_never_exceeds_the_childs_optimum(
    seed: int, path: int, min_trade: float | None, max_turnover: float | None
) -> None:
    """Along a random branching of the rebalance programs, for every free selection and
    trade flag j: the down bound is at most the optimum of the child with j at 0 (and
    HiGHS's bound of it where HiGHS says optimal); None only where that child has no
    point."""
    program = rebalance_program(seed, min_trade=min_trade, fixed=1.0, max_turnover=max_turnover)
    scale = _scale(program)
    fast = Relaxation(program, scale)
    full = _unreduced(program, scale)
    count = len(fast.integers)
    lower, upper = np.zeros(count), fast.upper[fast.integers].copy()
    rng = np.random.default_rng(path)
    state = None
    for _ in range(6):
        mine = fast.solve(lower, upper, 30.0, start=state)
        if mine is None:
            break
        found, state = fast.last_down, fast.last_state
        for j in np.flatnonzero((lower < 0.5) & (upper > 0.5)):
            down = fast.down_bound(found, int(j))
            child = upper.copy()
            child[j] = 0.0
            reference = full.solve(lower, child, 30.0)
            if down is None:
                assert reference is None, "a child with a point called infeasible"
                continue
            if reference is None or not math.isfinite(down):
                continue
            slack = 1e-7 * max(abs(reference[0]), 1.0)
            assert down <= reference[0] + slack
            if full.highs.getModelStatus() == full._highspy.HighsModelStatus.kOptimal:
                # HiGHS's bound of a QP is only as tight as its dual tolerance (1e-7 by
                # default): on the example above it is 1.3e-7 below the optimum that its
                # own point and the active set agree on to 1e-13
                assert down <= full.bound + 10 * slack
        branched = branch_at_random(lower, upper, rng)
        if branched is None:
            break
        lower, upper = branched


def test_the_down_bound_lifts_past_the_curvature_rise() -> None:
    """At the roots of the rebalance programs with a turnover cap the down bound of some
    flag is above the node's bound plus its curvature rise (`down_increase`), the bound
    the search had, or proves the child infeasible: the bound does work (else the test
    above would pass vacuously)."""
    lifted = 0
    for seed in range(8):
        program = rebalance_program(seed, min_trade=None, fixed=1.0, max_turnover=0.1)
        relaxation = Relaxation(program, _scale(program))
        count = len(relaxation.integers)
        lower, upper = np.zeros(count), relaxation.upper[relaxation.integers].copy()
        if relaxation.solve(lower, upper, 30.0) is None:
            continue
        found, bound = relaxation.last_down, relaxation.bound
        for j in np.flatnonzero(upper > 0.5):
            down = relaxation.down_bound(found, int(j))
            rise = bound + float(relaxation.down_increase[j])
            if down is None or down > rise + 1e-9 * max(abs(rise), 1.0):
                lifted += 1
    assert lifted > 0


def test_nothing_is_known_without_an_active_set_solve() -> None:
    """A node HiGHS solved (no active set), or a perspective node with the implied count,
    leaves no data: the down bound is -inf, which prunes nothing."""
    program = floored_program(3, max_positions=5)
    scale = _scale(program)
    plain = Relaxation(program, scale, active_set=False)
    count = len(plain.integers)
    lower, upper = np.zeros(count), np.ones(count)
    assert plain.solve(lower, upper, 30.0) is not None
    assert plain.last_down is None
    assert plain.down_bound(plain.last_down, 0) == -math.inf
