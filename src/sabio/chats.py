"""Chats: conversations kept in the store, each a tree of questions and answers.

:class:`ChatStore` reads and writes the ``chat`` and ``message`` tables (declared with the
rest of the schema in :mod:`sabio.store`). Every message has a parent (the message it
follows; None for the first question), so an answer asked again (regenerated) is a
sibling of the earlier one, and an edited question a sibling of the question it
replaces, with its own answers after it: nothing is lost, and the chat shows one branch
at a time, the one that ends at its ``leaf_id``. :class:`ChatAnswerStream` is an answer
that hands itself to a ``save`` function when it ends, however it ends: whole, broken
off by the model, stopped by its reader (:meth:`ChatAnswerStream.stop`), or closed
midway (what was produced is kept, marked incomplete).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sabio.answer import Answer, AnswerStream, Grounding, Turn
from sabio.errors import ConfigError, NotFoundError
from sabio.models import ChatModel, ChatOptions
from sabio.store import Store

TITLE_CHARS = 60
"""A chat without a title takes the first characters of its first question."""
MAX_TITLE_CHARS = 200
INTERRUPTED = "the answer was interrupted before it ended"
STOPPED = "stopped before it ended"


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
_MESSAGE_COLUMNS = "id, role, content, citations, complete, created_at, parent_id, stopped, claims"


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
        self, chat_id: int, answer: Answer, placement: Placement | None = None
    ) -> bool:
        """Add a question and its answer where ``placement`` says (default: after the
        branch shown), and show the branch that ends with them; the first question
        titles an untitled chat. False when the chat was deleted meanwhile (nothing is
        saved)."""
        now = time.time()
        saved = answer.to_dict()
        citations = json.dumps(saved["citations"], ensure_ascii=False)
        claims = json.dumps(saved["claims"], ensure_ascii=False)
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
                " parent_id, stopped, claims) VALUES (?,'assistant',?,?,?,?,?,?,?) RETURNING id",
                (
                    chat_id,
                    answer.text,
                    citations,
                    int(answer.complete),
                    now,
                    question_id,
                    int(answer.stopped == "user"),
                    claims,
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


class ChatAnswerStream(AnswerStream):
    """An :class:`AnswerStream` that calls ``save(answer)`` once it ends, and that
    :meth:`stop` ends at its next piece (from any thread), marked ``stopped``."""

    def __init__(
        self,
        question: str,
        model: ChatModel,
        grounding: Grounding | None,
        *,
        options: ChatOptions,
        save: Callable[[Answer], None],
        history: Sequence[Turn] = (),
        style: str = "generative",
    ) -> None:
        super().__init__(question, model, grounding, options=options, history=history, style=style)
        self.save = save
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[str]:
        produced: list[str] = []
        finished = False
        pieces = super().__iter__()
        try:
            for piece in pieces:
                produced.append(piece)
                yield piece
                if self._stop.is_set():
                    self.answer.stopped = "user"
                    break
            else:
                finished = True
        finally:  # a failure before anything was shown raises and saves nothing
            if isinstance(pieces, Generator):
                pieces.close()  # the model stops here, also when stopped
            if finished or produced:
                if not finished:  # stopped, closed by its reader, or a bug midway
                    self.answer.complete = False
                    stopped = STOPPED if self.answer.stopped == "user" else INTERRUPTED
                    self.answer.error = self.answer.error or stopped
                    self.answer.text = "".join(produced).strip()
                self.save(self.answer)


EXPORT_LABELS = {
    "en": {"you": "You", "sources": "Sources", "page": "p.", "stopped": "stopped",
           "incomplete": "incomplete", "untitled": "Untitled chat", "kb": "Knowledge base",
           "none": "none (the model alone)", "model": "Model", "default": "the default"},
    "es": {"you": "Tú", "sources": "Fuentes", "page": "p.", "stopped": "detenida",
           "incomplete": "incompleta", "untitled": "Conversación sin título",
           "kb": "Base de conocimiento", "none": "ninguna (solo el modelo)", "model": "Modelo",
           "default": "el predeterminado"},
}  # fmt: skip
"""The words of a chat exported as Markdown, in the interface's languages."""


def chat_markdown(chat: Chat, lang: str = "en") -> str:
    """The branch shown as Markdown: each question, each answer with its citations
    ``[n]`` as written and, after it, its sources (document, page, the quoted passage)."""
    words = EXPORT_LABELS.get(lang, EXPORT_LABELS["en"])
    lines = [
        f"# {chat.title or words['untitled']}",
        "",
        f"- {words['kb']}: {chat.kb_name or words['none']}",
        f"- {words['model']}: {chat.model or words['default']}",
    ]
    for message in chat.messages:
        if message.role == "user":
            lines += ["", f"## {words['you']}", "", message.content]
            continue
        marks = [words["stopped"]] if message.stopped else []
        marks += [words["incomplete"]] if not message.complete and not message.stopped else []
        mark = f" ({', '.join(marks)})" if marks else ""
        lines += ["", f"## Sabio{mark}", "", message.content]
        if message.citations:
            lines += ["", f"**{words['sources']}**", ""]
            for c in message.citations:
                where = c.get("title") or c.get("document", "")
                page = f", {words['page']} {c['page']}" if c.get("page") else ""
                lines.append(f"[{c['number']}] {where}{page} — “{c.get('snippet', '')}”")
    return "\n".join(lines) + "\n"


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
        return "1", []
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
