"""Keyword ranking in PostgreSQL: BM25 over the store's postings, as the SQLite index
computes it (:mod:`sabio.index`: k1 = 1.2, b = 0.75, FTS5's idf, a passage's context
words at half weight, the same tokens: :func:`sabio.terms.tokens`).

The ``posting`` table (PostgreSQL migrations 6 and 7) holds a row per (word, passage):
the word's frequency there (text 1, context 0.5; stored doubled, a ``smallint``), the
passage's length (a ``smallint``) and the word's BM25 impact in it (its score without the
idf). Postings are made in Python from the same tokens as SQLite's index
(:func:`posting_lines`) and written by COPY (:func:`copy_postings`) in the transaction
that writes the passages; they are dropped with them (a trigger). Its index
``posting_impact`` (knowledge base, word, impact descending, with the passage, frequency
and length included) gives a word's best passages first, read from the index alone.
Unpacking each candidate's ``tsvector`` cost 0.1 to 0.45 ms a passage (decompressed at
every use); a posting is a few bytes of an index page.

A knowledge base of at most ``EXACT_BELOW`` passages reads every posting of the
question's words: exact BM25, the same ranking as SQLite's (tests/test_postgres.py,
tests/store_contract.py). A bigger one is ranked impact first, with a budget per word:

1. A rare word's postings all (one in at most ``WHOLE`` of the passages, or
   ``PER_TERM``), a commoner word's best ``PER_TERM`` by impact.
2. Every passage they name gets the BM25 of the words it was found under, and an upper
   bound: that plus, for each word whose list was cut, the score of the last posting
   read of it by impact, its floor (no passage left out of the list scores more for
   that word, as long as the average length has not moved since the impacts were
   written; the bound only orders the passages to complete, the scores sent are exact).
3. The best ``RERANK`` passages by their bound (``RERANK_SHARE`` of the passages, if
   more) get the postings of the cut words read by their primary key (passage, word):
   exact BM25 for them, best first.

A cut at ``PER_TERM`` for every word kept 0.98 of exact BM25's top 10 at 100,000
passages but 0.63 at 1M (74M postings): a passage holding several of the question's
words is seldom among any one word's best postings, and every cut list's floor is added
to its bound. Rare words read whole leave no floor, and they carry the idf.

All three are one statement (:data:`_RANKED`) that sends back only the ``depth`` best:
the same lists scored in Python cost 40 to 60 ms of row handling for 1.4 ms in the
server (30,000 passages, load 20). N and the average length are exact (the documents'
passages and word counts); a word's document frequency is counted on the index, at most
``PER_TERM + 1`` of it in a big knowledge base, and only a common word's to the end, kept
for ``DF_TTL`` seconds (it changes little in a minute).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sabio.store.documents import KnowledgeBase
from sabio.terms import K1, B, tokens

EXACT_BELOW = 20_000
"""A knowledge base of at most this many passages: every posting of the question's words
is read, every document frequency exact (as on SQLite)."""
PER_TERM = 3_000
"""The postings read of a common word, best impact first, in a bigger knowledge base
(bench/postgres.py, 100,000 passages, before ``WHOLE``: top 10 shared with exact BM25
0.87 at 1,000 and 200, 0.96 at 2,000 and 300, 0.98 at 3,000 and 300)."""
WHOLE = 0.03
"""A word in at most this share of a big knowledge base's passages (or ``PER_TERM``, if
more) has all its postings read. At 1M passages (bench/postgres.py's database, 50 SciFact
questions, the rankings timed in turn, a load of 4 on 2 cores): top 10 shared with exact
BM25 0.63 by ``PER_TERM`` alone at p50/p95 24/59 ms, 0.96 with this and ``RERANK_SHARE``
at 37/110 ms (0.95 at 35/91 with 0.0005; 0.944 at 36/88 with ``WHOLE`` 0.025). The whole
bench, 100 questions: 0.965, p50/p95 47/103 ms at a load of 4 to 5. Up to 100,000
passages ``PER_TERM`` is the larger: the same lists and 300 completed as measured there
before (not measured again)."""
RERANK = 300
"""Passages (the best by their upper bound) whose missing postings are read for exact BM25."""
RERANK_SHARE = 0.0007
"""... or this share of the knowledge base's passages, if more (1M, 50 questions: 700
passages, top 10 shared 0.960; 1,000: 0.964; 500: 0.952)."""
DF_TTL = 60.0
"""Seconds a big knowledge base's counted document frequency of a word is kept."""
_DF_CACHE = 4_096
TF_SCALE = 2
"""A posting's frequency is stored times this, as a ``smallint`` (PostgreSQL migration 7):
a word of the text counts 2, of the context 1 (half weight)."""

