"""Sources that keep a knowledge base current, what each of their items became, and the
background jobs: the ``source``, ``source_item`` and ``job`` tables (migration 4).
:class:`SourceStore` reads and writes the first two (:mod:`sabio.sources` is its public
name, with the connectors), :mod:`sabio.store.jobs` the third.

A source is attached to one knowledge base; its ``options`` are its kind's settings
(never a secret, which is kept apart, encrypted), its ``state`` what its connector keeps
between syncs. Every item a sync looked at is recorded with what became of it (indexed,
unchanged, skipped, needs OCR, failed; and why).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sabio.errors import ConflictError, NotFoundError
from sabio.store.connection import ConstraintError, SqlDatabase
from sabio.store.documents import KnowledgeBase
from sabio.store.migrations import execute_script, migration


@migration(4)
def create_sources_and_jobs(db: sqlite3.Connection) -> None:
    """Sources, their items, jobs."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS source (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    secret BLOB,
    state TEXT NOT NULL DEFAULT '{}',
    interval_s REAL,
    created_at REAL NOT NULL,
    last_sync_at REAL,
    next_sync_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (kb_id, kind, location)
);
CREATE TABLE IF NOT EXISTS source_item (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL REFERENCES source(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    document_id INTEGER,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    etag TEXT,
    last_modified TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    changed_at REAL NOT NULL,
    checked_at REAL NOT NULL,
    UNIQUE (source_id, key)
);
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source_id INTEGER REFERENCES source(id) ON DELETE CASCADE,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    message TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    owner TEXT,
    heartbeat_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS job_status ON job(status, run_after);
CREATE INDEX IF NOT EXISTS job_source ON job(source_id);
""",
    )


@dataclass(frozen=True, slots=True)
class Source:
    """``options`` are the kind's settings (never a secret); ``state`` is what its
    connector keeps between syncs (a mailbox's last UID); ``interval_s`` is how often it
    is synced on a schedule (None: on change or on demand only)."""

    id: int
    kb_id: int
    kb_name: str
    kind: str
    location: str
    options: dict[str, Any]
    state: dict[str, Any]
    interval_s: float | None
    created_at: float
    last_sync_at: float | None
    next_sync_at: float | None
    last_error: str
    has_secret: bool

    def describe(self) -> str:
        return f"{self.kind} {self.location}"

    def to_dict(self) -> dict[str, Any]:
        """What the CLI's ``--json`` and the API show of it (never the secret)."""
        return {
            "id": self.id,
            "kb": self.kb_name,
            "kind": self.kind,
            "location": self.location,
            "options": self.options,
            "interval_s": self.interval_s,
            "last_sync_at": self.last_sync_at,
            "next_sync_at": self.next_sync_at,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    """What one sync found for one item. ``status`` is the document's (indexed, skipped,
    needs_ocr, encrypted, failed, removed); ``outcome`` what this sync did (added,
    updated, unchanged, removed, not_indexed, skipped)."""

    key: str
    status: str
    outcome: str
    reason: str = ""
    title: str = ""
    document_id: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceItem:
    id: int
    source_id: int
    key: str
    title: str
    document_id: int | None
    status: str
    outcome: str
    reason: str
    etag: str | None
    last_modified: str | None
    attempts: int
    changed_at: float
    checked_at: float

    @property
    def label(self) -> str:
        """The status as ``sabio source list`` names it."""
        return _label(self.status, self.outcome)


def _label(status: str, outcome: str) -> str:
    if status == "indexed":
        return "unchanged" if outcome == "unchanged" else "indexed"
    return {"needs_ocr": "needs OCR"}.get(status, status)


_COLUMNS = """s.id, s.kb_id, k.name, s.kind, s.location, s.options, s.state, s.interval_s,
    s.created_at, s.last_sync_at, s.next_sync_at, s.last_error, s.secret IS NOT NULL"""
_ITEM_COLUMNS = """id, source_id, key, title, document_id, status, outcome, reason, etag,
    last_modified, attempts, changed_at, checked_at"""


class SourceStore:
    """The sources of one database (a :class:`~sabio.store.Store`: its connection and
    transactions) and their items."""

    def __init__(self, store: SqlDatabase) -> None:
        self.store = store

    def add(
        self,
        kb: KnowledgeBase,
        kind: str,
        location: str,
        *,
        options: dict[str, Any] | None = None,
        secret: bytes | None = None,
        interval_s: float | None = None,
    ) -> Source:
        try:
            with self.store.transaction() as db:
                row = db.execute(
                    """INSERT INTO source(kb_id, kind, location, options, secret, interval_s,
                           created_at) VALUES (?,?,?,?,?,?,?) RETURNING id""",
                    (
                        kb.id,
                        kind,
                        location,
                        json.dumps(options or {}),
                        secret,
                        interval_s,
                        time.time(),
                    ),
                ).fetchone()
        except ConstraintError:
            raise ConflictError(
                f"{kb.name!r} already has the {kind} source {location}; see `sabio source list`"
            ) from None
        return self.get(int(row[0]))

    def get(self, source_id: int) -> Source:
        row = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM source s JOIN kb k ON k.id = s.kb_id WHERE s.id=?",
            (source_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no source {source_id}; see `sabio source list`")
        return _source(row)

    def find(self, kb_id: int | None = None) -> list[Source]:
        """Every source, or those of one knowledge base."""
        rows = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM source s JOIN kb k ON k.id = s.kb_id"
            " WHERE ? IS NULL OR s.kb_id = ? ORDER BY s.id",
            (kb_id, kb_id),
        ).fetchall()
        return [_source(r) for r in rows]

    def secret(self, source_id: int) -> bytes | None:
        row = self.store.db.execute("SELECT secret FROM source WHERE id=?", (source_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def holds_secrets(self, except_kinds: Sequence[str] = ()) -> bool:
        """Whether any source but those of ``except_kinds`` has a secret."""
        marks = ",".join("?" * len(except_kinds))
        but = f" AND kind NOT IN ({marks})" if except_kinds else ""
        row = self.store.db.execute(
            f"SELECT 1 FROM source WHERE secret IS NOT NULL{but} LIMIT 1", list(except_kinds)
        ).fetchone()
        return row is not None

    def remove(self, source_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM source WHERE id=?", (source_id,))

    def save_state(self, source_id: int, state: dict[str, Any]) -> None:
        self.store.db.execute(
            "UPDATE source SET state=? WHERE id=?", (json.dumps(state), source_id)
        )

    def synced(self, source: Source, error: str = "") -> None:
        """A sync ended (with ``error``, or well); the next one is due after the interval."""
        now = time.time()
        due = now + source.interval_s if source.interval_s else None
        self.store.db.execute(
            "UPDATE source SET last_sync_at=?, next_sync_at=?, last_error=? WHERE id=?",
            (now, due, error, source.id),
        )

    def schedule(self, source_id: int, at: float | None) -> None:
        """Sync the source at ``at`` (None: not on a schedule until its next sync ends)."""
        self.store.db.execute("UPDATE source SET next_sync_at=? WHERE id=?", (at, source_id))

    def due(self, now: float) -> list[Source]:
        """Sources whose scheduled sync is due."""
        rows = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM source s JOIN kb k ON k.id = s.kb_id"
            " WHERE s.next_sync_at IS NOT NULL AND s.next_sync_at <= ?",
            (now,),
        ).fetchall()
        return [_source(r) for r in rows]

    # items

    def record(self, source_id: int, updates: Sequence[ItemUpdate]) -> None:
        """What a sync found, in one transaction. An item's ``changed_at`` moves only when
        something happened to it (not for "unchanged"); ``checked_at`` every time."""
        now = time.time()
        with self.store.transaction() as db:
            db.executemany(
                """INSERT INTO source_item(source_id, key, title, document_id, status, outcome,
                       reason, etag, last_modified, attempts, changed_at, checked_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT (source_id, key) DO UPDATE SET
                       title=CASE WHEN excluded.title != '' THEN excluded.title
                                 ELSE source_item.title END,
                       document_id=coalesce(excluded.document_id, source_item.document_id),
                       status=excluded.status, outcome=excluded.outcome,
                       reason=excluded.reason,
                       etag=coalesce(excluded.etag, source_item.etag),
                       last_modified=coalesce(excluded.last_modified, source_item.last_modified),
                       attempts=CASE WHEN excluded.status = 'failed'
                                THEN source_item.attempts + 1 ELSE 0 END,
                       changed_at=CASE WHEN excluded.outcome = 'unchanged'
                                  THEN source_item.changed_at ELSE excluded.changed_at END,
                       checked_at=excluded.checked_at""",
                (
                    (
                        source_id,
                        u.key,
                        u.title,
                        u.document_id,
                        u.status,
                        u.outcome,
                        u.reason,
                        u.etag,
                        u.last_modified,
                        1 if u.status == "failed" else 0,
                        now,
                        now,
                    )
                    for u in updates
                ),
            )

    def items(
        self, source_id: int, *, limit: int | None = None, offset: int = 0
    ) -> list[SourceItem]:
        """The items by key; with ``limit``, a page of them, those that need a look first
        (failed, needs OCR, encrypted, skipped, removed; then the newest changes)."""
        if limit is None:
            rows = self.store.db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM source_item WHERE source_id=? ORDER BY key",
                (source_id,),
            ).fetchall()
        else:
            rows = self.store.db.execute(
                f"""SELECT {_ITEM_COLUMNS} FROM source_item WHERE source_id=?
                    ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'needs_ocr' THEN 1
                        WHEN 'encrypted' THEN 2 WHEN 'skipped' THEN 3 WHEN 'removed' THEN 4
                        ELSE 5 END, changed_at DESC, key LIMIT ? OFFSET ?""",
                (source_id, limit, offset),
            ).fetchall()
        return [SourceItem(*r) for r in rows]

    def item(self, source_id: int, key: str) -> SourceItem | None:
        row = self.store.db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM source_item WHERE source_id=? AND key=?",
            (source_id, key),
        ).fetchone()
        return SourceItem(*row) if row else None

    def counts(self, source_id: int) -> dict[str, int]:
        """How many items have each label."""
        counts: dict[str, int] = {}
        for status, outcome, n in self.store.db.execute(
            "SELECT status, outcome, count(*) FROM source_item WHERE source_id=?"
            " GROUP BY status, outcome",
            (source_id,),
        ):
            label = _label(status, outcome)
            counts[label] = counts.get(label, 0) + n
        return counts

    def forget_removed(self, source_id: int, older_than: float) -> None:
        """Drop "removed" items last seen before ``older_than`` (they explain nothing more)."""
        self.store.db.execute(
            "DELETE FROM source_item WHERE source_id=? AND status='removed' AND checked_at<?",
            (source_id, older_than),
        )


def _source(row: sqlite3.Row) -> Source:
    values = list(row)
    values[5] = json.loads(values[5])
    values[6] = json.loads(values[6])
    values[12] = bool(values[12])
    return Source(*values)
