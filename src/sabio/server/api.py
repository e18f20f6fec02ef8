"""Sabio's REST API, version 1, under ``/api/v1``: thin routes over :class:`Sabio`.

Reads go to ``services.reader`` from FastAPI's thread pool, concurrently; changes take
``services.writing()``. Answers stream as server-sent events (:func:`ask`). Documents are
named by file name and URL, never by their path on the server (:mod:`.links`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from sabio import __version__
from sabio.answer import AnswerStream
from sabio.errors import ConflictError
from sabio.filters import DocumentFilter
from sabio.ingest import FileResult
from sabio.loaders import OcrSummary, ReadProgress
from sabio.server import roles, uploads
from sabio.server.access import current_user_id
from sabio.server.events import Event, close_iterator, event_stream
from sabio.server.links import (
    API_PREFIX,
    document_link,
    file_url,
    is_file_source,
    linked_answer,
)
from sabio.server.schemas import (
    AFTER_HELP,
    BEFORE_HELP,
    DOCUMENTS_HELP,
    AskIn,
    CheckedDate,
    DocumentOut,
    ErrorOut,
    FilePasswordIn,
    HealthOut,
    HitOut,
    KnowledgeBaseChange,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    ModelOut,
    OcrOut,
    ReadingOut,
    ReindexIn,
    RowId,
    SearchOut,
    UploadedFileOut,
    UploadOut,
)
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting
from sabio.service import Sabio
from sabio.store import DocumentRecord, KnowledgeBase, Turn

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
def list_kbs(request: Request, services: ServicesDep) -> list[KnowledgeBaseOut]:
    """Those you may read (with accounts on, a member sees the ones given to them)."""
    given = roles.accesses(request)
    return [
        _kb_out(kb, given.get(kb.id, "") if given is not None else roles.MANAGE)
        for kb in roles.visible_kbs(request, services.reader.list_kbs())
    ]


@router.post("/kbs", status_code=201, summary="Create a knowledge base", tags=["knowledge bases"])
def create_kb(body: KnowledgeBaseIn, services: ServicesDep) -> KnowledgeBaseOut:
    with services.writing() as writer:
        made = writer.create_kb(body.name, body.embedding_model, body.ocr_languages)
        return _kb_out(made, roles.MANAGE)


@router.get("/kbs/{name}", summary="One knowledge base", tags=["knowledge bases"])
def get_kb(name: str, request: Request, services: ServicesDep) -> KnowledgeBaseOut:
    """By its name or its identifier."""
    return _counted_kb(request, services.reader, name)


@router.patch("/kbs/{name}", summary="Change a knowledge base", tags=["knowledge bases"])
def change_kb(
    name: str, body: KnowledgeBaseChange, request: Request, services: ServicesDep
) -> KnowledgeBaseOut:
    """Its OCR languages, for the files read from now on (an unknown language pack is
    ``ocr_language_unknown``, 400, and changes nothing); whether its uploads are reviewed
    as they arrive."""
    with services.writing() as writer:
        if body.ocr_languages is not None:
            writer.set_ocr_languages(name, body.ocr_languages)
        if body.review is not None:
            writer.set_review(name, body.review)
        return _counted_kb(request, writer, name)


@router.delete(
    "/kbs/{name}",
    status_code=204,
    summary="Delete a knowledge base",
    tags=["knowledge bases"],
)
def delete_kb(
    name: str,
    services: ServicesDep,
    keep_chats: Annotated[
        bool, Query(description="Keep the chats over it (readable, no longer answered).")
    ] = False,
) -> Response:
    """Deletes the knowledge base, its index, the files uploaded into it and its chats
    (unless ``keep_chats``); files added from their own place on disk (``sabio add``) are
    not touched."""
    with services.indexing(), services.writing() as writer:  # after uploads into it end
        writer.delete_kb(name, keep_chats=keep_chats)
    return Response(status_code=204)


@router.post(
    "/kbs/{name}/reindex",
    summary="Re-embed every passage",
    tags=["knowledge bases"],
    responses={503: {"model": ErrorOut, "description": "Embedding model unavailable"}},
)
def reindex_kb(
    name: str, request: Request, services: ServicesDep, body: ReindexIn | None = None
) -> KnowledgeBaseOut:
    """Re-embeds every passage (with a new embedding model, or the recorded one) and switches
    atomically; searches keep working on the old vectors meanwhile (and logins, chats and
    settings do not wait: it runs on the indexer)."""
    with services.indexing() as indexer:
        indexer.reindex_kb(name, body.embedding_model if body else None)
        return _counted_kb(request, indexer, name)


def _kb_out(kb: KnowledgeBase, access: str) -> KnowledgeBaseOut:
    return KnowledgeBaseOut(
        name=kb.name,
        id=kb.slug,
        access=access,
        embedding_model=kb.embedding_model,
        dimension=kb.dimension,
        documents=kb.documents,
        passages=kb.chunks,
        ocr_languages=kb.ocr_languages,
        review=kb.review,
    )


def _counted_kb(request: Request, sabio: Sabio, name: str) -> KnowledgeBaseOut:
    found = sabio.get_kb(name)
    kb = next((kb for kb in sabio.list_kbs() if kb.id == found.id), found)
    return _kb_out(kb, roles.kb_access(request, kb) or "")


# documents


@router.get("/kbs/{name}/documents", summary="List documents", tags=["documents"])
def list_documents(name: str, services: ServicesDep) -> list[DocumentOut]:
    """Every file of the knowledge base, indexed or not, with its status and why."""
    readings = services.reader.readings()
    return [_document_out(name, d, readings) for d in services.reader.documents(name)]


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
    kb = await run_in_threadpool(services.reader.find_kb, name)
    creates = name == services.settings.default_kb  # the default one, by its first upload
    if kb is None and not (creates and await run_in_threadpool(roles.manages, request)):
        await run_in_threadpool(services.reader.get_kb, name)  # not found
    return UploadOut(files=await receive_uploads(request, services, name))


async def receive_uploads(request: Request, services: Services, name: str) -> list[UploadedFileOut]:
    """A multipart request's files, received within the size limit, checked, kept in
    knowledge base ``name``'s uploads and indexed (uploads and webhooks)."""
    settings = services.settings
    folder = await run_in_threadpool(services.reader.uploads_folder, name)
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
    indexer: the writer stays free for everything else meanwhile), and review them when
    the knowledge base's review is on."""
    problems = {r.name: uploads.content_problem(r.path, r.name) for r in received}
    with services.indexing() as writer:
        accepted = [str(uploads.accept(r, folder)) for r in received if problems[r.name] is None]
        try:
            paths = [Path(p) for p in accepted]
            report = (
                writer.add(paths, name, isolate=True, ocr="job", recordings="job")
                if accepted
                else None
            )
        except BaseException:  # e.g. the embedding model is down: keep no unindexed file
            writer.discard_unindexed_uploads(name, accepted)
            raise
        if report is not None:  # an alert for each with findings, when the review is on
            arrived = [r.source for r in report.results if r.outcome in ("added", "updated")]
            writer.review_uploaded(name, arrived)
        results = {r.source: r for r in report.results} if report else {}
        kb = writer.find_kb(name)
        files = []
        for r in received:
            source = os.path.join(folder, r.name)
            refusal = problems[r.name]
            result = results.get(source) or FileResult(
                source, "rejected", "rejected", refusal.reason if refusal else ""
            )
            doc = writer.find_document(kb, source) if kb and source in results else None
            files.append(_uploaded_out(r.filename, r.name, result, doc, refusal))
    services.wake_worker()  # the OCR of scanned pages the upload left for later, if any
    return files


