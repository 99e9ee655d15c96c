"""`tf.backtest(...)`: a strategy over prices, as `tradefolio backtest` runs it.

The keywords are `BacktestConfig`'s fields, which are the CLI's flags (`risk_per_trade=`
is `--risk-per-trade`), with the same defaults and the same validation: a bad value raises
the `InvalidParameter` the CLI prints as `error: ...`. With a strategy name and a sizer
name the run is `run_config` on the same prices, exactly the CLI's path, so the fills are
the CLI's fills.

Beyond the CLI, `strategy=` also takes any object of the `Strategy` protocol (a `name`
and `plan(closes) -> SignalPlan`: closes up to bar t in, `Enter`/`Exit`/`Rebalance`
intents out) or of the event-driven `EventStrategy` protocol (a `name` and
`on_bar(BarContext)`: intents or orders of its own, see `tradefolio.execution.events`),
and `sizer=` any `PositionSizer` (`size(SizingRequest) -> units`). Timeline
(see `tradefolio.backtest.engine`): intents decided at the close of bar t fill at bar
t+1's open (its close for close-only data); exits, then rebalances, then entries; the
ledger is exact in integer micro-dollars.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tradefolio.api.checked import checked
from tradefolio.api.prices import (
    BenchmarkLike,
    PricesLike,
    benchmark_series,
    describe_source,
    price_panel,
)
from tradefolio.api.results import BacktestResult
from tradefolio.backtest.config import STRATEGIES, BacktestConfig
from tradefolio.backtest.engine import BacktestResult as EngineResult
from tradefolio.backtest.engine import run_backtest
from tradefolio.backtest.runner import (
    build_sizing,
    build_strategy,
    check_policy_history,
    cost_model,
    protective_exits,
    recorded_config,
    run_config,
)
from tradefolio.data.market import benchmark_for, report_benchmark
from tradefolio.data.panel import PricePanel
from tradefolio.errors import InvalidParameter, RebalanceFailed
from tradefolio.execution.events import EventStrategy
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.execution.sizing import PositionSizer
from tradefolio.execution.strategy import Strategy

#: The defaults of every option (`BacktestConfig`'s defaults are the CLI's).
BACKTEST_DEFAULTS = BacktestConfig()
#: The config's strategy while a user's strategy object runs: it has no options of its own
#: to check (`sma-cross` would check `fast < slow`, `momentum` its lookback).
_NO_STRATEGY_OPTIONS = "buy-and-hold"


class BacktestObserver(Protocol):
    """What a front end (the CLI) shows of a run while it happens."""

    def note(self, text: str) -> None:
        """A note on the inputs the user should read (e.g. exits on close-only data)."""
        ...

    def running(self) -> AbstractContextManager[object]:
        """A context around the engine's run (the CLI's spinner on a terminal)."""
        ...


StrategyLike = str | Strategy | EventStrategy
#: `param=`: `("NAME=VALUE", ...)` as `--param` takes them, or a mapping NAME -> value.
ParamLike = tuple[str, ...] | Mapping[str, Any] | None


def _params(param: ParamLike) -> tuple[str, ...] | None:
    """`param=` as `BacktestConfig` holds it: `NAME=VALUE` strings (`--param`'s form)."""
    if param is None or isinstance(param, tuple):
        return param
    if isinstance(param, Mapping):
        return tuple(f"{name}={value}" for name, value in param.items())
    raise InvalidParameter(
        "param must be a mapping NAME -> value or a tuple of 'NAME=VALUE' strings, "
        f"got {type(param).__name__}"
    )


def _config(strategy: StrategyLike, sizer: str | PositionSizer, **fields: Any) -> BacktestConfig:
    """The validated config; a user's strategy or sizer object checks the other options."""
    own_strategy = not isinstance(strategy, str)
    own_sizer = not isinstance(sizer, str)
    if own_strategy and not isinstance(strategy, Strategy | EventStrategy):
        raise InvalidParameter(
            "strategy must be a name (sma-cross, momentum, buy-and-hold, file.py:Class), an "
            "object with a `name` and `plan(closes) -> SignalPlan`, or one with a `name` and "
            f"`on_bar(context)`, got {type(strategy).__name__}"
        )
    if own_strategy and fields.get("param"):
        raise InvalidParameter(
            "param= sets the parameters of strategy='file.py:Class'; a strategy object takes "
            "its parameters in its own constructor"
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


@checked(own=("prices", "benchmark", "strategy", "sizer", "param", "observer"))
def backtest(
    prices: PricesLike = None,
    strategy: StrategyLike = BACKTEST_DEFAULTS.strategy,
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
    stop_loss: float | None = BACKTEST_DEFAULTS.stop_loss,
    take_profit: float | None = BACKTEST_DEFAULTS.take_profit,
    trailing_stop: float | None = BACKTEST_DEFAULTS.trailing_stop,
    no_stop: bool = BACKTEST_DEFAULTS.no_stop,
    max_position: float = BACKTEST_DEFAULTS.max_position,
    beta_sizing: bool = BACKTEST_DEFAULTS.beta_sizing,
    beta_window: int = BACKTEST_DEFAULTS.beta_window,
    target_beta: float = BACKTEST_DEFAULTS.target_beta,
    cash: float = BACKTEST_DEFAULTS.cash,
    commission_bps: float = BACKTEST_DEFAULTS.commission_bps,
    commission_per_share: float = BACKTEST_DEFAULTS.commission_per_share,
    commission_min: float = BACKTEST_DEFAULTS.commission_min,
    slippage_bps: float = BACKTEST_DEFAULTS.slippage_bps,
    param: ParamLike = BACKTEST_DEFAULTS.param,
    objective: str = BACKTEST_DEFAULTS.objective,
    risk_aversion: float = BACKTEST_DEFAULTS.risk_aversion,
    min_return: float | None = BACKTEST_DEFAULTS.min_return,
    cvar_alpha: float = BACKTEST_DEFAULTS.cvar_alpha,
    covariance: str = BACKTEST_DEFAULTS.covariance,
    risk_lookback: int = BACKTEST_DEFAULTS.risk_lookback,
    sector_cap: float | None = BACKTEST_DEFAULTS.sector_cap,
    max_turnover: float | None = BACKTEST_DEFAULTS.max_turnover,
    fixed_cost: float = BACKTEST_DEFAULTS.fixed_cost,
    cost_bps: float = BACKTEST_DEFAULTS.cost_bps,
    cost_budget: float | None = BACKTEST_DEFAULTS.cost_budget,
    min_trade: float | None = BACKTEST_DEFAULTS.min_trade,
    whole_shares: bool = BACKTEST_DEFAULTS.whole_shares,
    lot: int = BACKTEST_DEFAULTS.lot,
    min_invested: float | None = BACKTEST_DEFAULTS.min_invested,
    time_limit: float = BACKTEST_DEFAULTS.time_limit,
    on_solver_failure: str = BACKTEST_DEFAULTS.on_solver_failure,
    sectors: str | None = BACKTEST_DEFAULTS.sectors,
    observer: BacktestObserver | None = None,
) -> BacktestResult:
    """Backtest a strategy: signals at the close, fills at the next bar, exact ledger.

    - `prices`: a path, a wide `DataFrame` of closes, a long OHLCV `DataFrame` (fills at
      the open), or `None` for the bundled sample.
    - `strategy`: `sma-cross` (with `fast`, `slow`), `momentum` (`lookback`,
      `max_positions`, `rebalance`), `buy-and-hold`, a class of your own as
      `"file.py:Class"` / `"module:Class"` (its constructor's parameters set by `param`,
      `{"NAME": value}` or `("NAME=VALUE", ...)` as `--param`), or your own `Strategy` /
      `EventStrategy` object;
      `portfolio=True` scores, allocates and trades to the allocator's weights every
      `rebalance` (`factor`, `max_weight`, `min_weight`, `max_positions`, `solver`); any
      option of `tf.allocate`'s model (`objective`, `risk_aversion`, `sector_cap`,
      `max_turnover`, `cost_bps`, `fixed_cost`, `cost_budget`, `min_trade`,
      `whole_shares`, `min_invested`, ...) solves the whole model at every rebalance on
      the account's holdings and cash (`cost_bps` / `fixed_cost` are then also the fills'
      commission); `on_solver_failure` (`hold` / `stop`) says what an unsolved rebalance
      does, and `result.rebalances` lists every solve.
    - `sizer`: `risk` (`risk_per_trade` of equity lost at a `stop_loss` distance, capped at
      `max_position`), `weight` (`weight` of equity per entry), `beta` (risk sized by
      rolling beta), or your own `PositionSizer`; `beta_sizing=True` scales entries by
      rolling beta on `benchmark` (default: the sample's S&P 500) over `beta_window`.
    - exits placed on every entry's fill: a stop `stop_loss` below it (the risk sizer
      sizes from that distance and places it by default at 5%; `no_stop=True` sizes from
      it without placing it), a `take_profit` above it (OCO with the stop), a
      `trailing_stop` below the best close. Stops and limits are matched against the bars'
      highs and lows (long OHLCV prices; close-only data: open = high = low = close).
    - costs: `commission_bps`, `commission_per_share`, `commission_min`, `slippage_bps`;
      starting `cash`.
    - `observer`: hooks for a front end (`tradefolio backtest` passes its own): notes on
      the inputs, and a context around the engine's run.

    Every keyword is the `tradefolio backtest` flag of the same name, with its default.
    The result's frames are float64 analytics; `final_equity` / `final_cash` are exact
    `Decimal`s from the integer micro-dollar ledger.

    Raises `InvalidParameter` for a bad option (the message names the CLI flag), a window
    as long as the data or a close beyond the ledger's range (as `tradefolio backtest`
    refuses them), and `DataError` for unusable prices or a history too short for the
    allocation model's first decision (allocate's words). With `on_solver_failure="stop"`
    an unsolved rebalance raises `RebalanceFailed`, whose `partial` is this function's
    result for the run up to that decision (`partial.save_run_folder()` keeps it).
    """
    if isinstance(prices, str) and prices in STRATEGIES and not Path(prices).exists():
        raise InvalidParameter(
            f"prices={prices!r} is a strategy name: prices come first, pass "
            f"strategy={prices!r} (prices=None is the bundled sample)"
        )
    # every keyword but the inputs is a `BacktestConfig` field (checked in the tests)
    options = {**locals(), "rebalance": str(rebalance), "param": _params(param)}
    del options["observer"]
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
    ranges = {"highs": panel.high, "lows": panel.low}
    source = describe_source(prices)
    config.check_data(closes, source)  # as the CLI: windows, absurd prices
    check_policy_history(config, len(closes))  # as allocate: the first decision's window
    given = benchmark_series(benchmark)
    run_benchmark = benchmark_for(
        given if config.uses_benchmark else None, needed=config.uses_benchmark
    )
    missing = [name for name, bars in (("open", opens), *ranges.items()) if bars is None]
    if (
        observer is not None
        and missing
        and any(v is not None for v in (stop_loss, take_profit, trailing_stop))
    ):
        observer.note(
            f"note: {source} has no {', '.join(n.removesuffix('s') for n in missing)} prices: "
            "exits are matched as if open = high = low = close"
        )
    report = report_benchmark(
        given if given is not None else run_benchmark, sample_prices=prices is None
    )
    try:
        with contextlib.nullcontext() if observer is None else observer.running():
            raw, name, recorded = _run(config, strategy, sizer, panel, run_benchmark)
    except RebalanceFailed as exc:  # `stop`: the run up to the failure, as a result too
        if isinstance(exc.partial, EngineResult):
            exc.partial = BacktestResult(
                raw=exc.partial,
                name=_run_name(config),
                recorded=recorded_config(config),
                closes=closes.iloc[: len(exc.partial.dates)],
                benchmark=report,
                options=config,
            )
        raise
    return BacktestResult(
        raw=raw, name=name, recorded=recorded, closes=closes, benchmark=report, options=config
    )


def _run_name(config: BacktestConfig) -> str:
    """The run's name (its folder's suffix) for named strategy and sizer."""
    return "portfolio" if config.portfolio else config.strategy.rpartition(":")[2]


def _run(
    config: BacktestConfig,
    strategy: StrategyLike,
    sizer: str | PositionSizer,
    panel: PricePanel,
    run_benchmark: pd.Series | None,
) -> tuple[EngineResult, str, dict[str, Any]]:
    """The engine's run: `run_config` for named strategy and sizer (the CLI's path), else
    the engine on the user's objects; (result, run name, config as recorded)."""
    closes, opens = panel.close, panel.open
    ranges = {"highs": panel.high, "lows": panel.low}
    if isinstance(strategy, str) and isinstance(sizer, str):
        raw = run_config(config, closes, opens=opens, benchmark=run_benchmark, **ranges)
        name = _run_name(config)
        recorded = recorded_config(config)
    else:
        plan_of = strategy if not isinstance(strategy, str) else build_strategy(config)
        sizing = (
            sizer if not isinstance(sizer, str) else build_sizing(config, closes, run_benchmark)
        )
        exits = protective_exits(config)
        if not isinstance(sizer, str):  # no risk sizer's stop to place: only the one asked for
            exits = ProtectiveExits(
                stop_loss=None if config.no_stop else config.stop_loss,
                take_profit=config.take_profit,
                trailing_stop=config.trailing_stop,
            )
        raw = run_backtest(
            closes,
            plan_of,
            sizing,
            cash=config.cash,
            costs=cost_model(config),
            opens=opens,
            highs=panel.high,
            lows=panel.low,
            exits=exits,
        )
        name = plan_of.name
        recorded = {
            **config.model_dump(),
            "strategy": plan_of.name,
            "sizer": config.sizer if isinstance(sizer, str) else type(sizer).__name__,
        }
    return raw, name, recorded


__all__ = ["BACKTEST_DEFAULTS", "BacktestObserver", "backtest"]
