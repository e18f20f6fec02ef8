"""The search index of a knowledge base: its vectors and BM25 postings, in memory.

The chunk table is the source of truth (see :mod:`sabio.store`); this is a cache that can
always be rebuilt from it. It is made of *segments*, each covering a range of chunk ids
(ids only grow: the chunk table uses AUTOINCREMENT). When the knowledge base's generation
counter moves, the index catches up without re-reading everything: chunks that are gone
are masked out, and chunks with ids above the last segment become a new segment. Segments
are saved as ``.npy`` files under ``<home>/index/`` and memory-mapped by the next process,
so a CLI search does not pay for a rebuild. Too many segments merge the small later ones
into one (the first, big one stays); many dead rows trigger a compaction (a rebuild from
the chunk table).

Keyword scoring is BM25 exactly as SQLite's FTS5 computes ``bm25(fts, 1.0, 0.5)`` over
the text and context columns with ``tokenize='unicode61 remove_diacritics 2'`` (k1 = 1.2,
b = 0.75), except that a plural ``-s`` is removed from words (:func:`light_stem`;
tests/test_index.py checks the rankings agree with FTS5 given the same terms). It is
computed with numpy over term postings instead of row by row: milliseconds at a million
chunks, where FTS5 itself took about 0.6 s per query and a tenth of a millisecond per
inserted chunk, so Sabio keeps no FTS5 table (docs/architecture.md). Statistics (N,
average length, document frequencies) are those of the knowledge base being searched.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import math
import os
import shutil
import threading
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sabio.store import KnowledgeBase, SabioStore
from sabio.terms import K1, B, tokens

if TYPE_CHECKING:
    from sabio.document_field import DocumentField, FieldCache

INDEX_FORMAT = 3  # bump when tokens() or the saved arrays change: saved indexes rebuild
MAX_SEGMENTS = 8
INT8_MIN_ROWS = 250_000  # below this a float32 scan is only milliseconds
SHORTLIST = 400  # int8 candidates ranked exactly, at least
MAX_DEAD_FRACTION = 0.25
DOCUMENT_FIELD_MIN_CHUNKS = 5
"""A knowledge base whose median document has fewer passages has no document field: a
short document's first passage is most of it, and a field repeating it only counted its
keywords twice (SciFact's abstracts and XQuAD's paragraphs lost 1.6 and 0.6 points of
nDCG@10 with it, docs/benchmarks.md); a field for its few long documents alone favoured
them over all the others."""
BUILD_BATCH = 2_000
"""Rows whose (term, row) pairs are counted at once: the counting holds a few int64
copies per token, so 20,000 rows of prose took 180 MB more while a 16 MB file was
indexed; 2,000 take 20 MB, and 8% less CPU (bench/memory.py)."""
_ARRAYS = ("ids", "docs", "vectors", "lengths", "indptr", "post_rows", "post_tf2")

ChunkRow = tuple[int, int, str, str, bytes]  # id, document id, text, context, vector


@dataclass(slots=True)
class Segment:
    """Chunks ``ids`` with their vectors and term postings (CSR, term-major)."""

    ids: NDArray[np.int64]
    docs: NDArray[np.int64]
    vectors: NDArray[np.float32]
    lengths: NDArray[np.float32]  # tokens in text + context
    indptr: NDArray[np.int64]  # postings of term t: [indptr[t], indptr[t + 1])
    post_rows: NDArray[np.int32]
    post_tf2: NDArray[np.uint16]  # 2 * (tf in text) + (tf in context)
    name: str = field(default_factory=lambda: f"seg-{uuid.uuid4().hex[:12]}")
    scans: dict[tuple[int, int], Int8Scan] = field(default_factory=dict, repr=False)
    """int8 copies of the columns a query reads (all of them, or one part of a pair's
    rows), built on first use."""

    def postings(self, term: int) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        if term + 1 >= len(self.indptr):
            return self.post_rows[:0], self.post_tf2[:0]
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.post_rows[start:end], self.post_tf2[start:end]

    def save(self, folder: Path) -> None:
        tmp = folder / f".{self.name}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for attr in _ARRAYS:
            np.save(tmp / f"{attr}.npy", getattr(self, attr))
        os.replace(tmp, folder / self.name)

    @classmethod
    def load(cls, folder: Path, name: str) -> Segment:
        arrays = {a: np.load(folder / name / f"{a}.npy") for a in _ARRAYS}
        return cls(name=name, **arrays)


class Int8Scan:
    """An int8 copy of a large segment's vectors, scanned with ONNX Runtime's integer
    matrix product (VNNI/AMX kernels): a quarter of the bytes of a float32 scan, which is
    what bounds exact search at a million vectors. It only shortlists; the shortlist is
    then ranked exactly in float32. Built per process on first use (seconds at 1M)."""

    def __init__(self, vectors: NDArray[np.float32]) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        scale = np.abs(vectors).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        self.scale = scale.astype(np.float32)
        quantized = np.clip(np.rint(vectors / self.scale[:, None]), -127, 127).astype(np.int8)
        n, dim = vectors.shape
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["q", "m", "zero"], ["scores"])],
            "int8-scan",
            [helper.make_tensor_value_info("q", TensorProto.UINT8, [1, dim])],
            [helper.make_tensor_value_info("scores", TensorProto.INT32, [1, n])],
            [
                numpy_helper.from_array(np.ascontiguousarray(quantized.T), "m"),
                numpy_helper.from_array(np.array(128, dtype=np.uint8), "zero"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, ["CPUExecutionProvider"]
        )

    def shortlist(self, query: NDArray[np.float32], size: int) -> NDArray[np.intp]:
        """Rows of the ``size`` best approximate scores."""
        step = float(np.abs(query).max()) / 127.0 or 1.0
        q = (np.clip(np.rint(query / step), -127, 127) + 128).astype(np.uint8)[None, :]
        scores = self.session.run(None, {"q": q})[0][0] * self.scale
        size = min(size, len(scores))
        return np.argpartition(-scores, size - 1)[:size]


def _nonzero_span(query: NDArray[np.float32]) -> slice:
    """The columns outside which ``query`` is zero: a pair of models' search asks with one
    part and zeros elsewhere (models/paired.py), so only that part's columns are read
    (384 of the embedded default's 896: the scan reads 43% of the bytes)."""
    nonzero = np.flatnonzero(query)
    if not nonzero.size:
        return slice(None)
    return slice(int(nonzero[0]), int(nonzero[-1]) + 1)


@functools.cache
def _have_onnxruntime() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _attach_scan(segment: Segment, columns: tuple[int, int]) -> None:
    start, end = columns
    segment.scans[columns] = Int8Scan(np.asarray(segment.vectors[:, start:end]))


class Vocabulary(dict[str, int]):
    """Term ids; looking up a new term gives it the next id."""

    def __missing__(self, term: str) -> int:
        self[term] = len(self)
        return len(self) - 1


def build_segment(rows: Iterable[ChunkRow], vocab: Vocabulary, dimension: int) -> Segment:
    """Tokenize ``rows`` into a segment; new terms are appended to ``vocab``."""
    ids, docs, lengths, blobs = array("q"), array("q"), array("f"), []
    parts: list[tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.uint16]]] = []
    terms, rows_of, weights = array("i"), array("i"), array("B")
    term_id = vocab.__getitem__
    for row, (chunk_id, doc_id, text, context, vector) in enumerate(rows):
        ids.append(chunk_id)
        docs.append(doc_id)
        blobs.append(vector)
        n_text, n_context = len(terms), 0
        terms.extend(map(term_id, tokens(text)))
        n_text, n_context = len(terms) - n_text, len(terms)
        terms.extend(map(term_id, tokens(context)))
        n_context = len(terms) - n_context
        lengths.append(n_text + n_context)
        rows_of.extend([row] * (n_text + n_context))
        weights.extend(b"\x02" * n_text + b"\x01" * n_context)
        if (row + 1) % BUILD_BATCH == 0:
            parts.append(_term_counts(terms, rows_of, weights))
            terms, rows_of, weights = array("i"), array("i"), array("B")
    parts.append(_term_counts(terms, rows_of, weights))
    term = np.concatenate([p[0] for p in parts])
    order = np.argsort(term, kind="stable")  # rows stay ascending within a term
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimension)
    return Segment(
        ids=np.frombuffer(ids, dtype=np.int64).copy(),
        docs=np.frombuffer(docs, dtype=np.int64).copy(),
        vectors=vectors,
        lengths=np.frombuffer(lengths, dtype=np.float32).copy(),
        indptr=np.searchsorted(term[order], np.arange(len(vocab) + 1)).astype(np.int64),
        post_rows=np.concatenate([p[1] for p in parts])[order],
        post_tf2=np.concatenate([p[2] for p in parts])[order],
    )


