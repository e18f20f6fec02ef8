"""`sabio source …` and `sabio worker`: sources that keep a knowledge base current, and
the process that syncs them without the web server."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic.fields import FieldInfo
from rich.markup import escape

from sabio.errors import ConfigError
from sabio.jobs import Job
from sabio.service import Sabio
from sabio.sources import Source, SourceItem, automation
from sabio.sources.kinds import item_name, source_kind, source_kinds
from sabio.tasks.extract import BUILT_IN, load_schema
from sabio.terminal import (
    JsonOption,
    KbOption,
    default_language,
    err,
    in_language,
    in_language_counted,
    out,
)
from sabio.terminal import print_json as _print_json
from sabio.terminal import service as _sabio

_TEXTS = {
    "added": (
        "Added source {id}: {source} → {kb}",
        "Añadida la fuente {id}: {source} → {kb}",
    ),
    "token": (
        "Its token (shown once; keep it secret):\n  {token}\nPOST documents, texts or URLs "
        "to /api/v1/sources/{id}/webhook with 'Authorization: Bearer <token>'.",
        "Su token (se muestra una vez; guárdalo en secreto):\n  {token}\nEnvía (POST) "
        "documentos, textos o URL a /api/v1/sources/{id}/webhook con 'Authorization: Bearer "
        "<token>'.",
    ),
    "kept_in_sync": (
        "`sabio serve` (or `sabio worker`) keeps it in sync; `sabio source list` shows how.",
        "`sabio serve` (o `sabio worker`) la mantiene al día; `sabio source list` muestra cómo.",
    ),
    "its_password": (
        "its password (else ${env}, or asked)",
        "su contraseña (si no, ${env}, o se pregunta)",
    ),
    "password": ("Password", "Contraseña"),
    "none": (
        "No sources yet: add one with `sabio source add folder PATH`.",
        "Aún no hay fuentes: añade una con `sabio source add folder RUTA`.",
    ),
    "no_items": ("no items yet", "aún sin elementos"),
    "last_sync": ("last sync {when}", "última sincronización {when}"),
    "not_synced": ("not synced yet", "aún sin sincronizar"),
    "failed": (" — [red]failed:[/] {error}", " — [red]falló:[/] {error}"),
    "next": ("; next {when}", "; la próxima {when}"),
    "hidden": (
        "    ({count} indexed or unchanged; --all lists them)",
        "    ({count} indexados o sin cambios; --all los muestra)",
    ),
    "hidden_one": (
        "    (1 indexed or unchanged; --all lists it)",
        "    (1 indexado o sin cambios; --all lo muestra)",
    ),
    "never": ("never", "nunca"),
    "queued": (
        "Queued {count} syncs; `sabio serve` or `sabio worker` runs them.",
        "{count} sincronizaciones en cola; `sabio serve` o `sabio worker` las ejecuta.",
    ),
    "queued_one": (
        "Queued 1 sync; `sabio serve` or `sabio worker` runs it.",
        "1 sincronización en cola; `sabio serve` o `sabio worker` la ejecuta.",
    ),
    "kept": (" (its documents are kept)", " (sus documentos se conservan)"),
    "and_documents": (" and its documents", " y sus documentos"),
    "removed": ("Removed source {id}: {source}{kept}.", "Quitada la fuente {id}: {source}{kept}."),
    "worker": (
        "Sabio worker running over {home}; Ctrl-C stops it.",
        "Trabajador de Sabio en marcha sobre {home}; Ctrl-C lo detiene.",
    ),
}
"""What these commands print, in English and Spanish (SABIO_LANGUAGE or LANG decides)."""
_STATES = {
    "indexed": ("indexed", "indexado"),
    "unchanged": ("unchanged", "sin cambios"),
    "needs OCR": ("needs OCR", "necesita OCR"),
    "failed": ("failed", "fallido"),
    "encrypted": ("encrypted", "cifrado"),
    "skipped": ("skipped", "omitido"),
    "queued": ("queued", "en cola"),
    "running": ("running", "en marcha"),
    "done": ("done", "hecho"),
    "cancelled": ("cancelled", "cancelado"),
}
"""What became of an item (:attr:`SourceItem.label`) or a job (:attr:`Job.status`)."""
_COUNTED = {
    "indexed": ("{count} indexed", "{count} indexados"),
    "indexed_one": ("1 indexed", "1 indexado"),
    "unchanged": ("{count} unchanged", "{count} sin cambios"),
    "needs OCR": ("{count} need OCR", "{count} necesitan OCR"),
    "needs OCR_one": ("1 needs OCR", "1 necesita OCR"),
    "failed": ("{count} failed", "{count} fallidos"),
    "failed_one": ("1 failed", "1 fallido"),
    "encrypted": ("{count} encrypted", "{count} cifrados"),
    "encrypted_one": ("1 encrypted", "1 cifrado"),
    "skipped": ("{count} skipped", "{count} omitidos"),
    "skipped_one": ("1 skipped", "1 omitido"),
}
"""How many items are in each state, singular and plural."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


