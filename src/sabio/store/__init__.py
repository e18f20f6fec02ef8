"""The store: everything Sabio keeps, in one SQLite file, behind one class.

The package is split by concept: :mod:`~sabio.store.connection` (the file, its
connections and transactions), :mod:`~sabio.store.migrations` (numbered schema changes,
applied when the file is opened), :mod:`~sabio.store.schema` (the list of them),
:mod:`~sabio.store.documents` (knowledge bases, documents, chunks: the source of truth
from which the search index is derived), the tables of chats, users, sources, jobs,
feedback and guides, and the review's (dismissals, alerts), each in a module of its own,
and :mod:`~sabio.store.copies` (the database as one file, for export and import). It is
the only package that writes SQL. :class:`Store` is all of them over one database;
:class:`~sabio.store.backend.StoreBackend` is what another backend must do.
"""

from __future__ import annotations

from pathlib import Path

from sabio.store.backend import (
    ChatBackend,
    FeedbackBackend,
    GuideBackend,
    ReviewBackend,
    SabioStore,
    SourceBackend,
    StoreBackend,
    UserBackend,
)
from sabio.store.chats import Chat, ChatMessage, ChatStore, Placement, Turn
from sabio.store.connection import Database
from sabio.store.documents import (
    DocumentRecord,
    DocumentTables,
    FileState,
    KnowledgeBase,
    Passage,
    StoredChunk,
)
from sabio.store.feedback import Feedback, FeedbackStore, NewFeedback
from sabio.store.guides import Guide, GuideStore
from sabio.store.reviews import Dismissal, ReviewAlert, ReviewStore
from sabio.store.schema import MIGRATIONS, SCHEMA_VERSION
from sabio.store.sources import ItemUpdate, Source, SourceItem, SourceStore
from sabio.store.users import ApiToken, Session, User, UserStore

__all__ = [
    "SCHEMA_VERSION",
    "ApiToken",
    "Chat",
    "ChatBackend",
    "ChatMessage",
    "ChatStore",
    "Dismissal",
    "DocumentRecord",
    "Feedback",
    "FeedbackBackend",
    "FeedbackStore",
    "FileState",
    "Guide",
    "GuideBackend",
    "GuideStore",
    "ItemUpdate",
    "KnowledgeBase",
    "NewFeedback",
    "Passage",
    "Placement",
    "ReviewAlert",
    "ReviewBackend",
    "ReviewStore",
    "SabioStore",
    "Session",
    "Source",
    "SourceBackend",
    "SourceItem",
    "SourceStore",
    "Store",
    "StoreBackend",
    "StoredChunk",
    "Turn",
    "User",
    "UserBackend",
    "UserStore",
]


class Store(Database, DocumentTables):
    """The database at ``path``, brought up to the current schema when opened (see
    :class:`~sabio.store.connection.Database` for ``per_thread``)."""

    def __init__(self, path: Path | str, *, per_thread: bool = False) -> None:
        super().__init__(path, MIGRATIONS, per_thread=per_thread)
        self.chats: ChatBackend = ChatStore(self)
        self.users: UserBackend = UserStore(self)
        self.sources: SourceBackend = SourceStore(self)
        self.feedback: FeedbackBackend = FeedbackStore(self)
        self.guides: GuideBackend = GuideStore(self)
        self.reviews: ReviewBackend = ReviewStore(self)


_SQLITE_IS_A_BACKEND: type[SabioStore] = Store  # mypy checks that Store keeps the protocol
