"""Numbered migrations: the schema as a list of functions, applied in order and recorded.

The pattern of simonw's sqlite-utils and llm (``llm/migrations.py``): each change of the
schema is a function decorated ``@migration(n)``; :func:`migrate` runs, in one
transaction, the ones a database has not had, and records each in ``_migrations``
(number, name, when). A migration is never edited once released: a change is a new one.

``PRAGMA user_version`` still holds the number of the last migration applied, because
the releases before numbered migrations read only it: they refuse a database above their
schema (:data:`LEGACY_SCHEMA`, 5) and bring one below it up by running their whole schema
again, every statement ``IF NOT EXISTS``. Migrations 1 to 5 are that schema, written the
same way, and the same rule holds for them: a database below 5, whatever its tables, has
all five run again (they create what is missing and add the columns it lacks); one at 5
without ``_migrations`` (made by those releases) has had them. Above 5, the record
counts: a migration runs once, and ``user_version`` set back by hand runs again the
recorded ones above it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sabio.errors import ConflictError

Apply = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    apply: Apply


def migration(number: int) -> Callable[[Apply], Migration]:
    """``@migration(6)`` over ``def add_x(db): ...``: the sixth change of the schema."""

    def decorator(apply: Apply) -> Migration:
        return Migration(number, apply.__name__, apply)

    return decorator


def execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run the statements of ``script`` one by one inside the current transaction
    (``executescript`` would commit it first)."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


LEGACY_SCHEMA = 5
"""The last schema of the releases that knew only ``user_version``."""


def applied(db: sqlite3.Connection) -> dict[int, str]:
    """The migrations this database has had: number → name ("" when only its
    ``user_version`` says so)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version < LEGACY_SCHEMA:
        return {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone() is None:
        return {n: "" for n in range(1, version + 1)}
    rows = db.execute("SELECT number, name FROM _migrations WHERE number <= ?", (version,))
    return {int(r[0]): str(r[1]) for r in rows}


def migrate(db: sqlite3.Connection, path: Path | str, migrations: Sequence[Migration]) -> None:
    """Bring the database at ``path`` up to the last of ``migrations``; nothing (not even a
    write) when it is there already. ConflictError when a newer Sabio wrote it."""
    latest = migrations[-1].number
    if _is_current(db, path, latest):
        return
    db.execute("BEGIN IMMEDIATE")  # another process may be migrating: read again inside
    try:
        if _is_current(db, path, latest):
            db.execute("ROLLBACK")
            return
        done = applied(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        now = time.time()
        for step in migrations:
            if step.number in done:
                if not done[step.number]:  # recorded by user_version alone until now
                    db.execute(
                        "INSERT OR REPLACE INTO _migrations VALUES (?,?,?)",
                        (step.number, step.name, now),
                    )
                continue
            step.apply(db)
            db.execute(
                "INSERT OR REPLACE INTO _migrations VALUES (?,?,?)",
                (step.number, step.name, time.time()),
            )
        db.execute(f"PRAGMA user_version={latest}")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _is_current(db: sqlite3.Connection, path: Path | str, latest: int) -> bool:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > latest:
        raise ConflictError(
            f"{path} was written by a newer Sabio (schema {version}); upgrade Sabio"
        )
    if version != latest:
        return False
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone() is None:
        return False
    return int(db.execute("SELECT count(*) FROM _migrations").fetchone()[0]) >= latest
