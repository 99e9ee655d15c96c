"""Rolling volatility against numpy's sample standard deviation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.indicators import rolling_volatility


def test_matches_numpy_std_annualised() -> None:
    rng = np.random.default_rng(5)
    returns = pd.DataFrame(rng.normal(0, 0.01, (300, 3)), columns=["a", "b", "c"])
    returns.iloc[100, 1] = np.nan
    vol = rolling_volatility(returns, 20)
    assert vol.iloc[:19].isna().all().all()
    for row in (19, 150, 299):
        window = returns.iloc[row - 19 : row + 1, 0].to_numpy()
        assert vol.iloc[row, 0] == pytest.approx(np.std(window, ddof=1) * math.sqrt(252), rel=1e-10)
    assert math.isnan(vol.iloc[110, 1])  # only 19 returns in the window
    relaxed = rolling_volatility(returns, 20, min_periods=15)
    window = returns.iloc[91:111, 1].dropna().to_numpy()
    assert relaxed.iloc[110, 1] == pytest.approx(np.std(window, ddof=1) * math.sqrt(252), rel=1e-10)
    monthly = rolling_volatility(returns["a"], 20, periods_per_year=12)
    assert monthly.iloc[50] == pytest.approx(vol.iloc[50, 0] * math.sqrt(12 / 252), rel=1e-12)


def test_bad_arguments() -> None:
    series = pd.Series([0.01, 0.02])
    with pytest.raises(InvalidParameter, match="window"):
        rolling_volatility(series, 0)
    with pytest.raises(InvalidParameter, match="min_periods must be <= window"):
        rolling_volatility(series, 5, min_periods=6)
