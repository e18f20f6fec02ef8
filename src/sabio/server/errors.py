"""One JSON error shape for every response that is not a success:

    {"error": {"code": "not_found", "message": "no knowledge base called 'x' ..."}}

``code`` is stable, for programs; ``message`` says what happened and what to do, for
people, in English. An error the web app shows also has ``key``, its message's stable
name in the interfaces' catalogue, and ``args``, the values it names, so the page says it
in the reader's language (:mod:`sabio.errors`):

    {"error": {"code": "not_found", "message": "no chat 7; ...", "key": "chat_not_found",
               "args": {"chat": 7}}}

Sabio's own errors map by class (:data:`SABIO_ERRORS`), FastAPI's request
validation and Starlette's HTTP errors (unknown route, wrong method, oversize upload) by
status. A full data directory is 507 ``insufficient_storage``, one that cannot be written
503 ``read_only`` (:mod:`sabio.disk`), also when SQLite or the file system says so
underneath. Anything else is a bug: the client gets ``internal`` with status 500, and the
server still logs the traceback.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sabio.disk import storage_error
from sabio.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    CSRFError,
    DatabaseBusyError,
    EmbeddingMismatchError,
    ForbiddenError,
    LoadError,
    MissingExtraError,
    ModelError,
    NotFoundError,
    SabioError,
    StorageError,
    TooManyAttemptsError,
)

log = logging.getLogger(__name__)
DATA_DIRECTORY = "Sabio's data directory"

SABIO_ERRORS: dict[type[SabioError], tuple[int, str]] = {
    NotFoundError: (404, "not_found"),
    ConfigError: (400, "bad_request"),
    EmbeddingMismatchError: (409, "embedding_mismatch"),
    ConflictError: (409, "conflict"),
    AuthError: (401, "unauthorized"),
    CSRFError: (403, "csrf"),
    ForbiddenError: (403, "forbidden"),
    MissingExtraError: (503, "missing_extra"),
    ModelError: (503, "model_unavailable"),
    DatabaseBusyError: (503, "database_busy"),
    LoadError: (422, "unreadable_file"),
    TooManyAttemptsError: (429, "too_many_attempts"),
    SabioError: (400, "bad_request"),
}
"""Status and code per class; a subclass not listed takes its nearest listed base's."""

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


def error_body(
    code: str, message: str, key: str | None = None, args: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    error: dict[str, Any] = {"code": code, "message": message}
    if key is not None:
        error |= {"key": key, "args": dict(args or {})}
    return {"error": error}


def sabio_error_body(exc: SabioError) -> dict[str, dict[str, Any]]:
    return error_body(sabio_error_status(exc)[1], str(exc), exc.key, exc.args_for_key)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    key: str | None = None,
    args: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = error_body(code, message, key, args)
    return JSONResponse(body, status_code=status, headers=headers)


def auth_challenge(status: int) -> dict[str, str] | None:
    """A 401 names the scheme that works for programs: ``Authorization: Bearer``."""
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None


def sabio_error_status(exc: SabioError) -> tuple[int, str]:
    if isinstance(exc, StorageError):
        return (507, "insufficient_storage") if exc.full else (503, "read_only")
    for cls in type(exc).__mro__:
        if cls in SABIO_ERRORS:
            return SABIO_ERRORS[cls]
    return SABIO_ERRORS[SabioError]


def error_headers(exc: SabioError, status: int) -> dict[str, str] | None:
    """The 401 challenge, or how long to wait after a 429."""
    if isinstance(exc, TooManyAttemptsError):
        return {"Retry-After": str(exc.retry_after)}
    return auth_challenge(status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SabioError, _sabio_error)
    app.add_exception_handler(sqlite3.OperationalError, _storage_error)
    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _sabio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SabioError)
    status = sabio_error_status(exc)[0]
    return JSONResponse(
        sabio_error_body(exc), status_code=status, headers=error_headers(exc, status)
    )


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A full or read-only data directory, said so; anything else is a bug (500)."""
    services = getattr(request.app.state, "services", None)
    home = services.settings.home if services is not None else None
    problem = storage_error(exc, home, where=DATA_DIRECTORY) if home is not None else None
    if problem is None:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return await _unexpected_error(request, exc)
    log.warning("%s %s: %s (%s)", request.method, request.url.path, problem, exc)
    return await _sabio_error(request, problem)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ())]
        place = {"query": "query parameter", "path": "path parameter", "body": "body"}.get(
            where[0] if where else "", "request"
        )
        name = ".".join(where[1:])
        problems.append(f"{place} {name!r}: " if name else f"{place}: ")
        problems[-1] += str(error.get("msg", "invalid"))
    return error_response(422, "validation_error", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = HTTP_CODES.get(status, f"http_{status}")
    if status == 404 and exc.detail == "Not Found":
        message = f"no such address: {request.url.path}; the API is described at /docs"
    elif status == 405:
        allowed = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
        message = f"{request.method} is not allowed on {request.url.path}" + (
            f" (allowed: {allowed})" if allowed else ""
        )
    else:
        message = str(exc.detail)
    return error_response(status, code, message, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this, then re-raises: the traceback is logged.
    return error_response(500, "internal", "internal error: this is a bug in Sabio, see the log")
