"""Tables inside PDFs (issues 23 and h68): what finding them costs the PDF loader, and how
many of the grids pdfplumber proposes are kept as tables.

    python bench/pdf_tables.py                      # documents/pdf and the 20 SEC 10-Qs
    python bench/pdf_tables.py --folder ~/pdfs --folder ~/more
    python bench/pdf_tables.py --ungated            # also pdfplumber on every page (slow)
    python bench/pdf_tables.py check                # the grid filter changes no output

Each PDF of each folder (and a report with two ruled tables and an unruled one, written
here with reportlab) is read these ways, in the same run, the first three taking turns:

* ``off_s``: the PDF loader without looking for tables (:func:`sabio.loaders.pdf.read_pdf`
  with ``tables=False``: the loader before tables, the baseline);
* ``unfiltered_s``: the loader with every page whose rules cross read by pdfplumber
  (``grid_filter=False``: the finder before h68; ``unfiltered_plumber_pages`` counts them);
* ``loader_s``: the PDF loader, tables included (pdfplumber reads only the pages whose
  grids :mod:`sabio.loaders.pdf_grid` finds may hold a table: ``plumber_pages``);
* ``text_s``: pdfium's text of every page alone;
* ``plumber_s`` (``--ungated``): pdfplumber's ``find_tables`` on every page (what reading
  every page with it would cost).

Times are CPU seconds of this process (``time.process_time``: the machine is shared, and
wall-clock time counts the other processes' turns), the fastest of ``--repeat`` runs.
Reported per folder: the times, ``loader_over_off`` and ``unfiltered_over_off``, the files
the loader reads differently with the grid filter than without it (``differ``: must be
none), the grids pdfplumber proposes and the tables the loader keeps (page, caption,
rows); and whether the written report's tables came back cell for cell. Results go to
bench/results/pdf-tables-*.json. ``check`` only reads each PDF with and without the grid
filter and lists those whose document (text, tables, metadata, or error) differs; it exits
1 when one does.
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
from pdfplumber.page import Page
from reportlab.lib import colors
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table
from reportlab.platypus.flowables import Spacer

from sabio.errors import LoadError
from sabio.loaders import Blob, OcrOptions, load_document
from sabio.loaders.pdf import read_pdf
from sabio.loaders.pdf_tables import PDFMINER_FAILURES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = [SHARED / "documents" / "pdf", SHARED / "rag_qa" / "docugami_sec10q"]
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


class _PagesRead:
    """Counts the pages pdfplumber is asked for tables (a spy on pdfplumber's
    ``Page.find_tables``, which still runs)."""

    def __init__(self) -> None:
        self.count = 0
        self._find = Page.find_tables

    def __enter__(self) -> _PagesRead:
        def find(page: Page, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return self._find(page, *args, **kwargs)

        Page.find_tables = find  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Page.find_tables = self._find  # type: ignore[method-assign]


def _timed(fn: Any, path: Path) -> tuple[float, Any]:
    start = time.process_time()
    try:
        value = fn(path)
    except (LoadError, pdfium.PdfiumError, *PDFMINER_FAILURES) as exc:  # a damaged PDF:
        value = exc  # timed all the same, counted as nothing
    return time.process_time() - start, value


_WAYS = {"off_s": (False, True), "unfiltered_s": (True, False), "loader_s": (True, True)}
"""How each timed reading calls :func:`read_pdf`: ``(tables, grid_filter)``."""


def _read(key: str) -> Any:
    tables, grid_filter = _WAYS[key]
    return lambda path: read_pdf(
        Blob.from_path(path, ocr=OcrOptions(program="")), tables, grid_filter
    )


def _file(path: Path, repeat: int, ungated: bool) -> dict[str, Any]:
    best = dict.fromkeys(_WAYS, float("inf"))
    docs: dict[str, Any] = {}
    pages_read: dict[str, int] = {}
    for run in range(repeat):
        order = list(_WAYS)[run % len(_WAYS) :] + list(_WAYS)[: run % len(_WAYS)]
        for key in order:
            with _PagesRead() as read:
                seconds, docs[key] = _timed(_read(key), path)
            best[key] = min(best[key], seconds)
            pages_read[key] = read.count
    text_s, _ = _timed(_text, path)
    plumber_s, proposed = _timed(_plumber, path) if ungated else (0.0, 0)
    doc = docs["loader_s"]
    failed = isinstance(doc, Exception)
    kept = [] if failed else [s for s in doc.sections if s.kind == "table"]
    return {
        "file": path.name,
        "pages": 0 if failed else doc.pages,
        **{key: round(seconds, 4) for key, seconds in best.items()},
        "text_s": round(text_s, 4),
        "plumber_s": round(plumber_s, 4),
        "plumber_pages": pages_read["loader_s"],
        "unfiltered_plumber_pages": pages_read["unfiltered_s"],
        "same": _same(docs["unfiltered_s"], doc),
        "proposed": proposed if isinstance(proposed, int) else 0,
        "kept": [(s.page, s.heading, len(s.text.splitlines())) for s in kept],
        "error": type(doc).__name__ if isinstance(doc, LoadError) else "",
    }


def _same(a: Any, b: Any) -> bool:
    """Whether two readings of a PDF are the same document (or failed alike)."""
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return bool(a == b)


def measure(paths: list[Path], repeat: int = 1, ungated: bool = False) -> dict[str, Any]:
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    rows = [_file(path, repeat, ungated) for path in paths]
    keys = (*_WAYS, "text_s")
    totals = {k: round(sum(r[k] for r in rows), 3) for k in keys}
    if ungated:
        totals["plumber_s"] = round(sum(r["plumber_s"] for r in rows), 3)
    pages = sum(r["pages"] for r in rows)
    off = max(totals["off_s"], 1e-9)
    return {
        "files": rows,
        "pages": pages,
        "totals": totals,
        "loader_over_off": round(totals["loader_s"] / off, 2),
        "unfiltered_over_off": round(totals["unfiltered_s"] / off, 2),
        "pages_per_cpu_s": {
            k.removesuffix("_s"): round(pages / max(totals[k], 1e-9), 1) for k in _WAYS
        },
        "plumber_pages": sum(r["plumber_pages"] for r in rows),
        "unfiltered_plumber_pages": sum(r["unfiltered_plumber_pages"] for r in rows),
        "differ": [r["file"] for r in rows if not r["same"]],
        "proposed": sum(r["proposed"] for r in rows),
        "kept": sum(len(r["kept"]) for r in rows),
    }


def check(paths: list[Path]) -> list[str]:
    """The PDFs that :func:`read_pdf` reads differently with the grid filter than without
    it (tables, text, metadata, or the error): none, or the filter is wrong."""
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    differ = []
    for path in paths:
        _, unfiltered = _timed(_read("unfiltered_s"), path)
        _, filtered = _timed(_read("loader_s"), path)
        if not _same(unfiltered, filtered):
            differ.append(str(path))
            print("DIFFERS", path, flush=True)
    return differ


def _round_trip(path: Path) -> bool:
    doc = load_document(Blob.from_path(path))
    tables = [[line.split(" | ") for line in s.text.splitlines()] for s in doc.sections]
    return [t for t, s in zip(tables, doc.sections, strict=True) if s.kind == "table"] == RULED


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=["measure", "check"], default="measure")
    parser.add_argument("--folder", type=Path, action="append")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ungated", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        report = _report(Path(tmp) / "report.pdf")
        if args.command == "check":
            folders = args.folder or FOLDERS
            paths = [report, *(p for f in folders for p in sorted(f.rglob("*.pdf")))]
            differ = check(paths)
            print(f"{len(paths)} PDFs, {len(differ)} read differently with the grid filter")
            raise SystemExit(1 if differ else 0)
        result["report_tables_exact"] = _round_trip(report)
        for folder in [*(args.folder or FOLDERS), None]:
            paths = sorted(folder.rglob("*.pdf")) if folder else [report]
            name = str(folder) if folder else "report.pdf"
            result[name] = measure(paths, args.repeat, args.ungated)
            for row in result[name]["files"]:
                if row["proposed"] or row["kept"]:
                    print(f"{row['file']:40} proposed {row['proposed']:3}  kept {row['kept']}")
            summary = {k: v for k, v in result[name].items() if k != "files"}
            print(name, json.dumps(summary, indent=2, ensure_ascii=False), flush=True)
    print("report_tables_exact", result["report_tables_exact"])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pdf-tables-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
