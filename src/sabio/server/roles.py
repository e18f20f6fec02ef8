"""Who may do what, route by route, when the server requires login (the ``auth`` setting).

Two roles. *Admins* manage everything: knowledge bases (create, re-index, delete, who
may use them), sources, accounts and settings, and every knowledge base is theirs to
read and write. *Members* get, per knowledge base, ``read`` (ask, search, open its
documents and passages, see its sources) or ``write`` (also upload and remove
documents), or nothing: a knowledge base they were not given is not listed to them and
answers 403. Each has their own chats and API tokens. Without accounts (the single user
of this computer) every route is open to that user, as before.

:data:`RULES` names the rule of every route (a test fails for a route without one, and
tries each route with each role's token). :func:`enforce`, a dependency of every route,
applies it after :class:`.access.AccessGuard` has checked who is signed in; a route
missing from the table is for admins only. Rules that depend on a request's body or on
what a list holds (a chat's knowledge base, a ``kb/`` model, the lists) are applied by
the routes, through :func:`require_kb`, :func:`kb_access` and :func:`visible_kbs`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from sabio.errors import AuthError, ForbiddenError, NotFoundError, SabioError
from sabio.server.access import SIGN_IN_FIRST, authenticate
from sabio.server.errors import sabio_error_status
from sabio.server.ollama_proxy import OllamaError
from sabio.server.origins import is_ollama_path
from sabio.server.services import services_of
from sabio.store import KnowledgeBase, User


class Need(enum.Enum):
    OPEN = "no sign-in needed"
    WEBHOOK = "the webhook's own token, or an admin"
    USER = "anyone signed in; lists hold only the knowledge bases they may read"
    CHAT = "the user's own chat; asking needs read access to its knowledge base"
    MODEL = "anyone signed in; a kb/ model needs read access to its knowledge base"
    READ = "read access to the knowledge base the route names"
    WRITE = "write access to the knowledge base the route names"
    ADMIN = "an admin"


OLLAMA_MODEL_CHANGES = frozenset(
    {"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"}
)
"""Ollama's routes that change its models, passed through to it: admins only, as
``POST /api/v1/models/pull``."""

MANAGE = "manage"
"""The access of an admin (and of the single local user): everything."""
LEVELS = {"read": 1, "write": 2, MANAGE: 3}

API = "/api/v1"
OPEN, USER, CHAT, MODEL = Need.OPEN, Need.USER, Need.CHAT, Need.MODEL
READ, WRITE, ADMIN = Need.READ, Need.WRITE, Need.ADMIN
RULES: dict[tuple[str, str], Need] = {
    # the web app, the API's description, Ollama's liveness probe
    ("GET", "/"): OPEN,
    ("HEAD", "/"): OPEN,
    ("GET", "/static/{path}"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("HEAD", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/redoc"): OPEN,
    ("GET", "/docs-assets/{path}"): OPEN,
    # the server
    ("GET", f"{API}/health"): OPEN,
    ("GET", f"{API}/models"): USER,
    ("POST", f"{API}/models/pull"): ADMIN,
    ("GET", f"{API}/settings"): USER,
    ("GET", f"{API}/models/hosts"): ADMIN,
    ("PUT", f"{API}/settings"): ADMIN,
    # everything Sabio keeps: export, import, purge (server/data_api.py)
    ("GET", f"{API}/data"): ADMIN,
    ("POST", f"{API}/data/export"): ADMIN,
    ("GET", f"{API}/data/exports/{{token}}"): ADMIN,
    ("POST", f"{API}/data/import"): ADMIN,
    ("POST", f"{API}/data/purge"): ADMIN,
    # knowledge bases and their documents
    ("GET", f"{API}/kbs"): USER,
    ("POST", f"{API}/kbs"): ADMIN,
    ("GET", f"{API}/kbs/{{name}}"): READ,
    ("PATCH", f"{API}/kbs/{{name}}"): ADMIN,
    ("DELETE", f"{API}/kbs/{{name}}"): ADMIN,
    ("POST", f"{API}/kbs/{{name}}/reindex"): ADMIN,
    ("GET", f"{API}/kbs/{{name}}/members"): ADMIN,
    ("PUT", f"{API}/kbs/{{name}}/members/{{user_id}}"): ADMIN,
    ("DELETE", f"{API}/kbs/{{name}}/members/{{user_id}}"): ADMIN,
    ("GET", f"{API}/kbs/{{name}}/events"): READ,
    ("GET", f"{API}/kbs/{{name}}/documents"): READ,
    ("POST", f"{API}/kbs/{{name}}/documents"): WRITE,
    ("DELETE", f"{API}/kbs/{{name}}/documents/{{document_id}}"): WRITE,
    ("POST", f"{API}/kbs/{{name}}/documents/{{document_id}}/password"): WRITE,
    ("GET", f"{API}/kbs/{{name}}/documents/{{document_id}}/file"): READ,
    ("GET", f"{API}/kbs/{{name}}/documents/{{document_id}}/transcript"): READ,
    ("GET", f"{API}/kbs/{{name}}/passages/{{chunk_id}}"): READ,
    ("GET", f"{API}/kbs/{{name}}/search"): READ,
    ("GET", f"{API}/kbs/{{name}}/review"): READ,
    ("GET", f"{API}/kbs/{{name}}/report"): READ,
    ("POST", f"{API}/kbs/{{name}}/review/dismissals"): WRITE,
    ("DELETE", f"{API}/kbs/{{name}}/review/dismissals"): WRITE,
    ("POST", f"{API}/kbs/{{name}}/review/drops"): WRITE,
    ("GET", f"{API}/kbs/{{name}}/review/evidence"): READ,
    ("GET", f"{API}/kbs/{{name}}/review/summary"): READ,
    ("GET", f"{API}/kbs/{{name}}/review/alerts"): READ,
    ("POST", f"{API}/kbs/{{name}}/review/alerts/seen"): READ,
    ("POST", f"{API}/kbs/{{name}}/ask"): READ,
    ("GET", f"{API}/kbs/{{name}}/tasks"): READ,
    ("POST", f"{API}/kbs/{{name}}/tasks"): READ,
    ("GET", f"{API}/kbs/{{name}}/tasks/{{task_id}}"): READ,
    ("POST", f"{API}/kbs/{{name}}/tasks/{{task_id}}/cancel"): READ,
    ("GET", f"{API}/kbs/{{name}}/tasks/{{task_id}}/result"): READ,
    # chats
    ("GET", f"{API}/chats"): USER,
    ("POST", f"{API}/chats"): CHAT,
    ("GET", f"{API}/chats/{{chat_id}}"): CHAT,
    ("PATCH", f"{API}/chats/{{chat_id}}"): CHAT,
    ("DELETE", f"{API}/chats/{{chat_id}}"): CHAT,
    ("POST", f"{API}/chats/{{chat_id}}/messages"): CHAT,
    ("POST", f"{API}/chats/{{chat_id}}/regenerate"): CHAT,
    ("PUT", f"{API}/chats/{{chat_id}}/branch"): CHAT,
    ("POST", f"{API}/chats/{{chat_id}}/stop"): CHAT,
    ("GET", f"{API}/chats/{{chat_id}}/export"): CHAT,
    # feedback and notes (server/feedback_api.py)
    ("POST", f"{API}/chats/{{chat_id}}/messages/{{message_id}}/feedback"): CHAT,
    ("GET", f"{API}/chats/{{chat_id}}/messages/{{message_id}}/feedback"): CHAT,
    ("POST", f"{API}/kbs/{{name}}/feedback"): READ,
    ("POST", f"{API}/answers/{{answer_id}}/feedback"): USER,  # and read on the answer's kb
    ("GET", f"{API}/kbs/{{name}}/notes"): READ,
    ("PATCH", f"{API}/kbs/{{name}}/notes/{{note_id}}"): WRITE,
    ("DELETE", f"{API}/kbs/{{name}}/notes/{{note_id}}"): WRITE,
    ("GET", f"{API}/kbs/{{name}}/judged"): READ,
    ("GET", f"{API}/kbs/{{name}}/guide"): READ,
    ("PUT", f"{API}/kbs/{{name}}/guide"): WRITE,
    # accounts
    ("GET", f"{API}/auth/status"): OPEN,
    ("POST", f"{API}/auth/setup"): OPEN,
    ("POST", f"{API}/auth/login"): OPEN,
    ("POST", f"{API}/auth/logout"): USER,
    ("POST", f"{API}/auth/password"): USER,
    ("GET", f"{API}/auth/tokens"): USER,
    ("POST", f"{API}/auth/tokens"): USER,
    ("DELETE", f"{API}/auth/tokens/{{token_id}}"): USER,
    ("GET", f"{API}/auth/users"): ADMIN,
    ("POST", f"{API}/auth/users"): ADMIN,
    ("DELETE", f"{API}/auth/users/{{user_id}}"): ADMIN,
    # sources and jobs
    ("GET", f"{API}/sources"): USER,
    ("GET", f"{API}/source-kinds"): USER,
    ("POST", f"{API}/sources"): ADMIN,
    ("GET", f"{API}/sources/{{source_id}}"): READ,
    ("POST", f"{API}/sources/{{source_id}}/sync"): ADMIN,
    ("DELETE", f"{API}/sources/{{source_id}}"): ADMIN,
    ("POST", f"{API}/sources/{{source_id}}/webhook"): Need.WEBHOOK,
    ("GET", f"{API}/jobs"): ADMIN,
    # Sabio's browser extension (server/extension_api.py); a page asked about with a
    # knowledge base needs read access to it, checked by the route
    ("POST", f"{API}/extension/pages"): USER,
    ("POST", f"{API}/extension/pages/file"): USER,
    ("POST", f"{API}/extension/pages/{{page_id}}/ask"): USER,
    ("POST", f"{API}/extension/pages/{{page_id}}/summarize"): USER,
    ("POST", f"{API}/extension/pages/{{page_id}}/translate"): USER,
    ("POST", f"{API}/extension/kbs/{{name}}/pages"): WRITE,
    ("POST", f"{API}/extension/pairing"): USER,
    ("POST", f"{API}/extension/pair"): OPEN,
    # the Ollama API: model management through it is for admins
    ("GET", "/api/version"): USER,
    ("HEAD", "/api/version"): USER,
    ("GET", "/api/tags"): USER,
    ("HEAD", "/api/tags"): USER,
    ("GET", "/api/ps"): USER,
    ("POST", "/api/show"): MODEL,
    ("POST", "/api/chat"): MODEL,
    ("POST", "/api/generate"): MODEL,
    ("POST", "/api/embed"): USER,
    ("POST", "/api/embeddings"): USER,
    ("POST", "/api/pull"): ADMIN,
    ("POST", "/api/push"): ADMIN,
    ("POST", "/api/create"): ADMIN,
    ("POST", "/api/copy"): ADMIN,
    ("DELETE", "/api/delete"): ADMIN,
    # the OpenAI API
    ("GET", "/v1/models"): USER,
    ("GET", "/v1/models/{model:path}"): MODEL,
    ("POST", "/v1/chat/completions"): MODEL,
    ("POST", "/v1/completions"): USER,
    ("POST", "/v1/embeddings"): USER,
}
"""(method, route path) → its rule (:class:`Need`)."""


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app routes, as :data:`RULES` names them."""

    def walk(routes: Iterable[Any]) -> Iterator[tuple[str, str]]:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's included router
            if included is not None:
                yield from walk(included.routes)
            elif isinstance(route, Mount):
                yield "GET", f"{route.path}/{{path}}"
            else:
                yield from ((method, route.path) for method in sorted(route.methods or ()))

    yield from walk(app.routes)


