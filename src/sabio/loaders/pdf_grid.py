"""Whether a PDF page may hold a well-formed ruled table, told from what pdfium already
has open (its paths and its characters), before pdfplumber is asked to read the page.

pdfplumber reads a page some 15 times slower than pdfium (pdfminer.six interprets the
page's content in Python): on a company report whose every statement is drawn as a grid,
reading each such page for its tables made the PDF loader five to sixteen times slower,
although almost none of those grids is a table the loader keeps (a financial statement's
block: its first row is figures, or a heading and empty cells). So the same lattice
finder, pdfplumber's own code (:class:`pdfplumber.table.TableFinder`), is run here over
the page's rules as pdfminer would see them, read from pdfium (each path's points through
its matrix, as pdfminer.six makes lines, rectangles and curves of them); each grid's cells
are filled with the characters whose centre falls inside (pdfplumber's rule), and the page
goes to pdfplumber only when one of the grids may pass
:func:`~sabio.loaders.pdf_tables.well_formed` (without the cut-word test, which needs the
page's words and only ever rejects). Where pdfium's numbers are not pdfminer's to the
last bit, every answer pdfminer's could give is tried: a character whose centre lies
within :data:`BORDER` of a cell's side (their character boxes differ by some tenths of a
point) in the cell and out of it; the finder's tolerances nudged both ways
(:data:`NUDGE`). The page goes to pdfplumber unsure when there are too many ways
(:data:`MAX_READINGS`), when the nudges disagree, or when a path is one pdfium cannot
read as pdfminer would (a turned page, a MediaBox away from the origin, a path that does
not start with a move). ``bench/pdf_tables.py check`` compares the loader's documents
with and without this filter (86 PDFs, none differs); on the 20 SEC 10-Qs pdfplumber reads
12 pages instead of 342, and the loader takes 1.7 times its time without tables, not 5.
"""

from __future__ import annotations

import ctypes
import itertools
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pdfplumber.table import Table, TableFinder, TableSettings, edges_to_intersections

from sabio.loaders.pdf_tables import well_formed

if TYPE_CHECKING:
    from pdfplumber.page import Page

BORDER = 1.0
"""Points: a character whose centre is this close to a side of a cell may belong to the
cell beside it in pdfplumber's reading (pdfminer's character boxes are not pdfium's)."""
NUDGE = 0.01
"""Points: pdfium's coordinates are 32-bit floats, pdfminer.six's 64-bit ones, and a rule's
place may differ by some ten-thousandths of a point; when the lattice finder finds other
crossings with its tolerances this much wider than with them this much narrower, two
rules lie a tolerance apart and pdfplumber's answer is not sure."""
MAX_READINGS = 64
"""Ways of placing the characters near the cells' sides tried before the answer is "not
sure": 2 to the power of those characters (a cell and a character each)."""
MAX_DEPTH = 4
"""Form XObjects inside form XObjects followed (pdfminer.six follows all of them)."""

_Edge = dict[str, Any]
_Point = tuple[float, float]
_Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: _Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_LINE, _BEZIER, _MOVE = (
    pdfium_c.FPDF_SEGMENT_LINETO,
    pdfium_c.FPDF_SEGMENT_BEZIERTO,
    pdfium_c.FPDF_SEGMENT_MOVETO,
)


class Unsure(Exception):
    """The page's drawing could not be read as pdfminer would read it."""


@dataclass(frozen=True, slots=True)
class _Lines:
    """What :class:`TableFinder` reads of a page with the default "lines" strategy."""

    edges: list[_Edge]
    bbox: tuple[float, float, float, float]


