"""`PortfolioModel._build`: a whole-share program and its fractional twin built from the same
pieces are, bit for bit, the programs each builds alone (the twin as the model without its
lot constraints, the default budget made explicit), whatever the pieces and their order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.constraints import (
    Budget,
    Cardinality,
    Constraint,
    MinimumTrade,
    PositionLimits,
    SectorCaps,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.context import ModelContext, make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance, MinVariance
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.types import Candidate

SYMBOLS = ("A", "B", "C", "D")

#: What a context carries beyond its program (read by the solvers and the result).
CONTEXT_FACTS = (
    "weights",
    "selected",
    "buys",
    "sells",
    "buy_flags",
    "sell_flags",
    "lots",
    "odd_lots",
    "cost_terms",
    "cost_constant",
    "cost_in_objective",
    "tie_break_investment",
    "tie_break_scale",
    "max_positions",
    "min_invested",
    "max_invested",
    "sector_caps",
    "max_turnover",
    "cost_budget",
)


def everything(ctx: ModelContext) -> tuple[Any, ...]:
    """The program and the facts, in a form that compares bits and orders (dict orders,
    floats by value, the factor rows' arrays)."""
    program = ctx.program
    rows = [
        (
            list(r.coefficients.items()),
            r.lo,
            r.hi,
            r.group,
            r.unit,
            None if r.arrays is None else (r.arrays[0].tolist(), r.arrays[1].tolist()),
        )
        for r in program.rows
    ]
    return (
        program.names,
        [float(v).hex() for v in program.lower],
        [float(v).hex() for v in program.upper],
        program.integer,
        repr(rows),
        repr(list(program.linear.items())),
        repr(list(program.quadratic.items())),
        program.constant.hex(),
        program.maximize,
        repr([(name, getattr(ctx, name)) for name in CONTEXT_FACTS]),
    )


@st.composite
def models(draw: st.DrawFn) -> tuple[Any, ...]:
    """A risk model, a universe with holdings (odd lots among them) and a list of pieces
    with the lot constraint anywhere among the others."""
    loadings = np.array(
        draw(
            st.lists(
                st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=4, max_size=4),
                min_size=1,
                max_size=6,
            )
        )
    )
    specific = np.array(draw(st.lists(st.floats(0.001, 0.05), min_size=4, max_size=4)))
    risk = RiskModel(SYMBOLS, loadings, specific)
    held = draw(st.lists(st.sampled_from([0.0, 0.0, 3.0, 10.5, 40.0]), min_size=4, max_size=4))
    prices = draw(st.lists(st.sampled_from([9.0, 45.5, 130.0]), min_size=4, max_size=4))
    scores = draw(st.lists(st.floats(-0.1, 0.3, allow_nan=False), min_size=4, max_size=4))
    universe = make_universe(
        [Candidate(s, sc, p) for s, sc, p in zip(SYMBOLS, scores, prices, strict=True)],
        draw(st.sampled_from([500.0, 20_000.0])),
        {s: q for s, q in zip(SYMBOLS, held, strict=True) if q},
    )
    pieces: list[Constraint] = [PositionLimits(draw(st.sampled_from([0.3, 0.6, 1.0])))]
    optional: list[Constraint] = [
        Cardinality(draw(st.integers(1, 4))),
        SectorCaps({"A": "x", "B": "x", "C": "y", "D": "y"}, 0.7),
        Turnover(draw(st.sampled_from([0.1, 0.5]))),
        TransactionCosts(5.0, draw(st.sampled_from([0.0, 1.0]))),
        MinimumTrade(100.0),
        Budget(draw(st.sampled_from([0.0, 0.5])), 1.0),
    ]
    pieces += draw(st.lists(st.sampled_from(optional), unique=True, max_size=6))
    lots = WholeShares(draw(st.sampled_from([1, 2])), {"B": 3})
    pieces.insert(draw(st.integers(0, len(pieces))), lots)
    minimise = draw(st.booleans())
    return risk, universe, pieces, minimise


