"""A finding's evidence in its place, for the source panel: the lines around its span on
its page, in the document's stored text, with every secret and identifier of the document
masked at its length (the one shown too); a sign without a span (a suspicious mail) shows
its whole line."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from sabio.errors import NotFoundError
from sabio.review.findings import Category, Finding, mask_in_place
from sabio.review.scan import review_kb, stored_texts
from sabio.store import SabioStore
from sabio.store.documents import KnowledgeBase

AROUND = 400
"""Characters of context on each side of the span, at most (then to the line's end)."""
_MASKED = frozenset((Category.SECRET, Category.PERSONAL))


@dataclass(frozen=True, slots=True)
class Evidence:
    finding: Finding
    before: str
    text: str
    after: str
    masked: bool
    """Whether ``text`` is the finding's value masked."""


def finding_evidence(
    store: SabioStore, kb: KnowledgeBase, document_id: int, kind: str, fingerprint: str, start: int
) -> Evidence:
    """The finding of ``kind`` and ``fingerprint`` of the document (the one nearest
    ``start``, when the value is there more than once), in its place; a NotFoundError
    when the document no longer has it (changed, or the secret dropped)."""
    report = review_kb(store, kb, document_id)
    every = [*report.findings, *report.dismissed]
    chosen = [f for f in every if f.kind == kind and f.fingerprint == fingerprint]
    stored = list(stored_texts(store, kb, document_id))
    if not chosen or not stored:
        raise NotFoundError(
            "that finding is no longer in the document (it changed, or the secret was "
            "dropped from the index); review the knowledge base again",
            key="finding_gone",
        )
    finding = min(chosen, key=lambda f: abs(f.start - start))
    [(_, text, pages)] = stored
    shown = list(text)  # each value masked at its length: the offsets stay true
    for hidden in (f for f in every if f.category in _MASKED and f.start < f.end):
        shown[hidden.start : hidden.end] = mask_in_place(text[hidden.start : hidden.end])
    text = "".join(shown)
    first, last = _page_bounds(text, pages, finding.start)
    end = finding.end
    if end == finding.start:  # a sign of a whole message: its line
        end = _line_end(text, end, last)
    cut = max(first, finding.start - AROUND)
    line_start = text.rfind("\n", max(first, cut - AROUND), cut)
    a = line_start + 1 if line_start >= 0 else cut
    b = _line_end(text, min(last, end + AROUND), min(last, end + 2 * AROUND))
    return Evidence(
        finding,
        text[a : finding.start],
        text[finding.start : end],
        text[end:b],
        finding.category in _MASKED,
    )


def _page_bounds(text: str, pages: list[tuple[int, int]], offset: int) -> tuple[int, int]:
    """Where the page holding ``offset`` starts and ends in ``text`` (``pages``: each
    chunk's (start, page); all of the text for a document without pages)."""
    starts: list[int] = []
    page: int | None = None
    for start, number in sorted(pages):
        if number != page:
            starts.append(start)
            page = number
    i = bisect.bisect_right(starts, offset) - 1
    first = starts[i] if i >= 0 else 0
    last = starts[i + 1] if i + 1 < len(starts) else len(text)
    return first, last


def _line_end(text: str, offset: int, limit: int) -> int:
    """The end of the line at ``offset``, or ``limit`` when the line goes on past it."""
    at = text.find("\n", offset, limit)
    return limit if at < 0 else at
