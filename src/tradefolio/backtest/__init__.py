"""The event-driven backtest: strategies emit intents at a close, orders fill at the next bar.

- `strategies.py`: `SmaCross`, `MomentumRotation`, `BuyAndHold`, `PortfolioRebalance`,
  `SmaCrossEvents`, behind the `Strategy` protocol and its intents (`Enter`, `Exit`,
  `Rebalance`), which live in `tradefolio.execution.strategy` (shared with `live`) and are
  re-exported here; `user_strategy.py` loads a user's own.
- `signals.py`: bit-exact SMA crossovers (backtrader's rule), vectorised.
- `engine.py`: `run_backtest` (intents -> sized orders -> fills), `BacktestResult`.
- `ledger.py`, `costs.py`: exact micro-unit cash and positions; commission and slippage.
- `metrics.py`: return, risk and trading statistics of a run; `metric_registry.py`: every
  metric's name, label, format, direction and annualisation (sizing policies, `FixedSizing`
  and `DatedSizing`, come from `tradefolio.execution.sizing_policy`).
- `config.py`, `runner.py`: a validated `BacktestConfig` and `run_config(config, closes)`.
"""

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.runner import run_config
from tradefolio.execution.strategy import Enter, Exit, Intent, Rebalance, SignalPlan, Strategy

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "Enter",
    "Exit",
    "Intent",
    "Rebalance",
    "SignalPlan",
    "Strategy",
    "run_backtest",
    "run_config",
]
