"""Reading a results table: which metric is better which way, a leaderboard, a heatmap,
the deflated Sharpe ratio of the best run, and the report a sweep writes (`report.md`).

Which way is better comes from `backtest.metric_registry` (lower for `volatility` and
`turnover`, higher for the rest: drawdowns are negative numbers, so the shallower one is
higher). Ties go to the lower run number, so a leaderboard is as deterministic as the table
under it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tradefolio.backtest.metric_registry import HEADLINE_PERCENT, LOWER_IS_BETTER, METRICS, RANKABLE
from tradefolio.errors import InvalidParameter
from tradefolio.research.dsr import DeflatedSharpe, deflated_sharpe_ratio
from tradefolio.research.sweep import SweepResult
from tradefolio.research.tasks import COMPLETED

#: The metric sweeps and walk-forward rank by unless told otherwise (`--metric`).
DEFAULT_METRIC = "sharpe"


def check_metric(metric: str) -> str:
    """`metric` if it is a column one can rank by; `InvalidParameter` otherwise."""
    if metric not in RANKABLE:
        raise InvalidParameter(f"--metric must be one of {', '.join(RANKABLE)}, got {metric!r}")
    return metric


def ranked(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The runs with a result (`ok`, and `held`: finished, some rebalances held), best
    first by `metric` (ties: lower `run` first)."""
    check_metric(metric)
    ok = table[table["status"].isin(COMPLETED)]
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
    ok = table[table["status"].isin(COMPLETED)]
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


def format_value(value: Any, name: str) -> str:
    """`value` of column `name` as the tables and reports show it (`-` for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    percent = HEADLINE_PERCENT
    if name in percent:
        return f"{value:.2%}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        return f"{value:,.2f}" if name == "final_equity" else f"{value:.3f}"
    return str(value)


#: The metrics a leaderboard shows after the ranking metric.
LEADERBOARD_METRICS = (
    "sharpe",
    "cagr",
    "max_drawdown",
    "calmar",
    "trades",
    "turnover",
    "final_equity",
)


#: The allocation model's solves per run, shown when a run of the board has them.
REBALANCE_SHOWN: tuple[tuple[str, str], ...] = (
    ("rebalances_proven", "proven"),
    ("rebalances_not_proven", "not proven"),
    ("rebalances_failed", "failed (held)"),
)


def rebalance_columns(board: pd.DataFrame) -> list[str]:
    """The rebalance-count columns of `board` to show: all three when any run of it was
    decided by the allocation model (`--portfolio`), none otherwise."""
    names = [name for name, _ in REBALANCE_SHOWN]
    if not set(names) <= set(board.columns) or board[names].isna().all().all():
        return []
    return names


def held_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The runs that held their positions at one or more unsolved rebalances."""
    return table[table["status"] == "held"]


def held_line(table: pd.DataFrame, shown: int = 5) -> str | None:
    """One line naming the runs with unsolved rebalances (positions held), or None."""
    held = held_runs(table)
    if held.empty:
        return None
    names = [
        f"run {row['run']} ({row['rebalances_failed']} of "
        f"{row['rebalances_proven'] + row['rebalances_not_proven'] + row['rebalances_failed']})"
        for row in held.head(shown).to_dict(orient="records")
    ]
    more = f" and {len(held) - shown} more" if len(held) > shown else ""
    return (
        f"{len(held)} of {len(table)} runs held their positions at rebalances the model "
        f"could not solve (status held): {', '.join(names)}{more}; see their "
        "rebalances_failed column, or run one with backtest for the reasons"
    )


