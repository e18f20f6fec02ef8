"""Ingestion: files and folders in, documents and chunks in the store.

    scan ─► stat (unchanged? stop) ─► [worker processes] hash, load, chunk
         ─► [this process] embed in large batches ─► one transaction per document

Reading files is spread over reader processes (:mod:`sabio.readers`: PDF text extraction
is CPU-bound and pypdfium2 is not thread-safe), forked on Linux when no other thread runs,
else spawned; the embedding model and the database stay in this process. Each file is read
within a time and a memory limit, and may give at most ``max_text_mb`` of text: a file over
a limit fails with the reason, and so does a crash inside a reader (a native library on a
hostile file); the batch goes on. A document is written only when all its vectors exist,
in one transaction, so a killed run leaves every document either as it was or fully
replaced; the next run redoes what is missing.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np

from sabio.chunking import CHUNK_OVERLAP, CHUNK_SIZE, Chunk, chunk_document, embedding_text
from sabio.errors import LoadError, TableError
from sabio.loaders import (
    DEFAULT_OCR,
    LOADER_MODULES,
    Blob,
    LoadedDocument,
    OcrOptions,
    OcrSummary,
    ReadProgress,
    Told,
    is_supported,
    load_document,
)
from sabio.loaders.formats import is_timed, plugin_modules
from sabio.models import EmbeddingModel
from sabio.readers import Keeper, Limits, ReaderPool, Tell
from sabio.store import DocumentRecord, FileState, KnowledgeBase, SabioStore
from sabio.tables.extract import TypedTable, tables_of

if TYPE_CHECKING:
    from sabio.tables.engine import TableStore

log = logging.getLogger(__name__)

EMBED_FLUSH_CHUNKS = 512
EMBED_STEP = 128  # passages per embedding call, so that progress moves
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini"})
NOT_INDEXED = frozenset({"failed", "needs_ocr", "encrypted"})
TRANSCRIBING = "transcribing"
"""The status of a recording waiting for (or in) its transcription job."""
WAITING = "transcription in progress (a background job); searchable when it ends"
PYTHON_READERS = frozenset(LOADER_MODULES["sabio.loaders.text"])
"""Extensions whose loader is pure Python (see :func:`_read_here`)."""
READ_HERE_BYTES = 1 << 20
"""A single plain-text file up to this size is read in the calling process (see
:func:`_read_here`)."""
MAX_TEXT_MB = 20  # the max_text_mb setting's default
TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".tab", ".xlsx", ".xlsm", ".ods"})
"""Files that are tables: one indexed without its tables kept is read again for them."""


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one file. ``status`` is the document's state after the run."""

    source: str
    outcome: str  # added | updated | unchanged | removed | not_indexed
    status: str  # indexed | skipped | needs_ocr | encrypted | failed | removed | transcribing
    reason: str = ""
    chunks: int = 0
    note: str = ""
    """What OCR read of an indexed file (:meth:`OcrSummary.note`), "" when nothing."""


@dataclass(slots=True)
class IngestReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def problems(self) -> list[FileResult]:
        """Files that are not searchable because of an error (not mere skips)."""
        return [r for r in self.results if r.status in NOT_INDEXED]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    chunk_size: int = CHUNK_SIZE
    chunk_overlap: int = CHUNK_OVERLAP
    password: str | None = None
    keep_missing: bool = False
    workers: int = 0
    isolate: bool = False
    """Read even a single small text file in a reader process, never in this one: for
    long-running processes (the server, the worker), whose memory must not depend on
    what a file holds."""
    follow_links: bool = False
    """Index files that a symbolic link leads to outside their folder (see scan_paths)."""
    within: Path | None = None
    """The folder that files named alone must stay in (a watched folder's)."""
    limits: Limits = field(default_factory=Limits)
    max_text_mb: int = MAX_TEXT_MB
    """Most text one document may hold, in MB of characters (2^20 each)."""
    ocr: OcrOptions = DEFAULT_OCR
    models_dir: Path | None = None
    """Where loaders keep model files they derive (``Blob.models``)."""
    reread: bool = False
    """Read every file again, even one whose content is known (its deferred OCR)."""
    defer_recordings: bool = False
    """Leave new or changed recordings "transcribing", for a background job to read."""
    keeper: Keeper | None = None
    """Where reader processes wait between reads (the server's), instead of leaving."""


