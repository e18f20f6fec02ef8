"""What the security review keeps (migration 9): the findings a person dismissed, so
that they stay dismissed, and the alerts of findings in documents that arrived.

A dismissal names a finding by its document (its source), its kind and its fingerprint
(a digest of the value found, never the value: :mod:`sabio.review.findings`), so it
holds across re-indexing and new reviews. An alert is what a review on arrival found in
one new or changed document (its counts by kind, its highest severity), until a person
has seen it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from sabio.store.connection import SqlDatabase
from sabio.store.migrations import execute_script, migration


@migration(9)
def create_review_tables(db: sqlite3.Connection) -> None:
    """The review's dismissed findings and its alerts."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS review_dismissal (
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    dismissed_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (kb_id, document, kind, fingerprint)
);
CREATE TABLE IF NOT EXISTS review_alert (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    severity TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS review_alert_kb ON review_alert(kb_id, seen);
""",
    )


@dataclass(frozen=True, slots=True)
class Dismissal:
    document: str
    kind: str
    fingerprint: str
    reason: str
    dismissed_by: str
    created_at: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.document, self.kind, self.fingerprint)


@dataclass(frozen=True, slots=True)
class ReviewAlert:
    id: int
    document: str
    counts: dict[str, int]
    severity: str
    created_at: float
    seen: bool


class ReviewStore:
    """The ``review_dismissal`` and ``review_alert`` tables (``Store.reviews``)."""

    def __init__(self, store: SqlDatabase) -> None:
        self.store = store

    def dismiss(
        self,
        kb_id: int,
        document: str,
        kind: str,
        fingerprint: str,
        *,
        reason: str = "",
        by: str = "",
    ) -> Dismissal:
        """Dismiss a finding (again: its reason and who are replaced)."""
        now = time.time()
        self.store.db.execute(
            "INSERT INTO review_dismissal(kb_id, document, kind, fingerprint, reason,"
            " dismissed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(kb_id, document, kind, fingerprint)"
            " DO UPDATE SET reason=excluded.reason, dismissed_by=excluded.dismissed_by",
            (kb_id, document, kind, fingerprint, reason, by, now),
        )
        return next(d for d in self.dismissals(kb_id) if d.key == (document, kind, fingerprint))

    def restore(self, kb_id: int, document: str, kind: str, fingerprint: str) -> bool:
        """Undo a dismissal; whether there was one."""
        cursor = self.store.db.execute(
            "DELETE FROM review_dismissal WHERE kb_id=? AND document=? AND kind=?"
            " AND fingerprint=?",
            (kb_id, document, kind, fingerprint),
        )
        return cursor.rowcount > 0

    def dismissals(self, kb_id: int) -> list[Dismissal]:
        rows = self.store.db.execute(
            "SELECT document, kind, fingerprint, reason, dismissed_by, created_at"
            " FROM review_dismissal WHERE kb_id=? ORDER BY created_at, document",
            (kb_id,),
        ).fetchall()
        return [Dismissal(*row) for row in rows]

    def add_alert(
        self, kb_id: int, document: str, counts: dict[str, int], severity: str
    ) -> ReviewAlert:
        row = self.store.db.execute(
            "INSERT INTO review_alert(kb_id, document, counts, severity, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id, document, counts, severity, created_at, seen",
            (kb_id, document, json.dumps(counts, sort_keys=True), severity, time.time()),
        ).fetchone()
        return _alert(row)

    def alerts(self, kb_id: int, *, unseen: bool = False, limit: int = 100) -> list[ReviewAlert]:
        """The latest alerts first (``unseen``: only those nobody has seen)."""
        rows = self.store.db.execute(
            "SELECT id, document, counts, severity, created_at, seen FROM review_alert"
            " WHERE kb_id=? AND (seen=0 OR ?=0) ORDER BY id DESC LIMIT ?",
            (kb_id, int(unseen), limit),
        ).fetchall()
        return [_alert(row) for row in rows]

    def mark_seen(self, kb_id: int) -> int:
        """Every alert of the knowledge base seen; how many were not."""
        cursor = self.store.db.execute(
            "UPDATE review_alert SET seen=1 WHERE kb_id=? AND seen=0", (kb_id,)
        )
        return cursor.rowcount


def _alert(row: tuple[int, str, str, str, float, int]) -> ReviewAlert:
    return ReviewAlert(row[0], row[1], json.loads(row[2]), row[3], row[4], bool(row[5]))
