"""Held-out languages: parallel text this machine already has, never tuned on.

    python bench/retrieval.py --heldout [--heldout-languages de fr ...]

Debian's programs ship their messages' translations as gettext catalogs
(``/usr/share/locale/<lang>/LC_MESSAGES/*.mo``: coreutils, git, apt, dpkg, glib...).
Each catalog pairs an English message (msgid) with its translation (msgstr): a parallel
corpus in German, French, Italian, Portuguese, Russian, Chinese, Arabic and Japanese,
none of which XQuAD's Spanish/English tuning saw. For each language three sets:

* ``L→en``: the translation as the question, the English messages as the corpus (find
  the one it translates);
* ``en→L``: the other way round;
* ``L→L``: a message that two catalogs translated differently (two translators'
  wordings of one English message) as the question, the first wording in the corpus.

Only messages of at least ``MIN_WORDS`` words (sentences, not "Cancel"), accelerators
("_Open", "&File") and format directives kept as they are; the same English message once.
A retrieval of the translation among up to ``MAX_DOCS`` messages of the same programs is
harder than it looks: many messages share most of their words ("cannot open %s",
"cannot stat %s"), which keywords cannot tell apart across languages.
"""

from __future__ import annotations

import gettext
import hashlib
import re
from pathlib import Path

from sabio.evaluation import BeirSet

LOCALE = Path("/usr/share/locale")
LANGUAGES = ("de", "fr", "it", "pt", "ru", "zh_CN", "ar", "ja")
MIN_WORDS = 6
MAX_DOCS = 400
_WORD = re.compile(r"[^\W\d_]+")


def _clean(text: str) -> str:
    return " ".join(text.replace("_", "").replace("&", "").split())


def catalog_pairs(language: str) -> list[tuple[str, list[str]]]:
    """(English message, its distinct translations across catalogs), sorted by a hash of
    the message (a fixed sample, not the catalogs' order)."""
    found: dict[str, list[str]] = {}
    for mo in sorted((LOCALE / language / "LC_MESSAGES").glob("*.mo")):
        try:
            with mo.open("rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        for key, value in catalog.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                continue
            english, translated = _clean(key), _clean(value)
            if len(_WORD.findall(english)) < MIN_WORDS or not translated:
                continue
            if translated == english or "\x00" in english:
                continue
            seen = found.setdefault(english, [])
            if translated not in seen:
                seen.append(translated)
    return sorted(found.items(), key=lambda kv: hashlib.sha256(kv[0].encode()).hexdigest())


def heldout_sets(languages: tuple[str, ...] = LANGUAGES) -> list[BeirSet]:
    sets = []
    for language in languages:
        every = catalog_pairs(language)
        alternated = [pair for pair in every if len(pair[1]) > 1][: MAX_DOCS // 2]
        pairs = alternated + [pair for pair in every if len(pair[1]) == 1]
        pairs = pairs[:MAX_DOCS]
        if not pairs:
            continue
        ids = [f"m{i}" for i in range(len(pairs))]
        english = {i: ("", en) for i, (en, _) in zip(ids, pairs, strict=True)}
        native = {i: ("", tr[0]) for i, (_, tr) in zip(ids, pairs, strict=True)}
        qrels = {i: {i: 1} for i in ids}
        code = language.split("_")[0]
        sets.append(
            BeirSet(f"gettext {code}→en", english, {i: t for i, (_, t) in native.items()}, qrels)
        )
        sets.append(
            BeirSet(f"gettext en→{code}", native, {i: t for i, (_, t) in english.items()}, qrels)
        )
        alternates = {i: tr[1] for i, (_, tr) in zip(ids, pairs, strict=True) if len(tr) > 1}
        if len(alternates) >= 30:
            same = {i: {i: 1} for i in alternates}
            sets.append(BeirSet(f"gettext {code}→{code}", native, alternates, same))
    return sets


if __name__ == "__main__":
    for data in heldout_sets():
        print(f"{data.name}: {len(data.corpus)} documents, {len(data.qrels)} queries")
