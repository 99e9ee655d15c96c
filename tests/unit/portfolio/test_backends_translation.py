"""The pywraplp translation's two sinks (direct calls for a small model, one protobuf for a
large one) hand the solver the same model: same optimum, same point, same bound."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio import backends
from tradefolio.portfolio.backends import RawSolution, solve_program
from tradefolio.portfolio.constraints import Budget, Cardinality, PositionLimits, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")


def _allocation_program(scores: list[float], held: list[float], k: int, turnover: float) -> Program:
    symbols = [f"S{i}" for i in range(len(scores))]
    candidates = [
        Candidate(s, sc, 10.0 + 5 * i)
        for i, (s, sc) in enumerate(zip(symbols, scores, strict=True))
    ]
    holdings = {s: h for s, h in zip(symbols, held, strict=True) if h > 0}
    universe = make_universe(candidates, 1000.0, holdings)
    model = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(0.5, 0.1), Cardinality(k), Budget(0.2), Turnover(turnover)],
    )
    return model.build(universe).program


def _both(
    program: Program, solver: str, monkeypatch: pytest.MonkeyPatch
) -> list[RawSolution | None]:
    answers: list[RawSolution | None] = []
    for threshold in (10**9, 0):  # every model direct, then every model as a protobuf
        monkeypatch.setattr(backends, "PROTO_FROM_NONZEROS", threshold)
        try:
            answers.append(solve_program(program, solver, 10.0))
        except InfeasibleAllocation:
            answers.append(None)
    return answers


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scores=st.lists(st.floats(0.01, 1.0).map(lambda v: round(v, 3)), min_size=2, max_size=6),
    held=st.lists(st.sampled_from([0.0, 0.0, 5.0, 20.0]), min_size=6, max_size=6),
    k=st.integers(1, 4),
    turnover=st.sampled_from([0.1, 0.5, 2.0]),
    solver=st.sampled_from(["cbc", "scip", "highs"]),
)
def test_direct_and_protobuf_models_solve_alike(
    scores: list[float],
    held: list[float],
    k: int,
    turnover: float,
    solver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = _allocation_program(scores, held[: len(scores)], k, turnover)
    direct, proto = _both(program, solver, monkeypatch)
    assert (direct is None) == (proto is None)
    if direct is None or proto is None:
        return
    assert direct.status == proto.status
    assert direct.objective == pytest.approx(proto.objective, abs=1e-9)
    assert direct.best_bound == pytest.approx(proto.best_bound, abs=1e-6)
    # Both points satisfy every row; the weights agree unless the optimum is not unique.
    assert program.violations(direct.values, 1e-6) == []
    assert program.violations(proto.values, 1e-6) == []


def test_a_knapsack_through_both_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    # max 3a + 2b + 4c  s.t.  a + b + c <= 2,  a + c <= 1.5,  c integer in {0, 1},
    # an equality row b - d = 0 and a free variable d: optimum a = b = 0.5, c = 1 -> 6.5.
    program = Program()
    a = program.add_variable("a", 0.0, 1.0)
    b = program.add_variable("b", 0.0, 1.0)
    c = program.add_variable("c", 0.0, 1.0, integer=True)
    d = program.add_variable("d", -np.inf, np.inf)
    program.add_row({a: 1.0, b: 1.0, c: 1.0}, hi=2.0, group="total")
    program.add_row({a: 1.0, c: 1.0}, hi=1.5, group="pair")
    program.add_row({b: 1.0, d: -1.0}, lo=0.0, hi=0.0, group="copy")
    program.add_objective({a: 3.0, b: 2.0, c: 4.0})
    for answer in _both(program, "cbc", monkeypatch):
        assert answer is not None and answer.status == "optimal"
        assert answer.objective == pytest.approx(6.5)
        np.testing.assert_allclose(answer.values, [0.5, 0.5, 1.0, 0.5], atol=1e-9)


def test_a_small_linear_solve_loads_neither_protobuf_nor_the_branch_and_bound() -> None:
    # What `allocate --candidates` on a small file pays for (benchmarks/bench_cli_costs.py).
    script = textwrap.dedent(
        """
        import sys
        from tradefolio.portfolio.allocator import allocate
        from tradefolio.portfolio.params import AllocatorParams
        from tradefolio.portfolio.types import Candidate
        result = allocate([Candidate("A", 3.0, 10.0), Candidate("B", 1.0, 7.0)], 1000.0,
                          AllocatorParams(), solver="cbc")
        assert result.status == "optimal", result.status
        loaded = {m for m in sys.modules if m.startswith(("google", "tradefolio.portfolio.b"))}
        print(sorted(loaded))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tradefolio.portfolio.backends']"
