"""Research: parameter sweeps and walk-forward validation over the backtest engine.

A sweep is many `BacktestConfig` variants run by `run_config` over one shared price panel,
on a pluggable executor (a local process pool by default, Ray with the `distributed`
extra). Results land in one Parquet table; walk-forward picks parameters on train windows
only and stitches the out-of-sample equity; the deflated Sharpe ratio says how much of the
in-sample edge is selection luck.
"""
