"""`LiveTrader`: strategy → sizer → risk engine → journal → broker, one bar at a time.

Per bar (crash-only: every step is either durable or recomputed identically):

1. Mark the market (the paper broker fills at these prices) and bring every open order up
   to the broker's execution report.
2. Read the trading state (the CLI may have flipped it); trip HALTED on the daily-loss limit.
3. Plan: unless the journal already holds this bar's plan (a crash mid-bar), ask the
   strategy for intents on the history before the bar, size them with the injected
   `PositionSizer` from the state at the bar's start — equity = cash + holdings at this
   bar's prices, fixed for the bar; positions are the *working* exposure (filled plus the
   unfilled part of open orders, `tradefolio.live.exposure`) and the cash open buys may
   still spend is reserved; no second order on a symbol with an open one in the same
   direction, no sell beyond what is held — exits first, then entries in the file's column
   order, an entry never costing more than the cash left — pass each order through the
   risk engine, and journal the whole plan in one transaction *before* sending anything.
4. Execute (`_execute`): the orders of a resumed plan are looked up first; the plan's
   unresolved orders are submitted once each, with their deterministic client order ids,
   inside one `broker.batch()`, each only if the trading state read at that moment allows
   it (a halt journaled after the plan denies it); then every outcome is recorded in one
   journal transaction.
   A timeout/5xx leaves an order UNKNOWN (resolved by lookup, never resent blindly); a
   duplicate-id answer is resolved by lookup. Execution reports are applied to the journal
   as cumulative fills (idempotent).
5. Snapshot positions and account and mark the bar processed, in one transaction.

Protective exits (`_protect`) are journaled as soon as an entry has a fill and follow a
growing partial fill; the exits of one OCO group reach a venue with native groups
(`NativeGroups`: Alpaca) as one order, which a restart re-learns (`track`) before it
reconciles.

A restart reconciles with the broker (`reconcile`) and continues after the last processed
bar, re-executing (not re-planning) a bar whose plan was journaled.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradefolio.errors import (
    BrokerError,
    InvalidParameter,
    NotNative,
    RebalanceFailed,
    StrategyError,
)
from tradefolio.execution.events import BarContext, Position
from tradefolio.execution.money import from_micro, to_micro
from tradefolio.execution.orders import NO_EXITS, Order, OrderType, ProtectiveExits
from tradefolio.execution.planner import BarState, plan_bar
from tradefolio.execution.planner import PlannedOrder as ExecutionPlanned
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.execution.strategy import CutsBuys, Enter, Exit, Rebalance, rebalance_sizer
from tradefolio.execution.strategy import Intent as PlanIntent
from tradefolio.live.broker import (
    Broker,
    DuplicateClientOrderId,
    NativeGroups,
    OrderRejected,
    SubmitOutcomeUnknown,
    SubmitRefused,
)
from tradefolio.live.exposure import WorkingExposure
from tradefolio.live.feed import Bar, Range
from tradefolio.live.journal import (
    BROKER_HOLDS_ID,
    FOLLOW_UP_EXIT,
    NOT_FOUND,
    PROTECTED_ROLES,
    Journal,
    LedgerPosition,
    PlannedIntent,
    PlannedOrder,
    utc_now,
)
from tradefolio.live.orders import (
    TERMINAL_STATUSES,
    UNRESOLVED_STATUSES,
    BrokerOrder,
    JournalOrder,
    OrderRequest,
    OrderStatus,
    Side,
    client_order_id,
)
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.reconcile import ReconciliationReport, certainly_absent, reconcile
from tradefolio.live.risk import RiskEngine, TradingState, state_refusal
from tradefolio.live.strategy import Action, Book, EventDecider, Intent, IntentSource

#: Called with the name of each crash-relevant point; tests make the process kill itself.
Checkpoint = Callable[[str], None]


class MarketSink(Protocol):
    """A simulated market (the paper broker): it sees each bar's prices before orders are
    sent (`mark`) and, where it matches resting orders (`RangeSink`), the bar's range once
    they are in."""

    def mark(self, day: date, prices: Mapping[str, Decimal]) -> None: ...


@runtime_checkable
class RangeSink(Protocol):
    """A simulated market that matches resting orders on each bar's range (`PaperBroker`)."""

    def match_bar(self, day: date, ranges: Mapping[str, Range]) -> None: ...


def _no_checkpoint(name: str) -> None:
    return None


_ZERO = Decimal(0)
#: The source journaled with the HALTED state of a `--on-solver-failure stop`: the
#: allocation policy could not solve a rebalance (`LiveTrader.run`; a restart refuses to
#: trade on until `live resume`, `LiveSession.run`).
POLICY_STOP = "policy"
#: The reason journaled with an enter intent that did nothing (held, or a buy working).
HELD = "held or buying: nothing to do"
#: A strategy's order id used as it is in the client order id (else a digest of it).
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,96}")


class _SymbolSizer:
    """The sizer of each entry: an intent's own (a beta sizer of its decision bar) where it
    has one, else the trader's."""

    def __init__(self, by_symbol: Mapping[str, PositionSizer], default: PositionSizer) -> None:
        self._by_symbol = by_symbol
        self._default = default

    def size(self, request: SizingRequest) -> Quantity:
        """The symbol's sizer, asked."""
        return self._by_symbol.get(request.symbol, self._default).size(request)

    def cut_buy(self, symbol: str, wanted: int, affordable: int, price: float) -> int:
        """The symbol's sizer's rule for a buy cut to the cash (`CutsBuys`), if it has one
        (a policy's `TargetShares`: whole lots, the minimum trade), else `affordable`."""
        sizer = self._by_symbol.get(symbol, self._default)
        if isinstance(sizer, CutsBuys):
            return sizer.cut_buy(symbol, wanted, affordable, price)
        return affordable


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a submit left for the journal to record: a status to set first (UNKNOWN or
    REJECTED, with `detail`), then the broker's report to apply, either or both."""

    client_order_id: str
    report: BrokerOrder | None = None
    status: OrderStatus | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BarResult:
    """What one processed bar did."""

    day: date
    orders: int
    denied: int
    state: TradingState


#: Roles of the session's own protective exits (`ProtectiveExits`), resized with the fill.
SESSION_EXIT_ROLES = ("stop", "take", "trail")


_RESIZED_CHILD = re.compile(r"-r(\d+)-(.+)")


def _resized_child(order: JournalOrder) -> int | None:
    """The generation number of a strategy's bracket child resized to a partial fill
    (`<entry id>-r<n>-<suffix>`), None for any other order."""
    parent = order.parent_id
    if parent is None or not order.client_order_id.startswith(parent):
        return None
    match = _RESIZED_CHILD.fullmatch(order.client_order_id.removeprefix(parent))
    return None if match is None else int(match.group(1))


def _copy_suffix(child: JournalOrder, entry_id: str, index: int) -> str:
    """The id suffix of the resized copies of a strategy's bracket child, the `index`-th of
    its entry's children: its own suffix after `<entry id>-` when that is a plain id,
    else `c<index>`."""
    suffix = child.client_order_id.removeprefix(f"{entry_id}-")
    if suffix == child.client_order_id or not _PLAIN_ID.fullmatch(suffix):
        return f"c{index}"
    return suffix


def _original_id(
    order: JournalOrder, children_of: Callable[[str], Sequence[JournalOrder]]
) -> str | None:
    """The client id of the strategy's bracket child that `order` resizes (a cancel of
    that id cancels it), found among its entry's children (`children_of`, read only for a
    resized copy); None for any other order."""
    parent = order.parent_id
    if _resized_child(order) is None or parent is None:
        return None
    match = _RESIZED_CHILD.fullmatch(order.client_order_id.removeprefix(parent))
    suffix = "" if match is None else match.group(2)
    originals = [c for c in children_of(parent) if _resized_child(c) is None]
    for index, child in enumerate(originals):
        if _copy_suffix(child, parent, index) == suffix:
            return child.client_order_id
    return None


def generation_of(order: JournalOrder) -> str:
    """The generation of a protective exit: its id without the role (`<entry id>` for the
    first, `<entry id>-r<n>` for the exits of a later, larger fill). A strategy's own
    bracket children, whatever their ids, are their entry's first generation."""
    if order.role not in SESSION_EXIT_ROLES and order.parent_id:
        number = _resized_child(order)
        return order.parent_id if number is None else f"{order.parent_id}-r{number}"
    return order.client_order_id.rsplit("-", 1)[0]


