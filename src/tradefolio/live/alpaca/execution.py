"""`AlpacaBroker`: the `Broker` protocol over Alpaca's trading REST API (extra `alpaca`).

The adapter wraps alpaca-py's `TradingClient` and owns the exactly-once rules for it:

* **One POST per submit.** alpaca-py 0.44's `RESTClient._request` retries *every* method,
  ``POST /v2/orders`` included, on HTTP 429 and 504 (3 times, 3 s apart), and
  `TradingClient` offers no way to turn that off. The client's retry count is set to 0
  (`client.disable_sdk_retries`). A submit whose answer is lost — timeout, connection error,
  429, any 5xx, an unparsable 200 — raises `SubmitOutcomeUnknown`; the trader resolves it
  by looking the order up by its client order id, never by resending.
* **A request timeout** on every request (`client.install_timeout`).
* **Duplicates are answers.** ``422 {"code": 40010001, "message": "client_order_id must be
  unique"}`` means the order is already there (typically the first attempt of a submit
  whose answer was lost): it is looked up with ``GET /v2/orders:by_client_order_id`` and
  returned. 40010001 is Alpaca's generic validation code, so the message is checked too.
* **Definitive refusals** (400/403/other 422: bad quantity, insufficient buying power, ...)
  raise `OrderRejected`; nothing was placed.
* **Reads may retry** (they are idempotent, `client.retry_reads`): `read_retries` times on
  429/5xx/timeouts, then `SubmitOutcomeUnknown` ("not observed"), which the trader treats
  as "ask again later". ``404`` on a client-id lookup is "never seen" only when the body
  is Alpaca's JSON error; a bare 404 (a proxy, a wrong URL) is a `BrokerError`, never "not there".

Money is exact: Alpaca sends quantities and prices as decimal strings, which become
`Decimal` without passing through float. Execution reports are cumulative (``filled_qty``,
``filled_avg_price``), like `PaperBroker`'s, and `fills_since` is built from order state the
same way. Alpaca charges no commission on equities, so ``commission`` is 0; regulatory fees
on sells are account activities, not order fields, and show up only in cash.

Keys, endpoint checks and the paper/live account choice are `client`'s: no message,
``repr`` or journal row of this module contains a key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, NoReturn, Protocol, TypeVar

from tradefolio.errors import BrokerError
from tradefolio.execution.orders import OrderType, TimeInForce
from tradefolio.live.alpaca.client import (
    DEFAULT_TIMEOUT_SECONDS,
    KEY_ENV,
    SECRET_ENV,
    URL_ENV,
    AccountMismatch,
    ReadFailed,
    ReadPolicy,
    check_account_choice,
    check_url,
    classify,
    create_trading_client,
    load_sdk,
    read_keys,
    redact_url,
    retry_reads,
)
from tradefolio.live.alpaca.order_types import (
    NotNative,
    group_request,
    order_request,
    plan_group,
    replace_request,
)
from tradefolio.live.broker import (
    BrokerAccount,
    BrokerPosition,
    DuplicateClientOrderId,
    OrderRejected,
    SubmitOutcomeUnknown,
    SubmitRefused,
)
from tradefolio.live.orders import BrokerOrder, OrderRequest, OrderStatus, Side

#: `fills_since` considers orders submitted up to this long before its `since` (Alpaca
#: filters listings by submission time): every DAY order, and GTC orders of that age; an
#: older GTC order's fills are found by looking the order up (`get_order`), as the trader
#: does for every order it journaled.
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
    def get_order_by_id(self, order_id: Any, filter: Any = None) -> Any: ...
    def replace_order_by_id(self, order_id: Any, order_data: Any = None) -> Any: ...
    def get_orders(self, filter: Any = None) -> Any: ...
    def cancel_order_by_id(self, order_id: Any) -> Any: ...
    def get_all_positions(self) -> Any: ...
    def get_account(self) -> Any: ...
    def get_clock(self) -> Any: ...


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


@dataclass(frozen=True, slots=True)
class _Leg:
    """A leg of a native OCO / bracket, which Alpaca holds under its own client id: the
    trader's client id for it is ours, the venue's order id is `broker_order_id`."""

    parent_client_id: str
    role: str  # "take_profit" or "stop_loss"
    broker_order_id: str


def _leg_role(remote: Any) -> str:
    return "take_profit" if _enum_value(remote.type) == "limit" else "stop_loss"


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
        self._client = client
        self._sdk = load_sdk("--broker alpaca")
        self._reads = ReadPolicy(
            sdk=self._sdk,
            retries=read_retries,
            wait=read_retry_wait,
            sleep=sleep,
            unavailable=SubmitOutcomeUnknown,
            unexpected=(self._sdk.validation_error,),
        )
        self.endpoint = endpoint
        self.fill_lookback = fill_lookback
        self.acceptance_window = acceptance_window
        #: The account the flags chose (None: not checked); `check_ready` verifies it.
        self.paper = paper
        self._clock = clock or (lambda: datetime.now(UTC))
        #: The legs of native groups by the trader's client id (`submit_group`, `track`).
        self._legs: dict[str, _Leg] = {}

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
        api_key, secret_key = read_keys(env, "--broker alpaca")
        url = env.get(URL_ENV) or None
        if url is not None:
            check_url(url)
        check_account_choice(url, paper)
        client = create_trading_client(
            api_key, secret_key, paper=paper, url_override=url, timeout=timeout
        )
        endpoint = redact_url(url) if url else ("alpaca paper" if paper else "alpaca LIVE")
        return cls(client, endpoint=endpoint, paper=paper, **options)

    def __repr__(self) -> str:
        return f"AlpacaBroker(endpoint={self.endpoint!r})"

    @property
    def read_retries(self) -> int:
        """How often a read is retried on a transient failure before it gives up."""
        return self._reads.retries

    # -- requests --------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], _T]) -> _T:
        """An idempotent request, retried on transient failures; then `SubmitOutcomeUnknown`
        (the caller asks again later). A definitive HTTP error raises `ReadFailed`."""
        return retry_reads(what, call, self._reads)

    def _fail(self, what: str, error: ReadFailed) -> NoReturn:
        raise BrokerError(f"Alpaca {what}: {error.failure.describe()}") from error

    # -- Broker protocol -------------------------------------------------------------------

    def batch(self) -> AbstractContextManager[None]:
        """Nothing to group: every submit is its own HTTP request, accepted (or not) by
        Alpaca on its own."""
        return nullcontext()

    def submit(self, order: OrderRequest) -> BrokerOrder:
        """POST the order once, in its native form (type, prices, trail, time in force; our
        client order id).

        Returns the broker's report; for a duplicate client id, the existing order's.
        Raises `SubmitOutcomeUnknown` when the answer was not observed, `OrderRejected` on
        a definitive refusal — `NotNative` (nothing sent) when Alpaca has no native form
        for the order alone (`order_types`: e.g. one exit of an OCO group, which goes
        through `submit_group`) — and `DuplicateClientOrderId` when Alpaca says duplicate
        but the lookup does not find it yet.
        """
        if order.quantity <= 0:
            raise OrderRejected(f"{order.client_order_id}: quantity must be > 0")
        request = order_request(self._sdk, order)
        return self._report(self._post(order, lambda: self._client.submit_order(request)))

    def submit_group(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder]:
        """POST a group as one native order, once: an entry with its exits (a bracket, or
        an OTO with one exit) or the two exits of one OCO group (see `order_types`).

        The venue holds the group under one client id (the entry's; an OCO's take-profit);
        the other orders are its legs, reported under the client ids given here (this
        broker remembers them; after a restart `track` re-learns them). Returns the
        reports in the order of `orders`. Raises as `submit` does; `NotNative` when the
        group has no native form, which the trader then manages itself.
        """
        if any(order.quantity <= 0 for order in orders):
            raise OrderRejected(f"{orders[0].client_order_id}: quantity must be > 0")
        group = plan_group(orders)
        request = group_request(self._sdk, group)
        placed = self._post(group.parent, lambda: self._client.submit_order(request))
        return self._learn(group.parent.client_order_id, group.legs, placed, orders)

    def track(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder] | None:
        """Re-learn a group placed by `submit_group` (e.g. after a restart) from the venue;
        its reports in the order of `orders`, or None when the venue does not hold it."""
        group = plan_group(orders)
        parent_id = group.parent.client_order_id
        remote = self._lookup(parent_id)
        if remote is None:
            return None
        if group.legs and not getattr(remote, "legs", None):
            remote = self._nested(remote)
        return self._learn(parent_id, group.legs, remote, orders)

    def _nested(self, remote: Any) -> Any:
        """`remote` with its legs, from the order listing in nested form (``GET
        /v2/orders?nested=true``, from its submission on), for a lookup answered without
        them."""
        submitted = _as_utc(getattr(remote, "submitted_at", None))
        after = None if submitted is None else submitted - timedelta(microseconds=1)
        for listed in self._orders("all", after=after):
            if str(listed.id) == str(remote.id):
                return listed
        return remote

    def _learn(
        self,
        parent_id: str,
        legs: Mapping[str, OrderRequest],
        remote: Any,
        orders: Sequence[OrderRequest],
    ) -> list[BrokerOrder]:
        """Remember which venue leg of `remote` (the group's parent) is which of our
        orders, by role (a limit leg is the take-profit, a stop the stop loss)."""
        by_role = {_leg_role(leg): leg for leg in getattr(remote, "legs", None) or []}
        if set(by_role) != set(legs):
            raise BrokerError(
                f"Alpaca holds {parent_id} with legs {sorted(by_role)}, not {sorted(legs)}"
            )
        for role, order in legs.items():
            self._legs[order.client_order_id] = _Leg(parent_id, role, str(by_role[role].id))
        reports = {parent_id: self._report(remote)}
        for role, order in legs.items():
            reports[order.client_order_id] = self._report(by_role[role], order.client_order_id)
        return [reports[order.client_order_id] for order in orders]

    def replace(self, client_order_id: str, new: OrderRequest) -> BrokerOrder:
        """Replace the open order `client_order_id` by `new` (``PATCH /v2/orders/{id}``:
        new quantity, prices, trail or time in force under `new`'s client id), once.

        Raises as `submit` does (a lost answer is `SubmitOutcomeUnknown`: look `new` up);
        `NotNative` when `new` changes what Alpaca cannot replace (type, side, symbol);
        `OrderRejected` when the order is unknown, finished, or Alpaca refuses (e.g. it has
        fills already).
        """
        current = self.get_order(client_order_id)
        if current is None:
            raise OrderRejected(f"{client_order_id}: cannot replace an order Alpaca does not hold")
        request = replace_request(self._sdk, current, new)
        placed = self._post(
            new, lambda: self._client.replace_order_by_id(current.broker_order_id, request)
        )
        return self._report(placed)

    def _post(self, order: OrderRequest, call: Callable[[], Any]) -> Any:
        """Send one order-placing request once; its answer, or the error saying what
        happened (see `submit`). A duplicate client id is answered by the existing order."""
        try:
            return call()
        except Exception as exc:
            failure = classify(exc, self._sdk)
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
                return self._existing_remote(order)
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

    def _existing_remote(self, order: OrderRequest) -> Any:
        """The order Alpaca already holds under `order`'s client id (the SDK's model)."""
        cid = order.client_order_id
        found = self._lookup(cid)
        if found is None:
            raise DuplicateClientOrderId(f"client_order_id must be unique: {cid} (not visible yet)")
        report = self._report(found)
        if report.symbol != order.symbol or report.side is not order.side:
            raise BrokerError(
                f"Alpaca holds {cid} as {report.side.value} {report.symbol}, "
                f"not {order.side.value} {order.symbol}: another program uses this client id"
            )
        return found

    def cancel(self, client_order_id: str) -> None:
        """Request cancellation; an order that is unknown or no longer open is left alone."""
        found = self.get_order(client_order_id)
        if found is None or found.status in _FINISHED:
            return
        try:
            self._read("cancel", lambda: self._client.cancel_order_by_id(found.broker_order_id))
        except ReadFailed as exc:
            if exc.failure.status in (404, 422):
                return  # filled or canceled meanwhile: not cancelable
            self._fail(f"cancel {client_order_id}", exc)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """``GET /v2/orders:by_client_order_id`` (a known leg of a group: ``GET
        /v2/orders/{id}``); None only on Alpaca's own 404."""
        leg = self._legs.get(client_order_id)
        if leg is not None:
            try:
                remote = self._read(
                    "leg lookup", lambda: self._client.get_order_by_id(leg.broker_order_id)
                )
            except ReadFailed as exc:
                self._fail(f"lookup of {client_order_id}", exc)
            return self._report(remote, client_order_id)
        found = self._lookup(client_order_id)
        return None if found is None else self._report(found)

    def _lookup(self, client_order_id: str) -> Any | None:
        """The SDK's order held under `client_order_id`; None only on Alpaca's own 404 (a
        bare 404 — a proxy, a wrong URL — is a `BrokerError`, never "not there")."""
        try:
            return self._read(
                "order lookup", lambda: self._client.get_order_by_client_id(client_order_id)
            )
        except ReadFailed as exc:
            if exc.failure.status == 404 and exc.failure.alpaca_body:
                return None
            self._fail(f"lookup of {client_order_id}", exc)

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
        """Every open order of the account (ours or not), oldest first; a group's legs
        follow their parent, under our client ids where this broker knows them."""
        return [
            report
            for remote in self._orders("open", after=None)
            for report in self._reports(remote)
            if report.status not in _FINISHED
        ]

    def fills_since(self, since: datetime) -> list[BrokerOrder]:
        """Cumulative reports of orders with fills updated at or after `since`, oldest
        first (orders submitted up to `fill_lookback` before `since` are considered)."""
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        result: list[BrokerOrder] = []
        for parent in self._orders("all", after=since - self.fill_lookback):
            for remote in (parent, *(getattr(parent, "legs", None) or [])):
                updated = _as_utc(getattr(remote, "updated_at", None))
                report = self._report(remote, self._leg_names().get(str(remote.id)))
                if report.filled_quantity > 0 and updated is not None and updated >= since:
                    result.append(report)
        return result

    def _leg_names(self) -> dict[str, str]:
        """Our client id of each known leg, by the venue's order id."""
        return {leg.broker_order_id: cid for cid, leg in self._legs.items()}

    def _reports(self, remote: Any) -> list[BrokerOrder]:
        """`remote` and its nested legs (ours under our client ids)."""
        names = self._leg_names()
        legs = getattr(remote, "legs", None) or []
        return [self._report(remote)] + [self._report(leg, names.get(str(leg.id))) for leg in legs]

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
                "nested": True,  # a group's legs inside their parent
            }
            if cursor is not None:
                fields["after"] = cursor
            request = self._sdk.get_orders_request(**fields)
            try:
                page = self._read("order list", partial(self._client.get_orders, filter=request))
            except ReadFailed as exc:
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
        except ReadFailed as exc:
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
        except ReadFailed as exc:
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
        except ReadFailed as exc:
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

    def _report(self, remote: Any, client_order_id: str | None = None) -> BrokerOrder:
        """Alpaca's order as our report (under `client_order_id` when given: a leg's)."""
        cid = client_order_id or str(remote.client_order_id)
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
            **_terms(remote, cid),
        )


