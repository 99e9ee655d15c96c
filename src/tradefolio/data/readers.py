"""Readers for price files: CSV or Parquet, wide or long, detected automatically, validated.

Formats (detected from the file, not its name):

- **CSV** (plain or gzip-compressed) or **Parquet** (magic bytes `PAR1`).
- **Wide**: a `date` column (any case, e.g. `Date`) then one column per symbol holding closes,
  as the bundled sample. A Parquet file may carry the dates as its index instead.
- **Wide OHLCV**: a `date` column then one column per symbol and field, named
  `SYMBOL.field` with field one of `open, high, low, close, volume` (any case; split at the
  *last* dot, so `BRK.B.close` is `BRK.B`'s close), e.g.
  `Date,AAPL.open,AAPL.high,AAPL.low,AAPL.close,AAPL.volume,MSFT.open,...`. Recognised when
  any column ends in one of those fields: then every column must be `SYMBOL.field`, every
  symbol needs a close, and all symbols carry the same fields (a panel has a field for all
  or none). A closes file's symbol may contain dots (`BRK.B`) as long as it does not end in
  a field name.
- **Long**: columns `date, symbol, close` and optionally `open, high, low, volume` (any
  case, any order), one row per (date, symbol). Recognised by its `symbol` column.

Bars (wide OHLCV and long) are whole and consistent: a row with a close has every field
the file has, one without a close has none, and low <= open, close <= high. Fields a file
does not have stay missing (`PricePanel` holds `None` for them); the one place that lets
close-only data stand in for bars is `PricePanel.field` (open = high = low = close).

Everything read is validated (`tradefolio.data.validation`); the first problem raises a
`DataError` naming the file, the line (CSV, header = line 1) or row (Parquet), the date and the
column. Interior gaps raise unless `fill_gaps=True` (forward-fill) or, for `read_panel`,
`on_gap="keep"`. All work is vectorised: no Python loop over cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.data.validation import (
    Source,
    check_names,
    check_no_gaps,
    check_sessions,
    check_values,
    parse_dates,
    standard_frame,
    to_float_columns,
)
from tradefolio.errors import DataError
from tradefolio.extras import import_extra

Layout = Literal["wide", "long"]
GapPolicy = Literal["raise", "fill", "keep"]

LONG_REQUIRED = ("date", "symbol", "close")
LONG_OPTIONAL = ("open", "high", "low", "volume")
#: Bar fields in file order (wide OHLCV column suffixes, long columns).
BAR_COLUMNS = ("open", "high", "low", "close", "volume")
#: Relative slack when checking low <= open, close <= high (rounding in vendor data).
BAR_TOLERANCE = 1e-6
#: Cell texts that mean "missing" in a numeric column (pandas' usual NA spellings).
NA_STRINGS = [
    "",
    "NA",
    "N/A",
    "n/a",
    "NaN",
    "nan",
    "-NaN",
    "-nan",
    "null",
    "NULL",
    "None",
    "#N/A",
    "<NA>",
]

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


def read_prices(path: str | Path, *, fill_gaps: bool = False) -> pd.DataFrame:
    """Closes from a price file in the standard shape (see module docstring).

    Raises `DataError` on the first problem; interior gaps raise unless `fill_gaps`, which
    forward-fills them (leading "not listed yet" NaNs always stay).
    """
    return read_panel(path, on_gap="fill" if fill_gaps else "raise").close


def read_panel(path: str | Path, *, on_gap: GapPolicy = "raise") -> PricePanel:
    """Closes and, from long files that have them, open/high/low/volume.

    `on_gap`: `"raise"` (default) reports an interior gap as `DataError`; `"fill"`
    forward-fills it (`PricePanel.fill_gaps`); `"keep"` leaves the NaNs (for reports such as
    `tradefolio data info`).
    """
    if on_gap not in ("raise", "fill", "keep"):
        raise DataError(f"on_gap must be 'raise', 'fill' or 'keep', got {on_gap!r}")
    file = Path(path)
    raw, source, names = _read_raw(file)
    panel = (
        _long_panel(raw, names, source)
        if detect_layout(names) == "long"
        else _wide_panel(raw, names, source)
    )
    if on_gap == "raise":
        check_no_gaps(panel.close, source)
    elif on_gap == "fill":
        panel = panel.fill_gaps()
    return panel


def read_benchmark(path: str | Path, *, fill_gaps: bool = False) -> pd.Series:
    """A benchmark series from a price file with exactly one symbol (e.g. `Date,SP500`)."""
    prices = read_prices(path, fill_gaps=fill_gaps)
    if prices.shape[1] != 1:
        raise DataError(
            f"{path}: a benchmark file holds one series, found {prices.shape[1]} "
            f"({', '.join(map(str, prices.columns[:5]))}{', ...' if prices.shape[1] > 5 else ''})"
        )
    return prices.iloc[:, 0]


def panel_from_long(frame: pd.DataFrame, source: str | Source = "data") -> PricePanel:
    """A validated panel from an in-memory long frame (`date, symbol, close[, open, high, low,
    volume]`), with the checks a long file gets; gaps are left for the caller."""
    where = source if isinstance(source, Source) else Source(name=source)
    if len(frame) == 0:
        raise DataError(f"{where.name}: no rows; price data needs at least one date")
    names = check_names(list(frame.columns), where)
    return _long_panel(frame.set_axis(names, axis=1), names, where)


def detect_layout(columns: list[str]) -> Layout:
    """`long` when there is a `symbol` column (any case), else `wide`."""
    return "long" if any(name.strip().lower() == "symbol" for name in columns) else "wide"


# --- raw reading -----------------------------------------------------------------------------


def _read_raw(file: Path) -> tuple[pd.DataFrame, Source, list[str]]:
    """The file's cells (dates and symbols as text) with checked, stripped column names."""
    if not file.is_file():
        raise DataError(f"{file}: no such file; pass an existing price file")
    with file.open("rb") as handle:
        magic = handle.read(4)
    if not magic:
        raise DataError(f"{file}: empty file; expected a header and at least one row of prices")
    if magic == _PARQUET_MAGIC:
        frame, names = _read_parquet(file)
        source = Source(name=str(file))
    else:
        source = Source.csv(str(file))
        frame, names = _read_csv(file, source, "gzip" if magic[:2] == _GZIP_MAGIC else "infer")
    if len(frame) == 0:
        raise DataError(f"{file}: empty file, a header but no rows; add at least one row of prices")
    return frame, source, names


