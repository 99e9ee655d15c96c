"""From a `BacktestConfig` to a finished run: build the strategy and the sizing, then run.

This is the one place that maps configuration names to objects (`sma-cross` ->
`SmaCross`, `--sizer risk` -> `RiskBasedSizer`, `--beta-sizing` -> a `BetaSizer` per
decision bar); the engine itself only ever sees the protocols.

`--beta-sizing` (and `--sizer beta`): the entry sizer (risk, or weight) is wrapped in a
`BetaSizer` whose betas are `rolling_beta` of each symbol's daily returns on the benchmark's
over the `beta_window` sessions ending at the decision bar (no later data).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradefolio.backtest.config import NOT_PORTFOLIO, BacktestConfig
from tradefolio.backtest.costs import CostModel
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.policy_run import PolicyRun
from tradefolio.backtest.rebalancing import PolicyRebalance
from tradefolio.backtest.strategies import (
    BuyAndHold,
    MomentumRotation,
    PortfolioRebalance,
    SmaCross,
)
from tradefolio.backtest.user_strategy import build_user_strategy, is_user_spec
from tradefolio.errors import DataError, InvalidParameter, RebalanceFailed
from tradefolio.execution.events import EventStrategy, check_warmup
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.execution.sizing import (
    BetaSizer,
    CommissionEstimate,
    PortfolioWeightSizer,
    PositionSizer,
    RiskBasedSizer,
)
from tradefolio.execution.sizing_policy import DatedSizing, FixedSizing, SizingPolicy
from tradefolio.execution.strategy import Strategy
from tradefolio.indicators import rolling_beta, simple_returns
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import DEFAULT_LOOKBACK

if TYPE_CHECKING:
    from tradefolio.portfolio.policy import AllocationPolicy, RebalancePolicy


def allocation_policy(config: BacktestConfig, on_failure: str | None = None) -> AllocationPolicy:
    """The allocation model of a `--portfolio` run with model options: allocate's options,
    with the trading core's cost model as the model's cost terms (one formula);
    `on_failure` replaces the config's `--on-solver-failure` when given."""
    bps, fixed = cost_model(config).model_cost_terms()
    options = replace(config.allocate_options, cost_bps=bps, fixed_cost=fixed)
    # the allocation model's modules are imported only by the runs that use them
    from tradefolio.portfolio.build import read_sectors
    from tradefolio.portfolio.policy import AllocationPolicy

    sectors = None if config.sectors is None else read_sectors(config.sectors)
    failure = on_failure or config.on_solver_failure
    return AllocationPolicy(options, sectors, failure)  # type: ignore[arg-type]


def rebalance_policy(config: BacktestConfig, on_failure: str | None = None) -> RebalancePolicy:
    """The policy of any `--portfolio` run: the allocation model (`allocation_policy`) with
    model options, else the seed's score model (`ScorePolicy`, its expected costs priced by
    the trading core's cost model); both write the same rebalance record. `on_failure`
    replaces the config's `--on-solver-failure` when given."""
    if config.uses_model:
        return allocation_policy(config, on_failure)
    from tradefolio.portfolio.policy import ScorePolicy  # loaded by the runs that use it

    return ScorePolicy(
        config.allocate_options,
        on_failure or config.on_solver_failure,  # type: ignore[arg-type]
        cost_model(config),
    )


def check_policy_history(config: BacktestConfig, sessions: int) -> None:
    """A `--portfolio` run on `sessions` closes is refused, before its first bar, when they
    cannot hold the policy's first decision (`check_history`: allocate's `DataError`, in
    its words), rather than run without ever rebalancing. Not part of `run_config`: a
    sweep or walk-forward fold shorter than the window is that run's own outcome."""
    if not config.portfolio:
        return
    from tradefolio.portfolio.policy import check_history  # loaded with the policy

    check_history(rebalance_policy(config).options, sessions)


def build_strategy(config: BacktestConfig) -> Strategy | EventStrategy:
    """The strategy object a config names (`--portfolio` overrides `--strategy`; a
    `file.py:Class` / `module:Class` is built with its `--param` values). A `--portfolio`
    run with model options needs the closes: see `build_run_strategy`."""
    if config.uses_model:
        raise InvalidParameter(
            "the allocation model trades the account it runs on: run it with backtest, or "
            "live through its allocation policy"
        )
    if is_user_spec(config.strategy) and not config.portfolio:
        return build_user_strategy(config.strategy, config.strategy_params)  # type: ignore[return-value]
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


