"""The tables of one knowledge base, kept in a DuckDB file of its own
(``<home>/tables/kb-<id>.duckdb``), and the read-only queries run over them.

Every connection is opened with DuckDB's extension autoloading and autoinstalling off
(it would download them), and the connections that run a model's SQL are read-only with
``enable_external_access`` off and the configuration locked: no file, URL, ``ATTACH``,
``COPY`` or extension can be reached from a query, whatever the validator let through
(:mod:`sabio.tables.query` checks the SQL first). Connections are opened for one task
and closed, so that the server, the worker and the CLI take turns on the file.

Each table is recorded in ``sabio.catalog`` with the document it came from (its id and
content hash), its sheet or page and its columns' labels and units, and each document
read for tables (with none or some) in ``sabio.read``; :meth:`TableStore.sync` drops the
tables of documents that are gone or changed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sabio.errors import TableError
from sabio.tables.extract import TypedTable, uncollected

TABLES_FOLDER = "tables"
Config = dict[str, str | bool | int | float | list[str]]
PRIVATE: Config = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "memory_limit": "2GB",
}
SANDBOX: Config = {**PRIVATE, "enable_external_access": False, "lock_configuration": True}
LOCK_WAIT = 10.0
"""Seconds to wait for another process that has the file open for writing."""
_CATALOG = """
CREATE SCHEMA IF NOT EXISTS sabio;
CREATE TABLE IF NOT EXISTS sabio.catalog (
    name VARCHAR PRIMARY KEY, document_id BIGINT NOT NULL, content_hash VARCHAR NOT NULL,
    source VARCHAR NOT NULL, title VARCHAR NOT NULL, sheet VARCHAR NOT NULL, page INTEGER,
    position INTEGER NOT NULL, row_count BIGINT NOT NULL, columns VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS sabio.read (document_id BIGINT PRIMARY KEY, content_hash VARCHAR);
"""


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    label: str
    sql_type: str
    unit: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A kept table: where it came from and its columns."""

    name: str
    document_id: int
    content_hash: str
    source: str
    title: str
    sheet: str
    page: int | None
    row_count: int
    columns: tuple[ColumnInfo, ...]

    @property
    def where(self) -> str:
        """Where the table is, as a citation names it: "ventas.xlsx, 2023", "informe.pdf,
        p. 3, Tabla 2. Ventas por provincia"."""
        parts = [Path(self.source).name or self.title]
        if self.page:
            parts.append(f"p. {self.page}")
        if self.sheet:
            parts.append(self.sheet)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    """More rows than the limit: only the first ones are in ``rows``."""
    elapsed_ms: float


def tables_path(home: Path, kb_id: int) -> Path:
    return home / TABLES_FOLDER / f"kb-{kb_id}.duckdb"


class TableStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        if not write and not self.path.exists():
            raise TableError("no tables", key="no_tables")
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _file_lock(self.path):
            yield from self._open(write)

    def _open(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                con = duckdb.connect(
                    str(self.path), read_only=not write, config=PRIVATE if write else SANDBOX
                )
                break
            except duckdb.IOException as exc:  # another process writes to it: wait for it
                if time.monotonic() > deadline:
                    raise TableError(
                        f"the tables file {self.path} is busy or unreadable: {exc}",
                        key="tables_busy",
                    ) from exc
                time.sleep(0.1)
        try:
            if write:
                con.execute(_CATALOG)
            yield con
        finally:
            con.close()

    def replace(
        self,
        document_id: int,
        content_hash: str,
        source: str,
        title: str,
        tables: Sequence[TypedTable],
    ) -> list[str]:
        """The tables of a document, instead of those it had; their names."""
        try:
            return self._replace(document_id, content_hash, source, title, tables)
        except duckdb.Error as exc:
            raise TableError(f"could not keep the tables of {source}: {exc}") from exc

    def _replace(
        self,
        document_id: int,
        content_hash: str,
        source: str,
        title: str,
        tables: Sequence[TypedTable],
    ) -> list[str]:
        with self._connect(write=True) as con:
            dropped = self._drop(con, [document_id])
            con.execute("INSERT INTO sabio.read VALUES (?, ?)", [document_id, content_hash])
            taken = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            names = []
            for table in tables:
                base = f"t_{table.name}" if table.name.startswith("sabio") else table.name
                name, n = base, 2
                while name in taken:
                    name, n = f"{base}_{n}", n + 1
                taken.add(name)
                names.append(name)
                _load(con, self.path.parent, name, table)
                columns = [
                    {"name": c.name, "label": c.label, "unit": c.type.unit} for c in table.columns
                ]
                con.execute(
                    "INSERT INTO sabio.catalog VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        name,
                        document_id,
                        content_hash,
                        source,
                        title,
                        table.sheet,
                        table.page,
                        table.position,
                        table.row_count,
                        json.dumps(columns),
                    ],
                )
        if dropped:
            with _file_lock(self.path):
                self._compact()
        return names

    def sync(self, documents: dict[int, str]) -> None:
        """Keep only the tables of these documents (id → content hash) as they are now."""
        if not self.path.exists():
            return
        with self._connect(write=True) as con:
            kept = con.execute("SELECT document_id, content_hash FROM sabio.read")
            stale = [d for d, h in kept.fetchall() if documents.get(d) != h]
            dropped = self._drop(con, stale) if stale else 0
        if dropped:
            with _file_lock(self.path):
                self._compact()

    def read_documents(self) -> dict[int, str]:
        """The documents whose tables are kept (id → content hash), none or some."""
        if not self.path.exists():
            return {}
        with self._connect(write=True) as con:  # writing: the catalog made if it is older
            return dict(con.execute("SELECT document_id, content_hash FROM sabio.read").fetchall())

    def remove(self, document_ids: Sequence[int]) -> None:
        if self.path.exists() and document_ids:
            with self._connect(write=True) as con:
                dropped = self._drop(con, document_ids)
            if dropped:
                with _file_lock(self.path):
                    self._compact()

    def _compact(self) -> None:
        """Rewrite the file without the blocks of the tables dropped: DuckDB reuses freed
        blocks but does not clear them, and a removed document's cells must not stay
        readable in the file (as the database's deleted text does not, sabio.store)."""
        new = self.path.with_name(self.path.name + ".new")
        for leftover in (new, new.with_name(new.name + ".wal")):
            leftover.unlink(missing_ok=True)
        con = duckdb.connect(":memory:", config=PRIVATE)
        try:
            con.execute(f"ATTACH {_quoted(self.path)} AS old (READ_ONLY)")
            con.execute(f"ATTACH {_quoted(new)} AS new")
            con.execute("COPY FROM DATABASE old TO new")
        finally:
            con.close()
        os.replace(new, self.path)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)

    def drop_all(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.path.with_name(self.path.name + ".tmp"), ignore_errors=True)

    @staticmethod
    def _drop(con: duckdb.DuckDBPyConnection, document_ids: Sequence[int]) -> int:
        """Drop the tables of these documents; how many there were."""
        marks = ",".join("?" * len(document_ids))
        rows = con.execute(
            f"SELECT name FROM sabio.catalog WHERE document_id IN ({marks})", list(document_ids)
        ).fetchall()
        for (name,) in rows:
            con.execute(f'DROP TABLE IF EXISTS main."{name}"')
        con.execute(f"DELETE FROM sabio.catalog WHERE document_id IN ({marks})", list(document_ids))
        con.execute(f"DELETE FROM sabio.read WHERE document_id IN ({marks})", list(document_ids))
        return len(rows)

    def tables(self, document_ids: Sequence[int] | None = None) -> list[TableInfo]:
        """The kept tables (of these documents only, when given), in document order."""
        if not self.path.exists():
            return []
        with self._connect(write=False) as con:
            rows = con.execute(
                "SELECT c.name, document_id, content_hash, source, title, sheet, page, row_count,"
                " columns, t.sql FROM sabio.catalog c JOIN duckdb_tables() t"
                " ON t.table_name = c.name AND t.schema_name = 'main'"
                " ORDER BY document_id, position"
            ).fetchall()
            types = _column_types(con)
        wanted = set(document_ids) if document_ids is not None else None
        return [
            TableInfo(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                tuple(
                    ColumnInfo(c["name"], c["label"], types.get((row[0], c["name"]), ""), c["unit"])
                    for c in json.loads(row[8])
                ),
            )
            for row in rows
            if wanted is None or row[1] in wanted
        ]

    def sample(self, name: str, limit: int = 3) -> Result:
        return self.run(f'SELECT * FROM main."{name}" LIMIT {int(limit)}', max_rows=limit)

    def run(self, sql: str, *, max_rows: int = 200, timeout: float = 10.0) -> Result:
        """Run one read-only query in the sandbox, stopped after ``timeout`` seconds; at
        most ``max_rows`` rows are fetched. ``sql`` must have been validated
        (:func:`sabio.tables.query.validate`): this only adds the sandbox's walls."""
        with self._connect(write=False) as con:
            timer = threading.Timer(timeout, con.interrupt)
            started = time.perf_counter()
            timer.start()
            try:
                cursor = con.execute(sql)
                columns = [d[0] for d in cursor.description or []]
                rows = cursor.fetchmany(max_rows + 1)
            except duckdb.InterruptException as exc:
                raise TableError(
                    f"the query took more than {timeout:g} s and was stopped",
                    key="query_timeout",
                    seconds=f"{timeout:g}",
                ) from exc
            except duckdb.Error as exc:
                raise TableError(
                    f"the query failed: {exc}", key="query_failed", detail=str(exc)
                ) from exc
            finally:
                timer.cancel()
            elapsed = (time.perf_counter() - started) * 1000
        return Result(columns, rows[:max_rows], len(rows) > max_rows, round(elapsed, 1))