def objective(risk: RiskModel, minimise: bool) -> Objective:
    return MinVariance(risk) if minimise else MeanVariance(risk, 5.0)


@settings(max_examples=60, deadline=None)
@given(models())
def test_the_program_and_its_twin_are_the_ones_each_builds_alone(case: tuple[Any, ...]) -> None:
    risk, universe, pieces, minimise = case
    model = PortfolioModel(objective(risk, minimise), pieces)
    whole, twin = model._build(universe, twin=True)
    assert twin is not None
    alone = PortfolioModel(objective(risk, minimise), pieces)
    assert everything(whole) == everything(alone.build(universe))
    # the twin: the same model without its lots, the default budget (a risk minimiser's
    # invested floor, which the lots' allowance sets) made explicit
    kept = [c for c in alone._all_constraints(universe) if not isinstance(c, WholeShares)]
    fresh_twin = PortfolioModel(objective(risk, minimise), kept).build(universe)
    assert everything(twin) == everything(fresh_twin)
    assert twin.lots is None and whole.lots is not None
    # one build for both: the factor rows' read-only coefficients are the same objects
    factor_rows = [r for r in whole.program.rows if r.arrays is not None]
    twin_rows = [r for r in twin.program.rows if r.arrays is not None]
    assert all(
        a.coefficients is b.coefficients for a, b in zip(factor_rows, twin_rows, strict=True)
    )


def test_a_fork_is_independent_of_the_context_it_came_from() -> None:
    """Building on a fork (bounds, rows, objective, the links `cap_weight` rewrites)
    leaves the original as it was."""
    universe = make_universe(
        [Candidate("A", 0.1, 10.0), Candidate("B", 0.2, 20.0)], 1000.0, {"A": 5.0}
    )
    ctx = ModelContext(universe)
    PositionLimits(0.8).tighten(ctx)
    before = everything(ctx)
    fork = ctx.fork()
    fork.cap_weight(0, 0.1)
    fork.trade_flags()
    fork.program.add_objective({0: 1.0})
    fork.cost_terms[0] = 1.0
    WholeShares().build(fork)
    assert everything(ctx) == before
    assert fork.weight_upper(0) == 0.1 and ctx.weight_upper(0) == 0.8


def test_without_lots_there_is_no_twin() -> None:
    risk = RiskModel(("A", "B"), np.array([[0.1, 0.2]]), np.array([0.01, 0.01]))
    universe = make_universe([Candidate("A", 0.1, 10.0), Candidate("B", 0.2, 20.0)], 1000.0)
    model = PortfolioModel(MeanVariance(risk, 2.0), [PositionLimits(0.8), Turnover(0.5)])
    ctx, twin = model._build(universe, twin=True)
    assert twin is None and ctx.lots is None
    assert everything(ctx) == everything(model.build(universe))


@pytest.mark.parametrize("lot", [1, 5])
def test_a_solve_through_the_twin_lists_whole_lots(lot: int) -> None:
    """What the user receives from the forked twin's route: whole lots of `lot` shares,
    within the turnover cap, no more cash spent than held."""
    pytest.importorskip("highspy")
    risk = RiskModel(("A", "B", "C"), np.array([[0.1, 0.2, -0.1]]), np.full(3, 0.02))
    universe = make_universe(
        [Candidate("A", 0.1, 10.0), Candidate("B", 0.2, 20.0), Candidate("C", 0.15, 15.0)],
        2000.0,
        {"A": 50.0},
    )
    model = PortfolioModel(
        MeanVariance(risk, 3.0),
        [PositionLimits(0.6), Turnover(0.6), TransactionCosts(5.0, 1.0), WholeShares(lot)],
    )
    result = model.solve(universe)
    assert result.status in ("optimal", "feasible")
    for allocation in result.allocations:
        assert allocation.shares % lot == 0 or allocation.symbol == "A"
    assert result.turnover <= 0.6 + 1e-9
    assert result.cash >= -1e-9
