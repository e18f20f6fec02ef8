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


_FUNCTION_WORDS = {
    "en": _ENGLISH,
    "es": _SPANISH,
    "fr": frozenset(
        """le la les des du de et est sont une un qui que quel quelle quels quelles où quand
        comment pourquoi dans pour avec sur par ce cette il elle ils ont été au aux était ne
        pas plus leur""".split()
    ),
    "de": frozenset(
        """der die das den dem des und ist sind war wurde wurden wer was wie wo wann warum
        welche welcher welches ein eine einen einem mit von für auf im nicht auch sich zu es
        hat haben""".split()
    ),
    "it": frozenset(
        """il lo gli la le di del della dei delle che chi cosa come dove quando perché quale
        è sono era una un per con su nel nella ha hanno anche non""".split()
    ),
    "pt": frozenset(
        """o os as do da dos das que quem qual como onde quando porque é são foi uma um para
        com em no na não também seu sua pelo pela""".split()
    ),
    "nl": frozenset(
        """de het een en van is zijn was wie wat hoe waar wanneer waarom welke met voor op
        niet ook dat die werd""".split()
    ),
}
_SCRIPTS = (
    (re.compile(r"[\u0400-\u04ff]"), "ru"),
    (re.compile(r"[\u0600-\u06ff]"), "ar"),
    (re.compile(r"[\uac00-\ud7af]"), "ko"),
    (re.compile(r"[\u3040-\u30ff]"), "ja"),
    (re.compile(r"[\u4e00-\u9fff]"), "zh"),
    (re.compile(r"[\u0e00-\u0e7f]"), "th"),
)


def text_language(text: str) -> str:
    """The language a passage or a question is written in, as a code ("es", "en", "fr",
    "de", "it", "pt", "nl"; "ru", "ar", "ko", "ja", "zh", "th" by their script), or ""
    when its words do not tell. From function words alone, so a Spanish name in an
    English text does not make it Spanish; for the search, which only asks whether the
    question and the passages it found are in one language."""
    scripts = [(len(pattern.findall(text)), code) for pattern, code in _SCRIPTS]
    letters = len(re.findall(r"[^\W\d_]", text))
    count, code = max(scripts)
    if letters and count > letters / 4:
        return code
    words = re.findall(r"[^\W\d_]+", text.lower())
    counts = sorted(
        (
            (sum(w in vocabulary for w in words), code)
            for code, vocabulary in _FUNCTION_WORDS.items()
        ),
        reverse=True,
    )
    (best, code), (second, _) = counts[0], counts[1]
    return code if best > second else ""
