"""`PaperBroker`: the embedded default venue, durable in the same SQLite file as the journal.

It fills market orders at the feed's current mark (the price of the bar the trader is
acting on: the bar after the one whose close produced the signal, like the backtest) plus
slippage, and charges commission with `CostModel`. Its orders, positions and cash live in
`paper_*` tables, in transactions of their own — separate from the journal's — so the crash
windows between "journaled", "accepted by the venue" and "fill recorded" are as real as with
a remote broker, and a paper account survives restarts.

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

from tradefolio.errors import InvalidParameter
from tradefolio.execution.costs import CostModel as ExecutionCosts
from tradefolio.live.broker import (
    BrokerAccount,
    BrokerPosition,
    DuplicateClientOrderId,
    OrderRejected,
)
from tradefolio.live.journal import begin_immediate, dec
from tradefolio.live.orders import BrokerOrder, OrderRequest, OrderStatus, Side

_BPS = Decimal(10_000)


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
            commission_fixed=self.commission_fixed,
        )
        object.__setattr__(self, "_commission", commission)

    def fill_price(self, mark: Decimal, side: Side) -> Decimal:
        """Mark moved against the order by the slippage."""
        return mark * (1 + side.sign * self.slippage_bps / _BPS)

    def commission(self, quantity: Decimal, notional: Decimal, side: Side = Side.BUY) -> Decimal:
        """Commission of one fill (a sell's never exceeds its proceeds)."""
        return self._commission.commission(quantity, notional, side.value)


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
CREATE TABLE IF NOT EXISTS paper_positions (
    symbol TEXT PRIMARY KEY, quantity TEXT NOT NULL, cost TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


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
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self._db = connection
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
                "WHERE status IN ('submitted', 'partially_filled') ORDER BY seq"
            ).fetchall()
            for (client_order_id,) in rows:
                self._checkpoint("in_mark")
                self._db.execute(
                    "UPDATE paper_orders SET marks_waited = marks_waited + 1 "
                    "WHERE client_order_id = ?",
                    (client_order_id,),
                )
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
        """Accept (and, with no fill delay, fill) a market order atomically (durable at once,
        or with the enclosing `batch()`)."""
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
            self._db.execute(
                "INSERT INTO paper_orders(broker_order_id, client_order_id, symbol, side, "
                "quantity, status, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    order.client_order_id,
                    order.symbol,
                    order.side.value,
                    dec(order.quantity),
                    OrderStatus.SUBMITTED.value,
                    now,
                    now,
                ),
            )
            self._try_fill(order.client_order_id)
        result = self.get_order(order.client_order_id)
        assert result is not None
        return result

    def _try_fill(self, client_order_id: str) -> None:
        row = self._db.execute(
            "SELECT symbol, side, quantity, filled_quantity, fill_notional, commission, "
            "marks_waited FROM paper_orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        symbol, side_text, quantity, filled, notional, commission, waited = row
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
                self._set_order(client_order_id, OrderStatus.REJECTED)
            return
        price = self.costs.fill_price(self._marks[symbol], side)
        fill_notional = price * take
        fee = self.costs.commission(take, fill_notional, side)
        new_filled = Decimal(filled) + take
        status = (
            OrderStatus.FILLED if new_filled == Decimal(quantity) else OrderStatus.PARTIALLY_FILLED
        )
        self._db.execute(
            "UPDATE paper_orders SET filled_quantity = ?, fill_notional = ?, commission = ?, "
            "status = ?, updated_at = ? WHERE client_order_id = ?",
            (
                dec(new_filled),
                dec(Decimal(notional) + fill_notional),
                dec(Decimal(commission) + fee),
                status.value,
                _now(),
                client_order_id,
            ),
        )
        held, cost = self._position(symbol)
        if side is Side.BUY:
            new_held, new_cost = held + take, cost + fill_notional
            cash_change = -fill_notional - fee
        else:
            new_held = held - take
            new_cost = Decimal(0) if new_held == 0 or held == 0 else cost * new_held / held
            cash_change = fill_notional - fee
        self._db.execute(
            "INSERT INTO paper_positions(symbol, quantity, cost) VALUES (?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost",
            (symbol, dec(new_held), dec(new_cost)),
        )
        self._db.execute(
            "UPDATE paper_account SET cash = ? WHERE id = 1", (dec(self._cash() + cash_change),)
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
        "fill_notional, commission"
    )

    @staticmethod
    def _report(row: tuple[str, ...]) -> BrokerOrder:
        filled = Decimal(row[6])
        notional = Decimal(row[7])
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
