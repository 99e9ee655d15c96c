"""A loopback fake of Alpaca's trading REST API, for offline tests of `AlpacaBroker`.

`FakeAlpaca` serves ``/v2/account``, ``/v2/positions``, ``/v2/clock``, ``/v2/orders``
(POST, GET, DELETE), ``/v2/orders/{id}`` (GET, DELETE) and ``/v2/orders:by_client_order_id``
from a `ThreadingHTTPServer` on 127.0.0.1 (port 0), with bodies alpaca-py 0.44's pydantic
models accept (UUID ids, non-null ``submitted_at``, decimal strings) and Alpaca's JSON error
shape ``{"code": ..., "message": ...}``. It enforces unique client order ids (422 40010001).

Market orders fill at the fake's current mark (`mark`, the `MarketSink` the trader feeds, or
`prices` given up front), the same price `PaperBroker` would use; `max_fill_per_step` makes
fills partial (cumulative ``filled_qty``), `auto_fill=False` leaves orders ``new`` until
`fill`/`mark`. Faults (`inject`): an HTTP status, with or without the request having been
acted upon first, a delay before answering (to trip the client's timeout), and a hold:
the request is carried out only when the test sets an event (a submit processed late).

Cancels are immediate by default. With `cancel_pending_reads = N` they are asynchronous, as
on the real Alpaca: ``DELETE /v2/orders/{id}`` answers 204 and leaves the order (and its
legs) ``pending_cancel`` — still open, still holding its shares for the sell-quantity check,
still able to fill — for the next N reads of it (a lookup, a get, a listing row), after
which it is ``canceled``; the next `mark` (a new bar) or `settle_cancels` finishes every
pending cancel. A second cancel of a pending one is refused (422), as Alpaca does.

It also serves the two market-data endpoints `AlpacaMarketData` calls through alpaca-py's
`StockHistoricalDataClient`: ``GET /v2/stocks/bars`` (``symbols``, ``timeframe=1Day``,
``start``/``end`` inclusive, ``limit``, ``page_token``; answer ``{"bars": {symbol: [bar,
...]}, "next_page_token": ...}`` paged across symbols in symbol order) and ``GET
/v2/stocks/bars/latest`` (``{"bars": {symbol: bar}}``), bars in Alpaca's short-key shape
(``t o h l c v n vw``; daily bars stamped at midnight New York time). `trade_session` makes
a session happen: its latest minute bars, its daily close and a mark at those prices.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

KEY = "fake-key-id"
SECRET = "fake-secret-key-do-not-log"

# Routes the faults are keyed by.
SUBMIT = "submit"  # POST /v2/orders
LOOKUP = "lookup"  # GET /v2/orders:by_client_order_id
LIST = "list"  # GET /v2/orders
GET_BY_ID = "get"  # GET /v2/orders/{id}
CANCEL = "cancel"  # DELETE /v2/orders/{id}
REPLACE = "replace"  # PATCH /v2/orders/{id}
ACCOUNT = "account"
POSITIONS = "positions"
CLOCK = "clock"
BARS = "bars"  # GET /v2/stocks/bars
LATEST_BARS = "latest_bars"  # GET /v2/stocks/bars/latest

NEW_YORK = ZoneInfo("America/New_York")


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


@dataclass
class Fault:
    """One injected fault: answer `status` (None: the normal answer) after `delay` s;
    with `accept`, the request is carried out first (the answer is what gets lost). With
    `hold`, the request is carried out only once the event is set (a submit processed
    late, after its client gave up and even after that client's process died)."""

    route: str
    status: int | None = None
    accept: bool = False
    delay: float = 0.0
    body: str | None = None
    hold: threading.Event | None = None


#: Alpaca's order types and the price fields each takes (others are refused, as the SDK does).
_TYPE_FIELDS = {
    "market": (),
    "limit": ("limit_price",),
    "stop": ("stop_price",),
    "stop_limit": ("limit_price", "stop_price"),
    "trailing_stop": (),
}
_PRICE_FIELDS = ("limit_price", "stop_price", "trail_percent", "trail_price")
#: Statuses in which an order can still trade ("held": a leg waiting for its entry;
#: "pending_cancel": a cancel was requested but the venue has not carried it out yet, so
#: the order still holds its shares and may still fill).
OPEN_STATUSES = ("new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel")


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    submitted_at: datetime
    updated_at: datetime
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    type: str = "market"
    time_in_force: str = "day"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None  # Alpaca's unit: percent (5 = 5%)
    trail_price: Decimal | None = None
    hwm: Decimal | None = None  # a trailing stop's best price since it became active
    triggered: bool = False  # a stop-limit whose stop traded (now a limit order)
    order_class: str = ""
    parent: str | None = None  # broker id of the order whose leg this is
    legs: list[str] = field(default_factory=list)  # broker ids of this order's legs
    replaces: str | None = None
    replaced_by: str | None = None
    replaced_at: datetime | None = None
    #: Reads still answered "pending_cancel" before a requested cancel takes effect.
    cancel_reads_left: int = 0

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def protecting(self) -> bool:
        """Open and not being cancelled: an exit the venue will keep working."""
        return self.open and self.status != "pending_cancel"

    def trailing_stop_level(self) -> Decimal | None:
        """A trailing stop's current stop price (from its high-water mark)."""
        if self.type != "trailing_stop" or self.hwm is None:
            return None
        sign = -1 if self.side == "sell" else 1
        if self.trail_percent is not None:
            return self.hwm * (1 + sign * self.trail_percent / 100)
        assert self.trail_price is not None
        return self.hwm + sign * self.trail_price

    def to_json(self, legs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        avg = None if self.filled_qty == 0 else _fmt(self.filled_notional / self.filled_qty)
        stop = self.stop_price if self.type != "trailing_stop" else self.trailing_stop_level()

        def price(value: Decimal | None) -> str | None:
            return None if value is None else _fmt(value)

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _iso(self.submitted_at),
            "updated_at": _iso(self.updated_at),
            "submitted_at": _iso(self.submitted_at),
            "filled_at": _iso(self.filled_at),
            "expired_at": None,
            "canceled_at": _iso(self.canceled_at),
            "failed_at": None,
            "replaced_at": _iso(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _fmt(self.qty),
            "filled_qty": _fmt(self.filled_qty),
            "filled_avg_price": avg,
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": price(self.limit_price),
            "stop_price": price(stop),
            "status": self.status,
            "extended_hours": False,
            "legs": legs,
            "trail_percent": price(self.trail_percent),
            "trail_price": price(self.trail_price),
            "hwm": price(self.hwm),
        }


class _HttpError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeAlpaca:
    """The fake venue; use as a context manager (`url` is valid inside)."""

    def __init__(
        self,
        *,
        cash: Decimal = Decimal(100_000),
        prices: Mapping[str, Decimal] | None = None,
        auto_fill: bool = True,
        max_fill_per_step: Decimal | None = None,
    ) -> None:
        self.cash = cash
        self.marks: dict[str, Decimal] = dict(prices or {})
        self.auto_fill = auto_fill
        self.max_fill_per_step = max_fill_per_step
        self.orders: dict[str, FakeOrder] = {}  # by broker id, in arrival order
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, avg price)
        self.post_attempts: Counter[str] = Counter()  # POSTs per client id, faulted or not
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON) of POST/PATCH
        self.rejected_symbols: set[str] = set()  # accepted, then status "rejected"
        self.daily: dict[str, dict[date, Decimal]] = {}  # symbol -> session -> close
        self.latest: dict[str, tuple[datetime, Decimal]] = {}  # symbol -> latest minute bar
        self.data_page_limit: int | None = None  # smaller pages to exercise the SDK's paging
        self.account_number = "PA0FAKE00000"  # Alpaca's paper accounts start with "PA"
        #: Alpaca reserves a position's shares for its open sell orders and refuses a sell
        #: beyond the rest ("insufficient qty available", 403), as the real venue does for an
        #: account without shorting: a second independent sell over the same shares (a stop
        #: and a take-profit sent apart) is refused. A test of a venue that shorts turns it off.
        self.reserve_sell_quantity = True
        #: Whether a lookup by client order id nests a group's legs (the listing with
        #: ``nested=true`` always does).
        self.nest_legs_on_lookup = True
        #: Reads for which a requested cancel stays "pending_cancel" (0: cancels at once).
        self.cancel_pending_reads = 0
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._clock = datetime.now(UTC).replace(microsecond=0)
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life ------------------------------------------------------------------------------

    def __enter__(self) -> FakeAlpaca:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            venue = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until no request is being handled (a delayed answer has finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return
            time.sleep(0.01)
        raise AssertionError("the fake Alpaca server stayed busy")

    # -- test controls ---------------------------------------------------------------------

    def inject(
        self,
        route: str,
        status: int | None = None,
        *,
        accept: bool = False,
        delay: float = 0.0,
        times: int = 1,
        body: str | None = None,
        hold: threading.Event | None = None,
    ) -> None:
        """Queue `times` faults for the next requests on `route`."""
        with self._lock:
            self._faults.extend(
                Fault(route, status, accept, delay, body, hold) for _ in range(times)
            )

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def mark(self, day: date, prices: Mapping[str, Decimal]) -> None:
        """New prices (the trader's `MarketSink`): open orders take a fill step at them."""
        with self._lock:
            self.settle_cancels()  # by the next bar the venue has carried out every cancel
            self.marks.update(prices)
            self._tick()
            for order in list(self.orders.values()):
                if order.open and order.symbol in self.marks:
                    self._work(order, self.marks[order.symbol])

    def add_history(self, closes: pd.DataFrame) -> None:
        """Daily closes (DatetimeIndex of sessions, one column per symbol) as daily bars."""
        with self._lock:
            for symbol in closes.columns:
                per_symbol = self.daily.setdefault(str(symbol), {})
                for stamp, value in closes[symbol].items():
                    if pd.notna(value):
                        per_symbol[pd.Timestamp(stamp).date()] = Decimal(repr(float(value)))

    def trade_session(self, day: date, prices: Mapping[str, Decimal]) -> None:
        """Session `day` trades at `prices`: latest minute bars (15:59 New York), the
        day's daily close, and a mark (open orders take a fill step)."""
        stamp = datetime(day.year, day.month, day.day, 15, 59, tzinfo=NEW_YORK).astimezone(UTC)
        with self._lock:
            for symbol, price in prices.items():
                self.latest[symbol] = (stamp, price)
                self.daily.setdefault(symbol, {})[day] = price
        self.mark(day, prices)

    def fill(
        self,
        client_order_id: str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> None:
        """Fill an open order (all that remains, or `quantity`) as the market would, e.g.
        while the trader is down."""
        with self._lock:
            order = self.orders[self.by_client_id[client_order_id]]
            assert order.open, order.status
            take = order.qty - order.filled_qty if quantity is None else quantity
            self._tick()
            self._execute(order, take, price if price is not None else self.marks[order.symbol])

    def settle_cancels(self) -> None:
        """Carry out every pending cancel now."""
        with self._lock:
            for order in list(self.orders.values()):
                if order.status == "pending_cancel" and order.parent is None:
                    self._finish_cancel(order)

    def order(self, client_order_id: str) -> FakeOrder:
        with self._lock:
            return self.orders[self.by_client_id[client_order_id]]

    def client_ids(self) -> list[str]:
        """Client ids of every order held, in arrival order (one entry per order)."""
        with self._lock:
            return [o.client_order_id for o in self.orders.values()]

    def equity(self) -> Decimal:
        with self._lock:
            return self.cash + sum(
                (q * self.marks.get(s, p) for s, (q, p) in self.positions.items()), Decimal(0)
            )

    # -- venue logic (under the lock) ------------------------------------------------------

    def _tick(self) -> datetime:
        # Strictly increasing timestamps keep `after`/`until` filters deterministic.
        self._clock = max(self._clock + timedelta(microseconds=1), datetime.now(UTC))
        return self._clock

    def _execute(self, order: FakeOrder, quantity: Decimal, price: Decimal) -> None:
        assert 0 < quantity <= order.qty - order.filled_qty
        now = self._tick()
        order.filled_qty += quantity
        order.filled_notional += quantity * price
        order.fills.append((quantity, price))
        if order.filled_qty == order.qty:
            order.status = "filled"
        elif order.status != "pending_cancel":  # a fill does not undo a requested cancel
            order.status = "partially_filled"
        order.updated_at = now
        if order.status == "filled":
            order.filled_at = now
        self._after_fill(order)
        signed = quantity if order.side == "buy" else -quantity
        self.cash -= signed * price
        held, avg = self.positions.get(order.symbol, (Decimal(0), Decimal(0)))
        new_held = held + signed
        if new_held == 0:
            self.positions.pop(order.symbol, None)
            return
        if held == 0 or (held > 0) != (new_held > 0):
            avg = price  # opened, or crossed through zero
        elif (held > 0) == (signed > 0):
            avg = (held * avg + signed * price) / new_held  # added to the position
        self.positions[order.symbol] = (new_held, avg)

    def _after_fill(self, order: FakeOrder) -> None:
        """Alpaca's order-class rules on a fill: a bracket's (or OTO's) legs become active
        once its entry has filled; an exit that fills (even in part) cancels the other
        exits of its one-cancels-other group."""
        if order.parent is None and order.order_class in ("bracket", "oto"):
            if order.status == "filled":
                for leg_id in order.legs:
                    leg = self.orders[leg_id]
                    if leg.status == "held":
                        leg.status, leg.updated_at = "new", self._tick()
            return
        for other in self._exits_of_group(order):
            if other.id != order.id and other.open:
                self._cancel(other.id, cascade=False)

    def _exits_of_group(self, order: FakeOrder) -> list[FakeOrder]:
        """The one-cancels-other exits `order` belongs to (empty for a simple order)."""
        if order.order_class == "oco":
            parent = order if order.parent is None else self.orders[order.parent]
            return [parent, *(self.orders[i] for i in parent.legs)]
        if order.order_class == "bracket" and order.parent is not None:
            return [self.orders[i] for i in self.orders[order.parent].legs]
        return []

    def _work(self, order: FakeOrder, price: Decimal) -> None:
        """One step of `order` at the market price `price`, as its type says (legs that
        are "held" wait for their entry). Fills happen at `price`."""
        if order.status == "held":
            return
        buy = order.side == "buy"
        if order.type == "trailing_stop":
            if order.hwm is None or (price > order.hwm if not buy else price < order.hwm):
                order.hwm = price
            level = order.trailing_stop_level()
            assert level is not None
            if not (price <= level if not buy else price >= level):
                return
        if order.type in ("stop", "stop_limit") and not order.triggered:
            assert order.stop_price is not None
            if not (price >= order.stop_price if buy else price <= order.stop_price):
                return
            order.triggered = True
        if order.type in ("limit", "stop_limit"):
            assert order.limit_price is not None
            if not (price <= order.limit_price if buy else price >= order.limit_price):
                return
        self._fill_step(order, price)

    def _fill_step(self, order: FakeOrder, price: Decimal) -> None:
        remaining = order.qty - order.filled_qty
        take = (
            remaining if self.max_fill_per_step is None else min(remaining, self.max_fill_per_step)
        )
        if take > 0:
            self._execute(order, take, price)

    def _submit(self, body: dict[str, Any]) -> FakeOrder:
        """POST /v2/orders, validated as Alpaca does (422 for what it refuses)."""
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if cid in self.by_client_id:
            raise _HttpError(422, 40010001, "client_order_id must be unique")
        order_class = str(body.get("order_class") or "")
        if order_class == "simple":
            order_class = ""
        if order_class not in ("", "bracket", "oco", "oto"):
            raise _HttpError(422, 40010001, f"invalid order_class {order_class!r}")
        order_type = str(body.get("type"))
        tif = str(body.get("time_in_force"))
        qty = Decimal(str(body.get("qty", "0")))
        side = body.get("side")
        if qty <= 0 or side not in ("buy", "sell"):
            raise _HttpError(422, 40010001, "qty must be > 0")
        if tif not in ("day", "gtc"):
            raise _HttpError(422, 40010001, "only day and gtc orders are faked")
        if qty != qty.to_integral_value() and (
            order_type != "market" or tif != "day" or order_class
        ):
            raise _HttpError(422, 40010001, "fractional orders must be simple market day orders")
        terms = self._terms(order_type, body)
        if order_class in ("bracket", "oto") and order_type not in ("market", "limit"):
            raise _HttpError(422, 40010001, f"{order_class} entry must be market or limit")
        if order_class == "oco" and order_type != "limit":
            raise _HttpError(422, 40010001, "oco orders must be limit orders")
        take_profit, stop_loss = body.get("take_profit"), body.get("stop_loss")
        if order_class in ("bracket", "oco") and not (take_profit and stop_loss):
            raise _HttpError(422, 40010001, f"{order_class} orders need take_profit and stop_loss")
        if order_class == "oto" and bool(take_profit) == bool(stop_loss):
            raise _HttpError(422, 40010001, "oto orders need one of take_profit, stop_loss")
        if not order_class and (take_profit or stop_loss):
            raise _HttpError(422, 40010001, "take_profit/stop_loss need an order_class")
        legs: list[dict[str, Any]] = []
        exit_side = side if order_class == "oco" else ("sell" if side == "buy" else "buy")
        if take_profit:
            if set(take_profit) != {"limit_price"}:
                raise _HttpError(422, 40010001, "take_profit takes limit_price only")
            legs.append({"type": "limit", **take_profit})
        if stop_loss:
            if not set(stop_loss) <= {"stop_price", "limit_price"} or "stop_price" not in stop_loss:
                raise _HttpError(422, 40010001, "stop_loss takes stop_price [limit_price] only")
            legs.append(
                {"type": "stop_limit" if "limit_price" in stop_loss else "stop", **stop_loss}
            )
        if order_class == "oco":
            # The parent is the take-profit limit order; the stop loss is its one leg.
            tp = Decimal(str(legs[0]["limit_price"]))
            if terms["limit_price"] != tp:
                raise _HttpError(422, 40010001, "oco limit_price must equal take_profit")
            legs = legs[1:]
        leg_terms = [{"type": leg["type"], **self._terms(str(leg["type"]), leg)} for leg in legs]
        if self.reserve_sell_quantity and side == "sell" and order_class != "bracket":
            available = self._available(str(body["symbol"]))
            if qty > available:
                raise _HttpError(
                    403,
                    40310000,
                    f"insufficient qty available for order (requested: {_fmt(qty)}, "
                    f"available: {_fmt(available)})",
                )
        self._check_bracket_prices(order_class, side, terms, leg_terms, take_profit)
        now = self._tick()
        order = FakeOrder(
            str(uuid.uuid4()),
            cid,
            str(body["symbol"]),
            side,
            qty,
            now,
            now,
            type=order_type,
            time_in_force=tif,
            order_class=order_class,
            **terms,
        )
        self._add(order)
        for leg in leg_terms:
            kind = leg.pop("type")
            child = FakeOrder(
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                order.symbol,
                exit_side,
                qty,
                now,
                now,
                status="new" if order_class == "oco" else "held",
                type=kind,
                time_in_force=tif,
                order_class=order_class,
                parent=order.id,
                **leg,
            )
            self._add(child)
            order.legs.append(child.id)
        if order.symbol in self.rejected_symbols:
            order.status = "rejected"
        elif order.type == "trailing_stop" and order.symbol in self.marks:
            order.hwm = self.marks[order.symbol]
        if self.auto_fill and order.open and order.symbol in self.marks:
            self._work(order, self.marks[order.symbol])
        return order

    def _available(self, symbol: str) -> Decimal:
        """Shares of `symbol` not held for open sell orders (a group's exits hold its
        quantity once: legs are not counted apart from their parent)."""
        held = self.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
        for order in self.orders.values():
            selling = order.symbol == symbol and order.side == "sell" and order.open
            if selling and order.parent is None:
                held -= order.qty - order.filled_qty
        return max(held, Decimal(0))

    def _add(self, order: FakeOrder) -> None:
        self.orders[order.id] = order
        self.by_client_id[order.client_order_id] = order.id

    @staticmethod
    def _terms(order_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The price fields of an order of `order_type`, checked as Alpaca checks them."""
        if order_type not in _TYPE_FIELDS:
            raise _HttpError(422, 40010001, f"invalid order type {order_type!r}")
        given = {f for f in _PRICE_FIELDS if body.get(f) is not None}
        needed = set(_TYPE_FIELDS[order_type])
        if order_type == "trailing_stop":
            if len(given & {"trail_percent", "trail_price"}) != 1:
                raise _HttpError(422, 40010001, "trailing_stop needs trail_percent or trail_price")
            needed = given
        if given != needed:
            raise _HttpError(
                422, 40010001, f"{order_type} orders take {sorted(needed)}, got {sorted(given)}"
            )
        terms = {f: Decimal(str(body[f])) for f in given}
        if any(v <= 0 for v in terms.values()):
            raise _HttpError(422, 40010001, "prices and trails must be > 0")
        for name in ("limit_price", "stop_price", "trail_price"):
            price = terms.get(name)
            if price is not None and price % (Decimal("0.01") if price >= 1 else Decimal("0.0001")):
                raise _HttpError(
                    422,
                    42210000,
                    f"invalid {name} {price}: sub-penny increment does not "
                    "fulfill minimum pricing criteria",
                )
        return {f: terms.get(f) for f in _PRICE_FIELDS}

    @staticmethod
    def _check_bracket_prices(
        order_class: str,
        side: str,
        terms: dict[str, Any],
        legs: list[dict[str, Any]],
        take_profit: Any,
    ) -> None:
        """A sell exit's take-profit lies above its stop (a buy exit's below), as Alpaca
        requires (a bracket's exits are the opposite side of its entry)."""
        if order_class not in ("bracket", "oco"):
            return
        take = Decimal(str(take_profit["limit_price"]))
        stop = next(leg["stop_price"] for leg in legs if leg["stop_price"] is not None)
        exits_sell = (side == "buy") if order_class == "bracket" else (side == "sell")
        if (take <= stop) if exits_sell else (take >= stop):
            raise _HttpError(
                422, 40010001, "take_profit.limit_price must be beyond stop_loss.stop_price"
            )

    def _replace(self, order_id: str, body: dict[str, Any]) -> FakeOrder:
        """PATCH /v2/orders/{id}: a new order with the changed fields replaces an open,
        unfilled one (which becomes "replaced"); legs stay in their group."""
        old = self.orders.get(order_id)
        if old is None:
            raise _HttpError(404, 40410000, "order not found")
        if not old.open or old.filled_qty > 0:
            raise _HttpError(422, 42210000, f'order is in "{old.status}" state: not replaceable')
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if cid in self.by_client_id:
            raise _HttpError(422, 40010001, "client_order_id must be unique")
        fields = {k: body[k] for k in ("limit_price", "stop_price") if body.get(k) is not None}
        for name in fields:
            if name not in _TYPE_FIELDS[old.type]:
                raise _HttpError(422, 40010001, f"{name} does not apply to a {old.type} order")
        trail = body.get("trail")
        if trail is not None and old.type != "trailing_stop":
            raise _HttpError(422, 40010001, "trail applies to trailing_stop orders only")
        now = self._tick()
        new = FakeOrder(
            str(uuid.uuid4()),
            cid,
            old.symbol,
            old.side,
            Decimal(str(body["qty"])) if body.get("qty") is not None else old.qty,
            now,
            now,
            status=old.status,
            type=old.type,
            time_in_force=str(body.get("time_in_force") or old.time_in_force),
            limit_price=Decimal(str(fields["limit_price"]))
            if "limit_price" in fields
            else old.limit_price,
            stop_price=Decimal(str(fields["stop_price"]))
            if "stop_price" in fields
            else old.stop_price,
            trail_percent=(
                Decimal(str(trail))
                if trail is not None and old.trail_percent is not None
                else old.trail_percent
            ),
            trail_price=(
                Decimal(str(trail))
                if trail is not None and old.trail_price is not None
                else old.trail_price
            ),
            hwm=old.hwm,
            order_class=old.order_class,
            parent=old.parent,
            legs=old.legs,
            replaces=old.id,
        )
        self._add(new)
        old.status, old.replaced_by, old.replaced_at, old.updated_at = "replaced", new.id, now, now
        for leg_id in new.legs:
            self.orders[leg_id].parent = new.id
        if new.parent is not None:
            siblings = self.orders[new.parent].legs
            siblings[siblings.index(old.id)] = new.id
        if self.auto_fill and new.symbol in self.marks:
            self._work(new, self.marks[new.symbol])
        return new

    def json_of(self, order: FakeOrder) -> dict[str, Any]:
        """`order` as Alpaca sends it, its legs nested."""
        return order.to_json([self.orders[i].to_json() for i in order.legs] or None)

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        status = query.get("status", ["open"])[0]
        limit = min(int(query.get("limit", ["50"])[0]), 500)
        direction = query.get("direction", ["desc"])[0]
        after = query.get("after", [None])[0]
        until = query.get("until", [None])[0]
        nested = query.get("nested", ["false"])[0].lower() == "true"
        rows = list(self.orders.values())
        if nested:  # legs inside their parent; a parent is open while any of its legs is
            rows = [o for o in rows if o.parent is None]

        def is_open(order: FakeOrder) -> bool:
            return order.open or (nested and any(self.orders[i].open for i in order.legs))

        if status == "open":
            rows = [o for o in rows if is_open(o)]
        elif status == "closed":
            rows = [o for o in rows if not is_open(o)]
        if after is not None:
            bound = datetime.fromisoformat(after.replace("Z", "+00:00"))
            rows = [o for o in rows if o.submitted_at > bound]
        if until is not None:
            bound = datetime.fromisoformat(until.replace("Z", "+00:00"))
            rows = [o for o in rows if o.submitted_at <= bound]
        rows.sort(key=lambda o: o.submitted_at, reverse=direction == "desc")
        return [
            self.json_of(self._read(o)) if nested else self._read(o).to_json() for o in rows[:limit]
        ]

    def _cancel(self, order_id: str, *, cascade: bool = True, requested: bool = False) -> None:
        """Cancel an order (and, with `cascade`, its legs). A cancel the client `requested`
        is asynchronous when `cancel_pending_reads` is set: "pending_cancel" first."""
        order = self.orders.get(order_id)
        if order is None:
            raise _HttpError(404, 40410000, "order not found")
        if not order.open or (requested and order.status == "pending_cancel"):
            raise _HttpError(422, 42210000, f'order is already in "{order.status}" state')
        now = self._tick()
        if requested and self.cancel_pending_reads > 0:
            top = order if order.parent is None else self.orders[order.parent]
            for member in (order, *(self.orders[i] for i in order.legs if cascade)):
                if member.open:
                    member.status, member.updated_at = "pending_cancel", now
            top.cancel_reads_left = self.cancel_pending_reads
            return
        order.status = "canceled"
        order.canceled_at = order.updated_at = now
        for leg_id in order.legs if cascade else ():  # an entry's or an OCO's legs go too
            if self.orders[leg_id].open:
                self._cancel(leg_id)

    def _finish_cancel(self, order: FakeOrder) -> None:
        """A pending cancel of `order` (a top-level order) and its legs takes effect."""
        now = self._tick()
        for member in (order, *(self.orders[i] for i in order.legs)):
            if member.status == "pending_cancel":
                member.status = "canceled"
                member.canceled_at = member.updated_at = now

    def _read(self, order: FakeOrder) -> FakeOrder:
        """One read of `order` (or of its group): a pending cancel counts down, then takes
        effect (the read that sees it done is the one after the last pending one)."""
        top = order if order.parent is None else self.orders[order.parent]
        pending = top.status == "pending_cancel" or any(
            self.orders[i].status == "pending_cancel" for i in top.legs
        )
        if pending:
            if top.cancel_reads_left > 0:
                top.cancel_reads_left -= 1
            else:
                self._finish_cancel(top)
        return order

    def _account(self) -> dict[str, Any]:
        equity = self.equity()
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-account")),
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _fmt(self.cash),
            "regt_buying_power": _fmt(self.cash),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _fmt(self.cash),
            "cash": _fmt(self.cash),
            "accrued_fees": "0",
            "portfolio_value": _fmt(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2020-01-01T00:00:00Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": _fmt(equity),
            "last_equity": _fmt(equity),
            "long_market_value": _fmt(equity - self.cash),
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def _positions(self) -> list[dict[str, Any]]:
        result = []
        for symbol, (qty, avg) in self.positions.items():
            price = self.marks.get(symbol, avg)
            result.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
                    "symbol": symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "asset_marginable": True,
                    "avg_entry_price": _fmt(avg),
                    "qty": _fmt(qty),
                    "side": "long" if qty > 0 else "short",
                    "market_value": _fmt(qty * price),
                    "cost_basis": _fmt(qty * avg),
                    "unrealized_pl": _fmt(qty * (price - avg)),
                    "current_price": _fmt(price),
                    "qty_available": _fmt(qty),
                }
            )
        return result

    def _clock_json(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "timestamp": _iso(now),
            "is_open": True,
            "next_open": _iso(now + timedelta(days=1)),
            "next_close": _iso(now + timedelta(hours=6)),
        }

    @staticmethod
    def _bar_json(at: datetime, close: Decimal) -> dict[str, Any]:
        price = float(close)
        return {
            "t": _iso(at.astimezone(UTC)),
            "o": price,
            "h": price,
            "l": price,
            "c": price,
            "v": 1000,
            "n": 10,
            "vw": price,
        }

    def _bars(self, query: dict[str, list[str]]) -> dict[str, Any]:
        symbols = [s for s in query.get("symbols", [""])[0].split(",") if s]
        if query.get("timeframe", [""])[0] != "1Day":
            raise _HttpError(422, 42210000, "only 1Day bars are faked")
        if not symbols:
            raise _HttpError(400, 40010000, "symbols is required")

        def bound(name: str) -> datetime | None:
            text = query.get(name, [None])[0]
            return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))

        start, end = bound("start"), bound("end")
        rows: list[tuple[str, dict[str, Any]]] = []
        for symbol in sorted(symbols):
            for day, close in sorted(self.daily.get(symbol, {}).items()):
                at = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
                if (start is None or at >= start) and (end is None or at <= end):
                    rows.append((symbol, self._bar_json(at, close)))
        offset = int(query.get("page_token", ["0"])[0])
        limit = int(query.get("limit", ["1000"])[0])
        if self.data_page_limit is not None:
            limit = min(limit, self.data_page_limit)
        page = rows[offset : offset + limit]
        bars: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            bars.setdefault(symbol, []).append(bar)
        more = offset + limit < len(rows)
        return {"bars": bars, "next_page_token": str(offset + limit) if more else None}

    def _latest_bars(self, query: dict[str, list[str]]) -> dict[str, Any]:
        symbols = [s for s in query.get("symbols", [""])[0].split(",") if s]
        return {"bars": {s: self._bar_json(*self.latest[s]) for s in symbols if s in self.latest}}

    def _take_fault(self, route: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.route == route:
                return self._faults.pop(index)
        return None

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, Fault | None]:
        """One request → (status, JSON body or None, the fault that applied)."""
        route, action = self._route(method, path, query, body)
        with self._lock:
            self.requests.append((method, path))
            if route == SUBMIT and isinstance(body, dict):
                self.post_attempts[str(body.get("client_order_id"))] += 1
            if method in ("POST", "PATCH"):
                self.bodies.append((method, path, body))
            fault = self._take_fault(route)
        if fault is not None and fault.status is not None and not fault.accept:
            return fault.status, None, fault
        if fault is not None and not fault.accept and fault.delay:
            time.sleep(fault.delay)  # processed late: after the client may have given up
        if fault is not None and fault.hold is not None:
            fault.hold.wait(timeout=60)  # processed when the test releases it
        try:
            with self._lock:
                status, payload = action()
        except _HttpError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        if fault is not None and fault.accept:
            return (fault.status or status), (None if fault.status else payload), fault
        return status, payload, None

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[str, Any]:
        def missing() -> tuple[int, Any]:
            raise _HttpError(404, 40410000, "endpoint not found")

        if path == "/v2/orders" and method == "POST":
            return SUBMIT, lambda: (200, self.json_of(self._submit(body)))
        if path == "/v2/orders" and method == "GET":
            return LIST, lambda: (200, self._list(query))
        if path == "/v2/orders" and method == "DELETE":

            def cancel_all() -> tuple[int, Any]:
                result = []
                for order in list(self.orders.values()):
                    if order.open and order.status != "pending_cancel":
                        self._cancel(order.id, requested=True)
                        result.append({"id": order.id, "status": 200, "body": order.to_json()})
                return 207, result

            return CANCEL, cancel_all
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            cid = query.get("client_order_id", [""])[0]

            def lookup() -> tuple[int, Any]:
                if cid not in self.by_client_id:
                    raise _HttpError(404, 40410000, "order not found")
                order = self._read(self.orders[self.by_client_id[cid]])
                return 200, self.json_of(order) if self.nest_legs_on_lookup else order.to_json()

            return LOOKUP, lookup
        if path.startswith("/v2/orders/"):
            order_id = path.rsplit("/", 1)[1]
            if method == "GET":

                def get() -> tuple[int, Any]:
                    if order_id not in self.orders:
                        raise _HttpError(404, 40410000, "order not found")
                    return 200, self.json_of(self._read(self.orders[order_id]))

                return GET_BY_ID, get
            if method == "PATCH":
                return REPLACE, lambda: (200, self.json_of(self._replace(order_id, body)))
            if method == "DELETE":

                def cancel() -> tuple[int, Any]:
                    self._cancel(order_id, requested=True)
                    return 204, None

                return CANCEL, cancel
        if path == "/v2/account" and method == "GET":
            return ACCOUNT, lambda: (200, self._account())
        if path == "/v2/positions" and method == "GET":
            return POSITIONS, lambda: (200, self._positions())
        if path == "/v2/clock" and method == "GET":
            return CLOCK, lambda: (200, self._clock_json())
        if path == "/v2/stocks/bars" and method == "GET":
            return BARS, lambda: (200, self._bars(query))
        if path == "/v2/stocks/bars/latest" and method == "GET":
            return LATEST_BARS, lambda: (200, self._latest_bars(query))
        return "unknown", missing


