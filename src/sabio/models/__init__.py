"""Model backends behind small interfaces, chosen by a registry lookup.

An embedding model is anything with a ``name``, a ``dimension`` and ``embed(texts)``.
A chat model is anything with a ``name``, a ``context_window``, ``count_tokens(text)`` and
``stream(messages, options)``. A backend registers a factory under a prefix with
:func:`register_embedding_backend` or :func:`register_chat_backend`; a model is named
``"<backend>:<model>"`` (``embedded:all-minilm-l6-v2``, ``embedded:smollm2``,
``ollama:nomic-embed-text``, ``ollama:qwen3:4b``, ``lmstudio:text-embedding-bge-m3`` for an
OpenAI-compatible server configured under ``[openai.lmstudio]``). The name is what a
knowledge base records.

A backend also says which models it has: a function ``list_models(settings)`` registered
with :func:`register_model_listing` returns its :class:`ModelEntry` rows, and
:mod:`sabio.models.catalog` gathers them. A backend is one module that registers itself
when imported, plus its line in :data:`_BACKEND_MODULES` (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from sabio.errors import ConfigError, ModelError, SabioError

if TYPE_CHECKING:
    from sabio.config import Settings

Vectors = NDArray[np.float32]

EMBEDDED_CHAT_MODEL = "embedded:smollm2"
"""The chat model that works without any server: SmolLM2 on llama.cpp (``sabio.models.llama``)."""


class EmbeddingModel(Protocol):
    """Turns texts into L2-normalised float32 rows, one per text.

    A model may also have ``languages``, the language codes it was trained on (e.g.
    ``frozenset({"en"})``); without it, or ``None``, it is taken to know every language.
    Search leans on keywords for a question in a language the model does not know (see
    :func:`embedding_languages` and :mod:`sabio.search`)."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


ENGLISH_ONLY = frozenset({"en"})


def embedding_languages(model: EmbeddingModel) -> frozenset[str] | None:
    """The languages ``model`` knows, or None when it is not known to be limited."""
    languages: frozenset[str] | None = getattr(model, "languages", None)
    return languages or None


Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """What a chat request asks for besides the messages."""

    max_tokens: int = 1024
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    """Answer with JSON that this JSON Schema accepts, enforced by the backend where it can
    (Ollama's ``format``, an OpenAI-compatible ``response_format``, a llama.cpp grammar)."""
    cancel: threading.Event | None = None
    """Set: the request is no longer wanted. The embedded model then stops computing at
    once, also while it reads the prompt (a whole-document task cancelled); the HTTP
    backends shut their connection, also before the server's first token, and the server,
    seeing its client leave, stops (:mod:`sabio.models.http`)."""


class ChatModel(Protocol):
    """A model that answers a conversation, token by token.

    ``context_window`` is the number of tokens the prompt and the answer share, and the
    backend makes sure the server uses exactly that many (Ollama gets ``num_ctx`` on every
    request). ``count_tokens`` counts exactly where the backend has the tokenizer
    (llama.cpp) and otherwise over-estimates (:func:`estimate_tokens`), so a prompt built
    within the budget is never cut by the server.

    ``stream`` yields pieces of the answer as they arrive; a generator may return why it
    ended, as the backends do: ``"length"`` when ``max_tokens`` ran out (the answer is
    cut), ``"stop"`` when the model finished; None (a plain iterator) when it cannot tell.
    Failures are Sabio errors
    (:class:`ModelError`, :class:`NotFoundError` naming the pull command): before the
    first piece when the request is refused, or while iterating when the stream breaks.
    """

    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: Sequence[Message], options: ChatOptions) -> Iterator[str]: ...


def estimate_tokens(text: str) -> int:
    """A token count that errs high, for backends without a tokenizer at hand.

    BPE tokenizers of current models average about 4 bytes per token in English and a bit
    fewer in Spanish; counting one token per 3 UTF-8 bytes (plus one per message) stays
    above the real count for prose, at the cost of leaving some context unused.
    """
    return math.ceil(len(text.encode("utf-8")) / 3) + 1


