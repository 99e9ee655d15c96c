"""Writing price data in the layouts the readers read back, as CSV (`.csv`, `.csv.gz`, ...)
or Parquet (`.parquet`, `.pq`), chosen by the file name:

- **wide**: `date`, then one column per symbol and field, `SYMBOL.open, SYMBOL.high,
  SYMBOL.low, SYMBOL.close, SYMBOL.volume` (the fields the panel has, symbol by symbol):
  the readers' wide OHLCV form. A close-only panel is written as plain closes, `date` then
  one column per symbol (the readers' wide closes form), so nothing is invented.
- **long**: `date, symbol` then the fields the panel has, one row per (date, symbol).

Either layout reads back as the same panel: every field, every value.

Writes are atomic (a temporary file renamed into place), so a crash never leaves half a file
where a price file is expected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.errors import DataError
from tradefolio.extras import import_extra

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet_path(path: str | Path) -> bool:
    """True when the file name asks for Parquet."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def write_panel(
    panel: PricePanel | pd.DataFrame,
    path: str | Path,
    *,
    layout: Literal["wide", "long"] = "wide",
) -> Path:
    """Write every field of `panel` in `layout` (see the module docstring).

    Returns the path written. Floats are written with full precision, so reading the file
    back gives exactly the same numbers.
    """
    data = panel if isinstance(panel, PricePanel) else PricePanel.from_closes(panel)
    if layout == "long":
        frame = data.to_long()
    elif layout == "wide":
        frame = wide_frame(data)
    else:
        raise DataError(f"layout must be 'wide' or 'long', got {layout!r}")
    target = Path(path)
    if not target.parent.is_dir():
        raise DataError(f"{target}: directory {target.parent} does not exist")
    suffix = "".join(target.suffixes) or ".csv"
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=target.parent)
    os.close(handle)
    try:
        if is_parquet_path(target):
            import_extra("pyarrow", "data", "Writing Parquet price files")
            frame.to_parquet(temporary, index=False, engine="pyarrow")
        else:
            frame.to_csv(temporary, index=False, date_format="%Y-%m-%d")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def wide_frame(panel: PricePanel) -> pd.DataFrame:
    """The wide layout as a frame: `date`, then closes per symbol for a close-only panel,
    else `SYMBOL.field` for every field the panel has (symbol by symbol, bar order)."""
    fields = [
        (name, frame)
        for name in ("open", "high", "low", "close", "volume")
        if (frame := panel.close if name == "close" else getattr(panel, name)) is not None
    ]
    if len(fields) == 1:
        wide = panel.close
    else:
        columns = {
            f"{symbol}.{name}": frame.iloc[:, position]
            for position, symbol in enumerate(panel.symbols)
            for name, frame in fields
        }
        wide = pd.DataFrame(columns, index=panel.close.index)
    return wide.rename_axis(index="date", columns=None).reset_index()


__all__ = ["PARQUET_SUFFIXES", "is_parquet_path", "wide_frame", "write_panel"]
