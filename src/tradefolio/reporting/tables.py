"""Metric tables shared by the tearsheet and the terminal: labels, order and formats.

`METRIC_ROWS` is the one list of what a metric is called and how it is shown; the HTML
tearsheet and the CLI's rich tables both read it, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.table import Table


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _ratio(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _money(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _count(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,d}"


def _days(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,d} days"


Formatter = Callable[[Any], str]

#: (field of metrics.json, label, formatter), in table order.
METRIC_ROWS: tuple[tuple[str, str, Formatter], ...] = (
    ("total_return", "Total return", _percent),
    ("cagr", "CAGR", _percent),
    ("volatility", "Volatility (annualised)", _percent),
    ("sharpe", "Sharpe", _ratio),
    ("sortino", "Sortino", _ratio),
    ("max_drawdown", "Max drawdown", _percent),
    ("max_drawdown_days", "Max drawdown duration", _days),
    ("longest_drawdown_days", "Longest drawdown", _days),
    ("calmar", "Calmar", _ratio),
    ("beta", "Beta to benchmark", _ratio),
    ("alpha", "Alpha (annualised)", _percent),
    ("win_rate", "Hit rate (closed trades)", _percent),
    ("avg_win", "Average win (trade return)", _percent),
    ("avg_loss", "Average loss (trade return)", _percent),
    ("avg_win_pnl", "Average win", _money),
    ("avg_loss_pnl", "Average loss", _money),
    ("trades", "Closed trades", _count),
    ("open_trades", "Open at the end", _count),
    ("exposure", "Exposure (average)", _percent),
    ("turnover", "Turnover (one-way, per year)", _ratio),
    ("commissions", "Commissions", _money),
    ("slippage", "Slippage", _money),
    ("costs_paid", "Costs paid", _money),
    ("n_fills", "Fills", _count),
    ("initial_equity", "Starting equity", _money),
    ("final_equity", "Final equity", _money),
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
