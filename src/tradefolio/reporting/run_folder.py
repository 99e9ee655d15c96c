"""Run folders: the complete, self-describing record of one backtest or live session.

Layout of `<out>/<UTC timestamp>-<name>/` (`out` defaults to `runs`):

    config.json     {"schema": "tradefolio.run/1", "kind", "name", "created_utc",
                     "tradefolio_version", "config": {...resolved options...}}
    equity.csv      date,equity,cash,invested[,benchmark]   one row per session
    fills.csv       date,symbol,side,quantity,price,commission,slippage
    positions.csv   date,symbol,quantity,price   one row per held symbol per close
    weights.csv     date,<symbol>...   target weights at each rebalance (header only if none)
    rebalances.csv  one row per allocation-model solve (`reporting.rebalances`), only when
                    the run had one (`--portfolio` with model options)
    metrics.json    see `metrics.run_metrics` and docs/cli.md
    tearsheet.html  self-contained (plotly.js inline)
    png/<chart>.png static charts, only when asked for (png=True, `--png`)

Floats are written with the shortest text that reads back to the same double and read
with Python's correctly rounded parser, so a folder re-read from disk gives bit-identical
metrics. Every file but config.json (which holds the creation time) is byte-identical for
the same run.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradefolio import __version__
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.ledger import MICRO, Fill
from tradefolio.errors import DataError, InvalidParameter, MissingExtra
from tradefolio.reporting.charts import chart_data
from tradefolio.reporting.csv_text import write_frame_csv
from tradefolio.reporting.json_values import finite_or_null
from tradefolio.reporting.metrics import ROLLING_WINDOW, run_metrics
from tradefolio.reporting.png import write_pngs
from tradefolio.reporting.rebalances import REBALANCE_COLUMNS, rebalance_table, typed_rebalances
from tradefolio.reporting.record import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    POSITION_COLUMNS,
    RunKind,
    RunRecord,
)
from tradefolio.reporting.tearsheet import write_tearsheet
from tradefolio.reporting.trades import round_trip_table

RUN_SCHEMA = "tradefolio.run/1"
DEFAULT_OUT = Path("runs")
CONFIG_FILE = "config.json"
EQUITY_FILE = "equity.csv"
FILLS_FILE = "fills.csv"
POSITIONS_FILE = "positions.csv"
WEIGHTS_FILE = "weights.csv"
REBALANCES_FILE = "rebalances.csv"
METRICS_FILE = "metrics.json"
TEARSHEET_FILE = "tearsheet.html"
PNG_DIR = "png"
DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True, slots=True)
class RunFolder:
    """What was written: the folder, its tearsheet and PNGs, and notes for the user."""

    path: Path
    metrics: Mapping[str, Any]
    tearsheet: Path | None = None
    pngs: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default=())


def folder_name(name: str, moment: datetime) -> str:
    """`<YYYYmmddTHHMMSSZ>-<name>` with the name reduced to `[a-z0-9._-]`."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "run"
    return f"{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{slug}"


def new_run_dir(out_dir: Path, name: str, moment: datetime | None = None) -> Path:
    """A fresh folder under `out_dir` (a `-2`, `-3`, ... suffix if the second is taken)."""
    base = folder_name(name, moment or datetime.now(UTC))
    candidate, attempt = out_dir / base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            attempt += 1
            candidate = out_dir / f"{base}-{attempt}"
        except OSError as exc:
            raise InvalidParameter(
                f"cannot create a run folder under {out_dir}: {exc.strerror}; "
                "choose a writable --out (or --no-record)"
            ) from exc


def _write_csv(frame: pd.DataFrame, path: Path, *, index: bool) -> None:
    # `frame.to_csv(path, index=index, date_format=DATE_FORMAT, lineterminator="\n")`'s
    # bytes, in about half the time (`csv_text`)
    write_frame_csv(frame, path, index=index)


def _json_text(payload: Any) -> str:
    return json.dumps(finite_or_null(payload), indent=2, allow_nan=False, default=str) + "\n"


