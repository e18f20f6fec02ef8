"""Embeddings on Sabio's port, in Ollama's shapes (``/api/embed``, ``/api/embeddings``) and
OpenAI's (``/v1/embeddings``), from the embedding models Sabio itself runs.

Page Assist's knowledge feature, LangChain's ``OllamaEmbeddings``, LlamaIndex's
``OllamaEmbedding``, ollama-js ``embed`` and n8n's Embeddings Ollama node embed texts
through these routes; without this module they would reach for an Ollama that may not
be there. Which model answers here:

- ``embedded:all-minilm-l6-v2`` (``:latest`` too): the embedded embedder, the very
  instance the index uses (``Sabio.embedder``: loaded once, shared by every request);
- ``kb/NAME``: the knowledge base's own embedder, the one its passages were embedded
  with (so a client can search them with vectors that match);
- a name a knowledge base records as its embedder (``lmstudio:bge-m3``,
  ``ollama:nomic-embed-text``), through Sabio's backend for it;
- ``embedded:smollm2`` is a chat model: a 400 that says so; any other ``embedded:``
  name a 404 naming the real ones. Every other model is Ollama's, passed through
  unchanged (:mod:`.ollama_proxy`).

The request fields are Ollama's: ``input`` (a string or a list of strings), ``truncate``
(default true: a text longer than the model's window is cut; false makes it a 400),
``dimensions`` (the first N components, normalised again), ``keep_alive`` and
``options`` (accepted; the embedded model stays loaded). OpenAI's ``/v1/embeddings``
also takes ``encoding_format`` (``float`` or ``base64``: little-endian float32) and
gives ``usage``; token arrays as ``input`` are refused: their ids belong to the
client's tokenizer (tiktoken), which Sabio does not have.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sabio.errors import SabioError
from sabio.models import EmbeddingModel, estimate_tokens
from sabio.server import roles
from sabio.server.ollama_answers import translated
from sabio.server.ollama_api import (
    EMBEDDED_MODEL,
    EMBEDDER,
    check_caller,
    check_kb_model,
    kb_name,
    read_body,
    upstream_has_embedded,
)
from sabio.server.ollama_proxy import OllamaError, forward
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting

router = APIRouter(dependencies=[Depends(check_caller)], include_in_schema=False)


def install_embeddings_api(app: FastAPI) -> None:
    """The routes (errors and CORS headers come with :func:`.install_ollama_api`)."""
    app.include_router(router)


def is_embedder(model: str) -> bool:
    """Whether ``model`` names the embedded embedding model."""
    return model.removesuffix(":latest").lower() == EMBEDDER


@dataclass(frozen=True, slots=True)
class Embedded:
    """Texts embedded: one row each, and the tokens the model read (after truncation)."""

    rows: list[list[float]]
    tokens: int
    load_ns: int
    total_ns: int


async def local_embedder(request: Request, model: str) -> str | None:
    """The Sabio embedding model that answers ``model`` (module docstring), or None when
    it is Ollama's."""
    bare = model.removesuffix(":latest")
    services = services_of(request)
    if (name := kb_name(model)) is not None:
        await check_kb_model(request, name)
        kb = await run_in_threadpool(services.reader.find_kb, name)
        if kb is None:
            raise OllamaError(404, key="model_not_found", model=model)
        return kb.embedding_model
    if is_embedder(model):
        return EMBEDDER
    if bare == EMBEDDED_MODEL:
        if await upstream_has_embedded(request):  # another Sabio upstream: its own answer
            return None
        raise OllamaError(400, key="chat_has_no_embeddings", model=model, embedder=EMBEDDER)
    kbs = await run_waiting(roles.visible_kbs, request, services.reader.list_kbs())
    if bare in {kb.embedding_model for kb in kbs}:
        return bare
    if bare.startswith("embedded:"):
        raise OllamaError(
            404, key="embedded_not_found", model=model, embedder=EMBEDDER, chat=EMBEDDED_MODEL
        )
    return None


def texts_of(value: Any, *, openai: bool) -> list[str]:
    """The texts of an ``input`` (a string or a list of strings; an empty string is no
    text, as in Ollama)."""
    if isinstance(value, str):
        return [value] if value else []
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if openai and isinstance(value, list) and value and _token_array(value):
        raise OllamaError(400, key="no_token_arrays")
    raise OllamaError(400, key="input_type")


def _token_array(value: list[Any]) -> bool:
    return all(isinstance(v, int) for v in value) or all(
        isinstance(v, list) and all(isinstance(i, int) for i in v) for v in value
    )


