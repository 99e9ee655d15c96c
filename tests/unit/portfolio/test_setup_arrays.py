"""The rebalance solver's set-up from the coefficients as arrays gives the same programs,
bit for bit, as the dict-walking code it replaced (`setup_reference.py`, verbatim): the
aggregated program (names, bounds, rows with each dict's order, objective) and its
`source`, the factor definitions of the reduced program, and the row check of an answer."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.constraints import (
    Cardinality,
    MinimumTrade,
    PositionLimits,
    TransactionCosts,
    Turnover,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.factor_form import factor_definitions
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.rebalance_solver import _aggregation, suits_rebalance_solver
from tradefolio.portfolio.types import Candidate
from unit.portfolio import setup_reference


def _bits(program: Program) -> tuple[object, ...]:
    """Everything of `program`, floats as their bits, dicts in their order."""
    hexed = float.hex
    return (
        program.names,
        [hexed(v) for v in program.lower],
        [hexed(v) for v in program.upper],
        program.integer,
        program.maximize,
        hexed(program.constant),
        [(k, hexed(v)) for k, v in program.linear.items()],
        [(k, hexed(v)) for k, v in program.quadratic.items()],
        [
            (
                [(k, hexed(v)) for k, v in r.coefficients.items()],
                hexed(r.lo),
                hexed(r.hi),
                r.group,
                r.unit,
            )
            for r in program.rows
        ],
    )


names = st.integers(2, 7)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), count=names)
def test_the_array_set_up_equals_the_dict_walking_one(data: st.DataObject, count: int) -> None:
    symbols = [f"S{i}" for i in range(count)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    factors = data.draw(st.integers(1, 3))
    risk = RiskModel(
        tuple(symbols), rng.normal(0.0, 0.2, (factors, count)), rng.uniform(0.01, 0.05, count)
    )
    cap = data.draw(st.sampled_from([0.3, 0.5, 1.0]))
    constraints = [
        PositionLimits(cap),
        Cardinality(data.draw(st.integers(1, count))),
        Turnover(data.draw(st.sampled_from([0.2, 0.5, 2.0]))),
        TransactionCosts(bps=5.0, fixed=data.draw(st.sampled_from([0.0, 1.0, 5.0]))),
    ]
    if data.draw(st.booleans()):
        constraints.append(MinimumTrade(data.draw(st.sampled_from([10.0, 100.0]))))
    model = PortfolioModel(MeanVariance(risk, 2.0), constraints)
    scores = rng.normal(0.1, 0.1, count)
    held = {s: float(data.draw(st.sampled_from([0.0, 5.0, 20.0, 60.0]))) for s in symbols}
    candidates = [Candidate(s, float(v), 10.0) for s, v in zip(symbols, scores, strict=True)]
    ctx = model.build(make_universe(candidates, 500.0, {s: n for s, n in held.items() if n}))
    if not suits_rebalance_solver(ctx):
        return
    found = _aggregation(ctx)
    expected = setup_reference._aggregation(ctx)
    assert (found is None) == (expected is None)
    target = ctx.program
    if found is not None and expected is not None:
        assert _bits(found.program) == _bits(expected.program)
        assert found.source.tobytes() == expected.source.tobytes()
        target = found.program
    mine, theirs = factor_definitions(target), setup_reference.factor_definitions(target)
    for a, b in zip(
        (mine.variables, mine.rows, mine.reads, mine.matrix, mine.weights),
        (theirs.variables, theirs.rows, theirs.reads, theirs.matrix, theirs.weights),
        strict=True,
    ):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    point = rng.uniform(-0.1, 1.0, ctx.program.size)
    arrays = ctx.program.coefficient_arrays()
    assert ctx.program.violations(point, 1e-6, arrays) == ctx.program.violations(point, 1e-6)
