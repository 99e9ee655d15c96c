"""The durable record of a live session: SQLite in WAL mode with `synchronous=FULL`.

Crash-only design: everything the trader knows (its run id, the plan of every bar, every
order and its state history, every fill, the ledger and the trading state) is rebuilt from
this file at start. Rules the code below keeps:

* Money and quantities are exact: `Decimal` in Python, canonical decimal TEXT in SQLite,
  never REAL.
* Timestamps are timezone-aware UTC (ISO 8601 TEXT); bars are dates (`YYYY-MM-DD`).
* One writer: the trader holds an exclusive `flock` on the database file for its lifetime
  (released by the kernel if the process dies, so a SIGKILL never leaves a stale lock).
  `live halt|resume` write only the `control` table, in short transactions, without it.
* Each public mutation is one transaction; a crash leaves the file at the last commit.
* `PRAGMA user_version` is the schema version; migrations run forward inside one
  transaction, and a file from a newer tradefolio is refused before anything is written
  (the DDL, the version and the steps: `tradefolio.live.journal_schema`). No other module
  runs SQL on these tables: reporting and the CLI read through this API.
* An existing file is checked before it is opened for writing, and an empty, damaged or
  foreign one is refused untouched, never reinitialised; a new journal is created
  atomically, owner-only (0600); every write transaction waits, bounded, for another
  process's write lock (`tradefolio.live.journal_file`: `probe`, `create`, `lock_writer`,
  `begin_immediate`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradefolio.errors import (
    JournalDamaged,
    JournalError,
    JournalPathError,
)
from tradefolio.live.journal_file import (
    BUSY_TIMEOUT_SECONDS,
    LOCK_WAIT_SECONDS,
    begin_immediate,
    create_file,
    lock_writer,
    probe_file,
)
from tradefolio.live.journal_schema import SCHEMA_VERSION, migrate, order_columns
from tradefolio.live.orders import (
    Fill,
    JournalOrder,
    OrderStatus,
    OrderTerms,
    OrderType,
    Side,
    TimeInForce,
    check_transition,
)
from tradefolio.live.positions import PRICE_QUANTUM, average_price, book_fill

#: Roles of journaled orders: the planner's (`enter`, `exit`, `rebalance`), a strategy's
#: own order (`strategy`), and protective exits (`stop`, `take`, `trail`, or `child`: a
#: strategy's bracket child), placed once their entry (`parent_id`) has filled.
ROLES = ("enter", "exit", "rebalance", "strategy", "stop", "take", "trail", "child")
#: The roles whose filled buys get the session's protective exits.
PROTECTED_ROLES = ("enter", "strategy")


#: Detail of an order event recording a duplicate-id answer: the broker holds the order.
BROKER_HOLDS_ID = "duplicate id"
#: Marks the order event of the first lookup that did not find an order whose submit may
#: have reached the broker (the start of the broker's acceptance window).
NOT_FOUND = "not found at broker"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _ts(moment: datetime | None = None) -> str:
    return (moment or utc_now()).astimezone(UTC).isoformat()


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else dec(value)


def _optional_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _reference_terms(
    side: Side, quantity: Decimal, notional: Decimal, reference: Decimal | None
) -> dict[str, Any]:
    """A fill's `reference_price` and `slippage` (`Fill`) from its notional and its
    reference notional (None: not known, no slippage reported)."""
    if reference is None:
        return {}
    paid = notional - reference if side is Side.BUY else reference - notional
    return {"reference_price": (reference / quantity).quantize(PRICE_QUANTUM), "slippage": paid}


def dec(value: object) -> str:
    """Canonical TEXT of an exact number (no exponent for ordinary magnitudes)."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number == 0:
        return "0"
    text = format(number.normalize(), "f")
    return text


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    """A position in the journal's ledger: units held and their total cost."""

    symbol: str
    quantity: Decimal
    cost: Decimal

    @property
    def avg_price(self) -> Decimal:
        """Cost per unit held (0 when flat)."""
        return average_price(self.quantity, self.cost)


@dataclass(frozen=True, slots=True)
class PlannedOrder(OrderTerms):
    """An order in a bar's plan: `status` is PENDING_SUBMIT, or DENIED with `reason`; its
    terms (keywords) as `OrderRequest`'s."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    reason: str = ""
    #: What the risk engine counted against the day (quantity x price); None if not known.
    risk_notional: Decimal | None = None
    #: Why the trader placed it (`ROLES`; '' for orders journaled without one).
    role: str = ""


@dataclass(frozen=True, slots=True)
class PlannedIntent:
    """What the strategy and sizer wanted for one symbol on a bar (kept for the audit)."""

    symbol: str
    action: str
    target_quantity: Decimal
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BarAccount:
    """The account at the end of a processed bar, as `finish_bar` recorded it."""

    bar: date
    cash: Decimal
    equity: Decimal


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A position held at the end of a processed bar, at that bar's mark."""

    bar: date
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    price: Decimal


