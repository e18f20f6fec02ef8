"""What a sentence asserts that can be checked word for word: figures, months, names,
quoted terms and negation; and the sentences of a text, with their offsets.

Used by :mod:`sabio.support` (is a claim in the passages?) and :mod:`sabio.extractive`
(which sentence answers a question?). Spanish and English alike.

Figures are compared as values, not strings: "48,310 thousand", "48.3 million" and a
table's "48 310" under "(in thousands)" are one figure. A figure written with a scale
word ("million", "millones", "bn") also keeps its bare number, so "$82,959 million"
matches a table's "82,959"; a number whose separators are ambiguous ("1.234", "48,310")
keeps both readings (English and Spanish use them the other way round).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sabio.search import STOPWORDS
from sabio.terms import tokens

SCALES = {
    "thousand": 1e3,
    "thousands": 1e3,
    "k": 1e3,
    "mil": 1e3,
    "miles": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mm": 1e6,
    "millon": 1e6,
    "millón": 1e6,
    "millones": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "billón": 1e12,
    "billon": 1e12,
    "billones": 1e12,
}
"""Scale words after a number. Spanish "mil millones" is a billion (handled below);
its "billón" is a million million."""

WORD_NUMBERS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "once": 11, "doce": 12, "quince": 15, "veinte": 20,
}  # fmt: skip
"""Numbers written as words (not "one"/"uno"/"una": they are mostly articles)."""

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12,
}  # fmt: skip

NEGATIONS = frozenset(
    """not no never none nobody nothing neither nor cannot without n't
    nunca jamás jamas ningún ningun ninguno ninguna nadie nada tampoco ni sin""".split()
)

STARTERS = frozenset(
    """according additionally after also although around approximately as at before both
    besides during each however in instead meanwhile moreover on overall since so still
    such then therefore though thus today under until while yes
    además ademas alrededor antes aproximadamente así asi aunque cada como después despues
    durante en entonces hoy luego mientras pero según segun sí tras""".split()
)
"""Words that often start a sentence with a capital and are no name."""

_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-\u2212])?(?P<cur>(?:US)?\$|€|£)?\s?"
    r"(?P<num>\d{1,3}(?:(?:,|\.|\s|\u00a0|\u202f)\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
    r"(?![\d])(?:\s?(?P<scale>mil\s+millones|[A-Za-záéíóúñ]+|%))?",
)
_QUOTED = re.compile(r"[\"“«]([^\"”»\n]{3,80})[\"”»]")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr sr sra srta st inc ltd co corp jr vs etc e.g i.e u.s u.k no nos núm
    fig figs approx p pp ee.uu art""".split()
)


@dataclass(frozen=True, slots=True)
class Figure:
    """A number in a text: each way it can be read, as (bare number, half a unit of its
    last digit), and the scale word's factor (1 without one: "million" is 1e6)."""

    text: str
    readings: tuple[tuple[float, float], ...]
    scale: float = 1.0

    def values(self, scale: float) -> Iterator[tuple[float, float]]:
        for value, tolerance in self.readings:
            yield value * scale, tolerance * scale


def figures(text: str) -> list[Figure]:
    found: list[Figure] = []
    for match in _NUMBER.finditer(text):
        word = (match["scale"] or "").lower()
        scale = 1e9 if word.startswith("mil ") else SCALES.get(word, 1.0)
        if word in ("m", "b", "k") and match["scale"] not in ("M", "B", "k", "K"):
            scale = 1.0  # "5 m" is five metres, "5 b" nothing we know
        sign = -1.0 if match["sign"] else 1.0
        readings = tuple(
            (sign * value, 0.5 * 10.0**-decimals) for value, decimals in _readings(match["num"])
        )
        shown = (
            match.group(0) if scale != 1 or word == "%" else text[match.start() : match.end("num")]
        )
        found.append(Figure(shown.strip(), readings, scale))
    for word in _WORD.findall(text.lower()):
        if word in WORD_NUMBERS:
            found.append(Figure(word, ((float(WORD_NUMBERS[word]), 0.5),)))
    return found


def _readings(raw: str) -> list[tuple[float, int]]:
    """(value, decimals written) for each way ``raw`` can be read."""
    compact = re.sub(r"[\s\u00a0\u202f]", "", raw)
    out: list[tuple[float, int]] = []
    for thousands, decimal in ((",", "."), (".", ",")):
        head, _, tail = compact.rpartition(decimal) if decimal in compact else (compact, "", "")
        groups = head.split(thousands)
        if len(groups) > 1 and not all(len(g) == 3 for g in groups[1:]):
            continue
        digits = "".join(groups)
        if not digits.isdigit() or (tail and not tail.isdigit()):
            continue
        reading = (float(f"{digits}.{tail}" if tail else digits), len(tail))
        if reading not in out:
            out.append(reading)
    return out or [(float(re.sub(r"\D", "", compact) or 0), 0)]


