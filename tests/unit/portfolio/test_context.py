"""The universe a model is built for, and the shared core variables."""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.context import ModelContext, make_universe
from tradefolio.portfolio.types import Candidate

CANDIDATES = [
    Candidate("A", 0.3, 10.0),
    Candidate("B", -0.1, 20.0),
    Candidate("C", 0.0, 5.0),
    Candidate("D", 0.2, 50.0),
]


def test_non_positive_scores_are_dropped_in_input_order_unless_held() -> None:
    universe = make_universe(CANDIDATES, 1000.0, {"C": 4.0}, keep_non_positive=False)
    assert universe.symbols == ("A", "C", "D")
    assert universe.dropped == ("B",)
    kept = make_universe(CANDIDATES, 1000.0)
    assert kept.symbols == ("A", "B", "C", "D") and kept.dropped == ()


def test_a_large_universe_keeps_every_symbol_and_drops_the_right_ones() -> None:
    """N = 10,000 in one pass (a list membership test made this 17 s)."""
    rng = np.random.default_rng(0)
    scores = rng.normal(0.05, 0.1, 10_000)
    candidates = [Candidate(f"S{i:05d}", float(s), 10.0) for i, s in enumerate(scores)]
    universe = make_universe(candidates, 1e6, keep_non_positive=False)
    assert universe.size == int((scores > 0).sum())
    assert universe.dropped == tuple(f"S{i:05d}" for i in np.flatnonzero(scores <= 0))
    assert np.all(universe.expected > 0) and np.all(universe.held_shares == 0)


def test_value_weights_and_holdings_outside_the_universe() -> None:
    universe = make_universe(
        CANDIDATES[:1], 100.0, {"A": 10.0, "OLD": 2.0}, holding_prices={"OLD": 25.0}
    )
    assert universe.value == pytest.approx(100.0 + 100.0 + 50.0)
    assert universe.initial_weights.tolist() == pytest.approx([0.4])
    assert universe.forced_sell_weight == pytest.approx(0.2)
    assert [h.symbol for h in universe.outside] == ["OLD"]


def test_bad_inputs_name_the_fix() -> None:
    with pytest.raises(DataError, match="held symbol OLD is not a candidate and has no price"):
        make_universe(CANDIDATES, 100.0, {"OLD": 1.0})
    with pytest.raises(InvalidParameter, match="capital"):
        make_universe(CANDIDATES, -1.0)
    with pytest.raises(InvalidParameter, match="worth more than 0"):
        make_universe(CANDIDATES, 0.0)
    with pytest.raises(DataError, match="duplicate candidate symbol 'A'"):
        make_universe([*CANDIDATES, Candidate("A", 0.1, 1.0)], 100.0)
    with pytest.raises(DataError, match="price of B"):
        make_universe([Candidate("A", 0.1, 1.0), Candidate("B", 0.1, 0.0)], 100.0)


def test_core_variables_links_and_trade_variables() -> None:
    universe = make_universe(CANDIDATES[:2], 100.0, {"A": 5.0})  # w0_A = 50 / 150
    ctx = ModelContext(universe)
    program = ctx.program
    assert ctx.weights == [0, 1] and ctx.selected == [2, 3]
    assert program.integer[:4] == [False, False, True, True]
    ctx.cap_weight(0, 0.4)
    assert ctx.weight_upper(0) == 0.4
    assert program.rows[0].coefficients == {0: 1.0, 2: -0.4}  # w_A <= 0.4 x_A
    buys, sells = ctx.trade_variables()
    assert ctx.trade_variables() == (buys, sells)  # created once
    assert program.upper[sells[0]] == pytest.approx(1 / 3)
    assert program.upper[buys[0]] == pytest.approx(0.4 - 1 / 3)
    buy_flags, sell_flags = ctx.trade_flags()
    assert all(program.integer[k] for k in (*buy_flags, *sell_flags))
    elastic = ModelContext(universe, elastic=True)
    elastic.cap_weight(0, 0.4)
    assert elastic.weight_upper(0) == 1.0  # the elastic copy keeps caps as rows
