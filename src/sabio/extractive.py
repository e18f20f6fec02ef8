"""Extractive answers: the sentences (or table rows) of the retrieved passages that answer
the question, quoted with their citation, without calling a model.

Each sentence of the passages is scored against the question with the search's own
machinery: the question's telling words, each weighted by its idf in the knowledge base
(:meth:`ChunkIndex.term_weights`), found in the sentence (a table row also counts its
table's caption and column heads), the cosine of the two under the knowledge base's
embedding model, and whether the sentence holds what the question asks for (its answer
type, guessed from the question words in Spanish and English: a number for "how many" /
"cuántos", a date for "when" / "en qué año", a person for "who" / "quién", a place for
"where" / "dónde"). The best sentence is quoted; a second one when it scores almost as
well. When no sentence shares enough with the question, there is no extractive answer
(the caller says "not in your documents"). Weights and floors were chosen on XQuAD
questions outside ``bench/answers.py``'s fixed samples.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sabio.errors import ModelError
from sabio.facts import is_page_furniture, is_year, months, names, stem
from sabio.search import query_terms
from sabio.support import Claim, Embed, Passages, Sentence

log = logging.getLogger(__name__)

TYPE_PATTERNS = {
    "number": r"\b(how (many|much|large|long|big|old|tall|far|high|often)|what (percentage|"
    r"percent|number|amount|share|proportion)|cu[aá]nt[oa]s?|qu[eé] (porcentaje|cantidad|"
    r"n[uú]mero|proporci[oó]n|tan)|(what|which) (was|were|is|are)\b.*\b(sales|revenues?|"
    r"income|costs?|expenses?|margin|profit|loss|cash|price|rate|debt|total|amount|spend\w*)"
    r"|(cu[aá]l(?:es)?|qu[eé]) (fue|fueron|es|son)\b.*\b(ventas|ingresos?|beneficio|gastos?|"
    r"costes?|costos?|margen|deuda|total|importe|precio|tasa))\b",
    "date": r"\b(when|what (year|date|day|month|century|decade)|which (year|century)|"
    r"cu[aá]ndo|(qu[eé]|cu[aá]l) (a[nñ]o|fecha|d[ií]a|mes|siglo|d[eé]cada))\b",
    "person": r"\b(who|whom|whose|qui[eé]n(es)?)\b",
    "place": r"\b(where|what (city|country|place|state|region)|d[oó]nde|ad[oó]nde|"
    r"(qu[eé]|cu[aá]l) (ciudad|pa[ií]s|lugar|estado|regi[oó]n))\b",
}
LEXICAL_WEIGHT = 1.0
HEADING_SHARE = 0.75
COSINE_WEIGHT = 0.5
TYPE_BONUS = 0.15
RANK_WEIGHT = 0.1
MIN_LEXICAL = 0.25
"""No sentence with less than this share of the question's (idf-weighted) words…"""
MIN_COSINE = 0.55
"""…and (sharing at least one) no closer in meaning than this answers it: no extractive
answer."""
RUNNER_UP = 0.9
"""A second sentence is quoted when it scores at least this share of the best."""
MAX_QUOTES = 2
SHORTLIST = 4
"""Sentences, best by words, whose cosine to the question is computed: embedding every
sentence of every passage took most of a second on two busy cores; a shortlist of four
kept contains-gold on 150 development questions a language at 0.793 / 0.793 (es / en;
eight: 0.800 / 0.793, none: 0.747 / 0.793)."""


CROSS_MIN_COSINE = {"embedded:use-multilingual": 0.45}
"""A question in another language than its passages shares no words with them: a
sentence answers it when its cosine to the question, by the part of a paired model that
searched across languages (``SearchHit.vector_model``), is at least this (measured with
``bench/answers.py qa --languages 'es>en' 'en>es'`` and off-topic questions, see
:data:`CROSS_CANDIDATES`)."""
CROSS_CANDIDATES = 48
"""Sentences, the best passages' first, whose cosine to the question is computed when it
is asked across languages (there no shortlist by words)."""


def answer_type(question: str) -> str | None:
    """ "number", "date", "person", "place" or None, from the question's words."""
    folded = question.lower()
    for kind in ("date", "number", "person", "place"):  # "when" before "how many years"
        if re.search(TYPE_PATTERNS[kind], folded):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Pick:
    """A quoted sentence: passage (0-based, as in :class:`Passages`), sentence index."""

    passage: int
    sentence: int
    score: float


