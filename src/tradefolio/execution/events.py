"""Stateful, event-driven strategies: called once per bar with everything the trader knows.

The vectorised form (`Strategy.plan(closes)`) stays the fast path for rules that depend on
prices only. A rule that needs its own state (a stop that moves, "re-enter after a
stop-out", a time exit, pyramiding, the fill price of the position) is written as an
`EventStrategy`: `on_bar(context)` is called at the close of every bar from the strategy's
warm-up on, and what it asks for acts from the next bar exactly as a plan's intents do (the
same planner sizes the intents; submitted orders are matched from the next bar on).

`BarContext` holds the bar (open/high/low/close/volume of every symbol, as float rows in
column order), a trailing history window (`history`), positions with their average entry
price, cash, equity at the close and the open orders; it takes intents (`enter`, `exit`,
`rebalance`) and orders (`submit`, `cancel`, `replace`).

`warmup` (sessions of history a strategy needs before its first decision) is a property of
every strategy, vectorised or event-driven; `warmup_of` reads it (1 when not declared).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tradefolio.errors import InvalidParameter, StrategyError
from tradefolio.execution.orders import Order
from tradefolio.execution.strategy import Enter, Exit, Intent, MinimumBuy, Rebalance

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Position:
    """Units held of one symbol and their average entry (fill) price."""

    quantity: int
    entry_price: float


@runtime_checkable
class EventStrategy(Protocol):
    """A strategy called once per bar with a `BarContext`.

    Optionally it also has `acting_bars(bars) -> bool array` (length `bars`): the bars at
    whose close `on_bar` can act. The backtest engine then calls `on_bar` only there (a
    rebalancing policy: 384 of the sample's 8,060 bars); working orders are matched at
    every bar either way (`engine._acting_bars`)."""

    @property
    def name(self) -> str:
        """Short identifier."""
        ...

    def on_bar(self, context: BarContext) -> None:
        """Decide at the close of `context.bar`; intents and orders act from the next bar."""
        ...


def _own_traceback(exc: Exception) -> str:
    """`exc`'s traceback without its first frame (the caller's: engine or loader) and
    without the frames of the positions view's lookup (`_AskedAbout.__getitem__`: a
    missing symbol is the strategy's `KeyError`, raised in the strategy's line)."""
    frames = []
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    while tb is not None:
        if tb.tb_frame.f_code is not _AskedAbout.__getitem__.__code__:
            frames.append(tb)
        tb = tb.tb_next
    for frame, following in zip(frames, [*frames[1:], None], strict=True):
        frame.tb_next = following
    own = frames[0] if frames else None
    return "".join(traceback.format_exception(type(exc), exc, own)).rstrip()


def strategy_error(
    name: str, exc: Exception, bar: int, day: date, symbol: str | None
) -> StrategyError:
    """A user's strategy raised at `bar`: one `StrategyError` naming the bar, the last
    symbol the strategy asked about (`BarContext.last_symbol`: a hint, not proof that it
    was handling that one, so worded as such) and carrying the strategy's own traceback
    (not the engine's frames)."""
    where = f" (last symbol it asked about: {symbol})" if symbol else ""
    return StrategyError(
        f"strategy {name} raised {type(exc).__name__} at bar {bar} ({day}){where}: {exc}",
        _own_traceback(exc),
    )


def plan_error(name: str, exc: Exception) -> StrategyError:
    """A user's vectorised strategy raised in `plan(closes)`: the same one line as
    `strategy_error` (no bar: a plan covers them all) with the strategy's own traceback."""
    return StrategyError(
        f"strategy {name} raised {type(exc).__name__} in plan(closes): {exc}",
        _own_traceback(exc),
    )


def warmup_of(strategy: object) -> int:
    """Sessions of history `strategy` needs before its first decision (`warmup`, else 1)."""
    value = getattr(strategy, "warmup", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameter(f"strategy warmup must be an integer >= 1, got {value!r}")
    return value


class _AskedAbout(Mapping[str, Position]):
    """A read-only view of the positions that records each symbol looked up in it as the
    context's `last_symbol` (named if the strategy then raises)."""

    __slots__ = ("_context", "_held")

    def __init__(self, held: Mapping[str, Position], context: BarContext) -> None:
        self._held = held
        self._context = context

    def __getitem__(self, symbol: str) -> Position:
        self._context.last_symbol = symbol
        return self._held[symbol]

    def __contains__(self, symbol: object) -> bool:
        if isinstance(symbol, str):
            self._context.last_symbol = symbol
        return symbol in self._held

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __repr__(self) -> str:
        return repr(dict(self._held))


class BarContext:
    """What an event-driven strategy sees and can do at the close of one bar."""

    __slots__ = (
        "_cancels",
        "_column_of",
        "_fields",
        "_intents",
        "_open_orders",
        "_orders",
        "_positions",
        "_replacements",
        "bar",
        "cash",
        "date",
        "equity",
        "last_symbol",
        "symbols",
    )

    def __init__(
        self,
        *,
        bar: int,
        day: date,
        symbols: list[str],
        column_of: Mapping[str, int],
        fields: Mapping[str, FloatArray],
        cash: float,
        equity: float,
        positions: Callable[[], Mapping[str, Position]],
        open_orders: Callable[[], tuple[Order, ...]],
    ) -> None:
        self.bar = bar
        self.date = day
        self.symbols = symbols
        self._column_of = column_of
        self._fields = fields
        self.cash = cash
        self.equity = equity
        self._positions = positions
        self._open_orders = open_orders
        self._intents: list[Intent] = []
        self._orders: list[Order] = []
        self._cancels: list[str] = []
        self._replacements: list[tuple[str, Order]] = []
        #: The last symbol the strategy asked about or traded (named if it raises).
        self.last_symbol: str | None = None

    # -- what the strategy sees --------------------------------------------------------

    def _column(self, symbol: str) -> int:
        self.last_symbol = symbol
        try:
            return self._column_of[symbol]
        except KeyError:
            raise InvalidParameter(f"{symbol!r} is not in the prices") from None

    def field(self, name: str) -> FloatArray:
        """This bar's `open`, `high`, `low`, `close` or `volume` of every symbol (column
        order; NaN where a symbol has no bar)."""
        row: FloatArray = self._fields[name][self.bar]
        return row

    def price(self, symbol: str, name: str = "close") -> float:
        """One symbol's `name` price on this bar."""
        return float(self._fields[name][self.bar, self._column(symbol)])

    def history(self, window: int, name: str = "close") -> FloatArray:
        """The last `window` rows (this bar included, oldest first) of `name`: a read-only
        view of shape (<= window, symbols)."""
        if window < 1:
            raise InvalidParameter(f"history window must be >= 1, got {window}")
        view: FloatArray = self._fields[name][max(0, self.bar + 1 - window) : self.bar + 1]
        view.flags.writeable = False
        return view

    @property
    def positions(self) -> Mapping[str, Position]:
        """Open positions by symbol (quantity and average entry price); a symbol looked up
        in it (`[...]`, `get`, `in`) is the last one asked about, as with `position`."""
        return _AskedAbout(self._positions(), self)

    def position(self, symbol: str) -> Position | None:
        """The position in `symbol`, or None when flat."""
        self.last_symbol = symbol
        return self._positions().get(symbol)

    @property
    def open_orders(self) -> tuple[Order, ...]:
        """Working orders (entries, protective exits, the strategy's own)."""
        return self._open_orders()

    # -- what the strategy does --------------------------------------------------------

    def enter(self, symbol: str, limit_price: float | None = None) -> None:
        """An `Enter` intent (sized by the run's sizer; protective exits as configured)."""
        self._column(symbol)
        self._intents.append(Enter(symbol, limit_price))

    def exit(self, symbol: str) -> None:
        """An `Exit` intent: cancel the symbol's working orders and sell it at the open."""
        self._column(symbol)
        self._intents.append(Exit(symbol))

    def rebalance(
        self,
        weights: Mapping[str, float],
        shares: Mapping[str, int] | None = None,
        minimum_buy: MinimumBuy | None = None,
    ) -> None:
        """A `Rebalance` intent to target weights of equity (or, with `shares`, to exactly
        those units: an allocation policy's proven targets; `minimum_buy`: a buy the cash
        would cut below the minimum trade is not made)."""
        held = None if shares is None else dict(shares)
        self._intents.append(Rebalance(dict(weights), held, minimum_buy))

    def submit(self, order: Order) -> None:
        """Submit an order of the strategy's own (active from the next bar)."""
        self._column(order.symbol)
        self._orders.append(order)

    def cancel(self, client_order_id: str) -> None:
        """Cancel a working order (before the next bar is matched)."""
        self._cancels.append(client_order_id)

    def replace(self, client_order_id: str, order: Order) -> None:
        """Cancel `client_order_id` and submit `order` in its place (one step)."""
        self._column(order.symbol)
        self._replacements.append((client_order_id, order))

    def actions(
        self,
    ) -> tuple[list[Intent], list[Order], list[str], list[tuple[str, Order]]]:
        """What was asked for at this bar: intents, orders, cancels, replacements."""
        return self._intents, self._orders, self._cancels, self._replacements


def check_warmup(strategy: object, sessions: int) -> None:
    """A strategy's warm-up leaves at least one bar to trade on `sessions` of prices: its
    first decision is at the close of session `warmup` and fills on the next one, so a
    warm-up of `sessions` or more would be a run that trades nothing, silently."""
    warmup = warmup_of(strategy)
    if warmup >= sessions:
        name = getattr(strategy, "name", type(strategy).__name__)
        raise InvalidParameter(
            f"strategy {name}'s warm-up of {warmup:,d} sessions leaves nothing to trade in "
            f"the {sessions:,d} bars given (it needs at least {warmup + 1:,d}): use a longer "
            "price file or a shorter warm-up"
        )


__all__ = [
    "BarContext",
    "EventStrategy",
    "Position",
    "check_warmup",
    "plan_error",
    "strategy_error",
    "warmup_of",
]
