"""Extraction to JSON: schema-valid rate, field accuracy, seconds per page.

    python bench/extract.py [--model embedded:smollm2] [--pages 2] [--limit 20]

Documents: the Docugami 10-Qs in ``../shared/data/rag_qa/docugami_sec10q/docs`` (files
named "2023 Q3 AAPL.pdf"), their first ``--pages`` pages (the cover: company and period),
read with pypdfium2. Labels come from the file names and the companies' legal names, not
from Sabio: company (the name must contain the company's legal name's first word) and
fiscal quarter end (the year must appear in the extracted date). The same schema is given
to every backend; validity is checked with jsonschema here, independently of Sabio's own
check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jsonschema

from sabio.config import load_settings
from sabio.models import get_chat_model
from sabio.tasks.extract import extract_document

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "rag_qa" / "docugami_sec10q"
LEGAL_NAMES = {
    "AAPL": "apple",
    "AMZN": "amazon",
    "INTC": "intel",
    "MSFT": "microsoft",
    "NVDA": "nvidia",
}
SCHEMA = {
    "type": "object",
    "properties": {
        "company": {"type": "string", "description": "the registrant's legal name"},
        "form": {"type": "string", "enum": ["10-Q", "10-K", "8-K", "other"]},
        "period_end": {"type": "string", "description": "the quarter's last day"},
        "commission_file_number": {"type": ["string", "null"]},
    },
    "required": ["company", "form", "period_end", "commission_file_number"],
}


def cover_pages(path: Path, count: int) -> list[tuple[int | None, str]]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        return [
            (i + 1, pdf[i].get_textpage().get_text_range()) for i in range(min(count, len(pdf)))
        ]
    finally:
        pdf.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded:smollm2")
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    model = get_chat_model(load_settings({}, environ={}), args.model)
    rows = []
    pages_read = 0
    start = time.perf_counter()
    for path in sorted((FOLDER / "docs").glob("*.pdf"))[: args.limit]:
        year, _, ticker = path.stem.split()
        pages = cover_pages(path, args.pages)
        pages_read += len(pages)
        found = extract_document(model, pages, SCHEMA, title=path.stem)
        try:
            jsonschema.validate(found.data, SCHEMA)
            valid = True
        except jsonschema.ValidationError:
            valid = False
        data = found.data or {}
        company_ok = LEGAL_NAMES[ticker] in str(data.get("company", "")).lower()
        period_ok = year in str(data.get("period_end", ""))
        form_ok = data.get("form") == "10-Q"
        rows.append((path.name, valid, company_ok, period_ok, form_ok, found.unlocated))
        print(json.dumps({"document": path.name, "data": data, "valid": valid}), file=sys.stderr)
    seconds = time.perf_counter() - start
    n = len(rows) or 1
    print(f"model {args.model}: {len(rows)} documents, {pages_read} pages")
    print(f"schema-valid {sum(r[1] for r in rows) / n:.2f} (Sabio said valid: see stderr)")
    print(
        f"field accuracy: company {sum(r[2] for r in rows) / n:.2f}, period year "
        f"{sum(r[3] for r in rows) / n:.2f}, form {sum(r[4] for r in rows) / n:.2f}"
    )
    print(f"values found on no page: {sum(len(r[5]) for r in rows)}")
    print(f"{seconds / max(1, pages_read):.1f} s per page ({seconds:.0f} s in all)")


if __name__ == "__main__":
    main()