def pick_sentences(
    question: str,
    passages: Passages,
    weights: Mapping[str, float] | None = None,
    across: tuple[Embed, float] | None = None,
) -> list[Pick]:
    """The sentences that answer ``question``, best first (empty: none does).

    ``across``: the question is in another language than the passages; (the embedding
    of the model part that searched across languages, its floor): every sentence (up to
    :data:`CROSS_CANDIDATES`) is weighed by its cosine under that part, and one at
    least that close answers, shared words or not."""
    if across is not None:
        return _across(question, passages, weights, *across)
    terms = query_terms(question)
    weight = {stem(t): (weights or {}).get(t, 1.0) for t in terms if len(t) > 2 and not t.isdigit()}
    total = sum(weight.values())
    if not passages.hits or total <= 0:
        return []
    scored = sorted(_scored(question, passages, weight, total), reverse=True)
    shortlist = scored[:SHORTLIST]
    texts = [passages.sentences[n][i].text for _, _, n, i in shortlist]
    vectors = passages.vectors([question, *texts])
    ranked = []
    for position, (score, lexical, number, index) in enumerate(shortlist):
        cosine = float(vectors[0] @ vectors[position + 1]) if vectors is not None else 0.0
        ranked.append((score + COSINE_WEIGHT * cosine, lexical, cosine, number, index))
    ranked.sort(reverse=True)
    _, lexical, cosine, _, _ = ranked[0]
    if lexical < MIN_LEXICAL and (cosine < MIN_COSINE or lexical == 0):
        return []
    return _with_runner_up(ranked)


def _scored(
    question: str, passages: Passages, weight: Mapping[str, float], total: float
) -> list[tuple[float, float, int, int]]:
    """Each sentence's (score by words, answer type and rank; share of the question's
    words; passage; sentence), in the passages' order."""
    kind = answer_type(question)
    asked_names, asked_months = names(question), months(question)
    best_score = max(hit.score for hit in passages.hits) or 1.0
    scored: list[tuple[float, float, int, int]] = []
    for number, sentence_list in enumerate(passages.sentences):
        prior = RANK_WEIGHT * passages.hits[number].score / best_score
        for index, sentence in enumerate(sentence_list):
            if is_page_furniture(sentence.text):
                continue
            found = sum(w for t, w in weight.items() if t in sentence.terms)
            own = sum(w for t, w in weight.items() if t in sentence.own)
            # a row's table heading counts, but less than its own label
            lexical = (HEADING_SHARE * found + (1 - HEADING_SHARE) * own) / total if total else 0.0
            fits = _fits(sentence, kind, asked_names, asked_months)
            bonus = 0.0 if kind is None else (TYPE_BONUS if fits else -TYPE_BONUS)
            scored.append((LEXICAL_WEIGHT * lexical + bonus + prior, lexical, number, index))
    return scored


def _with_runner_up(ranked: Sequence[tuple[float, float, float, int, int]]) -> list[Pick]:
    top, _, _, number, index = ranked[0]
    picks = [Pick(number, index, top)]
    for score, _, _, number, index in ranked[1:MAX_QUOTES]:
        if top > 0 and score >= RUNNER_UP * top:
            picks.append(Pick(number, index, score))
    return picks


def _across(
    question: str,
    passages: Passages,
    weights: Mapping[str, float] | None,
    embed: Embed,
    floor: float,
) -> list[Pick]:
    """:func:`pick_sentences` for a question in another language than its passages: the
    words it shares (names, figures) still count, but a sentence is shortlisted and
    accepted by its cosine under ``embed``."""
    if not passages.hits:
        return []
    terms = query_terms(question)
    weight = {stem(t): (weights or {}).get(t, 1.0) for t in terms if len(t) > 2 and not t.isdigit()}
    candidates = _scored(question, passages, weight, sum(weight.values()))[:CROSS_CANDIDATES]
    if not candidates:
        return []
    texts = [passages.sentences[n][i].text for _, _, n, i in candidates]
    try:
        vectors = embed([question, *texts])
    except ModelError as exc:  # the model gone since the search: no quotes across languages
        log.warning("no embeddings for quotes across languages: %s", exc)
        return []
    cosines = [float(vectors[0] @ vector) for vector in vectors[1:]]
    ranked = sorted(
        ((score + COSINE_WEIGHT * cosine, lexical, cosine, number, index)
         for (score, lexical, number, index), cosine in zip(candidates, cosines, strict=True)),
        reverse=True,
    )  # fmt: skip
    _, lexical, cosine, _, _ = ranked[0]
    if lexical < MIN_LEXICAL and cosine < floor:
        return []
    return _with_runner_up(ranked)