def _term_counts(
    terms: array[int], rows: array[int], weights: array[int]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.uint16]]:
    """(term, row, weighted count) for each distinct (term, row) pair."""
    key = np.frombuffer(terms, dtype=np.int32).astype(np.int64) << 32
    key |= np.frombuffer(rows, dtype=np.int32).astype(np.int64)
    order = np.argsort(key, kind="stable")
    unique, starts = np.unique(key[order], return_index=True)
    w = np.frombuffer(weights, dtype=np.uint8)[order].astype(np.uint32)
    counts = np.add.reduceat(w, starts) if len(w) else w
    return (
        unique >> 32,
        (unique & 0xFFFFFFFF).astype(np.int32),
        np.minimum(counts, 65535).astype(np.uint16),
    )


@dataclass(slots=True)
class _KbIndex:
    generation: int
    epoch: int
    dimension: int
    max_id: int
    vocab: Vocabulary
    segments: list[Segment]
    alive: list[NDArray[np.bool_]] = field(default_factory=list)
    norms: list[NDArray[np.float32]] = field(default_factory=list)
    count: int = 0

    def refresh_stats(self) -> None:
        """N, the length norms and the alive masks' totals, as BM25 needs them."""
        self.count = int(sum(int(a.sum()) for a in self.alive))
        total = sum(
            float(s.lengths[a].sum()) for s, a in zip(self.segments, self.alive, strict=True)
        )
        avgdl = total / self.count if self.count else 1.0
        self.norms = [
            (K1 * (1 - B + B * np.asarray(s.lengths) / avgdl)).astype(np.float32)
            for s in self.segments
        ]


