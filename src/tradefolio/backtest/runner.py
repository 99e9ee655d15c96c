"""From a `BacktestConfig` to a finished run: build the strategy and the sizing, then run.

This is the one place that maps configuration names to objects (`sma-cross` ->
`SmaCross`, `--sizer risk` -> `RiskBasedSizer`, `--beta-sizing` -> a `BetaSizer` per
decision bar); the engine itself only ever sees the protocols.

`--beta-sizing` (and `--sizer beta`): the entry sizer (risk, or weight) is wrapped in a
`BetaSizer` whose betas are `rolling_beta` of each symbol's daily returns on the benchmark's
over the `beta_window` sessions ending at the decision bar (no later data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.costs import CostModel
from tradefolio.backtest.engine import BacktestResult, _TargetWeightSizer, run_backtest
from tradefolio.backtest.sizing import DatedSizing, FixedSizing, SizingPolicy
from tradefolio.backtest.strategies import (
    BuyAndHold,
    MomentumRotation,
    PortfolioRebalance,
    SmaCross,
)
from tradefolio.backtest.strategy import Strategy
from tradefolio.errors import DataError
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import DEFAULT_LOOKBACK


def build_strategy(config: BacktestConfig) -> Strategy:
    """The strategy object a config names (`--portfolio` overrides `--strategy`)."""
    rebalance = _rebalance_rule(config.rebalance)
    if config.portfolio:
        return PortfolioRebalance(
            factor=config.factor,
            lookback=config.lookback,
            params=AllocatorParams(
                max_weight=config.max_weight,
                min_weight=config.min_weight,
                max_positions=config.max_positions,
            ),
            rebalance=rebalance,
            solver=config.solver,
        )
    if config.strategy == "sma-cross":
        return SmaCross(fast=config.fast, slow=config.slow)
    if config.strategy == "momentum":
        return MomentumRotation(
            lookback=config.lookback or DEFAULT_LOOKBACK["momentum"],
            max_positions=config.max_positions,
            rebalance=rebalance,
        )
    return BuyAndHold()


def _rebalance_rule(rule: str) -> str | int:
    return int(rule) if rule.isdigit() else rule


class _RiskSizer:
    """Private stand-in for `execution.sizing.RiskBasedSizer` until it lands.

    Risk `risk_per_trade · equity` with a stop `stop_loss` below the price:
    target = floor(risk · equity / (price · stop_loss)), at most position + floor(cash / price).
    """

    __slots__ = ("risk_per_trade", "stop_loss")

    def __init__(self, risk_per_trade: float, stop_loss: float) -> None:
        self.risk_per_trade = risk_per_trade
        self.stop_loss = stop_loss

    def size(self, request: SizingRequest) -> Quantity:
        """Units to hold (see the class docstring)."""
        stop_distance = (
            request.price - request.stop_price
            if request.stop_price is not None
            else request.price * self.stop_loss
        )
        if stop_distance <= 0:
            return int(request.position)
        target = int(self.risk_per_trade * request.equity / stop_distance)
        held = int(request.position)
        affordable = held + int(request.cash / request.price)
        return max(min(target, affordable), 0)


@dataclass(frozen=True, slots=True)
class _BetaScaledSizer:
    """Private stand-in for `execution.sizing.BetaSizer` until it lands.

    target = floor(inner · min(target_beta / beta, 1))
    (a symbol with a missing or non-positive beta keeps the inner size).
    """

    inner: PositionSizer
    betas: Mapping[str, float]
    target_beta: float = 1.0

    def size(self, request: SizingRequest) -> Quantity:
        """The inner sizer's target scaled down for high-beta symbols."""
        inner = int(self.inner.size(request))
        beta = self.betas.get(request.symbol, math.nan)
        if not (math.isfinite(beta) and beta > 0):
            return inner
        return max(int(inner * min(self.target_beta / beta, 1.0)), 0)


def _rolling_betas(closes: pd.DataFrame, benchmark: pd.Series, window: int) -> pd.DataFrame:
    """Private stand-in for `indicators.rolling_beta`: cov(r_i, r_B) / var(r_B) over `window`."""
    returns = closes.pct_change(fill_method=None)
    bench = benchmark.pct_change(fill_method=None)
    covariance = returns.rolling(window).cov(bench)
    variance = bench.rolling(window).var()
    return covariance.div(variance, axis=0)


def entry_sizer(config: BacktestConfig) -> PositionSizer:
    """The sizer `--sizer risk|weight` names (before any beta wrapping)."""
    if config.sizer == "weight":
        return _TargetWeightSizer({}, default=config.weight)
    return _RiskSizer(config.risk_per_trade, config.stop_loss)


def build_sizing(
    config: BacktestConfig, closes: pd.DataFrame, benchmark: pd.Series | None
) -> SizingPolicy:
    """Fixed sizing, or a beta-wrapped sizer rebuilt with each decision bar's betas."""
    inner = entry_sizer(config)
    if not config.uses_benchmark:
        return FixedSizing(inner)
    if benchmark is None:
        raise DataError("beta sizing needs a benchmark series; pass --benchmark FILE")
    aligned = benchmark.reindex(closes.index)
    if int(aligned.notna().sum()) < config.beta_window + 1:
        raise DataError(
            f"benchmark has {int(aligned.notna().sum())} sessions in common with the prices; "
            f"beta sizing needs at least --beta-window + 1 = {config.beta_window + 1}"
        )
    betas = _rolling_betas(closes, aligned, config.beta_window)
    values = betas.to_numpy(dtype=np.float64, na_value=np.nan)
    symbols = [str(c) for c in closes.columns]

    def at(bar: int) -> PositionSizer:
        row = dict(zip(symbols, values[bar].tolist(), strict=True))
        return _BetaScaledSizer(inner, row, config.target_beta)

    return DatedSizing.of(at)


def cost_model(config: BacktestConfig) -> CostModel:
    """Commission and slippage of a config."""
    return CostModel(
        commission_bps=config.commission_bps,
        commission_per_share=config.commission_per_share,
        commission_min=config.commission_min,
        slippage_bps=config.slippage_bps,
    )


def run_config(
    config: BacktestConfig,
    closes: pd.DataFrame,
    *,
    opens: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
) -> BacktestResult:
    """Run the backtest a config describes on `closes` (and `opens` for open fills)."""
    return run_backtest(
        closes,
        build_strategy(config),
        build_sizing(config, closes, benchmark),
        cash=config.cash,
        costs=cost_model(config),
        opens=opens,
    )


__all__ = ["build_sizing", "build_strategy", "cost_model", "entry_sizer", "run_config"]
