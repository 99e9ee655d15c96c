"""Returns from prices: simple and logarithmic, per column, NaN where either price is missing."""

from __future__ import annotations

from typing import TypeVar, cast

import numpy as np
import pandas as pd

from tradefolio.indicators._common import check_pandas

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)


def simple_returns(prices: PandasT) -> PandasT:
    """Simple returns `r_t = p_t / p_{t-1} - 1`.

    NaN at the first bar and wherever `p_t` or `p_{t-1}` is missing (no forward-filling:
    the return across a gap is unknown, not zero).
    """
    check_pandas(prices, "prices")
    return prices.pct_change(fill_method=None)


def log_returns(prices: PandasT) -> PandasT:
    """Log returns `ℓ_t = ln(p_t / p_{t-1})` (NaN like `simple_returns`); `Σ ℓ` telescopes."""
    check_pandas(prices, "prices")
    ratio = prices / prices.shift(1)
    return cast(PandasT, np.log(ratio))


__all__ = ["log_returns", "simple_returns"]
