"""The bar planner: what one bar's intents become as orders, for the backtest and live alike.

    intents + holdings + working orders + prices + cash + sizer + costs  ->  orders

One function, `plan_bar`, owns the rules both engines follow (the live trader calls it with
its journal's state, its risk engine as `admit`; the backtest engine calls `plan_grouped`,
the same planning with the intents already grouped by kind, for every bar with intents):

1. Sizing equity `E` is given by the caller, computed once before the bar's trades.
2. `Exit(s)`: sell the whole position (held units net of working sells). An `Exit` while
   flat does nothing; without a price this bar it is counted in `unpriced`.
3. `Rebalance(weights)`: the rebalance sizer gives every held or targeted symbol a target
   (a `Rebalance` with `shares`: exactly those units, `TargetShares`); sells first
   (universe order), then buys (universe order) with the cash the sells free.
   A symbol with a working order in a direction gets no second order in that direction
   (open orders count as exposure: a resting buy is never sized again).
4. `Enter(s)` (universe order as given): ignored while the symbol is held *or has a working
   order* (open orders count as exposure, so a slow fill is never doubled). The sizer is
   asked `size(SizingRequest(s, p, E, cash, 0))` with the cash free *now* (after the bar's
   sells and earlier buys); a buy is cut to the largest quantity that cash pays for at the
   slipped fill price, commission included (`CostModel.affordable_quantity`), and skipped at
   0 with no retry later. When the cash cannot pay for one unit at the reference price the
   sizer is not even asked. An `Enter` with a `limit_price` is sized, and its cash held,
   at the limit (a limit fill has no slippage and is never above it).

`admit` (optional) sees every order as it is planned and may refuse it (the live risk
engine): a refused order is left out and moves neither cash nor position, so the orders
after it are planned as if it had never been asked for. `BarState.sell_proceeds_fund_buys`
False keeps a sell's proceeds out of the free cash (a remote venue, where a sell may not
fill this bar).

Money is in integer micro-units (`execution.money`); the free cash the planner tracks
moves by each planned order's exact cost, so a plan never spends cash it does not have.
The caller passes `cash_micro` already net of cash reserved by working buy orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.execution.costs import CostModel
from tradefolio.execution.money import MICRO, to_micro
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.execution.strategy import Enter, Exit, Intent, Rebalance, rebalance_target_sizer

Reason = Literal["exit", "rebalance", "enter"]


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """A market order the bar's intents call for, at its expected (slipped) fill price."""

    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    price_micro: int
    reason: Reason
    limit_micro: int = 0  # > 0: a DAY limit buy at this price (an `Enter` with a limit)


@dataclass(frozen=True, slots=True)
class BarState:
    """What the planner knows at the bar.

    `prices`: reference price (micro-units) of every symbol tradable now (a missing symbol
    has no price); `holdings`: units held; `working`: signed units of open orders that are
    not protective exits (buys > 0, sells < 0); `cash_micro`: free cash; `equity_micro`: the
    bar's sizing equity; `universe`: symbol order for rebalances (column order).
    """

    prices: Mapping[str, int]
    holdings: Mapping[str, int]
    cash_micro: int
    equity_micro: int
    universe: Sequence[str] = ()
    working: Mapping[str, int] = field(default_factory=dict)
    sell_proceeds_fund_buys: bool = True


@dataclass(frozen=True, slots=True)
class BarPlan:
    """The orders of one bar (in execution order), intents without a price, cash left."""

    orders: tuple[PlannedOrder, ...]
    unpriced: int
    cash_micro: int


def whole_units(target: Quantity, symbol: str) -> int:
    """A sizer's answer as whole units (fractions floor); `InvalidParameter` if unusable."""
    if isinstance(target, bool):
        raise InvalidParameter(f"sizer returned a bool for {symbol}; expected a quantity")
    if isinstance(target, int):
        units = target
    elif isinstance(target, Decimal):
        if not target.is_finite():
            raise InvalidParameter(f"sizer returned {target} units of {symbol}")
        units = int(target.to_integral_value(rounding="ROUND_FLOOR"))
    else:
        raise InvalidParameter(
            f"sizer returned {type(target).__name__} for {symbol}; expected int or Decimal"
        )
    if units < 0:
        raise InvalidParameter(f"sizer returned a negative target ({units}) for {symbol}")
    return units


