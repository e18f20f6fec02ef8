"""Hybrid search: a keyword ranking (BM25) and a vector ranking, fused.

Fusion is reciprocal rank fusion: each chunk scores the sum of ``weight / (RRF_K + rank)``
over the rankings it appears in. It needs no score calibration between BM25 and cosine,
which matters when one list is empty (a Spanish question against an English-only
embedder still has its keywords). The depth, weights and constant are defaults that
bench/ measures; issue-level tuning changes them there first.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sabio.index import ChunkIndex, tokens
from sabio.models import EmbeddingModel
from sabio.store import KnowledgeBase, Store

RRF_K = 60
FUSION = "rrf"
VECTOR_FLOOR = 0.0
CANDIDATES = 50
KEYWORD_WEIGHT = 1.0
VECTOR_WEIGHT = 1.0
MAX_QUERY_TERMS = 32

STOPWORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do does for
    from had has have he her his how i if in into is it its me more my no not of on or our
    she so than that the their them then there these they this those to us was we were what
    when where which who why will with would you your
    al algo ante como con contra cual cuando de del desde donde durante e el ella ellas ellos
    en entre era eran es esa esas ese eso esos esta estaba estas este esto estos fue fueron
    ha han hay la las le les lo los mas me mi mis muy nada ni no nos o os otra otro para pero
    poco por porque que quien se sea ser si sido sin sobre su sus tambien te tiene tienen
    todo todos tu tus un una unas uno unos y ya""".split()
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    chunk_id: int
    document_id: int
    document: str
    title: str
    page: int | None
    start: int
    end: int
    heading: str
    text: str
    score: float
    keyword_rank: int | None
    vector_rank: int | None
    similarity: float | None = None
    """Cosine similarity of the chunk's vector to the query's (None: not a vector hit)."""


def query_terms(query: str) -> list[str]:
    """The query's words as the keyword index sees them, stopwords dropped (unless that
    leaves nothing), each once."""
    words = tokens(query)
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]


def search_chunks(
    store: Store,
    index: ChunkIndex,
    kb: KnowledgeBase,
    query: str,
    *,
    embedder: EmbeddingModel | None,
    k: int = 8,
    document_ids: Sequence[int] | None = None,
    candidates: int = CANDIDATES,
) -> list[SearchHit]:
    """The ``k`` best chunks for ``query`` in ``kb``; vectors are skipped without an embedder."""
    depth = max(candidates, k)
    vector: list[tuple[int, float]] = []
    with ThreadPoolExecutor(1) as pool:  # numpy releases the GIL: both rankings at once
        keyword = pool.submit(index.keyword_search, kb, query_terms(query), depth, document_ids)
        if embedder is not None and query.strip():
            vector = index.vector_search(kb, embedder.embed([query])[0], depth, document_ids)
        keyword_hits = keyword.result()
    return _fuse(store, keyword_hits, vector, k)


def _fuse(
    store: Store, keyword: list[tuple[int, float]], vector: list[tuple[int, float]], k: int
) -> list[SearchHit]:
    scores: dict[int, float] = {}
    keyword_rank = {cid: rank for rank, (cid, _) in enumerate(keyword, 1)}
    vector_rank = {cid: rank for rank, (cid, _) in enumerate(vector, 1)}
    if FUSION == "rrf":
        for ranks, weight in ((keyword_rank, KEYWORD_WEIGHT), (vector_rank, VECTOR_WEIGHT)):
            for cid, rank in ranks.items():
                scores[cid] = scores.get(cid, 0.0) + weight / (RRF_K + rank)
    else:
        for hits, weight in ((keyword, KEYWORD_WEIGHT), (vector, VECTOR_WEIGHT)):
            if not hits:
                continue
            top, low = hits[0][1], hits[-1][1]
            if FUSION == "tmm":
                low = 0.0 if hits is keyword else VECTOR_FLOOR
            span = (top - low) or 1.0
            for cid, value in hits:
                scores[cid] = scores.get(cid, 0.0) + weight * (value - low) / span
    best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    similarity = {cid: round(float(value), 4) for cid, value in vector}
    chunks = store.get_chunks(best)
    return [
        SearchHit(
            chunk_id=cid,
            document_id=c.document_id,
            document=c.source,
            title=c.title,
            page=c.page,
            start=c.start,
            end=c.end,
            heading=c.heading,
            text=c.text,
            score=round(scores[cid], 6),
            keyword_rank=keyword_rank.get(cid),
            vector_rank=vector_rank.get(cid),
            similarity=similarity.get(cid),
        )
        for cid in best
        if (c := chunks.get(cid)) is not None
    ]
