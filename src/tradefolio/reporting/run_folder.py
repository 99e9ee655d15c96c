"""Run folders: the complete, self-describing record of one backtest or live session.

Layout of `<out>/<UTC timestamp>-<name>/` (`out` defaults to `runs`):

    config.json     {"schema": "tradefolio.run/1", "kind", "name", "created_utc",
                     "tradefolio_version", "config": {...resolved options...}}
    equity.csv      date,equity,cash,invested[,benchmark]   one row per session
    fills.csv       date,symbol,side,quantity,price,commission,slippage
    positions.csv   date,symbol,quantity,price   one row per held symbol per close
    weights.csv     date,<symbol>...   target weights at each rebalance (header only if none)
    metrics.json    see `metrics.run_metrics` and docs/cli.md
    tearsheet.html  self-contained (plotly.js inline)
    png/<chart>.png static charts

Floats are written with the shortest text that reads back to the same double and read
with Python's correctly rounded parser, so a folder re-read from disk gives bit-identical
metrics. Every file but config.json (which holds the creation time) is byte-identical for
the same run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradefolio import __version__
from tradefolio.backtest.engine import BacktestResult
from tradefolio.errors import DataError, InvalidParameter, MissingExtra
from tradefolio.reporting.charts import chart_data
from tradefolio.reporting.metrics import ROLLING_WINDOW, run_metrics
from tradefolio.reporting.png import write_pngs
from tradefolio.reporting.record import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    POSITION_COLUMNS,
    RunKind,
    RunRecord,
)
from tradefolio.reporting.tearsheet import write_tearsheet

RUN_SCHEMA = "tradefolio.run/1"
DEFAULT_OUT = Path("runs")
CONFIG_FILE = "config.json"
EQUITY_FILE = "equity.csv"
FILLS_FILE = "fills.csv"
POSITIONS_FILE = "positions.csv"
WEIGHTS_FILE = "weights.csv"
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
    frame.to_csv(path, index=index, date_format=DATE_FORMAT, lineterminator="\n")


def _json_text(payload: Any) -> str:
    return json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n"


def write_data_files(record: RunRecord, folder: Path) -> dict[str, Any]:
    """Write every data file and metrics.json of `record` into `folder`; return the metrics."""
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
    metrics = run_metrics(record)
    (folder / METRICS_FILE).write_text(_json_text(metrics), encoding="utf-8")
    return metrics


def write_report(
    record: RunRecord,
    metrics: Mapping[str, Any],
    folder: Path,
    *,
    png: bool = True,
    log_scale: bool = False,
    window: int = ROLLING_WINDOW,
) -> tuple[Path | None, tuple[Path, ...], tuple[str, ...]]:
    """Tearsheet (and PNGs) of `record` in `folder`; a missing extra becomes a note."""
    data = chart_data(record, window)
    notes: list[str] = []
    tearsheet: Path | None = None
    pngs: tuple[Path, ...] = ()
    try:
        tearsheet = write_tearsheet(
            record, metrics, folder / TEARSHEET_FILE, log_scale=log_scale, window=window, data=data
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
    png: bool = True,
    log_scale: bool = False,
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
    metrics = write_data_files(record, folder)
    if not tearsheet:
        return RunFolder(folder, metrics)
    page, pngs, notes = write_report(record, metrics, folder, png=png, log_scale=log_scale)
    return RunFolder(folder, metrics, page, pngs, notes)


def _read_csv(path: Path) -> pd.DataFrame:
    """A run CSV as text columns (numbers are parsed by `_floats`, exactly)."""
    if not path.is_file():
        raise DataError(f"{path} is missing: is {path.parent} a tradefolio run folder?")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _floats(column: pd.Series) -> np.ndarray:
    """Python's correctly rounded parser: the double each shortest repr was written from."""
    return np.fromiter(
        (float(text) if text else np.nan for text in column), dtype=np.float64, count=len(column)
    )


def _dates(column: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(column, format=DATE_FORMAT), name="date")


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    parsed = frame.copy()
    for column in columns:
        if column in parsed.columns:
            values = _floats(parsed[column])
            whole = column == "quantity" and np.all(values == np.floor(values))
            parsed[column] = values.astype(np.int64) if whole else values
    return parsed


