"""What a source does with each new item: a whole-document task (summarize, translate,
extract) queued as a job of the worker when the item is indexed, its result posted to a
webhook (n8n, a script) and written into a folder.

    sabio source add folder ~/facturas --on-new extract --task-option schema=invoice \\
        --webhook-url http://127.0.0.1:5678/webhook/facturas --output ~/facturas-json

It is kept with the source's options under ``"on_new"`` (:class:`OnNew`; the REST API
takes it there too) and checked when the source is added, as a task's options are
(:func:`sabio.tasks.jobs.check_task_options`). An item is new when a sync adds it or
reads it again changed, also one found by the full sync that runs when the worker starts.

Delivery (:func:`deliver`): the webhook gets one JSON POST per document, ``{"event":
"task.done", "task", "kb", "source_id", "document", "result", "markdown"}``; the folder
gets ``<name>.summary.md``, ``<name>.<language>.md`` (a translation), or one JSON line per
document appended to ``extracted.jsonl``. A delivery that fails is said in the job's
message; the result stays at ``GET /api/v1/kbs/{kb}/tasks/{id}/result``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
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


def deliver(
    on_new: Mapping[str, Any], result: dict[str, Any], context: dict[str, Any]
) -> list[str]:
    """Post ``result`` to the webhook and write it into the folder ``on_new`` names;
    what went wrong, as sentences (none: delivered). ``context``: kb and source_id."""
    problems = []
    if on_new.get("output"):
        try:
            _write(Path(on_new["output"]), result)
        except OSError as exc:
            problems.append(f"not written to {on_new['output']}: {exc.strerror or exc}")
    if on_new.get("webhook_url"):
        problems += _post(str(on_new["webhook_url"]), result, context)
    return problems


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


def _post(url: str, result: dict[str, Any], context: dict[str, Any]) -> list[str]:
    problems = []
    with model_client(timeout=WEBHOOK_TIMEOUT_S) as client:
        for item in result["items"]:
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
                problems.append(f"the webhook {url} did not answer ({type(exc).__name__}: {exc})")
                break
            if response.status_code >= 300:
                problems.append(f"the webhook {url} answered {response.status_code}")
    return problems
