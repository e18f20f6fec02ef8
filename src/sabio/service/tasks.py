"""Whole-document tasks (:mod:`sabio.tasks`): extract, summarize, translate, compare."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sabio.errors import ModelError
from sabio.filters import DocumentFilter
from sabio.models import ChatModel, Vectors
from sabio.service.documents import Documents
from sabio.store import DocumentRecord
from sabio.tasks.budget import StoppableModel
from sabio.tasks.compare import Change, compare_documents
from sabio.tasks.extract import Extraction, extract_document
from sabio.tasks.summarize import Summary, summarize_document
from sabio.tasks.translate import Translation, translate_document


class DocumentTasks(Documents):
    """Whole-document tasks over documents found by reference or filter."""

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
