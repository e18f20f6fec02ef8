"""What users say of answers: the ``feedback`` table and :class:`FeedbackStore`.

One row per judgement of an answer: a thumbs up or down (``rating`` 1 or -1, 0 for
none) with an optional reason, and optionally a correction (the right fact, in the
user's words). The question and the answer judged are copied into the row, so feedback
outlives the chat it came from (``chat_id`` and ``message_id`` are NULL once it is
deleted) and can come from where there is no chat (``sabio chat``, the Ollama API).

A row with a correction is a *note*: :mod:`sabio.notes` indexes it as a document of its
knowledge base. ``status`` says whether it is used: ``active``, or ``pending`` while a
knowledge base that requires review waits for an admin. A good answer can be *pinned*
(``pinned``, with the ``citations`` it had): the reference answer to its question, served
to a similar later question with its citations checked again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sabio.errors import ConfigError, NotFoundError
from sabio.store.connection import SqlDatabase
from sabio.store.migrations import execute_script, migration

RATINGS = (-1, 0, 1)
STATUSES = ("active", "pending")
MAX_TEXT = 4000
"""Characters a reason or a correction may hold (a note is a short fact, not a document)."""


@migration(7)
def create_feedback(db: sqlite3.Connection) -> None:
    """Feedback on answers, corrections among it (notes); what each saved answer says of
    itself besides its text (``message.notes``: a pinned answer served, which is newer)."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_name TEXT,
    rating INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)),
    reason TEXT NOT NULL DEFAULT '',
    correction TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    user_id INTEGER REFERENCES user(id) ON DELETE SET NULL,
    chat_id INTEGER REFERENCES chat(id) ON DELETE SET NULL,
    message_id INTEGER REFERENCES message(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending')),
    pinned INTEGER NOT NULL DEFAULT 0,
    citations TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_kb ON feedback(kb_name);
CREATE INDEX IF NOT EXISTS feedback_message ON feedback(message_id);
""",
    )
    if "notes" not in {row[1] for row in db.execute("PRAGMA table_info(message)")}:
        db.execute("ALTER TABLE message ADD COLUMN notes TEXT NOT NULL DEFAULT '[]'")


@dataclass(frozen=True, slots=True)
class Feedback:
    """``rating``: 1 (good), -1 (bad), 0 (not rated: a correction alone)."""

    id: int
    kb_name: str | None
    rating: int
    reason: str
    correction: str
    question: str
    answer: str
    author: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    status: str
    pinned: bool
    citations: list[dict[str, Any]]
    created_at: float
    updated_at: float

    @property
    def is_note(self) -> bool:
        """A correction: it becomes a document of its knowledge base."""
        return bool(self.correction)


@dataclass(frozen=True, slots=True)
class NewFeedback:
    """What a judgement says, before it is kept."""

    kb_name: str | None
    question: str
    answer: str
    rating: int = 0
    reason: str = ""
    correction: str = ""
    author: str = ""
    user_id: int | None = None
    chat_id: int | None = None
    message_id: int | None = None
    status: str = "active"
    pinned: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)


_COLUMNS = (
    "id, kb_name, rating, reason, correction, question, answer, author, user_id, chat_id,"
    " message_id, status, pinned, citations, created_at, updated_at"
)


class FeedbackStore:
    """The feedback of one database (a :class:`~sabio.store.Store`)."""

    def __init__(self, store: SqlDatabase) -> None:
        self.store = store

    def add_feedback(self, new: NewFeedback) -> Feedback:
        """Keep a judgement; ConfigError (nothing kept) when it says nothing or too much."""
        reason, correction = _clean(new.reason, "reason"), _clean(new.correction, "correction")
        if new.rating not in RATINGS:
            raise ConfigError(
                f"a rating is 1 (good), -1 (bad) or 0, not {new.rating}", key="feedback_rating"
            )
        if new.status not in STATUSES:
            raise ConfigError(f"unknown note status {new.status!r}: use active or pending")
        if not new.rating and not correction and not reason and not new.pinned:
            raise ConfigError(
                "feedback needs a rating, a reason or a correction", key="feedback_empty"
            )
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute(
                f"INSERT INTO feedback({_COLUMNS[4:]}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " RETURNING id",
                (
                    new.kb_name,
                    new.rating,
                    reason,
                    correction,
                    new.question.strip(),
                    new.answer.strip(),
                    new.author.strip(),
                    new.user_id,
                    new.chat_id,
                    new.message_id,
                    new.status,
                    int(new.pinned),
                    json.dumps(new.citations, ensure_ascii=False),
                    now,
                    now,
                ),
            ).fetchone()
        return self.get_feedback(int(row[0]))

    def get_feedback(self, feedback_id: int) -> Feedback:
        row = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM feedback WHERE id=?", (feedback_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no note or feedback {feedback_id}; list them with `sabio notes list`",
                key="note_not_found",
                note=feedback_id,
            )
        return _feedback(row)

    def list_feedback(
        self,
        kb_name: str | None = None,
        *,
        notes: bool = False,
        message_id: int | None = None,
        pinned: bool = False,
    ) -> list[Feedback]:
        """Oldest first; only ``kb_name``'s, only notes, only on one message, only pinned
        answers, when asked."""
        where, params = ["1 = 1"], list[object]()
        if kb_name is not None:
            where.append("kb_name = ?")
            params.append(kb_name)
        if notes:
            where.append("correction != ''")
        if pinned:
            where.append("pinned != 0")
        if message_id is not None:
            where.append("message_id = ?")
            params.append(message_id)
        rows = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM feedback WHERE {' AND '.join(where)} ORDER BY id", params
        ).fetchall()
        return [_feedback(r) for r in rows]

    def update_feedback(self, feedback_id: int, changes: Mapping[str, Any]) -> Feedback:
        """Change a note's ``correction`` or ``status``, or a judgement's ``rating``,
        ``reason`` or ``pinned``; an emptied correction is refused (remove the note)."""
        current = self.get_feedback(feedback_id)
        sets: dict[str, object] = {}
        if "correction" in changes:
            sets["correction"] = _clean(str(changes["correction"]), "correction")
            if current.is_note and not sets["correction"]:
                raise ConfigError("a note cannot be emptied: remove it instead", key="note_empty")
        if "reason" in changes:
            sets["reason"] = _clean(str(changes["reason"]), "reason")
        if "status" in changes:
            if changes["status"] not in STATUSES:
                raise ConfigError(
                    f"unknown note status {changes['status']!r}: use active or pending"
                )
            sets["status"] = changes["status"]
        if "pinned" in changes:
            sets["pinned"] = int(bool(changes["pinned"]))
        if "rating" in changes:
            if changes["rating"] not in RATINGS:
                raise ConfigError("a rating is 1 (good), -1 (bad) or 0", key="feedback_rating")
            sets["rating"] = changes["rating"]
        if not sets:
            return current
        assignments = "".join(f"{name}=?, " for name in sets)
        with self.store.transaction() as db:
            db.execute(
                f"UPDATE feedback SET {assignments}updated_at=? WHERE id=?",
                [*sets.values(), time.time(), feedback_id],
            )
        return self.get_feedback(feedback_id)

    def delete_feedback(self, feedback_id: int) -> Feedback:
        """Forget a judgement (a note's document is the caller's to remove); the row as it was."""
        gone = self.get_feedback(feedback_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM feedback WHERE id=?", (feedback_id,))
        return gone

    def forget_kb(self, kb_name: str) -> None:
        """Forget every judgement of the answers of a knowledge base (being deleted)."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM feedback WHERE kb_name=?", (kb_name,))


def _clean(text: str, what: str) -> str:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ConfigError(
            f"the {what} is {len(text)} characters long; keep it under {MAX_TEXT}",
            key="feedback_too_long",
            limit=MAX_TEXT,
        )
    return text


def _feedback(row: sqlite3.Row) -> Feedback:
    values = list(row)
    values[12], values[13] = bool(values[12]), json.loads(values[13])
    return Feedback(*values)
