"""Wilder RSI against a plain-Python transcription of Wilder's recursion."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.indicators import rsi


def wilder_rsi(prices: list[float], window: int) -> list[float]:
    """Oracle: one column, no gaps, straight from Wilder's definition."""
    out = [math.nan] * len(prices)
    changes = [b - a for a, b in itertools.pairwise(prices)]
    if len(changes) < window:
        return out
    gain = sum(max(c, 0.0) for c in changes[:window]) / window
    loss = sum(max(-c, 0.0) for c in changes[:window]) / window

    def value(g: float, lo: float) -> float:
        if lo == 0.0:
            return 100.0 if g > 0.0 else 50.0
        return 100.0 - 100.0 / (1.0 + g / lo)

    out[window] = value(gain, loss)
    for index in range(window, len(changes)):
        change = changes[index]
        gain = (gain * (window - 1) + max(change, 0.0)) / window
        loss = (loss * (window - 1) + max(-change, 0.0)) / window
        out[index + 1] = value(gain, loss)
    return out


def test_matches_wilder_recursion() -> None:
    rng = np.random.default_rng(9)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (200, 3)), axis=0)))
    result = rsi(prices, 14)
    for column in prices.columns:
        expected = wilder_rsi(prices[column].tolist(), 14)
        np.testing.assert_allclose(result[column].to_numpy(), expected, rtol=1e-12, equal_nan=True)
    assert ((result.dropna() >= 0) & (result.dropna() <= 100)).all().all()


def test_leading_nans_and_extremes() -> None:
    rising = pd.Series([np.nan, np.nan, 1.0, 2.0, 3.0, 4.0, 5.0])
    result = rsi(rising, 3)
    assert result.iloc[:5].isna().all()
    assert result.iloc[5] == 100.0
    flat = rsi(pd.Series([5.0] * 6), 3)
    assert flat.iloc[3] == 50.0
    shifted = rsi(pd.Series([1.0, 2.0, 1.5, 3.0, 2.0, 2.5, 4.0]), 3)
    expected = wilder_rsi([1.0, 2.0, 1.5, 3.0, 2.0, 2.5, 4.0], 3)
    np.testing.assert_allclose(shifted.to_numpy(), expected, rtol=1e-12, equal_nan=True)


def test_gap_skips_changes_and_is_nan() -> None:
    prices = pd.Series([1.0, 2.0, 1.0, 2.0, np.nan, 3.0, 2.0, 4.0])
    result = rsi(prices, 2)
    assert math.isnan(result.iloc[4]) and math.isnan(result.iloc[5])
    # the changes used are 1, -1, 1, then -1, 2 (the two touching the gap are skipped)
    expected = wilder_rsi([1.0, 2.0, 1.0, 2.0, 1.0, 3.0], 2)
    assert result.iloc[6] == pytest.approx(expected[4], rel=1e-12)
    assert result.iloc[7] == pytest.approx(expected[5], rel=1e-12)
