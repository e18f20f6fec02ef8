"""The routes the web app needs besides the core API: the model settings (written to
config.toml and applied without a restart), pulling a model into Ollama with progress,
the original file of a document, and a cited passage with the text around it.

An original file is served so that it cannot act in Sabio's origin: every type a browser
could run (HTML, XHTML, SVG, XML) goes as ``text/plain``, with ``nosniff`` and a
``Content-Security-Policy: sandbox``. PDFs are the exception to the sandbox only:
browsers' PDF viewers refuse to open in a sandboxed document, and a PDF's scripts run
inside the viewer, never in the page's origin.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse

from sabio.config import Settings, check_ollama_host
from sabio.errors import ConfigError, NotFoundError
from sabio.ingest import stream_hash
from sabio.loaders.formats import HEAD_BYTES, format_of
from sabio.models import check_model_name, check_pullable
from sabio.server.api import ERRORS, ServicesDep
from sabio.server.events import Event, close_iterator, event_stream
from sabio.server.links import API_PREFIX, file_url, is_file_source
from sabio.server.schemas import (
    ErrorOut,
    OllamaHostOut,
    PassageOut,
    PullIn,
    RowId,
    SettingsIn,
    SettingsOut,
)
from sabio.server.services import Services

router = APIRouter(prefix=API_PREFIX, responses=ERRORS)

SHOWN_SETTINGS = ("ollama_host", "chat_model", "embedding_model", "default_kb")
WHAT_TO_GIVE = {
    "ollama_host": "Ollama's address, e.g. 127.0.0.1:11434",
    "chat_model": "'auto' or 'backend:model', e.g. ollama:qwen3:4b",
    "embedding_model": "'auto' or 'backend:model', e.g. ollama:bge-m3",
}
PDF = "application/pdf"
"""The one media type served without the sandbox (browsers' PDF viewers refuse it)."""


# settings


@router.get("/settings", summary="The model settings", tags=["settings"])
def get_settings(services: ServicesDep) -> SettingsOut:
    """The settings the settings page edits, and which of them are set above config.toml
    (an environment variable, the command line), so that a change would not take effect."""
    return _settings_out(services)


@router.put("/settings", summary="Change the model settings", tags=["settings"])
def put_settings(body: SettingsIn, services: ServicesDep) -> SettingsOut:
    """Any of ``ollama_host``, ``chat_model``, ``embedding_model``: checked, written into
    config.toml (the rest of the file, comments included, stays) and applied at once, no
    restart. An invalid value is a 400 and changes nothing."""
    values = {
        name: _checked(services.settings, name, getattr(body, name))
        for name in sorted(body.model_fields_set)
    }
    if values:
        services.change_settings(values)
    return _settings_out(services)


def _checked(settings: Settings, name: str, value: str | None) -> str:
    """``value`` for setting ``name``, normalised, or a ConfigError that says why not."""
    value = (value or "").strip()
    if not value:
        raise ConfigError(f"{name} is empty: give {WHAT_TO_GIVE[name]}")
    if name == "ollama_host":
        return check_ollama_host(value)
    if value != "auto":
        try:
            check_model_name(settings, value, "chat" if name == "chat_model" else "embedding")
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
    return value


def _settings_out(services: Services) -> SettingsOut:
    settings, overridden = services.settings, services.overridden()
    return SettingsOut(
        ollama_host=settings.ollama_host,
        chat_model=settings.chat_model,
        embedding_model=settings.embedding_model,
        default_kb=settings.default_kb,
        overridden={name: overridden[name] for name in SHOWN_SETTINGS if name in overridden},
    )


@router.get("/models/hosts", summary="The Ollama hosts and their state", tags=["settings"])
def ollama_hosts(services: ServicesDep) -> list[OllamaHostOut]:
    """Each Ollama host (``ollama_host``, then ``ollama_hosts``): whether it answers, its
    models, this process's requests on it against ``ollama_parallel``, its latest error."""
    from sabio.models.ollama import host_pool

    states = host_pool(services.settings).states()
    return [OllamaHostOut.model_validate(dataclasses.asdict(s)) for s in states]


# pulling a model

PULL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `progress` {status, completed, total} as Ollama "
        "reports them, then `done` {name}, or `error` {error: {code, message}} if it fails "
        "midway.",
    },
    503: {"model": ErrorOut, "description": "Ollama is not running"},
}