#: The reason journaled with the trader's own follow-up of an exit (the rest of the book,
#: sold once the exit's cancelled buy stopped filling).
FOLLOW_UP_EXIT = "follow-up: the rest of an exit after its open buy was cancelled"


def emergency_set_trading_state(path: Path, state: str, reason: str, source: str) -> None:
    """Append a trading-state change to a journal that failed its integrity check: the
    emergency stop (`live halt`) must not be lost exactly when the file is in trouble. Only
    the ``control`` table is touched, in one transaction, and read back; anything else
    (not a tradefolio journal, the table unreadable or unwritable) raises `JournalError`
    saying how to stop the trader instead."""
    how = (
        f"could not write {state} to the damaged journal {path}; stop the trader process "
        "(Ctrl-C or kill its pid) and, for a remote broker, cancel its open orders there"
    )
    try:
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if not 1 <= int(version) <= SCHEMA_VERSION:
                raise JournalError(f"{how} (not a tradefolio journal)")
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "INSERT INTO control(at, state, reason, source) VALUES (?, ?, ?, ?)",
                (_ts(), state, reason, source),
            )
            db.execute("COMMIT")
            row = db.execute(
                "SELECT state FROM control WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise JournalError(f"{how} ({exc})") from exc
    if row is None or row[0] != state:
        raise JournalError(f"{how} (it did not read back)")


class Journal:
    """The SQLite journal of one live session (one file, one run id).

    Open with `Journal.open(path)` as the writer, or `Journal.open(path, writer=False)` to
    read it or flip the trading state while a trader runs.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        lock_fd: int | None,
        *,
        version: int = SCHEMA_VERSION,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._db = connection
        self.path = path
        self._lock_fd = lock_fd
        self._in_tx = False
        self._version = version
        self.lock_wait = lock_wait

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        writer: bool = True,
        create: bool = True,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> Journal:
        """Open (and as the writer, create or migrate) the journal at `path`.

        An existing file is checked first (`probe_file`: integrity, schema, expected tables)
        and refused, untouched, when it is not a sound journal of this or an older
        tradefolio: an empty or damaged file is never reinitialised. A missing one is
        created atomically (owner-only) by a writer with `create`, else refused. Raises
        `JournalPathError` for a bad path, `JournalError` for a newer schema or a writer
        lock held by another trader. `lock_wait` bounds every wait for SQLite's write lock.
        """
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            if not create or not writer:
                raise JournalPathError(
                    f"no journal at {path}; start a session with `tradefolio live`"
                )
            create_file(path)
        version = probe_file(path)
        lock_fd = lock_writer(path) if writer else None
        try:
            connection = sqlite3.connect(
                str(path), timeout=min(BUSY_TIMEOUT_SECONDS, lock_wait), isolation_level=None
            )
        except sqlite3.Error as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            raise JournalPathError(f"cannot open journal {path}: {exc}") from exc
        journal = cls(connection, path, lock_fd, version=version, lock_wait=lock_wait)
        try:
            if writer:
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            if writer:
                journal._migrate()
        except sqlite3.OperationalError as exc:
            journal.close()
            if "readonly" in str(exc):
                raise JournalPathError(
                    f"journal {path} is read-only ({exc}); a trader must be able to write it"
                ) from exc
            raise JournalError(f"journal {path} is locked or unreadable: {exc}") from exc
        except BaseException:
            journal.close()
            raise
        return journal

    def _migrate(self) -> None:
        version = self._version
        if version >= SCHEMA_VERSION:
            return
        with self.transaction() as db:
            migrate(db, version)
        self._version = SCHEMA_VERSION

    def close(self) -> None:
        """Close the connection, then release the writer lock (in that order: closing our
        descriptor earlier could drop SQLite's own POSIX locks on the file)."""
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection (shared with the paper broker, which keeps its own tables)."""
        return self._db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction (`BEGIN IMMEDIATE` ... `COMMIT`); nested use joins it."""
        if self._in_tx:
            yield self._db
            return
        begin_immediate(self._db, self.path, self.lock_wait)
        self._in_tx = True
        try:
            yield self._db
        except BaseException:
            self._in_tx = False
            self._db.execute("ROLLBACK")
            raise
        self._in_tx = False
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one committed state (a deferred read transaction: WAL keeps its
        snapshot while a trader commits), e.g. `live status`'s cash and positions."""
        if self._in_tx:
            yield
            return
        self._db.execute("BEGIN DEFERRED")
        self._in_tx = True
        try:
            yield
        finally:
            self._in_tx = False
            self._db.execute("COMMIT")

    # -- meta and runs -------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """Every `meta` (key, value) whose key starts with `prefix`, in key order."""
        rows = self._db.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(prefix), prefix),
        )
        return [(str(key), str(value)) for key, value in rows]

    def set_meta(self, key: str, value: str) -> None:
        """Upsert one `meta` value (joins an open transaction)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def initialise(self, initial_cash: Decimal, config: dict[str, Any]) -> str:
        """Give a fresh journal its run id and starting cash; return the run id.

        On an initialised journal, return the existing run id (the cash is not touched).
        """
        existing = self.meta("run_id")
        if existing is not None:
            return existing
        run_id = uuid.uuid4().hex
        with self.transaction():
            self.set_meta("run_id", run_id)
            self.set_meta("initial_cash", dec(initial_cash))
            self.set_meta("cash", dec(initial_cash))
            self.set_meta("config", json.dumps(config, sort_keys=True))
            self._db.execute(
                "INSERT INTO control(at, state, reason, source) VALUES (?, 'ACTIVE', ?, ?)",
                (_ts(), "session created", "trader"),
            )
        return run_id

    @property
    def run_id(self) -> str | None:
        """The session's run id (None before `initialise`)."""
        return self.meta("run_id")

    def start_run(self, config: dict[str, Any]) -> int:
        """Record one process start; returns its number."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs(started_at, config) VALUES (?, ?)",
                (_ts(), json.dumps(config, sort_keys=True)),
            )
        return int(cursor.lastrowid or 0)

    def end_run(self, run_no: int, reason: str) -> None:
        """Record how a process start ended (a SIGKILLed one simply has no end)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, end_reason = ? WHERE run_no = ?",
                (_ts(), reason, run_no),
            )

    # -- trading state -------------------------------------------------------------------

    def trading_state(self) -> tuple[str, str]:
        """The current trading state and why (ACTIVE when never set)."""
        row = self._db.execute(
            "SELECT state, reason FROM control ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return ("ACTIVE", "") if row is None else (str(row[0]), str(row[1]))

    def trading_state_source(self) -> str:
        """Who set the current trading state (`cli`, `risk`, `policy`; '' when never set)."""
        row = self._db.execute("SELECT source FROM control ORDER BY id DESC LIMIT 1").fetchone()
        return "" if row is None else str(row[0])

    def set_trading_state(self, state: str, reason: str, source: str) -> None:
        """Append a trading-state change (ACTIVE, REDUCING or HALTED)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO control(at, state, reason, source) VALUES (?, ?, ?, ?)",
                (_ts(), state, reason, source),
            )

    # -- ledger --------------------------------------------------------------------------

    def cash(self) -> Decimal:
        """Cash in the journal's ledger."""
        value = self.meta("cash")
        return Decimal(value) if value is not None else Decimal(0)

    def initial_cash(self) -> Decimal:
        """Cash the session started with."""
        value = self.meta("initial_cash")
        return Decimal(value) if value is not None else Decimal(0)

    def positions(self) -> dict[str, LedgerPosition]:
        """Non-zero positions of the ledger, by symbol (in insertion order)."""
        rows = self._db.execute("SELECT symbol, quantity, cost FROM positions ORDER BY rowid")
        result = {}
        for symbol, quantity, cost in rows:
            if Decimal(quantity) != 0:
                result[symbol] = LedgerPosition(symbol, Decimal(quantity), Decimal(cost))
        return result

    def replace_ledger(self, cash: Decimal, positions: dict[str, Decimal], why: str) -> None:
        """Overwrite cash and positions with the broker's (`--adopt-broker-state`).

        Cost basis of an adopted position is unknown; it is set to 0 and the report says so.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM positions")
            for symbol, quantity in positions.items():
                db.execute(
                    "INSERT INTO positions(symbol, quantity, cost) VALUES (?, ?, '0')",
                    (symbol, dec(quantity)),
                )
            self.set_meta("cash", dec(cash))
            self.set_meta("adopted", json.dumps({"at": _ts(), "why": why}))

    # -- bars and plans ------------------------------------------------------------------

    def last_done_bar(self) -> date | None:
        """The last bar whose processing committed."""
        row = self._db.execute("SELECT max(bar) FROM bars WHERE done_at IS NOT NULL").fetchone()
        return None if row[0] is None else date.fromisoformat(row[0])

    def exiting_symbols(self) -> set[str]:
        """Symbols whose last journaled intent is a strategy's exit (not the trader's
        follow-up sell): their book may not be flat yet. One scan, at start."""
        rows = self._db.execute(
            "SELECT symbol, action, reason FROM intents "
            "WHERE id IN (SELECT max(id) FROM intents GROUP BY symbol)"
        )
        return {s for s, action, reason in rows if action == "exit" and reason != FOLLOW_UP_EXIT}

    def open_plan_bar(self) -> date | None:
        """A bar whose plan committed but whose processing did not (a crash mid-bar)."""
        row = self._db.execute("SELECT min(bar) FROM bars WHERE done_at IS NULL").fetchone()
        return None if row[0] is None else date.fromisoformat(row[0])

    def write_plan(
        self,
        bar: date,
        intents: Sequence[PlannedIntent],
        orders: Sequence[PlannedOrder],
    ) -> None:
        """Journal a bar's intents and orders in one transaction, before anything is sent."""
        now = _ts()
        day = bar.isoformat()
        with self.transaction() as db:
            db.execute("INSERT INTO bars(bar, planned_at) VALUES (?, ?)", (day, now))
            db.executemany(
                "INSERT INTO intents(bar, symbol, action, target_quantity, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(day, i.symbol, i.action, dec(i.target_quantity), i.reason, now) for i in intents],
            )
            self.add_orders(bar, orders)

    def add_orders(self, bar: date, orders: Sequence[PlannedOrder]) -> None:
        """Journal orders decided on `bar` with their terms (each with its first event), in
        one transaction (joining an open one), before anything is sent: a bar's plan, or
        the protective exits of an entry once its fill is known."""
        now = _ts()
        day = bar.isoformat()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO orders(client_order_id, bar, symbol, side, quantity, status, "
                "created_at, updated_at, risk_notional, type, limit_price, stop_price, "
                "trail_percent, trail_amount, time_in_force, parent_id, oco_group, role) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.client_order_id,
                        day,
                        o.symbol,
                        o.side.value,
                        dec(o.quantity),
                        o.status.value,
                        now,
                        now,
                        _optional(o.risk_notional),
                        o.type.value,
                        _optional(o.limit_price),
                        _optional(o.stop_price),
                        _optional(o.trail_percent),
                        _optional(o.trail_amount),
                        o.time_in_force.value,
                        o.parent_id,
                        o.oco_group,
                        o.role,
                    )
                    for o in orders
                ],
            )
            db.executemany(
                "INSERT INTO order_events(client_order_id, from_status, to_status, at, detail) "
                "VALUES (?, NULL, ?, ?, ?)",
                [(o.client_order_id, o.status.value, now, o.reason) for o in orders],
            )

    def finish_bar(
        self, bar: date, cash: Decimal, equity: Decimal, marks: dict[str, Decimal]
    ) -> None:
        """Snapshot positions and account for `bar`, keep the last price of every symbol in
        `marks`, and mark the bar processed (one transaction; a bar without orders needs no
        plan row first)."""
        day = bar.isoformat()
        with self.transaction() as db:
            for position in self.positions().values():
                db.execute(
                    "INSERT OR REPLACE INTO position_snapshots(bar, symbol, quantity, avg_price, "
                    "price) VALUES (?, ?, ?, ?, ?)",
                    (
                        day,
                        position.symbol,
                        dec(position.quantity),
                        dec(position.avg_price),
                        dec(marks.get(position.symbol, Decimal(0))),
                    ),
                )
            db.executemany(
                "INSERT INTO marks(symbol, price, bar) VALUES (?, ?, ?) ON CONFLICT(symbol) "
                "DO UPDATE SET price = excluded.price, bar = excluded.bar "
                "WHERE marks.price != excluded.price",
                [(symbol, dec(price), day) for symbol, price in marks.items()],
            )
            now = _ts()
            db.execute(
                "INSERT INTO bars(bar, planned_at, done_at, cash, equity) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(bar) DO UPDATE SET done_at = excluded.done_at, "
                "cash = excluded.cash, equity = excluded.equity",
                (day, now, now, dec(cash), dec(equity)),
            )

    def risk_usage(self, bar: date, since: datetime) -> tuple[Decimal, list[datetime]]:
        """What the risk engine had already counted, for a restart: the notional of `bar`'s
        orders it allowed (every order not DENIED), and the creation times (UTC) of the
        allowed orders created at or after `since` (the per-minute window)."""
        (notional,) = self._db.execute(
            "SELECT group_concat(risk_notional, ' ') FROM orders "
            "WHERE bar = ? AND status != 'denied' AND risk_notional IS NOT NULL",
            (bar.isoformat(),),
        ).fetchone()
        total = sum((Decimal(v) for v in (notional or "").split()), Decimal(0))
        rows = self._db.execute(
            "SELECT created_at FROM orders WHERE status != 'denied' AND created_at >= ? "
            "ORDER BY created_at",
            (_ts(since),),
        )
        return total, [datetime.fromisoformat(row[0]) for row in rows]

    def bar_equity(self, bar: date) -> Decimal | None:
        """Equity recorded at the end of `bar`."""
        row = self._db.execute(
            "SELECT equity FROM bars WHERE bar = ? AND done_at IS NOT NULL", (bar.isoformat(),)
        ).fetchone()
        return None if row is None else Decimal(row[0])

    # -- orders --------------------------------------------------------------------------

    @property
    def _order_columns(self) -> str:
        """The order columns to select (a reader of an older schema: `order_columns`)."""
        return order_columns(self._version)

    @staticmethod
    def _order(row: Sequence[Any]) -> JournalOrder:
        return JournalOrder(
            client_order_id=row[0],
            bar=date.fromisoformat(row[1]),
            symbol=row[2],
            side=Side(row[3]),
            quantity=Decimal(row[4]),
            status=OrderStatus(row[5]),
            broker_order_id=row[6],
            filled_quantity=Decimal(row[7]),
            fill_notional=Decimal(row[8]),
            commission=Decimal(row[9]),
            seq=int(row[10]),
            type=OrderType(row[11]),
            limit_price=_optional_decimal(row[12]),
            stop_price=_optional_decimal(row[13]),
            trail_percent=_optional_decimal(row[14]),
            trail_amount=_optional_decimal(row[15]),
            time_in_force=TimeInForce(row[16]),
            parent_id=row[17],
            oco_group=row[18],
            role=row[19],
        )

    def order(self, client_order_id: str) -> JournalOrder | None:
        """One order by client id."""
        row = self._db.execute(
            f"SELECT {self._order_columns} FROM orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        return None if row is None else self._order(row)

    def orders_for_bar(self, bar: date) -> list[JournalOrder]:
        """The bar's orders in plan order."""
        rows = self._db.execute(
            f"SELECT {self._order_columns} FROM orders WHERE bar = ? ORDER BY seq",
            (bar.isoformat(),),
        )
        return [self._order(row) for row in rows]

    def live_orders(self) -> list[JournalOrder]:
        """Orders not in a terminal state (uses a partial index: O(live orders))."""
        rows = self._db.execute(
            f"SELECT {self._order_columns} FROM orders INDEXED BY orders_live "
            "WHERE status NOT IN ('denied', 'filled', 'canceled', 'rejected') ORDER BY seq"
        )
        return [self._order(row) for row in rows]

    def children_of(self, parent_id: str) -> list[JournalOrder]:
        """The protective exits journaled for the entry `parent_id` (index on parent)."""
        rows = self._db.execute(
            f"SELECT {self._order_columns} FROM orders INDEXED BY orders_by_parent "
            "WHERE parent_id = ? ORDER BY seq",
            (parent_id,),
        )
        return [self._order(row) for row in rows]

    def sold_after(self, symbol: str, seq: int) -> bool:
        """Whether a sell of `symbol` that is not a protective exit was journaled after the
        order `seq` (an exit of the position that order opened)."""
        row = self._db.execute(
            "SELECT 1 FROM orders WHERE symbol = ? AND side = 'sell' AND seq > ? "
            "AND parent_id IS NULL AND status != 'denied' LIMIT 1",
            (symbol, seq),
        ).fetchone()
        return row is not None

    def unprotected_entries(self) -> list[JournalOrder]:
        """Finished buys of a protected role with a fill and no exits journaled yet (what
        a restart must still protect). One scan, at start."""
        if self._version < 4:
            return []
        rows = self._db.execute(
            f"SELECT {self._order_columns} FROM orders o WHERE role IN ('enter', 'strategy') "
            "AND side = 'buy' AND status IN ('filled', 'canceled') AND filled_quantity != '0' "
            "AND NOT EXISTS (SELECT 1 FROM orders c INDEXED BY orders_by_parent "
            "WHERE c.parent_id = o.client_order_id) ORDER BY seq"
        )
        return [self._order(row) for row in rows]

    def broker_holds(self, client_order_id: str) -> bool:
        """Whether the broker ever answered that it holds this id (a duplicate-id answer):
        such an order is never concluded to have missed the broker, whatever a lookup says."""
        row = self._db.execute(
            "SELECT 1 FROM order_events WHERE client_order_id = ? AND detail LIKE ? LIMIT 1",
            (client_order_id, BROKER_HOLDS_ID + "%"),
        ).fetchone()
        return row is not None

    def created_at(self, client_order_id: str) -> datetime:
        """When the order was journaled (its plan's time: it cannot have been sent before)."""
        row = self._db.execute(
            "SELECT created_at FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"unknown client order id {client_order_id}")
        return datetime.fromisoformat(row[0])

    def missing_since(self, client_order_id: str) -> datetime | None:
        """When a lookup first failed to find this order (None: never recorded)."""
        (at,) = self._db.execute(
            "SELECT min(at) FROM order_events WHERE client_order_id = ? AND detail LIKE ?",
            (client_order_id, f"%{NOT_FOUND}%"),
        ).fetchone()
        return None if at is None else datetime.fromisoformat(at)

    def note_missing(self, client_order_id: str, at: datetime | None = None) -> datetime:
        """Record (once) that a lookup did not find the order; returns the first such time.
        The order keeps its status: not finding it is not knowing it is absent."""
        with self.transaction() as db:
            first = self.missing_since(client_order_id)
            if first is not None:
                return first
            current = self.order(client_order_id)
            if current is None:
                raise JournalError(f"unknown client order id {client_order_id}")
            moment = at or utc_now()
            db.execute(
                "INSERT INTO order_events(client_order_id, from_status, to_status, at, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    client_order_id,
                    current.status.value,
                    current.status.value,
                    _ts(moment),
                    NOT_FOUND,
                ),
            )
        return moment

    def problem_orders(self) -> list[tuple[JournalOrder, str]]:
        """Orders the broker refused (REJECTED) or whose outcome is still UNKNOWN, each
        with the detail of its latest event (why), in journal order."""
        rows = self._db.execute(
            f"SELECT {self._order_columns}, (SELECT detail FROM order_events e "
            "WHERE e.client_order_id = orders.client_order_id ORDER BY e.id DESC LIMIT 1) "
            "FROM orders WHERE status IN ('rejected', 'unknown') ORDER BY seq"
        )
        return [(self._order(row), str(row[-1] or "")) for row in rows]

    def all_orders(self) -> list[JournalOrder]:
        """Every order, in journal order."""
        rows = self._db.execute(f"SELECT {self._order_columns} FROM orders ORDER BY seq")
        return [self._order(row) for row in rows]

    def set_status(
        self,
        client_order_id: str,
        status: OrderStatus,
        detail: str = "",
        broker_order_id: str | None = None,
    ) -> JournalOrder:
        """Move an order along the state machine (history row included)."""
        with self.transaction() as db:
            current = self.order(client_order_id)
            if current is None:
                raise JournalError(f"unknown client order id {client_order_id}")
            check_transition(current.status, status)
            unchanged = status is current.status and broker_order_id in (
                None,
                current.broker_order_id,
            )
            if unchanged and not detail.startswith(BROKER_HOLDS_ID):
                return current
            db.execute(
                "UPDATE orders SET status = ?, broker_order_id = coalesce(?, broker_order_id), "
                "updated_at = ? WHERE client_order_id = ?",
                (status.value, broker_order_id, _ts(), client_order_id),
            )
            db.execute(
                "INSERT INTO order_events(client_order_id, from_status, to_status, at, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (client_order_id, current.status.value, status.value, _ts(), detail),
            )
        updated = self.order(client_order_id)
        assert updated is not None
        return updated

    def apply_execution(
        self,
        client_order_id: str,
        cumulative_quantity: Decimal,
        cumulative_notional: Decimal,
        cumulative_commission: Decimal,
        status: OrderStatus,
        broker_order_id: str | None,
        at: datetime | None = None,
        bar: date | None = None,
        cumulative_reference: Decimal | None = None,
    ) -> Fill | None:
        """Bring an order up to the broker's cumulative execution report, atomically.

        The new fill is the difference between the reported and recorded cumulative
        quantity, notional and commission, so applying the same report twice records
        nothing the second time, and a fill's id (`<client id>#<cumulative qty>`) is unique.
        Cash and the position move in the same transaction. `bar`: the bar the fill is
        recorded on (None: not known, e.g. found at startup). `cumulative_reference`: the
        venue's Σ units · reference price of the fills (`BrokerOrder.reference_notional`),
        whose difference is the new fill's reference (not known when the venue gives none,
        or did not for an earlier part). Returns the new fill, if any.
        """
        with self.transaction() as db:
            current = self.order(client_order_id)
            if current is None:
                raise JournalError(f"unknown client order id {client_order_id}")
            delta_quantity = cumulative_quantity - current.filled_quantity
            if delta_quantity < 0:
                raise JournalError(
                    f"broker reports less filled for {client_order_id} "
                    f"({cumulative_quantity}) than the journal recorded "
                    f"({current.filled_quantity})"
                )
            fill: Fill | None = None
            if delta_quantity > 0:
                notional = cumulative_notional - current.fill_notional
                commission = cumulative_commission - current.commission
                price = (notional / delta_quantity).quantize(PRICE_QUANTUM)
                reference = self._new_reference(current, cumulative_reference)
                fill = Fill(
                    fill_id=f"{client_order_id}#{dec(cumulative_quantity)}",
                    client_order_id=client_order_id,
                    symbol=current.symbol,
                    side=current.side,
                    quantity=delta_quantity,
                    price=price,
                    commission=commission,
                    at=at or utc_now(),
                    **_reference_terms(current.side, delta_quantity, notional, reference),
                )
                values = (
                    fill.fill_id,
                    client_order_id,
                    fill.symbol,
                    fill.side.value,
                    dec(delta_quantity),
                    dec(price),
                    dec(notional),
                    dec(commission),
                    _ts(fill.at),
                )
                if self._version >= 5:
                    db.execute(
                        "INSERT INTO fills(fill_id, client_order_id, symbol, side, quantity, "
                        "price, notional, commission, at, bar, reference_notional) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            *values,
                            None if bar is None else bar.isoformat(),
                            None if reference is None else dec(reference),
                        ),
                    )
                    known = None if reference is None else cumulative_reference
                    db.execute(
                        "UPDATE orders SET reference_notional = ? WHERE client_order_id = ?",
                        (_optional(known), client_order_id),
                    )
                elif self._version >= 4:
                    db.execute(
                        "INSERT INTO fills(fill_id, client_order_id, symbol, side, quantity, "
                        "price, notional, commission, at, bar) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, None if bar is None else bar.isoformat()),
                    )
                else:
                    db.execute(
                        "INSERT INTO fills(fill_id, client_order_id, symbol, side, quantity, "
                        "price, notional, commission, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        values,
                    )
                db.execute(
                    "UPDATE orders SET filled_quantity = ?, fill_notional = ?, commission = ? "
                    "WHERE client_order_id = ?",
                    (
                        dec(cumulative_quantity),
                        dec(cumulative_notional),
                        dec(cumulative_commission),
                        client_order_id,
                    ),
                )
                self._book(current.symbol, current.side, delta_quantity, notional, commission)
            if status is not current.status or broker_order_id != current.broker_order_id:
                self.set_status(client_order_id, status, "broker report", broker_order_id)
        return fill

    def _new_reference(
        self, order: JournalOrder, cumulative_reference: Decimal | None
    ) -> Decimal | None:
        """The reference notional of `order`'s new fill: the venue's cumulative one less
        the recorded one (None when either is not known: an earlier part without one)."""
        if cumulative_reference is None or self._version < 5:
            return None
        if order.filled_quantity == 0:
            return cumulative_reference
        row = self._db.execute(
            "SELECT reference_notional FROM orders WHERE client_order_id = ?",
            (order.client_order_id,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return cumulative_reference - Decimal(row[0])

    def _book(
        self, symbol: str, side: Side, quantity: Decimal, notional: Decimal, commission: Decimal
    ) -> None:
        """Move the ledger's position and cash by one fill (`book_fill`: average cost)."""
        row = self._db.execute(
            "SELECT quantity, cost FROM positions WHERE symbol = ?", (symbol,)
        ).fetchone()
        held, cost = (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))
        booked = book_fill(held, cost, side, quantity, notional, commission)
        self._db.execute(
            "INSERT INTO positions(symbol, quantity, cost) VALUES (?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost",
            (symbol, dec(booked.quantity), dec(booked.cost)),
        )
        self.set_meta("cash", dec(self.cash() + booked.cash_change))

    @property
    def _fill_columns(self) -> str:
        """The fill columns `_fill` reads (an older journal's reference: NULL, not known)."""
        reference = "f.reference_notional" if self._version >= 5 else "NULL"
        return (
            "f.fill_id, f.client_order_id, f.symbol, f.side, f.quantity, f.price, "
            f"f.commission, f.at, f.notional, {reference}"
        )

    @staticmethod
    def _fill(row: Sequence[Any]) -> Fill:
        side = Side(row[3])
        quantity = Decimal(row[4])
        reference = None if row[9] is None else Decimal(row[9])
        return Fill(
            row[0],
            row[1],
            row[2],
            side,
            quantity,
            Decimal(row[5]),
            Decimal(row[6]),
            datetime.fromisoformat(row[7]),
            **_reference_terms(side, quantity, Decimal(row[8]), reference),
        )

    def fills(self) -> list[Fill]:
        """Every recorded fill, in order."""
        rows = self._db.execute(f"SELECT {self._fill_columns} FROM fills f ORDER BY f.rowid")
        return [self._fill(row) for row in rows]

    def fills_by_bar(self) -> list[tuple[date, Fill]]:
        """Every recorded fill, in order, with the bar it was recorded on (a journal older
        than schema 4, or a fill found at startup: its order's bar)."""
        bar = "coalesce(f.bar, o.bar)" if self._version >= 4 else "o.bar"
        rows = self._db.execute(
            f"SELECT {self._fill_columns}, {bar} FROM fills f "
            "JOIN orders o ON o.client_order_id = f.client_order_id ORDER BY f.rowid"
        )
        return [(date.fromisoformat(row[10]), self._fill(row)) for row in rows]

    def processed_bars(self) -> list[BarAccount]:
        """The account at the end of every processed bar, in bar order."""
        rows = self._db.execute(
            "SELECT bar, cash, equity FROM bars WHERE done_at IS NOT NULL ORDER BY bar"
        )
        return [
            BarAccount(date.fromisoformat(bar), Decimal(cash), Decimal(equity))
            for bar, cash, equity in rows
        ]

    def position_snapshots(self) -> list[PositionSnapshot]:
        """Every non-zero position at the end of every processed bar, by bar then symbol."""
        rows = self._db.execute(
            "SELECT bar, symbol, quantity, avg_price, price FROM position_snapshots "
            "WHERE CAST(quantity AS REAL) != 0 ORDER BY bar, symbol"
        )
        return [
            PositionSnapshot(
                date.fromisoformat(bar), symbol, Decimal(quantity), Decimal(avg), Decimal(price)
            )
            for bar, symbol, quantity, avg, price in rows
        ]

    def fill_totals(self) -> tuple[Decimal, dict[str, Decimal]]:
        """Cash and positions recomputed from the fills alone (the ledger's audit)."""
        cash = self.initial_cash()
        positions: dict[str, Decimal] = {}
        for side, symbol, quantity, notional, commission in self._db.execute(
            "SELECT side, symbol, quantity, notional, commission FROM fills"
        ):
            sign = 1 if side == "buy" else -1
            positions[symbol] = positions.get(symbol, Decimal(0)) + sign * Decimal(quantity)
            cash += -sign * Decimal(notional) - Decimal(commission)
        return cash, {s: q for s, q in positions.items() if q != 0}

    # -- reconciliation record -----------------------------------------------------------

    def record_reconciliation(self, ok: bool, adopted: bool, report: dict[str, Any]) -> None:
        """Keep the outcome of a startup reconciliation."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO reconciliations(at, ok, adopted, report) VALUES (?, ?, ?, ?)",
                (_ts(), int(ok), int(adopted), json.dumps(report, sort_keys=True)),
            )

    def last_reconciliation(self) -> dict[str, Any] | None:
        """The latest reconciliation: when, whether it agreed, and its report."""
        row = self._db.execute(
            "SELECT at, ok, adopted, report FROM reconciliations ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {
            "at": row[0],
            "ok": bool(row[1]),
            "adopted": bool(row[2]),
            "report": json.loads(row[3]),
        }

    def last_marks(self) -> dict[str, Decimal]:
        """The last price of every symbol seen up to the last processed bar (journals of
        schema 2 and older: the last position snapshot's prices)."""
        if self._version >= 3:
            rows = self._db.execute("SELECT symbol, price FROM marks")
            marks = {symbol: Decimal(price) for symbol, price in rows}
            if marks:
                return marks
        last = self.last_done_bar()
        if last is None:
            return {}
        rows = self._db.execute(
            "SELECT symbol, price FROM position_snapshots WHERE bar = ?", (last.isoformat(),)
        )
        return {symbol: Decimal(price) for symbol, price in rows}

    def last_equity(self) -> Decimal | None:
        """Equity at the end of the last processed bar."""
        last = self.last_done_bar()
        return None if last is None else self.bar_equity(last)

    def books_at(
        self, bars: Sequence[date]
    ) -> list[tuple[Decimal, dict[str, tuple[Decimal, Decimal]], list[JournalOrder]]]:
        """The book at the close of each of `bars` (the last processed bar at or before
        it), as the journal recorded it: (cash, {symbol: (units, average entry price)},
        the orders open then); before the session's first bar, its starting cash and
        nothing else. What a restarted event-driven strategy is shown for the bars it
        catches up on. One pass over the orders for all of them (a finished order's last
        update is the one that finished it: open at a bar's close if journaled by then
        and finished, if at all, after it)."""
        if not bars:
            return []
        done = self._db.execute(
            "SELECT bar, cash, done_at FROM bars WHERE bar <= ? AND done_at IS NOT NULL "
            "ORDER BY bar",
            (max(bars).isoformat(),),
        ).fetchall()
        days = [date.fromisoformat(row[0]) for row in done]
        snapshots: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        if done:
            for day, symbol, quantity, avg_price in self._db.execute(
                "SELECT bar, symbol, quantity, avg_price FROM position_snapshots "
                "WHERE bar BETWEEN ? AND ? ORDER BY bar, symbol",
                (done[0][0], done[-1][0]),
            ):
                if Decimal(quantity) != 0:
                    snapshots.setdefault(day, {})[symbol] = (Decimal(quantity), Decimal(avg_price))
        rows = (
            self._db.execute(
                f"SELECT {self._order_columns}, created_at, updated_at FROM orders "
                "WHERE created_at <= ? AND status != 'denied' ORDER BY created_at, seq",
                (done[-1][2],),
            ).fetchall()
            if done
            else []
        )
        finished = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED}
        books: dict[int, tuple[Decimal, dict[str, tuple[Decimal, Decimal]], list[JournalOrder]]]
        books = {}
        open_orders: dict[str, tuple[JournalOrder, str | None]] = {}
        next_row = 0
        for index, (day, cash, done_at) in enumerate(done):
            while next_row < len(rows) and rows[next_row][-2] <= done_at:
                order = self._order(rows[next_row])
                closed = rows[next_row][-1] if order.status in finished else None
                open_orders[order.client_order_id] = (order, closed)
                next_row += 1
            ended = [c for c, (_, closed) in open_orders.items() if closed and closed <= done_at]
            for cid in ended:
                del open_orders[cid]
            live = sorted((o for o, _ in open_orders.values()), key=lambda o: o.seq)
            books[index] = (Decimal(cash), snapshots.get(day, {}), live)
        # Each asked bar takes the last processed bar at or before it (`days` ascending).
        last_at: dict[date, int] = {}
        index = -1
        for bar in sorted(set(bars)):
            while index + 1 < len(days) and days[index + 1] <= bar:
                index += 1
            last_at[bar] = index
        start: tuple[Decimal, dict[str, tuple[Decimal, Decimal]], list[JournalOrder]]
        start = (self.initial_cash(), {}, [])
        return [books[last_at[bar]] if last_at[bar] >= 0 else start for bar in bars]


__all__ = [
    "BROKER_HOLDS_ID",
    "FOLLOW_UP_EXIT",
    "NOT_FOUND",
    "PROTECTED_ROLES",
    "ROLES",
    "SCHEMA_VERSION",
    "BarAccount",
    "Journal",
    "JournalDamaged",
    "JournalError",
    "JournalPathError",
    "LedgerPosition",
    "PlannedIntent",
    "PlannedOrder",
    "PositionSnapshot",
    "dec",
    "emergency_set_trading_state",
    "utc_now",
]
