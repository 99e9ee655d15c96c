"""Event-driven strategies: the same rule written both ways fills identically; the context
shows state (positions with entry prices, open orders); a raising strategy is one clear
failure naming the bar and symbol."""

from __future__ import annotations

import pandas as pd
import pytest

from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.strategies import SmaCross, SmaCrossEvents
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.data.synthetic import gbm_ohlc
from tradefolio.errors import StrategyError
from tradefolio.execution.costs import CostModel
from tradefolio.execution.events import BarContext, warmup_of
from tradefolio.execution.orders import Order, OrderType, ProtectiveExits
from tradefolio.execution.sizing import PortfolioWeightSizer, RiskBasedSizer


def _fills(result: BacktestResult) -> list[tuple[object, ...]]:
    return [
        (f.bar, f.symbol, f.side, f.quantity, f.price_micro, f.commission_micro, f.client_order_id)
        for f in result.fills
    ]


def test_sma_cross_both_ways_gives_identical_fills_on_the_golden_sample() -> None:
    closes = load_sample_prices()
    sizer = PortfolioWeightSizer.fixed(0.10)
    vectorised = run_backtest(closes, SmaCross(20, 50), sizer)
    events = run_backtest(closes, SmaCrossEvents(20, 50), sizer)
    assert len(vectorised.fills) == 2591
    assert _fills(events) == _fills(vectorised)
    assert events.final_equity_micro == vectorised.final_equity_micro


def test_both_ways_identical_with_stops_brackets_and_costs_on_ohlc_bars() -> None:
    panel = gbm_ohlc(10, 900, seed=8, volatility=0.4)
    kwargs = {
        "opens": panel.open,
        "highs": panel.high,
        "lows": panel.low,
        "costs": CostModel(commission_bps=5, commission_min=1.0, slippage_bps=3),
        "exits": ProtectiveExits(stop_loss=0.05, take_profit=0.1),
        "cash": 500_000,
    }
    sizer = RiskBasedSizer()
    vectorised = run_backtest(panel.close, SmaCross(5, 20), sizer, **kwargs)  # type: ignore[arg-type]
    events = run_backtest(panel.close, SmaCrossEvents(5, 20), sizer, **kwargs)  # type: ignore[arg-type]
    assert len(vectorised.fills) > 100
    assert _fills(events) == _fills(vectorised)


class _ReEnterAfterStop:
    """Stateful: buys at the first bar, and after a stop-out waits `cooldown` bars then
    buys again; records what the context showed it."""

    name = "re-enter"
    warmup = 2

    def __init__(self, cooldown: int) -> None:
        self.cooldown = cooldown
        self.flat_since: int | None = None
        self.seen: list[tuple[int, float | None, int]] = []

    def on_bar(self, context: BarContext) -> None:
        position = context.position("X")
        self.seen.append(
            (
                context.bar,
                None if position is None else position.entry_price,
                len(context.open_orders),
            )
        )
        if position is not None:
            self.flat_since = None
            return
        if any(o.symbol == "X" for o in context.open_orders):
            return
        if self.flat_since is None:
            self.flat_since = context.bar
        if context.bar - self.flat_since >= self.cooldown or context.bar == 1:
            context.enter("X")


def test_a_stateful_strategy_sees_its_position_entry_price_and_open_orders() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=8), name="date")
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 90, 92),
            (92, 93, 91, 92), (92, 93, 91, 92), (92, 93, 91, 92), (92, 93, 91, 92)]  # fmt: skip
    o, h, low, c = (pd.DataFrame({"X": [r[i] for r in rows]}, index=index) for i in range(4))
    strategy = _ReEnterAfterStop(cooldown=2)
    result = run_backtest(
        c, strategy, PortfolioWeightSizer.fixed(0.5), cash=10_000, opens=o, highs=h, lows=low,
        exits=ProtectiveExits(stop_loss=0.05), form="events",
    )  # fmt: skip
    trades = [(f.bar, f.side, f.price, f.client_order_id) for f in result.fills]
    assert trades == [
        (2, "buy", 100, "X-2-enter"),
        (3, "sell", 95, "X-2-enter-stop"),  # stopped out inside bar 3
        (6, "buy", 92, "X-6-enter"),  # re-entered after two flat closes (bars 3, 4 -> 5)
    ]
    # at the close of bar 2 it held 50 units bought at 100, protected by one open stop
    assert (2, 100.0, 1) in strategy.seen


class _OwnOrders:
    """Submits its own limit buy, then replaces it lower, then cancels nothing."""

    name = "own-orders"

    def on_bar(self, context: BarContext) -> None:
        if context.bar == 0:
            context.submit(Order("mine-1", "X", "buy", 5, OrderType.LIMIT, limit_price=95))
        elif context.bar == 1:
            replacement = Order("mine-2", "X", "buy", 5, OrderType.LIMIT, limit_price=90)
            context.replace("mine-1", replacement)


def test_submit_and_replace_orders_of_its_own() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=4), name="date")
    rows = [(100, 100, 100, 100), (100, 100, 97, 99), (96, 97, 94, 95), (93, 94, 89, 90)]
    o, h, low, c = (pd.DataFrame({"X": [r[i] for r in rows]}, index=index) for i in range(4))
    result = run_backtest(
        c, _OwnOrders(), PortfolioWeightSizer.fixed(0.5), cash=10_000, opens=o, highs=h, lows=low
    )
    # mine-1 (95) was not reached on bar 1 (low 97); replaced by mine-2 (90), filled on bar 3
    assert [(f.bar, f.price, f.client_order_id) for f in result.fills] == [(3, 90, "mine-2")]


class _Raises:
    name = "fragile"
    warmup = 3

    def on_bar(self, context: BarContext) -> None:
        price = context.price("B")
        if price > 0 and context.bar == 4:
            raise ZeroDivisionError("bad luck")


def test_a_raising_strategy_names_the_bar_the_symbol_and_its_traceback() -> None:
    closes = load_sample_prices().iloc[:10, :3]
    closes.columns = ["A", "B", "C"]
    with pytest.raises(StrategyError) as caught:
        run_backtest(closes, _Raises(), PortfolioWeightSizer.fixed(0.1))
    message, trace = str(caught.value), caught.value.strategy_traceback
    assert message.startswith("strategy fragile raised ZeroDivisionError at bar 4 (")
    assert message.endswith("(last symbol it asked about: B): bad luck")
    assert "in on_bar" in trace and 'raise ZeroDivisionError("bad luck")' in trace


def test_warmup_is_a_strategy_property() -> None:
    assert warmup_of(SmaCross(5, 30)) == 30 == warmup_of(SmaCrossEvents(5, 30))
    assert warmup_of(_OwnOrders()) == 1


class _SameIdTwice:
    name = "same-id"

    def on_bar(self, context: BarContext) -> None:
        if context.bar in (0, 1):
            context.submit(Order("only-one", "X", "buy", 1, OrderType.LIMIT, limit_price=1))


def test_an_order_id_used_twice_is_refused() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=4), name="date")
    closes = pd.DataFrame({"X": [100.0, 101.0, 102.0, 103.0]}, index=index)
    with pytest.raises(StrategyError, match="'only-one' twice"):
        run_backtest(closes, _SameIdTwice(), PortfolioWeightSizer.fixed(0.5))
