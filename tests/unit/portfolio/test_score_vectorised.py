"""The ratio factors scored for every column at once equal the column-by-column scores.

`scoring._window_scores` divides the whole window's rows for trailing-return and momentum
(`_ratio_values`); the oracle is `_factor_value` on each column, the code it replaces, at
every 20th decision bar of the bundled sample (names listed late and holes inside the
window included), bit for bit, with the same symbols left out for the same reasons.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradefolio.data.sample_data import load_sample_prices
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.scoring import (
    DEFAULT_LOOKBACK,
    DEFAULT_SKIP,
    _factor_value,
    _window_scores,
    score_history,
)


def _column_by_column(
    symbols: tuple[str, ...], window: np.ndarray, factor: str, skip: int
) -> tuple[dict[str, float], set[str]]:
    scores: dict[str, float] = {}
    excluded: set[str] = set()
    for j, symbol in enumerate(symbols):
        column = window[:, j]
        if np.isnan(column).any():
            excluded.add(symbol)
            continue
        value = _factor_value(factor, column, skip)
        if math.isfinite(value):
            scores[symbol] = value
        else:
            excluded.add(symbol)
    return scores, excluded


@pytest.mark.parametrize("factor", ["trailing-return", "momentum", "inverse-volatility"])
def test_scores_equal_the_column_by_column_scores(factor: str) -> None:
    prices = load_sample_prices()
    closes = prices.to_numpy(dtype=np.float64, na_value=np.nan).copy()
    closes[3000:3010, 2] = np.nan  # a hole inside some windows
    symbols = tuple(str(c) for c in prices.columns)
    needed = DEFAULT_LOOKBACK[factor] + 1
    partial = 0
    for bar in range(needed - 1, len(closes), 20):
        window = closes[bar + 1 - needed : bar + 1]
        expected, left_out = _column_by_column(symbols, window, factor, DEFAULT_SKIP)
        if not expected:
            continue
        scores, excluded = _window_scores(symbols, window, factor, DEFAULT_SKIP)
        assert list(scores) == list(expected)
        assert [s.hex() for s in scores.values()] == [s.hex() for s in expected.values()]
        assert set(excluded) == left_out
        partial += bool(left_out)
    assert partial >= 3  # windows with names left out were checked too


def test_score_history_prices_are_the_last_closes() -> None:
    prices = load_sample_prices().iloc[:4000]
    history = PriceHistory.of(prices)
    candidates = score_history(history, "momentum")
    last = prices.iloc[-1]
    assert candidates
    for candidate in candidates:
        assert type(candidate.price) is float and type(candidate.score) is float
        assert candidate.price == float(last[candidate.symbol])
