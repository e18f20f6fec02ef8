"""Feedback on answers and the notes it makes, over REST (issue 26).

``POST /chats/{id}/messages/{message_id}/feedback`` judges an answer of a chat: thumbs
up or down, a reason, a correction; ``POST /kbs/{name}/feedback`` judges one given
elsewhere (an Ollama or OpenAI client sends the question and the answer), and
``POST /answers/{id}/feedback`` one of the Ollama or OpenAI APIs by the id it came with
(:mod:`sabio.server.given`). A correction
becomes a note of the knowledge base (:mod:`sabio.notes`): ``/kbs/{name}/notes`` lists,
edits and removes them; approving a pending one (``status: active``, when the
``review_notes`` setting asks for review) is for admins. ``/kbs/{name}/guide`` is the
knowledge base's instructions and style (:mod:`sabio.guides`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from sabio.errors import ForbiddenError, NotFoundError
from sabio.evaluation import JudgedQuestion, judged_questions, score_feedback
from sabio.notes import note_label
from sabio.server import roles
from sabio.server.access import authenticate
from sabio.server.api import ERRORS, OwnerDep, ServicesDep
from sabio.server.api_messages import reader_language
from sabio.server.links import API_PREFIX
from sabio.server.schemas import (
    AnswerFeedbackIn,
    FeedbackIn,
    FeedbackOut,
    GlossaryEntry,
    GuideExample,
    GuideIO,
    JudgedQuestionOut,
    JudgedSetOut,
    NotePatch,
    RowId,
)
from sabio.store import Feedback, Guide, NewFeedback

router = APIRouter(prefix=API_PREFIX, tags=["feedback"], responses=ERRORS)
_RATINGS = {"up": 1, "down": -1, None: 0}


@router.post(
    "/chats/{chat_id}/messages/{message_id}/feedback",
    status_code=201,
    summary="Judge an answer of a chat (and correct it)",
)
def rate_message(
    chat_id: RowId,
    message_id: RowId,
    body: FeedbackIn,
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
) -> FeedbackOut:
    """A correction becomes a note of the chat's knowledge base, used by the next
    answers at once (or once approved, with ``review_notes``)."""
    chat = services.reader.get_chat(chat_id, user_id=owner)
    if chat.kb_name is not None and chat.kb_available:
        roles.require_kb(request, chat.kb_name)
    new = _new(request, body, None, owner)
    with services.indexing() as indexer:
        return _out(indexer.rate_message(chat_id, message_id, new), request)


@router.get("/chats/{chat_id}/messages/{message_id}/feedback", summary="What was said of an answer")
def message_feedback(
    chat_id: RowId, message_id: RowId, request: Request, services: ServicesDep, owner: OwnerDep
) -> list[FeedbackOut]:
    services.reader.get_chat(chat_id, user_id=owner).message(message_id)  # yours, or not found
    return [_out(f, request) for f in services.reader.list_feedback(message_id=message_id)]


@router.post("/kbs/{name}/feedback", status_code=201, summary="Judge an answer given elsewhere")
def rate_answer(
    name: str, body: AnswerFeedbackIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> FeedbackOut:
    """For clients without chats (the Ollama and OpenAI APIs, scripts): the question and
    the answer judged come with the judgement."""
    new = _new(request, body, name, owner)
    with services.indexing() as indexer:
        return _out(indexer.give_feedback(new), request)


@router.post(
    "/answers/{answer_id}/feedback",
    status_code=201,
    summary="Judge an answer of the Ollama or OpenAI API by its id",
)
def rate_given(
    answer_id: Annotated[str, Path(max_length=64)],
    body: FeedbackIn,
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
) -> FeedbackOut:
    """The id is the ``X-Sabio-Answer`` header (or ``sabio_answer``) of a knowledge-base
    answer those APIs gave lately (:mod:`sabio.server.given`): its question, answer and
    citations are the server's, so it can also be pinned."""
    given = services.given.get(answer_id)
    roles.require_kb(request, given.kb)
    new = replace(_new(request, body, given.kb, owner), question=given.question,
                  answer=given.text, citations=given.citations)  # fmt: skip
    with services.indexing() as indexer:
        return _out(indexer.give_feedback(new), request)


@router.get("/kbs/{name}/notes", summary="List a knowledge base's notes (or pinned answers)")
def list_notes(
    name: str,
    request: Request,
    services: ServicesDep,
    pinned: Annotated[bool, Query(description="The pinned answers instead.")] = False,
) -> list[FeedbackOut]:
    """Every correction, used (``active``) or waiting for review (``pending``), oldest
    first; with ``pinned``, every pinned answer."""
    found = services.reader.list_feedback(name, notes=not pinned, pinned=pinned)
    return [_out(n, request) for n in found]