_FACTOR = (
    f"{K1 + 1} * p.tf::float8 / (p.tf::float8 + {TF_SCALE * K1}"
    f" * ({1 - B} + {B} * p.length::float8 / ?::float8))"
)
"""BM25 of a posting ``p`` without the idf, for an average length (the placeholder); its
``tf`` is stored times ``TF_SCALE``, hence ``TF_SCALE * K1``."""
_LISTS = """l AS (SELECT p.chunk_id, w.idf * {factor} AS s, w.floor, w.cap IS NULL AS whole
    FROM w CROSS JOIN LATERAL (SELECT chunk_id, tf, length FROM posting
        WHERE kb_id = ? AND term = w.term ORDER BY impact DESC LIMIT w.cap) p)"""
"""Each word's best ``cap`` postings by impact (``posting_impact``, an index-only scan;
a ``NULL`` cap: all of them), scored."""
_WITHIN = """l AS (SELECT p.chunk_id, w.idf * {factor} AS s, w.floor, w.cap IS NULL AS whole
    FROM chunk c JOIN posting p ON p.chunk_id = c.id JOIN w ON w.term = p.term
    WHERE c.kb_id = ? AND c.document_id = ANY(?))"""
"""Every posting of the words in the passages of some documents (a filter), scored."""
_RANKED = """WITH w AS (SELECT w.*, CASE WHEN w.cap IS NULL THEN 0 ELSE coalesce((
        SELECT w.idf * {factor} FROM posting p WHERE p.kb_id = ? AND p.term = w.term
        ORDER BY p.impact DESC OFFSET w.cap - 1 LIMIT 1), 0) END AS floor
    FROM unnest(?::text[], ?::float8[], ?::int8[]) AS w(term, idf, cap)),
{postings},
best AS (SELECT chunk_id, coalesce(sum(s) FILTER (WHERE whole), 0) AS whole FROM l
    GROUP BY chunk_id ORDER BY sum(s - floor) DESC, chunk_id LIMIT {rerank})
SELECT chunk_id, score FROM (SELECT b.chunk_id, b.whole + coalesce((
        SELECT sum(w.idf * {factor}) FROM w
        JOIN posting p ON p.chunk_id = b.chunk_id AND p.term = w.term
        WHERE w.cap IS NOT NULL), 0) AS score FROM best b) x
ORDER BY round(score::numeric, 9) DESC, chunk_id LIMIT {depth}"""
"""BM25 in the database (module docstring): the question's words with their idf, their
cap and the score at a cut list's end, its floor (``w``: the posting at the cap by
impact, one index probe); the
postings read, scored (``l``); the best passages by their upper bound (``best``: what was
read of them less the floors of the cut lists they were found in, a constant less), with
their score of the words read whole; those completed from the cut words' postings by the
primary key (passage, word). One pass over the postings and one grouping: a floor taken
as ``min`` over what was read, joined back, and an ``array_agg`` of the words found per
passage cost twice the time at 1M (60,000 passages grouped); ``WORK_MEM``
(:mod:`sabio.store.pg_documents`) keeps that grouping in memory. Ties by the score to 9
decimals, then by passage: a hashed grouping adds a passage's words in no set order,
and equal scores came out a last bit apart."""
_COUNTS = """SELECT w.term, (SELECT count(*) FROM (SELECT 1 FROM posting p
    WHERE p.kb_id = ? AND p.term = w.term LIMIT {limit}) x)
FROM unnest(?::text[]) AS w(term)"""
"""How many passages hold each word, counting at most ``limit``."""

_SMALL = 32_767
"""The largest ``smallint``: a frequency or a length past it is stored as it (a passage
of 32,767 words is not a passage)."""
MAX_TERM = 500
"""Longer words get no posting (a B-tree entry holds at most about 2,700 bytes; a word of
500 letters is an encoded blob, not something a question asks for)."""
COPY_POSTINGS = "COPY posting (chunk_id, kb_id, impact, tf, length, term) FROM STDIN"
_COPY_BLOCK = 20_000
"""Rows sent to COPY at a time."""