def may_hold_table(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> bool:
    """Whether pdfplumber may find a well-formed table on this page (see the module's
    docstring): False only when it surely will not."""
    if page.get_rotation() % 360:
        return True  # pdfminer.six turns the page first: its rows would be our columns
    left, bottom, width, height = page.get_mediabox()
    if left or bottom:
        return True  # pdfplumber's coordinates start at the MediaBox's corner: not ours
    try:
        edges = list(_edges(page, height))
    except Unsure:
        return True
    lines = cast("Page", _Lines(edges, (0.0, 0.0, width, height)))
    tables = TableFinder(lines).tables
    chars = sorted(_chars(textpage, height), key=itemgetter(1)) if tables else []
    if any(_may_be_table(table, chars) for table in tables):
        return True
    # two rules as far apart as a tolerance: pdfminer.six's numbers may tip the other way
    return _Crossings(lines, -NUDGE).intersections != _Crossings(lines, NUDGE).intersections


_Char = tuple[float, float, str]
_Cell = tuple[float, float, float, float]


class _Crossings(TableFinder):
    """Where :class:`TableFinder`'s edges cross with its tolerances ``nudge`` points wider
    (narrower, for a negative one) and its shortest edges as much shorter: its cells and
    tables are made of these alone, so where they are the same to the last bit with both
    nudges, no decision of the finder's was a near thing."""

    def __init__(self, lines: Page, nudge: float) -> None:
        default = TableSettings()
        self.page = lines
        self.settings = TableSettings.resolve(
            {
                "snap_tolerance": float(default.snap_tolerance) + nudge,
                "join_tolerance": float(default.join_tolerance) + nudge,
                "intersection_tolerance": float(default.intersection_tolerance) + nudge,
                "edge_min_length": float(default.edge_min_length) - nudge,
                "edge_min_length_prefilter": float(default.edge_min_length_prefilter) - nudge,
            }
        )
        self.edges = self.get_edges()
        self.intersections = edges_to_intersections(
            self.edges,
            self.settings.intersection_x_tolerance,
            self.settings.intersection_y_tolerance,
        )


def _may_be_table(table: Table, chars: list[_Char]) -> bool:
    """Whether the grid, its cells filled as pdfplumber fills them (with the characters
    whose centre is inside), may be a table :func:`well_formed` keeps. A character too near
    a cell's side to be sure (:data:`BORDER`) is tried both in the cell and out of it,
    each way with each other such character, up to :data:`MAX_READINGS` ways (more: not
    sure). ``chars``: sorted from the top of the page down."""
    tops = [c[1] for c in chars]
    sure: dict[tuple[int, int], list[_Char]] = {}
    maybe: list[tuple[tuple[int, int], _Char]] = []
    for r, row in enumerate(table.rows):
        _, top, _, bottom = row.bbox
        in_row = sorted(chars[bisect_left(tops, top - BORDER) : bisect_left(tops, bottom + BORDER)])
        xs = [ch[0] for ch in in_row]  # from left to right
        for c, cell in enumerate(row.cells):
            if cell is None:
                continue
            sure[r, c] = []
            for ch in in_row[bisect_left(xs, cell[0] - BORDER) : bisect_left(xs, cell[2] + BORDER)]:
                if _within(ch, cell, -BORDER):
                    sure[r, c].append(ch)
                elif _within(ch, cell, BORDER):
                    maybe.append(((r, c), ch))
    if 2 ** len(maybe) > MAX_READINGS:
        return True
    for taken in itertools.product((False, True), repeat=len(maybe)):
        cells = {at: list(inside) for at, inside in sure.items()}
        for (at, char), take in zip(maybe, taken, strict=True):
            if take:
                cells[at].append(char)
        grid = [
            [_text(cells.get((r, c))) for c in range(len(row.cells))]
            for r, row in enumerate(table.rows)
        ]
        if well_formed(grid, set()) is not None:
            return True
    return False


def _text(chars: list[_Char] | None) -> str | None:
    """A cell's text: its characters from left to right (None: no cell)."""
    return None if chars is None else "".join(c[2] for c in sorted(chars))


def _within(char: _Char, box: _Cell, margin: float) -> bool:
    """Whether the character's centre is inside the box grown by ``margin`` on each side
    (shrunk, for a negative one); half-open, as pdfplumber's test."""
    x, y, _ = char
    x0, top, x1, bottom = box
    return x0 - margin <= x < x1 + margin and top - margin <= y < bottom + margin


def _chars(textpage: pdfium.PdfTextPage, height: float) -> Iterator[tuple[float, float, str]]:
    """The page's visible characters: the centre of each one's box, from the top of the
    page down (pdfplumber's coordinates), and the character."""
    raw = textpage.raw
    box = pdfium_c.FS_RECTF()
    for index in range(pdfium_c.FPDFText_CountChars(raw)):
        code = pdfium_c.FPDFText_GetUnicode(raw, index)
        char = chr(code) if code else "x"  # no Unicode: pdfminer.six writes "(cid:N)"
        char = "-" if char in "\ufffe\x02" else char  # a hyphen pdfium marked as cut
        if char.isspace():
            continue
        if not pdfium_c.FPDFText_GetLooseCharBox(raw, index, box):
            continue
        yield (box.left + box.right) / 2, height - (box.top + box.bottom) / 2, char


def _edges(page: pdfium.PdfPage, height: float) -> Iterator[_Edge]:
    """The page's edges as pdfplumber makes them of pdfminer.six's lines, rectangles and
    curves, with top-down coordinates."""
    for points, closed_shape in _subpaths(
        page.raw, pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject, _IDENTITY, 0
    ):
        yield from _shape_edges(points, closed_shape, height)


def _subpaths(
    parent: Any, count: Any, get: Any, outer: _Matrix, depth: int
) -> Iterator[tuple[list[_Point], str]]:
    matrix = pdfium_c.FS_MATRIX()
    for i in range(count(parent)):
        obj = get(parent, i)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind not in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_FORM):
            continue
        if not pdfium_c.FPDFPageObj_GetMatrix(obj, matrix):
            raise Unsure
        own = _times((matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f), outer)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            if depth + 1 < MAX_DEPTH:
                yield from _subpaths(
                    obj,
                    pdfium_c.FPDFFormObj_CountObjects,
                    pdfium_c.FPDFFormObj_GetObject,
                    own,
                    depth + 1,
                )
            elif pdfium_c.FPDFFormObj_CountObjects(obj) > 0:
                raise Unsure
        elif _painted(obj):
            yield from _path(obj, own)


