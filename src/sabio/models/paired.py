"""Two embedding models as one, each used where it wins: ``embedded:A+B``.

A passage's vector is its vectors from each part side by side, each unit-length and the
row scaled by ``1/sqrt(parts)``, so the row is unit-length too and the store, the index
and PostgreSQL keep one vector per passage as for any model (the knowledge base records
the pair's name and the summed dimension). A cosine between two such rows is the mean
of the parts' cosines, which is what the notes, the quotes and the support check get.

The search asks for one part at a time (:meth:`PairedModel.part_query`): the query's
vector with the other parts zeroed and the chosen part scaled so that its dot product
with a stored row is exactly that part's cosine. Which part, :mod:`sabio.search` decides
from the question's language and the passages' (``embedded:all-minilm-l6-v2+
use-multilingual``: MiniLM within English, USE multilingual for any other language and
across languages; measured in docs/benchmarks.md, "issue 25").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from sabio.models import EmbeddingModel, Vectors, embedding_languages

SEPARATOR = "+"


class PairedModel:
    """Several embedding models whose vectors are kept side by side in one row."""

    def __init__(self, name: str, parts: Sequence[EmbeddingModel]) -> None:
        self.name = name
        self.parts = tuple(parts)
        self.dimension = sum(p.dimension for p in self.parts)
        known = [embedding_languages(p) for p in self.parts]
        self.languages: frozenset[str] | None = (
            None if any(k is None for k in known) else frozenset().union(*known)  # type: ignore[arg-type]
        )
        self._scale = 1.0 / math.sqrt(len(self.parts))
        bounds = np.cumsum([0, *(p.dimension for p in self.parts)])
        self.spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = np.hstack([np.asarray(p.embed(texts), dtype=np.float32) for p in self.parts])
        out: Vectors = (rows * self._scale).astype(np.float32)
        return out

    def part_query(self, vector: Vectors, part: int) -> Vectors:
        """``vector`` (a row of :meth:`embed`) searching with part ``part`` alone: its dot
        product with any stored row is that part's cosine."""
        start, end = self.spans[part]
        out = np.zeros(self.dimension, dtype=np.float32)
        # the row holds the part's unit vector times the scale: undo it, and put it on the
        # query side again so that the product with a stored row loses it too
        own = np.asarray(vector, dtype=np.float32).reshape(-1)[start:end]
        out[start:end] = own / self._scale**2
        return out

    def part_vectors(self, vectors: Vectors, part: int) -> Vectors:
        """Rows of :meth:`embed` cut to part ``part``'s own unit vectors."""
        start, end = self.spans[part]
        out: Vectors = np.asarray(vectors, dtype=np.float32)[:, start:end] / self._scale
        return out


def paired_parts(model: EmbeddingModel | None) -> tuple[EmbeddingModel, ...]:
    """The parts of a :class:`PairedModel`, or () for any other model."""
    return model.parts if isinstance(model, PairedModel) else ()
