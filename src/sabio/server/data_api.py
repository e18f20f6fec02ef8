"""Everything in the data directory, from the web: the archive of ``sabio export`` made
and downloaded, one brought back (``sabio import``), and everything deleted
(``sabio purge``); see :mod:`sabio.archive`. Admins only when accounts are on.

An export is written to ``<home>/exports/`` and downloaded from there once (then deleted;
one left unfetched is deleted an hour later, or when the server starts). An import is
sent as the request body (the archive's bytes), its passphrase, if it needs one, in the
``X-Sabio-Passphrase`` header, percent-encoded UTF-8 (``encodeURIComponent``). Importing
and purging replace the database under the running server: its services (and the
worker) are closed first and opened again afterwards, so requests running meanwhile may
fail; the data directory is never left half changed.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sabio import archive
from sabio.config import Settings
from sabio.errors import ConfigError, NotFoundError
from sabio.server.api import ERRORS, ServicesDep
from sabio.server.links import API_PREFIX
from sabio.server.schemas import (
    DataContentsOut,
    DataOut,
    ExportIn,
    ExportOut,
    ImportOut,
    PurgeIn,
)
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting

router = APIRouter(prefix=f"{API_PREFIX}/data", tags=["data"], responses=ERRORS)
EXPORTS = "exports"
EXPORT_TTL = 3600.0
"""Seconds an export nobody downloaded is kept."""
_NAME_CHARS = frozenset("0123456789abcdef")
T = TypeVar("T")


def exports_folder(home: Path) -> Path:
    return home / EXPORTS


def clear_exports(home: Path, older_than: float = 0.0) -> None:
    """Delete the exports (and imports in transit) made more than ``older_than`` s ago."""
    folder = exports_folder(home)
    now = time.time()
    for path in folder.iterdir() if folder.is_dir() else ():
        try:
            if now - path.stat().st_mtime >= older_than:
                path.unlink()
        except OSError:
            continue


def _contents(found: archive.Contents) -> DataContentsOut:
    return DataContentsOut.model_validate(found)


@router.get("", summary="What the data directory holds")
def data(services: ServicesDep) -> DataOut:
    """Counts of what an export takes and a purge deletes."""
    reader = services.reader
    return DataOut(
        contents=_contents(archive.contents(services.settings)),
        needs_passphrase=reader.export_needs_passphrase(),
    )


@router.post("/export", status_code=201, summary="Make an export to download")
def export(services: ServicesDep, body: ExportIn | None = None) -> ExportOut:
    """Writes the archive of `sabio export` and returns where to download it (once)."""
    home = services.settings.home
    folder = exports_folder(home)
    folder.mkdir(exist_ok=True)
    clear_exports(home, older_than=EXPORT_TTL)
    token = secrets.token_hex(16)
    target = folder / f"{token}.tar"
    with services.writing() as writer:  # no change while it is copied
        found = writer.export_archive(target, body.passphrase if body else None)
    day = dt.date.today().isoformat()
    return ExportOut(
        url=f"{API_PREFIX}/data/exports/{token}",
        name=f"sabio-export-{day}.tar",
        size=target.stat().st_size,
        contents=_contents(found),
    )


@router.get(
    "/exports/{token}",
    summary="Download an export",
    response_class=FileResponse,
    responses={200: {"content": {"application/x-tar": {}}, "description": "The archive."}},
)
def download(token: str, services: ServicesDep) -> FileResponse:
    """The archive made by ``POST /data/export``; deleted once sent."""
    path = exports_folder(services.settings.home) / f"{token}.tar"
    if len(token) != 32 or not set(token) <= _NAME_CHARS or not path.is_file():
        raise NotFoundError("no such export (each is downloaded once): make a new one")
    day = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return FileResponse(
        path,
        media_type="application/x-tar",
        filename=f"sabio-export-{day}.tar",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.post(
    "/import",
    summary="Bring an export back",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_(
    request: Request,
    x_sabio_passphrase: Annotated[
        str | None, Header(description="The export's passphrase, percent-encoded UTF-8.")
    ] = None,
) -> ImportOut:
    """The request body is an archive of `sabio export`; the data directory must hold no
    data yet (409 otherwise: purge it first). A wrong passphrase or a bad archive is a
    400 and changes nothing."""
    services = services_of(request)
    folder = exports_folder(services.settings.home)
    folder.mkdir(parents=True, exist_ok=True)
    received = folder / f".import-{secrets.token_hex(8)}.tar"
    try:
        with received.open("xb") as out:
            async for chunk in request.stream():
                await run_in_threadpool(out.write, chunk)
        passphrase = unquote(x_sabio_passphrase) if x_sabio_passphrase else None

        def bring_back(settings: Settings) -> tuple[archive.Contents, bool | None]:
            return archive.import_archive(settings, received, passphrase, services.environ)

        found, restored = await run_waiting(_with_data_closed, request.app, bring_back)
    finally:
        received.unlink(missing_ok=True)
    return ImportOut(contents=_contents(found), settings_restored=restored)


@router.post("/purge", status_code=204, summary="Delete everything")
def purge(body: PurgeIn, request: Request) -> Response:
    """Deletes everything Sabio keeps (as `sabio purge`): documents, uploads, chats,
    accounts, sources, settings, the index. The server goes on, empty."""
    if not body.confirm:
        raise ConfigError('nothing was deleted: send {"confirm": true} to delete everything')
    _with_data_closed(request.app, archive.purge)
    return Response(status_code=204)


def _with_data_closed(app: FastAPI, change: Callable[[Settings], T]) -> T:
    """Close the server's services, ``change`` the data directory, open new services."""
    lock: threading.Lock = app.state.data_lock
    with lock:
        old: Services = app.state.services
        old.close()
        try:
            return change(old.settings)
        finally:
            fresh = Services(old.settings, overrides=old.overrides, environ=old.environ)
            app.state.services = fresh
            if old.worker is not None:
                fresh.start_worker()
