"""Interactive charts of a run for the HTML tearsheet: plotly figure specs as plain data.

Each builder returns a figure as the JSON-ready dict plotly.js draws (`{"data": [...],
"layout": {...}}`), built directly rather than through `plotly.graph_objects`: the Python
objects validate every attribute, which cost seconds on a long run (and 500 stacked
traces cost 7 MB), while the page only needs the numbers. plotly (extra `report`) is still
what draws them: `plotly_js()` returns its bundled plotly.js, inlined in the page, and
without it `MissingExtra` names the install.

Values are rounded to what a chart can show (cents of equity, 1e-4 of a percent), and
non-finite values become gaps (`null`).
"""

from __future__ import annotations

import pkgutil
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

from tradefolio.extras import import_extra
from tradefolio.reporting.charts import (
    CASH,
    DRAWDOWN,
    EQUITY,
    EXPOSURE,
    MONTHLY,
    OTHER,
    REBALANCE_COSTS,
    REBALANCE_WEIGHTS,
    ROLLING_BETA,
    ROLLING_SHARPE,
    TURNOVER,
    WEIGHTS,
    Chart,
    ChartData,
    number_text,
    use_log_scale,
)

#: A figure as plotly.js takes it: {"data": [trace, ...], "layout": {...}}.
Figure = dict[str, Any]

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
YEAR_COLUMN = "Year"
HEIGHT = 380
#: Distinct colours for named series (Tableau 10, then its light shades); grey for the rest.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#9edae5",
    "#dbdb8d",
    "#c7c7c7",
)
SERIES_COLOURS = {OTHER: "#b0b0b0", CASH: "#e4e4e4"}
STRATEGY_COLOUR, BENCHMARK_COLOUR = "#1f77b4", "#ff7f0e"
#: ColorBrewer RdYlGn (plotly.js knows no such name; plotly's Python API expanded it).
RED_YELLOW_GREEN = [
    [index / 10, colour]
    for index, colour in enumerate(
        (
            "#a50026",
            "#d73027",
            "#f46d43",
            "#fdae61",
            "#fee08b",
            "#ffffbf",
            "#d9ef8b",
            "#a6d96a",
            "#66bd63",
            "#1a9850",
            "#006837",
        )
    )
]
_GRID = "#ebf0f8"
_AXIS = {"gridcolor": _GRID, "linecolor": _GRID, "zerolinecolor": _GRID, "automargin": True}


#: Where `plotly.offline.get_plotlyjs()` reads plotly.js from, in the plotly package.
PLOTLY_JS = "package_data/plotly.min.js"


def plotly_js_bytes() -> bytes:
    """The plotly.js bundled with the plotly package as its file's UTF-8 bytes (what
    `plotly.offline.get_plotlyjs()` decodes), or `MissingExtra` naming the install; not
    decoded: the tearsheet writes them as they are (~5 MB, not ASCII: decoding them and
    encoding the page again cost ~20 ms)."""
    offline = import_extra("plotly.offline", "report", "the HTML tearsheet")
    data = pkgutil.get_data("plotly", PLOTLY_JS)
    if data is None:  # a package laid out otherwise: its own reader
        text: str = offline.get_plotlyjs()
        return text.encode("utf-8")
    return data


def plotly_js() -> str:
    """The plotly.js bundled with the plotly package, or `MissingExtra` naming the install."""
    return plotly_js_bytes().decode("utf-8")


#: The day strings `figures()` made so far, by the index they were made of: most lines
#: of a tearsheet share the run's sessions (~3 ms of strings per 8,000 of them, per line).
_DAY_TEXTS: ContextVar[list[tuple[pd.DatetimeIndex, list[str]]] | None] = ContextVar(
    "_DAY_TEXTS", default=None
)


