"""Uploads, received safely: streamed to disk, bounded, named safely, checked by content.

A multipart body is parsed as it arrives (``python_multipart``), in a worker thread,
one network chunk at a time; each file goes straight to its own file under
``<home>/uploads/.incoming/`` and is never held in memory whole. The limits
(:class:`UploadLimits`: ``max_upload_mb`` per file, ``max_request_mb`` for all the files of
a request, ``max_upload_files`` files) are enforced before and while streaming: a declared
``Content-Length`` over the total is refused before the body is read, and the first byte
or file over a limit aborts the whole upload with 413, every file of it deleted. Once the
body is complete, each file's first bytes are checked against its extension
(:func:`content_problem`); a file that passes is moved (atomically) into
``<home>/uploads/<kb>/`` under its sanitised name (:func:`safe_filename`) and indexed from
there, replacing an earlier upload of the same name; one that fails is deleted, says why,
and changes nothing. An accepted file that a killed server had not indexed yet is indexed
by a job when the server starts again (:func:`unindexed`).
"""

from __future__ import annotations

import os
import shutil
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
import python_multipart
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

from sabio.config import Settings
from sabio.home import uploads_root
from sabio.loaders.formats import HEAD_BYTES, extensions, format_of

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_NAME_BYTES = 200
MULTIPART_SLACK = 1 << 20
"""What a declared Content-Length may exceed the total by (boundaries, part headers)."""

_FORBIDDEN = frozenset('<>:"/\\|?*')
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)]
)


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Bytes per file, bytes for all the files of a request, files per request."""

    file_bytes: int
    request_bytes: int
    files: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            settings.max_upload_mb * 2**20,
            settings.max_request_mb * 2**20,
            settings.max_upload_files,
        )

    def file_too_large(self, filename: str) -> str:
        return (
            f"{filename} is larger than the upload limit of {_mb(self.file_bytes)} "
            "(max_upload_mb); nothing of this upload was kept"
        )

    def request_too_large(self) -> str:
        return (
            f"the upload is larger than {_mb(self.request_bytes)} in all (max_request_mb); "
            "send its files in several requests; nothing of this upload was kept"
        )

    def too_many_files(self) -> str:
        return (
            f"the upload holds more than {self.files} files (max_upload_files); send them in "
            "several requests; nothing of this upload was kept"
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:g} MB"


@dataclass(slots=True)
class Received:
    """One file of an upload: ``filename`` as the client sent it, ``name`` as it will be
    saved, ``path`` where it lies until it is accepted."""

    filename: str
    name: str
    path: Path
    size: int = 0
    complete: bool = False


def incoming_folder(home: Path) -> Path:
    return uploads_root(home) / ".incoming"


def clear_incoming(home: Path) -> None:
    """Delete what an interrupted upload left (called when the server starts)."""
    shutil.rmtree(incoming_folder(home), ignore_errors=True)


def safe_filename(raw: str) -> str:
    """A file name that is safe to create: no folders, no ``..``, no control or format
    characters, none that Windows forbids, not hidden, not a reserved device name, at
    most 200 bytes. Letters of every script are kept."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if ch.isspace() else "_" if ch in _FORBIDDEN else ch
        for ch in name
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    name = " ".join(name.split()).strip(". ")
    if not name:
        return "upload"
    if name.split(".")[0].lower() in _RESERVED:
        name = "_" + name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip(". ") + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).ext``… when an earlier file of the upload has it (compared
    case-insensitively, as macOS and Windows do)."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{ext}"
    taken.add(candidate.casefold())
    return candidate


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an uploaded file is refused: ``reason`` in English, and its ``key`` and
    ``args`` in the interfaces' catalogue (as for errors: :mod:`sabio.errors`)."""

    reason: str
    key: str
    args: dict[str, str] = field(default_factory=dict)


