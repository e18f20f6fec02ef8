"""Retrieval quality: Sabio's default against two baselines, on BEIR-format data.

    python bench/retrieval.py                        # SciFact (train), XQuAD es, en, es→en
    python bench/retrieval.py PATH [PATH ...]        # any BEIR-format folders
    python bench/retrieval.py --queries-from ES EN   # ES's questions over EN's corpus
    python bench/retrieval.py --sec10q [--company-split]  # look-alike 10-Q PDFs (bench/sec10q.py)
    python bench/retrieval.py --sec10q --company-split --misses  # and each page miss

Per data set, side by side with one embedder (the embedded all-MiniLM-L6-v2):

- **BM25**: bm25s over whole documents (title + text), its own tokenizer with the
  language's stopwords and Snowball stemmer (PyStemmer), as its README sets it up;
- **anchors' default** (Open WebUI, AnythingLLM): dense only, LangChain's
  RecursiveCharacterTextSplitter at 1,000 characters with 100 overlap, cosine over the
  chunks; the LLM is shown the top 3-4 chunks, the metrics use the whole ranking;
- **Sabio**: the product's defaults through ``sabio.evaluation`` (the real ingestion,
  chunking, index and search of a throwaway data directory).

Documents are ranked by their best chunk. Embeddings are cached per text under --cache
(identical text, identical vector), so re-runs only pay for search. Needs the bench
extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sabio.config import Settings, load_settings
from sabio.evaluation import BeirSet, Ranking, load_beir, ndcg, run_sabio, score
from sabio.models import (
    EmbeddingModel,
    Vectors,
    embedding_languages,
    get_embedding_model,
    register_embedding_backend,
)
from sabio.models.paired import SEPARATOR, PairedModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
EMBEDDER = "embedded:all-minilm-l6-v2+use-multilingual"
"""Sabio's embedded default (the "Sabio default" row): MiniLM and USE multilingual, each
where it wins (sabio.models.paired)."""
ANCHOR_EMBEDDER = "embedded:all-minilm-l6-v2"
"""The anchors' dense baseline embeds with this one."""
OTHER_EMBEDDERS = ("embedded:all-minilm-l6-v2", "embedded:use-multilingual")
"""Also run Sabio with these (``sabio:<model>`` rows), unless --only-default: the default
before issue 25 and USE multilingual alone."""
ANCHOR_CHUNK, ANCHOR_OVERLAP, ANCHOR_TOP_K = 1000, 100, 4
DEPTH = 100
BOOTSTRAP = 2000


class CachedEmbedder:
    """The embedded model, remembering every text's vector for the next run."""

    def __init__(self, settings: Settings, model: str, cache: Path) -> None:
        self.inner: EmbeddingModel | None = None
        self.settings, self.model, self.path = settings, model, cache
        real = get_embedding_model(settings, f"embedded:{model}")
        self.name, self.dimension = f"cached:{model}", real.dimension
        self.languages = embedding_languages(real)
        self.vectors: dict[bytes, np.ndarray] = {}
        if cache.exists():
            with np.load(cache) as saved:
                self.vectors = dict(zip(map(bytes, saved["keys"]), saved["vectors"], strict=True))
        self.added = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
        missing = list(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self.vectors}.items()
        )
        if missing:
            if self.inner is None:
                self.inner = get_embedding_model(self.settings, f"embedded:{self.model}")
            new = self.inner.embed([t for _, t in missing])
            self.vectors.update(zip([k for k, _ in missing], new, strict=True))
            self.added += len(missing)
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if self.added:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self.vectors), dtype="S16")
            np.savez(self.path, keys=keys, vectors=np.stack(list(self.vectors.values())))
            self.added = 0


_CACHED: dict[str, CachedEmbedder] = {}


def _cached_backend(cache: Path) -> None:
    @register_embedding_backend("cached")
    def _factory(settings: Settings, model: str) -> EmbeddingModel:
        if SEPARATOR in model:  # a pair: each part cached on its own
            parts = [_factory(settings, part) for part in model.split(SEPARATOR)]
            return PairedModel(f"cached:{model}", parts)
        if model not in _CACHED:
            _CACHED[model] = CachedEmbedder(settings, model, cache / f"{model}.npz")
        return _CACHED[model]


def language(data: BeirSet) -> str:
    """'spanish' or 'english', from the corpus' stopwords (for the BM25 baseline's stemmer)."""
    words = " ".join(t for _, t in list(data.corpus.values())[:200]).lower().split()
    spanish = sum(w in {"el", "los", "las", "del", "que", "por", "una", "con"} for w in words)
    english = sum(w in {"the", "of", "and", "that", "with", "for", "was", "is"} for w in words)
    return "spanish" if spanish > english else "english"


