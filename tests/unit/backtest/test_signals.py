"""Crossover signals against backtrader's rules (plain Python) and the shared exact `sma`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tradefolio.backtest.signals import cross_sign, crossovers
from tradefolio.errors import InvalidParameter
from tradefolio.indicators import sma_exact


def reference_cross(column: list[float], fast: int, slow: int) -> tuple[list[bool], list[bool]]:
    """backtrader's SMA (fsum / n) + NonZeroDifference + CrossOver, one bar at a time."""
    bars = len(column)
    up, down = [False] * bars, [False] * bars
    start = max(fast, slow) - 1
    carried = 0.0
    for bar in range(start, bars):
        fast_mean = math.fsum(column[bar - fast + 1 : bar + 1]) / fast
        slow_mean = math.fsum(column[bar - slow + 1 : bar + 1]) / slow
        difference = fast_mean - slow_mean
        if bar > start:
            up[bar] = carried < 0 and difference > 0
            down[bar] = carried > 0 and difference < 0
        if bar == start or difference != 0:
            carried = difference
    return up, down


def _check_against_reference(closes: np.ndarray, fast: int, slow: int) -> None:
    signals = crossovers(closes, fast, slow)
    for column in range(closes.shape[1]):
        up, down = reference_cross(closes[:, column].tolist(), fast, slow)
        assert signals.up[:, column].tolist() == up
        assert signals.down[:, column].tolist() == down


# Prices on a coarse grid make exact SMA ties (and near-ties) common.
coarse_prices = arrays(
    np.float64,
    st.tuples(st.integers(2, 90), st.integers(1, 3)),
    elements=st.integers(1, 6).map(lambda k: k / 10),
)


@settings(max_examples=150, deadline=None)
@given(closes=coarse_prices, fast=st.integers(1, 6), extra=st.integers(1, 8))
def test_crossovers_match_backtrader_rules_with_many_ties(
    closes: np.ndarray, fast: int, extra: int
) -> None:
    _check_against_reference(closes, fast, fast + extra)


@settings(max_examples=60, deadline=None)
@given(
    closes=arrays(
        np.float64,
        st.tuples(st.integers(2, 120), st.integers(1, 3)),
        elements=st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False),
    ),
    fast=st.integers(1, 10),
    extra=st.integers(1, 20),
)
def test_crossovers_match_backtrader_rules_on_arbitrary_floats(
    closes: np.ndarray, fast: int, extra: int
) -> None:
    _check_against_reference(closes, fast, fast + extra)


def test_near_ties_use_the_exactly_rounded_means() -> None:
    # A long, large-valued prefix inflates the running sum; the tail then has means that a
    # cumulative-sum difference cannot separate, while fsum does.
    rng = np.random.default_rng(7)
    closes = np.round(rng.uniform(0.1, 0.2, size=(3000, 4)), 3)
    closes[:2000] *= 10_000.0
    _check_against_reference(closes, 20, 50)


def test_below_tie_above_signals_on_the_first_above_bar() -> None:
    # fast=1, slow=2: sign(p_t - p_{t-1}); falling, flat (tie), rising.
    closes = np.array([[3.0], [2.0], [2.0], [3.0]])
    signals = crossovers(closes, 1, 2)
    assert signals.up[:, 0].tolist() == [False, False, False, True]
    assert not signals.down.any()


def test_missing_closes_leave_the_sign_undefined() -> None:
    closes = np.array([[np.nan], [1.0], [2.0], [3.0]])
    sign = cross_sign(closes, 1, 2)
    assert np.isnan(sign[:2, 0]).all()
    assert sign[2:, 0].tolist() == [1.0, 1.0]


def test_bad_windows_are_rejected() -> None:
    with pytest.raises(InvalidParameter):
        cross_sign(np.ones((5, 1)), 0, 3)


@settings(max_examples=40, deadline=None)
@given(closes=coarse_prices, fast=st.integers(1, 6), extra=st.integers(1, 8))
def test_sign_agrees_with_the_shared_exact_sma(closes: np.ndarray, fast: int, extra: int) -> None:
    closes = closes.copy()
    closes[: min(2, len(closes) - 1), 0] = np.nan  # a late listing
    expected = np.sign(sma_exact(closes, fast) - sma_exact(closes, fast + extra))
    np.testing.assert_array_equal(cross_sign(closes, fast, fast + extra), expected)
