"""Ingestion: files and folders in, documents and chunks in the store.

    scan ─► stat (unchanged? stop) ─► [worker processes] hash, load, chunk
         ─► [this process] embed in large batches ─► one transaction per document

Reading files is spread over worker processes (PDF text extraction is CPU-bound and
pypdfium2 is not thread-safe), forked on Linux when no other thread runs, else spawned;
the embedding model and the database stay in this process. A document is written only
when all its vectors exist, in one transaction, so a killed run leaves every document
either as it was or fully replaced; the next run redoes what is missing. A crash inside
a reader (a native library on a hostile file) fails that one file, not the batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, Protocol

import numpy as np

from sabio.chunking import CHUNK_OVERLAP, CHUNK_SIZE, Chunk, chunk_document, embedding_text
from sabio.errors import LoadError
from sabio.loaders import LOADER_MODULES, Blob, LoadedDocument, is_supported, load_document
from sabio.models import EmbeddingModel
from sabio.store import DocumentRecord, FileState, KnowledgeBase, Store

EMBED_FLUSH_CHUNKS = 512
EMBED_STEP = 128  # passages per embedding call, so that progress moves
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini"})
NOT_INDEXED = frozenset({"failed", "needs_ocr", "encrypted"})
PYTHON_READERS = frozenset(LOADER_MODULES["sabio.loaders.text"])
"""Extensions whose loader is pure Python (see :func:`_native_reader`)."""


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one file. ``status`` is the document's state after the run."""

    source: str
    outcome: str  # added | updated | unchanged | removed | not_indexed
    status: str  # indexed | skipped | needs_ocr | encrypted | failed | removed
    reason: str = ""
    chunks: int = 0


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
    """Read even a single file in a worker process (unless a plain-text one), so a reader
    that crashes (a hostile PDF can take pdfium down) fails that file only: for
    long-running processes (the server, the worker)."""


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


@dataclass(frozen=True, slots=True)
class _Job:
    source: str
    size: int  # as scanned, to read the largest files first
    known_hash: str
    password: str | None
    chunk_size: int
    chunk_overlap: int


class Progress(Protocol):
    """Told of each file done (``result``), of work in between (``note``), and once, before
    any file, of how many files there are (``total``)."""

    def __call__(self, result: FileResult | None, note: str, total: int | None = None) -> None: ...


def _ignore(result: FileResult | None, note: str, total: int | None = None) -> None:
    pass


def file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def scan_paths(
    paths: Iterable[Path],
) -> tuple[dict[Path, os.stat_result], list[Path], list[FileResult]]:
    """(files with their stat, folders that were walked, results for paths that do not exist)."""
    files: dict[Path, os.stat_result] = {}
    folders: list[Path] = []
    missing: list[FileResult] = []
    for raw in paths:
        path = Path(os.path.abspath(raw))
        if path.is_dir():
            folders.append(path)
            files.update(_walk(path))
        elif (stat := _file_stat(path)) is not None:
            files[path] = stat
        else:
            missing.append(FileResult(str(path), "not_indexed", "failed", "no such file or folder"))
    return files, folders, missing


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


def prepare_file(job: _Job) -> _Prepared:
    """Hash, load and chunk one file (runs in a worker process)."""
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
        doc = load_document(Blob.from_path(path, job.password))
    except LoadError as exc:
        return _Prepared(state, title=path.stem, status=exc.status, error=str(exc))
    except OSError as exc:
        return _Prepared(state, title=path.stem, status="failed", error=_os_error(exc))
    chunks = chunk_document(doc, job.chunk_size, job.chunk_overlap)
    return _Prepared(state, title=doc.title, pages=doc.pages, metadata=doc.metadata, chunks=chunks)


def _os_error(exc: OSError) -> str:
    return f"cannot read the file: {exc.strerror or exc}"


