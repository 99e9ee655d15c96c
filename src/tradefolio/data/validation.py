"""Validation of price data: every rule a price panel obeys, and the `DataError` that says which
file, row/date and column broke it.

The standard shape (see `ARCHITECTURE.md`): a `DataFrame` whose index is a `DatetimeIndex`
named `date` (sorted, unique, tz-naive, unit `ns`), one float64 column per symbol. A cell is a
finite price > 0 or NaN (missing). Missing cells are read as follows:

- leading NaNs (before a symbol's first price) mean "not listed yet" and are fine;
- trailing NaNs (after its last price) mean "no longer listed" and are fine;
- an interior gap (NaN after the first price and before the last) is an error, unless the
  caller asks to forward-fill it (`fill_interior_gaps`).

All checks are vectorised over the whole array; only error *reporting* looks at one cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.errors import DataError

#: Resolution of every date index tradefolio builds, whatever pandas' default for the input.
DATE_UNIT: Final = "ns"
DATE_INDEX_NAME = "date"
SYMBOL_AXIS_NAME = "symbol"


@dataclass(frozen=True, slots=True)
class Source:
    """Where data came from, so an error can point at it.

    `row_label` and `first_row_number` turn a 0-based data-row position into what a person
    looks for: CSV data starts on `line 2` (the header is line 1); Parquet and in-memory
    frames count `row 1, 2, ...`.
    """

    name: str
    row_label: str = "row"
    first_row_number: int = 1

    @classmethod
    def csv(cls, name: str) -> Source:
        """A CSV file: positions are reported as file line numbers (header = line 1)."""
        return cls(name=name, row_label="line", first_row_number=2)

    def where(self, position: int | None = None, date: Any = None, column: Any = None) -> str:
        """`prices.csv line 7 (2020-01-08), column 'AAPL'` -- as much as is known."""
        text = self.name
        if position is not None:
            text += f" {self.row_label} {position + self.first_row_number}"
        if date is not None:
            text += f" ({_format_date(date)})"
        if column is not None:
            text += f", column {str(column)!r}"
        return text


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing prices of one symbol between two listed prices.

    `start` and `end` are the first and last missing sessions (inclusive); `sessions` counts
    them.
    """

    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    sessions: int


def _format_date(value: Any) -> str:
    if isinstance(value, pd.Timestamp | np.datetime64):
        if pd.isna(value):
            return "NaT"
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    return str(value)


# --- names -----------------------------------------------------------------------------------


def check_names(names: Sequence[Any], source: Source, *, what: str = "column") -> list[str]:
    """Column (symbol) names as strings; raise on a missing name or a duplicate."""
    result: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(names, start=1):
        name = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw).strip()
        if not name:
            raise DataError(f"{source.name}: {what} {number} has no name; name every {what}")
        if name in seen:
            raise DataError(
                f"{source.name}: duplicate {what} {name!r} (positions {seen[name]} and {number}); "
                f"each symbol must appear once"
            )
        seen[name] = number
        result.append(name)
    return result


# --- dates -----------------------------------------------------------------------------------


def parse_dates(values: pd.Series, source: Source, *, column: str = "date") -> pd.DatetimeIndex:
    """Dates of each data row, tz-naive, unit `ns`; raise on the first unparseable one.

    Strings are parsed as ISO 8601 first (fast, unambiguous); if that fails for some rows the
    format is inferred from the data (e.g. `01/31/2020`). Timezone-aware stamps keep their
    local wall time and drop the zone (a daily bar's date is its exchange's date).
    """
    present = values.notna().to_numpy()
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = pd.DatetimeIndex(values).tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = pd.DatetimeIndex(values)
    else:
        text = values.astype("string").str.strip()
        present = present & (text != "").fillna(False).to_numpy(dtype=bool)
        parsed = _parse_text_dates(text, source)
    bad = np.flatnonzero(np.asarray(parsed.isna()) | ~present)
    if bad.size:
        position = int(bad[0])
        raw = values.iloc[position]
        shown = "an empty date" if not present[position] else f"unparseable date {str(raw)!r}"
        raise DataError(
            f"{source.where(position, column=column)}: {shown}; use ISO dates like 2020-01-31"
        )
    return pd.DatetimeIndex(parsed, name=DATE_INDEX_NAME).as_unit(DATE_UNIT)