@router.post(
    "/models/pull",
    summary="Download a model into Ollama (streamed)",
    tags=["server"],
    response_class=StreamingResponse,
    responses=PULL_RESPONSES,
)
async def pull_model(body: PullIn, services: ServicesDep) -> StreamingResponse:
    """As ``sabio pull``: Ollama must be running. ``total`` and ``completed`` are bytes of
    the layer being downloaded (0 in steps that download nothing). When Ollama does not
    answer, the reply is a plain JSON error (503) instead of a stream."""
    check_pullable(body.name)
    name = body.name.strip().removeprefix("ollama:")
    return await event_stream(_pull_events(services.settings, name))


def _pull_events(settings: Settings, name: str) -> Iterator[Event]:
    from sabio.models.ollama import OllamaClient

    with OllamaClient.from_settings(settings) as client:
        updates = client.pull(name)
        try:
            for update in updates:
                progress = {key: update[key] for key in ("status", "completed", "total")}
                yield "progress", progress
        finally:
            close_iterator(updates)
    yield "done", {"name": name}


# the original file and a passage in its place

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {PDF: {}, "text/plain": {}, "application/octet-stream": {}},
        "description": "The file, inline: a PDF as application/pdf, text (HTML too) as "
        "text/plain, office files as their own type.",
    },
    206: {
        "content": {"application/octet-stream": {}},
        "description": "The bytes asked for with a Range header (bytes=START-END), so a "
        "recording plays from any second.",
    },
}


@router.get(
    "/kbs/{name}/documents/{document_id}/file",
    summary="The original file of a document",
    tags=["documents"],
    response_class=StreamingResponse,
    responses=FILE_RESPONSES,
)
def document_file(
    name: str,
    document_id: RowId,
    services: ServicesDep,
    byte_range: Annotated[str | None, Header(alias="range")] = None,
) -> StreamingResponse:
    """The file as it is at the place it was indexed from; open a PDF at a page with
    ``#page=N``; one range of bytes with ``Range: bytes=START-END`` (206), as audio
    players ask for to start a recording at a time. A 404 when the document is not in
    this knowledge base or its file is no longer there. A file reached through a
    symbolic link is served only while it is the file that was indexed (same content):
    a link repointed since shows nothing."""
    reader = services.reader
    doc = reader.get_document(reader.kb(name), document_id)
    if not is_file_source(doc.source):
        raise NotFoundError(f"document {document_id} is not a file (it came from a source)")
    path = Path(doc.source)
    gone = NotFoundError(
        f"the file of document {document_id} ({path.name}) is no longer where it was "
        "indexed from; add it again"
    )
    try:
        file = path.open("rb")  # served from this handle: deleting the file cannot cut it
    except OSError:
        raise gone from None
    try:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise gone
        linked = os.path.realpath(path) != os.path.abspath(path)
        if linked and stream_hash(file) != doc.content_hash:
            raise NotFoundError(
                f"the link {path.name} of document {document_id} no longer leads to the file "
                "that was indexed; add it again"
            )
        media_type = _media_type(path, file)
    except BaseException:
        file.close()
        raise
    start, end = _byte_range(byte_range, found.st_size) or (0, found.st_size)
    headers = {
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.name, safe='')}",
        "Content-Length": str(end - start),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if (start, end) != (0, found.st_size):
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.st_size}"
    if media_type != PDF:
        headers["Content-Security-Policy"] = "sandbox"
    status = 206 if "Content-Range" in headers else 200
    response = StreamingResponse(served(file, end - start, start), status, headers=headers)
    response.headers["Content-Type"] = media_type  # as is: no charset added to plain text
    return response


