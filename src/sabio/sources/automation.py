"""What a source does with each new item: a whole-document task (summarize, translate,
extract) queued as a job of the worker when the item is indexed, its result posted to a
webhook (n8n, a script) and written into a folder.

    sabio source add folder ~/facturas --on-new extract --task-option schema=invoice \\
        --webhook-url http://127.0.0.1:5678/webhook/facturas --output ~/facturas-json

It is kept with the source's options under ``"on_new"`` (:class:`OnNew`; the REST API
takes it there too) and checked when the source is added, as a task's options are
(:func:`sabio.tasks.jobs.check_task_options`). An item is new when a sync adds it or
reads it again changed, also one found by the full sync that runs when the worker starts.

Delivery: the folder gets ``<name>.summary.md``, ``<name>.<language>.md`` (a translation),
or one JSON line per document appended to ``extracted.jsonl`` (:func:`write_result`, when
the task is done; a failure is said in the task job's message). The webhook gets one JSON
POST per document, ``{"event": "task.done", "task", "kb", "source_id", "document",
"result", "markdown"}``, from a job of its own (``deliver``, :func:`post_result`): a try
that gets no answer, a time-out, 408, 425, 429 or a 5xx is tried again after 5 s, then
30 s (:data:`DELIVERY_DELAYS_S`), three tries in all, the documents already taken not
posted again; each failure is the job's ``error`` and a log line, and after the last the
job is left ``failed``. Nothing is lost: the result stays at ``GET
/api/v1/kbs/{kb}/tasks/{id}/result`` (and a worker that stops mid-delivery takes it up
again when it starts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sabio.connections import model_client
from sabio.errors import ConfigError
from sabio.tasks.jobs import check_task_options
from sabio.tasks.results import result_markdown

KEY = "on_new"
WEBHOOK_TIMEOUT_S = 30.0
DELIVERY_DELAYS_S = (5.0, 30.0)
"""Waits before a webhook delivery's 2nd and 3rd tries; after the 3rd it is left failed."""
EXTRACTED = "extracted.jsonl"


class OnNew(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Literal["summarize", "translate", "extract"] = Field(
        description="The task to run on each new item."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The task's options, as POST /api/v1/kbs/{name}/tasks takes them "
        "(summarize: length, language, focus, model; translate: to, model; extract: schema, "
        "model).",
    )
    webhook_url: str | None = Field(
        None, description="POST each result here as JSON (n8n's Webhook node, a script)."
    )
    output: str | None = Field(
        None, description="A folder on this computer to write each result into."
    )

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must start with http:// or https://")
        return url


def check_on_new(raw: Any) -> dict[str, Any]:
    """``raw`` as it is kept (the output folder made absolute, the task's options
    checked); a ConfigError that says what is wrong otherwise."""
    try:
        on_new = OnNew.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or KEY}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"bad on_new: {problems}", key="on_new_invalid", detail=problems
        ) from None
    checked = on_new.model_dump()
    checked["options"] = check_task_options(on_new.task, on_new.options)
    if on_new.output:
        checked["output"] = os.path.abspath(os.path.expanduser(on_new.output))
    return checked


def automation_of(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """A source's ``on_new``, as kept (None: it has none)."""
    found = options.get(KEY)
    return dict(found) if isinstance(found, Mapping) else None


def write_result(on_new: Mapping[str, Any], result: dict[str, Any]) -> list[str]:
    """Write ``result`` into the folder ``on_new`` names (if any); what went wrong, as
    sentences (none: written)."""
    if not on_new.get("output"):
        return []
    try:
        _write(Path(on_new["output"]), result)
    except OSError as exc:
        return [f"not written to {on_new['output']}: {exc.strerror or exc}"]
    return []


def _write(folder: Path, result: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if result["kind"] == "extract":
        with (folder / EXTRACTED).open("a", encoding="utf-8") as lines:
            for item in result["items"]:
                lines.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    for item in result["items"]:
        suffix = "summary" if result["kind"] == "summarize" else item.get("language", "translated")
        name = f"{Path(item['document']).stem}.{suffix}.md"
        single = {"kind": result["kind"], "items": [item]}
        (folder / name).write_text(result_markdown(single), encoding="utf-8")


def delivery_of(on_new: Mapping[str, Any], task_id: int, kb: str) -> dict[str, Any] | None:
    """The payload of the job that posts task ``task_id``'s result to ``on_new``'s
    webhook (None: it names none)."""
    url = on_new.get("webhook_url")
    if not url:
        return None
    return {"task": task_id, "url": str(url), "kb": kb, "source_id": on_new.get("source_id")}


def post_result(
    url: str,
    result: dict[str, Any],
    context: dict[str, Any],
    *,
    start: int = 0,
    sent: Callable[[int], None] = lambda count: None,
) -> tuple[str, bool]:
    """POST each of ``result``'s items from the ``start``-th on (those before were taken
    by an earlier try), telling ``sent`` how many are taken; ("", False) when all were,
    else what went wrong and whether another try may help: no answer, a time-out, 408,
    425, 429 or 5xx may pass; another status says the URL or the receiver is wrong."""
    items = result["items"]
    with model_client(timeout=WEBHOOK_TIMEOUT_S) as client:
        for number in range(start, len(items)):
            item = items[number]
            body = {
                "event": "task.done",
                "task": result["kind"],
                **context,
                "document": item.get("document"),
                "result": item,
                "markdown": result_markdown({"kind": result["kind"], "items": [item]}),
            }
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                return f"the webhook {url} did not answer ({type(exc).__name__}: {exc})", True
            if response.status_code >= 300:
                again = response.status_code in PASSING or response.status_code >= 500
                return f"the webhook {url} answered {response.status_code}", again
            sent(number + 1)
    return "", False


PASSING = frozenset({408, 425, 429})
"""Statuses below 500 that a later try may get past (time-out, too early, too many)."""
