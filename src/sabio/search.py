"""Hybrid search: a keyword ranking (BM25) and a vector ranking, fused.

Fusion is a convex combination of normalised scores: each list's scores are divided by
its best score, from a theoretical floor of 0 (BM25 is never negative; a cosine at or
below 0 says nothing), and a chunk scores ``(1 - w) * keyword + w * vector``. A chunk
missing from a list cut at its depth gets that list's last score, the most it can have,
so the depth changes the result little; missing from a list that was not cut (fewer
matches than the depth), it scores 0 there. Unlike reciprocal rank fusion, this keeps
the shape of each list: a flat vector list moves the result little, while a clear
keyword match keeps its lead. Measured in docs/benchmarks.md (bench/retrieval.py): on
SciFact and XQuAD it beat rank fusion of the same lists on every data set.

The vector weight ``w`` is 0.5, except for a question in a language the embedding model
was not trained on (a Spanish question and the English-only all-MiniLM-L6-v2): there its
cosines mostly echo the shared names and numbers that keywords already match, so ``w``
is 0.3 and a Spanish-speaking user does not pay for the embedder's language.

In a folder of look-alike documents the question names one of them ("Apple's Q3 2023
10-Q"): each passage also gets its document's field score (:mod:`sabio.document_field`),
the named documents' passages are ranked again among themselves (a passage's share of
figures counting there: a statement's page answers "what was X"), "the most recent" picks
the latest of them, and instruction sentences around the question are left out
(docs/benchmarks.md, "Look-alike documents").
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from sabio.document_field import field_tokens
from sabio.language import detect_language, text_language
from sabio.models import EmbeddingModel, embedding_languages
from sabio.models.paired import PairedModel
from sabio.ranking import SearchIndex
from sabio.store import KnowledgeBase, SabioStore, StoredChunk
from sabio.terms import light_stem, tokens

CANDIDATES = 100  # from each list: fusion sees a chunk's two scores when both are high
VECTOR_WEIGHT = 0.5  # the keyword list gets 1 - this
UNKNOWN_LANGUAGE_VECTOR_WEIGHT = 0.3
"""The vector list's weight (keywords get the rest) for a question in a language the
embedding model was not trained on (all-MiniLM-L6-v2 and a Spanish question)."""
CROSS_LANGUAGE_VECTOR_WEIGHT = 0.8
"""The vector list's weight for a question in another language than the passages it finds
(a Spanish question over English documents), with an embedding model that knows both
(USE multilingual): keywords then match only shared names and numbers, and naive fusion
threw most of the model's gain away (XQuAD es→en recall@5 0.939 alone, 0.627 fused at 0.5;
the sweep is in docs/benchmarks.md)."""
LANGUAGE_SAMPLE = 5
"""How many of the best vector hits tell the passages' language."""
MAX_QUERY_TERMS = 32
DOCUMENT_WEIGHT = 1.0
"""How much the document field counts (its best document gets this much on top of the
passage's fused score): the question names a report ("Apple", "Q3 2023") that its
passages rarely repeat."""
NAMED_SHARE = 0.75
RECENCY = True
STRIP_INSTRUCTIONS = True
RECENT_BOOST = 1.5
_RECENT = re.compile(r"\b(?:latest|most recent|newest|m[aá]s reciente|[uú]ltim[oa]s?)\b")
MAX_NAMED = 5
MAX_PER_PAGE = 1
GENERIC_WEIGHT = 0.3  # a document-field word that names nothing, beside words that do
"""Passages of one page of a document among the results before any page repeats: a
page's passages share its words and its vector, so several of them push the other
pages that might hold the answer out of the top k. On the 10-Q dev set page hit@5
0.680 -> 0.733 (tuning companies 0.762 -> 0.833, held-out 0.576 -> 0.606; 2 gave 0.687,
3 none; boosting a page by its second passage lost 0.11, docs/benchmarks.md). Files
without pages (text, mail, SciFact and XQuAD) are not affected."""
SPREAD_POOL = 4  # the passages looked at to fill k places: k * this
FIGURE_WEIGHT = 0.2
"""How much a passage's share of figures adds to its score (that share times this), in
a folder of look-alike documents when the question names some of them: a statement's
page (a table of figures under few words) answers "what was X" and "how has X changed"
but loses on words to the prose that discusses the same figures. Applied to the
``k * SPREAD_POOL`` best passages, before the pages are spread. On the 10-Q dev set,
tuning companies, page hit@5 0.845 -> 0.869, nDCG@10 0.441 -> 0.459 (0.05 / 0.1 / 0.3 /
0.5 / 1.0 gave 0.857 / 0.845 / 0.869 / 0.786 / 0.762; only for questions whose answer
is a number: 0.857, docs/benchmarks.md)."""
WITHIN_VECTOR_WEIGHT = 0.85
"""The vector list's weight in the second pass, among the named documents' passages only,
for a question in a language the embedding model knows: there the words that named the
documents (company, period) match every passage alike, and the keywords tell pages apart
less than the meaning does. On the 10-Q dev set page hit@5 0.633 -> 0.680 (held-out
companies 0.500 -> 0.576; 0.2 / 0.5 / 0.7 / 1.0 gave 0.580 / 0.633 / 0.647 / 0.687,
docs/benchmarks.md)."""

STOPWORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do does for
    from had has have he her his how i if in into is it its me more my no not of on or our
    she so than that the their them then there these they this those to us was we were what
    when where which who why will with would you your
    al algo ante como con contra cual cuando de del desde donde durante e el ella ellas ellos
    en entre era eran es esa esas ese eso esos esta estaba estas este esto estos fue fueron
    ha han hay la las le les lo los mas me mi mis muy nada ni no nos o os otra otro para pero
    poco por porque que quien se sea ser si sido sin sobre su sus tambien te tiene tienen
    todo todos tu tus un una unas uno unos y ya
    cuanto cuanta cuantos cuantas cuales quienes""".split()
)
STOPWORDS |= {light_stem(w) for w in STOPWORDS}  # as tokens() gives them ("ellos": "ello")


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
    vector_model: str = ""
    """The model whose cosine ``similarity`` is, when it is one part of a paired model
    (:mod:`sabio.models.paired`): the topic gate uses that part's floor."""
    cross_language: bool = False
    """The vector search found passages in another language than the question's (a
    multilingual model): the extractive answerer then cannot go by shared words."""


def query_terms(query: str) -> list[str]:
    """The query's words as the keyword index sees them, stopwords dropped (unless that
    leaves nothing), each once."""
    words = tokens(query)
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]


_QUARTER = re.compile(
    r"\b(first|1st|primer|primero|second|2nd|segundo|third|3rd|tercer|tercero|fourth|4th|cuarto)"
    r"\s+(?:fiscal\s+)?(?:quarter|trimestre)\b"
)
_QUARTER_NUMBER = dict.fromkeys(("first", "1st", "primer", "primero"), "q1")
_QUARTER_NUMBER |= dict.fromkeys(("second", "2nd", "segundo"), "q2")
_QUARTER_NUMBER |= dict.fromkeys(("third", "3rd", "tercer", "tercero"), "q3")
_QUARTER_NUMBER |= dict.fromkeys(("fourth", "4th", "cuarto"), "q4")
_FISCAL_YEAR = re.compile(
    r"\b(?:fiscal(?:\s+year)?|a[nñ]o\s+fiscal|ejercicio(?:\s+fiscal)?)\s+(\d{4})\b"
)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_INSTRUCTION = re.compile(
    r"^\W*(?:please\s+|por\s+favor,?\s+)?(?:provide|answer|respond|reply|use|using|give|"
    r"include|format|cite|write|keep|return|base|be|do\s+not|don't|make\s+sure|only|"
    r"proporciona|responde|contesta|usa|utiliza|da|incluye|cita|escribe|devuelve|basa|"
    r"no\s+(?:incluyas|uses|inventes)|s[eé]|aseg[uú]rate|solo|[uú]nicamente)\b",
    re.IGNORECASE,
)


def strip_instructions(query: str) -> str:
    """The query without the sentences that tell the answerer what to do ("Provide a
    response by primarily using the income statement.", "Responde en español."): their
    words are in every report of a folder and match the wrong one. A query made only of
    such sentences is kept whole."""
    if not STRIP_INSTRUCTIONS:
        return query
    sentences = [s for s in _SENTENCE_END.split(query.strip()) if s.strip()]
    kept = [s for s in sentences if not _INSTRUCTION.match(s)]
    return " ".join(kept) if kept and len(kept) < len(sentences) else query


