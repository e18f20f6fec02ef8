"""The OpenAI API on Sabio's port (``/v1/...``), as Ollama serves it, over the same models.

Clients made for OpenAI (the ``openai`` libraries, n8n's OpenAI node, Open WebUI's OpenAI
connections) set their base URL to ``http://127.0.0.1:11435/v1`` and see what the Ollama
API shows (:mod:`.ollama_api`): one model per knowledge base, ``kb/<name>``, Sabio's
embedded model, and Ollama's own models.

- ``GET /v1/models``: the knowledge bases, the embedded model, then what Ollama's
  ``/v1/models`` lists (nothing when it is down).
- ``POST /v1/chat/completions`` to a knowledge base (or the embedded model) runs the same
  answer as ``/api/chat`` (:mod:`.ollama_answers`: history, the sources footer, Open
  WebUI's tasks) and sends its lines in OpenAI's shape: one ``chat.completion`` with
  ``usage``, or with ``"stream": true`` server-sent events, ``chat.completion.chunk``
  objects (``role`` in the first, then the text, then an empty delta with
  ``finish_reason``), ``data: [DONE]`` last.
- ``/v1/embeddings`` is :mod:`.embeddings_api`'s: Sabio's embedders answer there.
- Every other model, and ``/v1/completions``, go to Ollama's ``/v1/...`` unchanged
  (:mod:`.ollama_proxy`).
- Errors are OpenAI's, ``{"error": {"message", "type", "param", "code"}}``
  (:func:`.origins.error_body`); accounts and browser origins as for the Ollama API.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sabio.server import roles
from sabio.server.ollama_answers import kb_lines, streamed_reply, whole_reply
from sabio.server.ollama_api import (
    EMBEDDED_MODEL,
    EMBEDDER,
    KB_PREFIX,
    check_caller,
    check_kb_model,
    embedded_installed,
    embedder_installed,
    is_sabio_model,
    kb_name,
    pass_through,
    read_body,
    sabio_request,
)
from sabio.server.ollama_proxy import OllamaError, fetch_json, forward
from sabio.server.services import services_of
from sabio.server.threads import run_waiting

EVENT_STREAM = "text/event-stream"
OWNER = "sabio"

router = APIRouter(prefix="/v1", dependencies=[Depends(check_caller)], include_in_schema=False)


def install_openai_api(app: FastAPI) -> None:
    """The routes (their errors and CORS headers come with :func:`.install_ollama_api`)."""
    app.include_router(router)


def _entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": int(time.time()), "owned_by": OWNER}


@router.get("/models")
async def models(request: Request) -> dict[str, Any]:
    services = services_of(request)
    got = await fetch_json(request, "GET", "/v1/models")
    listed = got[1].get("data") if got and got[0] == 200 and isinstance(got[1], dict) else None
    upstream = [m for m in listed or [] if isinstance(m, dict)]
    kbs = await run_waiting(roles.visible_kbs, request, services.reader.list_kbs())
    own = [_entry(f"{KB_PREFIX}{kb.slug}") for kb in kbs]
    ids = {m.get("id") for m in upstream}
    for name, installed in ((EMBEDDER, embedder_installed), (EMBEDDED_MODEL, embedded_installed)):
        if installed() and name not in ids:
            own.append(_entry(name))
    return {"object": "list", "data": own + upstream}


@router.get("/models/{model:path}")
async def model(request: Request, model: str) -> Response:
    services = services_of(request)
    name = kb_name(model)
    if model.removesuffix(":latest") == EMBEDDER and embedder_installed():
        return JSONResponse(_entry(EMBEDDER))
    if name is None and not await is_sabio_model(request, model):
        return await forward(request, f"/v1/models/{model}", b"")
    if name is None:
        return JSONResponse(_entry(EMBEDDED_MODEL))
    await check_kb_model(request, name)
    if await run_in_threadpool(services.reader.find_kb, name) is None:
        raise OllamaError(404, key="model_not_found", model=model)
    return JSONResponse(_entry(f"{KB_PREFIX}{name}"))


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    raw, body = await read_body(request)
    services = services_of(request)
    model = str(body.get("model") or "")
    if not model:
        raise OllamaError(400, key="model_required")
    if not await is_sabio_model(request, model):
        return await forward(request, "/v1/chat/completions", raw)
    if (name := kb_name(model)) is not None:
        await check_kb_model(request, name)
    asked = sabio_request(model, body, chat=True)
    if asked is None:
        raise OllamaError(400, key="messages_end_with_question")
    lines = kb_lines(services, asked)
    options = body.get("stream_options")
    usage = isinstance(options, dict) and options.get("include_usage") is True
    completion = Completion(model, include_usage=usage)
    if body.get("stream") is True:  # OpenAI's default is one whole answer
        return await streamed_reply(
            lines,
            request.headers.get("accept-language", ""),
            completion.chunk,
            media_type=EVENT_STREAM,
            headers=asked.id_headers,
            at_once=asked.at_once,
        )
    whole = completion.whole(await whole_reply(lines, chat=True))
    return JSONResponse(whole, headers=asked.id_headers)


@router.post("/completions")
async def completions(request: Request) -> Response:
    return await pass_through(request, "/v1/completions", refusal="kb_chats_only")


class Completion:
    """One chat completion: Ollama's lines (:mod:`.ollama_answers`) as OpenAI writes them."""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = f"chatcmpl-{secrets.token_hex(8)}"
        self.created = int(time.time())  # one value for the whole stream
        self.started = False

    def whole(self, done: dict[str, Any]) -> dict[str, Any]:
        """The done line of a whole answer (``whole_reply``) as one ``chat.completion``."""
        message = {"role": "assistant", "content": done["message"]["content"]}
        choice = {"index": 0, "message": message, "finish_reason": _finish(done)}
        given = {"sabio_answer": done["sabio_answer"]} if "sabio_answer" in done else {}
        return self._object("chat.completion", [choice]) | {"usage": _usage(done)} | given

    def chunk(self, line: dict[str, Any]) -> bytes:
        """An Ollama line as server-sent events; the done line also ends the stream."""
        if "error" in line:
            error = {"message": str(line["error"]), "type": "api_error", "param": None}
            return _event({"error": error | {"code": None}})
        events = []
        if not self.started:
            self.started = True
            events.append(self._delta({"role": "assistant", "content": ""}))
        if not line.get("done"):
            return b"".join([*events, self._delta({"content": line["message"]["content"]})])
        events.append(self._delta({}, _finish(line)))
        if self.include_usage:
            usage = {"usage": _usage(line)}
            events.append(_event(self._object("chat.completion.chunk", []) | usage))
        return b"".join([*events, b"data: [DONE]\n\n"])

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _event(self._object("chat.completion.chunk", [choice]))

    def _object(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_sabio",
            "choices": choices,
        }


def _finish(done: dict[str, Any]) -> str:
    return str(done.get("done_reason") or "stop")


def _usage(done: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(done.get("prompt_eval_count", 0)), int(done.get("eval_count", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _event(data: dict[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