def content_problem(path: Path, name: str) -> Refusal | None:
    """Why this file is refused (its extension is not read by Sabio, or its content is
    not what the extension says, as its loader's format tells), or None when it may be
    indexed."""
    ext = Path(name).suffix.lower()
    fmt = format_of(name)
    if fmt is None:
        kind = ext or "no extension"
        supported = extensions()
        return Refusal(
            f"unsupported file type ({kind}); Sabio reads {', '.join(supported)}",
            "upload_unsupported",
            {"ext": ext, "supported": " ".join(supported)},
        )
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return Refusal("the file is empty", "upload_empty")
    reason = fmt.problem(head, ext)
    return Refusal(reason, "upload_mismatch", {"ext": ext}) if reason else None


def accept(received: Received, folder: Path) -> Path:
    """Move a checked file into the knowledge base's folder (replacing one of that name)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / received.name
    os.replace(received.path, target)
    return target


def discard(files: list[Received]) -> None:
    for received in files:
        received.path.unlink(missing_ok=True)


async def receive_files(request: Request, incoming: Path, limits: UploadLimits) -> list[Received]:
    """Stream a multipart/form-data body to files under ``incoming``; every part with a
    file name is a file, other fields are ignored. On any failure (over a limit: 413;
    malformed: 400) nothing of the upload is left on disk."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise HTTPException(415, "send the files as multipart/form-data")
    if b"boundary" not in params:
        raise HTTPException(400, "the multipart/form-data body names no boundary")
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise HTTPException(400, f"Content-Length {declared!r} is not a number of bytes")
    if declared is not None and int(declared) > limits.request_bytes + MULTIPART_SLACK:
        raise HTTPException(413, limits.request_too_large())  # before reading the body
    incoming.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(params[b"boundary"], incoming, limits)
    try:
        async for chunk in request.stream():
            if chunk:
                await anyio.to_thread.run_sync(receiver.feed, chunk)
        receiver.finish()
    except _TooLarge as exc:
        receiver.close(discard_all=True)
        raise HTTPException(413, exc.message) from None
    except MultipartParseError as exc:
        receiver.close(discard_all=True)
        raise HTTPException(400, f"the multipart/form-data body is malformed: {exc}") from None
    except BaseException:
        receiver.close(discard_all=True)
        raise
    if not receiver.files:
        raise HTTPException(400, "the upload holds no file: send each as a multipart file field")
    return receiver.files


class _TooLarge(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class _Part:
    header_name: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    file: Received | None = None
    out: BinaryIO | None = None


class _Receiver:
    """The parser's callbacks: each file part written to its own file as it comes."""

    def __init__(self, boundary: bytes, incoming: Path, limits: UploadLimits) -> None:
        self.incoming, self.limits = incoming, limits
        self.total = 0
        self.files: list[Received] = []
        self.taken: set[str] = set()
        self.part = _Part()
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }
        self.parser = python_multipart.MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> None:
        self.parser.write(chunk)

    def finish(self) -> None:
        self.parser.finalize()
        unfinished = [f.filename for f in self.files if not f.complete]
        if unfinished:
            self.close(discard_all=True)
            raise HTTPException(400, f"the upload ended in the middle of {unfinished[0]}")

    def close(self, *, discard_all: bool = False) -> None:
        if self.part.out is not None:
            self.part.out.close()
            self.part.out = None
        if discard_all:
            discard(self.files)

    def _begin(self) -> None:
        self.part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def _header_end(self) -> None:
        self.part.headers[self.part.header_name.strip().lower()] = self.part.header_value
        self.part.header_name = self.part.header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"filename" not in options:
            return  # a plain field: ignored
        if len(self.files) >= self.limits.files:
            raise _TooLarge(self.limits.too_many_files())
        filename = options[b"filename"].decode("utf-8", errors="replace")
        name = unique_name(safe_filename(filename), self.taken)
        path = self.incoming / f"{uuid.uuid4().hex}.part"
        self.part.file = Received(filename, name, path)
        self.files.append(self.part.file)
        self.part.out = path.open("xb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        file, out = self.part.file, self.part.out
        if file is None or out is None:
            return
        file.size += end - start
        self.total += end - start
        if file.size > self.limits.file_bytes:
            raise _TooLarge(self.limits.file_too_large(file.filename))
        if self.total > self.limits.request_bytes:
            raise _TooLarge(self.limits.request_too_large())
        out.write(data[start:end])

    def _end(self) -> None:
        if self.part.file is not None:
            self.close()
            self.part.file.complete = True
