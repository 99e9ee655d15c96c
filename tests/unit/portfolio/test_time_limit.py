"""`time_limit` bounds a whole solve, not each of its steps.

A quadratic whole-share program is solved in steps (the fractional twin, its repair to
whole lots, SCIP): each step gets what the earlier ones left, and once too little is left
for SCIP the repaired answer is returned as it stands, with its honest claim. Before, every
step got the whole limit (a `--time-limit 10` rebalance took 13 s).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tradefolio.portfolio import model as model_module
from tradefolio.portfolio.backends import QUADRATIC_RELATIVE_GAP
from tradefolio.portfolio.rebalance_solver import LEAST_SCIP_SECONDS
from tradefolio.portfolio.share_repair import REPAIR_SOLVERS
from tradefolio.portfolio.types import relative_gap
from unit.portfolio.test_model import model_for
from unit.portfolio.test_share_repair import _instance


def _slow_twin(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[float]:
    """The twin's solve takes `seconds` longer; returns the time limits SCIP is given."""
    given: list[float] = []
    solve_rebalance = model_module.solve_rebalance
    solve_program = model_module.solve_program

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return solve_rebalance(*args, **kwargs)

    def recorded(program: Any, solver: str, limit: float, *args: Any) -> Any:
        if solver == "scip":
            given.append(limit)
        return solve_program(program, solver, limit, *args)

    monkeypatch.setattr(model_module, "solve_rebalance", slow)
    monkeypatch.setattr(model_module, "solve_program", recorded)
    return given


def test_scip_after_the_repair_gets_what_the_twin_left(monkeypatch: pytest.MonkeyPatch) -> None:
    given = _slow_twin(monkeypatch, 0.5)
    model, universe = model_for(_instance())
    model.solve(universe, solver="scip", time_limit=2.0)  # type: ignore[arg-type]
    assert len(given) == 1
    assert LEAST_SCIP_SECONDS <= given[0] <= 1.5


def test_with_no_time_left_the_repaired_answer_is_returned_with_its_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = _slow_twin(monkeypatch, 1.2)
    model, universe = model_for(_instance())
    started = time.monotonic()
    result = model.solve(universe, solver="scip", time_limit=1.0)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.2 + LEAST_SCIP_SECONDS
    assert given == []  # SCIP never ran
    assert result.solver in REPAIR_SOLVERS
    gap = relative_gap(result.objective, result.best_bound)
    assert result.gap == pytest.approx(gap, rel=1e-9, abs=1e-15)
    assert (result.status == "optimal") == (result.gap <= QUADRATIC_RELATIVE_GAP)
