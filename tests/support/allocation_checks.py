"""Solver-independent checks of an allocation against the model's constraints."""

from __future__ import annotations

from tradefolio.errors import SolverUnavailable
from tradefolio.portfolio.mip import MIP_SOLVERS, create_solver
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.types import AllocationResult, Candidate

TOLERANCE = 1e-7


def linked_mip_solvers() -> list[str]:
    """The MIP solvers the installed OR-Tools links (SCIP and HiGHS are build options)."""
    linked = []
    for name in MIP_SOLVERS:
        try:
            create_solver(name)
        except SolverUnavailable:
            continue
        linked.append(name)
    return linked


def assert_satisfies_model(
    result: AllocationResult,
    candidates: list[Candidate],
    params: AllocatorParams,
    fractional: bool = False,
) -> None:
    """Every constraint of the score-weighted model holds, and the sizing is consistent."""
    by_symbol = {c.symbol: c for c in candidates}
    weights = [a.weight for a in result.allocations]
    assert len({a.symbol for a in result.allocations}) == len(result.allocations)
    assert len(result.allocations) <= params.max_positions
    assert sum(weights) <= 1 + TOLERANCE
    spent = 0.0
    for a in result.allocations:
        candidate = by_symbol[a.symbol]
        assert candidate.score > 0, f"{a.symbol} has score {candidate.score} but was selected"
        assert params.min_weight - TOLERANCE <= a.weight <= params.max_weight + TOLERANCE
        assert abs(a.dollars - a.weight * result.capital) <= 1e-9 * result.capital
        assert a.price == candidate.price
        assert a.shares >= 0
        assert a.shares * a.price <= a.dollars + 1e-6
        if fractional:
            assert a.dollars - a.shares * a.price <= a.price * 1e-6 + 1e-9
        else:
            assert a.shares == int(a.shares)
            assert a.dollars - a.shares * a.price < a.price + 1e-9
        spent += a.shares * a.price
    assert abs(result.cash - (result.capital - spent)) <= 1e-6 * result.capital
    assert result.cash >= -1e-9
    objective = sum(by_symbol[a.symbol].score * a.weight for a in result.allocations)
    assert abs(objective - result.objective) <= 1e-6 * max(1.0, abs(objective))