def document_terms(query: str) -> dict[str, float]:
    """The query's words for the document field, each with its weight: its terms, mixed
    words split as in file names, and periods as reports name them ("third quarter":
    "q3", "fiscal year 2016": "fy2016"; "primer trimestre": "q1"). When the query names
    something with a capital ("Amazon", "Ferrovial"), its words that name nothing weigh
    ``GENERIC_WEIGHT``: in a folder of look-alike reports "filing" may be on one
    company's cover pages only, as rare there as "Amazon", but only "Amazon" says which
    report the question is about. Numbers and periods always weigh fully."""
    text = query.lower()
    extra = [_QUARTER_NUMBER[m] for m in _QUARTER.findall(text)]
    extra += [f"fy{year}" for year in _FISCAL_YEAR.findall(text)]
    words = field_tokens(query) + extra
    kept = [w for w in words if w not in STOPWORDS] or words
    names, numbers = _naming_words(query)
    generic = GENERIC_WEIGHT if names & set(kept) else 1.0
    full = names | numbers | set(extra)
    terms = list(dict.fromkeys(kept))[: MAX_QUERY_TERMS * 2]
    return {t: 1.0 if t in full else generic for t in terms}


def _naming_words(query: str) -> tuple[set[str], set[str]]:
    """The field terms of the query's words that may name something: those written with
    a capital ("Amazon's"; a sentence's first word too, "Apple's revenue", as the
    instructions' verbs that also start sentences are rarely in a document's field),
    and those with digits ("2023", "10-Q", "FY2016")."""
    names: set[str] = set()
    numbers: set[str] = set()
    for word in query.split():
        word = word.strip("¿¡?!.,;:()[]{}\"'«»“”")
        if any(c.isdigit() for c in word):
            numbers.update(field_tokens(word))
        elif word[:1].isupper():
            names.update(field_tokens(word))
    return names, numbers


_RANKERS = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="sabio-keywords")
"""Threads for the keyword ranking, kept: a thread per search cost a millisecond to start,
and each new thread of a server opens its own database connection."""


def search_chunks(
    store: SabioStore,
    index: SearchIndex,
    kb: KnowledgeBase,
    query: str,
    *,
    embedder: EmbeddingModel | None,
    k: int = 8,
    document_ids: Sequence[int] | None = None,
    candidates: int = CANDIDATES,
) -> list[SearchHit]:
    """The ``k`` best chunks for ``query`` in ``kb``; vectors are skipped without an embedder."""
    query = strip_instructions(query)
    depth = max(candidates, k)
    vector: list[tuple[int, float]] = []
    # numpy and the embedder release the GIL: both rankings at once
    keyword = _RANKERS.submit(index.keyword_search, kb, query_terms(query), depth, document_ids)
    query_vector = None
    ranked_by, found_in = embedder, None
    if embedder is not None and query.strip():
        query_vector, ranked_by, vector, found_in = vector_ranking(
            store, index, kb, embedder, query, depth, document_ids
        )
    keyword_hits = keyword.result()
    documents = index.document_scores(kb, document_terms(query))
    if documents and RECENCY and _RECENT.search(query.lower()):
        documents = _prefer_latest(index, kb, documents)
    named = named_documents(documents) if document_ids is None else []
    within: tuple[list[tuple[int, float]], list[tuple[int, float]]] | None = None
    if named:
        # the second pass: the named documents' own best passages, at full depth
        keyword = _RANKERS.submit(index.keyword_search, kb, query_terms(query), depth, named)
        if query_vector is not None:
            vector_within = index.vector_search(kb, query_vector, depth, named)
        else:
            vector_within = []
        within = (keyword.result(), vector_within)
    found = keyword_hits + vector + (within[0] + within[1] if within else [])
    owners = index.documents_of(kb, [cid for cid, _ in found]) if documents else {}
    weight = vector_weight(ranked_by, query, found_in)
    hits = _fuse(store, keyword_hits, vector, k, depth, weight, documents, owners, within)
    if ranked_by is not None and ranked_by is not embedder:  # one part of a pair
        hits = [replace(h, vector_model=ranked_by.name) for h in hits]
    if found_in is not None and found_in != (text_language(query) or detect_language(query)):
        hits = [replace(h, cross_language=True) for h in hits]
    return hits


