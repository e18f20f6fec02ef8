"""The document field: what names each document as a whole, for the search.

In a folder of look-alike documents (the quarterly reports of several companies, contracts
from one template) a question names *which* document ("Apple's Q3 2023 10-Q") with words
that the passages holding the answer rarely repeat: the company is on the cover page, the
period in the file name. So every document gets one more field, its file name, title and
first passage (a report's cover page), ranked by BM25 with the statistics of documents,
not passages: "income statement" is in every report and weighs nothing there, "Apple"
or "Q3" picks a few. The search adds a document's field score to each of its passages
(:mod:`sabio.search`). Each document also gets a date, the latest one its field mentions,
for questions about the "latest" or "most recent" one.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sabio.terms import K1, B, tokens

_ALNUM_SPLIT = re.compile(r"[a-z]+|\d+")


def field_tokens(text: str) -> list[str]:
    """:func:`tokens`, and the letter and digit runs of mixed words ("fy2016": also "fy"
    and "2016", "2023q1": "2023" and "q1"), as file names and periods are written."""
    found = tokens(text)
    return found + [
        part
        for t in found
        if not t.isalpha() and not t.isdigit()
        for part in _ALNUM_SPLIT.findall(t)
    ]


def _source_words(source: str) -> str:
    """A document's file name as words ("/x/2023 Q3 AAPL.pdf": "2023 Q3 AAPL")."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


FieldCache = dict[int, tuple[str, dict[str, int], int, int]]
"""Document id: (its field's text, word counts, length, date), kept between builds."""


@dataclass(frozen=True, slots=True)
class DocumentField:
    """What names each document as a whole, one row per document: its file name, title and
    first passage (a report's cover page: the company, the period), as BM25 postings whose
    statistics are those of documents, not passages. "Income statement" is in every
    report of a folder of reports and weighs nothing here; "Apple" or "Q3" picks a few."""

    ids: NDArray[np.int64]
    postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float32]]]  # term: rows, tf
    norms: NDArray[np.float32]
    dates: NDArray[np.int64]  # the latest date each field mentions, yyyymmdd (0: none)

    @classmethod
    def build(
        cls, fields: Sequence[tuple[int, str, str, str]], read: FieldCache | None = None
    ) -> DocumentField:
        """The field of these (document id, source, title, first passage); ``read`` keeps
        each document's words and date between builds, so a change re-reads only the
        documents that changed."""
        read = {} if read is None else read
        rows: dict[str, tuple[array[int], array[float]]] = {}
        lengths, dates = [], []
        for row, (doc_id, source, title, first) in enumerate(fields):
            text = f"{_source_words(source)}\n{title}\n{first}"
            cached = read.get(doc_id)
            if cached is None or cached[0] != text:
                words = field_tokens(text)
                cached = (text, _counts(words), len(words), latest_date(text))
                read[doc_id] = cached
            lengths.append(cached[2])
            dates.append(cached[3])
            for term, count in cached[1].items():
                found = rows.setdefault(term, (array("q"), array("f")))
                found[0].append(row)
                found[1].append(count)
        for gone in read.keys() - {f[0] for f in fields}:
            del read[gone]
        avgdl = sum(lengths) / len(lengths) if lengths else 1.0
        norms = K1 * (1 - B + B * np.asarray(lengths, dtype=np.float32) / avgdl)
        return cls(
            ids=np.asarray([f[0] for f in fields], dtype=np.int64),
            postings={
                t: (np.frombuffer(r, dtype=np.int64), np.frombuffer(c, dtype=np.float32))
                for t, (r, c) in rows.items()
            },
            norms=norms.astype(np.float32),
            dates=np.asarray(dates, dtype=np.int64),
        )

    def latest(self, document_ids: Sequence[int]) -> int | None:
        """Of these documents, the one of the latest date (None: none has a date)."""
        rows = np.flatnonzero(np.isin(self.ids, np.asarray(document_ids, dtype=np.int64)))
        if not len(rows) or not self.dates[rows].max():
            return None
        return int(self.ids[rows[np.argmax(self.dates[rows])]])

    def scores(self, terms: Sequence[str] | Mapping[str, float]) -> dict[int, float]:
        """(document id: BM25 of its field) for the documents matching any term; with
        weights, each term's part of the BM25 times its weight."""
        n = len(self.ids)
        total = np.zeros(n, dtype=np.float32)
        weights = terms if isinstance(terms, Mapping) else dict.fromkeys(terms, 1.0)
        for term, weight in weights.items():
            if term not in self.postings:
                continue
            rows, tf = self.postings[term]
            idf = math.log(n / len(rows)) * weight  # zero for a term every document has
            total[rows] += np.float32(idf * (K1 + 1)) * tf / (tf + self.norms[rows])
        found = np.flatnonzero(total > 0)
        return {int(self.ids[i]): float(total[i]) for i in found}


def _counts(words: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return counts


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "enero"),
            ("february", "febrero"),
            ("march", "marzo"),
            ("april", "abril"),
            ("may", "mayo"),
            ("june", "junio"),
            ("july", "julio"),
            ("august", "agosto"),
            ("september", "septiembre", "setiembre"),
            ("october", "octubre"),
            ("november", "noviembre"),
            ("december", "diciembre"),
        ),
        1,
    )
    for name in names
}
_MONTH = "|".join(_MONTHS)
_DATES = re.compile(
    rf"\b(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}}),?\s+(?P<y1>(?:19|20)\d\d)\b"  # July 1, 2023
    rf"|\b(?P<d2>\d{{1,2}})\s+de\s+(?P<m2>{_MONTH})\s+de\s+(?P<y2>(?:19|20)\d\d)\b"  # 1 de julio
    r"|\b(?P<y3>(?:19|20)\d\d)-(?P<m3>[01]\d)-(?P<d3>[0-3]\d)\b"  # 2023-07-01
    r"|\b(?P<y4>(?:19|20)\d\d)\s*[-_ ]?\s*q(?P<q4>[1-4])\b"  # 2023 Q3
    r"|\bq(?P<q5>[1-4])\s*[-_ ]?\s*(?P<y5>(?:19|20)\d\d)\b",  # Q3 2023
    re.IGNORECASE,
)


def latest_date(text: str) -> int:
    """The latest date a text mentions, as yyyymmdd (a quarter as its last day); 0: none."""
    best = 0
    for m in _DATES.finditer(text):
        g = {k: v for k, v in m.groupdict().items() if v is not None}
        year = int(next(v for k, v in g.items() if k.startswith("y")))
        quarter = next((int(v) for k, v in g.items() if k.startswith("q")), 0)
        if quarter:
            month, day = 3 * quarter, 31
        else:
            month = next(
                int(v) if v.isdigit() else _MONTHS[v.lower()]
                for k, v in g.items()
                if k.startswith("m")
            )
            day = int(next(v for k, v in g.items() if k.startswith("d")))
        best = max(best, year * 10000 + month * 100 + day)
    return best
