"""Chats over REST, under ``/api/v1/chats``: each user's own conversations, kept as trees.

An answer streams as server-sent events (as ``/kbs/{name}/ask``) and is saved when it
ends. ``POST .../stop`` stops it on the server: the model stops at its next piece, the
stream ends with ``done`` (``stopped: true``) and what was sent is what is kept. A
question answered again (``.../regenerate``) or edited (``edit_of``) makes a new version
beside the old one; ``PUT .../branch`` shows another. A chat's knowledge base and model
may change between questions (``PATCH``). With accounts on, asking needs read access to
the chat's knowledge base (:mod:`.roles`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from sabio.chats import Chat, ChatAnswerStream, ChatMessage, chat_markdown
from sabio.server import roles
from sabio.server.api import ANSWER_RESPONSES, ERRORS, OwnerDep, ServicesDep, answer_events
from sabio.server.events import Event, event_stream
from sabio.server.links import API_PREFIX, linked_answer
from sabio.server.schemas import (
    BranchIn,
    ChatDetailOut,
    ChatIn,
    ChatMessageIn,
    ChatOut,
    ChatPatch,
    MessageOut,
    RegenerateIn,
    RowId,
)
from sabio.server.services import Services

router = APIRouter(prefix=f"{API_PREFIX}/chats", tags=["chats"], responses=ERRORS)


@router.get("", summary="List chats")
def list_chats(
    services: ServicesDep,
    owner: OwnerDep,
    q: Annotated[
        str | None, Query(description="Only chats with these words in the title or a message.")
    ] = None,
) -> list[ChatOut]:
    """Newest (last asked or renamed) first."""
    return [ChatOut.model_validate(c) for c in services.reader.list_chats(q, user_id=owner)]


@router.post("", status_code=201, summary="Start a chat")
def create_chat(body: ChatIn, request: Request, services: ServicesDep, owner: OwnerDep) -> ChatOut:
    if body.kb is not None:
        roles.require_kb(request, body.kb)
    with services.writing() as writer:
        chat = writer.create_chat(body.kb, body.model, body.title, user_id=owner)
    return ChatOut.model_validate(chat)


@router.get("/{chat_id}", summary="One chat with the messages of the branch shown")
def get_chat(chat_id: RowId, services: ServicesDep, owner: OwnerDep) -> ChatDetailOut:
    return _detail(services.reader.get_chat(chat_id, user_id=owner))


@router.patch("/{chat_id}", summary="Rename a chat, or change its knowledge base or model")
def update_chat(
    chat_id: RowId, body: ChatPatch, request: Request, services: ServicesDep, owner: OwnerDep
) -> ChatOut:
    """Any of ``title``, ``kb`` (null: no documents) and ``model`` (null: the default);
    the next question uses them, the earlier answers stay as they were."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if changes.get("kb") is not None:
        roles.require_kb(request, changes["kb"])
    with services.writing() as writer:
        return ChatOut.model_validate(writer.update_chat(chat_id, changes, user_id=owner))


@router.delete("/{chat_id}", status_code=204, summary="Delete a chat")
def delete_chat(chat_id: RowId, services: ServicesDep, owner: OwnerDep) -> Response:
    """Deletes the chat and all its messages."""
    with services.writing() as writer:
        writer.delete_chat(chat_id, user_id=owner)
    return Response(status_code=204)