Kind = Literal["chat", "embedding", "model"]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model a backend lists: ``name`` is what settings take (``"backend:model"``);
    ``kind`` is ``"model"`` where the backend does not say (OpenAI-compatible servers);
    ``default`` is ``"chat"`` or ``"embedding"`` for the model used by default for that
    (the catalog marks it). An entry named ``"<backend>:*"`` stands for a backend with
    nothing to list; its note says why."""

    name: str
    kind: Kind
    backend: str
    available: bool
    note: str = ""
    size: int | None = None
    details: dict[str, str] = field(default_factory=dict)
    default: str = ""


EmbeddingFactory = Callable[["Settings", str], EmbeddingModel]
ChatFactory = Callable[["Settings", str], ChatModel]
Listing = Callable[["Settings"], list[ModelEntry]]
"""A backend's models, as :func:`sabio.models.catalog.list_models` shows them. It never
raises: a server that does not answer is one ``"<backend>:*"`` entry whose note says why."""

_EMBEDDING_BACKENDS: dict[str, EmbeddingFactory] = {}
_CHAT_BACKENDS: dict[str, ChatFactory] = {}
_LISTINGS: dict[str, Listing] = {}
Unlisted = Callable[["Settings", str], tuple[bool, str] | None]
"""What a backend says of a model of its own that it did not list (a default that is not
installed, a file it does not scan for): whether it can be used anyway, and a note; None
when it has nothing to say."""
_UNLISTED: dict[str, Unlisted] = {}
_BACKEND_MODULES = (
    "sabio.models.embedded",
    "sabio.models.multilingual",
    "sabio.models.llama",
    "sabio.models.ollama",
    "sabio.models.openai",
)
_loaded = False


def register_embedding_backend(prefix: str) -> Callable[[EmbeddingFactory], EmbeddingFactory]:
    def decorator(factory: EmbeddingFactory) -> EmbeddingFactory:
        _EMBEDDING_BACKENDS[prefix] = factory
        return factory

    return decorator


def register_chat_backend(prefix: str) -> Callable[[ChatFactory], ChatFactory]:
    def decorator(factory: ChatFactory) -> ChatFactory:
        _CHAT_BACKENDS[prefix] = factory
        return factory

    return decorator


def register_model_listing(listing: Listing) -> Listing:
    """Register a backend's ``list_models(settings)`` (once, however often it is imported)."""
    _LISTINGS[f"{listing.__module__}.{listing.__qualname__}"] = listing
    return listing


def register_unlisted_model(prefix: str) -> Callable[[Unlisted], Unlisted]:
    """Register what the backend ``prefix`` says of a model it did not list (optional)."""

    def decorator(describe: Unlisted) -> Unlisted:
        _UNLISTED[prefix] = describe
        return describe

    return decorator


def unlisted_model(settings: Settings, backend: str, model: str) -> tuple[bool, str]:
    """Whether ``backend:model``, listed by no backend, can be used, and what to tell."""
    _ensure_registered()
    describe = _UNLISTED.get(backend)
    said = describe(settings, model) if describe else None
    return said or (False, "no backend lists it")


def model_listings() -> list[Listing]:
    """Every backend's listing: Sabio's own in the order of :data:`_BACKEND_MODULES`,
    then any other in the order it was registered."""
    _ensure_registered()
    order = {module: i for i, module in enumerate(_BACKEND_MODULES)}
    listings = list(_LISTINGS.values())  # sorted() is stable: the others keep their order
    return sorted(listings, key=lambda listing: order.get(listing.__module__, len(order)))


def missing_modules(*modules: str) -> list[str]:
    """The modules in ``modules`` that are not installed (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def file_size(locate: Callable[[], Path]) -> int | None:
    """The size of the file a local model runs from, or None when it is not there."""
    try:
        return locate().stat().st_size
    except (SabioError, OSError):
        return None


def _ensure_registered() -> None:
    global _loaded
    if not _loaded:
        for module in _BACKEND_MODULES:
            importlib.import_module(module)
        _loaded = True


def check_pullable(name: str) -> None:
    """Raise a :class:`ConfigError` when ``name`` is one of Sabio's own models
    (``embedded:…``): they come with Sabio and cannot be pulled into Ollama."""
    if name.strip().lower().startswith("embedded:"):
        raise ConfigError(
            f"{name} is part of Sabio, not an Ollama model: it cannot be pulled or deleted "
            "(it comes with Sabio's `embedded` extra; `sabio models` lists what is installed)",
            key="part_of_sabio",
            model=name,
        )


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
    factory, model = _lookup(_EMBEDDING_BACKENDS, settings, name)
    return factory(settings, model)


def get_chat_model(settings: Settings, name: str) -> ChatModel:
    """Build the chat model called ``name`` ("backend:model")."""
    _ensure_registered()
    factory, model = _lookup(_CHAT_BACKENDS, settings, name)
    return factory(settings, model)


def check_model_name(settings: Settings, name: str, kind: Literal["chat", "embedding"]) -> None:
    """Raise a :class:`ConfigError` unless ``name`` is ``"backend:model"`` with a backend
    that serves this kind of model (the model itself is not looked for)."""
    _ensure_registered()
    if kind == "chat":
        _lookup(_CHAT_BACKENDS, settings, name)
    else:
        _lookup(_EMBEDDING_BACKENDS, settings, name)


F = TypeVar("F")


def _lookup(backends: dict[str, F], settings: Settings, name: str) -> tuple[F, str]:
    """The factory for ``name`` and what it gets: the model after the prefix, or, for a
    server configured under [openai.NAME], the whole name (the ``openai`` factory splits it)."""
    backend, model = split_model_name(name)
    factory = backends.get(backend)
    if factory is None and backend in settings.openai_servers and "openai" in backends:
        return backends["openai"], name
    if factory is None:
        known = sorted({*backends, *settings.openai_servers} - {"openai"})
        raise ConfigError(
            f"unknown model backend {backend!r} in {name!r}; known: {', '.join(known)} "
            "(an OpenAI-compatible server is added as [openai.NAME] in config.toml)"
        )
    return factory, model


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
