"""Loaders turn one file into text with positions (page, heading). Nothing else.

A loader never touches the store or a model. It is a function registered for one or
more file extensions with :func:`register_loader`; :func:`load_document` picks it, runs
it and normalises what it returns. What it reads (extensions, media types, how its
content is recognised) is its :class:`~sabio.loaders.formats.Format`, which uploads, web
pages and the server's original files read (:mod:`.formats`). Loaders raise the
:class:`~sabio.errors.LoadError` subclasses (needs OCR, encrypted, corrupt, empty,
unsupported) and translate every third-party exception into one of them.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sabio.errors import CorruptFileError, EmptyDocumentError, LoadError, UnsupportedTypeError
from sabio.loaders.formats import BUILT_IN, Format, clock, format_of, register_format

SectionKind = Literal["text", "table"]


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from one place in the document.

    ``page`` is 1-based, or None where the format has no pages. ``heading`` is the
    heading path above the text ("Chapter 2 > Scope"), "" when there is none. Paragraphs
    inside ``text`` are separated by blank lines; in a ``table`` section each line is a row.
    """

    text: str
    page: int | None = None
    heading: str = ""
    kind: SectionKind = "text"


@dataclass(slots=True)
class LoadedDocument:
    sections: list[Section]
    title: str
    metadata: dict[str, str] = field(default_factory=dict)
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """How far a long reading is: ``done`` of ``total`` pages read by OCR (``what``
    "ocr"), or seconds of a recording transcribed ("transcription")."""

    what: Literal["ocr", "transcription"]
    done: int
    total: int

    def describe(self, language: str = "en") -> str:
        """ "OCR in progress — page 3 of 12", "transcribing — 2:05 of 10:00"; in Spanish
        (``language`` "es"): "OCR en curso — página 3 de 12", "transcribiendo — …"."""
        spanish = language == "es"
        if self.what == "ocr":
            page = min(self.done + 1, self.total)
            if spanish:
                return f"OCR en curso — página {page} de {self.total}"
            return f"OCR in progress — page {page} of {self.total}"
        if spanish:
            return f"transcribiendo — {clock(self.done)} de {clock(self.total)}"
        return f"transcribing — {clock(self.done)} of {clock(self.total)}"


Told = Callable[[ReadProgress], None]
"""What a loader tells of a long reading, as it goes (:attr:`Blob.progress`)."""


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How pages without a usable text layer are read (:mod:`sabio.loaders.ocr`):
    ``program`` is Tesseract ("" : no OCR, they stay "needs OCR"); ``languages`` its
    language packs (empty: English, Spanish and the others installed); ``budget`` the
    seconds one file's OCR may take (0: no limit), the pages left then still need OCR.
    ``defer``: a PDF with a text layer on some pages leaves its scanned pages for a
    background job (``metadata["ocr_deferred"]``), so that its text is searchable at once."""

    program: str = "tesseract"
    languages: tuple[str, ...] = ()
    budget: float = 0.0
    defer: bool = False


DEFAULT_OCR = OcrOptions()


@dataclass(frozen=True, slots=True)
class OcrSummary:
    """What a document's ``metadata`` says of its OCR (written by the loaders): the pages
    read by OCR, their mean confidence (0-100), those hard to read, and the pages that
    still need OCR (Tesseract missing or failing)."""

    pages: tuple[int, ...] = ()
    confidence: float | None = None
    low_pages: tuple[int, ...] = ()
    missing_pages: tuple[int, ...] = ()
    pending: bool = False
    """The missing pages are being read by a background job."""

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> OcrSummary:
        def numbers(key: str) -> tuple[int, ...]:
            return tuple(int(n) for n in str(metadata.get(key, "")).split(",") if n.isdigit())

        confidence = metadata.get("ocr_confidence")
        return cls(
            numbers("ocr_pages"),
            float(confidence) if confidence not in (None, "") else None,
            numbers("ocr_low_pages"),
            numbers("needs_ocr_pages"),
            bool(metadata.get("ocr_deferred")),
        )

    def note(self) -> str:
        """In a line, for ``sabio docs``: "2 pages read by OCR (confidence 91%) · page 4 is
        hard to read; check it · pages 7, 8 need OCR"."""
        parts = []
        if self.pages:
            many = len(self.pages) > 1
            parts.append(
                f"{len(self.pages)} page{'s' * many} read by OCR "
                f"(confidence {self.confidence or 0:.0f}%)"
            )
        if low := self.low_pages:
            parts.append(
                f"page {low[0]} is hard to read; check it"
                if len(low) == 1
                else f"pages {', '.join(map(str, low))} are hard to read; check them"
            )
        if (missing := self.missing_pages) and self.pending:
            parts.append(f"OCR in progress: page{'s' * (len(missing) > 1)} {page_ranges(missing)}")
        elif missing:
            parts.append(
                f"page {missing[0]} needs OCR"
                if len(missing) == 1
                else f"pages {page_ranges(missing)} need OCR"
            )
        return " · ".join(parts)


