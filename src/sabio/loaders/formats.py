"""What each loader reads: its extensions, media types and how its content is recognised.

A :class:`Format` is declared once, here for the built-in loaders (:data:`BUILT_IN`, one
line each, naming the module that registers the loader, imported only when a file of
that kind is first read) or by a loader of one's own through
``register_loader(Format(…))``. Uploads (:mod:`sabio.server.uploads`), the original files
the server hands back (:mod:`sabio.server.settings_api`) and web pages
(:mod:`sabio.sources.web`) read these declarations; none of them names a format.

This module imports nothing heavy: knowing a format never loads its library.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HEAD_BYTES = 64 * 1024
"""How much of a file its content is recognised from."""
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
LOOKS_LIKE = (
    (PDF_MAGIC, "a PDF"),
    (ZIP_MAGIC, "a ZIP archive"),
    (OLE_MAGIC, "an old-style Office or Outlook file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
)
"""What a file that starts so is, for saying what a mismatched file looks like."""
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"RIFF", b"BM")
"""PNG, JPEG, TIFF (both byte orders), WebP (a RIFF container) and BMP."""
# Control bytes that never occur in text (tab, newlines, form feed and escape do).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"
TEXT_MISMATCH = "not a {ext} file: it holds binary data, not text{seen}"


@dataclass(frozen=True, slots=True)
class Format:
    """A kind of file a loader reads.

    ``media_types`` maps each media type (as web servers send it) to the extension it is
    read as; the first one of an extension is what the file is served as. A ``text``
    format's content must look like text (and it is served as plain text, never run by a
    browser); otherwise it starts with one of ``magic`` (or, with ``magic_within``, holds
    one in its first that many bytes). ``mismatch`` says why a file is not what its
    extension claims ({ext}: its extension; {seen}: " (it looks like …)" or "").
    """

    extensions: tuple[str, ...]
    module: str | None = None
    media_types: Mapping[str, str] = field(default_factory=dict)
    text: bool = False
    magic: tuple[bytes, ...] = ()
    magic_within: int = 0
    mismatch: str = TEXT_MISMATCH
    timed: bool = False
    """A recording: its passages' ``page`` is the second they start at ("at 12:34")."""

    def media_type(self, extension: str) -> str | None:
        return next((t for t, ext in self.media_types.items() if ext == extension), None)

    def problem(self, head: bytes, extension: str) -> str | None:
        """Why a file starting with ``head`` is not of this format; None when it is."""
        looks = looks_like(head)
        seen = f" (it looks like {looks})" if looks else ""
        if self.text:
            ok = not looks and looks_like_text(head)
        elif self.magic_within:
            ok = any(magic in head[: self.magic_within] for magic in self.magic)
        else:
            ok = head.startswith(self.magic)
        return None if ok else self.mismatch.format(ext=extension, seen=seen)


_OOXML = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.12": ".xlsm",
}
_TEXT_TYPES = {"text/plain": ".txt", "text/markdown": ".md", "text/x-rst": ".rst"}
_TABLE_TYPES = {"text/csv": ".csv", "text/tab-separated-values": ".tsv"}
_JSON_TYPES = {"application/json": ".json", "application/x-ndjson": ".ndjson"}
_TEXT = "sabio.loaders.text"
_IMAGE_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
}

