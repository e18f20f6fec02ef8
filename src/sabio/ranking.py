"""Where a search ranks: in the process or in the database.

On SQLite the rankings run in each process, over :class:`sabio.index.ChunkIndex` (the
vectors and BM25 postings held in memory, rebuilt from the store). A store that ranks in
its database (PostgreSQL: pgvector's HNSW index, BM25 over the postings table,
:mod:`sabio.store.pg_ranking`) gets a :class:`DatabaseIndex` instead, which asks it, so
several servers share one truth and none holds a knowledge base's passages in memory.
Both are a :class:`SearchIndex`, what :func:`sabio.search.search_chunks` fuses; only the
document field (a few words a document, not a passage) stays in the process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from sabio.index import ChunkIndex, build_document_field
from sabio.store import KnowledgeBase, SabioStore

if TYPE_CHECKING:
    from sabio.document_field import DocumentField, FieldCache


class SearchIndex(Protocol):
    """The rankings a hybrid search fuses, and what it reads beside them."""

    def vector_search(
        self,
        kb: KnowledgeBase,
        query: NDArray[np.float32],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]: ...
    def keyword_search(
        self,
        kb: KnowledgeBase,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]: ...
    def document_scores(
        self, kb: KnowledgeBase, terms: Sequence[str] | Mapping[str, float]
    ) -> dict[int, float]: ...
    def document_field(self, kb: KnowledgeBase) -> DocumentField: ...
    def documents_of(self, kb: KnowledgeBase, chunk_ids: Sequence[int]) -> dict[int, int]: ...
    def term_weights(self, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]: ...
    def sync(self, kb: KnowledgeBase) -> object: ...
    def drop(self, kb: KnowledgeBase) -> None: ...


@runtime_checkable
class RankingStore(Protocol):
    """A store that ranks in its database (PostgreSQL)."""

    def vector_search(
        self,
        kb: KnowledgeBase,
        vector: NDArray[np.float32],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]: ...
    def keyword_search(
        self,
        kb: KnowledgeBase,
        terms: Sequence[str],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]: ...
    def term_weights(self, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]: ...


class DatabaseIndex:
    """A :class:`SearchIndex` over a store that ranks in its database: nothing of the
    passages kept, only each knowledge base's document field (rebuilt when it changes)."""

    def __init__(self, store: SabioStore, rankings: RankingStore) -> None:
        self.store = store
        self.rankings = rankings
        self._lock = threading.Lock()
        self._fields: dict[int, tuple[tuple[int, int], DocumentField]] = {}
        self._field_words: dict[int, FieldCache] = {}

    def vector_search(
        self,
        kb: KnowledgeBase,
        query: NDArray[np.float32],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        return self.rankings.vector_search(kb, vector, limit, document_ids)

    def keyword_search(
        self,
        kb: KnowledgeBase,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        return self.rankings.keyword_search(kb, terms, limit, document_ids)

    def document_scores(
        self, kb: KnowledgeBase, terms: Sequence[str] | Mapping[str, float]
    ) -> dict[int, float]:
        return self.document_field(kb).scores(terms)

    def document_field(self, kb: KnowledgeBase) -> DocumentField:
        version = self.store.kb_versions(kb.id)
        with self._lock:
            cached = self._fields.get(kb.id)
            if cached is None or cached[0] != version:
                read = self._field_words.setdefault(kb.id, {})
                cached = (version, build_document_field(self.store, kb.id, read))
                self._fields[kb.id] = cached
        return cached[1]

    def documents_of(self, kb: KnowledgeBase, chunk_ids: Sequence[int]) -> dict[int, int]:
        return {cid: c.document_id for cid, c in self.store.get_chunks(chunk_ids).items()}

    def term_weights(self, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        return self.rankings.term_weights(kb, terms)

    def sync(self, kb: KnowledgeBase) -> None:
        """Nothing to catch up: the database is the index."""

    def drop(self, kb: KnowledgeBase) -> None:
        with self._lock:
            self._fields.pop(kb.id, None)
            self._field_words.pop(kb.id, None)


def search_index(store: SabioStore, cache_dir: Path | None = None) -> SearchIndex:
    """The database's own rankings when the store has them, else the in-process index
    (saved under ``cache_dir``)."""
    if isinstance(store, RankingStore):
        return DatabaseIndex(store, store)
    return ChunkIndex(store, cache_dir)
