"""`PolicyRun`: a rebalancing strategy (`PolicyRebalance`) as one backtest run uses it.

Two rules of a run, not of the policy, live here:

- `--on-solver-failure stop`: the policy decides as under `hold`, so a rebalance the
  solver could not answer is a decision like any other (date, status, the solver's
  reason, the positions kept) and is kept in `decisions` — the run's rebalances.csv row
  the user reads — and then the run stops with `RebalanceFailed` (the engine keeps the
  run up to that bar). The decision is recorded first, the stop raised after it: raised
  by the policy itself, it left no decision behind.
- `first_decision` (a walk-forward test window): the rebalance bars before it are
  indicator warm-up, never asked, so the run starts flat there with the policy's window
  of history behind it (as `research.tasks.TradingFrom` does for a plan strategy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tradefolio.errors import RebalanceFailed
from tradefolio.execution.events import BarContext
from tradefolio.execution.strategy import stop_message

if TYPE_CHECKING:
    from tradefolio.backtest.rebalancing import PolicyRebalance
    from tradefolio.portfolio.policy import RebalanceDecision


class PolicyRun:
    """`inner` (deciding with a `hold` policy) with the run's stop and first decision bar."""

    def __init__(self, inner: PolicyRebalance, *, stop: bool, first_decision: int = 0) -> None:
        self.inner = inner
        self.stop = stop
        self.first_decision = first_decision

    @property
    def name(self) -> str:
        """The inner strategy's name (`portfolio`)."""
        return self.inner.name

    @property
    def warmup(self) -> int:
        """The policy's history window."""
        return self.inner.warmup

    @property
    def decisions(self) -> list[tuple[int, RebalanceDecision]]:
        """(decision bar, decision) of every rebalance asked, the stopping one included."""
        return self.inner.decisions

    def acting_bars(self, bars: int) -> npt.NDArray[np.bool_]:
        """The inner strategy's acting bars from `first_decision` on (before it `on_bar`
        returns at once)."""
        acting = self.inner.acting_bars(bars).copy()
        acting[: max(self.first_decision, 0)] = False
        return acting

    def on_bar(self, context: BarContext) -> None:
        """The inner strategy's bar from `first_decision` on; `RebalanceFailed` after a
        failed decision is recorded when the run stops on failure."""
        if context.bar < self.first_decision:
            return
        asked = len(self.inner.decisions)
        self.inner.on_bar(context)
        if self.stop and len(self.inner.decisions) > asked:
            _, decision = self.inner.decisions[-1]
            if decision.failed:
                raise RebalanceFailed(stop_message(decision))


__all__ = ["PolicyRun", "stop_message"]
