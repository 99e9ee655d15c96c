"""Rolling volatility of returns, annualised."""

from __future__ import annotations

import math
from typing import TypeVar

import pandas as pd

from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR as TRADING_DAYS
from tradefolio.errors import InvalidParameter
from tradefolio.indicators._common import check_pandas, check_window

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)


def rolling_volatility(
    returns: PandasT,
    window: int,
    *,
    periods_per_year: int = TRADING_DAYS,
    min_periods: int | None = None,
) -> PandasT:
    """Annualised rolling standard deviation of returns, per column.

        σ_t = sqrt(periods_per_year) · sqrt( Σ_{i in W_t} (r_i - r̄)² / (n_t - 1) )

    over the non-NaN returns `W_t` among the `window` bars ending at t (`n_t` of them);
    NaN while `n_t < min_periods` (default `window`, at least 2).
    """
    check_pandas(returns, "returns")
    window = check_window(window)
    periods = check_window(periods_per_year, "periods_per_year")
    needed = window if min_periods is None else check_window(min_periods, "min_periods")
    if needed > window:
        raise InvalidParameter(f"min_periods must be <= window ({window}), got {needed}")
    needed = max(needed, 2)
    std = returns.rolling(window, min_periods=needed).std(ddof=1)
    return std * math.sqrt(periods)


__all__ = ["TRADING_DAYS", "rolling_volatility"]
