"""Metric tables shared by the tearsheet and the terminal: labels, order and formats.

`METRIC_ROWS` is the order the tables show metrics in, with each metric's label and format
from `backtest.metric_registry` (the one place a metric is named); the HTML tearsheet and
the CLI's rich tables both read it, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from rich.table import Table

from tradefolio.backtest.metric_registry import METRICS, format_metric

Formatter = Callable[[Any], str]

#: Fields of metrics.json in table order; labels and formats come from the metric registry.
TABLE_ORDER = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
    "longest_drawdown_days",
    "calmar",
    "beta",
    "alpha",
    "win_rate",
    "avg_win",
    "avg_loss",
    "avg_win_pnl",
    "avg_loss_pnl",
    "trades",
    "open_trades",
    "exposure",
    "turnover",
    "commissions",
    "slippage",
    "costs_paid",
    "n_fills",
    "initial_equity",
    "final_equity",
)

#: (field of metrics.json, label, formatter), in table order.
METRIC_ROWS: tuple[tuple[str, str, Formatter], ...] = tuple(
    (name, METRICS[name].label, partial(format_metric, name)) for name in TABLE_ORDER
)


#: The rows of the compact summary a backtest prints at its end.
SUMMARY_FIELDS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
    "calmar",
    "beta",
    "win_rate",
    "trades",
    "costs_paid",
    "final_equity",
)


def metrics_table(
    metrics: Mapping[str, Any], *, title: str | None = None, compact: bool = False
) -> Table:
    """A two-column rich table of `metrics` (the `SUMMARY_FIELDS` only when `compact`)."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    wanted = set(SUMMARY_FIELDS) if compact else None
    for key, label, fmt in METRIC_ROWS:
        if key in metrics and (wanted is None or key in wanted):
            table.add_row(label, fmt(metrics[key]))
    return table


__all__ = ["METRIC_ROWS", "SUMMARY_FIELDS", "metrics_table"]
