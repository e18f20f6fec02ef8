"""Grounded answers: time-to-first-token overhead, answer quality, the relevance gate.

    python bench/answers.py ttft      # Sabio.ask vs the same model called directly, 10k/100k chunks
    python bench/answers.py qa        # XQuAD es/en: hit@k, EM/F1, contains-gold, support, citations
    python bench/answers.py qa --embedder embedded:all-minilm-l6-v2+use-multilingual \
        --languages 'es>en' 'en>es' es en --off-topic 60   # across languages, and refusals
    python bench/answers.py docugami  # the 10-Q questions: gold figures stated, F1, support
    python bench/answers.py checker   # the support checker on a labelled set (bench/claims.py)
    python bench/answers.py gate      # how often relevant_hits keeps passages, on- and off-topic
    python bench/answers.py all

Everything runs through Sabio's own service (``Sabio.add``, ``Sabio.search``,
``Sabio.ask``) in throwaway data directories (``--workdir`` keeps them, so a second run
skips ingestion). The chat model is ``embedded:smollm2`` unless ``--model`` names another
(``ollama:qwen3:4b``…); ``--style`` picks the answer style (default: the product's for that
model, extractive for the embedded one). ``--split dev`` asks questions outside the fixed
samples (where the extractive weights were chosen). Results are printed and written to
bench/results/answers-*.json.
See docs/benchmarks.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import re
import statistics
import string
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from claims import filing_claims, xquad_claims
from ingest_search import DATA, RESULTS, _build, _sentences

from sabio.answer import (
    COVERAGE_FLOOR,
    SIMILARITY_FLOORS,
    AnswerStream,
    coverage,
    detect_language,
    relevant_hits,
)
from sabio.config import load_settings
from sabio.facts import figures, is_year, same_figure
from sabio.search import SearchHit, query_terms
from sabio.service import Sabio
from sabio.support import Passages, check_claims

EMBEDDER = "embedded:all-minilm-l6-v2"
FLOOR = SIMILARITY_FLOORS[EMBEDDER]
XQUAD = DATA / "xquad_retrieval"
SCIFACT_KB_SIZE = 1500
CITATION = re.compile(r"\[\d+\]")


def _open(home: Path, **overrides: Any) -> Sabio:
    return Sabio(load_settings({"home": home, "embedding_model": EMBEDDER, **overrides}))


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def _summary(samples: Sequence[float]) -> dict[str, float]:
    if not samples:
        return {}
    return {
        "mean": round(statistics.fmean(samples), 1),
        "p50": round(statistics.median(samples), 1),
        "p95": round(_percentile(samples, 0.95), 1),
    }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# time to first token


def _ttft_kb(workdir: Path, n: int, settings: dict[str, Any]) -> Sabio:
    home = workdir / f"ttft-{n}"
    if not (home / "sabio.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        _build(home / "sabio.db", n, _sentences(), random.Random(0), EMBEDDER)
        print(f"built {n} chunks in {time.perf_counter() - start:.0f} s", flush=True)
    return _open(home, **settings)


def _passing_queries(sabio: Sabio, wanted: int) -> tuple[list[str], int]:
    """SciFact claims (a fixed shuffle) that the relevance gate lets through to the model,
    and how many it refused on the way (those never reach the model: no TTFT to compare)."""
    claims = [row["text"] for row in _jsonl(DATA / "beir_scifact" / "queries.jsonl")]
    random.Random(0).shuffle(claims)
    kept: list[str] = []
    refused = 0
    for claim in claims:
        if len(kept) == wanted:
            break
        weights = sabio.index.term_weights(sabio.kb("bench"), query_terms(claim))
        hits = sabio.search(claim, "bench").hits
        if relevant_hits(claim, hits, FLOOR, lambda t, w=weights: w):
            kept.append(claim)
        else:
            refused += 1
    return kept, refused


def _first_piece_sabio(sabio: Sabio, question: str, model: str) -> tuple[AnswerStream, float, str]:
    start = time.perf_counter()
    stream = sabio.ask(question, "bench", model=model)
    pieces = iter(stream)
    first = next(pieces)
    elapsed = (time.perf_counter() - start) * 1000
    pieces.close()  # type: ignore[attr-defined]
    return stream, elapsed, first


def _first_piece_direct(stream: AnswerStream) -> tuple[float, str]:
    """The same model, the same messages and options as Sabio sent, called directly."""
    assert stream.plan is not None
    options = dataclasses.replace(stream.options, max_tokens=stream.plan.answer_tokens)
    start = time.perf_counter()
    pieces = stream.model.stream(stream.plan.messages, options)
    first = next(iter(pieces))
    elapsed = (time.perf_counter() - start) * 1000
    pieces.close()  # type: ignore[attr-defined]
    return elapsed, first


def bench_ttft(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Per size: A = Sabio.ask to its first piece, B = the model called directly with A's
    messages. Order A1, A2, B1, A3, B2, …: every call follows a call for another question,
    so llama.cpp's prompt cache (it reuses the longest common prefix of the previous
    prompt) helps A and B alike, with the shared system-prompt head only."""
    settings = {"answer_tokens": args.answer_tokens, "context_window": args.context_window}
    results: dict[str, Any] = {"model": args.model, **settings}
    for n in args.sizes:
        sabio = _ttft_kb(workdir, n, settings)
        queries, refused = _passing_queries(sabio, args.queries + 1)
        "".join(sabio.ask(queries.pop(), "bench", model=args.model))  # loads the model
        streams: list[AnswerStream] = []
        a_wall: list[float] = []
        b: list[float] = []
        firsts: list[list[str]] = []
        for i in range(len(queries) + 1):
            if i < len(queries):
                stream, wall, first = _first_piece_sabio(sabio, queries[i], args.model)
                streams.append(stream)
                a_wall.append(wall)
                firsts.append([first])
            if i >= 1:
                elapsed, first = _first_piece_direct(streams[i - 1])
                b.append(elapsed)
                firsts[i - 1].append(first)
        timings = [s.answer.timings for s in streams]
        a = [t["first_token_ms"] for t in timings]
        row: dict[str, Any] = {
            "queries": len(queries),
            "refused_by_gate": refused,
            "prompt_tokens": _summary([s.answer.prompt_tokens for s in streams]),
            "A_sabio_first_token_ms": _summary(a),
            "A_wall_incl_ask_setup_ms": _summary(a_wall),
            "B_direct_first_token_ms": _summary(b),
            "A_minus_B_ms": _summary([x - y for x, y in zip(a, b, strict=True)]),
            "A_wall_minus_B_ms": _summary([x - y for x, y in zip(a_wall, b, strict=True)]),
            "retrieval_ms": _summary([t["retrieval_ms"] for t in timings]),
            "prompt_build_ms": _summary([t["prompt_ms"] - t["retrieval_ms"] for t in timings]),
            "before_model_ms": _summary([t["prompt_ms"] for t in timings]),
        }
        print(f"{n:>7} chunks {json.dumps(row)}", flush=True)
        row["per_question"] = [
            {"question": q, "A_ms": x, "B_ms": y, "first_pieces": f, **t}
            for q, x, y, f, t in zip(queries, a, b, firsts, timings, strict=True)
        ]
        results[f"{n} chunks"] = row
        sabio.close()
    return results


