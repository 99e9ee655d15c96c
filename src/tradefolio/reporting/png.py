"""Static PNG of every tearsheet chart (matplotlib, Agg), for pasting into notes.

Draws the same `ChartData` as the HTML page, one file per chart named `<key>.png`. Uses
matplotlib's object API (`Figure` + Agg canvas), never `pyplot`, so nothing global changes
and no display is needed. matplotlib is an optional dependency (extra `report`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tradefolio.errors import MissingExtra
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
)

SIZE_INCHES = (10.0, 4.0)
DPI = 110
MONTHS = "JFMAMJJASOND"


def _figure(height: float = SIZE_INCHES[1]) -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtra("matplotlib", "report", "PNG charts") from exc
    figure = Figure(figsize=(SIZE_INCHES[0], height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, alpha=0.3)
    return figure, axes


def _equity(data: ChartData, log_scale: bool) -> Any:
    figure, axes = _figure()
    axes.plot(data.equity.index, data.equity.to_numpy(), label="strategy", linewidth=1.2)
    if data.benchmark is not None:
        axes.plot(
            data.benchmark.index,
            data.benchmark.to_numpy(),
            label="benchmark (rebased)",
            linewidth=1.0,
        )
    if log_scale:
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
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = axes.imshow(
        np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto"
    )
    axes.set_xticks(range(12), list(MONTHS))
    axes.set_yticks(range(len(table)), [str(year) for year in table.index])
    for row, col in zip(*np.nonzero(np.isfinite(values)), strict=True):
        axes.text(col, row, f"{values[row, col]:.1f}", ha="center", va="center", fontsize=6)
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
            linewidth=0,
        )
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, ncols=1)
    axes.set_ylabel("% of equity")
    axes.set_title(WEIGHTS.title)
    return figure


def _turnover(data: ChartData) -> Any:
    figure, axes = _figure()
    if len(data.turnover):
        axes.vlines(data.turnover.index, 0.0, data.turnover.to_numpy() * 100.0, linewidth=0.8)
    axes.set_ylabel("%")
    axes.set_title(TURNOVER.title)
    return figure


def write_pngs(data: ChartData, folder: Path, *, log_scale: bool = False) -> list[Path]:
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
        # No timestamps or versions in the file: the same run gives the same bytes.
        figure.savefig(path, metadata={"Software": None})
        written.append(path)
    return written


__all__ = ["write_pngs"]