def posting_lines(
    kb_ids: Sequence[int],
    chunk_ids: Sequence[int],
    texts: Sequence[Sequence[str]],
    contexts: Sequence[Sequence[str]],
    avgdl: float,
) -> Iterator[str]:
    """The postings of some passages (of the knowledge bases ``kb_ids``, one a passage) as
    COPY's text rows (``chunk_id, kb_id, impact, tf, length, term``) from the tokens
    (:func:`sabio.terms.tokens`) of each one's text and context; its length is every
    token of both, its impact for the knowledge base's average length ``avgdl``. Tokens
    are letters and digits only: nothing to escape."""
    avgdl = max(float(avgdl), 1.0)
    for kb_id, chunk_id, text, context in zip(kb_ids, chunk_ids, texts, contexts, strict=True):
        counts: dict[str, int] = {}
        for word in text:
            counts[word] = counts.get(word, 0) + TF_SCALE
        for word in context:
            counts[word] = counts.get(word, 0) + 1
        length = max(len(text) + len(context), 1)
        norm = TF_SCALE * K1 * (1 - B + B * length / avgdl)
        head = f"{int(chunk_id)}\t{int(kb_id)}\t"
        tail = f"\t{min(length, _SMALL)}\t"
        for term, tf in counts.items():
            if len(term) <= MAX_TERM:
                impact = (K1 + 1) * tf / (tf + norm)
                yield f"{head}{impact:.7g}\t{min(tf, _SMALL)}{tail}{term}\n"


def copy_postings(connection: Any, lines: Iterable[str]) -> None:
    """Write postings (:func:`posting_lines`) by COPY on ``connection`` (a psycopg
    connection, in the caller's transaction): a fifth of the time of INSERTs built from
    the passages' ``tsvector`` (docs/benchmarks.md, issue 27)."""
    with connection.cursor() as cursor, cursor.copy(COPY_POSTINGS) as copy:
        block: list[str] = []
        for line in lines:
            block.append(line)
            if len(block) >= _COPY_BLOCK:
                copy.write("".join(block))
                block.clear()
        if block:
            copy.write("".join(block))


def lexemes(terms: Sequence[str]) -> list[str]:
    """The question's words as the postings hold them, each once."""
    return list(dict.fromkeys(w for term in terms for w in tokens(term)))


def idf(n: int, df: int) -> float:
    """FTS5's idf, as the SQLite index (never 0 or below)."""
    return max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)