def _dates(index: pd.Index) -> list[str]:
    """ISO dates of a session index (numpy's day strings: `strftime` cost ~15 ms per 8,000
    sessions, for every line of the tearsheet)."""
    dates = pd.DatetimeIndex(index)
    if dates.tz is not None or dates.hasnans:
        return list(dates.strftime("%Y-%m-%d"))
    made = _DAY_TEXTS.get()
    for known, texts in made or ():
        if len(known) == len(dates) and known.equals(dates):
            return texts
    days: list[str] = np.datetime_as_string(dates.to_numpy(), unit="D").tolist()
    if made is not None:
        made.append((dates, days))
    return days


def _values(values: Any, decimals: int) -> list[float | None]:
    """Rounded floats (no "-0.0": adding 0.0 clears the sign of a zero), None for gaps."""
    array = np.round(np.asarray(values, dtype=np.float64), decimals) + 0.0
    finite = np.isfinite(array).tolist()
    return [v if ok else None for v, ok in zip(array.tolist(), finite, strict=True)]


def _layout(chart: Chart, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": chart.title, "x": 0.01},
        "height": HEIGHT,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"color": "#2a3f5f"},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        "hovermode": "x unified",
        "xaxis": dict(_AXIS),
        "yaxis": dict(_AXIS),
    }
    for key, value in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _line(series: pd.Series, name: str, decimals: int, **style: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": _dates(series.index),
        "y": _values(series.to_numpy(np.float64), decimals),
        **style,
    }


def _reference_line(level: float, **style: Any) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": level,
        "y1": level,
        "line": {"width": 1, "color": "#888", **style},
    }


def equity_figure(data: ChartData, *, log_scale: bool | None = None) -> Figure:
    """Equity and the benchmark rebased to the same start, with a linear/log switch; log by
    default when the equity spans more than 10x (`log_scale=None`)."""
    log = use_log_scale(data.equity) if log_scale is None else log_scale
    traces = [_line(data.equity, "strategy", 2, line={"width": 1.6, "color": STRATEGY_COLOUR})]
    if data.benchmark is not None:
        traces.append(
            _line(
                data.benchmark,
                "benchmark (rebased)",
                2,
                line={"width": 1.2, "color": BENCHMARK_COLOUR},
            )
        )
    buttons = [
        {"label": label, "method": "relayout", "args": [{"yaxis.type": kind}]}
        for label, kind in (("linear", "linear"), ("log", "log"))
    ]
    layout = _layout(
        EQUITY,
        yaxis={"type": "log" if log else "linear", "title": {"text": "equity"}},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "active": 1 if log else 0,
                "x": 0.22,
                "y": 1.02,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"b": 4},
                "showactive": True,
            }
        ],
    )
    return {"data": traces, "layout": layout}


def drawdown_figure(data: ChartData) -> Figure:
    """Underwater curve: drawdown from the running peak, in percent."""
    trace = _line(
        data.drawdown * 100.0, "drawdown", 4, fill="tozeroy", line={"width": 1, "color": "#c0392b"}
    )
    layout = _layout(DRAWDOWN, yaxis={"title": {"text": "%"}, "ticksuffix": "%"}, showlegend=False)
    return {"data": [trace], "layout": layout}


def _heatmap_text(values: np.ndarray) -> list[list[str]]:
    return [["" if np.isnan(v) else number_text(v) for v in row] for row in values.tolist()]


