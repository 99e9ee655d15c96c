"""`PriceHistory`, the array view a rebalance reads, against the pandas path it replaces.

Oracles: `score_universe`, `period_returns`, `risk_model` and `build_model` on the
`DataFrame` (what `allocate` runs) give, bit for bit, what the policy computes from the
array view; the view of the rows up to a bar holds nothing later; a held name's price is
the forward-filled last close.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.data.sample_data import load_sample_prices, load_sample_sectors
from tradefolio.errors import DataError
from tradefolio.portfolio.build import build_model
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import period_returns, risk_model, risk_model_of
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.options import AllocateOptions
from tradefolio.portfolio.policy import AllocationPolicy
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.scoring import score_history, score_universe

#: The model of bench_policy.py's sample rows (issue 15's speed target).
BENCH = {
    "objective": "mean-variance",
    "risk_aversion": 5.0,
    "sector_cap": 0.35,
    "max_turnover": 0.2,
    "cost_bps": 5.0,
    "fixed_cost": 1.0,
    "max_positions": 5,
    "fractional": True,
}


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_sample_prices()


@pytest.fixture(scope="module")
def holed(prices: pd.DataFrame) -> pd.DataFrame:
    """Two years of the sample with a late listing, holes and a missing last close."""
    frame = prices.iloc[-520:].copy()
    frame.loc[frame.index[:300], "AMD"] = np.nan
    frame.loc[frame.index[-40], "KO"] = np.nan
    frame.loc[frame.index[-3:], "GE"] = np.nan
    frame.loc[frame.index[-1], "XOM"] = np.nan
    return frame


def test_a_view_up_to_a_bar_holds_nothing_later(prices: pd.DataFrame) -> None:
    history = PriceHistory.of(prices)
    bar = 4000
    view = history.up_to(bar)
    assert view.sessions == bar + 1
    assert view.dates[-1] == prices.index[bar]
    assert np.shares_memory(view.closes, history.closes)  # a view, not a copy
    np.testing.assert_array_equal(view.closes, prices.iloc[: bar + 1].to_numpy())
    assert view.columns is history.columns


@pytest.mark.parametrize("factor", ["trailing-return", "momentum", "inverse-volatility"])
def test_scores_from_the_view_are_score_universes(holed: pd.DataFrame, factor: str) -> None:
    for end in (300, 400, 519):
        frame = holed.iloc[: end + 1]
        expected = score_universe(frame, factor).candidates()
        assert score_history(PriceHistory.of(holed).up_to(end), factor) == expected


def test_score_errors_are_score_universes(holed: pd.DataFrame) -> None:
    short = holed.iloc[:100]
    with pytest.raises(DataError) as frame_error:
        score_universe(short, "momentum")
    with pytest.raises(DataError) as view_error:
        score_history(PriceHistory.of(short), "momentum")
    assert str(view_error.value) == str(frame_error.value)


@pytest.mark.parametrize("estimator", ["ledoit-wolf", "sample"])
def test_returns_and_risk_from_the_view_are_bit_for_bit(
    prices: pd.DataFrame, estimator: str
) -> None:
    history = PriceHistory.of(prices)
    symbols = ["MSFT", "AAPL", "KO", "XOM", "UNH", "PG", "JPM"]
    for bar in (3000, 5000, len(prices) - 1):
        frame = prices.iloc[: bar + 1]
        view = history.up_to(bar)
        expected = period_returns(frame, 252, symbols)
        values = view.returns(252, symbols)
        np.testing.assert_array_equal(values, expected.to_numpy())
        # the same values, dates and symbols (the objectives read no axis names)
        pd.testing.assert_frame_equal(view.returns_frame(252, symbols), expected, check_names=False)
        one = risk_model(expected, estimator)
        two = risk_model_of(values, tuple(symbols), estimator)
        assert one.symbols == two.symbols
        assert np.array_equal(one.loadings, two.loadings)
        assert np.array_equal(one.specific, two.specific)


def test_risk_window_errors_are_period_returns(holed: pd.DataFrame) -> None:
    view = PriceHistory.of(holed)
    for lookback, symbols in ((252, ["KO", "MSFT"]), (252, ["NOPE"]), (600, ["MSFT"])):
        with pytest.raises(DataError) as frame_error:
            period_returns(holed, lookback, symbols)
        with pytest.raises(DataError) as view_error:
            view.returns(lookback, symbols)
        assert str(view_error.value) == str(frame_error.value)


def test_complete_window_and_last_closes(holed: pd.DataFrame) -> None:
    view = PriceHistory.of(holed)
    complete = holed.iloc[-253:].notna().all(axis=0)
    assert view.complete(253) == {str(s) for s in complete.index[complete.to_numpy()]}
    filled = holed.ffill().iloc[-1]
    names = ["GE", "XOM", "MSFT", "NOPE"]
    assert view.last_closes(names) == {s: float(filled[s]) for s in ("GE", "XOM", "MSFT")}
    never = holed.copy()
    never["AMD"] = np.nan
    assert "AMD" not in PriceHistory.of(never).last_closes(["AMD"])


def _same_program(one: Program, two: Program) -> None:
    assert one.names == two.names
    assert one.lower == two.lower and one.upper == two.upper and one.integer == two.integer
    assert [(r.coefficients, r.lo, r.hi, r.group, r.unit) for r in one.rows] == [
        (r.coefficients, r.lo, r.hi, r.group, r.unit) for r in two.rows
    ]
    assert list(one.linear.items()) == list(two.linear.items())
    assert list(one.quadratic.items()) == list(two.quadratic.items())
    assert one.constant == two.constant and one.maximize == two.maximize


@pytest.mark.parametrize(
    "objective", ["mean-variance", "min-variance", "cvar", "mad", "kelly", "score"]
)
def test_the_policys_model_is_the_stand_alone_build(prices: pd.DataFrame, objective: str) -> None:
    """At a few rebalance dates, the program the policy solves (built from the view) is the
    one `allocate --holdings` builds from the DataFrame: the same rows, bit for bit."""
    options = AllocateOptions(**{**BENCH, "objective": objective})
    policy = AllocationPolicy(options)
    sectors = {str(k): str(v) for k, v in load_sample_sectors().items()}
    history = PriceHistory.of(prices)
    rng = np.random.default_rng(15)
    for bar in (1500, 4200, len(prices) - 1):
        frame = prices.iloc[: bar + 1]
        view = history.up_to(bar)
        candidates = policy.candidates(view)
        scored = score_universe(frame, options.factor).candidates()
        if options.needs_history:
            complete = frame.iloc[-253:].notna().all(axis=0)
            scored = [c for c in scored if complete[c.symbol]]
        assert candidates == scored
        held = {c.symbol: float(rng.integers(0, 40)) for c in candidates[:6]}
        universe = make_universe(candidates, 50_000.0, held, keep_non_positive=True)
        alone = build_model(options, universe.symbols, frame, sectors).build(universe)
        mine = build_model(options, universe.symbols, view, policy.sectors).build(universe)
        _same_program(alone.program, mine.program)


@settings(max_examples=15, deadline=None)
@given(
    bar=st.integers(min_value=300, max_value=519),
    held=st.dictionaries(
        st.sampled_from(["AAPL", "GE", "XOM", "AMD", "MSFT"]), st.integers(1, 60), max_size=3
    ),
)
def test_a_decision_on_the_view_is_the_decision_on_the_frame(
    holed: pd.DataFrame, bar: int, held: dict[str, int]
) -> None:
    options: dict[str, Any] = {**BENCH, "lookback": 126, "risk_lookback": 126}
    policy = AllocationPolicy(AllocateOptions(**options))
    frame = holed.iloc[: bar + 1]
    one = policy.decide(frame, held, 40_000.0)
    two = policy.decide(PriceHistory.of(holed).up_to(bar), held, 40_000.0)
    assert (one.day, one.status, one.target_shares, one.weights, one.prices) == (
        two.day,
        two.status,
        two.target_shares,
        two.weights,
        two.prices,
    )
    assert one.objective == two.objective or (one.failed and two.failed)
