"""The store on PostgreSQL with pgvector (issue 27): :class:`PostgresStore`.

Knowledge bases, documents and chunks share SQLite's SQL (:class:`DocumentTables`)
where it is standard; what differs is written here: a chunk's vector is pgvector's
``vector``, its words are postings (written by COPY), each knowledge base has an HNSW
index (cosine) over its own rows, and the two rankings a search fuses run in the database
(:meth:`PostgresStore.vector_search`, :meth:`PostgresStore.keyword_search`: BM25 over
the postings kept beside the chunks, :mod:`sabio.store.pg_ranking`), so no
process has to hold a knowledge base's index in memory. Chats, users, sources and jobs
are SQLite's table modules over this connection.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from sabio.chunking import Chunk
from sabio.errors import ConflictError
from sabio.store.backend import (
    ChatBackend,
    FeedbackBackend,
    GuideBackend,
    ReviewBackend,
    SabioStore,
    SourceBackend,
    UserBackend,
)
from sabio.store.chats import ChatStore
from sabio.store.documents import (
    DocumentTables,
    FileState,
    KnowledgeBase,
    Passage,
    StoredChunk,
    check_vectors,
)
from sabio.store.feedback import FeedbackStore
from sabio.store.guides import GuideStore
from sabio.store.pg_ranking import KeywordRanker, copy_postings, posting_lines
from sabio.store.pg_schema import PG_MIGRATIONS
from sabio.store.postgres import DEFAULT_POOL_SIZE, PostgresDatabase, PostgresPool
from sabio.store.reviews import ReviewStore
from sabio.store.sources import SourceStore
from sabio.store.users import UserStore
from sabio.terms import tokens

EF_SEARCH = 100
"""HNSW's candidate list while searching (pgvector's ``hnsw.ef_search``), at least the
depth asked for: recall against exact search, paid in time (docs/benchmarks.md)."""
WORK_MEM = "32MB"
"""A connection's memory for a sort or a hash: a keyword search of a big knowledge base
groups some 100,000 postings by passage (PostgreSQL's 4 MB spilled them to disk)."""


@functools.lru_cache(maxsize=16)
def _vector_format(dimension: int) -> str:
    return "[" + ",".join(["%.9g"] * dimension) + "]"


def vector_text(vector: NDArray[np.float32]) -> str:
    """A vector as pgvector reads it: ``[0.1,0.2,…]``, each float32 in 9 significant
    digits (exactly the same float32 back; 2.5 times faster than ``repr`` and 40% shorter,
    bench/postgres.py's fill)."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    return _vector_format(len(values)) % tuple(values.tolist())


_INSERT_CHUNKS = """INSERT INTO chunk(document_id, kb_id, ord, page, start, "end", heading,
        context, text, vector)
    SELECT ?, ?, r.ord, r.page, r.start, r.stop, r.heading, r.context, r.text, r.v::vector
    FROM unnest(?::int[], ?::int[], ?::int[], ?::int[], ?::text[], ?::text[], ?::text[],
                ?::text[])
         WITH ORDINALITY AS r(ord, page, start, stop, heading, context, text, v, n)
    ORDER BY r.n
    RETURNING id, ord"""
"""A document's chunks in one statement, from one array per column, in order (so their
ids grow with their position); their ids back, with their place."""


class PostgresStore(PostgresDatabase, DocumentTables):
    """Everything Sabio keeps, in the PostgreSQL database at ``url``."""

    session_settings: ClassVar[Mapping[str, str]] = {
        "hnsw.ef_search": str(EF_SEARCH),
        "work_mem": WORK_MEM,
    }
    """HNSW's depth on every connection, so that a usual vector search is one statement
    (no transaction around a ``SET LOCAL``: three round trips fewer). No
    ``hnsw.iterative_scan``: each knowledge base has an index of its own rows (a partial
    index), so nothing is filtered out of what HNSW finds, and a search within documents
    is exact."""

    def __init__(
        self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, pool: PostgresPool | None = None
    ) -> None:
        super().__init__(url, PG_MIGRATIONS, pool_size=pool_size, pool=pool)
        self.chats: ChatBackend = ChatStore(self)
        self.users: UserBackend = UserStore(self)
        self.sources: SourceBackend = SourceStore(self)
        self.feedback: FeedbackBackend = FeedbackStore(self)
        self.guides: GuideBackend = GuideStore(self)
        self.reviews: ReviewBackend = ReviewStore(self)
        self._keywords = KeywordRanker()

    # knowledge bases: each with its HNSW index

    def create_kb(
        self, name: str, embedding_model: str, dimension: int, *, slug: str | None = None
    ) -> KnowledgeBase:
        kb = super().create_kb(name, embedding_model, dimension, slug=slug)
        self.index_vectors(kb.id, dimension)
        return kb

    def index_vectors(self, kb_id: int, dimension: int) -> None:
        """(Re)build the knowledge base's HNSW index for vectors of ``dimension``."""
        with self.transaction() as db:
            db.execute(f"DROP INDEX IF EXISTS chunk_vector_{int(kb_id)}")
            db.execute(
                f"CREATE INDEX chunk_vector_{int(kb_id)} ON chunk USING hnsw"
                f" ((vector::vector({int(dimension)})) vector_cosine_ops)"
                f" WHERE kb_id = {int(kb_id)}"
            )

    def delete_kb(self, kb: KnowledgeBase, *, with_chats: bool = False) -> None:
        super().delete_kb(kb, with_chats=with_chats)
        self.db.execute(f"DROP INDEX IF EXISTS chunk_vector_{int(kb.id)}")

    def kbs_changed_at(self) -> dict[int, float]:
        rows = self.db.execute(
            """SELECT k.id, greatest(k.created_at, coalesce(max(d.updated_at), 0))
               FROM kb k LEFT JOIN document d ON d.kb_id = k.id GROUP BY k.id"""
        ).fetchall()
        return {int(kb_id): float(when) for kb_id, when in rows}

    # documents and chunks: vectors and words in PostgreSQL's types

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
        columns = (
            list(range(len(chunks))),
            [c.page for c in chunks],
            [c.start for c in chunks],
            [c.end for c in chunks],
            [c.heading for c in chunks],
            [c.context for c in chunks],
            [c.text for c in chunks],
            [vector_text(v) for v in vectors],
        )
        texts = [tokens(c.text) for c in chunks]
        contexts = [tokens(c.context) for c in chunks]
        words = sum(map(len, texts)) + sum(map(len, contexts))
        with self.transaction() as db:
            avgdl = self._keywords.average_length(db, kb.id, words / max(len(chunks), 1))
            doc_id = self._upsert_document(db, kb.id, state, title, "indexed", "", pages, metadata)
            db.execute("DELETE FROM chunk WHERE document_id=?", (doc_id,))  # postings with them
            if chunks:  # one statement for them all: a round trip per document, not per chunk
                rows = db.execute(_INSERT_CHUNKS, (doc_id, kb.id, *columns)).fetchall()
                ids = {int(r[1]): int(r[0]) for r in rows}  # place: id
                chunk_ids = [ids[i] for i in range(len(chunks))]
                lines = posting_lines([kb.id] * len(chunks), chunk_ids, texts, contexts, avgdl)
                copy_postings(db.connection, lines)
            db.execute(
                "UPDATE document SET chunk_count=?, word_count=? WHERE id=?",
                (len(chunks), words, doc_id),
            )
            db.execute("UPDATE kb SET generation=generation+1 WHERE id=?", (kb.id,))
        return doc_id

    def chunk_rows(self, kb_id: int, after: int) -> list[tuple[int, int, str, str, bytes]]:
        return [
            (int(r[0]), int(r[1]), str(r[2]), str(r[3]), np.asarray(r[4], np.float32).tobytes())
            for r in self.db.execute(
                "SELECT id, document_id, text, context, vector::real[] FROM chunk"
                " WHERE kb_id=? AND id>? ORDER BY id",
                (kb_id, after),
            )
        ]

    def document_vectors(self, kb_id: int, document_id: int) -> NDArray[np.float32]:
        rows = self.db.execute(
            "SELECT vector::real[] FROM chunk WHERE kb_id=? AND document_id=? ORDER BY ord",
            (kb_id, document_id),
        ).fetchall()
        return np.array([np.asarray(r[0], np.float32) for r in rows], np.float32)

    def passage(self, kb_id: int, chunk_id: int) -> Passage | None:
        row = self.db.execute(
            """SELECT c.id, c.document_id, d.source, d.title, c.page, c.start, c."end",
                      c.heading, c.text, p.start, p.text, n.start, n.text
               FROM chunk c JOIN document d ON d.id = c.document_id
               LEFT JOIN chunk p ON p.document_id = c.document_id AND p.ord = c.ord - 1
                                    AND p.page IS NOT DISTINCT FROM c.page
               LEFT JOIN chunk n ON n.document_id = c.document_id AND n.ord = c.ord + 1
                                    AND n.page IS NOT DISTINCT FROM c.page
               WHERE c.id = ? AND c.kb_id = ?""",
            (chunk_id, kb_id),
        ).fetchone()
        if row is None:
            return None
        chunk = StoredChunk(*list(row)[:9])
        before = row[10][: max(0, chunk.start - row[9])] if row[10] is not None else ""
        after = row[12][max(0, chunk.end - row[11]) :] if row[12] is not None else ""
        return Passage(chunk, before.rstrip(), after.lstrip())

    def replace_vectors(
        self, kb: KnowledgeBase, model: str, ids: Sequence[int], vectors: NDArray[np.float32]
    ) -> None:
        """Switch the knowledge base to ``model``: every vector and the record, atomically
        (its HNSW index made again for the new dimension)."""
        if len(ids) != self.kb_counts(kb.id)[1]:
            raise ConflictError("the knowledge base changed while it was re-indexed; run it again")
        dimension = int(vectors.shape[1])
        with self.transaction() as db:
            db.execute(f"DROP INDEX IF EXISTS chunk_vector_{int(kb.id)}")
            db.executemany(
                "UPDATE chunk SET vector=?::vector WHERE id=?",
                [(vector_text(vectors[i]), chunk_id) for i, chunk_id in enumerate(ids)],
            )
            db.execute(
                "UPDATE kb SET embedding_model=?, dimension=?, generation=generation+1,"
                " epoch=epoch+1 WHERE id=?",
                (model, dimension, kb.id),
            )
        self.index_vectors(kb.id, dimension)

    # the two rankings of a hybrid search (sabio.search fuses them)

    def vector_search(
        self,
        kb: KnowledgeBase,
        vector: NDArray[np.float32],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``depth`` chunks nearest ``vector`` (cosine similarity), through the
        knowledge base's HNSW index; within ``document_ids``, exact."""
        cast = f"vector::vector({int(kb.dimension)})"
        query = vector_text(vector)
        sql = f"SELECT id, 1 - ({cast} <=> ?::vector) FROM chunk WHERE kb_id = ?"
        params: list[Any] = [query, kb.id]
        if document_ids is not None:  # by the similarity, which no HNSW index orders: exact
            order = f" AND document_id = ANY(?) ORDER BY 2 DESC, id LIMIT {int(depth)}"
            params.append(list(document_ids))
        else:
            order = f" ORDER BY {cast} <=> ?::vector LIMIT {int(depth)}"
            params.append(query)
        if document_ids is not None or depth <= EF_SEARCH:  # one statement, no transaction
            rows = self.db.execute(sql + order, params).fetchall()
        else:
            with self.transaction() as db:
                db.execute(f"SET LOCAL hnsw.ef_search = {int(depth)}")
                rows = db.execute(sql + order, params).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def keyword_search(
        self,
        kb: KnowledgeBase,
        terms: Sequence[str],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``depth`` chunks that best match any of ``terms``: BM25 as the SQLite index
        computes it, over the store's postings read best first (:mod:`sabio.store.pg_ranking`)."""
        return self._keywords.search(self.db, kb, terms, depth, document_ids)

    def term_weights(self, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """Each term's BM25 idf in ``kb`` (a term it never uses weighs most)."""
        return self._keywords.term_weights(self.db, kb, terms)


_POSTGRES_IS_A_BACKEND: type[SabioStore] = PostgresStore  # mypy checks the protocol
