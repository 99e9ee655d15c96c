"""A Parquet cache of daily bars, keyed by symbol and date range.

Layout: `<root>/<symbol>/<start>_<end>.parquet`, one file per downloaded range, `end`
exclusive. The file *names* record which days were asked for (so a range of holidays that
returned no bars is still known to be covered); the file *contents* are the bars. Files are
written atomically and never modified, so a crash leaves the cache consistent.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from tradefolio.errors import DataError

#: Bar columns a provider returns and the cache stores (close required, others optional).
BAR_COLUMNS = ("open", "high", "low", "close", "volume")

DateRange = tuple[date, date]  # [start, end)


@dataclass(frozen=True, slots=True)
class ParquetBarCache:
    """Bars per symbol under `root` (created on first write)."""

    root: Path

    def _folder(self, symbol: str) -> Path:
        return self.root / quote(symbol, safe="")

    def ranges(self, symbol: str) -> list[DateRange]:
        """Cached half-open ranges of `symbol`, sorted by start."""
        folder = self._folder(symbol)
        if not folder.is_dir():
            return []
        found: list[DateRange] = []
        for file in folder.glob("*.parquet"):
            try:
                first, last = file.stem.split("_")
                found.append((date.fromisoformat(first), date.fromisoformat(last)))
            except ValueError:
                continue  # not ours; ignore rather than fail a fetch
        return sorted(found)

    def load(self, symbol: str) -> pd.DataFrame:
        """Every cached bar of `symbol`, by date (index `date`); empty when nothing cached."""
        frames = [
            pd.read_parquet(self._folder(symbol) / _file_name(r), engine="pyarrow")
            for r in self.ranges(symbol)
        ]
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_bars()
        bars = pd.concat(frames)
        return bars[~bars.index.duplicated(keep="last")].sort_index()

    def store(self, symbol: str, covered: DateRange, bars: pd.DataFrame) -> None:
        """Record that `covered` was downloaded and yielded `bars` (possibly none)."""
        start, end = covered
        if not start < end:
            raise DataError(f"cache range must be non-empty, got {start} .. {end}")
        folder = self._folder(symbol)
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=folder)
        os.close(handle)
        try:
            bars.to_parquet(temporary, engine="pyarrow")
            os.replace(temporary, folder / _file_name(covered))
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def clear(self, symbol: str) -> None:
        """Forget everything cached for `symbol`."""
        for covered in self.ranges(symbol):
            (self._folder(symbol) / _file_name(covered)).unlink(missing_ok=True)


def _file_name(covered: DateRange) -> str:
    return f"{covered[0].isoformat()}_{covered[1].isoformat()}.parquet"


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows."""
    return pd.DataFrame(
        {name: pd.Series(dtype="float64") for name in BAR_COLUMNS},
        index=pd.DatetimeIndex([], name="date").as_unit("ns"),
    )


def uncovered(wanted: DateRange, covered: list[DateRange]) -> list[DateRange]:
    """The parts of half-open `wanted` that no range in `covered` contains, in order."""
    start, end = wanted
    holes: list[DateRange] = []
    cursor = start
    for first, last in sorted(covered):
        if last <= cursor:
            continue
        if first >= end:
            break
        if first > cursor:
            holes.append((cursor, first))
        cursor = max(cursor, last)
        if cursor >= end:
            break
    if cursor < end:
        holes.append((cursor, end))
    return holes


__all__ = ["BAR_COLUMNS", "DateRange", "ParquetBarCache", "empty_bars", "uncovered"]
