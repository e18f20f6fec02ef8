"""Sabio's REST API, version 1, under ``/api/v1``: thin routes over :class:`Sabio`.

Reads go to ``services.reader`` from FastAPI's thread pool, concurrently; changes take
``services.writing()``. Answers stream as server-sent events (:func:`ask`). Documents are
named by file name and URL, never by their path on the server (:mod:`.links`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from sabio import __version__
from sabio.answer import Answer, AnswerStream, Turn
from sabio.errors import ConfigError, ForbiddenError
from sabio.ingest import FileResult
from sabio.server import uploads
from sabio.server.access import authenticate, current_user_id, is_allowed
from sabio.server.events import Event, close_iterator, event_stream
from sabio.server.links import (
    API_PREFIX,
    document_link,
    file_url,
    linked_answer,
    linked_citations,
)
from sabio.server.schemas import (
    AskIn,
    ChatDetailOut,
    ChatIn,
    ChatMessageIn,
    ChatOut,
    ChatPatch,
    DocumentOut,
    ErrorOut,
    HealthOut,
    HitOut,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    ModelOut,
    ReindexIn,
    RowId,
    SearchOut,
    UploadedFileOut,
    UploadOut,
)
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting
from sabio.service import Sabio
from sabio.store import DocumentRecord, KnowledgeBase

ServicesDep = Annotated[Services, Depends(services_of)]
OwnerDep = Annotated[int | None, Depends(current_user_id)]
"""The signed-in user, whose chats a route sees; None in local mode (every chat)."""
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in ((400, "Bad request"), (404, "Not found"), (409, "Conflict"))
}
router = APIRouter(prefix=API_PREFIX, responses=ERRORS)
UPLOAD_BODY = {  # parsed by uploads.receive_files, so described here for /docs
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
                "required": ["files"],
            }
        }
    },
}


@router.get("/health", summary="Is the server up", tags=["server"])
async def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


@router.get("/models", summary="List chat and embedding models", tags=["server"])
def models(services: ServicesDep) -> list[ModelOut]:
    """Every model across backends (embedded, Ollama, OpenAI-compatible servers), with the
    defaults marked; unavailable ones say why."""
    from sabio.models.catalog import default_chat_model, list_models

    settings = services.settings
    entries = list_models(
        settings,
        default_chat=default_chat_model(settings),
        default_embedding=services.reader.default_embedding_model(),
    )
    return [ModelOut.model_validate(e) for e in entries]


# knowledge bases


@router.get("/kbs", summary="List knowledge bases", tags=["knowledge bases"])
def list_kbs(services: ServicesDep) -> list[KnowledgeBaseOut]:
    return [_kb_out(kb) for kb in services.reader.list_kbs()]


@router.post("/kbs", status_code=201, summary="Create a knowledge base", tags=["knowledge bases"])
def create_kb(body: KnowledgeBaseIn, services: ServicesDep) -> KnowledgeBaseOut:
    with services.writing() as writer:
        return _kb_out(writer.create_kb(body.name, body.embedding_model))


@router.get("/kbs/{name}", summary="One knowledge base", tags=["knowledge bases"])
def get_kb(name: str, services: ServicesDep) -> KnowledgeBaseOut:
    return _counted_kb(services.reader, name)


@router.delete(
    "/kbs/{name}",
    status_code=204,
    summary="Delete a knowledge base",
    tags=["knowledge bases"],
)
def delete_kb(name: str, request: Request, services: ServicesDep) -> Response:
    """Deletes the knowledge base, its index and the files uploaded into it; files added
    from their own place on disk (``sabio add``) are not touched. Its sources go with it,
    so with accounts on, deleting one that has sources needs the right to remove them."""
    user = authenticate(request)
    with services.indexing(), services.writing() as writer:  # after uploads into it end
        sources = writer.list_sources(name)
        if sources and not is_allowed(user, "DELETE", f"{API_PREFIX}/sources/{sources[0].id}"):
            listed = ", ".join(s.describe() for s in sources[:3])
            raise ForbiddenError(
                f"{name!r} has sources ({listed}) that only an admin may remove; ask an "
                "admin to delete it, or to remove its sources first"
            )
        writer.delete_kb(name)
        with contextlib.suppress(ConfigError):  # a name that is no folder name has no uploads
            shutil.rmtree(uploads.uploads_folder(services.settings.home, name), ignore_errors=True)
    return Response(status_code=204)


@router.post(
    "/kbs/{name}/reindex",
    summary="Re-embed every passage",
    tags=["knowledge bases"],
    responses={503: {"model": ErrorOut, "description": "Embedding model unavailable"}},
)
def reindex_kb(name: str, services: ServicesDep, body: ReindexIn | None = None) -> KnowledgeBaseOut:
    """Re-embeds every passage (with a new embedding model, or the recorded one) and switches
    atomically; searches keep working on the old vectors meanwhile (and logins, chats and
    settings do not wait: it runs on the indexer)."""
    with services.indexing() as indexer:
        indexer.reindex_kb(name, body.embedding_model if body else None)
        return _counted_kb(indexer, name)


def _kb_out(kb: KnowledgeBase) -> KnowledgeBaseOut:
    return KnowledgeBaseOut(
        name=kb.name,
        embedding_model=kb.embedding_model,
        dimension=kb.dimension,
        documents=kb.documents,
        passages=kb.chunks,
    )


def _counted_kb(sabio: Sabio, name: str) -> KnowledgeBaseOut:
    kb = next((kb for kb in sabio.list_kbs() if kb.name == name), None)
    return _kb_out(kb or sabio.store.get_kb(name))


# documents


@router.get("/kbs/{name}/documents", summary="List documents", tags=["documents"])
def list_documents(name: str, services: ServicesDep) -> list[DocumentOut]:
    """Every file of the knowledge base, indexed or not, with its status and why."""
    return [_document_out(name, d) for d in services.reader.documents(name)]


@router.post(
    "/kbs/{name}/documents",
    summary="Upload files",
    tags=["documents"],
    responses={
        413: {
            "model": ErrorOut,
            "description": "Over max_upload_mb (a file), max_request_mb or max_upload_files",
        },
        415: {"model": ErrorOut, "description": "Not multipart/form-data"},
    },
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_documents(name: str, request: Request, services: ServicesDep) -> UploadOut:
    """Upload one or many files (any multipart file field) and index them. Each file is
    checked by its content; one that is refused says why (status ``rejected``) and changes
    nothing. Uploading a file of the same name again replaces the earlier one."""
    if name != services.settings.default_kb:  # the default one is created by its first upload
        await run_in_threadpool(services.reader.store.get_kb, name)
    return UploadOut(files=await receive_uploads(request, services, name))


async def receive_uploads(request: Request, services: Services, name: str) -> list[UploadedFileOut]:
    """A multipart request's files, received within the size limit, checked, kept in
    knowledge base ``name``'s uploads and indexed (uploads and webhooks)."""
    settings = services.settings
    folder = uploads.uploads_folder(settings.home, name)
    limits = uploads.UploadLimits.from_settings(settings)
    received = await uploads.receive_files(request, uploads.incoming_folder(settings.home), limits)
    try:
        return await run_waiting(index_uploads, services, name, folder, received)
    finally:
        uploads.discard(received)  # whatever was not accepted