# XQuAD knowledge bases


def _home(workdir: Path, name: str, embedder: str) -> Path:
    """The data directory ``name`` for ``embedder`` (the default's keeps its old name)."""
    if embedder == EMBEDDER:
        return workdir / name
    return workdir / f"{name}-{re.sub(r'[^a-z0-9]+', '-', embedder.lower())}"


def _xquad_kb(workdir: Path, language: str, embedder: str = EMBEDDER) -> Path:
    """A data directory holding XQuAD's 240 paragraphs of ``language`` as the default
    knowledge base, one ``<paragraph id>.txt`` per paragraph, added with ``Sabio.add``."""
    home = _home(workdir, f"xquad-{language}", embedder)
    if not (home / "sabio.db").exists():
        folder = workdir / f"xquad-{language}-files"
        folder.mkdir(parents=True, exist_ok=True)
        for row in _jsonl(XQUAD / language / "corpus.jsonl"):
            (folder / f"{row['_id']}.txt").write_text(row["text"], encoding="utf-8")
        _ingest(home, folder, f"XQuAD {language}", embedder)
    return home


def _scifact_kb(workdir: Path, embedder: str = EMBEDDER) -> Path:
    home = _home(workdir, "scifact", embedder)
    if not (home / "sabio.db").exists():
        folder = workdir / "scifact-files"
        folder.mkdir(parents=True, exist_ok=True)
        for row in _jsonl(DATA / "beir_scifact" / "corpus.jsonl")[:SCIFACT_KB_SIZE]:
            text = f"{row['title']}\n\n{row['text']}"
            (folder / f"{row['_id']}.txt").write_text(text, encoding="utf-8")
        _ingest(home, folder, f"{SCIFACT_KB_SIZE} SciFact abstracts", embedder)
    return home