async def enforce(request: Request) -> None:
    """The rule of the request's route (module docstring); raises ForbiddenError."""
    services = services_of(request)
    if not services.settings.auth:
        return
    route = request.scope.get("route")
    need = RULES.get((request.method, getattr(route, "path", "")), Need.ADMIN)
    if need in (Need.OPEN, Need.WEBHOOK):
        return
    try:
        await run_in_threadpool(_enforce, request, need)
    except SabioError as exc:
        if is_ollama_path(request.url.path):  # Ollama's error shape (OpenAI's on /v1/)
            raise OllamaError(sabio_error_status(exc)[0], str(exc)) from exc
        raise


def _enforce(request: Request, need: Need) -> None:
    user = signed_in(request)
    if user is None or user.admin or need in (Need.USER, Need.CHAT, Need.MODEL):
        return
    if need is Need.ADMIN:
        what = "manage Ollama's models" if request.url.path in OLLAMA_MODEL_CHANGES else "do this"
        raise ForbiddenError(
            f"only an admin may {what} ({request.method} {request.url.path})", key="admin_only"
        )
    kb = _kb_of(request)
    if kb is not None:
        require_kb(request, kb, "write" if need is Need.WRITE else "read")


def _kb_of(request: Request) -> KnowledgeBase | None:
    """The knowledge base a route's path names: by name or identifier, or a source's."""
    params = request.path_params
    reader = services_of(request).reader
    if "name" in params:
        return reader.find_kb(str(params["name"]))
    if "source_id" in params:
        try:
            source = reader.sources.get(int(params["source_id"]))
        except (NotFoundError, ValueError):
            return None
        return reader.find_kb(source.kb_name)
    return None


