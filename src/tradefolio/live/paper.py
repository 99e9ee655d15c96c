"""`PaperBroker`: the embedded default venue, durable in the same SQLite file as the journal.

It fills market orders at the feed's current mark (the price of the bar the trader is
acting on: the bar after the one whose close produced the signal, like the backtest) plus
slippage, and charges commission with `CostModel`. Orders that rest — limit, stop,
stop-limit, trailing stop, DAY or GTC, OCO groups — are matched against each bar's open,
high, low and close (`match_bar`, called once the bar's market orders are in) with the
backtest's own matching (`tradefolio.execution.matching`): same trigger and fill prices,
same slippage rule, a protective exit (`parent_id`) active from the bar after it was
placed, a trailing stop's level starting from its entry's fill price, and an OCO group's
other orders canceled when one fills. Its orders, positions and cash live in
`paper_*` tables, in transactions of their own — separate from the journal's — so the crash
windows between "journaled", "accepted by the venue" and "fill recorded" are as real as with
a remote broker, and a paper account survives restarts. A fill moves the venue's position
and cash by the journal's own rule (`tradefolio.live.positions.book_fill`, average cost).

Durability (every transaction waits for another process's write lock as the journal's do,
`begin_immediate`): a submit outside `batch()` is one transaction; the submits inside one `batch()`
(the trader's orders of one bar) are one transaction, each under its own savepoint (a submit
that raises undoes only itself), committed when the block exits (inside the trader's commit
group of whole bars, `LiveTrader.run(commit_every=...)`, savepoints of it) — a SIGKILL inside the
block leaves the venue as if none of them had arrived. A mark (its date and every fill it
causes) is one transaction too, so a crash never leaves a bar half marked.

Options for fault injection: `fill_delay_marks=1` leaves orders open until the next mark
(an order can then fill while the trader is down), `max_fill_per_mark` fills at most that
many units per mark (partial fills), `checkpoint` names crash points (see the crash test).
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tradefolio.errors import InvalidParameter
from tradefolio.execution.costs import CostModel as ExecutionCosts
from tradefolio.execution.matching import Resting, match, slipped, trail
from tradefolio.execution.money import MICRO, from_micro, round_micro, to_micro
from tradefolio.execution.orders import Order, OrderType, TimeInForce
from tradefolio.live.broker import (
    BrokerAccount,
    BrokerPosition,
    DuplicateClientOrderId,
    OrderRejected,
)
from tradefolio.live.feed import Range
from tradefolio.live.journal import dec
from tradefolio.live.journal_file import begin_immediate
from tradefolio.live.orders import BrokerOrder, OrderRequest, OrderStatus, Side
from tradefolio.live.positions import book_fill


@dataclass(frozen=True, slots=True)
class CostModel:
    """Trading costs of a fill: slippage moving the price against the order by
    `slippage_bps`/10⁴, and the commission of the one cost model
    (`tradefolio.execution.costs.CostModel`: max(`commission_min`, `commission_fixed` +
    `commission_per_share` · qty + `commission_bps`/10⁴ · notional), capped at a sale's
    proceeds, rounded to the micro-unit). Exact decimals."""

    commission_bps: Decimal = Decimal(0)
    commission_per_share: Decimal = Decimal(0)
    commission_min: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(0)
    commission_fixed: Decimal = Decimal(0)
    _commission: ExecutionCosts = field(init=False, repr=False, compare=False)

    @property
    def model(self) -> ExecutionCosts:
        """The one cost model these parameters are (`tradefolio.execution.costs`)."""
        return self._commission

    def __post_init__(self) -> None:
        for name in (
            "commission_bps",
            "commission_per_share",
            "commission_min",
            "slippage_bps",
            "commission_fixed",
        ):
            if getattr(self, name) < 0:
                raise InvalidParameter(f"{name} must be >= 0, got {getattr(self, name)}")
        commission = ExecutionCosts(
            commission_bps=self.commission_bps,
            commission_per_share=self.commission_per_share,
            commission_min=self.commission_min,
            slippage_bps=self.slippage_bps,
            commission_fixed=self.commission_fixed,
        )
        object.__setattr__(self, "_commission", commission)

    def fill_price(self, mark: Decimal, side: Side) -> Decimal:
        """Mark moved against the order by the slippage, rounded half-even to the
        micro-unit (the cost model's one rounding rule, as the backtest's fills)."""
        return self._commission.fill_price(mark, side.value)

    def commission(self, quantity: Decimal, notional: Decimal, side: Side = Side.BUY) -> Decimal:
        """Commission of one fill (a sell's never exceeds its proceeds)."""
        return self._commission.commission(quantity, notional, side.value)


#: Columns of `paper_orders` added with order terms (a paper venue of an older journal gets
#: them on open; its orders were DAY market orders).
_TERM_COLUMNS = (
    ("type", "TEXT NOT NULL DEFAULT 'market'"),
    ("limit_price", "TEXT"),
    ("stop_price", "TEXT"),
    ("trail_percent", "TEXT"),
    ("trail_amount", "TEXT"),
    ("time_in_force", "TEXT NOT NULL DEFAULT 'day'"),
    ("parent_id", "TEXT"),
    ("oco_group", "TEXT"),
    # matching state: a trailing stop's level and a stop-limit's trigger (micro-units)
    ("level", "INTEGER NOT NULL DEFAULT 0"),
    ("triggered", "INTEGER NOT NULL DEFAULT 0"),
    # the last mark when the order arrived: it rests from that bar (a child: the next)
    ("placed_mark", "TEXT"),
    # Σ units · reference price of the fills (the mark or the matched price, before
    # slippage); NULL: none yet, or fills of an older venue that did not keep it
    ("reference_notional", "TEXT"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_account (
    id INTEGER PRIMARY KEY CHECK (id = 1), cash TEXT NOT NULL, last_mark TEXT
);
CREATE TABLE IF NOT EXISTS paper_orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    broker_order_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_quantity TEXT NOT NULL DEFAULT '0',
    fill_notional TEXT NOT NULL DEFAULT '0',
    commission TEXT NOT NULL DEFAULT '0',
    marks_waited INTEGER NOT NULL DEFAULT 0,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paper_orders_open ON paper_orders(status)
    WHERE status IN ('submitted', 'partially_filled');
CREATE TABLE IF NOT EXISTS paper_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS paper_positions (
    symbol TEXT PRIMARY KEY, quantity TEXT NOT NULL, cost TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else dec(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _matching_order(order: OrderRequest) -> Order:
    """The engine-neutral order the matching module reads (type, side and prices)."""
    return Order(
        order.client_order_id,
        order.symbol,
        order.side.value,
        1,  # matching never reads the quantity
        order.type,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_percent=order.trail_percent,
        trail_amount=order.trail_amount,
    )


def _set_trail(resting: Resting, percent: Decimal | None, amount: Decimal | None) -> None:
    resting.trail_percent = percent
    if amount is not None:
        resting.trail_amount = to_micro(amount)


class PaperBroker:
    """A simulated broker whose state is durable in `connection`'s database."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        initial_cash: Decimal,
        costs: CostModel | None = None,
        *,
        fill_delay_marks: int = 0,
        max_fill_per_mark: Decimal | None = None,
        allow_short: bool = False,
        market_orders_in_match: bool = False,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self._db = connection
        #: Market orders wait for the bar's `match_bar` and fill there in submission order
        #: with the resting ones, as the backtest fills a bar's orders (backtrader's order:
        #: a stop placed earlier is tried before this bar's market buys, and the cash its
        #: sale frees pays for them). Off: a market order fills at its submit.
        self.market_orders_in_match = market_orders_in_match
        #: Called with a crash-relevant point's name (`in_mark`: inside a mark's uncommitted
        #: transaction, before each resting order it may fill); tests make the process kill itself.
        self._checkpoint = checkpoint or (lambda name: None)
        self.costs = costs or CostModel()
        self.fill_delay_marks = fill_delay_marks
        self.max_fill_per_mark = max_fill_per_mark
        self.allow_short = allow_short
        self._marks: dict[str, Decimal] = {}
        self._in_batch = False
        self._path = str(connection.execute("PRAGMA database_list").fetchone()[2])
        begin_immediate(self._db, self._path)
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(paper_orders)")}
            for name, declaration in _TERM_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE paper_orders ADD COLUMN {name} {declaration}")
            self._db.execute(
                "INSERT OR IGNORE INTO paper_account(id, cash) VALUES (1, ?)", (dec(initial_cash),)
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the feed side ---------------------------------------------------------------------

    def mark(self, day: date, prices: Mapping[str, Decimal]) -> None:
        """A bar's prices arrive: open orders old enough fill at them.

        The last marked bar is durable; marking it again (a trader resuming that bar after
        a crash) only refreshes the prices, since a market does not replay a bar."""
        self._marks.update(prices)
        (last,) = self._db.execute("SELECT last_mark FROM paper_account WHERE id = 1").fetchone()
        if last is not None and day.isoformat() <= last:
            return
        with self._atomic():
            self._db.execute(
                "UPDATE paper_account SET last_mark = ? WHERE id = 1", (day.isoformat(),)
            )
            rows = self._db.execute(
                "SELECT client_order_id FROM paper_orders "
                "WHERE status IN ('submitted', 'partially_filled') AND type = 'market' "
                "ORDER BY seq"
            ).fetchall()
            for (client_order_id,) in rows:
                self._checkpoint("in_mark")
                self._db.execute(
                    "UPDATE paper_orders SET marks_waited = marks_waited + 1 "
                    "WHERE client_order_id = ?",
                    (client_order_id,),
                )
                if not self.market_orders_in_match:
                    self._try_fill(client_order_id)

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Accept the submits made inside together: one durable commit at the block's normal
        exit, none of them on an exception (or a crash) inside it. Nested use joins it.

        The connection is shared with the journal, so nothing may write the journal while
        the block is open (SQLite refuses a second `BEGIN`); the trader records the reports
        after the block."""
        if self._in_batch:
            yield
            return
        joined = self._db.in_transaction  # inside the trader's commit group: a savepoint
        if joined:
            self._db.execute("SAVEPOINT paper_batch")
        else:
            begin_immediate(self._db, self._path)
        self._in_batch = True
        try:
            yield
        except BaseException:
            self._in_batch = False
            if joined:
                self._db.execute("ROLLBACK TO paper_batch")
                self._db.execute("RELEASE paper_batch")
            else:
                self._db.execute("ROLLBACK")
            raise
        self._in_batch = False
        self._db.execute("RELEASE paper_batch" if joined else "COMMIT")

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        """One venue operation, all or nothing: its own transaction, or a savepoint of the
        open batch or of the trader's commit group (undone alone if it raises; durable
        with the enclosing transaction)."""
        if self._in_batch or self._db.in_transaction:
            self._db.execute("SAVEPOINT paper_op")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK TO paper_op")
                self._db.execute("RELEASE paper_op")
                raise
            self._db.execute("RELEASE paper_op")
            return
        begin_immediate(self._db, self._path)
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- Broker protocol ---------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> BrokerOrder:
        """Accept an order atomically (durable at once, or with the enclosing `batch()`):
        a market order fills now (with no fill delay); any other rests until `match_bar`.
        A trailing stop with a parent starts `trail` below the parent's fill price."""
        if order.quantity <= 0:
            raise OrderRejected(f"{order.client_order_id}: quantity must be > 0")
        if order.symbol not in self._marks:
            raise OrderRejected(f"{order.client_order_id}: no price for {order.symbol}")
        with self._atomic():
            exists = self._db.execute(
                "SELECT 1 FROM paper_orders WHERE client_order_id = ?", (order.client_order_id,)
            ).fetchone()
            if exists:
                raise DuplicateClientOrderId(
                    f"client_order_id must be unique: {order.client_order_id}"
                )
            now = _now()
            (placed_mark,) = self._db.execute(
                "SELECT last_mark FROM paper_account WHERE id = 1"
            ).fetchone()
            self._db.execute(
                "INSERT INTO paper_orders(broker_order_id, client_order_id, symbol, side, "
                "quantity, status, submitted_at, updated_at, type, limit_price, stop_price, "
                "trail_percent, trail_amount, time_in_force, parent_id, oco_group, level, "
                "placed_mark) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    order.client_order_id,
                    order.symbol,
                    order.side.value,
                    dec(order.quantity),
                    OrderStatus.SUBMITTED.value,
                    now,
                    now,
                    order.type.value,
                    _text(order.limit_price),
                    _text(order.stop_price),
                    _text(order.trail_percent),
                    _text(order.trail_amount),
                    order.time_in_force.value,
                    order.parent_id,
                    order.oco_group,
                    self._initial_level(order),
                    placed_mark,
                ),
            )
            if order.type is OrderType.MARKET and not self.market_orders_in_match:
                self._try_fill(order.client_order_id)
        result = self.get_order(order.client_order_id)
        assert result is not None
        return result

    def _initial_level(self, order: OrderRequest) -> int:
        """A trailing stop's first level (micro-units): `trail` from its parent's average
        fill price when it has a filled parent here (the backtest trails from the entry's
        fill), else 0 (it first moves with the close of its first active bar)."""
        if order.type is not OrderType.TRAILING_STOP or order.parent_id is None:
            return 0
        row = self._db.execute(
            "SELECT filled_quantity, fill_notional FROM paper_orders WHERE client_order_id = ?",
            (order.parent_id,),
        ).fetchone()
        if row is None or Decimal(row[0]) == 0:
            return 0
        fill = round_micro(Decimal(row[1]) / Decimal(row[0]) * MICRO)
        resting = Resting(_matching_order(order), 0, 0)
        _set_trail(resting, order.trail_percent, order.trail_amount)
        trail(resting, fill)
        return resting.stop

    def _try_fill(self, client_order_id: str) -> None:
        row = self._db.execute(
            "SELECT symbol, side, quantity, filled_quantity, marks_waited FROM paper_orders "
            "WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        symbol, side_text, quantity, filled, waited = row
        side = Side(side_text)
        if waited < self.fill_delay_marks or symbol not in self._marks:
            return
        remaining = Decimal(quantity) - Decimal(filled)
        take = (
            remaining if self.max_fill_per_mark is None else min(remaining, self.max_fill_per_mark)
        )
        if side is Side.SELL and not self.allow_short:
            held = self._position(symbol)[0]
            take = min(take, held)
        if take <= 0:
            if side is Side.SELL and not self.allow_short:
                # nothing left to sell: refused, or (after fills) the rest canceled
                done = OrderStatus.REJECTED if Decimal(filled) == 0 else OrderStatus.CANCELED
                self._set_order(client_order_id, done)
            return
        reference = from_micro(round_micro(self._marks[symbol] * MICRO))
        price = self.costs.fill_price(self._marks[symbol], side)
        cut = side is Side.BUY and self._buy_cost(take, price) > self._cash()
        if cut:  # as the backtest: a buy fills at most what the cash pays for, the rest is canceled
            take = Decimal(
                self.costs.model.affordable_quantity(
                    int(take), to_micro(price), to_micro(self._cash())
                )
            )
        if take > 0:
            self._book_fill(
                client_order_id, symbol, side, take, price, Decimal(quantity), reference
            )
        if cut:
            self._set_order(client_order_id, OrderStatus.CANCELED)

    def _buy_cost(self, take: Decimal, price: Decimal) -> Decimal:
        """Cash a buy of `take` units at `price` (slipped) needs, commission included."""
        notional = price * take
        return notional + self.costs.commission(take, notional, Side.BUY)

    def _book_fill(
        self,
        client_order_id: str,
        symbol: str,
        side: Side,
        take: Decimal,
        price: Decimal,
        quantity: Decimal,
        reference: Decimal,
    ) -> None:
        """One fill of `take` units at `price` (slipped already from `reference`): order,
        position, cash."""
        filled, notional, commission, referenced = self._db.execute(
            "SELECT filled_quantity, fill_notional, commission, reference_notional "
            "FROM paper_orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        fill_notional = price * take
        fee = self.costs.commission(take, fill_notional, side)
        new_filled = Decimal(filled) + take
        status = OrderStatus.FILLED if new_filled == quantity else OrderStatus.PARTIALLY_FILLED
        # not known once an earlier fill was booked without one (an older venue's)
        known = referenced is not None or Decimal(filled) == 0
        new_reference = Decimal(referenced or 0) + reference * take if known else None
        self._db.execute(
            "UPDATE paper_orders SET filled_quantity = ?, fill_notional = ?, commission = ?, "
            "status = ?, updated_at = ?, reference_notional = ? WHERE client_order_id = ?",
            (
                dec(new_filled),
                dec(Decimal(notional) + fill_notional),
                dec(Decimal(commission) + fee),
                status.value,
                _now(),
                _text(new_reference),
                client_order_id,
            ),
        )
        held, cost = self._position(symbol)
        booked = book_fill(held, cost, side, take, fill_notional, fee)
        self._db.execute(
            "INSERT INTO paper_positions(symbol, quantity, cost) VALUES (?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost",
            (symbol, dec(booked.quantity), dec(booked.cost)),
        )
        self._db.execute(
            "UPDATE paper_account SET cash = ? WHERE id = 1",
            (dec(self._cash() + booked.cash_change),),
        )

    _RESTING_COLUMNS = (
        "client_order_id, symbol, side, quantity, filled_quantity, type, limit_price, "
        "stop_price, trail_percent, trail_amount, time_in_force, parent_id, oco_group, level, "
        "triggered, placed_mark"
    )

    def match_bar(self, day: date, ranges: Mapping[str, Range]) -> None:
        """The bar's range arrives after its market orders: every resting (non-market) order
        active on `day` is matched against the symbol's open/high/low/close, oldest first,
        exactly as the backtest engine matches it (`execution.matching`); one transaction.
        With `market_orders_in_match` the open market orders fill here too, at the mark, in
        the same submission order. Once-per-bar: a bar matched already (a resumed bar) is
        not matched again."""
        (matched,) = self._db.execute(
            "SELECT value FROM paper_meta WHERE key = 'last_match'"
        ).fetchone() or (None,)
        if matched is not None and day.isoformat() <= matched:
            return
        with self._atomic():
            self._db.execute(
                "INSERT INTO paper_meta(key, value) VALUES ('last_match', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (day.isoformat(),),
            )
            resting_only = "" if self.market_orders_in_match else "AND type != 'market' "
            rows = self._db.execute(
                f"SELECT {self._RESTING_COLUMNS} FROM paper_orders "
                f"WHERE status IN ('submitted', 'partially_filled') {resting_only}ORDER BY seq"
            ).fetchall()
            for row in rows:
                self._checkpoint("in_match")
                if row[5] == OrderType.MARKET.value:
                    self._try_fill(row[0])  # at the mark (the bar's open), as at a submit
                else:
                    self._match_one(day, ranges, row)

    def _match_one(self, day: date, ranges: Mapping[str, Range], row: tuple[Any, ...]) -> None:
        (cid, symbol, side_text, quantity, filled, kind, limit, stop, percent, amount, tif,
         parent, group, level, triggered, placed) = row  # fmt: skip
        still = self._db.execute(
            "SELECT status FROM paper_orders WHERE client_order_id = ?", (cid,)
        ).fetchone()[0]
        if still not in ("submitted", "partially_filled"):
            return  # canceled by an OCO peer's fill earlier in this bar
        today = day.isoformat()
        if placed is not None and (today < placed or (parent is not None and today <= placed)):
            return  # a protective exit placed on this bar rests from the next one
        request = OrderRequest(
            cid, symbol, Side(side_text), Decimal(quantity), type=OrderType(kind),
            limit_price=_decimal(limit), stop_price=_decimal(stop),
            trail_percent=_decimal(percent), trail_amount=_decimal(amount),
        )  # fmt: skip
        bar = ranges.get(symbol)
        if bar is not None:
            resting = Resting(_matching_order(request), 0, 0, triggered=bool(triggered))
            resting.stop = int(level) if request.type is OrderType.TRAILING_STOP else (
                0 if stop is None else to_micro(Decimal(stop))
            )  # fmt: skip
            resting.limit = 0 if limit is None else to_micro(Decimal(limit))
            _set_trail(resting, request.trail_percent, request.trail_amount)
            o, h, low, c = (to_micro(value) for value in bar)
            price, slip = match(resting, o, h, low, c)
            if price is not None:
                self._fill_resting(request, Decimal(filled), slipped(resting, price, slip,
                                   self.costs.model), group, price)  # fmt: skip
                return
            if request.type is OrderType.TRAILING_STOP:
                trail(resting, c)
            self._db.execute(
                "UPDATE paper_orders SET level = ?, triggered = ? WHERE client_order_id = ?",
                (resting.stop, int(resting.triggered), cid),
            )
        if TimeInForce(tif) is TimeInForce.DAY:
            self._set_order(cid, OrderStatus.CANCELED)  # a DAY order lives for one bar

    def _fill_resting(
        self,
        order: OrderRequest,
        filled: Decimal,
        price_micro: int,
        group: str | None,
        reference_micro: int,
    ) -> None:
        """Fill a matched resting order at `price_micro` (slipped from the matched price
        `reference_micro`; a sell at most what is held, a buy at most what the cash pays
        for: the rest is canceled), then cancel its OCO peers."""
        cid, symbol, side = order.client_order_id, order.symbol, order.side
        remaining = order.quantity - filled
        if side is Side.SELL and not self.allow_short:
            take = min(remaining, self._position(symbol)[0])
        elif side is Side.BUY:
            cash_micro = to_micro(self._cash())
            take = Decimal(
                self.costs.model.affordable_quantity(int(remaining), price_micro, cash_micro)
            )
        else:
            take = remaining
        if take > 0:
            price = from_micro(price_micro)
            reference = from_micro(reference_micro)
            self._book_fill(cid, symbol, side, take, price, order.quantity, reference)
        if take < remaining:
            self._set_order(cid, OrderStatus.CANCELED)
        if group is not None and take > 0:
            self._db.execute(
                "UPDATE paper_orders SET status = 'canceled', updated_at = ? WHERE oco_group = ? "
                "AND client_order_id != ? AND status IN ('submitted', 'partially_filled')",
                (_now(), group, cid),
            )

    def _set_order(self, client_order_id: str, status: OrderStatus) -> None:
        self._db.execute(
            "UPDATE paper_orders SET status = ?, updated_at = ? WHERE client_order_id = ?",
            (status.value, _now(), client_order_id),
        )

    def _position(self, symbol: str) -> tuple[Decimal, Decimal]:
        row = self._db.execute(
            "SELECT quantity, cost FROM paper_positions WHERE symbol = ?", (symbol,)
        ).fetchone()
        return (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))

    def _cash(self) -> Decimal:
        (cash,) = self._db.execute("SELECT cash FROM paper_account WHERE id = 1").fetchone()
        return Decimal(cash)

    def cancel(self, client_order_id: str) -> None:
        """Cancel an open order (a filled or unknown one is left as it is)."""
        with self._atomic():
            self._db.execute(
                "UPDATE paper_orders SET status = 'canceled', updated_at = ? "
                "WHERE client_order_id = ? AND status IN ('submitted', 'partially_filled')",
                (_now(), client_order_id),
            )

    _COLUMNS = (
        "client_order_id, broker_order_id, symbol, side, quantity, status, filled_quantity, "
        "fill_notional, commission, type, limit_price, stop_price, trail_percent, "
        "trail_amount, time_in_force, parent_id, oco_group, level, reference_notional"
    )

    @staticmethod
    def _report(row: tuple[Any, ...]) -> BrokerOrder:
        filled = Decimal(row[6])
        notional = Decimal(row[7])
        kind = OrderType(row[9])
        stop = _decimal(row[11])
        if kind is OrderType.TRAILING_STOP and row[17]:
            stop = from_micro(int(row[17]))  # its current level
        return BrokerOrder(
            client_order_id=row[0],
            broker_order_id=row[1],
            symbol=row[2],
            side=Side(row[3]),
            quantity=Decimal(row[4]),
            status=OrderStatus(row[5]),
            filled_quantity=filled,
            avg_fill_price=notional / filled if filled else None,
            commission=Decimal(row[8]),
            notional=notional,
            type=kind,
            limit_price=_decimal(row[10]),
            stop_price=stop,
            trail_percent=_decimal(row[12]),
            trail_amount=_decimal(row[13]),
            time_in_force=TimeInForce(row[14]),
            parent_id=row[15],
            oco_group=row[16],
            reference_notional=_decimal(row[18]),
        )

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, or None."""
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM paper_orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        return None if row is None else self._report(row)

    def confirm_absent(
        self, client_order_id: str, *, placed_after: datetime, missing_since: datetime
    ) -> bool:
        """The paper venue accepts a submit atomically in the trader's own process: an
        order it does not hold now never reached it and never will."""
        return self.get_order(client_order_id) is None

    def open_orders(self) -> list[BrokerOrder]:
        """Submitted or partially filled orders."""
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM paper_orders "
            "WHERE status IN ('submitted', 'partially_filled') ORDER BY seq"
        )
        return [self._report(row) for row in rows]

    def all_orders(self) -> list[BrokerOrder]:
        """Every order the paper venue has seen, in arrival order."""
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM paper_orders ORDER BY seq")
        return [self._report(row) for row in rows]

    def fills_since(self, since: datetime) -> list[BrokerOrder]:
        """Orders with fills updated at or after `since`."""
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM paper_orders "
            "WHERE filled_quantity != '0' AND updated_at >= ? ORDER BY seq",
            (since.astimezone(UTC).isoformat(),),
        )
        return [self._report(row) for row in rows]

    def positions(self) -> list[BrokerPosition]:
        """Non-zero positions."""
        rows = self._db.execute("SELECT symbol, quantity, cost FROM paper_positions ORDER BY rowid")
        return [
            BrokerPosition(symbol, Decimal(q), Decimal(c) / Decimal(q))
            for symbol, q, c in rows
            if Decimal(q) != 0
        ]

    def account(self) -> BrokerAccount:
        """Cash, and equity with positions at the last marks."""
        cash = self._cash()
        value = sum(
            (p.quantity * self._marks.get(p.symbol, p.avg_price) for p in self.positions()),
            Decimal(0),
        )
        return BrokerAccount(cash=cash, equity=cash + value)


__all__ = ["CostModel", "PaperBroker"]
