"""`tf.backtest(...)`: a strategy over prices, as `tradefolio backtest` runs it.

The keywords are `BacktestConfig`'s fields, which are the CLI's flags (`risk_per_trade=`
is `--risk-per-trade`), with the same defaults and the same validation: a bad value raises
the `InvalidParameter` the CLI prints as `error: ...`. With a strategy name and a sizer
name the run is `run_config` on the same prices, exactly the CLI's path, so the fills are
the CLI's fills.

Beyond the CLI, `strategy=` also takes any object of the `Strategy` protocol (a `name`
and `plan(closes) -> SignalPlan`: closes up to bar t in, `Enter`/`Exit`/`Rebalance`
intents out), and `sizer=` any `PositionSizer` (`size(SizingRequest) -> units`). Timeline
(see `tradefolio.backtest.engine`): intents decided at the close of bar t fill at bar
t+1's open (its close for close-only data); exits, then rebalances, then entries; the
ledger is exact in integer micro-dollars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tradefolio.api.prices import (
    BenchmarkLike,
    PricesLike,
    benchmark_series,
    describe_source,
    price_panel,
    sample_benchmark,
)
from tradefolio.api.results import BacktestResult
from tradefolio.backtest.config import STRATEGIES, BacktestConfig
from tradefolio.backtest.engine import run_backtest
from tradefolio.backtest.runner import build_sizing, build_strategy, cost_model, run_config
from tradefolio.errors import InvalidParameter
from tradefolio.execution.sizing import PositionSizer
from tradefolio.execution.strategy import Strategy
from tradefolio.reporting.run_folder import record_from_backtest

#: The defaults of every option (`BacktestConfig`'s defaults are the CLI's).
BACKTEST_DEFAULTS = BacktestConfig()
#: The config's strategy while a user's strategy object runs: it has no options of its own
#: to check (`sma-cross` would check `fast < slow`, `momentum` its lookback).
_NO_STRATEGY_OPTIONS = "buy-and-hold"


def _config(strategy: str | Strategy, sizer: str | PositionSizer, **fields: Any) -> BacktestConfig:
    """The validated config; a user's strategy or sizer object checks the other options."""
    own_strategy = not isinstance(strategy, str)
    own_sizer = not isinstance(sizer, str)
    if own_strategy and not isinstance(strategy, Strategy):
        raise InvalidParameter(
            "strategy must be a name (sma-cross, momentum, buy-and-hold) or an object with a "
            f"`name` and `plan(closes) -> SignalPlan`, got {type(strategy).__name__}"
        )
    if own_sizer and not isinstance(sizer, PositionSizer):
        raise InvalidParameter(
            "sizer must be a name (risk, weight, beta) or an object with "
            f"`size(request) -> units`, got {type(sizer).__name__}"
        )
    if own_strategy and fields.get("portfolio"):
        raise InvalidParameter(
            "portfolio=True trades the allocator's weights; pass it without a strategy object"
        )
    if own_sizer and fields.get("beta_sizing"):
        raise InvalidParameter("beta_sizing=True wraps a named sizer (risk or weight)")
    return BacktestConfig.create(
        strategy=_NO_STRATEGY_OPTIONS if own_strategy else strategy,
        sizer=BACKTEST_DEFAULTS.sizer if own_sizer else sizer,
        **fields,
    )


