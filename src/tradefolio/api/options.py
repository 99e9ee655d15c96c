"""The options of `allocate`, as the public API names them.

They are declared once, in `tradefolio.portfolio.options` (below the backtest and live
engines, which run the same model at every rebalance of `--portfolio`); this module is
their public address for `tf.allocate` and the CLI.
"""

from __future__ import annotations

from tradefolio.portfolio.options import (
    ALLOCATE_DEFAULTS,
    ESTIMATORS,
    FACTOR_CHOICES,
    MAX_CAPITAL,
    NEEDS_HISTORY,
    OBJECTIVES,
    AllocateOptions,
    check_fraction,
    check_positive,
    require,
)

__all__ = [
    "ALLOCATE_DEFAULTS",
    "ESTIMATORS",
    "FACTOR_CHOICES",
    "MAX_CAPITAL",
    "NEEDS_HISTORY",
    "OBJECTIVES",
    "AllocateOptions",
    "check_fraction",
    "check_positive",
    "require",
]
