"""A report over a knowledge base's tables, computed without a model: for each table, its
size and columns, the key figures of its measures (total, mean), the totals by period
when it has dates, and the top five of a category, each figure with the SQL that
computed it, the table it cites and, when it is a series, its chart
(:mod:`sabio.tables.charts`). Written as Markdown (charts in files beside it) or as one
HTML file (charts inline).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx

from sabio.errors import SourceError
from sabio.tables.answers import markdown_table, show
from sabio.tables.charts import Chart, chart_for, chart_svg
from sabio.tables.engine import ColumnInfo, Result, TableInfo
from sabio.tables.query import has_limit

MAX_MEASURES = 4
TOP = 5
MAX_CATEGORIES = 1000
"""A text column with more distinct values than this is a name or a code, not a category."""
_NUMERIC = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL")
_NOT_MEASURES = frozenset(
    "id code codigo código fips year año zip cp phone category categoria categoría class "
    "clase nsn".split()
)
_MONEY = frozenset(
    "total cost costs amount importe importes precio price coste gasto gastos ventas sales "
    "revenue ingresos".split()
)
TEXTS = {
    "title": ("Report on the tables of {kb}", "Informe sobre las tablas de {kb}"),
    "intro": (
        "{count} tables; every figure was computed by the SQL under it, over the table it cites.",
        "{count} tablas; cada cifra se calculó con la consulta SQL que la acompaña, sobre la "
        "tabla que cita.",
    ),
    "intro_one": (
        "1 table; every figure was computed by the SQL under it, over the table it cites.",
        "1 tabla; cada cifra se calculó con la consulta SQL que la acompaña, sobre la tabla "
        "que cita.",
    ),
    "none": (
        "No tables yet: add spreadsheets or CSV files with `sabio add PATH`.",
        "Aún no hay tablas: añade hojas de cálculo o CSV con `sabio add RUTA`.",
    ),
    "table": (
        "{rows} rows from {where}; columns: {columns}.",
        "{rows} filas de {where}; columnas: {columns}.",
    ),
    "figures": ("Key figures", "Cifras clave"),
    "by_period": ("{measure} by {period}", "{measure} por {period}"),
    "top": ("Top {n} {category} by {measure}", "Los {n} primeros {category} por {measure}"),
    "cited": ("From {where}.", "De {where}."),
    "month": ("month", "mes"),
    "year": ("year", "año"),
    "rows": ("rows", "filas"),
    "figure": ("figure", "cifra"),
    "value": ("value", "valor"),
}


def _intro(report: Report) -> str:
    count = len(report.sections)
    if not count:
        return _t("none", report.language)
    return _t("intro_one" if count == 1 else "intro", report.language, count=count)


def _t(key: str, language: str, **values: object) -> str:
    english, spanish = TEXTS[key]
    return (spanish if language == "es" else english).format(**values)


@dataclass(slots=True)
class Figure:
    """One computed part of a report: its heading, the SQL, the result, the table cited."""

    heading: str
    sql: str
    result: Result
    where: str
    chart: Chart | None = None


@dataclass(slots=True)
class Section:
    table: TableInfo
    figures: list[Figure] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    kb: str
    language: str
    sections: list[Section]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_measure(column: ColumnInfo) -> bool:
    words = set(column.name.lower().split("_"))
    numeric = column.sql_type.startswith(("DECIMAL", *_NUMERIC))
    return numeric and not words & _NOT_MEASURES


def _measures(table: TableInfo, run: Callable[[str], Result]) -> list[ColumnInfo]:
    """The columns worth adding up, money first (a currency, an exact decimal, a name
    such as "total" or "importe"), then the rest in the table's order; a column with one
    value all along (a code, a level) is none."""
    found = [c for c in table.columns if _is_measure(c)]
    if found:
        counts = ", ".join(f"count(DISTINCT {_quoted(c.name)})" for c in found)
        [distinct] = run(f"SELECT {counts} FROM {_quoted(table.name)}").rows
        found = [c for c, n in zip(found, distinct, strict=True) if n >= 2]
    money = [
        c
        for c in found
        if c.unit or c.sql_type.startswith("DECIMAL") or set(c.name.lower().split("_")) & _MONEY
    ]
    return [*money, *(c for c in found if c not in money)][:MAX_MEASURES]


def build_report(
    kb: str, tables: Sequence[TableInfo], run: Callable[[str], Result], language: str
) -> Report:
    """The report over ``tables``; ``run`` runs one checked read-only query."""
    return Report(kb, language, [_section(t, run, language) for t in tables])


def _section(table: TableInfo, run: Callable[[str], Result], language: str) -> Section:
    section = Section(table)
    measures = _measures(table, run)
    name = _quoted(table.name)
    parts = ["count(*) AS " + _quoted(_t("rows", language))]
    for m in measures:
        parts += [f"sum({_quoted(m.name)}) AS {_quoted('total_' + m.name)}"]
        parts += [f"avg({_quoted(m.name)}) AS {_quoted('mean_' + m.name)}"]
    figures_sql = f"SELECT {', '.join(parts)} FROM {name}"
    section.figures.append(_figure(_t("figures", language), figures_sql, run, table))
    measure = measures[0] if measures else None
    value = f"sum({_quoted(measure.name)})" if measure else "count(*)"
    value_name = f"total_{measure.name}" if measure else _t("rows", language)
    dates = [c for c in table.columns if c.sql_type in ("DATE", "TIMESTAMP")]
    if dates:
        section.figures.append(_by_period(table, dates[0], value, value_name, run, language))
    category = _category(table, run)
    if category is not None:
        sql = (
            f"SELECT {_quoted(category.name)}, {value} AS {_quoted(value_name)} FROM {name}"
            f" WHERE {_quoted(category.name)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC NULLS LAST,"
            f" 1 LIMIT {TOP}"
        )
        heading = _t("top", language, n=TOP, category=category.name, measure=value_name)
        section.figures.append(_figure(heading, sql, run, table))
    return section


def _by_period(
    table: TableInfo,
    column: ColumnInfo,
    value: str,
    value_name: str,
    run: Callable[[str], Result],
    language: str,
) -> Figure:
    """Totals by month, or by year when the dates span more than three years."""
    col = _quoted(column.name)
    span = run(f"SELECT min({col}), max({col}) FROM {_quoted(table.name)}").rows[0]
    first, last = span
    months = (
        (last.year - first.year) * 12 + last.month - first.month
        if isinstance(first, date) and isinstance(last, date)
        else 0
    )
    unit = "month" if months <= 36 else "year"
    label = _t(unit, language)
    sql = (
        f"SELECT strftime(date_trunc('{unit}', {col}), '{'%Y-%m' if unit == 'month' else '%Y'}')"
        f" AS {_quoted(label)}, {value} AS {_quoted(value_name)} FROM {_quoted(table.name)}"
        f" WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    heading = _t("by_period", language, measure=value_name, period=label)
    return _figure(heading, sql, run, table)


def _category(table: TableInfo, run: Callable[[str], Result]) -> ColumnInfo | None:
    """The first text column whose values repeat: a category, not a name or a code."""
    for column in table.columns:
        if column.sql_type != "VARCHAR":
            continue
        col = _quoted(column.name)
        [(distinct,)] = run(f"SELECT count(DISTINCT {col}) FROM {_quoted(table.name)}").rows
        if 2 <= distinct <= min(MAX_CATEGORIES, table.row_count // 2):
            return column
    return None


def _figure(heading: str, sql: str, run: Callable[[str], Result], table: TableInfo) -> Figure:
    result = run(sql)
    chart = chart_for(
        result.columns,
        result.rows,
        title=heading,
        truncated=result.truncated,
        limited=has_limit(sql),
    )
    return Figure(heading, sql, result, table.where, chart)


# --- writing it -------------------------------------------------------------------------


def report_markdown(report: Report, charts: Path | None) -> str:
    """The report in Markdown; each chart written as an SVG file in ``charts`` (linked by
    its name relative to the report), or left out when ``charts`` is None."""
    language = report.language
    lines = [f"# {_t('title', language, kb=report.kb)}", ""]
    lines.append(_intro(report))
    number = 0
    for section in report.sections:
        table = section.table
        columns = ", ".join(c.name for c in table.columns)
        lines += [
            "",
            f"## {table.name}",
            "",
            _t("table", language, rows=table.row_count, where=table.where, columns=columns),
        ]
        for figure in section.figures:
            lines += [
                "",
                f"### {figure.heading}",
                "",
                markdown_table(*_shown(figure.result, language)),
            ]
            if figure.chart is not None and charts is not None:
                number += 1
                charts.mkdir(parents=True, exist_ok=True)
                path = charts / f"chart-{number:02d}.svg"
                path.write_text(chart_svg(figure.chart, language), encoding="utf-8")
                lines += ["", f"![{figure.heading}]({charts.name}/{path.name})"]
            lines += [
                "",
                f"```sql\n{figure.sql}\n```",
                "",
                _t("cited", language, where=figure.where),
            ]
    return "\n".join(lines) + "\n"


def report_html(report: Report) -> str:
    """The report as one HTML file, its charts inline (their text escaped as SVG's)."""
    language = report.language
    e = html.escape
    body = [f"<h1>{e(_t('title', language, kb=report.kb))}</h1>"]
    body.append(f"<p>{e(_intro(report))}</p>")
    for section in report.sections:
        table = section.table
        columns = ", ".join(c.name for c in table.columns)
        body.append(f"<h2>{e(table.name)}</h2>")
        about = _t("table", language, rows=table.row_count, where=table.where, columns=columns)
        body.append(f"<p>{e(about)}</p>")
        for figure in section.figures:
            body.append(f"<h3>{e(figure.heading)}</h3>")
            body.append(_html_table(figure.result, language))
            if figure.chart is not None:
                body.append(f"<figure>{chart_svg(figure.chart, language)}</figure>")
            body.append(f"<pre><code>{e(figure.sql)}</code></pre>")
            body.append(f'<p class="cited">{e(_t("cited", language, where=figure.where))}</p>')
    style = (
        "body{font-family:DejaVu Sans,Arial,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.2rem .5rem;text-align:left}pre{background:#f4f4f4;padding:.6rem;"
        "overflow-x:auto}figure{margin:1rem 0}svg{max-width:100%;height:auto}.cited{color:#555}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{language}">\n<head><meta charset="utf-8">'
        f"<title>{e(_t('title', language, kb=report.kb))}</title><style>{style}</style></head>\n"
        f"<body>\n{chr(10).join(body)}\n</body>\n</html>\n"
    )


def _shown(result: Result, language: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """A result's columns and rows as the report shows them: one wide row as a column of
    figures, each beside its name."""
    if len(result.rows) == 1 and len(result.columns) > 2:
        names = [_t("figure", language), _t("value", language)]
        return names, list(zip(result.columns, result.rows[0], strict=True))
    return result.columns, list(result.rows)


def _html_table(result: Result, language: str) -> str:
    columns, shown = _shown(result, language)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(show(v).replace(chr(92) + '|', '|'))}</td>" for v in row)
        + "</tr>"
        for row in shown
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def write_report(report: Report, path: Path) -> Path:
    """``report`` written to ``path``: one HTML file for ``.html``, else Markdown with its
    charts as SVG files in ``<name>_charts`` beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(report_html(report), encoding="utf-8")
    else:
        charts = path.with_name(path.stem + "_charts")
        path.write_text(report_markdown(report, charts), encoding="utf-8")
    return path


def dated_name(kb: str, when: datetime, format: str) -> str:
    """A scheduled report's file name: the knowledge base and the minute it was made."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", kb).strip("-") or "kb"
    return f"{stem}-report-{when:%Y-%m-%d-%H%M}.{'html' if format == 'html' else 'md'}"


def post_report(report: Report, url: str, format: str, when: datetime) -> None:
    """``report`` sent to a webhook the person configured, as one JSON object: the
    knowledge base, when it was made, its format and language, its title and its
    content (HTML with the charts inline, or Markdown without them)."""
    content = report_html(report) if format == "html" else report_markdown(report, None)
    body = {
        "kb": report.kb,
        "made_at": when.isoformat(timespec="seconds"),
        "format": format,
        "language": report.language,
        "title": _t("title", report.language, kb=report.kb),
        "tables": len(report.sections),
        "content": content,
    }
    try:
        response = httpx.post(url, json=body, timeout=30.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SourceError(
            f"the report could not be sent to {url}: {exc}",
            key="report_not_delivered",
            url=url,
            detail=str(exc),
        ) from exc
    if response.status_code >= 300:
        raise SourceError(
            f"the report could not be sent to {url}: it answered {response.status_code}",
            key="report_not_delivered",
            url=url,
            detail=f"HTTP {response.status_code}",
        )
