"""Knowledge bases: made, found, counted, watched, re-indexed and deleted, with the
folder of their tables."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sabio.chunking import embedding_text
from sabio.errors import NotFoundError
from sabio.home import uploads_folder
from sabio.loaders.ocr import check_languages
from sabio.names import check_kb_name, kb_identifier
from sabio.service.core import ServiceCore
from sabio.store import KnowledgeBase
from sabio.tables.engine import TableStore, tables_path


class KnowledgeBases(ServiceCore):
    """Knowledge bases, and keeping their tables in step with their documents."""

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

    def kb_tables(self, kb: KnowledgeBase) -> TableStore:
        """Where ``kb``'s tables are kept as tables (:mod:`sabio.tables`)."""
        return TableStore(tables_path(self.settings.home, kb.id))

    def _indexed_hashes(self, kb: KnowledgeBase) -> dict[int, str]:
        return {d.id: d.content_hash for d in self.store.list_documents(kb.id) if d.chunk_count}

    def _sync_tables(self, kb: KnowledgeBase) -> None:
        """Drop the tables of documents that are gone, or no longer the version indexed."""
        self.kb_tables(kb).sync(self._indexed_hashes(kb))
