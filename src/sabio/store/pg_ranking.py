"""Keyword ranking in PostgreSQL: BM25 over the store's postings, as the SQLite index
computes it (:mod:`sabio.index`: k1 = 1.2, b = 0.75, FTS5's idf, a passage's context
words at half weight, the same tokens: :func:`sabio.terms.tokens`).

The ``posting`` table (PostgreSQL migration 6) holds a row per (word, passage): the
word's frequency there (text 1, context 0.5), the passage's length and the word's BM25
impact in it (its score without the idf), kept in the transaction that writes the
passages (:func:`write_postings`) and dropped with them (a trigger). Its index
``posting_impact`` (knowledge base, word, impact descending, with the passage, frequency
and length included) gives a word's best passages first, read from the index alone.
Unpacking each candidate's ``tsvector`` cost 0.1 to 0.45 ms a passage (decompressed at
every use); a posting is a few bytes of an index page.

A knowledge base of at most ``EXACT_BELOW`` passages reads every posting of the
question's words: exact BM25, the same ranking as SQLite's (tests/test_postgres.py,
tests/store_contract.py). A bigger one is ranked impact first, with a budget per word:

1. Each word's best ``PER_TERM`` postings by impact (all of them for a word in fewer
   passages: its document frequency is then known exactly, for free).
2. Every passage they name gets the BM25 of the words it was found under, and an upper
   bound: that plus, for each word whose list was cut, the score of the list's last
   posting (no passage left out of a list scores more for that word).
3. The best ``RERANK`` passages by their bound get their missing postings read by their
   primary key (passage, word): exact BM25 for them, best first.

N and the average length are exact (the documents' passages and word counts); a cut
word's document frequency is counted on the index and kept for ``DF_TTL`` seconds (a
common word's changes little in a minute; a small knowledge base's are always exact).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from sabio.store.documents import KnowledgeBase
from sabio.terms import K1, B, tokens

EXACT_BELOW = 20_000
"""A knowledge base of at most this many passages: every posting of the question's words
is read, every document frequency exact (as on SQLite)."""
PER_TERM = 1_000
"""The postings read of each word, best impact first, in a bigger knowledge base."""
RERANK = 200
"""Passages (the best by their upper bound) whose missing postings are read for exact BM25."""
DF_TTL = 60.0
"""Seconds a big knowledge base's counted document frequency of a word is kept."""
_DF_CACHE = 4_096

_LISTS = """SELECT w.term, p.chunk_id, p.tf, p.length
FROM unnest(?::text[]) AS w(term) CROSS JOIN LATERAL (
    SELECT chunk_id, tf, length FROM posting
    WHERE kb_id = ? AND term = w.term ORDER BY impact DESC LIMIT {limit}) p"""
"""Each word's best postings by impact (``posting_impact``, an index-only scan)."""
_WITHIN = """SELECT p.term, p.chunk_id, p.tf, p.length FROM chunk c
JOIN posting p ON p.chunk_id = c.id AND p.term = ANY(?::text[])
WHERE c.kb_id = ? AND c.document_id = ANY(?)"""
"""Every posting of the words in the passages of some documents (a filter)."""
_MISSING = """SELECT term, chunk_id, tf, length FROM posting
WHERE chunk_id = ANY(?) AND term = ANY(?::text[])"""
"""The postings of the words in some passages, by the primary key (passage, word)."""
_COUNTS = """SELECT w.term, (SELECT count(*) FROM posting p WHERE p.kb_id = ? AND p.term = w.term)
FROM unnest(?::text[]) AS w(term)"""

_POSTINGS = f"""INSERT INTO posting(kb_id, term, chunk_id, tf, length, impact)
SELECT c.kb_id, u.lexeme, c.id, u.tf, l.length,
       u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * l.length / ?::real))
FROM chunk c,
LATERAL (SELECT greatest(sum(cardinality(positions)), 1)::real AS length
         FROM unnest(c.words)) l,
LATERAL (SELECT lexeme, coalesce(nullif(cardinality(array_positions(weights, 'A'))
                + 0.5 * cardinality(array_positions(weights, 'B')), 0), 1)::real AS tf
         FROM unnest(c.words)) u
WHERE """
"""The postings of some passages, from their ``tsvector`` (text words weight A, context
B; a length is every position), with their impact for the knowledge base's average
length; the condition on ``c`` follows."""

Posting = tuple[str, int, float, float]
"""(word, chunk id, term frequency, the passage's length)."""


def write_postings(db: Any, where: str, params: Sequence[Any], avgdl: float) -> None:
    """Insert the postings of the chunks ``c`` that match ``where`` (SQL with ``?``
    placeholders for ``params``); ``avgdl``: the knowledge base's average length."""
    db.execute(_POSTINGS + where, [max(float(avgdl), 1.0), *params])


def lexemes(terms: Sequence[str]) -> list[str]:
    """The question's words as the postings hold them, each once."""
    return list(dict.fromkeys(w for term in terms for w in tokens(term)))


def bm25(tf: float, idf: float, length: float, avgdl: float) -> float:
    return idf * (K1 + 1) * tf / (tf + K1 * (1 - B + B * length / avgdl))