def build_document_field(store: SabioStore, kb_id: int, read: FieldCache) -> DocumentField:
    """The knowledge base's :class:`DocumentField` (none for mostly short documents);
    ``read`` keeps each document's words between builds."""
    from sabio.document_field import DocumentField

    fields = store.document_fields(kb_id)
    counts = sorted(f[4] for f in fields)
    if counts and counts[len(counts) // 2] < DOCUMENT_FIELD_MIN_CHUNKS:
        fields = []  # mostly short documents: no document field
    return DocumentField.build([f[:4] for f in fields], read)


class ChunkIndex:
    """Vector and keyword search over every knowledge base of one store."""

    def __init__(self, store: SabioStore, cache_dir: Path | None = None) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._kbs: dict[int, _KbIndex] = {}
        self._scans: dict[tuple[str, tuple[int, int]], threading.Thread] = {}
        self._fields: dict[int, tuple[int, int, DocumentField]] = {}  # by kb id
        self._field_words: dict[int, FieldCache] = {}  # by kb id: each document's words
        self._lock = threading.RLock()

    # searching

    def vector_search(
        self,
        kb: KnowledgeBase,
        query: NDArray[np.float32],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``limit`` nearest chunks, best first."""
        index = self.sync(kb)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        span = _nonzero_span(q)
        columns = span.indices(len(q))[:2]
        found: list[tuple[int, float]] = []
        for seg, alive in zip(index.segments, index.alive, strict=True):
            if not len(seg.ids):
                continue
            mask = self._mask(seg, alive, document_ids)
            if document_ids is not None and (rows := np.flatnonzero(mask)).size < mask.size // 4:
                # a few documents (the search's second pass, a filter): only their rows
                found += _top(seg.ids[rows], seg.vectors[rows, span] @ q[span], limit)
                continue
            if (scan := seg.scans.get(columns)) is None:
                self._start_scan(seg, columns)
            if scan is not None and document_ids is None:
                rows = scan.shortlist(q[span], max(SHORTLIST, limit * 8))
                scores = seg.vectors[rows, span] @ q[span]
                scores[~mask[rows]] = -np.inf
                found += _top(seg.ids[rows], scores, limit)
                continue
            scores = seg.vectors[:, span] @ q[span]
            if document_ids is not None or not mask.all():
                scores[~mask] = -np.inf
            found += _top(seg.ids, scores, limit)
        return sorted(found, key=lambda hit: (-hit[1], hit[0]))[:limit]

    def keyword_search(
        self,
        kb: KnowledgeBase,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25) of the ``limit`` best chunks for these words, best first."""
        index = self.sync(kb)
        ids = [index.vocab[t] for word in terms for t in tokens(word) if t in index.vocab]
        if not ids or not index.count:
            return []
        idf = {t: self._idf(index, t) for t in set(ids)}
        found: list[tuple[int, float]] = []
        for seg, alive, norm in zip(index.segments, index.alive, index.norms, strict=True):
            scores = np.zeros(len(seg.ids), dtype=np.float32)
            for t in ids:
                rows, tf2 = seg.postings(t)
                tf = tf2.astype(np.float32) * np.float32(0.5)
                scores[rows] += np.float32(idf[t] * (K1 + 1)) * tf / (tf + norm[rows])
            scores[~self._mask(seg, alive, document_ids)] = 0
            found += [hit for hit in _top(seg.ids, scores, limit) if hit[1] > 0]
        return sorted(found, key=lambda hit: (-hit[1], hit[0]))[:limit]

    def document_scores(
        self, kb: KnowledgeBase, terms: Sequence[str] | Mapping[str, float]
    ) -> dict[int, float]:
        """(document id: BM25 of its :class:`DocumentField`) for these terms (a mapping:
        each term's BM25 times its weight)."""
        return self.document_field(kb).scores(terms)

    def document_field(self, kb: KnowledgeBase) -> DocumentField:
        """The knowledge base's :class:`DocumentField`, rebuilt when its documents change."""
        index = self.sync(kb)
        with self._lock:
            cached = self._fields.get(kb.id)
            if cached is None or cached[:2] != (index.generation, index.epoch):
                read = self._field_words.setdefault(kb.id, {})
                field_ = build_document_field(self.store, kb.id, read)
                cached = (index.generation, index.epoch, field_)
                self._fields[kb.id] = cached
        return cached[2]

    def documents_of(self, kb: KnowledgeBase, chunk_ids: Sequence[int]) -> dict[int, int]:
        """(chunk id: its document id) for chunks of the index."""
        index = self.sync(kb)
        wanted = np.asarray(chunk_ids, dtype=np.int64)
        found: dict[int, int] = {}
        for seg in index.segments:
            if not len(seg.ids) or not len(wanted):
                continue
            at = np.minimum(np.searchsorted(seg.ids, wanted), len(seg.ids) - 1)
            hit = seg.ids[at] == wanted
            found.update(zip(wanted[hit].tolist(), seg.docs[at[hit]].tolist(), strict=True))
        return found

    def term_weights(self, kb: KnowledgeBase, terms: Sequence[str]) -> dict[str, float]:
        """How telling each term (as :func:`tokens` gives it) is in ``kb``: its BM25 idf;
        a term the knowledge base never uses weighs most."""
        index = self.sync(kb)
        unseen = math.log((index.count + 0.5) / 0.5)
        return {
            term: self._idf(index, index.vocab[term]) if term in index.vocab else unseen
            for term in terms
        }

    def _start_scan(self, seg: Segment, columns: tuple[int, int]) -> threading.Thread | None:
        """Build a big segment's int8 scan of ``columns`` in the background (seconds at a
        million rows): a one-off command keeps the exact float32 scan, a long-running
        process switches to the int8 one when it is ready."""
        if len(seg.ids) < INT8_MIN_ROWS or not _have_onnxruntime():
            return None
        key = (seg.name, columns)
        if key not in self._scans:
            thread = threading.Thread(target=_attach_scan, args=(seg, columns), daemon=True)
            self._scans[key] = thread
            thread.start()
        return self._scans[key]

    def warm(self, kb: KnowledgeBase, query: NDArray[np.float32] | None = None) -> None:
        """Wait for what the first searches would otherwise go without (benchmarks): the
        int8 scans of the columns ``query`` reads (default: every column)."""
        index = self.sync(kb)
        for seg in index.segments:
            dimension = seg.vectors.shape[1]
            span = slice(None) if query is None else _nonzero_span(np.reshape(query, -1))
            if (thread := self._start_scan(seg, span.indices(dimension)[:2])) is not None:
                thread.join()

    @staticmethod
    def _mask(
        seg: Segment, alive: NDArray[np.bool_], document_ids: Sequence[int] | None
    ) -> NDArray[np.bool_]:
        if document_ids is None:
            return alive
        return alive & np.isin(seg.docs, np.asarray(document_ids, dtype=np.int64))

    @staticmethod
    def _idf(index: _KbIndex, term: int) -> float:
        df = 0
        for seg, alive in zip(index.segments, index.alive, strict=True):
            rows, _ = seg.postings(term)
            df += int(alive[rows].sum())
        n = index.count
        return max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)

    # keeping up with the store

    def drop(self, kb: KnowledgeBase) -> None:
        """Forget a deleted knowledge base, and its files."""
        with self._lock:
            self._kbs.pop(kb.id, None)
            self._fields.pop(kb.id, None)
            self._field_words.pop(kb.id, None)
            if (folder := self._folder(kb)) is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def sync(self, kb: KnowledgeBase) -> _KbIndex:
        """The index of ``kb``, brought up to date with the chunk table."""
        with self._lock:  # searches run the keyword and vector halves in two threads
            generation, epoch = self.store.kb_versions(kb.id)
            index = self._kbs.get(kb.id)
            if index is not None and index.generation == generation and index.epoch == epoch:
                return index
            return self._refresh(kb, index, generation, epoch)

    def _refresh(
        self, kb: KnowledgeBase, index: _KbIndex | None, generation: int, epoch: int
    ) -> _KbIndex:
        if index is not None and index.epoch == epoch and index.dimension == kb.dimension:
            index = dataclasses.replace(index, segments=list(index.segments))  # may be in use
        else:
            index = self._load(kb, epoch)
        if index is None or not self._catch_up(kb, index):
            index = self._rebuild(kb, epoch)
        index.generation = generation
        self._kbs[kb.id] = index
        return index

    def _catch_up(self, kb: KnowledgeBase, index: _KbIndex) -> bool:
        """Mask chunks that are gone and add a segment for new ones; False when a
        compaction (a rebuild) is due instead: too many segments or dead rows."""
        current = self.store.chunk_ids(kb.id)
        index.alive = [np.isin(seg.ids, current) for seg in index.segments]
        new_rows = self.store.chunk_rows(kb.id, after=index.max_id)
        rows = sum(len(seg.ids) for seg in index.segments)
        dead = rows - sum(int(a.sum()) for a in index.alive)
        if dead > MAX_DEAD_FRACTION * rows:
            return False
        if len(index.segments) + bool(new_rows) > MAX_SEGMENTS:
            return self._merge_tail(kb, index)
        if new_rows:
            segment = build_segment(new_rows, index.vocab, kb.dimension)
            index.segments.append(segment)
            index.alive.append(np.ones(len(segment.ids), dtype=bool))
            index.max_id = int(segment.ids[-1])
            self._save(kb, index, [segment])
        index.refresh_stats()
        return True

    def _merge_tail(self, kb: KnowledgeBase, index: _KbIndex) -> bool:
        """Too many segments: keep the first (the big one) and merge every later one, with
        the new chunks, into one, read again from the chunk table; False (rebuild it all)
        once the later ones hold as much as the first. A watched folder adds a small
        segment per change: this keeps the cost of a merge to the size of the changes,
        where a rebuild would read the whole knowledge base (seconds at 100k passages)."""
        first = index.segments[0]
        tail = sum(len(s.ids) for s in index.segments[1:])
        if not len(first.ids) or tail >= len(first.ids):
            return False
        merged = build_segment(
            self.store.chunk_rows(kb.id, after=int(first.ids[-1])), index.vocab, kb.dimension
        )
        index.segments = [first, merged]
        index.alive = [index.alive[0], np.ones(len(merged.ids), dtype=bool)]
        index.max_id = int(merged.ids[-1]) if len(merged.ids) else int(first.ids[-1])
        self._save(kb, index, [merged])
        index.refresh_stats()
        return True

    def _rebuild(self, kb: KnowledgeBase, epoch: int) -> _KbIndex:
        vocab = Vocabulary()
        segment = build_segment(self.store.chunk_rows(kb.id, after=0), vocab, kb.dimension)
        max_id = int(segment.ids[-1]) if len(segment.ids) else 0
        index = _KbIndex(-1, epoch, kb.dimension, max_id, vocab, [segment])
        index.alive = [np.ones(len(segment.ids), dtype=bool)]
        index.refresh_stats()
        folder = self._folder(kb)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        self._save(kb, index, [segment])
        return index

    def _folder(self, kb: KnowledgeBase) -> Path | None:
        return self.cache_dir / f"kb-{kb.id}" if self.cache_dir is not None else None

    def _save(self, kb: KnowledgeBase, index: _KbIndex, new: list[Segment]) -> None:
        folder = self._folder(kb)
        if folder is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for segment in new:
                segment.save(folder)
            vocab_name = f"vocab-{uuid.uuid4().hex[:12]}.json"
            (folder / vocab_name).write_text(json.dumps(list(index.vocab), ensure_ascii=False))
            manifest = {
                "format": INDEX_FORMAT,
                "epoch": index.epoch,
                "dimension": index.dimension,
                "max_id": index.max_id,
                "vocab": vocab_name,
                "segments": [s.name for s in index.segments],
            }
            tmp = folder / f".manifest-{uuid.uuid4().hex[:8]}"
            tmp.write_text(json.dumps(manifest))
            os.replace(tmp, folder / "manifest.json")
            for old in folder.glob("vocab-*.json"):
                if old.name != vocab_name:
                    old.unlink(missing_ok=True)
            kept = {s.name for s in index.segments}
            for old in folder.glob("seg-*"):  # merged away (a reader may still map it)
                if old.name not in kept:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # a cache that cannot be written is rebuilt next time; search still works

    def _load(self, kb: KnowledgeBase, epoch: int) -> _KbIndex | None:
        folder = self._folder(kb)
        if folder is None or not (folder / "manifest.json").exists():
            return None
        try:
            manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
            stale = manifest.get("format") != INDEX_FORMAT or manifest["epoch"] != epoch
            if stale or manifest["dimension"] != kb.dimension:
                return None
            terms = json.loads((folder / manifest["vocab"]).read_text(encoding="utf-8"))
            segments = [Segment.load(folder, name) for name in manifest["segments"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # damaged or half-written cache: rebuild from the database
        vocab = Vocabulary((term, i) for i, term in enumerate(terms))
        return _KbIndex(-1, epoch, kb.dimension, int(manifest["max_id"]), vocab, segments)


def _top(
    ids: NDArray[np.int64], scores: NDArray[np.float32], limit: int
) -> list[tuple[int, float]]:
    limit = min(limit, len(scores))
    if limit <= 0:
        return []
    top = np.argpartition(-scores, limit - 1)[:limit]
    return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