def _state(name: str) -> str:
    """An item's or a job's state in the reader's language ("indexed": "indexado")."""
    return in_language(_STATES, name, default_language()) if name in _STATES else name


def _counted(state: str, count: int) -> str:
    """ "2 indexed" / "2 indexados", "1 skipped" / "1 omitido"."""
    if state not in _COUNTED:
        return f"{count} {state}"
    return in_language_counted(_COUNTED, state, count, default_language())


source_app = typer.Typer(
    help="Folders, mailboxes, web pages and webhooks that keep a knowledge base current.",
    no_args_is_help=True,
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
PASSWORD_ENV = "SABIO_SOURCE_PASSWORD"


def parse_duration(text: str) -> float:
    """ "90", "90s", "15m", "1h", "1d" in seconds (at least a minute)."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ConfigError(f"{text!r} is not a duration; write e.g. 30m, 1h or 1d")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds < 60:
        raise ConfigError("sync at most once a minute (--every 1m or more)")
    return seconds


class _SourceAdd:
    """``sabio source add``: its options are the kinds' options, read from their
    declarations each time the CLI is built (:mod:`sabio.sources.kinds`), so a kind
    registered by a plugin has its options on the command line too."""

    __name__ = "add"
    __doc__ = "Attach a source to a knowledge base; its first sync starts at once."

    @property
    def __signature__(self) -> inspect.Signature:
        fixed = [
            p
            for p in inspect.signature(_source_add, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        return inspect.Signature([*fixed, *(p for p, _ in _option_parameters().values())])

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        return {name: p.annotation for name, p in self.__signature__.parameters.items()}

    def __call__(self, **given: Any) -> None:
        fixed = set(inspect.signature(_source_add).parameters)
        options = {name: v for name, v in given.items() if name not in fixed}
        _source_add(**{name: v for name, v in given.items() if name in fixed}, **options)


def _option_parameters() -> dict[str, tuple[inspect.Parameter, str]]:
    """A CLI option per option of the kinds (one for an option several kinds share):
    parameter name → (the parameter, the option's name on the command line)."""
    found: dict[str, tuple[FieldInfo, list[str]]] = {}
    for kind in source_kinds():
        for name, info in kind.options.model_fields.items():
            found.setdefault(name, (info, []))[1].append(kind.name)
    parameters = {}
    for name, (info, kinds) in found.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        flag = "--" + str(extra.get("cli") or name).replace("_", "-")
        is_bool = info.annotation is bool
        annotation = bool | None if is_bool else int | None if _is_int(info) else str | None
        described = info.description or name
        help_text = f"{', '.join(kinds)}: {described[:1].lower()}{described[1:]}"
        decl = f"{flag}/--no-{flag[2:]}" if is_bool else flag
        option = typer.Option(decl, help=help_text, show_default=False)
        parameters[f"option_{name}"] = (
            inspect.Parameter(
                f"option_{name}",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[annotation, option],
            ),
            flag,
        )
    return parameters


def _is_int(info: FieldInfo) -> bool:
    return info.annotation in (int, int | None)


def _source_add(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="The kind of source (`sabio source kinds` lists them).")
    ],
    location: Annotated[
        str | None,
        typer.Argument(
            help="The folder; the URL (url, feed, sitemap); a name (webhook); none for imap."
        ),
    ] = None,
    kb: KbOption = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help=f"Kinds with a password (imap): read it from standard input (else "
            f"${PASSWORD_ENV}, else it is asked for).",
        ),
    ] = False,
    every: Annotated[
        str | None, typer.Option(help="How often to sync (imap, url, feed, sitemap): 15m, 1h, 1d.")
    ] = None,
    on_new: Annotated[
        str | None,
        typer.Option(
            "--on-new", help="Run this task on every new item: summarize, translate or extract."
        ),
    ] = None,
    task_option: Annotated[
        list[str] | None,
        typer.Option(
            "--task-option",
            help="An option of the --on-new task, KEY=VALUE: length=short, to=en, "
            "schema=invoice (or a JSON Schema file)…",
        ),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="--on-new: POST each result here as JSON (n8n).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="--on-new: write each result into this folder.")
    ] = None,
    as_json: JsonOption = False,
    **given: Any,
) -> None:
    declared = source_kind(kind)
    flags = {name: flag for name, (_, flag) in _option_parameters().items()}
    options: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        field = name.removeprefix("option_")
        if field not in declared.options.model_fields:
            raise ConfigError(
                f"{flags[name]} is not an option of a {kind} source; see `sabio source kinds`"
            )
        options[field] = value
    if declared.location == "none" and location:
        raise ConfigError(f"a {kind} source takes no location; see `sabio source kinds`")
    if location is None and declared.location in ("folder", "file", "url"):
        raise ConfigError(f"a {kind} source needs its location: sabio source add {kind} …")
    if on_new:
        options[automation.KEY] = _on_new(on_new, task_option or [], webhook_url, output)
    elif task_option or webhook_url or output:
        raise ConfigError("--task-option, --webhook-url and --output go with --on-new TASK")
    declared.check_options(options)  # before asking for a password
    password = _password(password_stdin) if declared.secret == "password" else None
    sabio = _sabio(ctx)
    source, token = sabio.add_source(
        kind,
        location or "",
        kb,
        options=options,
        password=password,
        interval_s=parse_duration(every) if every else None,
    )
    if as_json:
        _print_json({**_source_dict(source), **({"token": token} if token else {})})
        return
    described = escape(source.describe())
    out.print(_t("added", id=source.id, source=described, kb=escape(source.kb_name)))
    if token:
        out.print(_t("token", token=token, id=source.id))
    out.print(_t("kept_in_sync"))