@dataclass(slots=True)
class _Prepared:
    """A worker's answer for one file."""

    state: FileState
    unchanged: bool = False
    title: str = ""
    status: str = "indexed"
    error: str = ""
    pages: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunks: list[Chunk] = field(default_factory=list)
    tables: list[TypedTable] = field(default_factory=list)
    """Its tables, typed (:mod:`sabio.tables`), kept beside its passages."""


@dataclass(frozen=True, slots=True)
class _Job:
    source: str
    size: int  # as scanned, to read the largest files first
    known_hash: str
    password: str | None
    chunk_size: int
    chunk_overlap: int
    max_text_mb: int
    ocr: OcrOptions
    item: LoadedSource | None = None
    """Not a file: a document loaded elsewhere, or bytes to load (:func:`ingest_loaded`)."""
    plugins: tuple[str, ...] = field(default_factory=plugin_modules)
    """Modules of loaders of one's own, imported by the reader first (a spawned reader
    knows the built-in loaders only)."""
    models_dir: Path | None = None


class Progress(Protocol):
    """Told of each file done (``result``), of work in between (``note``), once, before
    any file, of how many files there are (``total``), and of how far a long reading is
    (``reading``: OCR's pages, a transcription's seconds; ``note`` then says it in words,
    with the file's name)."""

    def __call__(
        self,
        result: FileResult | None,
        note: str,
        total: int | None = None,
        reading: ReadProgress | None = None,
    ) -> None: ...


def _ignore(
    result: FileResult | None,
    note: str,
    total: int | None = None,
    reading: ReadProgress | None = None,
) -> None:
    pass


def _tell_progress(notify: Progress) -> Callable[[_Job, Any], None]:
    """What tells ``notify`` of a reader's notes: (source, :class:`ReadProgress`)."""

    def on_note(job: _Job, note: Any) -> None:
        source, reading = note
        notify(None, f"{reading.describe()}: {Path(source).name}", reading=reading)

    return on_note


def file_hash(path: Path) -> str:
    with path.open("rb") as f:
        return stream_hash(f)


def stream_hash(file: BinaryIO) -> str:
    """The content hash a document records (BLAKE2b, 16 bytes), of an open file read on
    to its end."""
    digest = hashlib.blake2b(digest_size=16)
    while block := file.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


LINK_OUTSIDE = "link to a file outside the folder"


@dataclass(slots=True)
class Scan:
    """What :func:`scan_paths` found: ``files`` with their stat, the ``folders`` walked,
    results for paths that do not exist, and ``outside``: files reached through a
    symbolic link that leaves the folder they were found in (skipped unless asked for)."""

    files: dict[Path, os.stat_result] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)
    missing: list[FileResult] = field(default_factory=list)
    outside: list[Path] = field(default_factory=list)


def scan_paths(
    paths: Iterable[Path], *, follow_links: bool = False, within: Path | None = None
) -> Scan:
    """The files under ``paths`` (folders walked). A file that a symbolic link makes
    lead out of its folder (the folder walked, or ``within`` for a file named alone)
    is ``outside`` unless ``follow_links``: a link in a watched folder must not index,
    and serve, ``/etc/passwd`` or another user's files."""
    scan = Scan()
    for raw in paths:
        path = Path(os.path.abspath(raw))
        if path.is_dir():
            scan.folders.append(path)
            for found, found_stat in _walk(path):
                inside = within or path
                if not follow_links and os.path.islink(found) and not _leads_into(found, inside):
                    scan.outside.append(found)
                else:
                    scan.files[found] = found_stat
        elif (stat := _file_stat(path)) is not None:
            if not follow_links and within is not None and not _leads_into(path, within):
                scan.outside.append(path)
            else:
                scan.files[path] = stat
        else:
            result = FileResult(str(path), "not_indexed", "failed", "no such file or folder")
            scan.missing.append(result)
    return scan


def _leads_into(path: Path, folder: Path) -> bool:
    """Whether ``path``, its links followed, is a file inside ``folder`` (links followed)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _walk(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for root, dirs, names in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith((".", "~$")) or name in IGNORED_NAMES:
                continue
            path = Path(root, name)
            if (stat := _file_stat(path)) is not None:
                yield path, stat


def _file_stat(path: Path) -> os.stat_result | None:
    """The stat of a regular file (following links), None for anything else."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat if S_ISREG(stat.st_mode) else None


