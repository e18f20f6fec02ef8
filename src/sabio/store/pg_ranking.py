"""Keyword ranking in PostgreSQL: BM25 over the chunks' ``tsvector``, as the SQLite
index computes it (:mod:`sabio.index`: k1 = 1.2, b = 0.75, FTS5's idf, a passage's
context words at half weight), on a cut of candidates instead of every match.

``ts_rank`` over every passage that matches any word of a question took 85 % of a
hybrid search's time at 100k passages (a common word matches a third of them) and knows
no idf. Here, in a knowledge base of more than ``EXACT_BELOW`` passages:

1. The candidates are the passages holding the question's rarest words, found through
   the GIN index: the words PostgreSQL's statistics of the column do not count among
   its common ones (``pg_stats.most_common_elems``, kept by ANALYZE), then the others
   by their share while their passages stay within ``CANDIDATE_BUDGET``; none in more
   than ``COMMON_SHARE`` of the passages. A question of common words only takes the
   passages holding all of them, then any, at most ``CANDIDATE_CAP``.
2. Every candidate gets a cheap score (the idf of the question's words it holds, over
   its number of distinct words): its words unpacked once, without positions.
3. The best ``RERANK`` of them get BM25 with their term frequencies (text words weight
   A, context B) and lengths (every position) from their ``tsvector``.

Common words still count, with their idf, in every candidate's score; they only bring
no candidates. N is the knowledge base's passages, the average length that of its
latest ``LENGTH_SAMPLE``; a candidate word's document frequency is exact (counted over
the candidates, or in the database under a filter, and kept), a common word's from the
column's statistics. A smaller knowledge base gets every match as a candidate and exact
frequencies: the same ranking as SQLite's (tests/test_postgres.py, tests/store_contract.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from sabio.store.documents import KnowledgeBase
from sabio.terms import K1, B, tokens

COMMON_SHARE = 0.01
"""A word in more than this share of the passages brings no candidates (bench/postgres.py:
keyword recall@10 against ranking every match)."""
EXACT_BELOW = 20_000
"""A knowledge base of at most this many passages: every match is a candidate and every
document frequency exact (as on SQLite), whatever the column's statistics say."""
CANDIDATE_BUDGET = 1_500
"""About how many passages the candidate words may bring (by the column's statistics),
beyond those of the words too rare to be among its common ones."""
CANDIDATE_CAP = 4_000
"""Most candidates read for a question of common words only."""
RERANK = 300
"""Candidates (the best by the cheap score) ranked by BM25 with their term frequencies."""
STATS_TTL = 60.0
"""Seconds PostgreSQL's column statistics are kept by a process before being read again."""
LENGTH_SAMPLE = 1_000
"""The latest passages whose lengths give a knowledge base's average length."""
_DF_CACHE = 4_096

_CANDIDATES = """SELECT c.id, s.distinct_words, s.held FROM chunk c, LATERAL (
    SELECT count(*) AS distinct_words, array_agg(w) FILTER (WHERE w = ANY(?::text[])) AS held
    FROM unnest(tsvector_to_array(c.words)) w) s
WHERE c.kb_id = ? AND c.words @@ to_tsquery('simple', ?)"""
"""Each matching passage's id, its number of distinct words, and which of the question's
words it holds (its words unpacked once, without their positions)."""
_EXACT = """SELECT c.id, s.length, s.found FROM chunk c, LATERAL (
    SELECT sum(cardinality(u.positions)) AS length,
           array_agg(u.lexeme || ' ' || array_to_string(u.weights, ''))
             FILTER (WHERE u.lexeme = ANY(?::text[])) AS found
    FROM unnest(c.words) u) s
WHERE c.id = ANY(?)"""
"""For each passage: its length (every position of every word) and, for each word of the
question it holds, the word and the weights of its positions ("cell AAB")."""

Candidate = tuple[int, int, set[str]]
"""(chunk id, its distinct words, the question's words it holds)."""


def lexemes(terms: Sequence[str]) -> list[str]:
    """The question's words as the ``tsvector`` holds them, each once."""
    return list(dict.fromkeys(w for term in terms for w in tokens(term)))