def exit_generations(children: Sequence[JournalOrder]) -> dict[str, list[JournalOrder]]:
    """An entry's protective exits by generation, oldest first (`children` in journal
    order)."""
    generations: dict[str, list[JournalOrder]] = {}
    for child in children:
        generations.setdefault(generation_of(child), []).append(child)
    return generations


class LiveTrader:
    """Runs one strategy and one sizer against one broker, recording everything in a journal."""

    def __init__(
        self,
        *,
        journal: Journal,
        broker: Broker,
        strategy: IntentSource,
        sizer: PositionSizer,
        risk: RiskEngine | None = None,
        costs: CostModel | None = None,
        market: MarketSink | None = None,
        exits: ProtectiveExits = NO_EXITS,
        checkpoint: Checkpoint = _no_checkpoint,
        submit_attempts: int = 3,
        retry_wait: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
        sell_proceeds_fund_buys: bool | None = None,
        cancel_wait: float = 5.0,
    ) -> None:
        run_id = journal.run_id
        if run_id is None:
            raise InvalidParameter("the journal has no session; call Journal.initialise first")
        self.run_id = run_id
        self.journal = journal
        self.broker = broker
        self.strategy = strategy
        self.sizer = sizer
        self.risk = risk or RiskEngine()
        self.costs = costs or CostModel()
        self.market = market
        #: The exits every entry gets once it has filled (`--stop-loss`, `--take-profit`,
        #: `--trailing-stop`; the risk sizer's stop unless `--no-stop`).
        self.exits = exits
        self._checkpoint = checkpoint
        if submit_attempts < 1:
            raise InvalidParameter(f"submit_attempts must be >= 1, got {submit_attempts}")
        self.submit_attempts = submit_attempts
        self.retry_wait = retry_wait
        if cancel_wait < 0:
            raise InvalidParameter(f"cancel_wait must be >= 0 seconds, got {cancel_wait}")
        #: How long a cancel may take at the broker before the trader moves on (seconds).
        self.cancel_wait = cancel_wait
        #: Seconds spent this bar waiting for cancels (`cancel_wait` bounds the bar's sum).
        self._cancel_waited = 0.0
        #: Superseded exits inherited unsent whose resend the venue refused (`_fence`): they
        #: stay UNKNOWN, but no longer hold back their successors (`_retire_superseded`).
        self._fence_refused: set[str] = set()
        self._sleep = sleep
        #: Told (one line) about every order the broker refused, whose outcome stayed
        #: unknown, or that the trading state stopped at send time.
        self._notify = notify or _no_checkpoint
        #: Whether a bar's buys may spend the proceeds of the same bar's sells before they
        #: fill. The paper broker fills them at the bar's price, as the backtest does (and
        #: its equality with the backtest needs it); a remote venue may refuse a sell or not
        #: fill it, so there a sell's proceeds fund nothing until it has filled.
        if sell_proceeds_fund_buys is None:
            sell_proceeds_fund_buys = isinstance(broker, PaperBroker)
        self.sell_proceeds_fund_buys = sell_proceeds_fund_buys
        self._marks: dict[str, Decimal] = dict(journal.last_marks())
        self._risk_restored = False
        #: Symbols the strategy exited whose book may not be flat yet (an open buy being
        #: cancelled): a pure function of the journal, restored from its intents.
        self._exiting: set[str] = journal.exiting_symbols()
        #: Entries with a fill whose protective exits may be missing or smaller than the
        #: fill (a partially filled entry is protected as it fills); at start every such
        #: entry the journal holds, a pure function of it (`_entries_to_protect`).
        self._to_protect: list[str] = []
        #: Entries whose exits were replaced for a larger fill while the older exits may
        #: still be open: those are cancelled before the new ones are sent.
        self._resized: set[str] = set()
        #: Protective exits PENDING_SUBMIT when this process started: an earlier process
        #: may have sent them (its answer lost, processed late), so a lookup that misses
        #: one does not prove it unsent (`_withdraw`). One leaves the set once this
        #: process has sent it and recorded the outcome.
        self._inherited: set[str] = {
            o.client_order_id
            for o in journal.live_orders()
            if o.is_protective and o.status is OrderStatus.PENDING_SUBMIT
        }
        #: Entries still working whose protective exit filled: the rest is not bought.
        self._stopped: set[str] = set()
        #: Whether entries get exits that follow their fills: the session's, or an event-
        #: driven strategy's own bracket children (resized to a partial fill).
        self._follows_fills = exits.any or isinstance(strategy, EventDecider)
        if self._follows_fills:
            self._to_protect, self._resized = self._entries_to_protect()
        #: OCO groups with a fill whose peers the trader cancels (the venue may have).
        self._oco_filled: set[str] = set()
        #: OCO groups a native-group venue has no form for: their exits go one by one.
        self._managed: set[str] = set()
        #: Whether the operator was told that this broker's OCO groups are the trader's.
        self._managed_noted = False
        #: The bar being processed (the bar fills are recorded on).
        self._day: date | None = None

    # -- start -----------------------------------------------------------------------------

    def resume_point(self) -> tuple[date | None, date | None]:
        """(last processed bar, bar with a journaled but unfinished plan)."""
        return self.journal.last_done_bar(), self.journal.open_plan_bar()

    def reconcile(
        self, *, adopt: bool = False, cash_tolerance: Decimal = Decimal(0)
    ) -> ReconciliationReport:
        """Startup reconciliation (see `tradefolio.live.reconcile`). Fills it records (an
        entry that filled while the trader was down) are protected like any other: the
        entries to protect are worked out again from the reconciled journal."""
        report = reconcile(
            self.journal,
            self.broker,
            resume_bar=self.journal.open_plan_bar(),
            adopt=adopt,
            cash_tolerance=cash_tolerance,
        )
        if self._follows_fills:
            self._to_protect, self._resized = self._entries_to_protect()
        return report

    def run(
        self,
        bars: Iterable[Bar],
        *,
        stop: Callable[[], bool] | None = None,
        commit_every: float | None = None,
        on_bar: Callable[[BarResult], None] | None = None,
    ) -> int:
        """Process `bars` (already filtered to those after the last processed one); returns
        how many were processed. `on_bar` is told each processed bar.

        `commit_every` (seconds) groups whole bars into one durable commit each, closed
        after the bar that ends at or past that many seconds — only for a broker whose
        state lives in the journal's own transaction (the paper broker): a crash then
        loses whole bars of journal *and* venue together, and the restart replays them
        identically. A remote broker needs every plan durable before its orders are sent,
        so it must run without (None: every step its own commit, as documented above).
        """
        iterator = iter(bars)
        count = 0
        while True:
            group = (
                self.journal.transaction() if commit_every is not None else contextlib.nullcontext()
            )
            started = time.monotonic()
            failure: StrategyError | RebalanceFailed | None = None
            with group:
                while True:
                    if stop is not None and stop():
                        return count
                    bar = next(iterator, None)
                    if bar is None:
                        return count
                    try:
                        result = self.process_bar(bar)
                    except StrategyError as exc:
                        # The strategy raised before its bar's plan: the bars before it (and
                        # this bar's marking, as after a crash) are kept, then it is reported.
                        failure = exc
                        break
                    except RebalanceFailed as exc:
                        # `--on-solver-failure stop`: the policy recorded its failed
                        # decision, then asked to stop before the bar's plan. Kept as a
                        # strategy error is, and HALTED in the same commit: no order is
                        # planned or sent after it, and a restart says why (`halted_by`).
                        self.journal.set_trading_state(
                            TradingState.HALTED.value, str(exc), POLICY_STOP
                        )
                        failure = exc
                        break
                    count += 1
                    if on_bar is not None:
                        on_bar(result)
                    if commit_every is None or time.monotonic() - started >= commit_every:
                        break
            if failure is not None:
                raise failure

    # -- one bar ---------------------------------------------------------------------------

    def process_bar(self, bar: Bar) -> BarResult:
        """Steps 1-5 of the module docstring for one bar."""
        self._day = bar.day
        self._cancel_waited = 0.0
        previous_marks = dict(self._marks)
        self._marks.update(bar.prices)
        if self.market is not None:
            self.market.mark(bar.day, bar.prices)
        self._sync_open_orders(exclude_bar=bar.day)
        self._protect(bar.day)
        self._close_stale_plan(bar.day, previous_marks)
        state = self._trading_state(bar.day)
        planned = self.journal.orders_for_bar(bar.day)
        resumed = self.journal.open_plan_bar() == bar.day
        if not resumed:
            planned = self._plan(bar, state, previous_marks)
        self._checkpoint("after_plan")
        denied = sum(1 for o in planned if o.status is OrderStatus.DENIED)
        unresolved = [o for o in planned if o.status in UNRESOLVED_STATUSES and not o.is_protective]
        self._execute(unresolved, lookup_first=resumed)
        self._protect(bar.day)
        if isinstance(self.market, RangeSink):
            # The bar's range, once its market orders are in: the resting orders (stops,
            # limits, trailing stops) are matched, and what filled is recorded at once.
            self.market.match_bar(bar.day, {s: bar.range_of(s) for s in bar.prices})
            self._checkpoint("after_match")
            self._sync_open_orders(resting_only=True)
            self._protect(bar.day)
        cash = self.journal.cash()
        positions = self.journal.positions()
        equity = cash + sum(
            (p.quantity * self._marks.get(s, p.avg_price) for s, p in positions.items()),
            Decimal(0),
        )
        self.journal.finish_bar(bar.day, cash, equity, self._marks)
        self._checkpoint("after_bar")
        return BarResult(bar.day, len(planned) - denied, denied, state)

    def _close_stale_plan(self, day: date, marks: Mapping[str, Decimal]) -> None:
        """Finish a bar whose plan was journaled but which the feed has moved past (a polled
        session restarted on a later session). Its orders were just brought up to the
        broker's state; those the broker never saw were closed, never sent late. It is
        finished with `marks`, the prices from before the new bar: those the journal keeps
        as the price band's references, which must not become the new bar's own prices
        (a crash before the new bar's plan would then let its gap through)."""
        while (stale := self.journal.open_plan_bar()) is not None and stale < day:
            cash = self.journal.cash()
            positions = self.journal.positions()
            equity = cash + sum(
                (p.quantity * marks.get(s, p.avg_price) for s, p in positions.items()),
                Decimal(0),
            )
            self.journal.finish_bar(stale, cash, equity, dict(marks))

    def _sync_open_orders(
        self, exclude_bar: date | None = None, *, resting_only: bool = False
    ) -> None:
        """Bring the journal's open orders (but `exclude_bar`'s) up to the broker: lookups
        first, then everything they found recorded in one journal transaction.
        `resting_only`: only the acknowledged orders, what a bar's range can have filled
        (resting ones, and market ones at a venue that fills them in its bar match)."""
        reports: list[BrokerOrder] = []
        never_sent: list[str] = []
        for order in self.journal.live_orders():
            if order.bar == exclude_bar:
                continue
            if resting_only and order.status in UNRESOLVED_STATUSES:
                continue
            try:
                remote = self.broker.get_order(order.client_order_id)
            except SubmitOutcomeUnknown:
                continue  # try again on the next bar
            if remote is not None:
                reports.append(remote)
            elif (
                order.status in UNRESOLVED_STATUSES
                and not order.is_protective  # a protective exit is sent, never given up
                and certainly_absent(self.journal, self.broker, order)
            ):
                # A market order of an earlier bar that the broker certainly never saw is
                # not sent late. One it may still act on stays open (and counts as working
                # exposure) until a lookup finds it or the broker is certain.
                never_sent.append(order.client_order_id)
        if not reports and not never_sent:
            return
        with self.journal.transaction():
            for report in reports:
                self._apply(report)
            for cid in never_sent:
                self.journal.set_status(cid, OrderStatus.CANCELED, "never reached the broker")

    def _trading_state(self, day: date) -> TradingState:
        state = TradingState(self.journal.trading_state()[0])
        start_equity = self.journal.last_equity()
        if state is not TradingState.HALTED and start_equity is not None:
            positions = self.journal.positions()
            equity = self.journal.cash() + sum(
                (p.quantity * self._marks.get(s, p.avg_price) for s, p in positions.items()),
                Decimal(0),
            )
            if self.risk.daily_loss_breached(start_equity, equity):
                reason = f"daily loss limit: equity {equity:.2f} from {start_equity:.2f} on {day}"
                self.journal.set_trading_state(TradingState.HALTED.value, reason, "risk")
                state = TradingState.HALTED
        return state

    def start_risk_day(self, day: date) -> None:
        """Count the day's notional and the last minute's orders from the journal the first
        time this trader plans (a restart resumes them; never from zero). Later days start
        from the engine's own counts: the journal holds no order of a day this trader has
        not planned yet, and the minute's orders are the ones the engine allowed itself
        (reading them back each day made a bar's cost grow with the last minute's orders)."""
        if self.risk.day == day:
            return
        if self._risk_restored:
            self.risk.start_day(day)
            return
        self._risk_restored = True
        now = utc_now()
        notional, times = self.journal.risk_usage(day, now - timedelta(seconds=60))
        ages = [(now - at).total_seconds() for at in times]
        self.risk.restore(day, notional, ages)

    def _plan(
        self, bar: Bar, state: TradingState, previous_marks: Mapping[str, Decimal]
    ) -> list[JournalOrder]:
        """Plan the bar through `execution.planner.plan_bar` (the backtest's own planner) on
        the working exposure (`tradefolio.live.exposure`): filled positions, the signed
        remainder of every open order that is not a protective exit, and the cash open buys
        may still spend reserved. Each planned order passes the risk engine as it is
        planned (`admit`: a denied order moves neither cash nor position); the whole plan
        is journaled in one transaction before anything is sent."""
        self.start_risk_day(bar.day)
        own: BarContext | None = None
        if isinstance(self.strategy, EventDecider):
            own = (
                self.strategy.decide(bar.history, self._book(), self._past_books)
                if len(bar.history)
                else None
            )
            intents = [] if own is None else self._event_intents(own, bar)
        else:
            intents = self.strategy.intents(bar.history) if len(bar.history) else []
        acted = {i.symbol for i in intents if i.symbol in bar.prices}
        for intent in intents:
            if intent.symbol in acted:
                if intent.action is Action.EXIT:
                    self._exiting.add(intent.symbol)
                else:
                    self._exiting.discard(intent.symbol)
        self._cancel_for_exits(self._exiting)
        if own is not None:
            _, _, cancels, replacements = own.actions()
            wanted_ids = {self._own_id(c) for c in [*cancels, *(old for old, _ in replacements)]}
            self._cancel_and_record(
                [
                    o
                    for o in self.journal.live_orders()
                    if o.client_order_id in wanted_ids
                    or _original_id(o, self.journal.children_of) in wanted_ids
                ],
                "the strategy",
            )
        cash = self.journal.cash()
        filled = {s: p.quantity for s, p in self.journal.positions().items()}
        live = self.journal.live_orders()
        exposure = WorkingExposure.of(filled, live)
        protected = WorkingExposure.of({}, [o for o in live if o.is_protective])
        equity = cash + sum(
            (q * self._marks.get(s, Decimal(0)) for s, q in filled.items()), Decimal(0)
        )
        planned_intents: list[PlannedIntent] = []
        wanted: list[PlanIntent] = []
        sizers: dict[str, PositionSizer] = {}
        targets: dict[int, PositionSizer] = {}
        alone: dict[str, PositionSizer] = {}
        for intent in intents:
            symbol = intent.symbol
            if symbol not in bar.prices:
                continue
            position = exposure.position(symbol) + protected.open_sell.get(symbol, _ZERO)
            if intent.action is Action.EXIT:
                planned_intents.append(PlannedIntent(symbol, intent.action.value, _ZERO))
                if not exposure.has_open(symbol, Side.SELL):
                    wanted.append(Exit(symbol))  # (with legs still open: the follow-up)
            elif intent.action is Action.ENTER:
                if position != 0 or exposure.has_open(symbol, Side.BUY):
                    # An enter while holding (or buying) does nothing; journaled all the
                    # same, so a restart resumes this bar's (empty) plan rather than plan
                    # it again on a book a resting order may have changed since.
                    planned_intents.append(
                        PlannedIntent(symbol, intent.action.value, position, HELD)
                    )
                    continue
                planned_intents.append(PlannedIntent(symbol, intent.action.value, position))
                wanted.append(Enter(symbol, intent.limit_price))
                if intent.sizer is not None:
                    sizers[symbol] = intent.sizer
            else:
                planned_intents.append(PlannedIntent(symbol, intent.action.value, position))
                if intent.weights is None:
                    # The sizer's target of this symbol alone (a rebalance of the symbols
                    # so targeted, traded in their own universe: nothing else is sold).
                    alone[symbol] = intent.sizer or self.sizer
                elif id(intent.weights) not in targets:
                    wanted.append(Rebalance(intent.weights))
                    targets[id(intent.weights)] = intent.sizer or rebalance_sizer(intent.weights)
        for symbol in sorted(self._exiting - acted):
            # An exit whose open orders were cancelled only now (after more fills): sell what
            # is left once nothing is working on the symbol, once.
            working = exposure.has_open(symbol, Side.BUY) or exposure.has_open(symbol, Side.SELL)
            if symbol not in bar.prices or working:
                continue
            self._exiting.discard(symbol)
            if exposure.sellable(symbol) > 0:
                wanted.append(Exit(symbol))
                planned_intents.append(
                    PlannedIntent(symbol, Action.EXIT.value, _ZERO, FOLLOW_UP_EXIT)
                )
        universe = [str(c) for c in bar.history.columns] or list(bar.prices)
        if alone:
            if targets:
                raise InvalidParameter("TARGET intents with and without weights on one bar")
            weights = {s: 1.0 for s in alone}
            wanted.append(Rebalance(weights))
            targets[id(weights)] = _SymbolSizer(alone, self.sizer)
            universe = [s for s in universe if s in alone]
        orders: list[PlannedOrder] = []
        if wanted:
            orders = self._planned_orders(
                bar, state, previous_marks, wanted, sizers, targets, universe,
                (cash, filled, live, equity),
            )  # fmt: skip
        if own is not None:
            orders.extend(self._strategy_orders(own, bar, state, previous_marks, equity))
        if not orders and not planned_intents:
            return []  # nothing to journal before finish_bar
        self.journal.write_plan(bar.day, planned_intents, orders)
        return self.journal.orders_for_bar(bar.day)

    # -- event-driven strategies -------------------------------------------------------------

    def _own_id(self, strategy_id: str) -> str:
        """The client order id of a strategy's own order: the session's prefix and the
        strategy's id when it is short and plain (readable at the venue), else a digest."""
        if _PLAIN_ID.fullmatch(strategy_id):
            return f"tf-{self.run_id[:8]}-{strategy_id}"
        digest = hashlib.sha256(f"{self.run_id}|{strategy_id}".encode()).hexdigest()[:20]
        return f"tf-{self.run_id[:8]}-x{digest}"

    def _shown_id(self, client_order_id: str) -> str:
        prefix = f"tf-{self.run_id[:8]}-"
        return client_order_id.removeprefix(prefix)

    def _book(self) -> Book:
        """The journal's book as an event-driven strategy sees it."""
        positions = {s: (p.quantity, p.avg_price) for s, p in self.journal.positions().items()}
        return self._book_of(self.journal.cash(), positions, self.journal.live_orders())

    def _past_books(self, days: Sequence[date]) -> list[Book]:
        """The book at the close of each of `days` as the journal recorded it
        (`Journal.books_at`): what a restarted event-driven strategy is shown for the bars
        it catches up on."""
        return [self._book_of(*book) for book in self.journal.books_at(days)]

    def _book_of(
        self,
        cash: Decimal,
        positions: Mapping[str, tuple[Decimal, Decimal]],
        orders: Sequence[JournalOrder],
    ) -> Book:
        """A book in the strategy's terms: whole units, float prices, its own order ids."""
        held = {
            s: Position(int(quantity), float(price))
            for s, (quantity, price) in positions.items()
            if quantity > 0
        }
        open_orders: list[Order] = []
        for order in orders:
            quantity = int(order.quantity)
            if quantity <= 0:
                continue
            parent = None if order.parent_id is None else self._shown_id(order.parent_id)
            group = None if order.oco_group is None else self._shown_id(order.oco_group)
            terms = {**order.terms(), "parent_id": parent, "oco_group": group}
            open_orders.append(
                Order(
                    self._shown_id(order.client_order_id), order.symbol, order.side.value,
                    quantity, **terms,
                )
            )  # fmt: skip
        return Book(float(cash), held, tuple(open_orders))

    def _event_intents(self, context: BarContext, bar: Bar) -> list[Intent]:
        """A context's intents as the trader's (a rebalance: every symbol's target)."""
        intents: list[Intent] = []
        universe = [str(c) for c in bar.history.columns]
        for intent in context.actions()[0]:
            if isinstance(intent, Exit):
                intents.append(Intent(intent.symbol, Action.EXIT))
            elif isinstance(intent, Enter):
                intents.append(Intent(intent.symbol, Action.ENTER, limit_price=intent.limit_price))
            elif isinstance(intent, Rebalance):
                target = rebalance_sizer(intent.weights)
                intents.extend(Intent(s, Action.TARGET, target, intent.weights) for s in universe)
        return intents

    def _strategy_orders(
        self,
        context: BarContext,
        bar: Bar,
        state: TradingState,
        previous_marks: Mapping[str, Decimal],
        equity: Decimal,
    ) -> list[PlannedOrder]:
        """The strategy's own orders (and replacements), journaled with the plan: checked by
        the risk engine at the bar's price; a bracket child waits (pending) for its entry's
        fill, then is sent like a protective exit."""
        _, orders, _, replacements = context.actions()
        planned: list[PlannedOrder] = []
        seen: set[str] = set()
        filled = {s: p.quantity for s, p in self.journal.positions().items()}
        for order in [*orders, *(new for _, new in replacements)]:
            cid = self._own_id(order.client_order_id)
            if cid in seen or self.journal.order(cid) is not None:
                raise StrategyError(
                    f"strategy submitted client_order_id {order.client_order_id!r} twice "
                    f"(bar {bar.day}); every order needs a new id"
                )
            seen.add(cid)
            request = OrderRequest.from_order(order)
            terms = {
                **request.terms(),
                "parent_id": None if order.parent_id is None else self._own_id(order.parent_id),
                "oco_group": None if order.oco_group is None else self._own_id(order.oco_group),
            }
            role = "child" if order.parent_id is not None else "strategy"
            price = bar.prices.get(order.symbol)
            if price is None:
                reason = f"no price for {order.symbol} on {bar.day}"
                planned.append(
                    PlannedOrder(
                        cid, order.symbol, request.side, request.quantity, OrderStatus.DENIED,
                        reason, role=role, **terms,
                    )
                )  # fmt: skip
                continue
            decision = self.risk.check(
                state=state,
                symbol=order.symbol,
                side=request.side,
                quantity=request.quantity,
                price=price,
                reference_price=previous_marks.get(order.symbol),
                position=filled.get(order.symbol, _ZERO),
                equity=equity,
            )
            status = OrderStatus.PENDING_SUBMIT if decision.allowed else OrderStatus.DENIED
            planned.append(
                PlannedOrder(
                    cid, order.symbol, request.side, request.quantity, status, decision.reason,
                    request.quantity * price, role=role, **terms,
                )
            )  # fmt: skip
        return planned

    def _planned_orders(
        self,
        bar: Bar,
        state: TradingState,
        previous_marks: Mapping[str, Decimal],
        wanted: Sequence[PlanIntent],
        sizers: Mapping[str, PositionSizer],
        targets: Mapping[int, PositionSizer],
        universe: Sequence[str],
        book: tuple[Decimal, Mapping[str, Decimal], Sequence[JournalOrder], Decimal],
    ) -> list[PlannedOrder]:
        """`plan_bar` on the journal's state (`book`: cash, filled positions, open orders,
        equity), each order risk-checked as it is planned."""
        cash, filled, live, equity = book
        # Signed working units of the open orders that are not protective exits: the open
        # buys where there are any (an exit still sells the filled units), else the sells.
        open_orders = WorkingExposure.of({}, [o for o in live if not o.is_protective])
        working = {s: -int(q) for s, q in open_orders.open_sell.items() if q > 0}
        working.update({s: int(q) for s, q in open_orders.open_buy.items() if q > 0})
        bar_state = BarState(
            prices={s: to_micro(p) for s, p in bar.prices.items()},
            holdings={s: int(q) for s, q in filled.items() if q > 0},
            cash_micro=to_micro(cash - self._reserved_cash(live)),
            equity_micro=to_micro(equity),
            universe=universe,
            working=working,
            sell_proceeds_fund_buys=self.sell_proceeds_fund_buys,
        )
        held = {s: q for s, q in filled.items()}
        for symbol, units in working.items():
            held[symbol] = held.get(symbol, _ZERO) + units
        orders: list[PlannedOrder] = []

        def admit(planned: ExecutionPlanned) -> bool:
            side = Side(planned.side)
            quantity = Decimal(planned.quantity)
            symbol = planned.symbol
            price = bar.prices[symbol]
            decision = self.risk.check(
                state=state,
                symbol=symbol,
                side=side,
                quantity=quantity,
                price=price,
                reference_price=previous_marks.get(symbol),
                position=held.get(symbol, _ZERO),
                equity=equity,
            )
            cid = client_order_id(self.run_id, bar.day, symbol, side)
            terms: dict[str, object] = {}
            if planned.limit_micro:
                terms = {"type": OrderType.LIMIT, "limit_price": from_micro(planned.limit_micro)}
            status = OrderStatus.PENDING_SUBMIT if decision.allowed else OrderStatus.DENIED
            orders.append(
                PlannedOrder(
                    cid, symbol, side, quantity, status, decision.reason, quantity * price,
                    role=planned.reason, **terms,  # type: ignore[arg-type]
                )
            )  # fmt: skip
            if decision.allowed:
                held[symbol] = held.get(symbol, _ZERO) + side.sign * quantity
            return decision.allowed

        def rebalance_factory(weights: Mapping[str, float]) -> PositionSizer:
            return targets.get(id(weights)) or rebalance_sizer(weights)

        plan_bar(
            wanted,
            bar_state,
            _SymbolSizer(sizers, self.sizer),
            self.costs.model,
            rebalance_factory,
            admit,
        )
        return orders

    def _cancel_for_exits(self, symbols: set[str]) -> None:
        """Cancel-then-submit for an exit: request cancellation of every open order of
        `symbols` (of an earlier bar) but its market sells — open buys, protective exits and
        a strategy's own resting orders, as the backtest's exit cancels the symbol's working
        orders — and record what the broker then reports, so the exit's sell is sized on
        the filled position. A cancel the broker has not confirmed yet leaves the order
        open (working exposure); the exit's remainder is sold once it is (`_plan`'s
        follow-up). A failed request is told and tried again next bar."""
        if not symbols:
            return
        self._cancel_and_record(
            [
                order
                for order in self.journal.live_orders()
                if order.symbol in symbols
                and not (order.side is Side.SELL and order.type is OrderType.MARKET)
            ],
            "an exit",
        )

    def _cancel_and_record(self, orders: Sequence[JournalOrder], why: str) -> None:
        """Request cancellation of `orders`, wait (bounded, `_settle_cancels`) for the
        broker to carry the cancels out, and record what it then reports (fills included:
        an order may fill while its cancel is pending)."""
        reports: dict[str, BrokerOrder] = {}
        for order in orders:
            try:
                self.broker.cancel(order.client_order_id)
                report = self.broker.get_order(order.client_order_id)
            except BrokerError as exc:
                self._notify(f"cancel of {order.client_order_id} for {why} failed: {exc}")
                continue
            if report is not None:
                reports[order.client_order_id] = report
        if reports:
            self._checkpoint("after_cancel_request")
        self._settle_cancels(reports, why)
        if reports:
            with self.journal.transaction():
                for report in reports.values():
                    self._apply(report)

    def _settle_cancels(self, reports: dict[str, BrokerOrder], why: str) -> None:
        """Poll every order of `reports` whose cancel is not final yet (a remote venue
        cancels asynchronously: Alpaca's ``pending_cancel``, still open and still holding
        its shares) until it is, for at most `cancel_wait` seconds in all (waits of 0.05 s
        doubling to 1 s), updating `reports` in place. What replaces a cancelled exit is
        sent only once the cancel is final (the venue refuses a sell over shares a pending
        one holds), so this bounds the time a resized position's new shares ride without
        exits, instead of deferring them to the next bar. A cancel still pending at the
        bound is told to the operator and settled on the next call. The bound is per bar:
        every call of one bar shares it, so many resized names cannot stall the loop."""
        budget = max(0.0, self.cancel_wait - self._cancel_waited)
        waited, pause = 0.0, 0.05
        while True:
            pending = [c for c, r in reports.items() if r.status not in TERMINAL_STATUSES]
            if not pending or waited >= budget:
                break
            pause = min(pause, budget - waited)
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, 1.0)
            for cid in pending:
                try:
                    report = self.broker.get_order(cid)
                except BrokerError:
                    continue  # asked again on the next poll
                if report is not None:
                    reports[cid] = report
        self._cancel_waited += waited
        if pending:
            self._notify(
                f"cancel for {why} not carried out by the broker after {waited:.1f} s: "
                f"{', '.join(pending)} (still open; settled on the next step)"
            )

    def _reserved_cash(self, live: Sequence[JournalOrder]) -> Decimal:
        """What the open buys may still spend: their unfilled units at their limit (or
        stop) price, else at the current mark with slippage, commission included (as the
        backtest reserves a working buy's cash)."""
        reserved = Decimal(0)
        for order in live:
            if order.side is not Side.BUY or order.status in TERMINAL_STATUSES:
                continue
            remaining = order.quantity - order.filled_quantity
            if remaining <= 0:
                continue
            level = order.limit_price or order.stop_price
            if level is not None:
                fill_price = level
            else:
                mark = self._marks.get(order.symbol, Decimal(0))
                fill_price = self.costs.fill_price(mark, Side.BUY)
            notional = fill_price * remaining
            reserved += notional + self.costs.commission(remaining, notional)
        return reserved

    # -- protective exits ------------------------------------------------------------------

    def _entries_to_protect(self) -> tuple[list[str], set[str]]:
        """At start, from the journal alone: (entries whose exits may be missing or smaller
        than their fill, entries with superseded exits still open). One pass over the
        finished entries without exits and the open orders."""
        entries = [o.client_order_id for o in self.journal.unprotected_entries()]
        resized: set[str] = set()
        for order in self.journal.live_orders():
            if order.side is Side.BUY and order.role in PROTECTED_ROLES and order.filled_quantity:
                entries.append(order.client_order_id)  # partially filled: protect as it fills
            elif order.parent_id is not None:
                entry = self.journal.order(order.parent_id)
                if entry is not None and entry.filled_quantity != order.quantity:
                    entries.append(entry.client_order_id)  # its fill grew past its exits
                generations = exit_generations(self.journal.children_of(order.parent_id))
                if generation_of(order) != next(reversed(generations)):
                    resized.add(order.parent_id)
        return list(dict.fromkeys(entries)), resized

    def _protect(self, day: date) -> None:
        """Protective exits, journaled before they are sent and sent exactly once.

        For every entry with a new fill since the last call (or, at start, every entry the
        journal holds with exits missing or smaller than its fill): the session's
        `ProtectiveExits` for the quantity filled so far (and held), priced from its
        average fill — a *generation* of exits, one OCO group, deterministic ids
        (`<entry id>-stop|take|trail`; for the n-th, after more fills, `<entry id>-r<n>-…`).
        A partially filled entry is protected as it fills: each larger fill journals the
        next generation, the older one is cancelled (`_retire_superseded`) and only then
        is the new one sent (a venue holding shares for open sells refuses it before). An
        exit that sold while the entry still works stops the entry (its unfilled rest is
        cancelled: a stopped-out trade is not bought further), and the shares it bought
        meanwhile get exits of their own. Then every protective exit not yet at the broker
        is looked up and sent (`_execute`: an OCO group as one native order where the
        venue has them); and the peers of every OCO group with a fill are cancelled."""
        if self._oco_filled:
            groups, self._oco_filled = self._oco_filled, set()
            peers = [
                o
                for o in self.journal.live_orders()
                if o.oco_group in groups and not o.filled_quantity
            ]
            self._cancel_and_record(peers, "one-cancels-other")
        for _ in range(3):  # a cancel's report may show a fill that asks for new exits
            self._journal_generations(day)
            if self._resized:
                self._retire_superseded()
            if not self._to_protect:
                break
        if self._stopped:
            stopped, self._stopped = self._stopped, set()
            working = [o for o in self.journal.live_orders() if o.client_order_id in stopped]
            self._cancel_and_record(working, "its protective exit filled")
        pending: list[JournalOrder] = []
        orphans: list[str] = []
        sold: list[JournalOrder] = []
        for order in self.journal.live_orders():
            if not order.is_protective or order.status not in UNRESOLVED_STATUSES:
                continue
            if order.parent_id in self._resized:
                continue  # sent once the exits it replaces are closed
            entry = self.journal.order(order.parent_id or "")
            if (
                entry is not None
                and order.role in SESSION_EXIT_ROLES
                and (
                    order.symbol in self._exiting
                    or self.journal.sold_after(order.symbol, entry.seq)
                )
            ):
                sold.append(order)  # journaled, then its position was sold: never sent
                continue
            follows = order.role in SESSION_EXIT_ROLES or _resized_child(order)
            if entry is not None and not (entry.filled_quantity and follows):
                if entry.status not in TERMINAL_STATUSES:
                    continue  # a bracket child: sent once its entry has filled
                if not entry.filled_quantity:
                    orphans.append(order.client_order_id)  # its entry ended without a fill
                    continue
            pending.append(order)
        if sold:
            self._withdraw(sold, "its position is sold", fence=False)
        if orphans:
            with self.journal.transaction():
                for cid in orphans:
                    self.journal.set_status(cid, OrderStatus.CANCELED, "its entry did not fill")
        if pending:
            self._execute(pending, lookup_first=True)

    def _journal_generations(self, day: date) -> None:
        """Journal (one transaction, before anything is sent) the exits every queued entry
        needs now (`_next_generation`)."""
        if not self._to_protect:
            return
        entries, self._to_protect = list(dict.fromkeys(self._to_protect)), []
        children: list[PlannedOrder] = []
        positions = self.journal.positions()
        for cid in entries:
            entry = self.journal.order(cid)
            if entry is None or not entry.filled_quantity:
                continue
            generation = self._next_generation(entry, positions)
            children.extend(generation)
            if generation and generation[0].client_order_id != f"{cid}-{generation[0].role}":
                self._resized.add(cid)
        if children:
            self.journal.add_orders(day, children)
            self._checkpoint("after_protect_journal")

    def _next_generation(
        self, entry: JournalOrder, positions: Mapping[str, LedgerPosition]
    ) -> list[PlannedOrder]:
        """The exits `entry` needs now (empty: none). Its protected quantity is what it
        filled less what its exits sold, capped to the position held; the latest exits
        cover it when one of them is open for exactly that many units. Nothing for an entry
        being sold or one carrying the strategy's own bracket. Once an exit has sold any of
        it, the entry's unfilled rest is stopped (`_stopped`)."""
        cid = entry.client_order_id
        existing = self.journal.children_of(cid)
        own = [c for c in existing if c.role not in SESSION_EXIT_ROLES]
        if own:
            return self._next_own_generation(entry, own, positions)
        if entry.symbol in self._exiting or self.journal.sold_after(entry.symbol, entry.seq):
            return []  # being sold (an exit cancelled the entry): nothing to protect
        exited = sum((c.filled_quantity for c in existing), _ZERO)
        if exited and entry.status not in TERMINAL_STATUSES:
            self._stopped.add(cid)
        held = positions.get(entry.symbol)
        quantity = int(min(entry.filled_quantity - exited, held.quantity if held else _ZERO))
        if quantity <= 0:
            return []
        generations = exit_generations(existing)
        if generations:
            latest = [o for o in next(reversed(generations.values())) if o.status not in (
                OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.DENIED
            )]  # fmt: skip
        else:
            latest = []
        number = len(generations) + 1
        base = cid if number == 1 else f"{cid}-r{number}"
        fill_price = entry.fill_notional / entry.filled_quantity
        parent = Order(base, entry.symbol, "buy", max(1, int(entry.quantity)))
        # Covered only when every exit the session places is open for exactly the units
        # held: a partly filled take-profit whose stop was cancelled is not protection.
        covered = {o.role for o in latest if o.quantity - o.filled_quantity == quantity}
        needed = {
            child.client_order_id.rsplit("-", 1)[-1]
            for child in self.exits.orders_for(parent, quantity, fill_price)
        }
        if latest and needed <= covered:
            return []
        planned: list[PlannedOrder] = []
        for child in self.exits.orders_for(parent, quantity, fill_price):
            request = OrderRequest.from_order(child)
            terms = {**request.terms(), "parent_id": cid}
            role = child.client_order_id.rsplit("-", 1)[-1]
            planned.append(
                PlannedOrder(
                    request.client_order_id, request.symbol, request.side, request.quantity,
                    role=role, **terms,
                )
            )  # fmt: skip
        return planned

    def _next_own_generation(
        self,
        entry: JournalOrder,
        children: Sequence[JournalOrder],
        positions: Mapping[str, LedgerPosition],
    ) -> list[PlannedOrder]:
        """The strategy's own bracket children resized to the quantity `entry` protects now
        (its fill less what they sold, capped to the position), as the session's exits are
        (`_next_generation`). The children the strategy submitted are the first generation,
        sent as they are once the entry has filled exactly their quantity (a full fill:
        nothing changes); otherwise generation n copies them — same terms, the protected
        quantity, ids `<entry id>-r<n>-<suffix>`, their OCO group `<group>-r<n>` — and is
        sent as soon as the entry has a fill, the older generation withdrawn first."""
        cid = entry.client_order_id
        if self.journal.sold_after(entry.symbol, entry.seq):
            return []  # being sold: the exit cancels the children
        exited = sum((c.filled_quantity for c in children), _ZERO)
        if exited and entry.status not in TERMINAL_STATUSES:
            self._stopped.add(cid)
        held = positions.get(entry.symbol)
        quantity = min(entry.filled_quantity - exited, held.quantity if held else _ZERO)
        if quantity <= 0:
            return []
        originals = [c for c in children if _resized_child(c) is None]
        if any(c.quantity != entry.quantity for c in originals):
            return []  # children not of the entry's size: sent as given once it finished
        numbers = [n for c in children if (n := _resized_child(c)) is not None]
        latest = [c for c in children if numbers and _resized_child(c) == max(numbers)]
        latest = latest or originals
        if not any(c.filled_quantity for c in latest) and any(
            c.status in TERMINAL_STATUSES for c in latest
        ):
            return []  # the strategy (or the venue) withdrew one: left as it is
        working = [c for c in latest if c.status not in TERMINAL_STATUSES]
        if len(working) == len(originals) and all(
            c.quantity - c.filled_quantity == quantity for c in working
        ):
            return []  # the latest children cover exactly what is held
        number = max(numbers, default=1) + 1
        planned: list[PlannedOrder] = []
        for index, child in enumerate(originals):
            suffix = _copy_suffix(child, cid, index)
            group = None if child.oco_group is None else f"{child.oco_group}-r{number}"
            terms = {**child.terms(), "parent_id": cid, "oco_group": group}
            planned.append(
                PlannedOrder(
                    f"{cid}-r{number}-{suffix}", child.symbol, child.side, quantity,
                    role=child.role, **terms,
                )
            )  # fmt: skip
        return planned

    def _retire_superseded(self) -> None:
        """Close the older exits of every resized entry: an open one is cancelled (what the
        broker then reports is recorded: a fill there queues the entry again), one the
        broker never received is closed unsent; an entry is done once only its latest
        exits are open, which are then sent."""
        for cid in sorted(self._resized):
            generations = list(exit_generations(self.journal.children_of(cid)).values())
            older = [o for g in generations[:-1] for o in g if o.status not in TERMINAL_STATUSES]
            entry = self.journal.order(cid)
            for order in older:
                if (
                    entry is not None
                    and order.role not in SESSION_EXIT_ROLES
                    and _resized_child(order) is None
                    and entry.filled_quantity < order.quantity
                ):
                    # A strategy's bracket child is sent only for a fill of its own size:
                    # this one never was, by any process.
                    self._inherited.discard(order.client_order_id)
            self._withdraw(older, "the exits of a larger fill", fence=True)
        for cid in sorted(self._resized):
            generations = list(exit_generations(self.journal.children_of(cid)).values())
            # A refused resend (`_fence_refused`) stays UNKNOWN but waits no longer: the
            # successors cover every share held, so a late original finds none free and
            # is refused; one that did land is found by lookup and cancelled as older.
            if all(
                o.status in TERMINAL_STATUSES or o.client_order_id in self._fence_refused
                for g in generations[:-1]
                for o in g
            ):
                self._resized.discard(cid)

    def _withdraw(self, orders: Sequence[JournalOrder], why: str, *, fence: bool) -> None:
        """Take back protective exits that must not work any more: one the broker holds is
        cancelled (what it then reports is recorded), one it never received is closed
        unsent: a PENDING_SUBMIT one this process journaled (nothing sent it), an UNKNOWN
        one only once the broker is certain it never will (`certainly_absent`).

        A PENDING_SUBMIT exit inherited from an earlier process (`_inherited`) may have been
        sent by it, the answer lost and the request processed late: a missed lookup proves
        nothing. With `fence` (superseded exits, whose successors wait for them), it is
        sent again under its own client order id — the venue holds one order per id, so a
        late original is refused as a duplicate, or this one is answered by the original —
        and the order it now is at the broker is cancelled like any other (`_fence`).
        Without (exits of a sold position: sending one could sell what is not held), it
        waits for the broker's certainty like an UNKNOWN one."""
        to_cancel: list[JournalOrder] = []
        unsent: list[str] = []
        to_fence: list[JournalOrder] = []
        for order in orders:
            if order.status not in UNRESOLVED_STATUSES:
                to_cancel.append(order)
                continue
            found, observed = self._lookup([order])
            inherited = (
                order.status is OrderStatus.PENDING_SUBMIT
                and order.client_order_id in self._inherited
            )
            if found:
                to_cancel.append(order)  # it reached the broker: cancelled there
            elif not observed:
                continue  # asked again on the next step
            elif (order.status is OrderStatus.PENDING_SUBMIT and not inherited) or (
                certainly_absent(self.journal, self.broker, order)
            ):
                unsent.append(order.client_order_id)  # (the paper broker is certain at once)
            elif inherited and fence:
                to_fence.append(order)
        self._cancel_and_record(to_cancel, why)
        if unsent:
            with self.journal.transaction():
                for cid in unsent:
                    self.journal.set_status(cid, OrderStatus.CANCELED, f"{why}: never sent")
        if to_fence:
            self._fence(to_fence, why)

    def _fence(self, orders: Sequence[JournalOrder], why: str) -> None:
        """Send `orders` (inherited PENDING_SUBMIT exits a lookup did not find) once more
        under their own client order ids, then cancel what the broker holds of them: a
        request of the crashed process that lands late is then refused as a duplicate
        instead of becoming a live order the journal has closed. The older exits are
        withdrawn first (`_withdraw`), so the venue has the shares free for them. An
        outcome left unknown is settled like any other (lookup, `certainly_absent`)."""
        self._execute(orders, lookup_first=False)
        ids = {o.client_order_id for o in orders}
        placed = [
            o
            for o in self.journal.live_orders()
            if o.client_order_id in ids and o.status not in UNRESOLVED_STATUSES
        ]
        self._cancel_and_record(placed, why)

    def _execute(self, orders: Sequence[JournalOrder], *, lookup_first: bool) -> None:
        """Send a bar's unresolved orders, each exactly once, with three durable steps for
        the whole bar instead of three per order:

        1. Only for a resumed plan (its orders may have reached the broker before a crash):
           look each one up; record what the broker has, and put an UNKNOWN order it does
           not have back to PENDING_SUBMIT — one journal transaction. A lookup that fails
           leaves the order unresolved (not sent) rather than risk a second one.
        2. Submit the rest inside `broker.batch()` (the paper broker accepts them in one
           commit; a remote broker, one request each). Nothing is written to the journal
           here: every order is already journaled (the plan), which is the rule that keeps
           an order from reaching the broker unrecorded.
        3. Record every outcome — acknowledgement and fills, UNKNOWN, REJECTED — in one
           journal transaction. A crash before it commits loses no fill: the orders are
           still PENDING_SUBMIT in the journal, so the restart's reconciliation (and the
           resumed bar's step 1) looks each one up by client order id and records its
           cumulative execution once.

        The exits of one OCO group go together (`_units`): to a `NativeGroups` venue as one
        native order (`submit_group`, looked up with `track`), so the venue never sees two
        independent sells of the same shares; elsewhere one by one.
        """
        to_send: list[list[JournalOrder]] = []
        found: list[BrokerOrder] = []
        for unit in self._units(orders):
            if lookup_first:
                try:
                    existing = self._lookup_unit(unit)
                except SubmitOutcomeUnknown:
                    continue
                if existing is not None:
                    found.extend(existing)
                    continue
                if any(
                    o.status is OrderStatus.UNKNOWN
                    and not certainly_absent(self.journal, self.broker, o)
                    for o in unit
                ):
                    continue  # it may still be acted on: never replaced while unknown
            to_send.append(unit)
        back_to_pending = [o for u in to_send for o in u if o.status is OrderStatus.UNKNOWN]
        if found or back_to_pending:
            with self.journal.transaction():
                for report in found:
                    self._apply(report)
                for order in back_to_pending:
                    self.journal.set_status(
                        order.client_order_id, OrderStatus.PENDING_SUBMIT, "lookup: not at broker"
                    )
        if not to_send:
            return
        outcomes: list[_Outcome] = []
        filled = {s: p.quantity for s, p in self.journal.positions().items()}
        with self.broker.batch():
            for unit in to_send:
                self._checkpoint("before_submit")
                # The trading state at the moment of sending, not at planning: a halt
                # journaled after the plan (or while the trader was down) stops the order.
                # Inside the paper broker's batch no other process can commit a change.
                refusal = self._send_refusal(unit[0], filled)
                if refusal and unit[0].is_protective:
                    continue  # a protective exit waits (pending) until trading resumes
                if refusal:
                    outcomes.extend(
                        _Outcome(o.client_order_id, status=OrderStatus.DENIED, detail=refusal)
                        for o in unit
                    )
                elif len(unit) > 1:
                    outcomes.extend(self._submit_group(unit, filled))
                else:
                    outcomes.append(self._submit(unit[0], filled))
                self._checkpoint("in_submit_batch")
        self._checkpoint("after_submit")
        outcomes = [self._inherited_outcome(o) for o in outcomes]
        with self.journal.transaction():
            for outcome in outcomes:
                if outcome.status is not None:
                    self.journal.set_status(outcome.client_order_id, outcome.status, outcome.detail)
                if outcome.report is not None:
                    self._apply(outcome.report)
                self._checkpoint("in_record_batch")
        self._checkpoint("after_record")
        self._inherited.difference_update(o.client_order_id for o in outcomes)
        sent = {o.client_order_id: o for u in to_send for o in u}
        for outcome in outcomes:
            if outcome.status is not None and outcome.report is None:
                order = sent[outcome.client_order_id]
                self._notify(
                    f"order {order.client_order_id} ({order.side.value} {order.quantity} "
                    f"{order.symbol}, bar {order.bar}): {outcome.status.value}: {outcome.detail}"
                )

    def _inherited_outcome(self, outcome: _Outcome) -> _Outcome:
        """A definitive refusal of an exit an earlier process may have sent (`_inherited`)
        is no proof that its own request will not land late: the order stays UNKNOWN,
        settled by lookup or the broker's certainty (`certainly_absent`), never closed."""
        if outcome.status is not OrderStatus.REJECTED or outcome.report is not None:
            return outcome
        if outcome.client_order_id not in self._inherited:
            return outcome
        detail = f"{outcome.detail}; {NOT_FOUND} (an earlier process may have sent it)"
        self._fence_refused.add(outcome.client_order_id)
        return _Outcome(outcome.client_order_id, status=OrderStatus.UNKNOWN, detail=detail)

    def _units(self, orders: Sequence[JournalOrder]) -> list[list[JournalOrder]]:
        """`orders` as submit units: the protective exits of one OCO group together (for a
        venue with native groups), every other order alone; in the order given."""
        if not isinstance(self.broker, NativeGroups):
            grouped = any(o.is_protective and o.oco_group for o in orders)
            if grouped and not isinstance(self.broker, PaperBroker) and not self._managed_noted:
                self._managed_noted = True
                self._notify(
                    f"protective exits: {self.broker!r} places no native OCO groups; each "
                    "exit is a separate order and the trader cancels the others of its "
                    "group when one fills"
                )
            return [[o] for o in orders]
        units: list[list[JournalOrder]] = []
        by_group: dict[str, list[JournalOrder]] = {}
        for order in orders:
            if order.is_protective and order.oco_group and order.oco_group not in self._managed:
                if order.oco_group in by_group:
                    by_group[order.oco_group].append(order)
                    continue
                by_group[order.oco_group] = [order]
                units.append(by_group[order.oco_group])
            else:
                units.append([order])
        return units

    def _lookup_unit(self, unit: Sequence[JournalOrder]) -> list[BrokerOrder] | None:
        """What the broker holds of `unit` (None: nothing): a group by `track` (its legs
        are held at the venue under ids of its own), an order by its client id. Raises
        `SubmitOutcomeUnknown` when the broker did not answer."""
        head = unit[0]
        group = head.oco_group
        if isinstance(self.broker, NativeGroups) and head.is_protective and group is not None:
            # The whole group, as journaled: a leg alone is not found by its client id.
            children = self.journal.children_of(head.parent_id or "")
            members = [o for o in children if o.oco_group == group]
            if len(members) > 1 and group not in self._managed:
                try:
                    reports = self.broker.track([o.request() for o in members])
                except NotNative:
                    pass  # placed one by one (the trader's group): looked up one by one
                else:
                    wanted = {o.client_order_id for o in unit}
                    found = [r for r in reports or () if r.client_order_id in wanted]
                    return found or None
        each = [self.broker.get_order(o.client_order_id) for o in unit]
        return [r for r in each if r is not None] or None

    def _submit_group(
        self, unit: Sequence[JournalOrder], filled: Mapping[str, Decimal]
    ) -> list[_Outcome]:
        """Submit the exits of one OCO group as one native order (`_attempts`); a group
        without a native form (e.g. with a trailing stop) is sent one by one, the trader
        enforcing one-cancels-other, and the operator is told (a venue that holds shares
        for open sells may refuse the second exit)."""
        assert isinstance(self.broker, NativeGroups)
        broker = self.broker
        requests = [o.request() for o in unit]
        try:
            return self._attempts(unit, lambda: broker.submit_group(requests), filled)
        except NotNative as exc:
            group = str(unit[0].oco_group)
            self._managed.add(group)
            self._notify(
                f"OCO group {group} has no native form at {broker!r} ({exc.reason}): its "
                "exits are sent one by one and the trader cancels the others when one fills"
            )
            return [self._submit(order, filled) for order in unit]

    def _send_refusal(self, order: JournalOrder, filled: Mapping[str, Decimal]) -> str:
        """Why the journal's trading state (read now) forbids sending `order` ('' if not);
        REDUCING lets through only an order that shrinks the filled position."""
        state = TradingState(self.journal.trading_state()[0])
        position = filled.get(order.symbol, Decimal(0))
        refusal = state_refusal(state, order.symbol, order.side, order.quantity, position)
        return f"{refusal} at send time" if refusal else ""

    def _submit(self, order: JournalOrder, filled: Mapping[str, Decimal]) -> _Outcome:
        """Submit one order (`_attempts`) and say what the journal must record."""
        request = order.request()  # with its terms, as journaled
        try:
            return self._attempts([order], lambda: [self.broker.submit(request)], filled)[0]
        except NotNative as exc:
            detail = str(exc)[:200]
            return _Outcome(order.client_order_id, status=OrderStatus.REJECTED, detail=detail)

    def _attempts(
        self,
        unit: Sequence[JournalOrder],
        send: Callable[[], list[BrokerOrder]],
        filled: Mapping[str, Decimal],
    ) -> list[_Outcome]:
        """Send `unit` (one order, or one native group) once and say what the journal must
        record for each of its orders (nothing is written here: this runs inside
        `broker.batch()`).

        A refusal before placement is retried within the bar under the same client order
        ids, `submit_attempts` times in all, waiting `retry_wait` · 2^(n−1) seconds before
        attempt n+1: a `SubmitRefused` (429/503) once a lookup answered that the broker does
        not hold it, and a retryable `OrderRejected` (422). The venue's unique client
        ids make a resend at worst a duplicate answer, never a second order. The trading
        state is read again before every attempt (`_send_refusal`). Once an attempt's
        outcome was unknown, a later definitive refusal leaves the orders UNKNOWN (never
        REJECTED): the first attempt may yet show up at the venue, filled. `NotNative`
        (nothing sent) is raised to the caller."""
        cids = [o.client_order_id for o in unit]

        def each(
            status: OrderStatus, detail: str, reports: Sequence[BrokerOrder] = ()
        ) -> list[_Outcome]:
            by_id = {r.client_order_id: r for r in reports}
            return [_Outcome(c, status=status, detail=detail, report=by_id.get(c)) for c in cids]

        attempt = 1
        uncertain = False  # whether an earlier attempt's outcome was unknown
        while True:
            after = f" (after {attempt} attempts)" if attempt > 1 else ""
            try:
                return [_Outcome(r.client_order_id, report=r) for r in send()]
            except NotNative:
                raise
            except DuplicateClientOrderId:
                # The broker holds this id already: the answer is a lookup, never a resend.
                # A lookup that fails or comes back empty leaves the orders UNKNOWN for the
                # next bar's lookup (`_sync_open_orders`).
                found, _ = self._lookup(unit)
                if found is None:
                    return each(OrderStatus.UNKNOWN, f"{BROKER_HOLDS_ID}, lookup empty")
                return [_Outcome(r.client_order_id, report=r) for r in found]
            except SubmitOutcomeUnknown as exc:
                found, observed = self._lookup(unit)
                absent = observed and found is None
                if not (isinstance(exc, SubmitRefused) and absent and self._may_retry(attempt)):
                    # An empty answer starts the broker's acceptance window
                    # (`certainly_absent`).
                    missing = f"; {NOT_FOUND}" if absent else ""
                    detail = str(exc)[:200] + after + missing
                    return each(OrderStatus.UNKNOWN, detail, found or ())
                uncertain = True
            except OrderRejected as exc:
                if not (exc.retryable and self._may_retry(attempt)):
                    detail = str(exc)[:200] + after
                    if uncertain:
                        # An earlier attempt may have been placed (its answer was lost and
                        # the lookup did not show it yet); this refusal may even be caused
                        # by it (its buying power held). Only the venue can settle it: the
                        # order stays open until a lookup finds it or the venue is certain.
                        return each(OrderStatus.UNKNOWN, f"{detail}; {NOT_FOUND}")
                    return each(OrderStatus.REJECTED, detail)
            self._sleep(self.retry_wait * 2 ** (attempt - 1))
            attempt += 1
            # The trading state again before every attempt: a halt journaled during the
            # wait stops the retry. The earlier attempt may still have been placed, so an
            # order after an unknown outcome stays UNKNOWN (with the lookup's empty
            # answer), settled by the venue like any other.
            refusal = self._send_refusal(unit[0], filled)
            if refusal:
                if uncertain:
                    detail = f"{refusal} (after {attempt - 1} attempts); {NOT_FOUND}"
                    return each(OrderStatus.UNKNOWN, detail)
                return each(OrderStatus.DENIED, refusal)

    def _may_retry(self, attempt: int) -> bool:
        return attempt < self.submit_attempts

    def _lookup(self, unit: Sequence[JournalOrder]) -> tuple[list[BrokerOrder] | None, bool]:
        """(what the broker holds of `unit` or None, whether the broker answered at all)."""
        try:
            return self._lookup_unit(unit), True
        except SubmitOutcomeUnknown:
            return None, False

    def _apply(self, report: BrokerOrder) -> None:
        current = self.journal.order(report.client_order_id)
        if current is None or current.status in TERMINAL_STATUSES:
            return
        self.journal.apply_execution(
            report.client_order_id,
            report.filled_quantity,
            report.filled_notional,
            report.commission,
            report.status,
            report.broker_order_id,
            bar=self._day,
            cumulative_reference=report.reference_notional,
        )
        if report.filled_quantity > 0 and current.oco_group is not None:
            self._oco_filled.add(current.oco_group)
        if (
            self._follows_fills
            and report.filled_quantity > current.filled_quantity
            and current.side is Side.BUY
            and current.role in PROTECTED_ROLES
        ):
            # Every new fill, partial ones too: the filled part is protected at once.
            self._to_protect.append(current.client_order_id)
        elif (
            self._follows_fills
            and report.filled_quantity > current.filled_quantity
            and current.parent_id is not None
        ):
            # An exit sold some: what its entry still holds may need other exits.
            self._to_protect.append(current.parent_id)


__all__ = [
    "POLICY_STOP",
    "SESSION_EXIT_ROLES",
    "BarResult",
    "Checkpoint",
    "LiveTrader",
    "MarketSink",
    "RangeSink",
    "exit_generations",
    "generation_of",
]
