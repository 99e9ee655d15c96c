"""The strategy side of a live session from the backtest's options: what `tradefolio live`
trades.

`live` never imports `backtest` (both follow `execution`'s strategy protocol); here, above
both, the same `BacktestConfig` a backtest validates (the same flags, defaults and checks)
becomes the `TradingSetup` a `tradefolio.live.session.LiveSession` runs: the backtest's own
strategy and sizing factories, its costs and cash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import (
    build_plan_strategy,
    build_sizing,
    build_strategy,
    check_policy_history,
    entry_sizer,
    exits_note,
    protective_exits,
    rebalance_policy,
)
from tradefolio.live.session import LiveSession, SessionMessages, SessionOptions, TradingSetup
from tradefolio.live.strategy import Account, DecisionLog, IntentSource, PolicySource


def _history_needed(config: BacktestConfig) -> int:
    """Sessions of history the strategy needs to decide at all (with the allocation
    model: its scores' and risk window's too)."""
    needed = 2
    if config.portfolio or config.strategy == "momentum":
        needed = (config.lookback or 0) + 2
    elif config.strategy == "sma-cross":
        needed = config.slow + 1
    if config.portfolio:
        needed = max(needed, rebalance_policy(config).window + 1)
    return needed


def _policy(config: BacktestConfig) -> Callable[[Account, DecisionLog], IntentSource] | None:
    """The policy of `--portfolio` (the allocation model, or the seed's score model), as the
    session binds it to its journal's account (None for any other strategy)."""
    if not config.portfolio:
        return None
    rule = int(config.rebalance) if config.rebalance.isdigit() else config.rebalance

    # Decides as under `hold`, so a failed rebalance is logged before a `stop` halts the
    # session (`PolicySource`'s `stop`, as the backtest's `PolicyRun`).
    stop = config.on_solver_failure == "stop"

    def source(account: Account, log: DecisionLog) -> IntentSource:
        policy = rebalance_policy(config, on_failure="hold")
        return PolicySource(policy, account, rule, log, stop=stop)

    return source


def _history_check(config: BacktestConfig) -> Callable[[int], None] | None:
    """A `--portfolio` session's refusal of a replay too short for its first decision
    (`check_history`: allocate's words, as the backtest refuses it); None otherwise."""
    if not config.portfolio:
        return None
    return lambda sessions: check_policy_history(config, sessions)


def trading_setup(config: BacktestConfig) -> TradingSetup:
    """`config`'s strategy, sizing, protective exits, costs and cash as a live session
    trades them (the exits act in live as in the backtest)."""
    return TradingSetup(
        settings=config.model_dump(),
        strategy=lambda: build_plan_strategy(config, "live"),
        replay_strategy=lambda: build_strategy(config),
        entries=entry_sizer(config),
        exits=protective_exits(config),
        sizing=lambda closes, benchmark: build_sizing(config, closes, benchmark),
        uses_benchmark=config.uses_benchmark,
        history_needed=_history_needed(config),
        cash=config.cash,
        # `--cost-bps` / `--fixed-cost` of the model are the fills' commission (one formula)
        commission_bps=config.commission_bps + config.cost_bps,
        commission_per_share=config.commission_per_share,
        commission_min=config.commission_min,
        slippage_bps=config.slippage_bps,
        commission_fixed=config.fixed_cost,
        policy=_policy(config),
        check_history=_history_check(config),
        # The protective orders every filled entry got, as the backtest says it.
        end_notes=(exits_note(config),),
    )


def live_session(
    options: SessionOptions, messages: SessionMessages, **strategy_options: Any
) -> LiveSession:
    """A session ready to `run()`: `options` checked first (nothing read or written on a bad
    flag or a missing key), then the strategy options (`BacktestConfig.create`'s keywords,
    the backtest's flags), then the session's parts opened (`LiveSession.open`)."""
    options.check(beta_sizing=bool(strategy_options.get("beta_sizing")))
    config = BacktestConfig.create(**strategy_options)
    return LiveSession.open(options, trading_setup(config), messages)


__all__ = ["live_session", "trading_setup"]
