"""The one registry of metrics: name, label, format, direction and annualisation.

Every place that shows, ranks or stores a metric reads it here: the backtest's `Metrics`
(`backtest/metrics.py` computes the headline ones), the tearsheet's and the terminal's
tables (`reporting/tables.py`), the sweep's results columns (`research/results.py`),
walk-forward (`research/walkforward.py`), the leaderboard's ranking (`research/report.py`)
and the commands. skfolio keeps one registry of measures for the same reason: a metric's
name, unit and "which way is better" written once can never disagree between two screens.

It lives in `backtest/` (pure data, no numpy or pandas) because that is the lowest area every
user can import: `reporting` and `research` sit beside or above `backtest`. The metrics the
tearsheet adds (drawdown durations, beta, alpha, costs) are registered here too, so the
tables have one source; `reporting/metrics.py` computes them.

Annualisation, with `A = TRADING_DAYS_PER_YEAR` sessions a year:

- `sqrt`      per-session value · sqrt(A) (volatility, Sharpe, Sortino)
- `linear`    per-session value · A, or a total divided by years (alpha, turnover)
- `compound`  growth compounded to a year, `(V_T / V_0)^(A / T) - 1` (CAGR)
- `none`      not annualised
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR

MetricFormat = Literal["percent", "ratio", "money", "count", "days"]
#: Which value is the better one; None where neither is (a beta, a count of fills).
Direction = Literal["higher", "lower"] | None
Annualisation = Literal["sqrt", "linear", "compound", "none"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What one metric is called, how it is shown, which way is better, how it is annualised.

    `headline` marks the metrics `backtest.metrics.compute_metrics` returns (the sweep's
    result columns); `equity_only` those an equity curve alone determines (walk-forward's
    stitched out-of-sample curve has no single set of fills or holdings).
    """

    name: str
    label: str
    format: MetricFormat
    direction: Direction
    annualisation: Annualisation = "none"
    headline: bool = False
    equity_only: bool = False

    @property
    def annual_scale(self) -> float:
        """The factor that turns a per-session value into this metric's annual one.

        sqrt(A) for `sqrt`, A for `linear`, 1 otherwise (a compounded rate has no factor).
        """
        if self.annualisation == "sqrt":
            return math.sqrt(TRADING_DAYS_PER_YEAR)
        if self.annualisation == "linear":
            return float(TRADING_DAYS_PER_YEAR)
        return 1.0


def _spec(
    name: str,
    label: str,
    fmt: MetricFormat,
    direction: Direction = "higher",
    annualisation: Annualisation = "none",
    *,
    headline: bool = False,
    equity_only: bool = False,
) -> MetricSpec:
    return MetricSpec(name, label, fmt, direction, annualisation, headline, equity_only)


#: Every metric, keyed by its field name in `metrics.json`. The headline metrics come first,
#: in the order of `Metrics`' fields (the results table's column order).
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _spec("total_return", "Total return", "percent", headline=True, equity_only=True),
        _spec("cagr", "CAGR", "percent", "higher", "compound", headline=True, equity_only=True),
        _spec(
            "volatility",
            "Volatility (annualised)",
            "percent",
            "lower",
            "sqrt",
            headline=True,
            equity_only=True,
        ),
        _spec("sharpe", "Sharpe", "ratio", "higher", "sqrt", headline=True, equity_only=True),
        _spec("sortino", "Sortino", "ratio", "higher", "sqrt", headline=True, equity_only=True),
        # A drawdown is a negative number: the shallower one is the higher one.
        _spec("max_drawdown", "Max drawdown", "percent", headline=True, equity_only=True),
        _spec("calmar", "Calmar", "ratio", headline=True, equity_only=True),
        _spec("exposure", "Exposure (average)", "percent", headline=True),
        _spec(
            "turnover",
            "Turnover (one-way, per year)",
            "ratio",
            "lower",
            "linear",
            headline=True,
        ),
        _spec("trades", "Closed trades", "count", headline=True),
        _spec("win_rate", "Hit rate (closed trades)", "percent", headline=True),
        _spec("max_drawdown_days", "Max drawdown duration", "days", "lower"),
        _spec("longest_drawdown_days", "Longest drawdown", "days", "lower"),
        _spec("beta", "Beta to benchmark", "ratio", None),
        _spec("alpha", "Alpha (annualised)", "percent", "higher", "linear"),
        _spec("avg_win", "Average win (trade return)", "percent"),
        _spec("avg_loss", "Average loss (trade return)", "percent"),
        _spec("avg_win_pnl", "Average win", "money"),
        _spec("avg_loss_pnl", "Average loss", "money"),
        _spec("open_trades", "Open at the end", "count", None),
        _spec("commissions", "Commissions", "money", "lower"),
        _spec("slippage", "Slippage", "money", "lower"),
        _spec("costs_paid", "Costs paid", "money", "lower"),
        _spec("n_fills", "Fills", "count", None),
        _spec("initial_equity", "Starting equity", "money", None),
        _spec("final_equity", "Final equity", "money"),
        _spec("test_return", "Test-window return", "percent"),
    )
}

#: The metrics of `backtest.metrics.Metrics`, in its field order.
HEADLINE_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.headline)
#: The headline metrics an equity curve alone determines.
EQUITY_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.equity_only)
#: Headline metrics shown as percentages by the commands' tables.
HEADLINE_PERCENT: frozenset[str] = frozenset(
    n for n in HEADLINE_METRICS if METRICS[n].format == "percent"
)
#: What a sweep can rank by: the headline metrics and the final equity.
RANKABLE: tuple[str, ...] = (*HEADLINE_METRICS, "final_equity")
#: The rankable metrics where the lower value is the better one.
LOWER_IS_BETTER: frozenset[str] = frozenset(n for n in RANKABLE if METRICS[n].direction == "lower")


def format_metric(name: str, value: Any) -> str:
    """`value` of metric `name` as the tables show it ("n/a" for None)."""
    if value is None:
        return "n/a"
    fmt = METRICS[name].format
    if fmt == "percent":
        return f"{value:.2%}"
    if fmt == "ratio":
        return f"{value:.3f}"
    if fmt == "money":
        return f"{value:,.2f}"
    if fmt == "count":
        return f"{int(value):,d}"
    return f"{int(value):,d} days"


__all__ = [
    "EQUITY_METRICS",
    "HEADLINE_METRICS",
    "HEADLINE_PERCENT",
    "LOWER_IS_BETTER",
    "METRICS",
    "RANKABLE",
    "TRADING_DAYS_PER_YEAR",
    "MetricSpec",
    "format_metric",
]
