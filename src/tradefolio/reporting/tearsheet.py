"""The tearsheet: one self-contained HTML file (plotly.js inline, no network) per run.

Page order: header (run, period, config), the metrics table, every chart of `charts`
(equity vs benchmark with a linear/log switch, underwater, monthly heatmap, rolling Sharpe,
rolling beta, weights, turnover, exposure), then the trade list. Chart `div`s have stable
ids (`chart-<key>`) and the page lists them in `<body data-charts="...">`, so a browser test
can check that every chart rendered. The same inputs give the same bytes.

Each chart is its figure spec (`figures.py`) as JSON and one `Plotly.newPlot` call; the
page carries the numbers it draws and nothing else (the full record stays in the CSVs).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tradefolio.reporting import figures as figure_specs
from tradefolio.reporting.charts import ChartData, chart_data
from tradefolio.reporting.json_values import finite_or_null
from tradefolio.reporting.metrics import ROLLING_WINDOW
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.tables import METRIC_ROWS
from tradefolio.reporting.trades import round_trip_table

#: Most trades listed in the page (the full list is always in fills.csv).
MAX_TRADE_ROWS = 5000
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #666; margin-bottom: 12px; }
table { border-collapse: collapse; }
td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #fafafa; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
.metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr));
           gap: 0 28px; }
.metrics table { width: 100%; }
.chart { margin: 10px 0 22px; border: 1px solid #eee; border-radius: 6px; }
.trades { max-height: 520px; overflow: auto; border: 1px solid #eee; }
.config { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
          color: #444; white-space: pre-wrap; }
.neg { color: #b03a2e; } .pos { color: #1e8449; }
"""


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    rows = [(label, fmt(metrics.get(key))) for key, label, fmt in METRIC_ROWS if key in metrics]
    half = math.ceil(len(rows) / 2)
    tables = []
    for chunk in (rows[:half], rows[half:]):
        body = "".join(
            f'<tr><td class="name">{html.escape(label)}</td><td>{html.escape(text)}</td></tr>'
            for label, text in chunk
        )
        tables.append(f"<table>{body}</table>")
    start, recovery = metrics.get("max_drawdown_start"), metrics.get("max_drawdown_recovery")
    note = ""
    if start:
        until = f"recovered {recovery}" if recovery else "not recovered by the end"
        note = (
            f'<p class="sub">Deepest drawdown went under water on {html.escape(str(start))}, '
            f"bottomed on {html.escape(str(metrics.get('max_drawdown_trough')))}, "
            f"{html.escape(until)}.</p>"
        )
    return f'<div class="metrics">{"".join(tables)}</div>{note}'


def _cell(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if kind == "date":
        return str(pd.Timestamp(value).date())
    if kind == "pct":
        css = "neg" if value < 0 else "pos"
        return f'<span class="{css}">{value:.2%}</span>'
    if kind == "money":
        css = "neg" if value < 0 else "pos"
        return f'<span class="{css}">{value:,.2f}</span>'
    if kind == "price":
        return f"{value:,.4f}"
    if kind == "qty":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.6f}"
    if kind == "days":
        return "" if value < 0 else f"{int(value):,d}"
    return html.escape(str(value))


TRADE_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("symbol", "Symbol", "text"),
    ("entry_date", "Entry", "date"),
    ("exit_date", "Exit", "date"),
    ("status", "Status", "text"),
    ("quantity", "Units", "qty"),
    ("entry_price", "Avg entry", "price"),
    ("exit_price", "Avg exit", "price"),
    ("pnl", "P&L", "money"),
    ("return", "Return", "pct"),
    ("days", "Days", "days"),
)


