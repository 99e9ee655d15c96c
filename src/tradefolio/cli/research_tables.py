"""How `tradefolio sweep` and `tradefolio walk-forward` show results on a terminal: the
leaderboard, the heatmap, the walk-forward's folds and its out-of-sample summary (rich
tables; cells formatted by `research.report.format_value`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.table import Table

from tradefolio.cli.common import stdout_console
from tradefolio.research.report import (
    LEADERBOARD_METRICS,
    REBALANCE_SHOWN,
    deflated_line,
    format_value,
    json_records,
    rebalance_columns,
)
from tradefolio.research.walkforward import WalkForwardResult


def leaderboard_table(
    board: pd.DataFrame, parameters: Sequence[str], metric: str, title: str
) -> Table:
    """The top runs: run number, swept parameters, the ranking metric first; then, when
    the allocation model decided the runs (`--portfolio`), its rebalances proven, not
    proven and failed (positions held) per run."""
    shown = [metric, *(m for m in LEADERBOARD_METRICS if m != metric)]
    counts = rebalance_columns(board)
    labels = dict(REBALANCE_SHOWN)
    table = Table(title=title, title_justify="left")
    table.add_column("run", justify="right")
    for name in parameters:
        table.add_column(name, justify="right")
    for name in shown:
        table.add_column(name.replace("_", " "), justify="right")
    for name in counts:
        table.add_column(labels[name], justify="right")
    for row in board.to_dict(orient="records"):
        table.add_row(
            str(row["run"]),
            *(format_value(row[p], p) for p in parameters),
            *(format_value(row[m], m) for m in shown),
            *(format_value(row[c], c) for c in counts),
        )
    return table


def heatmap_table(grid: pd.DataFrame, metric: str, rows: str, columns: str) -> Table:
    """The best `metric` per (rows, columns) cell, coloured by thirds of its range."""
    values = grid.to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    table = Table(
        title=f"best {metric} by {rows} (rows) x {columns} (columns)", title_justify="left"
    )
    table.add_column(f"{rows} \\ {columns}", justify="right")
    for column in grid.columns:
        table.add_column(format_value(column, columns), justify="right")
    for label, row in zip(grid.index, values, strict=True):
        cells = []
        for value in row:
            if pd.isna(value):
                cells.append("[dim]-[/dim]")
                continue
            share = (value - low) / (high - low) if high > low else 0.5
            colour = "red" if share < 1 / 3 else "yellow" if share < 2 / 3 else "green"
            cells.append(f"[{colour}]{format_value(float(value), metric)}[/{colour}]")
        table.add_row(format_value(label, rows), *cells)
    return table


def render_walk_forward(result: WalkForwardResult, folds: pd.DataFrame) -> None:
    """The folds, then out of sample vs the in-sample best, then the deflated Sharpe."""
    console = stdout_console()
    table = Table(
        title=f"walk-forward ({result.scheme}), best {result.metric} on each train window",
        title_justify="left",
    )
    for column in ("fold", "test_first", "test_last", *result.parameters):
        table.add_column(column.replace("_", " "), justify="right")
    table.add_column(f"train {result.metric}", justify="right")
    table.add_column("test return", justify="right")
    table.add_column(f"test {result.metric}", justify="right")
    for row in json_records(folds):
        table.add_row(
            str(row["fold"]),
            str(row["test_first"]),
            str(row["test_last"]),
            *(format_value(row[p], p) for p in result.parameters),
            format_value(row[f"train_{result.metric}"], result.metric),
            format_value(row["test_return"], "total_return"),
            format_value(row[f"test_{result.metric}"], result.metric),
        )
    console.print(table)
    summary = Table(
        title="out of sample (stitched) vs in-sample best (hindsight)", title_justify="left"
    )
    summary.add_column("metric")
    summary.add_column("out of sample", justify="right")
    best = result.in_sample_best
    label = ", ".join(f"{k}={format_value(v, k)}" for k, v in best.items()) if best else "-"
    summary.add_column(f"in-sample best ({label})", justify="right")
    in_sample = result.in_sample_metrics or {}
    for name, value in result.oos_metrics.items():
        summary.add_row(
            name.replace("_", " "),
            format_value(value, name),
            format_value(in_sample.get(name), name),
        )
    console.print(summary)
    console.print(deflated_line(result.deflated), highlight=False)


__all__ = ["heatmap_table", "leaderboard_table", "render_walk_forward"]
