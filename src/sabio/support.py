"""Is each statement of an answer supported by the passages it was made from?

An answer is split into claims (its sentences and list items; greetings and other
sentences without a checkable word are not claims). A claim is **supported** by a
passage when

1. every figure, month, name and quoted term it states is in that passage: figures in
   the same sentence (or the one next to it) as the words that match, compared as values
   (:mod:`sabio.facts`: "48,310 thousand" = "48.3 million"); names and months anywhere
   in the passage, its title or heading;
2. it says the same thing: enough of its telling words are in that sentence (and, for a
   table row, the table's caption and heading), or its meaning is close to the
   sentence's by the knowledge base's embedding model with some words shared;
3. both say it or both deny it (a "not" on one side only makes it unsupported).

Passages a claim cites are tried first, then the others in the prompt. A supported claim
carries its passage, page and the span of the sentence that supports it; an unsupported
one, what was not found. The thresholds were chosen on a labelled set built from
passages (``bench/answers.py checker``: true statements copied or paraphrased, false ones
with a figure, date, name or negation changed), on its development half only.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sabio.errors import ModelError
from sabio.facts import (
    Figure,
    content_terms,
    figures,
    is_table_row,
    is_year,
    months,
    names,
    negations,
    quoted,
    same_figure,
    sentences,
    stem,
)
from sabio.models import Vectors
from sabio.search import SearchHit
from sabio.terms import tokens

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], Vectors]
"""Texts → unit vectors (the knowledge base's embedding model)."""

LEXICAL_FLOOR = 0.5
"""A claim whose telling words are at least this share in one passage sentence (or two
adjacent ones) says what that sentence says."""
SIMILAR_FLOOR = 0.7
"""…or, with at least :data:`SIMILAR_WORDS` of its words there, this cosine."""
SIMILAR_WORDS = 0.34
MIN_TERMS = 2
"""A sentence with fewer telling words and no figure, month or name is no claim."""
_CITATION = re.compile(r"\s*\[(\d{1,3})\]")


@dataclass(slots=True)
class Claim:
    """One statement of an answer and what the check found for it.

    ``start``/``end``: its place in the answer's text. When supported: ``passage`` is its
    number in the prompt (1-based), ``citation`` the number the reader sees (set once the
    answer's citations are known), ``quote`` the supporting sentence, at ``quote_start``
    to ``quote_end`` in the document's text. When not: ``missing`` lists the figures,
    months and names no passage has."""

    text: str
    start: int
    end: int
    supported: bool = False
    quoted: bool = False
    """A quote Sabio made (an extractive answer), not the model's words."""
    passage: int | None = None
    citation: int | None = None
    document: str = ""
    document_id: int | None = None
    chunk_id: int | None = None
    page: int | None = None
    quote: str = ""
    quote_start: int | None = None
    quote_end: int | None = None
    score: float = 0.0
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence (or table row) of a passage: offsets in the passage's text, what it says."""

    start: int
    end: int
    text: str
    terms: frozenset[str]  # stems of its telling words (with its table's heading for a row)
    own: frozenset[str]  # stems of its own telling words
    figures: tuple[Figure, ...]
    negations: frozenset[tuple[str, str]]
    row: bool


class Passages:
    """The passages of one answer, split into sentences once, with their vectors made
    on first need, for the support check and for extractive answers."""

    def __init__(
        self,
        hits: Sequence[SearchHit],
        embed: Embed | None = None,
        similar_floor: float = SIMILAR_FLOOR,
    ) -> None:
        self.hits = list(hits)
        self.embed = embed
        self.similar_floor = similar_floor
        """The cosine (of ``embed``) from which a claim says what a sentence says."""
        self.sentences = [_split(hit.text) for hit in self.hits]
        self._context = [
            f"{hit.title} {hit.heading} {hit.document.rsplit('/', 1)[-1]}" for hit in self.hits
        ]
        self._whole = [f"{c}\n{hit.text}" for c, hit in zip(self._context, self.hits, strict=True)]
        self._vectors: dict[str, np.ndarray] = {}

    @functools.cached_property
    def names(self) -> list[set[str]]:
        """Each passage's names, and every word of its title, heading and file name."""
        return [names(w) | set(tokens(c)) for c, w in zip(self._context, self._whole, strict=True)]

    @functools.cached_property
    def months(self) -> list[set[int]]:
        return [months(whole) for whole in self._whole]

    @functools.cached_property
    def figures(self) -> list[list[Figure]]:
        return [figures(whole) for whole in self._whole]

    @functools.cached_property
    def words(self) -> list[str]:
        """Each passage's folded text, for quoted terms."""
        return [" ".join(tokens(whole)) for whole in self._whole]

    def vectors(self, texts: Sequence[str]) -> list[np.ndarray] | None:
        """Unit vectors of ``texts`` (cached), or None without an embedding model."""
        if self.embed is None:
            return None
        wanted = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if wanted:
            try:
                vectors = self.embed(wanted)
            except ModelError as exc:  # Ollama gone since the search: words alone
                log.warning("no embeddings for the support check: %s", exc)
                self.embed = None
                return None
            for text, vector in zip(wanted, vectors, strict=True):
                self._vectors[text] = vector
        return [self._vectors[t] for t in texts]


def _split(text: str) -> list[Sentence]:
    out: list[Sentence] = []
    heading: list[str] = []  # the lines before a table: its caption and column heads
    for start, end in sentences(text):
        body = " ".join(text[start:end].split())
        row = is_table_row(body)
        own = frozenset(stem(t) for t in content_terms(body))
        terms = set(own)
        if row:
            terms |= {stem(t) for t in content_terms(" ".join(heading[-3:]))}
        else:
            heading.append(body)
        out.append(
            Sentence(
                start,
                end,
                body,
                frozenset(terms),
                own,
                tuple(figures(body)),
                frozenset(negations(body)),
                row,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Facts:
    terms: frozenset[str]
    years: tuple[Figure, ...]
    figures: tuple[Figure, ...]
    months: frozenset[int]
    names: frozenset[str]
    quoted: tuple[str, ...]
    negations: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, text: str) -> _Facts:
        found = figures(text)
        return cls(
            frozenset(stem(t) for t in content_terms(text)),
            tuple(f for f in found if is_year(f)),
            tuple(f for f in found if not is_year(f)),
            frozenset(months(text)),
            frozenset(names(text)),
            tuple(quoted(text)),
            frozenset(negations(text)),
        )

    def is_claim(self) -> bool:
        return len(self.terms) >= MIN_TERMS or bool(self.figures or self.years or self.names)


def claim_spans(text: str) -> list[tuple[int, int, list[int]]]:
    """(start, end, the citation numbers it carries) of each sentence of an answer."""
    spans = []
    for start, end in sentences(text):
        piece = text[start:end]
        cited = [int(n) for n in _CITATION.findall(piece)]
        stop = end
        # a marker right after the sentence's end belongs to it: "… in 2021. [1]"
        following = _CITATION.match(text, end)
        while following:
            cited.append(int(following.group(1)))
            following = _CITATION.match(text, following.end())
        spans.append((start, stop, cited))
    return spans


def check_claims(
    text: str,
    passages: Passages,
    cited: Callable[[int], int | None] = lambda n: n,
    *,
    skip: Callable[[str], bool] = lambda sentence: False,
) -> list[Claim]:
    """The claims of the answer ``text``, each checked against ``passages``.

    ``cited`` maps a citation number in the text to a passage number in the prompt
    (None: it names none). Sentences for which ``skip`` is true (Sabio's own sentences,
    such as "not in your documents") are not claims."""
    found: list[tuple[Claim, _Facts, list[int]]] = []
    for start, end, numbers in claim_spans(text):
        bare = " ".join(_CITATION.sub("", text[start:end]).split())
        facts = _Facts.of(bare)
        if skip(bare) or not facts.is_claim():
            continue
        order = [
            p - 1 for n in numbers if (p := cited(n)) is not None and 0 < p <= len(passages.hits)
        ]
        found.append((Claim(bare, start, end), facts, order))
    for claim, facts, order in found:
        _check(claim, facts, passages, order)
    return [claim for claim, _, _ in found]


def _check(claim: Claim, facts: _Facts, passages: Passages, order: list[int]) -> None:
    others = [n for n in range(len(passages.hits)) if n not in order]
    best_missing: list[str] | None = None
    for number in [*order, *others]:
        verdict = _best_window(claim, facts, passages, number)
        if verdict is None:
            continue
        supported, score, missing, (first, last) = verdict
        if supported:
            hit = passages.hits[number]
            sentence_list = passages.sentences[number]
            claim.supported, claim.passage, claim.score = True, number + 1, score
            claim.document, claim.page = hit.document, hit.page
            claim.document_id, claim.chunk_id = hit.document_id, hit.chunk_id
            start, end = sentence_list[first].start, sentence_list[last].end
            claim.quote = " ".join(hit.text[start:end].split())
            claim.quote_start, claim.quote_end = hit.start + start, hit.start + end
            claim.missing = []
            return
        if best_missing is None or len(missing) < len(best_missing):
            best_missing = missing
    claim.missing = best_missing or []


def _best_window(
    claim: Claim, facts: _Facts, passages: Passages, number: int
) -> tuple[bool, float, list[str], tuple[int, int]] | None:
    """The sentence (or two adjacent ones) of passage ``number`` that best supports the
    claim: (supported, score, what is missing, (first, last) sentence). Cosines are only
    computed for a window that lacks nothing but enough shared words."""
    sentence_list = passages.sentences[number]
    if not sentence_list:
        return None
    missing_anywhere = _missing_in_passage(facts, passages, number)
    best: tuple[bool, float, list[str], tuple[int, int]] | None = None
    terms = facts.terms
    for first in range(len(sentence_list)):
        for last in (first, first + 1):
            if last >= len(sentence_list):
                continue
            window = sentence_list[first : last + 1]
            words = frozenset().union(*(s.terms for s in window))
            lexical = len(terms & words) / len(terms) if terms else 1.0
            missing = missing_anywhere + [
                f.text
                for f in facts.figures
                if not any(same_figure(f, g) for s in window for g in s.figures)
            ]
            polarity = _same_polarity(facts, window)
            similar = lexical >= LEXICAL_FLOOR or (
                lexical >= SIMILAR_WORDS
                and not missing
                and polarity
                and _cosine(passages, claim.text, window) >= passages.similar_floor
            )
            supported = not missing and polarity and similar
            score = lexical - 0.25 * len(missing) - (0.5 if not polarity else 0.0)
            score -= 0.05 * (last - first)  # one sentence is the better quote
            if best is None or (supported, score) > (best[0], best[1]):
                best = (supported, score, missing, (first, last))
    return best


def _cosine(passages: Passages, text: str, window: Sequence[Sentence]) -> float:
    vectors = passages.vectors([text, *(s.text for s in window)])
    if vectors is None:
        return 0.0
    return max(float(vectors[0] @ v) for v in vectors[1:])


def _same_polarity(facts: _Facts, window: Sequence[Sentence]) -> bool:
    """Every negation of the claim is in the window (denying the same word), and every
    negation of the window that denies a word of the claim is in the claim."""
    theirs = frozenset().union(*(s.negations for s in window))
    if not facts.negations <= theirs:
        return False
    denied = {word for _, word in facts.negations}
    return all(word in denied or stem(word) not in facts.terms for _, word in theirs)


def _missing_in_passage(facts: _Facts, passages: Passages, number: int) -> list[str]:
    """The claim's names, months and quoted terms that passage ``number`` lacks."""
    missing = [name for name in sorted(facts.names) if name not in passages.names[number]]
    missing += [f"month {m}" for m in sorted(facts.months) if m not in passages.months[number]]
    missing += [
        y.text for y in facts.years if not any(same_figure(y, g) for g in passages.figures[number])
    ]
    folded = passages.words[number]
    missing += [q for q in facts.quoted if " ".join(tokens(q)) not in folded]
    return missing


# what the reader is told


def support_note(claims: Sequence[Claim], language: str) -> str:
    """ "2 of 3 statements are not supported by your documents." (or in Spanish), counting
    the model's statements (not Sabio's quotes); "" when every one is supported."""
    written = [c for c in claims if not c.quoted]
    bad, total = sum(not c.supported for c in written), len(written)
    if not bad:
        return ""
    if language == "es":
        if total == 1:
            return "Esta afirmación no está respaldada por tus documentos."
        verb = "está respaldada" if bad == 1 else "están respaldadas"
        return f"{bad} de {total} afirmaciones no {verb} por tus documentos."
    if total == 1:
        return "This statement is not supported by your documents."
    verb = "is" if bad == 1 else "are"
    return f"{bad} of {total} statements {verb} not supported by your documents."


def unsupported_reason(claim: Claim, language: str) -> str:
    """Why a claim is marked, for a tooltip or a terminal line."""
    if claim.supported:
        return ""
    if claim.missing:
        items = ", ".join(claim.missing[:4])
        if language == "es":
            return f"Ningún pasaje citado dice esto ({items} no aparece en ellos)."
        return f"No passage says this ({items} is in none of them)."
    if language == "es":
        return "Ningún pasaje dice esto."
    return "No passage says this."
