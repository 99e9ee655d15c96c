"""Finding 6 (and `live status`'s snapshot from finding 7) of issue 13: the journal is
checked on open — integrity (``PRAGMA quick_check``), schema, expected tables, the path
escaped in the probe's URI — and a damaged, empty or foreign file is refused untouched,
never reinitialised; every SQLite error is one `error:` line (exit 1 while running, 2 for
a bad path); waits for another process's write lock are bounded and retried."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from support.cli import run_cli
from tradefolio.errors import InvalidParameter
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import SCHEMA_VERSION, Journal, JournalError
from unit.live.live_helpers import gbm_prices, live_cli, open_session

PAGE = 4096


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sound journal of a short paper session (closed: its WAL is checkpointed)."""
    path = tmp_path_factory.mktemp("template") / "sound.db"
    journal, _, trader = open_session(path)
    trader.run(ReplayFeed(gbm_prices(3, 60, seed=1)).bars())
    assert len(journal.fills()) > 4
    journal.close()
    assert path.stat().st_size > 8 * PAGE
    return path


def _overwrite(offset: int, data: bytes) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        with path.open("r+b") as handle:
            handle.seek(offset)
            handle.write(data)

    return corrupt


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2 // PAGE * PAGE)


def _drop_orders(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("DROP TABLE order_events")
    db.commit()
    db.close()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("date,AAA\n2024-01-02,10\n")


def _foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes(body TEXT)")
    db.commit()
    db.close()


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "empty file": _empty,
    "truncated to half": _truncate,
    "header overwritten": _overwrite(0, b"\x00" * 16),
    "b-tree page garbage": _overwrite(2 * PAGE + 8, b"\xff" * 600),
    "interior pages garbage": _overwrite(5 * PAGE, bytes(range(256)) * 8),
    "a table dropped": _drop_orders,
    "a text file": _text,
    "another program's SQLite": _foreign,
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_damaged_journals_are_refused_untouched(template: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / "j.db"
    shutil.copy(template, path)
    CORRUPTIONS[name](path)
    before = path.read_bytes()
    with pytest.raises(JournalError) as info:
        Journal.open(path)
    assert isinstance(info.value, InvalidParameter)  # a bad --db: exit 2
    for command in (["--paper"], ["status"], ["halt"]):
        run = live_cli(
            [*command, "--db", str(path), "--no-record"][: 3 if command != ["--paper"] else 4], {}
        )
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, (command, run.stderr)
        assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
        assert str(path) in lines[0]
    assert path.read_bytes() == before, "a refused journal was written to"
    # The read-only probe of a WAL file may leave SQLite's empty side files, nothing else.
    others = {p.name: p.stat().st_size for p in tmp_path.iterdir() if p.name != "j.db"}
    assert set(others) <= {"j.db-wal", "j.db-shm"} and others.get("j.db-wal", 0) == 0, others


def test_a_hash_in_the_path_opens_that_file_and_no_other(tmp_path: Path) -> None:
    """``file:j#1.db`` is the file ``j`` to SQLite: the probe must escape the name."""
    path = tmp_path / "j#1.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t(a)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 90}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="newer"):
        Journal.open(path)
    run = live_cli(["--paper", "--db", str(path), "--no-record"], {})
    assert run.returncode == 1 and "newer" in run.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j#1.db"]  # no stray "j"
    fresh = tmp_path / "k#2?x=%41.db"
    journal = Journal.open(fresh)
    journal.close()
    assert fresh.exists() and Journal.open(fresh, writer=False).run_id is None


def _hold_write_lock(path: Path, seconds: float, started: threading.Event) -> threading.Thread:
    """Another program (an sqlite3 shell, a backup) holding the write lock for a while."""

    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        started.set()
        time.sleep(seconds)
        db.execute("COMMIT")
        db.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_a_write_lock_held_for_seconds_does_not_kill_the_trader(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    journal, broker, trader = open_session(path)
    bars = list(ReplayFeed(gbm_prices(3, 40, seed=2)).bars())
    trader.run(bars[:20])
    started = threading.Event()
    holder = _hold_write_lock(path, 5.5, started)  # longer than SQLite's 5 s busy timeout
    started.wait()
    trader.run(bars[20:])  # waits for the lock, retried, instead of dying
    holder.join()
    assert journal.last_done_bar() == bars[-1].day
    assert journal.cash() == broker.account().cash
    journal.close()


def test_a_lock_held_too_long_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    Journal.open(path).close()
    started = threading.Event()
    holder = _hold_write_lock(path, 1.5, started)
    started.wait()
    journal = Journal.open(path, writer=False, lock_wait=0.3)
    with pytest.raises(JournalError, match="stayed locked by another process"):
        journal.set_trading_state("HALTED", "operator", "cli")
    journal.close()
    holder.join()


def test_sqlite_errors_while_running_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Journal, "finish_bar", disk_full)
    result = run_cli(capsys, "live", "--paper", "--db", str(tmp_path / "full.db"), "--no-record")
    lines = result.stderr.strip().splitlines()
    assert result.code == 1, result
    assert len(lines) == 1 and lines[0].startswith("error: journal"), result.stderr
    assert "disk is full" in lines[0] and "Traceback" not in result.stderr


def test_status_reads_one_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fill committed by the trader between `live status`'s reads of cash and of the
    positions must not show cash after the fill with positions from before it."""
    from tradefolio.cli.live import status_payload
    from tradefolio.live.journal import PlannedOrder
    from tradefolio.live.orders import OrderStatus, Side

    path = tmp_path / "s.db"
    writer = Journal.open(path)
    writer.initialise(Decimal(1000), {})
    from datetime import date

    writer.write_plan(date(2024, 1, 2), [], [PlannedOrder("c1", "AAA", Side.BUY, Decimal(10))])
    reader = Journal.open(path, writer=False)
    originals = {name: getattr(Journal, name) for name in ("cash", "positions")}
    filled = []

    def read_then_fill(name: str) -> Callable[[Journal], object]:
        def read(self: Journal) -> object:
            value = originals[name](self)
            if self is reader and not filled:  # the trader commits after status's first read
                filled.append(name)
                writer.apply_execution(
                    "c1", Decimal(10), Decimal(500), Decimal(0), OrderStatus.FILLED, "b1"
                )
            return value

        return read

    for name in originals:
        monkeypatch.setattr(Journal, name, read_then_fill(name))
    payload = status_payload(reader)
    monkeypatch.undo()
    assert filled
    consistent = {(1000.0, ()), (500.0, (("AAA", 10),))}
    seen = (payload["cash"], tuple((p["symbol"], p["quantity"]) for p in payload["positions"]))
    assert seen in consistent, seen
    reader.close()
    writer.close()
