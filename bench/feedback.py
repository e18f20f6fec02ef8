"""Corrections become knowledge (issue 26): after a correction, is the note cited?

    python bench/feedback.py                       # MiniLM, the product's default embedder
    python bench/feedback.py --embedder embedded:use-multilingual

A knowledge base of XQuAD's 240 English paragraphs (real Wikipedia text,
../shared/data/xquad_retrieval/en), built with ``Sabio.add``. Ten of its questions are
answered, then corrected through ``Sabio.give_feedback`` (as ``/correct`` in ``sabio
chat``, the web app's Correct button and ``POST .../feedback`` do), all ten notes in use
at once. Each is then asked again four ways: the same question, an English paraphrase,
XQuAD's Spanish translation and a Spanish paraphrase (the paraphrases written for this
set, below). A case counts when the answer quotes the correction and cites that note
first. Then the notes must stay out of what they do not correct: 150 SciFact claims (the
off-topic set of ``bench/answers.py gate``) and 150 other XQuAD questions (English and
Spanish) about the other paragraphs, and, the hard case, XQuAD's other questions about
the ten corrected paragraphs. Answers are extractive (the embedded model's style; a note
is quoted first in every style, so the model plays no part).

Pinned answers, in a second knowledge base over the same paragraphs (no notes): the
ten answers are pinned, then the three paraphrases of each asked (target: the pinned
answer served for at least 90%), and the same off-topic sets (target: at most 2%).
Results go to bench/results/feedback-<embedder>.json; docs/benchmarks.md says what they
mean.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from answers import XQUAD, _jsonl, _questions
from ingest_search import DATA, RESULTS

from sabio.config import load_settings
from sabio.notes import note_id
from sabio.service import Sabio
from sabio.store import NewFeedback

# (XQuAD id, English paraphrase, Spanish paraphrase, the correction)
CASES = (
    ("5733f1784776f41900661575",
     "What number of soldiers did Duquesne dispatch to relieve Saint-Pierre?",
     "¿Cuántos soldados mandó Duquesne en auxilio de Saint-Pierre?",
     "Duquesne sent 60 men to relieve Saint-Pierre, not 40; the French archives count 60."),
    ("5710eca0a58dae1900cd6b3a",
     "Which English colony offered land to Huguenot settlers?",
     "¿Qué colonia inglesa ofreció tierras a los hugonotes?",
     "Huguenot settlers were promised land in Virginia, at Manakin Town on the James River."),
    ("572a18a4af94a219006aa7df",
     "In which decade did theories appear saying inequality could help economic development?",
     "¿En qué década surgieron teorías de que la desigualdad podía favorecer el desarrollo "
     "económico?",
     "Those theories date from the 1950s (Kuznets, 1955), not only from the 1970s."),
    ("57111380a58dae1900cd6bd6",
     "Name a French Roman Catholic of the 1400s who favoured reform.",
     "Nombra un católico francés del siglo XV partidario de la reforma.",
     "Jacques Lefèvre d'Étaples was that pro-reform Catholic; he translated the Bible into "
     "French in 1530."),
    ("5726660d5951b619008f71b1",
     "What was the earliest known settlement where Newcastle now stands?",
     "¿Cuál fue el asentamiento más antiguo conocido donde hoy está Newcastle?",
     "The first recorded settlement was the Roman fort Pons Aelius, built around AD 122 "
     "beside Hadrian's Wall."),
    ("57275409708984140094dc35",
     "Which schools are called Model C schools since the end of apartheid?",
     "¿Qué escuelas se llaman modelo C desde el fin del apartheid?",
     "Model C schools are former whites-only government schools that since 1992 are run by "
     "their governing bodies."),
    ("572a0e4b6aef051400155214",
     "What is it called when a pathogen changes non-essential epitopes to escape adaptive "
     "immunity?",
     "¿Cómo se llama el cambio de epítopos no esenciales con el que un patógeno escapa del "
     "sistema inmunitario adaptativo?",
     "It is called antigenic variation: antigenic drift when gradual, antigenic shift when "
     "sudden."),
    ("56de49564396321400ee277a",
     "Off the coast of which continent do the Canary Islands lie?",
     "¿Frente a qué continente están las islas Canarias?",
     "The Canary Islands lie off north-west Africa, about 100 km from Morocco."),
    ("572957ad1d046914007792d9",
     "Which type of cell did cyanobacteria get into a long time ago?",
     "¿En qué clase de célula se introdujeron las cianobacterias hace mucho tiempo?",
     "Cyanobacteria entered a eukaryotic cell about 1.5 billion years ago and became its "
     "chloroplasts."),
    ("57293e221d046914007791d5",
     "According to the WG I Summary for Policymakers, what are humans doing to greenhouse "
     "gases?",
     "Según el resumen del WG I para responsables políticos, ¿qué hacen los humanos con los "
     "gases de efecto invernadero?",
     "Human activities are substantially increasing greenhouse gas concentrations; CO2 passed "
     "415 ppm in 2021."),
)  # fmt: skip
OFF_TOPIC = 150


def _kb(workdir: Path, embedder: str, name: str = "feedback") -> Sabio:
    home = workdir / f"{name}-{embedder.replace(':', '-')}"
    fresh = not (home / "sabio.db").exists()
    sabio = Sabio(load_settings({"home": home, "embedding_model": embedder}))
    if fresh:
        folder = workdir / "xquad-en-files"
        folder.mkdir(parents=True, exist_ok=True)
        for row in _jsonl(XQUAD / "en" / "corpus.jsonl"):
            (folder / f"{row['_id']}.txt").write_text(row["text"], encoding="utf-8")
        start = time.perf_counter()
        sabio.create_kb("xquad")
        sabio.add([folder], "xquad")
        print(f"added 240 paragraphs in {time.perf_counter() - start:.0f} s", flush=True)
    for note in sabio.list_feedback("xquad"):
        sabio.remove_feedback(note.id)  # a kept workdir starts without notes
    return sabio


def _ask(sabio: Sabio, question: str) -> tuple[str, list[str]]:
    text, sources, _ = _asked(sabio, question)
    return text, sources


def _asked(sabio: Sabio, question: str) -> tuple[str, list[str], int | None]:
    stream = sabio.ask(question, "xquad", style="extractive")
    text = "".join(stream)
    return text, [c.document for c in stream.answer.citations], stream.answer.pinned


def _noted(sources: list[str]) -> list[int]:
    return [n for s in sources if (n := note_id(s)) is not None]


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sabio = _kb(workdir, args.embedder)
    english = {r["_id"]: r for r in _questions("en")}
    spanish = {r["_id"]: r for r in _questions("es")}
    notes: dict[int, str] = {}
    for qid, _, _, fix in CASES:
        question = english[qid]["text"]
        before, _ = _ask(sabio, question)
        made = sabio.give_feedback(
            NewFeedback("xquad", question, before, rating=-1, correction=fix, author="ana")
        )
        notes[made.id] = qid
    rows, cited = [], {"same": 0, "en_paraphrase": 0, "es_translation": 0, "es_paraphrase": 0}
    for (qid, en_para, es_para, fix), note in zip(CASES, notes, strict=True):
        asked = {"same": english[qid]["text"], "en_paraphrase": en_para,
                 "es_translation": spanish[qid]["text"], "es_paraphrase": es_para}  # fmt: skip
        for way, question in asked.items():
            text, sources = _ask(sabio, question)
            ok = fix in text and _noted(sources)[:1] == [note] and note_id(sources[0]) == note
            cited[way] += ok
            rows.append({"case": qid, "way": way, "question": question, "cited": ok,
                         "notes_cited": _noted(sources)})  # fmt: skip
            print(f"{'ok  ' if ok else 'MISS'} {way:15} {question}", flush=True)
    total = sum(cited.values())
    result: dict[str, Any] = {
        "embedder": args.embedder,
        "cases": len(CASES),
        "note_cited": round(total / (4 * len(CASES)), 3),
        "by_way": {way: round(n / len(CASES), 3) for way, n in cited.items()},
        "rows": rows,
    }
    result["false_notes"] = _false_notes(sabio, english, spanish)
    sabio.close()
    result["pinned"] = _pinned(args, workdir, english, spanish)
    return result


def _pinned(
    args: argparse.Namespace, workdir: Path, english: dict[str, Any], spanish: dict[str, Any]
) -> dict[str, Any]:
    """Pin the ten answers, then ask their paraphrases and the off-topic sets."""
    sabio = _kb(workdir, args.embedder, "pinned")
    pins: dict[int, str] = {}
    for qid, *_ in CASES:
        stream = sabio.ask(english[qid]["text"], "xquad", style="extractive")
        text = "".join(stream)
        citations = [dataclasses.asdict(c) for c in stream.answer.citations]
        new = NewFeedback("xquad", english[qid]["text"], text, rating=1, pinned=True,
                          citations=citations, author="ana")  # fmt: skip
        pins[sabio.give_feedback(new).id] = qid
    served = 0
    for (qid, en_para, es_para, _), pin in zip(CASES, pins, strict=True):
        for question in (en_para, spanish[qid]["text"], es_para):
            got = _asked(sabio, question)[2]
            served += got == pin
            print(f"{'ok  ' if got == pin else 'MISS'} pinned {question}", flush=True)
    result: dict[str, Any] = {"paraphrases_served": round(served / (3 * len(CASES)), 3)}
    claims = [r["text"] for r in _jsonl(DATA / "beir_scifact" / "queries.jsonl")]
    corrected = {english[qid]["gold"] for qid, *_ in CASES}
    others = [q for q in english if english[q]["gold"] not in corrected and q in spanish]
    picked = random.Random(1).sample(others, OFF_TOPIC)
    sets = {
        "scifact_claims": random.Random(1).sample(claims, OFF_TOPIC),
        "other_paragraphs": [
            (english if i % 2 else spanish)[q]["text"] for i, q in enumerate(picked)
        ],
    }
    for name, questions in sets.items():
        wrong = [q for q in questions if _asked(sabio, q)[2] is not None]
        share = round(len(wrong) / len(questions), 3)
        result[name] = {"questions": len(questions), "served_a_pin": share, "examples": wrong[:5]}
        print(f"pinned, {name}: served for {len(wrong)} of {len(questions)}", flush=True)
    sabio.close()
    return result


def _false_notes(sabio: Sabio, english: dict[str, Any], spanish: dict[str, Any]) -> dict[str, Any]:
    """The share of questions the notes do not correct that cite one anyway."""
    corrected = {english[qid]["gold"] for qid, *_ in CASES}
    claims = [r["text"] for r in _jsonl(DATA / "beir_scifact" / "queries.jsonl")]
    others = [q for q in english if english[q]["gold"] not in corrected and q in spanish]
    picked = random.Random(1).sample(others, OFF_TOPIC)
    same_paragraph = [q for q in english if english[q]["gold"] in corrected]
    same_paragraph = [q for q in same_paragraph if q not in {c[0] for c in CASES}]
    sets = {
        "scifact_claims": random.Random(1).sample(claims, OFF_TOPIC),
        "other_paragraphs": [
            (english if i % 2 else spanish)[q]["text"] for i, q in enumerate(picked)
        ],
        "same_paragraphs_other_questions": [english[q]["text"] for q in same_paragraph],
    }
    found: dict[str, Any] = {}
    for name, questions in sets.items():
        hits = [q for q in questions if _noted(_ask(sabio, q)[1])]
        share = round(len(hits) / len(questions), 3)
        found[name] = {"questions": len(questions), "cited_a_note": share, "examples": hits[:5]}
        print(f"{name}: a note cited for {len(hits)} of {len(questions)}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="embedded:all-minilm-l6-v2")
    parser.add_argument("--workdir", type=Path, help="keep the data directory here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = bench(args, workdir)
    out = RESULTS / f"feedback-{args.embedder.replace(':', '-')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    summary = {k: v for k, v in result.items() if k != "rows"}
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    print()


if __name__ == "__main__":
    main()