@router.patch("/kbs/{name}/notes/{note_id}", summary="Edit or approve a note")
def edit_note(
    name: str, note_id: RowId, body: NotePatch, request: Request, services: ServicesDep
) -> FeedbackOut:
    """A new text replaces the note's document; ``status`` (admins only) approves a
    pending note (``active``) or takes one out of use (``pending``)."""
    _note_of(services.reader.note(note_id), services.reader.get_kb(name).name)
    changes = body.model_dump(exclude_none=True)
    if "status" in changes and not roles.manages(request):
        raise ForbiddenError("only an admin may approve a note", key="note_review_admin")
    with services.indexing() as indexer:
        return _out(indexer.edit_note(note_id, changes), request)


@router.delete(
    "/kbs/{name}/notes/{note_id}", status_code=204, summary="Remove a note or a pinned answer"
)
def remove_note(name: str, note_id: RowId, services: ServicesDep) -> Response:
    """The note and its document, or the pinned answer: answers no longer use it."""
    found = services.reader.get_feedback(note_id)
    if not (found.is_note or found.pinned):
        found = services.reader.note(note_id)  # a rating alone: not found as a note
    _note_of(found, services.reader.get_kb(name).name)
    with services.indexing() as indexer:
        indexer.remove_feedback(note_id)
    return Response(status_code=204)


@router.get("/kbs/{name}/judged", summary="The questions its users judged (and their scores)")
def judged_set(
    name: str,
    services: ServicesDep,
    scores: Annotated[bool, Query(description="Search each one now and score it.")] = False,
) -> JudgedSetOut:
    """The judged set ``sabio eval --from-feedback`` measures: each pinned answer's
    question (answered by the documents it cites) and each corrected one (by its note).
    With ``scores``, the knowledge base's search as it is now on them (a search per
    question): the metrics and where each question's answer ranks."""
    kb = services.reader.get_kb(name).name
    if not scores:
        return JudgedSetOut(questions=[_judged(j) for j in judged_questions(services.reader, kb)])
    measured = score_feedback(services.reader, kb)
    return JudgedSetOut(
        questions=[_judged(j, measured.ranks[j.feedback_id]) for j in measured.judged],
        scores=measured.metrics,
    )


def _judged(judged: JudgedQuestion, rank: int | None = None) -> JudgedQuestionOut:
    return JudgedQuestionOut(
        id=judged.feedback_id, question=judged.question, pinned=judged.pinned,
        corrected=judged.corrected, relevant=list(judged.relevant), rank=rank,
    )  # fmt: skip


@router.get("/kbs/{name}/guide", summary="A knowledge base's instructions and style")
def get_guide(name: str, services: ServicesDep) -> GuideIO:
    return _guide_out(services.reader.kb_guide(name))


@router.put("/kbs/{name}/guide", summary="Set a knowledge base's instructions and style")
def set_guide(name: str, body: GuideIO, services: ServicesDep) -> GuideIO:
    """Replaces the whole guide (an empty one removes it); the next answer the model writes
    over the knowledge base follows it, within 30% of the prompt (what does not fit is left
    out, examples first, and the answer's ``notes`` say so)."""
    guide = Guide(
        body.instruction,
        tuple((e.term, e.wording) for e in body.glossary),
        tuple((e.question, e.answer) for e in body.examples),
    )
    with services.writing() as writer:
        return _guide_out(writer.set_kb_guide(guide, name))


def _guide_out(guide: Guide) -> GuideIO:
    return GuideIO(
        instruction=guide.instruction,
        glossary=[GlossaryEntry(term=t, wording=w) for t, w in guide.glossary],
        examples=[GuideExample(question=q, answer=a) for q, a in guide.examples],
    )


def _new(request: Request, body: FeedbackIn, kb: str | None, owner: int | None) -> NewFeedback:
    user = authenticate(request)
    question = body.question if isinstance(body, AnswerFeedbackIn) else ""
    answer = body.answer if isinstance(body, AnswerFeedbackIn) else ""
    return NewFeedback(
        kb, question, answer, rating=_RATINGS[body.rating], reason=body.reason,
        correction=body.correction, author=user.name if user else "", user_id=owner,
        pinned=body.pin,
    )  # fmt: skip


def _note_of(note: Feedback, kb_name: str) -> None:
    if note.kb_name != kb_name:
        raise NotFoundError(
            f"no note {note.id} in {kb_name!r}; list them with GET /api/v1/kbs/{kb_name}/notes",
            key="note_not_found",
            note=note.id,
        )


def _out(feedback: Feedback, request: Request) -> FeedbackOut:
    """``label``: as cited in the language the client's Accept-Language prefers."""
    language = reader_language(request.headers.get("accept-language", ""))
    rating = {1: "up", -1: "down"}.get(feedback.rating)
    return FeedbackOut(
        id=feedback.id,
        kb=feedback.kb_name,
        rating=rating,  # type: ignore[arg-type]
        reason=feedback.reason,
        correction=feedback.correction,
        question=feedback.question,
        answer=feedback.answer,
        author=feedback.author,
        chat_id=feedback.chat_id,
        message_id=feedback.message_id,
        status=feedback.status,
        pinned=feedback.pinned,
        label=note_label(feedback, language) if feedback.is_note else "",
        created_at=feedback.created_at,
        updated_at=feedback.updated_at,
    )