def backtest(
    prices: PricesLike = None,
    strategy: str | Strategy = BACKTEST_DEFAULTS.strategy,
    *,
    benchmark: BenchmarkLike = None,
    sizer: str | PositionSizer = BACKTEST_DEFAULTS.sizer,
    fast: int = BACKTEST_DEFAULTS.fast,
    slow: int = BACKTEST_DEFAULTS.slow,
    lookback: int | None = BACKTEST_DEFAULTS.lookback,
    max_positions: int = BACKTEST_DEFAULTS.max_positions,
    rebalance: str | int = BACKTEST_DEFAULTS.rebalance,
    portfolio: bool = BACKTEST_DEFAULTS.portfolio,
    factor: str = BACKTEST_DEFAULTS.factor,
    max_weight: float = BACKTEST_DEFAULTS.max_weight,
    min_weight: float = BACKTEST_DEFAULTS.min_weight,
    solver: str = BACKTEST_DEFAULTS.solver,
    weight: float = BACKTEST_DEFAULTS.weight,
    risk_per_trade: float = BACKTEST_DEFAULTS.risk_per_trade,
    stop_loss: float = BACKTEST_DEFAULTS.stop_loss,
    max_position: float = BACKTEST_DEFAULTS.max_position,
    beta_sizing: bool = BACKTEST_DEFAULTS.beta_sizing,
    beta_window: int = BACKTEST_DEFAULTS.beta_window,
    target_beta: float = BACKTEST_DEFAULTS.target_beta,
    cash: float = BACKTEST_DEFAULTS.cash,
    commission_bps: float = BACKTEST_DEFAULTS.commission_bps,
    commission_per_share: float = BACKTEST_DEFAULTS.commission_per_share,
    commission_min: float = BACKTEST_DEFAULTS.commission_min,
    slippage_bps: float = BACKTEST_DEFAULTS.slippage_bps,
) -> BacktestResult:
    """Backtest a strategy: signals at the close, fills at the next bar, exact ledger.

    - `prices`: a path, a wide `DataFrame` of closes, a long OHLCV `DataFrame` (fills at
      the open), or `None` for the bundled sample.
    - `strategy`: `sma-cross` (with `fast`, `slow`), `momentum` (`lookback`,
      `max_positions`, `rebalance`), `buy-and-hold`, or your own `Strategy` object;
      `portfolio=True` scores, allocates and trades to the allocator's weights every
      `rebalance` (`factor`, `max_weight`, `min_weight`, `max_positions`, `solver`).
    - `sizer`: `risk` (`risk_per_trade` of equity lost at a `stop_loss` distance, capped at
      `max_position`), `weight` (`weight` of equity per entry), `beta` (risk sized by
      rolling beta), or your own `PositionSizer`; `beta_sizing=True` scales entries by
      rolling beta on `benchmark` (default: the sample's S&P 500) over `beta_window`.
    - costs: `commission_bps`, `commission_per_share`, `commission_min`, `slippage_bps`;
      starting `cash`.

    Every keyword is the `tradefolio backtest` flag of the same name, with its default.
    The result's frames are float64 analytics; `final_equity` / `final_cash` are exact
    `Decimal`s from the integer micro-dollar ledger.

    Raises `InvalidParameter` for a bad option (the message names the CLI flag), a window
    as long as the data or a close beyond the ledger's range (as `tradefolio backtest`
    refuses them), and `DataError` for unusable prices.
    """
    if isinstance(prices, str) and prices in STRATEGIES and not Path(prices).exists():
        raise InvalidParameter(
            f"prices={prices!r} is a strategy name: prices come first, pass "
            f"strategy={prices!r} (prices=None is the bundled sample)"
        )
    # every keyword but the inputs is a `BacktestConfig` field (checked in the tests)
    options = {**locals(), "rebalance": str(rebalance)}
    config = _config(
        strategy,
        sizer,
        **{
            name: options[name]
            for name in BacktestConfig.model_fields
            if name not in ("strategy", "sizer")
        },
    )
    panel = price_panel(prices)
    closes, opens = panel.close, panel.open
    config.check_data(closes, describe_source(prices))  # as the CLI: windows, absurd prices
    given = benchmark_series(benchmark)
    run_benchmark: pd.Series | None = None
    if config.uses_benchmark:
        run_benchmark = given if given is not None else sample_benchmark()
    if isinstance(strategy, str) and isinstance(sizer, str):
        raw = run_config(config, closes, opens=opens, benchmark=run_benchmark)
        name: str = "portfolio" if config.portfolio else config.strategy
        recorded = config.model_dump()
    else:
        plan_of = strategy if not isinstance(strategy, str) else build_strategy(config)
        sizing = (
            sizer if not isinstance(sizer, str) else build_sizing(config, closes, run_benchmark)
        )
        raw = run_backtest(
            closes, plan_of, sizing, cash=config.cash, costs=cost_model(config), opens=opens
        )
        name = plan_of.name
        recorded = {
            **config.model_dump(),
            "strategy": plan_of.name,
            "sizer": config.sizer if isinstance(sizer, str) else type(sizer).__name__,
        }
    report_benchmark = given if given is not None else run_benchmark
    if report_benchmark is None and prices is None:
        report_benchmark = sample_benchmark()
    record = record_from_backtest(
        raw,
        recorded,
        closes=closes,
        benchmark=report_benchmark,
        rebalances=getattr(raw, "rebalances", None),
        name=name,
    )
    return BacktestResult(raw=raw, record=record, name=name)


__all__ = ["BACKTEST_DEFAULTS", "backtest"]
