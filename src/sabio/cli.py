"""The `sabio` command: a thin layer over :class:`sabio.service.Sabio`.

Errors: a SabioError prints its message and exits 1; anything else is a bug and shows
its traceback. `sabio add` exits 1 when a file could not be indexed (failed, needs OCR,
encrypted) and 0 when every file is searchable or deliberately skipped.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections import Counter
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from sabio.answer import Answer, AnswerStream
from sabio.cli_data import export, import_, migrate, purge
from sabio.cli_notes import chat_commands, chat_feedback, kb_guide, kb_publish, notes_app
from sabio.cli_review import review
from sabio.cli_sources import source_app, worker
from sabio.cli_tables import ChartOption, report, save_chart, tables
from sabio.cli_tasks import compare, extract, summarize, transcript, translate
from sabio.config import Settings, load_settings
from sabio.disk import storage_error, write_problem
from sabio.errors import ConfigError, SabioError
from sabio.filters import DocumentFilter
from sabio.home import use_private_umask
from sabio.ingest import FileResult, IngestReport
from sabio.loaders import OcrSummary, ReadProgress
from sabio.loaders.formats import is_timed, place
from sabio.routing import route_words
from sabio.service import Sabio
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
    # kb
    "kb_created": (
        "Created knowledge base [bold]{name}[/]{named} with {model}{ocr}.",
        "Creada la base de conocimiento [bold]{name}[/]{named} con {model}{ocr}.",
    ),
    "kb_identifier": (" (identifier [bold]{slug}[/])", " (identificador [bold]{slug}[/])"),
    "kb_scans": (", scans read as {languages}", ", escaneos leídos como {languages}"),
    "kb_set": (
        "Knowledge base {name}: scans are read as {how}; uploads are {reviewed}.",
        "Base de conocimiento {name}: los escaneos se leen como {how}; las subidas {reviewed}.",
    ),
    "kb_setting_languages": (
        "the ocr_languages setting's languages",
        "los idiomas del ajuste ocr_languages",
    ),
    "kb_reviewed": ("reviewed as they arrive", "se revisan al llegar"),
    "kb_not_reviewed": ("not reviewed as they arrive", "no se revisan al llegar"),
    "kb_columns": (
        "name|identifier|documents|chunks|embedding model",
        "nombre|identificador|documentos|fragmentos|modelo de embeddings",
    ),
    "kb_none": (
        "No knowledge bases yet: `sabio add PATH` creates 'default'.",
        "Aún no hay bases de conocimiento: `sabio add RUTA` crea 'default'.",
    ),
    "kb_documents": ("its {count} documents", "sus {count} documentos"),
    "kb_documents_one": ("its 1 document", "su documento"),
    "kb_chats": (" and its {count} chats", " y sus {count} chats"),
    "kb_chats_one": (" and its 1 chat", " y su chat"),
    "kb_delete_ask": ("Delete '{name}', {what}?", "¿Borrar '{name}', {what}?"),
    "kb_deleted": (
        "Deleted knowledge base {name}, {what} (your own files were not touched).",
        "Borrada la base de conocimiento {name}, {what} (tus propios archivos no se tocaron).",
    ),
    "reembedding": ("re-embedding every passage…", "recalculando los embeddings de cada pasaje…"),
    "reindexed": (
        "Re-indexed {name}: {count} passages with {model}.",
        "Reindexada {name}: {count} pasajes con {model}.",
    ),
    "reindexed_one": (
        "Re-indexed {name}: 1 passage with {model}.",
        "Reindexada {name}: 1 pasaje con {model}.",
    ),
    # add
    "reading_files": ("reading files", "leyendo los archivos"),
    "reading_file": ("reading {name}", "leyendo {name}"),
    "indexing": ("indexing", "indexando"),
    "updating_index": (
        "updating the search index",
        "actualizando el índice de búsqueda",
    ),
    "embedding": ("embedding passages ({counts} done)", "calculando los embeddings ({counts})"),
    "added": ("{count} added", "{count} añadidos"),
    "added_one": ("1 added", "1 añadido"),
    "updated": ("{count} updated", "{count} actualizados"),
    "updated_one": ("1 updated", "1 actualizado"),
    "unchanged": ("{count} unchanged", "{count} sin cambios"),
    "removed": ("{count} removed", "{count} quitados"),
    "removed_one": ("1 removed", "1 quitado"),
    "skipped": ("{count} skipped", "{count} omitidos"),
    "skipped_one": ("1 skipped", "1 omitido"),
    "not_indexed": ("{count} not indexed", "{count} sin indexar"),
    "failed": ("{count} failed", "{count} fallidos"),
    "failed_one": ("1 failed", "1 fallido"),
    "needs_ocr": ("{count} need OCR", "{count} necesitan OCR"),
    "needs_ocr_one": ("1 needs OCR", "1 necesita OCR"),
    "encrypted": ("{count} encrypted", "{count} cifrados"),
    "encrypted_one": ("1 encrypted", "1 cifrado"),
    "label_added": ("added", "añadido"),
    "label_updated": ("updated", "actualizado"),
    "label_unchanged": ("unchanged", "sin cambios"),
    "label_removed": ("removed", "quitado"),
    "label_skipped": ("skipped", "omitido"),
    "label_not_indexed": ("not indexed", "sin indexar"),
    "label_failed": ("failed", "fallido"),
    "label_needs_ocr": ("needs OCR", "necesita OCR"),
    "label_encrypted": ("encrypted", "cifrado"),
    "label_indexed": ("indexed", "indexado"),
    "unchanged_but": ("unchanged, {label}", "sin cambios, {label}"),
    "passages": (" ({count} passages)", " ({count} pasajes)"),
    "passages_one": (" (1 passage)", " (1 pasaje)"),
    "files": ("{count} files: {summary}.", "{count} archivos: {summary}."),
    "files_one": ("1 file: {summary}.", "1 archivo: {summary}."),
    "nothing_to_do": ("nothing to do", "nada que hacer"),
    "not_searchable": (
        "Not searchable: {parts} (listed above).",
        "No se pueden buscar: {parts} (en la lista de arriba).",
    ),
    "run_verbose": (
        "Run with --verbose to list every file.",
        "Usa --verbose para ver todos los archivos.",
    ),
    # docs, rm, search
    "docs_columns": (
        "id|status|pages|passages|document|note",
        "id|estado|páginas|pasajes|documento|nota",
    ),
    "docs_none": (
        "No documents yet: add some with `sabio add PATH`.",
        "Aún no hay documentos: añade algunos con `sabio add RUTA`.",
    ),
    "doc_removed": ("Removed {source}.", "Se quitó {source}."),
    "note": ("[yellow]note:[/] {note}", "[yellow]nota:[/] {note}"),
    "no_match": ("No passage matches.", "Ningún pasaje coincide."),
    "score": ("score {score:.4f}", "puntuación {score:.4f}"),
    # ask, chat
    "searched_for": ("[dim](searched for: {query})[/]", "[dim](se buscó: {query})[/]"),
    "incomplete": ("[red]answer incomplete:[/] {why}", "[red]respuesta incompleta:[/] {why}"),
    "model_stopped": ("the model stopped", "el modelo se detuvo"),
    "sources": ("Sources", "Fuentes"),
    "only_in": (
        "[dim]Only in {count} documents: {filter}.[/]",
        "[dim]Solo en {count} documentos: {filter}.[/]",
    ),
    "only_in_one": (
        "[dim]Only in 1 document: {filter}.[/]",
        "[dim]Solo en 1 documento: {filter}.[/]",
    ),
    "chat_start": (
        "[dim]Knowledge base {kb}, model {model}. /new starts over, /exit (or Ctrl-D) "
        "leaves; {commands}.[/]",
        "[dim]Base de conocimiento {kb}, modelo {model}. /new empieza de nuevo, /exit (o "
        "Ctrl-D) sale; {commands}.[/]",
    ),
    "chat_new": ("[dim]New conversation.[/]", "[dim]Nueva conversación.[/]"),
    "reading_folder": ("reading the folder", "leyendo la carpeta"),
    "route": ("[dim]route: {route}[/]", "[dim]ruta: {route}[/]"),
    "made": (
        "[dim]model {model} · language {lang} · {count} passages in the prompt · "
        "{tokens} of {budget} prompt tokens[/]",
        "[dim]modelo {model} · idioma {lang} · {count} pasajes en el prompt · "
        "{tokens} de {budget} tokens del prompt[/]",
    ),
    "made_one": (
        "[dim]model {model} · language {lang} · 1 passage in the prompt · "
        "{tokens} of {budget} prompt tokens[/]",
        "[dim]modelo {model} · idioma {lang} · 1 pasaje en el prompt · "
        "{tokens} de {budget} tokens del prompt[/]",
    ),
    "left_out": (
        "[dim]  left out (no room in the context window): {document}{page}[/]",
        "[dim]  se quedó fuera (sin sitio en la ventana de contexto): {document}{page}[/]",
    ),
    "removed_citation": (
        "[dim]  removed citation {marker}: it names no passage[/]",
        "[dim]  cita quitada {marker}: no nombra ningún pasaje[/]",
    ),
    "computed": (
        "[dim]  tables {tables} · {count} attempts[/]",
        "[dim]  tablas {tables} · {count} intentos[/]",
    ),
    "computed_one": (
        "[dim]  tables {tables} · 1 attempt[/]",
        "[dim]  tablas {tables} · 1 intento[/]",
    ),
    "query_failed": (
        "[dim]  query refused or failed: {error}[/]",
        "[dim]  consulta rechazada o fallida: {error}[/]",
    ),
    # models, pull, doctor
    "models_columns": (
        "name|kind|backend|default for|size",
        "nombre|tipo|motor|predeterminado para|tamaño",
    ),
    "unavailable": ("[yellow]unavailable[/] ", "[yellow]no disponible[/] "),
    "pulled": ("pulled {model}", "descargado: {model}"),
    "fix": ("     fix: {fix}", "     solución: {fix}"),
    # serve
    "serve_refused": (
        "[red]error:[/] refusing to serve on {host} without authentication: turn it on with "
        "--auth (or auth = true in config.toml), then create the admin on the first visit",
        "[red]error:[/] no se sirve en {host} sin autenticación: actívala con --auth (o "
        "auth = true en config.toml) y crea el administrador en la primera visita",
    ),
    "warning": ("[yellow]warning:[/] {problem}", "[yellow]aviso:[/] {problem}"),
    "running": (
        "Sabio is running: open [bold]http://{host}:{port}/[/] in your browser (the API's "
        "reference is at /docs). Ctrl-C stops it.",
        "Sabio está en marcha: abre [bold]http://{host}:{port}/[/] en tu navegador (la "
        "referencia de la API está en /docs). Ctrl-C lo detiene.",
    ),
    "this_computer": ("<this computer's address>", "<la dirección de este equipo>"),
    "setup_code": (
        "No account yet: open http://127.0.0.1:{port}/ on this computer to create the admin, "
        "or http://{host}:{port}/ from another device with the setup code [bold]{code}[/] "
        "(needed once).",
        "Aún no hay cuentas: abre http://127.0.0.1:{port}/ en este equipo para crear el "
        "administrador, o http://{host}:{port}/ desde otro dispositivo con el código de "
        "configuración [bold]{code}[/] (se pide una vez).",
    ),
    # accounts
    "password": ("Password", "Contraseña"),
    "admin_created": ("Created admin [bold]{name}[/].", "Creado el administrador [bold]{name}[/]."),
    "user_created": ("Created user [bold]{name}[/].", "Creado el usuario [bold]{name}[/]."),
    "users_columns": (
        "name|role|knowledge bases|created",
        "nombre|rol|bases de conocimiento|creado",
    ),
    "all": ("all", "todas"),
    "admin": ("admin", "administrador"),
    "member": ("member", "miembro"),
    "read": ("read", "lectura"),
    "write": ("write", "escritura"),
    "users_none": (
        "No accounts yet: `sabio user add NAME --admin` creates the first one (or the web "
        "app, on its first visit to `sabio serve --auth`).",
        "Aún no hay cuentas: `sabio user add NOMBRE --admin` crea la primera (o la aplicación "
        "web, en su primera visita a `sabio serve --auth`).",
    ),
    "may_read": ("{user} may now read {kb}.", "{user} ya puede leer {kb}."),
    "may_write": ("{user} may now write {kb}.", "{user} ya puede leer y escribir en {kb}."),
    "revoked": ("{user} may no longer use {kb}.", "{user} ya no puede usar {kb}."),
    "passwd": (
        "Changed the password of {user}; it signs in again everywhere.",
        "Cambiada la contraseña de {user}; tendrá que volver a entrar en todas partes.",
    ),
    "user_delete_ask": (
        "Delete {user!r} with its API tokens and chats?",
        "¿Borrar {user!r} con sus tokens de API y sus chats?",
    ),
    "user_deleted": ("Deleted {user}.", "Se borró la cuenta {user}."),
    "interrupted": (
        "interrupted: what was written stays consistent; run the command again.",
        "interrumpido: lo escrito queda coherente; vuelve a ejecutar la orden.",
    ),
}
"""What these commands print, in English and Spanish (SABIO_LANGUAGE or LANG decides)."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


