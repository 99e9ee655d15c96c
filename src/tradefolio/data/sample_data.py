"""The bundled sample: 20 US large caps, the S&P 500 index and their GICS sectors.

Real daily adjusted closes 1990-01-02 .. 2022-12-28 from the skfolio data sets (BSD-3,
attribution in `data/sample/ATTRIBUTION.md`). Offline by construction: the files ship
inside the package. They go through the same reader and validation as any user file, so the
sample is in the standard shape (`DatetimeIndex` named `date`, unit ns, float64 closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

from tradefolio.data.readers import read_prices

SAMPLE_PACKAGE = "tradefolio.data.sample"
PRICES_FILE = "sp500_close.csv.gz"
BENCHMARK_FILE = "sp500_index.csv.gz"
SECTORS_FILE = "sectors.csv"


@dataclass(frozen=True, slots=True)
class SampleData:
    """Closes (one column per symbol), the benchmark series and symbol -> GICS sector."""

    prices: pd.DataFrame
    benchmark: pd.Series
    sectors: pd.Series


def _read_wide_csv(name: str) -> pd.DataFrame:
    with resources.as_file(resources.files(SAMPLE_PACKAGE).joinpath(name)) as path:
        return read_prices(path)


def sample_path(name: str = PRICES_FILE) -> str:
    """Filesystem path of a bundled sample file (for CLI defaults and examples)."""
    return str(resources.files(SAMPLE_PACKAGE).joinpath(name))


def load_sample_prices() -> pd.DataFrame:
    """Daily adjusted closes of the 20 sample stocks, `DatetimeIndex` named `date`."""
    return _read_wide_csv(PRICES_FILE)


def load_sample_benchmark() -> pd.Series:
    """The S&P 500 index level on the sample's dates (name `SP500`)."""
    return _read_wide_csv(BENCHMARK_FILE)["SP500"]


def load_sample_sectors() -> pd.Series:
    """GICS sector of each sample symbol, indexed by symbol."""
    with resources.files(SAMPLE_PACKAGE).joinpath(SECTORS_FILE).open("r") as handle:
        frame = pd.read_csv(handle)
    return frame.set_index("symbol")["sector"]


def load_sample() -> SampleData:
    """All three sample pieces at once."""
    return SampleData(
        prices=load_sample_prices(),
        benchmark=load_sample_benchmark(),
        sectors=load_sample_sectors(),
    )


__all__ = [
    "SampleData",
    "load_sample",
    "load_sample_benchmark",
    "load_sample_prices",
    "load_sample_sectors",
    "sample_path",
]