def _ingest(home: Path, folder: Path, what: str, embedder: str = EMBEDDER) -> None:
    start = time.perf_counter()
    sabio = _open(home, embedding_model=embedder)
    report = sabio.add([folder])
    sabio.close()
    print(f"added {what}: {len(report.results)} files in {time.perf_counter() - start:.0f} s")


def _paragraph(hit: SearchHit) -> str:
    return Path(hit.document).stem


def _questions(language: str) -> list[dict[str, Any]]:
    """XQuAD questions with their gold paragraph (ids are shared by es and en)."""
    gold: dict[str, str] = {}
    for line in (XQUAD / language / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        gold[qid] = doc
    rows = _jsonl(XQUAD / language / "queries.jsonl")
    return [{**row, "gold": gold[row["_id"]]} for row in rows if row["_id"] in gold]


def _sample(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """A deterministic sample: the same question ids in every language."""
    ids = sorted(row["_id"] for row in rows)
    chosen = set(random.Random(0).sample(ids, min(n, len(ids))))
    return [row for row in rows if row["_id"] in chosen]


# answer quality

_ARTICLES = {
    "en": {"a", "an", "the"},
    "es": {"el", "la", "los", "las", "un", "una", "unos", "unas"},
}


def normalize_answer(text: str, language: str) -> list[str]:
    """SQuAD's normalisation (lower case, no punctuation, no articles); for Spanish also
    its articles and no accents. Citation markers go first."""
    text = CITATION.sub(" ", text).lower()
    if language == "es":
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = "".join(" " if _is_punctuation(ch) else ch for ch in text)
    return [word for word in text.split() if word not in _ARTICLES[language]]


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def token_f1(prediction: list[str], gold: list[str]) -> float:
    common = sum(min(prediction.count(w), gold.count(w)) for w in set(gold))
    if not common:
        return 0.0
    precision, recall = common / len(prediction), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _score_answer(text: str, answers: list[str], language: str) -> dict[str, float]:
    predicted = normalize_answer(text, language)
    golds = [normalize_answer(a, language) for a in answers]
    joined = f" {' '.join(predicted)} "
    return {
        "em": float(any(predicted == g for g in golds)),
        "f1": max(token_f1(predicted, g) for g in golds),
        "contains": float(any(g and f" {' '.join(g)} " in joined for g in golds)),
    }


def _support(answer: Any, gold: set[str]) -> dict[str, Any]:
    """What the support check said of an answer: its claims, how many are supported, and
    of those how many by a gold passage (``gold``: paragraph or document stems)."""
    claims = answer.claims
    supported = [c for c in claims if c.supported]
    return {
        "claims": len(claims),
        "supported_claims": len(supported),
        "supported_by_gold": sum(Path(c.document).stem in gold for c in supported),
        "has_supported": bool(supported and answer.citations),
        "unsupported": answer.unsupported,
        "stopped": answer.stopped,
        "says_unsupported": answer.no_answer or answer.unsupported,
        "first_text_after_retrieval_ms": answer.timings.get("first_token_ms", 0)
        - answer.timings.get("retrieval_ms", 0),
    }


def _ask_one(
    sabio: Sabio, row: dict[str, Any], language: str, model: str, style: str | None
) -> dict[str, Any]:
    hits = sabio.search(row["text"], k=8).hits
    ranks = [_paragraph(h) for h in hits]
    stream = sabio.ask(row["text"], model=model, style=style)
    "".join(stream)
    answer = stream.answer
    prompt = [_paragraph(h) for h in stream.plan.passages] if stream.plan else []
    cited = [Path(c.document).stem for c in answer.citations]
    return {
        "id": row["_id"],
        "question": row["text"],
        "gold": row["gold"],
        "gold_rank": ranks.index(row["gold"]) + 1 if row["gold"] in ranks else None,
        "gold_in_prompt": row["gold"] in prompt,
        "model_called": stream.plan is not None,
        "no_answer": answer.no_answer,
        "answer": answer.text,
        "answers": row["metadata"]["answers"],
        **_score_answer(answer.text, row["metadata"]["answers"], language),
        "language_ok": detect_language(CITATION.sub("", answer.text)) == language,
        "cited": cited,
        "inferred": any(c.inferred for c in answer.citations),
        "style": answer.style,
        **_support(answer, {row["gold"]}),
        "timings": answer.timings,
    }


def _mean(rows: Iterable[dict[str, Any]], key: str | Callable[[dict[str, Any]], float]) -> float:
    values = [float(key(r) if callable(key) else r[key]) for r in rows]
    return round(statistics.fmean(values), 3) if values else float("nan")


def _qa_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    called = [r for r in rows if r["model_called"]]
    citing = [r for r in rows if r["cited"]]
    cited = [(r["gold"], doc) for r in rows for doc in r["cited"]]
    summary: dict[str, Any] = {"questions": len(rows)}
    for k in (1, 3, 5, 8):
        summary[f"hit@{k}"] = _mean(rows, lambda r, k=k: (r["gold_rank"] or 99) <= k)
    summary |= _support_summary(rows) | {
        "exact_match": _mean(rows, "em"),
        "f1": _mean(rows, "f1"),
        "contains_gold": _mean(rows, "contains"),
        "no_answer": _mean(rows, "no_answer"),
        "cited": _mean(rows, lambda r: bool(r["cited"])),
        "cited_inferred_share": _mean(citing, "inferred"),
        "citation_precision": _mean(cited, lambda pair: pair[0] == pair[1]),
    }
    if called:  # what only a model call has (an extractive answer makes none)
        summary |= {
            "gold_in_prompt": _mean(rows, "gold_in_prompt"),
            "refused_by_gate": _mean(rows, lambda r: not r["model_called"]),
            "language_match": _mean(called, "language_ok"),
            "stopped": {
                reason: _mean(called, lambda r, s=reason: r["stopped"] == s)
                for reason in ("length", "repetition", "error")
            },
            "unsupported_fallback": _mean(called, "unsupported"),
            "first_token_ms": _summary([r["timings"]["first_token_ms"] for r in called]),
            "total_ms": _summary([r["timings"]["total_ms"] for r in called]),
        }
    return summary


def _support_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers with at least one supported, cited claim; answers that are honest (that,
    or they say plainly the documents do not answer or support them); claim precision
    (supported claims whose passage is a gold one); the time from retrieval to the first
    text."""
    supported = sum(r["supported_claims"] for r in rows)
    return {
        "with_supported_claim": _mean(rows, "has_supported"),
        "honest": _mean(rows, lambda r: r["has_supported"] or r["says_unsupported"]),
        "claims_supported_share": round(supported / max(1, sum(r["claims"] for r in rows)), 3),
        "claim_precision": round(sum(r["supported_by_gold"] for r in rows) / max(1, supported), 3),
        "first_text_after_retrieval_ms": _summary(
            [r["first_text_after_retrieval_ms"] for r in rows if not r["no_answer"]]
        ),
    }


def _xquad_rows(language: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The fixed sample, or for ``--split dev`` as many other questions (a fixed draw)."""
    rows = _questions(language)
    fixed = _sample(rows, args.questions)
    if args.split == "fixed":
        return fixed
    chosen = {r["_id"] for r in fixed}
    rest = [r for r in rows if r["_id"] not in chosen]
    return random.Random(5).sample(rest, min(args.questions, len(rest)))


def bench_qa(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "model": args.model,
        "style": args.style,
        "split": args.split,
        "answer_tokens": args.qa_answer_tokens,
    }
    for case in args.languages:
        asked, _, over = case.partition(">")  # "es>en": Spanish questions, English kb
        language = over or asked
        home = _xquad_kb(workdir, language, args.embedder)
        sabio = _open(home, answer_tokens=args.qa_answer_tokens, embedding_model=args.embedder)
        warm = "warm up" if asked == "en" else "¿calentar?"
        "".join(sabio.ask(warm, model=args.model, style=args.style))
        rows = []
        for n, row in enumerate(_cross_rows(asked, language, args), 1):
            rows.append(_ask_one(sabio, row, language, args.model, args.style))
            if n % 10 == 0:
                print(f"  {case}: {n} questions", flush=True)
        sabio.close()
        summary = _qa_summary(rows)
        results[case] = {"summary": summary, "answers": rows}
        print(f"{case} {json.dumps(summary)}", flush=True)
    return results


def bench_off_topic(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Questions across languages that the knowledge base cannot answer: Spanish XQuAD
    questions over English SciFact abstracts, English SciFact claims over Spanish XQuAD
    paragraphs; the share answered anyway (it should be 0)."""
    spanish = [r["text"] for r in random.Random(1).sample(_questions("es"), args.off_topic)]
    claims = [r["text"] for r in _jsonl(DATA / "beir_scifact" / "queries.jsonl")]
    english = random.Random(1).sample(claims, args.off_topic)
    results: dict[str, Any] = {}
    for case, home, questions in (
        ("es>scifact", _scifact_kb(workdir, args.embedder), spanish),
        ("en>xquad-es", _xquad_kb(workdir, "es", args.embedder), english),
    ):
        sabio = _open(home, embedding_model=args.embedder)
        answered = []
        for question in questions:
            stream = sabio.ask(question, model=args.model, style=args.style)
            text = "".join(stream)
            if not stream.answer.no_answer:
                answered.append({"question": question, "answer": text})
        sabio.close()
        results[case] = {"answered": round(len(answered) / len(questions), 3), "which": answered}
        print(f"off-topic {case}: {len(answered)}/{len(questions)} answered", flush=True)
    return results


def _cross_rows(asked: str, over: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The questions in ``asked`` with the gold answers of the ``over`` knowledge base's
    language (XQuAD's ids are shared: the same question, paragraph and answer in both)."""
    rows = _xquad_rows(asked, args)
    if asked == over:
        return rows
    answers = {r["_id"]: r["metadata"]["answers"] for r in _questions(over)}
    return [{**r, "metadata": {**r["metadata"], "answers": answers[r["_id"]]}} for r in rows]


# the 10-Q questions

DOCUGAMI = DATA / "rag_qa" / "docugami_sec10q"


def _docugami_kb(workdir: Path) -> Path:
    home = workdir / "docugami"
    if not (home / "sabio.db").exists():
        _ingest(home, DOCUGAMI / "docs", "20 SEC 10-Q filings")
    return home


def _gold_figures(answer: str) -> list[Any]:
    return [f for f in figures(answer) if not is_year(f) and f.readings[0][0] >= 10]


def bench_docugami(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every question of qna_data.csv over the 20 filings: whether the answer states one
    of the gold answer's figures (for questions whose gold answer has figures), token F1
    against the gold answer, and the support numbers (gold: the filings the question is
    about)."""
    import csv
    import fnmatch

    with (DOCUGAMI / "qna_data.csv").open(encoding="utf-8-sig") as f:
        questions = list(csv.DictReader(f))
    sabio = _open(_docugami_kb(workdir), answer_tokens=args.qa_answer_tokens)
    names = [p.stem for p in (DOCUGAMI / "docs").glob("*.pdf")]
    rows = []
    for n, row in enumerate(questions[: args.docugami_questions or None], 1):
        stream = sabio.ask(row["Question"], model=args.model, style=args.style)
        "".join(stream)
        answer = stream.answer
        gold = {name for name in names if fnmatch.fnmatch(name, row["Source Docs"])}
        wanted = _gold_figures(row["Answer"])
        stated = figures(answer.text)
        rows.append(
            {
                "question": row["Question"],
                "type": row["Question Type"],
                "chunk_type": row["Source Chunk Type"],
                "answer": answer.text,
                "gold_answer": row["Answer"],
                "no_answer": answer.no_answer,
                "has_gold_figures": bool(wanted),
                "states_gold_figure": any(same_figure(w, s) for w in wanted for s in stated),
                "f1": _score_answer(answer.text, [row["Answer"]], "en")["f1"],
                "cited_gold": any(Path(c.document).stem in gold for c in answer.citations),
                **_support(answer, gold),
                "timings": answer.timings,
            }
        )
        if n % 20 == 0:
            print(f"  docugami: {n} questions", flush=True)
    sabio.close()
    with_figures = [r for r in rows if r["has_gold_figures"]]
    summary = {
        "questions": len(rows),
        "gold_figure_stated": _mean(with_figures, "states_gold_figure"),
        "questions_with_gold_figures": len(with_figures),
        "f1": _mean(rows, "f1"),
        "cited_gold_filing": _mean(rows, "cited_gold"),
        "no_answer": _mean(rows, "no_answer"),
        **_support_summary(rows),
    }
    print(f"docugami {json.dumps(summary)}", flush=True)
    return {"model": args.model, "style": args.style, "summary": summary, "answers": rows}


# the support checker's own accuracy


def _prompt_hits(texts: Sequence[str]) -> list[SearchHit]:
    return [
        SearchHit(n, n, f"/prompt/{n}.txt", "", None, 0, len(t), "", t, 1.0, n, n)
        for n, t in enumerate(texts)
    ]


SIMILAR_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 2.0)  # 2.0: words alone


def _memo(embed: Callable[[Sequence[str]], Any]) -> Callable[[Sequence[str]], Any]:
    """``embed`` with each text's vector kept: the sweep embeds every text once."""
    seen: dict[str, Any] = {}

    def cached(texts: Sequence[str]) -> Any:
        wanted = [t for t in dict.fromkeys(texts) if t not in seen]
        if wanted:
            seen.update(zip(wanted, embed(wanted), strict=True))
        return [seen[t] for t in texts]

    return cached


def bench_checker(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The labelled set of bench/claims.py through :func:`check_claims`, each claim with
    its five-passage prompt and ``--embedder`` for the near misses: the share of false
    claims flagged and of true claims flagged (false alarms), per language, split and
    kind, at each cosine floor of :data:`SIMILAR_GRID` (the product's first). A claim is
    flagged when any of its sentences is unsupported."""
    import sqlite3
    from collections import defaultdict

    items = [c for lang in ("es", "en") for c in xquad_claims(XQUAD, lang)]
    db = sqlite3.connect(_docugami_kb(workdir) / "sabio.db")
    chunks: dict[str, list[str]] = defaultdict(list)
    for source, text in db.execute(
        "SELECT d.source, c.text FROM chunk c JOIN document d ON d.id = c.document_id ORDER BY c.id"
    ):
        chunks[Path(source).name].append(text)
    db.close()
    items += list(filing_claims(DOCUGAMI, chunks))
    embed = _memo(_open(workdir / "checker").embedder(args.embedder).embed)
    product = Passages([]).similar_floor
    sweep: dict[str, Any] = {}
    errors = []
    for floor in dict.fromkeys((product, *SIMILAR_GRID)):
        counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        for item in items:
            passages = Passages(_prompt_hits(item.passages), embed, similar_floor=floor)
            claims = check_claims(item.text, passages)
            flagged = not claims or any(not c.supported for c in claims)
            for key in (
                (item.language, item.split, item.kind),
                (item.language, item.split, str(item.true)),
            ):
                counts[key][0] += 1
                counts[key][1] += flagged
            if floor == product and flagged == item.true:
                errors.append({"language": item.language, "kind": item.kind, "claim": item.text})
        sweep[str(floor)] = {
            " ".join(k): {"claims": n, "flagged": round(f / n, 3)}
            for k, (n, f) in sorted(counts.items())
        }
        summary = {k: v["flagged"] for k, v in sweep[str(floor)].items() if k.endswith("e")}
        print(f"floor {floor}: {summary}", flush=True)
    table = sweep[str(product)]
    for key, row in table.items():
        print(f"{key:22} {row['claims']:5} flagged {row['flagged']:.3f}", flush=True)
    return {
        "embedder": args.embedder,
        "claims": len(items),
        "product_floor": product,
        "table": table,
        "sweep": sweep,
        "errors": errors,
    }


# the relevance gate

SIMILARITY_GRIDS = {
    "embedded:all-minilm-l6-v2": (0.35, 0.40, 0.45, 0.50, 0.55),
    "embedded:use-multilingual": (0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50),
}
"""The floors swept for each embedder (or part of a pair): USE's cosines run lower."""
COVERAGE_GRID = (0.34, 0.5, 0.67, 2.0)  # 2.0: that rule off
OFF = 2.0
Scored = list[tuple[float | None, float, str]]
"""A question's top hits: (cosine or None, coverage, the model whose cosine it is)."""


def _gate_cases(
    workdir: Path, negatives: int, embedder: str
) -> list[tuple[str, bool, Path, list[tuple[str, str]]]]:
    """(case, on topic?, data directory, (question, split)): positives use every
    question. The split follows bench/claims.py: XQuAD questions whose gold paragraph is
    in an even article are dev, the others test; SciFact claims alternate."""

    def xquad(language: str) -> list[tuple[str, str]]:
        rows = _questions(language)
        return [(r["text"], "dev" if int(r["gold"][3:5]) % 2 == 0 else "test") for r in rows]

    es, en = xquad("es"), xquad("en")
    claims = [r["text"] for r in _jsonl(DATA / "beir_scifact" / "queries.jsonl")]

    def sample(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return random.Random(1).sample(rows, min(negatives, len(rows)))

    picked = random.Random(1).sample(claims, min(negatives, len(claims)))
    sci_claims = [(c, "dev" if i % 2 == 0 else "test") for i, c in enumerate(picked)]
    xes, xen = _xquad_kb(workdir, "es", embedder), _xquad_kb(workdir, "en", embedder)
    sci = _scifact_kb(workdir, embedder)
    return [
        ("es>xes", True, xes, es),
        ("en>xen", True, xen, en),
        ("es>xen", True, xen, es),
        ("en>xes", True, xes, en),
        ("es>sci", False, sci, sample(es)),
        ("en>sci", False, sci, sample(en)),
        ("sci>xen", False, xen, sci_claims),
        ("sci>xes", False, xes, sci_claims),
    ]


def _passes(hits: Scored, floors: dict[str, float], cover: float) -> bool:
    return any(
        (sim is not None and sim >= floors.get(model, -1.0)) or cov >= cover
        for sim, cov, model in hits
    )


def _gate_grid(
    scored: dict[str, list[tuple[str, Scored]]], floors: dict[str, float], split: str | None
) -> list[dict[str, Any]]:
    """Each part's floor swept (the others at the product's), each coverage floor: the
    share of each case's questions (of ``split``, or all) with a passage kept."""
    grid = []
    for model, values in SIMILARITY_GRIDS.items():
        if model not in floors:
            continue
        for value in (*values, OFF):
            for cover in COVERAGE_GRID:
                row: dict[str, Any] = {"part": model, "similarity_floor": value}
                row["coverage_floor"] = cover
                chosen = floors | {model: value}
                for name, rows in scored.items():
                    kept = [_passes(h, chosen, cover) for s, h in rows if split in (None, s)]
                    row[name] = round(statistics.fmean(kept), 3) if kept else float("nan")
                grid.append(row)
    return grid


def _balance(row: dict[str, Any], cases: dict[str, Any]) -> float:
    """Mean share of answerable questions kept minus mean share of unanswerable kept."""
    on = [row[n] for n, c in cases.items() if c["on_topic"]]
    off = [row[n] for n, c in cases.items() if not c["on_topic"]]
    return statistics.fmean(on) - statistics.fmean(off)


def bench_gate(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Top-8 hits of Sabio.search per question, each kept as (similarity, coverage, the
    part that ranked it); the product's own relevant_hits decides the default row, the
    grid re-applies its rule with each part's floor swept, on the dev and test halves."""
    embedder = args.embedder
    parts = embedder.split("+")
    floors = {m if m.startswith("embedded:") else f"embedded:{m}": 0.0 for m in parts}
    floors = {m: SIMILARITY_FLOORS.get(m, -1.0) for m in floors}
    cases: dict[str, Any] = {}
    scored: dict[str, list[tuple[str, Scored]]] = {}
    for name, on_topic, home, questions in _gate_cases(workdir, args.negatives, embedder):
        sabio = _open(home, embedding_model=embedder)
        kb = sabio.kb()
        kept, rows, ranked_by = 0, [], Counter[str]()
        for question, split in questions:
            hits = sabio.search(question, k=8).hits
            weights = sabio.index.term_weights(kb, query_terms(question))
            floor = SIMILARITY_FLOORS.get(kb.embedding_model)  # as the service passes it
            kept += bool(relevant_hits(question, hits, floor, lambda t, w=weights: w))
            scored_hits = [
                (h.similarity, coverage(question, h, weights), h.vector_model or embedder)
                for h in hits
            ]
            ranked_by.update({m for _, _, m in scored_hits if m})
            rows.append((split, scored_hits))
        sabio.close()
        scored[name] = rows
        cases[name] = {"on_topic": on_topic, "questions": len(questions)}
        cases[name]["kept"] = round(kept / len(questions), 3)
        cases[name]["ranked_by"] = dict(ranked_by)
        print(f"{name:8} on topic: {on_topic!s:5} kept {cases[name]['kept']:.3f} "
              f"ranked by {dict(ranked_by)}", flush=True)  # fmt: skip
    product = {n: round(statistics.fmean(_passes(h, floors, COVERAGE_FLOOR) for _, h in r), 3)
               for n, r in scored.items()}  # fmt: skip
    assert all(product[n] == cases[n]["kept"] for n in cases), "the grid's rule disagrees"
    grids = {split or "all": _gate_grid(scored, floors, split) for split in (None, "dev", "test")}
    chosen = {}
    for model in floors:
        dev = [
            r for r in grids["dev"] if (r["part"], r["coverage_floor"]) == (model, COVERAGE_FLOOR)
        ]
        if dev:
            best = max(dev, key=lambda r: (_balance(r, cases), r["similarity_floor"]))
            chosen[model] = best["similarity_floor"]
    return {
        "embedder": embedder,
        "defaults": {"similarity": floors, "coverage": COVERAGE_FLOOR},
        "cases": cases,
        "chosen_on_dev": chosen,
        "grids": grids,
        "scored": scored,
    }


def _print_grid(grid: list[dict[str, Any]]) -> None:
    names = [k for k in grid[0] if k not in ("part", "similarity_floor", "coverage_floor")]
    print("part       sim   cov   " + " ".join(f"{n:>8}" for n in names))
    for row in grid:
        cells = " ".join(f"{row[n]:8.3f}" for n in names)
        part = row["part"].removeprefix("embedded:")[:10]
        print(f"{part:10} {row['similarity_floor']:<5} {row['coverage_floor']:<5} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["ttft", "qa", "docugami", "checker", "gate", "all"])
    parser.add_argument("--model", default="embedded:smollm2", help="chat model (ttft, qa)")
    parser.add_argument(
        "--style",
        choices=["extractive", "generative", "both"],
        help="answer style (qa, docugami); default: the product's for the model",
    )
    parser.add_argument(
        "--split", choices=["fixed", "dev"], default="fixed", help="qa: the fixed sample or others"
    )
    parser.add_argument("--workdir", help="keep the data directories here between runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="ttft")
    parser.add_argument("--queries", type=int, default=20, help="ttft: questions per size")
    parser.add_argument("--answer-tokens", type=int, default=16, help="ttft: answer_tokens")
    parser.add_argument(
        "--context-window", type=int, default=0, help="ttft: context_window (0: the model's)"
    )
    parser.add_argument("--questions", type=int, default=60, help="qa: questions per language")
    parser.add_argument(
        "--languages",
        nargs="+",
        default=["es", "en"],
        help="qa: es, en, or es>en (Spanish questions over the English kb), en>es",
    )
    parser.add_argument(
        "--docugami-questions", type=int, default=0, help="docugami: the first N (0: all 195)"
    )
    parser.add_argument(
        "--qa-answer-tokens", type=int, default=1024, help="qa: answer_tokens (the default's)"
    )
    parser.add_argument("--negatives", type=int, default=150, help="gate: off-topic questions")
    parser.add_argument(
        "--off-topic",
        type=int,
        default=0,
        help="qa: also ask N questions across languages that the documents cannot answer",
    )
    parser.add_argument(
        "--embedder",
        default=EMBEDDER,
        help="the knowledge bases' embedding model (gate, checker, qa), e.g. "
        "embedded:all-minilm-l6-v2+use-multilingual",
    )
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the benchmark reads ../shared/data")
    RESULTS.mkdir(exist_ok=True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sabio-answers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"workdir": str(workdir)}
    if args.what in ("gate", "all"):
        out["gate"] = bench_gate(args, workdir)
        for split, grid in out["gate"]["grids"].items():
            print(f"-- {split} --")
            _print_grid(grid)
        print("chosen on the dev half:", out["gate"]["chosen_on_dev"])
    if args.what in ("qa", "all"):
        out["qa"] = bench_qa(args, workdir)
        if args.off_topic:
            out["qa"]["off_topic"] = bench_off_topic(args, workdir)
    if args.what in ("docugami", "all"):
        out["docugami"] = bench_docugami(args, workdir)
    if args.what in ("checker", "all"):
        out["checker"] = bench_checker(args, workdir)
    if args.what in ("ttft", "all"):
        out["ttft"] = bench_ttft(args, workdir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"answers-{args.what}-{stamp}.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
