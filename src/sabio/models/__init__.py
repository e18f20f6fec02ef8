"""Model backends behind small interfaces, chosen by a registry lookup.

An embedding model is anything with a ``name``, a ``dimension`` and ``embed(texts)``.
A backend registers a factory under a prefix with :func:`register_embedding_backend`;
a model is named ``"<backend>:<model>"`` (``embedded:all-minilm-l6-v2``,
``ollama:nomic-embed-text``, ``lmstudio:text-embedding-bge-m3`` for an OpenAI-compatible
server configured under ``[openai.lmstudio]``). The name is what a knowledge base records.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from sabio.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from sabio.config import Settings

Vectors = NDArray[np.float32]


class EmbeddingModel(Protocol):
    """Turns texts into L2-normalised float32 rows, one per text."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


EmbeddingFactory = Callable[["Settings", str], EmbeddingModel]

_EMBEDDING_BACKENDS: dict[str, EmbeddingFactory] = {}
_BACKEND_MODULES = ("sabio.models.embedded", "sabio.models.ollama", "sabio.models.openai")
_loaded = False


def register_embedding_backend(prefix: str) -> Callable[[EmbeddingFactory], EmbeddingFactory]:
    def decorator(factory: EmbeddingFactory) -> EmbeddingFactory:
        _EMBEDDING_BACKENDS[prefix] = factory
        return factory

    return decorator


def _ensure_registered() -> None:
    global _loaded
    if not _loaded:
        for module in _BACKEND_MODULES:
            importlib.import_module(module)
        _loaded = True


def split_model_name(name: str) -> tuple[str, str]:
    backend, sep, model = name.partition(":")
    if not sep or not backend or not model:
        raise ConfigError(
            f"model name {name!r} must look like 'backend:model', "
            "e.g. 'embedded:all-minilm-l6-v2' or 'ollama:nomic-embed-text'"
        )
    return backend, model


def get_embedding_model(settings: Settings, name: str) -> EmbeddingModel:
    """Build the embedding model called ``name`` ("backend:model")."""
    _ensure_registered()
    backend, model = split_model_name(name)
    factory = _EMBEDDING_BACKENDS.get(backend)
    if factory is None and backend in settings.openai_servers:
        factory = _EMBEDDING_BACKENDS["openai"]
        model = name
    if factory is None:
        known = sorted({*_EMBEDDING_BACKENDS, *settings.openai_servers} - {"openai"})
        raise ConfigError(
            f"unknown model backend {backend!r} in {name!r}; known: {', '.join(known)} "
            "(an OpenAI-compatible server is added as [openai.NAME] in config.toml)"
        )
    return factory(settings, model)


class BatchedEmbedder:
    """What remote embedding backends share: batching, the dimension learnt from the
    first answer (reading it before any :meth:`embed` embeds one probe text; setting it,
    say from what a knowledge base recorded, skips the probe), checks, normalisation.
    Subclasses send the batches in :meth:`_embed_batches`."""

    name: str

    def __init__(self, batch_size: int) -> None:
        self.batch_size = max(1, batch_size)
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = self.batch_size
        rows = self._embed_batches([texts[i : i + size] for i in range(0, len(texts), size)])
        lengths = {len(row) for row in rows}
        if len(lengths) != 1 or (self._dimension is not None and lengths != {self._dimension}):
            raise ModelError(
                f"{self.name} returned vectors of different lengths: {sorted(lengths)}"
            )
        self._dimension = lengths.pop()
        return normalize_rows(np.asarray(rows, dtype=np.float32))

    def _embed_batches(self, batches: list[Sequence[str]]) -> list[list[float]]:
        raise NotImplementedError


def normalize_rows(vectors: NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = out / norms
    return result
