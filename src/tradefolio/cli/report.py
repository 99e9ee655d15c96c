"""`tradefolio report RUN_DIR`: rebuild a run folder's metrics, tearsheet and PNG charts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tradefolio.cli.common import print_json, require, stderr_console, stdout_console
from tradefolio.reporting.metrics import ROLLING_WINDOW
from tradefolio.reporting.progress import progress_bar
from tradefolio.reporting.run_folder import rewrite_report
from tradefolio.reporting.tables import metrics_table

EXAMPLES = """
Examples:

  tradefolio report runs/20250102T030405Z-sma-cross

  tradefolio report runs/20250102T030405Z-sma-cross --linear-scale --png

  tradefolio report runs/20250102T030405Z-portfolio --format json | jq .sharpe
"""


class ReportFormat(StrEnum):
    """What `report` prints on stdout."""

    table = "table"
    json = "json"


def report_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A run folder written by backtest or live (runs/<UTC time>-<name>).",
            show_default=False,
        ),
    ],
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also write png/<chart>.png (matplotlib).")
    ] = False,
    log_scale: Annotated[
        bool | None,
        typer.Option(
            "--log-scale/--linear-scale",
            help="Axis the equity chart opens on (default: log when equity spans > 10x).",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        int, typer.Option(help="Rolling Sharpe / beta window, in sessions.")
    ] = ROLLING_WINDOW,
    output: Annotated[
        ReportFormat,
        typer.Option("--format", help="table (metrics) or json (metrics.json contract)."),
    ] = ReportFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Recompute metrics.json and rewrite tearsheet.html (and PNGs) of a run folder.

    Reads only the folder (config.json, equity.csv, fills.csv, positions.csv, weights.csv);
    the numbers are bit-for-bit those of the run that wrote it. The tearsheet is one HTML
    file with plotly.js inline: it opens offline.
    """
    require(window >= 2, f"--window must be >= 2 sessions, got {window}")
    messages = stderr_console()
    with progress_bar("writing the tearsheet", None, quiet=quiet, console=messages):
        folder = rewrite_report(run_dir, png=png, log_scale=log_scale, window=window)
    for note in folder.notes:
        messages.print(note, style="yellow")
    if output is ReportFormat.json:
        print_json(folder.metrics)
        return
    console = stdout_console()
    title = f"{folder.path.name}: {folder.metrics['start']} .. {folder.metrics['end']}"
    console.print(metrics_table(folder.metrics, title=title))
    if folder.tearsheet is not None:
        console.print(f"tearsheet: {folder.tearsheet}")
    if folder.pngs:
        console.print(f"charts:    {folder.pngs[0].parent}/ ({len(folder.pngs)} PNG files)")


def register(app: typer.Typer) -> None:
    """Add `report` to the application."""
    app.command("report", epilog=EXAMPLES)(report_command)


__all__ = ["register"]
