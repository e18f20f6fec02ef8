"""Learning from use: feedback on answers, the corrections among it (notes,
:mod:`sabio.notes`) and each knowledge base's instructions and style (:mod:`sabio.guides`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sabio.errors import ConfigError, NotFoundError
from sabio.notes import local_author, note_item, note_source
from sabio.service.chats import Chats
from sabio.service.ingestion import Ingestion
from sabio.store import Feedback, Guide, NewFeedback


class Learning(Chats, Ingestion):
    """Feedback, notes (indexed as documents) and guides; a chat's answer can be rated."""

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
