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

A restart reconciles with the broker (`reconcile`) and continues after the last processed
bar, re-executing (not re-planning) a bar whose plan was journaled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from tradefolio.errors import InvalidParameter
from tradefolio.execution.sizing import PositionSizer, SizingRequest
from tradefolio.live.broker import (
    Broker,
    DuplicateClientOrderId,
    OrderRejected,
    SubmitOutcomeUnknown,
    SubmitRefused,
)
from tradefolio.live.exposure import WorkingExposure
from tradefolio.live.feed import Bar
from tradefolio.live.journal import (
    BROKER_HOLDS_ID,
    NOT_FOUND,
    Journal,
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
from tradefolio.live.paper import CostModel
from tradefolio.live.reconcile import ReconciliationReport, certainly_absent, reconcile
from tradefolio.live.risk import RiskEngine, TradingState, state_refusal
from tradefolio.live.strategy import Action, IntentSource

#: Called with the name of each crash-relevant point; tests make the process kill itself.
Checkpoint = Callable[[str], None]


class MarketSink(Protocol):
    """Something that must see each bar's prices before orders are sent (the paper broker)."""

    def mark(self, day: date, prices: Mapping[str, Decimal]) -> None: ...


def _no_checkpoint(name: str) -> None:
    return None


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
        fractional: bool = False,
        checkpoint: Checkpoint = _no_checkpoint,
        submit_attempts: int = 3,
        retry_wait: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
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
        self.fractional = fractional
        self._checkpoint = checkpoint
        if submit_attempts < 1:
            raise InvalidParameter(f"submit_attempts must be >= 1, got {submit_attempts}")
        self.submit_attempts = submit_attempts
        self.retry_wait = retry_wait
        self._sleep = sleep
        #: Told (one line) about every order the broker refused, whose outcome stayed
        #: unknown, or that the trading state stopped at send time.
        self._notify = notify or _no_checkpoint
        self._marks: dict[str, Decimal] = dict(journal.last_marks())
        self._risk_restored = False

    # -- start -----------------------------------------------------------------------------

    def resume_point(self) -> tuple[date | None, date | None]:
        """(last processed bar, bar with a journaled but unfinished plan)."""
        return self.journal.last_done_bar(), self.journal.open_plan_bar()

    def reconcile(
        self, *, adopt: bool = False, cash_tolerance: Decimal = Decimal(0)
    ) -> ReconciliationReport:
        """Startup reconciliation (see `tradefolio.live.reconcile`)."""
        return reconcile(
            self.journal,
            self.broker,
            resume_bar=self.journal.open_plan_bar(),
            adopt=adopt,
            cash_tolerance=cash_tolerance,
        )

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
            with group:
                while True:
                    if stop is not None and stop():
                        return count
                    bar = next(iterator, None)
                    if bar is None:
                        return count
                    result = self.process_bar(bar)
                    count += 1
                    if on_bar is not None:
                        on_bar(result)
                    if commit_every is None or time.monotonic() - started >= commit_every:
                        break

    # -- one bar ---------------------------------------------------------------------------

    def process_bar(self, bar: Bar) -> BarResult:
        """Steps 1-5 of the module docstring for one bar."""
        previous_marks = dict(self._marks)
        self._marks.update(bar.prices)
        if self.market is not None:
            self.market.mark(bar.day, bar.prices)
        self._sync_open_orders(exclude_bar=bar.day)
        self._close_stale_plan(bar.day)
        state = self._trading_state(bar.day)
        planned = self.journal.orders_for_bar(bar.day)
        resumed = self.journal.open_plan_bar() == bar.day
        if not resumed:
            planned = self._plan(bar, state, previous_marks)
        self._checkpoint("after_plan")
        denied = sum(1 for o in planned if o.status is OrderStatus.DENIED)
        unresolved = [o for o in planned if o.status in UNRESOLVED_STATUSES]
        self._execute(unresolved, lookup_first=resumed)
        cash = self.journal.cash()
        positions = self.journal.positions()
        equity = cash + sum(
            (p.quantity * self._marks.get(s, p.avg_price) for s, p in positions.items()),
            Decimal(0),
        )
        self.journal.finish_bar(bar.day, cash, equity, self._marks)
        self._checkpoint("after_bar")
        return BarResult(bar.day, len(planned) - denied, denied, state)

    def _close_stale_plan(self, day: date) -> None:
        """Finish a bar whose plan was journaled but which the feed has moved past (a polled
        session restarted on a later session). Its orders were just brought up to the
        broker's state; those the broker never saw were closed, never sent late."""
        while (stale := self.journal.open_plan_bar()) is not None and stale < day:
            cash = self.journal.cash()
            positions = self.journal.positions()
            equity = cash + sum(
                (p.quantity * self._marks.get(s, p.avg_price) for s, p in positions.items()),
                Decimal(0),
            )
            self.journal.finish_bar(stale, cash, equity, self._marks)

    def _sync_open_orders(self, exclude_bar: date | None = None) -> None:
        """Bring the journal's open orders (but `exclude_bar`'s) up to the broker: lookups
        first, then everything they found recorded in one journal transaction."""
        reports: list[BrokerOrder] = []
        never_sent: list[str] = []
        for order in self.journal.live_orders():
            if order.bar == exclude_bar:
                continue
            try:
                remote = self.broker.get_order(order.client_order_id)
            except SubmitOutcomeUnknown:
                continue  # try again on the next bar
            if remote is not None:
                reports.append(remote)
            elif order.status in UNRESOLVED_STATUSES and certainly_absent(
                self.journal, self.broker, order
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
        """Size the bar's intents on the working exposure (`tradefolio.live.exposure`):
        filled positions plus the unfilled part of every open order, with the cash open
        buys may still spend reserved. A symbol with an open order in a direction gets no
        second order in that direction, and a sell never exceeds what is sellable."""
        self.start_risk_day(bar.day)
        intents = self.strategy.intents(bar.history) if len(bar.history) else []
        cash = self.journal.cash()
        filled = {s: p.quantity for s, p in self.journal.positions().items()}
        exposure = WorkingExposure.of(filled, self.journal.live_orders())
        held = {s: exposure.position(s) for s in exposure.symbols()}
        equity = cash + sum(
            (q * self._marks.get(s, Decimal(0)) for s, q in filled.items()), Decimal(0)
        )
        planned_intents: list[PlannedIntent] = []
        orders: list[PlannedOrder] = []
        sells: list[tuple[str, Decimal, str]] = []
        buys: list[tuple[str, PositionSizer]] = []
        for intent in intents:
            price = bar.prices.get(intent.symbol)
            position = held.get(intent.symbol, Decimal(0))
            if price is None:
                continue
            sizer = intent.sizer if intent.sizer is not None else self.sizer
            if intent.action is Action.EXIT:
                target = Decimal(0)
            elif intent.action is Action.ENTER:
                if position != 0 or exposure.has_open(intent.symbol, Side.BUY):
                    continue  # an enter while holding (or buying) does nothing
                buys.append((intent.symbol, sizer))  # sized below, with the cash free then
                planned_intents.append(PlannedIntent(intent.symbol, intent.action.value, position))
                continue
            else:
                # Direction only: a target above the position is sized again as a buy, with
                # the cash that is free once this bar's sells are done.
                target = self._size(sizer, intent.symbol, price, equity, equity, position)
            planned_intents.append(PlannedIntent(intent.symbol, intent.action.value, target))
            delta = target - position
            if delta < 0 and not exposure.has_open(intent.symbol, Side.SELL):
                quantity = min(-delta, exposure.sellable(intent.symbol))
                if quantity > 0:
                    sells.append((intent.symbol, quantity, intent.action.value))
            elif delta > 0 and not exposure.has_open(intent.symbol, Side.BUY):
                buys.append((intent.symbol, sizer))
        free_cash = cash - self._reserved_cash(exposure)
        for symbol, quantity, _ in sells:
            price = bar.prices[symbol]
            fill_price = self.costs.fill_price(price, Side.SELL)
            order = self._risk_checked(
                bar.day, symbol, Side.SELL, quantity, price, previous_marks, held, equity, state
            )
            if order.status is OrderStatus.PENDING_SUBMIT:
                notional = fill_price * quantity
                free_cash += notional - self.costs.commission(quantity, notional)
                held[symbol] = held.get(symbol, Decimal(0)) - quantity
            orders.append(order)
        for symbol, buy_sizer in buys:
            price = bar.prices[symbol]
            # Sized again with the cash free now (after this bar's sells and earlier buys),
            # which is what the sizer is told in the backtest too.
            position = held.get(symbol, Decimal(0))
            target = self._size(buy_sizer, symbol, price, equity, free_cash, position)
            quantity = self._affordable(target - position, price, free_cash)
            if quantity <= 0:
                continue  # no later retry, like the backtest
            order = self._risk_checked(
                bar.day, symbol, Side.BUY, quantity, price, previous_marks, held, equity, state
            )
            if order.status is OrderStatus.PENDING_SUBMIT:
                notional = self.costs.fill_price(price, Side.BUY) * quantity
                free_cash -= notional + self.costs.commission(quantity, notional)
                held[symbol] = held.get(symbol, Decimal(0)) + quantity
            orders.append(order)
        if not orders and not planned_intents:
            return []  # nothing to journal before finish_bar
        self.journal.write_plan(bar.day, planned_intents, orders)
        return self.journal.orders_for_bar(bar.day)

    def _reserved_cash(self, exposure: WorkingExposure) -> Decimal:
        """What the open buys may still spend: their unfilled units at the current mark,
        with slippage and commission (`tradefolio.live.exposure`)."""
        reserved = Decimal(0)
        for symbol, remaining in exposure.open_buy.items():
            fill_price = self.costs.fill_price(self._marks.get(symbol, Decimal(0)), Side.BUY)
            notional = fill_price * remaining
            reserved += notional + self.costs.commission(remaining, notional)
        return reserved

    def _size(
        self,
        sizer: PositionSizer,
        symbol: str,
        price: Decimal,
        equity: Decimal,
        cash: Decimal,
        position: Decimal,
    ) -> Decimal:
        units = sizer.size(
            SizingRequest(
                symbol=symbol,
                price=float(price),
                equity=float(equity),
                cash=float(cash),
                position=float(position),
            )
        )
        target = Decimal(units)
        if not target.is_finite() or target < 0:
            raise InvalidParameter(f"sizer returned {units} units for {symbol}; need >= 0")
        if not self.fractional:
            target = target.to_integral_value(rounding=ROUND_FLOOR)
        return target

    def _affordable(self, wanted: Decimal, price: Decimal, cash: Decimal) -> Decimal:
        """`wanted`, or the largest quantity whose cost (with costs) is <= `cash`."""
        fill_price = self.costs.fill_price(price, Side.BUY)

        def cost(quantity: Decimal) -> Decimal:
            notional = fill_price * quantity
            return notional + self.costs.commission(quantity, notional)

        if cost(wanted) <= cash:
            return wanted
        if cash <= 0 or fill_price <= 0:
            return Decimal(0)
        quantity = cash / fill_price
        if not self.fractional:
            quantity = quantity.to_integral_value(rounding=ROUND_FLOOR)
        while quantity > 0 and cost(quantity) > cash:
            quantity -= 1 if not self.fractional else quantity * Decimal("1e-9")
        return max(quantity, Decimal(0))

    def _risk_checked(
        self,
        day: date,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        previous_marks: Mapping[str, Decimal],
        held: Mapping[str, Decimal],
        equity: Decimal,
        state: TradingState,
    ) -> PlannedOrder:
        decision = self.risk.check(
            state=state,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            reference_price=previous_marks.get(symbol),
            position=held.get(symbol, Decimal(0)),
            equity=equity,
        )
        cid = client_order_id(self.run_id, day, symbol, side)
        notional = quantity * price  # what the risk engine counted
        if decision.allowed:
            return PlannedOrder(cid, symbol, side, quantity, risk_notional=notional)
        return PlannedOrder(
            cid, symbol, side, quantity, OrderStatus.DENIED, decision.reason, notional
        )

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
        """
        to_send: list[JournalOrder] = []
        found: list[BrokerOrder] = []
        for order in orders:
            if lookup_first:
                try:
                    existing = self.broker.get_order(order.client_order_id)
                except SubmitOutcomeUnknown:
                    continue
                if existing is not None:
                    found.append(existing)
                    continue
                if order.status is OrderStatus.UNKNOWN and not certainly_absent(
                    self.journal, self.broker, order
                ):
                    continue  # it may still be acted on: never replaced while unknown
            to_send.append(order)
        back_to_pending = [o for o in to_send if o.status is OrderStatus.UNKNOWN]
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
            for order in to_send:
                self._checkpoint("before_submit")
                # The trading state at the moment of sending, not at planning: a halt
                # journaled after the plan (or while the trader was down) stops the order.
                # Inside the paper broker's batch no other process can commit a change.
                refusal = self._send_refusal(order, filled)
                if refusal:
                    outcomes.append(
                        _Outcome(order.client_order_id, status=OrderStatus.DENIED, detail=refusal)
                    )
                else:
                    outcomes.append(self._submit(order))
                self._checkpoint("in_submit_batch")
        self._checkpoint("after_submit")
        with self.journal.transaction():
            for outcome in outcomes:
                if outcome.status is not None:
                    self.journal.set_status(outcome.client_order_id, outcome.status, outcome.detail)
                if outcome.report is not None:
                    self._apply(outcome.report)
                self._checkpoint("in_record_batch")
        self._checkpoint("after_record")
        sent = {o.client_order_id: o for o in to_send}
        for outcome in outcomes:
            if outcome.status is not None and outcome.report is None:
                order = sent[outcome.client_order_id]
                self._notify(
                    f"order {order.client_order_id} ({order.side.value} {order.quantity} "
                    f"{order.symbol}, bar {order.bar}): {outcome.status.value}: {outcome.detail}"
                )

    def _send_refusal(self, order: JournalOrder, filled: Mapping[str, Decimal]) -> str:
        """Why the journal's trading state (read now) forbids sending `order` ('' if not);
        REDUCING lets through only an order that shrinks the filled position."""
        state = TradingState(self.journal.trading_state()[0])
        position = filled.get(order.symbol, Decimal(0))
        refusal = state_refusal(state, order.symbol, order.side, order.quantity, position)
        return f"{refusal} at send time" if refusal else ""

    def _submit(self, order: JournalOrder) -> _Outcome:
        """Submit one order and say what the journal must record (nothing is written here:
        this runs inside `broker.batch()`).

        A refusal before placement is retried within the bar under the same client order
        id, `submit_attempts` times in all, waiting `retry_wait` · 2^(n−1) seconds before
        attempt n+1: a `SubmitRefused` (429/503) once a lookup answered that the broker does
        not hold the order, and a retryable `OrderRejected` (422). The venue's unique client
        ids make a resend at worst a duplicate answer, never a second order."""
        cid = order.client_order_id
        request = OrderRequest(cid, order.symbol, order.side, order.quantity)
        attempt = 1
        while True:
            after = f" (after {attempt} attempts)" if attempt > 1 else ""
            try:
                return _Outcome(cid, report=self.broker.submit(request))
            except DuplicateClientOrderId:
                # The broker holds this id already: the answer is a lookup, never a resend.
                # A lookup that fails or comes back empty leaves the order UNKNOWN for the
                # next bar's lookup (`_sync_open_orders`).
                found, _ = self._lookup(cid)
                if found is None:
                    return _Outcome(
                        cid, status=OrderStatus.UNKNOWN, detail=f"{BROKER_HOLDS_ID}, lookup empty"
                    )
                return _Outcome(cid, report=found)
            except SubmitOutcomeUnknown as exc:
                found, observed = self._lookup(cid)
                absent = observed and found is None
                if not (isinstance(exc, SubmitRefused) and absent and self._may_retry(attempt)):
                    # An empty answer starts the broker's acceptance window
                    # (`certainly_absent`).
                    missing = f"; {NOT_FOUND}" if absent else ""
                    detail = str(exc)[:200] + after + missing
                    return _Outcome(cid, status=OrderStatus.UNKNOWN, detail=detail, report=found)
            except OrderRejected as exc:
                if not (exc.retryable and self._may_retry(attempt)):
                    detail = str(exc)[:200] + after
                    return _Outcome(cid, status=OrderStatus.REJECTED, detail=detail)
            self._sleep(self.retry_wait * 2 ** (attempt - 1))
            attempt += 1

    def _may_retry(self, attempt: int) -> bool:
        return attempt < self.submit_attempts

    def _lookup(self, cid: str) -> tuple[BrokerOrder | None, bool]:
        """(the broker's order or None, whether the broker answered at all)."""
        try:
            return self.broker.get_order(cid), True
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
        )


__all__ = ["BarResult", "Checkpoint", "LiveTrader", "MarketSink"]
