"""Documents into a knowledge base: files and folders (with OCR and recordings now or as
jobs), documents loaded elsewhere, and what background jobs are reading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from sabio.ingest import (
    TRANSCRIBING,
    IngestOptions,
    IngestReport,
    LoadedSource,
    Progress,
    ingest_loaded,
    ingest_paths,
)
from sabio.loaders import OcrOptions, ReadProgress
from sabio.readers import Limits
from sabio.service.knowledge_bases import KnowledgeBases
from sabio.store import KnowledgeBase

OcrTiming = Literal["now", "after", "job"]
"""When the scanned pages of a PDF with text pages are read (:meth:`Sabio.add`)."""
OCR_SHARE = 0.7
"""The part of reader_timeout a file's OCR may take (the rest: its text layer, its passages)."""


class Ingestion(KnowledgeBases):
    """Indexing files, folders and documents loaded elsewhere."""

    def add(
        self,
        paths: Sequence[Path],
        kb_name: str | None = None,
        *,
        password: str | None = None,
        keep_missing: bool = False,
        progress: Progress | None = None,
        isolate: bool = False,
        follow_links: bool = False,
        within: Path | None = None,
        ocr: OcrTiming = "now",
        recordings: Literal["now", "job"] = "now",
        reread: bool = False,
    ) -> IngestReport:
        """Index files and folders; see :class:`IngestOptions` for the flags. ``ocr``:
        when the scanned pages of a PDF that has text pages too are read: ``now``, with
        the rest; ``after`` its text pages are indexed (searchable at once), then its
        scanned pages read in this same call (``sabio add``); ``job``: by a background job,
        one per file, queued here (uploads, folder sources). ``recordings="job"``: a new
        or changed recording is left "transcribing" and transcribed by a job of its own
        (uploads). ``reread``: read the files even when unchanged."""
        kb = self.kb(kb_name, create_default=True)
        options = self._ingest_options(
            kb,
            password=password,
            keep_missing=keep_missing,
            workers=self.settings.workers,
            isolate=isolate,
            follow_links=follow_links,
            within=within,
            reread=reread,
            defer_recordings=recordings == "job",
        )
        tables = self.kb_tables(kb)
        first = replace(options, ocr=replace(options.ocr, defer=ocr != "now"))
        embedder = lambda: self.kb_embedder(kb)  # noqa: E731
        report = ingest_paths(self.store, kb, paths, embedder, first, progress, tables)
        self._sync_tables(kb)
        if progress is not None:
            progress(None, "updating the search index")
        self.index.sync(kb)  # tokenizing the new passages now keeps the next search fast
        for r in report.results:  # a job a recording: its progress is that one's seconds
            if r.status == TRANSCRIBING and r.outcome != "unchanged":
                self.jobs.enqueue_ingest(kb.name, [r.source], transcribe=True)
        # "after": also those a stopped `sabio add` left between its passes
        waiting = self._ocr_deferred(kb, report, ocr == "after") if ocr != "now" else []
        if ocr == "job":
            for source in waiting:  # one job a file: its progress is that file's pages
                self.jobs.enqueue_ingest(kb.name, [source], ocr=True)
        elif waiting:
            again = replace(options, keep_missing=True, reread=True)
            second = ingest_paths(
                self.store, kb, [Path(s) for s in waiting], embedder, again, progress, tables
            )
            _merge_second_pass(report, second)
            self._sync_tables(kb)
            self.index.sync(kb)
        return report

    def readings(self) -> dict[str, ReadProgress]:
        """The files background jobs are reading now (one file a job: OCR's pages, a
        transcription's seconds), with how far each is."""
        readings = {}
        for job in self.jobs.recent(limit=100):
            paths = job.payload.get("paths") or []
            what: Literal["ocr", "transcription"] = (
                "ocr" if job.payload.get("ocr") else "transcription"
            )
            flagged = job.payload.get("ocr") or job.payload.get("transcribe")
            if job.status == "running" and flagged and job.total and len(paths) == 1:
                readings[paths[0]] = ReadProgress(what, job.done, job.total)
        return readings

    def _ocr_deferred(
        self, kb: KnowledgeBase, report: IngestReport, unchanged: bool = False
    ) -> list[str]:
        """The files just indexed (and ``unchanged`` ones) whose scanned pages wait for OCR."""
        outcomes = ("added", "updated", "unchanged") if unchanged else ("added", "updated")
        indexed = [r.source for r in report.results if r.outcome in outcomes]
        documents = (self.store.find_document(kb.id, source) for source in indexed)
        return [d.source for d in documents if d is not None and d.metadata.get("ocr_deferred")]

    def add_loaded(
        self, items: Sequence[LoadedSource], kb_name: str, *, isolate: bool = False
    ) -> IngestReport:
        """Index documents loaded elsewhere (mails, web pages, posted texts), as
        :meth:`add` indexes files (``isolate``: as there)."""
        kb = self.kb(kb_name)
        options = self._ingest_options(kb, workers=self.settings.workers, isolate=isolate)
        embedder = lambda: self.kb_embedder(kb)  # noqa: E731
        report = ingest_loaded(self.store, kb, items, embedder, options, None, self.kb_tables(kb))
        self._sync_tables(kb)
        self.index.sync(kb)
        return report

    def _ingest_options(self, kb: KnowledgeBase | None = None, **more: Any) -> IngestOptions:
        """How files are read; ``kb``'s own OCR languages, when it has them."""
        settings = self.settings
        languages = (kb.ocr_languages if kb else "") or settings.ocr_languages
        return IngestOptions(
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            limits=Limits(settings.reader_timeout, settings.reader_memory_mb),
            max_text_mb=settings.max_text_mb,
            ocr=OcrOptions(
                settings.ocr_program,
                tuple(filter(None, languages.split("+"))),
                budget=OCR_SHARE * settings.reader_timeout,
            ),
            models_dir=settings.home / "models",
            keeper=self.keeper,
            **more,
        )


def _merge_second_pass(report: IngestReport, second: IngestReport) -> None:
    """The first pass's outcomes (added, updated; an unchanged file whose scan was left
    unread is updated now) with what the OCR pass made of them."""
    later = {r.source: r for r in second.results}
    report.results[:] = [
        r
        if r.source not in later
        else later[r.source]
        if r.outcome == "unchanged"
        else replace(later[r.source], outcome=r.outcome)
        for r in report.results
    ]