def _uploaded_out(
    filename: str,
    name: str,
    result: FileResult,
    doc: DocumentRecord | None,
    refusal: uploads.Refusal | None = None,
) -> UploadedFileOut:
    return UploadedFileOut(
        filename=filename,
        name=name,
        status=result.status,
        outcome=result.outcome,
        reason=result.reason,
        reason_key=refusal.key if refusal else None,
        reason_args=refusal.args if refusal else {},
        passages=result.chunks,
        document_id=doc.id if doc else None,
    )


@router.post(
    "/kbs/{name}/documents/{document_id}/password",
    summary="Read an encrypted document with its password",
    tags=["documents"],
)
def unlock_document(
    name: str, document_id: RowId, body: FilePasswordIn, services: ServicesDep
) -> UploadedFileOut:
    """For a document whose status is ``encrypted``: read it again with ``password`` and
    index it. The password is used for this reading only, never kept. A wrong one leaves
    the document ``encrypted``, with a reason that says so: ask again. It is read on the
    indexer, as uploads are (the writer stays free)."""
    with services.indexing() as writer:
        kb = writer.kb(name)
        doc = writer.get_document(kb, document_id)
        if doc.status != "encrypted" or not is_file_source(doc.source):
            raise ConflictError(
                f"document {document_id} is not an encrypted file (it is {doc.status})",
                key="not_encrypted",
            )
        report = writer.add([Path(doc.source)], kb.name, password=body.password, isolate=True)
        result = report.results[0]
        fresh = writer.find_document(kb, doc.source)
    path = Path(doc.source).name
    return _uploaded_out(path, path, result, fresh)


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
        writer.remove_document(document_id, name)
    return Response(status_code=204)


def _document_out(
    kb_name: str, d: DocumentRecord, readings: Mapping[str, ReadProgress] | None = None
) -> DocumentOut:
    ocr = OcrSummary.of(d.metadata)
    reading = (readings or {}).get(d.source)
    transcribed = reading if reading and reading.what == "transcription" else None
    reading = reading if reading and reading.what == "ocr" and ocr.pending else None
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
        ocr=OcrOut(
            **asdict(ocr),
            progress=ReadingOut(done=reading.done, total=reading.total) if reading else None,
        ),
        transcription=(
            ReadingOut(done=transcribed.done, total=transcribed.total) if transcribed else None
        ),
    )


# search and answers


@router.get("/kbs/{name}/search", summary="Search passages", tags=["search"])
def search(
    name: str,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, description="What to look for.")],
    k: Annotated[int | None, Query(ge=1, le=100, description="How many passages.")] = None,
    doc: Annotated[list[str] | None, Query(description=DOCUMENTS_HELP)] = None,
    after: Annotated[CheckedDate | None, Query(max_length=40, description=AFTER_HELP)] = None,
    before: Annotated[CheckedDate | None, Query(max_length=40, description=BEFORE_HELP)] = None,
) -> SearchOut:
    """Keyword and meaning together; ``notes`` says when only keywords could be used."""
    wanted = DocumentFilter.parse(doc or (), after, before)
    results = services.reader.search(q, name, k=k, filters=wanted)
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
        services.reader.ask,
        body.question,
        name,
        model=body.model,
        history=history,
        k=body.k,
        style=body.style,
        filters=body.document_filter(),
    )
    return await event_stream(answer_events(start, name))


def answer_events(start: Callable[[], AnswerStream], kb_name: str | None) -> Iterator[Event]:
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
