"""The journal's schema: its DDL, its version and the forward migrations between versions.

`tradefolio.live.journal.Journal` is the only reader and writer of these tables; this module
holds what the file looks like at each schema version so the API module holds the API.

* `PRAGMA user_version` is the schema version. Version ``v``'s tables are what
  ``MIGRATIONS[1]`` … ``MIGRATIONS[v]`` create, in order: a new journal runs them all, an
  older one runs the steps it lacks (`migrate`), forward only, inside the caller's single
  transaction; a file from a newer tradefolio is refused before anything is written
  (`check_schema`).
* Money and quantities are TEXT (canonical decimals), never REAL; a step only ever adds
  (tables, columns with defaults that say what older rows meant, indexes), so an older
  journal's rows read the same after it.
* A reader never migrates: `order_columns(version)` is how a reader of an older file sees
  the columns a later step added (their defaults).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tradefolio.errors import JournalError, JournalPathError

#: The schema this tradefolio writes; files up to it open (older ones migrate), newer are refused.
SCHEMA_VERSION = 5

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        run_no INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT,
        config TEXT NOT NULL
    );
    CREATE TABLE bars (
        bar TEXT PRIMARY KEY,
        planned_at TEXT NOT NULL,
        done_at TEXT,
        cash TEXT,
        equity TEXT
    );
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        bar TEXT NOT NULL,
        symbol TEXT NOT NULL,
        action TEXT NOT NULL,
        target_quantity TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE orders (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT NOT NULL UNIQUE,
        bar TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity TEXT NOT NULL,
        status TEXT NOT NULL,
        broker_order_id TEXT,
        filled_quantity TEXT NOT NULL DEFAULT '0',
        fill_notional TEXT NOT NULL DEFAULT '0',
        commission TEXT NOT NULL DEFAULT '0',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX orders_live ON orders(status)
        WHERE status NOT IN ('denied', 'filled', 'canceled', 'rejected');
    CREATE TABLE order_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT NOT NULL,
        notional TEXT NOT NULL,
        commission TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE positions (symbol TEXT PRIMARY KEY, quantity TEXT NOT NULL, cost TEXT NOT NULL);
    CREATE TABLE position_snapshots (
        bar TEXT NOT NULL,
        symbol TEXT NOT NULL,
        quantity TEXT NOT NULL,
        avg_price TEXT NOT NULL,
        price TEXT NOT NULL,
        PRIMARY KEY (bar, symbol)
    );
    CREATE TABLE reconciliations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        adopted INTEGER NOT NULL,
        report TEXT NOT NULL
    );
    CREATE TABLE control (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
        reason TEXT NOT NULL,
        source TEXT NOT NULL
    );
    """,
    # The notional the risk engine counted for each order (quantity x the bar's price), so a
    # restarted trader resumes the day's notional from the journal instead of from zero.
    2: """
    ALTER TABLE orders ADD COLUMN risk_notional TEXT;
    CREATE INDEX orders_by_bar ON orders(bar);
    """,
    # The last price of every symbol seen (not only the held ones): the risk engine's price
    # band needs each reference after a restart exactly as before it.
    # (With the partial index of unfinished bars: finding the open plan is O(1), not a
    # scan of every bar on every bar.)
    3: """
    CREATE TABLE marks (symbol TEXT PRIMARY KEY, price TEXT NOT NULL, bar TEXT NOT NULL);
    CREATE INDEX bars_open ON bars(bar) WHERE done_at IS NULL;
    """,
    # Order terms (issue 14): every order journaled before submit with the type, prices,
    # time in force, its entry (`parent_id`) and one-cancels-other group, so a restarted
    # trader resends and reconciles a protective exit exactly as it was planned, and the
    # order's `role` (why the trader placed it: `ROLES`); a fill's `bar` is the bar the
    # trader recorded it on (a protective exit fills bars after it was placed). Orders of
    # older journals were DAY market orders: the defaults say so.
    4: """
    ALTER TABLE orders ADD COLUMN type TEXT NOT NULL DEFAULT 'market';
    ALTER TABLE orders ADD COLUMN limit_price TEXT;
    ALTER TABLE orders ADD COLUMN stop_price TEXT;
    ALTER TABLE orders ADD COLUMN trail_percent TEXT;
    ALTER TABLE orders ADD COLUMN trail_amount TEXT;
    ALTER TABLE orders ADD COLUMN time_in_force TEXT NOT NULL DEFAULT 'day';
    ALTER TABLE orders ADD COLUMN parent_id TEXT;
    ALTER TABLE orders ADD COLUMN oco_group TEXT;
    ALTER TABLE orders ADD COLUMN role TEXT NOT NULL DEFAULT '';
    ALTER TABLE fills ADD COLUMN bar TEXT;
    CREATE INDEX orders_by_parent ON orders(parent_id) WHERE parent_id IS NOT NULL;
    """,
    # The reference price fills were slipped from, as the venue reports it (the paper
    # venue: the mark or the matched trigger / limit price before slippage): the order's
    # cumulative `reference_notional` (Σ units · reference) and each fill's part of it, so
    # the slippage a fill paid is measured from it exactly, as the backtest's. NULL: not
    # known (an older journal's fills, a venue that does not report it).
    5: """
    ALTER TABLE orders ADD COLUMN reference_notional TEXT;
    ALTER TABLE fills ADD COLUMN reference_notional TEXT;
    """,
}