def _parse_text_dates(text: pd.Series, source: Source) -> pd.DatetimeIndex:
    def attempt(**kwargs: Any) -> pd.DatetimeIndex:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(text, errors="coerce", **kwargs)
        except (ValueError, TypeError) as exc:  # mixed time zones, out-of-range years
            raise DataError(f"{source.name}: dates cannot be parsed ({exc})") from exc
        index = pd.DatetimeIndex(parsed)
        return index.tz_localize(None) if index.tz is not None else index

    iso = attempt(format="ISO8601")
    if not iso.isna().any():
        return iso
    inferred = attempt()
    return inferred if np.sum(inferred.isna()) < np.sum(iso.isna()) else iso


def check_sessions(dates: pd.DatetimeIndex, source: Source) -> None:
    """Dates of a wide table: unique and strictly increasing, else the first offending row."""
    duplicated = np.flatnonzero(dates.duplicated())
    if duplicated.size:
        position = int(duplicated[0])
        first = int(np.flatnonzero(dates == dates[position])[0])
        earlier = source.where(first).removeprefix(source.name).strip()
        raise DataError(
            f"{source.where(position, dates[position])}: duplicate date (also on {earlier}); "
            f"keep one row per date"
        )
    stamps = dates.asi8
    backwards = np.flatnonzero(stamps[1:] < stamps[:-1])
    if backwards.size:
        position = int(backwards[0]) + 1
        raise DataError(
            f"{source.where(position, dates[position])}: dates are not sorted (comes after "
            f"{_format_date(dates[position - 1])}); sort the rows by date"
        )


# --- values ----------------------------------------------------------------------------------


def to_float_columns(
    frame: pd.DataFrame, dates: pd.DatetimeIndex, source: Source
) -> npt.NDArray[np.float64]:
    """The columns of `frame` as one float64 array; raise on the first text that is no number.

    Empty cells (and the usual NA spellings) become NaN; anything else must parse as a number.
    """
    columns: list[npt.NDArray[np.float64]] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            columns.append(column.to_numpy(dtype="float64", na_value=np.nan))
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & column.notna().to_numpy())
        if bad.size:
            position = int(bad[0])
            raise DataError(
                f"{source.where(position, dates[position], name)}: "
                f"{str(column.iloc[position])!r} is not a number"
            )
        columns.append(numbers.to_numpy(dtype="float64", na_value=np.nan))
    if not columns:
        return np.empty((len(frame), 0), dtype="float64")
    return np.column_stack(columns)


def check_values(
    values: npt.NDArray[np.float64],
    dates: pd.DatetimeIndex,
    columns: Sequence[str],
    source: Source,
    *,
    what: str = "price",
    allow_zero: bool = False,
    row_positions: npt.NDArray[np.intp] | None = None,
    row_symbols: npt.NDArray[np.object_] | None = None,
) -> None:
    """Every present value finite and > 0 (>= 0 with `allow_zero`, as for volume).

    `values[i, j]` belongs to `dates[i]` and `columns[j]`; `row_positions[i]`, when given,
    is the data row to report and `row_symbols[i]` its symbol (long files, where each row
    holds one symbol's bar).
    """
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        too_small = values < 0 if allow_zero else values <= 0
    bad = present & (~np.isfinite(values) | too_small)
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    value = float(values[row, col])
    position = row if row_positions is None else int(row_positions[row])
    rule = "finite and >= 0" if allow_zero else "finite and > 0"
    problem = (
        "is not finite"
        if not np.isfinite(value)
        else ("is negative" if allow_zero else "is not positive")
    )
    symbol = "" if row_symbols is None else f" ({row_symbols[row]})"
    raise DataError(
        f"{source.where(position, dates[row], columns[col])}{symbol}: {what} {value:g} {problem}; "
        f"every {what} must be {rule}"
    )


# --- gaps ------------------------------------------------------------------------------------


