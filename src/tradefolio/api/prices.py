"""Prices in: a path, a wide frame of closes, a long OHLCV frame, or the bundled sample.

Every function of the API that takes `prices` accepts any of

- `None`: the bundled sample (20 US large caps, daily adjusted closes 1990-2022);
- a path (`str` or `Path`) to a CSV or Parquet file, wide or long, as the CLI's `--prices`;
- a wide `DataFrame`: a `DatetimeIndex` (or a `date` column) and one column of closes per
  symbol;
- a long `DataFrame`: columns `date, symbol, close` and optionally `open, high, low,
  volume` (a `date`/`symbol` index is fine), one row per (date, symbol);
- a `PricePanel`.

Whatever the form, it goes through the same validation as a file the CLI reads (the first
problem raises `DataError` naming the row, date and column), and interior gaps raise unless
the caller forward-fills them first. Fills happen at the next bar's open when the data has
opens (long frames and files with an `open` column), else at its close.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import pandas as pd

from tradefolio.data.market import load_panel, source_name
from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import panel_from_long, read_benchmark, read_panel
from tradefolio.data.sample_data import (
    load_sample_benchmark,
    load_sample_prices,
    load_sample_sectors,
)
from tradefolio.data.validation import Source, check_no_gaps, validate_prices
from tradefolio.errors import DataError

#: What `prices=` accepts (see the module docstring).
PricesLike: TypeAlias = str | Path | pd.DataFrame | PricePanel | None
#: What `benchmark=` accepts: a path to a one-series price file, or a `Series` of levels.
BenchmarkLike: TypeAlias = str | Path | pd.Series | None

_LONG_MARKER = "symbol"


def _is_long(frame: pd.DataFrame) -> bool:
    names = {str(c).strip().lower() for c in frame.columns}
    index_names = {str(n).strip().lower() for n in frame.index.names if n is not None}
    return _LONG_MARKER in names or _LONG_MARKER in index_names


def _panel_from_frame(frame: pd.DataFrame, source: str) -> PricePanel:
    if _is_long(frame):
        flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
        panel = panel_from_long(flat, source)
        check_no_gaps(panel.close, Source(name=source))
        return panel
    date_columns = [c for c in frame.columns if str(c).strip().lower() == "date"]
    wide = frame.set_index(date_columns[0]) if date_columns else frame
    closes = validate_prices(wide, source)
    check_no_gaps(closes, Source(name=source))
    return PricePanel(close=closes)


def price_panel(prices: PricesLike = None, *, source: str = "prices") -> PricePanel:
    """The validated `PricePanel` of any `prices=` form (see the module docstring)."""
    if prices is None or isinstance(prices, str | Path):
        return load_panel(prices)
    if isinstance(prices, PricePanel):
        return prices
    if isinstance(prices, pd.DataFrame):
        return _panel_from_frame(prices, source)
    raise DataError(
        f"{source}: expected a path, a DataFrame (wide closes or long OHLCV) or None for the "
        f"sample, got {type(prices).__name__}"
    )


def describe_source(prices: PricesLike) -> str:
    """How the CLI names the prices in a title: the file, `the bundled sample` or `prices`."""
    if prices is None or isinstance(prices, str | Path):
        return source_name(prices)
    return "prices"


def load_prices(path: str | Path) -> pd.DataFrame:
    """Closes from a CSV or Parquet price file (wide or long), validated as the CLI reads it.

    Returns a `DataFrame` with a `DatetimeIndex` of sessions named `date` and one float64
    column per symbol. Use `price_panel(path)` to keep opens/highs/lows of a long file.
    Raises `DataError` naming the line, date and column of the first problem.
    """
    return read_panel(path).close


def sample_prices() -> pd.DataFrame:
    """The bundled sample's daily adjusted closes: 20 US large caps, 1990-01-02 .. 2022-12-28.

    A `DataFrame` with a `DatetimeIndex` named `date` and one float64 column per symbol
    (skfolio data sets, BSD-3). The same data every CLI command uses by default.
    """
    return load_sample_prices()


def sample_benchmark() -> pd.Series:
    """The S&P 500 index level on the sample's dates (a `Series` named `SP500`)."""
    return load_sample_benchmark()


def sample_sectors() -> pd.Series:
    """The GICS sector of each sample symbol (a `Series` indexed by symbol)."""
    return load_sample_sectors()


def benchmark_series(benchmark: BenchmarkLike) -> pd.Series | None:
    """A benchmark given as a path (one-series price file) or a `Series`; `None` stays `None`."""
    if benchmark is None or isinstance(benchmark, pd.Series):
        return benchmark
    if isinstance(benchmark, str | Path):
        return read_benchmark(benchmark)
    raise DataError(
        f"benchmark: expected a path or a Series of index levels, got {type(benchmark).__name__}"
    )


__all__ = [
    "BenchmarkLike",
    "PricesLike",
    "benchmark_series",
    "describe_source",
    "load_prices",
    "price_panel",
    "sample_benchmark",
    "sample_prices",
    "sample_sectors",
]