def _n(key: str, count: int, **values: object) -> str:
    """``_TEXTS[key]`` for ``count``, singular when it is 1: "1 file", "2 files"."""
    return in_language_counted(_TEXTS, key, count, default_language(), **values)


def _columns(key: str) -> list[str]:
    return _t(key).split("|")


class _Group(TyperGroup):
    """Turns a SabioError into its message and exit status 1 (no traceback), and so a full
    or read-only data directory (:mod:`sabio.disk`)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SabioError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)  # one line
            raise typer.Exit(1) from None
        except (sqlite3.Error, OSError) as exc:
            problem = storage_error(exc, _home(ctx))
            if problem is None:
                raise
            err.print(f"[red]error:[/] {escape(str(problem))}", soft_wrap=True)
            raise typer.Exit(1) from None


def _home(ctx: Any) -> Path:
    try:
        return load_settings(ctx.obj or {}).home
    except SabioError:
        return Path(ctx.obj["home"]) if ctx.obj and ctx.obj.get("home") else Path.cwd()


app = typer.Typer(
    cls=_Group,
    help="Sabio: a private AI knowledge base that runs on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
kb_app = typer.Typer(
    help="Create, list, delete and re-index knowledge bases.", no_args_is_help=True
)
app.add_typer(kb_app, name="kb")
kb_app.command("guide")(kb_guide)
kb_app.command("publish")(kb_publish)
user_app = typer.Typer(
    help="Accounts, for a server that requires login (`sabio serve --auth`).",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")
app.add_typer(source_app, name="source")
app.add_typer(notes_app, name="notes")
app.command("worker")(worker)
app.command("export")(export)
app.command("import")(import_)
app.command("purge")(purge)
app.command("migrate")(migrate)
app.command("extract")(extract)
app.command("summarize")(summarize)
app.command("review")(review)
app.command("translate")(translate)
app.command("compare")(compare)
app.command("tables")(tables)
app.command("report")(report)
app.command("transcript")(transcript)


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Data directory (overrides SABIO_HOME).", show_default=False)
    ] = None,
) -> None:
    ctx.obj = {"home": home}


def _progress_bar(disable: bool) -> Progress:
    """A progress bar on stderr that leaves no trace when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable,
        auto_refresh=False,  # no refresh thread: with none, file readers can be forked
    )