def signed_in(request: Request) -> User | None:
    """The signed-in user with accounts on; None without accounts (or no one signed in:
    :class:`.access.AccessGuard` has refused that where it matters). Reads the database."""
    return authenticate(request) if services_of(request).settings.auth else None


def kb_access(request: Request, kb: KnowledgeBase) -> str | None:
    """What the requester may do with ``kb``: :data:`MANAGE` (an admin, or without
    accounts), ``"write"``, ``"read"``, or None. Reads the database."""
    if not services_of(request).settings.auth:
        return MANAGE
    user = authenticate(request)
    if user is None:
        return None
    if user.admin:
        return MANAGE
    return services_of(request).reader.users.kb_access(user.id, kb.id)


def require_kb(request: Request, kb: KnowledgeBase | str, need: str = "read") -> KnowledgeBase:
    """``kb`` (or the one named so) when the requester has ``need`` on it; else 403 (401
    when no one is signed in). An unknown name is a NotFoundError."""
    if isinstance(kb, str):
        kb = services_of(request).reader.get_kb(kb)
    if services_of(request).settings.auth and authenticate(request) is None:
        raise AuthError(SIGN_IN_FIRST, key="sign_in_first")
    access = kb_access(request, kb)
    if access is None or LEVELS[access] < LEVELS[need]:
        what = "read" if need == "read" else "change the documents of"
        raise ForbiddenError(
            f"you may not {what} the knowledge base {kb.name!r}: ask an admin for {need} access",
            key="kb_forbidden_write" if need == "write" else "kb_forbidden",
            kb=kb.name,
        )
    return kb


def manages(request: Request) -> bool:
    """Whether the requester manages everything: an admin, or the user without accounts."""
    if not services_of(request).settings.auth:
        return True
    user = authenticate(request)
    return user is not None and user.admin


def visible_kbs(request: Request, kbs: Sequence[KnowledgeBase]) -> list[KnowledgeBase]:
    """Those of ``kbs`` the requester may read. Reads the database."""
    if not services_of(request).settings.auth:
        return list(kbs)
    user = authenticate(request)
    if user is None:
        return []
    if user.admin:
        return list(kbs)
    given = services_of(request).reader.users.kb_accesses(user.id)
    return [kb for kb in kbs if kb.id in given]


def accesses(request: Request) -> dict[int, str] | None:
    """Knowledge base id → the requester's access; None when it is :data:`MANAGE` on
    every one (an admin, or without accounts). Reads the database."""
    if not services_of(request).settings.auth:
        return None
    user = authenticate(request)
    if user is not None and user.admin:
        return None
    return services_of(request).reader.users.kb_accesses(user.id) if user else {}