def _read_csv(file: Path, source: Source, compression: Any) -> tuple[pd.DataFrame, list[str]]:
    try:
        header = pd.read_csv(
            file, header=None, nrows=1, dtype=str, keep_default_na=False, compression=compression
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{file}: empty file; expected a header and rows of prices") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{file}: cannot be read as CSV ({exc})") from exc
    raw_names = [str(name) for name in header.iloc[0].tolist()]
    names = check_names(raw_names, source)
    lower = [name.lower() for name in names]
    text_columns = {
        raw for raw, low in zip(raw_names, lower, strict=True) if low in ("date", "symbol")
    }
    try:
        frame = pd.read_csv(
            file,
            compression=compression,
            dtype={raw: str for raw in text_columns},
            keep_default_na=False,
            na_values={raw: NA_STRINGS for raw in raw_names if raw not in text_columns},
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{file}: cannot be read as CSV ({' '.join(str(exc).split())})") from exc
    frame.columns = pd.Index(names)
    return frame, names


def _read_parquet(file: Path) -> tuple[pd.DataFrame, list[str]]:
    pq = import_extra("pyarrow.parquet", "data", "Reading Parquet price files")

    try:
        stored = [n for n in pq.read_schema(file).names if not n.startswith("__index_level_")]
        check_names(stored, Source(name=str(file)))
        frame = pd.read_parquet(file, engine="pyarrow")
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises several unrelated types on corrupt files
        raise DataError(f"{file}: cannot be read as Parquet ({exc})") from exc
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=str(frame.index.name or "date"))
    names = check_names(list(frame.columns), Source(name=str(file)))
    frame.columns = pd.Index(names)
    return frame, names


# --- wide ------------------------------------------------------------------------------------


def split_field(column: str) -> tuple[str, str] | None:
    """`(symbol, field)` of a wide OHLCV column `SYMBOL.field` (split at the last dot; the
    field in any case, returned lower case), or None when `column` is not of that form."""
    symbol, dot, field = column.rpartition(".")
    field = field.strip().lower()
    if not dot or not symbol.strip() or field not in BAR_COLUMNS:
        return None
    return symbol.strip(), field


def _wide_panel(frame: pd.DataFrame, names: list[str], source: Source) -> PricePanel:
    date_column = next((name for name in names if name.lower() == "date"), None)
    if date_column is None:
        raise DataError(
            f"{source.name}: no 'date' column (columns: {', '.join(names[:6])}); expected "
            f"Date then one column per symbol, or long form date,symbol,close"
        )
    columns = [name for name in names if name != date_column]
    if not columns:
        raise DataError(
            f"{source.name}: no symbol columns; expected Date then one column per symbol"
        )
    dates = parse_dates(frame[date_column], source, column=date_column)
    check_sessions(dates, source)
    if any(split_field(name) is not None for name in columns):
        return _wide_bars_panel(frame, columns, dates, source)
    values = to_float_columns(frame[columns], dates, source)
    check_values(values, dates, columns, source)
    _check_not_empty(values, columns, source)
    return PricePanel(close=standard_frame(values, dates, columns))


