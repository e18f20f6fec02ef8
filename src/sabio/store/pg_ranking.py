"""Keyword ranking in PostgreSQL: BM25 over the chunks' ``tsvector``, as the SQLite
index computes it (:mod:`sabio.index`: k1 = 1.2, b = 0.75, a passage's context words at
half weight), on a cut of candidates instead of every match.

``ts_rank`` over every passage that matches any word of a question took 85 % of a
hybrid search's time at 100k passages (a common word matches a third of them) and knows
no idf. Here the candidates are the passages holding a question's *rare* words — those
in at most ``COMMON_SHARE`` of the passages by PostgreSQL's own statistics of the
column (``pg_stats.most_common_elems``, kept by ANALYZE) — found through the GIN index;
common words still count in their scores, with their idf, but do not bring candidates
(a passage matching only "cell" and "protein" of a question that names "p53" would
rank below those naming it anyway). A question of common words only takes the passages
holding all of them, then any, at most ``CANDIDATE_CAP``. Each candidate's term
frequencies and length come from its ``tsvector`` (text words weight A, context B);
N and the average length are the knowledge base's, each rare word's document frequency
exact (counted over its candidates, or in the database when a filter narrows them),
a common word's from the column statistics.
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
CANDIDATE_CAP = 4_000
"""Most candidates read for a question of common words only."""
STATS_TTL = 60.0
"""Seconds PostgreSQL's column statistics are kept by a process before being read again."""
LENGTH_SAMPLE = 1_000
"""The latest passages whose lengths give a knowledge base's average length."""
_DF_CACHE = 4_096