source_app.command("add", help=_SourceAdd.__doc__)(_SourceAdd())


def _on_new(
    task: str, pairs: list[str], webhook_url: str | None, output: Path | None
) -> dict[str, Any]:
    """``--on-new`` and its options as the source keeps them (a schema file read here)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--task-option {pair!r}: write KEY=VALUE, e.g. length=short")
        options[name.strip()] = value.strip()
    schema = options.get("schema")
    if task == "extract" and schema and schema not in BUILT_IN:
        options["schema"] = load_schema(schema)  # the file's schema, kept with the source
    on_new: dict[str, Any] = {"task": task, "options": options}
    if webhook_url:
        on_new["webhook_url"] = webhook_url
    if output:
        on_new["output"] = str(output)
    return automation.check_on_new(on_new)


@source_app.command("kinds")
def source_kinds_list(as_json: JsonOption = False) -> None:
    """The kinds of source, what their location is, and their options."""
    kinds = source_kinds()
    if as_json:
        _print_json([kind.describe() for kind in kinds])
        return
    flags = {name.removeprefix("option_"): flag for name, (_, flag) in _option_parameters().items()}
    for kind in kinds:
        where = {"folder": " FOLDER", "file": " FILE", "url": " URL", "name": " [NAME]"}.get(
            kind.location, ""
        )
        out.print(f"[bold]{kind.name}[/]{escape(where)} — {escape(kind.summary)}")
        for name, info in kind.options.model_fields.items():
            out.print(f"    {flags[name]:<18} {escape(info.description or '')}")
        if kind.secret == "password":
            out.print(f"    {'--password-stdin':<18} {_t('its_password', env=PASSWORD_ENV)}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    else:
        password = typer.prompt(_t("password"), hide_input=True)
    if not password:
        raise ConfigError("the password is empty")
    return password


@source_app.command("list")
def source_list(
    ctx: typer.Context,
    source_id: Annotated[int | None, typer.Argument(help="One source, with every item.")] = None,
    kb: KbOption = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="Every item, also the indexed and unchanged ones.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sources with their last sync and, per item, what became of it and why."""
    sabio = _sabio(ctx)
    sources = [sabio.sources.get(source_id)] if source_id else sabio.list_sources(kb)
    if as_json:
        _print_json(
            [
                {
                    **_source_dict(s),
                    "items": [_item_dict(i) for i in sabio.source_items(s.id)],
                    "jobs": [_job_dict(j) for j in sabio.jobs.recent(s.id, limit=5)],
                }
                for s in sources
            ]
        )
        return
    if not sources:
        out.print(_t("none"))
        return
    for source in sources:
        _print_source(sabio, source, every_item=all_items or source_id is not None)


def _print_source(sabio: Sabio, source: Source, *, every_item: bool) -> None:
    items = sabio.source_items(source.id)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.label] = counts.get(item.label, 0) + 1
    summary = ", ".join(_counted(label, n) for label, n in sorted(counts.items()))
    summary = summary or _t("no_items")
    out.print(
        f"[bold]{source.id}[/] {escape(source.describe())} → {escape(source.kb_name)}: {summary}"
    )
    jobs = sabio.jobs.recent(source.id, limit=1)
    synced = source.last_sync_at
    last = _t("last_sync", when=_when(synced)) if synced else _t("not_synced")
    if source.last_error:
        last += _t("failed", error=escape(source.last_error))
    if jobs and jobs[0].status in ("queued", "running"):
        job = jobs[0]
        done = f" ({job.done}/{job.total})" if job.total else ""
        last += f"; {_state(job.status)}{done}: {escape(job.message)}"
    if source.next_sync_at and source.interval_s:
        last += _t("next", when=_when(source.next_sync_at))
    out.print(f"    {last}")
    shown = items if every_item else [i for i in items if i.label not in ("indexed", "unchanged")]
    for item in shown:
        reason = f" — {escape(item.reason)}" if item.reason else ""
        name = _item_name(source, item)
        out.print(
            f"    {_state(item.label):<10} {escape(name)}{reason}  ({_when(item.changed_at)})"
        )
    if len(shown) < len(items):
        hidden = len(items) - len(shown)
        out.print(in_language_counted(_TEXTS, "hidden", hidden, default_language()))


