"""Daily bars from Yahoo Finance (`yfinance`, the `data` extra), cached as Parquet.

`YahooProvider.fetch(symbols, start, end)` returns a validated `PricePanel` of split- and
dividend-adjusted bars. The download function is injected (`download=`), so tests run a fake
and never touch the network; the default, `yfinance_download`, imports `yfinance` only when
called and raises `MissingExtra` naming `pip install 'tradefolio[data]'` when it is absent.

Caching (`ParquetBarCache`): only the days no cached range covers are downloaded. Two rules
keep the cache truthful:

- days from *today* on are never recorded as covered (today's bar may still change, future
  days have none yet), so they are downloaded again next time;
- adjusted prices are rewritten by Yahoo after each dividend or split. When a download
  extends cached data, it also re-requests the last cached session before the new range and
  compares closes; if they differ (relative 1e-6) the cached bars are on an old adjustment
  basis, so the symbol's cache is dropped and the whole requested range is downloaded again.
  This one-session overlap is the only cached day ever requested twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.data.providers.cache import (
    BAR_COLUMNS,
    DateRange,
    ParquetBarCache,
    empty_bars,
    uncovered,
)
from tradefolio.data.readers import GapPolicy, panel_from_long
from tradefolio.data.validation import Source, check_no_gaps
from tradefolio.errors import (
    DataError,
    InvalidParameter,
    ProviderError,
    TradefolioError,
)
from tradefolio.extras import import_extra

#: download(symbol, start, end) -> bars on sessions in [start, end): a DatetimeIndex and
#: columns open, high, low, close, volume (any case; close required); empty if none.
DownloadFn = Callable[[str, date, date], pd.DataFrame]

#: Relative difference of an overlapping close above which the cache is stale.
ADJUSTMENT_TOLERANCE = 1e-6
PROVIDER_NAME = "yahoo"


def yfinance_download(symbol: str, start: date, end: date) -> pd.DataFrame:
    """Adjusted daily bars of `symbol` on [start, end) from Yahoo Finance via `yfinance`."""
    yfinance = import_extra("yfinance", "data", "Downloading prices from Yahoo Finance")

    ticker = yfinance.Ticker(symbol)
    frame: pd.DataFrame = ticker.history(
        start=start.isoformat(),
        end=end.isoformat(),
        interval="1d",
        auto_adjust=True,
        actions=False,
    )
    return frame


def normalize_bars(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Provider output as cache bars: index `date` (tz-naive midnight, unit ns), lower-case
    `BAR_COLUMNS` (missing ones NaN), rows without a close dropped, sorted, unique."""
    if len(frame) == 0:
        return empty_bars()
    columns = {str(name).strip().lower(): name for name in frame.columns}
    if "close" not in columns:
        raise DataError(
            f"{PROVIDER_NAME}:{symbol}: download has no close column "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)  # the exchange's local date is the session
    bars = pd.DataFrame(
        {
            name: pd.to_numeric(frame[columns[name]], errors="coerce").to_numpy(dtype="float64")
            if name in columns
            else np.nan
            for name in BAR_COLUMNS
        },
        index=pd.DatetimeIndex(index.normalize(), name="date").as_unit("ns"),
    )
    bars = bars[bars["close"].notna().to_numpy()]
    return bars[~bars.index.duplicated(keep="last")].sort_index()


