"""How far apart are a note's question and the questions it is about, from the others?

    python bench/note_matcher.py

:class:`sabio.notes.NoteMatcher` says a question is about a note when the cosine of the
two questions (the one the note corrects and the one asked) by the multilingual embedder
reaches :data:`sabio.notes.NOTE_FLOOR`. ``bench/feedback.py`` checks that end to end on
ten corrections; this measures the cosines themselves on all of XQuAD (1,190 questions
over 240 Wikipedia paragraphs, each in English and in Spanish), so the floor is chosen on
many cases and checked on others. Each English question stands for a note's question:

- about the note (must match): its Spanish translation, and the 20 paraphrases written
  for ``bench/feedback.py`` (English and Spanish);
- not about it (must not): each question, English or Spanish, about another paragraph
  (counted by pair: with N notes, a question about something else meets N of them), and
  300 SciFact claims; the other questions about the same paragraph (another fact of the
  same text) are reported apart: some are the same question in other words.

The paragraphs are split in two halves. On the first (dev) half the rule chooses the
floor: the lowest (in steps of 0.01) at which at most :data:`FALSE_PAIRS` of the pairs
that must not match do. The second (held-out) half checks it, and the product's floor.
Results go to bench/results/note-matcher.json.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from answers import _jsonl, _questions
from feedback import CASES
from ingest_search import DATA, RESULTS

from sabio.config import load_settings
from sabio.notes import NOTE_FLOOR, NOTE_MATCHER
from sabio.service import Sabio

CLAIMS = 300
FALSE_PAIRS = 0.001
"""The rule's bound: one unrelated (note, question) pair in a thousand matched."""


def _embed(texts: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        sabio = Sabio(load_settings({"home": Path(tmp)}))
        try:
            model = sabio.embedder(NOTE_MATCHER)
            return np.vstack([model.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
        finally:
            sabio.close()


def _sets(en: np.ndarray, es: np.ndarray, sci: np.ndarray, rows: np.ndarray,
          paragraph: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """The cosines of the notes ``rows`` (English questions) to each kind of question."""
    notes = en[rows]
    to_en, to_es = notes @ en.T, notes @ es.T
    other = paragraph[rows][:, None] != paragraph[None, :]
    same = ~other
    same[np.arange(len(rows)), rows] = False  # not the question itself
    return {
        "translation": to_es[np.arange(len(rows)), rows],
        "other_paragraphs": np.concatenate([to_en[other], to_es[other]]),
        "scifact": (notes @ sci.T).ravel(),
        "same_paragraph": np.concatenate([to_en[same], to_es[same]]),
    }


def _summary(values: np.ndarray, floor: float) -> dict[str, Any]:
    return {
        "n": int(values.size),
        "p1": round(float(np.percentile(values, 1)), 3),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "max": round(float(values.max()), 3),
        "matched": round(float((values >= floor).mean()), 5),
    }


def _rule(dev: dict[str, np.ndarray]) -> float:
    unrelated = np.concatenate([dev["other_paragraphs"], dev["scifact"]])
    for step in range(30, 100):
        if (unrelated >= step / 100).mean() <= FALSE_PAIRS:
            return step / 100
    return 1.0


def main() -> None:
    english = {r["_id"]: r for r in _questions("en")}
    spanish = {r["_id"]: r for r in _questions("es")}
    ids = sorted(q for q in english if q in spanish)
    paragraph = np.array([english[q]["gold"] for q in ids])
    queries = _jsonl(DATA / "beir_scifact" / "queries.jsonl")
    claims = random.Random(1).sample([r["text"] for r in queries], CLAIMS)
    hand = [(qid, text) for qid, en_para, es_para, _ in CASES for text in (en_para, es_para)]
    texts = [english[q]["text"] for q in ids] + [spanish[q]["text"] for q in ids]
    vectors = _embed(texts + claims + [t for _, t in hand])
    n = len(ids)
    en, es = vectors[:n], vectors[n : 2 * n]
    sci, para = vectors[2 * n : 2 * n + CLAIMS], vectors[2 * n + CLAIMS :]
    place = {q: i for i, q in enumerate(ids)}
    paraphrases = np.array([float(para[k] @ en[place[qid]]) for k, (qid, _) in enumerate(hand)])
    halves = sorted(set(paragraph))
    measured = {
        name: _sets(en, es, sci, np.flatnonzero(np.isin(paragraph, half)), paragraph)
        for name, half in (("dev", halves[0::2]), ("held_out", halves[1::2]))
    }
    rule = _rule(measured["dev"])
    result: dict[str, Any] = {
        "matcher": NOTE_MATCHER,
        "false_pairs_bound": FALSE_PAIRS,
        "floor_by_rule_on_dev": rule,
        "product_floor": NOTE_FLOOR,
    }
    for label, floor in (("rule", rule), ("product", NOTE_FLOOR)):
        for half, sets in measured.items():
            result[f"{half} at the {label} floor"] = {
                name: _summary(values, floor) for name, values in sets.items()
            }
        result[f"paraphrases at the {label} floor"] = _summary(paraphrases, floor)
    out = RESULTS / "note-matcher.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
