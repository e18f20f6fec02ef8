"""The web app: static files from ``sabio/web/static`` (no build step), served at ``/``.

The page is a client of the REST API like any other. It is served with a strict
Content-Security-Policy (scripts, styles and requests only from Sabio itself; no inline
script, no framing), so that text from documents or models can never run as code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sabio.server.ollama_api import probe

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)


def install_web(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        probed = await probe(request)  # with accounts on, Ollama clients probe "/" too
        if probed is not None:
            return probed
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """ASGI middleware (not ``BaseHTTPMiddleware``, which costs a task per request): no
    type sniffing, no referrer, no framing on every response; static files revalidated so
    that an upgrade shows at once."""

    HEADERS = (
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS:
                    headers.setdefault(name, value)
                if static:
                    headers["cache-control"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)
