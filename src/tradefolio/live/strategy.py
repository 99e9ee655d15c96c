"""What the live trader asks each bar: "given the closes so far, which orders do you intend?".

Strategies are the shared ones (`tradefolio.execution.strategy.Strategy`: closes in,
`Enter`/`Exit`/`Rebalance` intents out, the protocol the backtest runs too). The trader
itself reads an `IntentSource`: per bar, order-level `Intent`s that name the action and,
when it is not the trader's own, the sizer. Two adapters turn a strategy into one:

- `PlannedStrategy`: a replay. The strategy's plan is causal (row t uses rows 0..t only, a
  property the strategy tests check), so it is computed once over the whole file and the
  trader reads the intents of the bar its history ends on.
- `RollingStrategy`: a polled session (or any feed whose history is not a prefix of a known
  file). The plan is computed on each bar's history and its last row is the decision.

Translation of one bar's intents: `Exit` -> EXIT; `Enter` -> ENTER with the sizing policy's
sizer for that bar (the trader's own when there is no policy); `Rebalance(weights)` ->
TARGET of every symbol with `rebalance_sizer(weights)`, exactly as the backtest engine
trades it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import pandas as pd

from tradefolio.execution.sizing import PositionSizer
from tradefolio.execution.sizing_policy import SizingPolicy
from tradefolio.execution.strategy import (
    Enter,
    Exit,
    Rebalance,
    SignalPlan,
    Strategy,
    rebalance_sizer,
)


class Action(StrEnum):
    """Enter (only when flat), exit (sell everything) or trade to the sizer's target."""

    ENTER = "enter"
    EXIT = "exit"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class Intent:
    """One thing the trader is asked to do on the next bar."""

    symbol: str
    action: Action
    #: The sizer for this intent when it is not the trader's own (a rebalance's target
    #: weights, a beta sizer built for the decision bar).
    sizer: PositionSizer | None = None
    #: A TARGET's rebalance weights (the trader plans one `Rebalance` of them; without
    #: them the symbol is traded to `sizer`'s target alone).
    weights: Mapping[str, float] | None = None


@runtime_checkable
class IntentSource(Protocol):
    """Order-level intents decided from closes up to and including the last row."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """Intents for the bar after `history`'s last row, in the file's column order."""
        ...


class PlannedStrategy:
    """A strategy's plan over a replayed file, read bar by bar (see the module docstring).

    `sizing` gives the entry sizer of each decision bar; without it entries use the
    trader's own sizer.
    """

    def __init__(
        self, plan: SignalPlan, symbols: Sequence[str], sizing: SizingPolicy | None = None
    ) -> None:
        self._plan = plan
        self._symbols = list(symbols)
        self._sizing = sizing

    @classmethod
    def over(
        cls, strategy: Strategy, closes: pd.DataFrame, sizing: SizingPolicy | None = None
    ) -> PlannedStrategy:
        """`strategy` planned once over the whole of `closes` (the replayed file)."""
        return cls(strategy.plan(closes), [str(c) for c in closes.columns], sizing)

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """The intents of the plan's bar `len(history) - 1` (history is the file's prefix)."""
        bar = len(history) - 1
        if bar < 0:
            return []
        result: list[Intent] = []
        for intent in self._plan.intents_at(bar, self._symbols):
            if isinstance(intent, Exit):
                result.append(Intent(intent.symbol, Action.EXIT))
            elif isinstance(intent, Enter):
                sizer = None if self._sizing is None else self._sizing.sizer_at(bar)
                result.append(Intent(intent.symbol, Action.ENTER, sizer))
            elif isinstance(intent, Rebalance):
                target = rebalance_sizer(intent.weights)
                weights = intent.weights
                result.extend(Intent(s, Action.TARGET, target, weights) for s in self._symbols)
        return result


class RollingStrategy:
    """A strategy planned on each bar's history window; the last row is the decision.

    The strategies' plans are causal, so this is the decision a replay would take on the
    same closes. `symbols` selects (and orders) the columns planned (default: all);
    `sizing(closes)` gives the window's sizing policy (default: the trader's own sizer).
    """

    def __init__(
        self,
        strategy: Strategy,
        symbols: Sequence[str] | None = None,
        sizing: Callable[[pd.DataFrame], SizingPolicy] | None = None,
    ) -> None:
        self._strategy = strategy
        self._symbols = None if symbols is None else list(symbols)
        self._sizing = sizing

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """`PlannedStrategy`'s intents at the last row of a plan over `history`."""
        if history.empty:
            return []
        closes = history if self._symbols is None else history[self._symbols]
        sizing = None if self._sizing is None else self._sizing(closes)
        return PlannedStrategy.over(self._strategy, closes, sizing).intents(closes)


__all__ = ["Action", "Intent", "IntentSource", "PlannedStrategy", "RollingStrategy"]
