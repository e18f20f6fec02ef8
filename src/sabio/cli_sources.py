"""`sabio source …` and `sabio worker`: sources that keep a knowledge base current, and
the process that syncs them without the web server."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from sabio.errors import ConfigError
from sabio.jobs import Job
from sabio.service import Sabio
from sabio.sources import KINDS, Source, SourceItem
from sabio.terminal import JsonOption, KbOption, err, out
from sabio.terminal import print_json as _print_json
from sabio.terminal import service as _sabio

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


@source_app.command("add")
def source_add(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    location: Annotated[
        str | None,
        typer.Argument(
            help="The folder; the URL (url, feed, sitemap); a name (webhook); none for imap."
        ),
    ] = None,
    kb: KbOption = None,
    host: Annotated[str | None, typer.Option(help="imap: the mail server.")] = None,
    user: Annotated[str | None, typer.Option(help="imap: the user name.")] = None,
    port: Annotated[int | None, typer.Option(help="imap: port (993 with TLS, else 143).")] = None,
    folder: Annotated[str, typer.Option(help="imap: the mailbox folder.")] = "INBOX",
    security: Annotated[
        str, typer.Option(help="imap: tls, starttls or none (none only on this computer).")
    ] = "tls",
    since: Annotated[
        str | None, typer.Option(help="imap: only mail from this date on (YYYY-MM-DD).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help=f"imap: read the password from standard input (else ${PASSWORD_ENV}, "
            "else it is asked for).",
        ),
    ] = False,
    every: Annotated[
        str | None, typer.Option(help="How often to sync (imap, url, feed, sitemap): 15m, 1h, 1d.")
    ] = None,
    allow_private: Annotated[
        bool,
        typer.Option(
            "--allow-private",
            help="url, feed, sitemap, webhook: allow addresses on this computer or your own "
            "network.",
        ),
    ] = False,
    follow_links: Annotated[
        bool,
        typer.Option(
            help="folder: index files that symbolic links lead to outside the folder "
            "(skipped otherwise)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Attach a source to a knowledge base; its first sync starts at once."""
    options: dict[str, Any] = {}
    password = None
    if kind == "imap":
        if location or not host or not user:
            raise ConfigError("an imap source needs --host and --user (and no location)")
        if since is not None:
            try:
                dt.date.fromisoformat(since)
            except ValueError:
                raise ConfigError(f"--since {since!r} is not a date like 2024-01-31") from None
        options = {
            "host": host,
            "username": user,
            "port": port,
            "folder": folder,
            "security": security,
            "since": since,
        }
        password = _password(password_stdin)
        location = ""
    elif kind in ("url", "feed", "sitemap", "webhook"):
        options = {"allow_private": allow_private}
    elif kind == "folder" and follow_links:
        options = {"follow_links": True}
    if location is None and kind not in ("imap", "webhook"):
        raise ConfigError(f"a {kind} source needs its location: sabio source add {kind} …")
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
    out.print(f"Added source {source.id}: {escape(source.describe())} → {escape(source.kb_name)}")
    if token:
        out.print(
            f"Its token (shown once; keep it secret):\n  {token}\nPOST documents, texts or "
            f"URLs to /api/v1/sources/{source.id}/webhook with 'Authorization: Bearer <token>'."
        )
    out.print("`sabio serve` (or `sabio worker`) keeps it in sync; `sabio source list` shows how.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    else:
        password = typer.prompt("Password", hide_input=True)
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
        out.print("No sources yet: add one with `sabio source add folder PATH`.")
        return
    for source in sources:
        _print_source(sabio, source, every_item=all_items or source_id is not None)


def _print_source(sabio: Sabio, source: Source, *, every_item: bool) -> None:
    items = sabio.source_items(source.id)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.label] = counts.get(item.label, 0) + 1
    summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "no items yet"
    out.print(
        f"[bold]{source.id}[/] {escape(source.describe())} → {escape(source.kb_name)}: {summary}"
    )
    jobs = sabio.jobs.recent(source.id, limit=1)
    last = f"last sync {_when(source.last_sync_at)}" if source.last_sync_at else "not synced yet"
    if source.last_error:
        last += f" — [red]failed:[/] {escape(source.last_error)}"
    if jobs and jobs[0].status in ("queued", "running"):
        job = jobs[0]
        done = f" ({job.done}/{job.total})" if job.total else ""
        last += f"; {job.status}{done}: {escape(job.message)}"
    if source.next_sync_at and source.interval_s:
        last += f"; next {_when(source.next_sync_at)}"
    out.print(f"    {last}")
    shown = items if every_item else [i for i in items if i.label not in ("indexed", "unchanged")]
    for item in shown:
        reason = f" — {escape(item.reason)}" if item.reason else ""
        name = _item_name(source, item)
        out.print(f"    {item.label:<10} {escape(name)}{reason}  ({_when(item.changed_at)})")
    if len(shown) < len(items):
        out.print(f"    ({len(items) - len(shown)} indexed or unchanged; --all lists them)")


def _item_name(source: Source, item: SourceItem) -> str:
    """A folder's item by its path; others by title, then their key, shortened."""
    name = source.item_name(item)
    if source.kind == "folder" or not item.title or item.title == name:
        return name
    key = name if len(name) <= 60 else name[:40] + "…" + name[-19:]
    return f"{item.title}  <{key}>"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
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
        out.print(f"Queued {len(jobs)} sync(s); `sabio serve` or `sabio worker` runs them.")
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
                f"{source.id} {escape(source.describe())}: [red]{done.status}[/] — "
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
    kept = " (its documents are kept)" if keep_documents else " and its documents"
    out.print(f"Removed source {source.id}: {escape(source.describe())}{kept}.")


def worker(ctx: typer.Context) -> None:
    """Keep sources in sync and run background jobs, without the web server."""
    from sabio.worker import Worker

    sabio = _sabio(ctx)
    running = Worker(sabio)
    stop = {"asked": False}

    def ask_stop(signum: int, frame: Any) -> None:
        stop["asked"] = True
        running.wake()

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    running.start()
    err.print(f"Sabio worker running over {escape(str(sabio.settings.home))}; Ctrl-C stops it.")
    while not stop["asked"]:
        time.sleep(0.5)
    running.stop()


def _source_dict(source: Source) -> dict[str, Any]:
    return {
        **source.to_dict(),
        "password_set": source.has_secret if source.kind == "imap" else None,
    }


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
