"""Knowledge bases, their documents and chunks (text and vectors): the source of truth.

Vectors are float32 BLOBs in the chunk rows, so they are written and deleted in the same
transaction as the chunk text. The search index (:mod:`sabio.index`: vectors and BM25
postings) is derived from these rows and can always be rebuilt from them; chunk ids only
grow (AUTOINCREMENT), which lets it catch up by id. Every change to a document happens in
one transaction, so a process killed at any moment leaves either the old version or the
new one, never half of each.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sabio.chunking import Chunk
from sabio.errors import ConflictError, NotFoundError
from sabio.store.connection import Connection, ConstraintError, SqlDatabase
from sabio.store.migrations import execute_script, migration


@migration(1)
def create_documents(db: sqlite3.Connection) -> None:
    """Knowledge bases, documents, chunks."""
    execute_script(
        db,
        """
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
""",
    )


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
    ocr_languages: str = ""
    """The Tesseract packs its scans are read with, as 'spa+eng' ('': the setting's)."""
    review: bool = False
    """Whether the files uploaded into it are reviewed as they arrive (:mod:`sabio.review`)."""


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


def check_vectors(kb: KnowledgeBase, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
    """A ConflictError unless ``vectors`` are one of ``kb``'s vectors per chunk."""
    if vectors.shape != (len(chunks), kb.dimension):
        raise ConflictError(
            f"got vectors of shape {vectors.shape} for {len(chunks)} chunks; knowledge base "
            f"{kb.name!r} holds {kb.dimension}-dimension vectors of {kb.embedding_model}"
        )


class DocumentTables(SqlDatabase):
    """The ``kb``, ``document`` and ``chunk`` tables (created by :func:`create_documents`),
    over a database that gives ``db`` and ``transaction()``: SQLite's
    (:class:`sabio.store.Store`) or, with the vectors and the words written its own way,
    PostgreSQL's (:class:`sabio.store.pg_documents.PostgresStore`)."""

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
        except ConstraintError as exc:
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
            "SELECT id, name, embedding_model, dimension, 0, 0, slug, ocr_languages, review"
            " FROM kb WHERE name=? OR slug=? ORDER BY name=? DESC LIMIT 1",
            (ref, ref, ref),
        ).fetchone()
        return _kb(row) if row else None

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
                      (SELECT count(*) FROM chunk c WHERE c.kb_id = k.id), k.slug,
                      k.ocr_languages, k.review
               FROM kb k ORDER BY k.name"""
        ).fetchall()
        return [_kb(row) for row in rows]

    def set_kb_ocr_languages(self, kb_id: int, languages: str) -> None:
        """The Tesseract packs knowledge base ``kb_id``'s scans are read with ('': the
        ``ocr_languages`` setting's)."""
        with self.transaction() as db:
            db.execute("UPDATE kb SET ocr_languages=? WHERE id=?", (languages, kb_id))

    def set_kb_review(self, kb_id: int, review: bool) -> None:
        """Whether the files uploaded into knowledge base ``kb_id`` are reviewed as they arrive."""
        with self.transaction() as db:
            db.execute("UPDATE kb SET review=? WHERE id=?", (int(review), kb_id))

    def delete_kb(self, kb: KnowledgeBase, *, with_chats: bool = False) -> None:
        """Delete a knowledge base and everything in it; ``with_chats``: and the chats
        over it, in the same transaction."""
        with self.transaction() as db:
            db.execute("DELETE FROM chunk WHERE kb_id=?", (kb.id,))
            db.execute("DELETE FROM kb WHERE id=?", (kb.id,))
            if with_chats:  # their messages go with them (ON DELETE CASCADE)
                db.execute("DELETE FROM chat WHERE kb_name=?", (kb.name,))

    def kb_counts(self, kb_id: int) -> tuple[int, int]:
        """(documents, chunks) of one knowledge base."""
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM document WHERE kb_id=?),"
            " (SELECT count(*) FROM chunk WHERE kb_id=?)",
            (kb_id, kb_id),
        ).fetchone()
        return int(row[0]), int(row[1])

    def kbs_changed_at(self) -> dict[int, float]:
        """When each knowledge base last changed (Unix time): its creation, or the last
        document added or updated in it (what ``/api/tags`` gives as ``modified_at``)."""
        rows = self.db.execute(
            """SELECT k.id, max(k.created_at, coalesce(max(d.updated_at), 0))
               FROM kb k LEFT JOIN document d ON d.kb_id = k.id GROUP BY k.id"""
        ).fetchall()
        return {int(kb_id): float(when) for kb_id, when in rows}

    def kb_activity(self, kb_id: int) -> tuple[Any, ...]:
        """Something that changes whenever the knowledge base's chunks, its number of
        documents, its sources' items or their jobs, or its unseen review alerts do (for
        telling clients, not for counting); read it when :meth:`watching` says something
        was written."""
        row = self.db.execute(
            """SELECT (SELECT generation FROM kb WHERE id=?),
                      (SELECT count(*) FROM document WHERE kb_id=?),
                      (SELECT count(*) || ':' || max(checked_at) FROM source_item i
                         JOIN source s ON s.id = i.source_id WHERE s.kb_id=?),
                      (SELECT max(j.id) || ':' || max(coalesce(j.heartbeat_at, 0)) || ':'
                              || max(coalesce(j.finished_at, 0)) FROM job j
                         JOIN source s ON s.id = j.source_id WHERE s.kb_id=?),
                      (SELECT count(*) || ':' || max(coalesce(last_sync_at, 0)) FROM source
                         WHERE kb_id=?),
                      (SELECT count(*) || ':' || coalesce(max(id), 0) FROM review_alert
                         WHERE kb_id=? AND seen=0)""",
            (kb_id, kb_id, kb_id, kb_id, kb_id, kb_id),
        ).fetchone()
        return tuple(row)

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
        check_vectors(kb, chunks, vectors)
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
        db: Connection,
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

    def document_pages(self, kb_id: int, document_id: int) -> list[tuple[int | None, str]]:
        """A document's text again, page by page in order ((page or None, text)), put
        together from its passages without their overlaps, with its headings as Markdown
        heading lines where they begin ("## Obligations" under "# Lease")."""
        rows = self.db.execute(
            'SELECT page, start, "end", text, heading FROM chunk WHERE kb_id=? AND document_id=?'
            " ORDER BY ord",
            (kb_id, document_id),
        ).fetchall()
        pages: list[tuple[int | None, list[str]]] = []
        reached = 0
        path: list[str] = []
        for page, start, end, text, heading in rows:
            if end <= reached:
                continue
            piece = text[max(0, reached - start) :]
            reached = end
            if not pages or pages[-1][0] != page:
                pages.append((page, []))
            parts = pages[-1][1]
            new_path = [h.strip() for h in heading.split(" > ")] if heading else []
            same = 0
            while same < min(len(path), len(new_path)) and path[same] == new_path[same]:
                same += 1
            if same < len(new_path) and parts and not parts[-1].endswith("\n"):
                parts.append("\n\n")
            for depth in range(same, len(new_path)):
                parts.append(f"{'#' * min(depth + 1, 6)} {new_path[depth]}\n\n")
            path = new_path
            if parts and not parts[-1].endswith(("\n", " ")) and not piece[:1].isspace():
                parts.append("\n\n")
            parts.append(piece)
        return [(page, "".join(parts)) for page, parts in pages]

    def document_chunks(
        self, kb_id: int, document_id: int | None = None
    ) -> Iterator[tuple[int, int, int | None, str]]:
        """(document id, start, page, text) of every chunk (of one document, when given),
        by document and position: what rebuilds each document's text (chunks are exact
        slices of it), for a review."""
        yield from self.db.execute(
            "SELECT document_id, start, page, text FROM chunk WHERE kb_id=?"
            " AND (? IS NULL OR document_id=?) ORDER BY document_id, ord",
            (kb_id, document_id, document_id),
        )

    def document_passages(self, kb_id: int, document_id: int) -> list[Chunk]:
        """A document's chunks in order, as they were written (text, offsets, page,
        heading, context): what the document is written again from, a secret masked."""
        return [
            Chunk(str(r[0]), int(r[1]), int(r[2]), r[3], str(r[4]), str(r[5]))
            for r in self.db.execute(
                'SELECT text, start, "end", page, heading, context FROM chunk'
                " WHERE kb_id=? AND document_id=? ORDER BY ord",
                (kb_id, document_id),
            )
        ]

    def document_vectors(self, kb_id: int, document_id: int) -> NDArray[np.float32]:
        """The vectors of a document's chunks, in the order of :meth:`document_passages`."""
        rows = self.db.execute(
            "SELECT vector FROM chunk WHERE kb_id=? AND document_id=? ORDER BY ord",
            (kb_id, document_id),
        ).fetchall()
        return np.array([np.frombuffer(bytes(r[0]), np.float32) for r in rows], np.float32)

    def renew_index(self, kb_id: int) -> None:
        """Have the knowledge base's search index rebuilt from the chunk table, not caught
        up: a cached index keeps the words and vectors of chunks that are gone until then."""
        with self.transaction() as db:
            db.execute("UPDATE kb SET generation=generation+1, epoch=epoch+1 WHERE id=?", (kb_id,))

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


_DOC_COLUMNS = (
    "id, kb_id, source, title, content_hash, size, mtime_ns, status, error, pages, chunk_count,"
    " metadata, updated_at"
)


def _kb(row: Any) -> KnowledgeBase:
    values = list(row)
    values[8] = bool(values[8])
    return KnowledgeBase(*values)


def _document(row: Any) -> DocumentRecord:
    values = list(row)
    values[11] = json.loads(values[11])
    return DocumentRecord(*values)
