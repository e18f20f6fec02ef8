"""Ruled tables inside PDFs kept as typed tables (sabio.loaders.pdf_tables), over real PDFs
written with reportlab, read by the real loader and kept in the real DuckDB file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table

from sabio.loaders import Blob, load_document
from sabio.loaders.pdf_tables import well_formed
from sabio.service import Sabio

SALES = [
    ["Provincia", "Fecha", "Importe"],
    ["Madrid", "03/01/2023", "1.234,50 €"],
    ["Sevilla", "15/02/2023", "980,00 €"],
    ["Álava", "01/03/2023", "2.000,25 €"],
    ["Madrid", "28/03/2023", "12,50 €"],
]
INTRO = (
    "Las ventas del trimestre por provincia fueron las que siguen, según el cuadro de abajo, "
    "que recoge cada operación con su fecha y su importe."
)


def _ruled(rows: list[list[str]]) -> Table:
    return Table(rows, style=[("GRID", (0, 0), (-1, -1), 0.5, colors.black)])


def _pdf(path: Path, *story: Flowable) -> Path:
    SimpleDocTemplate(str(path), pagesize=A4).build(list(story))
    return path


def _report(path: Path) -> Path:
    styles = getSampleStyleSheet()
    return _pdf(
        path,
        Paragraph("Informe de ventas", styles["Heading1"]),
        Paragraph(INTRO, styles["Normal"]),
        Spacer(1, 12),
        Paragraph("Tabla 1. Ventas por provincia", styles["Normal"]),
        _ruled(SALES),
        Spacer(1, 12),
        Paragraph("Las columnas sin líneas no son un cuadro que se pueda leer:", styles["Normal"]),
        Table([["Region", "Sales"], ["North", "1,200.50"], ["South", "800"]]),
        PageBreak(),
        Paragraph(INTRO, styles["Normal"]),
        Paragraph("Visitantes por año", styles["Heading2"]),  # a heading: bold, larger
        _ruled([["Year", "Visitors"], ["2022", "1,200"], ["2023", "1,350"]]),
        Spacer(1, 12),
        Paragraph("Cifras provisionales", styles["Normal"]),  # a line, not a caption
        _ruled([["Mes", "Altas"], ["enero", "3"], ["febrero", "4"]]),
    )


def test_a_ruled_table_is_a_table_section_and_not_also_page_text(tmp_path: Path) -> None:
    doc = load_document(Blob.from_path(_report(tmp_path / "ventas.pdf")))
    tables = [s for s in doc.sections if s.kind == "table"]
    assert [(t.page, t.heading) for t in tables] == [
        (1, "Tabla 1. Ventas por provincia"),
        (2, "Visitantes por año"),
        (2, ""),
    ]
    assert tables[0].text.splitlines() == [" | ".join(row) for row in SALES]
    assert tables[1].text.splitlines() == ["Year | Visitors", "2022 | 1,200", "2023 | 1,350"]
    assert tables[2].text.splitlines() == ["Mes | Altas", "enero | 3", "febrero | 4"]
    [first_page] = [s.text for s in doc.sections if s.kind == "text" and s.page == 1]
    assert "Informe de ventas" in first_page and "Tabla 1. Ventas por provincia" in first_page
    assert "1.234,50" not in first_page  # the table's rows are in its section only
    assert "North 1,200.50" in first_page  # columns lined up by spaces stay text


def test_a_pdf_table_is_kept_typed_and_answers_by_computation(sabio: Sabio, tmp_path: Path) -> None:
    sabio.add([_report(tmp_path / "ventas.pdf")])
    tables = {t.name: t for t in sabio.tables()}
    assert sorted(tables) == [
        "ventas_3",
        "ventas_tabla_1_ventas_por_provincia",
        "ventas_visitantes_por_ano",
    ]
    sales = tables["ventas_tabla_1_ventas_por_provincia"]
    assert sales.where == "ventas.pdf, p. 1, Tabla 1. Ventas por provincia"
    assert tables["ventas_visitantes_por_ano"].where == "ventas.pdf, p. 2, Visitantes por año"
    assert tables["ventas_3"].where == "ventas.pdf, p. 2"
    assert [(c.name, c.sql_type, c.unit) for c in sales.columns] == [
        ("provincia", "VARCHAR", ""),
        ("fecha", "DATE", ""),
        ("importe", "DECIMAL(38,2)", "EUR"),
    ]
    sql = f"SELECT provincia, sum(importe) FROM {sales.name} GROUP BY 1 ORDER BY 1"
    _, result = sabio.query_tables(sql)
    assert result.rows == [
        ("Madrid", Decimal("1247.00")),
        ("Sevilla", Decimal("980.00")),
        ("Álava", Decimal("2000.25")),
    ]
    _, visitors = sabio.query_tables("SELECT sum(visitors) FROM ventas_visitantes_por_ano")
    assert visitors.rows == [(2550,)]


def test_a_table_drawn_cell_by_cell_as_rectangles_is_found(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(tmp_path / "celdas.pdf"))
    page.drawString(72, 760, INTRO[:90])
    for r, row in enumerate([["Mes", "Altas"], ["enero", "3"], ["febrero", "4"]]):
        for c, text in enumerate(row):
            page.rect(72 + c * 100, 700 - r * 20, 100, 20)
            page.drawString(76 + c * 100, 706 - r * 20, text)
    page.save()
    doc = load_document(Blob.from_path(tmp_path / "celdas.pdf"))
    [table] = [s for s in doc.sections if s.kind == "table"]
    assert table.text.splitlines() == ["Mes | Altas", "enero | 3", "febrero | 4"]


def test_a_pdf_without_ruled_tables_has_none(tmp_path: Path) -> None:
    styles = getSampleStyleSheet()
    path = _pdf(
        tmp_path / "texto.pdf",
        Paragraph(INTRO, styles["Normal"]),
        Table([["Region", "Sales"], ["North", "1,200.50"], ["South", "800"]]),
    )
    doc = load_document(Blob.from_path(path))
    assert [s.kind for s in doc.sections] == ["text"]


@pytest.mark.parametrize(
    ("grid", "kept"),
    [
        (
            [["Año", "Total"], ["2023", "1.200"], [None, None]],
            [["Año", "Total"], ["2023", "1.200"]],
        ),
        ([["Año", None, "Total"], ["2023", None, "5"]], [["Año", "Total"], ["2023", "5"]]),
        ([["", "Norte", "Sur"], ["2023", "1", "2"]], [["", "Norte", "Sur"], ["2023", "1", "2"]]),
        ([["Año", "Total"]], None),  # no row under the header
        ([["Solo"], ["una"], ["columna"]], None),
        ([["", "", "Total"], ["2023", "1", "2"]], None),  # a header with two holes
        ([["a", "b", "c"], ["1", "", ""], ["", "", "3"]], None),  # mostly empty: a layout grid
        ([["Figura 3. " + "un pie de figura largo " * 6, "x"], ["1", "2"]], None),
        ([["Este acuerdo h", "ace constar"], ["que amb", "as partes"]], None),  # words cut
        ([["nombre", "mes"], ["ana", "enero"], ["luis", "marzo"]], "same"),  # lowercase, whole
        ([["Net sales", "$", "49,278", "51,496"], ["Cost", "$", "29,010", "30,353"]], None),
        ([["Región", "2022", "2023"], ["Norte", "1", "2"]], "same"),  # years name columns
    ],
)
def test_only_well_formed_grids_are_tables(
    grid: list[list[str | None]], kept: list[list[str]] | str | None
) -> None:
    words = set("Este acuerdo hace constar que ambas partes nombre mes ana enero".split())
    assert well_formed(grid, words) == (grid if kept == "same" else kept)
