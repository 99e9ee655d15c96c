"""`tradefolio data fetch|info`: download prices into a file, and inspect a price file."""

from __future__ import annotations

import os
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    require,
    stderr_console,
    stdout_console,
)
from tradefolio.data.info import DataInfo, fields_statement, info_to_json, summarize
from tradefolio.data.providers.yahoo import YahooProvider, require_pyarrow, yfinance_download
from tradefolio.data.readers import read_benchmark, read_panel
from tradefolio.data.validation import align_with_benchmark
from tradefolio.data.writers import is_parquet_path, write_panel

FETCH_EXAMPLES = """
Examples:

  tradefolio data fetch AAPL MSFT SPY --start 2015-01-01 --end 2024-12-31 --out prices.csv

  tradefolio data fetch AAPL --start 2020-01-01 --out bars.parquet --layout long
"""

INFO_EXAMPLES = """
Examples:

  tradefolio data info prices.csv

  tradefolio data info prices.parquet --benchmark spx.csv --format json
"""


class Layout(StrEnum):
    """How `fetch` writes the file."""

    wide = "wide"
    long = "long"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/tradefolio/yahoo`, else `~/.cache/tradefolio/yahoo`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tradefolio" / "yahoo"


def _parse_day(flag: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        require(False, f"{flag} must be a date like 2020-01-31, got {text!r}")
        raise  # unreachable: require raised


def _summary_title(info: DataInfo) -> str:
    return (
        f"{info.source}: {len(info.symbols)} symbols, {info.sessions} sessions "
        f"{info.first_date.date()} .. {info.last_date.date()}, fields {', '.join(info.fields)}"
    )


def _print_info(info: DataInfo, output: OutputFormat, extra: dict[str, object] | None) -> None:
    if output is OutputFormat.json:
        print_json({**info_to_json(info), **(extra or {})})
        return
    if output is OutputFormat.csv:
        print_csv(
            ["symbol", "first_date", "last_date", "prices", "missing", "gaps"],
            [
                [
                    s.symbol,
                    s.first_date.date(),
                    s.last_date.date(),
                    s.prices,
                    s.missing,
                    len(s.gaps),
                ]
                for s in info.symbols
            ],
        )
        return
    table = Table(title=_summary_title(info), title_justify="left")
    for name in ("symbol", "first", "last", "prices", "missing", "gaps"):
        table.add_column(name, justify="left" if name in ("symbol", "gaps") else "right")
    for s in info.symbols:
        shown = [
            f"{g.start.date()}" + (f" .. {g.end.date()}" if g.sessions > 1 else "")
            for g in s.gaps[:3]
        ]
        if len(s.gaps) > 3:
            shown.append(f"+{len(s.gaps) - 3} more")
        table.add_row(
            s.symbol,
            str(s.first_date.date()),
            str(s.last_date.date()),
            f"{s.prices:,d}",
            f"{s.missing:,d}",
            "; ".join(shown) or "-",
        )
    console = stdout_console()
    console.print(table)
    console.print(fields_statement(info))
    if extra and "benchmark" in extra:
        console.print(f"benchmark: {extra['benchmark']}")
    if info.gap_count:
        console.print(
            f"{info.gap_count} interior gaps: backtest, allocate, sweep and live refuse this "
            "file until the gaps are filled (`data fetch --fill-gaps` forward-fills on purpose)"
        )


def info_command(
    file: Annotated[
        Path,
        typer.Argument(help="Price file: CSV or Parquet; wide (closes or SYMBOL.field) or long."),
    ],
    benchmark: Annotated[
        Path | None,
        typer.Option("--benchmark", help="Benchmark file (one series) that must share dates."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Bar fields (and the missing ones), symbols, date range and interior gaps of a price
    file."""
    panel = read_panel(file, on_gap="keep")
    extra: dict[str, object] | None = None
    if benchmark is not None:
        series = read_benchmark(benchmark)
        common, _ = align_with_benchmark(
            panel.close, series, prices_source=str(file), benchmark_source=str(benchmark)
        )
        extra = {
            "benchmark": {
                "source": str(benchmark),
                "name": str(series.name),
                "common_sessions": len(common),
                "first_date": common.index[0].date().isoformat(),
                "last_date": common.index[-1].date().isoformat(),
            }
        }
    _print_info(summarize(panel, str(file)), output, extra)


#: File names `write_panel` writes: CSV (optionally compressed, as pandas infers) or Parquet.
PRICE_FILE_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst")


def _writable_price_file(path: Path) -> bool:
    name = path.name.lower()
    return is_parquet_path(path) or name.endswith(PRICE_FILE_SUFFIXES)


def fetch_command(
    symbols: Annotated[list[str], typer.Argument(help="Symbols to download, e.g. AAPL MSFT.")],
    start: Annotated[str, typer.Option("--start", help="First date, e.g. 2015-01-01.")],
    out: Annotated[Path, typer.Option("--out", help="File to write: .csv, .csv.gz, .parquet.")],
    end: Annotated[
        str | None, typer.Option("--end", help="Last date, inclusive (default: today).")
    ] = None,
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help="wide: one column per symbol and field (SYMBOL.open ... SYMBOL.volume); "
            "long: one row per date and symbol. Both carry every bar field.",
        ),
    ] = Layout.wide,
    fill_gaps: Annotated[
        bool, typer.Option("--fill-gaps", help="Forward-fill interior gaps instead of failing.")
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Parquet cache (default ~/.cache/tradefolio/yahoo)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Download everything, read and write no cache.")
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Format of the summary printed.")
    ] = OutputFormat.table,
) -> None:
    """Download adjusted daily bars (open, high, low, close, volume) from Yahoo Finance
    (extra `data`) into a file that `data info`, `backtest` and `live` read."""
    first = _parse_day("--start", start)
    last = _parse_day("--end", end) if end is not None else date.today()
    require(first <= last, f"--start ({first}) must not be after --end ({last})")
    require(
        not (no_cache and cache_dir is not None), "--no-cache and --cache-dir exclude each other"
    )
    require(out.parent.is_dir(), f"--out: directory {out.parent} does not exist")
    require(  # before the download: a wrong name must not cost a fetch
        _writable_price_file(out),
        f"--out {out}: the file name must end in .csv, .csv.gz (.bz2, .xz, .zip, .zst), "
        ".parquet or .pq",
    )
    require(
        not out.is_dir() and os.access(out.parent, os.W_OK),
        f"--out {out}: cannot write there (a directory, or no write permission); "
        "choose another file",
    )
    folder = None if no_cache else (cache_dir or default_cache_dir())
    if folder is not None:
        require_pyarrow()
    provider = YahooProvider(cache_dir=folder, download=yfinance_download)
    panel = provider.fetch(symbols, first, last, on_gap="fill" if fill_gaps else "raise")
    written = write_panel(panel, out, layout=layout.value)
    stderr_console().print(
        f"wrote {len(panel.dates)} sessions x {len(panel.symbols)} symbols to {written}",
        style="dim",
    )
    _print_info(summarize(panel, str(written)), output, None)


def build_data_app() -> typer.Typer:
    """The `data` command group."""
    data_app = typer.Typer(
        name="data",
        help="Price data: fetch from a provider into a file, inspect a file.",
        no_args_is_help=True,
    )
    data_app.command("fetch", epilog=FETCH_EXAMPLES)(fetch_command)
    data_app.command("info", epilog=INFO_EXAMPLES)(info_command)
    return data_app


def register(app: typer.Typer) -> None:
    """Add the `data` group (`fetch`, `info`) to the application."""
    app.add_typer(build_data_app(), name="data")


__all__ = ["build_data_app", "default_cache_dir", "register"]
