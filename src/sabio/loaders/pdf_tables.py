"""Ruled tables inside a PDF's pages, found by pdfplumber's lattice finder (the lines a
page draws are the table's grid) so that :mod:`sabio.loaders.pdf` can give each one as a
``table`` section.

A PDF has no tables, only characters and lines at positions; where lines cross into a
grid of cells with short text in nearly all of them, the loader can tell that it is a
table. Unruled tables (columns only lined up by spaces) are left as text: guessing them
from positions finds tables in every two-column page and figure (``bench/pdf_tables.py``).
Only pages whose lines cross as a grid's do are looked at (pdfminer.six, underneath, is
some 15 times slower than pdfium at reading a page), and a damaged PDF that pdfium could
read but pdfminer cannot just has no tables.

Kept, of what the finder proposes: at least 2 columns and a header with a data row under
it; at most one empty header cell; :data:`MIN_FILLED` of the cells with text; no cell
longer than :data:`MAX_CELL` characters (a figure's boxed caption); and no words cut
between two cells (a grid laid over running text: the end of one cell and the start of
the next make a word of the page's text, "Thi" and "s agreement").
"""

from __future__ import annotations

import io
import itertools
import logging
import re
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import pdfplumber
from pdfminer.psexceptions import PSException
from pdfplumber.page import Page
from pdfplumber.utils.exceptions import PdfminerException

MAX_PAGES = 200
"""Pages of one document whose tables are looked for."""
MIN_FILLED = 0.75
"""The share of a table's cells that hold text (a layout grid is mostly empty)."""
MAX_CELL = 120
"""Characters a table's cell may hold (a figure's boxed caption holds more)."""
MAX_CUT_WORDS = 0.1
"""Of the pairs of neighbouring cells, the share that may look like one word cut in two."""
CAPTION_BAND = 28.0
"""Points above a table where its caption is looked for."""
HEADING_SIZE = 1.15
"""A line whose letters are this much larger than the page's usual ones is a heading."""
MAX_CAPTION = 80

_Box = tuple[float, float, float, float]  # left, bottom, right, top, in pdfium's points
_CUT = re.compile(r"[^\W\d_]$")
_CONTINUED = re.compile(r"^[^\W\d_A-Z]")
_CAPTION_TEXT = re.compile(r"^(?:tabla|table|cuadro|tableau|tabelle)\s*\d+\b", re.I)
PDFMINER_FAILURES = (PdfminerException, PSException, ValueError, TypeError, KeyError, IndexError)
"""What pdfminer.six raises on a file it cannot read (pdfium could)."""


@dataclass(frozen=True, slots=True)
class PdfTable:
    page: int
    box: _Box
    rows: list[list[str]]
    caption: str

    def text(self) -> str:
        """One line per row, cells separated by " | " (a ``table`` section's text)."""
        return "\n".join(" | ".join(c.replace("|", "/") for c in row) for row in self.rows)


def find_tables(
    source: Path | bytes, pages: Sequence[int], password: str | None = None
) -> dict[int, list[PdfTable]]:
    """The well-formed ruled tables of these pages (1-based) of the PDF, by page."""
    if not pages:
        return {}
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    found: dict[int, list[PdfTable]] = {}
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    try:
        with pdfplumber.open(fp, pages=list(pages[:MAX_PAGES]), password=password or "") as pdf:
            for page in pdf.pages:
                tables = _page_tables(page)
                if tables:
                    found[page.page_number] = tables
    except PDFMINER_FAILURES:
        return found
    return found


def _page_tables(page: Page) -> list[PdfTable]:
    kept: list[PdfTable] = []
    words: set[str] | None = None  # the page's words, read when a cell may cut one
    for table in page.find_tables():
        grid = table.extract()
        if words is None and any(_may_cut(a, b) for a, b in _neighbours(grid)):
            words = set((page.extract_text() or "").split())
        rows = well_formed(grid, words or set())
        if rows is None:
            continue
        left, top, right, bottom = table.bbox
        x0, _, _, y1 = (float(v) for v in page.page_obj.mediabox)  # pdfium's origin
        box = (x0 + float(left), y1 - float(bottom), x0 + float(right), y1 - float(top))
        kept.append(PdfTable(page.page_number, box, rows, _caption(page, table.bbox)))
    return kept


def well_formed(grid: Sequence[Sequence[str | None]], words: Set[str]) -> list[list[str]] | None:
    """The rows of a proposed table without its empty rows and columns, or None when it
    is not a table (see the module's docstring). ``words``: the page's words as the text
    runs, where a word that two cells cut in two is whole."""
    cells = [[" ".join((c or "").split()) for c in row] for row in grid]
    rows = [row for row in cells if any(row)]
    if len(rows) < 2:
        return None
    width = max(map(len, rows))
    rows = [row + [""] * (width - len(row)) for row in rows]
    used = [i for i in range(width) if any(row[i] for row in rows)]
    rows = [[row[i] for i in used] for row in rows]
    if len(used) < 2 or sum(1 for c in rows[0] if not c) > 1 or _figures_head(rows[0]):
        return None
    flat = [c for row in rows for c in row]
    if sum(1 for c in flat if c) < MIN_FILLED * len(flat) or max(map(len, flat)) > MAX_CELL:
        return None
    pairs = list(_neighbours(rows))
    cut = sum(1 for a, b in pairs if _may_cut(a, b) and _joined(a, b) in words)
    return None if cut > MAX_CUT_WORDS * len(pairs) else rows


_YEAR = re.compile(r"^(?:19|20)\d\d$")


def _figures_head(head: Sequence[str]) -> bool:
    """Whether a grid's first row is mostly figures and signs, not column names (a
    financial statement's block drawn cell by cell: "Net sales | $ | 49,278 | $ | 51,496");
    a year is a name ("Región | 2022 | 2023")."""
    filled = [c for c in head if c]
    named = sum(1 for c in filled if _YEAR.match(c) or any(ch.isalpha() for ch in c))
    return named * 2 <= len(filled)


def _neighbours(grid: Sequence[Sequence[str | None]]) -> Iterator[tuple[str, str]]:
    """Each two cells side by side, both with text."""
    for row in grid:
        for a, b in itertools.pairwise(row):
            if a and b and a.strip() and b.strip():
                yield a, b


def _may_cut(a: str, b: str) -> bool:
    return bool(_CUT.search(a.rstrip()) and _CONTINUED.match(b.lstrip()))


def _joined(a: str, b: str) -> str:
    """The last word of ``a`` and the first of ``b`` as one ("h" + "ace" → "hace")."""
    return a.split()[-1] + b.split()[0]


def _caption(page: Page, bbox: tuple[float, float, float, float]) -> str:
    """The line right above the table when it is its caption: it names a table ("Tabla 2.
    Ventas por provincia") or stands out as a heading (bold, or larger than the text)."""
    top = bbox[1]
    x0, page_top, x1, _ = page.bbox
    if top - page_top < 1:
        return ""
    band = (x0, max(page_top, top - CAPTION_BAND), x1, top)
    lines = page.crop(band).extract_text_lines()
    if not lines:
        return ""
    line = lines[-1]
    text = " ".join(str(line["text"]).split()).rstrip(":")
    if not text or len(text) > MAX_CAPTION:
        return ""
    if _CAPTION_TEXT.match(text):
        return text
    chars = line["chars"]
    if not chars:
        return ""
    bold = all("bold" in str(c["fontname"]).lower() for c in chars)
    sizes = sorted(float(c["size"]) for c in page.chars)
    larger = min(float(c["size"]) for c in chars) > HEADING_SIZE * sizes[len(sizes) // 2]
    return text if bold or larger else ""
