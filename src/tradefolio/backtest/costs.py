"""The backtest's trading costs: `tradefolio.execution.costs.CostModel`, re-exported.

One cost model serves the backtest, the paper broker and the sizers (see that module for
the formulas, the sell-side cap and the rounding rule); this name is kept for callers that
import it from the backtest.
"""

from __future__ import annotations

from tradefolio.execution.costs import NO_COSTS, CostModel

__all__ = ["NO_COSTS", "CostModel"]