def build_plan_strategy(config: BacktestConfig, purpose: str) -> Strategy:
    """`build_strategy`, for a caller that needs the vectorised form (`plan`)."""
    strategy = build_strategy(config)
    if not isinstance(strategy, Strategy):
        raise InvalidParameter(
            f"{purpose} needs a strategy with plan(closes); {config.strategy} is event-driven "
            "only (on_bar): run it with backtest"
        )
    return strategy


def _rebalance_rule(rule: str) -> str | int:
    return int(rule) if rule.isdigit() else rule


def _commission_estimate(config: BacktestConfig) -> CommissionEstimate:
    """The sizers' view of the costs, so a cash-capped target leaves room for commission."""
    return CommissionEstimate(
        bps=config.commission_bps,
        per_share=config.commission_per_share,
        minimum=config.commission_min,
    )


def entry_sizer(config: BacktestConfig) -> PositionSizer:
    """The sizer `--sizer risk|weight` names (before any beta wrapping)."""
    commission = _commission_estimate(config)
    if config.sizer == "weight":
        return PortfolioWeightSizer.fixed(config.weight, commission=commission)
    return RiskBasedSizer(
        risk_per_trade=config.risk_per_trade,
        stop_loss_pct=config.sizing_stop,
        max_position_pct=config.max_position,
        commission=commission,
    )


def _quiet_logger() -> logging.Logger:
    """A logger of our own (not registered globally) that drops records.

    `BetaSizer` warns once per symbol it sizes without a beta; in a backtest that is every
    symbol entered during the first `beta_window` sessions, by construction, so the
    warnings would only be noise on the CLI's stderr.
    """
    logger = logging.Logger("tradefolio.backtest.beta_sizing")
    logger.addHandler(logging.NullHandler())
    return logger


def build_sizing(
    config: BacktestConfig, closes: pd.DataFrame, benchmark: pd.Series | None
) -> SizingPolicy:
    """Fixed sizing, or a `BetaSizer` given each decision bar's rolling betas.

    Before `beta_window` sessions of history a symbol has no beta and is sized with
    `BetaSizer`'s fallback beta (1.0: like the market).
    """
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
    betas = rolling_beta(simple_returns(closes), simple_returns(aligned), config.beta_window)
    values = betas.to_numpy(dtype=np.float64, na_value=np.nan)
    symbols = [str(c) for c in closes.columns]
    template = BetaSizer(
        base=inner,
        target_beta=config.target_beta,
        commission=_commission_estimate(config),
        logger=_quiet_logger(),
    )

    def at(bar: int) -> PositionSizer:
        return template.with_betas(dict(zip(symbols, values[bar].tolist(), strict=True)))

    return DatedSizing.of(at)


def cost_model(config: BacktestConfig) -> CostModel:
    """Commission and slippage of a config (`--cost-bps` is the commission rate and
    `--fixed-cost` the fee per fill of a `--portfolio` model run)."""
    return CostModel(
        commission_bps=config.commission_bps + config.cost_bps,
        commission_per_share=config.commission_per_share,
        commission_min=config.commission_min,
        slippage_bps=config.slippage_bps,
        commission_fixed=config.fixed_cost,
    )


def recorded_config(config: BacktestConfig) -> dict[str, Any]:
    """The options of a run as its run folder's config.json records them: every field of
    `config`; for a `--portfolio` run only those it reads (not the strategy's, sizer's or
    exits', `NOT_PORTFOLIO`, nor `beta_sizing`) and `fill_costs`, what every fill paid
    (`cost_model`: `--cost-bps` is the fills' commission rate, `--fixed-cost` their fee).
    The recorded fields but `fill_costs` rebuild the config: `BacktestConfig.create`."""
    fields = config.model_dump()
    if not config.portfolio:
        return fields
    for name in (*NOT_PORTFOLIO, "beta_sizing"):
        del fields[name]
    costs = cost_model(config)
    fields["fill_costs"] = {
        "commission_bps": float(costs.commission_bps),
        "commission_per_share": float(costs.commission_per_share),
        "commission_min": float(costs.commission_min),
        "commission_fixed": float(costs.commission_fixed),
        "slippage_bps": float(costs.slippage_bps),
    }
    return fields


