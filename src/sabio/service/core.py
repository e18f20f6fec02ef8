"""The core of the service: its settings, its store, search index and job queue, and the
models in use (loaded once, shared with a service ``shared_with`` it).

Every part of :class:`sabio.service.Sabio` builds on it."""

from __future__ import annotations

import contextlib
import time

from sabio.config import Settings
from sabio.errors import EmbeddingMismatchError, ModelError
from sabio.home import make_private_home
from sabio.jobs import JobQueue
from sabio.models import ChatModel, ChatOptions, EmbeddingModel, get_chat_model, get_embedding_model
from sabio.notes import NoteMatcher
from sabio.ranking import SearchIndex, search_index
from sabio.readers import Keeper
from sabio.store import KnowledgeBase
from sabio.store.backend import SabioStore
from sabio.store.registry import StoreOptions, open_store

EMBEDDED_BACKEND = "embedded"
EMBEDDED_MODEL = "embedded:all-minilm-l6-v2"
DEFAULT_MODEL_TTL = 60.0
"""Seconds the resolved default chat model ("auto") is reused before Ollama is asked again."""


class ServiceCore:
    """The state every part reads (settings, store, index, jobs) and the models in use."""

    def __init__(
        self,
        settings: Settings,
        *,
        shared_with: ServiceCore | None = None,
        concurrent_reads: bool = False,
        keeper: Keeper | None = None,
    ) -> None:
        """``shared_with``: another service over the same data whose search index and loaded
        models this one uses, with a database connection of its own (the server writes
        through one service and reads through another, see :mod:`sabio.server`), and its
        ``keeper``. ``concurrent_reads``: a database connection per calling thread, for many
        readers. ``keeper``: where reader processes wait between reads (a long-running
        process's, :class:`sabio.readers.Keeper`); without one each read starts its own."""
        self.settings = settings
        make_private_home(settings.home)
        self.store: SabioStore = open_store(
            settings.database_url,
            settings.database_path,
            StoreOptions(
                per_thread=concurrent_reads,
                pool_size=settings.database_pool_size,
                alongside=shared_with.store if shared_with else None,
            ),
        )
        self.chats = self.store.chats
        self.users = self.store.users
        self.sources = self.store.sources
        self.feedback = self.store.feedback
        self.jobs = JobQueue(self.store)
        shared = shared_with
        self.index: SearchIndex = (
            shared.index if shared else search_index(self.store, settings.home / "index")
        )
        self._embedders: dict[str, EmbeddingModel] = shared._embedders if shared else {}
        self._chat_models: dict[str, ChatModel] = shared._chat_models if shared else {}
        self._default_chat: tuple[float, str] | None = None
        self._note_matcher: NoteMatcher = shared._note_matcher if shared else NoteMatcher()
        self.keeper: Keeper | None = shared.keeper if shared else keeper

    def close(self) -> None:
        self.store.close()

    def reconfigure(self, settings: Settings) -> None:
        """Use ``settings`` from now on, over the same data directory. Models that talk to
        a server (Ollama, OpenAI-compatible) are built again when next used, so a new
        address or model takes effect; embedded models stay loaded. An answer already
        streaming finishes with the model it has."""
        if settings.home != self.settings.home:
            raise ValueError(f"reconfigure keeps the data directory {self.settings.home}")
        self.settings = settings
        for cache in (self._embedders, self._chat_models):  # shared_with: the same dicts
            for name in list(cache):
                if name.partition(":")[0] != EMBEDDED_BACKEND:
                    cache.pop(name, None)
        self._default_chat = None

    def default_embedding_model(self) -> str:
        """The model a new knowledge base gets: the setting, or Ollama's, or the embedded one."""
        if self.settings.embedding_model != "auto":
            return self.settings.embedding_model
        from sabio.models.ollama import find_ollama_embedding_model

        return find_ollama_embedding_model(self.settings) or EMBEDDED_MODEL

    def embedder(self, name: str) -> EmbeddingModel:
        if name not in self._embedders:
            self._embedders[name] = get_embedding_model(self.settings, name)
        return self._embedders[name]

    def warm_up(self) -> None:
        """Load the embedded embedding models in use (the knowledge bases' and the
        default), so that a server's first question or saved page does not wait for one
        (several seconds, twelve the first time a data directory builds its model file).
        Models served by Ollama are left alone; a model that fails is left for the request
        that needs it to report."""
        names = {kb.embedding_model for kb in self.store.list_kbs()} | {
            self.default_embedding_model()
        }
        for name in sorted(n for n in names if n.startswith("embedded:")):
            with contextlib.suppress(ModelError, OSError):
                self.embedder(name).embed(["sabio"])

    def kb_embedder(self, kb: KnowledgeBase) -> EmbeddingModel:
        model = self.embedder(kb.embedding_model)
        if model.dimension != kb.dimension:
            raise EmbeddingMismatchError(
                f"knowledge base {kb.name!r} holds {kb.dimension}-dimension vectors but "
                f"{kb.embedding_model} now gives {model.dimension}; re-index it with "
                f"`sabio kb reindex {kb.name}`"
            )
        return model

    def chat_model(self, name: str | None = None) -> ChatModel:
        """The chat model called ``name``, or the default one (see ``chat_model``)."""
        if name is None:
            name = self._default_chat_model()
        if name not in self._chat_models:
            self._chat_models[name] = get_chat_model(self.settings, name)
        return self._chat_models[name]

    def _default_chat_model(self) -> str:
        """The setting, or with "auto" what Ollama offers, asked at most once a minute: a
        long-running server must not probe Ollama on every question, yet should notice a
        model pulled (or Ollama started) since."""
        from sabio.models.catalog import default_chat_model

        now = time.monotonic()
        if self._default_chat is None or now - self._default_chat[0] > DEFAULT_MODEL_TTL:
            self._default_chat = (now, default_chat_model(self.settings))
        return self._default_chat[1]

    def answer_style(self, model: str, style: str | None = None) -> str:
        """``style``, or the answer_style setting, with "auto" made concrete: extractive
        for the embedded chat model (it cannot be trusted to write one), generative for
        any other."""
        chosen = style or self.settings.answer_style
        if chosen == "auto":
            return "extractive" if model.partition(":")[0] == EMBEDDED_BACKEND else "generative"
        return chosen

    def _answer_options(self) -> ChatOptions:
        return ChatOptions(
            max_tokens=self.settings.answer_tokens, temperature=self.settings.temperature
        )
