"""What `PortfolioModel.solve` reports from a solver's raw answer: held names, gap, bound."""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.cli.allocation_json import allocation_json
from tradefolio.portfolio import model as model_module
from tradefolio.portfolio.backends import RawSolution
from tradefolio.portfolio.constraints import Cardinality, PositionLimits, SectorCaps
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate

CANDIDATES = [Candidate("A", 0.3, 10.0), Candidate("B", 0.2, 10.0), Candidate("C", 0.1, 10.0)]


def _model() -> PortfolioModel:
    # a sector cap keeps it off the score model's fast path (the general result)
    sectors = {"A": "X", "B": "Y", "C": "Z"}
    return PortfolioModel(
        ScoreObjective(), [PositionLimits(0.5), Cardinality(2), SectorCaps(sectors, 0.9)]
    )


def _fake_solver(
    monkeypatch: pytest.MonkeyPatch, weights: list[float], selected: list[float], **raw: object
) -> None:
    model = _model()
    ctx = model.build(make_universe(CANDIDATES, 1000.0))

    def solve_program(program: object, *args: object, **kwargs: object) -> RawSolution:
        values = np.zeros(ctx.program.size)
        values[ctx.weights] = weights
        values[ctx.selected] = selected
        objective = float(np.dot([0.3, 0.2, 0.1], weights))
        fields = {"status": "optimal", "best_bound": objective, "gap": 0.0, **raw}
        return RawSolution(values=values, objective=objective, solver="cbc", **fields)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module, "solve_program", solve_program)


def test_an_unselected_weight_within_tolerance_is_not_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 5e-9 weight on a name the solver did not select is not a third name beyond
    max_positions = 2 (SCIP lists such weights)."""
    _fake_solver(monkeypatch, [0.5, 0.5, 5e-9], [1.0, 1.0, 0.0])
    result = _model().solve(make_universe(CANDIDATES, 1000.0))
    assert [a.symbol for a in result.allocations] == ["A", "B"]
    assert [t.symbol for t in result.trades] == ["A", "B"]


def test_the_result_carries_the_proven_gap_and_a_bound_that_moves_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_solver(
        monkeypatch, [0.5, 0.5, 0.0], [1.0, 1.0, 0.0], status="feasible", best_bound=0.26, gap=0.01
    )
    result = _model().solve(make_universe(CANDIDATES, 1000.0))
    assert result.status == "feasible"
    assert result.gap == 0.01
    assert result.best_bound == pytest.approx(result.objective + (0.26 - 0.25))
    contract = allocation_json(result, fractional=False, excluded={})
    assert contract["gap"] == 0.01
    assert contract["status"] == "feasible"


def test_a_real_optimum_reports_its_gap_not_zero_by_fiat() -> None:
    result = _model().solve(make_universe(CANDIDATES, 1000.0))
    assert result.status == "optimal"
    assert 0.0 <= result.gap <= 1e-8
    assert result.best_bound >= result.objective - 1e-12
