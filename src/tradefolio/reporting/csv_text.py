"""A run folder's CSV text: `DataFrame.to_csv`'s bytes, written without pandas' writer.

`frame_csv(frame, index=...)` is `frame.to_csv(index=..., date_format="%Y-%m-%d",
lineterminator="\\n")` byte for byte (a property test holds it to pandas' output) for the
columns a run folder has: float64 (the shortest text that reads back to the same double,
`repr`, as numpy's `astype(str)` that pandas uses; NaN as an empty cell), integers and
booleans (`str`), naive datetimes of years 1000-9999 as `YYYY-MM-DD` (NaT empty), and text
(missing values empty). Anything else (another dtype, a non-text label, a tz-aware date)
is written by pandas itself. Cells are quoted as the `csv` module quotes them (pandas
writes through it): a row is joined directly unless a text cell or a label holds a comma,
a quote or a line break, or the frame has one column, and then the `csv` module writes it.

Why: pandas formats a `DatetimeIndex` with `strftime` cell by cell and chunks every frame
through its own machinery; the sample portfolio run's five files took ~0.1 s that way,
~40 ms here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

DATE_FORMAT = "%Y-%m-%d"
#: Characters the `csv` module's minimal quoting may quote (a superset: never too few).
_QUOTED = (",", '"', "\r", "\n")


class _Unsupported(Exception):
    """A column this module does not format: pandas writes the frame."""


def _text_cells(values: np.ndarray, missing: np.ndarray) -> list[str]:
    cells: list[str] = values.tolist()
    if missing.any():
        for row in np.flatnonzero(missing).tolist():
            cells[row] = ""
    if cells and set(map(type, cells)) != {str}:
        raise _Unsupported
    return cells


def _runs(array: np.ndarray, text: Callable[[np.ndarray], list[str]]) -> list[str]:
    """`text(array)`, made once per run of equal cells (by their bits: -0.0 is not 0.0)
    when runs are long: a run folder's dates repeat per held name, its cash between fills."""
    bits = array.view(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], bits[1:] != bits[:-1])))
    if 2 * len(starts) > len(array):
        return text(array)
    lengths = np.diff(np.append(starts, len(array)))
    distinct = np.array(text(array[starts]), dtype=object)
    cells: list[str] = np.repeat(distinct, lengths).tolist()
    return cells


def _reprs(array: np.ndarray) -> list[str]:
    return list(map(repr, array.tolist()))


def _days(array: np.ndarray) -> list[str]:
    days: list[str] = np.datetime_as_string(array.astype("datetime64[D]"), unit="D").tolist()
    return days


def _cells(values: pd.Series | pd.Index) -> tuple[list[str], bool]:
    """A column's cells as pandas writes them, and whether any is text (may need quotes)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        array = values.to_numpy()
        if dtype == np.float64:
            cells = _runs(array, _reprs)
            missing = np.isnan(array)
            if missing.any():
                for row in np.flatnonzero(missing).tolist():
                    cells[row] = ""
            return cells, False
        if dtype.kind in "iub":
            return list(map(str, array.tolist())), False
        if dtype.kind == "M":
            missing = np.isnat(array)
            days = array.astype("datetime64[D]")
            known = days[~missing]
            if len(known) and (
                known.min() < np.datetime64("1000-01-01")
                or known.max() > np.datetime64("9999-12-31")
            ):
                raise _Unsupported
            cells = _runs(days, _days)
            if missing.any():
                for row in np.flatnonzero(missing).tolist():
                    cells[row] = ""
            return cells, False
        if dtype.kind == "O":
            return _text_cells(array, np.asarray(pd.isna(array))), True
        raise _Unsupported
    if isinstance(dtype, pd.StringDtype):
        array = values.to_numpy(dtype="object", na_value="")
        return _text_cells(array, np.asarray(pd.isna(array))), True
    raise _Unsupported


def _text(frame: pd.DataFrame, index: bool) -> str:
    labels: list[object] = list(frame.columns)
    values: list[pd.Series | pd.Index] = [frame.iloc[:, j] for j in range(frame.shape[1])]
    if index:
        if isinstance(frame.index, pd.MultiIndex):
            raise _Unsupported
        labels.insert(0, "" if frame.index.name is None else frame.index.name)
        values.insert(0, frame.index)
    if not labels or not all(type(label) is str for label in labels):
        raise _Unsupported
    names: list[str] = [str(label) for label in labels]
    columns: list[list[str]] = []
    quoted = len(names) == 1 or any(mark in name for name in names for mark in _QUOTED)
    for column in values:
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            raise _Unsupported
        cells, text = _cells(column)
        columns.append(cells)
        if text and not quoted:
            joined = "".join(cells)
            quoted = any(mark in joined for mark in _QUOTED)
    rows = zip(*columns, strict=True)
    if quoted:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        return buffer.getvalue()
    return "\n".join([",".join(names), *map(",".join, rows)]) + "\n"


def frame_csv(frame: pd.DataFrame, *, index: bool) -> str:
    """`frame.to_csv(index=index, date_format="%Y-%m-%d", lineterminator="\\n")`, the same
    text (see the module docstring)."""
    try:
        return _text(frame, index)
    except _Unsupported:
        text: str = frame.to_csv(index=index, date_format=DATE_FORMAT, lineterminator="\n")
        return text


def write_frame_csv(frame: pd.DataFrame, path: Path, *, index: bool) -> None:
    """Write `frame_csv(frame, index=index)` to `path` as UTF-8, line ends as they are."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(frame_csv(frame, index=index))


__all__ = ["DATE_FORMAT", "frame_csv", "write_frame_csv"]