def interior_gap_mask(prices: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """True where a cell is NaN after its column's first price and before its last."""
    valid = prices.notna().to_numpy()
    after_first = np.logical_or.accumulate(valid, axis=0)
    before_last = np.logical_or.accumulate(valid[::-1], axis=0)[::-1]
    return np.asarray(~valid & after_first & before_last, dtype=bool)


def find_gaps(prices: pd.DataFrame) -> list[Gap]:
    """Every interior gap, by column then date (runs of consecutive missing sessions)."""
    mask = interior_gap_mask(prices)
    gaps: list[Gap] = []
    for col in np.flatnonzero(mask.any(axis=0)):
        edges = np.diff(np.concatenate(([0], mask[:, col].astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1) - 1
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            gaps.append(
                Gap(
                    symbol=str(prices.columns[int(col)]),
                    start=prices.index[start],
                    end=prices.index[end],
                    sessions=end - start + 1,
                )
            )
    return gaps


def check_no_gaps(prices: pd.DataFrame, source: Source) -> None:
    """Raise on the first interior gap, saying how to fill it on purpose."""
    gaps = find_gaps(prices)
    if not gaps:
        return
    gap = gaps[0]
    span = _format_date(gap.start)
    if gap.sessions > 1:
        span += f" .. {_format_date(gap.end)}"
    more = f" ({len(gaps) - 1} more gaps)" if len(gaps) > 1 else ""
    raise DataError(
        f"{source.name}: symbol {gap.symbol!r} has an interior gap, no price on {span} "
        f"({gap.sessions} session{'s' if gap.sessions > 1 else ''}) between listed "
        f"prices{more}; fill the gaps in the file (or fetch it with `tradefolio data fetch "
        f"--fill-gaps`, which forward-fills on purpose)"
    )


def fill_interior_gaps(prices: pd.DataFrame) -> pd.DataFrame:
    """Forward-fill interior gaps only: leading and trailing NaNs stay missing."""
    return prices.ffill(limit_area="inside")


# --- whole frames ----------------------------------------------------------------------------


def validate_prices(prices: pd.DataFrame, source: str | Source = "prices") -> pd.DataFrame:
    """An in-memory price table checked against the standard shape and returned in it.

    Checks: a date index (sorted, unique, parseable), unique non-empty symbol names, at least
    one row and one symbol, numeric cells that are finite and > 0 or NaN. A tz-aware index
    keeps its wall time and drops the zone. Interior gaps are *not* checked here
    (`check_no_gaps`), so this also serves data that is allowed to have them.
    """
    where = source if isinstance(source, Source) else Source(name=source)
    if not isinstance(prices, pd.DataFrame):
        raise DataError(
            f"{where.name}: expected a DataFrame of prices, got {type(prices).__name__}"
        )
    if prices.shape[0] == 0:
        raise DataError(f"{where.name}: no rows; price data needs at least one date")
    if prices.shape[1] == 0:
        raise DataError(f"{where.name}: no symbol columns; expected one column per symbol")
    symbols = check_names(list(prices.columns), where)
    dates = parse_dates(pd.Series(prices.index, copy=False), where)
    check_sessions(dates, where)
    values = to_float_columns(prices, dates, where)
    check_values(values, dates, symbols, where)
    return standard_frame(values, dates, symbols)


def standard_frame(
    values: npt.NDArray[np.float64], dates: pd.DatetimeIndex, symbols: Sequence[str]
) -> pd.DataFrame:
    """Wrap checked values in the standard shape (no checks)."""
    return pd.DataFrame(
        values,
        index=pd.DatetimeIndex(dates, name=DATE_INDEX_NAME).as_unit(DATE_UNIT),
        columns=pd.Index(
            [str(s) for s in symbols], name=SYMBOL_AXIS_NAME
        ),  # pandas default str dtype
        dtype="float64",
        copy=False,
    )


def align_with_benchmark(
    prices: pd.DataFrame,
    benchmark: pd.Series,
    *,
    prices_source: str = "prices",
    benchmark_source: str = "benchmark",
) -> tuple[pd.DataFrame, pd.Series]:
    """Prices and benchmark restricted to the dates both have; raise when they share none.

    Dates where the benchmark is NaN do not count as shared.
    """
    bench_dates = benchmark.index[benchmark.notna().to_numpy()]
    common = prices.index.intersection(bench_dates)
    if len(common) == 0:
        raise DataError(
            f"{benchmark_source}: no date in common with {prices_source} "
            f"({_span(prices.index)} vs {_span(bench_dates)}); use a benchmark covering the "
            f"same period"
        )
    return prices.loc[common], benchmark.loc[common]


def _span(index: pd.Index) -> str:
    if len(index) == 0:
        return "no dates"
    return f"{_format_date(index[0])} .. {_format_date(index[-1])}"


__all__ = [
    "DATE_INDEX_NAME",
    "DATE_UNIT",
    "SYMBOL_AXIS_NAME",
    "Gap",
    "Source",
    "align_with_benchmark",
    "check_names",
    "check_no_gaps",
    "check_sessions",
    "check_values",
    "fill_interior_gaps",
    "find_gaps",
    "interior_gap_mask",
    "parse_dates",
    "standard_frame",
    "to_float_columns",
    "validate_prices",
]
