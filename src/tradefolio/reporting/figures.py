"""Interactive charts (plotly) of a run, one figure per `Chart`, for the HTML tearsheet.

plotly is an optional dependency (extra `report`), imported only here and only when a
figure is built; without it `MissingExtra` names the install.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

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
    Chart,
    ChartData,
)

#: A `plotly.graph_objects.Figure` (plotly ships no type information).
Figure = Any

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEIGHT = 380


def plotly_modules() -> Any:
    """`plotly.graph_objects`, or `MissingExtra` naming the install."""
    try:
        # importlib keeps the untyped plotly out of mypy's view (it ships no stubs).
        return importlib.import_module("plotly.graph_objects")
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtra("plotly", "report", "the HTML tearsheet") from exc


def _dates(index: pd.Index) -> list[str]:
    return [stamp.strftime("%Y-%m-%d") for stamp in pd.DatetimeIndex(index)]


def _layout(figure: Figure, chart: Chart, **extra: Any) -> Figure:
    layout: dict[str, Any] = {
        "title": {"text": chart.title, "x": 0.01},
        "template": "plotly_white",
        "height": HEIGHT,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        "hovermode": "x unified",
    }
    layout.update(extra)
    figure.update_layout(**layout)
    return figure


def _line(go: Any, series: pd.Series, name: str, **style: Any) -> Any:
    return go.Scatter(
        x=_dates(series.index), y=series.to_numpy(np.float64), name=name, mode="lines", **style
    )


def equity_figure(data: ChartData, *, log_scale: bool = False) -> Figure:
    """Equity and the benchmark rebased to the same start, with a linear/log switch."""
    go = plotly_modules()
    figure = go.Figure()
    figure.add_trace(_line(go, data.equity, "strategy", line={"width": 1.6}))
    if data.benchmark is not None:
        figure.add_trace(_line(go, data.benchmark, "benchmark (rebased)", line={"width": 1.2}))
    buttons = [
        {"label": label, "method": "relayout", "args": [{"yaxis.type": kind}]}
        for label, kind in (("linear", "linear"), ("log", "log"))
    ]
    return _layout(
        figure,
        EQUITY,
        yaxis={"type": "log" if log_scale else "linear", "title": "equity"},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "active": 1 if log_scale else 0,
                "x": 0.22,
                "y": 1.02,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"b": 4},
                "showactive": True,
            }
        ],
    )


def drawdown_figure(data: ChartData) -> Figure:
    """Underwater curve: drawdown from the running peak, in percent."""
    go = plotly_modules()
    figure = go.Figure(
        _line(
            go,
            data.drawdown * 100.0,
            "drawdown",
            fill="tozeroy",
            line={"width": 1, "color": "#c0392b"},
        )
    )
    return _layout(figure, DRAWDOWN, yaxis={"title": "%", "ticksuffix": "%"}, showlegend=False)


def monthly_figure(data: ChartData) -> Figure:
    """Heatmap of compounded monthly returns, years down, months across."""
    go = plotly_modules()
    table = data.monthly * 100.0
    values = table.to_numpy(np.float64)
    text = [["" if np.isnan(v) else f"{v:.1f}" for v in row] for row in values]
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(MONTH_NAMES),
            y=[str(year) for year in table.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>",
            colorbar={"ticksuffix": "%"},
        )
    )
    rows = max(len(table), 1)
    return _layout(
        figure,
        MONTHLY,
        height=max(HEIGHT, 22 * rows + 120),
        yaxis={"autorange": "reversed", "type": "category"},
        hovermode="closest",
    )


def rolling_sharpe_figure(data: ChartData) -> Figure:
    """Trailing-window Sharpe ratio."""
    go = plotly_modules()
    figure = go.Figure(_line(go, data.rolling_sharpe.dropna(), "rolling Sharpe", line={"width": 1}))
    figure.add_hline(y=0.0, line={"width": 1, "color": "#888"})
    return _layout(figure, ROLLING_SHARPE, showlegend=False)


def rolling_beta_figure(data: ChartData) -> Figure:
    """Trailing-window beta to the benchmark."""
    go = plotly_modules()
    series = data.rolling_beta.dropna() if data.rolling_beta is not None else pd.Series()
    figure = go.Figure(_line(go, series, "rolling beta", line={"width": 1}))
    figure.add_hline(y=1.0, line={"width": 1, "color": "#888", "dash": "dot"})
    return _layout(figure, ROLLING_BETA, showlegend=False)


def weights_figure(data: ChartData) -> Figure:
    """Stacked areas of each holding's weight of equity (and cash)."""
    go = plotly_modules()
    figure = go.Figure()
    dates = _dates(data.weights.index)
    for column in data.weights.columns:
        values = data.weights[column].to_numpy(np.float64) * 100.0
        if not np.any(values):
            continue
        figure.add_trace(
            go.Scatter(
                x=dates,
                y=values,
                name=str(column),
                mode="lines",
                stackgroup="weights",
                line={"width": 0.5},
            )
        )
    return _layout(
        figure,
        WEIGHTS,
        yaxis={"title": "% of equity", "ticksuffix": "%"},
        legend={"orientation": "v", "x": 1.01, "y": 1, "xanchor": "left", "yanchor": "top"},
    )


def turnover_figure(data: ChartData) -> Figure:
    """One-way turnover of each trading day, in percent of equity."""
    go = plotly_modules()
    series = data.turnover * 100.0
    figure = go.Figure(
        go.Bar(x=_dates(series.index), y=series.to_numpy(np.float64), name="turnover")
    )
    return _layout(figure, TURNOVER, yaxis={"ticksuffix": "%"}, showlegend=False, bargap=0)


def exposure_figure(data: ChartData) -> Figure:
    """Fraction of equity invested at each close."""
    go = plotly_modules()
    figure = go.Figure(
        _line(go, data.exposure * 100.0, "exposure", fill="tozeroy", line={"width": 1})
    )
    return _layout(figure, EXPOSURE, yaxis={"ticksuffix": "%"}, showlegend=False)


def figures(data: ChartData, *, log_scale: bool = False) -> dict[str, Figure]:
    """Chart key -> plotly figure, for every chart the run has, in page order."""
    builders = {
        EQUITY.key: lambda: equity_figure(data, log_scale=log_scale),
        DRAWDOWN.key: lambda: drawdown_figure(data),
        MONTHLY.key: lambda: monthly_figure(data),
        ROLLING_SHARPE.key: lambda: rolling_sharpe_figure(data),
        ROLLING_BETA.key: lambda: rolling_beta_figure(data),
        WEIGHTS.key: lambda: weights_figure(data),
        TURNOVER.key: lambda: turnover_figure(data),
        EXPOSURE.key: lambda: exposure_figure(data),
    }
    return {chart.key: builders[chart.key]() for chart in data.charts}


__all__ = ["figures", "plotly_modules"]
