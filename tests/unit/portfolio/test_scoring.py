"""Factors from prices, checked against direct computations on the bundled sample."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.data import load_sample
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.scoring import score_universe


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_sample().prices


def test_trailing_return(prices: pd.DataFrame) -> None:
    scores = score_universe(prices, "trailing-return", lookback=126)
    for symbol in ("AAPL", "XOM"):
        closes = prices[symbol].to_numpy()
        assert scores.values[symbol] == pytest.approx(closes[-1] / closes[-127] - 1, rel=1e-14)


def test_momentum_skips_the_latest_month(prices: pd.DataFrame) -> None:
    scores = score_universe(prices, "momentum", lookback=252, skip=21)
    closes = prices["MSFT"].to_numpy()
    assert scores.values["MSFT"] == pytest.approx(closes[-22] / closes[-253] - 1, rel=1e-14)
    assert scores.prices["MSFT"] == closes[-1]


def test_inverse_volatility(prices: pd.DataFrame) -> None:
    scores = score_universe(prices, "inverse-volatility", lookback=63)
    returns = prices["KO"].pct_change().iloc[-63:]
    expected = 1 / (returns.std(ddof=1) * math.sqrt(252))
    assert scores.values["KO"] == pytest.approx(expected, rel=1e-12)


def test_symbol_without_history_is_excluded_with_reason(prices: pd.DataFrame) -> None:
    frame = prices.iloc[-300:].copy()
    frame.loc[frame.index[:200], "AMD"] = np.nan  # listed late
    frame.loc[frame.index[-5], "KO"] = np.nan  # a hole inside the window
    scores = score_universe(frame, "momentum", lookback=252)
    assert "AMD" not in scores.values and "KO" not in scores.values
    assert "needs 253" in scores.excluded["AMD"]
    assert set(scores.values.index) | set(scores.excluded) == set(frame.columns)
    assert np.isfinite(scores.values.to_numpy()).all()


def test_candidates_carry_last_close(prices: pd.DataFrame) -> None:
    candidates = score_universe(prices, "trailing-return", lookback=20).candidates()
    assert {c.symbol for c in candidates} == set(prices.columns)
    assert all(c.price == prices[c.symbol].iloc[-1] for c in candidates)


def test_bad_inputs(prices: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter, match="unknown factor"):
        score_universe(prices, "magic")
    with pytest.raises(InvalidParameter, match="lookback"):
        score_universe(prices, "momentum", lookback=1)
    with pytest.raises(InvalidParameter, match="skip"):
        score_universe(prices, "momentum", lookback=20, skip=21)
    with pytest.raises(DataError, match="price history has 10"):
        score_universe(prices.iloc[:10], "momentum")
    with pytest.raises(DataError, match="empty"):
        score_universe(prices.iloc[:0], "momentum")
    flat = pd.DataFrame({"A": [1.0] * 100}, index=prices.index[:100])
    with pytest.raises(DataError, match="no symbol could be scored"):
        score_universe(flat, "inverse-volatility", lookback=63)
