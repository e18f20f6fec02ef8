"""Hybrid search: a keyword ranking (FTS5, BM25) and a vector ranking, fused.

Fusion is reciprocal rank fusion: each chunk scores the sum of ``weight / (RRF_K + rank)``
over the rankings it appears in. It needs no score calibration between BM25 and cosine,
which matters when one list is empty (a Spanish question against an English-only
embedder still has its keywords). The depth, weights and constant are defaults that
bench/ measures; issue-level tuning changes them there first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sabio.models import EmbeddingModel
from sabio.store import KnowledgeBase, Store
from sabio.vectors import VectorIndex

RRF_K = 60
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
_WORD = re.compile(r"\w+", re.UNICODE)


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


def keyword_query(query: str) -> str | None:
    """An FTS5 MATCH expression: the query's words OR-ed, quoted, stopwords dropped."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if _fold(w) not in STOPWORDS] or words
    unique = list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]
    if not unique:
        return None
    return " OR ".join(f'"{w}"' for w in unique)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_chunks(
    store: Store,
    index: VectorIndex,
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
    keyword: list[tuple[int, float]] = []
    if match := keyword_query(query):
        keyword = store.keyword_search(kb.id, match, depth, document_ids)
    vector: list[tuple[int, float]] = []
    if embedder is not None and query.strip():
        vector = index.search(kb, embedder.embed([query])[0], depth, document_ids)
    return _fuse(store, keyword, vector, k)


def _fuse(
    store: Store, keyword: list[tuple[int, float]], vector: list[tuple[int, float]], k: int
) -> list[SearchHit]:
    scores: dict[int, float] = {}
    keyword_rank = {cid: rank for rank, (cid, _) in enumerate(keyword, 1)}
    vector_rank = {cid: rank for rank, (cid, _) in enumerate(vector, 1)}
    for ranks, weight in ((keyword_rank, KEYWORD_WEIGHT), (vector_rank, VECTOR_WEIGHT)):
        for cid, rank in ranks.items():
            scores[cid] = scores.get(cid, 0.0) + weight / (RRF_K + rank)
    best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
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
        )
        for cid in best
        if (c := chunks.get(cid)) is not None
    ]