def _item_name(source: Source, item: SourceItem) -> str:
    """A folder's item by its path; others by title, then their key, shortened."""
    name = item_name(source, item)
    if source_kind(source.kind).location == "folder" or not item.title or item.title == name:
        return name
    key = name if len(name) <= 60 else name[:40] + "…" + name[-19:]
    return f"{item.title}  <{key}>"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return _t("never")
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@source_app.command("sync")
def source_sync(
    ctx: typer.Context,
    source_id: Annotated[
        int | None, typer.Argument(help="The source (default: every one).")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Run the sync here and now instead of leaving it to the worker.")
    ] = True,
) -> None:
    """Sync a source now (changes are also picked up on their own while Sabio runs)."""
    sabio = _sabio(ctx)
    sources = [sabio.sources.get(source_id)] if source_id else sabio.list_sources()
    jobs = [sabio.sync_source(s.id) for s in sources]
    if not wait:
        out.print(in_language_counted(_TEXTS, "queued", len(jobs), default_language()))
        return
    from sabio.worker import Worker

    worker = Worker(sabio, watch=False)
    try:
        worker.run_pending()
        # a running `sabio serve` or `sabio worker` may have claimed some: wait for them
        while any(_unfinished(sabio.jobs.get(job.id)) for job in jobs):
            time.sleep(0.5)
            worker.run_pending()
    finally:
        worker.stop()
    failed = 0
    for job in jobs:
        done = sabio.jobs.get(job.id)
        source = sabio.sources.get(done.source_id or 0)
        if done.status == "done":
            out.print(f"{source.id} {escape(source.describe())}: {escape(done.message)}")
        else:
            failed += 1
            out.print(
                f"{source.id} {escape(source.describe())}: [red]{_state(done.status)}[/] — "
                f"{escape(done.error or done.message)}"
            )
    raise typer.Exit(1 if failed else 0)


def _unfinished(job: Job) -> bool:
    """Running, or queued and not yet tried (a failed attempt waits for its retry)."""
    return job.status == "running" or (job.status == "queued" and job.attempts == 0)


@source_app.command("remove")
def source_remove(
    ctx: typer.Context,
    source_id: Annotated[
        int, typer.Argument(help="The source's number (see `sabio source list`).")
    ],
    keep_documents: Annotated[
        bool, typer.Option(help="Keep the documents it brought in the knowledge base.")
    ] = False,
) -> None:
    """Detach a source (and forget its documents, unless --keep-documents)."""
    source = _sabio(ctx).remove_source(source_id, keep_documents=keep_documents)
    kept = _t("kept" if keep_documents else "and_documents")
    out.print(_t("removed", id=source.id, source=escape(source.describe()), kept=kept))


def worker(ctx: typer.Context) -> None:
    """Keep sources in sync and run background jobs, without the web server."""
    from sabio.config import load_settings
    from sabio.readers import Keeper
    from sabio.worker import Worker

    keeper = Keeper()  # a reader waits between jobs: each sync does not start its own
    sabio = Sabio(load_settings(ctx.find_root().obj), keeper=keeper)
    running = Worker(sabio)
    stop = {"asked": False}

    def ask_stop(signum: int, frame: Any) -> None:
        stop["asked"] = True
        running.wake()

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    running.start()
    err.print(_t("worker", home=escape(str(sabio.settings.home))))
    while not stop["asked"]:
        time.sleep(0.5)
    running.stop()
    keeper.close()


def _source_dict(source: Source) -> dict[str, Any]:
    return {
        **source.to_dict(),
        "password_set": source.has_secret if _takes_password(source) else None,
    }


def _takes_password(source: Source) -> bool:
    return any(k.name == source.kind and k.secret == "password" for k in source_kinds())


def _item_dict(item: SourceItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "title": item.title,
        "status": item.label,
        "reason": item.reason,
        "document_id": item.document_id,
        "changed_at": item.changed_at,
        "checked_at": item.checked_at,
    }


def _job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "attempts": job.attempts,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
