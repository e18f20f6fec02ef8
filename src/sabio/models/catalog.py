"""Every model Sabio can use, across backends: what ``sabio models`` lists.

:func:`list_models` gathers what each registered backend lists
(:func:`sabio.models.register_model_listing`) — the embedded models (installed or not),
Ollama's models (chat or embedding), each ``[openai.NAME]`` server's models, and any
other backend's — and never raises: a backend that does not answer is one entry whose
note says why. :func:`default_chat_model` resolves ``chat_model = "auto"``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from sabio.models import EMBEDDED_CHAT_MODEL, model_listings, split_model_name, unlisted_model
from sabio.models import ModelEntry as ModelEntry
from sabio.models.ollama import canonical_model, find_ollama_chat_model

if TYPE_CHECKING:
    from sabio.config import Settings


def default_chat_model(settings: Settings) -> str:
    """The chat model answers use: the setting, or Ollama's best, or the embedded one."""
    if settings.chat_model != "auto":
        return settings.chat_model
    return find_ollama_chat_model(settings) or EMBEDDED_CHAT_MODEL


def list_models(
    settings: Settings, *, default_chat: str | None = None, default_embedding: str | None = None
) -> list[ModelEntry]:
    """Every model across backends; ``default_chat`` and ``default_embedding`` are marked
    as such (and listed as unavailable when no backend has them)."""
    entries = [entry for listing in model_listings() for entry in listing(settings)]
    if default_chat:
        entries = _mark_default(settings, entries, default_chat, "chat")
    if default_embedding:
        entries = _mark_default(settings, entries, default_embedding, "embedding")
    return entries


def _mark_default(
    settings: Settings, entries: list[ModelEntry], name: str, kind: Literal["chat", "embedding"]
) -> list[ModelEntry]:
    key = canonical_model(name)
    if any(canonical_model(e.name) == key for e in entries):
        return [replace(e, default=kind) if canonical_model(e.name) == key else e for e in entries]
    backend, model = split_model_name(name)
    available, note = unlisted_model(settings, backend, model)
    return [*entries, ModelEntry(name, kind, backend, available, note, default=kind)]
