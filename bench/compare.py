"""Compare: share of the edits made to real documents that `compare_documents` finds, with
the right page on both sides.

    python bench/compare.py [--pairs 10] [--edits 20] [--seed 7]

Documents: the Docugami 10-Q PDFs (pages from pypdfium2). For each, a copy is edited at
random sentences of random pages, the edits recorded: a figure changed, a word replaced,
a sentence deleted, a sentence inserted (a sentence of another report). An edit is found
when a change of its kind (a replaced figure or word: "changed", or a removal or an
addition paired as one) names its sentence on its page. Also: changes reported that match
no edit (false alarms), and seconds per pair.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from sabio.facts import sentences
from sabio.tasks.compare import compare_documents

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "rag_qa" / "docugami_sec10q"
KINDS = ("figure", "word", "delete", "insert")


def pages_of(path: Path) -> list[tuple[int | None, str]]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        return [(i + 1, pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
    finally:
        pdf.close()


def edit(pages, donor, count, rng):
    """A copy of ``pages`` with ``count`` edits, and the edits: (kind, page, old sentence)."""
    pages = [list(p) for p in pages]
    edits = []
    used = set()
    tries = 0
    while len(edits) < count and tries < count * 50:
        tries += 1
        n = rng.randrange(len(pages))
        text = pages[n][1]
        spans = [(s, e) for s, e in sentences(text) if len(text[s:e].split()) >= 8]
        if not spans:
            continue
        s, e = rng.choice(spans)
        if (n, s) in used or any(abs(s - t) < 400 for m, t in used if m == n):
            continue
        sentence = text[s:e]
        kind = rng.choice(KINDS)
        if kind == "figure":
            numbers = list(re.finditer(r"\d[\d,]*", sentence))
            if not numbers:
                continue
            m = rng.choice(numbers)
            new = (
                sentence[: m.start()]
                + str(int(m.group().replace(",", "") or 0) + 7)
                + sentence[m.end() :]
            )
        elif kind == "word":
            words = [w for w in re.finditer(r"[A-Za-z]{5,}", sentence)]
            if not words:
                continue
            w = rng.choice(words)
            new = sentence[: w.start()] + "quarterly" + sentence[w.end() :]
            if new == sentence:
                continue
        elif kind == "delete":
            new = ""
        else:
            inserted = rng.choice(donor)
            new = sentence + " " + inserted
            sentence = inserted  # what must be reported as added
        pages[n][1] = text[:s] + new + text[e:]
        used.add((n, s))
        edits.append((kind, pages[n][0], " ".join(sentence.split())))
    return [tuple(p) for p in pages], edits


def found(edit_, changes):
    """The change that reports this edit, or None."""
    kind, page, sentence = edit_
    for c in changes:
        if kind == "insert":
            unit, kinds, shown = (
                c.new,
                ("added", "changed"),
                f"{c.new.text if c.new else ''} {c.added_words}",
            )
            alike = sentence[:40] in shown
        else:
            unit = c.old
            kinds = ("changed",) if kind in ("figure", "word") else ("removed", "changed")
            alike = bool(unit) and (unit.text[:40] in sentence or sentence[:40] in unit.text)
        if c.kind in kinds and unit is not None and unit.page == page and alike:
            return c
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    paths = sorted((FOLDER / "docs").glob("*.pdf"))
    donor_text = pages_of(paths[-1])[5][1]
    donor = [" ".join(donor_text[s:e].split()) for s, e in sentences(donor_text)][:50]
    total = hits = alarms = 0
    by_kind = {k: [0, 0] for k in KINDS}
    seconds = 0.0
    for path in paths[: args.pairs]:
        original = pages_of(path)
        edited, edits = edit(original, donor, args.edits, rng)
        start = time.perf_counter()
        changes = compare_documents(original, edited)
        seconds += time.perf_counter() - start
        matched = set()
        for e in edits:
            c = found(e, changes)
            by_kind[e[0]][1] += 1
            if c is not None:
                hits += 1
                by_kind[e[0]][0] += 1
                matched.add(id(c))
        total += len(edits)
        alarms += sum(1 for c in changes if id(c) not in matched)
    print(f"{args.pairs} pairs, {total} edits: found {hits / total:.3f} with their pages")
    for kind, (h, n) in by_kind.items():
        print(f"  {kind}: {h}/{n}")
    print(f"changes matching no edit: {alarms}; {seconds / args.pairs:.2f} s per pair")


if __name__ == "__main__":
    main()
