"""The service API: what every interface (CLI, REST, web app) calls.

It holds the settings, the store, the search index and the embedding models
in use, and contains no presentation. Interfaces stay thin: they parse input, call one
method here and format the answer.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sabio import archive
from sabio.answer import (
    SIMILARITY_FLOORS,
    Answer,
    AnswerStream,
    Citation,
    Grounding,
    PinnedAnswer,
    Turn,
    relevant_hits,
)
from sabio.chats import ChatAnswerStream
from sabio.chunking import embedding_text
from sabio.config import Settings
from sabio.errors import ConfigError, EmbeddingMismatchError, ModelError, NotFoundError
from sabio.filters import DocumentFilter, filtered_document_ids
from sabio.home import make_private_home, uploads_folder, uploads_root
from sabio.ingest import (
    TRANSCRIBING,
    FileResult,
    IngestOptions,
    IngestReport,
    LoadedSource,
    Progress,
    ingest_loaded,
    ingest_paths,
    read_item,
)
from sabio.jobs import Job, JobQueue
from sabio.language import detect_language
from sabio.loaders import OcrOptions, ReadProgress
from sabio.loaders.formats import is_timed
from sabio.loaders.ocr import check_languages
from sabio.models import (
    ChatModel,
    ChatOptions,
    EmbeddingModel,
    Vectors,
    get_chat_model,
    get_embedding_model,
)
from sabio.names import check_kb_name, kb_identifier
from sabio.notes import (
    NOTE_MATCHER,
    NOTES_K,
    NoteMatcher,
    author_name,
    disagreement,
    local_author,
    note_date,
    note_id,
    note_item,
    note_label,
    note_source,
    said,
)
from sabio.pages import OpenPage, file_page, page_grounding, saved_page
from sabio.ranking import SearchIndex, search_index
from sabio.readers import Keeper, Limits
from sabio.review import Report, review_kb
from sabio.review.alerts import highest, post_webhook, webhook_payload
from sabio.review.drop import drop_secret
from sabio.review.evidence import Evidence, finding_evidence
from sabio.review.findings import MESSAGES as FINDING_KINDS
from sabio.review.summary import FindingsSummary, counted_summary, summarize_findings
from sabio.search import SearchHit, search_chunks
from sabio.sources import automation
from sabio.sources.kinds import SetupContext, source_kind
from sabio.store import (
    Chat,
    Dismissal,
    DocumentRecord,
    Feedback,
    Guide,
    KnowledgeBase,
    NewFeedback,
    Passage,
    Placement,
    ReviewAlert,
    Source,
    SourceItem,
    Store,
)
from sabio.store.backend import SabioStore
from sabio.store.registry import StoreOptions, open_store
from sabio.tables.answers import TableAccess
from sabio.tables.engine import Result, TableInfo, TableStore, tables_path
from sabio.tables.query import validate
from sabio.tables.report import Report as TableReport
from sabio.tables.report import build_report
from sabio.tasks.budget import StoppableModel
from sabio.tasks.compare import Change, compare_documents
from sabio.tasks.extract import Extraction, extract_document
from sabio.tasks.requests import TaskAccess, TaskAsk, TaskReply, summary_reply, translation_reply
from sabio.tasks.summarize import Summary, summarize_document
from sabio.tasks.translate import Translation, translate_blocks, translate_document
from sabio.transcription import TRANSCRIPT_FORMATS, segments_of_passages
from sabio.vault import Vault

CITATION_FIELDS = frozenset(Citation.__dataclass_fields__)
EMBEDDED_BACKEND = "embedded"
EMBEDDED_MODEL = "embedded:all-minilm-l6-v2+use-multilingual"
"""The embedded default: MiniLM within English, USE multilingual for the rest (issue 25)."""
DEFAULT_MODEL_TTL = 60.0
"""Seconds the resolved default chat model ("auto") is reused before Ollama is asked again."""
OcrTiming = Literal["now", "after", "job"]
"""When the scanned pages of a PDF with text pages are read (:meth:`Sabio.add`)."""
OCR_SHARE = 0.7
"""The part of reader_timeout a file's OCR may take (the rest: its text layer, its passages)."""


SaveExchange = Callable[[int, Answer, Placement], None]
"""How a chat's answer is saved when it ends: (chat id, the answer, where it goes)."""


@dataclass(slots=True)
class SearchResults:
    hits: list[SearchHit]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TranscriptFile:
    """A recording's transcript to download: its file name, media type and text."""

    name: str
    media_type: str
    text: str