@router.post(
    "/{chat_id}/messages",
    summary="Ask the next question of a chat (streamed)",
    response_class=StreamingResponse,
    responses=ANSWER_RESPONSES,
)
async def ask_in_chat(
    chat_id: RowId, body: ChatMessageIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> StreamingResponse:
    """As ``/kbs/{name}/ask``, with the chat's complete earlier exchanges as the history,
    over the chat's knowledge base (none: the model answers without documents) and model.
    With ``edit_of`` the question replaces an earlier one (a new branch from there). When
    the stream ends the question and the answer are saved to the chat, also when it
    breaks off, is stopped or the client goes away (then with ``complete: false``)."""

    def start() -> ChatAnswerStream:
        return services.reader.ask_in_chat(
            chat_id,
            body.question,
            k=body.k,
            edit_of=body.edit_of,
            save=services.save_exchange,
            user_id=owner,
            style=body.style,
            filters=body.document_filter(),
        )

    return await event_stream(_chat_events(request, services, chat_id, owner, start))


@router.post(
    "/{chat_id}/regenerate",
    summary="Answer a question again (streamed)",
    response_class=StreamingResponse,
    responses=ANSWER_RESPONSES,
)
async def regenerate(
    chat_id: RowId, body: RegenerateIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> StreamingResponse:
    """A new answer to the question ``message_id`` (or to the question of the answer
    ``message_id``), streamed as ``/messages``; the earlier answers stay as versions."""

    def start() -> ChatAnswerStream:
        return services.reader.regenerate(
            chat_id,
            body.message_id,
            k=body.k,
            save=services.save_exchange,
            user_id=owner,
            style=body.style,
            filters=body.document_filter(),
        )

    return await event_stream(_chat_events(request, services, chat_id, owner, start))


@router.post("/{chat_id}/stop", summary="Stop the answer being made")
def stop(chat_id: RowId, services: ServicesDep, owner: OwnerDep) -> dict[str, int]:
    """The model stops at its next piece; the stream of the answer then ends with
    ``done`` (``stopped: true``, ``complete: false``), and the answer is saved as it was
    shown. ``stopped``: how many answers were stopped (0: none was being made)."""
    services.reader.get_chat(chat_id, user_id=owner)  # yours, or not found
    return {"stopped": services.stop_answers(chat_id)}


@router.put("/{chat_id}/branch", summary="Show another version of a question or answer")
def show_branch(
    chat_id: RowId, body: BranchIn, services: ServicesDep, owner: OwnerDep
) -> ChatDetailOut:
    """The chat shows the branch through ``message_id`` (one of a message's
    ``versions``), down to its latest message; the next question follows it."""
    with services.writing() as writer:
        return _detail(writer.show_branch(chat_id, body.message_id, user_id=owner))


@router.get(
    "/{chat_id}/export",
    summary="Download a chat (Markdown with its citations, or JSON)",
    responses={200: {"content": {"text/markdown": {}, "application/json": {}}}},
)
def export_chat(
    chat_id: RowId,
    services: ServicesDep,
    owner: OwnerDep,
    format: Annotated[Literal["markdown", "json"], Query()] = "markdown",
    lang: Annotated[Literal["en", "es"], Query(description="Markdown's labels.")] = "en",
) -> Response:
    """Markdown: the branch shown, each answer followed by its sources (document, page,
    the quoted passage). JSON: the chat with every message of every branch."""
    chat = services.reader.get_chat(chat_id, user_id=owner)
    name = re.sub(r"[^\w-]+", "-", chat.title or f"chat-{chat.id}").strip("-")[:60] or "chat"
    if format == "json":
        detail = _detail(chat).model_dump(mode="json")
        detail["tree"] = [_message_out(chat, m).model_dump(mode="json") for m in chat.tree]
        content = json.dumps(detail, ensure_ascii=False, indent=2)
        media, ext = "application/json", "json"
    else:
        content, media, ext = chat_markdown(chat, lang), "text/markdown; charset=utf-8", "md"
    disposition = f'attachment; filename="{name.encode("ascii", "replace").decode()}.{ext}"'
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})


def _detail(chat: Chat) -> ChatDetailOut:
    detail = ChatDetailOut.model_validate(chat)
    detail.messages = [_message_out(chat, m) for m in chat.messages]
    return detail


def _message_out(chat: Chat, message: ChatMessage) -> MessageOut:
    out = MessageOut.model_validate(message)
    linked = linked_answer(
        chat.kb_name, {"citations": out.citations, "dropped": [], "claims": out.claims}
    )
    out.citations, out.claims = linked["citations"], linked["claims"]
    return out


def _chat_events(
    request: Request,
    services: Services,
    chat_id: int,
    owner: int | None,
    start: Callable[[], ChatAnswerStream],
) -> Iterator[Event]:
    """The answer ``start`` makes, as :func:`.api.answer_events`, stoppable by
    :func:`stop` while it streams; the chat's knowledge base must be readable."""
    chat = services.reader.get_chat(chat_id, user_id=owner)
    if chat.kb_name is not None and chat.kb_available:
        roles.require_kb(request, chat.kb_name)
    stream = start()
    with services.answering(chat_id, stream):
        yield from answer_events(lambda: stream, chat.kb_name)