def index_uploads(
    services: Services, name: str, folder: Path, received: list[uploads.Received]
) -> list[UploadedFileOut]:
    """Check each file, move those that pass into ``folder`` and index them (through the
    indexer: the writer stays free for everything else meanwhile)."""
    problems = {r.name: uploads.content_problem(r.path, r.name) for r in received}
    with services.indexing() as writer:
        accepted = [str(uploads.accept(r, folder)) for r in received if problems[r.name] is None]
        try:
            paths = [Path(p) for p in accepted]
            report = writer.add(paths, name, isolate=True) if accepted else None
        except BaseException:  # e.g. the embedding model is down: keep no unindexed file
            kb = writer.store.find_kb(name)
            for source in accepted:
                if kb is None or writer.store.find_document(kb.id, source) is None:
                    Path(source).unlink(missing_ok=True)
            raise
        results = {r.source: r for r in report.results} if report else {}
        kb = writer.store.find_kb(name)
        files = []
        for r in received:
            source = os.path.join(folder, r.name)
            result = results.get(source) or FileResult(
                source, "rejected", "rejected", problems[r.name] or ""
            )
            doc = writer.store.find_document(kb.id, source) if kb and source in results else None
            files.append(_uploaded_out(r, result, doc))
    return files


def _uploaded_out(
    received: uploads.Received, result: FileResult, doc: DocumentRecord | None
) -> UploadedFileOut:
    return UploadedFileOut(
        filename=received.filename,
        name=received.name,
        status=result.status,
        outcome=result.outcome,
        reason=result.reason,
        passages=result.chunks,
        document_id=doc.id if doc else None,
    )


@router.delete(
    "/kbs/{name}/documents/{document_id}",
    status_code=204,
    summary="Remove a document",
    tags=["documents"],
)
def delete_document(name: str, document_id: RowId, services: ServicesDep) -> Response:
    """Removes the document from the knowledge base; an uploaded file is deleted too, a
    file added from its own place on disk is not."""
    with services.writing() as writer:
        doc = writer.remove_document(document_id, name)
        path = Path(doc.source)
        if path.parent == uploads.uploads_folder(services.settings.home, name):
            path.unlink(missing_ok=True)
    return Response(status_code=204)


def _document_out(kb_name: str, d: DocumentRecord) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        name=Path(d.source).name,
        file_url=file_url(kb_name, d.id, d.source),
        title=d.title,
        status=d.status,
        reason=d.error,
        pages=d.pages,
        passages=d.chunk_count,
        size=d.size,
        updated_at=d.updated_at,
    )


# search and answers


