"""The chats and their messages: the ``chat`` and ``message`` tables and
:class:`ChatStore`, what reads and writes them (:mod:`sabio.chats` is their public name,
with the answers that save themselves into a chat and the Markdown export).

A chat names its knowledge base (``kb_name``) instead of referring to its row: a
knowledge base deleted with ``keep_chats`` leaves its chats readable. ``user_id`` is the
chat's owner when the server requires login; NULL is the single local user. Every
message has a parent (the message it follows; None for the first question), so an answer
asked again (regenerated) is a sibling of the earlier one, and an edited question a
sibling of the question it replaces, with its own answers after it: nothing is lost, and
the chat shows one branch at a time, the one that ends at its ``leaf_id``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sabio.errors import ConfigError, NotFoundError
from sabio.store.connection import SqlDatabase
from sabio.store.migrations import execute_script, migration

TITLE_CHARS = 60
"""A chat without a title takes the first characters of its first question."""
MAX_TITLE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a conversation, as the model saw it."""

    question: str
    answer: str


class SavedAnswer(Protocol):
    """What :meth:`ChatStore.save_exchange` keeps of an answer (:class:`sabio.answer.Answer`)."""

    @property
    def question(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def complete(self) -> bool: ...
    @property
    def stopped(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...


@migration(2)
def create_chats(db: sqlite3.Connection) -> None:
    """Chats and their messages."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS chat (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER,
    title TEXT NOT NULL DEFAULT '',
    kb_name TEXT,
    model TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    leaf_id INTEGER
);
CREATE INDEX IF NOT EXISTS chat_updated ON chat(updated_at);
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chat(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    complete INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    parent_id INTEGER REFERENCES message(id) ON DELETE CASCADE,
    stopped INTEGER NOT NULL DEFAULT 0,
    claims TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS message_chat ON message(chat_id);
""",
    )


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """``versions``: the ids of this message and its siblings (the other answers to its
    question, or the other versions of a question), oldest first."""

    id: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    complete: bool
    created_at: float
    parent_id: int | None = None
    stopped: bool = False
    claims: list[dict[str, Any]] = field(default_factory=list)
    """An answer's statements and what supports them (:class:`sabio.support.Claim`)."""
    notes: list[str] = field(default_factory=list)
    """What an answer says of itself (keywords only, a pinned answer, which is newer…)."""
    chart: str = ""
    """An answer computed over a table: its chart, an SVG document ('' for none)."""
    route: dict[str, Any] = field(default_factory=dict)
    """How the answer was made (:class:`sabio.routing.Route`'s fields; empty for none)."""
    versions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an answer goes in a chat's tree: after ``parent_id`` with its question (a
    new or an edited question), or, with ``question_id``, as another answer to that
    question (regenerated)."""

    parent_id: int | None
    question_id: int | None = None


@dataclass(frozen=True, slots=True)
class Chat:
    """``kb_name`` None: the chat answers without documents. ``kb_available`` is False
    when its knowledge base was deleted. ``messages`` (the branch shown, oldest first)
    and ``tree`` (every message) are filled by :meth:`ChatStore.get_chat` only (empty in
    lists)."""

    id: int
    title: str
    kb_name: str | None
    model: str | None
    created_at: float
    updated_at: float
    kb_available: bool
    user_id: int | None = None
    messages: list[ChatMessage] = field(default_factory=list)
    tree: list[ChatMessage] = field(default_factory=list)

    def history(self, before: int | None = None) -> list[Turn]:
        """The complete exchanges of the branch shown, oldest first: a question and the
        whole answer to it; with ``before``, only those that come before that message."""
        messages = self.branch_to(before)[:-1] if before is not None else self.messages
        turns = []
        for asked, answered in itertools.pairwise(messages):
            if asked.role == "user" and answered.role == "assistant" and answered.complete:
                turns.append(Turn(asked.content, answered.content))
        return turns

    def message(self, message_id: int) -> ChatMessage:
        found = next((m for m in self.tree if m.id == message_id), None)
        if found is None:
            raise NotFoundError(
                f"no message {message_id} in chat {self.id}",
                key="message_not_found",
                message=message_id,
            )
        return found

    def branch_to(self, message_id: int | None) -> list[ChatMessage]:
        """The messages from the first question down to ``message_id``, oldest first."""
        path: list[ChatMessage] = []
        at = message_id
        while at is not None:
            message = self.message(at)
            path.append(message)
            at = message.parent_id
        return path[::-1]


_CHAT_COLUMNS = """c.id, c.title, c.kb_name, c.model, c.created_at, c.updated_at,
    c.kb_name IS NULL OR EXISTS (SELECT 1 FROM kb WHERE kb.name = c.kb_name), c.user_id"""
_MESSAGE_COLUMNS = (
    "id, role, content, citations, complete, created_at, parent_id, stopped, claims, notes, chart,"
    " route"
)


class ChatStore:
    """The chats of one database (a :class:`~sabio.store.Store`: its connection and
    transactions).

    ``user_id``: the account whose chats these are, when the server requires login; a chat
    of another account is not found, exactly as one that does not exist. None: every chat
    (the single local user; chats are then created without an owner)."""

    def __init__(self, store: SqlDatabase) -> None:
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
            where += """ AND (lower(c.title) LIKE lower(?) ESCAPE '\\' OR EXISTS (SELECT 1
                       FROM message m WHERE m.chat_id = c.id
                       AND lower(m.content) LIKE lower(?) ESCAPE '\\'))"""
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
            f"SELECT {_CHAT_COLUMNS}, c.leaf_id FROM chat c WHERE c.id=? AND {owned}",
            [chat_id, *params],
        ).fetchone()
        if row is None:
            raise _chat_not_found(chat_id)
        rows = self.store.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM message WHERE chat_id=? ORDER BY id", (chat_id,)
        ).fetchall()
        return _chat(row[:8], _tree([_message(m) for m in rows]), row[8])

    def update_chat(
        self, chat_id: int, changes: dict[str, Any], *, user_id: int | None = None
    ) -> Chat:
        """Change any of ``title``, ``kb_name`` (None: no documents) and ``model`` (None:
        the default one); the next question uses them."""
        sets = [
            (name, _clean_title(value or "", MAX_TITLE_CHARS) if name == "title" else value)
            for name, value in changes.items()
            if name in ("title", "kb_name", "model")
        ]
        owned, params = _owned(user_id, "")
        with self.store.transaction() as db:
            assignments = "".join(f"{name}=?, " for name, _ in sets)
            cursor = db.execute(
                f"UPDATE chat SET {assignments}updated_at=? WHERE id=? AND {owned}",
                [*(value for _, value in sets), time.time(), chat_id, *params],
            )
        if cursor.rowcount == 0:
            raise _chat_not_found(chat_id)
        return self.get_chat(chat_id)

    def rename_chat(self, chat_id: int, title: str, *, user_id: int | None = None) -> Chat:
        return self.update_chat(chat_id, {"title": title}, user_id=user_id)

    def delete_chat(self, chat_id: int, *, user_id: int | None = None) -> None:
        owned, params = _owned(user_id, "")
        with self.store.transaction() as db:  # its messages go with it (ON DELETE CASCADE)
            cursor = db.execute(f"DELETE FROM chat WHERE id=? AND {owned}", [chat_id, *params])
        if cursor.rowcount == 0:
            raise _chat_not_found(chat_id)

    def save_exchange(
        self, chat_id: int, answer: SavedAnswer, placement: Placement | None = None
    ) -> bool:
        """Add a question and its answer where ``placement`` says (default: after the
        branch shown), and show the branch that ends with them; the first question
        titles an untitled chat. False when the chat was deleted meanwhile (nothing is
        saved)."""
        now = time.time()
        saved = answer.to_dict()
        citations = json.dumps(saved["citations"], ensure_ascii=False)
        claims = json.dumps(saved["claims"], ensure_ascii=False)
        notes = json.dumps(saved.get("notes", []), ensure_ascii=False)
        chart = (saved.get("computation") or {}).get("chart_svg", "")
        route = json.dumps(saved["route"]) if saved.get("route") else ""
        with self.store.transaction() as db:
            row = db.execute("SELECT leaf_id FROM chat WHERE id=?", (chat_id,)).fetchone()
            if row is None:
                return False
            placement = placement or Placement(row[0])
            question_id = placement.question_id
            if question_id is None:
                question_id = db.execute(
                    "INSERT INTO message(chat_id, role, content, citations, complete,"
                    " created_at, parent_id) VALUES (?,'user',?,'[]',1,?,?) RETURNING id",
                    (chat_id, answer.question, now, placement.parent_id),
                ).fetchone()[0]
            answer_id = db.execute(
                "INSERT INTO message(chat_id, role, content, citations, complete, created_at,"
                " parent_id, stopped, claims, notes, chart, route)"
                " VALUES (?,'assistant',?,?,?,?,?,?,?,?,?,?)"
                " RETURNING id",
                (
                    chat_id,
                    answer.text,
                    citations,
                    int(answer.complete),
                    now,
                    question_id,
                    int(answer.stopped == "user"),
                    claims,
                    notes,
                    chart,
                    route,
                ),
            ).fetchone()[0]
            db.execute(
                "UPDATE chat SET updated_at=?, leaf_id=?,"
                " title=CASE WHEN title='' THEN ? ELSE title END WHERE id=?",
                (now, answer_id, _clean_title(answer.question), chat_id),
            )
        return True

    def show_branch(self, chat_id: int, message_id: int, *, user_id: int | None = None) -> Chat:
        """Show the branch through ``message_id``: down from it, the latest answer or
        question each time."""
        chat = self.get_chat(chat_id, user_id=user_id)
        leaf = chat.message(message_id).id
        children: dict[int | None, list[int]] = {}
        for m in chat.tree:
            children.setdefault(m.parent_id, []).append(m.id)
        while children.get(leaf):
            leaf = children[leaf][-1]
        with self.store.transaction() as db:
            db.execute("UPDATE chat SET leaf_id=? WHERE id=?", (leaf, chat_id))
        return self.get_chat(chat_id, user_id=user_id)


def _clean_title(title: str, limit: int = TITLE_CHARS) -> str:
    title = " ".join(title.split())
    if not title:
        raise ConfigError("a chat title cannot be empty", key="chat_title_empty")
    if len(title) > limit:
        title = title[: limit - 1].rsplit(" ", 1)[0] + "…"
    return title


def _owned(user_id: int | None, table: str = "c.") -> tuple[str, list[object]]:
    """The SQL condition (and its parameters) that keeps the chats of ``user_id``; with
    None, every chat."""
    if user_id is None:
        return "1 = 1", []
    return f"{table}user_id = ?", [user_id]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chat(row: sqlite3.Row, tree: Sequence[ChatMessage] = (), leaf: int | None = None) -> Chat:
    chat_id, title, kb_name, model, created, updated, available, user_id = row
    chat = Chat(chat_id, title, kb_name, model, created, updated, bool(available), user_id)
    if not tree:
        return chat
    known = {m.id for m in tree}
    shown = replace(chat, tree=list(tree))
    return replace(shown, messages=shown.branch_to(leaf if leaf in known else tree[-1].id))


def _message(row: sqlite3.Row) -> ChatMessage:
    return ChatMessage(
        id=row[0],
        role=row[1],
        content=row[2],
        citations=json.loads(row[3]),
        complete=bool(row[4]),
        created_at=row[5],
        parent_id=row[6],
        stopped=bool(row[7]),
        claims=json.loads(row[8]),
        notes=json.loads(row[9]),
        chart=row[10],
        route=json.loads(row[11]) if row[11] else {},
    )


def _tree(messages: list[ChatMessage]) -> list[ChatMessage]:
    """``messages`` (oldest first), each with the ids of its versions."""
    siblings: dict[tuple[int | None, str], list[int]] = {}
    for m in messages:
        siblings.setdefault((m.parent_id, m.role), []).append(m.id)
    return [replace(m, versions=siblings[(m.parent_id, m.role)]) for m in messages]


def _chat_not_found(chat_id: int) -> NotFoundError:
    return NotFoundError(
        f"no chat {chat_id}; list them with GET /api/v1/chats", key="chat_not_found", chat=chat_id
    )
