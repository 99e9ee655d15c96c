"""What the user receives, checked: the listed target shares and trades against every rule.

The solver proves its optimum on weights; the user trades shares. `ListedTrades` holds the
quantities actually listed (per candidate the held and target shares, every trade including
the forced sells outside the universe, and the costs of those trades), and every constraint
that acts on trades re-checks itself on them (`Constraint.listed_violations`):

    turnover   sum_t |dollars_t| / V                   <= max_turnover
    costs      sum_t (bps/1e4 |dollars_t| + fixed)      <= cost budget
    min trade  |dollars_t| >= min trade, unless t sells the whole position
    invested   sum_i target_i p_i / V                  in [min_invested, max_invested]
    cash       V - sum_i target_i p_i - costs          >= -CASH_ROUND_OFF (a cent)
    names      #{i : target_i > 0}                     <= max_positions

A broken check is never listed silently: `PortfolioModel.solve` raises `SolverError`.
Cash is checked in money: the trades never spend more than there is, beyond the cent of
round-off in summing millions of shares times prices (`overspent`). The other rows allow
`LISTED_TOLERANCE`, the solvers' own feasibility tolerance (1e-6 of the account value,
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
#: Dollars the listed targets and costs may exceed the account by: round-off only (the
#: sums of share counts in the millions times prices), never a solver's tolerance, which
#: is $1,000 on a $1B account at 1e-6.
CASH_ROUND_OFF = 0.01


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

    @property
    def positions(self) -> int:
        """Names held in the target: those with listed shares > 0 (a 1-share position is
        a name, whatever the solver's selection variable said)."""
        return sum(1 for shares in self.targets.values() if shares > 0)

    def overspent(self) -> list[str]:
        """How the targets and costs spend more than the account, in money (a cent of
        round-off, `CASH_ROUND_OFF`); empty when they fit."""
        if self.cash >= -CASH_ROUND_OFF:
            return []
        return [f"the targets and costs spend {-self.cash:,.2f} more than the account"]

    def is_full_sale(self, trade: Trade) -> bool:
        """Whether `trade` sells everything held of its symbol."""
        return trade.shares < 0 and self.targets.get(trade.symbol, 0.0) == 0.0


__all__ = ["CASH_ROUND_OFF", "LISTED_TOLERANCE", "ListedTrades"]