def prepare(job: _Job, tell: Tell) -> _Prepared:
    """Hash, load and chunk one file, or load and chunk one item (in a reader process);
    how far a long reading is goes to ``tell`` as (source, :class:`ReadProgress`)."""
    for module in job.plugins:
        importlib.import_module(module)  # registers its loader here too

    def told(reading: ReadProgress) -> None:
        tell((job.source, reading))

    if job.item is not None:
        return _prepare_item(job, job.item, told)
    path = Path(job.source)
    try:
        stat = path.stat()
        state = FileState(job.source, file_hash(path), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        return _Prepared(FileState(job.source, "", 0, 0), status="failed", error=_os_error(exc))
    if state.content_hash == job.known_hash:
        return _Prepared(state, unchanged=True)
    if not is_supported(path.name):
        kind = path.suffix.lower() or "files without an extension"
        return _Prepared(
            state, title=path.stem, status="skipped", error=f"unsupported type ({kind})"
        )
    try:
        doc = load_document(Blob.from_path(path, job.password, job.ocr, job.models_dir, told))
    except LoadError as exc:
        return _Prepared(state, title=path.stem, status=exc.status, error=str(exc))
    except OSError as exc:
        return _Prepared(state, title=path.stem, status="failed", error=_os_error(exc))
    if too_long := _too_much_text(doc, job.max_text_mb):
        return _Prepared(state, title=doc.title, status="failed", error=too_long)
    chunks = chunk_document(doc, job.chunk_size, job.chunk_overlap)
    return _Prepared(
        state,
        title=doc.title,
        pages=doc.pages,
        metadata=doc.metadata,
        chunks=chunks,
        tables=tables_of(doc, path.stem, Blob.from_path(path)),
    )


def _prepare_item(job: _Job, item: LoadedSource, told: Told) -> _Prepared:
    state = FileState(item.source, item.content_hash, 0, 0)
    doc = item.document
    if doc is None and item.blob is not None:
        blob = replace(item.blob, ocr=job.ocr, models=job.models_dir, progress=told)
        try:
            doc = load_document(blob)
        except LoadError as exc:
            title = item.title or item.blob.name
            return _Prepared(state, title=title, status=exc.status, error=str(exc))
    if doc is None:
        return _Prepared(state, title=item.title, status=item.status, error=item.reason)
    title = item.title or doc.title
    if too_long := _too_much_text(doc, job.max_text_mb):
        return _Prepared(state, title=title, status="failed", error=too_long)
    return _Prepared(
        state,
        title=title,
        pages=doc.pages,
        metadata={**doc.metadata, **item.metadata},
        chunks=chunk_document(doc, job.chunk_size, job.chunk_overlap),
        tables=tables_of(doc, Path(item.blob.name).stem if item.blob else title, item.blob),
    )


def read_item(item: LoadedSource, options: IngestOptions) -> tuple[str, list[Chunk], str]:
    """Load and chunk one item in a reader process, as :func:`ingest_loaded` would, and
    keep nothing: its title, its passages, and "" or why it could not be read (a PDF
    open in the browser, asked about without being saved)."""
    job = _Job(
        item.source,
        item.size,
        "",
        None,
        options.chunk_size,
        options.chunk_overlap,
        options.max_text_mb,
        options.ocr,
        item=item,
        models_dir=options.models_dir,
    )
    prepared = next(_prepare_all([job], replace(options, isolate=True)))
    problem = prepared.error or "" if prepared.status != "indexed" else ""
    return prepared.title, prepared.chunks, problem or ("" if prepared.chunks else "no text")


def _os_error(exc: OSError) -> str:
    return f"cannot read the file: {exc.strerror or exc}"


def _too_much_text(doc: LoadedDocument, max_text_mb: int) -> str:
    """Why ``doc`` holds more text than one document may ("" when it does not): its
    passages would fill the server's memory and take hours to embed."""
    chars = sum(len(s.text) for s in doc.sections)
    if chars <= max_text_mb * 2**20:
        return ""
    return (
        f"holds {chars / 2**20:.0f} MB of text, more than the {max_text_mb} MB one document "
        "may hold (the max_text_mb setting); split it into smaller files"
    )


def ingest_paths(
    store: SabioStore,
    kb: KnowledgeBase,
    paths: Sequence[Path],
    embedder: Callable[[], EmbeddingModel],
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
    tables: TableStore | None = None,
) -> IngestReport:
    """Add files and folders to ``kb``; one bad file never stops the batch. ``tables``:
    where the documents' tables are kept as tables too (:mod:`sabio.tables`)."""
    report = IngestReport()
    notify = progress or _ignore
    scan = scan_paths(paths, follow_links=options.follow_links, within=options.within)
    files, folders = scan.files, scan.folders
    notify(None, "reading files", total=len(files) + len(scan.missing) + len(scan.outside))
    for result in scan.missing:
        report.results.append(result)
        notify(result, "")
    jobs: list[_Job] = []
    known: dict[str, DocumentRecord] = {}
    writer = _Writer(store, kb, embedder, known, report, notify, tables)
    read = tables.read_documents() if tables is not None else None
    _skip_outside(store, kb, scan.outside, writer)
    for path, stat in files.items():
        source = str(path)
        doc = store.find_document(kb.id, source)
        retry = options.reread or (
            doc is not None and doc.status == "encrypted" and options.password is not None
        )
        retry = retry or (doc is not None and doc.chunk_count > 0 and _tables_missing(doc, read))
        # scanned pages left for a background reading that never came (a `sabio add`
        # stopped between its two passes): read now, unless this run leaves them too
        retry = retry or (doc is not None and _ocr_pending(doc) and not options.ocr.defer)
        later = options.defer_recordings and is_timed(path.name)
        retry = retry or (doc is not None and doc.status == TRANSCRIBING and not later)
        same_stat = doc is not None and (doc.size, doc.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        if doc is not None and same_stat and not retry:
            result = FileResult(source, "unchanged", doc.status, doc.error, doc.chunk_count)
            report.results.append(result)
            notify(result, "")
            continue
        if doc is not None:
            known[source] = doc
        if later:  # its job reads it (Sabio.add queues one)
            state = FileState(source, "", stat.st_size, stat.st_mtime_ns)
            writer.add(_Prepared(state, title=path.stem, status=TRANSCRIBING, error=WAITING))
            continue
        jobs.append(
            _Job(
                source,
                stat.st_size,
                "" if retry or doc is None else doc.content_hash,
                options.password,
                options.chunk_size,
                options.chunk_overlap,
                options.max_text_mb,
                options.ocr,
                models_dir=options.models_dir,
            )
        )
    for prepared in _prepare_all(jobs, options, notify):
        writer.add(prepared)
    writer.flush()
    seen = {str(p) for p in files} | {str(p) for p in scan.outside}
    for folder in folders if not options.keep_missing else []:
        _remove_missing(store, kb, folder, seen, report, notify)
    report.results.sort(key=lambda r: r.source)
    return report


def _ocr_pending(doc: DocumentRecord) -> bool:
    return bool(doc.metadata.get("ocr_deferred"))


def _tables_missing(doc: DocumentRecord, read: dict[int, str] | None) -> bool:
    """Whether a spreadsheet indexed before its tables were kept (by an older Sabio, or
    before an import) has yet to be read for them: read again once."""
    if read is None or Path(doc.source).suffix.lower() not in TABLE_EXTENSIONS:
        return False
    return read.get(doc.id) != doc.content_hash


def _skip_outside(
    store: SabioStore, kb: KnowledgeBase, outside: list[Path], writer: _Writer
) -> None:
    """Record links that leave their folder as skipped; one indexed before (by an older
    Sabio, or before the link was repointed) leaves the index."""
    gone = [d.id for p in outside if (d := store.find_document(kb.id, str(p))) is not None]
    if gone:
        store.delete_documents(kb, gone)
    for path in outside:
        state = FileState(str(path), "", 0, 0)
        writer.add(_Prepared(state, title=path.stem, status="skipped", error=LINK_OUTSIDE))


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """A document that is not a file on this disk (a mail, a web page, a posted text):
    already loaded (``document``), or bytes that a reader loads as it reads a file
    (``blob``, e.g. a fetched page); neither, with ``status`` and ``reason``, when it
    could not be had. ``source`` names it in the knowledge base (a URL, ``imap://…``);
    ``content_hash`` tells whether it changed since it was indexed; ``title``, when
    given, wins over the loaded document's."""

    source: str
    content_hash: str
    title: str
    document: LoadedDocument | None
    status: str = "indexed"
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    blob: Blob | None = None

    @property
    def size(self) -> int:
        if self.blob is not None:
            return len(self.blob.data or b"")
        return sum(len(s.text) for s in self.document.sections) if self.document else 0


def ingest_loaded(
    store: SabioStore,
    kb: KnowledgeBase,
    items: Sequence[LoadedSource],
    embedder: Callable[[], EmbeddingModel],
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
    tables: TableStore | None = None,
) -> IngestReport:
    """Index documents loaded elsewhere, as :func:`ingest_paths` indexes files: unchanged
    ones (same hash) cost nothing, the others are loaded (a ``blob``) and chunked in
    reader processes within the same limits, each one written whole in its own
    transaction."""
    report = IngestReport()
    notify = progress or _ignore
    notify(None, "indexing", total=len(items))
    known: dict[str, DocumentRecord] = {}
    writer = _Writer(store, kb, embedder, known, report, notify, tables)
    jobs: list[_Job] = []
    for item in items:
        state = FileState(item.source, item.content_hash, 0, 0)
        old = store.find_document(kb.id, item.source)
        if old is not None:
            known[item.source] = old
        if old is not None and old.content_hash == item.content_hash:
            writer.add(_Prepared(state, unchanged=True))
        elif item.document is None and item.blob is None:
            writer.add(_Prepared(state, title=item.title, status=item.status, error=item.reason))
        else:
            jobs.append(
                _Job(
                    item.source,
                    item.size,
                    "",
                    None,
                    options.chunk_size,
                    options.chunk_overlap,
                    options.max_text_mb,
                    options.ocr,
                    item,
                    models_dir=options.models_dir,
                )
            )
    for prepared in _prepare_all(jobs, options, notify):
        writer.add(prepared)
    writer.flush()
    return report


def _remove_missing(
    store: SabioStore,
    kb: KnowledgeBase,
    folder: Path,
    seen: set[str],
    report: IngestReport,
    notify: Progress,
) -> None:
    gone = [s for s in store.sources_under(kb.id, str(folder)) if s not in seen]
    docs = [d for s in gone if (d := store.find_document(kb.id, s)) is not None]
    if docs:
        store.delete_documents(kb, [d.id for d in docs])
    for doc in docs:
        result = FileResult(doc.source, "removed", "removed", "no longer in the folder")
        report.results.append(result)
        notify(result, "")


class _Writer:
    """Collects prepared documents, embeds them in large batches, writes each one."""

    def __init__(
        self,
        store: SabioStore,
        kb: KnowledgeBase,
        embedder: Callable[[], EmbeddingModel],
        known: dict[str, DocumentRecord],
        report: IngestReport,
        notify: Progress,
        tables: TableStore | None = None,
    ) -> None:
        self.store, self.kb, self.embedder, self.known = store, kb, embedder, known
        self.report, self.notify, self.tables = report, notify, tables
        self.pending: list[_Prepared] = []
        self.pending_chunks = 0

    def add(self, prepared: _Prepared) -> None:
        source = prepared.state.source
        old = self.known.get(source)
        if prepared.unchanged and old is not None:
            self.store.touch_document(old, prepared.state)
            self._done(FileResult(source, "unchanged", old.status, old.error, old.chunk_count))
        elif prepared.status != "indexed" or not prepared.chunks:
            self.store.record_unindexed(
                self.kb,
                prepared.state,
                title=prepared.title or Path(source).stem,
                status=prepared.status,
                error=prepared.error,
            )
            outcome = "skipped" if prepared.status == "skipped" else "not_indexed"
            self._done(FileResult(source, outcome, prepared.status, prepared.error))
        else:
            self.pending.append(prepared)
            self.pending_chunks += len(prepared.chunks)
            if self.pending_chunks >= EMBED_FLUSH_CHUNKS:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunks = (c for p in self.pending for c in p.chunks)
        model, parts, total = self.embedder(), [], self.pending_chunks
        for start in range(0, total, EMBED_STEP):  # texts made a step at a time
            self.notify(None, f"embedding passages ({start}/{total} done)")
            step = itertools.islice(chunks, EMBED_STEP)
            parts.append(model.embed([embedding_text(c.context, c.text) for c in step]))
        vectors = np.concatenate(parts)
        offset = 0
        for prepared in self.pending:
            n = len(prepared.chunks)
            doc_id = self.store.replace_document(
                self.kb,
                prepared.state,
                title=prepared.title,
                pages=prepared.pages,
                metadata=prepared.metadata,
                chunks=prepared.chunks,
                vectors=np.asarray(vectors[offset : offset + n]),
            )
            offset += n
            outcome = "updated" if prepared.state.source in self.known else "added"
            spreadsheet = Path(prepared.state.source).suffix.lower() in TABLE_EXTENSIONS
            if self.tables is not None and (prepared.tables or outcome == "updated" or spreadsheet):
                self._keep_tables(doc_id, prepared)
            note = OcrSummary.of(prepared.metadata).note()
            self._done(FileResult(prepared.state.source, outcome, "indexed", "", n, note))
        self.pending, self.pending_chunks = [], 0

    def _keep_tables(self, doc_id: int, prepared: _Prepared) -> None:
        """The document's tables as tables; when that fails (another process holds the
        file too long), its passages stay indexed and the reason is logged."""
        assert self.tables is not None
        state = prepared.state
        try:
            self.tables.replace(
                doc_id, state.content_hash, state.source, prepared.title, prepared.tables
            )
        except TableError as exc:
            log.warning("the tables of %s were not kept: %s", state.source, exc)

    def _done(self, result: FileResult) -> None:
        self.report.results.append(result)
        self.notify(result, "")


def _prepare_all(
    jobs: list[_Job], options: IngestOptions, notify: Progress = _ignore
) -> Iterator[_Prepared]:
    """Prepared files as they finish, read in reader processes within ``options.limits``
    (but for one small text file, see :func:`_read_here`); ``notify`` is told how far
    their long readings are.

    The largest files go first, so that the last one does not leave a reader idle.
    """
    if not jobs:
        return
    on_note = _tell_progress(notify)
    if len(jobs) == 1 and not options.isolate and _read_here(jobs[0]):
        yield prepare(jobs[0], lambda note: on_note(jobs[0], note))
        return
    recordings = [job for job in jobs if is_timed(_name(job))]
    others = [job for job in jobs if not is_timed(_name(job))]
    workers = min(options.workers or os.cpu_count() or 1, len(others) or 1)
    yield from _read_in_pool(others, workers, options.limits, on_note, options.keeper)
    # after the others, one at a time (a transcription already uses two cores), with time
    # for their length
    limits = Limits(max(options.limits.seconds, RECORDING_SECONDS), options.limits.memory_mb)
    yield from _read_in_pool(recordings, 1, limits, on_note)  # not kept: much memory


RECORDING_SECONDS = 6 * 3600.0
"""How long one recording may take to read (or ``reader_timeout``, when longer): its
transcription takes a fraction of its length (``bench/transcribe.py``), which the limit
for other files (two minutes) does not fit."""


def _name(job: _Job) -> str:
    blob = job.item.blob if job.item else None
    return blob.name if blob else job.source


def _read_in_pool(
    jobs: list[_Job],
    workers: int,
    limits: Limits,
    on_note: Callable[[_Job, Any], None],
    keeper: Keeper | None = None,
) -> Iterator[_Prepared]:
    if not jobs:
        return
    pool = ReaderPool(prepare, workers, limits, keeper=keeper)
    ordered = sorted(jobs, key=lambda job: job.size, reverse=True)
    for job, prepared, failure in pool.run(ordered, on_note):
        if prepared is None:  # over a limit, or the reader crashed: tried again next time
            state = FileState(job.source, "", 0, 0)
            title = (job.item.title if job.item else "") or Path(job.source).stem
            prepared = _Prepared(state, title=title, status="failed", error=failure)
        yield prepared


def _read_here(job: _Job) -> bool:
    """Whether to read this one file (or item) in this process: small plain text, read by
    Python alone, which spares starting a process for a single changed note (0.3 s
    against 0.03 s) at no risk to this process's memory."""
    blob = job.item.blob if job.item else None
    name = blob.name if blob else "" if job.item else job.source
    plain = not name or Path(name).suffix.lower() in PYTHON_READERS
    return plain and job.size <= READ_HERE_BYTES