# knowledge bases

OcrLanguagesOption = Annotated[
    str,
    typer.Option(
        help="Tesseract language packs its scans are read with, as 'spa+eng' "
        "(`tesseract --list-langs`); '': the ocr_languages setting's."
    ),
]


@kb_app.command("create")
def kb_create(
    ctx: typer.Context,
    name: str,
    embedding_model: Annotated[
        str | None, typer.Option(help="'backend:model'; default: the embedding_model setting.")
    ] = None,
    ocr_languages: OcrLanguagesOption = "",
) -> None:
    """Create a knowledge base."""
    kb = _sabio(ctx).create_kb(name, embedding_model, ocr_languages)
    named = _t("kb_identifier", slug=escape(kb.slug)) if kb.slug != kb.name else ""
    ocr = _t("kb_scans", languages=kb.ocr_languages) if kb.ocr_languages else ""
    out.print(
        _t("kb_created", name=escape(kb.name), named=named, model=kb.embedding_model, ocr=ocr)
    )


@kb_app.command("set")
def kb_set(
    ctx: typer.Context,
    name: str,
    ocr_languages: Annotated[
        str | None,
        typer.Option(
            help="Tesseract language packs its scans are read with, as 'spa+eng' "
            "(`tesseract --list-langs`); '': the ocr_languages setting's.",
            show_default=False,
        ),
    ] = None,
    review: Annotated[
        bool | None,
        typer.Option(
            "--review/--no-review",
            help="Review the files uploaded into it as they arrive (an alert for each with "
            "findings, in the web app's Security tab).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Change a knowledge base's settings: the languages its scans are read with from now
    on (files read already keep theirs until they change and are read again); whether its
    uploads are reviewed as they arrive. What is not given stays as it is."""
    sabio = _sabio(ctx)
    kb = sabio.kb(name)
    if ocr_languages is not None:
        kb = sabio.set_ocr_languages(name, ocr_languages)
    if review is not None:
        kb = sabio.set_review(name, review)
    how = kb.ocr_languages or _t("kb_setting_languages")
    reviewed = _t("kb_reviewed" if kb.review else "kb_not_reviewed")
    out.print(_t("kb_set", name=escape(kb.name), how=how, reviewed=reviewed))


@kb_app.command("list")
def kb_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List knowledge bases."""
    kbs = _sabio(ctx).list_kbs()
    if as_json:
        _print_json([asdict(kb) for kb in kbs])
        return
    table = Table(*_columns("kb_columns"), box=None)
    for kb in kbs:
        table.add_row(
            escape(kb.name), kb.slug, str(kb.documents), str(kb.chunks), kb.embedding_model
        )
    out.print(table if kbs else _t("kb_none"))


@kb_app.command("delete")
def kb_delete(
    ctx: typer.Context,
    name: str,
    keep_chats: Annotated[
        bool, typer.Option(help="Keep its chats (readable, no longer answered).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a knowledge base, everything indexed in it, the files uploaded into it and
    its chats (your own files stay)."""
    sabio = _sabio(ctx)
    kb = next((k for k in sabio.list_kbs() if k.name == name), None) or sabio.store.get_kb(name)
    chats = 0 if keep_chats else sabio.chats.count_chats(name)
    what = _n("kb_documents", kb.documents) + (_n("kb_chats", chats) if chats else "")
    if not yes and not typer.confirm(_t("kb_delete_ask", name=name, what=what)):
        raise typer.Exit(1)
    sabio.delete_kb(name, keep_chats=keep_chats)
    out.print(_t("kb_deleted", name=escape(name), what=what))


@kb_app.command("reindex")
def kb_reindex(
    ctx: typer.Context,
    name: str,
    embedding_model: Annotated[
        str | None, typer.Option(help="Switch to this 'backend:model' while re-indexing.")
    ] = None,
) -> None:
    """Re-embed every passage, e.g. to switch embedding model. Atomic: all or nothing."""
    with err.status(_t("reembedding")):
        kb = _sabio(ctx).reindex_kb(name, embedding_model)
    out.print(_n("reindexed", kb.chunks, name=escape(kb.name), model=kb.embedding_model))


# documents


@app.command()
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (walked recursively).")],
    kb: KbOption = None,
    password: Annotated[
        str | None, typer.Option(help="Password for encrypted PDF and Office files.")
    ] = None,
    keep_missing: Annotated[
        bool, typer.Option(help="Keep documents whose files are gone from a re-added folder.")
    ] = False,
    follow_links: Annotated[
        bool,
        typer.Option(
            help="Index files that symbolic links in a folder lead to outside it (skipped "
            "otherwise)."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add files and folders; unchanged files cost nothing, changed ones are replaced."""
    sabio = _sabio(ctx)
    with _progress_bar(disable=as_json) as bar:
        task = bar.add_task(_t("reading_files"), total=None)
        pages = bar.add_task("", total=None, visible=False)  # OCR's pages, a recording's seconds
        done: set[str] = set()

        def progress(
            result: FileResult | None,
            note: str,
            total: int | None = None,
            reading: ReadProgress | None = None,
        ) -> None:
            if total is not None and not done:  # not the OCR pass's files again
                bar.update(task, total=total)
            if result is not None and result.source not in done:
                done.add(result.source)
                bar.advance(task)
            note = _progress_note(note, reading)
            if reading is not None:
                bar.update(pages, description=note, completed=reading.done, total=reading.total)
            bar.update(pages, visible=reading is not None and reading.done < reading.total)
            name = Path(result.source).name if result else ""
            if reading is None:  # the pages' line says it
                bar.update(task, description=note or _t("reading_file", name=name))
            bar.refresh()

        report = sabio.add(
            paths,
            kb,
            password=password,
            keep_missing=keep_missing,
            progress=progress,
            follow_links=follow_links,
            ocr="after",  # a mixed PDF's text pages searchable while its scans are read
        )
    if as_json:
        _print_json([asdict(r) for r in report.results])
    else:
        _print_report(report, verbose)
    raise typer.Exit(1 if report.problems else 0)


def _progress_note(note: str, reading: ReadProgress | None) -> str:
    """What ingestion tells of its progress (in English), in the reader's language."""
    if default_language() == "en" or not note:
        return note
    if reading is not None:  # "OCR in progress — page 3 of 12: scan.pdf"
        return f"{reading.describe('es')}: {note.rpartition(': ')[2]}"
    if note.startswith("embedding passages (") and note.endswith(" done)"):
        counts = note.removeprefix("embedding passages (").removesuffix(" done)")
        return _t("embedding", counts=counts)
    return _t(_PROGRESS_NOTES[note]) if note in _PROGRESS_NOTES else note


_PROGRESS_NOTES = {
    "reading files": "reading_files",
    "indexing": "indexing",
    "updating the search index": "updating_index",
}
"""The fixed notes of ingestion's progress (:mod:`sabio.ingest`, :mod:`sabio.service`) and
their :data:`_TEXTS` keys."""


_OUTCOMES = ("added", "updated", "unchanged", "removed", "skipped", "not_indexed")
_PROBLEMS = ("failed", "needs_ocr", "encrypted", "skipped")
"""The statuses a file is listed with (``label_<status>`` in :data:`_TEXTS`)."""


def _label(result: FileResult) -> str:
    """What became of a file, in a word or two: "added", "unchanged, needs OCR"."""
    if result.status not in _PROBLEMS:
        return _t(f"label_{result.outcome}")
    label = _t(f"label_{result.status}")
    return _t("unchanged_but", label=label) if result.outcome == "unchanged" else label


def _print_report(report: IngestReport, verbose: bool) -> None:
    results = report.results
    listed = (
        results
        if verbose or len(results) <= 30
        else [r for r in results if r.status in _PROBLEMS or r.outcome == "removed"]
    )
    for r in listed:
        passages = _n("passages", r.chunks) if r.chunks else ""
        detail = f" — {r.reason}" if r.reason else passages
        detail += f" — {r.note}" if r.note else ""
        out.print(f"  {_label(r):<20} {escape(r.source)}{escape(detail)}")
    counts = Counter(r.outcome for r in results)
    summary = ", ".join(_n(o, counts[o]) for o in _OUTCOMES if counts[o])
    out.print(_n("files", len(results), summary=summary or _t("nothing_to_do")))
    by_status = Counter(r.status for r in report.problems)
    if by_status:
        parts = ", ".join(_n(s, n) for s, n in by_status.items())
        out.print(_t("not_searchable", parts=parts))
    if len(listed) < len(results):
        out.print(_t("run_verbose"))


@app.command()
def docs(ctx: typer.Context, kb: KbOption = None, as_json: JsonOption = False) -> None:
    """List the documents of a knowledge base with their status."""
    documents = _sabio(ctx).documents(kb)
    if as_json:
        _print_json([asdict(d) for d in documents])
        return
    table = Table(box=None)
    *numbers, document, note = _columns("docs_columns")
    for name in numbers:
        table.add_column(name, no_wrap=True)
    table.add_column(document, overflow="fold", ratio=3)
    table.add_column(note, overflow="fold", ratio=2)
    for d in documents:
        status = _t(f"label_{d.status}") if f"label_{d.status}" in _TEXTS else d.status
        table.add_row(
            str(d.id),
            status,
            str(d.pages or ""),
            str(d.chunk_count),
            escape(d.source),
            escape(" · ".join(filter(None, [d.error, OcrSummary.of(d.metadata).note()]))),
        )
    out.print(table if documents else _t("docs_none"))


@app.command()
def rm(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="Document id (see `sabio docs`) or path.")],
    kb: KbOption = None,
) -> None:
    """Remove a document from the knowledge base; a file uploaded through the server is
    deleted, a file added from its own place stays."""
    doc = _sabio(ctx).remove_document(document, kb)
    out.print(_t("doc_removed", source=escape(doc.source)))


DocumentOption = Annotated[
    list[str] | None,
    typer.Option(
        "--document",
        "--doc",
        help="Only in this document: its file name, path, title or id, or a glob such as "
        "'*2023*' (case and accents ignored). Repeat it for several.",
        metavar="NAME",
        show_default=False,
    ),
]
AfterOption = Annotated[
    str | None,
    typer.Option(
        help="Only documents dated on or after DATE: 2023, 2023-03 or 2023-03-15 (a "
        "document's own date, else its file's modification day).",
        metavar="DATE",
        show_default=False,
    ),
]
BeforeOption = Annotated[
    str | None,
    typer.Option(
        help="Only documents dated on or before DATE (2023: up to 31 December 2023).",
        metavar="DATE",
        show_default=False,
    ),
]


@app.command()
def search(
    ctx: typer.Context,
    query: str,
    kb: KbOption = None,
    k: Annotated[int | None, typer.Option("-k", help="How many passages.", min=1)] = None,
    document: DocumentOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search a knowledge base: keyword and meaning together."""
    wanted = DocumentFilter.parse(document or (), after, before)
    results = _sabio(ctx).search(query, kb, k=k, filters=wanted)
    for note in results.notes:
        err.print(_t("note", note=escape(note)))
    if as_json:
        _print_json([asdict(h) for h in results.hits])
        return
    if not results.hits:
        out.print(_t("no_match"))
    for rank, hit in enumerate(results.hits, 1):
        at = (
            place(hit.document, hit.page, default_language())
            if hit.page or is_timed(hit.document)
            else ""
        )
        where = hit.document + (f", {at}" if at else "")
        score = _t("score", score=hit.score)
        out.print(f"[bold]{rank}.[/] [cyan]{escape(where)}[/]  [dim]{score}[/]")
        snippet = " ".join(hit.text.split())
        out.print(f"   {escape(snippet[:400])}{'…' if len(snippet) > 400 else ''}\n")


ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Chat model, e.g. ollama:qwen3:4b (see `sabio models`)."),
]


class Style(StrEnum):
    extractive = "extractive"
    generative = "generative"
    both = "both"


StyleOption = Annotated[
    Style | None,
    typer.Option(
        "--style",
        help="extractive: quote the sentences that answer (no model); generative: the model "
        "writes it, every claim checked; both. Default: the answer_style setting.",
        show_default=False,
    ),
]


@app.command()
def ask(
    ctx: typer.Context,
    question: str,
    kb: KbOption = None,
    model: ModelOption = None,
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve.", min=1)] = None,
    style: StyleOption = None,
    document: DocumentOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the query, passages and timings.")
    ] = False,
    chart: ChartOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from your documents, citing the pages it used; statements the
    documents do not support are listed after it. A question answered by computation over
    a table can be drawn with --chart."""
    wanted = DocumentFilter.parse(document or (), after, before)
    stream = _sabio(ctx).ask(
        question, kb, model=model, k=k, style=style and style.value, filters=wanted
    )
    if as_json:
        for _ in stream:
            pass
        _print_json(stream.answer.to_dict())
    else:
        _stream_answer(stream, verbose)
    done = stream.answer.computation
    if chart is not None:
        save_chart(chart, done.chart if done else None, stream.answer.language)
    if not stream.answer.complete:
        raise typer.Exit(1)


@app.command()
def chat(
    ctx: typer.Context,
    kb: KbOption = None,
    model: ModelOption = None,
    style: StyleOption = None,
    document: DocumentOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
) -> None:
    """Talk with your documents: follow-up questions keep the conversation's context."""
    from sabio.answer import Turn

    sabio = _sabio(ctx)
    kb_name = sabio.kb(kb).name
    wanted = DocumentFilter.parse(document or (), after, before)
    if wanted:
        count = len(sabio.filtered_ids(sabio.kb(kb_name), wanted) or ())
        err.print(_n("only_in", count, filter=escape(wanted.describe())))
    chat_model = sabio.chat_model(model).name
    commands = chat_commands()
    err.print(_t("chat_start", kb=escape(kb_name), model=escape(chat_model), commands=commands))
    turns: list[Turn] = []
    last: Answer | None = None
    while True:
        try:
            question = out.input("[bold green]> [/]").strip()
        except EOFError:
            out.print()
            return
        if question in ("/exit", "/quit"):
            return
        if question == "/new":
            turns.clear()
            err.print(_t("chat_new"))
            continue
        if not question:
            continue
        try:
            if chat_feedback(sabio, question, kb_name, last):
                continue
            stream = sabio.ask(
                question,
                kb_name,
                model=chat_model,
                history=turns,
                style=style and style.value,
                filters=wanted,
            )
            _stream_answer(stream, verbose=False)
        except SabioError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            continue
        answer = last = stream.answer
        if answer.complete:
            turns.append(Turn(answer.question, answer.text))


def _stream_answer(stream: AnswerStream, verbose: bool) -> None:
    """Print an answer as it arrives, then its sources (and, verbose, how it was made)."""
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    answer = stream.answer
    if answer.query != answer.question:
        err.print(_t("searched_for", query=escape(answer.query)))
    if not answer.complete:
        err.print(_t("incomplete", why=escape(answer.error or _t("model_stopped"))))
    for note in answer.notes:
        err.print(_t("note", note=escape(note)))
    if answer.citations:
        out.print(f"\n[bold]{_t('sources')}[/]")
    for c in answer.citations:
        where = c.title or c.document
        page = f", {place(c.document, c.page, default_language())}" if c.page is not None else ""
        out.print(
            f"[bold][{c.number}][/] [cyan]{escape(where)}{page}[/]  [dim]{escape(c.document)}[/]"
        )
        out.print(f"    [dim]{escape(c.snippet)}[/]")
    _print_support(answer)
    if verbose:
        _print_answer_details(answer)


def _print_support(answer: Answer) -> None:
    """Each statement the passages do not support, marked, and how many there are."""
    from sabio.support import support_note, unsupported_reason

    unsupported = [c for c in answer.claims if not c.supported]
    if not unsupported:
        return
    heading = (
        "No respaldado por tus documentos"
        if answer.language == "es"
        else ("Not supported by your documents")
    )
    out.print(f"\n[bold yellow]{heading}[/]")
    for claim in unsupported:
        reason = unsupported_reason(claim, answer.language)
        out.print(f"[yellow]  ✗[/] {escape(claim.text)}  [dim]{escape(reason)}[/]")
    out.print(f"[yellow]{escape(support_note(answer.claims, answer.language))}[/]")


def _print_answer_details(answer: Answer) -> None:
    if answer.route is not None:
        spanish = default_language() == "es"
        words = route_words(asdict(answer.route), "es") if spanish else answer.route.describe()
        err.print(_t("route", route=escape(words)))
    err.print(
        _n(
            "made",
            answer.passages,
            model=escape(answer.model),
            lang=answer.language,
            tokens=answer.prompt_tokens,
            budget=answer.budget,
        )
    )
    for dropped in answer.dropped:
        page = (
            f", {place(dropped.document, dropped.page, default_language())}"
            if dropped.page is not None
            else ""
        )
        err.print(_t("left_out", document=escape(dropped.document), page=page))
    for marker in answer.removed_citations:
        err.print(_t("removed_citation", marker=escape(marker)))
    timings = " · ".join(f"{k.removesuffix('_ms')} {v:.0f} ms" for k, v in answer.timings.items())
    err.print(f"[dim]  {timings}[/]")
    done = answer.computation
    if done is not None:
        err.print(_n("computed", done.attempts, tables=", ".join(done.tables)))
        for error in done.errors:
            err.print(_t("query_failed", error=escape(error)))


@app.command("eval")
def eval_(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="BEIR-format folder: corpus, queries, qrels/.")
    ] = None,
    split: Annotated[str | None, typer.Option(help="qrels/<split>.tsv (default: test).")] = None,
    from_feedback: Annotated[
        str | None,
        typer.Option(
            help="A knowledge base: measure it on its users' pinned and corrected questions."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Measure search quality on your own judged queries (a BEIR-format folder), or on
    the questions your users judged (--from-feedback KB).

    A folder's documents go into a temporary folder in the data directory, deleted
    afterwards: your knowledge bases are untouched."""
    from sabio.evaluation import evaluate_feedback, evaluate_folder

    if (path is None) == (from_feedback is None):
        raise ConfigError("give a BEIR folder or --from-feedback KB (one of them)")
    if from_feedback is not None:
        sabio = _sabio(ctx)
        metrics = evaluate_feedback(sabio, sabio.kb(from_feedback).name)
        _print_metrics(metrics, as_json)
        return
    assert path is not None

    with _progress_bar(disable=as_json) as bar:
        task = bar.add_task(_t("reading_folder"), total=None)

        def progress(what: str, done: int, total: int | None) -> None:
            bar.update(task, description=what, completed=done, total=total)
            bar.refresh()

        metrics = evaluate_folder(path, load_settings(ctx.find_root().obj), split, progress)
    _print_metrics(metrics, as_json)


def _print_metrics(metrics: dict[str, float], as_json: bool) -> None:
    if as_json:
        _print_json(metrics)
        return
    for name, value in metrics.items():
        out.print(f"{name:<12} {value:g}" if name == "questions" else f"{name:<12} {value:.4f}")


# models


@app.command()
def models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List chat and embedding models across backends, marking the defaults."""
    from sabio.models.catalog import default_chat_model, list_models

    sabio = _sabio(ctx)
    entries = list_models(
        sabio.settings,
        default_chat=default_chat_model(sabio.settings),
        default_embedding=sabio.default_embedding_model(),
    )
    if as_json:
        _print_json([asdict(e) for e in entries])
        return
    table = Table(*_columns("models_columns"), box=None)
    for e in entries:
        size = f"{e.size / 1e9:.1f} GB" if e.size else ""
        style = None if e.available else "dim"
        table.add_row(escape(e.name), e.kind, e.backend, e.default, size, style=style)
    out.print(table)
    for e in entries:
        if e.note:
            out.print(
                f"{'' if e.available else _t('unavailable')}{escape(e.name)}: {escape(e.note)}"
            )


@app.command()
def pull(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An Ollama model, e.g. qwen3:4b or bge-m3.")],
) -> None:
    """Download a model into Ollama (it must be running), showing the progress."""
    from rich.progress import DownloadColumn, TaskID, TransferSpeedColumn

    from sabio.models import check_pullable
    from sabio.models.ollama import OllamaClient

    check_pullable(name)
    model = name.removeprefix("ollama:")
    layers: dict[str, TaskID] = {}
    settings = load_settings(ctx.find_root().obj)
    with (
        OllamaClient.from_settings(settings) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            transient=True,
        ) as bar,
    ):
        for update in client.pull(model):
            digest, total = update["digest"], update["total"]
            if not digest or not total:
                bar.console.print(f"[dim]{escape(update['status'])}[/]")
                continue
            if digest not in layers:
                layers[digest] = bar.add_task(escape(update["status"]), total=total)
            bar.update(layers[digest], completed=update["completed"])
    out.print(_t("pulled", model=escape(model)))


@app.command()
def doctor(
    ctx: typer.Context,
) -> None:
    """Which model backends and extras are available, and how to fix what is missing."""
    from sabio.doctor import run_checks

    sabio = _sabio(ctx)
    ok = True
    for check in run_checks(sabio):
        mark = "[green]ok[/]" if check.ok else ("[yellow]--[/]" if check.optional else "[red]!![/]")
        out.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        if check.fix:
            out.print(_t("fix", fix=escape(check.fix)))
        ok = ok and (check.ok or check.optional)
    raise typer.Exit(0 if ok else 1)


# server


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond this computer needs --auth.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 11435,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require login (accounts, API tokens); overrides the auth setting.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the web app and the REST API (docs at /docs)."""
    import ipaddress

    overrides = {**ctx.find_root().obj, "auth": auth}
    settings = load_settings(overrides)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not settings.auth:
        err.print(_t("serve_refused", host=escape(host)), soft_wrap=True)
        raise typer.Exit(1)
    import uvicorn

    from sabio.server import create_app

    if problem := write_problem(settings.home):
        err.print(_t("warning", problem=escape(problem)), soft_wrap=True)
    app = create_app(settings, overrides=overrides, long_running=True)
    shown = "127.0.0.1" if host in ("localhost", "0.0.0.0", "::") else host
    err.print(_t("running", host=escape(shown), port=port), soft_wrap=True)
    if settings.auth and not _has_accounts(settings):
        _print_setup_code(app.state.setup_code, host, port)
    uvicorn.run(app, host=host, port=port, ws="none", log_level="info", access_log=False)


def _has_accounts(settings: Settings) -> bool:
    sabio = Sabio(settings)
    try:
        return sabio.users.has_users()
    finally:
        sabio.close()


def _print_setup_code(code: str, host: str, port: int) -> None:
    """How to create the first admin: freely on this computer, with ``code`` elsewhere."""
    import ipaddress

    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:  # 0.0.0.0, ::
            host = _t("this_computer")
    err.print(_t("setup_code", port=port, host=escape(host), code=code), soft_wrap=True)


# accounts


PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(_t("password"), hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: str,
    admin: Annotated[
        bool, typer.Option("--admin", help="May manage accounts, settings and models.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account (the first one must be an admin)."""
    from sabio.users import check_user_name

    check_user_name(name)  # before asking for the password
    user = _sabio(ctx).users.create_user(name, _new_password(password_stdin), admin=admin)
    out.print(_t("admin_created" if user.admin else "user_created", name=escape(user.name)))


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the accounts."""
    import time

    sabio = _sabio(ctx)
    users = sabio.users.list_users()
    if as_json:
        _print_json([asdict(u) for u in users])
        return
    names = {kb.id: kb.name for kb in sabio.list_kbs()}
    table = Table(*_columns("users_columns"), box=None)
    for u in users:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(u.created_at))
        given = sabio.users.kb_accesses(u.id)
        bases = ", ".join(f"{names[k]} ({_t(a)})" for k, a in given.items())
        role = _t("admin" if u.admin else "member")
        table.add_row(escape(u.name), role, escape(_t("all") if u.admin else bases), created)
    out.print(table if users else _t("users_none"))


@user_app.command("grant")
def user_grant(
    ctx: typer.Context,
    name: str,
    kb: Annotated[str, typer.Argument(help="The knowledge base (its name or identifier).")],
    write: Annotated[
        bool, typer.Option("--write", help="Also upload and remove documents (default: read).")
    ] = False,
) -> None:
    """Give a member read (ask, search, open documents) or write access to a knowledge base."""
    sabio = _sabio(ctx)
    user, found = sabio.users.get_user(name), sabio.store.get_kb(kb)
    access = "write" if write else "read"
    sabio.users.set_kb_access(user.id, found.id, access)
    out.print(_t(f"may_{access}", user=escape(user.name), kb=escape(found.name)))


@user_app.command("revoke")
def user_revoke(
    ctx: typer.Context,
    name: str,
    kb: Annotated[str, typer.Argument(help="The knowledge base (its name or identifier).")],
) -> None:
    """Take a member's access to a knowledge base away."""
    sabio = _sabio(ctx)
    user, found = sabio.users.get_user(name), sabio.store.get_kb(kb)
    sabio.users.set_kb_access(user.id, found.id, None)
    out.print(_t("revoked", user=escape(user.name), kb=escape(found.name)))


@user_app.command("passwd")
def user_passwd(ctx: typer.Context, name: str, password_stdin: PasswordStdin = False) -> None:
    """Set an account's password; its browser sessions end (its API tokens stay)."""
    users = _sabio(ctx).users
    user = users.get_user(name)
    users.set_password(user.id, _new_password(password_stdin))
    out.print(_t("passwd", user=escape(user.name)))


@user_app.command("rm")
def user_rm(
    ctx: typer.Context,
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete an account with its sessions, API tokens and chats."""
    users = _sabio(ctx).users
    user = users.get_user(name)
    if not yes and not typer.confirm(_t("user_delete_ask", user=user.name)):
        raise typer.Exit(1)
    users.delete_user(user.id)
    out.print(_t("user_deleted", user=escape(user.name)))


def main() -> None:
    use_private_umask()  # folders 0700, files 0600, whatever the user's umask (sabio.home)
    try:
        app()
    except KeyboardInterrupt:
        err.print(_t("interrupted"))
        sys.exit(130)
