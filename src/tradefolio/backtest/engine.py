"""The event-driven backtest engine: intents decided at a close fill at the next bar.

Timeline of one bar `t` (t >= 1) that has something to do:

1. Orders decided at the close of `t - 1` are priced at bar t's reference price: its open
   when opens are given, else its close (close-only data).
2. Sizing equity `E = cash + Σ q_j · ref_j(t)` is computed once, *before* the bar's trades,
   and fixed for the bar.
3. `Exit`s sell the whole position (column order).
4. `Rebalance(weights)`: the rebalance sizer (default `PortfolioWeightSizer(weights)`)
   gives every held or targeted symbol its target; sells first (column order), then buys
   (column order) with the cash the sells freed.
5. `Enter`s (column order) ask the injected sizer `size(SizingRequest(symbol, ref, E, cash,
   position=0))` for a target; a buy is cut to the largest quantity the free cash pays for
   (costs included) and skipped at 0, with no retry later (when the cash cannot pay for a
   single unit the sizer is not even asked). An `Enter` while holding or an `Exit` while
   flat does nothing. Sized and cut at bar t's reference price, the price it fills at
   (backtrader's `cheat_on_open` reference sizes at that open too), and exactly: `n · price
   <= cash` in micro-units, the sizer's cap (`execution.sizing`) and the planner's alike.

Prices enter the ledger in integer micro-units (1e-6), rounded half-even: exact for quotes
with up to six decimals; the sizer sees the same rounded price the fill uses.

An order for a symbol with no price on the fill bar is dropped (counted in
`BacktestResult.dropped_orders`). Intents decided at the last bar are never filled. Open
positions are valued at the last close.

Speed: the strategy's intents come as precomputed arrays (`SignalPlan`); the loop visits
only bars with intents and, within a bar, only the symbols with intents or positions. The
ledger is exact (integer micro-units); the equity curve is rebuilt afterwards, vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.backtest.costs import NO_COSTS, CostModel
from tradefolio.backtest.ledger import MICRO, Fill, Ledger, Side, from_micro, to_micro
from tradefolio.backtest.metrics import Metrics, compute_metrics
from tradefolio.data.panel import PriceField, PricePanel
from tradefolio.errors import (
    DataError,
    InvalidParameter,
    RebalanceFailed,
    SolverUnsuited,
    StrategyError,
)
from tradefolio.execution.events import (
    BarContext,
    EventStrategy,
    Position,
    strategy_error,
    warmup_of,
)
from tradefolio.execution.matching import Resting, match, slipped, trail
from tradefolio.execution.money import micro_array
from tradefolio.execution.orders import (
    NO_EXITS,
    Order,
    OrderEvent,
    OrderStatus,
    OrderType,
    ProtectiveExits,
    TimeInForce,
)
from tradefolio.execution.planner import BarPlanner, PricedEntry, group_intents
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.execution.sizing_policy import FixedSizing, RebalanceSizerFactory, SizingPolicy
from tradefolio.execution.strategy import Intent, Rebalance, SignalPlan, Strategy
from tradefolio.execution.strategy import rebalance_sizer as default_rebalance_sizer

if TYPE_CHECKING:  # the allocation model is imported only by the runs that use it
    from tradefolio.portfolio.policy import RebalanceDecision

FloatArray = npt.NDArray[np.float64]
_Item = TypeVar("_Item")

#: `active_from` of a bracket child until its parent fills.
_NEVER = 2**62

#: Below this bound on Σ q · mark (micro-units) the int64 dot product cannot overflow.
_INT64_SAFE = 2**62

#: The planner's `working` when no order works (read only, shared by every bar).
_NOTHING_WORKING: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything a run produced: fills, the equity curve and the exact final state.

    `equity`, `cash` and `invested` are float64 analytics indexed by date (cash + invested
    = equity, marked at each close); `final_*_micro` are the ledger's exact numbers.
    """

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    fills: tuple[Fill, ...]
    equity: pd.Series
    cash: pd.Series
    invested: pd.Series
    traded_notional: pd.Series
    initial_cash_micro: int
    final_cash_micro: int
    final_equity_micro: int
    final_positions: Mapping[str, int]
    dropped_orders: int
    orders: tuple[Order, ...] = ()
    order_events: tuple[OrderEvent, ...] = ()
    #: Target weights by decision bar (a rebalancing strategy's; weights.csv).
    targets: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    #: The allocation policy's solves by decision bar (`--portfolio` with the model).
    decisions: tuple[tuple[int, RebalanceDecision], ...] = ()

    @property
    def final_equity(self) -> Decimal:
        """Cash plus open positions at the last close (exact)."""
        return from_micro(self.final_equity_micro)

    @property
    def final_cash(self) -> Decimal:
        """Cash at the end (exact)."""
        return from_micro(self.final_cash_micro)

    @property
    def initial_cash(self) -> Decimal:
        """Starting cash (exact)."""
        return from_micro(self.initial_cash_micro)

    def metrics(self) -> Metrics:
        """Performance metrics of the run (see `backtest.metrics`)."""
        return compute_metrics(self.equity, self.invested, self.traded_notional, self.fills)