def _optional_decimal(value: Any, what: str) -> Decimal | None:
    return None if value is None else _decimal(value, what)


def _terms(remote: Any, cid: str) -> dict[str, Any]:
    """The order terms of Alpaca's order (`stop_price` of a trailing stop: its current
    level; a time in force other than GTC — ioc, fok, opg, cls — lives a day at most, DAY)."""
    kind = _enum_value(getattr(remote, "type", None) or getattr(remote, "order_type", "market"))
    try:
        order_type = OrderType(kind)
    except ValueError as exc:
        raise BrokerError(f"Alpaca reports {cid} with an unknown order type {kind!r}") from exc
    percent = _optional_decimal(getattr(remote, "trail_percent", None), f"{cid} trail_percent")
    tif = _enum_value(getattr(remote, "time_in_force", "day"))
    return {
        "type": order_type,
        "limit_price": _optional_decimal(getattr(remote, "limit_price", None), f"{cid} limit"),
        "stop_price": _optional_decimal(getattr(remote, "stop_price", None), f"{cid} stop"),
        "trail_percent": None if percent is None else percent / 100,
        "trail_amount": _optional_decimal(getattr(remote, "trail_price", None), f"{cid} trail"),
        "time_in_force": TimeInForce.GTC if tif == "gtc" else TimeInForce.DAY,
    }


_FINISHED = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


__all__ = ["AlpacaBroker", "NotNative", "TradingApi", "map_status"]
