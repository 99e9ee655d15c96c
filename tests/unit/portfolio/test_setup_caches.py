"""The per-rebalance caches and fast paths of session 12 against their uncached paths.

Oracles, bit for bit: the reduced program's kept `coefficient_arrays` (built beside its
rows by `_reduced_rows`) against the arrays computed afresh from its rows; the objective
over Python floats against the sum over numpy's float64 scalars it replaces; a universe's
remembered `value` against the formula; a history view's `dates` and `last_day` against
the panel's index sliced at the bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.constraints import (
    Cardinality,
    PositionLimits,
    SectorCaps,
    TransactionCosts,
    Turnover,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.program import CoefficientArrays, Program, Row
from tradefolio.portfolio.rebalance_solver import _aggregation, _reduced
from tradefolio.portfolio.types import Candidate

SYMBOLS = ["A", "B", "C", "D", "E"]
SECTORS = {"A": "tech", "B": "tech", "C": "energy", "D": "energy", "E": "health"}


def _fresh(program: Program) -> CoefficientArrays:
    """`coefficient_arrays` computed from the rows (the kept arrays set aside)."""
    copy = Program(rows=program.rows[:])
    return copy.coefficient_arrays()


def _assert_same_arrays(kept: CoefficientArrays, fresh: CoefficientArrays) -> None:
    for a, b in zip(kept, fresh, strict=True):
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()


@st.composite
def _contexts(draw: st.DrawFn) -> tuple[PortfolioModel, object]:
    n = draw(st.integers(2, 5))
    symbols = SYMBOLS[:n]
    factors = draw(st.integers(1, 7))
    loadings = np.array(
        [
            [draw(st.sampled_from([0.0, 0.05, -0.1, 0.2, 0.013])) for _ in symbols]
            for _ in range(factors)
        ]
    )
    specific = np.array([draw(st.sampled_from([0.0, 0.01, 0.02])) for _ in symbols])
    risk = RiskModel(tuple(symbols), loadings, specific)
    constraints = [
        PositionLimits(draw(st.sampled_from([0.3, 0.5, 1.0]))),
        Cardinality(draw(st.integers(1, n))),
        SectorCaps({s: SECTORS[s] for s in symbols}, draw(st.sampled_from([0.35, 0.6]))),
        Turnover(draw(st.sampled_from([0.2, 0.5, 2.0]))),
        TransactionCosts(bps=5.0, fixed=draw(st.sampled_from([1.0, 3.0]))),
    ]
    model = PortfolioModel(MeanVariance(risk, 5.0), constraints)
    scores = [draw(st.floats(-0.1, 0.3, allow_nan=False)) for _ in symbols]
    prices = [draw(st.sampled_from([10.0, 37.5, 120.0])) for _ in symbols]
    held = {s: q for s in symbols if (q := draw(st.sampled_from([0.0, 0.0, 3.0, 10.0, 40.0]))) > 0}
    candidates = [Candidate(s, c, p) for s, c, p in zip(symbols, scores, prices, strict=True)]
    return model, make_universe(candidates, draw(st.sampled_from([500.0, 5000.0])), held)


@settings(max_examples=60, deadline=None)
@given(case=_contexts())
def test_the_reduced_programs_kept_arrays_are_its_rows_arrays(
    case: tuple[PortfolioModel, object],
) -> None:
    model, universe = case
    ctx = model.build(universe)  # type: ignore[arg-type]
    if ctx.buy_flags is None:
        return
    aggregation = _aggregation(ctx)
    if aggregation is None:
        return
    reduced = aggregation.program
    assert reduced._kept_arrays is not None
    _assert_same_arrays(reduced.coefficient_arrays(), _fresh(reduced))
    # and with nothing aliased: every variable kept, only zeros removed
    zero = np.zeros(ctx.program.size, dtype=bool)
    zero[np.array(ctx.sells)[: len(ctx.sells) // 2]] = True
    alone = _reduced(ctx.program, np.arange(ctx.program.size, dtype=np.intp), zero).program
    _assert_same_arrays(alone.coefficient_arrays(), _fresh(alone))


def test_kept_arrays_are_dropped_when_the_rows_change() -> None:
    program = Program(rows=[Row({0: 1.0, 1: 2.0}, 0.0, 1.0, None)])
    program.names, program.lower, program.upper, program.integer = (
        ["a", "b"],
        [0.0, 0.0],
        [1.0, 1.0],
        [False, False],
    )
    kept = program.coefficient_arrays()
    program.keep_coefficient_arrays(kept)
    assert program.coefficient_arrays() is kept
    program.rows.append(Row({1: 3.0}, 0.0, 1.0, None))
    columns, values, lengths = program.coefficient_arrays()
    assert columns.tolist() == [0, 1, 1] and values.tolist() == [1.0, 2.0, 3.0]
    assert lengths.tolist() == [2, 1]
    program.keep_coefficient_arrays(program.coefficient_arrays())
    program.rows = [Row({0: 5.0}, 0.0, 1.0, None)]
    assert program.coefficient_arrays()[1].tolist() == [5.0]


def _numpy_objective(program: Program, values: np.ndarray) -> float:
    """The objective as it was evaluated: products and sums over numpy float64 scalars."""
    total = program.constant + sum(c * values[k] for k, c in program.linear.items())
    total += sum(c * values[i] * values[j] for (i, j), c in program.quadratic.items())
    return float(total)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(
    linear=st.dictionaries(st.integers(0, 5), finite, max_size=6),
    quadratic=st.dictionaries(st.tuples(st.integers(0, 5), st.integers(0, 5)), finite, max_size=8),
    constant=finite,
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=6, max_size=6),
)
def test_the_objective_over_python_floats_is_the_numpy_sum(
    linear: dict[int, float],
    quadratic: dict[tuple[int, int], float],
    constant: float,
    values: list[float],
) -> None:
    program = Program(linear=linear, quadratic=quadratic, constant=constant)
    point = np.array(values, dtype=np.float64)
    got = program.objective_value(point)
    expected = _numpy_objective(program, point)
    assert np.float64(got).tobytes() == np.float64(expected).tobytes()


@given(
    held=st.lists(st.sampled_from([0.0, 1.0, 7.0, 250.0]), min_size=3, max_size=3),
    outside=st.sampled_from([{}, {"Z": 4.0}]),
    cash=st.sampled_from([0.0, 10.5, 1e6]),
)
def test_a_universes_value_is_its_formula(
    held: list[float], outside: dict[str, float], cash: float
) -> None:
    candidates = [Candidate(s, 0.1, p) for s, p in zip("ABC", (13.7, 101.3, 5.01), strict=True)]
    holdings = {s: q for s, q in zip("ABC", held, strict=True) if q} | outside
    if cash == 0.0 and not holdings:
        return
    universe = make_universe(candidates, cash, holdings, {"Z": 33.3})
    formula = float(universe.held_shares @ universe.prices) if universe.size else 0.0
    expected = universe.cash + formula + sum(h.value for h in universe.outside)
    assert universe.value == expected
    assert universe.value == expected  # read again: the remembered value


@given(bar=st.integers(0, 59))
def test_a_views_dates_are_the_panels_up_to_its_bar(bar: int) -> None:
    index = pd.bdate_range("2020-01-01", periods=60)
    frame = pd.DataFrame({"A": np.arange(60.0) + 1.0}, index=index)
    view = PriceHistory.of(frame).up_to(bar)
    assert view.dates.equals(index[: bar + 1])
    assert view.last_day == index[: bar + 1][-1].date()


def test_an_empty_view_has_no_last_day() -> None:
    frame = pd.DataFrame({"A": [1.0]}, index=pd.bdate_range("2020-01-01", periods=1))
    empty = PriceHistory.of(frame.iloc[:0])
    assert len(empty.dates) == 0
    with pytest.raises(IndexError):
        _ = empty.last_day
