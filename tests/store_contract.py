"""The tests any store backend must pass (:class:`sabio.store.backend.StoreBackend`).

The shape of haystack's ``testing/document_store.py``: classes of tests over a
``backend`` fixture, which a backend's own test module gives, then inherits them all::

    class TestPostgresStore(StoreContract):
        @pytest.fixture
        def backend(self, tmp_path): ...  # a new, empty backend; closed after the test

See tests/test_store_contract.py for SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sabio.chunking import Chunk
from sabio.errors import ConflictError, NotFoundError
from sabio.store import FileState, KnowledgeBase, StoreBackend

DIMENSION = 4


def _state(source: str, content_hash: str = "h1", size: int = 10) -> FileState:
    return FileState(source, content_hash, size, 1_700_000_000_000_000_000)


def _chunks(*texts: str, page: int | None = 1) -> list[Chunk]:
    chunks, start = [], 0
    for text in texts:
        chunks.append(Chunk(text, start, start + len(text), page, "Heading", "Context"))
        start += len(text) + 1
    return chunks


def _vectors(n: int, value: float = 1.0) -> np.ndarray:
    return np.full((n, DIMENSION), value, dtype=np.float32)


def _write(
    backend: StoreBackend,
    kb: KnowledgeBase,
    source: str,
    texts: Sequence[str],
    content_hash: str = "h1",
) -> int:
    chunks = _chunks(*texts)
    return backend.replace_document(
        kb,
        _state(source, content_hash),
        title=source.rsplit("/", 1)[-1],
        pages=1,
        metadata={"author": "Ana"},
        chunks=chunks,
        vectors=_vectors(len(chunks)),
    )


class KnowledgeBaseContract:
    def test_a_knowledge_base_is_found_by_name_or_identifier(self, backend: StoreBackend) -> None:
        made = backend.create_kb("Notas de campo", "fake:words", DIMENSION, slug="notas")
        assert backend.find_kb("Notas de campo") == made
        assert backend.find_kb("notas") == made
        assert backend.get_kb("notas").dimension == DIMENSION
        assert backend.find_kb("otras") is None
        assert sorted(backend.kb_names()) == ["Notas de campo", "notas"]

    def test_a_taken_name_or_identifier_is_a_conflict(self, backend: StoreBackend) -> None:
        backend.create_kb("notes", "fake:words", DIMENSION, slug="n")
        with pytest.raises(ConflictError, match="already exists"):
            backend.create_kb("notes", "fake:words", DIMENSION)
        with pytest.raises(ConflictError, match="taken by the knowledge base 'notes'"):
            backend.create_kb("n", "fake:words", DIMENSION)
        assert [kb.name for kb in backend.list_kbs()] == ["notes"]

    def test_an_unknown_knowledge_base_says_how_to_create_it(self, backend: StoreBackend) -> None:
        with pytest.raises(NotFoundError, match="sabio kb create casos"):
            backend.get_kb("casos")

    def test_listed_knowledge_bases_count_their_documents_and_chunks(
        self, backend: StoreBackend
    ) -> None:
        b = backend.create_kb("b", "fake:words", DIMENSION)
        a = backend.create_kb("a", "fake:words", DIMENSION)
        _write(backend, b, "/x.txt", ["one", "two"])
        _write(backend, b, "/y.txt", ["three"])
        assert [(k.name, k.documents, k.chunks) for k in backend.list_kbs()] == [
            ("a", 0, 0),
            ("b", 2, 3),
        ]
        assert backend.kb_counts(b.id) == (2, 3)
        assert backend.kb_counts(a.id) == (0, 0)

    def test_a_deleted_knowledge_base_takes_its_documents_and_chunks(
        self, backend: StoreBackend
    ) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        _write(backend, kb, "/x.txt", ["one", "two"])
        backend.delete_kb(kb)
        assert backend.find_kb("notes") is None
        assert backend.chunk_ids(kb.id).tolist() == []
        assert backend.list_documents(kb.id) == []
        assert backend.kb_versions(kb.id) == (-1, -1)
        assert backend.integrity_problems() == []


class DocumentContract:
    def test_a_document_is_written_with_its_chunks(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        doc_id = _write(backend, kb, "/notes/etna.md", ["Etna erupted.", "Catania rebuilt."])
        doc = backend.find_document(kb.id, "/notes/etna.md")
        assert doc is not None and doc.id == doc_id
        assert (doc.title, doc.status, doc.chunk_count, doc.pages) == ("etna.md", "indexed", 2, 1)
        assert doc.metadata == {"author": "Ana"}
        chunks = backend.get_chunks(backend.chunk_ids(kb.id).tolist())
        assert sorted(c.text for c in chunks.values()) == ["Catania rebuilt.", "Etna erupted."]
        assert {c.source for c in chunks.values()} == {"/notes/etna.md"}

    def test_a_new_version_replaces_every_chunk_and_ids_only_grow(
        self, backend: StoreBackend
    ) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        first = _write(backend, kb, "/a.txt", ["old one", "old two"])
        old_ids = backend.chunk_ids(kb.id).tolist()
        generation = backend.kb_versions(kb.id)[0]
        assert _write(backend, kb, "/a.txt", ["new"], content_hash="h2") == first
        new_ids = backend.chunk_ids(kb.id).tolist()
        assert len(new_ids) == 1 and new_ids[0] > max(old_ids)
        assert [r[2] for r in backend.chunk_rows(kb.id, after=0)] == ["new"]
        assert backend.get_document(kb.id, first).content_hash == "h2"
        assert backend.kb_versions(kb.id)[0] > generation

    def test_vectors_of_the_wrong_shape_write_nothing(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        _write(backend, kb, "/a.txt", ["kept"])
        with pytest.raises(ConflictError, match="4-dimension vectors"):
            backend.replace_document(
                kb,
                _state("/a.txt", "h2"),
                title="a",
                pages=None,
                metadata={},
                chunks=_chunks("lost", "lost too"),
                vectors=np.ones((2, DIMENSION + 1), np.float32),
            )
        assert [r[2] for r in backend.chunk_rows(kb.id, after=0)] == ["kept"]
        assert backend.get_document(kb.id, "/a.txt").content_hash == "h1"

    def test_an_unreadable_new_version_keeps_the_old_chunks(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        doc_id = _write(backend, kb, "/a.pdf", ["readable"])
        again = backend.record_unindexed(
            kb, _state("/a.pdf", "h2"), title="a", status="failed", error="broken"
        )
        doc = backend.get_document(kb.id, doc_id)
        assert again == doc_id and doc.status == "failed"
        assert doc.error == "broken (the previous version stays searchable)"
        assert doc.content_hash == "h1"  # so the next run tries again
        assert [r[2] for r in backend.chunk_rows(kb.id, after=0)] == ["readable"]
        fresh = backend.record_unindexed(
            kb, _state("/scan.pdf"), title="scan", status="needs_ocr", error="no text"
        )
        assert backend.get_document(kb.id, fresh).chunk_count == 0

    def test_a_document_is_found_by_id_source_or_unique_ending(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        a = _write(backend, kb, "/one/report.pdf", ["a"])
        _write(backend, kb, "/two/report.pdf", ["b"])
        _write(backend, kb, "/two/100%_sure.txt", ["c"])
        assert backend.get_document(kb.id, a).source == "/one/report.pdf"
        assert backend.get_document(kb.id, str(a)).source == "/one/report.pdf"
        assert backend.get_document(kb.id, "one/report.pdf").id == a
        assert backend.get_document(kb.id, "100%_sure.txt").source == "/two/100%_sure.txt"
        with pytest.raises(ConflictError, match="matches 2 documents"):
            backend.get_document(kb.id, "report.pdf")
        with pytest.raises(NotFoundError, match=r"no document 'nothing\.txt'"):
            backend.get_document(kb.id, "nothing.txt")
        assert [d.source for d in backend.list_documents(kb.id)] == [
            "/one/report.pdf",
            "/two/100%_sure.txt",
            "/two/report.pdf",
        ]
        assert sorted(backend.sources_under(kb.id, "/two/")) == [
            "/two/100%_sure.txt",
            "/two/report.pdf",
        ]

    def test_a_moved_document_keeps_its_chunks(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        doc_id = _write(backend, kb, "/a.txt", ["kept"])
        ids = backend.chunk_ids(kb.id).tolist()
        backend.move_document(backend.get_document(kb.id, doc_id), _state("/b.txt", size=11))
        assert backend.find_document(kb.id, "/a.txt") is None
        moved = backend.get_document(kb.id, "/b.txt")
        assert (moved.id, moved.size) == (doc_id, 11)
        assert backend.chunk_ids(kb.id).tolist() == ids
        assert backend.get_chunks(ids)[ids[0]].source == "/b.txt"
        backend.touch_document(moved, _state("/b.txt", size=12))
        assert backend.get_document(kb.id, doc_id).size == 12

    def test_deleted_documents_take_their_chunks(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        a = _write(backend, kb, "/a.txt", ["a1", "a2"])
        _write(backend, kb, "/b.txt", ["b1"])
        backend.delete_documents(kb, [a])
        assert [d.source for d in backend.list_documents(kb.id)] == ["/b.txt"]
        assert [r[2] for r in backend.chunk_rows(kb.id, after=0)] == ["b1"]
        assert backend.integrity_problems() == []


class ChunkContract:
    def test_chunk_rows_catch_up_by_id(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        other = backend.create_kb("other", "fake:words", DIMENSION)
        _write(backend, kb, "/a.txt", ["one", "two"])
        _write(backend, other, "/z.txt", ["elsewhere"])
        [first, second] = backend.chunk_rows(kb.id, after=0)
        assert (first[2], first[3]) == ("one", "Context")
        assert np.frombuffer(first[4], np.float32).tolist() == [1.0] * DIMENSION
        assert backend.chunk_rows(kb.id, after=first[0]) == [second]
        assert [t for _, _, t in backend.chunk_texts(kb.id)] == ["one", "two"]
        assert backend.get_chunks([]) == {}

    def test_a_passage_is_its_chunk_and_the_text_around_it(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        _write(backend, kb, "/a.txt", ["Before.", "Middle.", "After."])
        ids = backend.chunk_ids(kb.id).tolist()
        passage = backend.passage(kb.id, ids[1])
        assert passage is not None and passage.chunk.text == "Middle."
        assert (passage.before, passage.after) == ("Before.", "After.")
        assert backend.passage(kb.id, ids[-1] + 100) is None
        other = backend.create_kb("other", "fake:words", DIMENSION)
        assert backend.passage(other.id, ids[1]) is None  # not a chunk of that one

    def test_replaced_vectors_switch_the_model_at_once(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        _write(backend, kb, "/a.txt", ["one", "two"])
        generation, epoch = backend.kb_versions(kb.id)
        ids = backend.chunk_ids(kb.id).tolist()
        with pytest.raises(ConflictError, match="changed while it was re-indexed"):
            backend.replace_vectors(kb, "fake:other", ids[:1], np.ones((1, 2), np.float32))
        backend.replace_vectors(kb, "fake:other", ids, np.full((2, 2), 0.5, np.float32))
        switched = backend.get_kb("notes")
        assert (switched.embedding_model, switched.dimension) == ("fake:other", 2)
        assert [np.frombuffer(r[4], np.float32).tolist() for r in backend.chunk_rows(kb.id, 0)] == [
            [0.5, 0.5],
            [0.5, 0.5],
        ]
        new_generation, new_epoch = backend.kb_versions(kb.id)
        assert new_generation > generation and new_epoch == epoch + 1


class StoreContract(KnowledgeBaseContract, DocumentContract, ChunkContract):
    """Every test a store backend must pass."""