def dimensions_of(body: dict[str, Any]) -> int | None:
    value = body.get("dimensions")
    if value in (None, 0):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OllamaError(400, key="dimensions_invalid")
    return value


def embed_texts(
    services: Services, name: str, texts: Sequence[str], truncate: bool, dimensions: int | None
) -> Embedded:
    """``texts`` embedded by the Sabio model ``name`` (blocking: call it from a thread)."""
    start = time.perf_counter_ns()
    try:
        model = services.reader.embedder(name)
        counts = [_count_tokens(model, text) for text in texts]
        loaded = time.perf_counter_ns()
        limit: int | None = getattr(model, "max_tokens", None)
        if limit and not truncate and any(count > limit for count in counts):
            longest = max(counts)
            raise OllamaError(400, key="input_too_long", longest=longest, model=name, limit=limit)
        vectors = model.embed(list(texts)) if texts else np.zeros((0, 0), np.float32)
    except SabioError as exc:
        raise translated(exc) from exc
    if dimensions is not None and dimensions < vectors.shape[1]:
        vectors = vectors[:, :dimensions]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    tokens = sum(min(count, limit) if limit else count for count in counts)
    end = time.perf_counter_ns()
    return Embedded(vectors.astype(np.float32).tolist(), tokens, loaded - start, end - start)


def _count_tokens(model: EmbeddingModel, text: str) -> int:
    counter = getattr(model, "count_tokens", None)
    return int(counter(text)) if callable(counter) else estimate_tokens(text)


async def _embedded(request: Request, name: str, body: dict[str, Any], texts: list[str]) -> Any:
    truncate = body.get("truncate", True) is not False
    dimensions = dimensions_of(body)
    return await run_waiting(embed_texts, services_of(request), name, texts, truncate, dimensions)


@dataclass(frozen=True, slots=True)
class _Local:
    """An embedding request for one of Sabio's own models: its body, the model as asked
    for, and the Sabio model that answers it."""

    body: dict[str, Any]
    model: str
    name: str


async def _local_or_forward(request: Request, path: str, *keys: str) -> _Local | Response:
    """The request at ``path`` (its model named by the first of ``keys`` given) for a
    Sabio model, or Ollama's response to it forwarded for any other model."""
    raw, body = await read_body(request)
    model = next((str(body[key]) for key in keys if body.get(key)), "")
    if not model:
        raise OllamaError(400, key="model_required")
    name = await local_embedder(request, model)
    if name is None:
        return await forward(request, path, raw)
    return _Local(body, model, name)


@router.post("/api/embed")
async def embed(request: Request) -> Response:
    local = await _local_or_forward(request, "/api/embed", "model")
    if isinstance(local, Response):
        return local
    texts = texts_of(local.body.get("input"), openai=False)
    done: Embedded = await _embedded(request, local.name, local.body, texts)
    return JSONResponse(
        {
            "model": local.model,
            "embeddings": done.rows,
            "total_duration": done.total_ns,
            "load_duration": done.load_ns,
            "prompt_eval_count": done.tokens,
        }
    )


@router.post("/api/embeddings")
async def embeddings(request: Request) -> Response:
    """The legacy route: one ``prompt``, one ``embedding``."""
    local = await _local_or_forward(request, "/api/embeddings", "model", "name")
    if isinstance(local, Response):
        return local
    prompt = local.body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise OllamaError(400, key="prompt_not_string")
    done: Embedded = await _embedded(request, local.name, local.body, [prompt] if prompt else [])
    return JSONResponse({"embedding": done.rows[0] if done.rows else []})


@router.post("/v1/embeddings")
async def openai_embeddings(request: Request) -> Response:
    local = await _local_or_forward(request, "/v1/embeddings", "model")
    if isinstance(local, Response):
        return local
    encoding = local.body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise OllamaError(400, key="encoding_invalid")
    texts = texts_of(local.body.get("input"), openai=True)
    if not texts:
        raise OllamaError(400, key="input_empty")
    done: Embedded = await _embedded(request, local.name, local.body, texts)
    data = [
        {"object": "embedding", "embedding": _encoded(row, encoding), "index": index}
        for index, row in enumerate(done.rows)
    ]
    usage = {"prompt_tokens": done.tokens, "total_tokens": done.tokens}
    return JSONResponse({"object": "list", "data": data, "model": local.model, "usage": usage})


def _encoded(row: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return row
    return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")
