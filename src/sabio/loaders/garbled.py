"""Whether a text layer is garbage: a PDF's fonts mapped to the wrong characters.

A PDF whose fonts carry no (or a wrong) Unicode map extracts as mojibake: a Russian
drawing comes out as Hangul syllables nobody writes (``킜킰톁톁킰``), an Urdu page as
Arabic, Latin, Lao and CJK letters within one word (``ٱĴǎƶơǎƹŎķຊا࠘``). Such a page is
read with OCR instead (:mod:`sabio.loaders.pdf`). The tests are cheap and cautious (a
real page in any script passes them):

* private-use characters and U+FFFD make up a tenth of the visible characters;
* a fifth of the words mix letters of different scripts (Japanese kana and kanji count
  as one script; digits and marks as none);
* Hangul of which almost none is among Korean's most frequent syllables;
* UTF-8 read as Latin-1 (``Ã©``, ``â€™``) in a twentieth of the words.
"""

from __future__ import annotations

import re
import unicodedata

MIN_LETTERS = 20
"""Fewer letters than this are not judged (a page number, a stamp)."""
_WORD = re.compile(r"[^\W\d_]{2,}")
_LATIN1_UTF8 = re.compile(r"[ÃÂâ][\x80-\xbf€™œž\u201a-\u201e\u2018-\u2022]")
_COMMON_HANGUL = frozenset(
    "이다는에의을를고하가지기서로한리사대자도시어여인수나일있정으해아전부주들게것스제라적상"
    "국보구요만면장성경동원거소우과와했된되할위문생공관중회은내그모니금무없방비마발연"
)
_CJK = ("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC", "HALFWIDTH KATAKANA", "BOPOMOFO")


def looks_garbled(text: str) -> bool:
    """True when ``text`` is very likely mojibake rather than words of some language."""
    visible = [c for c in text if not c.isspace()]
    letters = [c for c in visible if c.isalpha()]
    if len(letters) < MIN_LETTERS:
        return False
    junk = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c) == "Co")
    if junk * 10 >= len(visible):
        return True
    words = _WORD.findall(text)
    if words and sum(1 for w in words if _mixes_scripts(w)) * 5 >= len(words):
        return True
    hangul = [c for c in letters if "\uac00" <= c <= "\ud7a3"]
    if len(hangul) >= MIN_LETTERS and sum(c in _COMMON_HANGUL for c in hangul) * 20 < len(hangul):
        return True
    return bool(words) and len(_LATIN1_UTF8.findall(text)) * 20 >= len(words)


def _mixes_scripts(word: str) -> bool:
    scripts = {_script(c) for c in word} - {""}
    if "CJK" in scripts:  # Chinese and Japanese write Latin words without spaces ("3Dレーザー")
        scripts.discard("LATIN")
    return len(scripts) > 1


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name ("" for a mark or an unnamed one)."""
    if unicodedata.category(char).startswith("M"):
        return ""
    name = unicodedata.name(char, "")
    if name.startswith(_CJK):
        return "CJK"
    return name.split(" ", 1)[0]
