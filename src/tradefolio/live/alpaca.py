"""`AlpacaBroker`: the `Broker` protocol over Alpaca's trading REST API (extra `alpaca`).

The adapter wraps alpaca-py's `TradingClient` and owns the exactly-once rules for it:

* **One POST per submit.** alpaca-py 0.44's `RESTClient._request` retries *every* method,
  ``POST /v2/orders`` included, on HTTP 429 and 504 (3 times, 3 s apart), and
  `TradingClient` offers no way to turn that off. The client's retry count is set to 0
  (`disable_sdk_retries`). A submit whose answer is lost — timeout, connection error,
  429, any 5xx, an unparsable 200 — raises `SubmitOutcomeUnknown`; the trader resolves it
  by looking the order up by its client order id, never by resending.
* **A request timeout.** The SDK sends requests with none (a dead connection would hang the
  trader forever), so the session's ``request`` is wrapped to pass ``timeout=``.
* **Duplicates are answers.** ``422 {"code": 40010001, "message": "client_order_id must be
  unique"}`` means the order is already there (typically the first attempt of a submit
  whose answer was lost): it is looked up with ``GET /v2/orders:by_client_order_id`` and
  returned. 40010001 is Alpaca's generic validation code, so the message is checked too.
* **Definitive refusals** (400/403/other 422: bad quantity, insufficient buying power, ...)
  raise `OrderRejected`; nothing was placed.
* **Reads may retry** (they are idempotent): `read_retries` times on 429/5xx/timeouts,
  then `SubmitOutcomeUnknown` ("not observed"), which the trader treats as "ask again
  later". ``404`` on a client-id lookup is "never seen" only when the body is Alpaca's JSON
  error; a bare 404 (a proxy, a wrong URL) is a `BrokerError`, never "not there".

Money is exact: Alpaca sends quantities and prices as decimal strings, which become
`Decimal` without passing through float. Execution reports are cumulative (``filled_qty``,
``filled_avg_price``), like `PaperBroker`'s, and `fills_since` is built from order state the
same way. Alpaca charges no commission on equities, so ``commission`` is 0; regulatory fees
on sells are account activities, not order fields, and show up only in cash.

Keys come from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` and live only inside the SDK
client: no message, ``repr`` or journal row of this module contains them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, NoReturn, Protocol, TypeVar
from urllib.parse import urlparse

from tradefolio.errors import AccountMismatch, BrokerError, InvalidParameter
from tradefolio.extras import import_extra
from tradefolio.live.broker import (
    BrokerAccount,
    BrokerPosition,
    DuplicateClientOrderId,
    OrderRejected,
    SubmitOutcomeUnknown,
    SubmitRefused,
)
from tradefolio.live.orders import BrokerOrder, OrderRequest, OrderStatus, Side

KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"
#: Optional endpoint override (a proxy, or the loopback fake server of the tests).
URL_ENV = "APCA_API_BASE_URL"
#: The alpaca-py version whose private internals (`_retry`, `_session`) this module sets.
TESTED_SDK_VERSION = "0.44.0"
DEFAULT_TIMEOUT_SECONDS = 10.0
#: Orders are DAY orders: none can receive a fill more than a few sessions after it was
#: submitted, so `fills_since` looks back this far by submission time.
FILL_LOOKBACK = timedelta(days=7)
#: How long after a submit was first looked up in vain Alpaca may still act on it (a POST
#: whose answer timed out can be processed late): before this, an empty lookup is not proof
#: that the order is absent (`AlpacaBroker.confirm_absent`).
ACCEPTANCE_WINDOW = timedelta(minutes=5)
#: Slack on our clock against Alpaca's when listing orders submitted after a plan's time.
CLOCK_SLACK = timedelta(minutes=1)
#: Alpaca's maximum page size for ``GET /v2/orders``.
PAGE_LIMIT = 500

_T = TypeVar("_T")


class TradingApi(Protocol):
    """The part of alpaca-py's `TradingClient` the adapter uses (typed loosely: the SDK is
    untyped for mypy)."""

    def submit_order(self, order_data: Any) -> Any: ...
    def get_order_by_client_id(self, client_id: str) -> Any: ...
    def get_orders(self, filter: Any = None) -> Any: ...
    def cancel_order_by_id(self, order_id: Any) -> Any: ...
    def get_all_positions(self) -> Any: ...
    def get_account(self) -> Any: ...
    def get_clock(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Sdk:
    """The alpaca-py, requests and pydantic names the adapter needs, imported lazily."""

    api_error: type[Exception]
    request_error: type[Exception]
    validation_error: type[Exception]
    trading_client: Any
    market_order_request: Any
    get_orders_request: Any
    order_side: Any
    time_in_force: Any
    query_order_status: Any
    sort: Any


def _sdk() -> _Sdk:
    exceptions = import_extra("alpaca.common.exceptions", "alpaca", "--broker alpaca")
    enums = import_extra("alpaca.trading.enums", "alpaca", "--broker alpaca")
    requests_module = import_extra("alpaca.trading.requests", "alpaca", "--broker alpaca")
    client_module = import_extra("alpaca.trading.client", "alpaca", "--broker alpaca")
    common_enums = import_extra("alpaca.common.enums", "alpaca", "--broker alpaca")
    http = importlib.import_module("requests")
    pydantic = importlib.import_module("pydantic")
    return _Sdk(
        api_error=exceptions.APIError,
        request_error=http.RequestException,
        validation_error=pydantic.ValidationError,
        trading_client=client_module.TradingClient,
        market_order_request=requests_module.MarketOrderRequest,
        get_orders_request=requests_module.GetOrdersRequest,
        order_side=enums.OrderSide,
        time_in_force=enums.TimeInForce,
        query_order_status=enums.QueryOrderStatus,
        sort=common_enums.Sort,
    )


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


def _sdk_version() -> str:
    try:
        return importlib.metadata.version("alpaca-py")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


#: Alpaca's trading endpoints: the account an endpoint reaches is fixed by its host.
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


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


def create_trading_client(
    api_key: str,
    secret_key: str,
    *,
    paper: bool = True,
    url_override: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Any:
    """An alpaca-py `TradingClient` with its automatic retries off and a request timeout."""
    if timeout <= 0:
        raise BrokerError(f"the Alpaca request timeout must be > 0 seconds, got {timeout}")
    if url_override is not None:
        check_url(url_override)
    sdk = _sdk()
    client = sdk.trading_client(
        api_key=api_key, secret_key=secret_key, paper=paper, url_override=url_override
    )
    disable_sdk_retries(client)
    install_timeout(client, timeout)
    return client


@dataclass(frozen=True, slots=True)
class _Failure:
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


def _decimal(value: Any, what: str) -> Decimal:
    """A decimal string (or number) from Alpaca as an exact `Decimal` (floats via repr)."""
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise BrokerError(f"Alpaca sent a malformed {what}: {value!r}") from exc
    if not result.is_finite():
        raise BrokerError(f"Alpaca sent a malformed {what}: {value!r}")
    return result


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


#: Alpaca order statuses after which the order will never trade again.
_CANCELED_STATUSES = frozenset({"canceled", "expired", "replaced"})


def map_status(alpaca_status: str, filled: Decimal) -> OrderStatus:
    """The trader's state of an Alpaca order status (``filled`` = cumulative quantity).

    Anything not final (new, accepted, pending_new, held, done_for_day, pending_cancel,
    stopped, suspended, ...) is SUBMITTED or PARTIALLY_FILLED: a non-final state can still
    receive fills, so it is never reported as terminal. A rejection after a partial fill
    (not a path Alpaca documents) is reported as CANCELED so the fills are kept.
    """
    if alpaca_status == "filled":
        return OrderStatus.FILLED
    if alpaca_status in _CANCELED_STATUSES:
        return OrderStatus.CANCELED
    if alpaca_status == "rejected":
        return OrderStatus.CANCELED if filled > 0 else OrderStatus.REJECTED
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.SUBMITTED


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class AlpacaBroker:
    """The `Broker` protocol over an Alpaca trading account (paper or live).

    Build it with `from_env` (keys from the environment) or hand it a `TradingApi` client
    made by `create_trading_client`. `sleep` and `read_retry_wait` exist for tests.
    """

    def __init__(
        self,
        client: TradingApi,
        *,
        endpoint: str = "alpaca",
        read_retries: int = 2,
        read_retry_wait: float = 0.5,
        fill_lookback: timedelta = FILL_LOOKBACK,
        paper: bool | None = None,
        acceptance_window: timedelta = ACCEPTANCE_WINDOW,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if read_retries < 0:
            raise BrokerError(f"read_retries must be >= 0, got {read_retries}")
        self._client = client
        self._sdk = _sdk()
        self.endpoint = endpoint
        self.read_retries = read_retries
        self.read_retry_wait = read_retry_wait
        self.fill_lookback = fill_lookback
        self.acceptance_window = acceptance_window
        #: The account the flags chose (None: not checked); `check_ready` verifies it.
        self.paper = paper
        self._sleep = sleep
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_env(
        cls,
        *,
        paper: bool = True,
        environ: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        **options: Any,
    ) -> AlpacaBroker:
        """Keys from ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``; endpoint from
        ``APCA_API_BASE_URL`` when set, else Alpaca's paper or live endpoint."""
        env = os.environ if environ is None else environ
        missing = [name for name in (KEY_ENV, SECRET_ENV) if not env.get(name)]
        if missing:
            raise BrokerError(
                f"--broker alpaca needs the environment variables {', '.join(missing)}"
            )
        url = env.get(URL_ENV) or None
        if url is not None:
            check_url(url)
        check_account_choice(url, paper)
        client = create_trading_client(
            env[KEY_ENV], env[SECRET_ENV], paper=paper, url_override=url, timeout=timeout
        )
        endpoint = redact_url(url) if url else ("alpaca paper" if paper else "alpaca LIVE")
        return cls(client, endpoint=endpoint, paper=paper, **options)

    def __repr__(self) -> str:
        return f"AlpacaBroker(endpoint={self.endpoint!r})"

    # -- errors ----------------------------------------------------------------------------

    def _classify(self, exc: Exception) -> _Failure | None:
        """An SDK/transport exception as a `_Failure`; None if it is not one of theirs."""
        if isinstance(exc, self._sdk.api_error):
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
            return _Failure(status, code, message, alpaca_body)
        if isinstance(exc, self._sdk.request_error):
            return _Failure(None, None, f"{type(exc).__name__}: {exc}", False)
        return None

    def _read(self, what: str, call: Callable[[], _T]) -> _T:
        """Run an idempotent request, retrying transient failures; then give up with
        `SubmitOutcomeUnknown` (the caller asks again later)."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                failure = self._classify(exc)
                if failure is None:
                    if isinstance(exc, self._sdk.validation_error):
                        raise BrokerError(f"Alpaca {what}: unexpected answer: {exc}") from exc
                    raise
                if not failure.transient:
                    raise _ReadFailed(failure) from exc
                if attempt >= self.read_retries:
                    raise SubmitOutcomeUnknown(
                        f"Alpaca {what}: {failure.describe()} (after {attempt + 1} attempts)"
                    ) from exc
            attempt += 1
            self._sleep(self.read_retry_wait * attempt)

    def _fail(self, what: str, error: _ReadFailed) -> NoReturn:
        raise BrokerError(f"Alpaca {what}: {error.failure.describe()}") from error

    # -- Broker protocol -------------------------------------------------------------------

    def batch(self) -> AbstractContextManager[None]:
        """Nothing to group: every submit is its own HTTP request, accepted (or not) by
        Alpaca on its own."""
        return nullcontext()

    def submit(self, order: OrderRequest) -> BrokerOrder:
        """POST the market order once (time in force DAY, our client order id).

        Returns the broker's report; for a duplicate client id, the existing order's.
        Raises `SubmitOutcomeUnknown` when the answer was not observed, `OrderRejected` on
        a definitive refusal, `DuplicateClientOrderId` when Alpaca says duplicate but the
        lookup does not find it yet.
        """
        if order.quantity <= 0:
            raise OrderRejected(f"{order.client_order_id}: quantity must be > 0")
        quantity = float(order.quantity)
        if Decimal(repr(quantity)) != order.quantity:
            # The SDK's request model holds qty as float; refuse rather than round.
            raise OrderRejected(
                f"{order.client_order_id}: quantity {order.quantity} is not exactly "
                "representable in alpaca-py's request"
            )
        request = self._sdk.market_order_request(
            symbol=order.symbol,
            qty=quantity,
            side=self._sdk.order_side.BUY if order.side is Side.BUY else self._sdk.order_side.SELL,
            time_in_force=self._sdk.time_in_force.DAY,
            client_order_id=order.client_order_id,
        )
        try:
            placed = self._client.submit_order(request)
        except Exception as exc:
            failure = self._classify(exc)
            if failure is None:
                if isinstance(exc, self._sdk.validation_error):
                    # HTTP 200 with an answer the SDK could not parse: the order exists.
                    raise SubmitOutcomeUnknown(
                        f"{order.client_order_id}: unparsable answer to the submit"
                    ) from exc
                raise
            if failure.transient:
                kind = SubmitRefused if failure.status in (429, 503) else SubmitOutcomeUnknown
                raise kind(
                    f"{order.client_order_id}: submit outcome unknown ({failure.describe()}); "
                    "resolve by lookup"
                ) from exc
            if failure.duplicate_client_id:
                return self._existing(order)
            if failure.status in (400, 403, 422):
                raise OrderRejected(
                    f"{order.client_order_id}: rejected by Alpaca ({failure.describe()})",
                    retryable=failure.status == 422,
                ) from exc
            # 401/404/...: wrong keys or endpoint. Nothing was placed, but trading on is
            # pointless; the order stays PENDING_SUBMIT and is looked up after a restart.
            raise BrokerError(
                f"Alpaca refused the order request ({failure.describe()}); check the keys "
                f"and endpoint ({self.endpoint})"
            ) from exc
        return self._report(placed)

    def _existing(self, order: OrderRequest) -> BrokerOrder:
        """The order Alpaca already holds under `order`'s client id."""
        found = self.get_order(order.client_order_id)
        if found is None:
            raise DuplicateClientOrderId(
                f"client_order_id must be unique: {order.client_order_id} (not visible yet)"
            )
        if found.symbol != order.symbol or found.side is not order.side:
            raise BrokerError(
                f"Alpaca holds {order.client_order_id} as {found.side.value} {found.symbol}, "
                f"not {order.side.value} {order.symbol}: another program uses this client id"
            )
        return found

    def cancel(self, client_order_id: str) -> None:
        """Request cancellation; an order that is unknown or no longer open is left alone."""
        found = self.get_order(client_order_id)
        if found is None or found.status in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
        ):
            return
        try:
            self._read("cancel", lambda: self._client.cancel_order_by_id(found.broker_order_id))
        except _ReadFailed as exc:
            if exc.failure.status in (404, 422):
                return  # filled or canceled meanwhile: not cancelable
            self._fail(f"cancel {client_order_id}", exc)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """``GET /v2/orders:by_client_order_id``; None only on Alpaca's own 404."""
        try:
            remote = self._read(
                "order lookup", lambda: self._client.get_order_by_client_id(client_order_id)
            )
        except _ReadFailed as exc:
            if exc.failure.status == 404 and exc.failure.alpaca_body:
                return None
            self._fail(f"lookup of {client_order_id}", exc)
        return self._report(remote)

    def confirm_absent(
        self, client_order_id: str, *, placed_after: datetime, missing_since: datetime
    ) -> bool:
        """Certain only once `acceptance_window` has passed since the first empty lookup
        (a POST processed late shows up within it) *and* then both the lookup by client id
        and a listing of every order submitted since the plan (less `CLOCK_SLACK`) miss it.
        A read that fails is not certainty."""
        if self._clock() < missing_since + self.acceptance_window:
            return False
        try:
            if self.get_order(client_order_id) is not None:
                return False
            listed = self._orders("all", after=placed_after - CLOCK_SLACK)
        except BrokerError:  # SubmitOutcomeUnknown included: not observed, not certain
            return False
        return all(str(o.client_order_id) != client_order_id for o in listed)

    def open_orders(self) -> list[BrokerOrder]:
        """Every open order of the account (ours or not), oldest first."""
        return [self._report(o) for o in self._orders("open", after=None)]

    def fills_since(self, since: datetime) -> list[BrokerOrder]:
        """Cumulative reports of orders with fills updated at or after `since`, oldest
        first (orders submitted up to `fill_lookback` before `since` are considered)."""
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        result: list[BrokerOrder] = []
        for remote in self._orders("all", after=since - self.fill_lookback):
            updated = _as_utc(getattr(remote, "updated_at", None))
            report = self._report(remote)
            if report.filled_quantity > 0 and updated is not None and updated >= since:
                result.append(report)
        return result

    def _orders(self, status: str, *, after: datetime | None) -> list[Any]:
        """``GET /v2/orders`` page by page (ascending submission time, 500 a page)."""
        seen: set[str] = set()
        collected: list[Any] = []
        cursor = after
        while True:
            fields: dict[str, Any] = {
                "status": self._sdk.query_order_status(status),
                "limit": PAGE_LIMIT,
                "direction": self._sdk.sort.ASC,
                "nested": False,
            }
            if cursor is not None:
                fields["after"] = cursor
            request = self._sdk.get_orders_request(**fields)
            try:
                page = self._read("order list", partial(self._client.get_orders, filter=request))
            except _ReadFailed as exc:
                self._fail("order list", exc)
            fresh = [o for o in page if str(o.id) not in seen]
            for remote in fresh:
                seen.add(str(remote.id))
                collected.append(remote)
            if len(page) < PAGE_LIMIT or not fresh:
                return collected
            # `after` is exclusive; step back a microsecond so orders sharing the last
            # timestamp are not skipped (the `seen` set drops the repeats).
            cursor = _as_utc(fresh[-1].submitted_at)
            assert cursor is not None
            cursor -= timedelta(microseconds=1)

    def positions(self) -> list[BrokerPosition]:
        """Non-zero positions (short ones negative)."""
        try:
            remote = self._read("positions", self._client.get_all_positions)
        except _ReadFailed as exc:
            self._fail("positions", exc)
        result: list[BrokerPosition] = []
        for position in remote:
            quantity = _decimal(position.qty, f"{position.symbol} position quantity")
            if _enum_value(getattr(position, "side", "long")) == "short" and quantity > 0:
                quantity = -quantity
            if quantity != 0:
                price = _decimal(position.avg_entry_price, f"{position.symbol} entry price")
                result.append(BrokerPosition(str(position.symbol), quantity, price))
        return result

    def account(self) -> BrokerAccount:
        """Cash and equity as Alpaca reports them."""
        try:
            remote = self._read("account", self._client.get_account)
        except _ReadFailed as exc:
            self._fail("account", exc)
        if remote.cash is None or remote.equity is None:
            raise BrokerError("Alpaca's account answer has no cash or equity")
        return BrokerAccount(
            cash=_decimal(remote.cash, "account cash"),
            equity=_decimal(remote.equity, "account equity"),
        )

    def check_ready(self) -> BrokerAccount:
        """Reach the broker once (account and clock) before anything is written; raise
        `BrokerError` naming the problem when the account cannot trade."""
        try:
            remote = self._read("account", self._client.get_account)
            self._read("clock", self._client.get_clock)
        except _ReadFailed as exc:
            if exc.failure.status in (401, 403):
                raise BrokerError(
                    f"Alpaca refused the keys in {KEY_ENV}/{SECRET_ENV} "
                    f"({exc.failure.describe()}) at {self.endpoint}"
                ) from exc
            self._fail(f"account at {self.endpoint}", exc)
        except SubmitOutcomeUnknown as exc:
            raise BrokerError(f"cannot reach Alpaca at {self.endpoint}: {exc}") from exc
        status = _enum_value(getattr(remote, "status", "ACTIVE"))
        if status != "ACTIVE" or getattr(remote, "trading_blocked", False):
            raise BrokerError(f"the Alpaca account cannot trade (status {status})")
        self._check_account_kind(str(getattr(remote, "account_number", "") or ""))
        return self.account()

    def _check_account_kind(self, account_number: str) -> None:
        """Alpaca's paper account numbers start with ``PA``: the account the keys reach
        must be the kind the flag chose, whatever endpoint (a proxy) was in between."""
        if self.paper is None:
            return
        if not account_number.strip():
            # Fail closed: without a number the account cannot be told paper from live.
            raise AccountMismatch(
                f"the Alpaca account at {self.endpoint} reports no account number, so it "
                "cannot be told paper from live; nothing was sent — check the endpoint "
                f"({URL_ENV}) and the keys"
            )
        is_paper = account_number.upper().startswith("PA")
        if is_paper == self.paper:
            return
        flag = "--paper-account" if self.paper else "--live-account"
        reached = "a paper account" if is_paper else "a LIVE (real-money) account"
        raise AccountMismatch(
            f"the keys reach {reached} at {self.endpoint} but {flag} was chosen; "
            "use the other flag or the other account's keys"
        )

    # -- mapping ---------------------------------------------------------------------------

    def _report(self, remote: Any) -> BrokerOrder:
        cid = str(remote.client_order_id)
        filled = _decimal(remote.filled_qty or 0, f"{cid} filled_qty")
        quantity = filled if remote.qty is None else _decimal(remote.qty, f"{cid} qty")
        avg_price = None
        if filled > 0:
            if remote.filled_avg_price is None:
                raise BrokerError(f"Alpaca reports {cid} filled {filled} without a price")
            avg_price = _decimal(remote.filled_avg_price, f"{cid} filled_avg_price")
        side = Side.SELL if _enum_value(remote.side) == "sell" else Side.BUY
        return BrokerOrder(
            client_order_id=cid,
            broker_order_id=str(remote.id),
            symbol=str(remote.symbol),
            side=side,
            quantity=quantity,
            status=map_status(_enum_value(remote.status), filled),
            filled_quantity=filled,
            avg_fill_price=avg_price,
        )


class _ReadFailed(Exception):
    """A definitive (non-transient) HTTP error of a read, for the caller to interpret."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


__all__ = [
    "KEY_ENV",
    "SECRET_ENV",
    "TESTED_SDK_VERSION",
    "URL_ENV",
    "AccountMismatch",
    "AlpacaBroker",
    "TradingApi",
    "check_account_choice",
    "check_url",
    "create_trading_client",
    "disable_sdk_retries",
    "install_timeout",
    "map_status",
    "redact_url",
]
