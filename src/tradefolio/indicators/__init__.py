"""Indicators: pure, vectorised pandas/numpy functions with their formulas in the docstrings.

Every function takes prices or returns as a `Series` or a `DataFrame` (one column per
symbol, oldest first), treats NaN as "no observation" and never looks ahead: the value at
date t uses data up to t only.
"""

from tradefolio.indicators.averages import ema, sma, sma_exact
from tradefolio.indicators.beta import (
    BetaEstimate,
    BetaWarning,
    beta_estimates,
    calculate_beta,
    rolling_beta,
)
from tradefolio.indicators.drawdown import drawdown, max_drawdown
from tradefolio.indicators.oscillators import rsi
from tradefolio.indicators.returns import log_returns, simple_returns
from tradefolio.indicators.volatility import TRADING_DAYS, rolling_volatility

__all__ = [
    "TRADING_DAYS",
    "BetaEstimate",
    "BetaWarning",
    "beta_estimates",
    "calculate_beta",
    "drawdown",
    "ema",
    "log_returns",
    "max_drawdown",
    "rolling_beta",
    "rolling_volatility",
    "rsi",
    "simple_returns",
    "sma",
    "sma_exact",
]