def read_run_folder(folder: Path | str) -> RunRecord:
    """The `RunRecord` a run folder holds (`DataError` naming the file if one is missing)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a directory; pass a run folder (runs/<time>-<name>)")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise DataError(f"{config_path} is missing: is {folder} a tradefolio run folder?")
    try:
        header = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{config_path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    raw = _read_csv(folder / EQUITY_FILE)
    index = _dates(raw["date"])
    equity = pd.DataFrame(
        {column: _floats(raw[column]) for column in raw.columns if column != "date"}, index=index
    )
    benchmark = equity.pop("benchmark") if "benchmark" in equity.columns else None
    fills = _numeric(
        _read_csv(folder / FILLS_FILE), ("quantity", "price", "commission", "slippage")
    )
    fills["date"] = _dates(fills["date"])
    positions = _numeric(_read_csv(folder / POSITIONS_FILE), ("quantity", "price"))
    positions["date"] = _dates(positions["date"])
    positions["market_value"] = positions["quantity"] * positions["price"]
    raw_weights = _read_csv(folder / WEIGHTS_FILE)
    weights = pd.DataFrame(
        {
            column: _floats(raw_weights[column])
            for column in raw_weights.columns
            if column != "date"
        },
        index=_dates(raw_weights["date"]),
    )
    return RunRecord(
        name=str(header.get("name", folder.name)),
        kind="live" if header.get("kind") == "live" else "backtest",
        config=header.get("config", {}),
        equity=equity,
        benchmark=benchmark,
        fills=fills,
        positions=positions,
        target_weights=weights,
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
    (`SignalPlan.rebalances`), stored in weights.csv. Slippage per fill is recovered from the
    config's `slippage_bps` (`s`): `q · p_f · s / (1 + s)` for a buy, `q · p_f · s / (1 - s)`
    for a sell, exact up to the ledger's half-micro rounding.
    """
    dates = result.dates
    if not closes.index.equals(dates):
        raise DataError("closes must be the price panel the backtest ran on (same dates)")
    rate = float(config.get("slippage_bps", 0.0) or 0.0) / 1e4
    fill_rows = []
    for fill in result.fills:
        price = float(fill.price)
        slip = 0.0
        if rate:
            slip = fill.quantity * price * rate / (1.0 + rate if fill.side == "buy" else 1.0 - rate)
        fill_rows.append(
            (
                pd.Timestamp(fill.date),
                fill.symbol,
                fill.side,
                fill.quantity,
                price,
                float(fill.commission),
                slip,
            )
        )
    fills = pd.DataFrame(fill_rows, columns=list(FILL_COLUMNS)).astype(
        {"quantity": "int64", "price": "float64", "commission": "float64", "slippage": "float64"}
    )
    if fills.empty:
        fills["date"] = pd.to_datetime(fills["date"])
    positions = _positions(result, closes)
    equity = pd.DataFrame(
        {"equity": result.equity, "cash": result.cash, "invested": result.invested},
        index=pd.DatetimeIndex(dates, name="date"),
    )
    weights = _target_weights(rebalances or {}, dates, result.symbols)
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
    png: bool = True,
) -> RunFolder:
    """`write_run_folder(record_from_backtest(...), out_dir)`: one call from the CLI."""
    record = record_from_backtest(
        result, config, closes=closes, benchmark=benchmark, rebalances=rebalances, name=name
    )
    return write_run_folder(record, out_dir, tearsheet=tearsheet, png=png)


def rewrite_report(
    folder: Path | str,
    *,
    png: bool = True,
    log_scale: bool = False,
    window: int = ROLLING_WINDOW,
) -> RunFolder:
    """Recompute metrics.json and rewrite the tearsheet (and PNGs) of an existing folder."""
    path = Path(folder)
    record = read_run_folder(path)
    metrics = run_metrics(record)
    (path / METRICS_FILE).write_text(_json_text(metrics), encoding="utf-8")
    page, pngs, notes = write_report(
        record, metrics, path, png=png, log_scale=log_scale, window=window
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