def _fits(
    sentence: Sentence, kind: str | None, asked_names: set[str], asked_months: set[int]
) -> bool:
    """Whether the sentence holds something of the kind the question asks for, beyond
    what the question itself says."""
    if kind == "number":
        return any(not is_year(f) for f in sentence.figures)
    if kind == "date":
        return any(is_year(f) for f in sentence.figures) or bool(
            months(sentence.text) - asked_months
        )
    if kind in ("person", "place"):
        return bool(names(sentence.text) - asked_names)
    return True


def _table(passages: Passages, pick: Pick) -> tuple[int, list[str]]:
    """For a table row: where its table starts (the run of rows and short lines around
    it) and the lines that head it: the caption before the table, then the table's first
    lines that are no labelled row (column heads, "2022 2023"), at most three."""
    sentence_list = passages.sentences[pick.passage]
    first = pick.sentence
    while first > 0 and _in_table(sentence_list[first - 1]):
        first -= 1
    heads = [sentence_list[first - 1].text] if first > 0 else []
    lines = sentence_list[first : pick.sentence]
    inside = [
        s.text
        for at, s in enumerate(lines)
        if not _RULE.match(s.text)  # a Markdown table's |---|---| says nothing
        and (not (s.row and s.own) or (at + 1 < len(lines) and _RULE.match(lines[at + 1].text)))
    ]  # a Markdown table's head is the row above its rule line
    return first, heads + inside[:3]


_RULE = re.compile(r"^[\s|:+=-]*-[\s|:+=-]*$")


def _in_table(sentence: Sentence) -> bool:
    return (
        sentence.row
        or (len(sentence.text) < 80 and not sentence.text.endswith("."))
        or bool(_RULE.match(sentence.text))
    )


def extractive_text(passages: Passages, picks: Sequence[Pick], numbers: Sequence[int]) -> str:
    """Markdown quotes of ``picks``, each with its citation ``numbers[i]``, in the order
    they come in their passages; rows of one table share its heading."""
    ordered = sorted(zip(picks, numbers, strict=True), key=lambda p: (p[0].passage, p[0].sentence))
    blocks: list[list[str]] = []
    tables: dict[tuple[int, int], list[str]] = {}
    for pick, number in ordered:
        sentence = passages.sentences[pick.passage][pick.sentence]
        line = f"{sentence.text} [{number}]"
        if not sentence.row:
            blocks.append([line])
            continue
        first, heads = _table(passages, pick)
        if (pick.passage, first) in tables:
            tables[pick.passage, first].append(line)
            continue
        block = [*heads, line]
        tables[pick.passage, first] = block
        blocks.append(block)
    return "\n\n".join("\n".join(f"> {line}" for line in block) for block in blocks)


def extractive_claims(
    text: str, passages: Passages, picks: Sequence[Pick], numbers: Sequence[int]
) -> list[Claim]:
    """The quoted sentences of ``text`` (made by :func:`extractive_text`) as supported
    claims: their place in ``text`` and in the document."""
    claims = []
    for pick, number in zip(picks, numbers, strict=True):
        hit = passages.hits[pick.passage]
        sentence = passages.sentences[pick.passage][pick.sentence]
        start = text.find(sentence.text)
        claims.append(
            Claim(
                sentence.text,
                start,
                start + len(sentence.text),
                supported=True,
                quoted=True,
                passage=pick.passage + 1,
                citation=number,
                document=hit.document,
                document_id=hit.document_id,
                chunk_id=hit.chunk_id,
                page=hit.page,
                quote=sentence.text,
                quote_start=hit.start + sentence.start,
                quote_end=hit.start + sentence.end,
                score=round(pick.score, 3),
            )
        )
    return sorted(claims, key=lambda c: c.start)
