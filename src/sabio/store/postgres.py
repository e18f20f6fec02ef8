"""PostgreSQL: the connection, its transactions and its migrations (issue 27).

psycopg 3 (the ``postgres`` extra), one connection per thread, each in autocommit
outside :meth:`PostgresDatabase.transaction`. The table modules of chats, users,
sources and jobs are shared with SQLite: their SQL is standard where the two agree, with
``?`` placeholders, which :class:`PostgresConnection` turns into psycopg's ``%s``
(nothing else is rewritten). Values are bound client side (psycopg's ``ClientCursor``),
as SQLite does, so ``? IS NULL`` needs no declared type. A broken constraint is raised
as :data:`~sabio.store.connection.ConstraintError`, as the table modules catch it.

The schema is PostgreSQL's own (:mod:`sabio.store.pg_schema`), numbered the same way as
SQLite's and recorded in ``_migrations``; a migration runs under an advisory lock, so
two processes starting at once apply it once.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sabio.errors import ConfigError
from sabio.store.connection import ConstraintError

if TYPE_CHECKING:
    import psycopg

INSTALL = "pip install 'sabio[postgres]'"
MIGRATION_LOCK = 0x5AB10
"""The advisory lock a process holds while it migrates the schema."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # the optional extra
        raise ConfigError(
            f"a postgresql:// database needs psycopg, which is not installed: {INSTALL}"
        ) from exc
    return psycopg


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%")


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (not inside quotes), every literal
    ``%`` doubled."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _TOKENS.sub(replace, sql)


class Row:
    """A row by position or by column name, as ``sqlite3.Row``."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: Any) -> Any:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(names, values)


class PostgresConnection:
    """A psycopg connection with the table modules' ``execute`` and ``executemany``."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        psycopg = _psycopg()
        cursor = self.connection.cursor()
        try:
            cursor.execute(to_psycopg(sql), tuple(parameters))
        except psycopg.errors.IntegrityError as exc:
            raise ConstraintError(str(exc)) from exc
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        psycopg = _psycopg()
        cursor = self.connection.cursor()
        try:
            cursor.executemany(to_psycopg(sql), [tuple(p) for p in parameters])
        except psycopg.errors.IntegrityError as exc:
            raise ConstraintError(str(exc)) from exc
        return cursor


class PostgresDatabase:
    """The database at ``url`` (``postgresql://…``), brought up to ``migrations`` when
    opened: ``(number, name, statements)``. Each thread has a connection of its own; the
    connections of threads that ended are closed as new ones open."""

    row_lock = " FOR UPDATE SKIP LOCKED"
    """What a queue's claim adds to its SELECT: workers skip rows another one holds."""

    def __init__(self, url: str, migrations: Sequence[tuple[int, str, str]]) -> None:
        self.path = url
        self._local = threading.local()
        self._threads: list[tuple[weakref.ref[threading.Thread], PostgresConnection]] = []
        self._lock = threading.Lock()
        self._migrate(migrations)

    def _connect(self) -> PostgresConnection:
        psycopg = _psycopg()
        try:
            connection = psycopg.connect(
                self.path, autocommit=True, row_factory=_rows, cursor_factory=psycopg.ClientCursor
            )
        except psycopg.OperationalError as exc:
            raise ConfigError(
                f"cannot reach the PostgreSQL database of database_url: {exc}".strip()
                + " — start the server, or correct database_url (SABIO_DATABASE_URL)"
            ) from exc
        return PostgresConnection(connection)

    @property
    def db(self) -> PostgresConnection:
        db: PostgresConnection | None = getattr(self._local, "db", None)
        if db is None or db.connection.closed:
            db = self._local.db = self._connect()
            with self._lock:
                alive = []
                for thread, connection in self._threads:
                    if (t := thread()) is not None and t.is_alive():
                        alive.append((thread, connection))
                    else:
                        connection.connection.close()
                self._threads = [*alive, (weakref.ref(threading.current_thread()), db)]
        return db

    @contextmanager
    def transaction(self) -> Iterator[PostgresConnection]:
        db = self.db
        with db.connection.transaction():
            yield db

    def close(self) -> None:
        with self._lock:
            for _, connection in self._threads:
                connection.connection.close()
            self._threads.clear()

    def _migrate(self, migrations: Sequence[tuple[int, str, str]]) -> None:
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {int(r[0]) for r in db.execute("SELECT number FROM _migrations")}
            newer = [n for n in done if n > migrations[-1][0]]
            if newer:
                raise ConfigError(
                    f"the PostgreSQL database was written by a newer Sabio (schema "
                    f"{max(newer)}); upgrade Sabio"
                )
            for number, name, statements in migrations:
                if number not in done:
                    db.connection.execute(statements)
                    db.execute(
                        "INSERT INTO _migrations VALUES (?,?,?)", (number, name, time.time())
                    )

    @contextmanager
    def watching(self) -> Iterator[Callable[[], int]]:
        """A number that changes whenever any process committed a write: the next
        transaction id PostgreSQL will hand out, read on a connection of its own."""
        db = self._connect()
        try:
            yield lambda: int(
                db.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()[0]
            )
        finally:
            db.connection.close()

    def erase_deleted(self) -> None:
        """Nothing: PostgreSQL's autovacuum reclaims deleted rows, but their bytes stay in
        its files until overwritten (only ``VACUUM FULL``, which locks the tables while it
        rewrites them, removes them): the server's disk encryption protects them there,
        as its administrator arranges (docs/configuration.md#postgresql)."""

    def integrity_problems(self) -> list[str]:
        """PostgreSQL checks its constraints on every write: nothing to find afterwards."""
        return []
