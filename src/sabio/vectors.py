"""Exact vector search over an in-memory copy of a knowledge base's vectors.

The vectors' source of truth is the chunk table (see :mod:`sabio.store`); this module
keeps one float32 matrix per knowledge base and reloads it when the knowledge base's
generation counter moves. Brute force is exact and, measured here, fast enough: a
matrix product over 100k x 384 takes a few milliseconds on two cores (see
docs/benchmarks.md), without an approximate index to build or keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sabio.store import KnowledgeBase, Store


@dataclass(frozen=True, slots=True)
class _Matrix:
    generation: int
    chunk_ids: NDArray[np.int64]
    document_ids: NDArray[np.int64]
    vectors: NDArray[np.float32]


class VectorIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._matrices: dict[int, _Matrix] = {}

    def _matrix(self, kb: KnowledgeBase) -> _Matrix:
        generation = self.store.generation(kb.id)
        cached = self._matrices.get(kb.id)
        if cached is None or cached.generation != generation:
            ids, docs, vectors = self.store.load_vectors(kb)
            cached = _Matrix(generation, ids, docs, vectors)
            self._matrices[kb.id] = cached
        return cached

    def search(
        self,
        kb: KnowledgeBase,
        query: NDArray[np.float32],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the ``limit`` nearest chunks, best first."""
        m = self._matrix(kb)
        if not len(m.chunk_ids) or limit <= 0:
            return []
        scores = m.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        if document_ids is not None:
            scores = np.where(np.isin(m.document_ids, document_ids), scores, -np.inf)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(m.chunk_ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