def _forward_filled(values: FloatArray) -> FloatArray:
    """Last non-missing value at or before each row (NaN before the first)."""
    present = ~np.isnan(values)
    if present.all():
        return values
    last = np.where(present, np.arange(values.shape[0])[:, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = values[last, np.arange(values.shape[1])[None, :]]
    return np.where(np.cumsum(present, axis=0) > 0, filled, np.nan)


def _micro_prices(values: FloatArray) -> npt.NDArray[np.int64]:
    """Prices in integer micro-units (0 where missing): the one float -> exact rule."""
    return micro_array(values)


def _validate_panel(closes: pd.DataFrame, other: pd.DataFrame | None, name: str = "opens") -> None:
    if closes.shape[0] < 2 or closes.shape[1] < 1:
        raise DataError(
            f"prices need at least 2 sessions and 1 symbol, got {closes.shape[0]} x "
            f"{closes.shape[1]}"
        )
    if not isinstance(closes.index, pd.DatetimeIndex) or not closes.index.is_monotonic_increasing:
        raise DataError("prices need a sorted DatetimeIndex of sessions")
    if not closes.columns.is_unique:
        raise DataError("prices have duplicate symbol columns")
    if other is not None and (
        not other.index.equals(closes.index) or not other.columns.equals(closes.columns)
    ):
        raise DataError(f"{name} must have the same dates and symbols as closes")
    for label, panel in (("closes", closes), (name, other)):
        if panel is None:
            continue
        values = panel.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.any(values[~np.isnan(values)] <= 0) or np.isinf(values).any():
            raise DataError(f"{label} must be finite and > 0 (NaN for a missing price)")


def _group_by_row(rows: npt.NDArray[np.intp], items: list[_Item]) -> dict[int, list[_Item]]:
    """Row -> its cells' items, for cells in row order (`np.nonzero`'s): `items[i]` is cell
    i's item."""
    grouped: dict[int, list[_Item]] = {}
    current = -1
    cells: list[_Item] = []
    for row, item in zip(rows.tolist(), items, strict=True):
        if row != current:
            current = row
            cells = grouped[row] = []
        cells.append(item)
    return grouped


class _PriceRow(Mapping[str, int]):
    """One bar's reference prices by symbol; a symbol without a price this bar is absent.

    The engine points the view at a bar by setting `marks` and `ok` (one bar's rows)."""

    __slots__ = ("_column_of", "marks", "ok")

    def __init__(
        self,
        column_of: Mapping[str, int],
        marks: npt.NDArray[np.int64],
        ok: npt.NDArray[np.bool_],
    ) -> None:
        self._column_of = column_of
        self.marks = marks
        self.ok = ok

    def __getitem__(self, symbol: str) -> int:
        column = self._column_of[symbol]
        if not self.ok.item(column):
            raise KeyError(symbol)
        return self.marks.item(column)  # a Python int (no int() needed)

    def get(self, symbol: str, default: int | None = None) -> int | None:  # type: ignore[override]
        """The price of `symbol`, or `default` when it has none this bar."""
        column = self._column_of.get(symbol)
        if column is None or not self.ok.item(column):
            return default
        return self.marks.item(column)  # a Python int (no int() needed)

    def __iter__(self) -> Iterator[str]:
        return (s for s, j in self._column_of.items() if self.ok[j])

    def __len__(self) -> int:
        return int(np.count_nonzero(self.ok))


class _LazySizer:
    """The decision bar's sizer, built only if the bar has an entry to size (one per run:
    the engine points it at each decision bar by setting `bar` and clearing `built`)."""

    __slots__ = ("bar", "built", "policy")

    def __init__(self, policy: SizingPolicy, bar: int) -> None:
        self.policy = policy
        self.bar = bar
        self.built: PositionSizer | None = None

    def size(self, request: SizingRequest) -> Quantity:
        """The policy's sizer at the decision bar, asked once built."""
        if self.built is None:
            self.built = self.policy.sizer_at(self.bar)
        return self.built.size(request)


class _Run:
    """State of one run (kept out of the public API; built and consumed by `run_backtest`)."""

    def __init__(
        self,
        panel: PricePanel,
        plan: SignalPlan,
        sizing: SizingPolicy,
        cash_micro: int,
        costs: CostModel,
        rebalance_sizer: RebalanceSizerFactory,
        exits: ProtectiveExits,
    ) -> None:
        closes = panel.close
        self.closes = closes
        self.plan = plan
        self.sizing = sizing
        self.costs = costs
        self.free = costs.free  # no commission, no slippage: the cost arithmetic is skipped
        self.rebalance_sizer = rebalance_sizer
        self.exits = exits
        self.places_exits = exits.any
        self.symbols = [str(c) for c in closes.columns]
        self.column_of = {s: j for j, s in enumerate(self.symbols)}
        self.days: list[date] = list(pd.DatetimeIndex(closes.index).date)

        def values(name: PriceField) -> FloatArray:
            return panel.field(name).to_numpy(dtype=np.float64, na_value=np.nan)

        reference = values("open")
        self.tradable = ~np.isnan(reference)
        self.reference_micro = _micro_prices(_forward_filled(reference))
        self._bar_fields = values  # high / low / close are read only when orders rest
        self._volumes = panel.volume  # read by the event-driven loop only
        self._bars_micro: tuple[npt.NDArray[np.int64], ...] | None = None
        self.ledger = Ledger(cash_micro)
        self.initial_cash_micro = cash_micro
        self.dropped = 0
        # Mirror of the ledger's positions as a vector, so the bar's equity is one dot product
        self.held = np.zeros(len(self.symbols), dtype=np.int64)
        self.units = 0  # Σ held, for the overflow bound Σ q · mark <= units · max(mark)
        self.max_mark = self.reference_micro.max(axis=1).tolist()
        self._close_marks: npt.NDArray[np.int64] | None = None
        self.basis: dict[int, int] = {}  # cost of the units held, micro-units (entry prices)
        self.tracks_basis = False  # the event-driven context's entry prices need `basis`
        self.resting: list[Resting] = []  # working orders, in submission order
        self.children: dict[str, list[Resting]] = {}  # parent id -> its bracket children
        self.groups: dict[str, list[Resting]] = {}  # OCO group -> its orders
        self.orders: list[Order] = []
        self.order_ids: set[str] = set()
        # the planner's views of the ledger and of the bar's prices (moved bar by bar)
        # the ledger's positions by symbol (kept by `_fill`: a plain dict is the fastest view)
        self.held_by_symbol: dict[str, int] = {}
        self._prices = _PriceRow(self.column_of, self.reference_micro[0], self.tradable[0])
        self._sizer = _LazySizer(sizing, 0)
        # the one planner of the run, reading the views above as they are at each bar
        self.planner = BarPlanner(
            prices=self._prices,
            holdings=self.held_by_symbol,
            universe=self.symbols,
            costs=costs,
            rebalance_sizer=rebalance_sizer,
        )
        self.events: list[OrderEvent] = []

    # -- ledger ------------------------------------------------------------------------

    def _fill(
        self,
        bar: int,
        column: int,
        side: Side,
        quantity: int,
        price_micro: int,
        cid: str,
        reference_micro: int,
    ) -> None:
        """Apply a fill at `price_micro` (already slipped from `reference_micro`) to the
        ledger."""
        symbol = self.symbols[column]
        commission = 0 if self.free else self.costs.commission_micro(quantity, price_micro, side)
        fill = Fill(
            bar, self.days[bar], symbol, side, quantity, price_micro, commission, cid,
            reference_micro,
        )  # fmt: skip
        if side == "buy":
            self.ledger.buy(fill, column)
            self.held[column] += quantity
            self.units += quantity
            if self.tracks_basis:
                self.basis[column] = self.basis.get(column, 0) + quantity * price_micro
            self.held_by_symbol[symbol] = self.held_by_symbol.get(symbol, 0) + quantity
        else:
            held = self.held_by_symbol.get(symbol, 0)
            self.ledger.sell(fill, column)
            self.held[column] -= quantity
            self.units -= quantity
            remaining = held - quantity
            if remaining:
                if self.tracks_basis:
                    self.basis[column] = self.basis.get(column, 0) * remaining // held
                self.held_by_symbol[symbol] = remaining
            else:
                if self.tracks_basis:
                    self.basis.pop(column, None)
                del self.held_by_symbol[symbol]

    def _equity_micro(self, bar: int, marks: npt.NDArray[np.int64]) -> int:
        """cash + Σ q · mark, exact: an int64 dot product when it cannot overflow."""
        if self.units * self.max_mark[bar] < _INT64_SAFE:
            return self.ledger.cash_micro + int(self.held @ marks)
        return self.ledger.equity_micro({j: int(marks[j]) for j in self.ledger.positions})

    # -- orders ------------------------------------------------------------------------

    def _event(
        self, resting: Resting, bar: int, status: OrderStatus, qty: int = 0, px: int = 0
    ) -> None:
        order = resting.order
        self.events.append(OrderEvent(order.client_order_id, order.symbol, bar, status, qty, px))

    def _submit(
        self,
        order: Order,
        bar: int,
        active_from: int,
        *,
        is_entry: bool = False,
        placed_on_fill: bool = False,
    ) -> Resting:
        """Accept `order` (active from bar `active_from`) into the working list.

        A child (`parent_id`) submitted with its working parent waits for the parent's
        fill; `placed_on_fill` marks the protective exits placed once an entry filled."""
        resting = Resting(order, self.column_of[order.symbol], active_from, is_entry=is_entry)
        if order.stop_price is not None:
            resting.stop = to_micro(order.stop_price)
        if order.limit_price is not None:
            resting.limit = to_micro(order.limit_price)
        if order.type is OrderType.TRAILING_STOP:
            resting.trail_percent = order.trail_percent
            if order.trail_amount is not None:
                resting.trail_amount = to_micro(order.trail_amount)
        if order.oco_group is not None:
            self.groups.setdefault(order.oco_group, []).append(resting)
        if order.parent_id is not None and not placed_on_fill:
            parent = next(
                (r for r in self.resting if r.order.client_order_id == order.parent_id), None
            )
            if parent is None or not parent.alive:
                raise StrategyError(
                    f"order {order.client_order_id}: its parent {order.parent_id!r} is not a "
                    "working order (submit a bracket's children with their entry)"
                )
            resting.active_from = _NEVER  # a bracket child: active once its parent fills
            parent.has_children = True
            self.children.setdefault(order.parent_id, []).append(resting)
        elif order.time_in_force is TimeInForce.DAY:
            resting.expires_after = active_from
        self.orders.append(order)
        self.order_ids.add(order.client_order_id)
        self.resting.append(resting)
        self._event(resting, bar, OrderStatus.SUBMITTED)
        return resting

    def _kill(self, resting: Resting, bar: int, status: OrderStatus) -> None:
        """End a working order (canceled / expired); its unfilled bracket children go too."""
        resting.alive = False
        self._event(resting, bar, status)
        for child in self.children.pop(resting.order.client_order_id, ()):
            if child.alive:
                self._kill(child, bar, OrderStatus.CANCELED)

    def _activate_children(self, parent: Resting, bar: int, filled: int) -> None:
        """A bracket's children rest from the bar after their entry's fill, for the units
        it filled (an entry cut to the cash protects what it bought, not what it asked)."""
        for child in self.children.pop(parent.order.client_order_id, ()):
            if child.alive:
                if child.order.quantity > filled:
                    child.order = replace(child.order, quantity=filled)
                child.active_from = bar + 1
                if child.order.time_in_force is TimeInForce.DAY:
                    child.expires_after = bar + 1

    def _cancel_symbol(self, column: int, bar: int) -> None:
        """Cancel every working order of one symbol (an `Exit` replaces them)."""
        for resting in self.resting:
            if resting.alive and resting.column == column:
                self._kill(resting, bar, OrderStatus.CANCELED)

    def _working(self) -> tuple[dict[str, int], int]:
        """Signed units of working non-protective orders per symbol, and cash they hold."""
        working: dict[str, int] = {}
        reserved = 0
        for resting in self.resting:
            if resting.alive and resting.is_entry:
                order = resting.order
                working[order.symbol] = working.get(order.symbol, 0) + order.quantity
                reserved += resting.reserved
        return working, reserved

    def _protect(self, entry: Resting, bar: int, fill_micro: int, quantity: int) -> None:
        """Place the protective exits of a filled entry, priced from its fill."""
        children = self.exits.orders_for(entry.order, quantity, from_micro(fill_micro))
        for child in children:
            resting = self._submit(child, bar, bar + 1, placed_on_fill=True)
            if child.type is OrderType.TRAILING_STOP:
                trail(resting, fill_micro)

    def _bars(self) -> tuple[npt.NDArray[np.int64], ...]:
        if self._bars_micro is None:
            self._bars_micro = tuple(
                _micro_prices(self._bar_fields(name)) for name in ("open", "high", "low", "close")
            )
        return self._bars_micro

    def _try(self, resting: Resting, bar: int) -> None:
        """Match one working order against the bar; fill, cancel its OCO peers, protect."""
        column = resting.column
        opens, highs, lows, closes = self._bars()
        o = int(opens[bar, column])
        price, slip = match(
            resting, o, int(highs[bar, column]), int(lows[bar, column]), int(closes[bar, column])
        )
        order = resting.order
        if price is None:
            if order.type is OrderType.TRAILING_STOP:
                trail(resting, int(closes[bar, column]))
            return
        side: Side = order.side
        reference = price
        price = slipped(resting, price, slip, self.costs)
        if side == "sell":
            quantity = min(order.quantity, self.ledger.positions.get(column, 0))
        else:
            quantity = self.costs.affordable_quantity(order.quantity, price, self.ledger.cash_micro)
        if quantity <= 0:
            self._kill(resting, bar, OrderStatus.CANCELED)
            return
        resting.alive = False
        self._fill(bar, column, side, quantity, price, order.client_order_id, reference)
        self._event(resting, bar, OrderStatus.FILLED, quantity, price)
        if order.oco_group is not None:
            for other in self.groups.pop(order.oco_group, ()):
                if other.alive:
                    self._kill(other, bar, OrderStatus.CANCELED)
        self._activate_children(resting, bar, quantity)
        if resting.is_entry and self.exits.any and not resting.has_children:
            self._protect(resting, bar, price, quantity)

    def _match_bar(self, bar: int) -> None:
        """Try every active working order (submission order); expire DAY orders after."""
        for resting in list(self.resting):
            if not resting.alive or resting.active_from > bar:
                continue
            if self.tradable[bar, resting.column]:
                self._try(resting, bar)
            if resting.alive and resting.expires_after is not None and bar >= resting.expires_after:
                self._kill(resting, bar, OrderStatus.EXPIRED)
        self.resting = [r for r in self.resting if r.alive]

    # -- the bar loop ------------------------------------------------------------------

    def _grouped(
        self,
        bar: int,
        exits: dict[int, list[int]],
        rebalances: dict[int, Mapping[str, float]],
        entries: dict[int, list[PricedEntry]],
    ) -> list[Resting]:
        """Plan the plan's cells decided at the close before `bar`, grouped by kind
        (`exits`: columns, `entries`: market entries with their fill bar's price, by row)."""
        decided = bar - 1
        held = self.held_by_symbol
        symbols = self.symbols
        exit_columns = exits.get(decided)
        exit_symbols: list[str] = []
        if exit_columns:
            if self.resting:
                for column in exit_columns:  # an exit replaces the symbol's working orders
                    self._cancel_symbol(column, bar)
                exit_symbols = [symbols[j] for j in exit_columns]
            else:
                # an Exit while flat (nothing working) is a no-op in the planner: not asking
                # for the many such cells keeps the vectorised path fast
                positions = self.ledger.positions
                exit_symbols = [symbols[j] for j in exit_columns if j in positions]
        weights = rebalances.get(decided)
        entry_pairs = entries.get(decided, ())
        limits = self.plan.entry_limits
        if limits is not None and entry_pairs:
            if weights is None:  # a held symbol's Enter does nothing unless it is sold
                sold = set(exit_symbols)
                entry_pairs = [p for p in entry_pairs if p[0] not in held or p[0] in sold]
            column_of = self.column_of
            with_limits: list[PricedEntry] = []
            for symbol, _, price in entry_pairs:
                limit = float(limits[decided, column_of[symbol]])
                with_limits.append((symbol, 0 if limit != limit else to_micro(limit), price))
            entry_pairs = with_limits
        return self._plan(
            bar, exit_symbols, () if weights is None else (Rebalance(weights),), entry_pairs
        )

    def _decide(self, bar: int, intents: list[Intent]) -> list[Resting]:
        """Plan the bar's intents (exits cancel the symbol's working orders first)."""
        exits, rebalances, entries = group_intents(intents)
        if self.resting:
            for symbol in exits:
                self._cancel_symbol(self.column_of[symbol], bar)
        prices = self._prices
        prices.marks = self.reference_micro[bar]
        prices.ok = self.tradable[bar]
        return self._plan(bar, exits, rebalances, self.planner.priced(entries))

    def _plan(
        self,
        bar: int,
        exits: Sequence[str],
        rebalances: Sequence[Rebalance],
        entries: Sequence[PricedEntry],
    ) -> list[Resting]:
        """The planner's orders for the bar: filled at once (market orders, nothing placed
        around them) or submitted as working orders matched against the bar."""
        marks = self.reference_micro[bar]
        working, reserved = self._working() if self.resting else (_NOTHING_WORKING, 0)
        prices = self._prices
        prices.marks = marks
        prices.ok = self.tradable[bar]
        sizer = self._sizer
        sizer.bar = bar - 1
        sizer.built = None
        planner = self.planner
        rows = planner.plan(
            exits,
            rebalances,
            entries,
            self.ledger.cash_micro - reserved,
            self._equity_micro(bar, marks),
            working,
            sizer,
        )
        self.dropped += planner.unpriced
        if not rows:
            return []
        needs_orders = self.places_exits or bool(self.resting)
        if not needs_orders:
            for row in rows:
                if row[5]:  # a limit entry works as an order
                    needs_orders = True
                    break
        if not needs_orders:
            # the fast path: market orders at the open, filled as planned (slipped from it)
            fill = self._fill
            column_of = self.column_of
            for symbol, side, quantity, price_micro, reason, _ in rows:
                column = column_of[symbol]
                cid = f"{symbol}-{bar}-{reason}"
                fill(bar, column, side, quantity, price_micro, cid, int(marks[column]))
            return []
        placed: list[Resting] = []
        for symbol, side, quantity, _price, reason, limit_micro in rows:
            cid = f"{symbol}-{bar}-{reason}"
            if limit_micro:
                order = Order(
                    cid,
                    symbol,
                    "buy",
                    quantity,
                    OrderType.LIMIT,
                    limit_price=from_micro(limit_micro),
                    time_in_force=TimeInForce.DAY,
                )
            else:
                order = Order(cid, symbol, side, quantity)
            resting = self._submit(order, bar, bar, is_entry=reason == "enter")
            if limit_micro:
                resting.reserved = self.costs.buy_cost_micro(quantity, limit_micro)
            placed.append(resting)
        return placed

    def execute(self) -> None:
        bars = self.closes.shape[0]
        symbols = self.symbols
        rows, cols = np.nonzero(self.plan.exits[: bars - 1])
        exits = _group_by_row(rows, cols.tolist())
        # every entry cell with its fill bar's reference price (None: not tradable), gathered
        # at once: the planner then looks no price up per entry
        rows, cols = np.nonzero(self.plan.entries[: bars - 1])
        tradable = self.tradable[rows + 1, cols].tolist()
        marks = self.reference_micro[rows + 1, cols].tolist()
        cells: list[PricedEntry] = [
            (symbols[j], 0, mark if ok else None)
            for j, ok, mark in zip(cols.tolist(), tradable, marks, strict=True)
        ]
        entries = _group_by_row(rows, cells)
        rebalances = {b: w for b, w in self.plan.rebalances.items() if 0 <= b < bars - 1}
        decisions = sorted(exits.keys() | entries.keys() | rebalances.keys())
        position = 0
        bar = 1
        while bar < bars:
            decided = bar - 1
            if position < len(decisions) and decisions[position] == decided:
                position += 1
                # backtrader's order: the strategy's orders are placed before the bar is
                # matched, and working orders placed earlier are tried first
                self._grouped(bar, exits, rebalances, entries)
                if self.resting:
                    self._match_bar(bar)
            elif self.resting:
                self._match_bar(bar)
            elif position < len(decisions):
                bar = decisions[position] + 1  # nothing works in between: jump
                continue
            else:
                break
            bar += 1

    def _context(self, bar: int, fields: Mapping[str, FloatArray]) -> BarContext:
        if self._close_marks is None:
            self._close_marks = _micro_prices(_forward_filled(fields["close"]))
        equity = self._equity_micro(bar, self._close_marks[bar])
        symbols = self.symbols

        def positions() -> dict[str, Position]:
            return {
                symbols[j]: Position(q, self.basis.get(j, 0) / q / MICRO)
                for j, q in sorted(self.ledger.positions.items())
            }

        def open_orders() -> tuple[Order, ...]:
            return tuple(r.order for r in self.resting if r.alive)

        return BarContext(
            bar=bar,
            day=self.days[bar],
            symbols=symbols,
            column_of=self.column_of,
            fields=fields,
            cash=self.ledger.cash_micro / MICRO,
            equity=equity / MICRO,
            positions=positions,
            open_orders=open_orders,
        )

    def _apply(self, bar: int, context: BarContext) -> None:
        """At bar `bar`'s open: what the strategy asked for at the previous close."""
        intents, orders, cancels, replacements = context.actions()
        cancel = set(cancels) | {old for old, _ in replacements}
        if cancel:
            for resting in self.resting:
                if resting.alive and resting.order.client_order_id in cancel:
                    self._kill(resting, bar, OrderStatus.CANCELED)
        if intents:
            self._decide(bar, intents)
        for order in [*orders, *(new for _, new in replacements)]:
            if order.client_order_id in self.order_ids:
                raise StrategyError(
                    f"strategy submitted client_order_id {order.client_order_id!r} twice "
                    f"(bar {bar}, {self.days[bar]}); every order needs a new id"
                )
            resting = self._submit(order, bar, bar, is_entry=order.side == "buy")
            if order.side == "buy":
                price = (
                    resting.limit or resting.stop or int(self.reference_micro[bar, resting.column])
                )
                resting.reserved = self.costs.buy_cost_micro(order.quantity, price)

    def execute_events(self, strategy: EventStrategy) -> None:
        """The event-driven loop: `on_bar` at every close from the warm-up on."""
        bars = self.closes.shape[0]
        opens, highs, lows, closes = (self._bar_fields(n) for n in ("open", "high", "low", "close"))
        volume = (
            np.full(self.closes.shape, np.nan)
            if self._volumes is None
            else self._volumes.to_numpy(dtype=np.float64, na_value=np.nan)
        )
        fields = {"open": opens, "high": highs, "low": lows, "close": closes, "volume": volume}
        first = warmup_of(strategy) - 1
        acting = _acting_bars(strategy, bars)
        self.tracks_basis = True  # the context's positions carry entry prices
        pending: BarContext | None = None
        for bar in range(bars):
            if pending is not None:
                self._apply(bar, pending)
                pending = None
            if self.resting:
                self._match_bar(bar)
            if bar < first or bar >= bars - 1 or not acting[bar]:
                continue
            context = self._context(bar, fields)
            try:
                strategy.on_bar(context)
            except RebalanceFailed as exc:  # the policy's own stop (`--on-solver-failure stop`)
                exc.partial = self.result(last_bar=bar)  # the run up to the failing decision
                raise
            except SolverUnsuited:
                raise  # a bad --solver
            except Exception as exc:  # the user's code: report where, with its traceback
                raise strategy_error(
                    strategy.name, exc, bar, self.days[bar], context.last_symbol
                ) from exc
            pending = context

    def result(self, last_bar: int | None = None) -> BacktestResult:
        """The run's result; `last_bar`: only the bars up to it (a run stopped there)."""
        closes = self.closes if last_bar is None else self.closes.iloc[: last_bar + 1]
        bars, count = closes.shape
        fills = self.ledger.fills
        close_values = _forward_filled(closes.to_numpy(dtype=np.float64, na_value=np.nan))
        last_close_micro = _micro_prices(close_values[-1]).tolist()
        initial = self.initial_cash_micro
        position_change = np.zeros((bars, count))
        cash_change = np.zeros(bars, dtype=np.int64)
        notional = np.zeros(bars)
        if fills:
            fill_bars = np.fromiter((f.bar for f in fills), dtype=np.int64, count=len(fills))
            columns = np.fromiter(
                (self.column_of[f.symbol] for f in fills), dtype=np.int64, count=len(fills)
            )
            signed = np.fromiter(
                (f.quantity if f.side == "buy" else -f.quantity for f in fills),
                dtype=np.float64,
                count=len(fills),
            )
            np.add.at(position_change, (fill_bars, columns), signed)
            np.add.at(
                cash_change,
                fill_bars,
                np.fromiter((f.cash_change_micro for f in fills), dtype=np.int64, count=len(fills)),
            )
            np.add.at(
                notional,
                fill_bars,
                np.fromiter(
                    (f.quantity * f.price_micro / MICRO for f in fills),
                    dtype=np.float64,
                    count=len(fills),
                ),
            )
        held = np.cumsum(position_change, axis=0)
        invested = np.einsum("ij,ij->i", held, np.nan_to_num(close_values, nan=0.0))
        cash = (initial + np.cumsum(cash_change)) / MICRO
        index = pd.DatetimeIndex(closes.index)
        final_positions = {self.symbols[j]: q for j, q in sorted(self.ledger.positions.items())}
        final_equity = self.ledger.cash_micro + sum(
            q * last_close_micro[j] for j, q in self.ledger.positions.items()
        )
        return BacktestResult(
            dates=index,
            symbols=tuple(self.symbols),
            fills=tuple(fills),
            equity=pd.Series(cash + invested, index=index, name="equity"),
            cash=pd.Series(cash, index=index, name="cash"),
            invested=pd.Series(invested, index=index, name="invested"),
            traded_notional=pd.Series(notional, index=index, name="traded_notional"),
            initial_cash_micro=initial,
            final_cash_micro=self.ledger.cash_micro,
            final_equity_micro=final_equity,
            final_positions=final_positions,
            dropped_orders=self.dropped,
            orders=tuple(self.orders),
            order_events=tuple(self.events),
        )


def _acting_bars(strategy: object, bars: int) -> list[bool]:
    """Whether `strategy.on_bar` can act at each bar's close: its `acting_bars(bars)` when
    it has one (a rebalancing policy's schedule), else every bar.

    A strategy's `acting_bars` promises that at any other bar `on_bar` returns at once,
    reading nothing of the context and asking for nothing: the loop then builds no context
    and calls nothing there (a policy run's 7,676 of 8,060 bars of the sample did nothing
    but cost a context, an equity and two calls each). Working orders are matched at every
    bar either way."""
    ask = getattr(strategy, "acting_bars", None)
    if ask is None:
        return [True] * bars
    acting: list[bool] = np.asarray(ask(bars), dtype=np.bool_).tolist()
    if len(acting) != bars:
        raise InvalidParameter(
            f"strategy {getattr(strategy, 'name', strategy)!r} gave acting_bars for "
            f"{len(acting)} bars, the run has {bars}"
        )
    return acting


def run_backtest(
    closes: pd.DataFrame,
    strategy: Strategy | EventStrategy,
    sizing: SizingPolicy | PositionSizer,
    *,
    cash: float | int | Decimal = 1_000_000,
    costs: CostModel = NO_COSTS,
    opens: pd.DataFrame | None = None,
    highs: pd.DataFrame | None = None,
    lows: pd.DataFrame | None = None,
    rebalance_sizer: RebalanceSizerFactory = default_rebalance_sizer,
    exits: ProtectiveExits = NO_EXITS,
    volumes: pd.DataFrame | None = None,
    form: Literal["auto", "plan", "events"] = "auto",
) -> BacktestResult:
    """Run `strategy` over `closes` (dates x symbols) with `sizing`, starting from `cash`.

    `sizing` is a `PositionSizer` (used at every bar) or a `SizingPolicy` (a sizer per
    decision bar). `opens`, when given, are the fill prices of market orders; `highs` and
    `lows` the bar ranges resting orders are matched against (missing ones: the close,
    decided by `PricePanel.field`). `exits` are the protective orders placed on every
    entry's fill (see `execution.matching` for how they trigger).

    `strategy` is vectorised (`plan`) or event-driven (`on_bar`, see
    `execution.events`); `form="auto"` uses `plan` when the strategy has both. A raising
    event-driven strategy raises `StrategyError` naming the bar, the symbol and its traceback.
    Raises `DataError` for an unusable price panel, `InvalidParameter` for bad arguments.
    """
    _validate_panel(closes, opens)
    for name, panel in (("highs", highs), ("lows", lows)):
        if panel is not None:
            _validate_panel(closes, panel, name)
    cash_micro = to_micro(cash)
    if cash_micro <= 0:
        raise InvalidParameter(f"cash must be > 0, got {cash}")
    policy: SizingPolicy = (
        sizing
        if isinstance(sizing, SizingPolicy) and not isinstance(sizing, PositionSizer)
        else FixedSizing(sizing)
    )
    bars = PricePanel(close=closes, open=opens, high=highs, low=lows, volume=volumes)
    use_events = form == "events" or (form == "auto" and not isinstance(strategy, Strategy))
    if use_events:
        if not isinstance(strategy, EventStrategy):
            raise InvalidParameter(f"strategy {strategy.name} has no on_bar(context)")
        empty = SignalPlan.empty(*closes.shape)
        run = _Run(bars, empty, policy, cash_micro, costs, rebalance_sizer, exits)
        run.execute_events(strategy)
        return run.result()
    if not isinstance(strategy, Strategy):
        raise InvalidParameter(f"strategy {strategy.name} has no plan(closes)")
    plan = strategy.plan(closes)
    if plan.entries.shape != closes.shape or plan.exits.shape != closes.shape:
        raise InvalidParameter(
            f"strategy {strategy.name} planned {plan.entries.shape}, prices are {closes.shape}"
        )
    run = _Run(bars, plan, policy, cash_micro, costs, rebalance_sizer, exits)
    run.execute()
    return run.result()


__all__ = ["BacktestResult", "run_backtest"]
