"""Drawdown from the running peak."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.indicators import drawdown, max_drawdown


def test_drawdown_and_max() -> None:
    values = pd.DataFrame(
        {"A": [100.0, 120.0, 90.0, np.nan, 130.0, 65.0], "B": [1.0, 2, 3, 4, 5, 6]}
    )
    result = drawdown(values)
    np.testing.assert_allclose(
        result["A"].to_numpy(), [0.0, 0.0, -0.25, np.nan, 0.0, -0.5], equal_nan=True
    )
    assert (result["B"] == 0.0).all()
    deepest = max_drawdown(values)
    assert deepest["A"] == -0.5 and deepest["B"] == 0.0
    assert max_drawdown(values["A"]) == -0.5
    assert math.isnan(drawdown(values["A"]).iloc[3])


def test_rejects_non_positive() -> None:
    with pytest.raises(InvalidParameter, match="positive"):
        drawdown(pd.Series([1.0, 0.0]))