def _trades_html(trades: pd.DataFrame) -> str:
    shown = trades.head(MAX_TRADE_ROWS)
    head = "".join(
        f'<th class="{"name" if kind == "text" else ""}">{html.escape(label)}</th>'
        for _, label, kind in TRADE_HEADERS
    )
    body = []
    for record in shown.to_dict("records"):
        cells = "".join(
            f'<td class="{"name" if kind == "text" else ""}">{_cell(record[key], kind)}</td>'
            for key, _, kind in TRADE_HEADERS
        )
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if len(trades) > len(shown):
        more = (
            f'<p class="sub">First {len(shown):,d} of {len(trades):,d} trades; '
            "all fills are in fills.csv.</p>"
        )
    return (
        f'<div class="trades"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def _config_html(config: Mapping[str, Any]) -> str:
    text = json.dumps(dict(config), indent=2, sort_keys=True, default=str)
    return (
        "<details><summary>Configuration</summary>"
        f'<div class="config">{html.escape(text)}</div></details>'
    )


def _json(payload: Any) -> str:
    """Compact JSON that cannot close the surrounding <script> element."""
    try:  # the figures already hold gaps as None (`figures._values`): one pass, in C
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or infinity after all: null, as everywhere
        text = json.dumps(finite_or_null(payload), separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def chart_html(key: str, figure: figure_specs.Figure) -> str:
    """The chart's div (`chart-<key>`) and the script that draws `figure` into it."""
    height = int(figure["layout"].get("height", figure_specs.HEIGHT))
    div_id = f"chart-{key}"
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%;">'
        "</div>"
        f'<script type="text/javascript">Plotly.newPlot("{div_id}",'
        f"{_json(figure['data'])},{_json(figure['layout'])},{_json(PLOT_CONFIG)});</script>"
    )


def render_tearsheet(
    record: RunRecord,
    metrics: Mapping[str, Any],
    *,
    log_scale: bool | None = None,
    window: int = ROLLING_WINDOW,
    data: ChartData | None = None,
    trades: pd.DataFrame | None = None,
) -> str:
    """The tearsheet of `record` as one HTML document (see the module docstring); `data`
    and `trades` (`round_trip_table(record.fills)`) when the caller has them."""
    plotly_js = figure_specs.plotly_js()  # MissingExtra without plotly
    head, tail = _page(
        record, metrics, log_scale=log_scale, window=window, data=data, trades=trades
    )
    return head + plotly_js + tail


def _page(
    record: RunRecord,
    metrics: Mapping[str, Any],
    *,
    log_scale: bool | None,
    window: int,
    data: ChartData | None,
    trades: pd.DataFrame | None,
) -> tuple[str, str]:
    """The page around plotly.js: what comes before the library's text, and after it."""
    data = data if data is not None else chart_data(record, window)
    charts = figure_specs.figures(data, log_scale=log_scale)
    sections = [
        f'<section class="chart" id="section-{chart.key}">'
        f"{chart_html(chart.key, charts[chart.key])}</section>"
        for chart in data.charts
    ]
    title = f"{record.name} — {record.kind} tearsheet"
    period = f"{metrics.get('start')} .. {metrics.get('end')}, {metrics.get('sessions')} sessions"
    keys = " ".join(chart.key for chart in data.charts)
    head = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style>",
            '<script type="text/javascript">',
        ]
    )
    tail = "\n".join(
        [
            "</script>",
            "</head>",
            f'<body data-charts="{html.escape(keys)}">',
            f"<h1>{html.escape(title)}</h1>",
            f'<div class="sub">{html.escape(period)}</div>',
            _config_html(record.config),
            "<h2>Metrics</h2>",
            _metrics_html(metrics),
            "<h2>Charts</h2>",
            *sections,
            "<h2>Trades</h2>",
            _trades_html(round_trip_table(record.fills) if trades is None else trades),
            '<p class="sub">Made by tradefolio. Formulas: docs/cli.md (metrics.json).</p>',
            "</body></html>",
            "",
        ]
    )
    return head, tail


def write_tearsheet(
    record: RunRecord,
    metrics: Mapping[str, Any],
    path: Path,
    *,
    log_scale: bool | None = None,
    window: int = ROLLING_WINDOW,
    data: ChartData | None = None,
    trades: pd.DataFrame | None = None,
) -> Path:
    """Write `render_tearsheet(...)` to `path` (UTF-8) and return the path."""
    if os.linesep != "\n":  # text mode writes the platform's line ends: as it always did
        page = render_tearsheet(
            record, metrics, log_scale=log_scale, window=window, data=data, trades=trades
        )
        path.write_text(page, encoding="utf-8")
        return path
    plotly_js = figure_specs.plotly_js_bytes()  # MissingExtra without plotly
    head, tail = _page(
        record, metrics, log_scale=log_scale, window=window, data=data, trades=trades
    )
    # the same bytes as `write_text(render_tearsheet(...))`, without decoding plotly.js
    # (~5 MB, not ASCII) only to encode it again
    with path.open("wb") as handle:
        handle.write(head.encode("utf-8"))
        handle.write(plotly_js)
        handle.write(tail.encode("utf-8"))
    return path


__all__ = ["chart_html", "render_tearsheet", "write_tearsheet"]
