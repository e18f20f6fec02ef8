"""Whole-document tasks over REST, under ``/api/v1/kbs/{name}/tasks``: summaries,
translations, extractions and comparisons run as background jobs (:mod:`sabio.tasks.jobs`),
since they take minutes. Start one, follow its progress, cancel it, fetch its result as
JSON, Markdown, text or DOCX. Documents are named by file name and URL (:mod:`.links`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from sabio.errors import ConflictError, NotFoundError
from sabio.jobs import Job
from sabio.server.api import ERRORS, ServicesDep
from sabio.server.links import API_PREFIX, file_url
from sabio.server.schemas import RowId
from sabio.service import Sabio
from sabio.tasks.jobs import load_result, task_payload
from sabio.tasks.results import FORMATS, render_result

router = APIRouter(
    prefix=f"{API_PREFIX}/kbs/{{name}}/tasks", tags=["document tasks"], responses=ERRORS
)
Format = Literal["markdown", "json", "text", "docx"]


class TaskIn(BaseModel):
    kind: Literal["summarize", "translate", "extract", "compare"]
    documents: list[str | int] = Field(
        default_factory=list,
        description="Document ids or file names: one or more to summarize or translate, "
        "two to compare (old, new), any to extract (none: every document).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="summarize: length (short, page, detailed), language (es, en), focus, "
        "model; translate: to (es, en or a language's name), model; extract: schema (invoice, "
        "contract, cv, minutes, or a JSON Schema object), model; compare: none.",
    )


class TaskOut(BaseModel):
    id: int
    kind: str
    documents: list[int]
    options: dict[str, Any]
    status: str = Field(description="queued, running, done, failed or cancelled")
    done: int = Field(description="Parts done of the document at hand (with total).")
    total: int | None
    message: str = Field(description='What it is doing, e.g. "part 3 of 12".')
    error: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    formats: list[str] = Field(description="The result's formats, once done.")


def _task(job: Job) -> TaskOut:
    return TaskOut(
        id=job.id,
        kind=job.payload["kind"],
        documents=job.payload["documents"],
        options=job.payload["options"],
        status=job.status,
        done=job.done,
        total=job.total,
        message=job.message,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        formats=list(FORMATS) if job.status == "done" else [],
    )


def _job_of(sabio: Sabio, name: str, task_id: int) -> Job:
    """The task ``task_id`` of knowledge base ``name``; 404 for any other job."""
    kb = sabio.kb(name)
    try:
        job = sabio.jobs.get(task_id)
    except NotFoundError:
        job = None
    if job is None or job.kind != "task" or job.payload.get("kb") != kb.name:
        raise NotFoundError(f"no task {task_id} in {name}", key="task_missing", task=task_id)
    return job


@router.post("", status_code=202, summary="Start a task on documents (a job)")
def start_task(name: str, body: TaskIn, services: ServicesDep) -> TaskOut:
    """Checks the documents and options at once (bad input: 400, nothing queued), then
    queues the task; follow it with ``GET …/tasks/{id}``."""
    with services.writing() as writer:
        payload = task_payload(writer, name, body.kind, body.documents, body.options)
        job = writer.jobs.enqueue_task(payload)
    services.wake_worker()
    return _task(job)


@router.get("", summary="The knowledge base's recent tasks")
def list_tasks(name: str, services: ServicesDep) -> list[TaskOut]:
    kb = services.reader.kb(name)
    jobs = services.reader.jobs.recent(limit=200)
    return [_task(j) for j in jobs if j.kind == "task" and j.payload.get("kb") == kb.name]


@router.get("/{task_id}", summary="A task's progress")
def get_task(name: str, task_id: RowId, services: ServicesDep) -> TaskOut:
    return _task(_job_of(services.reader, name, task_id))


@router.post("/{task_id}/cancel", summary="Cancel a task")
def cancel_task(name: str, task_id: RowId, services: ServicesDep) -> TaskOut:
    """A queued task never runs; a running one stops at its model's next word."""
    with services.writing() as writer:
        _job_of(writer, name, task_id)
        return _task(writer.jobs.cancel(task_id))


@router.get(
    "/{task_id}/result",
    summary="A finished task's result",
    response_class=Response,
    responses={200: {"content": {media: {} for media, _ in FORMATS.values()}}},
)
def task_result(
    name: str,
    task_id: RowId,
    services: ServicesDep,
    format: Format = "json",
    language: Literal["en", "es"] = "en",
) -> Response:
    """As JSON (what the task found, documents with their ``file_url``), Markdown (cited
    by page), plain text or DOCX; ``language``: of the few words Sabio adds."""
    reader = services.reader
    job = _job_of(reader, name, task_id)
    if job.status != "done":
        raise ConflictError(
            f"task {task_id} is {job.status}: its result comes when it is done",
            key="task_not_done",
            status=job.status,
        )
    result = linked_result(name, load_result(reader.settings.home, task_id))
    media, extension = FORMATS[format]
    filename = f"{job.payload['kind']}-{task_id}.{extension}"
    return Response(
        render_result(result, format, language),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def linked_result(kb_name: str, result: dict[str, Any]) -> dict[str, Any]:
    """A result with its documents named by file name, each with its ``file_url`` (and
    each summary sentence's, at its page): never a path of the server."""

    def linked(item: dict[str, Any]) -> dict[str, Any]:
        source, doc_id = item["document"], item["document_id"]
        out = {**item, "document": Path(source).name, "file_url": file_url(kb_name, doc_id, source)}
        if "claims" in item:
            out["claims"] = [
                {**c, "file_url": file_url(kb_name, doc_id, source, c["page"])}
                for c in item["claims"]
            ]
        return out

    items = [
        {**i, "old": linked(i["old"]), "new": linked(i["new"])} if "changes" in i else linked(i)
        for i in result["items"]
    ]
    return {**result, "items": items}
