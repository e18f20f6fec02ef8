"""A dev set of look-alike documents: Docugami's SEC 10-Q questions (5 companies x 4 quarters).

Read from ``../shared/data/rag_qa/docugami_sec10q``: 20 PDFs named "2023 Q3 AAPL.pdf" and
``qna_data.csv`` (question, "Source Docs" as a glob such as ``*2023 Q3 AAPL*`` or ``*AAPL*``,
answer). Judgments, written down in docs/benchmarks.md ("Look-alike documents"):

- **documents**: the PDFs the question's "Source Docs" glob matches (all four of a company
  for a multi-document question; any one of them in the top 5 is a hit);
- **pages**: the pages of those documents that hold the answer's evidence. A page's score is
  the number of the answer's figures found on it (numbers of three or more digits, or with a
  decimal point; "$4.255 billion" also as "4,255", the millions a table prints) plus one for
  every three of the answer's word 5-grams found in its text; per document, the pages scoring
  at least 2 and at least 60% of that document's best page are the judged pages. A question
  whose documents have no such page has no page judgment (it counts for documents only).

Rankings are lists of (document file name, 1-based page), best first, one entry per passage.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import math
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from sabio.config import Settings
from sabio.home import WORK_PREFIX, make_private_home
from sabio.models import EmbeddingModel
from sabio.search import SearchHit
from sabio.service import Sabio

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "rag_qa" / "docugami_sec10q"
COMPANIES = ("AAPL", "AMZN", "INTC", "MSFT", "NVDA")
TUNE_COMPANIES = ("AAPL", "INTC", "NVDA")  # --company-split: choices made on these only
PAGE_SLACK = 1  # a page hit is within one page of a judged page

_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?")
_BILLIONS = re.compile(r"(\d+(?:\.\d+)?)\s*billion", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")

Unit = tuple[str, int]  # (document file name, 1-based page)


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    documents: frozenset[str]
    pages: frozenset[Unit]  # empty: no page judgment
    company: str


@cache
def document_pages(folder: Path = FOLDER) -> dict[str, list[str]]:
    """{file name: [text of page 1, page 2, ...]} as pdfium gives it."""
    import pypdfium2 as pdfium

    pages: dict[str, list[str]] = {}
    for path in sorted((folder / "docs").glob("*.pdf")):
        pdf = pdfium.PdfDocument(path)
        try:
            pages[path.name] = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
        finally:
            pdf.close()
    return pages


def figures(text: str) -> set[str]:
    """The figures a text quotes, without thousands separators: numbers of three or more
    digits or with decimals (not 2023-style years); "4.255 billion" also as "4255"."""
    found = set()
    for match in _NUMBER.findall(text):
        value = match.replace(",", "")
        if ("." in value or len(value) >= 3) and not re.fullmatch(r"(19|20)\d\d", value):
            found.add(value)
    for amount in _BILLIONS.findall(text):
        if "." in amount:
            found.add(str(round(float(amount) * 1000)))
    return found


def _grams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def judged_pages(
    answer: str, documents: Sequence[str], pages: Mapping[str, list[str]]
) -> set[Unit]:
    wanted, grams = figures(answer), _grams(answer)
    judged: set[Unit] = set()
    for name in documents:
        scores = []
        for text in pages[name]:
            shown = {n.replace(",", "") for n in _NUMBER.findall(text)}
            scores.append(len(wanted & shown) + len(grams & _grams(text)) / 3)
        best = max(scores, default=0.0)
        if best >= 2:
            judged |= {(name, i + 1) for i, s in enumerate(scores) if s >= max(2, 0.6 * best)}
    return judged


def load_questions(folder: Path = FOLDER) -> list[Question]:
    pages = document_pages(folder)
    with (folder / "qna_data.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    questions = []
    for n, row in enumerate(rows):
        glob = row["Source Docs"].strip()
        documents = sorted(name for name in pages if fnmatch.fnmatch(name, glob))
        if not documents:
            continue
        company = next(c for c in COMPANIES if c in glob)
        questions.append(
            Question(
                id=f"q{n:03d}",
                text=row["Question"].strip(),
                documents=frozenset(documents),
                pages=frozenset(judged_pages(row["Answer"], documents, pages)),
                company=company,
            )
        )
    return questions


def doc_hit(ranking: Sequence[Unit], q: Question, k: int = 5) -> float:
    return float(any(doc in q.documents for doc, _ in ranking[:k]))


def page_hit(ranking: Sequence[Unit], q: Question, k: int = 5) -> float:
    return float(
        any(
            (doc, page + d) in q.pages
            for doc, page in ranking[:k]
            for d in range(-PAGE_SLACK, PAGE_SLACK + 1)
        )
    )


def page_ndcg(ranking: Sequence[Unit], q: Question, k: int = 10) -> float:
    """nDCG@k over the distinct pages of the ranking, a judged page (exact) gaining 1."""
    distinct = list(dict.fromkeys(ranking))[:k]
    dcg = sum(1 / math.log2(i + 2) for i, unit in enumerate(distinct) if unit in q.pages)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(q.pages))))
    return dcg / idcg if idcg else 0.0


def metrics(
    rankings: Mapping[str, Sequence[Unit]], questions: Sequence[Question]
) -> dict[str, float]:
    paged = [q for q in questions if q.pages]
    n, p = len(questions) or 1, len(paged) or 1
    return {
        "doc hit@5": round(sum(doc_hit(rankings[q.id], q) for q in questions) / n, 4),
        "page hit@5": round(sum(page_hit(rankings[q.id], q) for q in paged) / p, 4),
        "ndcg@10": round(sum(page_ndcg(rankings[q.id], q) for q in paged) / p, 4),
    }


# the three systems, each ranking passages (or pages) as (file name, page)


def bm25_pages(
    questions: Sequence[Question], pages: Mapping[str, list[str]]
) -> dict[str, list[Unit]]:
    """bm25s over whole pages, English stopwords and Snowball stemmer."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    units = [(name, i + 1) for name, texts in pages.items() for i in range(len(texts))]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(
            [pages[n][p - 1] for n, p in units],
            stopwords="en",
            stemmer=stemmer,
            show_progress=False,
        ),
        show_progress=False,
    )
    tokens = bm25s.tokenize(
        [q.text for q in questions], stopwords="en", stemmer=stemmer, show_progress=False
    )
    found, _ = retriever.retrieve(tokens, k=10, show_progress=False, n_threads=2)
    return {q.id: [units[i] for i in row] for q, row in zip(questions, found, strict=True)}


