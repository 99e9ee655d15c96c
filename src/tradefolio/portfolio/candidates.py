"""Candidate and user-score files: `symbol,score,price` and `symbol,score` CSVs.

Read with the standard library's `csv` (neither pandas nor numpy): `allocate --candidates`
on a small file then starts as fast as a bare solver script. Column names are matched case- and
space-insensitively, blank lines are skipped, a UTF-8 byte-order mark is ignored.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

from tradefolio.errors import DataError
from tradefolio.portfolio.types import Candidate

if TYPE_CHECKING:
    import pandas as pd

    from tradefolio.portfolio.options import AllocateOptions


def check_scoring_unused(options: AllocateOptions) -> None:
    """With `--candidates` the scores are the file's: refuse a `--factor` or `--lookback`
    other than the default (they score the closes of `--prices`, which then only feed a
    risk model), as every option a run would ignore is refused (`InvalidParameter`)."""
    from tradefolio.portfolio.options import ALLOCATE_DEFAULTS, require

    require(
        options.factor == ALLOCATE_DEFAULTS.factor,
        f"--factor {options.factor} is not used: --candidates already holds each name's "
        "score (its score column) and --factor scores the closes of --prices; drop --factor, "
        "or drop --candidates to score --prices with it",
    )
    require(
        options.lookback is None,
        f"--lookback {options.lookback} is not used: it is the scoring factor's window and "
        "--candidates already holds the scores; drop --lookback",
    )


def _number(text: str) -> float | None:
    """`text` as a finite float, or None (digit separators such as `1_000` are not numbers)."""
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read_table(path: str | Path, required: tuple[str, ...]) -> list[tuple[str, list[float]]]:
    """Rows of `path` as (symbol, [the numeric columns of `required` after the first])."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: cannot be parsed as CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{file}: file is empty; expected columns {','.join(required)}")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{file}: missing column {', '.join(missing)}; expected columns {','.join(required)}"
        )
    body = rows[1:]
    if not body:
        raise DataError(f"{file}: no rows; expected at least one {','.join(required)} row")
    where = {name: header.index(name) for name in required}
    table: list[tuple[str, list[float]]] = []
    seen: set[str] = set()
    for line, row in enumerate(body, start=2):
        cells = [row[where[name]].strip() if where[name] < len(row) else "" for name in required]
        symbol = cells[0]
        numbers: list[float] = []
        for column, text in zip(required[1:], cells[1:], strict=True):
            value = _number(text)
            if value is None:
                raise DataError(
                    f"{file}: row {line} ({symbol}): {column} {text!r} is not a finite number"
                )
            numbers.append(value)
        if not symbol:
            raise DataError(f"{file}: empty symbol in row {line}")
        if symbol in seen:
            raise DataError(f"{file}: duplicate symbol {symbol!r}; list each symbol once")
        seen.add(symbol)
        table.append((symbol, numbers))
    return table


def read_candidates(path: str | Path) -> list[Candidate]:
    """Candidates from a CSV with columns `symbol,score,price`; `DataError` names the row.

    `_read_table` has already checked what `types.validate_candidates` checks but the
    price's sign (symbols non-empty and unique, numbers finite), so the first price <= 0
    is the error `validate_candidates` would name, checked here without numpy."""
    rows = _read_table(path, ("symbol", "score", "price"))
    candidates = [Candidate(symbol=s, score=score, price=price) for s, (score, price) in rows]
    for candidate in candidates:
        if candidate.price <= 0:
            raise DataError(
                f"{path}: price of {candidate.symbol} must be a finite number > 0, "
                f"got {candidate.price}"
            )
    return candidates


def read_user_scores(path: str | Path) -> pd.Series:
    """User-supplied scores from a CSV with columns `symbol,score`."""
    import pandas as pd

    rows = _read_table(path, ("symbol", "score"))
    return pd.Series(
        [score for _, (score,) in rows],
        index=[symbol for symbol, _ in rows],
        name="user",
        dtype="float64",
    )


__all__ = ["check_scoring_unused", "read_candidates", "read_user_scores"]
