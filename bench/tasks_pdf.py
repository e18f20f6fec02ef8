"""Translation's structure and numbers, and summarize + translate, on a 100-page PDF.

    python bench/tasks_pdf.py structure [--pages 100]
    python bench/tasks_pdf.py translate [--pages 5] [--model embedded:smollm2]
    python bench/tasks_pdf.py run [--pages 10] [--model embedded:smollm2] [--tasks summarize]

The PDF (built with reportlab from real text, then read by Sabio as any upload: loader,
passages, ``Store.document_pages``): page N has a heading (the title of the Nth SciFact
abstract whose title fits a line, ``../shared/data/beir_scifact``), a paragraph (its first
two sentences), a bulleted list of three short sentences of later abstracts, and a table of
four counties with their population and margin of error
(``documents/csv/acs2012_5yr_population.csv``), under a header row. What
each page holds is known from how it was built, so it is scored against that, not against
what Sabio read.

``structure``: Sabio's bookkeeping alone, on every page: the segments a translation sends,
and how their translations are put back, with a "translator" at the edge that answers each
numbered line with the same text in «…» (so every piece can be found in the output).
Scored: headings, list items, table cells (header and rows) found in their place, with
their text, and numbers (every figure of the page, as many times as it is there).

``translate``: the same scores with a real model (the embedded one by default) on the first
``--pages`` pages, by position: each line of the page is a line of the output, of the same
kind (an item still an item, a row with the same figure cells), and every figure is there;
with seconds per page and the problems Sabio reported.

``run``: ``Sabio.summarize`` (generative) and ``Sabio.translate`` of the first ``--pages``
pages on the model: seconds, seconds per page, progress notes, the route, peak memory
(ru_maxrss), and whether either ran out of context (an error) — for a 100-page estimate
when 100 pages do not fit the time there is.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sabio.config import load_settings
from sabio.models import ChatModel, ChatOptions, Message
from sabio.service import Sabio
from sabio.tasks.translate import translate_document

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = DATA / "beir_scifact" / "corpus.jsonl"
COUNTIES = DATA / "documents" / "csv" / "acs2012_5yr_population.csv"
HEADER = ["County", "Population", "Margin of error"]
BULLET = "•"  # reportlab's bullet, as pdfium reads it
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Spec:
    """What a page holds, as it was built."""

    heading: str
    paragraph: str
    items: list[str]
    rows: list[list[str]]

    def figures(self) -> Counter[str]:
        cells = [c for row in self.rows for c in row]
        return Counter(_FIGURE.findall(" ".join([self.paragraph, *self.items, *cells])))


def specs(pages: int) -> list[Spec]:
    """``pages`` pages of real text: abstracts with a title that fits a line, in the
    corpus' order, for the heading and the paragraph; short sentences of the abstracts
    after them (one line each) for the items; the counties in the file's order."""
    with COUNTIES.open(encoding="utf-8") as rows:
        counties = [r for r in csv.DictReader(rows)]
    with CORPUS.open(encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines]
    usable = [d for d in docs if _drawn(d["title"]) and _drawn(" ".join(_sentences(d)[:2]))]
    chosen = [d for d in usable if len(d["title"]) <= 60 and len(_sentences(d)) >= 2][:pages]
    pool = iter(
        s for d in docs[len(chosen) :] for s in _sentences(d)[2:] if 30 <= len(s) <= 75 if _drawn(s)
    )
    found: list[Spec] = []
    for doc in chosen:
        at = 4 * len(found) % (len(counties) - 4)
        rows = [
            [c["name"], f"{int(c['total_population']):,}", c["margin_of_error"]]
            for c in counties[at : at + 4]
        ]
        items = [next(pool) for _ in range(3)]
        found.append(Spec(doc["title"], " ".join(_sentences(doc)[:2]), items, rows))
    return found


