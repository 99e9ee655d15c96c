"""Shared builders of the live tests (imported by module name; tests/ is on sys.path)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from tradefolio.backtest.strategies import SmaCross
from tradefolio.execution.sizing import Quantity, SizingRequest
from tradefolio.live.journal import Journal
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.risk import RiskEngine
from tradefolio.live.strategy import RollingStrategy
from tradefolio.live.trader import Checkpoint, LiveTrader


class WeightSizer:
    """floor(weight · equity / price): the backtest's fixed-fraction entry size."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def size(self, request: SizingRequest) -> Quantity:
        return math.floor(self.weight * request.equity / request.price)


def sma_cross(fast: int, slow: int) -> RollingStrategy:
    """The backtest's `SmaCross` as the live trader reads it on any feed (planned per bar)."""
    return RollingStrategy(SmaCross(fast, slow))


def gbm_prices(n_symbols: int, n_bars: int, seed: int) -> pd.DataFrame:
    """Seeded random-walk closes (rounded to cents) for small, fast sessions."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.02, size=(n_bars, n_symbols))
    closes = np.round(50 * np.exp(np.cumsum(steps, axis=0)), 2)
    index = pd.bdate_range("2020-01-01", periods=n_bars, name="date")
    return pd.DataFrame(closes, index=index, columns=[f"S{i}" for i in range(n_symbols)])


def open_session(
    path: Path,
    *,
    cash: Decimal = Decimal(100_000),
    costs: CostModel | None = None,
    checkpoint: Checkpoint | None = None,
    fast: int = 5,
    slow: int = 15,
    weight: float = 0.2,
    risk: RiskEngine | None = None,
    fill_delay_marks: int = 0,
) -> tuple[Journal, PaperBroker, LiveTrader]:
    """Journal + paper broker + trader on `path` (created or resumed)."""
    journal = Journal.open(path)
    journal.initialise(cash, {"test": True})
    broker = PaperBroker(
        journal.connection, cash, costs, fill_delay_marks=fill_delay_marks, checkpoint=checkpoint
    )
    kwargs = {} if checkpoint is None else {"checkpoint": checkpoint}
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=sma_cross(fast, slow),
        sizer=WeightSizer(weight),
        costs=costs,
        market=broker,
        risk=risk,
        **kwargs,
    )
    return journal, broker, trader


def live_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tradefolio live ARGS` in a fresh process with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "tradefolio", "live", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