def markdown_table(frame: pd.DataFrame) -> str:
    """`frame` as a Markdown table, cells as `format_value` shows them."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append(
            "| "
            + " | ".join(format_value(v, str(c)) for v, c in zip(row, frame.columns, strict=True))
            + " |"
        )
    return "\n".join(lines)


def deflated_json(deflated: DeflatedSharpe | None) -> dict[str, Any] | None:
    """The `deflated_sharpe` object of the JSON contracts (Sharpe ratios annualised)."""
    if deflated is None:
        return None
    annual = METRICS["sharpe"].annual_scale
    return {
        "dsr": deflated.dsr,
        "sharpe": deflated.sharpe * annual,
        "expected_max_sharpe": deflated.expected_max_sharpe * annual,
        "n_trials": deflated.n_trials,
        "observations": deflated.observations,
        "skew": deflated.skew,
        "kurtosis": deflated.kurtosis,
    }


def deflated_line(deflated: DeflatedSharpe | None) -> str:
    """One sentence saying what the deflated Sharpe ratio of the best run means."""
    if deflated is None:
        return "deflated Sharpe ratio: not enough successful runs"
    annual = METRICS["sharpe"].annual_scale
    return (
        f"deflated Sharpe ratio {deflated.dsr:.3f}: P(true Sharpe > "
        f"{deflated.expected_max_sharpe * annual:.2f}, "
        f"the best expected from {deflated.n_trials} skill-less trials) for an observed "
        f"{deflated.sharpe * annual:.2f} (annualised, {deflated.observations:,d} daily returns)"
    )


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame`'s rows as JSON-ready dicts: NaN / NA as `None`, numpy scalars as Python."""
    records = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                clean[str(key)] = None
            elif hasattr(value, "item"):
                clean[str(key)] = value.item()
            else:
                clean[str(key)] = value
        records.append(clean)
    return records


def write_sweep_report(
    folder: Path,
    board: pd.DataFrame,
    parameters: Sequence[str],
    metric: str,
    grid_frame: pd.DataFrame | None,
    axes: tuple[str, str] | None,
    deflated: DeflatedSharpe | None,
) -> None:
    """`report.md` in the sweep's folder: the leaderboard, the heatmap, the selection luck."""
    shown = [
        "run",
        *parameters,
        metric,
        *(m for m in LEADERBOARD_METRICS if m != metric),
        *rebalance_columns(board),
    ]
    parts = [f"# Sweep report\n\n## Top {len(board)} by {metric}\n", markdown_table(board[shown])]
    if grid_frame is not None and axes is not None:
        frame = grid_frame.reset_index().rename(columns={axes[0]: f"{axes[0]} \\ {axes[1]}"})
        frame.columns = [str(c) for c in frame.columns]
        parts += [f"\n## Best {metric} by {axes[0]} x {axes[1]}\n", markdown_table(frame)]
    parts += ["\n## Selection luck\n", deflated_line(deflated), ""]
    (folder / "report.md").write_text("\n".join(parts))


def sweep_json(
    result: SweepResult,
    board: pd.DataFrame,
    metric: str,
    folder: Path,
    deflated: DeflatedSharpe | None,
) -> dict[str, Any]:
    """The JSON contract of `sweep --format json`: where the results are, how many runs,
    the leaderboard and the deflated Sharpe ratio of the best."""
    table = result.table
    return {
        "results": str(folder / "results.parquet"),
        "runs": len(table),
        "executed": result.executed,
        "reused": result.reused,
        "failed": result.failed,
        "held": len(held_runs(table)),
        "metric": metric,
        "parameters": list(result.parameters),
        "leaderboard": json_records(board.drop(columns=["seconds"])),
        "deflated_sharpe": deflated_json(deflated),
    }


__all__ = [
    "DEFAULT_METRIC",
    "LEADERBOARD_METRICS",
    "LOWER_IS_BETTER",
    "RANKABLE",
    "REBALANCE_SHOWN",
    "check_metric",
    "default_heatmap_axes",
    "deflated_json",
    "deflated_line",
    "deflated_of_best",
    "format_value",
    "heatmap",
    "held_line",
    "held_runs",
    "json_records",
    "leaderboard",
    "markdown_table",
    "ranked",
    "rebalance_columns",
    "sweep_json",
    "write_sweep_report",
]