PASSAGE_SCALES = (1.0, 1e3, 1e6, 1e9)
"""A passage's bare number may be in thousands, millions or billions: a table's heading
says so, often in another chunk."""


def same_figure(claim: Figure, other: Figure) -> bool:
    """Whether ``other`` (in a passage) is the figure ``claim`` states, to the precision
    the claim was written with. Two scale words must agree in value; a claim's scaled
    figure may be a passage's bare one in thousands, millions or billions; a claim's bare
    figure may be a passage's figure with or without its scale word."""
    if claim.scale != 1 and other.scale != 1:
        pairs = [(claim.scale, other.scale)]
    elif claim.scale != 1:
        pairs = [(claim.scale, s) for s in PASSAGE_SCALES]
    else:
        pairs = [(1.0, 1.0), (1.0, other.scale)]
    for mine_scale, their_scale in pairs:
        for mine, tolerance in claim.values(mine_scale):
            for theirs, _ in other.values(their_scale):
                if math.isclose(mine, theirs, abs_tol=tolerance):
                    return True
    return False


def months(text: str) -> set[int]:
    words = {w.lower().rstrip(".") for w in _WORD.findall(text)}
    found = {MONTHS[w] for w in words if w in MONTHS and w not in ("may", "mar")}
    if "may" in words and re.search(r"\bMay\b", text):  # not the verb
        found.add(5)
    if "mar" in words and re.search(r"\bMar\b", text):
        found.add(3)
    return found


def names(text: str) -> set[str]:
    """Proper names and acronyms, folded as the keyword index folds them: capitalised
    words that are neither stopwords nor months nor usual sentence starters. A sentence's
    first word is a name only when it looks like one by itself (an acronym, "iPhone") or
    starts a run of capitalised words ("New York"): otherwise it is any word."""
    found: set[str] = set()
    matches = list(_WORD.finditer(text))
    for i, match in enumerate(matches):
        word = match.group(0).rstrip("'\u2019")
        if len(word) < 2 or not (word[0].isupper() or any(c.isupper() for c in word[1:])):
            continue
        folded = tokens(word)
        if not folded:
            continue
        key, lower = folded[0], word.lower()
        if key in STOPWORDS or lower in STARTERS or lower in MONTHS or lower in WORD_NUMBERS:
            continue
        first = i == 0 or bool(
            re.search(r"[.!?:;]\s*$", text[matches[i - 1].end() : match.start()])
        )
        if first and not _name_by_itself(word, matches, i):
            continue
        found.add(key)
    return found


def _name_by_itself(word: str, matches: list[re.Match[str]], i: int) -> bool:
    if word.isupper() or any(c.isupper() for c in word[1:]):
        return True
    following = matches[i + 1].group(0) if i + 1 < len(matches) else ""
    return following[:1].isupper()


def is_year(figure: Figure) -> bool:
    """A bare whole number that reads as a year (1500-2100)."""
    return (
        figure.scale == 1
        and any(t == 0.5 and 1500 <= v <= 2100 and v == int(v) for v, t in figure.readings)
        and not re.search(r"[$€£%]", figure.text)
    )


def quoted(text: str) -> list[str]:
    return [m.group(1).strip() for m in _QUOTED.finditer(text)]


def negations(text: str) -> set[tuple[str, str]]:
    """Each negation with the telling word it denies: ("not", "incorrect"), ("no",
    "proceso") for "no se procesó"."""
    words = [w.lower() for w in _WORD.findall(text.replace("\u2019", "'").replace("n't", " n't"))]
    found: set[tuple[str, str]] = set()
    for i, word in enumerate(words):
        if word in NEGATIONS or word == "n't":
            following = next(
                (t for w in words[i + 1 : i + 4] for t in tokens(w) if t not in STOPWORDS), ""
            )
            found.add(("not" if word == "n't" else word, following))
    return found


def content_terms(text: str) -> list[str]:
    """Telling words: the keyword index's tokens, stopwords, numbers and one- or
    two-letter words dropped, each once."""
    out = [t for t in tokens(text) if t not in STOPWORDS and len(t) > 2 and not t.isdigit()]
    return list(dict.fromkeys(out))


def stem(term: str) -> str:
    """A crude shared root for two languages: the first six letters (so "increased" and
    "increase", "millones" and "millón" meet); shorter words stay whole."""
    return term[:5] if len(term) > 5 else term