def monthly_figure(data: ChartData) -> Figure:
    """Heatmap of compounded monthly returns, years down, months across, and a "Year" column
    (the compounded year) on its own colour scale."""
    table = data.monthly * 100.0
    values = table.to_numpy(np.float64)
    years = [str(year) for year in table.index]
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    yearly = data.yearly.reindex(table.index).to_numpy(np.float64)[:, None] * 100.0
    year_limit = float(np.nanmax(np.abs(yearly))) if np.isfinite(yearly).any() else 1.0
    common = {
        "type": "heatmap",
        "y": years,
        "texttemplate": "%{text}",
        "colorscale": RED_YELLOW_GREEN,
        "zmid": 0.0,
        "hovertemplate": "%{y} %{x}: %{z:.2f}%<extra></extra>",
        "xgap": 1,
        "ygap": 1,
    }
    months = {
        **common,
        "x": list(MONTH_NAMES),
        "z": [_values(row, 4) for row in values],
        "text": _heatmap_text(values),
        "zmin": -limit,
        "zmax": limit,
        "colorbar": {"ticksuffix": "%", "title": {"text": "month"}},
    }
    year = {
        **common,
        "x": [YEAR_COLUMN],
        "z": [_values(row, 4) for row in yearly],
        "text": _heatmap_text(yearly),
        "zmin": -year_limit,
        "zmax": year_limit,
        "showscale": False,
        "xaxis": "x2",  # its own narrow axis: a one-column heatmap on a shared one misdraws
    }
    rows = max(len(table), 1)
    layout = _layout(
        MONTHLY,
        height=max(HEIGHT, 22 * rows + 120),
        xaxis={"type": "category", "showgrid": False, "domain": [0.0, 0.88]},
        xaxis2={"type": "category", "showgrid": False, "domain": [0.9, 0.96], "anchor": "y"},
        yaxis={"autorange": "reversed", "type": "category", "showgrid": False},
        hovermode="closest",
    )
    return {"data": [months, year], "layout": layout}


def rolling_sharpe_figure(data: ChartData) -> Figure:
    """Trailing-window Sharpe ratio."""
    trace = _line(data.rolling_sharpe.dropna(), "rolling Sharpe", 4, line={"width": 1})
    layout = _layout(ROLLING_SHARPE, showlegend=False, shapes=[_reference_line(0.0)])
    return {"data": [trace], "layout": layout}


def rolling_beta_figure(data: ChartData) -> Figure:
    """Trailing-window beta to the benchmark."""
    series = data.rolling_beta.dropna() if data.rolling_beta is not None else pd.Series()
    trace = _line(series, "rolling beta", 4, line={"width": 1})
    layout = _layout(ROLLING_BETA, showlegend=False, shapes=[_reference_line(1.0, dash="dot")])
    return {"data": [trace], "layout": layout}


def series_colour(name: str, position: int) -> str:
    """The colour of a named series: its own from the palette, grey for other and cash."""
    return SERIES_COLOURS.get(name, PALETTE[position % len(PALETTE)])


def weights_figure(data: ChartData) -> Figure:
    """Stacked areas of the largest holdings' weights of equity, "other" and cash."""
    dates = _dates(data.weights.index)
    traces = []
    for position, column in enumerate(data.weights.columns):
        values = data.weights[column].to_numpy(np.float64) * 100.0
        if not np.any(values):
            continue
        colour = series_colour(str(column), position)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": str(column),
                "x": dates,
                "y": _values(values, 4),
                "stackgroup": "weights",
                "line": {"width": 0.5, "color": colour},
                "fillcolor": colour,
            }
        )
    layout = _layout(
        WEIGHTS,
        yaxis={"title": {"text": "% of equity"}, "ticksuffix": "%"},
        legend={"orientation": "v", "x": 1.01, "y": 1, "xanchor": "left", "yanchor": "top"},
    )
    return {"data": traces, "layout": layout}


def turnover_figure(data: ChartData) -> Figure:
    """One-way turnover of each calendar month, in percent of equity."""
    series = data.turnover * 100.0
    trace = {
        "type": "bar",
        "name": "turnover",
        "x": _dates(series.index),
        "y": _values(series.to_numpy(np.float64), 4),
        "marker": {"color": STRATEGY_COLOUR},
        "xperiod": "M1",
        "xperiodalignment": "middle",
    }
    layout = _layout(TURNOVER, yaxis={"ticksuffix": "%"}, showlegend=False, bargap=0.1)
    return {"data": [trace], "layout": layout}


def exposure_figure(data: ChartData) -> Figure:
    """Fraction of equity invested, trailing mean."""
    trace = _line(data.exposure * 100.0, "exposure", 4, fill="tozeroy", line={"width": 1})
    layout = _layout(EXPOSURE, yaxis={"ticksuffix": "%", "rangemode": "tozero"}, showlegend=False)
    return {"data": [trace], "layout": layout}


