"""Reduced-cost fixing uses the node's own reduced costs, never a heuristic solve's.

At the root the search tries integer-fixed QPs as incumbents (the holdings, cash, the
relaxation rounded); each solve leaves its own `Relaxation.down_increase`, a bound for *its*
box. Until session 14 the root's fixing to 1 read `down_increase` after those solves, so the
tree was cut by the reduced costs of another box: on the sample they happened to be weaker
than the root's own (2,712 nodes instead of 2,653, the same answers), but nothing bounded
them. Fault injection: the heuristic solves' reduced costs replaced by huge ones must change
nothing (before the fix, 70 of every third sample rebalance, 128, then changed, some coming
back "optimal" 18% below their optimum).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import tradefolio as tf
import tradefolio.portfolio.rebalance_solver as rebalance_solver
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.portfolio import branch_and_bound as bb
from tradefolio.portfolio.backends import objective_scale
from tradefolio.portfolio.program import Program

pytest.importorskip("highspy")

SAMPLE = {
    "portfolio": True,
    "objective": "mean-variance",
    "risk_aversion": 5,
    "sector_cap": 0.35,
    "max_turnover": 0.2,
    "cost_bps": 5,
    "fixed_cost": 1,
    "max_positions": 5,
}


def _programs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Program, Any, float]]:
    """The reduced programs (with start and gap) of the sample's rebalances to 1992."""
    seen: list[tuple[Program, Any, float]] = []
    search = rebalance_solver.solve_by_branch_and_bound

    def recorded(program: Program, time_limit: float, start: Any, gap: float) -> Any:
        seen.append((program, start, gap))
        return search(program, time_limit, start, gap)

    with monkeypatch.context() as patch:
        patch.setattr(rebalance_solver, "solve_by_branch_and_bound", recorded)
        tf.backtest(load_sample_prices().loc[:"1992-12-31"], **SAMPLE)
    return seen


def test_heuristic_solves_never_fix_the_trees_selections(monkeypatch: pytest.MonkeyPatch) -> None:
    programs = _programs(monkeypatch)
    assert len(programs) >= 20
    solve = bb.Relaxation.solve

    def poisoned(
        self: bb.Relaxation,
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
        seconds: float,
        bounding: bool = True,
        start: Any = None,
    ) -> Any:
        found = solve(self, lower, upper, seconds, bounding=bounding, start=start)
        if not bounding:  # a heuristic's integer-fixed QP: its reduced costs made absurd
            self.down_increase = np.full(len(self.integers), 1e6)
        return found

    for program, start, gap in programs:
        scale = objective_scale(program)
        plain = bb.branch_and_bound(program, scale, 30.0, gap, start, heuristics=False)
        with monkeypatch.context() as patch:
            patch.setattr(bb.Relaxation, "solve", poisoned)
            injected = bb.branch_and_bound(program, scale, 30.0, gap, start, heuristics=False)
        assert injected.objective == plain.objective
        assert injected.best_bound == plain.best_bound
        assert injected.nodes == plain.nodes
        np.testing.assert_array_equal(injected.values, plain.values)