def bm25_baseline(data: BeirSet, queries: dict[str, str]) -> dict[str, Ranking]:
    import bm25s
    import Stemmer

    lang = language(data)
    stemmer = Stemmer.Stemmer(lang)
    stopwords = "en" if lang == "english" else "es"
    ids = list(data.corpus)
    texts = [f"{title} {text}" for title, text in data.corpus.values()]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords=stopwords, stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    qids = list(queries)
    tokens = bm25s.tokenize(
        [queries[q] for q in qids], stopwords=stopwords, stemmer=stemmer, show_progress=False
    )
    found, _ = retriever.retrieve(tokens, k=min(DEPTH, len(ids)), show_progress=False, n_threads=2)
    return {q: [ids[i] for i in row] for q, row in zip(qids, found, strict=True)}


def anchor_baseline(
    data: BeirSet, queries: dict[str, str], embedder: EmbeddingModel
) -> dict[str, Ranking]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=ANCHOR_CHUNK, chunk_overlap=ANCHOR_OVERLAP)
    owners, chunks = [], []
    for doc_id, (title, text) in data.corpus.items():
        for piece in splitter.split_text(f"{title}\n\n{text}" if title else text):
            owners.append(doc_id)
            chunks.append(piece)
    matrix = np.concatenate(
        [embedder.embed(chunks[i : i + 256]) for i in range(0, len(chunks), 256)]
    )
    qids = list(queries)
    qvecs = embedder.embed([queries[q] for q in qids])
    rankings = {}
    for qid, qvec in zip(qids, qvecs, strict=True):
        scores = matrix @ qvec
        top = np.argsort(-scores, kind="stable")[: DEPTH * 4]
        rankings[qid] = list(dict.fromkeys(owners[i] for i in top))[:DEPTH]
    return rankings


def _progress(what: str, done: int, total: int | None) -> None:
    print(f"\r  {what}: {done}/{total or '?'}      ", end="", file=sys.stderr, flush=True)


def run_set(
    data: BeirSet,
    settings: Settings,
    embedder: EmbeddingModel,
    others: dict[str, Settings],
    anchors: bool = True,
) -> dict[str, Any]:
    queries = {q: data.queries[q] for q in data.qrels}
    rows: dict[str, Any] = {"queries": len(queries), "documents": len(data.corpus)}
    per_query: dict[str, dict[str, float]] = {}
    systems: list[tuple[str, Any]] = [
        ("bm25", lambda: bm25_baseline(data, queries)),
        ("anchors", lambda: anchor_baseline(data, queries, embedder)),
        ("sabio", lambda: run_sabio(data, settings, _progress)),
    ]
    if not anchors:
        del systems[1]
    for system, other in others.items():
        systems.append((system, lambda other=other: run_sabio(data, other, _progress)))
    for name, fn in systems:
        start = time.perf_counter()
        rankings = fn()
        seconds = time.perf_counter() - start
        rows[name] = {**score(rankings, data.qrels), "seconds": round(seconds, 1)}
        per_query[name] = {q: ndcg(rankings.get(q, []), rel, 10) for q, rel in data.qrels.items()}
        print(f"\r  {name:<8} {rows[name]}", file=sys.stderr)
    best = max(("bm25", "anchors") if anchors else ("bm25",), key=lambda n: rows[n]["ndcg@10"])
    rows["margin"] = {"over": best, **paired_bootstrap(per_query["sabio"], per_query[best])}
    for system in others:  # the default against each other embedder, paired
        rows.setdefault("against", {})[system] = paired_bootstrap(
            per_query["sabio"], per_query[system]
        )
    rows["ndcg@10 per query"] = per_query
    return rows


