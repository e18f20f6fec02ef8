"""The store: knowledge bases, documents, chunks (text and vectors): the source of truth.

One SQLite file (WAL mode) through the standard library's ``sqlite3``; no extension has
to be loaded (many Pythons cannot). Vectors are float32 BLOBs in the chunk rows, so they
are written and deleted in the same transaction as the chunk text. The search index
(:mod:`sabio.index`: vectors and BM25 postings) is derived from these rows and can always
be rebuilt from them; chunk ids only grow (AUTOINCREMENT), which lets it catch up by id.

Every change to a document happens in one transaction, so a process killed at any
moment leaves either the old version or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sabio.chunking import Chunk
from sabio.errors import ConflictError, NotFoundError
from sabio.home import create_private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL DEFAULT '',
    embedding_model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS document (
    id INTEGER PRIMARY KEY,
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    pages INTEGER,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (kb_id, source)
);
CREATE TABLE IF NOT EXISTS chunk (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES document(id) ON DELETE CASCADE,
    kb_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    page INTEGER,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    heading TEXT NOT NULL,
    context TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_document ON chunk(document_id);
CREATE INDEX IF NOT EXISTS chunk_kb ON chunk(kb_id);
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
CREATE TABLE IF NOT EXISTS user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS session_user ON session(user_id);
CREATE TABLE IF NOT EXISTS api_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE INDEX IF NOT EXISTS api_token_user ON api_token(user_id);
CREATE TABLE IF NOT EXISTS kb_member (
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    access TEXT NOT NULL CHECK (access IN ('read', 'write')),
    PRIMARY KEY (kb_id, user_id)
);
CREATE INDEX IF NOT EXISTS kb_member_user ON kb_member(user_id);
CREATE INDEX IF NOT EXISTS chat_user ON chat(user_id);
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
"""
SCHEMA_VERSION = 5
"""1: knowledge bases, documents, chunks; 2: chats and their messages (:mod:`sabio.chats`);
3: user accounts, their sessions and API tokens (:mod:`sabio.users`); 4: sources that
keep a knowledge base current, what each of their items became, and background jobs
(:mod:`sabio.sources`, :mod:`sabio.jobs`); 5: knowledge bases' identifiers (``slug``,
:mod:`sabio.names`), members' access to them (``kb_member``), and chats as trees: each
message's ``parent_id`` (regenerated answers and edited questions are siblings), the
branch shown (``chat.leaf_id``), answers stopped by their reader and the claims of each
answer (:func:`_upgrade_to_5`). Every statement is ``IF NOT EXISTS``, so running
:data:`SCHEMA` again adds what an older database lacks, and the upgrades add the columns
of existing tables. A chat names its knowledge base (``kb_name``) instead of referring to
its row: a knowledge base deleted with ``keep_chats`` leaves its chats readable.
``user_id`` is the chat's owner when the server requires login; NULL is the single local
user. Sessions and tokens are kept as SHA-256 digests only, passwords as scrypt hashes."""


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """``documents`` and ``chunks`` are counted by :meth:`Store.list_kbs` only (0 elsewhere:
    counting a million chunks is no price for every command to pay)."""

    id: int
    name: str
    embedding_model: str
    dimension: int
    documents: int = 0
    chunks: int = 0
    slug: str = ""
    """The identifier in URLs, ``kb/`` models and the uploads folder (:mod:`sabio.names`)."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: int
    kb_id: int
    source: str
    title: str
    content_hash: str
    size: int
    mtime_ns: int
    status: str
    error: str
    pages: int | None
    chunk_count: int
    metadata: dict[str, Any]
    updated_at: float


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store needs to know about a file to decide whether it changed."""

    source: str
    content_hash: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: int
    document_id: int
    source: str
    title: str
    page: int | None
    start: int
    end: int
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk with the text around it on its page (see :meth:`Store.passage`)."""

    chunk: StoredChunk
    before: str
    after: str


class Store:
    """The database. ``per_thread``: each thread reads through a connection of its own (for
    a server's many concurrent readers: calls on one shared connection take turns, while
    WAL lets separate connections read at once); the connections of threads that ended
    are closed as new ones open. A transaction stays on its thread."""

    def __init__(self, path: Path | str, *, per_thread: bool = False) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            create_private_file(Path(path))  # its -wal and -shm files take its mode
        self.path = path
        self._shared = self._connect()
        self._local = threading.local() if per_thread and str(path) != ":memory:" else None
        self._threads: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._threads_lock = threading.Lock()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # deleted text is zeroed, not left in free pages
        db.execute("PRAGMA busy_timeout=10000")
        return db

    @property
    def db(self) -> sqlite3.Connection:
        if self._local is None:
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._threads_lock:
                alive = []
                for thread, connection in self._threads:
                    if (t := thread()) is not None and t.is_alive():
                        alive.append((thread, connection))
                    else:
                        connection.close()
                self._threads = [*alive, (weakref.ref(threading.current_thread()), db)]
        return db

    def close(self) -> None:
        with self._threads_lock:
            for _, connection in self._threads:
                connection.close()
            self._threads.clear()
        self._shared.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConflictError(
                f"{self.path} was written by a newer Sabio (schema {version}); upgrade Sabio"
            )
        if version < SCHEMA_VERSION:
            # executescript commits first, so the script opens its own transaction.
            self.db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}")
            try:
                _upgrade_to_5(self.db)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite already rolled back on a full disk (SQLITE_FULL)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # knowledge bases

    def create_kb(
        self, name: str, embedding_model: str, dimension: int, *, slug: str | None = None
    ) -> KnowledgeBase:
        """``slug``: its identifier (:mod:`sabio.names`); default, the name itself."""
        slug = slug or name
        try:
            with self.transaction() as db:
                taken = db.execute(
                    "SELECT name FROM kb WHERE name IN (?, ?) OR slug IN (?, ?)",
                    (name, slug, name, slug),
                ).fetchone()
                if taken is not None:
                    raise ConflictError(
                        f"a knowledge base called {name!r} already exists"
                        if taken[0] == name
                        else f"{name!r} is taken by the knowledge base {taken[0]!r} (its "
                        "name or identifier): choose another name",
                        key="kb_exists",
                        kb=name,
                    )
                db.execute(
                    "INSERT INTO kb(name, slug, embedding_model, dimension, created_at)"
                    " VALUES (?,?,?,?,?)",
                    (name, slug, embedding_model, dimension, time.time()),
                )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"a knowledge base called {name!r} already exists", key="kb_exists", kb=name
            ) from exc
        return self.get_kb(name)

    def kb_names(self) -> list[str]:
        """Every knowledge base's name and identifier (what a new one must not take)."""
        return [r[0] for r in self.db.execute("SELECT name FROM kb UNION SELECT slug FROM kb")]

    def find_kb(self, ref: str) -> KnowledgeBase | None:
        """The knowledge base whose name, else whose identifier, is ``ref``."""
        row = self.db.execute(
            "SELECT id, name, embedding_model, dimension, 0, 0, slug FROM kb"
            " WHERE name=? OR slug=? ORDER BY name=? DESC LIMIT 1",
            (ref, ref, ref),
        ).fetchone()
        return KnowledgeBase(*row) if row else None

    def get_kb(self, ref: str) -> KnowledgeBase:
        kb = self.find_kb(ref)
        if kb is None:
            names = ", ".join(k.name for k in self.list_kbs()) or "none yet"
            raise NotFoundError(
                f"no knowledge base called {ref!r} (existing: {names}); "
                f"create it with `sabio kb create {ref}`",
                key="kb_not_found",
                kb=ref,
            )
        return kb

    def list_kbs(self) -> list[KnowledgeBase]:
        rows = self.db.execute(
            """SELECT k.id, k.name, k.embedding_model, k.dimension,
                      (SELECT count(*) FROM document d WHERE d.kb_id = k.id),
                      (SELECT count(*) FROM chunk c WHERE c.kb_id = k.id), k.slug
               FROM kb k ORDER BY k.name"""
        ).fetchall()
        return [KnowledgeBase(*row) for row in rows]

    def delete_kb(self, kb: KnowledgeBase, *, with_chats: bool = False) -> None:
        """Delete a knowledge base and everything in it; ``with_chats``: and the chats
        over it, in the same transaction."""
        with self.transaction() as db:
            db.execute("DELETE FROM chunk WHERE kb_id=?", (kb.id,))
            db.execute("DELETE FROM kb WHERE id=?", (kb.id,))
            if with_chats:  # their messages go with them (ON DELETE CASCADE)
                db.execute("DELETE FROM chat WHERE kb_name=?", (kb.name,))

    def erase_deleted(self) -> None:
        """Make what was deleted unreadable from the files too: deleted rows are zeroed in
        their pages (``secure_delete``), and this copies the write-ahead log into the
        database and empties it, so the rows' earlier versions do not linger there. Best
        effort: while another connection reads an older snapshot, the log is emptied at a
        later checkpoint instead."""
        with contextlib.suppress(sqlite3.OperationalError):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def kb_counts(self, kb_id: int) -> tuple[int, int]:
        """(documents, chunks) of one knowledge base."""
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM document WHERE kb_id=?),"
            " (SELECT count(*) FROM chunk WHERE kb_id=?)",
            (kb_id, kb_id),
        ).fetchone()
        return int(row[0]), int(row[1])

    def kb_activity(self, kb_id: int) -> tuple[Any, ...]:
        """Something that changes whenever the knowledge base's chunks, its number of
        documents, its sources' items or their jobs do (for telling clients, not for
        counting); read it when :meth:`watching` says something was written."""
        row = self.db.execute(
            """SELECT (SELECT generation FROM kb WHERE id=?),
                      (SELECT count(*) FROM document WHERE kb_id=?),
                      (SELECT count(*) || ':' || max(checked_at) FROM source_item i
                         JOIN source s ON s.id = i.source_id WHERE s.kb_id=?),
                      (SELECT max(j.id) || ':' || max(coalesce(j.heartbeat_at, 0)) || ':'
                              || max(coalesce(j.finished_at, 0)) FROM job j
                         JOIN source s ON s.id = j.source_id WHERE s.kb_id=?),
                      (SELECT count(*) || ':' || max(coalesce(last_sync_at, 0)) FROM source
                         WHERE kb_id=?)""",
            (kb_id, kb_id, kb_id, kb_id, kb_id),
        ).fetchone()
        return tuple(row)

    @contextmanager
    def watching(self) -> Iterator[Callable[[], int]]:
        """A number that changes whenever another connection (another thread's, another
        process's) committed: SQLite's ``data_version`` on a connection of its own, cheap
        enough to read every second."""
        db = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            yield lambda: int(db.execute("PRAGMA data_version").fetchone()[0])
        finally:
            db.close()

    def kb_versions(self, kb_id: int) -> tuple[int, int]:
        """(generation, epoch): the first moves on every change of the knowledge base's
        chunks, the second when all its vectors were replaced (a re-index)."""
        row = self.db.execute("SELECT generation, epoch FROM kb WHERE id=?", (kb_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (-1, -1)

    # documents

    def find_document(self, kb_id: int, source: str) -> DocumentRecord | None:
        row = self.db.execute(
            f"SELECT {_DOC_COLUMNS} FROM document WHERE kb_id=? AND source=?", (kb_id, source)
        ).fetchone()
        return _document(row) if row else None

    def get_document(self, kb_id: int, ref: str | int) -> DocumentRecord:
        """A document by id, exact source, or a unique ending of its source path; an int
        is only an id (a digit string may also be a file named so)."""
        if isinstance(ref, int) or ref.isdigit():
            row = self.db.execute(
                f"SELECT {_DOC_COLUMNS} FROM document WHERE kb_id=? AND id=?", (kb_id, int(ref))
            ).fetchone()
            if row:
                return _document(row)
            if isinstance(ref, int):
                raise NotFoundError(f"no document {ref} in this knowledge base; see `sabio docs`")
        rows = self.db.execute(
            f"SELECT {_DOC_COLUMNS} FROM document WHERE kb_id=? AND (source=? OR source LIKE ?"
            " ESCAPE '\\')",
            (kb_id, ref, "%/" + ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")),
        ).fetchall()
        if len(rows) == 1:
            return _document(rows[0])
        if not rows:
            raise NotFoundError(f"no document {ref!r} in this knowledge base; see `sabio docs`")
        choices = ", ".join(f"{r['id']}: {r['source']}" for r in rows[:5])
        raise ConflictError(f"{ref!r} matches {len(rows)} documents ({choices}); give the id")

    def list_documents(self, kb_id: int) -> list[DocumentRecord]:
        rows = self.db.execute(
            f"SELECT {_DOC_COLUMNS} FROM document WHERE kb_id=? ORDER BY source", (kb_id,)
        ).fetchall()
        return [_document(r) for r in rows]

    def sources_under(self, kb_id: int, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        rows = self.db.execute(
            "SELECT source FROM document WHERE kb_id=? AND substr(source, 1, ?) = ?",
            (kb_id, len(prefix), prefix),
        ).fetchall()
        return [r[0] for r in rows]

    def replace_document(
        self,
        kb: KnowledgeBase,
        state: FileState,
        *,
        title: str,
        pages: int | None,
        metadata: dict[str, Any],
        chunks: Sequence[Chunk],
        vectors: NDArray[np.float32],
    ) -> int:
        """Insert or replace a document and all its chunks in one transaction."""
        if vectors.shape != (len(chunks), kb.dimension):
            raise ConflictError(
                f"got vectors of shape {vectors.shape} for {len(chunks)} chunks; knowledge base "
                f"{kb.name!r} holds {kb.dimension}-dimension vectors of {kb.embedding_model}"
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as db:
            doc_id = self._upsert_document(db, kb.id, state, title, "indexed", "", pages, metadata)
            db.execute("DELETE FROM chunk WHERE document_id=?", (doc_id,))
            db.executemany(
                'INSERT INTO chunk(document_id, kb_id, ord, page, start, "end", heading, context,'
                " text, vector) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    (
                        doc_id,
                        kb.id,
                        i,
                        c.page,
                        c.start,
                        c.end,
                        c.heading,
                        c.context,
                        c.text,
                        vectors[i].tobytes(),
                    )
                    for i, c in enumerate(chunks)
                ),
            )
            db.execute("UPDATE document SET chunk_count=? WHERE id=?", (len(chunks), doc_id))
            db.execute("UPDATE kb SET generation=generation+1 WHERE id=?", (kb.id,))
        return doc_id

    def record_unindexed(
        self, kb: KnowledgeBase, state: FileState, *, title: str, status: str, error: str
    ) -> int:
        """Record a file that could not be indexed (needs OCR, encrypted, failed, skipped).

        A file that was indexed before keeps its old chunks (nothing is lost because a new
        version is unreadable); its hash stays the old one so the next run tries again.
        """
        with self.transaction() as db:
            old = self.find_document(kb.id, state.source)
            if old is not None and old.chunk_count:
                db.execute(
                    "UPDATE document SET status=?, error=?, updated_at=? WHERE id=?",
                    (
                        status,
                        f"{error} (the previous version stays searchable)",
                        time.time(),
                        old.id,
                    ),
                )
                return old.id
            return self._upsert_document(db, kb.id, state, title, status, error, None, {})

    def move_document(self, doc: DocumentRecord, state: FileState) -> None:
        """The same content under another source (a renamed file): its passages stay."""
        with self.transaction() as db:
            db.execute(
                "UPDATE document SET source=?, size=?, mtime_ns=?, updated_at=? WHERE id=?",
                (state.source, state.size, state.mtime_ns, time.time(), doc.id),
            )
            db.execute("UPDATE kb SET generation=generation+1 WHERE id=?", (doc.kb_id,))

    def touch_document(self, doc: DocumentRecord, state: FileState) -> None:
        self.db.execute(
            "UPDATE document SET size=?, mtime_ns=? WHERE id=?",
            (state.size, state.mtime_ns, doc.id),
        )

    def delete_documents(self, kb: KnowledgeBase, doc_ids: Sequence[int]) -> None:
        with self.transaction() as db:
            for doc_id in doc_ids:
                db.execute("DELETE FROM chunk WHERE document_id=?", (doc_id,))
                db.execute("DELETE FROM document WHERE id=?", (doc_id,))
            db.execute("UPDATE kb SET generation=generation+1 WHERE id=?", (kb.id,))

    def _upsert_document(
        self,
        db: sqlite3.Connection,
        kb_id: int,
        state: FileState,
        title: str,
        status: str,
        error: str,
        pages: int | None,
        metadata: dict[str, Any],
    ) -> int:
        now = time.time()
        row = db.execute(
            """INSERT INTO document(kb_id, source, title, content_hash, size, mtime_ns, status,
                   error, pages, metadata, added_at, updated_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT (kb_id, source) DO UPDATE SET title=excluded.title,
                   content_hash=excluded.content_hash, size=excluded.size,
                   mtime_ns=excluded.mtime_ns, status=excluded.status, error=excluded.error,
                   pages=excluded.pages, metadata=excluded.metadata, chunk_count=0,
                   updated_at=excluded.updated_at
               RETURNING id""",
            (
                kb_id,
                state.source,
                title,
                state.content_hash,
                state.size,
                state.mtime_ns,
                status,
                error,
                pages,
                json.dumps(metadata, ensure_ascii=False),
                now,
                now,
            ),
        ).fetchone()
        return int(row[0])

    # chunks and search

    def chunk_ids(self, kb_id: int) -> NDArray[np.int64]:
        rows = self.db.execute("SELECT id FROM chunk WHERE kb_id=? ORDER BY id", (kb_id,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def chunk_rows(self, kb_id: int, after: int) -> list[tuple[int, int, str, str, bytes]]:
        """(id, document id, text, context, vector) of the chunks with ids above ``after``."""
        return [
            (int(r[0]), int(r[1]), str(r[2]), str(r[3]), bytes(r[4]))
            for r in self.db.execute(
                "SELECT id, document_id, text, context, vector FROM chunk"
                " WHERE kb_id=? AND id>? ORDER BY id",
                (kb_id, after),
            )
        ]

    def document_fields(self, kb_id: int) -> list[tuple[int, str, str, str, int]]:
        """(document id, source, title, text of its first chunk, chunks) of every document
        with chunks: what names a document as a whole (the search's document field). The
        first chunk is the lowest id (chunks are written in order), found in the index on
        document_id without reading the others."""
        return [
            (int(r[0]), str(r[1]), str(r[2]), str(r[3] or ""), int(r[4]))
            for r in self.db.execute(
                """SELECT d.id, d.source, d.title,
                          (SELECT c.text FROM chunk c WHERE c.id =
                             (SELECT MIN(f.id) FROM chunk f WHERE f.document_id = d.id)),
                          d.chunk_count
                   FROM document d WHERE d.kb_id=? AND d.chunk_count > 0 ORDER BY d.id""",
                (kb_id,),
            )
        ]

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not chunk_ids:
            return {}
        rows = self.db.execute(
            f"""SELECT c.id, c.document_id, d.source, d.title, c.page, c.start, c."end",
                       c.heading, c.text
                FROM chunk c JOIN document d ON d.id = c.document_id
                WHERE c.id IN ({",".join("?" * len(chunk_ids))})""",
            list(chunk_ids),
        ).fetchall()
        return {int(r[0]): StoredChunk(*r) for r in rows}

    def passage(self, kb_id: int, chunk_id: int) -> Passage | None:
        """A chunk of this knowledge base and the text around it: the parts of the
        previous and the next chunk of its document that it does not share with them
        (chunks overlap), when they are on the same page; None when there is no such
        chunk here."""
        row = self.db.execute(
            """SELECT c.id, c.document_id, d.source, d.title, c.page, c.start, c."end",
                      c.heading, c.text, p.start, p.text, n.start, n.text
               FROM chunk c JOIN document d ON d.id = c.document_id
               LEFT JOIN chunk p ON p.document_id = c.document_id AND p.ord = c.ord - 1
                                    AND p.page IS c.page
               LEFT JOIN chunk n ON n.document_id = c.document_id AND n.ord = c.ord + 1
                                    AND n.page IS c.page
               WHERE c.id = ? AND c.kb_id = ?""",
            (chunk_id, kb_id),
        ).fetchone()
        if row is None:
            return None
        chunk = StoredChunk(*row[:9])
        before = row[10][: max(0, chunk.start - row[9])] if row[10] is not None else ""
        after = row[12][max(0, chunk.end - row[11]) :] if row[12] is not None else ""
        return Passage(chunk, before.rstrip(), after.lstrip())

    def chunk_texts(self, kb_id: int) -> Iterator[tuple[int, str, str]]:
        """(chunk id, context, text) of every chunk, for re-embedding."""
        yield from self.db.execute(
            "SELECT id, context, text FROM chunk WHERE kb_id=? ORDER BY id", (kb_id,)
        )

    def replace_vectors(
        self, kb: KnowledgeBase, model: str, ids: Sequence[int], vectors: NDArray[np.float32]
    ) -> None:
        """Switch the knowledge base to ``model``: every vector and the record, atomically."""
        if (
            len(ids)
            != self.db.execute("SELECT count(*) FROM chunk WHERE kb_id=?", (kb.id,)).fetchone()[0]
        ):
            raise ConflictError("the knowledge base changed while it was re-indexed; run it again")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as db:
            db.executemany(
                "UPDATE chunk SET vector=? WHERE id=?",
                ((vectors[i].tobytes(), chunk_id) for i, chunk_id in enumerate(ids)),
            )
            db.execute(
                "UPDATE kb SET embedding_model=?, dimension=?, generation=generation+1,"
                " epoch=epoch+1 WHERE id=?",
                (model, int(vectors.shape[1]), kb.id),
            )

    def integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` and the foreign keys say; empty when all is well."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"dangling row in {r[0]}" for r in self.db.execute("PRAGMA foreign_key_check")]
        return problems


def _upgrade_to_5(db: sqlite3.Connection) -> None:
    """Schema 5 over a database of an earlier one (over a new one it finds nothing to
    change): the new columns, each knowledge base its own name as identifier (names were identifiers
    until then), every chat's messages one branch, oldest first, and members (not
    admins) keep the access they had, to every knowledge base, as writers."""
    added = [
        ("kb", "slug", "TEXT NOT NULL DEFAULT ''"),
        ("message", "parent_id", "INTEGER REFERENCES message(id) ON DELETE CASCADE"),
        ("message", "stopped", "INTEGER NOT NULL DEFAULT 0"),
        ("message", "claims", "TEXT NOT NULL DEFAULT '[]'"),
        ("chat", "leaf_id", "INTEGER"),
    ]
    for table, column, declaration in added:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    db.execute("UPDATE kb SET slug = name WHERE slug = ''")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS kb_slug ON kb(slug)")
    db.execute(
        """UPDATE message SET parent_id = (SELECT max(p.id) FROM message p
               WHERE p.chat_id = message.chat_id AND p.id < message.id)
           WHERE parent_id IS NULL"""
    )
    db.execute(
        "UPDATE chat SET leaf_id = (SELECT max(m.id) FROM message m WHERE m.chat_id = chat.id)"
    )
    db.execute(
        "INSERT OR IGNORE INTO kb_member(kb_id, user_id, access)"
        " SELECT kb.id, user.id, 'write' FROM kb, user WHERE NOT user.admin"
    )


_DOC_COLUMNS = (
    "id, kb_id, source, title, content_hash, size, mtime_ns, status, error, pages, chunk_count,"
    " metadata, updated_at"
)


def _document(row: sqlite3.Row) -> DocumentRecord:
    values = list(row)
    values[11] = json.loads(values[11])
    return DocumentRecord(*values)