_FILE_LOCKS: dict[Path, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.RLock:
    """One lock per tables file in this process: DuckDB refuses a second connection to a
    file open with another configuration (a query's read-only sandbox beside an ingest's
    writer in the server), so this process's connections take turns; other processes'
    are waited for by the file's own lock (see :meth:`TableStore._open`)."""
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path.absolute(), threading.RLock())


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _column_types(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name='main'"
    ).fetchall()
    return {(t, c): d for t, c, d in rows}


def _load(con: duckdb.DuckDBPyConnection, folder: Path, name: str, table: TypedTable) -> None:
    """Create table ``name`` from ``table``'s canonical cells: written to a CSV file in
    the tables folder, read by DuckDB with the types given (fast for a million rows)."""
    scratch = folder / f".load-{os.getpid()}-{threading.get_ident()}.csv"
    try:
        with uncollected(), scratch.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows(zip(*table.cells, strict=True))
        types = {c.name: c.type.sql for c in table.columns}
        con.execute(
            f"CREATE TABLE main.\"{name}\" AS SELECT * FROM read_csv(?, header=false, delim=',',"
            " quote='\"', escape='\"', nullstr='', columns=?, auto_detect=false)",
            [str(scratch), types],
        )
    finally:
        scratch.unlink(missing_ok=True)
