"""The results table of a sweep: one Parquet row per run, durable while the sweep runs.

Columns, in order: `run` (position in the sweep), `run_id` (hash of the run's full
configuration and window), `status` (`ok` | `held`: finished, holding its positions at
one or more rebalances the allocation model could not solve | `failed`), `error` (the
exception of a failed run, else null), one column per swept parameter, `final_equity`,
`n_fills`, `rebalances_proven` / `rebalances_not_proven` / `rebalances_failed` (the
model's solves of a `--portfolio` run, as `backtest` counts them; null for a run the model
did not decide), the metrics of
`backtest.metrics` (`total_return` ... `win_rate`), `skew`, `kurtosis` and `observations`
of the daily returns, and `seconds` (wall time of the run: the one column that differs from
one execution to the next).

Crash-only: finished runs are appended to `parts/part-NNNNNN.parquet` in the results folder
as they arrive (each part written to a temporary name and renamed, so a kill never leaves a
half-written part); `results.parquet` is the consolidated table of the last completed sweep.
On the next start the store reads both, and runs whose `run_id` is already there are not run
again (failed ones too, unless asked to retry). `sweep.json` records what the results were
computed from; results of other price data are never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tradefolio.backtest.metric_registry import HEADLINE_METRICS
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.extras import import_extra
from tradefolio.research.space import SweepSpec
from tradefolio.research.tasks import COMPLETED, MarketData, RunOutcome, RunTask

RESULTS_FILE = "results.parquet"
MANIFEST_FILE = "sweep.json"
PARTS_DIR = "parts"
METRIC_COLUMNS = HEADLINE_METRICS
#: The allocation model's solves of a `--portfolio` run (null for other runs).
REBALANCE_COLUMNS = ("rebalances_proven", "rebalances_not_proven", "rebalances_failed")
_INT_COLUMNS = ("run", "n_fills", *REBALANCE_COLUMNS, "trades", "observations")
_FLOAT_COLUMNS = (
    "final_equity",
    *(c for c in METRIC_COLUMNS if c != "trades"),
    "skew",
    "kurtosis",
    "seconds",
)
RESERVED_COLUMNS = frozenset(("run", "run_id", "status", "error", *_INT_COLUMNS, *_FLOAT_COLUMNS))


def outcome_row(outcome: RunOutcome) -> dict[str, Any]:
    """One table row of an outcome (without `run`: that is the position in *this* sweep)."""
    row: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "error": outcome.error,
        **{f"param:{k}": v for k, v in outcome.params.items()},
        "final_equity": outcome.final_equity,
        "n_fills": outcome.n_fills,
        **{name: getattr(outcome, name) for name in REBALANCE_COLUMNS},
    }
    metrics = outcome.metrics or {}
    for name in METRIC_COLUMNS:
        row[name] = metrics.get(name)
    row["skew"] = outcome.skew
    row["kurtosis"] = outcome.kurtosis
    row["observations"] = outcome.observations
    row["seconds"] = outcome.seconds
    return row


def build_table(
    tasks: Sequence[RunTask], rows: Mapping[str, Mapping[str, Any]], parameters: Sequence[str]
) -> pd.DataFrame:
    """The table of `tasks` (in run order) from rows keyed by `run_id` (missing runs left out)."""
    clash = RESERVED_COLUMNS.intersection(parameters)
    if clash:
        raise InvalidParameter(f"parameter name(s) clash with result columns: {sorted(clash)}")
    records: list[dict[str, Any]] = []
    for task in tasks:
        row = rows.get(task.run_id)
        if row is None:
            continue
        record: dict[str, Any] = {"run": task.index, "run_id": task.run_id}
        record["status"] = row["status"]
        record["error"] = row["error"]
        for name in parameters:
            record[name] = task.params[name]
        for name in ("final_equity", "n_fills", *METRIC_COLUMNS):
            record[name] = row[name]
        for name in REBALANCE_COLUMNS:  # absent from the rows of an older version
            record[name] = row.get(name)
        for name in ("skew", "kurtosis", "observations", "seconds"):
            record[name] = row[name]
        records.append(record)
    columns = [
        "run",
        "run_id",
        "status",
        "error",
        *parameters,
        "final_equity",
        "n_fills",
        *REBALANCE_COLUMNS,
        *METRIC_COLUMNS,
        "skew",
        "kurtosis",
        "observations",
        "seconds",
    ]
    table = pd.DataFrame.from_records(records, columns=columns)
    for name in _INT_COLUMNS:
        table[name] = table[name].astype("Int64")
    for name in _FLOAT_COLUMNS:
        table[name] = pd.to_numeric(table[name], errors="coerce").astype("float64")
    for name in ("run_id", "status", "error"):
        table[name] = table[name].astype("string")
    return table.reset_index(drop=True)


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


class ResultsStore:
    """A results folder: manifest, consolidated table and the parts of a sweep in progress."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next_part = 0

    @property
    def results_path(self) -> Path:
        """`results.parquet` in the folder."""
        return self.folder / RESULTS_FILE

    def prepare(self, manifest: Mapping[str, Any], *, fresh: bool = False) -> None:
        """Create the folder (or check it holds results of the same data) and write the manifest.

        `manifest["data"]` is the price data's fingerprint; a folder with another one is
        refused (`InvalidParameter`) unless `fresh`, which deletes its earlier results.
        """
        import_extra("pyarrow", "data", "sweep results (Parquet)")
        manifest_path = self.folder / MANIFEST_FILE
        if self.folder.exists() and not self.folder.is_dir():
            raise InvalidParameter(f"--out {self.folder} exists and is not a folder")
        if fresh and self.folder.exists():
            for name in (RESULTS_FILE, MANIFEST_FILE):
                (self.folder / name).unlink(missing_ok=True)
            shutil.rmtree(self.folder / PARTS_DIR, ignore_errors=True)
        if manifest_path.exists():
            try:
                previous = json.loads(manifest_path.read_text())
            except (OSError, json.JSONDecodeError):
                previous = {}
            if previous.get("data") != manifest.get("data"):
                raise InvalidParameter(
                    f"--out {self.folder} holds results computed on other price data; "
                    "pass --fresh to discard them or choose another --out"
                )
        (self.folder / PARTS_DIR).mkdir(parents=True, exist_ok=True)
        temporary = manifest_path.with_name(f".{MANIFEST_FILE}.tmp")
        temporary.write_text(json.dumps(dict(manifest), indent=2, sort_keys=True, default=str))
        os.replace(temporary, manifest_path)
        existing = sorted((self.folder / PARTS_DIR).glob("part-*.parquet"))
        self._next_part = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0

    def finished(self, *, retry_failed: bool = False) -> dict[str, dict[str, Any]]:
        """Rows already computed, by `run_id` (the newest wins; failed ones dropped if retried)."""
        frames: list[pd.DataFrame] = []
        paths = []
        if self.results_path.exists():
            paths.append(self.results_path)
        paths.extend(sorted((self.folder / PARTS_DIR).glob("part-*.parquet")))
        for path in paths:
            try:
                frames.append(pd.read_parquet(path))
            except Exception as exc:  # a damaged file is reported, not silently redone
                raise DataError(f"cannot read {path}: {exc}; delete it to recompute") from None
        rows: dict[str, dict[str, Any]] = {}
        for frame in frames:
            for record in frame.to_dict(orient="records"):
                clean = {str(k): (None if _missing(v) else v) for k, v in record.items()}
                rows[str(clean["run_id"])] = clean
        if retry_failed:
            rows = {k: v for k, v in rows.items() if v["status"] in COMPLETED}
        return rows

    def append(self, outcomes: Iterable[RunOutcome]) -> None:
        """Persist finished outcomes as one new part."""
        rows = [outcome_row(o) for o in outcomes]
        if not rows:
            return
        frame = pd.DataFrame.from_records(rows)
        frame["run_id"] = frame["run_id"].astype("string")
        frame["status"] = frame["status"].astype("string")
        frame["error"] = frame["error"].astype("string")
        path = self.folder / PARTS_DIR / f"part-{self._next_part:06d}.parquet"
        self._next_part += 1
        _atomic_parquet(frame, path)

    def finalize(self, table: pd.DataFrame) -> Path:
        """Write the consolidated `results.parquet` and drop the parts it supersedes."""
        _atomic_parquet(table, self.results_path)
        shutil.rmtree(self.folder / PARTS_DIR, ignore_errors=True)
        self._next_part = 0
        return self.results_path


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def default_results_folder(
    command: str, spec: SweepSpec, data: MarketData, extra: Any = None
) -> Path:
    """`runs/<command>-<key>`: the same command on the same prices finds its folder again."""
    payload = json.dumps([spec.describe(), data.fingerprint(), extra], sort_keys=True, default=str)
    return Path("runs") / f"{command}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


__all__ = [
    "MANIFEST_FILE",
    "METRIC_COLUMNS",
    "REBALANCE_COLUMNS",
    "RESULTS_FILE",
    "ResultsStore",
    "build_table",
    "default_results_folder",
    "outcome_row",
]