def build_run_strategy(
    config: BacktestConfig, closes: pd.DataFrame, first_decision: int = 0
) -> Strategy | EventStrategy:
    """The strategy of one run on `closes`: for any `--portfolio` run, `PolicyRebalance` of
    the run's policy (the record of every solve) as a `PolicyRun` (deciding as under
    `hold`, stopping after the record under `stop`; no decision before bar
    `first_decision`), else `build_strategy(config)`."""
    if config.portfolio:
        policy = rebalance_policy(config, on_failure="hold")  # the stop is PolicyRun's
        if policy.options.sector_cap is not None:  # every name a sector, before bar 1
            from tradefolio.portfolio.build import covered_sectors, default_sectors, read_sectors

            table = default_sectors() if config.sectors is None else read_sectors(config.sectors)
            covered_sectors(table, [str(c) for c in closes.columns])
        return PolicyRun(
            PolicyRebalance(policy, closes, _rebalance_rule(config.rebalance)),
            stop=config.on_solver_failure == "stop",
            first_decision=first_decision,
        )
    return build_strategy(config)


def protective_exits(config: BacktestConfig) -> ProtectiveExits:
    """The exits every entry gets: the placed stop, `--take-profit`, `--trailing-stop`."""
    return ProtectiveExits(
        stop_loss=config.placed_stop,
        take_profit=config.take_profit,
        trailing_stop=config.trailing_stop,
    )


def exits_note(config: BacktestConfig) -> str:
    """One line saying which protective orders every entry gets (or that none are)."""
    parts = []
    if config.placed_stop is not None:
        parts.append(f"stop at fill x (1 - {config.placed_stop:g})")
    if config.take_profit is not None:
        parts.append(f"take-profit at fill x (1 + {config.take_profit:g})")
    if config.trailing_stop is not None:
        parts.append(f"trailing stop {config.trailing_stop:g} below the best close")
    note = "exits on sized entries: " + (", ".join(parts) if parts else "none placed")
    if config.no_stop and config.risk_sized:
        note += f" (--no-stop: the risk sizer sized from a notional {config.sizing_stop:g} stop)"
    return note


def run_config(
    config: BacktestConfig,
    closes: pd.DataFrame,
    *,
    opens: pd.DataFrame | None = None,
    highs: pd.DataFrame | None = None,
    lows: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
) -> BacktestResult:
    """Run the backtest a config describes on `closes` (`opens` for market fills, `highs` /
    `lows` for matching stops and limits; close-only data uses the close for all)."""
    strategy = build_run_strategy(config, closes)
    return _run_strategy(config, strategy, closes, opens, highs, lows, benchmark)


def run_portfolio_from(
    config: BacktestConfig,
    closes: pd.DataFrame,
    first_decision: int,
    *,
    opens: pd.DataFrame | None = None,
    highs: pd.DataFrame | None = None,
    lows: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
) -> BacktestResult:
    """`run_config` of a `--portfolio` config whose first rebalance is at bar
    `first_decision` (the rows before it warm up the policy's history: a walk-forward
    test window, flat until then)."""
    if not config.portfolio:
        raise InvalidParameter("run_portfolio_from runs a --portfolio config")
    strategy = build_run_strategy(config, closes, first_decision)
    return _run_strategy(config, strategy, closes, opens, highs, lows, benchmark)


def _run_strategy(
    config: BacktestConfig,
    strategy: Strategy | EventStrategy,
    closes: pd.DataFrame,
    opens: pd.DataFrame | None,
    highs: pd.DataFrame | None,
    lows: pd.DataFrame | None,
    benchmark: pd.Series | None,
) -> BacktestResult:
    if is_user_spec(config.strategy) and not config.portfolio:
        check_warmup(strategy, len(closes))
    try:
        result = run_backtest(
            closes,
            strategy,
            build_sizing(config, closes, benchmark),
            cash=config.cash,
            costs=cost_model(config),
            opens=opens,
            highs=highs,
            lows=lows,
            exits=protective_exits(config),
        )
    except RebalanceFailed as exc:  # `stop`: the run up to the failure, with its decisions
        if isinstance(exc.partial, BacktestResult) and isinstance(strategy, PolicyRun):
            exc.partial = _with_decisions(exc.partial, strategy)
        raise
    if isinstance(strategy, PolicyRun):
        return _with_decisions(result, strategy)
    return result


def _with_decisions(result: BacktestResult, strategy: PolicyRun) -> BacktestResult:
    """`result` with the policy's decisions (the failed one a stop ended on included) and
    their target weights (the record)."""
    decisions = tuple(strategy.decisions)
    targets = {bar: dict(d.weights) for bar, d in decisions}
    return replace(result, targets=targets, decisions=decisions)


__all__ = [
    "allocation_policy",
    "build_plan_strategy",
    "build_run_strategy",
    "build_sizing",
    "build_strategy",
    "check_policy_history",
    "check_warmup",
    "cost_model",
    "entry_sizer",
    "exits_note",
    "protective_exits",
    "rebalance_policy",
    "recorded_config",
    "run_config",
    "run_portfolio_from",
]
