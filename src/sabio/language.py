"""The language a question is written in: Spanish or English, the two Sabio answers in.

Used to pick the answer's prompts (:mod:`sabio.answer`) and, in search, to tell whether
the embedding model knows the question's language and whether the passages found are in
another one (:mod:`sabio.search`).
"""

from __future__ import annotations

import re

_SPANISH = frozenset(
    """el la los las un una unos unas de del al que qué cuál cuáles cómo dónde cuándo cuánto
    cuántos quién quiénes por para con sin sobre entre es son está están fue fueron era ser
    hay y o pero porque también muy más este esta estos estas ese esa su sus se lo le les
    en mi tu nos como""".split()
)
_ENGLISH = frozenset(
    """the a an of to and or but is are was were be been being what which who whom whose how
    where when why does do did in on at for with from by this that these those it its his
    her their there have has had can could would should will not about into than then""".split()
)


def detect_language(text: str) -> str:
    """``"es"`` or ``"en"``: the language a question is written in (English when unsure)."""
    if any(ch in text for ch in "¿¡ñÑ"):
        return "es"
    words = re.findall(r"[^\W\d_]+", text.lower())
    spanish = sum(w in _SPANISH for w in words) + sum(
        any(ch in w for ch in "áéíóúü") for w in words
    )
    english = sum(w in _ENGLISH for w in words)
    return "es" if spanish > english else "en"


def text_language(text: str) -> str:
    """``"es"``, ``"en"`` or ``""`` (neither is clear): the language of a passage, from its
    function words alone (a Spanish name in an English text does not make it Spanish)."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    spanish = sum(w in _SPANISH for w in words)
    english = sum(w in _ENGLISH for w in words)
    if spanish == english:
        return ""
    return "es" if spanish > english else "en"
