"""`sabio tables` (the tables kept, a query of your own over them, its chart) and the
chart that `sabio ask --chart` writes (:mod:`sabio.tables`)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sabio.errors import ConfigError
from sabio.tables.answers import show
from sabio.tables.charts import Chart, chart_for, write_chart
from sabio.tables.query import has_limit
from sabio.terminal import (
    JsonOption,
    KbOption,
    default_language,
    err,
    in_language,
    in_language_counted,
    out,
    print_json,
)
from sabio.terminal import service as _sabio

_TEXTS = {
    "no_chart": (
        "[yellow]note:[/] no chart: the result is not a series (it needs at least two rows, "
        "a column of labels or periods and one of numbers)",
        "[yellow]nota:[/] sin gráfico: el resultado no es una serie (necesita al menos dos "
        "filas, una columna de etiquetas o periodos y otra de números)",
    ),
    "chart_written": (
        "[dim]chart ({kind}) written to {path}[/]",
        "[dim]gráfico ({kind}) escrito en {path}[/]",
    ),
    "rows": ("[dim]{count} rows[/]", "[dim]{count} filas[/]"),
    "rows_one": ("[dim]1 row[/]", "[dim]1 fila[/]"),
    "no_tables": (
        "No tables yet: add spreadsheets or CSV files with `sabio add PATH`.",
        "Aún no hay tablas: añade hojas de cálculo o archivos CSV con `sabio add RUTA`.",
    ),
    "first_rows": (
        "[dim]only the first {count} rows[/]",
        "[dim]solo las primeras {count} filas[/]",
    ),
    "first_rows_one": ("[dim]only the first row[/]", "[dim]solo la primera fila[/]"),
    "stopped": (
        "{count} scheduled reports stopped.",
        "{count} informes programados detenidos.",
    ),
    "stopped_one": ("1 scheduled report stopped.", "1 informe programado detenido."),
    "again": (", then every {every}", ", y luego cada {every}"),
    "queued": (
        "Report queued (job {job}) for {to}{again}.",
        "Informe en cola (tarea {job}) para {to}{again}.",
    ),
    "report_written": (
        "[dim]report on {count} tables written to {path}[/]",
        "[dim]informe sobre {count} tablas escrito en {path}[/]",
    ),
    "report_written_one": (
        "[dim]report on 1 table written to {path}[/]",
        "[dim]informe sobre 1 tabla escrito en {path}[/]",
    ),
}
"""What these commands print, in English and Spanish: SABIO_LANGUAGE or LANG decides, as
for every command (--language is the chart's and the report's)."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


def _n(key: str, count: int, **values: object) -> str:
    return in_language_counted(_TEXTS, key, count, default_language(), **values)


ChartOption = Annotated[
    Path | None,
    typer.Option(
        "--chart", help="Draw the result as a chart in this file (.svg, or .png).", dir_okay=False
    ),
]
LanguageOption = Annotated[
    str | None,
    typer.Option("--language", help="en or es (default: SABIO_LANGUAGE, else LANG)."),
]


def save_chart(path: Path, chart: Chart | None, language: str) -> None:
    """Write ``chart`` to ``path`` (PNG for a .png name, else SVG), or say why there is none."""
    if chart is None:
        err.print(_t("no_chart"))
        return
    path.write_bytes(write_chart(chart, str(path), language))
    written = {"kind": chart.kind, "path": escape(str(path))}
    err.print(_t("chart_written", **written))


