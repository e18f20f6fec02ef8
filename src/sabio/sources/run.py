"""One sync of one source: what a connector calls to index, update and remove, and
where every item's outcome is recorded.

:class:`SyncRun` is the :class:`~sabio.sources.kinds.SyncContext` Sabio gives connectors.
It works over a :class:`Library` (what :class:`sabio.service.Sabio` is, seen from here:
adding files and loaded documents, the store, the sources), so this module never imports
the service."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from sabio.config import Settings
from sabio.ingest import FileResult, IngestReport, LoadedSource, Progress
from sabio.loaders import ReadProgress
from sabio.sources import ItemUpdate, Source, SourceItem
from sabio.store import DocumentRecord, FileState, KnowledgeBase, SabioStore, SourceBackend

Beat = Callable[[int, int | None, str], None]
"""Told (items done, items in all or None, what is happening now), often."""


@dataclass(slots=True)
class Tally:
    """What a sync did, counted by outcome, for its job's closing message."""

    counts: dict[str, int]

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def __str__(self) -> str:
        parts = [f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(self.counts.items())]
        return ", ".join(parts) or "nothing to do"


class Library(Protocol):
    """What a sync needs of the service that indexes (:class:`sabio.service.Sabio`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> SabioStore: ...
    @property
    def sources(self) -> SourceBackend: ...

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
        ocr: Literal["now", "after", "job"] = "now",
    ) -> IngestReport: ...

    def add_loaded(
        self, items: Sequence[LoadedSource], kb_name: str, *, isolate: bool = False
    ) -> IngestReport: ...

    def source_password(self, source_id: int) -> str: ...

    def review_arrived(self, source: Source, document_ids: Sequence[int]) -> Any: ...


class SyncRun:
    def __init__(
        self, library: Library, source: Source, payload: dict[str, Any], beat: Beat | None = None
    ) -> None:
        self.library = library
        self.source = source
        self.payload = payload
        self.settings = library.settings
        self.kb: KnowledgeBase = library.store.get_kb(source.kb_name)
        self.sources = library.sources
        self.tally = Tally({})
        self.arrived: list[int] = []
        """Documents this sync indexed anew or again (changed), for the source's ``on_new``."""
        self._beat = beat or (lambda done, total, note: None)
        self._done = 0
        self._total: int | None = None
        self._last_beat = 0.0

    # what connectors call

    def progress(self, note: str, *, done: int | None = None, total: int | None = None) -> None:
        if done is not None:
            self._done = done
        if total is not None:
            self._total = total
        now = time.monotonic()
        if now - self._last_beat >= 1.0:
            self._last_beat = now
            self._beat(self._done, self._total, note)

    def password(self) -> str:
        return self.library.source_password(self.source.id)

    def item(self, key: str) -> SourceItem | None:
        return self.sources.item(self.source.id, key)

    def items(self) -> list[SourceItem]:
        return self.sources.items(self.source.id)

    def document(self, source: str) -> DocumentRecord | None:
        return self.library.store.find_document(self.kb.id, source)

    def documents_under(self, folder: str) -> list[str]:
        return self.library.store.sources_under(self.kb.id, folder)

    def move_document(self, document: DocumentRecord, to: FileState) -> None:
        self.library.store.move_document(document, to)

    def save_state(self, state: dict[str, Any]) -> None:
        self.sources.save_state(self.source.id, state)

    def ingest_files(
        self,
        paths: Sequence[Path],
        *,
        remove_missing: bool = True,
        follow_links: bool = False,
        within: Path | None = None,
    ) -> None:
        """Index files and folders (removing, with ``remove_missing``, documents of files
        gone from a folder; links leaving a folder, or ``within``, skipped unless
        ``follow_links``); each file's outcome becomes its item."""
        done = self._done

        def progress(
            result: FileResult | None,
            note: str,
            total: int | None = None,
            reading: ReadProgress | None = None,
        ) -> None:
            nonlocal done
            if result is not None:
                done += 1
            self.progress(note or "reading files", done=done, total=total)

        report = self.library.add(
            paths,
            self.kb.name,
            keep_missing=not remove_missing,
            progress=progress,
            isolate=True,  # a reader that crashes on a file fails that file, not the worker
            follow_links=follow_links,
            within=within,
            ocr="job",  # a mixed PDF's text now; its scanned pages by a job of their own
        )
        self.record([self._update(r, r.source, "") for r in report.results])

    def index_loaded(
        self, items: Sequence[LoadedSource], keys: Sequence[str], extra: Sequence[ItemUpdate] = ()
    ) -> None:
        """Index documents loaded by the connector; ``keys[i]`` names ``items[i]``'s item,
        and ``extra`` (when given, same order) carries each one's ETag and Last-Modified."""
        if not items:
            return
        by_source = {item.source: (key, item.title) for item, key in zip(items, keys, strict=True)}
        report = self.library.add_loaded(items, self.kb.name, isolate=True)  # as ingest_files
        updates = []
        extras = {u.key: u for u in extra}
        for result in report.results:
            key, title = by_source[result.source]
            update = self._update(result, key, title)
            if key in extras:
                update = replace(
                    update, etag=extras[key].etag, last_modified=extras[key].last_modified
                )
            updates.append(update)
        self.record(updates)

    def remove_documents(self, sources_and_keys: Sequence[tuple[str, str]], reason: str) -> None:
        """Forget the documents named (document source, item key), recording why."""
        docs = [
            (key, doc)
            for source, key in sources_and_keys
            if (doc := self.document(source)) is not None
        ]
        if docs:
            self.library.store.delete_documents(self.kb, [d.id for _, d in docs])
        self.record([ItemUpdate(key, "removed", "removed", reason) for key, _ in sources_and_keys])

    def record(self, updates: Sequence[ItemUpdate]) -> None:
        """Keep what became of each item; with the source's ``review`` option, review
        the documents added or changed (:meth:`Library.review_arrived`)."""
        if updates:
            self.sources.record(self.source.id, updates)
        for update in updates:
            self.tally.add(update.outcome)
            new = update.outcome in ("added", "updated") and update.status == "indexed"
            if new and update.document_id is not None:
                self.arrived.append(update.document_id)
        arrived = [
            u.document_id
            for u in updates
            if u.outcome in ("added", "updated") and u.document_id is not None
        ]
        if arrived and self.source.options.get("review"):
            self.library.review_arrived(self.source, arrived)

    def _update(self, result: FileResult, key: str, title: str) -> ItemUpdate:
        doc = self.document(result.source) if result.outcome != "removed" else None
        return ItemUpdate(
            key,
            result.status,
            result.outcome,
            result.reason,
            title or (doc.title if doc else ""),
            doc.id if doc else None,
        )
