"""Grounded answers: what ties an answer to a knowledge base (its search, notes, pinned
answers, tables and the tasks a question asks for) and :meth:`Answers.ask`."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from sabio.answer import (
    SIMILARITY_FLOORS,
    AnswerStream,
    Citation,
    Grounding,
    PinnedAnswer,
    Turn,
    relevant_hits,
)
from sabio.errors import ModelError
from sabio.filters import DocumentFilter
from sabio.language import detect_language
from sabio.models import EmbeddingModel, Vectors
from sabio.models.paired import paired_parts
from sabio.notes import (
    NOTE_MATCHER,
    NOTES_K,
    author_name,
    disagreement,
    note_date,
    note_id,
    note_label,
    note_source,
    said,
)
from sabio.search import SearchHit
from sabio.service.tasks import DocumentTasks
from sabio.store import KnowledgeBase
from sabio.support import Embed
from sabio.tables.answers import TableAccess
from sabio.tables.engine import TableInfo
from sabio.tasks.requests import TaskAccess, TaskAsk, TaskReply, summary_reply, translation_reply

CITATION_FIELDS = frozenset(Citation.__dataclass_fields__)


class Answers(DocumentTasks):
    """Grounded answers; a question that asks for a task runs it (hence the tasks)."""

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

        def part_embed(name: str) -> Embed | None:
            parts = paired_parts(self.kb_embedder(kb))
            return next((p.embed for p in parts if p.name == name), None)

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
            part_embed=part_embed,
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
