"""Writing price data in the layouts the readers read back: wide closes or long bars, as CSV
(`.csv`, `.csv.gz`, ...) or Parquet (`.parquet`, `.pq`), chosen by the file name.

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
    """Write closes (`wide`: `date` then one column per symbol) or every bar field (`long`).

    Returns the path written. Floats are written with full precision, so reading the file
    back gives exactly the same numbers.
    """
    data = panel if isinstance(panel, PricePanel) else PricePanel.from_closes(panel)
    if layout == "long":
        frame = data.to_long()
    elif layout == "wide":
        frame = data.close.rename_axis(index="date", columns=None).reset_index()
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


__all__ = ["PARQUET_SUFFIXES", "is_parquet_path", "write_panel"]
