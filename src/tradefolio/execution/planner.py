"""The bar planner: what one bar's intents become as orders, for the backtest and live alike.

    intents + holdings + working orders + prices + cash + sizer + costs  ->  orders

One planner, `BarPlanner`, owns the rules both engines follow: the live trader calls
`plan_bar` with its journal's state and its risk engine as `admit`; the backtest engine keeps
one `BarPlanner` for the run and calls its `plan` with the intents already grouped by kind at
every bar with intents (`plan_grouped` is that for a single bar):

1. Sizing equity `E` is given by the caller, computed once before the bar's trades.
2. `Exit(s)`: sell the whole position (held units net of working sells). An `Exit` while
   flat does nothing; without a price this bar it is counted in `unpriced`.
3. `Rebalance(weights)`: the rebalance sizer gives every held or targeted symbol a target
   (a `Rebalance` with `shares`: exactly those units, `TargetShares`); sells first
   (universe order), then buys (universe order) with the cash the sells free. A buy cut
   to the cash is what the sizer's own rule makes of it when it has one (`CutsBuys`:
   `TargetShares` floors it to the model's whole lots, 0 below its minimum trade).
   A symbol with a working order in a direction gets no second order in that direction
   (open orders count as exposure: a resting buy is never sized again).
4. `Enter(s)` (universe order as given): ignored while the symbol is held *or has a working
   order* (open orders count as exposure, so a slow fill is never doubled). The sizer is
   asked `size(SizingRequest(s, p, E, cash, 0))` with the cash free *now* (after the bar's
   sells and earlier buys); a buy is cut to the largest quantity that cash pays for at the
   slipped fill price, commission included (`CostModel.affordable_quantity`, exact: the
   sizers' own cash cap is the same rule at the reference price), and skipped at
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
from typing import Literal, cast

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.execution.costs import CostModel
from tradefolio.execution.money import MICRO, to_micro
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.execution.strategy import (
    CutsBuys,
    Enter,
    Exit,
    Intent,
    Rebalance,
    rebalance_target_sizer,
)

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


#: A planned order's fields in `PlannedOrder`'s order: (symbol, side, quantity,
#: price_micro, reason, limit_micro). `BarPlanner.rows` holds these plain tuples so the
#: backtest's vectorised path, which plans thousands of bars, builds no value per order.
PlannedRow = tuple[str, Literal["buy", "sell"], int, int, Reason, int]

#: An `Enter` as the planner takes it: (symbol, limit_micro (0: a market entry), the
#: symbol's reference price this bar in micro-units, None when it has none). The backtest
#: gathers a whole run's entry prices at once; `BarPlanner.priced` looks them up.
PricedEntry = tuple[str, int, int | None]


class BarPlanner:
    """The bar planner of one run: the run's fixed inputs once, then `plan` at every bar.

    `prices` and `holdings` are read at each `plan` call as they are then (the caller may
    move them between bars: the backtest points one price view at the bar, and its holdings
    dict follows the ledger). After `plan`, `rows` are the bar's orders in execution order
    (`PlannedRow`s), `unpriced` the intents without a price and `cash` the free cash left.
    """

    __slots__ = (
        "admit",
        "cash",
        "costs",
        "equity",
        "free",
        "fund_buys",
        "held",
        "holdings_get",
        "prices",
        "rebalance_sizer",
        "rows",
        "universe",
        "unpriced",
        "working",
    )

    def __init__(
        self,
        *,
        prices: Mapping[str, int],
        holdings: Mapping[str, int],
        universe: Sequence[str],
        costs: CostModel,
        rebalance_sizer: Callable[[Mapping[str, float]], PositionSizer],
        sell_proceeds_fund_buys: bool = True,
        admit: Callable[[PlannedOrder], bool] | None = None,
    ) -> None:
        self.prices = prices
        self.holdings_get = holdings.get
        self.universe = universe
        self.costs = costs
        self.free = costs.free  # no commission, no slippage: the cost arithmetic is skipped
        self.rebalance_sizer = rebalance_sizer
        self.fund_buys = sell_proceeds_fund_buys
        self.admit = admit
        self.cash = 0
        self.equity = 0.0
        self.working: Mapping[str, int] = {}
        self.held: dict[str, int] = {}
        self.rows: list[PlannedRow] = []
        self.unpriced = 0

    def plan(
        self,
        exits: Sequence[str],
        rebalances: Sequence[Rebalance],
        entries: Sequence[PricedEntry],
        cash_micro: int,
        equity_micro: int,
        working: Mapping[str, int],
        sizer: PositionSizer,
    ) -> list[PlannedRow]:
        """Plan one bar (the rules of the module docstring) and return its `rows`.

        `exits` are `Exit` symbols, `entries` `PricedEntry`s; `cash_micro` is the free cash
        (net of working buys' reserve), `equity_micro` the bar's sizing equity, `working`
        the signed units of open non-protective orders.
        """
        self.cash = cash_micro
        self.equity = equity_micro / MICRO
        self.working = working
        self.held = {}
        self.rows = []
        self.unpriced = 0
        for symbol in exits:
            self.exit(symbol)
        for rebalance in rebalances:
            self.rebalance(rebalance, self.rebalance_sizer)
        if entries:
            self.enter_all(entries, sizer)
        return self.rows

    def priced(self, entries: Iterable[tuple[str, int]]) -> list[PricedEntry]:
        """`(symbol, limit_micro)` entries with their price from `prices` (now)."""
        prices_get = self.prices.get
        return [(symbol, limit, prices_get(symbol)) for symbol, limit in entries]

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

    def place(self, row: PlannedRow) -> bool:
        """Add the order `row` unless `admit` refuses it."""
        if self.admit is not None and not self.admit(PlannedOrder(*row)):
            return False
        self.rows.append(row)
        return True

    def sell(self, symbol: str, quantity: int, price: int, reason: Reason, position: int) -> None:
        """Sell `quantity` of the `position` units planned in `symbol` now."""
        costs = self.costs
        fill = price if self.free else costs.fill_price_micro(price, "sell")
        if not self.place((symbol, "sell", quantity, fill, reason, 0)):
            return
        if self.fund_buys:
            proceeds = quantity * fill
            if not self.free:
                proceeds -= costs.commission_micro(quantity, fill, "sell")
            self.cash += proceeds
        self.held[symbol] = position - quantity

    def buy(
        self,
        symbol: str,
        wanted: int,
        price: int,
        reason: Reason,
        position: int,
        limit: int = 0,
        cutter: CutsBuys | None = None,
    ) -> None:
        """Buy up to `wanted` (cut to the free cash) on top of the `position` planned now;
        a cut buy is what `cutter` (the rebalance sizer's own rule, `CutsBuys`) makes of it."""
        costs = self.costs
        fill = price if limit or self.free else costs.fill_price_micro(price, "buy")
        quantity = costs.affordable_quantity(wanted, fill, self.cash)
        if quantity < wanted and cutter is not None:
            # never more than the cash pays for, whatever the sizer makes of the cut
            quantity = min(cutter.cut_buy(symbol, wanted, quantity, price / MICRO), quantity)
        if quantity <= 0:
            return
        if not self.place((symbol, "buy", quantity, fill, reason, limit)):
            return
        self.cash -= quantity * fill if self.free else costs.buy_cost_micro(quantity, fill)
        self.held[symbol] = position + quantity

    def exit(self, symbol: str) -> None:
        position = self.position(symbol)
        quantity = position + min(0, self.working.get(symbol, 0))
        if quantity <= 0:
            return
        price = self.prices.get(symbol)
        if price is None:
            self.unpriced += 1
            return
        self.sell(symbol, quantity, price, "exit", position)

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
        # `isinstance(sizer, CutsBuys)`, as the protocol check decides it (a `cut_buy` that is
        # not None) without its machinery: ~30 us a rebalance, 384 of them in the sample run
        cutter = cast(CutsBuys, sizer) if getattr(sizer, "cut_buy", None) is not None else None
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
                self.sell(symbol, held - target, price, "rebalance", held)
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
                self.buy(symbol, target - held, price, "rebalance", held, cutter=cutter)

    def enter_all(self, entries: Sequence[PricedEntry], sizer: PositionSizer) -> None:
        """The bar's `Enter`s in the order given (`PricedEntry`s).

        One loop with its lookups bound once: most entries of a bar are no-ops (held, or
        not one unit affordable), and the backtest's speed is set by how fast they are
        skipped."""
        working = self.working
        planned = self.held
        holdings_get = self.holdings_get
        for symbol, limit_micro, price in entries:
            if symbol in planned:  # planned this bar (an exit earlier in the bar)
                if planned[symbol]:
                    continue
            elif holdings_get(symbol, 0):
                continue
            if working and working.get(symbol, 0):
                continue
            if price is None:
                self.unpriced += 1
                continue
            if limit_micro:
                price = limit_micro  # sized, and its cash reserved, at the limit
            if self.cash < price:
                continue  # not even one unit is affordable, whatever the sizer says
            target = whole_units(sizer.size(self.request(symbol, price, 0)), symbol)
            if target > 0:
                self.buy(symbol, target, price, "enter", 0, limit_micro)


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
    entry); the keyword arguments are `BarState`'s fields. One bar planned by a fresh
    `BarPlanner`, its rows as `PlannedOrder`s (the backtest engine keeps one `BarPlanner`
    for the whole run instead and reads its rows: at thousands of decision bars per run,
    building a planner, a `BarPlan` and a value per order took a measurable share of the
    run, benchmarks/RESULTS.md).
    """
    planner = BarPlanner(
        prices=prices,
        holdings=holdings,
        universe=universe,
        costs=costs,
        rebalance_sizer=rebalance_sizer,
        sell_proceeds_fund_buys=sell_proceeds_fund_buys,
        admit=admit,
    )
    priced = planner.priced(entries)
    rows = planner.plan(exits, rebalances, priced, cash_micro, equity_micro, working, sizer)
    return BarPlan(tuple(PlannedOrder(*row) for row in rows), planner.unpriced, planner.cash)


__all__ = [
    "BarPlan",
    "BarPlanner",
    "BarState",
    "PlannedOrder",
    "PlannedRow",
    "PricedEntry",
    "group_intents",
    "plan_bar",
    "plan_grouped",
    "whole_units",
]
