"""Session 16's build and aggregation fast paths against the code they replace, bit for bit.

- `Program.objective_value` (products by `map`) against the generator over the items;
- the aggregation's owner bounds per row (`np.minimum/maximum.reduceat`) against the
  `ufunc.at` scatter they replace, with empty rows, and its merged sums (`np.bincount`)
  against sequential Python sums in the rows' order (cancellation makes order visible);
- `ModelContext.cap_weights` against `cap_weight` name by name;
- `WholeShares.build` (one block without odd lots), `TransactionCosts.build`
  (`dict.fromkeys`), `PositionLimits`, `Turnover`, `Cardinality` (rows taken over)
  against the name-by-name builds of session 15, kept here verbatim as the oracles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.constraints import (
    Cardinality,
    PositionLimits,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.constraints.whole_shares import odd_lot
from tradefolio.portfolio.context import ModelContext, make_universe
from tradefolio.portfolio.program import INF, Program, Row
from tradefolio.portfolio.rebalance_solver import _reduced, _zeroable
from tradefolio.portfolio.types import Candidate


def _rows(program: Program) -> list[tuple[Any, ...]]:
    return [
        (list(r.coefficients.items()), r.lo, r.hi, r.group, r.unit, r.arrays is None)
        for r in program.rows
    ]


def _everything(ctx: ModelContext) -> tuple[Any, ...]:
    p = ctx.program
    return (
        p.names,
        p.lower,
        p.upper,
        p.integer,
        _rows(p),
        list(p.linear.items()),
        list(p.quadratic.items()),
        ctx.lots,
        list(ctx.odd_lots.items()),
        list(ctx.cost_terms.items()),
        ctx.cost_constant,
        ctx.cost_in_objective,
        ctx.tie_break_investment,
    )


# --- the session-15 builds, verbatim but for the names (the oracles) -----------------


def _whole_shares_then(piece: WholeShares, ctx: ModelContext) -> None:
    universe = ctx.universe
    value = universe.value
    program = ctx.program
    ctx.lots = []
    for i, symbol in enumerate(universe.symbols):
        lot_shares = piece.lot_of(symbol)
        price = float(universe.prices[i])
        lot_value = lot_shares * price
        most = math.floor(ctx.weight_upper(i) * value / lot_value + 1e-9)
        lots = program.add_variable(f"lots[{symbol}]", 0.0, float(most), integer=True)
        definition = {ctx.weights[i]: 1.0, lots: -lot_value / value}
        odd = odd_lot(float(universe.held_shares[i]), lot_shares)
        if odd > 0:
            keep = program.add_binary(f"keep_odd_lot[{symbol}]")
            definition[keep] = -odd * price / value
            ctx.odd_lots[i] = (keep, odd)
        program.add_row(definition, lo=0.0, hi=0.0)
        ctx.lots.append(lots)
    ctx.tie_break_investment = True


def _costs_then(piece: TransactionCosts, ctx: ModelContext) -> None:
    value = ctx.universe.value
    terms: dict[int, float] = {}
    if piece.bps > 0:
        buys, sells = ctx.trade_variables()
        for v in (*buys, *sells):
            terms[v] = terms.get(v, 0.0) + piece.bps / 1e4
    if piece.fixed > 0:
        buy_flags, sell_flags = ctx.trade_flags()
        for v in (*buy_flags, *sell_flags):
            terms[v] = terms.get(v, 0.0) + piece.fixed / value
    for v, c in terms.items():
        ctx.cost_terms[v] = ctx.cost_terms.get(v, 0.0) + c
    ctx.cost_constant += piece.forced_cost(ctx)
    if piece.in_objective:
        ctx.cost_in_objective += piece.aversion
    if piece.budget is not None:
        ctx.program.add_row(
            terms, hi=piece.budget / value - piece.forced_cost(ctx), group="cost budget"
        )


def _limits_then(piece: PositionLimits, ctx: ModelContext) -> None:
    program = ctx.program
    for i in range(ctx.size):
        if ctx.elastic:
            program.add_row({ctx.weights[i]: 1.0}, hi=piece.max_weight, group="max weight")
        if piece.min_weight > 0:
            program.add_row(
                {ctx.weights[i]: 1.0, ctx.selected[i]: -piece.min_weight},
                lo=0.0,
                group="min weight",
            )


def _turnover_then(piece: Turnover, ctx: ModelContext) -> None:
    buys, sells = ctx.trade_variables()
    terms = {v: 1.0 for v in (*buys, *sells)}
    ctx.program.add_row(
        terms, hi=piece.max_turnover - ctx.universe.forced_sell_weight, group="turnover"
    )


def _cardinality_then(piece: Cardinality, ctx: ModelContext) -> None:
    ctx.program.add_row(
        {x: 1.0 for x in ctx.selected},
        hi=float(piece.max_positions),
        group="max positions",
        unit="names",
    )


@st.composite
def _universes(draw: st.DrawFn) -> Any:
    count = draw(st.integers(1, 7))
    prices = draw(st.lists(st.floats(0.5, 900.0), min_size=count, max_size=count))
    held = draw(
        st.lists(
            st.sampled_from([0.0, 0.0, 1.0, 3.0, 10.5, 7.25, 40.0]), min_size=count, max_size=count
        )
    )
    candidates = [Candidate(f"S{i}", 0.01 * (i + 1), p) for i, p in enumerate(prices)]
    holdings = {f"S{i}": h for i, h in enumerate(held) if h}
    outside = {"OUT": 2.0} if draw(st.booleans()) else {}
    return make_universe(
        candidates,
        draw(st.floats(1.0, 1e5)),
        {**holdings, **outside},
        {"OUT": 12.5},
    )


@settings(max_examples=80, deadline=None)
@given(
    universe=_universes(),
    lot=st.sampled_from([1, 2, 5]),
    cap=st.floats(0.05, 1.0),
    elastic=st.booleans(),
    min_weight=st.sampled_from([0.0, 0.01]),
    bps=st.sampled_from([0.0, 5.0]),
    fixed=st.sampled_from([0.0, 1.0]),
    budget=st.sampled_from([None, 50.0]),
    twice=st.booleans(),
)
def test_the_block_builds_are_the_name_by_name_builds(
    universe: Any,
    lot: int,
    cap: float,
    elastic: bool,
    min_weight: float,
    bps: float,
    fixed: float,
    budget: float | None,
    twice: bool,
) -> None:
    limits = PositionLimits(cap, min(min_weight, cap))
    costs = [TransactionCosts(bps, fixed, budget=budget)]
    if twice:  # a second cost model adds onto the first one's terms
        costs.append(TransactionCosts(2.0, 0.5))
    pieces: list[Any] = [limits, Cardinality(3), Turnover(0.3), *costs, WholeShares(lot)]
    then = {
        PositionLimits: _limits_then,
        Cardinality: _cardinality_then,
        Turnover: _turnover_then,
        TransactionCosts: _costs_then,
        WholeShares: _whole_shares_then,
    }
    now, before = ModelContext(universe, elastic), ModelContext(universe, elastic)
    for ctx in (now, before):
        for piece in pieces:
            piece.tighten(ctx)
    for piece in pieces:
        piece.build(now)
        then[type(piece)](piece, before)
    assert _everything(now) == _everything(before)


def test_odd_lots_keep_the_name_by_name_order() -> None:
    universe = make_universe(
        [Candidate("A", 0.1, 10.0), Candidate("B", 0.2, 20.0), Candidate("C", 0.3, 7.0)],
        1000.0,
        {"A": 3.0, "C": 10.5},
    )
    now, before = ModelContext(universe), ModelContext(universe)
    WholeShares(2).build(now)
    _whole_shares_then(WholeShares(2), before)
    assert _everything(now) == _everything(before)
    assert now.odd_lots  # the per-name path ran: A holds an odd share, C half of one


# --- Program.objective_value -----------------------------------------------------------


def _objective_then(program: Program, values: np.ndarray) -> float:
    point = np.asarray(values, dtype=np.float64).tolist()
    total = program.constant + sum(c * point[k] for k, c in program.linear.items())
    total += sum(c * point[i] * point[j] for (i, j), c in program.quadratic.items())
    return float(total)


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    constant=st.sampled_from([0.0, -0.0, 1.5, -3e-17]),
    quadratic=st.booleans(),
)
def test_objective_value_is_the_generator_sum(
    size: int, seed: int, constant: float, quadratic: bool
) -> None:
    rng = np.random.default_rng(seed)
    program = Program(names=[f"v{k}" for k in range(size)], constant=constant)
    for k in rng.permutation(size)[: rng.integers(0, size + 1)].tolist():
        program.linear[k] = float(rng.normal() * 10.0 ** rng.integers(-8, 9))
    if quadratic:
        for _ in range(int(rng.integers(0, 2 * size))):
            i, j = (int(v) for v in rng.integers(0, size, 2))
            program.quadratic[(i, j)] = float(rng.normal() * 10.0 ** rng.integers(-8, 9))
    values = rng.normal(size=size) * 10.0 ** rng.integers(-6, 7, size=size)
    got, expected = program.objective_value(values), _objective_then(program, values)
    assert got == expected
    assert math.copysign(1.0, got) == math.copysign(1.0, expected)  # -0.0 stays -0.0 or not


# --- the aggregation's row owners and merged sums ---------------------------------------


def _single_then(
    columns: np.ndarray, lengths: np.ndarray, numbers: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    entry_owner = owner[columns]
    lowest = np.full(len(lengths), np.iinfo(np.intp).max, dtype=np.intp)
    highest = np.full(len(lengths), -1, dtype=np.intp)
    np.minimum.at(lowest, numbers, entry_owner)
    np.maximum.at(highest, numbers, entry_owner)
    return np.where((lowest == highest) & (lowest >= 0), lowest, -1)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_zeroable_reads_each_rows_owners_as_the_scatter_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size, names = int(rng.integers(2, 12)), int(rng.integers(1, 4))
    lengths = rng.integers(0, min(4, size + 1), size=int(rng.integers(1, 8)))  # empty rows too
    columns = np.concatenate(
        [rng.permutation(size)[:n] for n in lengths.tolist()] or [np.zeros(0, np.intp)]
    ).astype(np.int64)
    values = rng.choice([-2.0, -1.0, 1.0, 0.5], size=columns.size)
    owner = rng.integers(-1, names, size=size).astype(np.intp)
    flags = np.where(rng.random(size) < 0.4, owner, -1).astype(np.intp)
    numbers = np.repeat(np.arange(len(lengths)), lengths)
    lo = rng.choice([-INF, 0.0, -1.0], size=len(lengths))
    hi = rng.choice([INF, 0.0, 1.0], size=len(lengths))
    got = _zeroable(
        (columns, values, lengths.astype(np.int64)), numbers, (lo, hi), flags, owner, names
    )
    # the oracle: `_zeroable` with the scatter's owners (the same function otherwise)
    single = _single_then(columns, lengths, numbers, owner)
    at = flags[columns] >= 0
    row, name, coefficient = numbers[at], flags[columns[at]], values[at]
    pair = row * names + name
    not_rising = np.zeros(len(lengths) * names, dtype=bool)
    not_falling = np.zeros(len(lengths) * names, dtype=bool)
    not_rising[pair[~(coefficient >= 0)]] = True
    not_falling[pair[~(coefficient <= 0)]] = True
    keeps = (
        (~not_rising[pair] & (lo[row] == -INF))
        | (~not_falling[pair] & (hi[row] == INF))
        | ((single[row] == name) & (lo[row] <= 1e-12) & (hi[row] >= -1e-12))
    )
    broken = np.zeros(names, dtype=bool)
    broken[name[~keeps]] = True
    assert np.array_equal(got, ~broken)


def test_merged_entries_are_summed_in_the_rows_order() -> None:
    # v1 and v2 merge onto v0: 0.0 + 1e16 + 1.0 - 1e16 is 0.0 in that order (the row is
    # then empty), 0.0 + 1.0 + 1e16 - 1e16 is 0.0 too but 0.0 + 1e16 - 1e16 + 1.0 is 1.0
    program = Program(names=["v0", "v1", "v2", "v3"], lower=[0.0] * 4, upper=[1.0] * 4)
    program.integer = [False] * 4
    program.rows = [
        Row({0: 1e16, 1: 1.0, 2: -1e16, 3: 1.0}, -INF, 1.0, "a"),
        Row({0: 1e16, 2: -1e16, 1: 1.0, 3: 2.0}, -INF, 1.0, "b"),
        Row({3: 0.5, 1: 0.1, 2: 0.2, 0: 0.3}, -INF, 1.0, "c"),
    ]
    alias = np.array([0, 0, 0, 3], dtype=np.intp)
    reduced = _reduced(program, alias, np.zeros(4, dtype=bool)).program
    expected = []
    for row in program.rows:
        merged: dict[int, float] = {}
        for k, c in row.coefficients.items():
            j = 0 if k < 3 else 1
            merged[j] = merged.get(j, 0.0) + c
        expected.append({k: c for k, c in merged.items() if c != 0.0})
    assert [dict(r.coefficients) for r in reduced.rows] == expected
    assert [list(r.coefficients) for r in reduced.rows] == [list(e) for e in expected]
    columns, values, lengths = reduced.coefficient_arrays()
    assert columns.tolist() == [k for e in expected for k in e]
    assert values.tolist() == [c for e in expected for c in e.values()]
    assert lengths.tolist() == [len(e) for e in expected]


@pytest.mark.parametrize("elastic", [False, True])
def test_position_limits_rows_keep_their_order(elastic: bool) -> None:
    universe = make_universe([Candidate("A", 0.1, 10.0), Candidate("B", 0.2, 20.0)], 1000.0)
    now, before = ModelContext(universe, elastic), ModelContext(universe, elastic)
    PositionLimits(0.5, 0.1).build(now)
    _limits_then(PositionLimits(0.5, 0.1), before)
    assert _rows(now.program) == _rows(before.program)
    assert [r.group for r in now.program.rows[2:]] == (
        ["max weight", "min weight"] * 2 if elastic else ["min weight"] * 2
    )


@pytest.mark.parametrize("elastic", [False, True])
def test_capping_many_names_is_capping_each_in_turn(elastic: bool) -> None:
    universe = make_universe([Candidate(f"S{i}", 0.1, 10.0 + i) for i in range(5)], 1000.0)
    now, before = ModelContext(universe, elastic), ModelContext(universe, elastic)
    for names, cap in (([0, 2, 4], 0.3), (range(5), 0.25), ([4, 1], 0.5), ([3], -0.1)):
        now.cap_weights(names, cap)
        for i in names:
            before.cap_weight(i, cap)
    assert now.program.upper == before.program.upper
    assert _rows(now.program) == _rows(before.program)
    assert [r.coefficients for r in now._links] == [r.coefficients for r in before._links]