class KeywordRanker:
    """BM25 over one PostgreSQL database's postings; keeps (per process, small): each
    knowledge base's size and average length, recent words' document frequencies."""

    def __init__(
        self,
        per_term: int = PER_TERM,
        rerank: int = RERANK,
        exact_below: int = EXACT_BELOW,
        whole: float = WHOLE,
        rerank_share: float = RERANK_SHARE,
    ) -> None:
        self.per_term = per_term
        self.whole = whole
        self.rerank_share = rerank_share
        self.rerank = rerank
        self.exact_below = exact_below
        self._lock = threading.Lock()
        self._sizes: dict[int, tuple[tuple[int, int], int, float]] = {}
        self._df: dict[tuple[int, int, str], tuple[int, float, int]] = {}
        self._averages: dict[int, tuple[float, float]] = {}  # a writer's: (when, avgdl)

    def search(
        self,
        db: Any,
        kb: KnowledgeBase,
        terms: Sequence[str],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``depth`` best chunks by BM25 for ``terms``, best first (module docstring):
        one statement, which sends back only them."""
        words = lexemes(terms)
        if not words:
            return []
        version, n, avgdl = self.size(db, kb)
        if not n:
            return []
        df = self._frequencies(db, kb, version, n, words)
        weights = [idf(n, df[w]) for w in words]
        exact = n <= self.exact_below or document_ids is not None
        caps = [None if exact else self.cap(n, df[w]) for w in words]
        factor = _FACTOR
        params: list[Any] = [avgdl, kb.id, words, weights, caps]
        if document_ids is not None:
            postings = _WITHIN.format(factor=factor)
            params += [avgdl, kb.id, list(document_ids)]
        else:
            postings = _LISTS.format(factor=factor)
            params += [avgdl, kb.id]
        sql = _RANKED.format(
            postings=postings,
            rerank="ALL" if exact else max(self.rerank, int(self.rerank_share * n), depth),
            factor=factor,
            depth=int(depth),
        )
        rows = db.execute(sql, [*params, avgdl]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows if float(r[1]) > 0]

    def cap(self, n: int, df: int) -> int | None:
        """The postings read of a word in ``df`` of the ``n`` passages of a big knowledge
        base: all of them (``None``) for a rare one, else the best ``per_term``."""
        return None if df <= max(self.per_term, self.whole * n) else self.per_term

    def term_weights(self, db: Any, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """Each term's idf in ``kb`` as the SQLite index gives it (a term never used there
        weighs most)."""
        version, n, _ = self.size(db, kb)
        words = list(dict.fromkeys(terms))
        df = self._frequencies(db, kb, version, n, words)
        return {t: idf(n, df[t]) for t in terms}

    def _frequencies(
        self, db: Any, kb: KnowledgeBase, version: tuple[int, int], n: int, words: list[str]
    ) -> dict[str, int]:
        """Each word's document frequency in the knowledge base, counted on the postings'
        index: at most ``per_term + 1`` in a big one, and only those past it counted to
        the end and kept for ``DF_TTL`` seconds (common words); else kept while the
        knowledge base is the same."""
        big = n > self.exact_below
        counts: dict[str, int] = {}
        now = time.monotonic()
        with self._lock:
            for word in words:
                kept = self._df.get((kb.id, version[1], word))
                if kept is not None and (
                    kept[2] == version[0]
                    or (big and kept[0] > self.per_term and now - kept[1] < DF_TTL)
                ):
                    counts[word] = kept[0]
        wanted = [w for w in words if w not in counts]
        asked = set(wanted)
        if wanted and big:
            capped = self._count(db, kb, wanted, self.per_term + 1)
            counts.update({w: k for w, k in capped.items() if k <= self.per_term})
            wanted = [w for w in wanted if capped[w] > self.per_term]
        if wanted:
            counts.update(self._count(db, kb, wanted, None))
        with self._lock:
            if len(self._df) > _DF_CACHE:
                self._df.clear()
            for word in asked:
                self._df[(kb.id, version[1], word)] = (counts[word], now, version[0])
        return counts

    @staticmethod
    def _count(db: Any, kb: KnowledgeBase, words: list[str], limit: int | None) -> dict[str, int]:
        sql = _COUNTS.format(limit="ALL" if limit is None else int(limit))
        return {str(w): int(k) for w, k in db.execute(sql, [kb.id, words]).fetchall()}

    def size(self, db: Any, kb: KnowledgeBase) -> tuple[tuple[int, int], int, float]:
        """(the knowledge base's version, its passages, their average length in words)."""
        row = db.execute("SELECT generation, epoch FROM kb WHERE id = ?", [kb.id]).fetchone()
        version = (int(row[0]), int(row[1])) if row else (-1, -1)
        with self._lock:
            cached = self._sizes.get(kb.id)
        if cached is not None and cached[0] == version:
            return cached
        found = self._measure(db, kb.id, version)
        with self._lock:
            self._sizes[kb.id] = found
        return found

    def average_length(self, db: Any, kb_id: int, otherwise: float) -> float:
        """The knowledge base's average passage length for a writer's impacts: measured
        at most every ``DF_TTL`` seconds (they need no more); ``otherwise`` while it has
        no passages (the first document's own)."""
        with self._lock:
            kept = self._averages.get(kb_id)
        if kept is None or time.monotonic() - kept[0] > DF_TTL:
            _, n, avgdl = self._measure(db, kb_id, (-1, -1))
            if not n:
                return otherwise
            kept = (time.monotonic(), avgdl)
            with self._lock:
                self._averages[kb_id] = kept
        return kept[1]

    @staticmethod
    def _measure(
        db: Any, kb_id: int, version: tuple[int, int]
    ) -> tuple[tuple[int, int], int, float]:
        n, words = db.execute(
            "SELECT coalesce(sum(chunk_count), 0), coalesce(sum(word_count), 0)"
            " FROM document WHERE kb_id = ?",
            [kb_id],
        ).fetchone()
        return version, int(n), float(words) / int(n) if n and words else 1.0
