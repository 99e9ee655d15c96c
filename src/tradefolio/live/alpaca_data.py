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

The same client rules as `AlpacaBroker`: the SDK's automatic retries are off (they sleep
3 s in the trader's thread) and every request has a timeout; transient failures (no
answer, 429, 5xx) are retried ``read_retries`` times with an injectable ``sleep`` and then
raise `MarketDataUnavailable`, which the polling feed retries at its next poll. A 401/403
is a `BrokerError` naming the keys or the data subscription. Keys come from
``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` and are never logged; ``APCA_API_DATA_URL``
overrides the endpoint (a proxy, or the tests' loopback fake).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd

from tradefolio.errors import BrokerError
from tradefolio.extras import import_extra
from tradefolio.live.alpaca import (
    DEFAULT_TIMEOUT_SECONDS,
    KEY_ENV,
    SECRET_ENV,
    check_url,
    disable_sdk_retries,
    install_timeout,
    redact_url,
)
from tradefolio.live.feed import to_decimal
from tradefolio.live.polling_feed import LatestCloses, MarketDataUnavailable, closes_frame

#: Optional market-data endpoint override (Alpaca's is https://data.alpaca.markets).
DATA_URL_ENV = "APCA_API_DATA_URL"
#: Where US equity sessions are dated.
EXCHANGE_TZ = ZoneInfo("America/New_York")
#: Data feeds: "iex" works with every account; "sip" needs a paid subscription.
DATA_FEEDS = ("iex", "sip", "delayed_sip")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _DataSdk:
    api_error: type[Exception]
    request_error: type[Exception]
    validation_error: type[Exception]
    client: Any
    bars_request: Any
    latest_bar_request: Any
    timeframe_day: Any
    data_feed: Any
    adjustment: Any


def _sdk() -> _DataSdk:
    exceptions = import_extra("alpaca.common.exceptions", "alpaca", "--feed broker")
    historical = import_extra("alpaca.data.historical", "alpaca", "--feed broker")
    requests_module = import_extra("alpaca.data.requests", "alpaca", "--feed broker")
    timeframe = import_extra("alpaca.data.timeframe", "alpaca", "--feed broker")
    enums = import_extra("alpaca.data.enums", "alpaca", "--feed broker")
    http = importlib.import_module("requests")
    pydantic = importlib.import_module("pydantic")
    return _DataSdk(
        api_error=exceptions.APIError,
        request_error=http.RequestException,
        validation_error=pydantic.ValidationError,
        client=historical.StockHistoricalDataClient,
        bars_request=requests_module.StockBarsRequest,
        latest_bar_request=requests_module.StockLatestBarRequest,
        timeframe_day=timeframe.TimeFrame.Day,
        data_feed=enums.DataFeed,
        adjustment=enums.Adjustment,
    )


def create_data_client(
    api_key: str,
    secret_key: str,
    *,
    url_override: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Any:
    """An alpaca-py `StockHistoricalDataClient` with its retries off and a request timeout."""
    if timeout <= 0:
        raise BrokerError(f"the Alpaca request timeout must be > 0 seconds, got {timeout}")
    if url_override is not None:
        check_url(url_override, DATA_URL_ENV)
    sdk = _sdk()
    client = sdk.client(api_key=api_key, secret_key=secret_key, url_override=url_override)
    disable_sdk_retries(client)
    install_timeout(client, timeout)
    return client


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
        if read_retries < 0:
            raise BrokerError(f"read_retries must be >= 0, got {read_retries}")
        self._client = client
        self._sdk = _sdk()
        self.feed = feed
        self.adjustment = adjustment
        self.endpoint = endpoint
        self.read_retries = read_retries
        self.read_retry_wait = read_retry_wait
        self._sleep = sleep

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
        missing = [name for name in (KEY_ENV, SECRET_ENV) if not env.get(name)]
        if missing:
            raise BrokerError(f"--feed broker needs the environment variables {', '.join(missing)}")
        url = env.get(DATA_URL_ENV) or None
        client = create_data_client(
            env[KEY_ENV], env[SECRET_ENV], url_override=url, timeout=timeout
        )
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
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                status: int | None
                if isinstance(exc, self._sdk.api_error):
                    status = getattr(exc, "status_code", None)
                elif isinstance(exc, self._sdk.request_error):
                    status = None
                elif isinstance(exc, self._sdk.validation_error | ValueError):
                    raise BrokerError(f"Alpaca {what}: unexpected answer: {exc}") from exc
                else:
                    raise
                detail = f"HTTP {status}" if status is not None else type(exc).__name__
                if status in (401, 403):
                    raise BrokerError(
                        f"Alpaca refused the {what} request ({detail}: {str(exc)[:200]}); check "
                        f"{KEY_ENV}/{SECRET_ENV} and that the account may read the "
                        f"{self.feed!r} data feed (--data-feed)"
                    ) from exc
                if status is not None and status < 500 and status != 429:
                    raise BrokerError(
                        f"Alpaca {what} at {self.endpoint}: {detail}: {str(exc)[:200]}"
                    ) from exc
                if attempt >= self.read_retries:
                    raise MarketDataUnavailable(
                        f"Alpaca {what}: {detail} (after {attempt + 1} attempts)"
                    ) from exc
            attempt += 1
            self._sleep(self.read_retry_wait * attempt)


__all__ = [
    "DATA_FEEDS",
    "DATA_URL_ENV",
    "AlpacaMarketData",
    "create_data_client",
    "session_of",
]
