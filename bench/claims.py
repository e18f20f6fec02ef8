"""A labelled set of claims for the support checker, built from real passages.

For each XQuAD question (es, en) the sentence of its paragraph that holds the gold answer
gives true claims: the sentence **copied**, a **clause** of it (cut at a comma, keeping
the answer), and the question **restated** with its answer ("How many points did the
Panthers defense surrender: 308."), which shares few words with the passage (XQuAD's
writers paraphrased on purpose). The 10-Q filings (en) add sentences with figures, copied
and cut. Each true claim makes false ones by changing one thing:

- ``figure``: a number changed to one that no passage in the prompt has;
- ``date``: a year moved by 1-9 years, or a month swapped;
- ``name``: a capitalised name replaced by one from an unrelated passage;
- ``negation``: a "not"/"no" put in after the first auxiliary verb.

A claim is checked against a prompt of five passages: its own and four neighbours (the
same XQuAD article's other paragraphs, the same filing's other chunks), so the related
passages that a real prompt holds are there to mislead the checker. XQuAD articles with
an even index and the Apple and Microsoft filings are the development half (thresholds
were chosen there); the rest is held out.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sabio.facts import figures, months, names, sentences
from sabio.terms import tokens

AUXILIARIES = {
    "en": ("is", "was", "were", "are", "has", "have", "had", "can", "will", "did", "does"),
    "es": ("es", "fue", "fueron", "son", "era", "eran", "está", "están", "ha", "han", "había",
           "tiene", "tuvo", "se", "puede"),
}  # fmt: skip
MONTH_NAMES = {
    "en": "January February March April May June July August September October November "
    "December".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre".split(),
}
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")


@dataclass(frozen=True, slots=True)
class LabelledClaim:
    language: str
    split: str  # dev or test
    kind: str  # copied, clause, restated, figure, date, name, negation
    true: bool
    text: str
    passages: tuple[str, ...]  # the prompt: its own passage first
    source: str  # passage id


def xquad_claims(folder: Path, language: str) -> Iterator[LabelledClaim]:
    corpus = {}
    with (folder / language / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            corpus[row["_id"]] = row["text"]
    gold = {}
    for line in (folder / language / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        gold[qid] = doc
    by_article: dict[str, list[str]] = {}
    for pid in corpus:
        by_article.setdefault(pid[:5], []).append(pid)
    foreign = [t for pid, t in corpus.items()]
    rng = random.Random(f"xquad-{language}")
    seen: set[tuple[str, str]] = set()
    with (folder / language / "queries.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        pid = gold.get(row["_id"])
        if pid is None:
            continue
        text, answer = corpus[pid], row["metadata"]["answers"][0]
        sentence = next((text[s:e] for s, e in sentences(text) if answer in text[s:e]), None)
        if sentence is None or (pid, sentence) in seen:
            continue
        seen.add((pid, sentence))
        prompt = (text, *(corpus[p] for p in by_article[pid[:5]] if p != pid))[:5]
        split = "dev" if int(pid[3:5]) % 2 == 0 else "test"
        question = row["text"].strip().strip("¿?").strip()
        trues = [("copied", sentence), ("restated", f"{question}: {answer}.")]
        if clause := _clause(sentence, answer):
            trues.append(("clause", clause))
        for kind, claim in trues:
            yield LabelledClaim(language, split, kind, True, claim, prompt, pid)
        for kind, claim in _falsified(sentence, language, prompt, foreign, rng):
            yield LabelledClaim(language, split, kind, False, claim, prompt, pid)


def filing_claims(folder: Path, chunks: dict[str, list[str]]) -> Iterator[LabelledClaim]:
    """English claims from the 10-Q filings' prose: ``chunks`` maps a filing's name to
    its passages in order (as Sabio chunked them)."""
    rng = random.Random("filings")
    everything = [c for texts in chunks.values() for c in texts]
    for name, texts in sorted(chunks.items()):
        split = "dev" if ("AAPL" in name or "MSFT" in name) else "test"
        picked = 0
        for i, text in enumerate(texts):
            if picked >= 25:
                break
            for s, e in sentences(text):
                sentence = " ".join(text[s:e].split())
                if not (60 <= len(sentence) <= 300) or not figures(sentence) or "|" in sentence:
                    continue
                if len(re.findall(r"[a-z]{3,}", sentence)) < 6:
                    continue
                prompt = (text, *[t for j, t in enumerate(texts) if 0 < abs(j - i) <= 2])[:5]
                yield LabelledClaim("en", split, "copied", True, sentence, prompt, f"{name}#{i}")
                if clause := _clause(sentence, figures(sentence)[0].text):
                    yield LabelledClaim("en", split, "clause", True, clause, prompt, f"{name}#{i}")
                for kind, claim in _falsified(sentence, "en", prompt, everything, rng):
                    yield LabelledClaim("en", split, kind, False, claim, prompt, f"{name}#{i}")
                picked += 1
                break


def _clause(sentence: str, answer: str) -> str | None:
    """The comma- or semicolon-separated part of ``sentence`` that holds ``answer``, when
    it is a real part (at least six words, not the whole sentence)."""
    parts = re.split(r"(?<=[,;])\s+", sentence)
    for part in parts:
        words = part.split()
        if answer in part and len(words) >= 6 and len(parts) > 1:
            return part.rstrip(",;") + "."
    return None


def _falsified(
    sentence: str, language: str, prompt: tuple[str, ...], foreign: list[str], rng: random.Random
) -> Iterator[tuple[str, str]]:
    if changed := _change_figure(sentence, prompt, rng):
        yield "figure", changed
    if changed := _change_date(sentence, language, rng):
        yield "date", changed
    if changed := _change_name(sentence, prompt, foreign, rng):
        yield "name", changed
    if changed := _negate(sentence, language):
        yield "negation", changed


def _change_figure(sentence: str, prompt: tuple[str, ...], rng: random.Random) -> str | None:
    candidates = [
        m
        for m in re.finditer(r"(?<![\d.,])\d[\d,.]*\d|(?<![\d.,])\d(?![\d.,])", sentence)
        if not _YEAR.fullmatch(m.group(0))
    ]
    if not candidates:
        return None
    match = rng.choice(candidates)
    digits = match.group(0)
    present = {f.text for text in prompt for f in figures(text)}
    for _ in range(20):
        position = max(i for i, ch in enumerate(digits) if ch.isdigit())
        positions = [i for i, ch in enumerate(digits) if ch.isdigit()]
        position = rng.choice(positions[: max(1, len(positions) - 1)] or positions)
        new_digit = str((int(digits[position]) + rng.randint(1, 8)) % 10)
        if position == 0 and new_digit == "0":
            continue
        changed = digits[:position] + new_digit + digits[position + 1 :]
        if changed not in present and not any(changed in text for text in prompt):
            return sentence[: match.start()] + changed + sentence[match.end() :]
    return None


def _change_date(sentence: str, language: str, rng: random.Random) -> str | None:
    years = list(_YEAR.finditer(sentence))
    if years:
        match = rng.choice(years)
        year = int(match.group(0)) + rng.choice([-1, 1]) * rng.randint(1, 9)
        return sentence[: match.start()] + str(year) + sentence[match.end() :]
    found = months(sentence)
    for index, name in enumerate(MONTH_NAMES[language], 1):
        if index in found and re.search(rf"\b{name}\b", sentence, re.IGNORECASE):
            other = MONTH_NAMES[language][(index + rng.randint(1, 10)) % 12]
            return re.sub(rf"\b{name}\b", other, sentence, count=1, flags=re.IGNORECASE)
    return None


def _change_name(
    sentence: str, prompt: tuple[str, ...], foreign: list[str], rng: random.Random
) -> str | None:
    words = [m for m in re.finditer(r"\b[A-ZÁÉÍÓÚÑ][a-záéíóúñ]{3,}\b", sentence) if m.start() > 0]
    known = names(sentence)
    words = [m for m in words if tokens(m.group(0))[0] in known]
    if not words:
        return None
    target = rng.choice(words)
    for _ in range(30):
        text = rng.choice(foreign)
        others = [
            w
            for w in re.findall(r"(?<=[a-z,] )[A-ZÁÉÍÓÚÑ][a-záéíóúñ]{3,}\b", text)
            if not any(w.lower() in p.lower() for p in prompt)
        ]
        if others:
            return sentence[: target.start()] + rng.choice(others) + sentence[target.end() :]
    return None


def _negate(sentence: str, language: str) -> str | None:
    word = "not" if language == "en" else "no"
    for aux in AUXILIARIES[language]:
        match = re.search(rf"\b{aux}\b", sentence)
        if match is None or re.search(rf"\b{word}\b", sentence, re.IGNORECASE):
            continue
        if language == "en":
            return sentence[: match.end()] + f" {word}" + sentence[match.end() :]
        return sentence[: match.start()] + f"{word} " + sentence[match.start() :]
    return None
