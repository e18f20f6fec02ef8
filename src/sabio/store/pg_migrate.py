"""``sabio migrate --to postgresql://…``: a laptop's SQLite data copied into PostgreSQL.

Table by table in the order their references need, each in batches by id, each batch
one transaction: a copy stopped at any moment (Ctrl-C, ``kill -9``) goes on from the
last batch it wrote when run again. Ids are kept, so every reference (a chunk's document,
a message's parent, a job's source) stays true; PostgreSQL's identities are then moved
past them. Vectors become pgvector's and each passage's postings are written (by COPY, each
document's word count added up) as
:meth:`PostgresStore.replace_document` does; each knowledge base's HNSW index is built
once, at the end (faster than row by row). Finally every table's rows are counted on
both sides: a difference is an error, and the SQLite file is never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sabio.errors import ConfigError, ConflictError, NotFoundError
from sabio.store import Store
from sabio.store.pg_documents import PostgresStore, vector_text
from sabio.store.pg_ranking import copy_postings, posting_lines
from sabio.terms import tokens

TABLES = (
    "kb",
    "document",
    "chunk",
    "chat",
    "message",
    '"user"',
    "session",
    "api_token",
    "kb_member",
    "source",
    "source_item",
    "job",
    "feedback",
    "kb_guide",
    "review_dismissal",
    "review_alert",
)
"""Every table, each after those it refers to; a table of the SQLite file missing here
stops the copy before it begins (nothing is left behind unnoticed)."""
_NOT_DATA = {"_migrations", "sqlite_sequence"}
BATCH = 2_000

Progress = Callable[[str, int, int], None]
"""(table, rows copied so far, rows in all), after each batch."""


def _columns(source: Store, table: str) -> list[str]:
    names = [r[1] for r in source.db.execute(f"PRAGMA table_info({table})")]
    return [n for n in names if n != "vector"]


def _check_tables(source: Store) -> None:
    names = {r[0] for r in source.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    unknown = names - _NOT_DATA - {t.strip('"') for t in TABLES}
    if unknown:
        raise ConflictError(
            f"this Sabio cannot copy the tables {', '.join(sorted(unknown))} into PostgreSQL "
            "yet: upgrade Sabio"
        )


def _check_target(source: Store, target: PostgresStore) -> None:
    theirs = {r[0] for r in target.db.execute("SELECT name FROM kb")}
    ours = {r[0] for r in source.db.execute("SELECT name FROM kb")}
    if theirs - ours:
        raise ConflictError(
            f"the PostgreSQL database already holds other knowledge bases "
            f"({', '.join(sorted(theirs - ours))}): migrate into an empty database"
        )


def _copy_table(source: Store, target: PostgresStore, table: str, progress: Progress) -> None:
    columns = _columns(source, table)
    total = int(source.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    quoted = ", ".join(f'"{c}"' for c in columns)
    if "id" not in columns:  # members, guides: small, copied whole, what is there kept
        rows = source.db.execute(f"SELECT {quoted} FROM {table}").fetchall()
        marks = ",".join("?" * len(columns))
        with target.transaction() as db:
            db.executemany(
                f"INSERT INTO {table}({quoted}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                [tuple(r) for r in rows],
            )
        progress(table, total, total)
        return
    done = target.db.execute(f"SELECT coalesce(max(id), 0), count(*) FROM {table}").fetchone()
    last, copied = int(done[0]), int(done[1])
    while True:
        rows = source.db.execute(
            f"SELECT {quoted}{', vector' if table == 'chunk' else ''} FROM {table}"
            f" WHERE id > ? ORDER BY id LIMIT {BATCH}",
            (last,),
        ).fetchall()
        if not rows:
            break
        with target.transaction() as db:
            if table == "chunk":
                _insert_chunks(db, columns, rows)
            else:
                marks = ",".join("?" * len(columns))
                db.executemany(
                    f"INSERT INTO {table}({quoted}) OVERRIDING SYSTEM VALUE VALUES ({marks})",
                    [tuple(r) for r in rows],
                )
        last = int(rows[-1][0])
        copied += len(rows)
        progress(table, copied, total)


def _insert_chunks(db: Any, columns: Sequence[str], rows: Sequence[Any]) -> None:
    """A batch of chunks in one statement, one array per column (a round trip per batch,
    not per row), and their postings by COPY (:func:`~sabio.store.pg_ranking.copy_postings`)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    names = [f"c{i}" for i in range(len(columns))]
    arrays = [[r[i] for r in rows] for i in range(len(columns))]
    arrays.append([vector_text(np.frombuffer(r[len(columns)], np.float32)) for r in rows])
    types = [_ARRAY_TYPES.get(c, "text[]") for c in columns] + ["text[]"]
    db.execute(
        f"INSERT INTO chunk({quoted}, vector) OVERRIDING SYSTEM VALUE"
        f" SELECT {', '.join(names)}, v::vector"
        f" FROM unnest({', '.join(f'?::{t}' for t in types)}) AS r({', '.join(names)}, v)",
        arrays,
    )
    texts = [tokens(t) for t in arrays[columns.index("text")]]
    contexts = [tokens(c) for c in arrays[columns.index("context")]]
    lengths = [len(t) + len(c) for t, c in zip(texts, contexts, strict=True)]
    column = columns.index
    lines = posting_lines(
        arrays[column("kb_id")], arrays[column("id")], texts, contexts, sum(lengths) / len(rows)
    )
    copy_postings(db.connection, lines)
    words: dict[int, int] = {}
    for document_id, length in zip(arrays[column("document_id")], lengths, strict=True):
        words[document_id] = words.get(document_id, 0) + length
    db.executemany(
        "UPDATE document SET word_count = word_count + ? WHERE id = ?",
        [(w, d) for d, w in sorted(words.items())],
    )


_ARRAY_TYPES = {
    "id": "bigint[]",
    "document_id": "bigint[]",
    "kb_id": "bigint[]",
    "ord": "int[]",
    "page": "int[]",
    "start": "int[]",
    "end": "int[]",
}
"""The chunk columns that are not text, by the type of their array."""


def migrate_to_postgres(source: Store, target: PostgresStore, progress: Progress) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` (see the module docstring): the rows
    of each table. ConflictError when ``target`` holds other data or a count differs."""
    _check_tables(source)
    _check_target(source, target)
    for table in TABLES:
        _copy_table(source, target, table, progress)
    for table in TABLES:
        if "id" in _columns(source, table):
            target.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" greatest((SELECT max(id) FROM {table}), 1))"
            )
    for kb in source.list_kbs():
        target.index_vectors(kb.id, kb.dimension)
    counts: dict[str, int] = {}
    for table in TABLES:
        ours = int(source.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        theirs = int(target.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if ours != theirs:
            raise ConflictError(
                f"{table}: {ours} rows in SQLite but {theirs} in PostgreSQL after the copy; "
                "run `sabio migrate` again"
            )
        counts[table.strip('"')] = ours
    return counts


def migrate_file(path: Path, url: str, progress: Progress) -> dict[str, int]:
    """:func:`migrate_to_postgres` from the SQLite file at ``path`` into the PostgreSQL
    database at ``url`` (both opened here, and closed)."""
    if not url.lower().startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"--to takes a postgresql:// URL, not {url!r}")
    if not path.exists():
        raise NotFoundError(f"there is no SQLite database at {path} to migrate")
    source = Store(path)
    try:
        target = PostgresStore(url)
        try:
            return migrate_to_postgres(source, target, progress)
        finally:
            target.close()
    finally:
        source.close()
