"""The connection to the database file and its transactions.

One SQLite file (WAL mode) through the standard library's ``sqlite3``; no extension has
to be loaded (many Pythons cannot). Opening it applies the migrations it lacks
(:mod:`sabio.store.migrations`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from sabio.home import create_private_file
from sabio.store.migrations import Migration, migrate

ConstraintError = sqlite3.IntegrityError
"""A broken UNIQUE or foreign key, as the table modules catch it; another backend's
connection raises this one for its own (:mod:`sabio.store.postgres`)."""


class Rows(Protocol):
    """What a statement gives back: rows (each indexed by position or column name)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the table modules (chats, users, sources, jobs) write their SQL against:
    ``?`` placeholders, SQLite's dialect where it is standard SQL."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows: ...


class SqlDatabase(Protocol):
    """A database the table modules can run on: SQLite's :class:`Database`, or
    PostgreSQL's (:class:`sabio.store.postgres.PostgresDatabase`)."""

    @property
    def db(self) -> Connection: ...
    @property
    def row_lock(self) -> str:
        """What a queue's claim adds to its SELECT: PostgreSQL's ``FOR UPDATE SKIP
        LOCKED`` (workers on several machines claim at once, each skipping the rows
        another holds); '' for SQLite (one writer at a time)."""

    def transaction(self) -> AbstractContextManager[Connection]: ...


class Database:
    """One SQLite file, brought up to ``migrations`` when opened. ``per_thread``: each
    thread reads through a connection of its own (for a server's many concurrent readers:
    calls on one shared connection take turns, while WAL lets separate connections read at
    once); the connections of threads that ended are closed as new ones open. A
    transaction stays on its thread."""

    row_lock = ""

    def __init__(
        self, path: Path | str, migrations: Sequence[Migration], *, per_thread: bool = False
    ) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            create_private_file(Path(path))  # its -wal and -shm files take its mode
        self.path = path
        self._shared = self._connect()
        self._local = threading.local() if per_thread and str(path) != ":memory:" else None
        self._threads: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._threads_lock = threading.Lock()
        migrate(self.db, path, migrations)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # deleted text is zeroed, not left in free pages
        db.execute("PRAGMA busy_timeout=10000")
        return db

    @property
    def db(self) -> sqlite3.Connection:
        if self._local is None:
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._threads_lock:
                alive = []
                for thread, connection in self._threads:
                    if (t := thread()) is not None and t.is_alive():
                        alive.append((thread, connection))
                    else:
                        connection.close()
                self._threads = [*alive, (weakref.ref(threading.current_thread()), db)]
        return db

    def close(self) -> None:
        with self._threads_lock:
            for _, connection in self._threads:
                connection.close()
            self._threads.clear()
        self._shared.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite already rolled back on a full disk (SQLITE_FULL)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def watching(self) -> Iterator[Callable[[], int]]:
        """A number that changes whenever another connection (another thread's, another
        process's) committed: SQLite's ``data_version`` on a connection of its own, cheap
        enough to read every second."""
        db = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            yield lambda: int(db.execute("PRAGMA data_version").fetchone()[0])
        finally:
            db.close()

    def erase_deleted(self) -> None:
        """Make what was deleted unreadable from the files too: deleted rows are zeroed in
        their pages (``secure_delete``), and this copies the write-ahead log into the
        database and empties it, so the rows' earlier versions do not linger there. Best
        effort: while another connection reads an older snapshot, the log is emptied at a
        later checkpoint instead."""
        with contextlib.suppress(sqlite3.OperationalError):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` and the foreign keys say; empty when all is well."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"dangling row in {r[0]}" for r in self.db.execute("PRAGMA foreign_key_check")]
        return problems
