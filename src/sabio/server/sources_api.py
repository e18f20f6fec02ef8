"""Sources, their items and jobs over REST, and the webhook that n8n and scripts post to.

Adding, syncing and removing sources is for admins when accounts are on (a folder source
reads the server's disk); members may see those of the knowledge bases they may read
(:mod:`.roles`). The webhook route is checked
by its own token instead of a user (see :func:`sabio.sources.webhook.check_token`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from sabio.errors import AuthError, ConfigError
from sabio.jobs import Job
from sabio.server import roles
from sabio.server.access import authenticate
from sabio.server.api import receive_uploads
from sabio.server.links import API_PREFIX
from sabio.server.schemas import RowId
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting
from sabio.sources import ItemUpdate, Source
from sabio.sources import webhook as hooks
from sabio.sources.kinds import item_name, source_kind, source_kinds

ServicesDep = Annotated[Services, Depends(services_of)]
router = APIRouter(prefix=API_PREFIX, tags=["sources"])
WEBHOOK_PATH = f"{API_PREFIX}/sources/{{source_id}}/webhook"
MAX_JSON_BYTES = 20 * 2**20
"""A webhook's JSON body at most (a text of 5 million characters fits); files go as
multipart, under ``max_upload_mb``."""


class SourceIn(BaseModel):
    kind: str = Field(description="One of the kinds `GET /api/v1/source-kinds` lists.")
    location: str = Field(
        "", description="The folder, or the URL; a webhook's name; empty for imap."
    )
    kb: str | None = Field(None, description="Knowledge base (default: the default one).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The kind's options, as its schema in `GET /api/v1/source-kinds` says "
        "(imap: host, username, port, folder, security, since; url, feed, sitemap, webhook: "
        "allow_private; folder: follow_links).",
    )
    password: str | None = Field(
        None, description="For kinds that take one (imap): kept encrypted, never returned."
    )
    interval_s: float | None = Field(
        None, ge=60, description="Seconds between scheduled syncs (the scheduled kinds)."
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        try:
            source_kind(kind)
        except ConfigError as exc:  # a 422 that names the kinds
            raise ValueError(str(exc)) from None
        return kind

    @model_validator(mode="after")
    def _options_of_the_kind(self) -> SourceIn:
        try:
            source_kind(self.kind).check_options(self.options)
        except ConfigError as exc:  # a 422 that names each bad option
            raise ValueError(str(exc)) from None
        return self


class SourceKindOut(BaseModel):
    kind: str
    summary: str = Field(description="What it is, in a line (English).")
    location: Literal["folder", "file", "url", "name", "none"] = Field(
        description="What its location is: a folder or a file on the server, a URL, an "
        "optional name, or none (the options say it all)."
    )
    password: bool = Field(description="Whether it takes a password.")
    watchable: bool = Field(description="Changes are seen as they happen (a watch).")
    scheduled: bool = Field(description="Synced on a schedule (interval_s applies).")
    fetches: bool = Field(description="False when its documents are posted to it (webhook).")
    options: dict[str, Any] = Field(description="Its options, as a JSON schema.")


class JobOut(BaseModel):
    id: int
    status: str = Field(description="queued, running, done or failed")
    attempts: int
    done: int
    total: int | None
    message: str
    counts: dict[str, int] = Field(
        description="What a finished sync did, items by outcome: added, updated, unchanged, "
        "renamed, removed, not_indexed, skipped, rejected."
    )
    error: str
    created_at: float
    started_at: float | None
    finished_at: float | None


class SourceItemOut(BaseModel):
    name: str = Field(description="The file (relative to the folder), URL or message.")
    title: str
    status: str = Field(description="indexed, unchanged, skipped, needs OCR, failed, removed…")
    reason: str
    document_id: int | None
    changed_at: float
    checked_at: float


class SourceOut(BaseModel):
    id: int
    kb: str
    kind: str
    location: str
    options: dict[str, Any]
    password_set: bool = Field(description="imap: whether a password is kept (never shown).")
    interval_s: float | None
    last_sync_at: float | None
    next_sync_at: float | None
    last_error: str
    counts: dict[str, int] = Field(description="How many items have each status.")
    job: JobOut | None = Field(description="The latest job.")


class SourceDetailOut(SourceOut):
    items: list[SourceItemOut] = Field(description="A page of them: see limit and offset.")
    items_total: int
    jobs: list[JobOut]


class SourceAddedOut(SourceOut):
    token: str | None = Field(None, description="A webhook's token: shown this once.")
    webhook_url: str | None = None


class WebhookIn(BaseModel):
    text: str | None = None
    title: str = ""
    url: str | None = None


class WebhookDocumentOut(BaseModel):
    name: str
    document_id: int | None
    status: str
    reason: str


class WebhookOut(BaseModel):
    documents: list[WebhookDocumentOut]


def _job(job: Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


def _source_out(
    services: Services, source: Source, jobs: list[Job] | None = None
) -> dict[str, Any]:
    """The source with its counts and latest job (from ``jobs``, its latest first, when
    the caller has them)."""
    reader = services.reader
    if jobs is None:
        jobs = reader.jobs.recent(source.id, limit=1)
    return {
        **source.to_dict(),
        "password_set": source.has_secret and _takes_password(source),
        "counts": reader.sources.counts(source.id),
        "job": _job(jobs[0]) if jobs else None,
    }


def _takes_password(source: Source) -> bool:
    return any(k.name == source.kind and k.secret == "password" for k in source_kinds())


@router.get("/source-kinds", summary="Kinds of source and their options")
def list_source_kinds() -> list[SourceKindOut]:
    """What `POST /sources` takes: each kind, what its location is, its flags, and its
    options as a JSON schema (the web app draws its form from this)."""
    return [SourceKindOut(**kind.describe()) for kind in source_kinds()]


@router.get("/sources", summary="List sources")
def list_sources(request: Request, services: ServicesDep, kb: str | None = None) -> list[SourceOut]:
    """Of one knowledge base (``kb``: its name or identifier), or of every one you may read."""
    if kb is not None:
        roles.require_kb(request, kb)
    readable = {k.name for k in roles.visible_kbs(request, services.reader.list_kbs())}
    return [
        SourceOut(**_source_out(services, s))
        for s in services.reader.list_sources(kb)
        if s.kb_name in readable
    ]


@router.post("/sources", status_code=201, summary="Add a source")
def add_source(body: SourceIn, services: ServicesDep) -> SourceAddedOut:
    """Checks the source (the folder exists, the mailbox takes the password, the address
    is public unless ``allow_private``) and queues its first sync."""
    with services.writing() as writer:
        source, token = writer.add_source(
            body.kind,
            body.location,
            body.kb,
            options=dict(body.options),
            password=body.password,
            interval_s=body.interval_s,
        )
    services.wake_worker()
    hook = WEBHOOK_PATH.format(source_id=source.id) if source.kind == "webhook" else None
    return SourceAddedOut(**_source_out(services, source), token=token, webhook_url=hook)


@router.get("/sources/{source_id}", summary="A source, its items and its jobs")
def get_source(
    source_id: RowId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: RowId = 0,
) -> SourceDetailOut:
    """Items a page at a time (``limit``, ``offset``), those that need a look first:
    failed, needs OCR, encrypted, skipped, removed, then the latest changes."""
    reader = services.reader
    source = reader.sources.get(source_id)
    items = [
        SourceItemOut(
            name=item_name(source, i),
            title=i.title,
            status=i.label,
            reason=i.reason,
            document_id=i.document_id,
            changed_at=i.changed_at,
            checked_at=i.checked_at,
        )
        for i in reader.sources.items(source_id, limit=limit, offset=offset)
    ]
    jobs = reader.jobs.recent(source_id, limit=20)
    out = _source_out(services, source, jobs)
    return SourceDetailOut(
        **out,
        items=items,
        items_total=sum(out["counts"].values()),
        jobs=[_job(job) for job in jobs],
    )


@router.post("/sources/{source_id}/sync", status_code=202, summary="Sync a source now")
def sync_source(source_id: RowId, services: ServicesDep) -> JobOut:
    with services.writing() as writer:
        job = writer.sync_source(source_id)
    services.wake_worker()
    return _job(job)


@router.delete("/sources/{source_id}", status_code=204, summary="Remove a source")
def remove_source(
    source_id: RowId, services: ServicesDep, keep_documents: bool = False
) -> Response:
    """Detaches the source and, unless ``keep_documents``, forgets the documents it brought."""
    with services.writing() as writer:
        writer.remove_source(source_id, keep_documents=keep_documents)
    return Response(status_code=204)


@router.get("/jobs", summary="Recent background jobs")
def list_jobs(services: ServicesDep, source_id: RowId | None = None) -> list[JobOut]:
    return [_job(job) for job in services.reader.jobs.recent(source_id)]


@router.post(
    "/sources/{source_id}/webhook",
    summary="Push a document, a text or a URL (webhook)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": WebhookIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def webhook(source_id: RowId, request: Request, services: ServicesDep) -> WebhookOut:
    """With ``Authorization: Bearer <the webhook's token>``: JSON ``{"text", "title"}`` or
    ``{"url"}``, or files as multipart/form-data (checked like uploads). Indexed at once;
    answers with each document's id and status."""
    reader = services.reader
    source = await run_in_threadpool(reader.sources.get, source_id)
    await run_in_threadpool(_check_webhook_access, services, source, request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        updates = await _receive_files(services, source, request)
    elif media == "application/json":
        try:
            body = WebhookIn.model_validate_json(await _bounded_body(request, MAX_JSON_BYTES))
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        updates = [await run_waiting(_receive_json, services, source, body)]
    else:
        raise ConfigError('send JSON ({"text": …} or {"url": …}) or multipart/form-data files')
    return WebhookOut(
        documents=[
            WebhookDocumentOut(
                name=u.key.removeprefix("text:") if u.key.startswith("text:") else Path(u.key).name,
                document_id=u.document_id,
                status=u.status,
                reason=u.reason,
            )
            for u in updates
        ]
    )


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) at its first byte over ``limit``: never read whole first."""
    too_big = HTTPException(413, f"the body is over {limit // 2**20} MB; send a file instead")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def _check_webhook_access(services: Services, source: Source, request: Request) -> None:
    """The webhook's own token; with accounts on, an admin's API token (or session) too."""
    try:
        hooks.check_token(services.reader, source, request.headers.get("authorization"))
    except AuthError:
        user = authenticate(request) if services.settings.auth else None
        if user is None or not user.admin:
            raise


def _receive_json(services: Services, source: Source, body: WebhookIn) -> ItemUpdate:
    """A text or a URL, indexed by the indexer; a URL is fetched first, before any lock."""
    if (body.text is None) == (body.url is None):
        raise ConfigError('send either "text" (with an optional "title") or "url"')
    if body.text is not None:
        with services.indexing() as indexer:
            return hooks.receive_text(indexer, source, body.text, body.title)
    assert body.url is not None
    page = hooks.fetch_url(services.reader, source, body.url)
    with services.indexing() as indexer:
        return hooks.receive_url(indexer, source, page)


async def _receive_files(services: Services, source: Source, request: Request) -> list[ItemUpdate]:
    """Files as uploads take them (:mod:`.uploads`), kept in the knowledge base's uploads."""
    files = await receive_uploads(request, services, source.kb_name)
    updates = [
        ItemUpdate(f.name, f.status, f.outcome, f.reason, f.name, f.document_id) for f in files
    ]
    await run_in_threadpool(_record_files, services, source, updates)
    return updates


def _record_files(services: Services, source: Source, updates: list[ItemUpdate]) -> None:
    with services.indexing() as indexer:
        hooks.record_files(indexer, source, updates)
