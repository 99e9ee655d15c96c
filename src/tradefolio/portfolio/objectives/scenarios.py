"""Return scenarios aligned to the universe, shared by cvar, mad and kelly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import DataError

if TYPE_CHECKING:  # annotations only: allocating needs no pandas
    import pandas as pd


def aligned_scenarios(scenarios: pd.DataFrame, symbols: tuple[str, ...]) -> NDArray[np.float64]:
    """T x N matrix of `scenarios` (rows = periods, columns = symbols) in `symbols` order."""
    missing = [s for s in symbols if s not in scenarios.columns]
    if missing:
        raise DataError(f"no return scenarios for {', '.join(missing[:5])}")
    values = scenarios.loc[:, list(symbols)].to_numpy(dtype=np.float64)
    if len(values) == 0:
        raise DataError("no return scenarios: the scenario table has no rows")
    if not np.isfinite(values).all():
        raise DataError("return scenarios contain NaN or infinite values")
    return values


__all__ = ["aligned_scenarios"]
