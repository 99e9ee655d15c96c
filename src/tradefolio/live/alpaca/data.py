"""`AlpacaMarketData`: the `MarketData` protocol over Alpaca's market-data API (extra `alpaca`).

It wraps alpaca-py 0.44's `StockHistoricalDataClient`:

* latest prices — ``GET /v2/stocks/bars/latest`` (the latest minute bar of each symbol);
  the session of a bar is its timestamp's date in New York, the exchange's time zone;
* history — ``GET /v2/stocks/bars?timeframe=1Day`` (paged by the SDK through
  ``next_page_token``), adjusted for splits and dividends by default (``adjustment``), the
  closes a backtest over adjusted prices would have seen.

Closes arrive as JSON numbers that the SDK's models hold as floats; they become the
shortest decimal that round-trips the float (`to_decimal`, the same rule as the replay
feed's), i.e. exactly the number Alpaca sent.

The same client rules as `AlpacaBroker` (all in `client`): the SDK's automatic retries are
off (they sleep 3 s in the trader's thread) and every request has a timeout; transient
failures (no answer, 429, 5xx) are retried ``read_retries`` times with an injectable
``sleep`` and then raise `MarketDataUnavailable`, which the polling feed retries at its next
poll. A 401/403 is a `BrokerError` naming the keys or the data subscription. Keys come from
``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` and are never logged; ``APCA_API_DATA_URL``
overrides the endpoint (a proxy, or the tests' loopback fake).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd

from tradefolio.errors import BrokerError
from tradefolio.live.alpaca.client import (
    DATA_URL_ENV,
    DEFAULT_TIMEOUT_SECONDS,
    KEY_ENV,
    SECRET_ENV,
    ReadFailed,
    ReadPolicy,
    create_data_client,
    load_sdk,
    read_keys,
    redact_url,
    retry_reads,
)
from tradefolio.live.feed import to_decimal
from tradefolio.live.polling_feed import LatestCloses, MarketDataUnavailable, closes_frame

#: Where US equity sessions are dated.
EXCHANGE_TZ = ZoneInfo("America/New_York")
#: Data feeds: "iex" works with every account; "sip" needs a paid subscription.
DATA_FEEDS = ("iex", "sip", "delayed_sip")

_T = TypeVar("_T")


def session_of(timestamp: datetime) -> date:
    """The trading session (New York date) a bar's timestamp belongs to."""
    if timestamp.tzinfo is None:
        raise BrokerError(f"Alpaca sent a bar timestamp without a time zone: {timestamp}")
    return timestamp.astimezone(EXCHANGE_TZ).date()


def _price(value: Any, what: str) -> Decimal | None:
    """A close as an exact decimal; None when it is not a usable price."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BrokerError(f"Alpaca sent a malformed {what}: {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        return None
    return to_decimal(number)


class AlpacaMarketData:
    """Latest prices and daily history from Alpaca (the `MarketData` protocol)."""

    def __init__(
        self,
        client: Any,
        *,
        feed: str = "iex",
        adjustment: str = "all",
        endpoint: str = "alpaca data",
        read_retries: int = 2,
        read_retry_wait: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if feed not in DATA_FEEDS:
            raise BrokerError(f"--data-feed must be one of {', '.join(DATA_FEEDS)}, got {feed!r}")
        self._client = client
        self._sdk = load_sdk("--feed broker")
        # pydantic's ValidationError is a ValueError: any unparsable answer is "unexpected".
        self._reads = ReadPolicy(
            sdk=self._sdk,
            retries=read_retries,
            wait=read_retry_wait,
            sleep=sleep,
            unavailable=MarketDataUnavailable,
            unexpected=(ValueError,),
        )
        self.feed = feed
        self.adjustment = adjustment
        self.endpoint = endpoint

    @classmethod
    def from_env(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        **options: Any,
    ) -> AlpacaMarketData:
        """Keys from ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``; endpoint from
        ``APCA_API_DATA_URL`` when set, else Alpaca's market-data endpoint."""
        env = os.environ if environ is None else environ
        api_key, secret_key = read_keys(env, "--feed broker")
        url = env.get(DATA_URL_ENV) or None
        client = create_data_client(api_key, secret_key, url_override=url, timeout=timeout)
        return cls(client, endpoint=redact_url(url) if url else "alpaca data", **options)

    def __repr__(self) -> str:
        return f"AlpacaMarketData(endpoint={self.endpoint!r}, feed={self.feed!r})"

    # -- MarketData protocol ---------------------------------------------------------------

    def latest_closes(self, symbols: Sequence[str]) -> LatestCloses | None:
        """The latest minute bar of each symbol; the newest session among them, and the
        prices of the symbols whose latest bar is from that session."""
        request = self._sdk.latest_bar_request(
            symbol_or_symbols=list(symbols), feed=self._sdk.data_feed(self.feed)
        )
        bars = self._read("latest bars", lambda: self._client.get_stock_latest_bar(request))
        dated: dict[str, tuple[date, Decimal]] = {}
        for symbol, bar in dict(bars).items():
            price = _price(bar.close, f"{symbol} latest close")
            if price is not None and symbol in symbols:
                dated[str(symbol)] = (session_of(bar.timestamp), price)
        if not dated:
            return None
        session = max(day for day, _ in dated.values())
        prices = {s: dated[s][1] for s in symbols if s in dated and dated[s][0] == session}
        return LatestCloses(session, prices)

    def daily_closes(self, symbols: Sequence[str], before: date, sessions: int) -> pd.DataFrame:
        """Daily closes of the last `sessions` sessions before `before` (see `MarketData`)."""
        # ~252 sessions a year: 1.5 calendar days per session plus two weeks of holidays.
        first = before - timedelta(days=math.ceil(sessions * 1.5) + 14)
        start = datetime.combine(first, datetime.min.time(), EXCHANGE_TZ)
        end = datetime.combine(before, datetime.min.time(), EXCHANGE_TZ) - timedelta(seconds=1)
        request = self._sdk.bars_request(
            symbol_or_symbols=list(symbols),
            timeframe=self._sdk.timeframe_day,
            start=start,
            end=end,
            adjustment=self._sdk.adjustment(self.adjustment),
            feed=self._sdk.data_feed(self.feed),
        )
        barset = self._read("daily bars", lambda: self._client.get_stock_bars(request))
        rows: dict[str, dict[date, float]] = {}
        for symbol, bars in dict(barset.data).items():
            per_symbol = rows.setdefault(str(symbol), {})
            for bar in bars:
                price = _price(bar.close, f"{symbol} daily close")
                if price is not None:
                    per_symbol[session_of(bar.timestamp)] = float(bar.close)
        return closes_frame(rows, symbols, before, sessions)

    # -- requests --------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], _T]) -> _T:
        """An idempotent request, retried on transient failures; then
        `MarketDataUnavailable` (the polling feed asks again at its next poll). A definitive
        refusal is a `BrokerError`: 401/403 names the keys and the data subscription."""
        try:
            return retry_reads(what, call, self._reads)
        except ReadFailed as exc:
            failure = exc.failure
            if failure.status in (401, 403):
                raise BrokerError(
                    f"Alpaca refused the {what} request ({failure.describe()}); check "
                    f"{KEY_ENV}/{SECRET_ENV} and that the account may read the "
                    f"{self.feed!r} data feed (--data-feed)"
                ) from exc
            raise BrokerError(f"Alpaca {what} at {self.endpoint}: {failure.describe()}") from exc


__all__ = ["DATA_FEEDS", "EXCHANGE_TZ", "AlpacaMarketData", "session_of"]
