from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.live.journal import SCHEMA_VERSION, Journal, JournalError, PlannedOrder
from tradefolio.live.orders import TERMINAL_STATUSES, OrderStatus, Side


def _journal(tmp_path: Path) -> Journal:
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal("1000"), {})
    return journal


def test_pragmas_schema_and_no_real_columns(tmp_path: Path) -> None:
    with _journal(tmp_path) as journal:
        db = journal.connection
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f"PRAGMA table_info({table})"):
                assert column[2].upper() != "REAL", (table, column[1])
        # The partial index of live orders names the terminal statuses literally.
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name='orders_live'").fetchone()[0]
        assert all(f"'{s.value}'" in sql for s in TERMINAL_STATUSES)


def test_run_id_survives_reopen_and_second_writer_is_refused(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    run_id = journal.run_id
    with pytest.raises(JournalError, match="locked by another running trader"):
        Journal.open(tmp_path / "j.db")
    reader = Journal.open(tmp_path / "j.db", writer=False)
    reader.set_trading_state("HALTED", "test", "cli")  # halt works while the trader runs
    reader.close()
    journal.close()
    again = Journal.open(tmp_path / "j.db")
    assert again.run_id == run_id
    assert again.initialise(Decimal("5"), {}) == run_id
    assert again.cash() == Decimal("1000")
    assert again.trading_state()[0] == "HALTED"
    again.close()


def test_newer_schema_and_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="newer"):
        Journal.open(path)
    assert path.read_bytes() == before
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE x(a)")
    db.close()
    with pytest.raises(JournalError, match="not a tradefolio journal"):
        Journal.open(other)
    with pytest.raises(JournalError, match="no journal"):
        Journal.open(tmp_path / "missing.db", writer=False)
    assert not (tmp_path / "missing.db").exists()


def test_execution_reports_are_idempotent_and_exact(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    day = date(2024, 1, 2)
    journal.write_plan(day, [], [PlannedOrder("c1", "AAA", Side.BUY, Decimal(10))])
    first = journal.apply_execution(
        "c1", Decimal(4), Decimal("40.4"), Decimal("0.1"), OrderStatus.PARTIALLY_FILLED, "b1"
    )
    assert first is not None and first.price == Decimal("10.1")
    again = journal.apply_execution(
        "c1", Decimal(4), Decimal("40.4"), Decimal("0.1"), OrderStatus.PARTIALLY_FILLED, "b1"
    )
    assert again is None
    second = journal.apply_execution(
        "c1", Decimal(10), Decimal("100.4"), Decimal("0.2"), OrderStatus.FILLED, "b1"
    )
    assert second is not None and second.quantity == 6 and second.price == Decimal(10)
    assert journal.cash() == Decimal("1000") - Decimal("100.4") - Decimal("0.2")
    assert journal.positions()["AAA"].quantity == 10
    assert journal.fill_totals() == (journal.cash(), {"AAA": Decimal(10)})
    with pytest.raises(JournalError, match="less filled"):
        journal.apply_execution("c1", Decimal(3), Decimal(30), Decimal(0), OrderStatus.FILLED, "b1")
    history = journal.connection.execute(
        "SELECT from_status, to_status FROM order_events WHERE client_order_id='c1' ORDER BY id"
    ).fetchall()
    assert history == [
        (None, "pending_submit"),
        ("pending_submit", "partially_filled"),
        ("partially_filled", "filled"),
    ]


trade = st.tuples(
    st.sampled_from(["AAA", "BBB"]),
    st.booleans(),
    st.integers(1, 50),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2),
    st.decimals(min_value=Decimal(0), max_value=Decimal("5"), places=2),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(trade, max_size=25), st.decimals(Decimal("1"), Decimal("900"), places=2))
def test_ledger_cash_plus_positions_equals_equity(
    tmp_path_factory: pytest.TempPathFactory, trades: list[tuple], mark: Decimal
) -> None:
    journal = Journal.open(tmp_path_factory.mktemp("ledger") / "j.db")
    journal.initialise(Decimal("10000"), {})
    held = {"AAA": 0, "BBB": 0}
    flows = Decimal(0)
    orders = []
    for i, (symbol, buy, quantity, price, fee) in enumerate(trades):
        if not buy:
            quantity = min(quantity, held[symbol])
            if quantity == 0:
                continue
        side = Side.BUY if buy else Side.SELL
        orders.append((f"c{i}", symbol, side, quantity, price, fee))
        held[symbol] += quantity if buy else -quantity
        flows += (-1 if buy else 1) * quantity * price - fee
    journal.write_plan(
        date(2024, 1, 2),
        [],
        [PlannedOrder(c, s, side, Decimal(q)) for c, s, side, q, _, _ in orders],
    )
    for cid, _, _, quantity, price, fee in orders:
        journal.apply_execution(
            cid, Decimal(quantity), quantity * price, fee, OrderStatus.FILLED, "b"
        )
    positions = journal.positions()
    equity = journal.cash() + sum((p.quantity * mark for p in positions.values()), Decimal(0))
    assert journal.cash() == Decimal("10000") + flows
    assert equity == Decimal("10000") + flows + sum(q for q in held.values()) * mark
    assert {s: int(p.quantity) for s, p in positions.items()} == {
        s: q for s, q in held.items() if q
    }
    assert journal.fill_totals()[0] == journal.cash()
    journal.close()
