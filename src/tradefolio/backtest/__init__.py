"""The event-driven backtest: strategies emit intents at a close, orders fill at the next bar.

- `strategy.py`: the `Strategy` protocol and its intents (`Enter`, `Exit`, `Rebalance`).
- `strategies.py`: `SmaCross`, `MomentumRotation`, `BuyAndHold`, `PortfolioRebalance`.
- `signals.py`: bit-exact SMA crossovers (backtrader's rule), vectorised.
- `engine.py`: `run_backtest` (intents -> sized orders -> fills), `BacktestResult`.
- `ledger.py`, `costs.py`: exact micro-unit cash and positions; commission and slippage.
- `sizing.py`: which `PositionSizer` answers at a decision bar (fixed, or rebuilt per bar).
- `metrics.py`: return, risk and trading statistics of a run.
- `config.py`, `runner.py`: a validated `BacktestConfig` and `run_config(config, closes)`.
"""

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.runner import run_config
from tradefolio.backtest.strategy import Enter, Exit, Intent, Rebalance, SignalPlan, Strategy

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
