"""PDF loader on pypdfium2: one Section per page, with the 1-based page number.

Scans. A page "needs OCR" when it shows an image but has (almost) no text layer, or when
its text layer is garbage (:func:`~sabio.loaders.garbled.looks_garbled`); a page with
neither text nor images is blank. Each such page, and only those, is rendered at 300 dpi
and read by OCR (:mod:`sabio.loaders.ocr`), several at a time (one per core), keeping its
page number; ``metadata`` says which pages were read so (``ocr_pages``), their mean
confidence (``ocr_confidence``) and the hard-to-read ones (``ocr_low_pages``).

Pages OCR could not read (Tesseract not installed, it failed, or its time was up) stay
out, and the rule for the whole document is:

* no page with text, at least one scanned page   -> NeedsOCRError
* no page with text and no scanned page          -> EmptyDocumentError (blank pages)
* more than half of the non-blank pages scanned  -> NeedsOCRError (most of it would be
  and OCR read none of them                         missing from search)
* otherwise the text pages are indexed and the scanned page numbers are listed in
  ``metadata["needs_ocr_pages"]`` so that the document list can say so.

Tables: a page whose lines cross as a table's grid does is read again for its ruled tables
(:mod:`.pdf_tables`); each well-formed one is a ``table`` section of that page, under its
caption, and its rows are left out of the page's text.

Paragraphs: pdfium gives lines, not paragraphs; a vertical gap larger than a fraction of
the line height (or a jump back up the page, as in a second column) starts a new one.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from sabio.errors import CorruptFileError, EmptyDocumentError, EncryptedError, NeedsOCRError
from sabio.loaders import Blob, LoadedDocument, Section, register_loader
from sabio.loaders.garbled import looks_garbled
from sabio.loaders.ocr import OcrResults, recognize_pages

if TYPE_CHECKING:
    from sabio.loaders.pdf_tables import PdfTable

# A real document with more pages than this does not exist; a fuzzed one says it has
# 213,804,087 pages and would keep us busy for hours.
MAX_PAGES = 50_000
# A page with an image and fewer visible characters than this is a scan (a stamp, a page
# number or a "pdf.js" watermark in the text layer does not make it searchable).
MIN_TEXT_CHARS = 16
# Gap between two lines, as a fraction of the line height, that starts a new paragraph.
PARAGRAPH_GAP = 0.6
OCR_DPI = 300
# The longest side of a page rendered for OCR, in pixels: A3 at 300 dpi (a poster or a
# plan is read at less).
MAX_OCR_PIXELS = 5000

_IMAGE = pdfium_c.FPDF_PAGEOBJ_IMAGE
RULE_WIDTH = 2.0
"""Points: a path no thicker than this, and longer, is a rule (a table's line)."""
MAX_RULES = 2000
"""Rules of a page looked at (a form or a chart may draw thousands)."""
MAX_CELLS = 300
"""Rectangles of a page looked at, for a table drawn cell by cell."""
MIN_CROSSINGS = 9
"""Points where a page's rules cross before its tables are looked for: the grid of the
smallest table, a header and a row of two cells, has nine."""
_PATH = pdfium_c.FPDF_PAGEOBJ_PATH
_BAD_TITLE = re.compile(
    r"^(untitled\d*|microsoft (word|powerpoint|excel) - .*|adobe photoshop pdf|"
    r".*\.(docx?|pdf|indd|tex|dvi|ps|rtf|odt|pptx?|xlsx?)|[\W\d_]*)$",
    re.IGNORECASE,
)


_Box = tuple[float, float, float, float]  # left, bottom, right, top


@dataclass(slots=True)
class _Page:
    number: int
    text: str
    scanned: bool
    failed: bool = False
    crossings: int = 0
    """Where the page's rules cross (up to :data:`MIN_CROSSINGS`): a table's grid, maybe."""
    no_table: bool = False
    """Its grids surely hold no table the loader keeps (:mod:`.pdf_grid`)."""
    tables: tuple[PdfTable, ...] = ()


@register_loader(".pdf")
def load_pdf(blob: Blob) -> LoadedDocument:
    return read_pdf(blob)


def read_pdf(blob: Blob, tables: bool = True, grid_filter: bool = True) -> LoadedDocument:
    """The PDF as the loader reads it; ``tables=False``: without looking for its ruled
    tables (what ``bench/pdf_tables.py`` measures the table finder's cost against);
    ``grid_filter=False``: every page whose rules cross is read by pdfplumber, not only
    those whose grids may hold a table (:func:`~sabio.loaders.pdf_grid.may_hold_table`):
    what the filter must agree with, document for document (``bench/pdf_tables.py
    check``)."""
    pdf = _open(blob)
    try:
        count = len(pdf)
        if count > MAX_PAGES:
            raise CorruptFileError(
                f"the PDF claims {count:,} pages, which cannot be right; the file is damaged"
            )
        judge = tables and grid_filter
        pages = [_read_page(pdf, number, judge=judge) for number in range(1, count + 1)]
        if tables:
            _read_tables(pdf, pages, blob)
        title = _title(pdf.get_metadata_value("Title"), blob.name)
        scanned = [p.number for p in pages if p.scanned]
        deferred = blob.ocr.defer and any(p.text.strip() for p in pages) and bool(scanned)
        ocr = recognize_pages(
            [] if deferred else scanned, lambda n: _render(pdf, n), blob.ocr, blob.progress
        )
    except pdfium.PdfiumError as exc:
        raise CorruptFileError(f"the PDF is damaged: {exc}") from exc
    finally:
        pdf.close()
    doc = _document(pages, count, title, ocr, deferred)
    if deferred:
        doc.metadata["ocr_deferred"] = "1"
    return doc


def _render(pdf: pdfium.PdfDocument, number: int) -> Image.Image:
    """Page ``number`` at :data:`OCR_DPI`, or less for a page larger than A3."""
    page = pdf[number - 1]
    try:
        width, height = page.get_size()
        scale = min(OCR_DPI / 72, MAX_OCR_PIXELS / max(width, height, 1))
        image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
        return image
    finally:
        page.close()


def _open(blob: Blob) -> pdfium.PdfDocument:
    source: Path | bytes = blob.path if blob.path is not None else blob.read()
    try:
        return pdfium.PdfDocument(source, password=blob.password)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            if blob.password:
                raise EncryptedError(
                    "the PDF password is wrong; pass the right one with --password"
                ) from exc
            raise EncryptedError("the PDF is encrypted; pass its password with --password") from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedError(
                "the PDF uses an unsupported security handler; save an unprotected copy"
            ) from exc
        reason = str(exc).removeprefix("Failed to load document ").strip("(). ")
        if not reason or reason.endswith("Success"):  # PDFium gave up without saying why
            raise CorruptFileError("not a readable PDF (damaged beyond repair)") from exc
        raise CorruptFileError(f"not a readable PDF ({reason})") from exc


def _read_tables(pdf: pdfium.PdfDocument, pages: list[_Page], blob: Blob) -> None:
    """The ruled tables of the pages that draw lines (:mod:`.pdf_tables`), each page's
    text read again without them: a table is a ``table`` section, not also a passage. Of
    those pages, pdfplumber reads only the ones whose grids may hold a table."""
    candidates = [p for p in pages if _draws_grid(p)]
    if not candidates:
        return
    from sabio.loaders.pdf_tables import MAX_PAGES, find_tables  # pdfplumber: only for these

    # the first MAX_PAGES of them, as without the filter, less those it found without one
    numbers = [p.number for p in candidates[:MAX_PAGES] if not p.no_table]
    source: Path | bytes = blob.path if blob.path is not None else blob.read()
    for number, tables in find_tables(source, numbers, blob.password).items():
        text = _read_page(pdf, number, [t.box for t in tables]).text
        pages[number - 1] = replace(pages[number - 1], text=text, tables=tuple(tables))


def _draws_grid(page: _Page) -> bool:
    """Whether the page has text and its rules cross as a table's grid does."""
    return page.crossings >= MIN_CROSSINGS and bool(page.text.strip())


def _read_page(
    pdf: pdfium.PdfDocument, number: int, without: list[_Box] | None = None, judge: bool = False
) -> _Page:
    """Page ``number``; its lines that start inside one of the boxes ``without`` left out.
    ``judge``: whether a grid it draws may hold a table is told too
    (:func:`~sabio.loaders.pdf_grid.may_hold_table`: ``no_table``)."""
    try:
        page = pdf[number - 1]
    except pdfium.PdfiumError:
        return _Page(number, "", scanned=False, failed=True)
    try:
        textpage = page.get_textpage()
        try:
            text = _paragraphs(textpage, without or [])
            visible = len(text) - text.count(" ") - text.count("\n")
            images, crossings = _drawn(page)
            scanned = (visible < MIN_TEXT_CHARS and images > 0) or looks_garbled(text)
            read = _Page(number, "" if scanned else text, scanned, crossings=crossings)
            if judge and _draws_grid(read):
                from sabio.loaders.pdf_grid import may_hold_table  # imports pdfplumber

                with suppress(Exception):  # unsure: pdfplumber is asked (never fails a file)
                    read.no_table = not may_hold_table(page, textpage)
            return read
        finally:
            textpage.close()
    except pdfium.PdfiumError:
        return _Page(number, "", scanned=False, failed=True)
    finally:
        page.close()


def _paragraphs(textpage: pdfium.PdfTextPage, without: list[_Box]) -> str:
    """The page text, lines kept, paragraphs separated by a blank line; a line whose first
    character is inside one of the boxes ``without`` is left out."""
    raw = textpage.get_text_range()
    if not raw.strip():
        return ""
    # pdfium's text indices count UTF-16 units and the "\r\n" it puts between lines.
    astral = not raw.isascii() and len(raw.encode("utf-16-le")) != 2 * len(raw)
    out: list[str] = []
    previous: _Box | None = None  # the box of the last character of the line above
    index = 0
    for line in raw.split("\r\n"):
        start = index
        length = len(line.encode("utf-16-le")) // 2 if astral else len(line)
        index += length + 2
        if not line.strip():
            continue
        first = _char_box(textpage, start)
        if first is not None and any(_inside(first, box) for box in without):
            continue
        if previous is not None and first is not None and _new_paragraph(previous, first):
            out.append("")
        out.append(line.rstrip())
        previous = _char_box(textpage, start + length - 1) or previous
    # pdfium joins a word hyphenated across lines and marks the hyphen with U+FFFE.
    return "\n".join(out).replace("\ufffe", "")


def _new_paragraph(previous: _Box, box: _Box) -> bool:
    _, prev_bottom, _, prev_top = previous
    _, _, _, top = box
    height = prev_top - prev_bottom
    if height <= 0:
        return False
    gap = prev_bottom - top
    return gap > PARAGRAPH_GAP * height or top > prev_top + height


def _char_box(textpage: pdfium.PdfTextPage, text_index: int) -> _Box | None:
    char_index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, text_index)
    if char_index < 0:
        return None
    try:
        box: _Box = textpage.get_charbox(char_index, loose=True)
    except pdfium.PdfiumError:
        return None
    return box


