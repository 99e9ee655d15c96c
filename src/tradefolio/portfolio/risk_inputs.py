"""The user's own risk model and bounds, read from CSV files and validated.

Files (symbols as labels; a header row; whitespace around cells is ignored):

| file | form |
| --- | --- |
| expected returns | `symbol,mu` |
| covariance | a square matrix: first column the row labels, header the column labels |
| factor loadings | `symbol,<factor 1>,...,<factor K>` (B, names x factors) |
| factor covariance | a K x K matrix labelled by the factors (F) |
| specific variance | `symbol,variance` (s) |
| bounds | `symbol,min_weight,max_weight` (floor if held, cap) |

A factor model is Σ = B F B^T + diag(s); it becomes a `RiskModel` (Σ = L^T L + diag(s))
with L = Λ^(1/2) V^T B^T from F = V Λ V^T, so the model keeps its factor form.

Checks (each failure is one `DataError` naming the file and the fix): numbers finite;
labels unique, the covariance's row labels equal to its column labels; symmetric to 1e-8
relative; positive semidefinite to 1e-8 relative (eigenvalues down to -1e-8 λmax are
round-off and are clipped to 0); variances >= 0; every candidate present in each file
(`aligned_*` functions). Names beyond the candidates, in any of the files, are left out
with one `IgnoredInput` warning per file counting them (a risk model or bounds covering a
wider universe than today's candidates is normal); the CLI prints it as one `note:` line.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tradefolio.errors import DataError, IgnoredInput
from tradefolio.portfolio.covariance import RiskModel

# Relative tolerances of the symmetry and PSD checks.
SYMMETRY_TOLERANCE = 1e-8
PSD_TOLERANCE = 1e-8


def _read_frame(path: Path, what: str, index: bool) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such {what} file")
    try:
        frame = pd.read_csv(path, index_col=0 if index else None, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the {what} file as CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if index:
        frame.index = [str(i).strip() for i in frame.index]
    if frame.empty:
        raise DataError(f"{path}: the {what} file has no rows")
    return frame


def _numbers(frame: pd.DataFrame, path: Path | str, what: str) -> NDArray[np.float64]:
    try:
        values: NDArray[np.float64] = frame.apply(pd.to_numeric, errors="raise").to_numpy(
            dtype=np.float64
        )
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: the {what} has a cell that is not a number ({exc})") from exc
    if not np.isfinite(values).all():
        row, column = np.argwhere(~np.isfinite(values))[0]
        raise DataError(
            f"{path}: the {what} has a missing or infinite value at row {frame.index[row]}, "
            f"column {frame.columns[column]}"
        )
    return values


def _unique(labels: Sequence[str], path: Path | str, where: str) -> None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise DataError(f"{path}: {label} appears twice in the {where}; keep one")
        seen.add(label)


def _two_columns(path: Path, what: str, names: tuple[str, ...]) -> pd.DataFrame:
    frame = _read_frame(path, what, index=False)
    frame.columns = [c.lower() for c in frame.columns]
    if not set(names) <= set(frame.columns):
        raise DataError(
            f"{path}: expected columns {','.join(names)}, got {','.join(frame.columns)}"
        )
    frame = frame[list(names)]
    frame[names[0]] = frame[names[0]].astype(str).str.strip()
    _unique(list(frame[names[0]]), path, "symbol column")
    return frame.set_index(names[0])


def read_expected_returns(path: Path) -> pd.Series:
    """`symbol,mu` as a Series of finite floats indexed by symbol."""
    frame = _two_columns(path, "expected returns", ("symbol", "mu"))
    values = _numbers(frame, path, "expected returns")
    return pd.Series(values[:, 0], index=list(frame.index), name="mu")


def _psd_part(
    matrix: NDArray[np.float64], path: Path | str, what: str, labels: Sequence[str]
) -> NDArray[np.float64]:
    """The matrix symmetrised, checked symmetric and PSD (relative tolerances)."""
    size = matrix.shape[0]
    largest = float(np.abs(matrix).max(initial=0.0))
    asymmetry = float(np.abs(matrix - matrix.T).max(initial=0.0))
    if asymmetry > SYMMETRY_TOLERANCE * max(largest, 1e-300):
        i, j = (
            int(k) for k in np.unravel_index(np.argmax(np.abs(matrix - matrix.T)), matrix.shape)
        )
        raise DataError(
            f"{path}: the {what} is not symmetric (entry [{labels[i]},{labels[j]}] differs "
            f"from [{labels[j]},{labels[i]}] by {asymmetry:.3g}); write the same value on both "
            "sides"
        )
    symmetric = 0.5 * (matrix + matrix.T)
    if size and np.any(np.diagonal(symmetric) < 0):
        worst = int(np.argmin(np.diagonal(symmetric)))
        raise DataError(
            f"{path}: the {what} gives {labels[worst]} a negative variance "
            f"({symmetric[worst, worst]:.3g}) on its diagonal; a variance is >= 0: correct "
            f"the cell [{labels[worst]},{labels[worst]}]"
        )
    eigenvalues = np.linalg.eigvalsh(symmetric) if size else np.zeros(0)
    top = float(np.abs(eigenvalues).max(initial=0.0))
    if size and eigenvalues[0] < -PSD_TOLERANCE * max(top, 1e-300):
        raise DataError(
            f"{path}: the {what} is not positive semidefinite (smallest eigenvalue "
            f"{eigenvalues[0]:.3g}, largest {top:.3g}); repair it (e.g. clip negative "
            "eigenvalues or shrink towards its diagonal)"
        )
    return symmetric


def _square(path: Path, what: str) -> tuple[list[str], NDArray[np.float64]]:
    return checked_square(_read_frame(path, what, index=True), path, what)


def checked_square(
    frame: pd.DataFrame, path: Path | str, what: str
) -> tuple[list[str], NDArray[np.float64]]:
    """The labels and the symmetrised matrix of a labelled square `frame` (a file's, or a
    `DataFrame` given to the Python API), with every check of a covariance file."""
    frame = frame.copy()
    frame.index = [str(i).strip() for i in frame.index]
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError(f"{path}: the {what} has no rows")
    rows = list(frame.index)
    columns = list(frame.columns)
    _unique(rows, path, "row labels")
    _unique(columns, path, "column labels")
    if len(rows) != len(columns):
        raise DataError(
            f"{path}: the {what} must be square with labels on both sides, got {len(rows)} "
            f"rows and {len(columns)} columns"
        )
    if rows != columns:
        if set(rows) != set(columns):
            extra = sorted(set(rows) ^ set(columns))[:3]
            raise DataError(
                f"{path}: the {what}'s row and column labels differ ({', '.join(extra)}); "
                "label both sides with the same names"
            )
        frame = frame.loc[:, rows]
    return rows, _psd_part(_numbers(frame, path, what), path, what, rows)


def read_covariance(path: Path) -> RiskModel:
    """A labelled, symmetric, PSD covariance matrix as a `RiskModel` (eigen factor form)."""
    return _eigen_form(*_square(path, "covariance matrix"))


def covariance_frame(frame: pd.DataFrame, name: str = "covariance") -> RiskModel:
    """`read_covariance` of a `DataFrame` (symbols on both axes), with the same checks
    and messages (`name`: how the messages call it, e.g. the keyword it was passed as)."""
    return _eigen_form(*checked_square(frame, name, "covariance matrix"))


def _eigen_form(symbols: list[str], matrix: NDArray[np.float64]) -> RiskModel:
    eigenvalues, vectors = np.linalg.eigh(matrix)
    keep = eigenvalues > 1e-14 * max(float(np.abs(eigenvalues).max(initial=0.0)), 1e-300)
    loadings = np.sqrt(eigenvalues[keep])[:, None] * vectors[:, keep].T
    return RiskModel(tuple(symbols), loadings, np.zeros(len(symbols)))


def read_factor_model(loadings_path: Path, covariance_path: Path, specific_path: Path) -> RiskModel:
    """Σ = B F B^T + diag(s) from the three files, as a `RiskModel` in factor form."""
    loadings = _read_frame(loadings_path, "factor loadings", index=True)
    symbols = list(loadings.index)
    _unique(symbols, loadings_path, "symbol column")
    factors = list(loadings.columns)
    _unique(factors, loadings_path, "factor header")
    exposures = _numbers(loadings, loadings_path, "factor loadings")
    names, factor_covariance = _square(covariance_path, "factor covariance")
    if set(names) != set(factors):
        missing = sorted(set(factors) ^ set(names))[:3]
        raise DataError(
            f"{covariance_path}: its factors differ from the loadings' header in "
            f"{loadings_path} ({', '.join(missing)}); use the same factor names"
        )
    order = [names.index(f) for f in factors]
    factor_covariance = factor_covariance[np.ix_(order, order)]
    specific_frame = _two_columns(specific_path, "specific variance", ("symbol", "variance"))
    specific = _numbers(specific_frame, specific_path, "specific variances")[:, 0]
    if np.any(specific < 0):
        bad = specific_frame.index[int(np.argmin(specific))]
        raise DataError(f"{specific_path}: the specific variance of {bad} is negative")
    by_symbol = dict(zip(specific_frame.index, specific, strict=True))
    missing = [s for s in symbols if s not in by_symbol]
    if missing:
        raise DataError(
            f"{specific_path}: no specific variance for {', '.join(missing[:5])} (named in "
            f"{loadings_path}); add a row per name"
        )
    eigenvalues, vectors = np.linalg.eigh(factor_covariance)
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T
    return RiskModel(
        tuple(symbols),
        root @ exposures.T,
        np.array([by_symbol[s] for s in symbols], dtype=np.float64),
    )


def read_bounds(path: Path) -> dict[str, tuple[float, float]]:
    """`symbol,min_weight,max_weight` with 0 <= min_weight <= max_weight <= 1, max > 0."""
    frame = _two_columns(path, "bounds", ("symbol", "min_weight", "max_weight"))
    values = _numbers(frame, path, "bounds")
    bounds: dict[str, tuple[float, float]] = {}
    for symbol, (low, high) in zip(frame.index, values, strict=True):
        if not 0 < high <= 1:
            raise DataError(f"{path}: max_weight of {symbol} must be in (0, 1], got {high:g}")
        if not 0 <= low <= high:
            raise DataError(
                f"{path}: min_weight of {symbol} must be in [0, max_weight={high:g}], got {low:g}"
            )
        bounds[str(symbol)] = (float(low), float(high))
    return bounds


def _extra(
    symbols: Sequence[str], labels: Sequence[str], path: Path | str | None, what: str
) -> None:
    """Warn (`IgnoredInput`, one line) of the labels not among the candidates: a risk
    file covering a wider universe than the candidates is normal, and its extra names are
    left out, but the user is told how many."""
    wanted = set(symbols)
    extra = [label for label in labels if label not in wanted]
    if extra:
        where = f"{path}: " if path is not None else ""
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        warnings.warn(
            IgnoredInput(
                f"{where}{len(extra)} label(s) of the {what} not among the candidates "
                f"ignored ({shown})"
            ),
            stacklevel=3,
        )


def _missing(symbols: Sequence[str], known: set[str], path: Path | str | None, what: str) -> None:
    absent = [s for s in symbols if s not in known]
    if absent:
        where = f"{path}: " if path is not None else ""
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise DataError(
            f"{where}the {what} has no entry for candidate {', '.join(absent[:5])}{more}; "
            "add it or drop it from the candidates"
        )


def aligned_expected_returns(
    returns: pd.Series, symbols: Sequence[str], path: Path | None = None
) -> NDArray[np.float64]:
    """mu in the order of `symbols`; `DataError` naming the candidates it lacks."""
    _missing(symbols, set(returns.index), path, "expected returns")
    _extra(symbols, list(returns.index), path, "expected returns")
    aligned: NDArray[np.float64] = returns.reindex(list(symbols)).to_numpy(dtype=np.float64)
    return aligned


def aligned_risk(
    risk: RiskModel, symbols: Sequence[str], path: Path | str | None = None
) -> RiskModel:
    """`risk` restricted to `symbols` in order; `DataError` naming the candidates it lacks
    (an `IgnoredInput` warning counting the names it has beyond them)."""
    _missing(symbols, set(risk.symbols), path, "risk model")
    _extra(symbols, risk.symbols, path, "risk model")
    return risk.subset(list(symbols))


def checked_bounds(
    bounds: dict[str, tuple[float, float]], symbols: Sequence[str], path: Path | None = None
) -> None:
    """Bounds of names that are not candidates are left out, as a risk file's extra names
    are (an `IgnoredInput` warning counts them): a bounds file may cover a wider universe."""
    _extra(symbols, list(bounds), path, "bounds")


__all__ = [
    "PSD_TOLERANCE",
    "SYMMETRY_TOLERANCE",
    "aligned_expected_returns",
    "aligned_risk",
    "checked_bounds",
    "checked_square",
    "covariance_frame",
    "read_bounds",
    "read_covariance",
    "read_expected_returns",
    "read_factor_model",
]