_CANDIDATES = """SELECT c.id,
       (SELECT sum(cardinality(u.positions)) FROM unnest(c.words) u),
       (SELECT array_agg(u.lexeme || ' ' || array_to_string(u.weights, ''))
          FROM unnest(c.words) u WHERE u.lexeme = ANY(?::text[]))
FROM chunk c WHERE c.kb_id = ? AND c.words @@ to_tsquery('simple', ?)"""
"""Each matching passage's id, length (every position of every word) and, for each word
of the question it holds, the word and the weights of its positions ("cell AAB")."""


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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._common: tuple[float, dict[str, float]] = (-math.inf, {})
        self._sizes: dict[int, tuple[tuple[int, int], int, float]] = {}
        self._df: dict[tuple[int, int, int, str], int] = {}

    def search(
        self,
        db: Any,
        kb: KnowledgeBase,
        terms: Sequence[str],
        depth: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``depth`` best chunks by BM25 for ``terms``, best first."""
        words = lexemes(terms)
        if not words:
            return []
        version, n, avgdl = self._size(db, kb)
        if not n:
            return []
        common = self._common_share(db)
        rare = [w for w in words if common.get(w, 0.0) <= COMMON_SHARE]
        rows = self._candidates(db, kb, words, rare, document_ids, depth)
        counted = document_ids is None and bool(rare)  # every passage holding a rare word
        df = self._frequencies(db, kb, version, rare, rows if counted else None)
        weights = {w: idf(n, df[w]) if w in df else idf(n, round(common[w] * n)) for w in words}
        scored = []
        for chunk_id, length, found in rows:
            score = 0.0
            for entry in found or ():
                word, _, marks = entry.partition(" ")
                tf = marks.count("A") + 0.5 * marks.count("B") or 1.0  # 'D': no weight
                score += bm25(tf, weights[word], float(length or 1), avgdl)
            scored.append((int(chunk_id), score))
        scored.sort(key=lambda hit: (-hit[1], hit[0]))
        return [hit for hit in scored[:depth] if hit[1] > 0]

    def term_weights(self, db: Any, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """Each term's idf in ``kb`` as the SQLite index gives it (a term never used there
        weighs most; a common one by the column's statistics)."""
        version, n, _ = self._size(db, kb)
        common = self._common_share(db)
        rare = [t for t in dict.fromkeys(terms) if common.get(t, 0.0) <= COMMON_SHARE]
        df = self._frequencies(db, kb, version, rare, None)
        return {t: idf(n, df[t] if t in df else round(common[t] * n)) for t in terms}

    def _candidates(
        self,
        db: Any,
        kb: KnowledgeBase,
        words: list[str],
        rare: list[str],
        document_ids: Sequence[int] | None,
        depth: int,
    ) -> list[tuple[int, int, list[str] | None]]:
        within, extra = "", []
        if document_ids is not None:
            within, extra = " AND c.document_id = ANY(?)", [list(document_ids)]
        if document_ids is not None or rare == words:  # a filter bounds them; else none common
            return self._read(db, _CANDIDATES + within, [words, kb.id, tsquery(words), *extra])
        if rare:
            rows = self._read(db, _CANDIDATES, [words, kb.id, tsquery(rare)])
        else:
            rows = self._read(
                db, f"{_CANDIDATES} LIMIT {CANDIDATE_CAP}", [words, kb.id, tsquery(words, "&")]
            )
        if len(rows) < depth:  # too few: passages of common words too, a bounded number
            seen = {r[0] for r in rows}
            more = self._read(
                db, f"{_CANDIDATES} LIMIT {CANDIDATE_CAP}", [words, kb.id, tsquery(words)]
            )
            rows += [r for r in more if r[0] not in seen]
        return rows

    @staticmethod
    def _read(db: Any, sql: str, params: list[Any]) -> list[tuple[int, int, list[str] | None]]:
        return [(int(r[0]), int(r[1] or 0), r[2]) for r in db.execute(sql, params).fetchall()]

    def _frequencies(
        self,
        db: Any,
        kb: KnowledgeBase,
        version: tuple[int, int],
        rare: list[str],
        rows: list[tuple[int, int, list[str] | None]] | None,
    ) -> dict[str, int]:
        """Each rare word's document frequency in the knowledge base: counted over
        ``rows`` when they are all its passages, else kept or asked of the database."""
        key = (kb.id, *version)
        if rows is not None:
            counts = dict.fromkeys(rare, 0)
            for _, _, found in rows:
                for entry in found or ():
                    word = entry.partition(" ")[0]
                    if word in counts:
                        counts[word] += 1
        else:
            with self._lock:
                counts = {w: df for w in rare if (df := self._df.get((*key, w))) is not None}
            missing = [w for w in rare if w not in counts]
            if missing:
                counts |= {
                    str(r[0]): int(r[1])
                    for r in db.execute(
                        "SELECT u.lexeme, count(*) FROM chunk c, unnest(c.words) u"
                        " WHERE c.kb_id = ? AND c.words @@ to_tsquery('simple', ?)"
                        " AND u.lexeme = ANY(?::text[]) GROUP BY u.lexeme",
                        [kb.id, tsquery(missing), missing],
                    ).fetchall()
                }
                counts |= {w: 0 for w in missing if w not in counts}
        with self._lock:
            if len(self._df) > _DF_CACHE:
                self._df.clear()
            self._df.update({(*key, w): df for w, df in counts.items()})
        return counts

    def _size(self, db: Any, kb: KnowledgeBase) -> tuple[tuple[int, int], int, float]:
        """(the knowledge base's version, its passages, their average length)."""
        row = db.execute("SELECT generation, epoch FROM kb WHERE id = ?", [kb.id]).fetchone()
        version = (int(row[0]), int(row[1])) if row else (-1, -1)
        with self._lock:
            cached = self._sizes.get(kb.id)
        if cached is not None and cached[0] == version:
            return cached
        n = db.execute(
            "SELECT coalesce(sum(chunk_count), 0) FROM document WHERE kb_id = ?", [kb.id]
        ).fetchone()[0]
        avgdl = db.execute(
            "SELECT avg((SELECT sum(cardinality(u.positions)) FROM unnest(s.words) u))"
            f" FROM (SELECT words FROM chunk WHERE kb_id = ? ORDER BY id DESC"
            f" LIMIT {LENGTH_SAMPLE}) s",
            [kb.id],
        ).fetchone()[0]
        found = (version, int(n), float(avgdl or 1.0) or 1.0)
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
