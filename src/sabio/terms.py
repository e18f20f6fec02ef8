"""Words as the keyword index counts them: FTS5's ``unicode61 remove_diacritics 2``
tokens with a light plural stem, and BM25's constants. Shared by the index, the document
field and the answer's checks (none of them owns the others)."""

from __future__ import annotations

import re
import unicodedata

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"[^\W_]+")


def _fold_table() -> dict[int, str | None]:
    """Latin letters with diacritics to their base letters (as FTS5's remove_diacritics 2
    does, for Latin script only), combining marks dropped, micro sign to mu."""
    table: dict[int, str | None] = {0x00B5: "\u03bc"}
    for start, end in ((0x00C0, 0x0250), (0x1E00, 0x1F00)):
        for cp in range(start, end):
            base = "".join(
                c for c in unicodedata.normalize("NFD", chr(cp)) if not unicodedata.combining(c)
            )
            if base and base != chr(cp):
                table[cp] = base
    table.update(dict.fromkeys(range(0x0300, 0x0370)))
    return table


_FOLD = _fold_table()


def tokens(text: str) -> list[str]:
    """Words as FTS5's ``unicode61 remove_diacritics 2`` tokenizer sees them, then with a
    plural ``-s`` removed (:func:`light_stem`)."""
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).translate(_FOLD)
    stems = _STEMS
    return [stems.get(w) or _remember_stem(w) for w in _TOKEN.findall(text)]


def light_stem(word: str) -> str:
    """A final ``-s`` off words of four or more letters (not ``-ss``, ``-us``, ``-is``):
    plurals in English and Spanish ("cells" and "cell", "células" and "célula") become
    one term. Language-neutral on purpose: a chunk's language need not be known, and
    measured on SciFact and XQuAD (docs/benchmarks.md) it helped both languages where
    full Snowball stemming helped English and hurt Spanish."""
    if len(word) > 3 and word[-1] == "s" and word[-2] not in "sui" and word.isalpha():
        return word[:-1]
    return word


_STEMS: dict[str, str] = {}  # every word seen, to its stem: a dict lookup per token
_MAX_STEMS = 1_000_000


def _remember_stem(word: str) -> str:
    stem = light_stem(word)
    if len(_STEMS) < _MAX_STEMS:
        _STEMS[word] = stem
    return stem
