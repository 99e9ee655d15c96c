"""The strategy protocol: closes in, *intents* out; nothing about orders, cash or sizing.

A strategy answers one question: "given the closes up to and including bar t, what do I
want?" Its answer is a list of intents:

- `Enter(symbol)`: open a long position (sized later by the injected `PositionSizer`);
  ignored while a position is already held.
- `Exit(symbol)`: close the whole position; ignored while flat.
- `Rebalance(weights)`: hold these target weights of equity (anything not listed goes to
  zero), traded sells first.

Turning intents into orders (sizing, cash limits, costs) is a separate component (the
backtest engine, or `LiveTrader` through the adapters of `tradefolio.live.strategy`), so
the same strategy object drives both: the protocol lives here, below both engines, which
never import each other. For speed a strategy computes its intents for *every* bar at once
(`plan`), with the contract that row t depends only on closes at or before t (no
look-ahead, property-tested); a live caller gets the latest bar's intents with
`decide(strategy, closes_so_far)`. A `Rebalance` is traded with
`rebalance_sizer(weights)` unless an engine is given another factory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.execution.sizing import PortfolioWeightSizer, PositionSizer, Quantity, SizingRequest

if TYPE_CHECKING:  # the allocation model is imported only by the runs that use it
    from tradefolio.portfolio.policy import RebalanceDecision, RebalancePolicy

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Enter:
    """Open a long position in `symbol` (no-op while one is held or an order is working).

    `limit_price`, when given, makes the entry a `DAY` limit buy at that price (sized at
    it); otherwise the entry is a market order.
    """

    symbol: str
    limit_price: float | None = None


@dataclass(frozen=True, slots=True)
class Exit:
    """Close the whole position in `symbol` (no-op while flat)."""

    symbol: str


@dataclass(frozen=True, slots=True)
class MinimumBuy:
    """A buy the free cash would cut below `dollars` is not made (an allocation model's
    minimum trade: trade 0 or at least that much), and a cut buy is floored to whole `lot`s
    (the model's `--lot`: a buy it did not plan is never an odd lot). The cash a buy of q
    units at reference price p takes is q · p · (1 + rate) + fixed (the model's cost terms,
    which are the fill's with slippage: `CostModel.model_cost_terms`)."""

    dollars: float
    rate: float = 0.0
    fixed: float = 0.0
    lot: int = 1

    def units(self, wanted: int, price: float, cash: float) -> int:
        """`wanted` units, cut to what `cash` pays for (`cut`)."""
        if wanted <= 0 or price <= 0:
            return 0
        affordable = math.floor((cash - self.fixed) / (price * (1.0 + self.rate)) - 1e-9)
        return self.cut(wanted, affordable, price)

    def cut(self, wanted: int, affordable: int, price: float) -> int:
        """The one rule for a buy of `wanted` units when only `affordable` are paid for:
        `wanted` if they all are, else the whole lots of `affordable`; 0 when that is worth
        less than `dollars` at the reference `price`. The planner applies it again to its
        own cut at the fill price (`BarPlanner.buy`), so both engines' buys follow it."""
        units = wanted if affordable >= wanted else max(0, affordable) // self.lot * self.lot
        return units if units > 0 and units * price >= self.dollars else 0


@dataclass(frozen=True, slots=True)
class Rebalance:
    """Trade to target weights of equity; symbols not in `weights` are sold out.

    `shares`, when given, are the exact target units (an allocation policy's proven
    targets: its trades are target - held, share for share); `weights` then only record
    what the targets weigh.
    """

    weights: Mapping[str, float]
    shares: Mapping[str, int] | None = None
    minimum_buy: MinimumBuy | None = None


Intent = Enter | Exit | Rebalance


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """Every bar's intents, in array form.

    `entries[t, j]` / `exits[t, j]`: `Enter` / `Exit` of column j decided at the close of bar
    t; `rebalances[t]`: the target weights decided at the close of bar t. Shapes are
    `(bars, symbols)` in the price panel's row and column order. `entry_limits`, when
    given, holds each entry's limit price (NaN: a market entry).
    """

    entries: BoolArray
    exits: BoolArray
    rebalances: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    entry_limits: npt.NDArray[np.float64] | None = None

    def intents_at(self, bar: int, symbols: list[str]) -> tuple[Intent, ...]:
        """The intents decided at the close of `bar`: exits, then rebalance, then entries."""
        intents: list[Intent] = [Exit(symbols[j]) for j in np.flatnonzero(self.exits[bar])]
        if bar in self.rebalances:
            intents.append(Rebalance(dict(self.rebalances[bar])))
        limits = self.entry_limits
        for j in np.flatnonzero(self.entries[bar]):
            price = None if limits is None else float(limits[bar, j])
            intents.append(Enter(symbols[j], None if price is None or price != price else price))
        return tuple(intents)

    @classmethod
    def empty(cls, bars: int, symbols: int) -> SignalPlan:
        """A plan that never wants anything."""
        nothing = np.zeros((bars, symbols), dtype=np.bool_)
        return cls(entries=nothing, exits=nothing.copy())


@runtime_checkable
class Strategy(Protocol):
    """Closes (a `DatetimeIndex` x symbols panel, oldest first, NaN = no price) -> intents."""

    @property
    def name(self) -> str:
        """Short identifier (`sma-cross`, `momentum`, ...)."""
        ...

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """Intents for every bar of `closes`; row t may use only rows 0..t."""
        ...


def rebalance_sizer(weights: Mapping[str, float]) -> PositionSizer:
    """The sizer a `Rebalance` intent trades with: `PortfolioWeightSizer(weights)`.

    target = floor(w · equity / price), cut to what the cash pays for; a held symbol
    without a weight sizes to 0 (sold).
    """
    return PortfolioWeightSizer(weights)


@dataclass(frozen=True, slots=True)
class TargetShares:
    """The sizer of a `Rebalance` with exact `shares`: each symbol's listed units (0 when
    not listed: sold), whatever the equity or price."""

    shares: Mapping[str, int]
    minimum_buy: MinimumBuy | None = None

    def size(self, request: SizingRequest) -> Quantity:
        """The listed target units of `request.symbol` (a buy cut by the free cash below
        the minimum is not made: the position is kept)."""
        target = self.shares.get(request.symbol, 0)
        held = int(request.position)
        if self.minimum_buy is None or target <= held:
            return target
        return held + self.minimum_buy.units(target - held, request.price, request.cash)

    def cut_buy(self, symbol: str, wanted: int, affordable: int, price: float) -> int:
        """`MinimumBuy.cut` of the planner's cut buy (`affordable` of `wanted` units at the
        reference `price`); without a minimum, `affordable`."""
        if self.minimum_buy is None:
            return affordable
        return self.minimum_buy.cut(wanted, affordable, price)


@runtime_checkable
class CutsBuys(Protocol):
    """A sizer with its own rule for a buy the planner cuts to the cash (`TargetShares`:
    the model's lot and minimum trade); the planner asks it before placing a cut buy."""

    def cut_buy(self, symbol: str, wanted: int, affordable: int, price: float) -> int:
        """The units to buy of `symbol` when only `affordable` of `wanted` are paid for."""
        ...


def rebalance_target_sizer(
    intent: Rebalance,
    factory: Callable[[Mapping[str, float]], PositionSizer] = rebalance_sizer,
) -> PositionSizer:
    """The sizer `intent` trades with: `TargetShares` when it lists shares, else
    `factory(weights)` (default `rebalance_sizer`)."""
    if intent.shares is not None:
        return TargetShares(intent.shares, intent.minimum_buy)
    return factory(intent.weights)


def minimum_buy(policy: RebalancePolicy) -> MinimumBuy | None:
    """The policy's minimum trade and lot (`--whole-shares --lot`) as a `MinimumBuy` (its
    cost terms price the cash), or None without either."""
    options = policy.options
    lot = options.lot if options.whole_shares else 1
    if options.min_trade is None and lot == 1:
        return None
    return MinimumBuy(options.min_trade or 0.0, options.cost_bps / 1e4, options.fixed_cost, lot)


def decide(strategy: Strategy, closes: pd.DataFrame) -> tuple[Intent, ...]:
    """Intents at the last bar of `closes` (the bar-by-bar view a live trader uses)."""
    if closes.empty:
        return ()
    plan = strategy.plan(closes)
    return plan.intents_at(len(closes) - 1, [str(c) for c in closes.columns])


def stop_message(decision: RebalanceDecision) -> str:
    """What `RebalanceFailed` says of a failed decision under `--on-solver-failure stop`:
    its date, status and reason. One text for the backtest (`backtest.policy_run`) and the
    live trader (`live.strategy.PolicySource`), which both decide as under `hold`, record
    the failed decision, then stop."""
    return (
        f"rebalance of {decision.day} not solved ({decision.status}: {decision.message}); "
        "--on-solver-failure hold keeps the positions instead"
    )


__all__ = [
    "CutsBuys",
    "Enter",
    "Exit",
    "Intent",
    "MinimumBuy",
    "Rebalance",
    "SignalPlan",
    "Strategy",
    "TargetShares",
    "decide",
    "minimum_buy",
    "rebalance_sizer",
    "rebalance_target_sizer",
    "stop_message",
]
