"""Reading a results table: which metric is better which way, a leaderboard, a heatmap.

Which way is better comes from `backtest.metric_registry` (lower for `volatility` and
`turnover`, higher for the rest: drawdowns are negative numbers, so the shallower one is
higher). Ties go to the lower run number, so a leaderboard is as deterministic as the table
under it.
"""

from __future__ import annotations

import pandas as pd

from tradefolio.backtest.metric_registry import LOWER_IS_BETTER, METRICS, RANKABLE
from tradefolio.errors import InvalidParameter
from tradefolio.research.dsr import DeflatedSharpe, deflated_sharpe_ratio

#: The metric sweeps and walk-forward rank by unless told otherwise (`--metric`).
DEFAULT_METRIC = "sharpe"


def check_metric(metric: str) -> str:
    """`metric` if it is a column one can rank by; `InvalidParameter` otherwise."""
    if metric not in RANKABLE:
        raise InvalidParameter(f"--metric must be one of {', '.join(RANKABLE)}, got {metric!r}")
    return metric


def ranked(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The successful runs, best first by `metric` (ties: lower `run` first)."""
    check_metric(metric)
    ok = table[table["status"] == "ok"]
    ascending = metric in LOWER_IS_BETTER
    return ok.sort_values([metric, "run"], ascending=[ascending, True], kind="mergesort")


def leaderboard(table: pd.DataFrame, metric: str, top: int = 10) -> pd.DataFrame:
    """The `top` best runs by `metric`."""
    return ranked(table, metric).head(top)


def heatmap(table: pd.DataFrame, metric: str, rows: str, columns: str) -> pd.DataFrame:
    """`metric` over two parameters: the best value over all other parameters per cell.

    Rows are the values of `rows`, columns the values of `columns`, both sorted; a cell
    with no successful run is NaN.
    """
    check_metric(metric)
    for name in (rows, columns):
        if name not in table.columns:
            raise InvalidParameter(f"--heatmap: {name!r} is not a swept parameter")
    if rows == columns:
        raise InvalidParameter("--heatmap needs two different parameters")
    ok = table[table["status"] == "ok"]
    grid = ok.pivot_table(
        index=rows,
        columns=columns,
        values=metric,
        aggfunc="min" if metric in LOWER_IS_BETTER else "max",
    )
    everything_rows = sorted(table[rows].dropna().unique().tolist())
    everything_cols = sorted(table[columns].dropna().unique().tolist())
    return grid.reindex(index=everything_rows, columns=everything_cols)


def default_heatmap_axes(
    table: pd.DataFrame, parameters: tuple[str, ...]
) -> tuple[str, str] | None:
    """The first two swept parameters with more than one value, if there are two."""
    varying = [p for p in parameters if table[p].nunique(dropna=True) > 1]
    return (varying[0], varying[1]) if len(varying) >= 2 else None


def deflated_of_best(table: pd.DataFrame, metric: str) -> DeflatedSharpe | None:
    """Deflated Sharpe ratio of the best run by `metric`, every successful run a trial
    (`None` with fewer than 2 daily returns); Sharpe ratios de-annualised by sqrt(252)."""
    best = ranked(table, metric)
    if best.empty or int(best["observations"].iloc[0]) < 2:
        return None
    annual = METRICS["sharpe"].annual_scale
    top = best.iloc[0]
    return deflated_sharpe_ratio(
        float(top["sharpe"]) / annual,
        [float(s) / annual for s in best["sharpe"]],
        int(top["observations"]),
        float(top["skew"]),
        float(top["kurtosis"]),
    )


__all__ = [
    "DEFAULT_METRIC",
    "LOWER_IS_BETTER",
    "RANKABLE",
    "check_metric",
    "default_heatmap_axes",
    "deflated_of_best",
    "heatmap",
    "leaderboard",
    "ranked",
]
