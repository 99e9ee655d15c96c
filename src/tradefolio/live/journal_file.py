"""The journal's file: checked before it is opened, created atomically, locked by its one
writer, and written in transactions that wait for another process's lock.

* An existing file is checked before it is opened for writing (`probe_file`: read-only, its
  name escaped in the URI; ``PRAGMA quick_check``, the schema, the tables that schema
  has). An empty, damaged or foreign file is refused untouched (`JournalPathError`) and
  never reinitialised; a new journal is built in a temporary file and linked into place,
  owner-only (0600), so a crash never leaves an empty journal behind (`create_file`).
* One writer: the trader holds an exclusive `flock` on the database file for its lifetime
  (`lock_writer`; released by the kernel if the process dies, so a SIGKILL never leaves a
  stale lock).
* Every write transaction waits for another process's write lock (`begin_immediate`),
  retried up to `LOCK_WAIT_SECONDS`, then fails as one `JournalError` line.

`tradefolio.live.journal.Journal` opens the file through these; the paper venue, whose
tables share the file, writes through `begin_immediate` too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from pathlib import Path

from tradefolio.errors import JournalDamaged, JournalError, JournalPathError
from tradefolio.live.journal_schema import check_schema, migrate

#: How long a transaction waits, in all, for another process's write lock on the file
#: (a `live halt`, a backup, an sqlite3 shell) before giving up with a `JournalError`.
LOCK_WAIT_SECONDS = 60.0
#: SQLite's own busy wait per attempt; `begin_immediate` retries until `LOCK_WAIT_SECONDS`.
BUSY_TIMEOUT_SECONDS = 2.0


def read_only_uri(path: Path) -> str:
    """A read-only SQLite URI of `path`, percent-escaped: a name with ``#``, ``?`` or ``%``
    must not open another file (``file:j#1.db`` is the file ``j``)."""
    return path.absolute().as_uri() + "?mode=ro"


def _probe_uri(path: Path) -> str:
    """The probe's URI: read-only, and ``immutable`` when no WAL side file exists (no
    trader has the file open), so probing a WAL-mode file creates no -wal/-shm next to it.
    With side files present (a trader may be writing), an ordinary read-only open, which
    honours the WAL and the locks."""
    uri = read_only_uri(path)
    sides = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    if any(side.exists() for side in sides):
        return uri
    return uri + "&immutable=1"


def probe_file(path: Path) -> int:
    """Check an existing file before anything opens it for writing; return its schema.

    Refuses (`JournalPathError`, nothing written) a directory, an empty file, a file that is
    not SQLite, a damaged one (``PRAGMA quick_check``), another program's SQLite, and a
    journal missing a table its schema has; `JournalError` for a newer schema.
    """
    if path.is_dir():
        raise JournalPathError(f"journal {path} is a directory; pass a journal file to --db")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise JournalPathError(f"cannot read journal {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise JournalPathError(
            f"journal {path} is an empty file (0 bytes), not a tradefolio journal; it is never "
            "reinitialised: restore it or pass another --db"
        )
    try:
        probe = sqlite3.connect(_probe_uri(path), uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            check = probe.execute("PRAGMA quick_check").fetchall()
            (version,) = probe.execute("PRAGMA user_version").fetchone()
            tables = {
                row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        reason = str(exc)
        if "not a database" in reason:
            raise JournalPathError(
                f"journal {path} is damaged or not an SQLite file ({reason}); restore it from "
                "a backup or pass another --db"
            ) from exc
        if "malformed" in reason or "corrupt" in reason:
            raise JournalDamaged(
                f"journal {path} is damaged or not an SQLite file ({reason}); restore it from "
                "a backup or pass another --db"
            ) from exc
        raise JournalPathError(f"cannot read journal {path}: {reason}") from exc
    if check != [("ok",)]:
        raise JournalDamaged(
            f"journal {path} is damaged (quick_check: {str(check[0][0])[:120]}); restore it "
            "from a backup or pass another --db"
        )
    check_schema(path, int(version), tables)
    return int(version)


def create_file(path: Path) -> None:
    """Create a journal file at `path` atomically, owner-only (0600): the schema is built in
    a temporary file next to it and linked into place, so `path` is never an empty or
    half-built file (which a later open would refuse)."""
    folder = path.parent
    if not folder.is_dir():
        raise JournalPathError(f"cannot create journal {path}: folder {folder} does not exist")
    temporary = folder / f".{path.name}.{os.getpid()}.creating"
    try:
        fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        os.close(fd)
        db = sqlite3.connect(str(temporary), isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            migrate(db, 0)
            db.execute("COMMIT")
        finally:
            db.close()
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # created meanwhile: open that one
            os.link(temporary, path)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except (OSError, sqlite3.Error) as exc:
        raise JournalPathError(f"cannot create journal {path}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def begin_immediate(
    db: sqlite3.Connection, path: Path | str, lock_wait: float = LOCK_WAIT_SECONDS
) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock up to `lock_wait`
    seconds in all (SQLite's busy wait, retried), then `JournalError`: a short lock (a
    `live halt`, a backup) never kills a running trader, a stuck one is one clear line."""
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise JournalError(
                    f"journal {path} stayed locked by another process for {lock_wait:g} s; "
                    "stop it (an sqlite3 shell, a backup) and run again: the session resumes"
                ) from exc
            time.sleep(0.05)


def lock_writer(path: Path) -> int:
    """Take the one writer's exclusive `flock` on the journal file (released by the kernel
    when the process dies) and return its descriptor; `JournalError` when another trader
    holds it, `JournalPathError` when the file cannot be opened for writing."""
    try:
        fd = os.open(path, os.O_RDWR)
    except PermissionError as exc:
        raise JournalPathError(
            f"journal {path} is read-only ({exc.strerror}); a trader must be able to "
            "write it (`live status` can still read it)"
        ) from exc
    except OSError as exc:
        raise JournalPathError(f"cannot open journal {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise JournalError(
            f"journal {path} is locked by another running trader; stop it first "
            f"(or use another --db)"
        ) from exc
    return fd


__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "LOCK_WAIT_SECONDS",
    "begin_immediate",
    "create_file",
    "lock_writer",
    "probe_file",
    "read_only_uri",
]