def rebalance_weights_figure(data: ChartData) -> Figure:
    """Per tracked name: its target weight at each rebalance (markers) and the weight the
    fills reached (a line of the same colour), in percent of equity."""
    traces: list[dict[str, Any]] = []
    targets, reached = data.target_tracking, data.realised_tracking
    if targets is not None and reached is not None:
        dates = _dates(targets.index)
        for position, column in enumerate(targets.columns):
            colour = series_colour(str(column), position)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{column} target",
                    "legendgroup": str(column),
                    "x": dates,
                    "y": _values(targets[column].to_numpy(np.float64) * 100.0, 4),
                    "marker": {"color": colour, "size": 6},
                }
            )
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{column} realised",
                    "legendgroup": str(column),
                    "x": dates,
                    "y": _values(reached[column].to_numpy(np.float64) * 100.0, 4),
                    "line": {"color": colour, "width": 1},
                }
            )
    layout = _layout(REBALANCE_WEIGHTS, yaxis={"title": {"text": "% of equity"}, "ticksuffix": "%"})
    return {"data": traces, "layout": layout}


def rebalance_costs_figure(data: ChartData) -> Figure:
    """Bars: expected and realised turnover (% of the account); lines on the right axis:
    expected and realised costs (currency), one point per rebalance."""
    table = data.rebalances
    traces: list[dict[str, Any]] = []
    if table is not None:
        dates = _dates(pd.DatetimeIndex(table["date"]))
        for column, name, colour in (
            ("expected_turnover", "turnover expected", STRATEGY_COLOUR),
            ("realised_turnover", "turnover realised", BENCHMARK_COLOUR),
        ):
            traces.append(
                {
                    "type": "bar",
                    "name": name,
                    "x": dates,
                    "y": _values(table[column].to_numpy(np.float64) * 100.0, 4),
                    "marker": {"color": colour},
                }
            )
        for column, name, dash in (
            ("expected_costs", "costs expected", "solid"),
            ("realised_costs", "costs paid", "dot"),
        ):
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": dates,
                    "y": _values(table[column].to_numpy(np.float64), 2),
                    "yaxis": "y2",
                    "line": {"dash": dash, "width": 1, "color": "#444"},
                }
            )
    layout = _layout(
        REBALANCE_COSTS,
        yaxis={"title": {"text": "turnover"}, "ticksuffix": "%"},
        yaxis2={"title": {"text": "costs"}, "overlaying": "y", "side": "right"},
        barmode="group",
    )
    return {"data": traces, "layout": layout}


def figures(data: ChartData, *, log_scale: bool | None = None) -> dict[str, Figure]:
    """Chart key -> figure spec, for every chart the run has, in page order."""
    builders = {
        EQUITY.key: lambda: equity_figure(data, log_scale=log_scale),
        DRAWDOWN.key: lambda: drawdown_figure(data),
        MONTHLY.key: lambda: monthly_figure(data),
        ROLLING_SHARPE.key: lambda: rolling_sharpe_figure(data),
        ROLLING_BETA.key: lambda: rolling_beta_figure(data),
        WEIGHTS.key: lambda: weights_figure(data),
        TURNOVER.key: lambda: turnover_figure(data),
        EXPOSURE.key: lambda: exposure_figure(data),
        REBALANCE_WEIGHTS.key: lambda: rebalance_weights_figure(data),
        REBALANCE_COSTS.key: lambda: rebalance_costs_figure(data),
    }
    token = _DAY_TEXTS.set([])  # the figures share their day strings (one list each)
    try:
        return {chart.key: builders[chart.key]() for chart in data.charts}
    finally:
        _DAY_TEXTS.reset(token)


__all__ = ["PALETTE", "PLOTLY_JS", "figures", "plotly_js", "plotly_js_bytes", "series_colour"]
