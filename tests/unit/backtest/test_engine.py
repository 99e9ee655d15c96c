"""The engine: golden sample run, an independent reference loop, ledger and causality laws."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.costs import CostModel
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.ledger import MICRO
from tradefolio.backtest.runner import entry_sizer, run_config
from tradefolio.backtest.strategies import BuyAndHold, MomentumRotation, SmaCross
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.execution.sizing import Quantity, SizingRequest
from tradefolio.execution.strategy import SignalPlan, Strategy

# --- golden: backtrader's result on the bundled sample -----------------------------------


@pytest.fixture(scope="module")
def golden() -> BacktestResult:
    config = BacktestConfig.create(
        strategy="sma-cross", fast=20, slow=50, sizer="weight", weight=0.10, cash=1_000_000
    )
    return run_config(config, load_sample_prices())


def test_golden_sample_matches_backtrader_to_the_cent(golden: BacktestResult) -> None:
    assert golden.final_equity.quantize(Decimal("0.01")) == Decimal("40529060.25")


def test_golden_sample_fill_counts(golden: BacktestResult) -> None:
    sides = [f.side for f in golden.fills]
    assert (len(sides), sides.count("buy"), sides.count("sell")) == (2591, 1299, 1292)
    assert len(golden.final_positions) == 7


def test_golden_equity_curve_ends_at_the_exact_final_equity(golden: BacktestResult) -> None:
    assert golden.equity.iloc[-1] == pytest.approx(float(golden.final_equity), rel=1e-12)
    assert golden.equity.iloc[0] == 1_000_000


# --- an independent reference: the rules of the issue, one bar at a time -----------------


def reference_fills(
    closes: pd.DataFrame, fast: int, slow: int, weight: float, cash: Decimal
) -> list[tuple[int, str, str, int, Decimal]]:
    """SMA cross with `weight` of equity per entry, in Decimal, straight from the rules:
    an entry is sized and cut to the cash at its fill bar's price (the engine prices a
    close's intents at the next bar; backtrader's `cheat_on_open` reference sizes at the
    open it fills at), the cut exact, as the ledger pays: `quantity · price <= cash`."""
    values = closes.to_numpy()
    symbols = list(closes.columns)
    bars = len(values)
    prices = [[Decimal(repr(float(v))) for v in row] for row in values]
    carried = [0.0] * len(symbols)
    start = slow - 1
    held: dict[int, int] = {}
    fills: list[tuple[int, str, str, int, Decimal]] = []
    pending: list[tuple[int, int]] = []
    for bar in range(bars):
        if pending:
            equity = cash + sum(q * prices[bar][j] for j, q in held.items())
            for j, signal in pending:
                if signal < 0 and j in held:
                    quantity = held.pop(j)
                    cash += quantity * prices[bar][j]
                    fills.append((bar, symbols[j], "sell", quantity, prices[bar][j]))
            for j, signal in pending:
                if signal > 0 and j not in held:
                    price = prices[bar][j]
                    quantity = math.floor(weight * float(equity) / float(price))
                    if quantity * price > cash:
                        quantity = int(cash // price)
                    if quantity > 0:
                        cash -= quantity * price
                        held[j] = quantity
                        fills.append((bar, symbols[j], "buy", quantity, price))
        pending = []
        if bar < start:
            continue
        for j in range(len(symbols)):
            column = values[: bar + 1, j].tolist()
            difference = math.fsum(column[-fast:]) / fast - math.fsum(column[-slow:]) / slow
            if bar > start:
                if carried[j] < 0 < difference:
                    pending.append((j, 1))
                elif carried[j] > 0 > difference:
                    pending.append((j, -1))
            if bar == start or difference != 0:
                carried[j] = difference
    return fills


def _panel(values: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=len(values)), name="date")
    columns = [f"S{j}" for j in range(values.shape[1])]
    return pd.DataFrame(values, index=index, columns=columns)


def _random_walk(seed: int, bars: int, symbols: int, decimals: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.02, size=(bars, symbols))
    return _panel(np.round(20.0 * np.exp(np.cumsum(steps, axis=0)) + 0.01, decimals))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fast=st.integers(2, 6),
    extra=st.integers(1, 10),
    weight=st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0]),
)
# the cash at bar 59, 5,166.91, is exactly 223 · 23.17 (a float product one ulp above it
# made the sizers buy 222); seed 117 has the same tie at 212 · 26.35 = 5,586.20
@example(seed=813, fast=2, extra=2, weight=0.5)
@example(seed=117, fast=2, extra=2, weight=0.5)
def test_engine_matches_the_reference_loop(seed: int, fast: int, extra: int, weight: float) -> None:
    closes = _random_walk(seed, 160, 4)
    config = BacktestConfig.create(
        fast=fast, slow=fast + extra, sizer="weight", weight=weight, cash=10_000
    )
    result = run_config(config, closes)
    got = [(f.bar, f.symbol, f.side, f.quantity, f.price) for f in result.fills]
    assert got == reference_fills(closes, fast, fast + extra, weight, Decimal(10_000))


# --- ledger invariant and no look-ahead, for every strategy and random costs -------------


def _strategies() -> st.SearchStrategy[Strategy]:
    return st.one_of(
        st.builds(SmaCross, fast=st.integers(2, 5), slow=st.integers(6, 15)),
        st.just(BuyAndHold()),
        st.builds(
            MomentumRotation,
            lookback=st.integers(5, 30),
            skip=st.just(1),
            max_positions=st.integers(1, 3),
            rebalance=st.sampled_from(["weekly", "monthly", 7]),
        ),
    )


costs_strategy = st.builds(
    CostModel,
    commission_bps=st.sampled_from([0.0, 5.0, 25.0]),
    commission_per_share=st.sampled_from([0.0, 0.005]),
    commission_min=st.sampled_from([0.0, 1.0]),
    slippage_bps=st.sampled_from([0.0, 3.0, 10.0]),
)


def _replay_equity(result: BacktestResult, closes: pd.DataFrame) -> list[Decimal]:
    """cash + Σ quantity · close at every bar, replayed from the fills in Decimal."""
    cash = result.initial_cash
    held: dict[str, int] = {}
    by_bar: dict[int, list] = {}
    for fill in result.fills:
        by_bar.setdefault(fill.bar, []).append(fill)
    marks = closes.ffill()
    curve = []
    for bar in range(len(closes)):
        for fill in by_bar.get(bar, []):
            sign = 1 if fill.side == "buy" else -1
            cash += -sign * fill.quantity * fill.price - fill.commission
            held[fill.symbol] = held.get(fill.symbol, 0) + sign * fill.quantity
            assert held[fill.symbol] >= 0, "no shorting"
            assert cash >= 0, "a buy never spends more than free cash"
        row = marks.iloc[bar]
        curve.append(cash + sum(q * Decimal(repr(float(row[s]))) for s, q in held.items() if q))
    return curve


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    strategy=_strategies(),
    costs=costs_strategy,
    weight=st.sampled_from([0.1, 0.25, 0.6]),
)
def test_cash_plus_positions_is_equity_at_every_bar(
    seed: int, strategy: Strategy, costs: CostModel, weight: float
) -> None:
    closes = _random_walk(seed, 120, 3)
    sizer = entry_sizer(BacktestConfig.create(sizer="weight", weight=weight))
    result = run_backtest(closes, strategy, sizer, cash=5_000, costs=costs)
    curve = _replay_equity(result, closes)
    assert curve[-1] == result.final_equity
    assert result.cash.min() >= 0
    np.testing.assert_allclose(result.equity.to_numpy(), [float(v) for v in curve], rtol=1e-12)
    np.testing.assert_allclose(
        (result.cash + result.invested).to_numpy(), result.equity.to_numpy(), rtol=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    strategy=_strategies(),
    cut=st.integers(20, 100),
    shock=st.floats(0.5, 2.0),
)
def test_prices_after_t_never_change_orders_decided_up_to_t(
    seed: int, strategy: Strategy, cut: int, shock: float
) -> None:
    closes = _random_walk(seed, 120, 3)
    perturbed = closes.copy()
    rng = np.random.default_rng(seed + 1)
    perturbed.iloc[cut + 1 :] *= shock * rng.uniform(
        0.8, 1.25, size=perturbed.iloc[cut + 1 :].shape
    )
    perturbed = perturbed.round(2)
    sizer = entry_sizer(BacktestConfig.create(sizer="weight", weight=0.3))
    plan, changed = strategy.plan(closes), strategy.plan(perturbed)
    assert np.array_equal(plan.entries[: cut + 1], changed.entries[: cut + 1])
    assert np.array_equal(plan.exits[: cut + 1], changed.exits[: cut + 1])
    assert {b: w for b, w in plan.rebalances.items() if b <= cut} == {
        b: w for b, w in changed.rebalances.items() if b <= cut
    }
    before = run_backtest(closes, strategy, sizer, cash=5_000)
    after = run_backtest(perturbed, strategy, sizer, cash=5_000)
    assert [f for f in before.fills if f.bar <= cut] == [f for f in after.fills if f.bar <= cut]
    if not plan.rebalances:
        # exits decided at the close of `cut` fill at cut + 1 whatever the prices there
        sold = [f.symbol for f in before.fills if f.bar == cut + 1 and f.side == "sell"]
        assert sold == [f.symbol for f in after.fills if f.bar == cut + 1 and f.side == "sell"]


# --- the rules, one at a time --------------------------------------------------------------


class _Scripted:
    """A strategy that wants exactly what the test says, at the bars it says."""

    name = "scripted"

    def __init__(
        self,
        entries: Mapping[int, list[int]],
        exits: Mapping[int, list[int]] | None = None,
        rebalances: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        self.entries, self.exits, self.rebalances = entries, exits or {}, rebalances or {}

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        plan = SignalPlan.empty(*closes.shape)
        for bar, columns in self.entries.items():
            plan.entries[bar, columns] = True
        for bar, columns in self.exits.items():
            plan.exits[bar, columns] = True
        return SignalPlan(plan.entries, plan.exits, dict(self.rebalances))


class _Fixed:
    def __init__(self, units: Quantity) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> Quantity:
        return self.units


def test_orders_fill_at_the_next_bar_open_when_opens_exist() -> None:
    closes = _panel(np.array([[10.0], [11.0], [12.0]]))
    opens = _panel(np.array([[9.5], [10.5], [11.5]]))
    result = run_backtest(closes, _Scripted({0: [0]}), _Fixed(3), cash=100, opens=opens)
    (fill,) = result.fills
    assert (fill.bar, fill.price, fill.quantity) == (1, Decimal("10.5"), 3)
    assert result.final_equity == Decimal(100) - 3 * Decimal("10.5") + 3 * 12


def test_a_signal_on_the_last_bar_is_never_filled() -> None:
    closes = _panel(np.array([[10.0], [11.0]]))
    assert run_backtest(closes, _Scripted({1: [0]}), _Fixed(1), cash=100).fills == ()


def test_a_buy_is_cut_to_the_cash_and_exits_come_first() -> None:
    closes = _panel(np.array([[10.0, 10.0], [10.0, 10.0], [20.0, 10.0], [20.0, 10.0]]))
    # bar 0: buy 9 of S0 (cost 90 of 100). bar 1 decides: exit S0, enter S1 wanting 100 units.
    script = _Scripted({0: [0], 1: [1]}, exits={1: [0]})
    sizer = _Fixed(9)
    result = run_backtest(closes, _Scripted({0: [0]}), sizer, cash=100)
    assert [f.quantity for f in result.fills] == [9]
    result = run_backtest(closes, script, _Fixed(100), cash=100)
    sells = [f for f in result.fills if f.side == "sell"]
    buys = [f for f in result.fills if f.side == "buy"]
    assert [(f.bar, f.symbol) for f in sells] == [(2, "S0")]
    # cash at bar 2 = 100 - 10·10 + 10·20 = 200 after the exit, enough for 20 of S1 at 10
    assert [(f.bar, f.symbol, f.quantity) for f in buys] == [(1, "S0", 10), (2, "S1", 20)]


def test_enter_while_holding_and_exit_while_flat_do_nothing() -> None:
    closes = _panel(np.full((4, 1), 10.0))
    script = _Scripted({0: [0], 1: [0]}, exits={})
    assert len(run_backtest(closes, script, _Fixed(1), cash=100).fills) == 1
    flat = _Scripted({}, exits={0: [0]})
    assert run_backtest(closes, flat, _Fixed(1), cash=100).fills == ()


def test_rebalance_sells_first_then_buys_to_target_weights() -> None:
    closes = _panel(np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0]]))
    script = _Scripted({}, rebalances={0: {"S0": 1.0}, 1: {"S1": 0.5}})
    result = run_backtest(closes, script, _Fixed(0), cash=100)
    got = [(f.bar, f.symbol, f.side, f.quantity) for f in result.fills]
    assert got == [(1, "S0", "buy", 10), (2, "S0", "sell", 10), (2, "S1", "buy", 5)]


def test_costs_are_charged_exactly() -> None:
    closes = _panel(np.array([[10.0], [10.0], [10.0], [10.0]]))
    costs = CostModel(commission_bps=10, commission_min=1.0, slippage_bps=100)
    script = _Scripted({0: [0]}, exits={1: [0]})
    result = run_backtest(closes, script, _Fixed(5), cash=1_000, costs=costs)
    buy, sell = result.fills
    assert (buy.price, sell.price) == (Decimal("10.1"), Decimal("9.9"))
    assert (buy.commission, sell.commission) == (Decimal(1), Decimal(1))
    assert result.final_equity == Decimal(1_000) - Decimal("50.5") - 1 + Decimal("49.5") - 1


def test_commission_counts_against_cash() -> None:
    closes = _panel(np.full((3, 1), 10.0))
    costs = CostModel(commission_per_share=1.0)
    result = run_backtest(closes, _Scripted({0: [0]}), _Fixed(50), cash=100, costs=costs)
    assert [f.quantity for f in result.fills] == [9]  # 9 · (10 + 1) = 99 <= 100
    assert result.final_cash_micro == 1 * MICRO


def test_fractional_targets_floor_and_negative_targets_fail() -> None:
    closes = _panel(np.full((3, 1), 10.0))
    result = run_backtest(closes, _Scripted({0: [0]}), _Fixed(Decimal("2.7")), cash=100)
    assert [f.quantity for f in result.fills] == [2]
    with pytest.raises(InvalidParameter):
        run_backtest(closes, _Scripted({0: [0]}), _Fixed(-1), cash=100)


def test_missing_fill_price_drops_the_order() -> None:
    closes = _panel(np.array([[10.0, 10.0], [np.nan, 10.0], [10.0, 10.0]]))
    result = run_backtest(closes, _Scripted({0: [0, 1]}), _Fixed(1), cash=100)
    assert [f.symbol for f in result.fills] == ["S1"]
    assert result.dropped_orders == 1


def test_bad_panels_are_data_errors() -> None:
    with pytest.raises(DataError):
        run_backtest(_panel(np.array([[10.0]])), BuyAndHold(), _Fixed(1))
    with pytest.raises(DataError):
        run_backtest(_panel(np.array([[10.0], [-1.0]])), BuyAndHold(), _Fixed(1))
    with pytest.raises(InvalidParameter):
        run_backtest(_panel(np.array([[10.0], [11.0]])), BuyAndHold(), _Fixed(1), cash=0)


def test_huge_accounts_stay_exact_beyond_int64() -> None:
    # 5e6 units at 1e6 = 5e18 micro-units: past int64, the ledger's Python ints take over
    closes = _panel(np.array([[1e6, 3.0], [1e6, 3.0], [1_000_000.5, 3.0], [1_000_001.25, 3.0]]))
    script = _Scripted({0: [0], 1: [1]})
    result = run_backtest(closes, script, _Fixed(5_000_000), cash=Decimal("5000000000015"))
    assert [f.quantity for f in result.fills] == [5_000_000, 5]
    expected = Decimal(15) - 15 + 5_000_000 * Decimal("1000001.25") + 5 * 3
    assert result.final_equity == expected