@router.get("/kbs/{name}/search", summary="Search passages", tags=["search"])
def search(
    name: str,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, description="What to look for.")],
    k: Annotated[int | None, Query(ge=1, le=100, description="How many passages.")] = None,
    doc: Annotated[
        list[str] | None, Query(description="Only in these documents (id or file name).")
    ] = None,
) -> SearchOut:
    """Keyword and meaning together; ``notes`` says when only keywords could be used."""
    results = services.reader.search(q, name, k=k, documents=doc or ())
    hits = [
        HitOut.model_validate(asdict(h) | document_link(name, h.document_id, h.document, h.page))
        for h in results.hits
    ]
    return SearchOut(query=q, hits=hits, notes=results.notes)


ANSWER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `token` {text} as the answer streams, then "
        "`done` with the whole answer (citations, timings, complete, error), or "
        "`error` {error: {code, message}} if it fails midway.",
    },
    503: {"model": ErrorOut, "description": "Chat model unavailable"},
}


@router.post(
    "/kbs/{name}/ask",
    summary="Ask a question (streamed)",
    tags=["search"],
    response_class=StreamingResponse,
    responses=ANSWER_RESPONSES,
)
async def ask(name: str, body: AskIn, services: ServicesDep) -> StreamingResponse:
    """A grounded answer with citations. Whatever fails before the first piece (unknown
    knowledge base, model not there) is a plain JSON error instead of a stream. When the
    model breaks off midway, ``done`` comes with ``complete: false`` and the ``error``."""
    history = [Turn(t.question, t.answer) for t in body.history]
    start = functools.partial(
        services.reader.ask, body.question, name, model=body.model, history=history, k=body.k
    )
    return await event_stream(_answer_events(start, name))


def _answer_events(start: Callable[[], AnswerStream], kb_name: str | None) -> Iterator[Event]:
    """The answer ``start`` makes: ``token`` events as it streams, then ``done`` (see
    :func:`ask`); closed early, it closes the answer's stream."""
    stream = start()
    pieces = iter(stream)
    try:
        for piece in pieces:
            yield "token", {"text": piece}
    finally:
        close_iterator(pieces)
    yield "done", linked_answer(kb_name, stream.answer.to_dict())


# chats


@router.get("/chats", summary="List chats", tags=["chats"])
def list_chats(
    services: ServicesDep,
    owner: OwnerDep,
    q: Annotated[
        str | None, Query(description="Only chats with these words in the title or a message.")
    ] = None,
) -> list[ChatOut]:
    """Newest (last asked or renamed) first."""
    return [ChatOut.model_validate(c) for c in services.reader.list_chats(q, user_id=owner)]


@router.post("/chats", status_code=201, summary="Start a chat", tags=["chats"])
def create_chat(body: ChatIn, services: ServicesDep, owner: OwnerDep) -> ChatOut:
    with services.writing() as writer:
        chat = writer.create_chat(body.kb, body.model, body.title, user_id=owner)
    return ChatOut.model_validate(chat)


@router.get("/chats/{chat_id}", summary="One chat with its messages", tags=["chats"])
def get_chat(chat_id: RowId, services: ServicesDep, owner: OwnerDep) -> ChatDetailOut:
    chat = services.reader.get_chat(chat_id, user_id=owner)
    detail = ChatDetailOut.model_validate(chat)
    for message in detail.messages:
        message.citations = linked_citations(chat.kb_name, message.citations)
    return detail


@router.patch("/chats/{chat_id}", summary="Rename a chat", tags=["chats"])
def rename_chat(chat_id: RowId, body: ChatPatch, services: ServicesDep, owner: OwnerDep) -> ChatOut:
    with services.writing() as writer:
        return ChatOut.model_validate(writer.rename_chat(chat_id, body.title, user_id=owner))


@router.delete("/chats/{chat_id}", status_code=204, summary="Delete a chat", tags=["chats"])
def delete_chat(chat_id: RowId, services: ServicesDep, owner: OwnerDep) -> Response:
    """Deletes the chat and all its messages."""
    with services.writing() as writer:
        writer.delete_chat(chat_id, user_id=owner)
    return Response(status_code=204)


@router.post(
    "/chats/{chat_id}/messages",
    summary="Ask the next question of a chat (streamed)",
    tags=["chats"],
    response_class=StreamingResponse,
    responses=ANSWER_RESPONSES,
)
async def ask_in_chat(
    chat_id: RowId, body: ChatMessageIn, services: ServicesDep, owner: OwnerDep
) -> StreamingResponse:
    """As ``/kbs/{name}/ask``, with the chat's complete earlier exchanges as the history,
    over the chat's knowledge base (none: the model answers without documents) and model.
    When the stream ends the question and the answer are saved to the chat, also when it
    breaks off or the client goes away (then with ``complete: false``)."""

    def save(chat_id: int, answer: Answer) -> None:
        with services.writing() as writer:
            writer.save_exchange(chat_id, answer)

    def events() -> Iterator[Event]:
        kb_name = services.reader.get_chat(chat_id, user_id=owner).kb_name
        start = functools.partial(
            services.reader.ask_in_chat,
            chat_id,
            body.question,
            k=body.k,
            save=save,
            user_id=owner,
        )
        yield from _answer_events(start, kb_name)

    return await event_stream(events())
