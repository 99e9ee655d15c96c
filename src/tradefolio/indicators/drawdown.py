"""Drawdown from the running peak."""

from __future__ import annotations

from typing import TypeVar

import pandas as pd

from tradefolio.errors import InvalidParameter
from tradefolio.indicators._common import check_pandas

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)


def drawdown(values: PandasT) -> PandasT:
    """Drawdown of prices or an equity curve, `DD_t = v_t / max_{s <= t} v_s - 1` (<= 0).

    The running peak skips missing values; the drawdown is NaN where `v_t` is missing.
    Values must be positive.
    """
    check_pandas(values, "values")
    if bool((values <= 0).to_numpy().any()):
        raise InvalidParameter("drawdown needs positive values (prices or equity)")
    peak = values.cummax(skipna=True)
    return values / peak - 1.0


def max_drawdown(values: PandasT) -> float | pd.Series:
    """The deepest drawdown, `min_t DD_t` (a float for a Series, one per column otherwise)."""
    deepest = drawdown(values).min()
    return float(deepest) if isinstance(values, pd.Series) else deepest


__all__ = ["drawdown", "max_drawdown"]