@dataclass(frozen=True, slots=True)
class YahooProvider:
    """Adjusted daily bars, cached under `cache_dir` (None: no cache).

    `download` and `today` are injectable for tests (a fake download, a fixed clock).
    """

    cache_dir: Path | None = None
    download: DownloadFn = yfinance_download
    today: Callable[[], date] = field(default=date.today)

    def fetch(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        on_gap: GapPolicy = "raise",
    ) -> PricePanel:
        """Bars of `symbols` on sessions `start` .. `end` (both inclusive), validated.

        Raises `DataError` when a symbol has no bars in the range, `ProviderError` when the
        download itself fails. `on_gap` is the readers' policy for interior gaps.
        """
        wanted = _check_request(symbols, start, end)
        frames = []
        for symbol in wanted:
            bars = self.bars(symbol, start, end + timedelta(days=1))
            if len(bars) == 0:
                raise DataError(
                    f"{PROVIDER_NAME}:{symbol}: no prices between {start} and {end}; check the "
                    f"symbol and the dates"
                )
            frames.append(bars.dropna(axis=1, how="all").reset_index().assign(symbol=symbol))
        long = pd.concat(frames, ignore_index=True)
        long = long.loc[:, [c for c in ("date", "symbol", *BAR_COLUMNS) if c in long.columns]]
        # a field only some symbols have cannot form a panel; keep what all of them have
        long = long.dropna(axis=1, how="any")
        source = Source(name=f"{PROVIDER_NAME}:{','.join(wanted)}")
        panel = panel_from_long(long, source)
        if on_gap == "raise":
            check_no_gaps(panel.close, source)
        elif on_gap == "fill":
            panel = panel.fill_gaps()
        return panel

    def bars(self, symbol: str, start: date, stop: date) -> pd.DataFrame:
        """Bars of one symbol on [start, stop), from the cache where it covers them."""
        if self.cache_dir is None:
            return self._download(symbol, start, stop)
        cache = ParquetBarCache(self.cache_dir)
        settled = min(stop, self.today())  # days before today no longer change
        fresh: list[pd.DataFrame] = []
        for hole in uncovered((start, stop), cache.ranges(symbol)):
            fetched = self._extend(cache, symbol, hole, settled)
            if fetched is None:  # cache was stale and has been dropped: start over
                return self._refetch(cache, symbol, start, stop, settled)
            fresh.append(fetched)
        bars = pd.concat([cache.load(symbol), *fresh]) if fresh else cache.load(symbol)
        bars = bars[~bars.index.duplicated(keep="last")].sort_index()
        in_range = (bars.index >= pd.Timestamp(start)) & (bars.index < pd.Timestamp(stop))
        return bars[in_range]

    def _extend(
        self, cache: ParquetBarCache, symbol: str, hole: DateRange, settled: date
    ) -> pd.DataFrame | None:
        """Download `hole`, store its settled part; None if the cache proved stale."""
        first, last = hole
        cached = cache.load(symbol)
        before = cached[cached.index < pd.Timestamp(first)]
        anchor = before.index[-1] if len(before) else None
        request_start = anchor.date() if anchor is not None else first
        fetched = self._download(symbol, request_start, last)
        if anchor is not None:
            if anchor in fetched.index and not _same_close(
                float(before["close"].iloc[-1]), float(fetched.loc[anchor, "close"])
            ):
                cache.clear(symbol)
                return None
            fetched = fetched[fetched.index >= pd.Timestamp(first)]
        if first < settled:
            keep = fetched[fetched.index < pd.Timestamp(settled)]
            cache.store(symbol, (first, min(last, settled)), keep)
        return fetched

    def _refetch(
        self, cache: ParquetBarCache, symbol: str, start: date, stop: date, settled: date
    ) -> pd.DataFrame:
        bars = self._download(symbol, start, stop)
        if start < settled:
            cache.store(symbol, (start, settled), bars[bars.index < pd.Timestamp(settled)])
        return bars

    def _download(self, symbol: str, start: date, stop: date) -> pd.DataFrame:
        try:
            raw = self.download(symbol, start, stop)
        except TradefolioError:
            raise
        except Exception as exc:  # network and service errors come in many types
            raise ProviderError(
                f"{PROVIDER_NAME}:{symbol}: download of {start} .. {stop} failed ({exc})"
            ) from exc
        bars = normalize_bars(raw, symbol)
        inside = (bars.index >= pd.Timestamp(start)) & (bars.index < pd.Timestamp(stop))
        return bars[inside]


def _same_close(cached: float, fresh: float) -> bool:
    return abs(cached - fresh) <= ADJUSTMENT_TOLERANCE * max(abs(cached), abs(fresh))


def _check_request(symbols: Sequence[str], start: date, end: date) -> list[str]:
    wanted = [symbol.strip() for symbol in symbols]
    if not wanted or any(not symbol for symbol in wanted):
        raise InvalidParameter("give at least one symbol, none empty")
    duplicates = sorted({s for s in wanted if wanted.count(s) > 1})
    if duplicates:
        raise InvalidParameter(f"symbol {duplicates[0]} is given twice")
    if start > end:
        raise InvalidParameter(f"--start ({start}) must not be after --end ({end})")
    return wanted


def require_pyarrow() -> None:
    """The Parquet cache needs pyarrow (also part of the `data` extra)."""
    import_extra("pyarrow", "data", "The Parquet price cache")


__all__ = [
    "ADJUSTMENT_TOLERANCE",
    "DownloadFn",
    "ProviderError",
    "YahooProvider",
    "normalize_bars",
    "require_pyarrow",
    "yfinance_download",
]
