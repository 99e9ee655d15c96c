"""The options `tradefolio sweep` and `tradefolio walk-forward` share, declared once.

The space (`--grid`, `--set`, `--file`, `--random`, `--seed`), the data (`--prices`,
`--benchmark`), where runs happen (`--executor`, `--workers`, `--address`, `--batch`), the
ranking (`--metric`) and the results folder (`--out`, `--fresh`, `--format`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradefolio.cli.common import OutputFormat
from tradefolio.research.executors import EXECUTORS
from tradefolio.research.report import RANKABLE

GridOption = Annotated[
    list[str] | None,
    typer.Option(
        "--grid",
        help="Swept parameter NAME=VALUES: a,b,c or low..high or low..high:step (repeatable).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Fixed backtest parameter NAME=VALUE for every run (repeatable)."),
]
FileOption = Annotated[
    Path | None, typer.Option("--file", help="Sweep file (YAML or TOML: base, grid, random).")
]
RandomOption = Annotated[
    int | None,
    typer.Option("--random", help="Sample this many points instead of the full grid."),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed of --random (default 0).")]
PricesOption = Annotated[
    Path | None,
    typer.Option("--prices", help="Price file (CSV/Parquet, wide or long; default: sample)."),
]
BenchmarkOption = Annotated[
    Path | None,
    typer.Option("--benchmark", help="Benchmark prices for beta sizing (default: sample S&P)."),
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", help=f"Where runs happen: {', '.join(EXECUTORS)}.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Parallel runs (default: every core; 1 = in this process)."),
]
AddressOption = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster address (ray://host:10001 or auto)."),
]
BatchOption = Annotated[
    int,
    typer.Option("--batch", help="Ray: runs per remote call (more for short runs on a cluster)."),
]
MetricOption = Annotated[
    str, typer.Option("--metric", help=f"Metric to rank by: {', '.join(RANKABLE)}.")
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Results folder (default runs/<command>-<key>; reruns resume)."),
]
FreshOption = Annotated[
    bool, typer.Option("--fresh", help="Discard earlier results in the folder first.")
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="table (leaderboard), json (summary), csv (every row)."),
]


__all__ = [
    "AddressOption",
    "BatchOption",
    "BenchmarkOption",
    "ExecutorOption",
    "FileOption",
    "FormatOption",
    "FreshOption",
    "GridOption",
    "MetricOption",
    "OutOption",
    "PricesOption",
    "RandomOption",
    "SetOption",
    "WorkersOption",
]
