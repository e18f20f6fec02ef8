"""Dropping a found secret from the index: the passages of each document that holds it
are written again with the secret masked in place, those that held it embedded again
(the others keep their vectors), so a search no
longer finds it and the source panel shows it masked. The original file is not touched
(the review says so; delete or edit it there), and a new version of it, indexed again,
brings the secret back to be found again.

The mask keeps the secret's length (its first characters, then ``*`` for every other
character but spaces and line breaks): every offset in the document stays true, for the
other findings, the passages and the highlights of the source panel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from sabio.chunking import Chunk, embedding_text
from sabio.errors import NotFoundError
from sabio.models import Vectors
from sabio.review.findings import Category, Finding, mask_in_place
from sabio.review.scan import Report
from sabio.store import FileState, SabioStore
from sabio.store.documents import KnowledgeBase


def mask_passages(chunks: Sequence[Chunk], spans: Sequence[tuple[int, int]]) -> list[Chunk]:
    """``chunks`` (exact, overlapping slices of a document's text) with the text at each
    (start, end) span of that text masked, in each chunk that holds part of it, and in
    their context lines and headings (a secret in a heading)."""
    size = max((c.start + len(c.text) for c in chunks), default=0)
    whole = [" "] * size
    for c in chunks:
        whole[c.start : c.start + len(c.text)] = c.text
    values = [("".join(whole[s:e]), s, e) for s, e in spans if s < e]
    masked: list[Chunk] = []
    for chunk in chunks:
        text, context, heading = chunk.text, chunk.context, chunk.heading
        for value, start, end in values:
            a, b = max(start, chunk.start), min(end, chunk.start + len(text))
            if a < b:
                hidden = mask_in_place(value)[a - start : b - start]
                text = text[: a - chunk.start] + hidden + text[b - chunk.start :]
            if len(value.strip()) >= 4:
                context = context.replace(value, mask_in_place(value))
                heading = heading.replace(value, mask_in_place(value))
        masked.append(replace(chunk, text=text, context=context, heading=heading))
    return masked


def drop_secret(
    store: SabioStore,
    kb: KnowledgeBase,
    report: Report,
    fingerprint: str,
    embed: Callable[[Sequence[str]], Vectors],
) -> list[str]:
    """Mask the secret whose fingerprint is ``fingerprint`` (a secret of ``report``, the
    knowledge base's review: found or dismissed) in every document that holds it; the
    documents (sources) written again. A NotFoundError, nothing changed, when no secret
    has that fingerprint."""
    chosen = [
        f
        for f in (*report.findings, *report.dismissed)
        if f.fingerprint == fingerprint and f.category is Category.SECRET
    ]
    if not chosen:
        raise NotFoundError(
            f"no secret with fingerprint {fingerprint!r} in knowledge base {kb.name!r}; "
            f"the fingerprints are the last column of `sabio review {kb.name}`",
            key="secret_fingerprint",
            fingerprint=fingerprint,
        )
    by_document: dict[str, list[Finding]] = {}
    for finding in chosen:
        by_document.setdefault(finding.document, []).append(finding)
    for source, findings in by_document.items():
        doc = store.get_document(kb.id, source)
        stored = store.document_passages(kb.id, doc.id)
        chunks = mask_passages(stored, [(f.start, f.end) for f in findings])
        vectors = store.document_vectors(kb.id, doc.id)
        changed = [i for i, (old, new) in enumerate(zip(stored, chunks, strict=True)) if old != new]
        if changed:  # only the passages that held it are embedded again
            vectors[changed] = embed(
                [embedding_text(chunks[i].context, chunks[i].text) for i in changed]
            )
        store.replace_document(
            kb,
            FileState(doc.source, doc.content_hash, doc.size, doc.mtime_ns),
            title=doc.title,
            pages=doc.pages,
            metadata=doc.metadata,
            chunks=chunks,
            vectors=vectors,
        )
    store.renew_index(kb.id)  # the cached index's words would keep the secret
    store.erase_deleted()
    return list(by_document)
