"""Chats: ``user_id`` is the signed-in account (its chats only); None, the local user.
Their answers, branches and versions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sabio.answer import Answer, Turn
from sabio.chats import ChatAnswerStream
from sabio.errors import ConfigError, NotFoundError
from sabio.filters import DocumentFilter
from sabio.service.answers import Answers
from sabio.store import Chat, Placement

SaveExchange = Callable[[int, Answer, Placement], None]
"""How a chat's answer is saved when it ends: (chat id, the answer, where it goes)."""


class Chats(Answers):
    """Chats and the answers asked in them, saved as they end."""

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
