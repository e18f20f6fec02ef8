"""HTML pages: the main content (trafilatura, offline), headings kept as the path.

trafilatura drops navigation, footers, cookie banners and ads and returns the article as
a small XML tree (``head``, ``p``, ``list``, ``table``...), which becomes sections: one
per heading, tables as ``table`` sections. It only ever parses the string it is given; it
fetches nothing. When it finds no main content (a bare page, a fragment), every visible
text node is kept instead (:func:`html_to_text`, also used for HTML mail bodies).

A table's title, the last part of its section's heading (which :mod:`sabio.tables` names
it by), is its ``<caption>``, else the nearest heading above it: trafilatura turns a
caption into a first row and on some pages drops the headings, so they are read from the
page itself (:class:`_TableTitles`) and matched to trafilatura's tables by their first row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import trafilatura

from sabio.loaders import Blob, LoadedDocument, Section, register_loader
from sabio.loaders.text import decode_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_EDIT_LINK = re.compile(r"\s*\[edit\]$")
_HEADING_LEVEL = re.compile(r"h([1-6])")
_METADATA_FIELDS = ("author", "date", "sitename", "language", "url", "description")


def decode_html(data: bytes) -> str:
    """HTML bytes to text, honouring a ``<meta charset>`` in the first few kilobytes."""
    match = _META_CHARSET.search(data[:8192])
    declared = match.group(1).decode("ascii", errors="ignore") if match else None
    return decode_bytes(data, declared)


@register_loader(".html", ".htm", ".xhtml")
def load_html(blob: Blob) -> LoadedDocument:
    html = decode_html(blob.read())
    document = _main_content(html)
    if document is not None and document.body is not None:
        sections = list(_body_sections(document.body, _table_titles(html)))
        if any(s.text.strip() for s in sections):
            metadata = {
                name: str(value)
                for name in _METADATA_FIELDS
                if (value := getattr(document, name, None))
            }
            title = document.title or _page_title(html) or Path(blob.name).stem
            return LoadedDocument(sections=sections, title=title, metadata=metadata)
    text = html_to_text(html)
    title = _page_title(html) or Path(blob.name).stem
    return LoadedDocument(sections=[Section(text)], title=title, metadata={"extraction": "plain"})


def _main_content(html: str) -> Any:
    try:
        return trafilatura.bare_extraction(
            html,
            output_format="python",
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_formatting=False,
        )
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return None  # lxml could not parse it; the plain extraction still can


def _body_sections(body: Any, titles: dict[str, tuple[str, str]]) -> Iterator[Section]:
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    for element in body.iterchildren():
        heading = " > ".join(h for _, h in path)
        if element.tag == "head":
            yield Section("\n\n".join(paragraphs), heading=heading)
            paragraphs = []
            match = _HEADING_LEVEL.fullmatch(element.get("rend") or "")
            level = int(match.group(1)) if match else 2
            text = _EDIT_LINK.sub("", " ".join(_element_text(element).split()))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
        elif element.tag == "table":
            yield Section("\n\n".join(paragraphs), heading=heading)
            paragraphs = []
            yield _table_section(_table_text(element), path, titles)
        elif element.tag == "list":
            items = (_element_text(item).strip() for item in element.iter("item"))
            paragraphs.append("\n".join(f"- {item}" for item in items if item))
        elif text := _element_text(element).strip():
            paragraphs.append(text)
    yield Section("\n\n".join(paragraphs), heading=" > ".join(h for _, h in path))


def _element_text(element: Any) -> str:
    for line_break in element.iter("lb"):
        line_break.tail = "\n" + (line_break.tail or "")
    return "".join(element.itertext())


def _table_text(table: Any) -> str:
    rows = []
    for row in table.iter("row"):
        cells = [" ".join(_element_text(cell).split()) for cell in row.iterchildren("cell")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _table_section(
    text: str, path: list[tuple[int, str]], titles: dict[str, tuple[str, str]]
) -> Section:
    """A table under its title: the heading path, and its caption when it has one."""
    lines = text.split("\n")
    if lines[0] not in titles and len(lines) > 1 and lines[1] in titles:
        caption = titles[lines[1]][0]
        if caption and lines[0].strip(" |") == caption:
            lines = lines[1:]  # trafilatura's row of the caption
    caption, heading = titles.get(lines[0], ("", ""))
    names = [h for _, h in path] or ([heading] if heading else [])
    if caption:
        names.append(caption)
    return Section("\n".join(lines), heading=" > ".join(names), kind="table")


class _TableTitles(HTMLParser):
    """Each table of a page (not those inside another), by its first row's text (cells
    joined by " | "), → its caption and the nearest heading above it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.titles: dict[str, tuple[str, str]] = {}
        self._heading: list[str] | None = None
        self._last_heading = ""
        self._depth = 0
        self._caption: list[str] | None = None
        self._row: list[list[str]] = []
        self._table: dict[str, str] = {}
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif _HEADING_LEVEL.fullmatch(tag) and not self._depth:
            self._heading = []
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._table, self._row = {"caption": ""}, []
        elif self._depth == 1 and tag == "caption":
            self._caption = []
        elif self._depth == 1 and tag in ("td", "th") and "first" not in self._table:
            self._row.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif _HEADING_LEVEL.fullmatch(tag) and self._heading is not None:
            self._last_heading = _EDIT_LINK.sub("", " ".join("".join(self._heading).split()))
            self._heading = None
        elif tag == "caption" and self._caption is not None:
            self._table["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        elif self._depth == 1 and tag == "tr" and "first" not in self._table:
            cells = [" ".join("".join(cell).split()) for cell in self._row]
            if any(cells):
                self._table["first"] = " | ".join(cells)
            self._row = []
        elif tag == "table" and self._depth:
            self._depth -= 1
            if not self._depth and (first := self._table.get("first")):
                self.titles.setdefault(first, (self._table["caption"], self._last_heading))

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._heading is not None:
            self._heading.append(data)
        elif self._caption is not None:
            self._caption.append(data)
        elif self._depth == 1 and self._row and "first" not in self._table:
            self._row[-1].append(data)


def _table_titles(html: str) -> dict[str, tuple[str, str]]:
    parser = _TableTitles()
    parser.feed(html)
    parser.close()
    return parser.titles


# --- plain extraction -----------------------------------------------------------------

_HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "object", "iframe"}
_BLOCK = {
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
    "section", "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "form",
}  # fmt: skip


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data)


def _collect(html: str) -> _TextCollector:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector


def html_to_text(html: str) -> str:
    """Every visible text node of ``html``, one block element per line."""
    text = "".join(_collect(html).parts)
    lines = (" ".join(line.split()).strip(" |") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _page_title(html: str) -> str:
    head = html[: html.lower().find("</title>") + 8] if "</title>" in html.lower() else ""
    return " ".join(_collect(head).title.split()) if head else ""
