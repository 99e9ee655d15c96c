"""Prices in, validated: readers, the bundled sample, synthetic data, providers (lazy extras).

The one in-memory shape: a `DataFrame` with a `DatetimeIndex` named `date` (sorted, unique,
tz-naive) and one float64 column of closes per symbol; `PricePanel` adds optional
open/high/low/volume panels.
"""

from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import read_benchmark, read_panel, read_prices
from tradefolio.data.sample_data import SampleData, load_sample
from tradefolio.data.validation import (
    Gap,
    align_with_benchmark,
    fill_interior_gaps,
    find_gaps,
    validate_prices,
)

__all__ = [
    "Gap",
    "PricePanel",
    "SampleData",
    "align_with_benchmark",
    "fill_interior_gaps",
    "find_gaps",
    "load_sample",
    "read_benchmark",
    "read_panel",
    "read_prices",
    "validate_prices",
]
