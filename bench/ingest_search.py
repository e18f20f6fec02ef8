"""Ingestion and search benchmark for the knowledge-base core (see docs/benchmarks.md).

    python bench/ingest_search.py ingest   # pages/s, chunks/s: no-op vs embedded embedder
    python bench/ingest_search.py search   # hybrid search p50/p95 at 10k, 100k, 1M chunks
    python bench/ingest_search.py all

Everything runs through Sabio's own code (service, ingest, store, search), side by side
in one run on one machine. Results are printed and written to bench/results/*.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sabio.chunking import Chunk
from sabio.config import Settings, load_settings
from sabio.index import ChunkIndex
from sabio.models import ENGLISH_ONLY, Vectors, register_embedding_backend
from sabio.search import query_terms, search_chunks
from sabio.service import Sabio
from sabio.store import FileState, Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


class NoopEmbedder:
    """Zero vectors at no cost: isolates the pipeline's own overhead."""

    dimension = 384

    def __init__(self, model: str) -> None:
        self.name = f"noop:{model}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.zeros((len(texts), self.dimension), dtype=np.float32)


@register_embedding_backend("noop")
def _noop(settings: Settings, model: str) -> NoopEmbedder:
    return NoopEmbedder(model)


def _pdfs() -> dict[str, list[Path]]:
    return {
        "documents/pdf": sorted((DATA / "documents" / "pdf").rglob("*.pdf")),
        "sec10q": sorted((DATA / "rag_qa" / "docugami_sec10q").rglob("*.pdf")),
    }


EMBEDDED_MODELS = (
    "embedded:all-minilm-l6-v2",
    "embedded:use-multilingual",
    "embedded:all-minilm-l6-v2+use-multilingual",
)
"""The embedded embedders, each ingesting every set (after the no-op runs), alternating
``--embedded-repeat`` times (the fastest of each kept); ``--models`` picks some."""


def _ingest_once(paths: list[Path], model: str, home: Path) -> dict[str, float]:
    settings = load_settings({"home": home, "embedding_model": model})
    sabio = Sabio(settings)
    start = time.perf_counter()
    report = sabio.add(paths)
    seconds = time.perf_counter() - start
    docs = sabio.documents()
    pages = sum(d.pages or 0 for d in docs if d.status == "indexed")
    chunks = sum(d.chunk_count for d in docs)
    start = time.perf_counter()
    again = sabio.add(paths)
    rerun = time.perf_counter() - start
    assert again.count("unchanged") == len(again.results), "second run was not all unchanged"
    sabio.close()
    return {
        "files": len(report.results),
        "indexed": sum(1 for d in docs if d.status == "indexed"),
        "pages": pages,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "pages_per_s": round(pages / seconds, 1),
        "chunks_per_s": round(chunks / seconds, 1),
        "rerun_seconds": round(rerun, 3),
        "rerun_speedup": round(seconds / rerun, 1),
    }


def _scifact_folder(root: Path, limit: int | None) -> Path:
    folder = root / "scifact"
    folder.mkdir()
    with (DATA / "beir_scifact" / "corpus.jsonl").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")
    return folder