class Sabio:
    def __init__(
        self,
        settings: Settings,
        *,
        shared_with: Sabio | None = None,
        concurrent_reads: bool = False,
        keeper: Keeper | None = None,
    ) -> None:
        """``shared_with``: another service over the same data whose search index and loaded
        models this one uses, with a database connection of its own (the server writes
        through one service and reads through another, see :mod:`sabio.server`), and its
        ``keeper``. ``concurrent_reads``: a database connection per calling thread, for many
        readers. ``keeper``: where reader processes wait between reads (a long-running
        process's, :class:`sabio.readers.Keeper`); without one each read starts its own."""
        self.settings = settings
        make_private_home(settings.home)
        self.store: SabioStore = open_store(
            settings.database_url,
            settings.database_path,
            StoreOptions(
                per_thread=concurrent_reads,
                pool_size=settings.database_pool_size,
                alongside=shared_with.store if shared_with else None,
            ),
        )
        self.chats = self.store.chats
        self.users = self.store.users
        self.sources = self.store.sources
        self.feedback = self.store.feedback
        self.jobs = JobQueue(self.store)
        shared = shared_with
        self.index: SearchIndex = (
            shared.index if shared else search_index(self.store, settings.home / "index")
        )
        self._embedders: dict[str, EmbeddingModel] = shared._embedders if shared else {}
        self._chat_models: dict[str, ChatModel] = shared._chat_models if shared else {}
        self._default_chat: tuple[float, str] | None = None
        self._note_matcher: NoteMatcher = shared._note_matcher if shared else NoteMatcher()
        self.keeper: Keeper | None = shared.keeper if shared else keeper

    def close(self) -> None:
        self.store.close()

    def reconfigure(self, settings: Settings) -> None:
        """Use ``settings`` from now on, over the same data directory. Models that talk to
        a server (Ollama, OpenAI-compatible) are built again when next used, so a new
        address or model takes effect; embedded models stay loaded. An answer already
        streaming finishes with the model it has."""
        if settings.home != self.settings.home:
            raise ValueError(f"reconfigure keeps the data directory {self.settings.home}")
        self.settings = settings
        for cache in (self._embedders, self._chat_models):  # shared_with: the same dicts
            for name in list(cache):
                if name.partition(":")[0] != EMBEDDED_BACKEND:
                    cache.pop(name, None)
        self._default_chat = None

    # knowledge bases

    def default_embedding_model(self) -> str:
        """The model a new knowledge base gets: the setting, or Ollama's, or the embedded one."""
        if self.settings.embedding_model != "auto":
            return self.settings.embedding_model
        from sabio.models.ollama import find_ollama_embedding_model

        return find_ollama_embedding_model(self.settings) or EMBEDDED_MODEL

    def create_kb(
        self, name: str, embedding_model: str | None = None, ocr_languages: str = ""
    ) -> KnowledgeBase:
        """A new knowledge base called ``name`` (any name: :mod:`sabio.names` derives its
        identifier); ``ocr_languages``: the Tesseract packs its scans are read with, as
        'spa+eng' ('': the ``ocr_languages`` setting's)."""
        name = check_kb_name(name)
        languages = check_languages(self.settings.ocr_program, ocr_languages)
        model = self.embedder(embedding_model or self.default_embedding_model())
        slug = kb_identifier(name, self.store.kb_names())
        kb = self.store.create_kb(name, model.name, model.dimension, slug=slug)
        if languages:
            self.store.set_kb_ocr_languages(kb.id, languages)
            kb = replace(kb, ocr_languages=languages)
        return kb

    def set_ocr_languages(self, kb_name: str, languages: str) -> KnowledgeBase:
        """Read knowledge base ``kb_name``'s scans with these Tesseract packs from now on
        ('spa+eng'; '': the setting's); an unknown pack changes nothing."""
        kb = self.store.get_kb(kb_name)
        checked = check_languages(self.settings.ocr_program, languages)
        self.store.set_kb_ocr_languages(kb.id, checked)
        return replace(kb, ocr_languages=checked)

    def kb(self, name: str | None = None, *, create_default: bool = False) -> KnowledgeBase:
        """A knowledge base by name; the default one is created when documents are added."""
        name = name or self.settings.default_kb
        kb = self.store.find_kb(name)
        if kb is None and create_default and name == self.settings.default_kb:
            return self.create_kb(name)
        if kb is None and name == self.settings.default_kb:
            raise NotFoundError("nothing indexed yet: add documents with `sabio add PATH`")
        return kb or self.store.get_kb(name)

    def list_kbs(self) -> list[KnowledgeBase]:
        return self.store.list_kbs()

    def find_kb(self, ref: str) -> KnowledgeBase | None:
        """The knowledge base whose name, else whose identifier, is ``ref``; None if none."""
        return self.store.find_kb(ref)

    def get_kb(self, ref: str) -> KnowledgeBase:
        """Knowledge base ``ref`` (name or identifier), the default one included; NotFoundError
        (saying how to create it) when there is none."""
        return self.store.get_kb(ref)

    def kb_counts(self, kb_id: int) -> tuple[int, int]:
        """(documents, passages) of one knowledge base."""
        return self.store.kb_counts(kb_id)

    def kbs_changed_at(self) -> dict[int, float]:
        """When each knowledge base last changed (see :meth:`sabio.store.Store.kbs_changed_at`)."""
        return self.store.kbs_changed_at()

    def kb_activity(self, kb_id: int) -> tuple[Any, ...]:
        """What changes with the knowledge base's documents, chunks, sources' items and
        jobs (see :meth:`sabio.store.Store.kb_activity`)."""
        return self.store.kb_activity(kb_id)

    def watching(self) -> contextlib.AbstractContextManager[Callable[[], int]]:
        """A number that changes whenever another connection committed
        (:meth:`sabio.store.Store.watching`)."""
        return self.store.watching()

    def delete_kb(self, name: str, *, keep_chats: bool = False) -> None:
        """Delete a knowledge base with its passages, its index, the files uploaded into
        it, the feedback on its answers (its notes and pinned answers) and, unless
        ``keep_chats``, its chats (files added from their own place on disk stay where
        they are)."""
        kb = self.store.get_kb(name)
        self.store.delete_kb(kb, with_chats=not keep_chats)
        self.feedback.forget_kb(kb.name)
        self.index.drop(kb)
        self.kb_tables(kb).drop_all()
        shutil.rmtree(uploads_folder(self.settings.home, kb.slug), ignore_errors=True)
        self.store.erase_deleted()

    def reindex_kb(self, name: str, embedding_model: str | None = None) -> KnowledgeBase:
        """Re-embed every chunk (with a new model, or the recorded one) and switch atomically."""
        kb = self.store.get_kb(name)
        model = self.embedder(embedding_model or kb.embedding_model)
        rows = list(self.store.chunk_texts(kb.id))
        vectors = model.embed([embedding_text(context, text) for _, context, text in rows])
        vectors = vectors.reshape(len(rows), model.dimension)
        self.store.replace_vectors(kb, model.name, [r[0] for r in rows], vectors)
        return self.store.get_kb(name)

    # models

    def embedder(self, name: str) -> EmbeddingModel:
        if name not in self._embedders:
            self._embedders[name] = get_embedding_model(self.settings, name)
        return self._embedders[name]

    def warm_up(self) -> None:
        """Load the embedded embedding models in use (the knowledge bases' and the
        default), so that a server's first question or saved page does not wait for one
        (several seconds, twelve the first time a data directory builds its model file).
        Models served by Ollama are left alone; a model that fails is left for the request
        that needs it to report."""
        names = {kb.embedding_model for kb in self.list_kbs()} | {self.default_embedding_model()}
        for name in sorted(n for n in names if n.startswith("embedded:")):
            with contextlib.suppress(ModelError, OSError):
                self.embedder(name).embed(["sabio"])

    def kb_embedder(self, kb: KnowledgeBase) -> EmbeddingModel:
        model = self.embedder(kb.embedding_model)
        if model.dimension != kb.dimension:
            raise EmbeddingMismatchError(
                f"knowledge base {kb.name!r} holds {kb.dimension}-dimension vectors but "
                f"{kb.embedding_model} now gives {model.dimension}; re-index it with "
                f"`sabio kb reindex {kb.name}`"
            )
        return model

    def chat_model(self, name: str | None = None) -> ChatModel:
        """The chat model called ``name``, or the default one (see ``chat_model``)."""
        if name is None:
            name = self._default_chat_model()
        if name not in self._chat_models:
            self._chat_models[name] = get_chat_model(self.settings, name)
        return self._chat_models[name]

    def _default_chat_model(self) -> str:
        """The setting, or with "auto" what Ollama offers, asked at most once a minute: a
        long-running server must not probe Ollama on every question, yet should notice a
        model pulled (or Ollama started) since."""
        from sabio.models.catalog import default_chat_model

        now = time.monotonic()
        if self._default_chat is None or now - self._default_chat[0] > DEFAULT_MODEL_TTL:
            self._default_chat = (now, default_chat_model(self.settings))
        return self._default_chat[1]

    # documents

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

    def kb_tables(self, kb: KnowledgeBase) -> TableStore:
        """Where ``kb``'s tables are kept as tables (:mod:`sabio.tables`)."""
        return TableStore(tables_path(self.settings.home, kb.id))

    def tables(self, kb_name: str | None = None) -> list[TableInfo]:
        """The tables of a knowledge base's documents, as they are now."""
        kb = self.kb(kb_name)
        current = self._indexed_hashes(kb)
        return [
            t for t in self.kb_tables(kb).tables() if current.get(t.document_id) == t.content_hash
        ]

    def query_tables(self, sql: str, kb_name: str | None = None) -> tuple[str, Result]:
        """Run a query of the person's own over a knowledge base's tables, checked and
        sandboxed as a model's is (:mod:`sabio.tables.query`): the SQL that ran, its result."""
        kb = self.kb(kb_name)
        checked = validate(sql, {t.name for t in self.tables(kb.name)})
        return checked, self.kb_tables(kb).run(checked)

    def table_report(self, kb_name: str | None = None, language: str = "en") -> TableReport:
        """A report over a knowledge base's tables, computed without a model
        (:mod:`sabio.tables.report`), every query checked and sandboxed."""
        name = self.kb(kb_name).name
        run = lambda sql: self.query_tables(sql, name)[1]  # noqa: E731
        return build_report(name, self.tables(name), run, language)

    def schedule_report(
        self, kb_name: str | None, to: Path | str, every: float, format: str, language: str
    ) -> Job:
        """Queue the report over a knowledge base's tables for the worker (``sabio serve``
        or ``sabio worker``): written into the folder ``to``, or posted to it when it is an
        http(s) URL (a webhook), made again every ``every`` seconds (0: once)."""
        kb = self.kb(kb_name)
        if isinstance(to, str):
            if not to.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{to!r} is not a webhook's address; give an http:// or https:// URL",
                    key="webhook_url_invalid",
                )
            where: dict[str, Any] = {"webhook": to}
        else:
            where = {"folder": str(to.absolute())}
        delivery = where | {"every": every, "format": format, "language": language}
        return self.jobs.enqueue_report(kb.name, delivery)

    def cancel_reports(self, kb_name: str | None = None) -> int:
        """Stop a knowledge base's scheduled reports; how many were waiting."""
        return self.jobs.cancel_reports(self.kb(kb_name).name)

    def _indexed_hashes(self, kb: KnowledgeBase) -> dict[int, str]:
        return {d.id: d.content_hash for d in self.store.list_documents(kb.id) if d.chunk_count}

    def _sync_tables(self, kb: KnowledgeBase) -> None:
        """Drop the tables of documents that are gone, or no longer the version indexed."""
        self.kb_tables(kb).sync(self._indexed_hashes(kb))

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

    def documents(self, kb_name: str | None = None) -> list[DocumentRecord]:
        if kb_name is None and self.store.find_kb(self.settings.default_kb) is None:
            return []
        return self.store.list_documents(self.kb(kb_name).id)

    def uploads_folder(self, kb_name: str | None = None) -> Path:
        """Where knowledge base ``kb_name`` (or the default one, before its first upload
        makes it) keeps the files uploaded into it: a folder named by its identifier."""
        name = kb_name or self.settings.default_kb
        kb = self.store.find_kb(name)
        return uploads_folder(
            self.settings.home, kb.slug if kb else kb_identifier(name, self.store.kb_names())
        )

    def find_document(self, kb: KnowledgeBase, source: str) -> DocumentRecord | None:
        return self.store.find_document(kb.id, source)

    def get_document(self, kb: KnowledgeBase, ref: str | int) -> DocumentRecord:
        """A document by id, exact source or a unique ending of its source."""
        return self.store.get_document(kb.id, ref)

    def export_needs_passphrase(self) -> bool:
        """Whether an export of this data directory holds secrets to seal."""
        return archive.needs_passphrase(self.store, self.settings)

    def export_archive(self, target: Path, passphrase: str | None = None) -> archive.Contents:
        """Write the archive of the data directory to ``target`` (:mod:`sabio.archive`)."""
        if not isinstance(self.store, Store):
            raise ConfigError(
                "an export copies the SQLite file, and this Sabio keeps its data in "
                "PostgreSQL (database_url): back that up with pg_dump",
                key="export_needs_sqlite",
            )
        return archive.export_archive(self.store, self.settings, target, passphrase)

    def transcript(self, kb: KnowledgeBase, ref: str | int, fmt: str = "txt") -> TranscriptFile:
        """A transcribed recording's words as ``fmt`` (txt, srt, vtt: their cues are its
        passages, each from its second to the next one's)."""
        doc = self.store.get_document(kb.id, ref)
        if not is_timed(doc.source) or not doc.chunk_count:
            raise NotFoundError(
                f"document {doc.id} ({Path(doc.source).name}) is not a transcribed recording",
                key="not_a_recording",
            )
        if fmt not in TRANSCRIPT_FORMATS:
            raise ConfigError(
                f"no transcript format {fmt!r}; choose one of {', '.join(TRANSCRIPT_FORMATS)}",
                key="transcript_format",
            )
        media_type, write = TRANSCRIPT_FORMATS[fmt]
        duration = float(doc.metadata.get("duration") or 0)
        segments = segments_of_passages(self.store.document_pages(kb.id, doc.id), duration)
        return TranscriptFile(f"{Path(doc.source).stem}.{fmt}", media_type, write(segments))

    def passage(self, kb: KnowledgeBase, chunk_id: int) -> Passage | None:
        """A passage of ``kb`` with the text around it on its page; None when it is not
        one of its passages (any more)."""
        return self.store.passage(kb.id, chunk_id)

    def unindexed_uploads(self) -> dict[str, list[str]]:
        """Accepted uploads that are no document yet, by knowledge base: what a server
        stopped (or killed) while indexing an upload left; the next start queues them."""
        found: dict[str, list[str]] = {}
        root = uploads_root(self.settings.home)
        folders = sorted(root.iterdir()) if root.is_dir() else []
        for folder in folders:
            kb = self.store.find_kb(folder.name) if folder.is_dir() else None
            if kb is None:
                continue
            known = set(self.store.sources_under(kb.id, str(folder)))
            files = [
                str(p) for p in sorted(folder.iterdir()) if p.is_file() and str(p) not in known
            ]
            if files:
                found[kb.name] = files
        return found

    def discard_unindexed_uploads(self, kb_name: str, sources: Sequence[str]) -> None:
        """Delete the uploaded files among ``sources`` that did not become documents (an
        upload whose indexing failed keeps no file)."""
        kb = self.store.find_kb(kb_name)
        for source in sources:
            if kb is None or self.store.find_document(kb.id, source) is None:
                Path(source).unlink(missing_ok=True)

    def remove_document(self, ref: str | int, kb_name: str | None = None) -> DocumentRecord:
        """Forget a document: ``ref`` is an id (an int is only ever an id) or a path. A file
        uploaded through the server is deleted with it; a file added from its own place on
        disk stays."""
        kb = self.kb(kb_name)
        doc = self.store.get_document(kb.id, ref if isinstance(ref, int) else _as_source(ref))
        self.store.delete_documents(kb, [doc.id])
        self.kb_tables(kb).remove([doc.id])
        if Path(doc.source).parent == uploads_folder(self.settings.home, kb.slug):
            Path(doc.source).unlink(missing_ok=True)
        self.store.erase_deleted()
        return doc

    def search(
        self,
        query: str,
        kb_name: str | None = None,
        *,
        k: int | None = None,
        documents: Sequence[str] = (),
        filters: DocumentFilter | None = None,
    ) -> SearchResults:
        """Hybrid search; when the embedding model is unreachable, keywords alone, said so.
        ``documents`` (names or globs) and ``filters``: only in the documents they name
        (see :mod:`sabio.filters`)."""
        kb = self.kb(kb_name)
        wanted = filters or DocumentFilter()
        if documents:
            wanted = replace(wanted, documents=(*wanted.documents, *documents))
        return self._search(kb, query, k, self.filtered_ids(kb, wanted))

    def filtered_ids(self, kb: KnowledgeBase, wanted: DocumentFilter) -> list[int] | None:
        """The documents of ``kb`` that ``wanted`` lets a search use (None: every one); a
        filter that leaves none is a NotFoundError that says which part."""
        if not wanted:
            return None
        named = replace(wanted, documents=tuple(_as_source(n) for n in wanted.documents))
        return filtered_document_ids(self.store.list_documents(kb.id), named)

    def _search(
        self,
        kb: KnowledgeBase,
        query: str,
        k: int | None,
        doc_ids: list[int] | None,
        language: str = "en",
    ) -> SearchResults:
        """The search, with words alone when the embedder fails (said in ``language``)."""
        run = functools.partial(
            search_chunks,
            self.store,
            self.index,
            kb,
            query,
            k=k or self.settings.search_k,
            document_ids=doc_ids,
        )
        try:
            return SearchResults(run(embedder=self.kb_embedder(kb)))
        except (ModelError, NotFoundError) as exc:
            lead = "solo coincidencias de palabras" if language == "es" else "keyword matches only"
            return SearchResults(run(embedder=None), [f"{lead}: {exc}"])

    # whole-document tasks

    def extract(
        self,
        schema: Mapping[str, Any],
        kb_name: str | None = None,
        *,
        filters: DocumentFilter | None = None,
        sources: Sequence[str] | None = None,
        model: str | None = None,
        progress: Callable[[DocumentRecord, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[DocumentRecord, Extraction]]:
        """One object per searchable document of the knowledge base that validates against
        ``schema`` (:mod:`sabio.tasks.extract`), in source order; only the documents
        ``filters`` names, or those with these ``sources``, when given; ``stop``: see
        :meth:`task_model`."""
        kb = self.kb(kb_name)
        chat = self.task_model(model, stop)
        wanted = self.filtered_ids(kb, filters) if filters else None
        for doc in self.store.list_documents(kb.id):
            if doc.status != "indexed" or (wanted is not None and doc.id not in wanted):
                continue
            if sources is not None and doc.source not in sources:
                continue
            pages = self.store.document_pages(kb.id, doc.id)
            report = (lambda note, d=doc: progress(d, note)) if progress else None
            yield doc, extract_document(chat, pages, schema, title=doc.title, progress=report)

    def summarize(
        self,
        ref: str,
        kb_name: str | None = None,
        *,
        length: str = "page",
        language: str | None = None,
        focus: str = "",
        model: str | None = None,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[DocumentRecord, Summary]:
        """The summary of one document (an id, a source or the end of its path), each
        sentence citing its page and checked against the pages (:mod:`sabio.tasks.summarize`)."""
        kb = self.kb(kb_name)
        doc = self.get_document(kb, ref)
        chat = self.task_model(model, stop)
        extractive = self.answer_style(chat.name) == "extractive"
        try:
            embed: Callable[[Sequence[str]], Vectors] | None = self.kb_embedder(kb).embed
        except ModelError:
            embed = None  # the check goes on by words and figures only
        pages = self.store.document_pages(kb.id, doc.id)
        summary = summarize_document(
            chat,
            pages,
            length=length,
            language=language,
            focus=focus,
            title=doc.title,
            progress=progress,
            embed=embed,
            extractive=extractive,
        )
        return doc, summary

    def translate(
        self,
        ref: str,
        to: str,
        kb_name: str | None = None,
        *,
        model: str | None = None,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[DocumentRecord, Translation]:
        """One document in the language ``to``, its structure and figures kept
        (:mod:`sabio.tasks.translate`)."""
        kb = self.kb(kb_name)
        doc = self.get_document(kb, ref)
        pages = self.store.document_pages(kb.id, doc.id)
        chat = self.task_model(model, stop)
        return doc, translate_document(chat, pages, to, progress=progress)

    def task_model(self, name: str | None, stop: threading.Event | None) -> ChatModel:
        """The chat model for a whole-document task: one that stops, raising
        :class:`~sabio.tasks.budget.TaskCancelled`, as soon as ``stop`` is set."""
        chat = self.chat_model(name)
        return chat if stop is None else StoppableModel(chat, stop)

    def compare(
        self, old_ref: str, new_ref: str, kb_name: str | None = None
    ) -> tuple[DocumentRecord, DocumentRecord, list[Change]]:
        """What was added, removed and changed from one document to another, with pages on
        both sides (:mod:`sabio.tasks.compare`)."""
        kb = self.kb(kb_name)
        old, new = self.get_document(kb, old_ref), self.get_document(kb, new_ref)
        changes = compare_documents(
            self.store.document_pages(kb.id, old.id), self.store.document_pages(kb.id, new.id)
        )
        return old, new, changes

    def review(self, kb_name: str | None = None) -> Report:
        """The security review of a knowledge base's stored documents (:mod:`sabio.review`),
        the findings a person dismissed set apart."""
        return review_kb(self.store, self.kb(kb_name))

    def review_arrived(self, source: Source, document_ids: Sequence[int]) -> list[ReviewAlert]:
        """Review the documents a sync of ``source`` just added or changed: an alert for
        each with findings (those dismissed set apart), posted to the source's
        ``review_webhook`` too when it has one (:mod:`sabio.review.alerts`)."""
        kb = self.store.get_kb(source.kb_name)
        alerts, reports = self._alert_findings(kb, document_ids)
        if reports and (url := source.options.get("review_webhook")):
            post_webhook(str(url), webhook_payload(kb.name, source.describe(), reports))
        return alerts

    def review_uploaded(self, kb_name: str, sources: Sequence[str]) -> list[ReviewAlert]:
        """Review files just uploaded into the knowledge base (their sources), when its
        review is on (``kb.review``): an alert for each with findings, as for a source."""
        kb = self.kb(kb_name)
        if not kb.review:
            return []
        found = (self.store.find_document(kb.id, source) for source in sources)
        return self._alert_findings(kb, [d.id for d in found if d is not None])[0]

    def set_review(self, kb_name: str, review: bool) -> KnowledgeBase:
        """Review the files uploaded into ``kb_name`` as they arrive (or stop)."""
        kb = self.store.get_kb(kb_name)
        self.store.set_kb_review(kb.id, review)
        return replace(kb, review=review)

    def _alert_findings(
        self, kb: KnowledgeBase, document_ids: Sequence[int]
    ) -> tuple[list[ReviewAlert], list[tuple[str, Report]]]:
        alerts, reports = [], []
        for document_id in document_ids:
            report = review_kb(self.store, kb, document_id)
            if report.findings:
                document = report.findings[0].document
                severity = highest(report).value
                alerts.append(
                    self.store.reviews.add_alert(kb.id, document, dict(report.counts()), severity)
                )
                reports.append((Path(document).name, report))
        return alerts, reports

    def summarize_review(
        self, report: Report, language: str = "en", model: str | None = None
    ) -> FindingsSummary:
        """A summary of a review's findings, by the chat model when what it writes keeps
        to the findings, else counted (:mod:`sabio.review.summary`)."""
        try:
            chat = self.chat_model(model) if report.findings else None
        except (ModelError, NotFoundError) as exc:
            return FindingsSummary(counted_summary(report, language), refused=[f"no model: {exc}"])
        return summarize_findings(report, language, chat)

    def review_alerts(self, kb_name: str, *, unseen: bool = False) -> list[ReviewAlert]:
        return self.store.reviews.alerts(self.kb(kb_name).id, unseen=unseen)

    def unseen_alerts(self, kb_id: int) -> int:
        return len(self.store.reviews.alerts(kb_id, unseen=True))

    def alerts_seen(self, kb_name: str) -> int:
        return self.store.reviews.mark_seen(self.kb(kb_name).id)

    def dismiss_value(
        self, kb_name: str, fingerprint: str, *, reason: str = "", restore: bool = False
    ) -> int:
        """Dismiss (or ``restore``) every finding of the knowledge base with that
        fingerprint, the same value wherever it was found (your company's own IBAN); how
        many findings that was."""
        kb = self.kb(kb_name)
        report = self.review(kb_name)
        found = report.dismissed if restore else report.findings
        chosen = [f for f in found if f.fingerprint == fingerprint]
        for f in chosen:
            if restore:
                self.store.reviews.restore(kb.id, f.document, f.kind, f.fingerprint)
            else:
                self.store.reviews.dismiss(kb.id, f.document, f.kind, f.fingerprint, reason=reason)
        return len(chosen)

    def drop_secret(self, kb_name: str, fingerprint: str) -> list[str]:
        """Drop a found secret from the index: masked in the stored passages of every
        document of the knowledge base that holds it, those passages embedded again; the
        original files are not touched (:mod:`sabio.review.drop`). The documents changed."""
        kb = self.kb(kb_name)
        report = review_kb(self.store, kb)
        return drop_secret(self.store, kb, report, fingerprint, self.kb_embedder(kb).embed)

    def finding_evidence(
        self, kb_name: str, document_id: int, kind: str, fingerprint: str, start: int
    ) -> Evidence:
        """A finding of a document in its place, the values masked, for the source panel
        (:mod:`sabio.review.evidence`)."""
        kb = self.kb(kb_name)
        self.store.get_document(kb.id, document_id)  # a NotFoundError for another's
        return finding_evidence(self.store, kb, document_id, kind, fingerprint, start)

    def dismiss_finding(
        self,
        kb_name: str,
        document_id: int,
        kind: str,
        fingerprint: str,
        *,
        reason: str = "",
        by: str = "",
        restore: bool = False,
    ) -> Dismissal | None:
        """Dismiss a finding of a document (a false positive: it stays dismissed through
        new reviews and re-indexing), or ``restore`` it (None then)."""
        kb = self.kb(kb_name)
        doc = self.store.get_document(kb.id, document_id)
        if kind not in FINDING_KINDS:
            raise ConfigError(
                f"no finding of kind {kind!r}; the kinds are those a review lists",
                key="finding_kind",
            )
        if restore:
            self.store.reviews.restore(kb.id, doc.source, kind, fingerprint)
            return None
        return self.store.reviews.dismiss(
            kb.id, doc.source, kind, fingerprint, reason=reason, by=by
        )

    # answers

    def ask(
        self,
        question: str,
        kb_name: str | None = None,
        *,
        model: str | None = None,
        history: Sequence[Turn] = (),
        k: int | None = None,
        style: str | None = None,
        filters: DocumentFilter | None = None,
    ) -> AnswerStream:
        """A grounded answer to ``question``, to iterate as it streams (see answer.py).
        ``style``: extractive, generative or both (default: the answer_style setting);
        ``filters``: only from the documents they let through (see :mod:`sabio.filters`)."""
        chat_model = self.chat_model(model)
        return AnswerStream(
            question,
            chat_model,
            self._grounding(self.kb(kb_name), k, filters),
            options=self._answer_options(),
            history=history,
            style=self.answer_style(chat_model.name, style),
        )

    # the page open in the browser (sabio.pages, for the extension)

    def page_embedder(self, kb_name: str | None = None) -> EmbeddingModel | None:
        """The embedder a page's passages are ranked with: the knowledge base's, when the
        page is asked about together with one, else the default; None when it is down."""
        try:
            if kb_name:
                return self.kb_embedder(self.kb(kb_name))
            return self.embedder(self.default_embedding_model())
        except ModelError:
            return None

    def ask_page(
        self,
        question: str,
        page: OpenPage,
        kb_name: str | None = None,
        *,
        model: str | None = None,
        history: Sequence[Turn] = (),
        style: str | None = None,
    ) -> AnswerStream:
        """A grounded answer from the ``page``'s passages and, with ``kb_name``, that
        knowledge base's too (see :func:`sabio.pages.page_grounding`)."""
        chat_model = self.chat_model(model)
        knowledge_base = self._grounding(self.kb(kb_name), None) if kb_name else None
        grounding = page_grounding(page, self.page_embedder(kb_name), knowledge_base)
        return AnswerStream(
            question,
            chat_model,
            grounding,
            options=self._answer_options(),
            history=history,
            style=self.answer_style(chat_model.name, style),
        )

    def summarize_page(
        self, page: OpenPage, *, length: str = "page", language: str | None = None,
        model: str | None = None,
    ) -> Summary:  # fmt: skip
        """The page's summary, as a document's (:mod:`sabio.tasks.summarize`)."""
        chat = self.chat_model(model)
        embedder = self.page_embedder()
        return summarize_document(
            chat,
            [(None, page.text)],
            length=length,
            language=language,
            title=page.title,
            embed=embedder.embed if embedder else None,
            extractive=self.answer_style(chat.name) == "extractive",
        )

    def translate_page(self, page: OpenPage, to: str, *, model: str | None = None) -> Translation:
        """The page in the language ``to`` (:mod:`sabio.tasks.translate`)."""
        return translate_document(self._page_translator(model), [(None, page.text)], to)

    def translate_blocks(
        self, blocks: Sequence[str], to: str, *, model: str | None = None
    ) -> tuple[list[str], list[str]]:
        """The blocks of a page in the tab (its paragraphs, headings…), one translation
        each, for the extension to put in their places (translation in place)."""
        return translate_blocks(self._page_translator(model), blocks, to)

    def _page_translator(self, model: str | None) -> ChatModel:
        """The chat model that translates a page; ConfigError for the embedded one: it
        only quotes, and what it writes as a translation is made up (seen: headlines
        replaced by dates)."""
        name = model or self._default_chat_model()
        if name.partition(":")[0] == EMBEDDED_BACKEND:
            raise ConfigError(
                f"the embedded chat model ({name}) cannot translate: start Ollama "
                "(`ollama serve`, then `sabio pull qwen3:4b`) or set chat_model to a model "
                "of an OpenAI-compatible server",
                key="translation_needs_model",
                model=name,
            )
        return self.chat_model(name)

    def open_file_page(
        self, content: bytes, media_type: str, url: str, title: str = "", owner: int | None = None
    ) -> OpenPage:
        """A PDF (or another file a loader reads) open in the browser, as a page to ask
        about: read in a reader process, kept in memory only."""
        item = saved_page(content, media_type, url, title)
        found, chunks, problem = read_item(item, self._ingest_options())
        if problem:
            raise ConfigError(f"Sabio could not read this file: {problem}", key="page_unreadable")
        return file_page(chunks, url, title or found, owner)

    def save_page(
        self, kb_name: str, content: bytes, media_type: str, url: str, title: str = ""
    ) -> tuple[FileResult, DocumentRecord | None]:
        """Index what the extension saves (:func:`sabio.pages.saved_page`) into
        ``kb_name``; searchable when this returns."""
        item = saved_page(content, media_type, url, title)
        self.kb(kb_name, create_default=True)  # the default one, by its first page
        report = self.add_loaded([item], kb_name, isolate=True)
        unchanged = FileResult(item.source, "unchanged", "indexed")
        result = report.results[0] if report.results else unchanged
        return result, self.find_document(self.kb(kb_name), item.source)

    def answer_style(self, model: str, style: str | None = None) -> str:
        """``style``, or the answer_style setting, with "auto" made concrete: extractive
        for the embedded chat model (it cannot be trusted to write one), generative for
        any other."""
        chosen = style or self.settings.answer_style
        if chosen == "auto":
            return "extractive" if model.partition(":")[0] == EMBEDDED_BACKEND else "generative"
        return chosen

    def _answer_options(self) -> ChatOptions:
        return ChatOptions(
            max_tokens=self.settings.answer_tokens, temperature=self.settings.temperature
        )

    def _grounding(
        self, kb: KnowledgeBase, k: int | None, filters: DocumentFilter | None = None
    ) -> Grounding:
        """What ties an answer to ``kb`` (and to the documents ``filters`` lets through,
        resolved now: a filter that leaves none fails before the answer starts): its
        search, floor, word weights and embedder."""
        doc_ids = self.filtered_ids(kb, filters or DocumentFilter())

        def retrieve(query: str) -> tuple[list[SearchHit], list[str]]:
            results = self._search(kb, query, k, doc_ids, detect_language(query))
            return results.hits, results.notes

        def embed(texts: Sequence[str]) -> Vectors:
            return self.kb_embedder(kb).embed(texts)

        def term_weights(terms: Sequence[str]) -> Mapping[str, float]:
            return self.index.term_weights(kb, terms)

        def documents() -> list[tuple[int, str, str]]:
            return [
                (d.id, d.source, d.title)
                for d in self.store.list_documents(kb.id)
                if d.status == "indexed" and (doc_ids is None or d.id in doc_ids)
            ]

        return Grounding(
            retrieve,
            similarity_floor=SIMILARITY_FLOORS.get(kb.embedding_model),
            term_weights=term_weights,
            embed=embed,
            tables=self._table_access(kb, doc_ids),
            notes=lambda query, language: self._find_notes(kb, query, language),
            guide=self.store.guides.get_guide(kb.id),
            pinned=lambda query, language: self._find_pinned(kb, query, language),
            newer=lambda consulted, language: self._which_is_newer(kb, consulted, language),
            tasks=TaskAccess(documents, functools.partial(self._asked_task, kb)),
        )

    def _which_is_newer(
        self, kb: KnowledgeBase, consulted: Sequence[SearchHit], language: str
    ) -> list[str]:
        """Of an answer made from corrections and documents (``consulted``, its passages):
        each document whose passages on the note's question do not say what the note says
        (the support check, :func:`sabio.notes.disagreement`), what they say and which is
        newer, the note or that version of the document, in ``language``. Documents
        that agree with the note, or speak of something else, are not named."""
        notes = [self.feedback.get_feedback(n) for h in consulted
                 if (n := note_id(h.document)) is not None]  # fmt: skip
        documents: dict[int, list[SearchHit]] = {}
        for hit in consulted:
            if note_id(hit.document) is None:
                documents.setdefault(hit.document_id, []).append(hit)
        if not notes or not documents:
            return []
        embed = self.kb_embedder(kb).embed
        lines = []
        for note in dict((n.id, n) for n in notes).values():
            by = author_name(note, language)
            label = said("correction", language, author=by, date=note_date(note))
            for document_id, hits in sorted(documents.items()):
                quote = disagreement(note, hits, embed)
                if not quote:
                    continue
                doc = self.store.get_document(kb.id, document_id)
                when = doc.mtime_ns / 1e9 if doc.mtime_ns else doc.updated_at
                day = time.strftime("%Y-%m-%d", time.localtime(when))
                key = "doc_newer" if when > note.updated_at else "note_newer"
                name = Path(doc.source).name
                lines.append(said(key, language, name=name, day=day, note=label, quote=quote))
        return lines

    def _find_pinned(self, kb: KnowledgeBase, query: str, language: str) -> PinnedAnswer | None:
        """The pinned answer of ``kb`` to a question like ``query`` (by the notes' matcher,
        :class:`~sabio.notes.NoteMatcher`), each citation found again in the documents as
        they are now: moved passages followed, changed or deleted ones said (in
        ``language``)."""
        pins = self.feedback.list_feedback(kb.name, pinned=True)
        try:
            matcher = self.embedder(NOTE_MATCHER) if pins else None
        except ModelError:
            return None  # without the multilingual embedder, no similar question is told
        found = self._note_matcher.match(matcher, query, pins, 1) if matcher else []
        if not found:
            return None
        pin = found[0]
        citations, warnings = [], []
        for cited in pin.citations:
            citation = Citation(**{k: v for k, v in cited.items() if k in CITATION_FIELDS})
            current, problem = self._recheck(kb, citation)
            citations.append(current)
            if problem:
                where = Path(citation.document).name
                if note_id(citation.document) is not None:
                    where = citation.title  # "Correction by ana, 2026-12-03"
                if citation.page is not None:
                    where += f", {said('page', language)} {citation.page}"
                warnings.append(said(problem, language, where=where))
        by = author_name(pin, language)
        label = said("pinned", language, question=pin.question, author=by, date=note_date(pin))
        return PinnedAnswer(pin.id, pin.answer, citations, warnings, label)

    def _recheck(self, kb: KnowledgeBase, citation: Citation) -> tuple[Citation, str]:
        """``citation`` as the documents are now, and "" or what became of its passage
        ("changed", "deleted")."""
        quoted = " ".join(citation.snippet.split()).rstrip("…").strip()
        chunk = self.store.get_chunks([citation.chunk_id]).get(citation.chunk_id)
        if chunk is not None and quoted in " ".join(chunk.text.split()):
            return citation, ""
        doc = self.store.find_document(kb.id, citation.document)
        if doc is None:
            return citation, "deleted"
        for hit in self._search(kb, quoted, 3, [doc.id]).hits:
            if quoted and quoted in " ".join(hit.text.split()):
                moved = replace(citation, chunk_id=hit.chunk_id, start=hit.start, end=hit.end)
                return replace(moved, document_id=doc.id, page=hit.page), ""
        return citation, "changed"

    def _find_notes(self, kb: KnowledgeBase, query: str, language: str) -> list[SearchHit]:
        """The passages of ``kb``'s notes in use that ``query`` is about (at most
        :data:`~sabio.notes.NOTES_K`, closest first), each titled as cited in
        ``language`` (:func:`sabio.notes.note_label`). Without the multilingual
        embedder, its notes searched and gated as any passage."""
        notes = [
            n for n in self.feedback.list_feedback(kb.name, notes=True) if n.status == "active"
        ]
        documents = {n.id: self.store.find_document(kb.id, note_source(n.id)) for n in notes}
        notes = [n for n in notes if documents[n.id] is not None]
        if not notes:
            return []
        try:
            matcher: EmbeddingModel | None = self.embedder(NOTE_MATCHER)
        except ModelError:
            matcher = None
        chosen = self._note_matcher.match(matcher, query, notes) if matcher else notes
        ids = [d.id for n in chosen if (d := documents[n.id]) is not None]
        if not ids:
            return []
        hits = self._search(kb, query, 4 * len(ids), ids).hits
        if matcher is None:
            floor = SIMILARITY_FLOORS.get(kb.embedding_model, 2.0)  # unmeasured: words only
            weights = self.index.term_weights
            hits = relevant_hits(query, hits, floor, lambda t: weights(kb, t))[:NOTES_K]
        order = {n.id: place for place, n in enumerate(chosen)}
        first: dict[int | None, SearchHit] = {}
        for hit in sorted(hits, key=lambda h: order.get(note_id(h.document) or 0, len(order))):
            first.setdefault(note_id(hit.document), hit)  # a note's best passage only
        by_id = {n.id: n for n in notes}
        return [
            replace(h, title=note_label(by_id[n], language)) for n, h in first.items() if n in by_id
        ]

    def _asked_task(
        self, kb: KnowledgeBase, asked: TaskAsk, language: str, model: str
    ) -> TaskReply:
        """Run a task a question asked for (:mod:`sabio.tasks.requests`) with the answer's
        model; each page it cites with a passage of that page, for the citation."""
        doc = self.get_document(kb, asked.document_id)
        pages = self.store.document_pages(kb.id, doc.id)
        if asked.kind == "summarize":
            _, summary = self.summarize(
                str(doc.id), kb.name, length=asked.options["length"], language=language, model=model
            )
            reply = summary_reply(summary, pages, self._claim_embed(kb))
        else:
            to = asked.options.get("to") or language
            if (
                "to" not in asked.options
                and detect_language(" ".join(t for _, t in pages[:3])) == to
            ):
                to = "en" if to == "es" else "es"  # "traduce X": into the other language
            _, translation = self.translate(str(doc.id), to, kb.name, model=model)
            reply = translation_reply(translation, pages[0][0] if pages else None)
        texts = dict(pages)
        hits = []
        for page in reply.pages:
            found = self._search(
                kb, texts.get(page, doc.title)[:400] or doc.title, 5, [doc.id]
            ).hits
            if found:
                hits.append(next((h for h in found if h.page == page), found[0]))
        return (
            replace(reply, hits=hits) if len(hits) == len(reply.pages) else replace(reply, hits=[])
        )

    def _claim_embed(self, kb: KnowledgeBase) -> Callable[[Sequence[str]], Vectors] | None:
        try:
            return self.kb_embedder(kb).embed
        except ModelError:
            return None

    def _table_access(self, kb: KnowledgeBase, doc_ids: list[int] | None) -> TableAccess | None:
        """What an answer may do with ``kb``'s tables (of the documents ``doc_ids`` only,
        when given): None when it has none."""
        store = self.kb_tables(kb)
        if not store.path.exists():
            return None

        @functools.cache
        def tables() -> list[TableInfo]:
            current = self._indexed_hashes(kb)
            kept = store.tables(doc_ids)
            return [t for t in kept if current.get(t.document_id) == t.content_hash]

        def passage_of(document_id: int) -> int | None:
            found = self._search(kb, self.store.get_document(kb.id, document_id).title, 1,
                                 [document_id])  # fmt: skip
            return found.hits[0].chunk_id if found.hits else None

        return TableAccess(tables, store.run, store.sample, passage_of)

    # each knowledge base's instructions and style (:mod:`sabio.guides`)

    def kb_guide(self, kb_name: str | None = None) -> Guide:
        return self.store.guides.get_guide(self.kb(kb_name).id)

    def set_kb_guide(self, guide: Guide, kb_name: str | None = None) -> Guide:
        """Replace a knowledge base's guide; the next answer uses it."""
        return self.store.guides.set_guide(self.kb(kb_name).id, guide)

    def publish_kb(
        self, kb_name: str, base: str | None = None, *, name: str | None = None,
        language: str = "en",
    ) -> str:  # fmt: skip
        """An Ollama model with the knowledge base's guide as its system prompt, made
        from ``base`` (default: the chat model, when it is Ollama's) through its
        ``/api/create``; its name (default ``sabio-<id>``). It keeps the style, not the
        documents: no retrieval, no citations."""
        from sabio.guides import guide_text
        from sabio.models.ollama import OllamaClient

        kb = self.kb(kb_name)
        guide = self.kb_guide(kb.name)
        if not guide:
            raise ConfigError(
                f"{kb.name!r} has no guide to publish: set one with `sabio kb guide "
                f"{kb.name} --instruction …`",
                key="guide_missing",
            )
        chosen = base or self.settings.chat_model
        if not chosen.startswith("ollama:") and (base is None or ":" not in base):
            raise ConfigError(
                "say which Ollama model to start from: --from qwen3:4b (the chat model "
                f"{chosen!r} is not Ollama's)",
                key="publish_base",
            )
        model = name or f"sabio-{kb.slug}"
        with OllamaClient.from_settings(self.settings) as client:
            client.create(model, chosen.removeprefix("ollama:"), guide_text(guide, language,
                          alone=True).strip())  # fmt: skip
        return model

    # feedback on answers, and the corrections among it (notes, :mod:`sabio.notes`)

    def give_feedback(self, new: NewFeedback) -> Feedback:
        """Keep a judgement of an answer; a correction becomes a note of its knowledge
        base, used at once (or, with the ``review_notes`` setting, once approved)."""
        if new.kb_name is not None:
            new = replace(new, kb_name=self.store.get_kb(new.kb_name).name)
        new = replace(new, author=new.author or local_author())
        if new.correction.strip():
            if new.kb_name is None:
                raise ConfigError(
                    "a correction needs a knowledge base to go into: this answer had no documents",
                    key="note_needs_kb",
                )
            status = "pending" if self.settings.review_notes else "active"
            new = replace(new, status=status)
        if new.pinned and (new.kb_name is None or not new.answer.strip() or new.rating < 0):
            raise ConfigError(
                "only a good answer from a knowledge base can be pinned", key="pin_refused"
            )
        made = self.feedback.add_feedback(new)
        if made.is_note and made.status == "active":
            self._index_note(made)
        return made

    def rate_message(self, chat_id: int, message_id: int, new: NewFeedback) -> Feedback:
        """:meth:`give_feedback` on the answer ``message_id`` of a chat (the question, the
        answer and the knowledge base taken from the chat)."""
        chat = self.get_chat(chat_id, user_id=new.user_id)
        message = chat.message(message_id)
        if message.role != "assistant" or message.parent_id is None:
            raise ConfigError(
                f"message {message_id} is a question: rate an answer", key="feedback_on_question"
            )
        question = chat.message(message.parent_id).content
        kb_name = chat.kb_name if chat.kb_available else None
        return self.give_feedback(
            replace(new, kb_name=kb_name, question=question, answer=message.content,
                    chat_id=chat_id, message_id=message_id, citations=message.citations)
        )  # fmt: skip

    def list_feedback(
        self,
        kb_name: str | None = None,
        *,
        notes: bool = False,
        message_id: int | None = None,
        pinned: bool = False,
    ) -> list[Feedback]:
        if kb_name is not None:
            kb_name = self.store.get_kb(kb_name).name
        return self.feedback.list_feedback(
            kb_name, notes=notes, message_id=message_id, pinned=pinned
        )

    def get_feedback(self, feedback_id: int) -> Feedback:
        return self.feedback.get_feedback(feedback_id)

    def note(self, note_id: int) -> Feedback:
        found = self.feedback.get_feedback(note_id)
        if not found.is_note:
            raise NotFoundError(
                f"{note_id} is a rating, not a note; list notes with `sabio notes list`",
                key="note_not_found",
                note=note_id,
            )
        return found

    def edit_note(self, note_id: int, changes: Mapping[str, Any]) -> Feedback:
        """Change a note's ``correction`` or ``status`` (``active`` approves a pending
        one); its document follows."""
        self.note(note_id)
        edited = self.feedback.update_feedback(note_id, changes)
        if edited.status == "active":
            self._index_note(edited)
        else:
            self._unindex_note(edited)
        return edited

    def remove_feedback(self, feedback_id: int) -> Feedback:
        """Forget a judgement; a note's document goes with it."""
        gone = self.feedback.delete_feedback(feedback_id)
        if gone.is_note:
            self._unindex_note(gone)
        return gone

    def _index_note(self, note: Feedback) -> None:
        kb = self.store.find_kb(note.kb_name or "")
        if kb is not None:
            self.add_loaded([note_item(note)], kb.name)

    def _unindex_note(self, note: Feedback) -> None:
        kb = self.store.find_kb(note.kb_name or "")
        doc = self.store.find_document(kb.id, note_source(note.id)) if kb else None
        if kb is not None and doc is not None:
            self.store.delete_documents(kb, [doc.id])
            self.store.erase_deleted()

    # sources: folders, mailboxes, web pages and webhooks that keep a knowledge base current

    def add_source(
        self,
        kind: str,
        location: str,
        kb_name: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        password: str | None = None,
        interval_s: float | None = None,
    ) -> tuple[Source, str | None]:
        """Attach a source to ``kb_name`` after checking it (the folder exists, the mailbox
        accepts the password, the address is allowed); its first sync is queued (but for a
        webhook's, whose documents are posted to it). Returns
        the source and, for a webhook, its token (shown this once)."""
        kb = self.kb(kb_name, create_default=True)
        declared = source_kind(kind)
        context = SetupContext(self.settings.home, Vault(self.settings.home).encrypt)
        given = declared.check_options(dict(options or {}))
        setup = declared.connector().configure(context, location, given, password)
        on_new = (options or {}).get(automation.KEY)
        kept = setup.options | ({automation.KEY: automation.check_on_new(on_new)} if on_new else {})
        reviewing = given.model_dump(mode="json", include={"review", "review_webhook"})
        kept |= {k: v for k, v in reviewing.items() if v}
        source = self.sources.add(
            kb,
            kind,
            setup.location,
            options=kept,
            secret=setup.secret,
            interval_s=interval_s if interval_s is not None else setup.interval_s,
        )
        if declared.fetches:
            self.jobs.enqueue_sync(source.id)
        return source, setup.token

    def source_password(self, source_id: int) -> str:
        """A source's password, decrypted ("" when it has none)."""
        token = self.sources.secret(source_id)
        return Vault(self.settings.home).decrypt(token) if token else ""

    def list_sources(self, kb_name: str | None = None) -> list[Source]:
        kb_id = self.store.get_kb(kb_name).id if kb_name else None
        return self.sources.find(kb_id)

    def source_items(self, source_id: int) -> list[SourceItem]:
        self.sources.get(source_id)
        return self.sources.items(source_id)

    def sync_source(self, source_id: int) -> Job:
        """Queue a full sync now (``sabio serve`` or ``sabio worker`` runs it)."""
        self.sources.get(source_id)
        return self.jobs.enqueue_sync(source_id)

    def remove_source(self, source_id: int, *, keep_documents: bool = False) -> Source:
        """Detach a source and, unless ``keep_documents``, forget the documents it brought."""
        source = self.sources.get(source_id)
        doc_ids = {i.document_id for i in self.sources.items(source_id) if i.document_id}
        kb = self.store.get_kb(source.kb_name)
        existing = {d.id for d in self.store.list_documents(kb.id)}
        self.sources.remove(source_id)
        if not keep_documents and doc_ids & existing:
            self.store.delete_documents(kb, sorted(doc_ids & existing))
            self.store.erase_deleted()
        return source

    # chats: ``user_id`` is the signed-in account (its chats only); None, the local user

    def create_chat(
        self,
        kb_name: str | None = None,
        model: str | None = None,
        title: str | None = None,
        *,
        user_id: int | None = None,
    ) -> Chat:
        """A new chat over ``kb_name`` (None: no documents) with ``model`` (None: the
        default chat model when each question is asked)."""
        if kb_name is not None:
            kb_name = self.store.get_kb(kb_name).name  # kept by name, also when given its id
        return self.chats.create_chat(kb_name, model, title, user_id=user_id)

    def list_chats(self, query: str | None = None, *, user_id: int | None = None) -> list[Chat]:
        return self.chats.list_chats(query, user_id=user_id)

    def get_chat(self, chat_id: int, *, user_id: int | None = None) -> Chat:
        return self.chats.get_chat(chat_id, user_id=user_id)

    def rename_chat(self, chat_id: int, title: str, *, user_id: int | None = None) -> Chat:
        return self.chats.rename_chat(chat_id, title, user_id=user_id)

    def update_chat(
        self, chat_id: int, changes: dict[str, Any], *, user_id: int | None = None
    ) -> Chat:
        """Change a chat's ``title``, ``kb`` (None: no documents) or ``model`` (None: the
        default), any of them; the next question uses them."""
        columns = {"title": "title", "kb": "kb_name", "model": "model"}
        changed = {columns[name]: value for name, value in changes.items()}
        if changed.get("kb_name") is not None:
            changed["kb_name"] = self.store.get_kb(changed["kb_name"]).name
        return self.chats.update_chat(chat_id, changed, user_id=user_id)

    def delete_chat(self, chat_id: int, *, user_id: int | None = None) -> None:
        self.chats.delete_chat(chat_id, user_id=user_id)
        self.store.erase_deleted()

    def show_branch(self, chat_id: int, message_id: int, *, user_id: int | None = None) -> Chat:
        return self.chats.show_branch(chat_id, message_id, user_id=user_id)

    def save_exchange(
        self, chat_id: int, answer: Answer, placement: Placement | None = None
    ) -> None:
        self.chats.save_exchange(chat_id, answer, placement)

    def ask_in_chat(
        self,
        chat_id: int,
        question: str,
        *,
        k: int | None = None,
        edit_of: int | None = None,
        save: SaveExchange | None = None,
        user_id: int | None = None,
        style: str | None = None,
        filters: DocumentFilter | None = None,
    ) -> ChatAnswerStream:
        """The next answer of a chat, its complete earlier exchanges as the history; with
        ``edit_of`` (a question's id), ``question`` replaces that one: a new branch from
        there, the old one kept. When the stream ends (also broken, stopped or closed
        midway) the question and the answer are saved by ``save`` (default
        :meth:`save_exchange`; the server takes its writer). ``style``, ``filters``: as
        :meth:`ask`."""
        chat = self.get_chat(chat_id, user_id=user_id)
        if edit_of is None:
            placement = Placement(chat.messages[-1].id if chat.messages else None)
            history = chat.history()
        else:
            edited = chat.message(edit_of)
            if edited.role != "user":
                raise ConfigError(f"message {edit_of} is an answer: edit a question")
            placement = Placement(edited.parent_id)
            history = chat.history(before=edit_of)
        return self._chat_answer(chat, question, history, placement, k, save, style, filters)

    def regenerate(
        self,
        chat_id: int,
        message_id: int,
        *,
        k: int | None = None,
        save: SaveExchange | None = None,
        user_id: int | None = None,
        style: str | None = None,
        filters: DocumentFilter | None = None,
    ) -> ChatAnswerStream:
        """Answer a question of the chat again (``message_id``: the question, or an answer
        to it); the new answer is another version beside the earlier ones, saved as
        :meth:`ask_in_chat` saves."""
        chat = self.get_chat(chat_id, user_id=user_id)
        message = chat.message(message_id)
        question = message if message.role == "user" else chat.message(message.parent_id or 0)
        placement = Placement(question.parent_id, question_id=question.id)
        history = chat.history(before=question.id)
        return self._chat_answer(
            chat, question.content, history, placement, k, save, style, filters
        )

    def _chat_answer(
        self,
        chat: Chat,
        question: str,
        history: Sequence[Turn],
        placement: Placement,
        k: int | None,
        save: SaveExchange | None,
        style: str | None,
        filters: DocumentFilter | None = None,
    ) -> ChatAnswerStream:
        if chat.kb_name is not None and not chat.kb_available:
            raise NotFoundError(
                f"the knowledge base {chat.kb_name!r} of chat {chat.id} was deleted; its "
                "messages can still be read: choose another knowledge base or start a new chat",
                key="chat_kb_deleted",
                kb=chat.kb_name,
            )
        record = save or self.save_exchange
        grounding = (
            self._grounding(self.store.get_kb(chat.kb_name), k, filters)
            if chat.kb_name is not None
            else None  # no documents: the model answers the conversation
        )
        chat_model = self.chat_model(chat.model)
        return ChatAnswerStream(
            question,
            chat_model,
            grounding,
            options=self._answer_options(),
            history=history,
            save=lambda answer: record(chat.id, answer, placement),
            style=self.answer_style(chat_model.name, style),
        )


def _as_source(ref: str) -> str:
    """A document reference as typed: an id, or a path (made absolute when it exists)."""
    path = Path(ref)
    return str(path.absolute()) if not ref.isdigit() and path.exists() else ref


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
