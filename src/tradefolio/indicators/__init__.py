"""Indicators: pure, vectorised pandas/numpy functions with their formulas in the docstrings.

Every function takes prices or returns as a `Series` or a `DataFrame` (one column per
symbol, oldest first), treats NaN as "no observation" and never looks ahead: the value at
date t uses data up to t only.
"""

from tradefolio.indicators.averages import ema, sma, sma_exact

__all__ = ["ema", "sma", "sma_exact"]
