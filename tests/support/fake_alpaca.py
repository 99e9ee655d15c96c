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
acted upon first, and a delay before answering (to trip the client's timeout).

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
    with `accept`, the request is carried out first (the answer is what gets lost)."""

    route: str
    status: int | None = None
    accept: bool = False
    delay: float = 0.0
    body: str | None = None


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

    @property
    def open(self) -> bool:
        return self.status in ("new", "accepted", "pending_new", "partially_filled")

    def to_json(self) -> dict[str, Any]:
        avg = None if self.filled_qty == 0 else _fmt(self.filled_notional / self.filled_qty)
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
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _fmt(self.qty),
            "filled_qty": _fmt(self.filled_qty),
            "filled_avg_price": avg,
            "order_class": "",
            "order_type": "market",
            "type": "market",
            "side": self.side,
            "time_in_force": "day",
            "limit_price": None,
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
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
        self.rejected_symbols: set[str] = set()  # accepted, then status "rejected"
        self.daily: dict[str, dict[date, Decimal]] = {}  # symbol -> session -> close
        self.latest: dict[str, tuple[datetime, Decimal]] = {}  # symbol -> latest minute bar
        self.data_page_limit: int | None = None  # smaller pages to exercise the SDK's paging
        self.account_number = "PA0FAKE00000"  # Alpaca's paper accounts start with "PA"
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
    ) -> None:
        """Queue `times` faults for the next requests on `route`."""
        with self._lock:
            self._faults.extend(Fault(route, status, accept, delay, body) for _ in range(times))

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def mark(self, day: date, prices: Mapping[str, Decimal]) -> None:
        """New prices (the trader's `MarketSink`): open orders take a fill step at them."""
        with self._lock:
            self.marks.update(prices)
            self._tick()
            for order in self.orders.values():
                if order.open and order.symbol in self.marks:
                    self._fill_step(order, self.marks[order.symbol])

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
        order.status = "filled" if order.filled_qty == order.qty else "partially_filled"
        order.updated_at = now
        if order.status == "filled":
            order.filled_at = now
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

    def _fill_step(self, order: FakeOrder, price: Decimal) -> None:
        remaining = order.qty - order.filled_qty
        take = (
            remaining if self.max_fill_per_step is None else min(remaining, self.max_fill_per_step)
        )
        if take > 0:
            self._execute(order, take, price)

    def _submit(self, body: dict[str, Any]) -> FakeOrder:
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if cid in self.by_client_id:
            raise _HttpError(422, 40010001, "client_order_id must be unique")
        if body.get("type") != "market" or body.get("time_in_force") != "day":
            raise _HttpError(422, 40010001, "only day market orders are faked")
        qty = Decimal(str(body.get("qty", "0")))
        side = body.get("side")
        if qty <= 0 or side not in ("buy", "sell"):
            raise _HttpError(422, 40010001, "qty must be > 0")
        now = self._tick()
        order = FakeOrder(str(uuid.uuid4()), cid, str(body["symbol"]), side, qty, now, now)
        self.orders[order.id] = order
        self.by_client_id[cid] = order.id
        if order.symbol in self.rejected_symbols:
            order.status = "rejected"
        elif self.auto_fill and order.symbol in self.marks:
            self._fill_step(order, self.marks[order.symbol])
        return order

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        status = query.get("status", ["open"])[0]
        limit = min(int(query.get("limit", ["50"])[0]), 500)
        direction = query.get("direction", ["desc"])[0]
        after = query.get("after", [None])[0]
        until = query.get("until", [None])[0]
        rows = list(self.orders.values())
        if status == "open":
            rows = [o for o in rows if o.open]
        elif status == "closed":
            rows = [o for o in rows if not o.open]
        if after is not None:
            bound = datetime.fromisoformat(after.replace("Z", "+00:00"))
            rows = [o for o in rows if o.submitted_at > bound]
        if until is not None:
            bound = datetime.fromisoformat(until.replace("Z", "+00:00"))
            rows = [o for o in rows if o.submitted_at <= bound]
        rows.sort(key=lambda o: o.submitted_at, reverse=direction == "desc")
        return [o.to_json() for o in rows[:limit]]

    def _cancel(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is None:
            raise _HttpError(404, 40410000, "order not found")
        if not order.open:
            raise _HttpError(422, 42210000, f'order is already in "{order.status}" state')
        now = self._tick()
        order.status = "canceled"
        order.canceled_at = order.updated_at = now

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
            fault = self._take_fault(route)
        if fault is not None and fault.status is not None and not fault.accept:
            return fault.status, None, fault
        if fault is not None and not fault.accept and fault.delay:
            time.sleep(fault.delay)  # processed late: after the client may have given up
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
            return SUBMIT, lambda: (200, self._submit(body).to_json())
        if path == "/v2/orders" and method == "GET":
            return LIST, lambda: (200, self._list(query))
        if path == "/v2/orders" and method == "DELETE":

            def cancel_all() -> tuple[int, Any]:
                result = []
                for order in list(self.orders.values()):
                    if order.open:
                        self._cancel(order.id)
                        result.append({"id": order.id, "status": 200, "body": order.to_json()})
                return 207, result

            return CANCEL, cancel_all
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            cid = query.get("client_order_id", [""])[0]

            def lookup() -> tuple[int, Any]:
                if cid not in self.by_client_id:
                    raise _HttpError(404, 40410000, "order not found")
                return 200, self.orders[self.by_client_id[cid]].to_json()

            return LOOKUP, lookup
        if path.startswith("/v2/orders/"):
            order_id = path.rsplit("/", 1)[1]
            if method == "GET":

                def get() -> tuple[int, Any]:
                    if order_id not in self.orders:
                        raise _HttpError(404, 40410000, "order not found")
                    return 200, self.orders[order_id].to_json()

                return GET_BY_ID, get
            if method == "DELETE":

                def cancel() -> tuple[int, Any]:
                    self._cancel(order_id)
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


__all__ = ["BARS", "KEY", "LATEST_BARS", "SECRET", "FakeAlpaca", "FakeOrder", "Fault"]
