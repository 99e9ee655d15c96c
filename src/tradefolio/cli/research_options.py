"""The options `tradefolio sweep` and `tradefolio walk-forward` share, declared once, and
how both turn them into a space (`build_spec`) and stop on Ctrl-C (`resumable`).

The space (`--grid`, `--set`, `--file`, `--random`, `--seed`), the data (`--prices`,
`--benchmark`), where runs happen (`--executor`, `--workers`, `--address`, `--batch`), the
ranking (`--metric`) and the results folder (`--out`, `--fresh`, `--format`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradefolio.api.research import sweep_spec
from tradefolio.cli.common import OutputFormat
from tradefolio.errors import InvalidParameter
from tradefolio.research.executors import EXECUTORS
from tradefolio.research.report import RANKABLE
from tradefolio.research.space import ParamValue, SweepSpec, parse_grid_option, parse_scalar

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


@contextmanager
def resumable(messages: Console, folder: Path) -> Iterator[None]:
    """On Ctrl-C, say where the finished runs are and how to resume, then stop."""
    try:
        yield
    except KeyboardInterrupt:
        messages.print(
            f"interrupted: finished runs are saved in {folder}; run the same command again "
            "to resume",
            style="yellow",
        )
        raise


def _fixed(options: Sequence[str]) -> dict[str, ParamValue]:
    """`--set NAME=VALUE` options as fixed parameters."""
    fixed: dict[str, ParamValue] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name.strip():
            raise InvalidParameter(f"--set expects NAME=VALUE (e.g. sizer=weight), got {option!r}")
        fixed[name.strip().replace("-", "_")] = parse_scalar(value)
    return fixed


def build_spec(
    grid: Sequence[str],
    fixed: Sequence[str],
    file: Path | None,
    samples: int | None,
    seed: int | None,
) -> SweepSpec:
    """The sweep the options describe (the file first, command-line options on top)."""
    return sweep_spec([parse_grid_option(option) for option in grid], _fixed(fixed), file,
                      samples, seed)  # fmt: skip


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
    "build_spec",
    "resumable",
]
