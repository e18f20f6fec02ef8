"""The database as one file, for ``sabio export`` and ``import`` (:mod:`sabio.archive`):
what it holds, a consistent copy of it without the secrets to seal apart, and an
imported copy checked and put in its new place.

A copy is opened as it is (``sqlite3`` alone, no migrations): an export's copy is made
from a current database, and an import's is checked before anything is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from sabio.store.connection import Database

COUNTED = {
    "knowledge_bases": "kb",
    "documents": "document",
    "passages": "chunk",
    "chats": "chat",
    "users": "user",
    "sources": "source",
}
"""What :func:`contents` counts: the rows of each of these tables."""


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    return {
        name: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        for name, table in COUNTED.items()
    }


def contents(database: Database) -> dict[str, int]:
    """How many knowledge bases, documents, passages, chats, users and sources it holds."""
    return _counts(database.db)


def copy_contents(path: Path) -> dict[str, int]:
    """:func:`contents` of a copy (:func:`snapshot`'s, or one to import)."""
    db = sqlite3.connect(path)
    try:
        return _counts(db)
    finally:
        db.close()


def snapshot(
    database: Database, target: Path, keeps_secret: Callable[[str], bool]
) -> dict[int, bytes]:
    """A consistent copy of ``database`` at ``target`` (``VACUUM INTO``), with the secrets
    of the sources whose kind does not keep them in a copy (``keeps_secret(kind)``
    False) taken out; those secrets, as they were stored, by source id."""
    database.db.execute("VACUUM INTO ?", (str(target),))
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA secure_delete=ON")
        rows = db.execute("SELECT id, kind, secret FROM source WHERE secret IS NOT NULL")
        taken = {int(i): bytes(secret) for i, kind, secret in rows if not keeps_secret(kind)}
        if taken:
            marks = ",".join("?" * len(taken))
            db.execute(f"UPDATE source SET secret=NULL WHERE id IN ({marks})", list(taken))
    finally:
        db.close()
    return taken


def copy_problem(path: Path) -> str | None:
    """What is wrong with a copy to import (SQLite's ``quick_check``), else None."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        check = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        check = str(exc)
    finally:
        db.close()
    return None if check == "ok" else str(check)


def rehome_copy(
    path: Path, old_uploads: str, new_uploads: str, secrets: Mapping[int, bytes]
) -> None:
    """Put an imported copy (checked by :func:`copy_problem`) in its new place, in one
    transaction: the documents uploaded under ``old_uploads`` point under ``new_uploads``
    (both ending in ``/``), and the sources get ``secrets`` (by source id)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("BEGIN")
        if old_uploads != new_uploads and len(old_uploads) > 1:
            db.execute(
                "UPDATE document SET source = ? || substr(source, ?)"
                " WHERE substr(source, 1, ?) = ?",
                (new_uploads, len(old_uploads) + 1, len(old_uploads), old_uploads),
            )
        for source_id, secret in secrets.items():
            db.execute("UPDATE source SET secret=? WHERE id=?", (secret, source_id))
        db.execute("COMMIT")
    finally:
        db.close()