@router.get(
    "/kbs/{name}/documents/{document_id}/transcript",
    summary="A recording's transcript (TXT, SRT, VTT)",
    tags=["documents"],
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {}, "application/x-subrip": {}, "text/vtt": {}},
            "description": "The transcript, as a download named after the recording.",
        }
    },
)
def document_transcript(
    name: str,
    document_id: RowId,
    services: ServicesDep,
    format: Literal["txt", "srt", "vtt"] = "txt",
) -> Response:
    """The words of a transcribed recording: plain text with each passage's time
    (``txt``), or subtitles (``srt``, ``vtt``) whose cues are its passages. A 404 when
    the document is not a recording of this knowledge base."""
    reader = services.reader
    found = reader.transcript(reader.kb(name), document_id, format)
    disposition = f"attachment; filename*=UTF-8''{quote(found.name, safe='')}"
    return Response(
        found.text,
        media_type=found.media_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range ``bytes=START-END`` (or ``START-``, ``-LAST``) asks for, as
    (start, end past the last byte); None for anything else (the whole file is sent)."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not (match["first"] or match["last"]):
        return None
    first, last = match["first"], match["last"]
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        start, end = int(first), min(int(last) + 1, size) if last else size
    return (start, end) if start < end else None


_RANGE = re.compile(r"bytes=(?P<first>[0-9]*)-(?P<last>[0-9]*)", re.ASCII)


def served(file: BinaryIO, size: int, start: int = 0) -> Iterator[bytes]:
    """``size`` bytes of ``file`` from ``start`` (:func:`_blocks`), with ``file`` closed
    when they are no longer wanted, even if no block was ever asked for: a client that
    goes away before the response's first block (an audio player trying a range, then
    another) leaves a generator that never started, whose ``finally`` never runs, and
    its file was left to the garbage collector (an unclosed file, found by the browser
    test of recordings)."""
    blocks = _blocks(file, size, start)
    weakref.finalize(blocks, file.close)
    return blocks


def _blocks(file: BinaryIO, size: int, start: int = 0) -> Iterator[bytes]:
    """``size`` bytes of ``file`` from ``start``, then it is closed (also when the client
    goes away midway)."""
    try:
        file.seek(start)
        left = size
        while left > 0 and (block := file.read(min(left, 1 << 16))):
            left -= len(block)
            yield block
    finally:
        file.close()


def _media_type(path: Path, file: BinaryIO) -> str:
    fmt = format_of(path.name)
    if fmt is not None and fmt.text:  # shown as plain text (HTML too: as its source)
        return _plain_text(file)
    media_type = fmt.media_type(path.suffix.lower()) if fmt else None
    return media_type or "application/octet-stream"


def _plain_text(file: BinaryIO) -> str:
    """``text/plain``, with ``charset=utf-8`` when the file's beginning is UTF-8; else
    the browser tells the encoding (a byte-order mark, or its own detection)."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at the end is fine
    except UnicodeDecodeError:
        return "text/plain"
    return "text/plain; charset=utf-8"


@router.get("/kbs/{name}/passages/{chunk_id}", summary="A passage in its place", tags=["search"])
def get_passage(name: str, chunk_id: RowId, services: ServicesDep) -> PassageOut:
    """A passage (a search hit's or a citation's ``chunk_id``) with the text before and
    after it on its page, for showing it highlighted in its place. A 404 when it is not
    in this knowledge base (also when its document was re-indexed since)."""
    reader = services.reader
    passage = reader.passage(reader.kb(name), chunk_id)
    if passage is None:
        raise NotFoundError(
            f"no passage {chunk_id} in knowledge base {name!r}: its document was removed "
            "or indexed again since; search again"
        )
    chunk = passage.chunk
    return PassageOut(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        name=Path(chunk.source).name,
        title=chunk.title,
        page=chunk.page,
        start=chunk.start,
        end=chunk.end,
        heading=chunk.heading,
        text=chunk.text,
        before=passage.before,
        after=passage.after,
        file_url=file_url(name, chunk.document_id, chunk.source, chunk.page),
    )
