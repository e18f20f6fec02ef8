"""The PDF loader's grid filter (sabio.loaders.pdf_grid): it keeps from pdfplumber the pages
whose grids surely hold no table the loader keeps, and changes nothing the loader reads.
Over real PDFs written with reportlab, read by the real loader with and without it."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table

from sabio.loaders import Blob, LoadedDocument, OcrOptions
from sabio.loaders.pdf import read_pdf
from sabio.loaders.pdf_grid import may_hold_table

GRID = [("GRID", (0, 0), (-1, -1), 0.5, colors.black)]
SALES = [
    ["Provincia", "Fecha", "Importe"],
    ["Madrid", "03/01/2023", "1.234,50 €"],
    ["Sevilla", "15/02/2023", "980,00 €"],
]
STATEMENT = [  # a financial statement's block: its first row is figures, not names
    ["Net sales", "$", "49,278", "$", "51,496"],
    ["Cost of sales", "", "29,010", "", "30,353"],
    ["Gross margin", "", "20,268", "", "21,143"],
]
LAYOUT = [["Informe", "", ""], ["", "", ""], ["", "", "pie"]]  # mostly empty: layout
TEXT = "Las ventas del trimestre por provincia fueron las que siguen, según el cuadro."


def _pdf(path: Path, *story: Flowable, rotate: int = 0) -> Path:
    SimpleDocTemplate(str(path), pagesize=A4).build(list(story))
    if rotate:  # each page turned as a viewer shows it (its /Rotate)
        pdf = pdfium.PdfDocument(path.read_bytes())
        for page in pdf:
            page.set_rotation(rotate)
        pdf.save(path)
        pdf.close()
    return path


def _ruled(rows: list[list[str]], *style: tuple[object, ...]) -> Table:
    return Table(rows, style=[*GRID, *style])


def _pages(path: Path) -> list[bool]:
    """may_hold_table of each page."""
    pdf = pdfium.PdfDocument(path)
    try:
        verdicts = []
        for page in pdf:
            textpage = page.get_textpage()
            verdicts.append(may_hold_table(page, textpage))
            textpage.close()
            page.close()
        return verdicts
    finally:
        pdf.close()


def _read(path: Path, grid_filter: bool) -> LoadedDocument:
    return read_pdf(Blob.from_path(path, ocr=OcrOptions(program="")), True, grid_filter)


def _mixed(path: Path, rotate: int = 0) -> Path:
    normal = getSampleStyleSheet()["Normal"]
    shaded = ("ROWBACKGROUNDS", (0, 0), (-1, -1), [colors.whitesmoke, colors.lightgrey])
    return _pdf(
        path,
        Paragraph(TEXT, normal),
        Paragraph("Tabla 1. Ventas por provincia", normal),
        _ruled(SALES),
        PageBreak(),
        Paragraph(TEXT, normal),
        _ruled(STATEMENT),
        Spacer(1, 12),
        _ruled(LAYOUT),
        PageBreak(),
        Paragraph(TEXT, normal),
        _ruled([["Mes", "Altas"], ["enero", "3"], ["febrero", "4"]], shaded),
        PageBreak(),
        Paragraph(TEXT, normal),
        _ruled(STATEMENT, shaded),
        rotate=rotate,
    )


def test_only_pages_whose_grids_may_be_tables_go_to_pdfplumber(tmp_path: Path) -> None:
    assert _pages(_mixed(tmp_path / "mixto.pdf")) == [True, False, True, False]


def test_a_turned_page_goes_to_pdfplumber_unsure(tmp_path: Path) -> None:
    assert _pages(_mixed(tmp_path / "girado.pdf", rotate=90)) == [True, True, True, True]


@pytest.mark.parametrize("rotate", [0, 90])
def test_the_loader_reads_the_same_with_and_without_the_filter(tmp_path: Path, rotate: int) -> None:
    path = _mixed(tmp_path / "mixto.pdf", rotate)
    filtered = _read(path, grid_filter=True)
    assert filtered == _read(path, grid_filter=False)
    tables = [s.text.splitlines()[0] for s in filtered.sections if s.kind == "table"]
    assert len(tables) == 2
    if not rotate:  # (pdfplumber reads a turned page's table turned: its columns as rows)
        assert tables == ["Provincia | Fecha | Importe", "Mes | Altas"]


def _cells(
    path: Path, rows: list[list[str]] = STATEMENT, on_line: str = "", rule_under: float = 0
) -> Path:
    """A grid drawn cell by cell as rectangles; ``on_line`` written across the line between
    the first row's first two cells, and a rule drawn ``rule_under`` points under them."""
    canvas = Canvas(str(path))
    if rule_under:
        canvas.line(72, 660 - rule_under, 472, 660 - rule_under)
    canvas.drawString(72, 760, TEXT)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            canvas.rect(72 + c * 80, 700 - r * 20, 80, 20)
            canvas.drawString(76 + c * 80, 706 - r * 20, text)
    canvas.drawCentredString(72 + 80, 706, on_line)  # its centre on the line: which cell?
    canvas.save()
    return path


FIGURES = [["", "1"], ["a", "2"], ["b", "3"]]  # no name over the figures: not a table


def test_a_character_on_a_grid_line_is_tried_in_each_cell(tmp_path: Path) -> None:
    assert _pages(_cells(tmp_path / "celdas.pdf")) == [False]
    assert _pages(_cells(tmp_path / "cifras.pdf", FIGURES)) == [False]
    path = _cells(tmp_path / "dolar.pdf", on_line="$")  # no reading of it makes a table
    assert _pages(path) == [False]
    assert _read(path, grid_filter=True) == _read(path, grid_filter=False)
    path = _cells(tmp_path / "nombre.pdf", FIGURES, on_line="x")  # "x1" names a column
    assert _pages(path) == [True]
    filtered = _read(path, grid_filter=True)
    assert filtered == _read(path, grid_filter=False)
    assert [s.text for s in filtered.sections if s.kind == "table"] == [" | x1\na | 2\nb | 3"]


@pytest.mark.parametrize(("under", "sure"), [(2.0, True), (3.0, False), (4.0, True)])
def test_a_rule_a_tolerance_away_from_the_grid_makes_the_filter_unsure(
    tmp_path: Path, under: float, sure: bool
) -> None:
    """pdfplumber snaps rules at most 3 points apart: at 3 its answer is one rounding away
    from another (pdfium's coordinates are not pdfminer.six's to the last bit)."""
    path = _cells(tmp_path / "regla.pdf", rule_under=under)
    assert _pages(path) == [not sure]
    assert _read(path, grid_filter=True) == _read(path, grid_filter=False)