def _drawn(text: str) -> bool:
    """Whether the PDF's standard fonts have every character of ``text`` (reportlab
    draws a box for a U+2010 hyphen, say)."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _sentences(doc: dict[str, str]) -> list[str]:
    return _SENTENCE.split(" ".join(doc["text"].split()))


def build_pdf(pages: Sequence[Spec], path: Path) -> None:
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Table,
    )

    styles = getSampleStyleSheet()
    story: list[Any] = []
    for page in pages:
        items = [ListItem(Paragraph(escape(i), styles["BodyText"])) for i in page.items]
        story += [
            Paragraph(escape(page.heading), styles["Heading2"]),
            Paragraph(escape(page.paragraph), styles["BodyText"]),
            ListFlowable(items, bulletType="bullet"),
            Table([HEADER, *page.rows]),
            PageBreak(),
        ]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)


class Marking:
    """The edge "translator" of ``structure``: each numbered line back as «line»."""

    name, context_window = "marking", 2048

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        lines = messages[-1]["content"].splitlines()
        yield "\n".join(re.sub(r"^(\d+)\. (.*)$", r"\1. «\2»", line) for line in lines)
        return "stop"


def pdf_pages(pages: Sequence[Spec], home: Path, model: str) -> tuple[Sabio, int]:
    """A service over ``home`` with the PDF of ``pages`` added (its document id)."""
    path = home / "report.pdf"
    build_pdf(pages, path)
    settings = {"home": home / "data", "chat_model": model, "answer_style": "generative"}
    sabio = Sabio(load_settings(settings, environ={}))
    sabio.add([path])
    return sabio, sabio.store.list_documents(sabio.kb(None).id)[0].id


def by_page(markdown: str) -> dict[int, list[str]]:
    """The output's non-blank lines, by the page its ``<!-- page N -->`` lines say."""
    found: dict[int, list[str]] = {}
    page = 0
    for line in markdown.splitlines():
        if match := re.fullmatch(r"<!-- page (\d+) -->", line):
            page = int(match.group(1))
        elif line.strip():
            found.setdefault(page, []).append(line.strip())
    return found


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("| ").split(" | ")] if line.startswith("|") else []


def score(
    spec: Spec, source: list[str], output: list[str], marked: bool
) -> dict[str, tuple[int, int]]:
    """(kept, there were) of each kind on one page. ``source``: the page's lines as Sabio
    read them; ``output``: the translation's. ``marked``: the output is Marking's, so each
    piece must be there with its text; else each line of the page must be a line of the
    output in the same place, of the same kind."""
    aligned = len(source) == len(output)
    where = {line: n for n, line in enumerate(source)}

    def at(text: str) -> str | None:
        n = where.get(text)
        return output[n] if n is not None and aligned else None

    def kept(text: str, want: str) -> bool:
        line = at(text)
        if marked:
            return want in output
        return line is not None and bool(line) and not line.startswith(("|", BULLET))

    heading = kept(spec.heading, f"«{spec.heading}»")
    items = 0
    for item in spec.items:
        line = at(f"{BULLET} {item}")
        if marked:
            items += f"{BULLET} «{item}»" in output
        else:
            items += line is not None and line.startswith(f"{BULLET} ") and len(line) > 2
    header = " ".join(HEADER)
    cells = 3 * kept(header, f"«{header}»")
    for row in spec.rows:
        line = at(" ".join(row))
        got = _cells(line) if line is not None else []
        if marked:
            got = next((_cells(o) for o in output if _cells(o)[1:] == row[1:]), [])
            want = [f"«{row[0]}»", *row[1:]]
        else:
            want = [got[0] if got else "", *row[1:]]
        cells += sum(a == b and bool(a) for a, b in zip(got, want, strict=False))
    have = Counter(_FIGURE.findall(" ".join(output)))
    figures = spec.figures()
    numbers = sum(min(n, have[f]) for f, n in figures.items())
    return {
        "headings": (int(heading), 1),
        "items": (items, len(spec.items)),
        "cells": (cells, 3 * (1 + len(spec.rows))),
        "numbers": (numbers, sum(figures.values())),
    }


