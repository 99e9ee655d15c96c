"""`PriceHistory`: the closes a rebalance decision may read, as one float64 array.

A policy backtest decides at hundreds of bars. Each decision reads only the tail of the
closes up to its bar (the score's lookback, the risk window, the last close of a held
name), and reading that tail through pandas (`iloc`, `reindex`, `notna().all()`, a
`Series` per score, `ffill` of the whole history) cost more CPU than the model build. The
engine converts its price panel once (`PriceHistory.of`) and hands every decision a view
of the rows up to its bar (`up_to`): no copy, and its rows end at the bar, so every read
(scores, risk, held prices) stops there. The view keeps the panel's whole `DatetimeIndex`
(`panel_dates`) and slices it only when its `dates` are read: slicing a pandas index at
every decision cost more than the rest of the view. A caller with a `DataFrame` (a live session's
window, a test) converts it the same way.

    closes[t, j]   the close of symbols[j] at dates[t], NaN when missing (oldest first)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.covariance import check_risk_window, window_returns

if TYPE_CHECKING:  # annotations only: the array view needs no pandas
    import pandas as pd


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """Closes (rows = sessions oldest first, columns = `symbols`) up to a decision bar."""

    symbols: tuple[str, ...]
    closes: NDArray[np.float64]
    #: the dates of the whole panel (shared by every view of it): the first `sessions`
    #: are this view's (`dates`).
    panel_dates: pd.DatetimeIndex
    #: symbol -> column (shared by every view of one panel).
    columns: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    #: the calendar day of each of `panel_dates` (shared by every view of one panel):
    #: reading a pandas index at every decision cost more than reading its days once.
    days: Sequence[date] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.columns:
            object.__setattr__(self, "columns", {s: j for j, s in enumerate(self.symbols)})
        if len(self.days) != len(self.panel_dates):
            object.__setattr__(self, "days", tuple(self.panel_dates.date.tolist()))

    @classmethod
    def of(cls, frame: pd.DataFrame) -> PriceHistory:
        """The closes of `frame` (a `DatetimeIndex`, one column per symbol)."""
        import pandas as pd

        return cls(
            tuple(str(c) for c in frame.columns),
            frame.to_numpy(dtype=np.float64, na_value=np.nan),
            pd.DatetimeIndex(frame.index),
        )

    @property
    def sessions(self) -> int:
        """Rows of history."""
        return len(self.closes)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The dates of the rows (oldest first)."""
        return self.panel_dates[: len(self.closes)]

    @property
    def last_day(self) -> date:
        """The calendar day of the last row (`dates[-1].date()`, without slicing the
        index); `IndexError` for a history without rows."""
        if not len(self.closes):
            raise IndexError("a history without rows has no last day")
        return self.days[len(self.closes) - 1]

    def up_to(self, bar: int) -> PriceHistory:
        """The rows up to and including `bar` (a view whose rows end at `bar`)."""
        return PriceHistory(
            self.symbols, self.closes[: bar + 1], self.panel_dates, self.columns, self.days
        )

    def window(self, rows: int, symbols: Sequence[str]) -> NDArray[np.float64]:
        """The last `rows` closes of `symbols`, in that order (NaN for an unknown symbol)."""
        tail = self.closes[max(self.sessions - rows, 0) :]
        known = [self.columns.get(s, -1) for s in symbols]
        if all(j >= 0 for j in known):
            picked: NDArray[np.float64] = tail[:, known]
            return picked
        picked = np.full((len(tail), len(known)), np.nan)
        for k, j in enumerate(known):
            if j >= 0:
                picked[:, k] = tail[:, j]
        return picked

    def complete(self, rows: int) -> set[str]:
        """Symbols with every one of the last `rows` closes present."""
        present = ~np.isnan(self.closes[max(self.sessions - rows, 0) :]).any(axis=0)
        return {self.symbols[j] for j in np.flatnonzero(present)}

    def returns(self, lookback: int, symbols: Sequence[str]) -> NDArray[np.float64]:
        """Simple returns of `symbols` over the last `lookback` sessions: the values of
        `covariance.period_returns` on the same closes (its checks and messages)."""
        check_risk_window(lookback, self.sessions)
        return window_returns(self.window(lookback + 1, symbols), symbols, lookback)

    def returns_frame(self, lookback: int, symbols: Sequence[str]) -> pd.DataFrame:
        """`returns` as `period_returns` gives them: a frame dated by the later close (its
        values, dates and symbols; the axes are not named)."""
        import pandas as pd

        values = self.returns(lookback, symbols)
        return pd.DataFrame(values, index=self.dates[-lookback:], columns=list(symbols))

    def last_closes(self, symbols: Iterable[str]) -> dict[str, float]:
        """Each symbol's latest finite close (a missing last close: the one before it, as
        a forward fill would); a symbol with none, or not in the history, is left out."""
        if self.sessions == 0:
            return {}
        last = self.closes[-1]
        prices: dict[str, float] = {}
        for symbol in symbols:
            j = self.columns.get(symbol)
            if j is None:
                continue
            value = float(last[j])
            if math.isnan(value):
                present = np.flatnonzero(~np.isnan(self.closes[:, j]))
                if not present.size:
                    continue
                value = float(self.closes[present[-1], j])
            if math.isfinite(value):
                prices[symbol] = value
        return prices


__all__ = ["PriceHistory"]
