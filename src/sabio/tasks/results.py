"""What a whole-document task gives, as JSON (one shape for the CLI, the REST API and
automations) and as the files a person downloads: Markdown, plain text or DOCX.

    summary_json(doc, summary) / translation_json(…) / extraction_json(…) / comparison_json(…)
    render_result(result, "markdown" | "json" | "text" | "docx", language) ─► bytes

A result is ``{"kind": "summarize", "items": [one per document]}`` (compare: one item
for the pair). The Markdown keeps what the task kept: a summary's page marks (``[12]``),
a translation's ``<!-- page N -->`` lines (``[page N]`` in text and DOCX), each extracted
value's page; and each item ends with how the task read its document (its route, in the
file's language, :func:`sabio.routing.route_words`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sabio.routing import route_words
from sabio.store import DocumentRecord
from sabio.tasks.compare import Change, Unit
from sabio.tasks.extract import Extraction
from sabio.tasks.summarize import Summary
from sabio.tasks.translate import Translation

FORMATS = {
    "markdown": ("text/markdown; charset=utf-8", "md"),
    "json": ("application/json", "json"),
    "text": ("text/plain; charset=utf-8", "txt"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}
"""Format → (media type, file extension)."""
LABELS = {
    "en": {
        "unsupported": "Not supported by the document",
        "not_found": "Not found in the document, check them",
        "invalid": "Not valid against the schema",
        "changes": "changes",
        "added": "added",
        "removed": "removed",
        "changed": "changed",
        "page": "page",
        "check": "Check",
        "how": "How",
    },
    "es": {
        "unsupported": "Sin apoyo en el documento",
        "not_found": "No están en el documento, compruébalos",
        "invalid": "No es válido según el esquema",
        "changes": "cambios",
        "added": "añadido",
        "removed": "quitado",
        "changed": "cambiado",
        "page": "página",
        "check": "Revisar",
        "how": "Cómo",
    },
}
_PAGE_LINE = re.compile(r"^<!-- page (\d+) -->$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)])\s+(.*)$")


def _document(doc: DocumentRecord) -> dict[str, Any]:
    return {"document": doc.source, "document_id": doc.id, "title": doc.title}


def summary_json(doc: DocumentRecord, summary: Summary) -> dict[str, Any]:
    return {
        **_document(doc),
        "summary": summary.text,
        "language": summary.language,
        "route": asdict(summary.route),
        "claims": [
            {"text": c.text, "supported": c.supported, "page": c.page, "quote": c.quote}
            for c in summary.claims
        ],
    }


def translation_json(doc: DocumentRecord, found: Translation) -> dict[str, Any]:
    return {
        **_document(doc),
        "markdown": found.markdown,
        "language": found.language,
        "segments": found.segments,
        "counts": found.counts,
        "route": asdict(found.route),
        "problems": found.problems,
    }


def extraction_json(doc: DocumentRecord, found: Extraction) -> dict[str, Any]:
    return {
        **_document(doc),
        "data": found.data,
        "valid": found.valid,
        "error": found.error,
        "pages": found.pages,
        "unlocated": found.unlocated,
        "route": asdict(found.route),
    }


def _unit(unit: Unit | None) -> dict[str, Any] | None:
    return {"text": unit.text, "page": unit.page} if unit else None


def changes_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    return [
        {
            "kind": c.kind,
            "section": c.section,
            "old": _unit(c.old),
            "new": _unit(c.new),
            "removed_words": c.removed_words,
            "added_words": c.added_words,
        }
        for c in changes
    ]


def comparison_json(
    old: DocumentRecord, new: DocumentRecord, changes: Sequence[Change]
) -> dict[str, Any]:
    return {"old": _document(old), "new": _document(new), "changes": changes_json(changes)}


# files


def render_result(result: dict[str, Any], form: str, language: str = "en") -> bytes:
    """``result`` as a file of format ``form`` (one of :data:`FORMATS`)."""
    if form == "json":
        return json.dumps(result, ensure_ascii=False, indent=2).encode("utf-8")
    markdown = result_markdown(result, language)
    if form == "markdown":
        return markdown.encode("utf-8")
    if form == "text":
        return markdown_text(markdown).encode("utf-8")
    return markdown_docx(markdown, LABELS[_language(language)]["page"])


def _language(language: str) -> str:
    return language if language in LABELS else "en"


def result_markdown(result: dict[str, Any], language: str = "en") -> str:
    words = LABELS[_language(language)]
    write: Callable[[dict[str, Any], dict[str, str]], list[str]] = {
        "summarize": _summary_md,
        "translate": _translation_md,
        "extract": _extraction_md,
        "compare": _comparison_md,
    }[result["kind"]]
    blocks = [
        "\n".join([*write(item, words), *_route_md(item, words, language)]).strip()
        for item in result["items"]
    ]
    return "\n\n---\n\n".join(blocks) + "\n"


def _route_md(item: dict[str, Any], words: dict[str, str], language: str) -> list[str]:
    """How the task read the document (whole, or in parts), as the web app says it."""
    how = route_words(item.get("route"), _language(language))
    return ["", f"**{words['how']}:** {how}"] if how else []


def _title(item: dict[str, Any]) -> str:
    return str(item.get("title") or item["document"])


def _summary_md(item: dict[str, Any], words: dict[str, str]) -> list[str]:
    lines = [f"# {_title(item)}", "", item["summary"]]
    unsupported = [c["text"] for c in item["claims"] if not c["supported"]]
    if unsupported:
        lines += ["", f"**{words['unsupported']}:**", *(f"- {t}" for t in unsupported)]
    return lines


def _translation_md(item: dict[str, Any], words: dict[str, str]) -> list[str]:
    lines = [item["markdown"]]
    if item["problems"]:
        lines += ["", f"**{words['check']}:**", *(f"- {p}" for p in item["problems"])]
    return lines


def _extraction_md(item: dict[str, Any], words: dict[str, str]) -> list[str]:
    lines = [f"# {_title(item)}", ""]
    for path, value in _flat(item["data"] or {}):
        page = item["pages"].get(path)
        where = f" [{page}]" if page is not None else ""
        lines.append(f"- **{path}**: {value}{where}")
    if not item["valid"]:
        lines += ["", f"**{words['invalid']}:** {item['error']}"]
    if item["unlocated"]:
        lines += ["", f"**{words['not_found']}:** {', '.join(item['unlocated'])}"]
    return lines


def _flat(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """The values of an extracted object by path ("parties/0/name"), as the pages name them."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flat(v, f"{path}/{k}".lstrip("/"))]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _flat(v, f"{path}/{i}")]
    return [(path, value)]


