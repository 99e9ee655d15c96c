"""The journal's schema (`live/journal_schema.py`): a journal of every earlier schema
version opens for reading as it is and migrates, as a writer, to the current schema with
its rows intact; a migrated file has exactly the schema of a new one; a step that fails
leaves the file at its old version."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradefolio.errors import JournalError, JournalPathError
from tradefolio.live import journal_schema
from tradefolio.live.journal import BarAccount, Journal, PlannedOrder, PositionSnapshot
from tradefolio.live.journal_schema import (
    JOURNAL_TABLES,
    SCHEMA_VERSION,
    check_schema,
    expected_tables,
    statements,
)
from tradefolio.live.orders import OrderStatus, OrderType, Side, TimeInForce

D = Decimal
DAY = date(2024, 3, 5)
NEXT = date(2024, 3, 6)
EARLIER = range(1, SCHEMA_VERSION)


def _journal_of_schema(path: Path, version: int) -> None:
    """A journal as tradefolio of schema `version` left it: a session with one filled buy
    on `DAY`, the bar processed and its position snapshot, written with that schema's
    columns only."""
    db = sqlite3.connect(path)
    for step in range(1, version + 1):
        for statement in statements(step):
            db.execute(statement)
    db.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [("run_id", "r1"), ("initial_cash", "1000"), ("cash", "699"), ("config", "{}")],
    )
    at = "2024-03-05T15:00:00+00:00"
    db.execute(
        "INSERT INTO orders(client_order_id, bar, symbol, side, quantity, status, "
        "filled_quantity, fill_notional, commission, created_at, updated_at) "
        "VALUES ('b1', ?, 'AAA', 'buy', '3', 'filled', '3', '300', '1', ?, ?)",
        (DAY.isoformat(), at, at),
    )
    db.execute(
        "INSERT INTO fills(fill_id, client_order_id, symbol, side, quantity, price, notional, "
        "commission, at) VALUES ('b1#3', 'b1', 'AAA', 'buy', '3', '100', '300', '1', ?)",
        (at,),
    )
    db.execute("INSERT INTO positions(symbol, quantity, cost) VALUES ('AAA', '3', '300')")
    db.execute(
        "INSERT INTO position_snapshots(bar, symbol, quantity, avg_price, price) "
        "VALUES (?, 'AAA', '3', '100', '101')",
        (DAY.isoformat(),),
    )
    db.execute(
        "INSERT INTO bars(bar, planned_at, done_at, cash, equity) VALUES (?, ?, ?, '699', '1002')",
        (DAY.isoformat(), at, at),
    )
    if version >= 3:
        db.execute(
            "INSERT INTO marks(symbol, price, bar) VALUES ('AAA', '101', ?)", (DAY.isoformat(),)
        )
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _reads(journal: Journal) -> dict[str, Any]:
    """What the API reads of the session: the same before and after a migration."""
    return {
        "cash": journal.cash(),
        "positions": journal.positions(),
        "orders": journal.all_orders(),
        "fills": journal.fills_by_bar(),
        "bars": journal.processed_bars(),
        "snapshots": journal.position_snapshots(),
        "marks": journal.last_marks(),
        "audit": journal.fill_totals(),
    }


def _schema(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's columns (name, type, not null, default) and every index's SQL."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        shape = {
            table: [tuple(row[1:5]) for row in db.execute(f"PRAGMA table_info({table})")]
            for table in tables
            if table != "sqlite_sequence"
        }
        shape["indexes"] = sorted(
            db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
        )
        return shape
    finally:
        db.close()


def _older(tmp_path: Path, version: int) -> tuple[Path, dict[str, Any]]:
    """A journal of schema `version` and what a reader reads of it (it never migrates)."""
    path = tmp_path / f"v{version}.db"
    _journal_of_schema(path, version)
    with Journal.open(path, writer=False) as reader:
        reads = _reads(reader)
    assert _user_version(path) == version
    return path, reads


@pytest.mark.parametrize("version", EARLIER)
def test_a_reader_reads_an_older_journal_as_it_is(tmp_path: Path, version: int) -> None:
    _, reads = _older(tmp_path, version)
    (order,) = reads["orders"]
    assert (order.type, order.time_in_force, order.parent_id, order.role) == (
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
        "",
    )
    ((bar, fill),) = reads["fills"]
    assert (bar, fill.fill_id, fill.quantity, fill.price) == (DAY, "b1#3", D(3), D(100))
    assert (fill.reference_price, fill.slippage) == (None, D(0))  # not known before schema 5
    assert reads["bars"] == [BarAccount(DAY, D(699), D(1002))]
    assert reads["snapshots"] == [PositionSnapshot(DAY, "AAA", D(3), D(100), D(101))]
    assert reads["marks"] == {"AAA": D(101)}
    assert reads["audit"] == (D(699), {"AAA": D(3)})


@pytest.mark.parametrize("version", EARLIER)
def test_a_writer_migrates_an_older_journal_keeping_every_row(tmp_path: Path, version: int) -> None:
    path, before = _older(tmp_path, version)
    with Journal.open(path) as writer:
        assert _reads(writer) == before
        # and it writes what the current schema adds: order terms, a fill's bar
        writer.write_plan(
            NEXT,
            [],
            [PlannedOrder("s1", "AAA", Side.SELL, D(3), type=OrderType.LIMIT, limit_price=D(110))],
        )
        writer.apply_execution(
            "s1", D(3), D(330), D(1), OrderStatus.FILLED, "x", bar=NEXT,
            cumulative_reference=D("330.3"),
        )  # fmt: skip
        assert writer.order("s1") is not None
        day, sold = writer.fills_by_bar()[-1]
        assert day == NEXT
        assert (sold.reference_price, sold.slippage) == (D("110.1"), D("0.3"))
        assert writer.cash() == D(699) + D(330) - D(1)
        assert writer.positions() == {}
    assert _user_version(path) == SCHEMA_VERSION
    fresh = tmp_path / "fresh.db"
    Journal.open(fresh).close()
    assert _schema(path) == _schema(fresh)


def test_a_failing_step_leaves_the_file_at_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v3.db"
    _journal_of_schema(path, 3)
    broken = journal_schema.MIGRATIONS[4] + "\nALTER TABLE no_such_table ADD COLUMN x TEXT;"
    monkeypatch.setitem(journal_schema.MIGRATIONS, 4, broken)
    with pytest.raises(JournalError):
        Journal.open(path)
    assert _user_version(path) == 3
    monkeypatch.undo()
    with Journal.open(path) as writer:  # the next start migrates it whole
        (order,) = writer.all_orders()
        assert order.type is OrderType.MARKET
    assert _user_version(path) == SCHEMA_VERSION


def test_every_version_names_its_tables_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    assert expected_tables(SCHEMA_VERSION) == JOURNAL_TABLES
    assert expected_tables(2) == expected_tables(1)
    assert expected_tables(3) - expected_tables(2) == {"marks"}
    path = tmp_path / "j.db"
    with pytest.raises(JournalError, match="newer than this tradefolio"):
        check_schema(path, SCHEMA_VERSION + 1, set(JOURNAL_TABLES))
    with pytest.raises(JournalPathError, match="not a tradefolio journal"):
        check_schema(path, 0, set())
    with pytest.raises(JournalPathError, match="lacks the table"):
        check_schema(path, 3, set(expected_tables(3)) - {"marks"})
    check_schema(path, 2, set(expected_tables(2)))