def write_data_files(
    record: RunRecord, folder: Path, *, trades: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Write every data file and metrics.json of `record` into `folder`; return the metrics
    (`trades`: the record's `round_trip_table`, when the caller has it)."""
    folder.mkdir(parents=True, exist_ok=True)
    equity = record.equity.loc[:, list(EQUITY_COLUMNS)].astype("float64").copy()
    if record.benchmark is not None:
        equity["benchmark"] = record.benchmark.astype("float64")
    equity.index = pd.DatetimeIndex(equity.index, name="date")
    _write_csv(equity, folder / EQUITY_FILE, index=True)
    _write_csv(record.fills.loc[:, list(FILL_COLUMNS)], folder / FILLS_FILE, index=False)
    # market_value = quantity · price is recomputed on reading (the same product, same bits).
    stored = [c for c in POSITION_COLUMNS if c != "market_value"]
    _write_csv(record.positions.loc[:, stored], folder / POSITIONS_FILE, index=False)
    weights = record.target_weights.copy()
    weights.index = pd.DatetimeIndex(weights.index, name="date")
    _write_csv(weights, folder / WEIGHTS_FILE, index=True)
    if record.rebalances is not None:
        _write_csv(record.rebalances, folder / REBALANCES_FILE, index=False)
    metrics = run_metrics(record, trades)
    (folder / METRICS_FILE).write_text(_json_text(metrics), encoding="utf-8")
    return metrics


def write_report(
    record: RunRecord,
    metrics: Mapping[str, Any],
    folder: Path,
    *,
    png: bool = False,
    log_scale: bool | None = None,
    window: int = ROLLING_WINDOW,
    trades: pd.DataFrame | None = None,
) -> tuple[Path | None, tuple[Path, ...], tuple[str, ...]]:
    """Tearsheet (and PNGs) of `record` in `folder`; a missing extra becomes a note."""
    data = chart_data(record, window)
    notes: list[str] = []
    tearsheet: Path | None = None
    pngs: tuple[Path, ...] = ()
    try:
        tearsheet = write_tearsheet(
            record,
            metrics,
            folder / TEARSHEET_FILE,
            log_scale=log_scale,
            window=window,
            data=data,
            trades=trades,
        )
    except MissingExtra as exc:
        notes.append(f"tearsheet skipped: {exc}")
    if png:
        try:
            pngs = tuple(write_pngs(data, folder / PNG_DIR, log_scale=log_scale))
        except MissingExtra as exc:
            notes.append(f"PNG charts skipped: {exc}")
    return tearsheet, pngs, tuple(notes)


def write_run_folder(
    record: RunRecord,
    out_dir: Path | str = DEFAULT_OUT,
    *,
    tearsheet: bool = True,
    png: bool = False,
    log_scale: bool | None = None,
    created: datetime | None = None,
) -> RunFolder:
    """Write `record` as a new run folder under `out_dir` (see the module docstring)."""
    moment = created or datetime.now(UTC)
    folder = new_run_dir(Path(out_dir), record.name, moment)
    header = {
        "schema": RUN_SCHEMA,
        "kind": record.kind,
        "name": record.name,
        "created_utc": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tradefolio_version": __version__,
        "config": dict(record.config),
    }
    (folder / CONFIG_FILE).write_text(_json_text(header), encoding="utf-8")
    trades = round_trip_table(record.fills)  # metrics.json's trips, the tearsheet's list
    metrics = write_data_files(record, folder, trades=trades)
    if not tearsheet:
        return RunFolder(folder, metrics)
    page, pngs, notes = write_report(
        record, metrics, folder, png=png, log_scale=log_scale, trades=trades
    )
    return RunFolder(folder, metrics, page, pngs, notes)


_DAMAGED = "the folder is damaged or not written by tradefolio; re-run the backtest to rewrite it"


def _damaged(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}; {_DAMAGED}")


def _text(path: Path) -> str:
    """The whole file as UTF-8 text, or `DataError` naming what is wrong with it."""
    if not path.is_file():
        raise DataError(f"{path} is missing: is {path.parent} a tradefolio run folder?")
    data = path.read_bytes()
    if b"\x00" in data:
        raise _damaged(path, "is a binary file, not CSV/JSON text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"is not UTF-8 text (byte {exc.start})") from exc


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A run CSV as text columns (numbers are parsed by `_floats`, exactly), with its header
    checked against `required` and the file checked for a cut-off last line."""
    text = _text(path)
    if not text.strip():
        raise _damaged(path, f"is empty (expected the header {','.join(required)})")
    if not text.endswith("\n"):
        raise _damaged(path, "is cut short (its last line has no end)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        first = " ".join(str(exc).split())
        raise _damaged(path, f"cannot be read as CSV ({first})") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise _damaged(path, f"has no column {', '.join(missing)} (expected {','.join(required)})")
    return frame


def _floats(column: pd.Series, path: Path, *, allow_empty: bool = False) -> np.ndarray:
    """Python's correctly rounded parser: the double each shortest repr was written from;
    `DataError` names the row and column of a cell that is not a number."""
    values = np.empty(len(column), dtype=np.float64)
    for row, text in enumerate(column.tolist()):
        if not text and allow_empty:
            values[row] = np.nan
            continue
        try:
            values[row] = float(text)
        except ValueError:
            raise _damaged(
                path, f"row {row + 2}, column {column.name}: {text!r} is not a number"
            ) from None
    return values


def _dates(column: pd.Series, path: Path) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(pd.to_datetime(column, format=DATE_FORMAT), name="date")
    except (ValueError, TypeError) as exc:
        bad = next(
            (
                (row, text)
                for row, text in enumerate(column.tolist())
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(text))
            ),
            (0, ""),
        )
        raise _damaged(
            path, f"row {bad[0] + 2}, column date: {bad[1]!r} is not a YYYY-MM-DD date"
        ) from exc


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    parsed = frame.copy()
    for column in columns:
        if column in parsed.columns:
            values = _floats(parsed[column], path)
            if not np.isfinite(values).all():
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise _damaged(path, f"row {row + 2}, column {column}: not a finite number")
            whole = column == "quantity" and np.all(values == np.floor(values))
            parsed[column] = values.astype(np.int64) if whole else values
    return parsed


def _header(config_path: Path) -> dict[str, Any]:
    """config.json of a run folder: JSON, an object, and this schema."""
    text = _text(config_path)
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{config_path} is not valid JSON: {exc.msg} (line {exc.lineno}); {_DAMAGED}"
        ) from exc
    schema = header.get("schema") if isinstance(header, dict) else None
    if schema != RUN_SCHEMA:
        found = f"schema {schema!r}" if schema is not None else "no schema"
        raise DataError(
            f"{config_path} has {found}, not {RUN_SCHEMA!r}: {config_path.parent} is not a "
            "tradefolio run folder (pass a folder written by backtest or live)"
        )
    return dict(header)


def _check_symbols(
    fills: pd.DataFrame, positions: pd.DataFrame, known: list[str], path: Path
) -> None:
    """Every fill and position names a symbol of the run (weights.csv lists them all)."""
    if not known:  # a live folder's weights.csv has no symbol columns
        return
    universe = set(known)
    for frame, where in ((fills, path / FILLS_FILE), (positions, path / POSITIONS_FILE)):
        for row, symbol in enumerate(frame["symbol"].tolist()):
            if symbol not in universe:
                raise _damaged(
                    where,
                    f"row {row + 2} names {symbol!r}, a symbol the run does not have "
                    f"(weights.csv lists {len(universe)})",
                )


def read_run_folder(folder: Path | str) -> RunRecord:
    """The `RunRecord` a run folder holds. `DataError` names the file and, where it can,
    the row and column of anything missing, damaged or foreign (see `_read_csv`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a directory; pass a run folder (runs/<time>-<name>)")
    header = _header(folder / CONFIG_FILE)
    equity_path = folder / EQUITY_FILE
    raw = _read_csv(equity_path, ("date", *EQUITY_COLUMNS))
    if len(raw) < 2:
        raise _damaged(equity_path, f"has {len(raw)} session rows (a run has at least 2)")
    index = _dates(raw["date"], equity_path)
    equity = pd.DataFrame(
        {
            column: _floats(raw[column], equity_path, allow_empty=column == "benchmark")
            for column in raw.columns
            if column != "date"
        },
        index=index,
    )
    if not index.is_monotonic_increasing or not index.is_unique:
        raise _damaged(equity_path, "dates are not sorted and unique")
    for column in EQUITY_COLUMNS:
        values = equity[column].to_numpy()
        bad = ~np.isfinite(values) | ((values <= 0) if column == "equity" else (values < 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            need = "a positive" if column == "equity" else "a finite, non-negative"
            raise _damaged(
                equity_path, f"row {row + 2}, column {column}: {values[row]:g} is not {need} number"
            )
    benchmark = equity.pop("benchmark") if "benchmark" in equity.columns else None
    fills_path = folder / FILLS_FILE
    fills = _numeric(
        _read_csv(fills_path, FILL_COLUMNS),
        ("quantity", "price", "commission", "slippage"),
        fills_path,
    )
    fills["date"] = _dates(fills["date"], fills_path)
    positions_path = folder / POSITIONS_FILE
    stored = tuple(c for c in POSITION_COLUMNS if c != "market_value")
    positions = _numeric(_read_csv(positions_path, stored), ("quantity", "price"), positions_path)
    positions["date"] = _dates(positions["date"], positions_path)
    positions["market_value"] = positions["quantity"] * positions["price"]
    weights_path = folder / WEIGHTS_FILE
    raw_weights = _read_csv(weights_path, ("date",))
    symbols = [column for column in raw_weights.columns if column != "date"]
    weights = pd.DataFrame(
        {column: _floats(raw_weights[column], weights_path) for column in symbols},
        index=_dates(raw_weights["date"], weights_path),
    )
    _check_symbols(fills, positions, symbols, folder)
    rebalances = None
    rebalances_path = folder / REBALANCES_FILE
    if rebalances_path.is_file():
        raw = _read_csv(rebalances_path, REBALANCE_COLUMNS)
        raw["date"] = _dates(raw["date"], rebalances_path)
        rebalances = typed_rebalances(raw)
    return RunRecord(
        name=str(header.get("name", folder.name)),
        kind="live" if header.get("kind") == "live" else "backtest",
        config=header.get("config", {}),
        equity=equity,
        benchmark=benchmark,
        fills=fills,
        positions=positions,
        target_weights=weights,
        rebalances=rebalances,
    )


def _forward_filled(closes: pd.DataFrame) -> pd.DataFrame:
    return closes.astype("float64").ffill()


def record_from_backtest(
    result: BacktestResult,
    config: Mapping[str, Any],
    *,
    closes: pd.DataFrame,
    benchmark: pd.Series | None = None,
    rebalances: Mapping[int, Mapping[str, float]] | None = None,
    name: str | None = None,
    kind: RunKind = "backtest",
) -> RunRecord:
    """A `RunRecord` of a finished backtest.

    `closes` are the prices the run used (positions are marked at each close, carried
    forward over gaps as the engine does); `benchmark` the benchmark level (reindexed to the
    run's dates); `rebalances` the strategy's target weights by decision bar
    (`SignalPlan.rebalances`), stored in weights.csv. Slippage per fill is the fill's own
    (`Fill.slippage`: measured from the reference price it was slipped from, exactly).
    """
    dates = result.dates
    if rebalances is None and result.targets:
        rebalances = result.targets
    if not closes.index.equals(dates):
        raise DataError("closes must be the price panel the backtest ran on (same dates)")
    fills = _fills_frame(result.fills)
    positions = _positions(result, closes)
    equity = pd.DataFrame(
        {"equity": result.equity, "cash": result.cash, "invested": result.invested},
        index=pd.DatetimeIndex(dates, name="date"),
    )
    weights = _target_weights(rebalances or {}, dates, result.symbols)
    solves = None
    if result.decisions:
        solves = rebalance_table(result.decisions, result.fills)
    level = benchmark.reindex(dates).astype("float64") if benchmark is not None else None
    if level is not None:
        level.index = equity.index
    return RunRecord(
        name=name or str(config.get("strategy", "backtest")),
        kind=kind,
        config=config,
        equity=equity,
        benchmark=level,
        fills=fills,
        positions=positions,
        target_weights=weights,
        rebalances=solves,
    )


def _fills_frame(fills: Sequence[Fill]) -> pd.DataFrame:
    """The fills as `RunRecord.fills`: dates as seconds (`pd.Timestamp(date)`'s unit), the
    exact micro-unit amounts as the nearest floats (`int / int` rounds correctly, as
    `float(Decimal)` does: the same bits, without a `Decimal` per amount)."""
    if not fills:
        frame = pd.DataFrame([], columns=list(FILL_COLUMNS)).astype(
            {
                "quantity": "int64",
                "price": "float64",
                "commission": "float64",
                "slippage": "float64",
            }
        )
        frame["date"] = pd.to_datetime(frame["date"])
        return frame
    return pd.DataFrame(
        {
            "date": np.array([fill.date for fill in fills], dtype="datetime64[s]"),
            "symbol": [fill.symbol for fill in fills],
            "side": [fill.side for fill in fills],
            "quantity": np.array([fill.quantity for fill in fills], dtype=np.int64),
            "price": np.array([fill.price_micro / MICRO for fill in fills], dtype=np.float64),
            "commission": np.array(
                [fill.commission_micro / MICRO for fill in fills], dtype=np.float64
            ),
            "slippage": np.array([fill.slippage_micro / MICRO for fill in fills], dtype=np.float64),
        },
        columns=list(FILL_COLUMNS),
    )


def _positions(result: BacktestResult, closes: pd.DataFrame) -> pd.DataFrame:
    symbols = list(result.symbols)
    column = {symbol: j for j, symbol in enumerate(symbols)}
    change = np.zeros((len(result.dates), len(symbols)))
    for fill in result.fills:
        change[fill.bar, column[fill.symbol]] += (
            fill.quantity if fill.side == "buy" else -fill.quantity
        )
    held = np.cumsum(change, axis=0)
    marks = _forward_filled(closes.loc[:, symbols]).to_numpy(np.float64)
    rows, cols = np.nonzero(held)
    quantity = held[rows, cols]
    price = marks[rows, cols]
    frame = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(result.dates)[rows],
            "symbol": [symbols[c] for c in cols.tolist()],
            "quantity": quantity.astype(np.int64),
            "price": price,
            "market_value": quantity * price,
        }
    )
    return frame


def _target_weights(
    rebalances: Mapping[int, Mapping[str, float]],
    dates: pd.DatetimeIndex,
    symbols: tuple[str, ...],
) -> pd.DataFrame:
    bars = sorted(rebalances)
    table = pd.DataFrame(
        [[float(rebalances[bar].get(symbol, 0.0)) for symbol in symbols] for bar in bars],
        index=pd.DatetimeIndex([dates[bar] for bar in bars], name="date"),
        columns=list(symbols),
        dtype="float64",
    )
    return table


def write_backtest_run(
    result: BacktestResult,
    config: Mapping[str, Any],
    *,
    closes: pd.DataFrame,
    benchmark: pd.Series | None = None,
    rebalances: Mapping[int, Mapping[str, float]] | None = None,
    name: str | None = None,
    out_dir: Path | str = DEFAULT_OUT,
    tearsheet: bool = True,
    png: bool = False,
) -> RunFolder:
    """`write_run_folder(record_from_backtest(...), out_dir)`: one call from the CLI."""
    record = record_from_backtest(
        result, config, closes=closes, benchmark=benchmark, rebalances=rebalances, name=name
    )
    return write_run_folder(record, out_dir, tearsheet=tearsheet, png=png)


def rewrite_report(
    folder: Path | str,
    *,
    png: bool = False,
    log_scale: bool | None = None,
    window: int = ROLLING_WINDOW,
) -> RunFolder:
    """Recompute metrics.json and rewrite the tearsheet (and PNGs) of an existing folder."""
    path = Path(folder)
    record = read_run_folder(path)
    trades = round_trip_table(record.fills)
    metrics = run_metrics(record, trades)
    (path / METRICS_FILE).write_text(_json_text(metrics), encoding="utf-8")
    page, pngs, notes = write_report(
        record, metrics, path, png=png, log_scale=log_scale, window=window, trades=trades
    )
    return RunFolder(path, metrics, page, pngs, notes)


__all__ = [
    "CONFIG_FILE",
    "DEFAULT_OUT",
    "EQUITY_FILE",
    "FILLS_FILE",
    "METRICS_FILE",
    "PNG_DIR",
    "POSITIONS_FILE",
    "REBALANCES_FILE",
    "RUN_SCHEMA",
    "TEARSHEET_FILE",
    "WEIGHTS_FILE",
    "RunFolder",
    "folder_name",
    "new_run_dir",
    "read_run_folder",
    "record_from_backtest",
    "rewrite_report",
    "write_backtest_run",
    "write_data_files",
    "write_report",
    "write_run_folder",
]