def idf(n: int, df: int) -> float:
    """FTS5's idf, as the SQLite index (never 0 or below)."""
    return max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)


class KeywordRanker:
    """BM25 over one PostgreSQL database's postings; keeps (per process, small): each
    knowledge base's size and average length, recent words' document frequencies."""

    def __init__(
        self, per_term: int = PER_TERM, rerank: int = RERANK, exact_below: int = EXACT_BELOW
    ) -> None:
        self.per_term = per_term
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
        """The ``depth`` best chunks by BM25 for ``terms``, best first (module docstring)."""
        words = lexemes(terms)
        if not words:
            return []
        version, n, avgdl = self.size(db, kb)
        if not n:
            return []
        exact = n <= self.exact_below
        listed: dict[str, int] | None = None  # each word's list's length, when read whole
        cut: set[str] = set()  # the words whose lists were cut
        if document_ids is not None:
            rows = db.execute(_WITHIN, [words, kb.id, list(document_ids)]).fetchall()
        else:
            limit = "ALL" if exact else str(int(self.per_term))
            rows = db.execute(_LISTS.format(limit=limit), [words, kb.id]).fetchall()
            listed = dict.fromkeys(words, 0)
            for row in rows:
                listed[row[0]] += 1
            if not exact:
                cut = {w for w, k in listed.items() if k >= self.per_term}
        df = self._frequencies(db, kb, version, n, words, listed, cut)
        weights = {w: idf(n, df[w]) for w in words}
        scores = _scores(rows, weights, avgdl)
        if cut:
            scores = self._refine(db, rows, scores, weights, avgdl, cut, depth)
        best = sorted(scores.items(), key=lambda hit: (-hit[1], hit[0]))
        return [hit for hit in best[:depth] if hit[1] > 0]

    def _refine(
        self,
        db: Any,
        rows: Sequence[Posting],
        scores: dict[int, float],
        weights: dict[str, float],
        avgdl: float,
        cut: set[str],
        depth: int,
    ) -> dict[int, float]:
        """Exact BM25 for the passages with the best upper bounds (module docstring)."""
        floor = dict.fromkeys(cut, math.inf)  # the lowest score read of each cut list
        held: dict[int, set[str]] = {}
        for word, chunk_id, tf, length in rows:
            held.setdefault(int(chunk_id), set()).add(word)
            if word in cut:
                score = bm25(float(tf), weights[word], float(length), avgdl)
                floor[word] = min(floor[word], score)
        bound = {
            c: s + sum(f for w, f in floor.items() if w not in held[c]) for c, s in scores.items()
        }
        chosen = sorted(bound, key=lambda c: (-bound[c], c))[: max(self.rerank, depth)]
        missing = [c for c in chosen if cut - held[c]]
        exact = {c: scores[c] for c in chosen}
        if missing:
            for word, chunk_id, tf, length in db.execute(
                _MISSING, [missing, sorted(cut)]
            ).fetchall():
                if word not in held[int(chunk_id)]:
                    exact[int(chunk_id)] += bm25(float(tf), weights[word], float(length), avgdl)
        return exact

    def term_weights(self, db: Any, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """Each term's idf in ``kb`` as the SQLite index gives it (a term never used there
        weighs most)."""
        version, n, _ = self.size(db, kb)
        words = list(dict.fromkeys(terms))
        df = self._frequencies(db, kb, version, n, words, None, set(words))
        return {t: idf(n, df[t]) for t in terms}

    def _frequencies(
        self,
        db: Any,
        kb: KnowledgeBase,
        version: tuple[int, int],
        n: int,
        words: list[str],
        listed: dict[str, int] | None,
        cut: set[str],
    ) -> dict[str, int]:
        """Each word's document frequency in the knowledge base: its whole list's length
        when it was read whole, else counted (kept: while the knowledge base is the same,
        or for ``DF_TTL`` seconds in a big one)."""
        counts = {w: k for w, k in (listed or {}).items() if w not in cut}
        now = time.monotonic()
        with self._lock:
            for word in words:
                kept = self._df.get((kb.id, version[1], word))
                if word not in counts and kept is not None:
                    fresh = kept[2] == version[0] or (
                        n > self.exact_below and now - kept[1] < DF_TTL
                    )
                    if fresh:
                        counts[word] = kept[0]
        wanted = [w for w in words if w not in counts]
        if wanted:
            asked = {str(w): int(k) for w, k in db.execute(_COUNTS, [kb.id, wanted]).fetchall()}
            counts.update(asked)
            with self._lock:
                if len(self._df) > _DF_CACHE:
                    self._df.clear()
                for word, k in asked.items():
                    self._df[(kb.id, version[1], word)] = (k, now, version[0])
        return counts

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


def _scores(rows: Sequence[Posting], weights: dict[str, float], avgdl: float) -> dict[int, float]:
    """Each passage's BM25 over the postings read of it."""
    scores: dict[int, float] = {}
    for word, chunk_id, tf, length in rows:
        key = int(chunk_id)
        scores[key] = scores.get(key, 0.0) + bm25(float(tf), weights[word], float(length), avgdl)
    return scores
