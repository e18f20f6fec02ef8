"""Tables inside PDFs (issue 23): what finding them costs the PDF loader, and how many of
the grids pdfplumber proposes are kept as tables.

    python bench/pdf_tables.py                      # ../shared/data/documents/pdf
    python bench/pdf_tables.py --folder ~/pdfs

Each PDF of the folder (and a report with two ruled tables and an unruled one, written
here with reportlab) is read three ways, in the same run:

* ``text_s``: pdfium's text of every page alone (the loader before tables, the baseline);
* ``loader_s``: :func:`sabio.loaders.load_document`, tables included (only the pages that
  draw lines across and down are read again by pdfplumber);
* ``plumber_s``: pdfplumber's ``find_tables`` on every page, ungated (what reading every
  page with it would cost).

Reported: the times and the ratios ``loader_s / text_s`` and ``plumber_s / text_s``; the
grids pdfplumber proposes and the tables the loader keeps; and whether the written
report's tables came back cell for cell. Results go to bench/results/pdf-tables-*.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import pdfplumber
import pypdfium2 as pdfium
from reportlab.lib import colors
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table
from reportlab.platypus.flowables import Spacer

from sabio.errors import LoadError
from sabio.loaders import Blob, OcrOptions, load_document
from sabio.loaders.pdf_tables import PDFMINER_FAILURES

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents" / "pdf"
RESULTS = Path(__file__).resolve().parent / "results"
RULED = [
    [["Provincia", "Fecha", "Importe"], ["Madrid", "03/01/2023", "1.234,50 €"]]
    + [["Sevilla", f"{d:02d}/02/2023", f"{d * 10},00 €"] for d in range(1, 25)],
    [["Year", "Visitors"], ["2022", "1,200"], ["2023", "1,350"]],
]


def _report(path: Path) -> Path:
    from reportlab.lib.styles import getSampleStyleSheet

    normal = getSampleStyleSheet()["Normal"]
    grid = [("GRID", (0, 0), (-1, -1), 0.5, colors.black)]
    story = [Paragraph("Tabla 1. Ventas por provincia", normal), Table(RULED[0], style=grid)]
    story += [Spacer(1, 12), Table([["Region", "Sales"], ["North", "1,200.50"]]), Spacer(1, 12)]
    story += [Table(RULED[1], style=grid)]
    SimpleDocTemplate(str(path)).build(story)
    return path


def _text(path: Path) -> None:
    pdf = pdfium.PdfDocument(path)
    try:
        for page in pdf:
            page.get_textpage().get_text_range()
    finally:
        pdf.close()


def _plumber(path: Path) -> int:
    with pdfplumber.open(path) as pdf:
        return sum(len(page.find_tables()) for page in pdf.pages)


def _timed(fn: Any, path: Path) -> tuple[float, Any]:
    start = time.perf_counter()
    try:
        value = fn(path)
    except (LoadError, pdfium.PdfiumError, *PDFMINER_FAILURES) as exc:  # a damaged PDF:
        value = exc  # timed all the same, counted as nothing
    return time.perf_counter() - start, value


def measure(paths: list[Path]) -> dict[str, Any]:
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    rows, totals = [], {"text_s": 0.0, "loader_s": 0.0, "plumber_s": 0.0}
    no_ocr = OcrOptions(program="")
    for path in paths:
        text_s, _ = _timed(_text, path)
        loader_s, doc = _timed(lambda p: load_document(Blob.from_path(p, ocr=no_ocr)), path)
        plumber_s, proposed = _timed(_plumber, path)
        kept = [] if isinstance(doc, Exception) else [s for s in doc.sections if s.kind == "table"]
        for key, value in (("text_s", text_s), ("loader_s", loader_s), ("plumber_s", plumber_s)):
            totals[key] += value
        rows.append(
            {
                "file": path.name,
                "text_s": round(text_s, 4),
                "loader_s": round(loader_s, 4),
                "plumber_s": round(plumber_s, 4),
                "proposed": proposed if isinstance(proposed, int) else 0,
                "kept": [(s.page, s.heading, len(s.text.splitlines())) for s in kept],
                "error": type(doc).__name__ if isinstance(doc, LoadError) else "",
            }
        )
    return {
        "files": rows,
        "totals": {k: round(v, 3) for k, v in totals.items()},
        "loader_over_text": round(totals["loader_s"] / totals["text_s"], 2),
        "plumber_over_text": round(totals["plumber_s"] / totals["text_s"], 2),
        "proposed": sum(r["proposed"] for r in rows),
        "kept": sum(len(r["kept"]) for r in rows),
    }


def _round_trip(path: Path) -> bool:
    doc = load_document(Blob.from_path(path))
    tables = [[line.split(" | ") for line in s.text.splitlines()] for s in doc.sections]
    return [t for t, s in zip(tables, doc.sections, strict=True) if s.kind == "table"] == RULED


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = _report(Path(tmp) / "report.pdf")
        paths = [*sorted(args.folder.rglob("*.pdf")), report]
        result = measure(paths)
        result["report_tables_exact"] = _round_trip(report)
    for row in result["files"]:
        if row["proposed"] or row["kept"]:
            print(f"{row['file']:40} proposed {row['proposed']:3}  kept {row['kept']}")
    summary = {k: v for k, v in result.items() if k != "files"}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pdf-tables-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