class _Planner:
    """One bar's planning state (free cash and positions move with each planned order)."""

    __slots__ = (
        "admit",
        "cash",
        "costs",
        "equity",
        "fund_buys",
        "held",
        "holdings_get",
        "orders",
        "prices",
        "universe",
        "unpriced",
        "working",
    )

    def __init__(
        self,
        prices: Mapping[str, int],
        holdings: Mapping[str, int],
        cash_micro: int,
        equity_micro: int,
        universe: Sequence[str],
        working: Mapping[str, int],
        fund_buys: bool,
        costs: CostModel,
        admit: Callable[[PlannedOrder], bool] | None,
    ) -> None:
        self.prices = prices
        self.holdings_get = holdings.get
        self.cash = cash_micro
        self.equity = equity_micro / MICRO
        self.universe = universe
        self.working = working
        self.fund_buys = fund_buys
        self.costs = costs
        self.admit = admit
        self.held: dict[str, int] = {}
        self.orders: list[PlannedOrder] = []
        self.unpriced = 0

    def position(self, symbol: str) -> int:
        held = self.held.get(symbol)
        if held is None:
            return self.holdings_get(symbol, 0)
        return held

    def request(self, symbol: str, price: int, position: int) -> SizingRequest:
        return SizingRequest(
            symbol=symbol,
            price=price / MICRO,
            equity=self.equity,
            cash=self.cash / MICRO,
            position=float(position),
        )

    def place(self, order: PlannedOrder) -> bool:
        """Add `order` unless `admit` refuses it."""
        if self.admit is not None and not self.admit(order):
            return False
        self.orders.append(order)
        return True

    def sell(self, symbol: str, quantity: int, price: int, reason: Reason) -> None:
        fill = self.costs.fill_price_micro(price, "sell")
        if not self.place(PlannedOrder(symbol, "sell", quantity, fill, reason)):
            return
        if self.fund_buys:
            self.cash += quantity * fill - self.costs.commission_micro(quantity, fill, "sell")
        self.held[symbol] = self.position(symbol) - quantity

    def buy(self, symbol: str, wanted: int, price: int, reason: Reason, limit: int = 0) -> None:
        fill = price if limit else self.costs.fill_price_micro(price, "buy")
        quantity = self.costs.affordable_quantity(wanted, fill, self.cash)
        if quantity <= 0:
            return
        if not self.place(PlannedOrder(symbol, "buy", quantity, fill, reason, limit)):
            return
        self.cash -= self.costs.buy_cost_micro(quantity, fill)
        self.held[symbol] = self.position(symbol) + quantity

    def exit(self, symbol: str) -> None:
        quantity = self.position(symbol) + min(0, self.working.get(symbol, 0))
        if quantity <= 0:
            return
        price = self.prices.get(symbol)
        if price is None:
            self.unpriced += 1
            return
        self.sell(symbol, quantity, price, "exit")

    def rebalance(
        self, intent: Rebalance, factory: Callable[[Mapping[str, float]], PositionSizer]
    ) -> None:
        rank = {s: i for i, s in enumerate(self.universe)}
        weights: Mapping[str, float] = intent.weights
        if intent.shares is not None:  # exact targets: every listed name with units is bought
            weights = {s: weights.get(s, 0.0) or 1.0 for s, q in intent.shares.items() if q > 0}
        unknown = [s for s in weights if s not in rank]
        if unknown:
            raise DataError(f"rebalance targets {unknown[0]!r}, which is not in the prices")
        sizer = rebalance_target_sizer(intent, factory)
        prices = self.prices
        working = self.working
        held_now = [s for s in self.universe if self.position(s) > 0]
        for symbol in held_now:
            if working and working.get(symbol, 0) < 0:
                continue  # a sell is working already
            price = prices.get(symbol)
            if price is None:
                self.unpriced += 1
                continue
            held = self.position(symbol)
            target = 0
            if symbol in weights:
                target = whole_units(sizer.size(self.request(symbol, price, held)), symbol)
            if target < held:
                self.sell(symbol, held - target, price, "rebalance")
        for symbol in sorted((s for s, w in weights.items() if w > 0), key=rank.__getitem__):
            if working and working.get(symbol, 0) > 0:
                continue  # a buy is working already
            price = prices.get(symbol)
            if price is None:
                self.unpriced += 1
                continue
            held = self.position(symbol)
            target = whole_units(sizer.size(self.request(symbol, price, held)), symbol)
            if target > held:
                self.buy(symbol, target - held, price, "rebalance")

    def enter_all(self, entries: Sequence[tuple[str, int]], sizer: PositionSizer) -> None:
        """The bar's `Enter`s in the order given: `(symbol, limit_micro)`, 0 = no limit.

        One loop with its lookups bound once: most entries of a bar are no-ops (held, or
        not one unit affordable), and the backtest's speed is set by how fast they are
        skipped."""
        working = self.working
        prices_get = self.prices.get
        planned_get = self.held.get
        holdings_get = self.holdings_get
        for symbol, limit_micro in entries:
            held = planned_get(symbol)
            if held is None:
                held = holdings_get(symbol, 0)
            if held or (working and working.get(symbol, 0)):
                continue
            price = prices_get(symbol)
            if price is None:
                self.unpriced += 1
                continue
            if limit_micro:
                price = limit_micro  # sized, and its cash reserved, at the limit
            if self.cash < price:
                continue  # not even one unit is affordable, whatever the sizer says
            target = whole_units(sizer.size(self.request(symbol, price, 0)), symbol)
            if target > 0:
                self.buy(symbol, target, price, "enter", limit_micro)


