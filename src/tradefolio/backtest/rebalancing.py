"""`PolicyRebalance`: a rebalancing policy trading a backtest account, bar by bar.

An event-driven strategy (`on_bar`): at the close of every rebalance bar (the schedule of
`execution.schedule`, once the policy has its history window) it asks
`AllocationPolicy.decide` for the model's answer on

- the closes up to and including that bar (a `PriceHistory` view of the rows up to it,
  converted from the panel once per run: nothing later),
- the account's current positions (shares) and cash, as the ledger holds them,

and asks for a `Rebalance` to exactly the target shares the solver proved (the allocation
model, `AllocationPolicy`), or to the decision's weights sized on the equity at the fill
bar (the seed's score model, `ScorePolicy`: `sized_at_fill`); the planner sells first, then
buys, at the next bar's reference price (buys cut to the cash, as every buy is). A
rebalance the solver could not answer keeps the positions (`hold`) or ends the run
(`stop`, `RebalanceFailed`); every decision is kept in `decisions` for the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.execution.events import BarContext
from tradefolio.execution.schedule import rebalance_bars
from tradefolio.execution.strategy import minimum_buy

if TYPE_CHECKING:  # the allocation model is imported only by the runs that use it
    from tradefolio.portfolio.policy import RebalanceDecision, RebalancePolicy


class PolicyRebalance:
    """Ask the policy at each rebalance bar and trade to its targets."""

    def __init__(
        self, policy: RebalancePolicy, closes: pd.DataFrame, rebalance: str | int = "monthly"
    ) -> None:
        from tradefolio.portfolio.history import PriceHistory  # loaded with the policy

        self.policy = policy
        # One array for the run: each decision reads a view of the rows up to its bar.
        self._history = PriceHistory.of(closes)
        self._schedule: npt.NDArray[np.bool_] = rebalance_bars(
            pd.DatetimeIndex(closes.index), rebalance
        )
        #: (decision bar, decision) of every rebalance, in order (one object per run).
        self.decisions: list[tuple[int, RebalanceDecision]] = []

    @property
    def name(self) -> str:
        """`portfolio`."""
        return "portfolio"

    @property
    def warmup(self) -> int:
        """The policy's history window (scores and risk)."""
        return self.policy.window

    def acting_bars(self, bars: int) -> npt.NDArray[np.bool_]:
        """The bars at whose close `on_bar` can act (of a run of `bars` bars of the panel it
        was made with): the schedule's rebalance bars from the policy's first full window
        on. At every other bar `on_bar` returns at once, reading nothing of the context, so
        the engine does not call it there (`engine._acting_bars`)."""
        acting = self._schedule[:bars].copy()
        acting[: max(self.policy.window - 1, 0)] = False
        return acting

    def on_bar(self, context: BarContext) -> None:
        """At a rebalance bar: the model's targets for the account as it stands."""
        from tradefolio.portfolio.policy import whole_targets  # loaded with the policy

        bar = context.bar
        if not self._schedule[bar] or bar + 1 < self.policy.window:
            return
        history = self._history.up_to(bar)
        holdings = {symbol: position.quantity for symbol, position in context.positions.items()}
        decision = self.policy.decide(history, holdings, context.cash)
        self.decisions.append((bar, decision))
        if decision.failed:
            return  # hold: keep the positions (the decision says why)
        if decision.sized_at_fill:
            context.rebalance(dict(decision.weights))
            return
        targets = whole_targets(decision, holdings, self.policy.options.min_trade)
        context.rebalance(dict(decision.weights), targets, minimum_buy(self.policy))


__all__ = ["PolicyRebalance"]
