"""Whole-document tasks as background jobs: asked for over REST, from the web app or by a
source on each new item, run by the worker (:mod:`sabio.worker`) in the one job queue
(:mod:`sabio.jobs`), their results kept beside the data.

    task_payload(sabio, kb, kind, documents, options) ─► payload (checked; bad input: ConfigError)
    sabio.jobs.enqueue_task(payload)                  ─► Job, queued
    run_task(sabio, payload, progress, stop)          ─► result (:mod:`sabio.tasks.results`)
    save_result(home, job_id, result) / load_result(home, job_id)

Everything is checked before the job is queued (the kind, its options, that every
document exists), so a task fails later only for what cannot be known then (the model
is not there). Documents are kept by id. Progress is the task's own ("part 3 of 12"), as
``done`` and ``total`` too, so the interfaces say it in their reader's language; a
task of several documents says which one it is at. ``stop`` cancels: the model stops at
its next word (:class:`~sabio.tasks.budget.StoppableModel`).

Results are ``<home>/task-results/<job id>.json`` (private, as the rest of the data
directory), forgotten with their job after :data:`sabio.jobs.KEEP_FINISHED_S`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sabio.errors import ConfigError, ConflictError, NotFoundError
from sabio.jobs import KEEP_FINISHED_S
from sabio.tasks import results
from sabio.tasks.extract import BUILT_IN, check_schema, load_schema
from sabio.tasks.summarize import LENGTHS
from sabio.tasks.translate import language_name

if TYPE_CHECKING:
    from sabio.filters import DocumentFilter
    from sabio.store import DocumentRecord, KnowledgeBase
    from sabio.tasks.compare import Change
    from sabio.tasks.extract import Extraction
    from sabio.tasks.summarize import Summary
    from sabio.tasks.translate import Translation


class Library(Protocol):
    """What a task needs of the service (:class:`sabio.service.Sabio`)."""

    def kb(self, name: str | None = None) -> KnowledgeBase: ...
    def get_document(self, kb: KnowledgeBase, ref: str | int) -> DocumentRecord: ...
    def summarize(
        self,
        ref: str,
        kb_name: str | None = None,
        *,
        length: str = "page",
        language: str | None = None,
        focus: str = "",
        model: str | None = None,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[DocumentRecord, Summary]: ...
    def translate(
        self,
        ref: str,
        to: str,
        kb_name: str | None = None,
        *,
        model: str | None = None,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[DocumentRecord, Translation]: ...
    def extract(
        self,
        schema: Mapping[str, Any],
        kb_name: str | None = None,
        *,
        filters: DocumentFilter | None = None,
        sources: Sequence[str] | None = None,
        model: str | None = None,
        progress: Callable[[DocumentRecord, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[DocumentRecord, Extraction]]: ...
    def compare(
        self, old_ref: str, new_ref: str, kb_name: str | None = None
    ) -> tuple[DocumentRecord, DocumentRecord, list[Change]]: ...


KINDS = ("summarize", "translate", "extract", "compare")
OPTIONS: dict[str, frozenset[str]] = {
    "summarize": frozenset({"length", "language", "focus", "model"}),
    "translate": frozenset({"to", "model"}),
    "extract": frozenset({"schema", "model"}),
    "compare": frozenset(),
}
"""The options each kind takes (as the CLI's: ``sabio summarize --length``…)."""
RESULTS = "task-results"
Progress = Callable[[int, "int | None", str], None]
"""(done, total, message), as a job's heartbeat takes them."""
_PART = re.compile(r"\bpart (\d+) of (\d+)")


def task_payload(
    sabio: Library,
    kb_name: str | None,
    kind: str,
    documents: Sequence[str | int],
    options: dict[str, Any],
) -> dict[str, Any]:
    """What a job of this task holds; a ConfigError (with its key) for anything wrong."""
    if kind not in KINDS:
        raise ConfigError(f"no task {kind!r}: use {', '.join(KINDS)}", key="task_kind", kind=kind)
    unknown = sorted(set(options) - OPTIONS[kind])
    if unknown:
        raise ConfigError(
            f"{kind} takes no option {unknown[0]!r}: use {', '.join(sorted(OPTIONS[kind]))}",
            key="task_option",
            option=unknown[0],
        )
    kb = sabio.kb(kb_name)
    ids = [_document_id(sabio, kb, ref) for ref in documents]
    wanted = {"compare": "two documents", "extract": ""}.get(kind, "a document")
    if (kind == "compare" and len(ids) != 2) or (wanted and not ids):
        raise ConfigError(f"{kind} needs {wanted}", key="task_documents", kind=kind)
    return {
        "kind": kind,
        "kb": kb.name,
        "documents": ids,
        "options": check_task_options(kind, options),
    }


def _document_id(sabio: Library, kb: KnowledgeBase, ref: str | int) -> int:
    try:
        return sabio.get_document(kb, ref).id
    except (NotFoundError, ConflictError) as exc:
        raise ConfigError(str(exc), key="task_document", document=str(ref)) from exc


def check_task_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with their values checked as the task will use them, the defaults
    written in (also for a source's ``on_new``, :mod:`sabio.sources.automation`)."""
    checked = dict(options)
    if kind == "summarize":
        if checked.setdefault("length", "page") not in LENGTHS:
            raise ConfigError(
                f"no summary length {checked['length']!r}: use {', '.join(LENGTHS)}",
                key="summary_length",
                length=str(checked["length"]),
            )
        if checked.get("language") not in (None, "es", "en"):
            raise ConfigError(
                f"no language {checked['language']!r}: use es or en", key="summary_language"
            )
    elif kind == "translate":
        language_name(str(checked.setdefault("to", "en")))
    elif kind == "extract":
        schema = checked.setdefault("schema", "invoice")
        if isinstance(schema, str) and schema not in BUILT_IN:
            raise ConfigError(  # no file of the server's disk by name
                f"no schema {schema!r}: give a JSON Schema or one of {', '.join(BUILT_IN)}",
                key="schema_missing",
                schema=schema,
            )
        if not isinstance(schema, str):
            check_schema(schema, "given")
    return checked


def run_task(
    sabio: Library, payload: dict[str, Any], progress: Progress, stop: threading.Event
) -> dict[str, Any]:
    """Run the task a job holds (:func:`task_payload`); its result."""
    kind, kb_name, ids = payload["kind"], payload["kb"], payload["documents"]
    options = dict(payload["options"])
    if kind == "compare":
        old, new, changes = sabio.compare(str(ids[0]), str(ids[1]), kb_name)
        return {"kind": kind, "items": [results.comparison_json(old, new, changes)]}
    items: list[dict[str, Any]] = []
    if kind == "extract":
        schema = options.pop("schema")
        kb = sabio.kb(kb_name)
        sources = [sabio.get_document(kb, i).source for i in ids] if ids else None
        found = sabio.extract(
            load_schema(schema) if isinstance(schema, str) else schema,
            kb_name,
            sources=sources,
            model=options.get("model"),
            progress=lambda doc, note: _report(progress, doc.title, note, 1, 0),
            stop=stop,
        )
        for doc, extraction in found:  # a batch says how far it is, document by document
            items.append(results.extraction_json(doc, extraction))
            progress(len(items), len(ids) or None, f"{len(items)} documents done")
        return {"kind": kind, "items": items}
    for number, ref in enumerate(ids, 1):
        note = _Notes(progress, number, len(ids))
        if kind == "summarize":
            doc, summary = sabio.summarize(str(ref), kb_name, progress=note, stop=stop, **options)
            items.append(results.summary_json(doc, summary))
        else:
            doc, translation = sabio.translate(
                str(ref),
                options["to"],
                kb_name,
                model=options.get("model"),
                progress=note,
                stop=stop,
            )
            items.append(results.translation_json(doc, translation))
    return {"kind": kind, "items": items}


class _Notes:
    """A task's notes as a job's progress: "part 3 of 12" is done 3 of 12."""

    def __init__(self, progress: Progress, number: int, documents: int) -> None:
        self.progress, self.number, self.documents = progress, number, documents

    def __call__(self, note: str) -> None:
        _report(self.progress, "", note, self.number, self.documents)


def _report(progress: Progress, title: str, note: str, number: int, documents: int) -> None:
    match = _PART.search(note)
    done, total = (int(match.group(1)), int(match.group(2))) if match else (0, None)
    where = f"document {number} of {documents}: " if documents > 1 else ""
    named = f"{title}: " if title else ""
    progress(done, total, f"{where}{named}{note}")


# results


def result_path(home: Path, job_id: int) -> Path:
    return home / RESULTS / f"{job_id}.json"


def save_result(home: Path, job_id: int, result: dict[str, Any]) -> None:
    """Keep a finished task's result (readable by the owner only); forget those older
    than their jobs."""
    folder = home / RESULTS
    folder.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.json"):
        if old.stat().st_mtime < now - KEEP_FINISHED_S:
            old.unlink(missing_ok=True)
    path = result_path(home, job_id)
    partial = path.with_suffix(".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result, out, ensure_ascii=False)
    partial.replace(path)


def load_result(home: Path, job_id: int) -> dict[str, Any]:
    path = result_path(home, job_id)
    if not path.is_file():
        raise NotFoundError(f"task {job_id} has no result", key="task_no_result", task=job_id)
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value