def vector_ranking(
    store: SabioStore,
    index: SearchIndex,
    kb: KnowledgeBase,
    embedder: EmbeddingModel,
    query: str,
    depth: int,
    document_ids: Sequence[int] | None,
) -> tuple[NDArray[np.float32], EmbeddingModel, list[tuple[int, float]], str | None]:
    """The vector ranking: (the query vector it searched with, the model whose cosines
    they are, its hits, the language of the passages it found, when the model is
    multilingual). A paired model (:mod:`sabio.models.paired`) searches with its first
    part that knows the question's language; when the passages that part finds are in
    another language, or no part knows the question's, with its part that knows the
    most languages (all-MiniLM-L6-v2 for English within English, USE multilingual for
    the rest, docs/benchmarks.md)."""
    full = embedder.embed([query])[0]
    if not isinstance(embedder, PairedModel):
        hits = index.vector_search(kb, full, depth, document_ids)
        languages = embedding_languages(embedder)
        multilingual = languages is not None and len(languages) > 1
        return full, embedder, hits, _passages_language(store, hits) if multilingual else None
    parts, asked = embedder.parts, text_language(query) or detect_language(query)
    widest = max(range(len(parts)), key=lambda i: _breadth(parts[i]))
    first = next((i for i, p in enumerate(parts) if _knows(p, asked)), widest)
    vector = embedder.part_query(full, first)
    hits = index.vector_search(kb, vector, depth, document_ids)
    found_in = _passages_language(store, hits)
    if first != widest and found_in not in (None, asked):
        first, vector = widest, embedder.part_query(full, widest)
        hits = index.vector_search(kb, vector, depth, document_ids)
    return vector, parts[first], hits, found_in


def _knows(model: EmbeddingModel, language: str) -> bool:
    languages = embedding_languages(model)
    return languages is None or language in languages


def _breadth(model: EmbeddingModel) -> float:
    languages = embedding_languages(model)
    return float("inf") if languages is None else len(languages)


def _prefer_latest(
    index: SearchIndex, kb: KnowledgeBase, documents: dict[int, float]
) -> dict[int, float]:
    """For a question about the latest document ("the most recent 10-Q"): of those the
    document field picks nearly as well as the best, the latest one comes first."""
    top = max(documents.values())
    close = [d for d, score in documents.items() if score >= NAMED_SHARE * top]
    latest = index.document_field(kb).latest(close)
    if latest is None:
        return documents
    return documents | {latest: top * RECENT_BOOST}


def named_documents(documents: dict[int, float]) -> list[int]:
    """The documents the query names: those whose document field scores at least
    ``NAMED_SHARE`` of the best one, when there are at most ``MAX_NAMED`` of them."""
    if not documents:
        return []
    top = max(documents.values())
    named = sorted(d for d, score in documents.items() if score >= NAMED_SHARE * top)
    return named if len(named) <= MAX_NAMED else []


def _passages_language(store: SabioStore, vector: list[tuple[int, float]]) -> str | None:
    """The language most of the best vector hits are written in (None without hits)."""
    if not vector:
        return None
    chunks = store.get_chunks([cid for cid, _ in vector[:LANGUAGE_SAMPLE]])
    found = [lang for c in chunks.values() if (lang := text_language(c.text))]
    return max(sorted(set(found)), key=found.count) if found else None


def vector_weight(
    embedder: EmbeddingModel | None, query: str, passages_language: str | None = None
) -> float:
    """How much the vector list counts for ``query``: less when the embedding model does
    not know the question's language, where its cosines say little and keywords carry
    the search; more when the model knows it and the passages it finds are in another
    language (``passages_language``), where keywords can only match names and numbers
    (measured in docs/benchmarks.md)."""
    languages = embedding_languages(embedder) if embedder is not None else None
    asked = text_language(query) or detect_language(query)
    if languages is not None and asked not in languages:
        return UNKNOWN_LANGUAGE_VECTOR_WEIGHT
    multilingual = languages is not None and len(languages) > 1  # measured for these only
    if multilingual and passages_language is not None and passages_language != asked:
        return CROSS_LANGUAGE_VECTOR_WEIGHT
    return VECTOR_WEIGHT


