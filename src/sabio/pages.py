"""A page the reader has open in the browser (sent by Sabio's extension): its text cut
into passages held in memory, never stored, and ranked for a question on their own or
beside a knowledge base's passages.

The page is sent once (:func:`open_page`) and asked about many times: its passages are
embedded when it is opened, so a question costs one embedding of the question. A page's
passages are :class:`~sabio.search.SearchHit` s like a knowledge base's, told apart by
:data:`PAGE_DOCUMENT_ID` (no stored document has it) and negative chunk ids; their
``start`` and ``end`` are offsets into the text that was sent, so the extension can
find and highlight them in the tab.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sabio.answer import SIMILARITY_FLOORS, Grounding, coverage
from sabio.chunking import Chunk, chunk_document, embedding_text
from sabio.errors import ConfigError, ModelError
from sabio.ingest import LoadedSource
from sabio.language import detect_language
from sabio.loaders import Blob, LoadedDocument, Section, normalize_text
from sabio.loaders.formats import extension_for
from sabio.models import EmbeddingModel, Vectors
from sabio.search import SearchHit

PAGE_DOCUMENT_ID = 0
"""The ``document_id`` of a page's passages (stored documents' ids start at 1)."""
MAX_PAGE_CHARS = 2_000_000
"""The longest page text taken (about a thousand pages of a book)."""
PASSAGE_BYTES = 512
"""What a passage takes in memory besides its words (its object, offsets, heading)."""
PAGE_K = 5
"""Passages of the page given to an answer at most."""
KEYWORDS_ONLY = {
    "en": "keyword matches only on the page: {error}",
    "es": "solo coincidencias de palabras en la página: {error}",
}


@dataclass(slots=True)
class OpenPage:
    """A page as :func:`open_page` made it; ``owner`` is the user who sent it (None
    without accounts). ``vectors`` are its passages' embeddings, by embedding model."""

    id: str
    url: str
    title: str
    text: str
    chunks: list[Chunk]
    owner: int | None = None
    vectors: dict[str, Vectors] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes the page takes in memory, about: its text, its passages, their vectors."""
        passages = sum(
            len(c.text.encode()) + len(c.context.encode()) + PASSAGE_BYTES for c in self.chunks
        )
        vectors = sum(v.nbytes for v in self.vectors.values())
        return len(self.text.encode()) + passages + vectors

    @property
    def digest(self) -> str:
        return hashlib.blake2b(self.text.encode(), digest_size=16).hexdigest()

    def embed(self, embedder: EmbeddingModel) -> Vectors:
        """The passages' vectors by ``embedder`` (computed once, then kept)."""
        if embedder.name not in self.vectors:
            texts = [embedding_text(c.context, c.text) for c in self.chunks]
            self.vectors[embedder.name] = embedder.embed(texts)
        return self.vectors[embedder.name]

    def hit(self, number: int, score: float, similarity: float | None) -> SearchHit:
        chunk = self.chunks[number]
        return SearchHit(
            chunk_id=-(number + 1),
            document_id=PAGE_DOCUMENT_ID,
            document=self.url,
            title=self.title or self.url,
            page=chunk.page,
            start=chunk.start,
            end=chunk.end,
            heading=chunk.heading,
            text=chunk.text,
            score=score,
            keyword_rank=None,
            vector_rank=None,
            similarity=similarity,
        )

    def hits(self, query: str, embedder: EmbeddingModel | None, k: int = PAGE_K) -> list[SearchHit]:
        """The ``k`` passages closest to ``query``: cosine similarity (with ``embedder``)
        plus the share of the query's words each holds."""
        everything = [self.hit(n, 0.0, None) for n in range(len(self.chunks))]
        words = np.array([coverage(query, h) for h in everything], dtype=np.float32)
        similarity: Vectors | None = None
        if embedder is not None and self.chunks:
            query_vector = embedder.embed([query])[0]
            similarity = self.embed(embedder) @ query_vector
        scores = words + (similarity if similarity is not None else 0.0)
        best = np.argsort(-scores, kind="stable")[:k]
        closeness = [None if similarity is None else float(similarity[n]) for n in best]
        return [self.hit(int(n), float(scores[n]), c) for n, c in zip(best, closeness, strict=True)]