def _inside(char: _Box, box: _Box) -> bool:
    x, y = (char[0] + char[2]) / 2, (char[1] + char[3]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _drawn(page: pdfium.PdfPage) -> tuple[int, int]:
    """How many images the page shows, and where its rules cross (a table's grid: a
    header and a row of two cells cross at nine points); a table drawn cell by cell, as
    rectangles side by side, counts as a grid."""
    images = 0
    across: list[_Box] = []
    down: list[_Box] = []
    cells: list[_Box] = []
    for obj in page.get_objects(max_depth=3):
        if obj.type == _IMAGE:
            images += 1
        elif obj.type == _PATH and len(across) + len(down) < MAX_RULES:
            left, bottom, right, top = obj.get_bounds()
            if top - bottom <= RULE_WIDTH < right - left:
                across.append((left, bottom, right, top))
            elif right - left <= RULE_WIDTH < top - bottom:
                down.append((left, bottom, right, top))
            elif pdfium_c.FPDFPath_CountSegments(obj.raw) in (4, 5) and len(cells) < MAX_CELLS:
                cells.append((left, bottom, right, top))  # a rectangle: a cell, maybe
    if _cells_side_by_side(cells):
        return images, MIN_CROSSINGS
    return images, _crossings(across, down)


def _cells_side_by_side(cells: list[_Box]) -> bool:
    """Whether rectangles touch as a table's cells do, two pairs side by side and two one
    above the other (boxes in a figure stand apart)."""
    beside = above = 0
    near = RULE_WIDTH
    for i, a in enumerate(cells):
        for b in cells[i + 1 :]:
            level = abs(a[1] - b[1]) <= near and abs(a[3] - b[3]) <= near
            aligned = abs(a[0] - b[0]) <= near and abs(a[2] - b[2]) <= near
            beside += level and (abs(a[2] - b[0]) <= near or abs(b[2] - a[0]) <= near)
            above += aligned and (abs(a[1] - b[3]) <= near or abs(b[1] - a[3]) <= near)
            if beside >= 2 and above >= 2:
                return True
    return False


def _crossings(across: list[_Box], down: list[_Box]) -> int:
    """Where the rules across cross those down, counted up to :data:`MIN_CROSSINGS`."""
    count, near = 0, RULE_WIDTH
    for a in across if len(down) >= 2 else ():
        for d in down:
            if a[0] - near <= d[0] and d[2] <= a[2] + near and d[1] - near <= a[1] <= d[3] + near:
                count += 1
                if count >= MIN_CROSSINGS:
                    return count
    return count


def _document(
    pages: list[_Page], count: int, title: str, ocr: OcrResults, deferred: bool = False
) -> LoadedDocument:
    for page in pages:
        if page.number in ocr.pages:
            page.text, page.scanned = ocr.pages[page.number].text, False
    text_pages = [p for p in pages if p.text.strip() or p.tables]
    scanned = [p.number for p in pages if p.scanned]
    failed = [p.number for p in pages if p.failed]
    if not text_pages and failed and not scanned:
        raise CorruptFileError(f"none of the {count} pages of the PDF could be read")
    if not text_pages and not scanned and ocr.pages:
        raise EmptyDocumentError(f"OCR found no words on the PDF's {count} page(s)")
    if not text_pages and not scanned:
        raise EmptyDocumentError(f"the PDF has {count} blank page(s) and no text")
    if (
        scanned
        and not ocr.pages
        and not deferred
        and len(scanned) * 2 > len(scanned) + len(text_pages)
    ):
        raise NeedsOCRError(
            f"{len(scanned)} of {count} pages have no usable text layer (a scan) and OCR "
            f"could not read them: {ocr.problem}"
        )
    metadata = ocr.metadata()
    if scanned:
        metadata["needs_ocr_pages"] = ",".join(map(str, scanned))
    if failed:
        metadata["unreadable_pages"] = ",".join(map(str, failed))
    sections = []
    for page in text_pages:
        sections.append(Section(page.text, page=page.number))
        sections.extend(
            Section(t.text(), page=page.number, heading=t.caption, kind="table")
            for t in page.tables
        )
    return LoadedDocument(sections=sections, title=title, metadata=metadata, pages=count)


def _title(value: str, name: str) -> str:
    title = " ".join(value.split())
    if 3 <= len(title) <= 200 and not _BAD_TITLE.match(title):
        return title
    return Path(name).stem
