"""Chats: conversations kept in the store, each one question and answer after another.

:class:`ChatStore` reads and writes the ``chat`` and ``message`` tables (declared with the
rest of the schema in :mod:`sabio.store`). :class:`ChatAnswerStream` is an answer that
hands itself to a ``save`` function when it ends, however it ends: whole, broken off by
the model, or closed by its reader midway (what was produced is kept, marked incomplete).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sabio.answer import Answer, AnswerStream, Turn
from sabio.errors import ConfigError, NotFoundError
from sabio.store import Store

TITLE_CHARS = 60
"""A chat without a title takes the first characters of its first question."""
MAX_TITLE_CHARS = 200
INTERRUPTED = "the answer was interrupted before it ended"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    complete: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class Chat:
    """``kb_name`` None: the chat answers without documents. ``kb_available`` is False
    when its knowledge base was deleted. ``messages`` are filled by
    :meth:`ChatStore.get_chat` only (empty in lists)."""

    id: int
    title: str
    kb_name: str | None
    model: str | None
    created_at: float
    updated_at: float
    kb_available: bool
    user_id: int | None = None
    messages: list[ChatMessage] = field(default_factory=list)

    def history(self) -> list[Turn]:
        """The complete exchanges, oldest first: a question and the whole answer to it."""
        turns = []
        for asked, answered in zip(self.messages, self.messages[1:], strict=False):
            if asked.role == "user" and answered.role == "assistant" and answered.complete:
                turns.append(Turn(asked.content, answered.content))
        return turns


_CHAT_COLUMNS = """c.id, c.title, c.kb_name, c.model, c.created_at, c.updated_at,
    c.kb_name IS NULL OR EXISTS (SELECT 1 FROM kb WHERE kb.name = c.kb_name), c.user_id"""


class ChatStore:
    """The chats of one :class:`~sabio.store.Store` (its connection and transactions).

    ``user_id``: the account whose chats these are, when the server requires login; a chat
    of another account is not found, exactly as one that does not exist. None: every chat
    (the single local user; chats are then created without an owner)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_chat(
        self,
        kb_name: str | None,
        model: str | None,
        title: str | None,
        *,
        user_id: int | None = None,
    ) -> Chat:
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute(
                "INSERT INTO chat(user_id, title, kb_name, model, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?) RETURNING id",
                (
                    user_id,
                    _clean_title(title, MAX_TITLE_CHARS) if title else "",
                    kb_name,
                    model,
                    now,
                    now,
                ),
            ).fetchone()
        return self.get_chat(int(row[0]))

    def list_chats(self, query: str | None = None, *, user_id: int | None = None) -> list[Chat]:
        """Newest first; ``query`` matches words in titles and in messages, any case."""
        owned, params = _owned(user_id)
        where = f"WHERE {owned}"
        if query and query.strip():
            pattern = "%" + _escape_like(query.strip()) + "%"
            where += """ AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM message m
                       WHERE m.chat_id = c.id AND m.content LIKE ? ESCAPE '\\'))"""
            params += [pattern, pattern]
        rows = self.store.db.execute(
            f"SELECT {_CHAT_COLUMNS} FROM chat c {where} ORDER BY c.updated_at DESC, c.id DESC",
            params,
        ).fetchall()
        return [_chat(r) for r in rows]

    def count_chats(self, kb_name: str) -> int:
        """How many chats (of every account) are over the knowledge base ``kb_name``."""
        row = self.store.db.execute("SELECT count(*) FROM chat WHERE kb_name=?", (kb_name,))
        return int(row.fetchone()[0])

    def get_chat(self, chat_id: int, *, user_id: int | None = None) -> Chat:
        owned, params = _owned(user_id)
        row = self.store.db.execute(
            f"SELECT {_CHAT_COLUMNS} FROM chat c WHERE c.id=? AND {owned}", [chat_id, *params]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no chat {chat_id}; list them with GET /api/v1/chats")
        messages = self.store.db.execute(
            "SELECT id, role, content, citations, complete, created_at FROM message"
            " WHERE chat_id=? ORDER BY id",
            (chat_id,),
        ).fetchall()
        return _chat(row, [_message(m) for m in messages])

    def rename_chat(self, chat_id: int, title: str, *, user_id: int | None = None) -> Chat:
        owned, params = _owned(user_id, "")
        with self.store.transaction() as db:
            cursor = db.execute(
                f"UPDATE chat SET title=?, updated_at=? WHERE id=? AND {owned}",
                [_clean_title(title, MAX_TITLE_CHARS), time.time(), chat_id, *params],
            )
        if cursor.rowcount == 0:
            raise NotFoundError(f"no chat {chat_id}; list them with GET /api/v1/chats")
        return self.get_chat(chat_id)

    def delete_chat(self, chat_id: int, *, user_id: int | None = None) -> None:
        owned, params = _owned(user_id, "")
        with self.store.transaction() as db:  # its messages go with it (ON DELETE CASCADE)
            cursor = db.execute(f"DELETE FROM chat WHERE id=? AND {owned}", [chat_id, *params])
        if cursor.rowcount == 0:
            raise NotFoundError(f"no chat {chat_id}; list them with GET /api/v1/chats")

    def save_exchange(self, chat_id: int, answer: Answer) -> bool:
        """Add a question and its answer; the first question titles an untitled chat.
        False when the chat was deleted meanwhile (nothing is saved)."""
        now = time.time()
        citations = json.dumps(answer.to_dict()["citations"], ensure_ascii=False)
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE chat SET updated_at=?, title=CASE WHEN title='' THEN ? ELSE title END"
                " WHERE id=?",
                (now, _clean_title(answer.question), chat_id),
            )
            if cursor.rowcount == 0:
                return False
            db.executemany(
                "INSERT INTO message(chat_id, role, content, citations, complete, created_at)"
                " VALUES (?,?,?,?,?,?)",
                [
                    (chat_id, "user", answer.question, "[]", 1, now),
                    (chat_id, "assistant", answer.text, citations, int(answer.complete), now),
                ],
            )
        return True