def translated(args: argparse.Namespace, model: ChatModel | None) -> dict[str, object]:
    pages = specs(args.pages)
    with tempfile.TemporaryDirectory() as home:
        sabio, doc_id = pdf_pages(pages, Path(home), "embedded:smollm2")
        try:
            read = sabio.store.document_pages(sabio.kb(None).id, doc_id)
            chat = model or sabio.chat_model(args.model)
            started = time.perf_counter()
            notes: list[str] = []
            found = translate_document(chat, read, "es", progress=notes.append)
            seconds = time.perf_counter() - started
        finally:
            sabio.close()
    return {
        "task": "structure" if model is not None else "translate",
        "model": chat.name,
        "pages": len(pages),
        **kept_structure(read, pages, found.markdown, marked=model is not None),
        "segments": found.segments,
        "calls": found.calls,
        "problems": found.problems,
        "route": found.route.describe(),
        "seconds": round(seconds, 1),
        "seconds_per_page": round(seconds / len(pages), 3),
        "progress_notes": len(notes),
    }


def kept_structure(
    read: Sequence[tuple[int | None, str]], pages: Sequence[Spec], markdown: str, *, marked: bool
) -> dict[str, object]:
    """Headings, items, cells and numbers kept in ``markdown`` over all ``pages`` (the
    ``_kept`` and ``_total`` of each), and the pages where something was lost."""
    out = by_page(markdown)
    totals: Counter[str] = Counter()
    pages_with_loss = []
    for (number, text), spec in zip(read, pages, strict=True):
        source = [line.strip() for line in text.splitlines() if line.strip()]
        page = score(spec, source, out.get(number or 0, []), marked)
        for kind, (kept, there) in page.items():
            totals[f"{kind}_kept"] += kept
            totals[f"{kind}_total"] += there
        if any(kept < there for kept, there in page.values()):
            pages_with_loss.append(number)
    return {**{k: totals[k] for k in sorted(totals)}, "pages_with_loss": pages_with_loss}


def run(args: argparse.Namespace) -> dict[str, object]:
    """Summarize and translate the PDF's first ``--pages`` pages through the service."""
    result: dict[str, object] = {"task": "run", "model": args.model, "pages": args.pages}
    with tempfile.TemporaryDirectory() as home:
        pages = specs(args.pages)
        sabio, doc_id = pdf_pages(pages, Path(home), args.model)
        try:
            for what in args.tasks.split(","):
                result[what] = _timed(sabio, doc_id, what, args)
            translation = result.get("translate")
            if isinstance(translation, dict) and "markdown" in translation:
                read = sabio.store.document_pages(sabio.kb(None).id, doc_id)
                markdown = str(translation.pop("markdown"))
                translation.update(kept_structure(read, pages, markdown, marked=False))
                if args.out:
                    Path(args.out).with_suffix(".md").write_text(markdown, encoding="utf-8")
        finally:
            sabio.close()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return result


def _timed(sabio: Sabio, doc_id: int, what: str, args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    notes: list[tuple[float, str]] = []

    def note(text: str) -> None:
        notes.append((time.perf_counter() - started, text))
        print(f"{notes[-1][0]:7.1f} s  {what}: {text}", file=sys.stderr, flush=True)

    error = ""
    route: dict[str, Any] = {}
    extra: dict[str, object] = {}
    try:
        if what == "summarize":
            _, summary = sabio.summarize(str(doc_id), model=args.model, progress=note)
            route = asdict(summary.route)
        else:
            _, translation = sabio.translate(str(doc_id), "es", model=args.model, progress=note)
            route = asdict(translation.route)
            extra = {
                "segments": translation.segments,
                "calls": translation.calls,
                "problems": translation.problems,
                "markdown": translation.markdown,
            }
    except Exception as exc:  # out of context or memory is what this looks for: say it
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 1),
        "seconds_per_page": round(seconds / args.pages, 2),
        "first_progress_s": round(notes[0][0], 2) if notes else None,
        "progress_notes": len(notes),
        "route": route,
        "error": error,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("structure", "translate", "run"))
    parser.add_argument("--pages", type=int, default=0)
    parser.add_argument("--model", default="embedded:smollm2")
    parser.add_argument("--tasks", default="summarize,translate", help="run: which, in order")
    parser.add_argument(
        "--out",
        default="",
        help="also write the JSON result to this file (run: and the "
        "translation, as Markdown, next to it with .md)",
    )
    args = parser.parse_args()
    if args.what == "structure":
        args.pages = args.pages or 100
        result = translated(args, Marking())
    elif args.what == "translate":
        args.pages = args.pages or 5
        result = translated(args, None)
    else:
        args.pages = args.pages or 10
        result = run(args)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