def _check_not_empty(
    values: np.ndarray[Any, np.dtype[np.float64]], columns: list[str], source: Source
) -> None:
    empty = np.flatnonzero(np.isnan(values).all(axis=0))
    if empty.size:
        raise DataError(
            f"{source.where(None, None, columns[int(empty[0])])}: no prices at all; "
            f"drop the column or fill it"
        )


def _wide_bars_panel(
    frame: pd.DataFrame, columns: list[str], dates: pd.DatetimeIndex, source: Source
) -> PricePanel:
    """A wide OHLCV file (`SYMBOL.field` columns, see the module docstring)."""
    expected = "a wide OHLCV file names every column SYMBOL.open|high|low|close|volume"
    layout: dict[str, dict[str, str]] = {}  # symbol -> field -> column
    for name in columns:
        parsed = split_field(name)
        if parsed is None:
            raise DataError(f"{source.where(None, None, name)}: not SYMBOL.field; {expected}")
        symbol, field = parsed
        fields = layout.setdefault(symbol, {})
        if field in fields:
            raise DataError(
                f"{source.where(None, None, name)}: {symbol}'s {field} also in column "
                f"{fields[field]!r}; keep one column per symbol and field"
            )
        fields[field] = name
    symbols = list(layout)
    file_fields = [f for f in BAR_COLUMNS if any(f in layout[s] for s in symbols)]
    for symbol in symbols:
        lacking = [f for f in file_fields if f not in layout[symbol]]
        if lacking:
            raise DataError(
                f"{source.name}: no column {symbol}.{lacking[0]} although other symbols have "
                f"{lacking[0]}; every symbol needs the same fields ({', '.join(file_fields)})"
            )
    if "close" not in file_fields:
        raise DataError(f"{source.name}: no SYMBOL.close columns; {expected}")
    grids: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for field in file_fields:
        names = [layout[s][field] for s in symbols]
        values = to_float_columns(frame[names], dates, source)
        if field == "volume":
            check_values(values, dates, names, source, what="volume", allow_zero=True)
        else:
            check_values(values, dates, names, source)
        grids[field] = values
    _check_not_empty(grids["close"], [layout[s]["close"] for s in symbols], source)
    for j, symbol in enumerate(symbols):
        rows = np.full(len(dates), symbol, dtype=object)
        by_field = {field: layout[symbol][field] for field in file_fields}
        _check_bars({f: grids[f][:, j] for f in file_fields}, dates, rows, by_field, source)

    def wide(field: str) -> pd.DataFrame | None:
        return standard_frame(grids[field], dates, symbols) if field in grids else None

    close = wide("close")
    assert close is not None
    return PricePanel(
        close=close, open=wide("open"), high=wide("high"), low=wide("low"), volume=wide("volume")
    )


# --- long ------------------------------------------------------------------------------------


def _long_panel(frame: pd.DataFrame, names: list[str], source: Source) -> PricePanel:
    by_field = {name.lower(): name for name in names}
    missing = [field for field in LONG_REQUIRED if field not in by_field]
    unknown = [name for name in names if name.lower() not in (*LONG_REQUIRED, *LONG_OPTIONAL)]
    expected = "expected long form date,symbol,close[,open,high,low,volume]"
    if missing:
        raise DataError(f"{source.name}: no {missing[0]!r} column; {expected}")
    if unknown:
        raise DataError(f"{source.where(None, None, unknown[0])}: unexpected column; {expected}")

    dates = parse_dates(frame[by_field["date"]], source, column=by_field["date"])
    symbols = _symbols(frame[by_field["symbol"]], dates, source, by_field["symbol"])
    _check_long_order(dates, symbols, source)

    fields: list[str] = [f for f in ("open", "high", "low", "close", "volume") if f in by_field]
    values = to_float_columns(frame[[by_field[f] for f in fields]], dates, source)
    prices = [i for i, field in enumerate(fields) if field != "volume"]
    check_values(
        values[:, prices], dates, [by_field[fields[i]] for i in prices], source, row_symbols=symbols
    )
    if "volume" in by_field:
        check_values(
            values[:, [fields.index("volume")]],
            dates,
            [by_field["volume"]],
            source,
            what="volume",
            allow_zero=True,
            row_symbols=symbols,
        )
    columns = {field: values[:, i] for i, field in enumerate(fields)}
    _check_bars(columns, dates, symbols, by_field, source)

    stamps, row_of = np.unique(dates.asi8, return_inverse=True)
    codes, uniques = pd.factorize(symbols)
    sessions = pd.DatetimeIndex(stamps.view(f"datetime64[{dates.unit}]"), name="date")
    order = [str(symbol) for symbol in uniques]

    def wide(field: str) -> pd.DataFrame | None:
        if field not in columns:
            return None
        grid = np.full((len(sessions), len(order)), np.nan)
        grid[row_of, codes] = columns[field]
        return standard_frame(grid, sessions, order)

    close = wide("close")
    assert close is not None
    return PricePanel(
        close=close, open=wide("open"), high=wide("high"), low=wide("low"), volume=wide("volume")
    )


