"""The page open in the browser (:mod:`sabio.pages`, for the extension): asked about,
summarized, translated, read from a file, saved into a knowledge base."""

from __future__ import annotations

from collections.abc import Sequence

from sabio.answer import AnswerStream, Turn
from sabio.errors import ConfigError, ModelError
from sabio.ingest import FileResult, read_item
from sabio.models import ChatModel, EmbeddingModel
from sabio.pages import OpenPage, file_page, page_grounding, saved_page
from sabio.service.answers import Answers
from sabio.service.core import EMBEDDED_BACKEND
from sabio.service.ingestion import Ingestion
from sabio.store import DocumentRecord
from sabio.tasks.summarize import Summary, summarize_document
from sabio.tasks.translate import Translation, translate_blocks, translate_document


class Pages(Answers, Ingestion):
    """The page open in the browser: answers, tasks and saving it."""

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
