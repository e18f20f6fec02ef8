"""`sabio extract`, `summarize`, `translate` and `compare` (:mod:`sabio.tasks`), and
`sabio transcript` (a recording's words as TXT, SRT or VTT)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape

from sabio.errors import ConfigError
from sabio.filters import DocumentFilter
from sabio.routing import Route, route_words
from sabio.service import Sabio
from sabio.store import DocumentRecord
from sabio.tasks.compare import Change, Unit
from sabio.tasks.extract import BUILT_IN, Extraction, load_schema
from sabio.tasks.results import changes_json, extraction_json, summary_json
from sabio.terminal import JsonOption, KbOption, default_language, err, in_language, out, print_json
from sabio.terminal import service as _sabio

_TEXTS = {
    "adding_files": ("adding the files…", "añadiendo los archivos…"),
    "adding_file": ("adding the file…", "añadiendo el archivo…"),
    "extracting": ("extracting…", "extrayendo…"),
    "extracting_one": ("extracting {name}: {note}", "extrayendo {name}: {note}"),
    "extracted_so_far": ("extracting… {count} done", "extrayendo… {count} hechos"),
    "extracted": (
        "{documents} documents, {valid} valid against the schema.",
        "{documents} documentos, {valid} válidos según el esquema.",
    ),
    "extracted_one": (
        "1 document, {valid} valid against the schema.",
        "1 documento, {valid} válido según el esquema.",
    ),
    "invalid": (
        "{name}: not valid against the schema: {error}",
        "{name}: no es válido según el esquema: {error}",
    ),
    "unlocated": (
        "{name}: not found in the document, check them: {fields}",
        "{name}: no se encontraron en el documento, compruébalos: {fields}",
    ),
    "summarizing": ("summarizing…", "resumiendo…"),
    "summarizing_note": ("summarizing: {note}", "resumiendo: {note}"),
    "unsupported": (
        "not supported by the document: {text}",
        "el documento no lo respalda: {text}",
    ),
    "translating": ("translating…", "traduciendo…"),
    "translating_note": ("translating: {note}", "traduciendo: {note}"),
    "translated": (
        "{name}: {segments} segments, kept {kept}",
        "{name}: {segments} fragmentos, se conservan {kept}",
    ),
    "heading": ("{n} headings", "{n} títulos"),
    "item": ("{n} list items", "{n} elementos de lista"),
    "cell": ("{n} table cells", "{n} celdas de tabla"),
    "text": ("{n} paragraphs", "{n} párrafos"),
    "check": ("check: {problem}", "revisa: {problem}"),
    "changes": ("{old} → {new}: {count} changes", "{old} → {new}: {count} cambios"),
    "changes_one": ("{old} → {new}: 1 change", "{old} → {new}: 1 cambio"),
    "changed": ("changed", "cambiado"),
    "added": ("added", "añadido"),
    "removed": ("removed", "eliminado"),
    "page": ("p. {page}", "pág. {page}"),
    "wrote": ("wrote {path}", "escrito {path}"),
}
"""What these commands print, in English and Spanish (SABIO_LANGUAGE or LANG decides)."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


SCHEMA_HELP = (
    'A JSON Schema file, the schema itself (\'{"type": "object", ...}\'), or a built-in one: '
    + ", ".join(BUILT_IN)
    + "."
)


def extract(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to add first and extract (default: every document)."),
    ] = None,
    schema: Annotated[
        str,
        typer.Option(
            "--schema",
            "-s",
            help=SCHEMA_HELP,
        ),
    ] = "invoice",
    kb: KbOption = None,
    document: Annotated[
        list[str] | None,
        typer.Option("--document", "-d", help="Only these documents (names or globs)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Chat model (default: the configured one).")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the JSON lines here (default: stdout)."),
    ] = None,
) -> None:
    """Pull the fields of a JSON Schema out of each document: one JSON line per document
    with the object (always valid against the schema, or marked invalid with the reason),
    the page each value was found on, and the values found on no page."""
    wanted = load_schema(schema)
    sabio = _sabio(ctx)
    try:
        sources = None
        if paths:
            with err.status(_t("adding_files")):
                report = sabio.add(paths, kb)
            sources = [r.source for r in report.results]
        filters = DocumentFilter.parse(document or ())
        target: TextIO = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
        counts = {"documents": 0, "valid": 0}
        try:
            with err.status(_t("extracting")) as status:

                def progress(doc: DocumentRecord, note: str) -> None:
                    name = escape(Path(doc.source).name)
                    status.update(_t("extracting_one", name=name, note=note))

                for doc, found in sabio.extract(
                    wanted, kb, filters=filters, sources=sources, model=model, progress=progress
                ):
                    counts["documents"] += 1
                    counts["valid"] += found.valid
                    line = extraction_json(doc, found)
                    target.write(json.dumps(line, ensure_ascii=False) + "\n")
                    target.flush()
                    _warn(doc, found)
                    status.update(_t("extracted_so_far", count=counts["documents"]))
        finally:
            if out_file:
                target.close()
    finally:
        sabio.close()
    one = "extracted_one" if counts["documents"] == 1 else "extracted"
    err.print(_t(one, documents=counts["documents"], valid=counts["valid"]))
    raise typer.Exit(0 if counts["valid"] == counts["documents"] else 1)


def _warn(doc: DocumentRecord, found: Extraction) -> None:
    name = escape(Path(doc.source).name)
    if not found.valid:
        err.print(f"[red]{_t('invalid', name=name, error=escape(found.error))}[/]")
    if found.unlocated:
        fields = ", ".join(found.unlocated)
        err.print(f"[yellow]{_t('unlocated', name=name, fields=escape(fields))}[/]")