def group_intents(
    intents: Iterable[Intent],
) -> tuple[list[str], list[Rebalance], list[tuple[str, int]]]:
    """Intents by kind, in the order given within a kind: `Exit` symbols, `Rebalance`s, and
    `Enter`s as `(symbol, limit_micro)` (0: a market entry)."""
    exits: list[str] = []
    rebalances: list[Rebalance] = []
    entries: list[tuple[str, int]] = []
    for intent in intents:  # entries are the most frequent kind: tested first
        if isinstance(intent, Enter):
            limit = intent.limit_price
            entries.append((intent.symbol, 0 if limit is None else to_micro(limit)))
        elif isinstance(intent, Exit):
            exits.append(intent.symbol)
        elif isinstance(intent, Rebalance):
            rebalances.append(intent)
    return exits, rebalances, entries


def plan_bar(
    intents: Iterable[Intent],
    state: BarState,
    sizer: PositionSizer,
    costs: CostModel,
    rebalance_sizer: Callable[[Mapping[str, float]], PositionSizer],
    admit: Callable[[PlannedOrder], bool] | None = None,
) -> BarPlan:
    """The bar's orders for `intents` (see the module docstring for the rules).

    Intents are taken in the order exits, rebalances, entries whatever order they come in
    (within a kind, in the order given).
    """
    exits, rebalances, entries = group_intents(intents)
    return plan_grouped(
        exits,
        rebalances,
        entries,
        prices=state.prices,
        holdings=state.holdings,
        cash_micro=state.cash_micro,
        equity_micro=state.equity_micro,
        universe=state.universe,
        working=state.working,
        sell_proceeds_fund_buys=state.sell_proceeds_fund_buys,
        sizer=sizer,
        costs=costs,
        rebalance_sizer=rebalance_sizer,
        admit=admit,
    )


def plan_grouped(
    exits: Sequence[str],
    rebalances: Sequence[Rebalance],
    entries: Sequence[tuple[str, int]],
    *,
    prices: Mapping[str, int],
    holdings: Mapping[str, int],
    cash_micro: int,
    equity_micro: int,
    universe: Sequence[str],
    working: Mapping[str, int],
    sizer: PositionSizer,
    costs: CostModel,
    rebalance_sizer: Callable[[Mapping[str, float]], PositionSizer],
    sell_proceeds_fund_buys: bool = True,
    admit: Callable[[PlannedOrder], bool] | None = None,
) -> BarPlan:
    """`plan_bar` with the intents already grouped by kind and the bar's state as arguments.

    `exits` are `Exit` symbols, `entries` `(symbol, limit_micro)` pairs (0: a market
    entry); the keyword arguments are `BarState`'s fields. The same planning, without
    building an `Enter`, an `Exit` and a `BarState` value per bar: the backtest engine's
    vectorised path calls this at every decision bar (thousands per run), where building
    those values took a measurable share of the run (benchmarks/RESULTS.md).
    """
    planner = _Planner(
        prices,
        holdings,
        cash_micro,
        equity_micro,
        universe,
        working,
        sell_proceeds_fund_buys,
        costs,
        admit,
    )
    for symbol in exits:
        planner.exit(symbol)
    for rebalance in rebalances:
        planner.rebalance(rebalance, rebalance_sizer)
    if entries:
        planner.enter_all(entries, sizer)
    return BarPlan(tuple(planner.orders), planner.unpriced, planner.cash)


__all__ = [
    "BarPlan",
    "BarState",
    "PlannedOrder",
    "group_intents",
    "plan_bar",
    "plan_grouped",
    "whole_units",
]