def ingest_paths(
    store: Store,
    kb: KnowledgeBase,
    paths: Sequence[Path],
    embedder: Callable[[], EmbeddingModel],
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
) -> IngestReport:
    """Add files and folders to ``kb``; one bad file never stops the batch."""
    report = IngestReport()
    notify = progress or _ignore
    files, folders, missing = scan_paths(paths)
    notify(None, "reading files", total=len(files) + len(missing))
    for result in missing:
        report.results.append(result)
        notify(result, "")
    jobs: list[_Job] = []
    known: dict[str, DocumentRecord] = {}
    for path, stat in files.items():
        source = str(path)
        doc = store.find_document(kb.id, source)
        retry = doc is not None and doc.status == "encrypted" and options.password is not None
        same_stat = doc is not None and (doc.size, doc.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        if doc is not None and same_stat and not retry:
            result = FileResult(source, "unchanged", doc.status, doc.error, doc.chunk_count)
            report.results.append(result)
            notify(result, "")
            continue
        if doc is not None:
            known[source] = doc
        jobs.append(
            _Job(
                source,
                stat.st_size,
                "" if retry or doc is None else doc.content_hash,
                options.password,
                options.chunk_size,
                options.chunk_overlap,
            )
        )
    writer = _Writer(store, kb, embedder, known, report, notify)
    for prepared in _prepare_all(jobs, options.workers, isolate=options.isolate):
        writer.add(prepared)
    writer.flush()
    seen = {str(p) for p in files}
    for folder in folders if not options.keep_missing else []:
        _remove_missing(store, kb, folder, seen, report, notify)
    report.results.sort(key=lambda r: r.source)
    return report


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """A document that is not a file on this disk (a mail, a web page, a posted text),
    already loaded: ``document`` None with ``status`` and ``reason`` when it could not be.
    ``source`` names it in the knowledge base (a URL, ``imap://…``); ``content_hash``
    tells whether it changed since it was indexed."""

    source: str
    content_hash: str
    title: str
    document: LoadedDocument | None
    status: str = "indexed"
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def ingest_loaded(
    store: Store,
    kb: KnowledgeBase,
    items: Sequence[LoadedSource],
    embedder: Callable[[], EmbeddingModel],
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
) -> IngestReport:
    """Index documents loaded elsewhere, as :func:`ingest_paths` indexes files: unchanged
    ones (same hash) cost nothing, each one is written whole in its own transaction."""
    report = IngestReport()
    notify = progress or _ignore
    notify(None, "indexing", total=len(items))
    known: dict[str, DocumentRecord] = {}
    writer = _Writer(store, kb, embedder, known, report, notify)
    for item in items:
        state = FileState(item.source, item.content_hash, 0, 0)
        old = store.find_document(kb.id, item.source)
        if old is not None:
            known[item.source] = old
        if old is not None and old.content_hash == item.content_hash:
            writer.add(_Prepared(state, unchanged=True))
        elif item.document is None:
            writer.add(_Prepared(state, title=item.title, status=item.status, error=item.reason))
        else:
            doc = item.document
            writer.add(
                _Prepared(
                    state,
                    title=item.title or doc.title,
                    pages=doc.pages,
                    metadata={**doc.metadata, **item.metadata},
                    chunks=chunk_document(doc, options.chunk_size, options.chunk_overlap),
                )
            )
    writer.flush()
    return report


def _remove_missing(
    store: Store,
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
        store: Store,
        kb: KnowledgeBase,
        embedder: Callable[[], EmbeddingModel],
        known: dict[str, DocumentRecord],
        report: IngestReport,
        notify: Progress,
    ) -> None:
        self.store, self.kb, self.embedder, self.known = store, kb, embedder, known
        self.report, self.notify = report, notify
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
        texts = [embedding_text(c.context, c.text) for p in self.pending for c in p.chunks]
        model, parts = self.embedder(), []
        for start in range(0, len(texts), EMBED_STEP):
            self.notify(None, f"embedding passages ({start}/{len(texts)} done)")
            parts.append(model.embed(texts[start : start + EMBED_STEP]))
        vectors = np.concatenate(parts)
        offset = 0
        for prepared in self.pending:
            n = len(prepared.chunks)
            self.store.replace_document(
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
            self._done(FileResult(prepared.state.source, outcome, "indexed", "", n))
        self.pending, self.pending_chunks = [], 0

    def _done(self, result: FileResult) -> None:
        self.report.results.append(result)
        self.notify(result, "")


def _prepare_all(jobs: list[_Job], workers: int, *, isolate: bool = False) -> Iterator[_Prepared]:
    """Prepared files as they finish; in worker processes when there is more than one
    (or always, with ``isolate``).

    The largest files go first, so that the last one does not leave a worker idle.
    """
    if not jobs or (len(jobs) == 1 and not (isolate and _native_reader(jobs[0].source))):
        yield from (prepare_file(job) for job in jobs)
        return
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    context = _start_method()
    todo = iter(sorted(jobs, key=lambda job: job.size, reverse=True))
    running: dict[Future[_Prepared], _Job] = {}
    pool = _pool(workers, context)
    try:
        while True:
            while len(running) < workers * 4 and (job := next(todo, None)) is not None:
                running[pool.submit(prepare_file, job)] = job
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            try:
                for future in done:
                    yield future.result()
                    del running[future]
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                yield from (_prepare_isolated(job, context) for job in running.values())
                running.clear()
                pool = _pool(workers, context)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _native_reader(source: str) -> bool:
    """Whether the file is read by native code (pdfium, lxml, Office parsers) that a
    hostile file could crash; plain-text formats are read by Python alone, here, which
    spares starting a process for a single changed note (0.3 s against 0.03 s)."""
    return Path(source).suffix.lower() not in PYTHON_READERS


def _start_method() -> Any:
    """``fork`` where it is safe and much cheaper (Linux, no other thread in this process:
    0.3 s less per run, most of a small batch), else ``spawn``. A forked worker never
    touches the parent's database connection, and leaves through ``os._exit``, which
    closes nothing of the parent's."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the parent dies (even by `kill -9`), instead of
    lingering with its pipes open."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _pool(workers: int, context: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
    )


def _prepare_isolated(job: _Job, context: Any) -> _Prepared:
    """Run one file alone, so that a reader crash is pinned on the file that caused it."""
    with _pool(1, context) as pool:
        try:
            return pool.submit(prepare_file, job).result()
        except BrokenProcessPool:
            state = FileState(job.source, "", 0, 0)
            return _Prepared(state, status="failed", error="the file crashed the reader")
