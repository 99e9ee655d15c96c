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

- `EventSource`: an event-driven strategy (`execution.events.EventStrategy`, `on_bar`)
  over a replayed panel: the trader hands it its book (cash, positions with entry prices,
  open orders) and it answers with the `BarContext` of the decision bar (intents, and the
  strategy's own orders, cancels and replacements), exactly as the backtest calls it.
  `RollingEventSource` is the same on a polled feed's history window. Both catch a
  (re)started strategy up on the bars it has not seen with the book the journal recorded
  at each (`PastBook`), never with today's book.

`PolicySource` runs a rebalancing policy (`portfolio.policy.AllocationPolicy`, the whole
allocation model; `ScorePolicy`, the seed's score model) at each rebalance bar on the
account as the journal holds it (positions and cash), so turnover caps, costs, minimum
trades and whole shares act on the session's real trades: the same decision the
backtest's `PolicyRebalance` takes on the same account, traded the same way.

Translation of one bar's intents: `Exit` -> EXIT; `Enter` -> ENTER with the sizing policy's
sizer for that bar (the trader's own when there is no policy); `Rebalance(weights)` ->
TARGET of every symbol with `rebalance_sizer(weights)`, exactly as the backtest engine
trades it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.errors import RebalanceFailed, StrategyError
from tradefolio.execution.events import (
    BarContext,
    EventStrategy,
    Position,
    strategy_error,
    warmup_of,
)
from tradefolio.execution.orders import Order
from tradefolio.execution.schedule import rebalance_bars
from tradefolio.execution.sizing import PositionSizer
from tradefolio.execution.sizing_policy import SizingPolicy
from tradefolio.execution.strategy import (
    Enter,
    Exit,
    Rebalance,
    SignalPlan,
    Strategy,
    TargetShares,
    minimum_buy,
    rebalance_target_sizer,
    stop_message,
)
from tradefolio.portfolio.policy import RebalanceDecision, RebalancePolicy, whole_targets


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
    #: An ENTER's limit price (a DAY limit buy, sized at the limit), as `Enter`'s.
    limit_price: float | None = None


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
                target = rebalance_target_sizer(intent)
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


#: The account a policy decides for: (shares by symbol, cash), read when it decides.
Account = Callable[[], tuple[Mapping[str, Decimal], Decimal]]
#: Where a policy's decisions go as they are taken (with the symbols it decided over): the
#: session's journal (`live.rebalance_log`), so a run folder lists every rebalance.
DecisionLog = Callable[[RebalanceDecision, Sequence[str]], None]


class PolicySource:
    """A rebalancing policy as the trader's intent source (see the module docstring).

    At a rebalance bar of `rebalance` (decided from the history's dates: causal) with the
    policy's window of history, `account()` gives the holdings and cash; the model's target
    shares become a TARGET intent for every column of the history (a held name without a
    target sizes to 0: sold); a `sized_at_fill` decision's weights become the TARGET
    intents of one `Rebalance(weights)`, as `PlannedStrategy` trades a plan's. A rebalance
    the solver could not answer asks for nothing (hold). `decisions` keeps every decision
    of this run, `log` (when given) receives each as it is taken.

    `stop` (`--on-solver-failure stop`): `policy` decides as under `hold`, so a failed
    rebalance is a decision like any other, logged like any other (the row of the
    session's rebalances.csv), and only then is `RebalanceFailed` raised, before any
    intent of the bar: the trader halts on it (`LiveTrader.run`). A policy that raises
    itself leaves no decision behind, so give this one a `hold` policy, as the backtest's
    `PolicyRun` is given.
    """

    def __init__(
        self,
        policy: RebalancePolicy,
        account: Account,
        rebalance: str | int = "monthly",
        log: DecisionLog | None = None,
        *,
        stop: bool = False,
    ) -> None:
        self.policy = policy
        self._account = account
        self._rebalance = rebalance
        self._log = log
        self.stop = stop
        self.decisions: list[RebalanceDecision] = []

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """TARGET intents to the model's shares at a rebalance bar, else none."""
        if len(history) < self.policy.window:
            return []
        if not rebalance_bars(pd.DatetimeIndex(history.index), self._rebalance)[-1]:
            return []
        shares, cash = self._account()
        holdings = {s: float(q) for s, q in shares.items() if q}
        decision = self.policy.decide(history, holdings, float(cash))
        self.decisions.append(decision)
        if self._log is not None:
            self._log(decision, [str(s) for s in history.columns])
        if decision.failed:
            if self.stop:  # recorded above, then the session stops
                raise RebalanceFailed(stop_message(decision))
            return []
        if decision.sized_at_fill:  # weights of equity, as the backtest trades them
            rebalance = Rebalance(dict(decision.weights))
            target = rebalance_target_sizer(rebalance)
            return [
                Intent(str(s), Action.TARGET, target, rebalance.weights) for s in history.columns
            ]
        targets = whole_targets(decision, holdings, self.policy.options.min_trade)
        sizer = TargetShares(targets, minimum_buy(self.policy))
        return [Intent(str(s), Action.TARGET, sizer) for s in history.columns]


@dataclass(frozen=True, slots=True)
class Book:
    """What the trader knows at a decision: cash, positions (units and average entry
    price) and its open orders, as the strategy sees them."""

    cash: float
    positions: Mapping[str, Position]
    open_orders: tuple[Order, ...]


#: The books of past bars (their closes, as the journal recorded them), in the order of
#: the bars asked: what an event-driven strategy is shown for the bars it catches up on
#: after a (re)start.
PastBook = Callable[[Sequence[date]], list[Book]]


@runtime_checkable
class EventDecider(Protocol):
    """An event-driven strategy as the trader calls it: once per bar, on the history before
    the bar, with the trader's book now and the journal's book of any past bar."""

    def decide(self, history: pd.DataFrame, book: Book, past: PastBook) -> BarContext | None:
        """The strategy's context at the close of `history`'s last row (None before its
        warm-up)."""
        ...


def _on_bar(
    strategy: EventStrategy,
    bar: int,
    day: date,
    columns: tuple[list[str], Mapping[str, int]],
    fields: Mapping[str, np.ndarray],
    marks: np.ndarray,
    book: Book,
) -> BarContext:
    """`strategy.on_bar` at the close of row `bar` of `fields`, with `book`; a raising
    strategy is one `StrategyError` naming the bar, the symbol and its own traceback."""
    symbols, column_of = columns
    held = sum(
        p.quantity * float(marks[bar, column_of[s]])
        for s, p in book.positions.items()
        if s in column_of
    )
    context = BarContext(
        bar=bar,
        day=day,
        symbols=symbols,
        column_of=column_of,
        fields=fields,
        cash=book.cash,
        equity=book.cash + held,
        positions=lambda: book.positions,
        open_orders=lambda: book.open_orders,
    )
    try:
        strategy.on_bar(context)
    except Exception as exc:  # the user's code: report where, with its traceback
        raise strategy_error(strategy.name, exc, bar, day, context.last_symbol) from exc
    return context


def _marks(closes: np.ndarray) -> np.ndarray:
    """Each symbol's last close up to each row (0 before its first): what a position is
    worth at a bar where the symbol has no price."""
    filled: np.ndarray = pd.DataFrame(closes).ffill().to_numpy(dtype=np.float64)
    result: np.ndarray = np.nan_to_num(filled, nan=0.0)
    return result


class EventSource:
    """An event-driven strategy over a replayed panel (see the module docstring).

    `decide(history, book, past)` calls `on_bar` at the close of the history's last row
    (from the strategy's warm-up on) and returns its context (None before the warm-up).
    The first call of a session that starts (or resumes) after the warm-up first calls
    `on_bar` on every earlier row, its actions discarded, each with that bar's book as the
    journal recorded it (`past`: cash, positions with entry prices, open orders; before
    the session, its starting cash), so the strategy's own state (an indicator kept bar by
    bar, a count of stop-outs) is rebuilt from the prices and the session's own record.
    """

    def __init__(self, strategy: EventStrategy, panel: PricePanel) -> None:
        self.strategy = strategy
        self.symbols = panel.symbols
        self._column_of = {s: j for j, s in enumerate(self.symbols)}
        self._days = list(panel.dates.date)
        self._fields: dict[str, np.ndarray] = {
            name: panel.field(name).to_numpy(dtype=np.float64, na_value=np.nan)
            for name in ("open", "high", "low", "close")
        }
        volume = panel.volume
        self._fields["volume"] = (
            np.full(panel.close.shape, np.nan)
            if volume is None
            else volume.to_numpy(dtype=np.float64, na_value=np.nan)
        )
        self._marks = _marks(self._fields["close"])
        self._first = warmup_of(strategy) - 1
        self._next = self._first

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """An event-driven strategy answers `decide`, not `intents`."""
        raise StrategyError(f"strategy {self.strategy.name} is event-driven: use decide()")

    def decide(self, history: pd.DataFrame, book: Book, past: PastBook) -> BarContext | None:
        """The strategy's context at the close of the replay's row `len(history) - 1`."""
        bar = len(history) - 1
        if bar < self._first:
            return None
        earlier = range(self._next, bar)
        books = past([self._days[row] for row in earlier]) if earlier else []
        for row, shown in zip(earlier, books, strict=True):
            self._call(row, shown)  # catching up: the actions of past bars are not sent
        self._next = bar + 1
        return self._call(bar, book)

    def _call(self, bar: int, book: Book) -> BarContext:
        columns = (self.symbols, self._column_of)
        day = self._days[bar]
        return _on_bar(self.strategy, bar, day, columns, self._fields, self._marks, book)


class RollingEventSource:
    """An event-driven strategy on a polled feed (`--feed broker`): each bar brings the
    window of daily closes before it (open = high = low = close, no volume: the feed
    carries closes), in `symbols` order.

    The strategy instance lives for the session and sees one growing history: the first
    window, then each new session's row appended (a later window's closes replace the
    rows it shares with it, e.g. prices adjusted for a split), so `context.bar` counts the
    rows since the session's first window, as a replay counts the file's. Each bar,
    `on_bar` is called on the rows it has not seen yet, the last one as the decision, the
    earlier ones (the first window, the rows of a restart) to catch up, with the book the
    journal recorded at each (`past`), as `EventSource` does: a restarted strategy
    rebuilds its state from the last `--history-sessions` sessions.
    """

    def __init__(self, strategy: EventStrategy, symbols: Sequence[str]) -> None:
        self.strategy = strategy
        self.symbols = list(symbols)
        self._column_of = {s: j for j, s in enumerate(self.symbols)}
        self._first = warmup_of(strategy) - 1
        self._days: list[date] = []
        self._rows: list[np.ndarray] = []
        self._next = self._first

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """An event-driven strategy answers `decide`, not `intents`."""
        raise StrategyError(f"strategy {self.strategy.name} is event-driven: use decide()")

    def decide(self, history: pd.DataFrame, book: Book, past: PastBook) -> BarContext | None:
        """The strategy's context at the close of the window's last row."""
        closes = history.reindex(columns=self.symbols).to_numpy(dtype=np.float64)
        row_of = {day: i for i, day in enumerate(self._days)}
        for stamp, values in zip(history.index, closes, strict=True):
            day = pd.Timestamp(stamp).date()
            if day in row_of:
                self._rows[row_of[day]] = values
            elif not self._days or day > self._days[-1]:
                self._days.append(day)
                self._rows.append(values)
        last = len(self._days) - 1
        if last < self._first:
            return None
        panel = np.vstack(self._rows)
        fields = {name: panel for name in ("open", "high", "low", "close")}
        fields["volume"] = np.full(panel.shape, np.nan)
        marks = _marks(panel)
        columns = (self.symbols, self._column_of)
        days = self._days
        earlier = range(self._next, last)
        books = past([days[row] for row in earlier]) if earlier else []
        for row, shown in zip(earlier, books, strict=True):
            _on_bar(self.strategy, row, days[row], columns, fields, marks, shown)
        self._next = last + 1
        return _on_bar(self.strategy, last, days[last], columns, fields, marks, book)


__all__ = [
    "Account",
    "Action",
    "Book",
    "DecisionLog",
    "EventDecider",
    "EventSource",
    "Intent",
    "IntentSource",
    "PastBook",
    "PlannedStrategy",
    "PolicySource",
    "RollingEventSource",
    "RollingStrategy",
]
