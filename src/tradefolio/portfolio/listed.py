"""What the user receives, checked: the listed target shares and trades against every rule.

The solver proves its optimum on weights; the user trades shares. `ListedTrades` holds the
quantities actually listed (per candidate the held and target shares, every trade including
the forced sells outside the universe, and the costs of those trades), and every constraint
that acts on trades re-checks itself on them (`Constraint.listed_violations`):

    turnover   sum_t |dollars_t| / V                   <= max_turnover
    costs      sum_t (bps/1e4 |dollars_t| + fixed)      <= cost budget
    min trade  |dollars_t| >= min trade, unless t sells the whole position
    invested   sum_i target_i p_i / V                  in [min_invested, max_invested]
    cash       V - sum_i target_i p_i - costs          >= 0

A broken check is never listed silently: `PortfolioModel.solve` raises `SolverError`.
`LISTED_TOLERANCE` is the solvers' own feasibility tolerance (1e-6 of the account value,
a cent on $10,000): with whole shares the listed quantities are exact functions of the
solver's integer lots, which meet each row to that tolerance; with fractional shares each
trade is also rounded to 1e-6 shares towards more cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.context import Universe
from tradefolio.portfolio.holdings import Trade

#: A listed quantity may miss a limit by at most this fraction of the account value.
LISTED_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class ListedTrades:
    """Target shares per candidate (universe order), every trade, and their costs;
    `targets` maps each symbol held in the target to its shares."""

    universe: Universe
    target_shares: NDArray[np.float64]
    trades: tuple[Trade, ...]
    costs: float
    targets: Mapping[str, float]

    @property
    def value(self) -> float:
        """Account value V."""
        return self.universe.value

    @property
    def tolerance(self) -> float:
        """`LISTED_TOLERANCE` in dollars."""
        return LISTED_TOLERANCE * self.value

    @property
    def turnover(self) -> float:
        """Traded value over V (both sides, forced sells included)."""
        return float(sum(abs(t.dollars) for t in self.trades) / self.value)

    @property
    def invested(self) -> float:
        """Value of the target positions over V."""
        return float(self.target_shares @ self.universe.prices / self.value)

    @property
    def cash(self) -> float:
        """Dollars left after the target positions and the costs."""
        return float(self.value - self.target_shares @ self.universe.prices - self.costs)

    def is_full_sale(self, trade: Trade) -> bool:
        """Whether `trade` sells everything held of its symbol."""
        return trade.shares < 0 and self.targets.get(trade.symbol, 0.0) == 0.0


__all__ = ["LISTED_TOLERANCE", "ListedTrades"]