def _fuse(
    store: SabioStore,
    keyword: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    k: int,
    depth: int,
    vector_weight: float = VECTOR_WEIGHT,
    documents: dict[int, float] | None = None,
    owners: dict[int, int] | None = None,
    within: tuple[list[tuple[int, float]], list[tuple[int, float]]] | None = None,
) -> list[SearchHit]:
    scores = _fused_scores(keyword, vector, depth, vector_weight)
    if within is not None:  # the named documents' passages, ranked among themselves
        known = vector_weight >= VECTOR_WEIGHT  # the embedding model knows the language
        within_weight = WITHIN_VECTOR_WEIGHT if known else vector_weight
        for cid, score in _fused_scores(*within, depth, within_weight).items():
            scores[cid] = max(scores.get(cid, 0.0), score)
    if documents and owners:
        top_document = max(documents.values())
        for cid in scores:
            named = documents.get(owners.get(cid, -1), 0.0)
            scores[cid] += DOCUMENT_WEIGHT * named / top_document
    keyword_rank = {cid: rank for rank, (cid, _) in enumerate(keyword, 1)}
    vector_rank = {cid: rank for rank, (cid, _) in enumerate(vector, 1)}
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))[: k * SPREAD_POOL]
    chunks = store.get_chunks(order)
    if within is not None and FIGURE_WEIGHT:  # a folder of look-alike documents
        for cid in order:
            if (c := chunks.get(cid)) is not None:
                scores[cid] += FIGURE_WEIGHT * figure_density(c.text)
        order.sort(key=lambda cid: (-scores[cid], cid))
    best = spread_pages(order, chunks, k)
    similarity = {cid: round(float(value), 4) for cid, value in vector}
    if within is not None:
        similarity |= {cid: round(float(value), 4) for cid, value in within[1]}
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


_FIGURE = re.compile(r"^[$€(]*[\d.,]*\d[\d.,]*[)%]*$")


def figure_density(text: str) -> float:
    """The share of a passage's words that are figures ("60,584", "(265)", "$1.27",
    "12%"): near 0.5 on a statement's page, under 0.1 in prose."""
    words = text.split()
    if not words:
        return 0.0
    return sum(bool(_FIGURE.match(w)) for w in words) / len(words)


def spread_pages(order: Sequence[int], chunks: Mapping[int, StoredChunk], k: int) -> list[int]:
    """The first ``k`` of ``order`` with at most ``MAX_PER_PAGE`` passages of one page of a
    document; the passages this leaves out come after, in order, when fewer than ``k``
    remain. Passages without a page (text, mail) are not limited."""
    kept: list[int] = []
    later: list[int] = []
    taken: Counter[tuple[int, int]] = Counter()
    for cid in order:
        chunk = chunks.get(cid)
        if chunk is None:
            continue
        if chunk.page is not None:
            page = (chunk.document_id, chunk.page)
            if taken[page] >= MAX_PER_PAGE:
                later.append(cid)
                continue
            taken[page] += 1
        kept.append(cid)
        if len(kept) == k:
            break
    return (kept + later)[:k]


def _fused_scores(
    keyword: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    depth: int,
    vector_weight: float,
) -> dict[int, float]:
    scores = dict.fromkeys([cid for cid, _ in keyword] + [cid for cid, _ in vector], 0.0)
    for hits, weight in ((keyword, 1 - vector_weight), (vector, vector_weight)):
        top = hits[0][1] if hits else 0.0
        if top <= 0:
            continue
        found = dict(hits)
        # A chunk missing from a full list may lie just beyond its depth: it scores at most
        # the last score. Missing from a shorter list, it did not match at all: zero.
        beyond = max(hits[-1][1], 0.0) if len(hits) >= depth else 0.0
        for cid in scores:
            scores[cid] += weight * max(found.get(cid, beyond), 0.0) / top
    return scores
