"""Which web pages may call the Ollama-compatible API (``/api/chat``, ``/api/tags``…, and
its OpenAI-compatible ``/v1/...``) from a browser, and the CORS headers that tell the
browser so.

Ollama's own rule (its ``OLLAMA_ORIGINS``, see shared/reference/ollama-api.md §1.8) with
browser extensions added: extensions such as Page Assist send ``Origin:
chrome-extension://<id>`` (or ``moz-extension://``, ``safari-web-extension://``) when
their automatic origin fix is off, and Ollama users have to configure that by hand. So
these origins are taken:

- pages on this computer: ``http(s)://localhost``, ``127.0.0.1``, ``[::1]``, ``0.0.0.0``,
  any port;
- browser extensions; desktop apps' own schemes (``app://``, ``file://``, ``tauri://``,
  ``vscode-webview://``, ``vscode-file://``).

- what the ``allowed_origins`` setting adds (comma-separated patterns, ``*`` standing
  for anything, as in ``OLLAMA_ORIGINS``).

Any other page is refused (403, whatever the method), and its preflight gets no CORS
headers. Sabio's own pages are same-origin and need none of this. The REST API under
``/api/v1`` keeps its stricter same-origin rule.
"""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sabio.server.api_messages import say

OLLAMA_PREFIX = "/api/"
OPENAI_PREFIX = "/v1/"
REST_PREFIX = "/api/v1"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
APP_SCHEMES = frozenset(
    {
        "chrome-extension",
        "moz-extension",
        "safari-web-extension",
        "app",
        "file",
        "tauri",
        "vscode-webview",
        "vscode-file",
    }
)
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Beta, "
    "x-stainless-arch, x-stainless-async, x-stainless-custom-poll-interval, "
    "x-stainless-helper-method, x-stainless-lang, x-stainless-os, "
    "x-stainless-package-version, x-stainless-poll-helper, x-stainless-retry-count, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"
)
EXTENSION_SCHEMES = frozenset({"chrome-extension", "moz-extension", "safari-web-extension"})
EXTENSION_PREFIX = "/api/v1/extension/"
PREFLIGHT_MAX_AGE = "43200"  # seconds, as Ollama's gin-contrib/cors default (12 hours)


def is_ollama_path(path: str) -> bool:
    """Whether ``path`` belongs to the Ollama-compatible API: ``/api/...`` but not
    ``/api/v1``, and the OpenAI-compatible ``/v1/...`` that Ollama serves too."""
    return is_openai_path(path) or (
        path.startswith(OLLAMA_PREFIX)
        and not (path == REST_PREFIX or path.startswith(f"{REST_PREFIX}/"))
    )


OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error"}
OPENAI_ERROR_TYPES |= {404: "not_found_error"}
"""OpenAI's error ``type`` by status, as Ollama's /v1 gives it; any other: ``api_error``."""


def is_openai_path(path: str) -> bool:
    """Whether ``path`` belongs to the OpenAI-compatible API (``/v1/...``)."""
    return path.startswith(OPENAI_PREFIX)


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """The error as the API at ``path`` gives it (module docstring)."""
    if not is_openai_path(path):
        return {"error": message}
    kind = OPENAI_ERROR_TYPES.get(status, "api_error")
    code = "invalid_api_key" if status == 401 else None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def is_allowed_origin(origin: str, extra: str = "") -> bool:
    """Whether a page with this ``Origin`` may call the Ollama API (module docstring);
    ``extra`` is the ``allowed_origins`` setting."""
    patterns = [p.strip().lower() for p in extra.split(",") if p.strip()]
    if any(fnmatch.fnmatchcase(origin.lower(), pattern) for pattern in patterns):
        return True
    parts = urlsplit(origin)
    scheme = parts.scheme.lower()
    if scheme in APP_SCHEMES:
        return True
    if scheme not in ("http", "https"):
        return False
    try:
        parts.port  # noqa: B018 - a malformed port raises
    except ValueError:
        return False
    return (parts.hostname or "").lower() in LOCAL_HOSTS


def _extra(scope: Scope) -> str:
    """The ``allowed_origins`` setting of the running app."""
    services: Any = getattr(scope["app"].state, "services", None)
    return str(services.settings.allowed_origins) if services is not None else ""


def _same_origin(origin: str, headers: Headers) -> bool:
    """Whether the page is Sabio's own (its origin is the address the request names)."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == (
        headers.get("host", "").lower()
    )


async def _refuse(origin: str, scope: Scope, receive: Receive, send: Send) -> None:
    """403 in the error shape of the API (Ollama's; OpenAI's on ``/v1/``)."""
    accept_language = Headers(scope=scope).get("accept-language", "")
    body = error_body(scope["path"], 403, say("origin_refused", accept_language, origin=origin))
    await JSONResponse(body, status_code=403)(scope, receive, send)


class OllamaCors:
    """ASGI middleware: CORS for the Ollama API. An allowed origin gets
    ``Access-Control-Allow-Origin`` on every answer (errors too, so the page can read
    them), and its preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is
    answered here; a refused origin's preflight gets 403, as from Ollama."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # "/" too: Ollama clients probe it (HEAD, and GET with accounts on: ollama_api.probe)
        if scope["type"] != "http" or not (scope["path"] == "/" or is_ollama_path(scope["path"])):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and is_allowed_origin(origin, _extra(scope))
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if preflight:
            response = PlainTextResponse("", status_code=204 if allowed else 403)
            if allowed and origin is not None:
                response.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": ALLOW_METHODS,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                        "Vary": "Origin",
                    }
                )
            await response(scope, receive, send)
            return
        foreign = origin is not None and not allowed and not _same_origin(origin, headers)
        if foreign and origin is not None and scope["path"] != "/":
            await _refuse(origin, scope, receive, send)
            return
        if not allowed or origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)


def is_extension_origin(origin: str) -> bool:
    """Whether ``origin`` is a browser extension's page (Sabio's extension's side panel)."""
    return urlsplit(origin).scheme.lower() in EXTENSION_SCHEMES


def is_extension_path(path: str) -> bool:
    """Whether ``path`` is one of the routes for Sabio's browser extension."""
    return path.startswith(EXTENSION_PREFIX)


EXTENSION_READS = frozenset({f"{REST_PREFIX}/{p}" for p in ("health", "auth/status", "kbs")})
"""Besides its own routes, what the extension reads: whether Sabio is there, whether it
needs pairing, and the knowledge bases to pick from."""


class ExtensionCors:
    """ASGI middleware: CORS for browser extensions' pages on the REST routes the
    extension uses (:mod:`.extension_api` and :data:`EXTENSION_READS`), and for them only:
    any other origin gets no CORS headers there (and :mod:`.access` refuses its changes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        origin = Headers(scope=scope).get("origin") if path else None
        wanted = is_extension_path(path) or path in EXTENSION_READS
        if origin is None or not wanted or not is_extension_origin(origin):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            response = PlainTextResponse("", status_code=204)
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                    "Vary": "Origin",
                }
            )
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)