def _symbols(
    column: pd.Series, dates: pd.DatetimeIndex, source: Source, name: str
) -> np.ndarray[Any, np.dtype[np.object_]]:
    text = column.astype("string").str.strip()
    blank = np.flatnonzero((text.isna() | (text == "")).to_numpy(dtype=bool))
    if blank.size:
        position = int(blank[0])
        raise DataError(f"{source.where(position, dates[position], name)}: empty symbol")
    return text.to_numpy(dtype=object)


def _check_long_order(
    dates: pd.DatetimeIndex, symbols: np.ndarray[Any, np.dtype[np.object_]], source: Source
) -> None:
    """No (date, symbol) twice; each symbol's rows in date order (symbols may interleave)."""
    codes, _ = pd.factorize(symbols)
    stamps = dates.asi8
    keys = pd.DataFrame({"date": stamps, "symbol": codes})
    duplicated = np.flatnonzero(keys.duplicated().to_numpy())
    if duplicated.size:
        position = int(duplicated[0])
        same = (stamps == stamps[position]) & (codes == codes[position])
        first = int(np.flatnonzero(same)[0])
        earlier = source.where(first).removeprefix(source.name).strip()
        raise DataError(
            f"{source.where(position, dates[position], 'symbol')}: duplicate row for "
            f"{symbols[position]} (also on {earlier}); keep one row per date and symbol"
        )
    order = np.argsort(codes, kind="stable")
    same_symbol = codes[order][1:] == codes[order][:-1]
    backwards = np.flatnonzero(same_symbol & (stamps[order][1:] < stamps[order][:-1]))
    if backwards.size:
        position = int(order[backwards[0] + 1])
        previous = int(order[backwards[0]])
        raise DataError(
            f"{source.where(position, dates[position], 'date')}: dates of {symbols[position]} "
            f"are not sorted (comes after {dates[previous].date().isoformat()}); sort the rows "
            f"by symbol and date, or by date"
        )


def _check_bars(
    columns: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
    dates: pd.DatetimeIndex,
    symbols: np.ndarray[Any, np.dtype[np.object_]],
    by_field: dict[str, str],
    source: Source,
) -> None:
    """Bars are whole and consistent: a row with a close has every bar field the file has,
    a row without a close has none, and low <= open, close <= high (relative slack
    `BAR_TOLERANCE`)."""
    has_close = ~np.isnan(columns["close"])
    for field, values in columns.items():
        if field == "close":
            continue
        mismatch = np.flatnonzero(np.isnan(values) == has_close)
        if mismatch.size:
            position = int(mismatch[0])
            what = (
                "missing where close is present"
                if has_close[position]
                else ("present where close is missing")
            )
            raise DataError(
                f"{source.where(position, dates[position], by_field[field])} "
                f"({symbols[position]}): {field} is {what}; a row is a whole bar or empty"
            )
    low = columns.get("low")
    high = columns.get("high")
    checks: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]]]] = []
    with np.errstate(invalid="ignore"):
        if low is not None and high is not None:
            checks.append(("high < low", high < low))
        for field in ("open", "close"):
            if field not in columns:
                continue
            if high is not None:
                checks.append((f"{field} > high", columns[field] > high * (1 + BAR_TOLERANCE)))
            if low is not None:
                checks.append((f"{field} < low", columns[field] < low * (1 - BAR_TOLERANCE)))
    for rule, broken in checks:
        bad = np.flatnonzero(broken)
        if bad.size:
            position = int(bad[0])
            field = rule.split()[0]
            raise DataError(
                f"{source.where(position, dates[position], by_field[field])} "
                f"({symbols[position]}): inconsistent bar, {rule}; need low <= open, close <= high"
            )


__all__ = [
    "BAR_COLUMNS",
    "BAR_TOLERANCE",
    "LONG_OPTIONAL",
    "LONG_REQUIRED",
    "GapPolicy",
    "Layout",
    "detect_layout",
    "panel_from_long",
    "read_benchmark",
    "read_panel",
    "read_prices",
    "split_field",
]