def page_ranges(numbers: tuple[int, ...]) -> str:
    """(3, 4, 5, 9) → "3-5, 9"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


@dataclass(frozen=True, slots=True)
class Blob:
    """The bytes to load: a file on disk, or bytes in memory (a mail attachment)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    password: str | None = None
    ocr: OcrOptions = DEFAULT_OCR
    models: Path | None = None
    """Where a loader may keep model files it derives once (the data directory's
    ``models/``: the transcription model, assembled from its packages)."""
    progress: Told | None = None
    """Told how far a long reading is (OCR's pages, a transcription's seconds)."""

    @classmethod
    def from_path(
        cls,
        path: Path,
        password: str | None = None,
        ocr: OcrOptions | None = None,
        models: Path | None = None,
        progress: Told | None = None,
    ) -> Blob:
        return cls(path.name, path, None, password, ocr or DEFAULT_OCR, models, progress)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    @property
    def extension(self) -> str:
        return Path(self.name).suffix.lower()


Loader = Callable[[Blob], LoadedDocument]

_LOADERS: dict[str, Loader] = {}

# The module that registers the loader of each extension (from the formats' declarations),
# imported when a file of that kind is first loaded: reading a PDF never pays for the
# Office or HTML libraries. tests/test_loaders.py checks that each module registers
# exactly these.
LOADER_MODULES: dict[str, tuple[str, ...]] = {}
for _format in BUILT_IN:
    if _format.module:
        LOADER_MODULES[_format.module] = (
            *LOADER_MODULES.get(_format.module, ()),
            *_format.extensions,
        )
_MODULE_OF = {ext: module for module, exts in LOADER_MODULES.items() for ext in exts}


def register_loader(*formats: str | Format) -> Callable[[Loader], Loader]:
    """Register ``fn`` as the loader for these extensions (".pdf", ".docx", ...) or
    formats: a loader of one's own declares its :class:`Format` here, in one line
    (``@register_loader(Format((".toy",), media_types={…}, text=True))``)."""

    def decorator(fn: Loader) -> Loader:
        for declared in formats:
            if isinstance(declared, Format):  # its module: the loader's (a reader imports it)
                register_format(replace(declared, module=declared.module or fn.__module__))
            for ext in declared.extensions if isinstance(declared, Format) else (declared,):
                _LOADERS[ext.lower()] = fn
        return fn

    return decorator


def _loader(extension: str) -> Loader | None:
    module = _MODULE_OF.get(extension)
    if module is not None and extension not in _LOADERS:
        importlib.import_module(module)
    return _LOADERS.get(extension)


def is_supported(name: str) -> bool:
    extension = Path(name).suffix.lower()
    return format_of(name) is not None or extension in _LOADERS


def load_document(blob: Blob) -> LoadedDocument:
    """Load ``blob`` with the loader for its extension and normalise the text.

    Raises a LoadError subclass for every file that cannot become searchable text; a
    document whose sections are all blank is an EmptyDocumentError.
    """
    loader = _loader(blob.extension)
    if loader is None:
        kind = blob.extension or "files without an extension"
        raise UnsupportedTypeError(f"unsupported file type ({kind})")
    try:
        doc = loader(blob)
    except LoadError:
        raise
    except RecursionError as exc:  # MemoryError is the reader's (sabio.readers)
        raise CorruptFileError(f"could not read {blob.name}: {type(exc).__name__}") from exc
    sections = [
        Section(text, s.page, normalize_text(s.heading).replace("\n", " "), s.kind)
        for s in doc.sections
        if (text := normalize_text(s.text))
    ]
    if not sections:
        raise EmptyDocumentError("no text in the file")
    doc.sections = sections
    doc.title = normalize_text(doc.title).replace("\n", " ") or Path(blob.name).stem
    return doc


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\u200b]")
_TRAILING_SPACE = re.compile(r"(?<![ \t\xa0])[ \t\xa0]+\n")
"""Spaces before a newline. The look-behind starts a match only where a run of spaces
starts: without it a run of n spaces not followed by a newline was scanned n times
(100,000 spaces took 32 s)."""
_MANY_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFKC (full-width letters, ligatures), one newline style, no control characters."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_BLANKS.sub("\n\n", text)
    return text.strip()
