"""A knowledge base's documents: listed, found, read back (passages, transcripts), their
uploaded files, removed; and the search over them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sabio.errors import ConfigError, ModelError, NotFoundError
from sabio.filters import DocumentFilter, filtered_document_ids
from sabio.home import uploads_folder, uploads_root
from sabio.loaders.formats import is_timed
from sabio.names import kb_identifier
from sabio.search import SearchHit, search_chunks
from sabio.service.knowledge_bases import KnowledgeBases
from sabio.store import DocumentRecord, KnowledgeBase, Passage
from sabio.transcription import TRANSCRIPT_FORMATS, segments_of_passages


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


class Documents(KnowledgeBases):
    """A knowledge base's documents, their uploaded files and their search."""

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


def _as_source(ref: str) -> str:
    """A document reference as typed: an id, or a path (made absolute when it exists)."""
    path = Path(ref)
    return str(path.absolute()) if not ref.isdigit() and path.exists() else ref