_REASONS = {429: "too many requests", 500: "internal server error", 503: "service unavailable"}


class _Handler(BaseHTTPRequestHandler):
    venue: FakeAlpaca
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet

    def _serve(self, method: str) -> None:
        venue = self.venue
        with venue._lock:
            venue._in_flight += 1
        try:
            self._serve_one(method)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up: the answer is lost, as intended
        finally:
            with venue._lock:
                venue._in_flight -= 1

    def _serve_one(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if (
            self.headers.get("APCA-API-KEY-ID") != KEY
            or self.headers.get("APCA-API-SECRET-KEY") != SECRET
        ):
            self._send(401, json.dumps({"code": 40110000, "message": "request is not authorized"}))
            return
        parsed = urlparse(self.path)
        body = json.loads(raw) if raw else None
        status, payload, fault = self.venue.handle(
            method, parsed.path, parse_qs(parsed.query), body
        )
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            text = fault.body
            if text is None:
                if fault.status == 504:
                    text = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
                else:
                    reason = _REASONS.get(fault.status, "injected fault")
                    text = json.dumps({"code": fault.status * 100_000, "message": reason})
            self._send(fault.status, text)
            return
        self._send(status, "" if payload is None else json.dumps(payload))

    def _send(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")


__all__ = [
    "BARS",
    "KEY",
    "LATEST_BARS",
    "REPLACE",
    "SECRET",
    "FakeAlpaca",
    "FakeOrder",
    "Fault",
]
