"""The market data a command runs on: prices (a file, or the bundled sample) and a benchmark.

One place for the rules every command shares: `--prices` absent means the bundled sample
(`SAMPLE_SOURCE` is how messages name it); a benchmark is the one given, else the sample's
S&P 500 when the run needs one (beta sizing); a report (tearsheet beta and alpha) shows the
run's benchmark, else the sample's S&P 500 when the prices are the sample's (a user's own
file gets none unless a benchmark is given).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import read_benchmark, read_panel
from tradefolio.data.sample_data import load_sample_benchmark, load_sample_prices

#: How messages and titles name the prices when no file is given.
SAMPLE_SOURCE = "the bundled sample"


def load_panel(prices_file: str | Path | None) -> PricePanel:
    """The validated panel of `prices_file` (opens, highs, lows when it has them), or the
    bundled sample's closes when it is `None`. `DataError` names the file's first problem."""
    if prices_file is None:
        return PricePanel(close=load_sample_prices())
    return read_panel(prices_file)


def source_name(prices_file: str | Path | None) -> str:
    """How messages name the prices: the file, or `the bundled sample`."""
    return SAMPLE_SOURCE if prices_file is None else str(prices_file)


def benchmark_for(given: pd.Series | None, *, needed: bool) -> pd.Series | None:
    """The benchmark a run uses: `given`, else the sample's S&P 500 when `needed`."""
    if given is not None or not needed:
        return given
    return load_sample_benchmark()


def load_benchmark(benchmark_file: str | Path | None, *, needed: bool) -> pd.Series | None:
    """When `needed`: the benchmark file's series, else the sample's S&P 500; `None` when
    the run needs no benchmark (the file is then not read)."""
    if not needed:
        return None
    return benchmark_for(None if benchmark_file is None else read_benchmark(benchmark_file),
                         needed=True)  # fmt: skip


def report_benchmark(benchmark: pd.Series | None, *, sample_prices: bool) -> pd.Series | None:
    """The benchmark a report shows: the run's (or the given one), else the sample's S&P 500
    when the prices are the sample's."""
    return benchmark_for(benchmark, needed=sample_prices)


__all__ = [
    "SAMPLE_SOURCE",
    "benchmark_for",
    "load_benchmark",
    "load_panel",
    "report_benchmark",
    "source_name",
]