# sentences

_END = re.compile(r"[.!?…](?=[\"”»')\]]*\s|$)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|#{1,6}|>)\s+")


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence of ``text``. Lines are joined inside a paragraph (PDF
    text breaks lines mid-sentence), but a line that looks like a table row, a list item
    or a heading is a sentence of its own; decimals ("48.3") and abbreviations ("U.S.",
    "Inc.") do not end a sentence."""
    for start, end in _blocks(text):
        block = text[start:end]
        if is_table_row(block.strip()):  # a row of bare figures ("2023 2022") is kept too
            begin = start + len(block) - len(block.lstrip())
            yield begin, begin + len(block.strip())
        else:
            yield from _split_block(text, start, end)


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Runs of lines that read as one paragraph; table rows, list items, headings alone."""
    start: int | None = None
    offset = 0
    previous_ends_sentence = True
    for line in text.splitlines(keepends=True):
        line_start, body = offset, line.rstrip("\r\n")
        offset += len(line)
        stripped = body.strip()
        alone = not stripped or is_table_row(stripped) or bool(_LIST_MARK.match(body))
        heading = (
            len(stripped) < 60
            and not stripped.endswith((".", ",", ";", ":"))
            and (previous_ends_sentence)
        )
        if start is not None and (alone or (heading and _looks_like_heading(stripped))):
            yield start, line_start
            start = None
        if not stripped:
            previous_ends_sentence = True
            continue
        if alone:
            yield line_start, line_start + len(body)
            previous_ends_sentence = True
            continue
        if start is None:
            start = line_start
        previous_ends_sentence = stripped.endswith((".", "!", "?", ":"))
    if start is not None:
        yield start, len(text)


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 8 and sum(w[:1].isupper() for w in words) >= max(1, len(words) - 1)


def _split_block(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    begin = start
    while begin < end and text[begin].isspace():
        begin += 1
    if mark := _LIST_MARK.match(text, begin, end):
        begin = mark.end()
    for match in _END.finditer(text, begin, end):
        stop = match.end()
        if _is_abbreviation(text, begin, match.start()) or _continues_lowercase(text, stop, end):
            continue
        while stop < end and text[stop] in "\"”»')]":
            stop += 1
        if _has_words(text[begin:stop]):
            yield begin, stop
        begin = stop
        while begin < end and text[begin].isspace():
            begin += 1
    tail = text[begin:end].rstrip()
    if _has_words(tail):
        yield begin, begin + len(tail)


def _is_abbreviation(text: str, begin: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[begin:dot])
    if word is None:
        return False
    last = word.group(1).lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()) or "." in last


def _continues_lowercase(text: str, stop: int, end: int) -> bool:
    """A lower-case word right after the stop: "approx. 5", "p. ej.": not an end."""
    rest = text[stop:end].lstrip()
    return bool(rest) and rest[0].islower()


def _has_words(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]{2}", text))


_CELL = re.compile(r"^(?:\(?[$€£]?\d[\d,.]*\)?%?|[$€£%]|\(?\d+\)?%|[\u2014\u2013-])$")


def is_table_row(line: str) -> bool:
    """A line that ends in two or more figures after a short label, as PDF tables come
    out ("iPhone $ 51,334 $ 50,570 2 %", "Interest on lease liabilities 103 80"), or
    cells separated by tabs or pipes. Prose that ends a sentence is no row."""
    if line.count("|") >= 2 or "\t" in line:
        return True
    if line.rstrip().endswith(".") and not line.rstrip().endswith("..."):
        return False
    cells = line.split()
    trailing = trailing_cells(line)
    numbers = sum(any(ch.isdigit() for ch in c) for c in cells[len(cells) - trailing :])
    return numbers >= 2 and len(cells) - trailing <= 12


def trailing_cells(line: str) -> int:
    """How many of the line's last words are figure cells ("51,334", "$", "2 %", "—"), as
    a PDF's table row ends: "iPhone $ 51,334 $ 50,570 2 %" has 6."""
    cells = line.split()
    trailing = 0
    while trailing < len(cells) and _CELL.match(cells[len(cells) - 1 - trailing]):
        trailing += 1
    return trailing


_FURNITURE = re.compile(r"(\|\s*\d{1,4}|^\s*(page|página)?\s*\d{1,4})\s*$", re.IGNORECASE)


def is_page_furniture(line: str) -> bool:
    """A running header or footer ("Apple Inc. | Q1 2023 Form 10-Q | 15", "Page 3")."""
    return bool(_FURNITURE.search(line)) and len(line) < 120
