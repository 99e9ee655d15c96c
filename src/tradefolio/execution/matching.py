"""Matching resting orders against one OHLC bar, with backtrader's semantics as the reference.

All prices are integer micro-units. For a bar with open `o`, high `h`, low `l`, close `c`
(close-only data: o = h = l = c, decided by `PricePanel.field`):

- **market**: fills at `o`.
- **limit buy** at L: `o <= L` fills at `o` (the bar gapped through the limit: the better
  open), else `l <= L` fills at `L`, else no fill. A **limit sell** mirrors it (`o >= L` at
  `o`, else `h >= L` at `L`).
- **stop sell** at S: `o <= S` fills at `o` (a gap through the stop fills at the open, not
  at the stop: the loss is the gap's), else `l <= S` fills at `S`. A **stop buy** mirrors it.
- **stop-limit** (stop S, limit L), sell: `o <= S` triggers it at the open and it is matched
  as a limit on the same bar; `l <= S` triggers it inside the bar: if `o <= c` it fills at S
  when `L <= S`, else at L when `L <= c`; if `o > c` it fills at S when `L <= S`. Once
  triggered and unfilled it is a limit order. The buy mirrors it.
- **trailing stop**: a stop at its current level; if it does not fill, the level then
  moves with the close (`c · (1 - pct)` or `c - amount` for a sell, only upwards).

Within one bar the engine tries orders in submission order (older first, then the orders
the strategy placed for this bar): a bracket's stop and take-profit that could both
trigger in one bar therefore fill the stop (it was submitted first) and the take-profit is
canceled (one-cancels-other). A bracket's children become active on the bar *after* their
parent fills (the entry bar's own range never triggers them), and a trailing stop first
moves with the close of its first active bar. `DAY` orders live for their first active bar
only. This is backtrader's `BackBroker` (1.9.78) with `cheat_on_open=True`. The backtest
engine and the live `PaperBroker` both match with this module (no ledger, no I/O here).

Slippage (`CostModel.slippage_bps`) moves market and stop fills against the trader, from
the matched price, without capping to the bar's range (backtrader's `slip_open=True,
slip_out=True`). A limit (or triggered stop-limit) filled at a gapped open, or a stop-limit
filled at its stop, is slipped too but never past its limit; a limit filled at its limit
price inside the bar is not slipped. (backtrader with `slip_out=True` lets that slip cross
the limit; tradefolio never fills a limit order worse than its limit.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradefolio.execution.costs import CostModel
from tradefolio.execution.money import round_micro
from tradefolio.execution.orders import Order, OrderType


@dataclass(slots=True)
class Resting:
    """The engine's mutable view of one working order (prices in micro-units)."""

    order: Order
    column: int
    active_from: int
    stop: int = 0
    limit: int = 0
    trail_percent: Decimal | None = None
    trail_amount: int = 0
    triggered: bool = False
    reserved: int = 0
    expires_after: int | None = None
    alive: bool = True
    is_entry: bool = False
    has_children: bool = False


def _limit_fill(buy: bool, limit: int, o: int, h: int, low: int) -> int | None:
    if buy:
        if limit >= o:
            return o
        return limit if limit >= low else None
    if limit <= o:
        return o
    return limit if limit <= h else None


def _stop_fill(buy: bool, stop: int, o: int, h: int, low: int) -> int | None:
    if buy:
        if o >= stop:
            return o
        return stop if h >= stop else None
    if o <= stop:
        return o
    return stop if low <= stop else None


def _stop_limit_fill(resting: Resting, buy: bool, o: int, h: int, low: int, c: int) -> int | None:
    stop, limit = resting.stop, resting.limit
    if resting.triggered:
        return _limit_fill(buy, limit, o, h, low)
    if buy:
        if o >= stop:
            resting.triggered = True
            return _limit_fill(buy, limit, o, h, low)
        if h < stop:
            return None
        resting.triggered = True
        if limit >= stop:
            return stop
        return limit if o > c and limit >= c else None
    if o <= stop:
        resting.triggered = True
        return _limit_fill(buy, limit, o, h, low)
    if low > stop:
        return None
    resting.triggered = True
    if limit <= stop:
        return stop
    return limit if o <= c and limit <= c else None


#: How slippage applies to a matched price.
NO_SLIP, SLIP, SLIP_TO_LIMIT = 0, 1, 2


def match(resting: Resting, o: int, h: int, low: int, c: int) -> tuple[int | None, int]:
    """`(price, slip)`: the matched price on this bar (None: no fill) and how slippage
    applies to it: `SLIP` (market, stop), `SLIP_TO_LIMIT` (slipped, capped at the limit)
    or `NO_SLIP` (a limit filled at its limit)."""
    kind = resting.order.type
    buy = resting.order.side == "buy"
    if kind is OrderType.MARKET:
        return o, SLIP
    if kind is OrderType.STOP or kind is OrderType.TRAILING_STOP:
        return _stop_fill(buy, resting.stop, o, h, low), SLIP
    if kind is OrderType.LIMIT:
        price = _limit_fill(buy, resting.limit, o, h, low)
    else:
        price = _stop_limit_fill(resting, buy, o, h, low, c)
    if price is None:
        return None, NO_SLIP
    return price, NO_SLIP if price == resting.limit else SLIP_TO_LIMIT


def slipped(resting: Resting, price: int, slip: int, costs: CostModel) -> int:
    """The fill price of a match at `price` (see the module docstring): slipped against the
    trader for `SLIP`, slipped but never past the limit for `SLIP_TO_LIMIT`."""
    if slip == NO_SLIP:
        return price
    side = resting.order.side
    price = costs.fill_price_micro(price, side)
    if slip == SLIP_TO_LIMIT:
        price = min(price, resting.limit) if side == "buy" else max(price, resting.limit)
    return price


def trail(resting: Resting, close: int) -> None:
    """Move a trailing stop with the close (only in the trader's favour)."""
    if resting.trail_percent is not None:
        distance = round_micro(close * resting.trail_percent)
    else:
        distance = resting.trail_amount
    if resting.order.side == "sell":
        resting.stop = max(resting.stop, close - distance)
    else:
        level = close + distance
        resting.stop = level if resting.stop == 0 else min(resting.stop, level)


__all__ = ["NO_SLIP", "SLIP", "SLIP_TO_LIMIT", "Resting", "match", "slipped", "trail"]
