"""`RunRecord`: everything one backtest or live session produced, in analytics form.

A run folder on disk (`run_folder.py`) is this record written out; the tearsheet and the
metrics are computed from it alone, so a folder re-read from disk reports the same numbers
bit for bit as the run that wrote it.

Shapes (dates are a tz-naive `DatetimeIndex` named `date`, one row per session):

- `equity`: columns `equity`, `cash`, `invested` (cash + invested = equity, marked at each
  close), float64.
- `benchmark`: the benchmark's level on the same dates (NaN where it has no price), or None.
- `fills`: one row per executed order, in execution order: `date`, `symbol`, `side`
  (`buy`|`sell`), `quantity`, `price` (the fill price, slippage included), `commission`,
  `slippage` (currency paid through the fill price; 0 when unknown).
- `positions`: long form, one row per (date, held symbol): `date`, `symbol`, `quantity`,
  `price` (the close it is marked at), `market_value`.
- `target_weights`: wide, one row per rebalance decision (`date` index, a column per
  symbol, weights of equity); zero rows for strategies that do not rebalance.
- `rebalances`: the allocation policy's solves, one row per rebalance (columns in
  `reporting.rebalances`), or None when the run had no allocation model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from tradefolio.errors import DataError

RunKind = Literal["backtest", "live"]

EQUITY_COLUMNS = ("equity", "cash", "invested")
FILL_COLUMNS = ("date", "symbol", "side", "quantity", "price", "commission", "slippage")
POSITION_COLUMNS = ("date", "symbol", "quantity", "price", "market_value")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run's config, curves, fills, positions and target weights (see module docstring)."""

    name: str
    kind: RunKind
    config: Mapping[str, Any]
    equity: pd.DataFrame
    benchmark: pd.Series | None
    fills: pd.DataFrame
    positions: pd.DataFrame
    target_weights: pd.DataFrame
    rebalances: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        index = self.equity.index
        if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
            raise DataError("a run's equity needs a DatetimeIndex of at least 2 sessions")
        if not index.is_monotonic_increasing or not index.is_unique:
            raise DataError("a run's equity dates must be sorted and unique")
        missing = [c for c in EQUITY_COLUMNS if c not in self.equity.columns]
        if missing:
            raise DataError(f"a run's equity frame lacks columns {missing}")
        if self.benchmark is not None and not self.benchmark.index.equals(index):
            raise DataError("the benchmark must be indexed by the equity's dates (reindex it)")
        for frame, columns, what in (
            (self.fills, FILL_COLUMNS, "fills"),
            (self.positions, POSITION_COLUMNS, "positions"),
        ):
            absent = [c for c in columns if c not in frame.columns]
            if absent:
                raise DataError(f"a run's {what} lack columns {absent}")

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The sessions of the run."""
        return pd.DatetimeIndex(self.equity.index)


def empty_fills() -> pd.DataFrame:
    """A fills frame with no rows and the right columns and dtypes."""
    return pd.DataFrame(
        {
            "date": pd.Series(dtype="datetime64[ns]"),
            "symbol": pd.Series(dtype=object),
            "side": pd.Series(dtype=object),
            "quantity": pd.Series(dtype="int64"),
            "price": pd.Series(dtype="float64"),
            "commission": pd.Series(dtype="float64"),
            "slippage": pd.Series(dtype="float64"),
        }
    )


__all__ = [
    "EQUITY_COLUMNS",
    "FILL_COLUMNS",
    "POSITION_COLUMNS",
    "RunKind",
    "RunRecord",
    "empty_fills",
]