_AUDIO = "sabio.loaders.audio"
_NOT_AUDIO = "not a {ext} file: it is not a recording{seen}"
_MP3_FRAMES = (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa", b"\xff\xe3")
_RECORDINGS: tuple[tuple[tuple[str, ...], dict[str, str], tuple[bytes, ...], int], ...] = (
    ((".mp3",), {"audio/mpeg": ".mp3", "audio/mp3": ".mp3"}, (b"ID3", *_MP3_FRAMES), 0),
    ((".wav",), {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav"}, (b"RIFF",), 0),
    ((".ogg", ".oga", ".opus"), {"audio/ogg": ".ogg", "audio/opus": ".opus"}, (b"OggS",), 0),
    ((".flac",), {"audio/flac": ".flac", "audio/x-flac": ".flac"}, (b"fLaC",), 0),
    ((".webm",), {"audio/webm": ".webm", "video/webm": ".webm"}, (b"\x1a\x45\xdf\xa3",), 0),
    ((".m4a", ".mp4"), {"audio/mp4": ".m4a", "video/mp4": ".mp4"}, (b"ftyp",), 12),
)
"""Recordings, transcribed by :mod:`sabio.loaders.audio` (extensions, media types, how
their content starts: an MP4 holds "ftyp" in its first 12 bytes)."""

BUILT_IN: tuple[Format, ...] = (
    Format(
        (".pdf",),
        "sabio.loaders.pdf",
        {"application/pdf": ".pdf"},
        magic=(PDF_MAGIC,),
        magic_within=1024,
        mismatch="not a PDF: its content is not PDF{seen}",
    ),
    Format(
        (".docx", ".pptx", ".xlsx", ".xlsm"),
        "sabio.loaders.office",
        _OOXML,
        magic=(ZIP_MAGIC, OLE_MAGIC),  # OLE: an encrypted one
        mismatch="not a {ext} file: it is not an Office document{seen}",
    ),
    Format(
        (".odt", ".ods"),
        "sabio.loaders.office",
        {
            "application/vnd.oasis.opendocument.text": ".odt",
            "application/vnd.oasis.opendocument.spreadsheet": ".ods",
        },
        magic=(ZIP_MAGIC,),
        mismatch="not a {ext} file: it is not an Office document{seen}",
    ),
    Format((".txt", ".text", ".log", ".rst", ".md", ".markdown"), _TEXT, _TEXT_TYPES, text=True),
    Format((".csv", ".tsv", ".tab"), _TEXT, _TABLE_TYPES, text=True),
    Format((".json", ".jsonl", ".ndjson"), _TEXT, _JSON_TYPES, text=True),
    Format(
        (".html", ".htm", ".xhtml"),
        "sabio.loaders.html",
        {"text/html": ".html", "application/xhtml+xml": ".html"},
        text=True,
    ),
    Format((".eml", ".mbox", ".mbx"), "sabio.loaders.mail", {"message/rfc822": ".eml"}, text=True),
    Format(
        (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"),
        "sabio.loaders.image",
        _IMAGE_TYPES,
        magic=IMAGE_MAGIC,
        mismatch="not a {ext} image: its content is not an image Sabio reads{seen}",
    ),
    Format(
        (".msg",),
        "sabio.loaders.mail",
        {"application/vnd.ms-outlook": ".msg"},
        magic=(OLE_MAGIC,),
        mismatch="not an Outlook .msg file{seen}",
    ),
    *(
        Format(
            exts, _AUDIO, types, magic=magic, magic_within=within, mismatch=_NOT_AUDIO, timed=True
        )
        for exts, types, magic, within in _RECORDINGS
    ),
)
"""The built-in loaders' formats: adding a loader to Sabio is its module and one line here."""

_FORMATS: list[Format] = list(BUILT_IN)


def is_timed(name: str) -> bool:
    """Whether a document of this name is a recording, its places seconds, not pages."""
    fmt = format_of(name)
    return fmt is not None and fmt.timed


def place(name: str, page: int | None, language: str = "en") -> str:
    """Where in document ``name`` a passage is, in words: "page 3", "at 12:34" or "";
    ``language`` "es": "página 3", "en 12:34"."""
    if page is None:
        return ""
    spanish = language == "es"
    if is_timed(name):
        return f"{'en' if spanish else 'at'} {clock(page)}"
    return f"{'página' if spanish else 'page'} {page}"


def clock(seconds: float) -> str:
    """12:34, or 1:02:03 past an hour."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def register_format(fmt: Format) -> None:
    """Make ``fmt`` known (its extensions win over a built-in format's)."""
    _FORMATS.insert(0, fmt)


def plugin_modules() -> tuple[str, ...]:
    """The modules that registered formats of their own (a reader imports them first)."""
    return tuple(dict.fromkeys(f.module for f in _FORMATS if f.module and f not in BUILT_IN))


def formats() -> list[Format]:
    return list(_FORMATS)


def format_of(name: str) -> Format | None:
    """The format a file of this name is read as (by its extension)."""
    extension = Path(name).suffix.lower()
    return next((f for f in _FORMATS if extension in f.extensions), None)


def extensions() -> tuple[str, ...]:
    """Every extension Sabio reads, the built-in ones in their order first."""
    found = [ext for fmt in reversed(_FORMATS) for ext in fmt.extensions]
    built_in = [ext for fmt in BUILT_IN for ext in fmt.extensions]
    return tuple(dict.fromkeys([*built_in, *found]))


def extension_for(media_type: str) -> str | None:
    """The extension a file of this media type is read as ("text/html" → ".html")."""
    return next((f.media_types[media_type] for f in _FORMATS if media_type in f.media_types), None)


def looks_like(head: bytes) -> str | None:
    return next((what for magic, what in LOOKS_LIKE if head.startswith(magic)), None)


def looks_like_text(head: bytes) -> bool:
    if head.startswith(_BOMS):
        return True
    if b"\x00" in head:  # UTF-16 without a BOM: a NUL in every other byte
        sample = head[:4096]
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        return max(even, odd) > 0.4 * (len(sample) // 2) and min(even, odd) == 0
    binary = len(head) - len(head.translate(None, _BINARY_BYTES))
    return binary * 100 <= len(head)
