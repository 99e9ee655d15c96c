"""The price panel: closes plus, for data that has them, open/high/low/volume panels.

Everything downstream (indicators, sizers, the backtest) works on closes in the standard shape
(`DatetimeIndex` named `date`, one float64 column per symbol). Bar-aware code (fills at the
open, stops against the low) asks the panel for a field with `PricePanel.field`, and that
method is **the one place** where tradefolio decides: *when only closes exist, open = high =
low = close*. No other module substitutes closes for bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tradefolio.data.validation import fill_interior_gaps, interior_gap_mask
from tradefolio.errors import DataError

PriceField = Literal["open", "high", "low", "close"]
BAR_FIELDS: tuple[PriceField, ...] = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True)
class PricePanel:
    """Closes and optional open/high/low/volume, all on the same dates and symbols.

    The optional panels are `None` when the source has only closes. Construct with
    `PricePanel(close=...)` or `PricePanel.from_closes(close)`; the constructor checks that
    every panel given has exactly the closes' index and columns.
    """

    close: pd.DataFrame
    open: pd.DataFrame | None = None
    high: pd.DataFrame | None = None
    low: pd.DataFrame | None = None
    volume: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        for name in ("open", "high", "low", "volume"):
            panel = getattr(self, name)
            if panel is None:
                continue
            if not (
                panel.index.equals(self.close.index) and panel.columns.equals(self.close.columns)
            ):
                raise DataError(
                    f"{name} panel does not have the dates and symbols of the close panel"
                )

    @classmethod
    def from_closes(cls, close: pd.DataFrame) -> PricePanel:
        """A close-only panel."""
        return cls(close=close)

    @property
    def symbols(self) -> list[str]:
        """Symbols in column order."""
        return [str(symbol) for symbol in self.close.columns]

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The sessions (index of every panel)."""
        return pd.DatetimeIndex(self.close.index)

    @property
    def has_bars(self) -> bool:
        """True when real open, high and low prices exist (not stand-ins from closes)."""
        return self.open is not None and self.high is not None and self.low is not None

    def field(self, name: PriceField) -> pd.DataFrame:
        """The `name` panel; **where only closes exist, open = high = low = close.**

        A bar with no intraday information is treated as if it traded at its close all
        session: the fill price at the open is the close, and a stop between the "low" and the
        "high" triggers only at the close. This is the single place that substitution happens.
        """
        if name == "close":
            return self.close
        panel: pd.DataFrame | None = getattr(self, name)
        return self.close if panel is None else panel

    def fill_gaps(self) -> PricePanel:
        """Interior gaps forward-filled as sessions that did not trade.

        A filled session has open = high = low = close = the previous close and volume 0;
        leading ("not listed yet") and trailing ("no longer listed") NaNs stay missing.
        """
        mask = interior_gap_mask(self.close)
        if not mask.any():
            return self
        close = fill_interior_gaps(self.close)

        def bars(panel: pd.DataFrame | None) -> pd.DataFrame | None:
            if panel is None:
                return None
            return panel.mask(mask, close)

        volume = None if self.volume is None else self.volume.mask(mask, 0.0)
        return PricePanel(
            close=close,
            open=bars(self.open),
            high=bars(self.high),
            low=bars(self.low),
            volume=volume,
        )

    def select(self, symbols: list[str]) -> PricePanel:
        """The panel restricted to `symbols` (in that order)."""
        missing = [s for s in symbols if s not in self.close.columns]
        if missing:
            raise DataError(f"no prices for {', '.join(missing)}; known: {', '.join(self.symbols)}")

        def pick(panel: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if panel is None else panel.loc[:, symbols]

        return PricePanel(
            close=self.close.loc[:, symbols],
            open=pick(self.open),
            high=pick(self.high),
            low=pick(self.low),
            volume=pick(self.volume),
        )

    def to_long(self) -> pd.DataFrame:
        """Long form: one row per (date, symbol) with a close, sorted by symbol then date.

        Columns `date, symbol`, then whichever of `open, high, low` exist, `close`, and
        `volume` if it exists.
        """
        fields: dict[str, pd.DataFrame] = {
            name: panel
            for name in ("open", "high", "low")
            if (panel := getattr(self, name)) is not None
        }
        fields["close"] = self.close
        if self.volume is not None:
            fields["volume"] = self.volume
        n_dates, n_symbols = self.close.shape
        present = self.close.notna().to_numpy().T.ravel()
        frame = pd.DataFrame(
            {
                "date": np.tile(self.dates.to_numpy(), n_symbols),
                "symbol": np.repeat(np.asarray(self.symbols, dtype=object), n_dates),
                **{name: panel.to_numpy().T.ravel() for name, panel in fields.items()},
            }
        )
        return frame.loc[present].reset_index(drop=True)


__all__ = ["BAR_FIELDS", "PriceField", "PricePanel"]
