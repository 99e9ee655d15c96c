"""Readers for price files (minimal first version: wide CSV with a `Date` column)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradefolio.errors import DataError


def read_prices(path: str | Path) -> pd.DataFrame:
    """Closes from a wide CSV (`Date` then one column per symbol), validated."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file; pass an existing price file")
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot be read as CSV ({exc})") from exc
    date_column = next((c for c in frame.columns if str(c).lower() == "date"), None)
    if date_column is None:
        raise DataError(f"{file}: missing 'Date' column; expected Date then one column per symbol")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(date_column)), name="date")
    return frame.astype("float64")


__all__ = ["read_prices"]
