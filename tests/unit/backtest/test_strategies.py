"""Strategies: rebalance calendars, picks, and bar-by-bar decisions equal to the plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import build_sizing, build_strategy
from tradefolio.backtest.strategies import (
    BuyAndHold,
    MomentumRotation,
    PortfolioRebalance,
    SmaCross,
    parse_rebalance,
    rebalance_bars,
)
from tradefolio.errors import InvalidParameter
from tradefolio.execution.sizing import SizingRequest
from tradefolio.execution.strategy import Enter, Exit, Rebalance, Strategy, decide
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import score_universe


def _walk(seed: int, bars: int = 150, symbols: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.round(30 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, (bars, symbols)), 0)), 2)
    index = pd.DatetimeIndex(pd.bdate_range("2021-01-04", periods=bars), name="date")
    return pd.DataFrame(values, index=index, columns=[f"S{j}" for j in range(symbols)])


def test_rebalance_calendars() -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2021-01-27", periods=10))
    monthly = rebalance_bars(index, "monthly")
    assert [d.date().isoformat() for d in index[monthly]] == ["2021-01-27", "2021-02-01"]
    weekly = rebalance_bars(index, "weekly")
    assert [d.day_name() for d in index[weekly]] == ["Wednesday", "Monday", "Monday"]
    assert np.flatnonzero(rebalance_bars(index, 4)).tolist() == [0, 4, 8]
    assert parse_rebalance("21") == 21
    for bad in ("daily", "0", 0, -3):
        with pytest.raises(InvalidParameter):
            parse_rebalance(bad)


def test_momentum_rotation_holds_the_best_positive_names() -> None:
    closes = _walk(1, bars=80)
    closes["S3"] = np.linspace(50, 10, len(closes))  # falling: never picked
    closes["S0"] = np.linspace(10, 50, len(closes))  # rising fastest: always picked
    plan = MomentumRotation(lookback=20, skip=0, max_positions=2, rebalance=10).plan(closes)
    assert sorted(plan.rebalances) == list(range(20, 80, 10))
    for weights in plan.rebalances.values():
        assert "S0" in weights and "S3" not in weights
        assert all(w == 0.5 for w in weights.values()) and len(weights) <= 2


def test_portfolio_rebalance_uses_the_allocator() -> None:
    closes = _walk(2, bars=120, symbols=6)
    strategy = PortfolioRebalance(
        factor="trailing-return",
        lookback=30,
        params=AllocatorParams(max_weight=0.4, min_weight=0.05, max_positions=2),
        rebalance=20,
        solver="exact",
    )
    plan = strategy.plan(closes)
    assert sorted(plan.rebalances) == [40, 60, 80, 100]
    for bar, weights in plan.rebalances.items():
        trailing = closes.iloc[bar] / closes.iloc[bar - 30] - 1
        best = set(trailing[trailing > 0].nlargest(2).index)
        assert set(weights) == best
        assert all(0.05 <= w <= 0.4 for w in weights.values())


def test_sma_cross_rejects_bad_windows() -> None:
    with pytest.raises(InvalidParameter, match="shorter"):
        SmaCross(50, 20)
    with pytest.raises(InvalidParameter):
        SmaCross(0, 20)


def test_buy_and_hold_enters_each_symbol_at_its_first_close() -> None:
    closes = _walk(3, bars=5, symbols=2)
    closes.iloc[:2, 1] = np.nan
    plan = BuyAndHold().plan(closes)
    assert np.argwhere(plan.entries).tolist() == [[0, 0], [2, 1]]
    assert decide(BuyAndHold(), closes.iloc[:3]) == (Enter("S1"),)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 1000),
    strategy=st.sampled_from(
        [
            SmaCross(3, 8),
            BuyAndHold(),
            MomentumRotation(lookback=15, skip=2, max_positions=2, rebalance="weekly"),
        ]
    ),
)
def test_bar_by_bar_decisions_equal_the_plan(seed: int, strategy: Strategy) -> None:
    closes = _walk(seed, bars=60)
    plan = strategy.plan(closes)
    symbols = list(closes.columns)
    for bar in range(len(closes)):
        assert decide(strategy, closes.iloc[: bar + 1]) == plan.intents_at(bar, symbols)


def test_intents_come_exits_first() -> None:
    closes = _walk(4, bars=3, symbols=2)
    plan = BuyAndHold().plan(closes)
    plan.exits[0, 1] = True
    rebalancing = type(plan)(plan.entries, plan.exits, {0: {"S0": 1.0}})
    assert rebalancing.intents_at(0, ["S0", "S1"]) == (
        Exit("S1"),
        Rebalance({"S0": 1.0}),
        Enter("S0"),
        Enter("S1"),
    )


def test_beta_sizing_uses_no_benchmark_or_price_after_the_decision_bar() -> None:
    closes = _walk(5, bars=120)
    benchmark = closes.mean(axis=1)
    config = BacktestConfig.create(beta_sizing=True, beta_window=30)
    request = SizingRequest("S1", price=30.0, equity=100_000.0, cash=100_000.0)
    decision = 70
    before = build_sizing(config, closes, benchmark).sizer_at(decision).size(request)
    changed_closes, changed_benchmark = closes.copy(), benchmark.copy()
    changed_closes.iloc[decision + 1 :] *= 1.7
    changed_benchmark.iloc[decision + 1 :] *= 0.4
    after = build_sizing(config, changed_closes, changed_benchmark).sizer_at(decision)
    assert after.size(request) == before
    # and the betas do move the size: a doubled benchmark move halves the beta
    louder = benchmark.copy()
    louder.iloc[:] = benchmark.iloc[0] * (benchmark / benchmark.iloc[0]) ** 2
    plain = build_sizing(BacktestConfig.create(), closes, None).sizer_at(decision).size(request)
    assert build_sizing(config, closes, louder).sizer_at(decision).size(request) != before
    assert plain >= before


def test_config_builds_the_named_strategy() -> None:
    assert isinstance(build_strategy(BacktestConfig.create()), SmaCross)
    assert isinstance(build_strategy(BacktestConfig.create(strategy="momentum")), MomentumRotation)
    assert isinstance(build_strategy(BacktestConfig.create(strategy="buy-and-hold")), BuyAndHold)
    assert isinstance(build_strategy(BacktestConfig.create(portfolio=True)), PortfolioRebalance)
    with pytest.raises(InvalidParameter, match="--weight"):
        BacktestConfig.create(weight=2.0)
    with pytest.raises(InvalidParameter, match="--lookback must be > 21"):
        BacktestConfig.create(portfolio=True, lookback=20)
    with pytest.raises(InvalidParameter, match="--lookback must be > 21"):
        BacktestConfig.create(strategy="momentum", lookback=21)
    with pytest.raises(InvalidParameter, match="--lookback must be > 21"):
        PortfolioRebalance(lookback=21)
    with pytest.raises(InvalidParameter, match=r"wieght"):
        BacktestConfig.create(wieght=0.1)


def test_momentum_rotation_ranks_like_score_universe() -> None:
    closes = _walk(6, bars=90, symbols=6)
    strategy = MomentumRotation(lookback=30, skip=5, max_positions=3, rebalance=15)
    for bar, weights in strategy.plan(closes).rebalances.items():
        scores = score_universe(closes.iloc[: bar + 1], "momentum", 30, skip=5).values
        assert set(weights) == set(scores[scores > 0].nlargest(3).index)


def test_portfolio_rebalance_never_looks_ahead() -> None:
    closes = _walk(7, bars=120, symbols=5)
    strategy = PortfolioRebalance(lookback=30, rebalance=10, solver="exact")
    cut = 64
    changed = closes.copy()
    changed.iloc[cut + 1 :] = changed.iloc[cut + 1 :].to_numpy()[::-1] * 3.0
    before = {b: w for b, w in strategy.plan(closes).rebalances.items() if b <= cut}
    after = {b: w for b, w in strategy.plan(changed).rebalances.items() if b <= cut}
    assert before == after and len(before) >= 4
