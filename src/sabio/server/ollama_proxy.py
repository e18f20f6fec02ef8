"""Passing Ollama API requests through to the real Ollama (``ollama_host``), byte for byte.

Every model that is not a knowledge base is Ollama's: its request goes upstream with the
client's body and headers, less those that are only for Sabio or only for this hop
(``Host`` and ``Origin``, which Ollama checks and would refuse from a foreign page; the
client's ``Authorization`` and cookies, which are Sabio's credentials), and the answer
streams back as it arrives, status, headers and body unchanged. An unreachable Ollama is
502 with ``{"error": ...}`` naming the address; a stream that breaks midway ends with one
``{"error": ...}`` line, as Ollama itself ends a failed stream.

:class:`OllamaError` is the error of the whole Ollama-compatible API (:mod:`.ollama_api`,
:mod:`.openai_api`): a status with ``{"error": "<message>"}``, or on the OpenAI-compatible
``/v1/`` routes OpenAI's ``{"error": {"message", "type", "param", "code"}}``
(:func:`.origins.error_body`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from sabio.config import Settings
from sabio.connections import async_model_client
from sabio.server.api_messages import english, reader_language, said
from sabio.server.services import services_of

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "origin",
    "referer",
    "content-length",
    "authorization",
    "cookie",
}
"""Request headers that stay here (module docstring); httpx sets Host and the length."""
NOT_RETURNED = HOP_BY_HOP | {"date", "server"}
"""Response headers uvicorn writes itself."""
PROBE_TIMEOUT = httpx.Timeout(3.0, connect=1.0)
"""For lists and versions: a local Ollama answers them in milliseconds."""
NDJSON = "application/x-ndjson"


class OllamaError(Exception):
    """An error of the Ollama-compatible API: ``status`` and ``{"error": message}``.
    ``key`` names the message in :data:`.api_messages.MESSAGES` (then ``message`` may be
    left out: it is the English there) or a Sabio error's key, ``args`` the values it
    names; the client reads it in its language (:func:`.api_messages.said`)."""

    def __init__(self, status: int, message: str = "", *, key: str | None = None, **args: Any):
        message = message or english(key or "", args)
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
        self.args_for_key = args

    def said(self, accept_language: str) -> str:
        """The message in the language ``accept_language`` prefers."""
        return said(self.message, self.key, self.args_for_key, reader_language(accept_language))


def unreachable(settings: Settings) -> OllamaError:
    return OllamaError(502, key="upstream_unreachable", host=settings.ollama_host)


def upstream_client() -> httpx.AsyncClient:
    """The one client for Ollama, made when the app starts and closed when it stops
    (:func:`sabio.server.create_app`), its connections kept alive: a new client for each
    request added 40 ms to each (its TLS context; ``bench/proxy.py``)."""
    return async_model_client(timeout=PROBE_TIMEOUT)  # no proxy from the environment


def _upstream(request: Request) -> tuple[httpx.AsyncClient, Settings]:
    client = request.app.state.upstream_client
    assert isinstance(client, httpx.AsyncClient)
    return client, services_of(request).settings


def _url(settings: Settings, path: str) -> str:
    return settings.ollama_host.rstrip("/") + path


async def fetch_json(
    request: Request, method: str, path: str, payload: dict[str, Any] | None = None
) -> tuple[int, Any] | None:
    """Ollama's status and JSON answer to a short request (for ``request``, from the
    app's client and settings); None when Ollama is not there or did not answer with
    JSON."""
    client, settings = _upstream(request)
    try:
        response = await client.request(method, _url(settings, path), json=payload)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return None


async def forward(request: Request, path: str, body: bytes) -> StreamingResponse:
    """``request`` (whose ``body`` was already read) sent on to Ollama's ``path``; its
    answer streamed back (module docstring)."""
    headers = [
        (name, value)
        for name, value in request.headers.raw
        if name.decode("latin-1").lower() not in NOT_FORWARDED
    ]
    client, settings = _upstream(request)
    try:
        upstream = client.build_request(
            request.method,
            _url(settings, path),
            params=str(request.query_params),
            headers=headers,
            content=body,
            # Reading a model's answer may pause for minutes (loading, a long pull).
            timeout=httpx.Timeout(settings.timeout, read=None),
        )
        response = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        raise unreachable(settings) from exc

    async def close() -> None:
        await response.aclose()

    ndjson = response.headers.get("content-type", "").startswith(NDJSON)
    returned = StreamingResponse(
        _relay(response, settings, ndjson),
        status_code=response.status_code,
        background=BackgroundTask(close),
    )
    returned.raw_headers = [
        (name.lower(), value)
        for name, value in response.headers.raw
        if name.decode("latin-1").lower() not in NOT_RETURNED
    ]
    return returned


async def _relay(
    response: httpx.Response, settings: Settings, ndjson: bool
) -> AsyncIterator[bytes]:
    ended_line = True
    try:
        async for chunk in response.aiter_raw():
            if chunk:
                ended_line = chunk.endswith(b"\n")
                yield chunk
    except httpx.HTTPError as exc:
        if ndjson:  # as Ollama ends a failed stream: one error line
            message = f"lost the connection to Ollama at {settings.ollama_host}: {exc}"
            line = json.dumps({"error": message}).encode() + b"\n"
            yield line if ended_line else b"\n" + line
    finally:
        await response.aclose()
