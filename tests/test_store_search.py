"""The SQLite store and hybrid search on real SQLite with the fake embedder."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sabio.chunking import Chunk
from sabio.config import Settings, load_settings
from sabio.errors import ConflictError
from sabio.models import ENGLISH_ONLY, Vectors, embedding_languages, register_embedding_backend
from sabio.models.embedded import EmbeddedModel
from sabio.models.ollama import OllamaEmbedder
from sabio.search import UNKNOWN_LANGUAGE_VECTOR_WEIGHT, VECTOR_WEIGHT, query_terms, vector_weight
from sabio.service import Sabio
from sabio.store import FileState, Store


def _add_texts(sabio: Sabio, tmp_path: Path, texts: dict[str, str]) -> None:
    paths = []
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    sabio.add(paths)


def test_database_is_one_wal_file_in_home(sabio: Sabio) -> None:
    sabio.kb(create_default=True)
    assert sabio.settings.database_path.exists()
    mode = sabio.store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_keyword_search_folds_accents_both_ways(sabio: Sabio, tmp_path: Path) -> None:
    _add_texts(sabio, tmp_path, {"a.txt": "La canción más bonita del año.", "b.txt": "Nothing."})
    for query in ("cancion", "canción", "CANCIÓN"):
        hits = sabio.search(query).hits
        assert hits[0].document.endswith("a.txt")
        assert hits[0].keyword_rank == 1


def test_query_terms_fold_and_drop_stopwords() -> None:
    assert query_terms('¿Qué es la "fotosíntesis" AND NOT x*?') == ["fotosintesis", "x"]
    assert query_terms("the of the") == ["the", "of"]
    assert query_terms("  ?! ") == []


def test_hybrid_finds_by_meaning_when_words_differ(sabio: Sabio, tmp_path: Path) -> None:
    _add_texts(
        sabio,
        tmp_path,
        {"a.txt": "solar panels roof energy", "b.txt": "tax forms deadline april"},
    )
    hits = sabio.search("energy roof").hits
    assert hits[0].document.endswith("a.txt")
    assert hits[0].keyword_rank == 1 and hits[0].vector_rank == 1


class TowerEmbedder:
    """Reads every question, and every text about a tower, as the same thing: its vector
    list always ranks the tower first. ``scripted:en`` says it knows English only."""

    dimension = 2

    def __init__(self, model: str) -> None:
        self.name = f"scripted:{model}"
        self.languages = ENGLISH_ONLY if model == "en" else None

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = [[1.0, 0.0] if "?" in t or "torre" in t else [0.0, 1.0] for t in texts]
        return np.array(rows, dtype=np.float32)


@register_embedding_backend("scripted")
def _scripted(settings: Settings, model: str) -> TowerEmbedder:
    return TowerEmbedder(model)


@pytest.mark.parametrize(
    ("embedder", "first"), [("scripted:en", "faro"), ("scripted:any", "torre")]
)
def test_a_question_the_embedder_cannot_read_leans_on_keywords(
    tmp_path: Path, embedder: str, first: str
) -> None:
    settings = load_settings({"home": tmp_path / "home", "embedding_model": embedder}, environ={})
    filler = " ".join(["piedra", "mar", "costa", "camino", "muro", "puerto"] * 10)
    sabio = Sabio(settings)
    try:
        _add_texts(
            sabio,
            tmp_path,
            {"faro.txt": "El faro de la costa.", "torre.txt": f"Una torre, no un faro. {filler}"},
        )
        hits = sabio.search("¿Dónde está el faro?").hits
    finally:
        sabio.close()
    # keywords put the short text about the lighthouse first, vectors the tower: an
    # English-only embedder's vote counts less for a Spanish question, so keywords win
    assert hits[0].document.endswith(f"{first}.txt")
    assert hits[0].keyword_rank == (1 if first == "faro" else 2)


def test_the_vector_weight_follows_the_embedders_languages(settings: Settings) -> None:
    minilm = EmbeddedModel(settings)
    assert embedding_languages(minilm) == {"en"}
    assert embedding_languages(OllamaEmbedder(settings, "all-minilm:l6-v2")) == {"en"}
    assert embedding_languages(OllamaEmbedder(settings, "bge-m3")) is None
    assert (
        vector_weight(minilm, "¿Dónde está el faro de Hércules?") == UNKNOWN_LANGUAGE_VECTOR_WEIGHT
    )
    assert vector_weight(minilm, "Where is the lighthouse?") == VECTOR_WEIGHT
    assert vector_weight(OllamaEmbedder(settings, "bge-m3"), "¿Dónde está?") == VECTOR_WEIGHT
    assert vector_weight(None, "¿Dónde está?") == VECTOR_WEIGHT


def test_document_filter(sabio: Sabio, tmp_path: Path) -> None:
    _add_texts(sabio, tmp_path, {"a.txt": "river delta", "b.txt": "river mouth"})
    hits = sabio.search("river", documents=[str(tmp_path / "b.txt")]).hits
    assert [Path(h.document).name for h in hits] == ["b.txt"]


def test_hits_carry_page_and_span(sabio: Sabio, tmp_path: Path) -> None:
    _add_texts(sabio, tmp_path, {"a.md": "# Intro\n\nalpha beta\n\n# Body\n\ngamma delta"})
    hit = sabio.search("gamma").hits[0]
    assert hit.page is None
    assert hit.heading == "Body"
    assert hit.text == "gamma delta"
    assert hit.end - hit.start == len(hit.text)


def test_replace_document_rejects_vectors_of_another_size(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    kb = store.create_kb("k", "fake:words", 4)
    chunk = Chunk("text", 0, 4, None, "", "")
    with pytest.raises(ConflictError, match="4-dimension"):
        store.replace_document(
            kb,
            FileState("/x", "h", 1, 1),
            title="x",
            pages=None,
            metadata={},
            chunks=[chunk],
            vectors=np.zeros((1, 3), dtype=np.float32),
        )
    assert store.list_documents(kb.id) == []


def test_a_failed_write_leaves_the_old_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    kb = store.create_kb("k", "fake:words", 2)
    state = FileState("/x", "h1", 1, 1)
    vectors = np.ones((1, 2), dtype=np.float32)
    store.replace_document(
        kb,
        state,
        title="x",
        pages=None,
        metadata={},
        chunks=[Chunk("old text", 0, 8, None, "", "")],
        vectors=vectors,
    )
    bad = [Chunk("new text", 0, 8, None, "", ""), Chunk(None, 0, 0, None, "", "")]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        store.replace_document(
            kb,
            FileState("/x", "h2", 2, 2),
            title="x",
            pages=None,
            metadata={},
            chunks=bad,
            vectors=np.ones((2, 2), np.float32),
        )
    doc = store.list_documents(kb.id)[0]
    assert doc.content_hash == "h1"
    assert [c.text for c in store.get_chunks([1, 2, 3]).values()] == ["old text"]
    assert [row[2] for row in store.chunk_rows(kb.id, after=0)] == ["old text"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").db.execute("PRAGMA user_version=99")
    with pytest.raises(ConflictError, match="newer Sabio"):
        Store(tmp_path / "s.db")


def test_per_thread_reads_close_the_connections_of_threads_that_ended(tmp_path: Path) -> None:
    import os
    import threading

    store = Store(tmp_path / "sabio.db", per_thread=True)
    seen: list[int] = []

    def read() -> None:
        assert store.find_kb("nothing") is None
        seen.append(id(store.db))

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    read()
    before = open_files()
    for _ in range(200):  # each thread its own connection; a server has ~40 threads
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert id(store.db) == seen[0]  # this thread keeps its own
    if Path("/proc/self/fd").is_dir():
        assert open_files() <= before + 3  # not one file (or three) per ended thread
    store.close()