_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+)", re.IGNORECASE)


def statements(version: int) -> list[str]:
    """The SQL statements of the step that brings a journal to schema `version`."""
    return [s for s in MIGRATIONS[version].split(";") if s.strip()]


def expected_tables(version: int) -> set[str]:
    """The tables a journal of schema `version` has (the migrations up to it create them)."""
    return {
        name
        for target in range(1, version + 1)
        for name in _CREATE_TABLE.findall(MIGRATIONS[target])
    }


#: Every table of the current schema: the journal's own (the paper broker's ``paper_*``
#: tables share the file but are the venue's).
JOURNAL_TABLES = frozenset(expected_tables(SCHEMA_VERSION))


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a journal of schema `version` (0: an empty file) to `SCHEMA_VERSION`: run the
    steps after `version` in order, then set ``user_version``. The caller holds the one
    write transaction, so a crash leaves the file at its old version."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in statements(target):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check_schema(path: Path, version: int, tables: set[str]) -> None:
    """Refuse a file whose schema this tradefolio cannot open: not a tradefolio journal
    (version 0: `JournalPathError`), a newer schema (`JournalError`: upgrade), or a
    journal missing a table its schema has (`JournalPathError`: damaged)."""
    if version == 0:
        raise JournalPathError(
            f"{path} is an SQLite file but not a tradefolio journal; pass another --db"
        )
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path} has journal schema {version}, newer than this tradefolio "
            f"supports ({SCHEMA_VERSION}); upgrade tradefolio"
        )
    missing = expected_tables(version) - tables
    if missing:
        raise JournalPathError(
            f"journal {path} (schema {version}) lacks the table(s) {', '.join(sorted(missing))}; "
            "it is damaged: restore it from a backup or pass another --db"
        )


_ORDER_BASE_COLUMNS = (
    "client_order_id, bar, symbol, side, quantity, status, broker_order_id, "
    "filled_quantity, fill_notional, commission, seq, "
)
_ORDER_TERM_COLUMNS = (
    "type, limit_price, stop_price, trail_percent, trail_amount, time_in_force, "
    "parent_id, oco_group, role"
)
#: Schema 4's order terms as a journal of schema 3 or older holds them: DAY market orders.
_OLDER_ORDER_TERMS = "'market', NULL, NULL, NULL, NULL, 'day', NULL, NULL, ''"


def order_columns(version: int) -> str:
    """The order columns to select from a journal of schema `version`; a reader of a
    journal older than schema 4 (not migrated: readers never write) sees its orders' terms
    as what they were, DAY market orders."""
    return _ORDER_BASE_COLUMNS + (_ORDER_TERM_COLUMNS if version >= 4 else _OLDER_ORDER_TERMS)


__all__ = [
    "JOURNAL_TABLES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_schema",
    "expected_tables",
    "migrate",
    "order_columns",
    "statements",
]