def paired_bootstrap(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
    """The mean per-query difference and its 95% interval (2,000 resamples of the queries,
    seeded): how sure a lead on a data set is."""
    diffs = np.array([ours[q] - theirs[q] for q in ours])
    rng = np.random.default_rng(0)
    means = diffs[rng.integers(0, len(diffs), (BOOTSTRAP, len(diffs)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"diff": round(float(diffs.mean()), 4), "low": round(low, 4), "high": round(high, 4)}


def default_sets(scifact_limit: int | None = None) -> list[BeirSet]:
    """XQuAD's four directions first (small), then SciFact; ``scifact_limit``: its first
    N abstracts only, and the claims whose relevant abstracts are all among them."""
    xquad = DATA / "xquad_retrieval"
    es, en = load_beir(xquad / "es"), load_beir(xquad / "en")
    scifact = load_beir(DATA / "beir_scifact", "train")
    corpus, qrels, name = scifact.corpus, scifact.qrels, "scifact (train)"
    if scifact_limit is not None:
        corpus = dict(list(corpus.items())[:scifact_limit])
        qrels = {q: rel for q, rel in qrels.items() if set(rel) <= set(corpus)}
        name = f"scifact (train, first {scifact_limit} abstracts)"
    return [
        BeirSet(name, corpus, scifact.queries, qrels),
        BeirSet("xquad-es", es.corpus, es.queries, es.qrels),
        BeirSet("xquad-en", en.corpus, en.queries, en.qrels),
        BeirSet("xquad es→en (Spanish questions, English corpus)", en.corpus, es.queries, es.qrels),
        BeirSet("xquad en→es (English questions, Spanish corpus)", es.corpus, en.queries, en.qrels),
    ]


def table(results: dict[str, dict[str, Any]], others: Sequence[str] = ()) -> str:
    head = "| data set | system | nDCG@10 | recall@5 | recall@10 | recall@100 | MRR@10 |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    labels = {
        "bm25": "BM25 (bm25s)",
        "anchors": "anchors' default (dense)",
        "sabio": "**Sabio default**",
    }
    labels |= {system: f"Sabio with {system.split(':', 1)[1]}" for system in others}
    margins = []
    for name, rows in results.items():
        shown = [n for n in ("bm25", "anchors", "sabio", *others) if n in rows]
        for i, system in enumerate(shown):
            m = rows[system]
            cells = [m[k] for k in ("ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10")]
            first = f"{name} ({rows['queries']} q)" if i == 0 else ""
            lines.append(
                f"| {first} | {labels[system]} | " + " | ".join(f"{c:.3f}" for c in cells) + " |"
            )
        margin = rows["margin"]
        margins.append(
            f"| {name} | {labels[margin['over']]} | {100 * margin['diff']:+.2f} | "
            f"[{100 * margin['low']:+.2f}, {100 * margin['high']:+.2f}] |"
        )
        for system, against in rows.get("against", {}).items():
            margins.append(
                f"| {name} | {labels[system]} | {100 * against['diff']:+.2f} | "
                f"[{100 * against['low']:+.2f}, {100 * against['high']:+.2f}] |"
            )
    lines += [
        "",
        "| data set | Sabio against | nDCG@10 difference, points | 95% interval (bootstrap) |",
        "|---|---|---|---|",
        *margins,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, help="BEIR-format folders (default: shared data)"
    )
    parser.add_argument("--split", help="qrels split (default: test, or the only one)")
    parser.add_argument("--queries-from", nargs=2, type=Path, metavar=("QUERIES", "CORPUS"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "sabio-bench")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    parser.add_argument(
        "--only-default", action="store_true", help=f"not also Sabio with {OTHER_EMBEDDERS}"
    )
    parser.add_argument(
        "--sec10q",
        action="store_true",
        help="the look-alike documents dev set (20 10-Q PDFs): doc and page hits instead",
    )
    parser.add_argument(
        "--company-split",
        action="store_true",
        help="with --sec10q: also the tuning companies and the held-out ones apart",
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="with --sec10q: print each page miss (question, judged pages, Sabio's top 5 and "
        "the ranking that put each there); with --company-split the tuning companies' only",
    )
    parser.add_argument(
        "--cross-language-weight",
        type=float,
        help="the search's vector weight across languages (sabio.search), for a sweep",
    )
    parser.add_argument(
        "--heldout",
        nargs="*",
        metavar="LANG",
        help="held-out languages from the machine's gettext catalogs instead (bench/heldout.py;"
        " default: de fr it pt ru zh_CN ar ja)",
    )
    parser.add_argument("--others", nargs="+", help=f"instead of {OTHER_EMBEDDERS}")
    parser.add_argument("--scifact-limit", type=int, help="SciFact's first N abstracts only")
    parser.add_argument("--no-anchors", action="store_true", help="leave out the dense baseline")
    args = parser.parse_args()
    if args.heldout == []:
        import heldout

        args.heldout = list(heldout.LANGUAGES)
    if args.cross_language_weight is not None:
        import sabio.search

        sabio.search.CROSS_LANGUAGE_VECTOR_WEIGHT = args.cross_language_weight

    _cached_backend(args.cache)
    model = EMBEDDER if args.no_cache else "cached:" + EMBEDDER.split(":", 1)[1]
    settings = load_settings({"embedding_model": model}, environ={})
    anchor = ANCHOR_EMBEDDER if args.no_cache else "cached:" + ANCHOR_EMBEDDER.split(":", 1)[1]
    embedder = get_embedding_model(settings, anchor)
    others = {}
    for name in () if args.only_default else (args.others or OTHER_EMBEDDERS):
        other = name if args.no_cache else "cached:" + name.split(":", 1)[1]
        others[f"sabio:{name}"] = load_settings({"embedding_model": other}, environ={})
    if args.sec10q:
        import sec10q

        found = sec10q.run(settings, embedder, args.company_split, args.misses)
        for cached in _CACHED.values():
            cached.save()
        if args.misses:
            print(found["misses"], end="\n\n")
        print(sec10q.table(found))
        _write(found, "sec10q")
        return
    if args.heldout:
        import heldout

        sets = heldout.heldout_sets(tuple(args.heldout))
    elif args.queries_from:
        queries, corpus = (load_beir(p, args.split) for p in args.queries_from)
        sets = [corpus.with_queries(queries)]
    else:
        sets = [load_beir(p, args.split) for p in args.paths] or default_sets(args.scifact_limit)
        sets = sets[1:] + sets[:1] if not args.paths else sets  # the small ones first
    results = {}
    for data in sets:
        print(
            f"{data.name}: {len(data.corpus)} documents, {len(data.qrels)} queries", file=sys.stderr
        )
        results[data.name] = run_set(data, settings, embedder, others, not args.no_anchors)
        for cached in _CACHED.values():
            cached.save()
    print(table(results, list(others)))
    _write(results, "retrieval")


def _write(results: dict[str, Any], kind: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
