"""The Alpaca client rules shared by the trading and the market-data adapters (extra `alpaca`).

This module is the only place that:

* **imports alpaca-py** (lazily, in `load_sdk`): a missing SDK raises `MissingExtra` naming
  ``pip install 'tradefolio[alpaca]'``;
* **reads the keys** (``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``, `read_keys`); they live
  only inside the SDK clients: no message or ``repr`` of this package contains them;
* **checks endpoints** (`check_url`: https except to this machine, no credentials, query or
  fragment in the URL; `redact_url`: what may be printed or stored) and **the account
  choice** (`check_account_choice`: the paper or live account is chosen by the explicit flag
  alone; an ``APCA_API_BASE_URL`` naming the other account's Alpaca host is refused);
* **builds the SDK clients** (`create_trading_client`, `create_data_client`) with the SDK's
  automatic retries off (`disable_sdk_retries`: alpaca-py 0.44 retries *every* method,
  ``POST /v2/orders`` included, on 429/504) and a request timeout (`install_timeout`: the
  SDK sends requests with none, so a dead connection would hang the trader forever);
* **classifies failures** (`classify` → `Failure`: HTTP status, Alpaca's error code and
  whether the body was Alpaca's JSON error; transient = no answer, 429 or 5xx);
* **retries reads** (`retry_reads`, the one retry loop): idempotent requests are retried on
  transient failures with an injectable ``sleep``; a definitive HTTP error is `ReadFailed`
  for the caller to interpret. Submits are never retried here (see `execution`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from tradefolio.errors import AccountMismatch, BrokerError, InvalidParameter
from tradefolio.extras import import_extra

KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"
#: Optional trading endpoint override (a proxy, or the loopback fake server of the tests).
URL_ENV = "APCA_API_BASE_URL"
#: Optional market-data endpoint override (Alpaca's is https://data.alpaca.markets).
DATA_URL_ENV = "APCA_API_DATA_URL"
#: The alpaca-py version whose private internals (`_retry`, `_session`) this module sets.
TESTED_SDK_VERSION = "0.44.0"
DEFAULT_TIMEOUT_SECONDS = 10.0

#: Alpaca's trading endpoints: the account an endpoint reaches is fixed by its host.
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

_T = TypeVar("_T")


# -- the SDK ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sdk:
    """The alpaca-py, requests and pydantic names the adapters need, imported lazily."""

    api_error: type[Exception]
    request_error: type[Exception]
    validation_error: type[Exception]
    # trading
    trading_client: Any
    market_order_request: Any
    limit_order_request: Any
    stop_order_request: Any
    stop_limit_order_request: Any
    trailing_stop_order_request: Any
    take_profit_request: Any
    stop_loss_request: Any
    replace_order_request: Any
    order_class: Any
    get_orders_request: Any
    order_side: Any
    time_in_force: Any
    query_order_status: Any
    sort: Any
    # market data
    data_client: Any
    bars_request: Any
    latest_bar_request: Any
    timeframe_day: Any
    data_feed: Any
    adjustment: Any


def load_sdk(purpose: str) -> Sdk:
    """alpaca-py's names; `MissingExtra` naming the install (and `purpose`, the flag that
    needs it) when the SDK is not installed."""
    exceptions = import_extra("alpaca.common.exceptions", "alpaca", purpose)
    common_enums = import_extra("alpaca.common.enums", "alpaca", purpose)
    trading_enums = import_extra("alpaca.trading.enums", "alpaca", purpose)
    trading_requests = import_extra("alpaca.trading.requests", "alpaca", purpose)
    trading_client = import_extra("alpaca.trading.client", "alpaca", purpose)
    historical = import_extra("alpaca.data.historical", "alpaca", purpose)
    data_requests = import_extra("alpaca.data.requests", "alpaca", purpose)
    timeframe = import_extra("alpaca.data.timeframe", "alpaca", purpose)
    data_enums = import_extra("alpaca.data.enums", "alpaca", purpose)
    http = importlib.import_module("requests")
    pydantic = importlib.import_module("pydantic")
    return Sdk(
        api_error=exceptions.APIError,
        request_error=http.RequestException,
        validation_error=pydantic.ValidationError,
        trading_client=trading_client.TradingClient,
        market_order_request=trading_requests.MarketOrderRequest,
        limit_order_request=trading_requests.LimitOrderRequest,
        stop_order_request=trading_requests.StopOrderRequest,
        stop_limit_order_request=trading_requests.StopLimitOrderRequest,
        trailing_stop_order_request=trading_requests.TrailingStopOrderRequest,
        take_profit_request=trading_requests.TakeProfitRequest,
        stop_loss_request=trading_requests.StopLossRequest,
        replace_order_request=trading_requests.ReplaceOrderRequest,
        order_class=trading_enums.OrderClass,
        get_orders_request=trading_requests.GetOrdersRequest,
        order_side=trading_enums.OrderSide,
        time_in_force=trading_enums.TimeInForce,
        query_order_status=trading_enums.QueryOrderStatus,
        sort=common_enums.Sort,
        data_client=historical.StockHistoricalDataClient,
        bars_request=data_requests.StockBarsRequest,
        latest_bar_request=data_requests.StockLatestBarRequest,
        timeframe_day=timeframe.TimeFrame.Day,
        data_feed=data_enums.DataFeed,
        adjustment=data_enums.Adjustment,
    )


def _sdk_version() -> str:
    try:
        return importlib.metadata.version("alpaca-py")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def disable_sdk_retries(client: Any) -> None:
    # Pinned to alpaca-py 0.44.0 (extra `alpaca`): `RESTClient.__init__` sets `_retry = 3`
    # and `_request` retries any method on 429/504 while `_retry` > 0, resending
    # POST /v2/orders. `TradingClient` does not expose `retry_attempts`, and the base class
    # ignores a value of 0 there anyway, so the attribute is set directly. Checked rather
    # than assumed: if a future SDK renames it, constructing the broker fails loudly instead
    # of silently resending orders.
    if not isinstance(getattr(client, "_retry", None), int):
        raise BrokerError(
            f"alpaca-py {_sdk_version()} has no RESTClient._retry; tradefolio's Alpaca adapter "
            f"is tested with alpaca-py=={TESTED_SDK_VERSION}: pip install 'tradefolio[alpaca]'"
        )
    client._retry = 0


def install_timeout(client: Any, timeout: float) -> None:
    # Same pin: alpaca-py 0.44.0 calls `self._session.request(method, url, **opts)` without
    # a timeout, so a half-open connection would block the trader forever.
    session = getattr(client, "_session", None)
    if session is None or not callable(getattr(session, "request", None)):
        raise BrokerError(
            f"alpaca-py {_sdk_version()} has no RESTClient._session; tradefolio's Alpaca "
            f"adapter is tested with alpaca-py=={TESTED_SDK_VERSION}"
        )
    original = session.request

    def request_with_timeout(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return original(method, url, **kwargs)

    session.request = request_with_timeout


# -- keys and endpoints ----------------------------------------------------------------------


def read_keys(environ: Mapping[str, str] | None, purpose: str) -> tuple[str, str]:
    """The key id and secret from ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` (of `environ`,
    default the process environment); `BrokerError` naming the missing ones and `purpose`
    (the flag that needs them)."""
    env = os.environ if environ is None else environ
    missing = [name for name in (KEY_ENV, SECRET_ENV) if not env.get(name)]
    if missing:
        raise BrokerError(f"{purpose} needs the environment variables {', '.join(missing)}")
    return env[KEY_ENV], env[SECRET_ENV]


def redact_url(url: str) -> str:
    """`url` as scheme, host and port only — no credentials, path (a proxy's token may
    live there), query or fragment: what may be printed or stored. An IPv6 host is shown
    in brackets."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname or "?"
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}{port}"


def check_url(url: str, env_name: str = URL_ENV) -> None:
    """Keys travel in headers: refuse plain http except to this machine, and a URL carrying
    credentials (``user:password@``), which would be printed and stored with it."""
    try:
        parsed = urlparse(url)
        hostname, username, password = parsed.hostname, parsed.username, parsed.password
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidParameter(f"{env_name} is not a valid URL ({exc})") from exc
    if username is not None or password is not None:
        raise InvalidParameter(
            f"{env_name} must not contain credentials (user:password@host); the keys go in "
            f"{KEY_ENV} and {SECRET_ENV}"
        )
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        raise InvalidParameter(
            f"{env_name} must not contain a query or fragment (?... or #...; it would be "
            f"sent, printed and stored); pass only the endpoint, e.g. {redact_url(url)}"
        )
    if parsed.scheme not in ("http", "https") or not hostname:
        raise BrokerError(f"{env_name} must be an http(s) URL, got {redact_url(url)!r}")
    if parsed.scheme == "http" and hostname not in _LOOPBACK:
        raise BrokerError(f"{env_name} must use https (API keys are sent with every request)")


def normalise_host(host: str) -> str:
    """`host` as DNS resolves it: IDNA-encoded (which also maps the ideographic and
    full-width dots to "."), lower case, without the trailing root dots — so
    ``API.alpaca.markets.`` is compared as ``api.alpaca.markets``."""
    host = host.strip()
    with suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return host.lower().rstrip(".")


def check_account_choice(url: str | None, paper: bool) -> None:
    """The account is chosen by the explicit flag alone: an endpoint override naming the
    other account's Alpaca host is refused, naming both (older tools set
    ``APCA_API_BASE_URL`` to select live trading)."""
    if url is None:
        return
    host = normalise_host(urlparse(url).hostname or "")
    flag = "--paper-account" if paper else "--live-account"
    other = LIVE_HOST if paper else PAPER_HOST
    if host == other:
        kind = "live (real-money)" if paper else "paper"
        fix = "--live-account" if paper else "--paper-account"
        raise AccountMismatch(
            f"{URL_ENV}={redact_url(url)} is Alpaca's {kind} endpoint but {flag} was "
            f"chosen; unset {URL_ENV} or pass {fix}"
        )


# -- the SDK clients -------------------------------------------------------------------------


def _check_endpoint(timeout: float, url_override: str | None, env_name: str) -> None:
    if timeout <= 0:
        raise BrokerError(f"the Alpaca request timeout must be > 0 seconds, got {timeout}")
    if url_override is not None:
        check_url(url_override, env_name)


def _hardened(client: Any, timeout: float) -> Any:
    disable_sdk_retries(client)
    install_timeout(client, timeout)
    return client


def create_trading_client(
    api_key: str,
    secret_key: str,
    *,
    paper: bool = True,
    url_override: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Any:
    """An alpaca-py `TradingClient` with its automatic retries off and a request timeout."""
    _check_endpoint(timeout, url_override, URL_ENV)
    sdk = load_sdk("--broker alpaca")
    client = sdk.trading_client(
        api_key=api_key, secret_key=secret_key, paper=paper, url_override=url_override
    )
    return _hardened(client, timeout)


def create_data_client(
    api_key: str,
    secret_key: str,
    *,
    url_override: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Any:
    """An alpaca-py `StockHistoricalDataClient` with its retries off and a request timeout."""
    _check_endpoint(timeout, url_override, DATA_URL_ENV)
    sdk = load_sdk("--feed broker")
    client = sdk.data_client(api_key=api_key, secret_key=secret_key, url_override=url_override)
    return _hardened(client, timeout)


# -- failures and the retry loop -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """An SDK exception, classified."""

    status: int | None  # HTTP status; None when no response was observed
    code: int | None  # Alpaca's error code from a JSON body
    message: str
    alpaca_body: bool  # the body was Alpaca's JSON error shape

    @property
    def transient(self) -> bool:
        """No definitive answer: the request may or may not have been acted upon."""
        return self.status is None or self.status == 429 or self.status >= 500

    @property
    def duplicate_client_id(self) -> bool:
        """Alpaca's ``422 {"code": 40010001, "message": "client_order_id must be unique"}``
        (40010001 is its generic validation code, so the message is checked too)."""
        text = self.message.lower()
        return (
            self.status == 422
            and self.code == 40010001
            and "client_order_id" in text
            and "unique" in text
        )

    def describe(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" code {self.code}" if self.code is not None else ""
        return f"{where}{code}: {self.message[:200]}"


def classify(exc: Exception, sdk: Sdk) -> Failure | None:
    """An SDK/transport exception as a `Failure`; None if it is not one of theirs."""
    if isinstance(exc, sdk.api_error):
        status = getattr(exc, "status_code", None)
        text = str(exc)
        code: int | None = None
        message = text
        alpaca_body = False
        try:
            code = int(exc.code)  # type: ignore[attr-defined]
            message = str(exc.message)  # type: ignore[attr-defined]
            alpaca_body = True
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # not Alpaca's JSON (an HTML gateway page, an empty body)
        return Failure(status, code, message, alpaca_body)
    if isinstance(exc, sdk.request_error):
        return Failure(None, None, f"{type(exc).__name__}: {exc}", False)
    return None


class ReadFailed(Exception):
    """A definitive (non-transient) HTTP error of a read, for the caller to interpret."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """How an adapter retries its idempotent requests.

    `unavailable` is the error raised once the retries are spent (the caller asks again
    later); an exception of `unexpected` types (an answer the SDK could not parse) becomes a
    `BrokerError`; anything else not of the SDK propagates unchanged.
    """

    sdk: Sdk
    retries: int
    wait: float
    sleep: Callable[[float], None]
    unavailable: Callable[[str], BrokerError]
    unexpected: tuple[type[Exception], ...]

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise BrokerError(f"read_retries must be >= 0, got {self.retries}")


def retry_reads(what: str, call: Callable[[], _T], policy: ReadPolicy) -> _T:
    """Run an idempotent request; retry transient failures `policy.retries` times, waiting
    ``wait × attempt`` between them; then raise `policy.unavailable`. A definitive HTTP
    error raises `ReadFailed` at once."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            failure = classify(exc, policy.sdk)
            if failure is None:
                if isinstance(exc, policy.unexpected):
                    raise BrokerError(f"Alpaca {what}: unexpected answer: {exc}") from exc
                raise
            if not failure.transient:
                raise ReadFailed(failure) from exc
            if attempt >= policy.retries:
                raise policy.unavailable(
                    f"Alpaca {what}: {failure.describe()} (after {attempt + 1} attempts)"
                ) from exc
        attempt += 1
        policy.sleep(policy.wait * attempt)


__all__ = [
    "DATA_URL_ENV",
    "DEFAULT_TIMEOUT_SECONDS",
    "KEY_ENV",
    "SECRET_ENV",
    "TESTED_SDK_VERSION",
    "URL_ENV",
    "AccountMismatch",
    "Failure",
    "ReadFailed",
    "ReadPolicy",
    "Sdk",
    "check_account_choice",
    "check_url",
    "classify",
    "create_data_client",
    "create_trading_client",
    "disable_sdk_retries",
    "install_timeout",
    "load_sdk",
    "normalise_host",
    "read_keys",
    "redact_url",
    "retry_reads",
]