class ChatAnswerStream(AnswerStream):
    """An :class:`AnswerStream` that calls ``save(answer)`` once it ends."""

    def __init__(self, *args: Any, save: Callable[[Answer], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.save = save

    def __iter__(self) -> Iterator[str]:
        produced: list[str] = []
        finished = False
        try:
            for piece in super().__iter__():
                produced.append(piece)
                yield piece
            finished = True
        finally:  # a failure before anything was shown raises and saves nothing
            if finished or produced:
                if not finished:  # closed by its reader, or a bug midway
                    self.answer.complete = False
                    self.answer.error = self.answer.error or INTERRUPTED
                    self.answer.text = "".join(produced).strip()
                self.save(self.answer)


def _clean_title(title: str, limit: int = TITLE_CHARS) -> str:
    title = " ".join(title.split())
    if not title:
        raise ConfigError("a chat title cannot be empty")
    if len(title) > limit:
        title = title[: limit - 1].rsplit(" ", 1)[0] + "…"
    return title


def _owned(user_id: int | None, table: str = "c.") -> tuple[str, list[object]]:
    """The SQL condition (and its parameters) that keeps the chats of ``user_id``; with
    None, every chat."""
    if user_id is None:
        return "1", []
    return f"{table}user_id = ?", [user_id]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chat(row: sqlite3.Row, messages: Sequence[ChatMessage] = ()) -> Chat:
    chat_id, title, kb_name, model, created, updated, available, user_id = row
    return Chat(
        chat_id, title, kb_name, model, created, updated, bool(available), user_id, list(messages)
    )


def _message(row: sqlite3.Row) -> ChatMessage:
    return ChatMessage(
        id=row[0],
        role=row[1],
        content=row[2],
        citations=json.loads(row[3]),
        complete=bool(row[4]),
        created_at=row[5],
    )