def _comparison_md(item: dict[str, Any], words: dict[str, str]) -> list[str]:
    old, new = _title(item["old"]), _title(item["new"])
    lines = [f"# {old} → {new}", "", f"{len(item['changes'])} {words['changes']}", ""]
    for change in item["changes"]:
        pages = " → ".join(_page(change[side]) for side in ("old", "new"))
        section = f" ({change['section']})" if change["section"] else ""
        head = f"- **{words[change['kind']]}** {pages}{section}:"
        if change["kind"] == "changed":
            lines.append(f"{head} ~~{change['removed_words']}~~ → {change['added_words']}")
        else:
            lines.append(f"{head} {(change['new'] or change['old'])['text']}")
    return lines


def _page(unit: dict[str, Any] | None) -> str:
    return f"p. {unit['page']}" if unit and unit["page"] is not None else "—"


def markdown_text(markdown: str) -> str:
    """Markdown as plain text: headings without their marks, page lines as ``[page N]``,
    emphasis dropped; lists and tables as written."""
    out = []
    for line in markdown.splitlines():
        if match := _PAGE_LINE.match(line.strip()):
            line = f"[page {match.group(1)}]"
        elif match := _HEADING.match(line):
            line = match.group(2)
        out.append(line.replace("**", "").replace("~~", ""))
    return "\n".join(out).strip() + "\n"


def markdown_docx(markdown: str, page_word: str = "page") -> bytes:
    """Markdown as a Word document: headings, list items, tables and paragraphs as
    themselves; page lines as a small ``[page N]`` paragraph."""
    import docx

    document = docx.Document()
    table: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        text = line.strip()
        if text.startswith("|"):
            cells = [c.strip() for c in text.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                table.append(cells)
            continue
        if table:
            _docx_table(document, table)
            table = []
        if not text or text == "---":
            continue
        if match := _PAGE_LINE.match(text):
            run = document.add_paragraph().add_run(f"[{page_word} {match.group(1)}]")
            run.italic = True
        elif match := _HEADING.match(text):
            document.add_heading(match.group(2), level=min(len(match.group(1)), 4))
        elif match := _ITEM.match(line):
            document.add_paragraph(match.group(1).replace("**", ""), style="List Bullet")
        else:
            document.add_paragraph(text.replace("**", "").replace("~~", ""))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _docx_table(document: Any, rows: list[list[str]]) -> None:
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell
