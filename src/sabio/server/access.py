"""Who may call what: the checks every ``/api/`` and ``/v1/`` request passes before it is
routed.

Two modes, by the ``auth`` setting:

- *Local* (auth off, the default): one user, no login, the server on this computer only.
  No web page elsewhere may use it through the browser: the ``Host`` header must name
  this computer (``127.0.0.1``, ``localhost``, ``[::1]``), which defeats DNS rebinding,
  and a change (POST, PUT, PATCH, DELETE) that carries an ``Origin`` must come from the
  same origin, which stops cross-site forms and fetches. Programs, which send no
  ``Origin`` (curl, scripts), pass.
  The Ollama API (``/api/chat``…, :mod:`.ollama_api`; and the OpenAI API, ``/v1/...``,
  :mod:`.openai_api`) also takes changes from browser
  extensions and pages on this computer, as Ollama does (:mod:`.origins`).
- *Accounts* (auth on): every ``/api/v1`` route but :data:`OPEN` needs a user, signed in
  by the session cookie or by an API token (``Authorization: Bearer sabio_…``), else 401.
  A change signed in by the cookie must carry the session's CSRF token in
  ``X-CSRF-Token`` (a browser sends cookies by itself; a token is sent on purpose, so it
  needs none); login and setup, which have no session yet, refuse a foreign ``Origin``.
  A token the browser extension got by pairing (scope ``extension``) is good for its
  routes only (:mod:`.extension_api`, and reading the knowledge bases' list).
  What each role may do then is :mod:`.roles`' part, route by route.

The web app's page and files (``/``, ``/static``) are served in every mode: the page
itself asks to sign in. :func:`authenticate` is the one place credentials are read; other
routers (the Ollama and OpenAI compatible ones) call it too.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import re
import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from sabio.errors import AuthError, CSRFError, ForbiddenError, SabioError
from sabio.server.api_messages import reader_language, said
from sabio.server.errors import auth_challenge, sabio_error_body, sabio_error_status
from sabio.server.origins import (
    EXTENSION_READS,
    error_body,
    is_allowed_origin,
    is_extension_origin,
    is_extension_path,
    is_ollama_path,
    is_openai_path,
)
from sabio.server.services import Services, services_of
from sabio.store import ApiToken, Session, User
from sabio.store.users import EXTENSION_SCOPE

API = "/api/v1"
SESSION_COOKIE = "sabio_session"
CSRF_HEADER = "X-CSRF-Token"
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN = frozenset(
    f"{API}/{p}" for p in ("health", "auth/status", "auth/setup", "auth/login", "extension/pair")
)
"""Routes that need no user (with accounts on)."""
WEBHOOK = re.compile(rf"{API}/sources/\d+/webhook")
"""Webhooks check their own token instead of a user (:mod:`sabio.sources.webhook`)."""
SIGN_IN = frozenset({f"{API}/auth/setup", f"{API}/auth/login"})
TOKEN_TOUCH_SECONDS = 60.0
"""An API token's ``last_used_at`` is written at most this often."""
DEFAULT_PORTS = {"http": 80, "https": 443}

SIGN_IN_FIRST = (
    "sign in first: log in on Sabio's page, or send an API token as "
    "`Authorization: Bearer sabio_…` (create one in the web app or with POST "
    "/api/v1/auth/tokens)"
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request: ``session`` is the browser's sign-in; None for an API token."""

    user: User
    session: Session | None


class AccessGuard:
    """ASGI middleware: :func:`check_access` for every ``/api/`` request, which is
    answered with the JSON error shape when it fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith("/api/") or is_openai_path(path):
            request = Request(scope)
            try:
                if services_of(request).settings.auth:
                    await run_in_threadpool(check_access, request)  # reads the database
                else:
                    check_access(request)
            except SabioError as exc:
                status = sabio_error_status(exc)[0]
                headers = auth_challenge(status)
                if is_ollama_path(path):  # Ollama's shape, or OpenAI's on /v1/
                    language = reader_language(request.headers.get("accept-language", ""))
                    message = said(str(exc), exc.key, exc.args_for_key, language)
                    response = JSONResponse(error_body(path, status, message), status, headers)
                else:
                    response = JSONResponse(sabio_error_body(exc), status, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def check_access(request: Request) -> None:
    """Raise unless ``request`` may go on (see the module docstring). With accounts on it
    reads the database: call it from a thread."""
    method, path = request.method, request.scope["path"].rstrip("/")
    if not services_of(request).settings.auth:
        host = request.headers.get("host", "")
        if not _names_this_computer(host):
            raise ForbiddenError(
                f"this server answers at 127.0.0.1 or localhost only, not at {host!r}; to use "
                "it from other devices start it with `sabio serve --auth --host 0.0.0.0`",
                key="local_only",
                host=host,
            )
        origin = request.headers.get("origin")
        if (
            method in CHANGES
            and not (
                is_ollama_path(path)
                and origin is not None
                and is_allowed_origin(origin, services_of(request).settings.allowed_origins)
            )
            and not (  # the Ollama API also takes browser extensions and local pages
                origin is not None and is_extension_path(path) and is_extension_origin(origin)
            )
        ):  # and the extension's routes take extensions (origins.py)
            _check_same_origin(request)
        return
    if path in SIGN_IN:
        _check_same_origin(request)
    if path in OPEN or not path.startswith(f"{API}/") or WEBHOOK.fullmatch(path):
        return
    if authenticate(request) is None:
        raise AuthError(SIGN_IN_FIRST, key="sign_in_first")


def authenticate(request: Request) -> User | None:
    """The user whose API token (``Authorization: Bearer sabio_…``) or session cookie
    comes with ``request``; None when neither does, it is unknown, revoked or expired, or
    accounts are off. A change (POST, PUT, PATCH, DELETE) signed in by the cookie must
    carry the session's CSRF token: :class:`CSRFError` otherwise. Blocking (it reads the
    database): call it from a sync route or the thread pool."""
    identity = identify(request)
    return identity.user if identity else None


def identify(request: Request) -> Identity | None:
    """As :func:`authenticate`, with the session it came by; kept for the request."""
    known = getattr(request.state, "sabio_identity", _NOT_YET)
    if known is not _NOT_YET:
        assert known is None or isinstance(known, Identity)
        return known
    identity = _identify(request)
    request.state.sabio_identity = identity
    return identity


def current_user_id(request: Request) -> int | None:
    """For routes over what belongs to a user (chats): the signed-in user's id (AuthError
    without one), or None in local mode, the single local user's."""
    user = authenticate(request)
    if user is None and services_of(request).settings.auth:
        raise AuthError(SIGN_IN_FIRST, key="sign_in_first")
    return user.id if user else None


