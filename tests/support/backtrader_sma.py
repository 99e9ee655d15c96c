"""backtrader references shared by the dev-only oracles and benchmarks/bench_backtest.py.

`close_only_cross` is the close-only SMA reference (test_backtrader_oracle.py, the
benchmark's backtrader row); `backtrader_run` is the pinned reference configuration of
`--stop-loss X [--take-profit Y]` (see `tests/unit/backtest/test_backtrader_orders.py` for
the configuration in words).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd
import pytest

from tradefolio.data.panel import PricePanel

Fill = tuple[str, str, str, int, Decimal]
MICRO = Decimal("0.000001")


def _micro(value: Decimal) -> Decimal:
    return value.quantize(MICRO, rounding=ROUND_HALF_EVEN)


def sma_crossovers(bt: Any, datas: list[Any], fast: int, slow: int) -> list[Any]:
    """One `CrossOver(SMA_fast, SMA_slow)` indicator of the closes per data feed."""
    return [
        bt.ind.CrossOver(bt.ind.SMA(d.close, period=fast), bt.ind.SMA(d.close, period=slow))
        for d in datas
    ]


def completed_fill(bt: Any, order: Any) -> tuple[str, str, str, int, Decimal]:
    """A completed order as (date, symbol, side, quantity, price)."""
    return (
        bt.num2date(order.executed.dt).date().isoformat(),
        order.data._name,
        "buy" if order.isbuy() else "sell",
        abs(int(order.executed.size)),
        Decimal(repr(order.executed.price)),
    )


def close_only_cross(bt: Any, fast: int, slow: int, weight: float) -> Any:
    """The close-only SMA reference (a `bt.Strategy` class), no stops and no costs.

    The crossover is read in `next()` at the close of bar t; in `next_open()` of bar t + 1
    (`cheat_on_open=True`) the orders are sized from `broker.getcash()` plus holdings
    marked at `open[0]` (`broker.getvalue()` is stale there): exits first, then entries
    in column order, `floor(weight · equity / open)` each, cut to the cash on hand. Its
    `fills` are `completed_fill`s. Shared by test_backtrader_oracle.py and
    benchmarks/bench_backtest.py (which times it)."""

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = sma_crossovers(bt, self.datas, fast, slow)
            self.pending: list[float] = []
            self.fills: list[Fill] = []

        def next(self) -> None:
            self.pending = [c[0] for c in self.cross]

        def next_open(self) -> None:
            if not self.pending or not any(self.pending):
                return
            free, equity = cash_and_equity_at_open(self)
            for d, signal in zip(self.datas, self.pending, strict=True):
                held = self.getposition(d).size
                if signal < 0 and held > 0:
                    self.close(data=d)
                    free += held * d.open[0]
            for d, signal in zip(self.datas, self.pending, strict=True):
                if signal > 0 and self.getposition(d).size == 0:
                    price = d.open[0]
                    size = math.floor(weight * equity / price)
                    if size * price > free:
                        size = math.floor(free / price)
                    if size > 0:
                        self.buy(data=d, size=size)
                        free -= size * price

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills.append(completed_fill(bt, order))

    return Cross


def cash_and_equity_at_open(strategy: Any) -> tuple[float, float]:
    """In `next_open`: the cash, and cash + holdings at the open (`getvalue()` is stale)."""
    free = float(strategy.broker.getcash())
    return free, free + sum(strategy.getposition(d).size * d.open[0] for d in strategy.datas)


def backtrader_run(
    panel: PricePanel,
    fast: int,
    slow: int,
    weight: float,
    cash: float,
    *,
    stop: float | None = None,
    take: float | None = None,
    trail: float | None = None,
    limits: pd.DataFrame | None = None,
    bps: float = 0.0,
    per_share: float = 0.0,
    minimum: float = 0.0,
    slippage_bps: float = 0.0,
) -> tuple[list[Fill], float]:
    """Every fill (date, symbol, side, quantity, price) and the final value, from backtrader."""
    bt = pytest.importorskip("backtrader")
    slip = slippage_bps / 1e4

    def commission(size: float, price: float) -> float:
        quantity = abs(size)
        if not quantity or not (bps or per_share or minimum):
            return 0.0
        fee = max(minimum, per_share * quantity + bps / 1e4 * quantity * price)
        return min(fee, quantity * price) if size < 0 else fee

    class Costs(bt.CommInfoBase):  # type: ignore[misc]
        params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

        def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
            return commission(size, price)

    class Reference(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = sma_crossovers(bt, self.datas, fast, slow)
            self.pending: list[float] = []
            self.decided_limit: list[float] = []
            self.legs: dict[str, list[Any]] = {}
            self.fills: list[Fill] = []

        def next(self) -> None:
            self.pending = [float(c[0]) for c in self.cross]
            if limits is not None:
                day = pd.Timestamp(bt.num2date(self.datas[0].datetime[0]).date())
                self.decided_limit = [float(limits.at[day, d._name]) for d in self.datas]
            else:
                self.decided_limit = [math.nan] * len(self.datas)

        def next_open(self) -> None:
            for orders in self.legs.values():  # DAY limit entries live for one bar
                for order in orders:
                    alive = order is not None and order.alive()
                    if alive and order.exectype == bt.Order.Limit and order.isbuy():
                        self.cancel(order)
            if not self.pending:
                return
            free, equity = cash_and_equity_at_open(self)
            for d, signal in zip(self.datas, self.pending, strict=True):
                held = self.getposition(d).size
                if signal < 0 and held > 0:
                    for order in self.legs.pop(d._name, []):
                        if order is not None and order.alive():
                            self.cancel(order)
                    self.close(data=d)
                    price = d.open[0] * (1 - slip)
                    free += held * price - commission(-held, price)
            for d, signal, limit in zip(self.datas, self.pending, self.decided_limit, strict=True):
                if signal <= 0 or self.getposition(d).size != 0:
                    continue
                if limits is not None:
                    price = fill = limit
                else:
                    price = d.open[0]
                    fill = price * (1 + slip)
                size = math.floor(weight * equity / price)
                size = min(size, math.floor(free / fill))
                while size > 0 and size * fill + commission(size, fill) > free:
                    size -= 1
                if size <= 0:
                    continue
                if limits is not None:
                    order = self.buy(data=d, size=size, exectype=bt.Order.Limit, price=price)
                    self.legs[d._name] = [order]
                    free -= size * fill + commission(size, fill)
                    continue
                free -= size * fill + commission(size, fill)
                if stop is None and take is None and trail is None:
                    self.buy(data=d, size=size)
                    continue
                exact_fill = _micro(Decimal(repr(d.open[0])) * (1 + Decimal(repr(slip))))
                kwargs: dict[str, Any] = {"stopexec": None, "limitexec": None}
                if stop is not None:
                    level = _micro(exact_fill * (1 - Decimal(repr(stop))))
                    kwargs.update(stopexec=bt.Order.Stop, stopprice=float(level))
                elif trail is not None:
                    kwargs.update(
                        stopexec=bt.Order.StopTrail,
                        stopprice=float(exact_fill),
                        stopargs={"trailpercent": trail},
                    )
                if take is not None:
                    level = _micro(exact_fill * (1 + Decimal(repr(take))))
                    kwargs.update(limitexec=bt.Order.Limit, limitprice=float(level))
                self.legs[d._name] = self.buy_bracket(
                    data=d, size=size, exectype=bt.Order.Market, **kwargs
                )

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills.append(completed_fill(bt, order))

    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.addcommissioninfo(Costs())
    if slip:
        cerebro.broker.set_slippage_perc(slip, slip_open=True, slip_out=True)
    for symbol in panel.symbols:
        frame = pd.DataFrame(
            {
                "open": panel.field("open")[symbol],
                "high": panel.field("high")[symbol],
                "low": panel.field("low")[symbol],
                "close": panel.close[symbol],
                "volume": 0.0,
            },
            index=panel.dates,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=symbol)
    cerebro.addstrategy(Reference)
    (strategy,) = cerebro.run()
    return strategy.fills, float(cerebro.broker.getvalue())
