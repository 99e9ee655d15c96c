"""Simple and log returns against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.indicators import log_returns, simple_returns


def test_simple_and_log_returns() -> None:
    prices = pd.DataFrame(
        {"A": [100.0, 110.0, np.nan, 121.0, 133.1], "B": [50.0, 25.0, 50.0, 50.0, 55.0]}
    )
    simple = simple_returns(prices)
    assert math.isnan(simple.iloc[0, 0])
    assert simple["A"].iloc[1] == pytest.approx(0.1, abs=1e-15)
    assert simple["A"].iloc[2:4].isna().all()  # no return across the gap, never 0
    assert simple["B"].tolist()[1:] == [-0.5, 1.0, 0.0, pytest.approx(0.1)]
    logs = log_returns(prices)
    np.testing.assert_allclose(logs["B"].iloc[1:], np.log([0.5, 2.0, 1.0, 1.1]), rtol=1e-15)
    assert logs["B"].iloc[1:].sum() == pytest.approx(math.log(55.0 / 50.0), abs=1e-15)
    np.testing.assert_allclose(np.expm1(logs), simple, rtol=1e-12)


def test_series_in_series_out() -> None:
    prices = pd.Series([1.0, 2.0, 3.0], name="X")
    assert simple_returns(prices).name == "X"
    assert isinstance(log_returns(prices), pd.Series)


def test_rejects_non_pandas() -> None:
    with pytest.raises(InvalidParameter, match="prices must be a pandas"):
        simple_returns([1.0, 2.0])  # type: ignore[type-var]
