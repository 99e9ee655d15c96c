"""The event loop's fast path for a rebalancing run: on_bar only at the policy's acting bars.

`PolicyRun.acting_bars` promises that `on_bar` does nothing at any other bar, so the engine
builds no context there (`engine._acting_bars`). Oracle: the same run with the strategy
wrapped so that it has no `acting_bars` (every bar visited, the slow path) gives the same
fills, equity and decisions, on sample data with the issue-15 model options, from the first
bar and from a walk-forward `first_decision`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.policy_run import PolicyRun
from tradefolio.backtest.runner import (
    build_run_strategy,
    build_sizing,
    cost_model,
    protective_exits,
)
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import InvalidParameter
from tradefolio.execution.events import BarContext

SYMBOLS = ["AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "MSFT", "XOM"]
#: The issue-15 sample run's model, on a short window (lookbacks 40: ~10 rebalances).
OPTIONS: dict[str, Any] = {
    "portfolio": True,
    "objective": "mean-variance",
    "risk_aversion": 5.0,
    "sector_cap": 0.35,
    "max_turnover": 0.2,
    "cost_bps": 5.0,
    "fixed_cost": 1.0,
    "max_positions": 5,
    "lookback": 40,
    "risk_lookback": 40,
    "cash": 250_000.0,
}


class _EveryBar:
    """`inner` without `acting_bars`: the engine calls its `on_bar` at every bar."""

    def __init__(self, inner: PolicyRun) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def warmup(self) -> int:
        return self.inner.warmup

    def on_bar(self, context: BarContext) -> None:
        self.inner.on_bar(context)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load_sample_prices().loc[:, SYMBOLS].iloc[:400]


def _run(
    config: BacktestConfig, closes: pd.DataFrame, first_decision: int, every_bar: bool
) -> tuple[BacktestResult, PolicyRun]:
    strategy = build_run_strategy(config, closes, first_decision)
    assert isinstance(strategy, PolicyRun)
    result = run_backtest(
        closes,
        _EveryBar(strategy) if every_bar else strategy,
        build_sizing(config, closes, None),
        cash=config.cash,
        costs=cost_model(config),
        exits=protective_exits(config),
    )
    return result, strategy


def _decisions(strategy: PolicyRun) -> list[tuple[int, dict[str, Any]]]:
    """Every decision but its clock."""
    return [(bar, {**asdict(d), "seconds": 0.0}) for bar, d in strategy.decisions]


@pytest.mark.parametrize("first_decision", [0, 230])
def test_acting_bars_run_equals_the_every_bar_run(
    closes: pd.DataFrame, first_decision: int
) -> None:
    config = BacktestConfig.create(**OPTIONS)
    fast, fast_strategy = _run(config, closes, first_decision, every_bar=False)
    slow, slow_strategy = _run(config, closes, first_decision, every_bar=True)
    assert len(fast_strategy.decisions) >= 5
    assert fast.fills == slow.fills
    assert fast.final_equity_micro == slow.final_equity_micro
    pd.testing.assert_series_equal(fast.equity, slow.equity, check_exact=True)
    assert _decisions(fast_strategy) == _decisions(slow_strategy)


def test_acting_bars_are_the_bars_on_bar_decides_at(closes: pd.DataFrame) -> None:
    config = BacktestConfig.create(**OPTIONS)
    strategy = build_run_strategy(config, closes, 230)
    assert isinstance(strategy, PolicyRun)
    acting = strategy.acting_bars(len(closes))
    result = run_backtest(
        closes,
        _EveryBar(strategy),
        build_sizing(config, closes, None),
        cash=config.cash,
        costs=cost_model(config),
    )
    assert result.fills
    asked = [bar for bar, _ in strategy.decisions]
    assert asked == np.flatnonzero(acting).tolist()[: len(asked)]
    assert set(np.flatnonzero(acting).tolist()) - set(asked) <= {len(closes) - 1}


def test_acting_bars_of_the_wrong_length_are_refused(closes: pd.DataFrame) -> None:
    config = BacktestConfig.create(**OPTIONS)
    strategy = build_run_strategy(config, closes)

    class Short(_EveryBar):
        def acting_bars(self, bars: int) -> np.ndarray:
            return np.ones(bars - 1, dtype=bool)

    assert isinstance(strategy, PolicyRun)
    with pytest.raises(InvalidParameter, match="acting_bars"):
        run_backtest(closes, Short(strategy), build_sizing(config, closes, None))