def tsquery(words: Sequence[str], operator: str = "|") -> str:
    return f" {operator} ".join("'" + w.replace("'", "''").replace("\\", "") + "'" for w in words)


def bm25(tf: float, idf: float, length: float, avgdl: float) -> float:
    return idf * (K1 + 1) * tf / (tf + K1 * (1 - B + B * length / avgdl))


def idf(n: int, df: int) -> float:
    """FTS5's idf, as the SQLite index (never 0 or below)."""
    return max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)


class KeywordRanker:
    """BM25 over one PostgreSQL database's chunks; keeps (per process, small): the column's
    common words, each knowledge base's size and average length, recent rare words'
    document frequencies."""

    def __init__(
        self,
        common_share: float = COMMON_SHARE,
        rerank: int = RERANK,
        budget: float = CANDIDATE_BUDGET,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        self.common_share = common_share  # 1.0 and no limits: every match (exact, slow)
        self.rerank = rerank
        self.budget = budget
        self.exact_below = exact_below
        self._lock = threading.Lock()
        self._common: tuple[float, dict[str, float]] = (-math.inf, {})
        self._sizes: dict[int, tuple[tuple[int, int], int, float, float]] = {}
        self._df: dict[tuple[int, int, int, str], int] = {}

    def search(
        self,
        db: Any,
        kb: KnowledgeBase,
        terms: Sequence[str],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``depth`` best chunks by BM25 for ``terms``, best first: every candidate
        scored cheaply (which words it holds, its number of distinct words), then the best
        ``rerank`` of them by BM25 with their term frequencies and lengths."""
        words = lexemes(terms)
        if not words:
            return []
        version, n, avgdl, avg_words = self._size(db, kb)
        if not n:
            return []
        common = self._common_share(db) if n > self.exact_below else {}
        rare = self._sources(words, common, n)
        rows = self._candidates(db, kb, words, rare, document_ids, depth)
        counted = document_ids is None and bool(rare)  # every passage holding a rare word
        df = self._frequencies(db, kb, version, words, rare, rows if counted else None)
        weights = {w: idf(n, df[w] if w in df else round(common[w] * n)) for w in words}
        cheap = sorted(
            (
                (
                    -sum(weights[w] for w in found) / (1 + K1 * (1 - B + B * distinct / avg_words)),
                    chunk_id,
                )
                for chunk_id, distinct, found in rows
            )
        )[: len(rows) if n <= self.exact_below else max(self.rerank, depth)]
        scored = []
        for chunk_id, length, found_words in db.execute(
            _EXACT, [words, [cid for _, cid in cheap]]
        ).fetchall():
            score = 0.0
            for entry in found_words or ():
                word, _, marks = entry.partition(" ")
                tf = marks.count("A") + 0.5 * marks.count("B") or 1.0  # 'D': no weight
                score += bm25(tf, weights[word], float(length or 1), avgdl)
            scored.append((int(chunk_id), score))
        scored.sort(key=lambda hit: (-hit[1], hit[0]))
        return [hit for hit in scored[:depth] if hit[1] > 0]

    def _sources(self, words: list[str], common: dict[str, float], n: int) -> list[str]:
        """The words whose passages are the candidates: the rarest first (those not among
        the column's common words, then by their share), while their passages are within
        ``budget`` (the rarest always), none in more than ``common_share`` of them."""
        chosen: list[str] = []
        rows = 0.0
        for word in sorted(words, key=lambda w: common.get(w, 0.0)):
            share = common.get(word, 0.0)
            if share > self.common_share or (chosen and rows + share * n > self.budget):
                break
            chosen.append(word)
            rows += share * n
        return [w for w in words if w in chosen]

    def term_weights(self, db: Any, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """Each term's idf in ``kb`` as the SQLite index gives it (a term never used there
        weighs most; a common one by the column's statistics)."""
        version, n, _, _ = self._size(db, kb)
        common = self._common_share(db) if n > self.exact_below else {}
        rare = [t for t in dict.fromkeys(terms) if common.get(t, 0.0) <= self.common_share]
        df = self._frequencies(db, kb, version, rare, rare, None)
        return {t: idf(n, df[t] if t in df else round(common[t] * n)) for t in terms}

    def _candidates(
        self,
        db: Any,
        kb: KnowledgeBase,
        words: list[str],
        rare: list[str],
        document_ids: Sequence[int] | None,
        depth: int,
    ) -> list[Candidate]:
        sql = _CANDIDATES
        held = [words]
        if document_ids is not None:  # a filter bounds them
            sql += " AND c.document_id = ANY(?)"
            return self._read(db, sql, [*held, kb.id, tsquery(words), list(document_ids)])
        if rare == words:
            return self._read(db, sql, [*held, kb.id, tsquery(words)])
        if rare:
            rows = self._read(db, sql, [*held, kb.id, tsquery(rare)])
        else:
            rows = self._read(
                db, f"{sql} LIMIT {CANDIDATE_CAP}", [*held, kb.id, tsquery(words, "&")]
            )
        if len(rows) < depth:  # too few: passages of common words too, a bounded number
            seen = {r[0] for r in rows}
            more = self._read(db, f"{sql} LIMIT {CANDIDATE_CAP}", [*held, kb.id, tsquery(words)])
            rows += [r for r in more if r[0] not in seen]
        return rows

    @staticmethod
    def _read(db: Any, sql: str, params: list[Any]) -> list[Candidate]:
        return [(int(r[0]), int(r[1]), set(r[2] or ())) for r in db.execute(sql, params).fetchall()]

    def _frequencies(
        self,
        db: Any,
        kb: KnowledgeBase,
        version: tuple[int, int],
        words: list[str],
        rare: list[str],
        rows: list[Candidate] | None,
    ) -> dict[str, int]:
        """Each rare word's document frequency in the knowledge base: counted over
        ``rows`` when they are all its passages that hold one, else kept or asked of the
        database."""
        key = (kb.id, *version)
        if rows is not None:
            counts = {w: sum(1 for _, _, held in rows if w in held) for w in rare}
        else:
            with self._lock:
                counts = {w: df for w in rare if (df := self._df.get((*key, w))) is not None}
            for word in (w for w in rare if w not in counts):
                counts[word] = int(
                    db.execute(
                        "SELECT count(*) FROM chunk WHERE kb_id = ?"
                        " AND words @@ to_tsquery('simple', ?)",
                        [kb.id, tsquery([word])],
                    ).fetchone()[0]
                )
        with self._lock:
            if len(self._df) > _DF_CACHE:
                self._df.clear()
            self._df.update({(*key, w): df for w, df in counts.items()})
        return counts

    def _size(self, db: Any, kb: KnowledgeBase) -> tuple[tuple[int, int], int, float, float]:
        """(the knowledge base's version, its passages, their average length in words and
        in distinct words)."""
        row = db.execute("SELECT generation, epoch FROM kb WHERE id = ?", [kb.id]).fetchone()
        version = (int(row[0]), int(row[1])) if row else (-1, -1)
        with self._lock:
            cached = self._sizes.get(kb.id)
        if cached is not None and cached[0] == version:
            return cached
        n = db.execute(
            "SELECT coalesce(sum(chunk_count), 0) FROM document WHERE kb_id = ?", [kb.id]
        ).fetchone()[0]
        lengths = db.execute(
            "SELECT avg((SELECT sum(cardinality(u.positions)) FROM unnest(s.words) u)),"
            " avg(length(s.words))"
            f" FROM (SELECT words FROM chunk WHERE kb_id = ? ORDER BY id DESC"
            f" LIMIT {LENGTH_SAMPLE}) s",
            [kb.id],
        ).fetchone()
        found = (version, int(n), float(lengths[0] or 1.0), float(lengths[1] or 1.0))
        with self._lock:
            self._sizes[kb.id] = found
        return found

    def _common_share(self, db: Any) -> dict[str, float]:
        """The column's most common words and the share of passages each is in, as
        PostgreSQL's last ANALYZE of ``chunk.words`` found them."""
        with self._lock:
            read_at, common = self._common
        if time.monotonic() - read_at < STATS_TTL:
            return common
        row = db.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
            " WHERE tablename = 'chunk' AND attname = 'words'"
            " AND schemaname = current_schema()"
        ).fetchone()
        common = dict(zip(row[0], map(float, row[1]), strict=False)) if row and row[0] else {}
        with self._lock:
            self._common = (time.monotonic(), common)
        return common