def tables(
    ctx: typer.Context,
    kb: KbOption = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql", help="Run this read-only SELECT over the tables and show its result."
        ),
    ] = None,
    chart: ChartOption = None,
    language: LanguageOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the tables kept from a knowledge base's spreadsheets and documents: what `sabio
    ask` computes over (a total, an average, the top five…). With --sql, run a query of
    your own over them (checked and sandboxed as a model's is), and --chart draws it."""
    if sql is not None:
        _query(ctx, sql, kb, chart, language, as_json)
        return
    found = _sabio(ctx).tables(kb)
    if as_json:
        print_json([asdict(t) for t in found])
        return
    for t in found:
        rows = _n("rows", t.row_count)
        out.print(f"[bold]{escape(t.name)}[/]  [cyan]{escape(t.where)}[/]  {rows}")
        for c in t.columns:
            label = f"  [dim]{escape(c.label)}[/]" if c.label != c.name else ""
            unit = f" [dim]({escape(c.unit)})[/]" if c.unit else ""
            out.print(f"    {escape(c.name)} {c.sql_type}{unit}{label}")
    if not found:
        out.print(_t("no_tables"))


def _query(
    ctx: typer.Context,
    sql: str,
    kb: str | None,
    chart_path: Path | None,
    language: str | None,
    as_json: bool,
) -> None:
    ran, result = _sabio(ctx).query_tables(sql, kb)
    lang = language_of(language)
    chart = chart_for(
        result.columns, result.rows, truncated=result.truncated, limited=has_limit(ran)
    )
    if as_json:
        rows = [[show(v) if not isinstance(v, int | float) else v for v in r] for r in result.rows]
        print_json(
            {
                "sql": ran,
                "columns": result.columns,
                "rows": rows,
                "truncated": result.truncated,
                "chart": chart.to_dict() if chart else None,
            }
        )
    else:
        table = Table(*result.columns, box=None)
        for row in result.rows:
            table.add_row(*(escape(show(v)) for v in row))
        out.print(table)
        if result.truncated:
            err.print(_n("first_rows", len(result.rows)))
    if chart_path is not None:
        save_chart(chart_path, chart, lang)


def language_of(language: str | None) -> str:
    """``en`` or ``es``: as asked, else the environment's."""
    return "es" if (language or default_language()).lower().startswith("es") else "en"


def report(
    ctx: typer.Context,
    kb: Annotated[str | None, typer.Argument(help="Knowledge base (default: 'default').")] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write it here: .html (charts inline) or .md (charts as SVG files in a folder "
            "beside it). Default: Markdown on stdout, without charts.",
            dir_okay=False,
        ),
    ] = None,
    language: LanguageOption = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--to-folder",
            help="Let the worker (`sabio serve` or `sabio worker`) write it into this folder, "
            "under a dated name, now and then --every so often.",
            file_okay=False,
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--to-webhook",
            help="Let the worker post it to this URL (JSON: kb, made_at, format, title, "
            "content), now and then --every so often.",
        ),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="With --to-folder or --to-webhook: again every 1d, 12h…")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown/--html", help="Scheduled: Markdown or HTML.")
    ] = False,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the knowledge base's scheduled reports.")
    ] = False,
) -> None:
    """A report over a knowledge base's tables, computed without a model: each table's
    size and columns, the totals and means of its measures, totals by month or year, the
    top five of a category, each with the SQL that computed it, the table it cites and
    its chart. With --to-folder or --to-webhook, made by the worker, on a schedule with
    --every."""
    from sabio.cli_sources import parse_duration
    from sabio.tables.report import report_markdown, write_report

    sabio = _sabio(ctx)
    if stop:
        err.print(_n("stopped", sabio.cancel_reports(kb)))
        return
    if folder is not None and webhook is not None:
        raise ConfigError(
            "a report goes to a folder or to a webhook: give --to-folder or --to-webhook",
            key="report_one_destination",
        )
    to = folder if folder is not None else webhook
    if to is not None:
        seconds = parse_duration(every) if every else 0.0
        kind = "markdown" if markdown else "html"
        job = sabio.schedule_report(kb, to, seconds, kind, language_of(language))
        again = _t("again", every=every) if every else ""
        err.print(_t("queued", job=job.id, to=escape(str(to)), again=again))
        return
    made = sabio.table_report(kb, language_of(language))
    if out_file is None:
        out.print(report_markdown(made, None), markup=False, highlight=False)
        return
    write_report(made, out_file)
    err.print(_n("report_written", len(made.sections), path=escape(str(out_file))))