def anchor_pages(
    questions: Sequence[Question], pages: Mapping[str, list[str]], embedder: EmbeddingModel
) -> dict[str, list[Unit]]:
    """The anchors' dense default: each page (LangChain's PyPDFLoader gives pages) split at
    1,000 characters with 100 overlap, cosine over the chunks."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100)
    owners, chunks = [], []
    for name, texts in pages.items():
        for number, text in enumerate(texts, 1):
            for piece in splitter.split_text(text):
                owners.append((name, number))
                chunks.append(piece)
    matrix = np.concatenate(
        [embedder.embed(chunks[i : i + 256]) for i in range(0, len(chunks), 256)]
    )
    qvecs = embedder.embed([q.text for q in questions])
    rankings = {}
    for q, qvec in zip(questions, qvecs, strict=True):
        top = np.argsort(-(matrix @ qvec), kind="stable")[:10]
        rankings[q.id] = [owners[i] for i in top]
    return rankings


def sabio_hits(
    questions: Sequence[Question], settings: Settings, folder: Path = FOLDER
) -> dict[str, list[SearchHit]]:
    """The product's defaults: ``sabio add`` of the PDFs into a throwaway data directory,
    then ``sabio search QUESTION -k 10`` (the first five count for the hits)."""
    make_private_home(settings.home)
    with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}eval-", dir=settings.home) as tmp:
        sabio = Sabio(dataclasses.replace(settings, home=Path(tmp) / "home"))
        try:
            sabio.create_kb("sec10q")
            sabio.add([folder / "docs"], "sec10q")
            return {q.id: sabio.search(q.text, "sec10q", k=10).hits for q in questions}
        finally:
            sabio.close()


def units(hits: Mapping[str, Sequence[SearchHit]]) -> dict[str, list[Unit]]:
    return {q: [(Path(h.document).name, h.page or 0) for h in found] for q, found in hits.items()}


def _source(hit: SearchHit) -> str:
    """Which ranking put a hit there: its ranks in the keyword and vector lists over the
    whole knowledge base, else the second pass over the named documents."""
    ranks = [
        f"{name} #{rank}"
        for name, rank in (("keywords", hit.keyword_rank), ("vectors", hit.vector_rank))
        if rank is not None
    ]
    return ", ".join(ranks) or "second pass (named documents)"


def misses(
    questions: Sequence[Question], hits: Mapping[str, Sequence[SearchHit]], k: int = 5
) -> str:
    """Every question with page judgments whose judged pages (±1) are not in the top
    ``k``: the question, its judged pages, and the top ``k`` with their document, page,
    score, the ranking that put each there and the passage's first words; a judged page
    found lower in the ten is said."""
    lines: list[str] = []
    ranked = units(hits)
    missed = [q for q in questions if q.pages and not page_hit(ranked[q.id], q, k)]
    paged = sum(bool(q.pages) for q in questions)
    lines.append(f"{len(missed)} of {paged} questions with page judgments missed at {k}")
    for q in missed:
        judged = ", ".join(f"{doc} p.{page}" for doc, page in sorted(q.pages))
        lines += ["", f"{q.id} [{q.company}] {q.text}", f"  judged: {judged}"]
        for rank, hit in enumerate(hits[q.id], 1):
            unit = ranked[q.id][rank - 1]
            near = page_hit([unit], q, 1)
            if rank > k and not near:
                continue
            words = " ".join(hit.text.split())[:70]
            mark = "  <- judged (±1)" if near else ""
            lines.append(
                f"  {rank:>2}. {unit[0]} p.{unit[1]}  {hit.score:.3f}  {_source(hit)}{mark}"
            )
            lines.append(f"      {words}")
    return "\n".join(lines)


def run(
    settings: Settings, embedder: EmbeddingModel, company_split: bool, with_misses: bool = False
) -> dict[str, Any]:
    """The three systems on the dev set, in one run; with ``company_split`` also each one's
    metrics on the tuning companies and on the held-out ones; with ``with_misses`` the
    report of Sabio's page misses (:func:`misses`; only the tuning companies' with
    ``company_split``: the held-out ones stay a number) as ``"misses"``."""
    questions = load_questions()
    pages = document_pages()
    results: dict[str, Any] = {
        "questions": len(questions),
        "with page judgments": sum(bool(q.pages) for q in questions),
        "pages": sum(len(t) for t in pages.values()),
    }
    groups = {"all": questions}
    tune = [q for q in questions if q.company in TUNE_COMPANIES]
    if company_split:
        groups["tune (" + ", ".join(TUNE_COMPANIES) + ")"] = tune
        groups["held out (other companies)"] = [
            q for q in questions if q.company not in TUNE_COMPANIES
        ]
    found: dict[str, list[SearchHit]] = {}

    def sabio() -> dict[str, list[Unit]]:
        found.update(sabio_hits(questions, settings))
        return units(found)

    for name, fn in (
        ("bm25", lambda: bm25_pages(questions, pages)),
        ("anchors", lambda: anchor_pages(questions, pages, embedder)),
        ("sabio", sabio),
    ):
        start = time.perf_counter()
        rankings = fn()
        results[name] = {
            "seconds": round(time.perf_counter() - start, 1),
            **{group: metrics(rankings, qs) for group, qs in groups.items()},
            "rankings": {q: [list(u) for u in r] for q, r in rankings.items()},
        }
        print(f"  {name:<8} {results[name]['all']}", file=sys.stderr)
    if with_misses:
        results["misses"] = misses(tune if company_split else questions, found)
    return results


def table(results: Mapping[str, Any]) -> str:
    labels = {"bm25": "BM25 over pages (bm25s)", "anchors": "anchors' default (dense)"}
    labels["sabio"] = "**Sabio default**"
    groups = [g for g in results["sabio"] if g not in ("seconds", "rankings")]
    lines = [
        f"SEC 10-Q dev set: {results['questions']} questions ({results['with page judgments']} "
        f"with page judgments), {results['pages']} pages",
        "",
        "| questions | system | doc hit@5 | page hit@5 (±1) | nDCG@10 (pages) |",
        "|---|---|---|---|---|",
    ]
    for group in groups:
        for i, system in enumerate(("bm25", "anchors", "sabio")):
            m = results[system][group]
            first = group if i == 0 else ""
            lines.append(
                f"| {first} | {labels[system]} | {m['doc hit@5']:.3f} | {m['page hit@5']:.3f} "
                f"| {m['ndcg@10']:.3f} |"
            )
    return "\n".join(lines)