def _painted(path: Any) -> bool:
    """Whether the path is filled or stroked (a path that only clips is not drawn, and
    pdfminer.six does not see it)."""
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    if not pdfium_c.FPDFPath_GetDrawMode(path, fill, stroke):
        raise Unsure
    return fill.value != pdfium_c.FPDF_FILLMODE_NONE or bool(stroke.value)


def _path(path: Any, matrix: _Matrix) -> Iterator[tuple[list[_Point], str]]:
    """Each subpath as pdfminer.six's ``paint_path`` sees it: its points (a curve's end
    points only), through the matrix, and its shape ("m", "l", "c", "h" per operation)."""
    x, y = ctypes.c_float(), ctypes.c_float()
    points: list[_Point] = []
    shape: list[str] = []
    bezier = 0
    for i in range(pdfium_c.FPDFPath_CountSegments(path)):
        segment = pdfium_c.FPDFPath_GetPathSegment(path, i)
        if not segment or not pdfium_c.FPDFPathSegment_GetPoint(segment, x, y):
            raise Unsure
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == _MOVE:
            if points:
                yield points, "".join(shape)
            points, shape, bezier = [], [], 0
        elif kind == _BEZIER:
            bezier += 1
            if bezier % 3:  # a control point: pdfminer.six keeps the end point only
                continue
        elif kind != _LINE:
            raise Unsure
        if not points and kind != _MOVE:
            raise Unsure  # a path that does not begin with "m": pdfminer.six drops it
        points.append(_apply(matrix, x.value, y.value))
        shape.append({_MOVE: "m", _LINE: "l", _BEZIER: "c"}[kind])
        if pdfium_c.FPDFPathSegment_GetClose(segment):
            points.append(points[0])
            shape.append("h")
    if points:
        yield points, "".join(shape)


def _shape_edges(points: list[_Point], shape: str, height: float) -> Iterator[_Edge]:
    """pdfminer.six's object for one subpath (a line, a rectangle or a curve) as
    pdfplumber's edges."""
    if len(shape) > 3 and shape[-2:] == "lh" and points[-2] == points[0]:
        shape, points = shape[:-2] + "h", points[:-2] + points[-1:]
    if shape in ("ml", "mlh"):
        (ax, ay), (bx, by) = points[0], points[1]
        yield _edge("line", ax, ay, bx, by, height, "h" if ay == by else "v")
    elif shape in ("mlllh", "mllll") and _rectangle(points):
        (ax, ay), (bx, by) = points[0], points[2]
        x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        yield _edge("rect_edge", x0, y1, x1, y1, height, "h")
        yield _edge("rect_edge", x0, y0, x1, y0, height, "h")
        yield _edge("rect_edge", x0, y0, x0, y1, height, "v")
        yield _edge("rect_edge", x1, y0, x1, y1, height, "v")
    elif len(points) > 1:
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            if ax == bx or ay == by:  # a slanted one is no table's (the finder drops it)
                orientation = "v" if ax == bx else "h"
                yield _edge("curve_edge", ax, ay, bx, by, height, orientation)


def _rectangle(points: list[_Point]) -> bool:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3), end = points[:5]
    square = (x0 == x1 and y1 == y2 and x2 == x3 and y3 == y0) or (
        y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0
    )
    return points[0] == end and square


def _edge(
    kind: str, ax: float, ay: float, bx: float, by: float, height: float, orientation: str | None
) -> _Edge:
    x0, x1 = min(ax, bx), max(ax, bx)
    top, bottom = height - max(ay, by), height - min(ay, by)
    return {
        "object_type": kind,
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "doctop": top,
        "width": x1 - x0,
        "height": bottom - top,
        "orientation": orientation,
    }


def _apply(m: _Matrix, x: float, y: float) -> _Point:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _times(inner: _Matrix, outer: _Matrix) -> _Matrix:
    """``inner`` then ``outer`` (a point in a form's space, then the form's matrix)."""
    a, b, c, d, e, f = inner
    p, q, r, s, t, u = outer
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )
