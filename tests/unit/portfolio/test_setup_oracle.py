"""Session 13's set-up fast paths against the code they replace, on real sample rebalances.

The programs of every rebalance of a stretch of the issue-15 sample run (mean-variance,
sector caps, turnover, fixed and proportional costs; with and without a minimum trade and
whole shares), and of the same run over a universe that grows (names entering the sample
one after another), are built as `PortfolioModel.solve` builds them. Oracles, bit for bit:

- the coefficient arrays and row bounds a whole-share program and its fractional twin keep
  (`model._keep_set_up`, the rows before the fork read once) against the arrays and bounds
  computed afresh from each program's rows;
- the rebalance solver's aggregation (`_aggregation`: the row bounds read once, repeated
  link rows found by one sort) against session 12's (`aggregation_reference.py`): the same
  reduced program, row for row, key for key, bit for bit, and its kept arrays and bounds
  against its rows;
- `_repeats` (one stable sort) against `_repeats_by_tuples` (the set of row tuples it
  replaces), on random small rows with repeated, signed-zero, infinite and NaN values.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradefolio as tf
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.portfolio.constraints.whole_shares import WholeShares
from tradefolio.portfolio.context import ModelContext, Universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.program import Program, Row, arrays_of, bounds_of
from tradefolio.portfolio.rebalance_solver import (
    Aggregation,
    _aggregation,
    _repeats,
    _repeats_by_tuples,
)
from unit.portfolio import aggregation_reference as reference

SAMPLE = {
    "portfolio": True,
    "objective": "mean-variance",
    "risk_aversion": 5,
    "sector_cap": 0.35,
    "max_turnover": 0.2,
    "cost_bps": 5,
    "fixed_cost": 1,
}
#: Names of the sample that enter the universe late (no close before the date).
ENTERING = {"AMD": "1991-03-01", "BBY": "1991-06-03", "GE": "1991-09-03", "RRC": "1992-01-02"}


def _prices(entering: bool) -> pd.DataFrame:
    prices = load_sample_prices().loc[:"1992-12-31"].copy()
    if entering:
        for symbol, start in ENTERING.items():
            prices.loc[prices.index < pd.Timestamp(start), symbol] = np.nan
    return prices


def _rebalances(
    monkeypatch: pytest.MonkeyPatch, entering: bool, options: dict[str, Any]
) -> list[tuple[PortfolioModel, Universe]]:
    """(model, universe) of every solve of the run, the model as `solve` completes it."""
    seen: list[tuple[PortfolioModel, Universe]] = []
    solve = PortfolioModel.solve

    def recorded(self: PortfolioModel, universe: Universe, **kwargs: Any) -> Any:
        model = self
        if self.whole_shares is None and any(c.acts_on_trades() for c in self.constraints):
            model = PortfolioModel(self.objective, [*self.constraints, WholeShares()])
        seen.append((model, universe))
        return solve(self, universe, **kwargs)

    monkeypatch.setattr(PortfolioModel, "solve", recorded)
    tf.backtest(_prices(entering), **SAMPLE, **options)
    monkeypatch.undo()
    return seen


def _bits(value: object) -> object:
    return struct.pack("<d", value) if isinstance(value, float) else value


def _assert_same_dict(a: dict[Any, Any], b: dict[Any, Any]) -> None:
    assert type(a) is type(b)
    assert [(type(k), k, type(v), _bits(v)) for k, v in a.items()] == [
        (type(k), k, type(v), _bits(v)) for k, v in b.items()
    ]


def _assert_same_array(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_same_row(a: Row, b: Row) -> None:
    _assert_same_dict(a.coefficients, b.coefficients)
    sides = (_bits(a.lo), _bits(a.hi), a.group, a.unit)
    assert sides == (_bits(b.lo), _bits(b.hi), b.group, b.unit)
    assert (a.arrays is None) == (b.arrays is None)
    if a.arrays is not None and b.arrays is not None:
        for x, y in zip(a.arrays, b.arrays, strict=True):
            _assert_same_array(x, y)


def _assert_kept_are_fresh(program: Program) -> None:
    """The program's kept arrays and bounds (if any) are what its rows give."""
    for kept, fresh in zip(program.coefficient_arrays(), arrays_of(program.rows), strict=True):
        _assert_same_array(kept, fresh)
    for kept, fresh in zip(program.row_bounds(), bounds_of(program.rows), strict=True):
        _assert_same_array(kept, fresh)


def _assert_same_aggregation(new: Aggregation | None, old: Aggregation | None) -> None:
    assert (new is None) == (old is None)
    if new is None or old is None:
        return
    _assert_same_array(new.source, old.source)
    a, b = new.program, old.program
    columns = ((a.names, b.names), (a.lower, b.lower), (a.upper, b.upper), (a.integer, b.integer))
    for x, y in columns:
        assert [(type(v), _bits(v)) for v in x] == [(type(v), _bits(v)) for v in y]
    assert len(a.rows) == len(b.rows)
    for row, other in zip(a.rows, b.rows, strict=True):
        _assert_same_row(row, other)
    _assert_same_dict(a.linear, b.linear)
    _assert_same_dict(a.quadratic, b.quadratic)
    assert (_bits(a.constant), a.maximize) == (_bits(b.constant), b.maximize)
    for x, y in zip(a.coefficient_arrays(), b.coefficient_arrays(), strict=True):
        _assert_same_array(x, y)
    _assert_kept_are_fresh(a)


def _flagged(ctx: ModelContext) -> bool:
    return ctx.buy_flags is not None and ctx.sell_flags is not None


@pytest.mark.parametrize("entering", [False, True], ids=["sample", "names-entering"])
@pytest.mark.parametrize(
    "options",
    [{"max_positions": 5}, {"min_trade": 500, "whole_shares": True}],
    ids=["issue-15", "done-when"],
)
def test_the_fast_set_up_builds_the_programs_of_the_code_it_replaces(
    monkeypatch: pytest.MonkeyPatch, entering: bool, options: dict[str, Any]
) -> None:
    rebalances = _rebalances(monkeypatch, entering, options)
    assert len(rebalances) >= 12
    sizes = {universe.size for _, universe in rebalances}
    assert (len(sizes) > 1) == entering  # the universe grows only with names entering
    held = 0
    for model, universe in rebalances:
        ctx, twin = model._build(universe, twin=True)
        assert twin is not None and ctx.program._kept_arrays is not None
        held += int(np.any(universe.held_shares > 0))
        for built in (ctx, twin):
            _assert_kept_are_fresh(built.program)
            if _flagged(built):
                _assert_same_aggregation(_aggregation(built), reference._aggregation(built))
                arrays = built.program.coefficient_arrays()
                _assert_same_aggregation(
                    _aggregation(built, arrays, built.program.row_bounds()),
                    reference._aggregation(built, arrays),
                )
    assert held >= len(rebalances) - 1  # holdings from the second rebalance on


_values = st.sampled_from([1.0, -1.0, 0.5, -0.0, 0.0, 2.5e-9, np.inf, -np.inf, np.nan])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 3), _values), min_size=0, max_size=3),
            st.sampled_from([-np.inf, 0.0, -0.0, 1.0, np.nan]),
            st.sampled_from([np.inf, 0.0, 1.0]),
        ),
        min_size=0,
        max_size=12,
    )
)
def test_repeated_rows_are_the_ones_a_set_of_their_tuples_finds(
    rows: list[tuple[list[tuple[int, float]], float, float]],
) -> None:
    program_rows: list[Row] = []
    columns: list[int] = []
    values: list[float] = []
    sizes: list[int] = []
    for entries, lo, hi in rows:
        merged = dict(entries)  # distinct columns, in order, as a merged row's
        program_rows.append(Row(merged, lo, hi, None))
        columns.extend(merged)
        values.extend(merged.values())
        sizes.append(len(merged))
    size = np.array(sizes, dtype=np.intp)
    starts = np.cumsum(size) - size
    small = (size > 0) & (size <= 2)
    column_array = np.array(columns, dtype=np.int64)
    value_array = np.array(values, dtype=np.float64)
    lo, hi = bounds_of(program_rows)
    fast = _repeats(small, starts, size, column_array, value_array, lo, hi)
    slow = _repeats_by_tuples(program_rows, small, starts, size, columns, values)
    if fast is None:  # a NaN: the tuples decide
        assert np.isnan(value_array[np.repeat(small, size)]).any() or np.isnan(lo[small]).any()
    else:
        assert fast.tolist() == slow.tolist()
