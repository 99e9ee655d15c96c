"""Candidate and user-score files: `symbol,score,price` and `symbol,score` CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradefolio.errors import DataError
from tradefolio.portfolio.types import Candidate, validate_candidates


def _read_table(path: str | Path, required: tuple[str, ...]) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        frame = pd.read_csv(file, dtype={"symbol": str})
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{file}: file is empty; expected columns {','.join(required)}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot be parsed as CSV ({exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{file}: missing column {', '.join(missing)}; expected columns {','.join(required)}"
        )
    if frame.empty:
        raise DataError(f"{file}: no rows; expected at least one {','.join(required)} row")
    for column in required[1:]:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{file}: row {row + 2} ({frame['symbol'].iloc[row]}): {column} "
                f"{frame[column].iloc[row]!r} is not a finite number"
            )
        frame[column] = numbers.astype("float64")
    symbols = frame["symbol"].astype(str).str.strip()
    if (symbols == "").any() or frame["symbol"].isna().any():
        raise DataError(f"{file}: empty symbol in row {int(np.argmax(symbols == '')) + 2}")
    duplicated = symbols[symbols.duplicated()]
    if not duplicated.empty:
        raise DataError(f"{file}: duplicate symbol {duplicated.iloc[0]!r}; list each symbol once")
    frame["symbol"] = symbols
    return frame


def read_candidates(path: str | Path) -> list[Candidate]:
    """Candidates from a CSV with columns `symbol,score,price`; `DataError` names the row."""
    frame = _read_table(path, ("symbol", "score", "price"))
    candidates = [
        Candidate(symbol=s, score=float(sc), price=float(p))
        for s, sc, p in zip(frame["symbol"], frame["score"], frame["price"], strict=True)
    ]
    try:
        return validate_candidates(candidates)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc


def read_user_scores(path: str | Path) -> pd.Series:
    """User-supplied scores from a CSV with columns `symbol,score`."""
    frame = _read_table(path, ("symbol", "score"))
    return pd.Series(frame["score"].to_numpy(), index=frame["symbol"], name="user", dtype="float64")


__all__ = ["read_candidates", "read_user_scores"]