def _raw_pdfium(paths: list[Path]) -> dict[str, float]:
    """The baseline: pypdfium2 text extraction alone, one process, no Sabio at all."""
    import pypdfium2 as pdfium

    pages = 0
    start = time.perf_counter()
    for path in paths:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError:
            continue
        for i in range(len(pdf)):
            try:
                page = pdf[i]
                text_page = page.get_textpage()
            except pdfium.PdfiumError:
                continue
            text_page.get_text_range()
            text_page.close()
            page.close()
            pages += 1
        pdf.close()
    seconds = time.perf_counter() - start
    return {"pages": pages, "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 1)}


def bench_ingest(args: argparse.Namespace) -> dict[str, object]:
    """Each set: the raw-extraction baseline and the no-op pipeline alternate ``--repeat``
    times (fastest of each kept: the machine's speed drifts), then the embedded run once."""
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = {**_pdfs(), "scifact": [_scifact_folder(root, args.scifact)]}
        for name, paths in sets.items():
            runs: dict[str, list[dict[str, float]]] = {}
            for attempt in range(args.repeat):
                if name != "scifact":
                    runs.setdefault("raw pypdfium2, 1 process", []).append(_raw_pdfium(paths))
                home = root / f"home-{name.replace('/', '-')}-noop-{attempt}"
                runs.setdefault("noop:zero", []).append(_ingest_once(paths, "noop:zero", home))
            if (name != "documents/pdf" or args.full) and name in args.sets:
                for attempt in range(args.embedded_repeat):
                    for model in args.models:
                        folder = f"{name.replace('/', '-')}-{model.split(':')[1]}-{attempt}"
                        row = _ingest_once(paths, model, root / f"home-{folder}")
                        runs.setdefault(model, []).append(row)
                        print(f"  {name} {model} {json.dumps(row)}", file=sys.stderr, flush=True)
            for what, rows in runs.items():
                row = min(rows, key=lambda r: r["seconds"])
                results[f"{name} / {what}"] = row
                print(f"{name:15} {what:28} {json.dumps(row)}", flush=True)
    return results


# search


def _sentences() -> list[str]:
    out: list[str] = []
    with (DATA / "beir_scifact" / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            out.extend(s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if s)
    return out


def _build(
    path: Path,
    n_chunks: int,
    sentences: list[str],
    rng: random.Random,
    embedding_model: str = "noop:synthetic",
    parts: Sequence[int] = (384,),
) -> None:
    """A knowledge base "bench" of ``n_chunks`` synthetic chunks with random unit vectors.

    ``embedding_model`` is what the knowledge base records: a real 384-dimension model
    (bench/answers.py uses the embedded MiniLM) makes searches embed each query for real.
    ``parts``: the rows' parts, each a unit vector, side by side and scaled to a unit row
    as a pair of models writes them (``PAIRED``: the embedded default's shape).
    """
    store = Store(path)
    kb = store.create_kb("bench", embedding_model, sum(parts))
    per_doc = 100
    np_rng = np.random.default_rng(0)
    for d in range(n_chunks // per_doc):
        chunks = []
        for i in range(per_doc):
            text = " ".join(rng.choices(sentences, k=4))[:1000]
            chunks.append(Chunk(text, i * 1000, i * 1000 + len(text), i // 3 + 1, "", f"doc {d}"))
        vectors = np.hstack([_unit_rows(np_rng, per_doc, d) for d in parts])
        vectors /= np.sqrt(len(parts))
        store.replace_document(
            kb,
            FileState(f"/bench/{d}.pdf", str(d), 0, 0),
            title=f"doc {d}",
            pages=None,
            metadata={},
            chunks=chunks,
            vectors=vectors,
        )
    store.close()


def _unit_rows(rng: np.random.Generator, n: int, dimension: int) -> np.ndarray:
    rows = rng.standard_normal((n, dimension), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


PAIRED = (384, 512)
"""The embedded default's rows: MiniLM's 384 dimensions beside USE multilingual's 512."""


class FixedQuery:
    """Hands search a precomputed query vector: the model's cost is measured apart. With
    several parts the query is in one part, the others zero, as a pair's search asks."""

    name = "noop:synthetic"
    languages = ENGLISH_ONLY  # as the embedded MiniLM: search checks the question's language

    def __init__(self, parts: Sequence[int] = (384,)) -> None:
        self.parts = tuple(parts)
        self.dimension = sum(parts)
        self.vector = np.zeros((1, self.dimension), dtype=np.float32)

    def draw(self, rng: np.random.Generator) -> None:
        """A new random query in the first part (MiniLM's, for an English question)."""
        self.vector = np.zeros((1, self.dimension), dtype=np.float32)
        self.vector[0, : self.parts[0]] = _unit_rows(rng, 1, self.parts[0])[0] * np.sqrt(
            len(self.parts)
        )

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.vector


def _exact_overlap(index: ChunkIndex, kb: Any, vector: np.ndarray) -> int:
    """How many of the exact float32 top 10 the index's vector search returned."""
    found = {cid for cid, _ in index.vector_search(kb, vector, 10)}
    state = index.sync(kb)
    q = vector.reshape(-1)
    scores = np.concatenate([np.asarray(seg.vectors) @ q for seg in state.segments])
    scores[~np.concatenate(state.alive)] = -np.inf
    ids = np.concatenate([seg.ids for seg in state.segments])
    return len(found & set(ids[np.argsort(-scores)[:10]].tolist()))


def _timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 2),
    }


def bench_search(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(0)
    sentences = _sentences()
    queries = [
        json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()
    ]
    queries = rng.sample(queries, args.queries)
    results: dict[str, object] = {}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sabio-bench-"))
    for n in args.sizes:
        for shape in args.shapes:
            row = _search_row(workdir, n, SHAPES[shape], sentences, rng, queries)
            results[f"{n} chunks, {shape}"] = row
            print(f"{n:>8} chunks, {shape:>6} {json.dumps(row)}", flush=True)
    results["query_embedding"] = _query_embedding(queries)
    print(f"query embedding (embedded MiniLM) {json.dumps(results['query_embedding'])}")
    return results


SHAPES = {"paired": PAIRED, "minilm": (384,)}
"""The rows searched: the embedded default's pair (a query in one part), MiniLM alone."""


def _search_row(
    workdir: Path,
    n: int,
    parts: Sequence[int],
    sentences: list[str],
    rng: random.Random,
    queries: list[str],
) -> dict[str, object]:
    db = workdir / f"search-{n}-{sum(parts)}.db"
    if not db.exists():
        start = time.perf_counter()
        _build(db, n, sentences, rng, parts=parts)
        print(
            f"built {n} chunks of {sum(parts)} dimensions in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    store = Store(db)
    kb = store.get_kb("bench")
    cache = workdir / f"index-{n}-{sum(parts)}"
    start = time.perf_counter()
    ChunkIndex(store, cache).sync(kb)
    build = time.perf_counter() - start
    start = time.perf_counter()
    index = ChunkIndex(store, cache)
    index.sync(kb)
    load = time.perf_counter() - start
    query = FixedQuery(parts)
    start = time.perf_counter()
    index.vector_search(kb, query.vector, 50)  # exact: the int8 scan is not built yet
    first_query = time.perf_counter() - start
    start = time.perf_counter()
    np_rng = np.random.default_rng(1)
    query.draw(np_rng)
    index.warm(kb, query.vector)  # what a long-running process has after its first seconds
    warm = time.perf_counter() - start
    exact_hits = 0
    timings: dict[str, list[float]] = {"hybrid": [], "keyword": [], "vector": []}
    for q in queries:
        query.draw(np_rng)
        timings["hybrid"].append(_timed(search_chunks, store, index, kb, q, embedder=query, k=10))
        timings["keyword"].append(_timed(index.keyword_search, kb, query_terms(q), 50))
        timings["vector"].append(_timed(index.vector_search, kb, query.vector, 50))
        exact_hits += _exact_overlap(index, kb, query.vector)
    row: dict[str, object] = {m: _percentiles(t) for m, t in timings.items()}
    row["index_build_s"] = round(build, 2)
    row["index_load_s"] = round(load, 3)
    row["first_vector_query_s"] = round(first_query, 3)
    row["int8_scan_build_s"] = round(warm, 2)
    row["vector_top10_equal_to_exact"] = round(exact_hits / (10 * len(queries)), 4)
    store.close()
    return row


def _query_embedding(queries: list[str]) -> dict[str, float]:
    from sabio.models import get_embedding_model

    with tempfile.TemporaryDirectory() as tmp:
        model = get_embedding_model(load_settings({"home": tmp}), "embedded:all-minilm-l6-v2")
        model.embed(["warm up"])
        times = []
        for q in queries:
            start = time.perf_counter()
            model.embed([q])
            times.append(time.perf_counter() - start)
    return _percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=["ingest", "search", "all"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES), help="(search)"
    )
    parser.add_argument("--scifact", type=int, default=None, help="abstracts (default: all)")
    parser.add_argument("--full", action="store_true", help="also embed the small PDFs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast rows (ingest)")
    parser.add_argument("--workdir", help="keep the search databases here between runs")
    parser.add_argument("--models", nargs="+", default=list(EMBEDDED_MODELS))
    parser.add_argument("--embedded-repeat", type=int, default=1, help="runs of each model")
    parser.add_argument(
        "--sets", nargs="+", default=["documents/pdf", "sec10q", "scifact"], help="(ingest)"
    )
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the benchmark reads ../shared/data")
    RESULTS.mkdir(exist_ok=True)
    out: dict[str, object] = {}
    if args.what in ("ingest", "all"):
        out["ingest"] = bench_ingest(args)
    if args.what in ("search", "all"):
        out["search"] = bench_search(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"ingest_search-{stamp}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