def open_page(text: str, url: str = "", title: str = "", owner: int | None = None) -> OpenPage:
    """The page ``text`` (as the browser shows it) cut into passages as a stored
    document would be; ConfigError when it is empty or over :data:`MAX_PAGE_CHARS`."""
    text = normalize_text(text)
    if not text:
        raise ConfigError("the page has no text to ask about", key="page_empty")
    if len(text) > MAX_PAGE_CHARS:
        raise ConfigError(
            f"the page has more than {MAX_PAGE_CHARS:,} characters of text; save it to a "
            "knowledge base instead and ask there",
            key="page_too_long",
            limit=f"{MAX_PAGE_CHARS:,}",
        )
    title = " ".join(title.split())[:300]
    chunks = chunk_document(LoadedDocument([Section(text)], title))
    return OpenPage(secrets.token_urlsafe(12), url.strip()[:2000], title, text, chunks, owner)


def file_page(chunks: list[Chunk], url: str, title: str = "", owner: int | None = None) -> OpenPage:
    """A page made of a file's passages (a PDF open in the tab, read by a reader
    process): its text put back together from them, each passage at its offsets."""
    if not chunks:
        raise ConfigError("the file has no text to ask about", key="page_empty")
    end = max(c.end for c in chunks)
    text = [" "] * end
    for chunk in chunks:
        text[chunk.start : chunk.end] = chunk.text
    address = url.strip()[:2000]
    return OpenPage(secrets.token_urlsafe(12), address, title, "".join(text), chunks, owner)


def page_grounding(
    page: OpenPage,
    embedder: EmbeddingModel | None,
    knowledge_base: Grounding | None = None,
    k: int = PAGE_K,
) -> Grounding:
    """What ties an answer to ``page`` and, when given, to a knowledge base's grounding:
    the page's best passages first, then the knowledge base's, taken in turn."""

    def retrieve(query: str) -> tuple[list[SearchHit], list[str]]:
        notes: list[str] = []
        try:
            hits = page.hits(query, embedder, k)
        except ModelError as exc:
            said = KEYWORDS_ONLY["es" if detect_language(query) == "es" else "en"]
            hits, notes = page.hits(query, None, k), [said.format(error=exc)]
        if knowledge_base is None:
            return hits, notes
        found, more = knowledge_base.retrieve(query)
        return _alternate(hits, found), notes + more

    floor = SIMILARITY_FLOORS.get(embedder.name) if embedder is not None else None
    return Grounding(
        retrieve,
        similarity_floor=knowledge_base.similarity_floor if knowledge_base else floor,
        term_weights=knowledge_base.term_weights if knowledge_base else None,
        embed=embedder.embed if embedder is not None else None,
    )


def _alternate(first: Sequence[SearchHit], second: Sequence[SearchHit]) -> list[SearchHit]:
    """One of each in turn, best first, the longer list's rest at the end."""
    out: list[SearchHit] = []
    for n in range(max(len(first), len(second))):
        out.extend(hits[n] for hits in (first, second) if n < len(hits))
    return out


def saved_page(content: bytes, media_type: str, url: str, title: str = "") -> LoadedSource:
    """What the extension saves, to index as a web source's page is: the page's HTML
    (its main content read by the HTML loader, in a reader process), a PDF or any other
    file a loader reads, by its media type; or the selected text (``text/plain``), kept
    under the page's URL with ``#selection-`` and its digest. The URL names the document,
    so saving the page again replaces it."""
    url, title = url.strip(), " ".join(title.split())[:300]
    if not url.startswith(("http://", "https://", "file://")):
        raise ConfigError(f"not a page's address: {url[:200]!r}", key="page_url")
    digest = hashlib.blake2b(content, digest_size=16).hexdigest()
    kind = media_type.split(";")[0].strip().lower()
    if kind == "text/plain":
        text = normalize_text(content.decode("utf-8", errors="replace"))
        if not text:
            raise ConfigError("the selection has no text to save", key="page_empty")
        document = LoadedDocument([Section(text)], title or text[:60])
        source = f"{url.split('#')[0]}#selection-{digest[:12]}"
        return LoadedSource(source, digest, title, document, metadata={"url": url})
    extension = extension_for(kind)
    if extension is None:
        raise ConfigError(
            f"Sabio cannot read {kind or 'this kind of content'}: send text/html, "
            "application/pdf or text/plain",
            key="page_type",
            type=kind,
        )
    blob = Blob(name=f"page{extension}", data=content)
    return LoadedSource(url, digest, title, None, metadata={"url": url}, blob=blob)


def is_page_passage(document_id: int) -> bool:
    """Whether a citation's passage is the page's (not a stored document's)."""
    return document_id == PAGE_DOCUMENT_ID
