"""The index ranks as SQLite's FTS5 does, and agrees with a fresh rebuild across processes.

FTS5 is the reference: these tests build an FTS5 table over the same chunks and compare
its ``bm25()`` ranking with the numpy index's.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import need_data

from sabio.chunking import Chunk
from sabio.index import MAX_SEGMENTS, ChunkIndex
from sabio.search import query_terms
from sabio.store import FileState, KnowledgeBase, Store
from sabio.terms import tokens

DIM = 8


def _add(store: Store, kb: KnowledgeBase, source: str, texts: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(texts), DIM)).astype(np.float32)
    chunks = [Chunk(t, 0, len(t), 1, "", f"title of {source}") for t in texts]
    store.replace_document(
        kb,
        FileState(source, str(seed), 1, 1),
        title=source,
        pages=None,
        metadata={},
        chunks=chunks,
        vectors=vectors,
    )


@pytest.fixture
def corpus() -> list[str]:
    path = need_data("beir_scifact", "corpus.jsonl")
    with path.open(encoding="utf-8") as f:
        return [json.loads(next(f))["text"] for _ in range(400)]


@pytest.fixture
def filled(tmp_path: Path, corpus: list[str]) -> tuple[Store, KnowledgeBase]:
    store = Store(tmp_path / "s.db")
    kb = store.create_kb("k", "fake:x", DIM)
    for d in range(40):
        _add(store, kb, f"/doc{d}", corpus[d * 10 : d * 10 + 10], d)
    return store, kb


QUERIES = [
    "Vitamin D deficiency and cancer risk",
    "protein folding in the endoplasmic reticulum",
    "the of and",
    "mutations of BRCA1 increase breast cancer",
    "niños células",
]


def _terms(text: str) -> str:
    """The text as the index's terms: FTS5's unicode61 tokenizer reads them back unchanged,
    so the comparison checks the BM25 arithmetic while the index deliberately stems
    plurals (which FTS5's tokenizer does not)."""
    return " ".join(tokens(text))


def _fts5_ranking(store: Store, kb: KnowledgeBase, query: str, k: int) -> list[tuple[int, float]]:
    fts = sqlite3.connect(":memory:")
    fts.execute(
        "CREATE VIRTUAL TABLE f USING fts5(text, context, tokenize='unicode61 remove_diacritics 2')"
    )
    fts.executemany(
        "INSERT INTO f(rowid, text, context) VALUES (?, ?, ?)",
        [(r[0], _terms(r[2]), _terms(r[3])) for r in store.chunk_rows(kb.id, after=0)],
    )
    match = " OR ".join(f'"{t}"' for t in query_terms(query))
    rows = fts.execute(
        "SELECT rowid, -bm25(f, 1.0, 0.5) FROM f WHERE f MATCH ?"
        " ORDER BY bm25(f, 1.0, 0.5), rowid LIMIT ?",
        (match, k),
    ).fetchall()
    fts.close()
    return [(int(r[0]), float(r[1])) for r in rows]


def _assert_same_as_fts(store: Store, kb: KnowledgeBase, index: ChunkIndex) -> None:
    for query in QUERIES:
        exact = _fts5_ranking(store, kb, query, 10)
        fast = index.keyword_search(kb, query_terms(query), 10)
        assert [cid for cid, _ in fast] == [cid for cid, _ in exact], query
        for (_, a), (_, b) in zip(fast, exact, strict=True):
            assert a == pytest.approx(b, rel=1e-4)


def test_bm25_is_the_one_fts5_computes(filled: tuple[Store, KnowledgeBase]) -> None:
    store, kb = filled
    _assert_same_as_fts(store, kb, ChunkIndex(store))


def test_tokens_fold_case_and_accents() -> None:
    assert tokens("Canción, CAÑÓN_x über-µm 東京") == [
        "cancion",
        "canon",
        "x",
        "uber",
        "μm",
        "東京",
    ]


def test_tokens_fold_plurals_in_english_and_spanish() -> None:
    assert tokens("cells cell Células célula glass virus analysis 1990s") == [
        "cell",
        "cell",
        "celula",
        "celula",
        "glass",
        "virus",
        "analysis",
        "1990s",
    ]


def test_catching_up_after_changes_equals_a_rebuild(
    filled: tuple[Store, KnowledgeBase], corpus: list[str], tmp_path: Path
) -> None:
    store, kb = filled
    index = ChunkIndex(store, tmp_path / "cache")
    index.sync(kb)
    rng = random.Random(3)
    _add(store, kb, "/doc3", corpus[300:304], 99)  # replaced
    store.delete_documents(kb, [store.get_document(kb.id, "/doc7").id])
    _add(store, kb, "/new", corpus[310:320], 100)
    index_after = index.sync(kb)
    assert len(index_after.segments) == 2
    _assert_same_as_fts(store, kb, index)
    fresh = ChunkIndex(store)
    q = np.asarray([rng.random() for _ in range(DIM)], dtype=np.float32)
    assert index.vector_search(kb, q, 20) == fresh.vector_search(kb, q, 20)


def test_many_small_changes_merge_the_small_segments_only(
    filled: tuple[Store, KnowledgeBase], corpus: list[str], tmp_path: Path
) -> None:
    """A watched folder adds a segment per change: past MAX_SEGMENTS the small ones are
    merged into one, the big first segment stays as it is, and rankings are unchanged."""
    store, kb = filled
    cache = tmp_path / "cache"
    index = ChunkIndex(store, cache)
    first = index.sync(kb).segments[0]
    for n in range(MAX_SEGMENTS + 3):
        _add(store, kb, f"/change{n}", corpus[330 + n : 331 + n], 200 + n)
        segments = index.sync(kb).segments
        assert segments[0] is first and len(segments) <= MAX_SEGMENTS
    assert len(segments) < MAX_SEGMENTS  # merged at least once
    _assert_same_as_fts(store, kb, index)
    folder = cache / f"kb-{kb.id}"
    assert sorted(p.name for p in folder.glob("seg-*")) == sorted(s.name for s in segments)
    rng = random.Random(5)
    q = np.asarray([rng.random() for _ in range(DIM)], dtype=np.float32)
    assert index.vector_search(kb, q, 20) == ChunkIndex(store).vector_search(kb, q, 20)


def test_a_new_process_loads_the_saved_index(
    filled: tuple[Store, KnowledgeBase], tmp_path: Path
) -> None:
    store, kb = filled
    cache = tmp_path / "cache"
    ChunkIndex(store, cache).sync(kb)
    manifest = (cache / f"kb-{kb.id}" / "manifest.json").read_text()
    other = ChunkIndex(store, cache).sync(kb)
    assert [s.name for s in other.segments] == json.loads(manifest)["segments"]
    assert (cache / f"kb-{kb.id}" / "manifest.json").read_text() == manifest
    _assert_same_as_fts(store, kb, ChunkIndex(store, cache))


def test_a_damaged_cache_is_rebuilt(filled: tuple[Store, KnowledgeBase], tmp_path: Path) -> None:
    store, kb = filled
    cache = tmp_path / "cache"
    ChunkIndex(store, cache).sync(kb)
    for vocab in (cache / f"kb-{kb.id}").glob("vocab-*.json"):
        vocab.write_text("{not json")
    _assert_same_as_fts(store, kb, ChunkIndex(store, cache))


def test_document_filter_and_deleted_rows(filled: tuple[Store, KnowledgeBase]) -> None:
    store, kb = filled
    index = ChunkIndex(store)
    doc = store.get_document(kb.id, "/doc5")
    hits = index.keyword_search(kb, query_terms("cells"), 50, [doc.id])
    chunks = store.get_chunks([cid for cid, _ in hits])
    assert hits and {c.source for c in chunks.values()} == {"/doc5"}
    store.delete_documents(kb, [doc.id])
    assert index.keyword_search(kb, query_terms("cells"), 50, [doc.id]) == []


def test_int8_shortlist_holds_the_exact_nearest() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from sabio.index import Int8Scan

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scan = Int8Scan(vectors)
    for i in range(20):
        query = vectors[i] + 0.5 * rng.standard_normal(384).astype(np.float32) / 20
        query /= np.linalg.norm(query)
        exact = set(np.argsort(-(vectors @ query))[:10].tolist())
        assert exact <= set(scan.shortlist(query, 100).tolist())


def test_a_query_in_one_part_of_a_pair_ranks_as_the_whole_product(
    filled: tuple[Store, KnowledgeBase],
) -> None:
    """A pair's search asks with one part and zeros elsewhere; the scan reads only that
    part's columns and must rank as the product over every column does, with a filter
    and without, for the first, a middle and the last columns."""
    store, kb = filled
    index = ChunkIndex(store)
    state = index.sync(kb)
    vectors = np.vstack([np.asarray(seg.vectors) for seg in state.segments])
    ids = np.concatenate([seg.ids for seg in state.segments])
    docs = np.concatenate([seg.docs for seg in state.segments])
    doc = store.get_document(kb.id, "/doc7")
    rng = np.random.default_rng(3)
    for start, end in ((0, 3), (2, 6), (5, DIM)):
        query = np.zeros(DIM, dtype=np.float32)
        query[start:end] = rng.standard_normal(end - start)
        scores = vectors @ query
        exact = [int(ids[i]) for i in np.argsort(-scores)[:10]]
        assert [cid for cid, _ in index.vector_search(kb, query, 10)] == exact
        found = index.vector_search(kb, query, 3, [doc.id])
        mine = [i for i in np.argsort(-scores) if docs[i] == doc.id]
        assert [cid for cid, _ in found] == [int(ids[i]) for i in mine[:3]]
        assert np.allclose([s for _, s in found], [scores[i] for i in mine[:3]], atol=1e-5)


def test_the_int8_scan_of_a_pairs_part_holds_the_nearest(
    filled: tuple[Store, KnowledgeBase], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big segment is shortlisted by an int8 copy of the columns the query reads (one
    part of a pair's rows), built once per part; the shortlist is ranked exactly."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr("sabio.index.INT8_MIN_ROWS", 10)
    monkeypatch.setattr("sabio.index.SHORTLIST", 40)
    store, kb = filled
    index = ChunkIndex(store)
    state = index.sync(kb)
    vectors = np.vstack([np.asarray(seg.vectors) for seg in state.segments])
    ids = np.concatenate([seg.ids for seg in state.segments])
    query = np.zeros(DIM, dtype=np.float32)
    query[2:6] = np.random.default_rng(5).standard_normal(4)
    index.warm(kb, query)
    assert {key for seg in state.segments for key in seg.scans} == {(2, 6)}
    exact = [int(ids[i]) for i in np.argsort(-(vectors @ query))[:5]]
    assert [cid for cid, _ in index.vector_search(kb, query, 5)] == exact
