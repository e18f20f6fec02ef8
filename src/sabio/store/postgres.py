"""PostgreSQL: the connection, its transactions and its migrations (issue 27).

psycopg 3 (the ``postgres`` extra) through a pool of connections per process
(psycopg_pool, :class:`PostgresPool`, at most ``database_pool_size``), each in
autocommit outside :meth:`PostgresDatabase.transaction`: a statement takes whichever
connection is free and gives it back with its rows read, a transaction holds one until
it ends; a statement that finds none free within :data:`POOL_WAIT_S` fails with
:class:`~sabio.errors.DatabaseBusyError`. The table modules of chats, users,
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from sabio.errors import ConfigError, DatabaseBusyError
from sabio.store.connection import ConstraintError

if TYPE_CHECKING:
    import psycopg

INSTALL = "pip install 'sabio[postgres]'"
DEFAULT_POOL_SIZE = 10
"""Connections one process keeps to PostgreSQL at most (``database_pool_size``)."""
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


POOL_WAIT_S = 30.0
"""How long a statement waits for one of the process's connections before it fails."""


class Fetched:
    """A statement's rows, read whole before its connection went back to the pool."""

    def __init__(self, rowcount: int, rows: list[Any]) -> None:
        self.rowcount = rowcount
        self._rows = iter(rows)

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return self._rows


class PostgresPool:
    """One process's connections to one database (psycopg_pool's ``ConnectionPool``): at
    most ``size`` (``database_pool_size``), opened when needed, one kept when idle. The
    stores of a process share it (:meth:`share`); it closes with the last of them. A
    statement waits ``wait_s`` at most for a free connection; ``settings`` are each
    connection's (PostgreSQL's ``-c`` options)."""

    def __init__(
        self,
        url: str,
        size: int,
        *,
        wait_s: float = POOL_WAIT_S,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        psycopg = _psycopg()
        try:
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # the optional extra
            raise ConfigError(
                f"a postgresql:// database needs psycopg_pool, which is not installed: {INSTALL}"
            ) from exc
        if size < 1:
            raise ConfigError(f"database_pool_size must be at least 1, not {size}")
        self.size, self.wait_s = size, wait_s
        self._users = 1
        options = " ".join(f"-c {name}={value}" for name, value in (settings or {}).items())
        self._pool: Any = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            open=True,
            timeout=wait_s,
            name="sabio",
            kwargs={
                "autocommit": True,
                "row_factory": _rows,
                "cursor_factory": psycopg.ClientCursor,
                **({"options": options} if options else {}),
            },
        )

    def share(self) -> PostgresPool:
        """The pool, for one more store of this process."""
        self._users += 1
        return self

    def release(self) -> None:
        """One store less; the last one closes every connection."""
        self._users -= 1
        if self._users == 0:
            self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[PostgresConnection]:
        """A connection of the pool, given back afterwards (rolled back if left in a
        transaction; dropped if broken)."""
        from psycopg_pool import PoolTimeout

        try:
            connection = self._pool.getconn()
        except PoolTimeout as exc:
            raise DatabaseBusyError(
                f"no connection to PostgreSQL came free within {self.wait_s:g} s: all "
                f"{self.size} of this process's (database_pool_size) stayed busy, or the "
                "database does not answer — check that it is up, or raise database_pool_size",
                key="database_busy",
                size=self.size,
            ) from exc
        try:
            yield PostgresConnection(connection)
        finally:
            self._pool.putconn(connection)


class _Pooled:
    """``execute`` outside a transaction: on whichever connection of the pool is free,
    each statement's rows read before the connection goes back."""

    def __init__(self, pool: PostgresPool) -> None:
        self.pool = pool

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Fetched:
        with self.pool.connection() as db:
            return _fetched(db.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Fetched:
        with self.pool.connection() as db:
            return _fetched(db.executemany(sql, parameters))


def _fetched(cursor: Any) -> Fetched:
    return Fetched(cursor.rowcount, cursor.fetchall() if cursor.description else [])


class PostgresDatabase:
    """The database at ``url`` (``postgresql://…``), brought up to ``migrations`` when
    opened: ``(number, name, statements)``. Statements run on the connections of a
    :class:`PostgresPool` (``pool_size``; or ``pool``, another store's of this process,
    shared): each one outside a transaction on any free connection, a transaction's on
    the one it holds for its thread until it ends."""

    row_lock = " FOR UPDATE SKIP LOCKED"
    """What a queue's claim adds to its SELECT: workers skip rows another one holds."""
    session_settings: ClassVar[Mapping[str, str]] = {}
    """Settings of every connection of the pool (PostgreSQL's ``-c name=value`` options)."""

    def __init__(
        self,
        url: str,
        migrations: Sequence[tuple[int, str, str]],
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool: PostgresPool | None = None,
    ) -> None:
        self.path = url
        self._local = threading.local()
        if pool is None:
            self._migrate(migrations)
            pool = PostgresPool(url, pool_size, settings=self.session_settings)
        else:
            pool.share()
        self.pool = pool
        self._pooled = _Pooled(pool)
        self._closed = False

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
    def db(self) -> PostgresConnection | _Pooled:
        """The connection of this thread's transaction, else the pool's next free one."""
        held: PostgresConnection | None = getattr(self._local, "held", None)
        return self._pooled if held is None else held

    @contextmanager
    def transaction(self) -> Iterator[PostgresConnection]:
        held: PostgresConnection | None = getattr(self._local, "held", None)
        if held is not None:  # nested: a savepoint on the same connection
            with held.connection.transaction():
                yield held
            return
        with self.pool.connection() as db:
            self._local.held = db
            try:
                with db.connection.transaction():
                    yield db
            finally:
                self._local.held = None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.pool.release()

    def _migrate(self, migrations: Sequence[tuple[int, str, str]]) -> None:
        db = self._connect()  # before the pool: a wrong URL fails at once, and says why
        try:
            with db.connection.transaction():
                self._apply(db, migrations)
        finally:
            db.connection.close()

    @staticmethod
    def _apply(db: PostgresConnection, migrations: Sequence[tuple[int, str, str]]) -> None:
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
                db.execute("INSERT INTO _migrations VALUES (?,?,?)", (number, name, time.time()))

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
