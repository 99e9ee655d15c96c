"""Static PNG of every tearsheet chart (matplotlib, Agg), for pasting into notes.

Draws the same `ChartData` as the HTML page, one file per chart named `<key>.png`. Uses
matplotlib's object API (`Figure` + Agg canvas), never `pyplot`, so nothing global changes
and no display is needed. matplotlib is an optional dependency (extra `report`).

Written only when asked for (`--png`): matplotlib's import and rasterising cost about as
much as the backtest itself. Colours are those of the HTML page (`figures.series_colour`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tradefolio.extras import import_extra
from tradefolio.reporting.charts import (
    DRAWDOWN,
    EQUITY,
    EXPOSURE,
    MONTHLY,
    ROLLING_BETA,
    ROLLING_SHARPE,
    TURNOVER,
    WEIGHTS,
    ChartData,
    number_text,
    use_log_scale,
)
from tradefolio.reporting.figures import BENCHMARK_COLOUR, STRATEGY_COLOUR, series_colour

SIZE_INCHES = (10.0, 4.0)
DPI = 110
MONTHS = "JFMAMJJASOND"


def _figure(height: float = SIZE_INCHES[1]) -> tuple[Any, Any]:
    figures = import_extra("matplotlib.figure", "report", "PNG charts")
    agg = import_extra("matplotlib.backends.backend_agg", "report", "PNG charts")
    figure = figures.Figure(figsize=(SIZE_INCHES[0], height), dpi=DPI, layout="constrained")
    agg.FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, alpha=0.3)
    return figure, axes


def _equity(data: ChartData, log_scale: bool | None) -> Any:
    figure, axes = _figure()
    axes.plot(
        data.equity.index,
        data.equity.to_numpy(),
        label="strategy",
        linewidth=1.2,
        color=STRATEGY_COLOUR,
    )
    if data.benchmark is not None:
        axes.plot(
            data.benchmark.index,
            data.benchmark.to_numpy(),
            label="benchmark (rebased)",
            linewidth=1.0,
            color=BENCHMARK_COLOUR,
        )
    if use_log_scale(data.equity) if log_scale is None else log_scale:
        axes.set_yscale("log")
    axes.legend(loc="upper left")
    axes.set_title(EQUITY.title)
    return figure


def _drawdown(data: ChartData) -> Any:
    figure, axes = _figure()
    values = data.drawdown.to_numpy() * 100.0
    axes.fill_between(data.drawdown.index, values, 0.0, color="#c0392b", alpha=0.6, linewidth=0)
    axes.set_ylabel("%")
    axes.set_title(DRAWDOWN.title)
    return figure


def _monthly(data: ChartData) -> Any:
    table = data.monthly * 100.0
    rows = max(len(table), 1)
    figure, axes = _figure(height=max(SIZE_INCHES[1], 0.22 * rows + 1.2))
    axes.grid(False)
    values = table.to_numpy(np.float64)
    yearly = data.yearly.reindex(table.index).to_numpy(np.float64) * 100.0
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    year_limit = float(np.nanmax(np.abs(yearly))) if np.isfinite(yearly).any() else 1.0
    image = axes.imshow(
        np.ma.masked_invalid(values),
        cmap="RdYlGn",
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        extent=(-0.5, 11.5, len(table) - 0.5, -0.5),
    )
    # The year column: its own colour scale (a year moves more than a month).
    axes.imshow(
        np.ma.masked_invalid(yearly[:, None]),
        cmap="RdYlGn",
        vmin=-year_limit,
        vmax=year_limit,
        aspect="auto",
        extent=(12.0, 13.0, len(table) - 0.5, -0.5),
    )
    axes.set_xlim(-0.5, 13.0)
    axes.set_xticks([*range(12), 12.5], [*MONTHS, "Year"])
    axes.set_yticks(range(len(table)), [str(year) for year in table.index])
    for row, col in zip(*np.nonzero(np.isfinite(values)), strict=True):
        axes.text(col, row, number_text(values[row, col]), ha="center", va="center", fontsize=6)
    for row in np.flatnonzero(np.isfinite(yearly)).tolist():
        axes.text(12.5, row, number_text(yearly[row]), ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label="%")
    axes.set_title(MONTHLY.title)
    return figure


def _line(series: Any, title: str, reference: float | None = None, percent: bool = False) -> Any:
    figure, axes = _figure()
    values = series.to_numpy() * (100.0 if percent else 1.0)
    axes.plot(series.index, values, linewidth=1.0)
    if reference is not None:
        axes.axhline(reference, color="#888", linewidth=0.8, linestyle=":")
    if percent:
        axes.set_ylabel("%")
    axes.set_title(title)
    return figure


def _weights(data: ChartData) -> Any:
    figure, axes = _figure()
    shown = data.weights.loc[:, (data.weights != 0).any(axis=0)]
    if shown.shape[1]:
        axes.stackplot(
            shown.index,
            *(shown[c].to_numpy() * 100.0 for c in shown.columns),
            labels=[str(c) for c in shown.columns],
            colors=[series_colour(str(c), i) for i, c in enumerate(shown.columns)],
            linewidth=0,
        )
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, ncols=1)
    axes.set_ylabel("% of equity")
    axes.set_title(WEIGHTS.title)
    return figure


def _turnover(data: ChartData) -> Any:
    figure, axes = _figure()
    if len(data.turnover):
        axes.bar(
            data.turnover.index,
            data.turnover.to_numpy() * 100.0,
            width=25,  # days: one bar per month
            align="edge",
            color=STRATEGY_COLOUR,
        )
    axes.set_ylabel("%")
    axes.set_title(TURNOVER.title)
    return figure


def write_pngs(data: ChartData, folder: Path, *, log_scale: bool | None = None) -> list[Path]:
    """One `<key>.png` per chart of `data` in `folder` (created); returns the paths."""
    builders: dict[str, Callable[[], Any]] = {
        EQUITY.key: lambda: _equity(data, log_scale),
        DRAWDOWN.key: lambda: _drawdown(data),
        MONTHLY.key: lambda: _monthly(data),
        ROLLING_SHARPE.key: lambda: _line(data.rolling_sharpe, ROLLING_SHARPE.title, 0.0),
        ROLLING_BETA.key: lambda: _line(data.rolling_beta, ROLLING_BETA.title, 1.0),
        WEIGHTS.key: lambda: _weights(data),
        TURNOVER.key: lambda: _turnover(data),
        EXPOSURE.key: lambda: _line(data.exposure, EXPOSURE.title, percent=True),
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in data.charts:
        figure = builders[chart.key]()
        path = folder / f"{chart.key}.png"
        with warnings.catch_warnings():  # a tiny chart's layout note is not the user's problem
            warnings.simplefilter("ignore", UserWarning)
            # No timestamps or versions in the file: the same run gives the same bytes.
            figure.savefig(path, metadata={"Software": None})
        written.append(path)
    return written


__all__ = ["write_pngs"]