def summarize(
    ctx: typer.Context,
    document: Annotated[
        str, typer.Argument(help="A document (id, file name or path), or a file to add first.")
    ],
    length: Annotated[
        str, typer.Option(help="short (3 sentences), page (10) or detailed (25).")
    ] = "page",
    language: Annotated[
        str | None, typer.Option(help="es or en (default: the document's language).")
    ] = None,
    focus: Annotated[
        str, typer.Option(help='Only this, e.g. "the obligations of the tenant".')
    ] = "",
    kb: KbOption = None,
    model: Annotated[
        str | None, typer.Option(help="Chat model (default: the configured one).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Summarize a whole document, however long (in parts, then combined), every sentence
    citing its page; sentences that no page supports are marked."""
    if language not in (None, "es", "en"):
        raise ConfigError(f"no language {language!r}: use es or en", key="summary_language")
    sabio = _sabio(ctx)
    try:
        ref = _added(sabio, document, kb)
        with err.status(_t("summarizing")) as status:
            doc, summary = sabio.summarize(
                ref,
                kb,
                length=length,
                language=language,
                focus=focus,
                model=model,
                progress=lambda note: status.update(_t("summarizing_note", note=note)),
            )
    finally:
        sabio.close()
    if as_json:
        print_json(summary_json(doc, summary))
        return
    out.print(escape(summary.text))
    err.print(f"[dim]{escape(Path(doc.source).name)}: {escape(_route(summary.route))}[/]")
    for claim in summary.unsupported:
        err.print(f"[yellow]{_t('unsupported', text=escape(claim.text))}[/]")


def translate(
    ctx: typer.Context,
    document: Annotated[
        str, typer.Argument(help="A document (id, file name or path), or a file to add first.")
    ],
    to: Annotated[str, typer.Option("--to", help="es, en, or a language's name.")] = "en",
    kb: KbOption = None,
    model: Annotated[
        str | None, typer.Option(help="Chat model (default: the configured one).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the Markdown here (default: stdout).")
    ] = None,
) -> None:
    """Translate a whole document to Markdown, keeping its headings, lists, tables, figures
    and page numbers; lines whose figures did not survive are listed."""
    sabio = _sabio(ctx)
    try:
        ref = _added(sabio, document, kb)
        with err.status(_t("translating")) as status:
            doc, found = sabio.translate(
                ref,
                to,
                kb,
                model=model,
                progress=lambda n: status.update(_t("translating_note", note=n)),
            )
    finally:
        sabio.close()
    if out_file:
        out_file.write_text(found.markdown, encoding="utf-8")
    else:
        sys.stdout.write(found.markdown)
    kept = ", ".join(
        _t(f"kept_{kind}", n=n) if f"kept_{kind}" in _TEXTS else f"{n} {kind}"
        for kind, n in found.counts.items()
        if n
    )
    name = escape(Path(doc.source).name)
    err.print(f"[dim]{_t('translated', name=name, segments=found.segments, kept=kept)}[/]")
    err.print(f"[dim]{escape(_route(found.route))}[/]")
    for problem in found.problems:
        err.print(f"[yellow]{_t('check', problem=escape(problem))}[/]")


def _route(route: Route) -> str:
    return route_words(asdict(route), default_language())


def _added(sabio: Sabio, document: str, kb: str | None) -> str:
    """``document`` as a reference to a stored document: a file is added first."""
    path = Path(document)
    if not path.is_file():
        return document
    with err.status(_t("adding_file")):
        report = sabio.add([path], kb)
    return report.results[0].source


def compare(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The first document (id, name or path, or a file).")],
    new: Annotated[str, typer.Argument(help="The second document, e.g. the newer version.")],
    kb: KbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What was added, removed and changed from OLD to NEW, sentence by sentence, with the
    page on each side and the section it is in."""
    sabio = _sabio(ctx)
    try:
        old_doc, new_doc, changes = sabio.compare(
            _added(sabio, old, kb), _added(sabio, new, kb), kb
        )
    finally:
        sabio.close()
    if as_json:
        print_json(changes_json(changes))
        return
    names = escape(Path(old_doc.source).name), escape(Path(new_doc.source).name)
    one = "changes_one" if len(changes) == 1 else "changes"
    out.print(_t(one, old=names[0], new=names[1], count=len(changes)))
    for change in changes:
        where = _pages(change)
        section = f" [dim]({escape(change.section)})[/]" if change.section else ""
        if change.kind == "changed":
            out.print(
                f"[yellow]{_t('changed')}[/] {where}{section}: "
                f"[red]{escape(change.removed_words)}[/] → "
                f"[green]{escape(change.added_words)}[/]"
            )
        elif change.kind == "added" and change.new:
            out.print(f"[green]{_t('added')}[/] {where}{section}: {escape(change.new.text)}")
        elif change.old:
            out.print(f"[red]{_t('removed')}[/] {where}{section}: {escape(change.old.text)}")


def _pages(change: Change) -> str:
    def page(unit: Unit | None) -> str:
        return _t("page", page=unit.page) if unit and unit.page is not None else "—"

    return f"{page(change.old)} → {page(change.new)}"


def transcript(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="A recording (id, file name or path).")],
    kb: KbOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="txt (with times), srt or vtt (subtitles).")
    ] = "txt",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here (default: stdout).")
    ] = None,
) -> None:
    """A transcribed recording's words, as plain text with times or as subtitles."""
    sabio = _sabio(ctx)
    try:
        found = sabio.transcript(sabio.kb(kb), document, fmt.lower())
    finally:
        sabio.close()
    if out_file:
        out_file.write_text(found.text, encoding="utf-8")
        err.print(f"[dim]{_t('wrote', path=escape(str(out_file)))}[/]")
    else:
        sys.stdout.write(found.text)