def from_this_computer(request: Request) -> bool:
    """Whether the request comes straight from this computer (not through a proxy on it)
    and is addressed to it."""
    client = request.client
    forwarded = any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))
    return (
        client is not None
        and not forwarded
        and _is_loopback(client.host)
        and _names_this_computer(request.headers.get("host", ""))
    )


def _identify(request: Request) -> Identity | None:
    services = services_of(request)
    if not services.settings.auth:
        return None
    users = services.reader.users
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found = users.find_token(credentials.strip())
        if found is None:
            return None
        if found[1].scope == EXTENSION_SCOPE and not _extension_may(request):
            raise ForbiddenError(
                f"this token is the browser extension's, for its routes only, not for "
                f"{request.method} {request.url.path}: create an API token for scripts in "
                "the web app",
                key="token_scope",
            )
        _note_use(services, found[1])
        return Identity(found[0], None)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = users.find_session(cookie) if cookie else None
    if session is None:
        return None
    sent = request.headers.get(CSRF_HEADER, "").encode()
    if request.method in CHANGES and not hmac.compare_digest(sent, session.csrf_token.encode()):
        raise CSRFError(
            f"missing or wrong {CSRF_HEADER} header: a change made with the session cookie "
            f"must send the csrf_token that GET {API}/auth/status gives",
            key="csrf",
        )
    return Identity(session.user, session)


def _extension_may(request: Request) -> bool:
    """Whether a token of the extension's scope may be used for ``request``."""
    path = request.scope["path"].rstrip("/")
    return is_extension_path(path) or (request.method == "GET" and path in EXTENSION_READS)


def _note_use(services: Services, token: ApiToken) -> None:
    """Record the token's use, at most once a minute, and never waiting for the writer."""
    if token.last_used_at is not None and time.time() - token.last_used_at < TOKEN_TOUCH_SECONDS:
        return
    with services.writing_if_free() as writer, contextlib.suppress(sqlite3.OperationalError):
        if writer is not None:  # bookkeeping: a read-only data directory does not stop it
            writer.users.touch_token(token.id)


def _check_same_origin(request: Request) -> None:
    """A browser names the page that sent a request in ``Origin``: it must be this server."""
    origin = request.headers.get("origin")
    if origin is None or _same_origin(origin, request.headers.get("host", "")):
        return
    raise ForbiddenError(
        f"refused a request sent by another site ({origin}): Sabio takes changes from its "
        "own pages, and from programs (which send no Origin header)",
        key="foreign_origin",
        origin=origin,
    )


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    where = _split_host(host)
    if parts.scheme not in DEFAULT_PORTS or where is None:
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    default = DEFAULT_PORTS[parts.scheme]
    return parts.hostname == where[0] and (port or default) == (where[1] or default)


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:/@\s]+)(?::(\d{1,5}))?")


def _split_host(host: str) -> tuple[str, int | None] | None:
    """A ``Host`` header, ``name[:port]`` or ``[v6][:port]``, as (name, port); None when it
    is neither."""
    match = _HOST.fullmatch(host)
    if match is None:
        return None
    return match[1].strip("[]").lower(), int(match[2]) if match[2] else None


def _names_this_computer(host: str) -> bool:
    where = _split_host(host)
    return where is not None and _is_loopback(where[0])


def _is_loopback(name: str) -> bool:
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


_NOT_YET = object()
