"""Prices in, validated: readers, the bundled sample, synthetic data, providers (lazy extras).

The one in-memory shape: a `DataFrame` with a `DatetimeIndex` named `date` (sorted, unique,
tz-naive) and one float64 column of closes per symbol; `PricePanel` adds optional
open/high/low/volume panels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazy names below, for type checkers and editors
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

#: Re-exported name -> its module, imported on first use: a module that needs only
#: `data.sessions` (the allocator's) must not pay for pandas through this package.
_LAZY = {
    "PricePanel": "tradefolio.data.panel",
    "read_benchmark": "tradefolio.data.readers",
    "read_panel": "tradefolio.data.readers",
    "read_prices": "tradefolio.data.readers",
    "SampleData": "tradefolio.data.sample_data",
    "load_sample": "tradefolio.data.sample_data",
    "Gap": "tradefolio.data.validation",
    "align_with_benchmark": "tradefolio.data.validation",
    "fill_interior_gaps": "tradefolio.data.validation",
    "find_gaps": "tradefolio.data.validation",
    "validate_prices": "tradefolio.data.validation",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tradefolio.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


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
