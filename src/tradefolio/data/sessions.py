"""Trading sessions a year: the one annualisation constant of the code base.

Daily data has `A = 252` sessions a year (the US equity calendar's usual count, the figure
empyrical, quantstats and pandas-based tools annualise with). Every annualised number in
tradefolio (volatility, Sharpe, CAGR's years, covariances, synthetic GBM steps) reads `A`
from here, so a change of calendar is one edit.
"""

from __future__ import annotations

TRADING_DAYS_PER_YEAR = 252

__all__ = ["TRADING_DAYS_PER_YEAR"]
