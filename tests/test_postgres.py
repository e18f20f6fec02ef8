"""PostgreSQL beyond the store contract: the backend chosen by ``database_url``, the
service over it (a document added, then found), its two rankings in the database, and
the job queue claimed by two workers at once (``FOR UPDATE SKIP LOCKED``). A real
server (tests/pg_server.py), skipped only when its wheel is absent."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pg_server import new_database, postgres_server

from sabio.config import load_settings
from sabio.errors import ConfigError
from sabio.jobs import JobQueue
from sabio.service import Sabio
from sabio.store import Store
from sabio.store.feedback import NewFeedback
from sabio.store.guides import Guide
from sabio.store.registry import backend_name, describe_database, open_store

__all__ = ["postgres_server"]


def test_database_url_selects_the_backend(tmp_path: Path) -> None:
    assert backend_name("") == "sqlite"
    assert backend_name("postgresql://ana@db.example/sabio") == "postgresql"
    assert backend_name("postgres://ana@db.example/sabio") == "postgresql"
    store = open_store(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "sabio.db")
    assert isinstance(store, Store) and (tmp_path / "other.db").exists()
    store.close()
    with pytest.raises(ConfigError, match="neither 'sqlite:///PATH' nor 'postgresql://"):
        backend_name("mysql://db/sabio")
    with pytest.raises(ConfigError, match="neither"):
        backend_name("/var/lib/sabio.db")
    shown = describe_database("postgresql://ana:s3cret@db.example:5433/sabio", tmp_path)
    assert shown == "postgresql://ana:***@db.example:5433/sabio"
    assert describe_database("", tmp_path / "sabio.db") == str(tmp_path / "sabio.db")


def test_the_service_keeps_and_finds_documents_in_postgresql(
    postgres_server: Any, tmp_path: Path
) -> None:
    url = new_database(postgres_server)
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1},
        environ={"SABIO_DATABASE_URL": url},
    )
    assert settings.database_url == url
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "etna.md").write_text("Etna erupted in 1669 and Catania was rebuilt.\n")
    (notes / "tide.md").write_text("The tide tables of Cádiz list the spring tides.\n")
    sabio = Sabio(settings)
    try:
        sabio.create_kb("notes")
        sabio.add([notes], "notes")
        with sabio.watching() as version:
            before = version()
            hits = sabio.search("when did etna erupt", "notes").hits
            assert hits[0].document.endswith("etna.md")
            assert version() == before  # a search writes nothing
            kb = sabio.store.get_kb("notes")
            activity = sabio.store.kb_activity(kb.id)
            sabio.store.delete_documents(kb, [hits[0].document_id])
            assert version() != before and sabio.store.kb_activity(kb.id) != activity
        assert [f[1].rsplit("/", 1)[-1] for f in sabio.store.document_fields(kb.id)] == ["tide.md"]
        assert [c[3] for c in sabio.store.document_chunks(kb.id)] == [
            "The tide tables of Cádiz list the spring tides."
        ]
        assert set(sabio.store.kbs_changed_at()) == {kb.id}
        sabio.add([notes], "notes")
        assert not (tmp_path / "home" / "sabio.db").exists()  # nothing went to SQLite
    finally:
        sabio.close()
    again = Sabio(settings)  # another process would see the same
    try:
        assert [
            d.source.rsplit("/", 1)[-1]
            for d in again.store.list_documents(again.store.get_kb("notes").id)
        ] == ["etna.md", "tide.md"]
        assert again.search("cadiz tides", "notes").hits[0].document.endswith("tide.md")
    finally:
        again.close()


def test_both_rankings_run_in_the_database(postgres_server: Any) -> None:
    from sabio.chunking import Chunk
    from sabio.store import FileState
    from sabio.store.pg_documents import PostgresStore

    store = PostgresStore(new_database(postgres_server))
    try:
        kb = store.create_kb("notes", "fake:words", 8)
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((60, 8)).astype(np.float32)
        texts = [f"passage {i} about {'la canción' if i % 10 == 3 else 'rocks'}" for i in range(60)]
        chunks = [Chunk(t, 0, len(t), None, "", "") for t in texts]
        store.replace_document(
            kb,
            FileState("/a.txt", "h", 1, 1),
            title="a",
            pages=None,
            metadata={},
            chunks=chunks,
            vectors=vectors,
        )
        ids = store.chunk_ids(kb.id).tolist()
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        exact = [ids[i] for i in np.argsort(-(unit @ unit[5]))[:10]]
        found = store.vector_search(kb, vectors[5], 10)
        assert [cid for cid, _ in found] == exact
        assert found[0][1] == pytest.approx(1.0, abs=1e-5)
        keyword = store.keyword_search(kb, ["cancion"], 10)  # accents folded
        assert sorted(cid for cid, _ in keyword) == [ids[i] for i in range(3, 60, 10)]
        assert len(store.keyword_search(kb, ["Rock"], 100)) == 54  # any case, plural folded
        assert store.keyword_search(kb, ["nothing"], 10) == []
        doc = store.get_document(kb.id, "/a.txt")
        assert len(store.vector_search(kb, vectors[5], 10, [doc.id + 1])) == 0
    finally:
        store.close()


def test_two_workers_claim_different_jobs_at_once(postgres_server: Any) -> None:
    from sabio.store.pg_documents import PostgresStore

    store = PostgresStore(new_database(postgres_server))
    try:
        kb = store.create_kb("notes", "fake:words", 4)
        sources = [store.sources.add(kb, "folder", f"/docs/{i}") for i in range(6)]
        queue = JobQueue(store)
        for source in sources:
            queue.enqueue_sync(source.id)
        claimed: list[int] = []
        lock = threading.Lock()

        def work(owner: str) -> None:
            mine = JobQueue(store, owner=owner)
            while (job := mine.claim()) is not None:
                mine.heartbeat(job.id, 1, 1, "working")
                with lock:
                    claimed.append(job.id)
                mine.finish(job)

        threads = [threading.Thread(target=work, args=(f"w{i}:1",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == sorted({j.id for j in queue.recent(limit=10)})
        assert len(claimed) == len(set(claimed)) == 6
        assert {j.status for j in queue.recent(limit=10)} == {"done"}
    finally:
        store.close()


class _Stop(Exception):
    pass


def test_migrate_copies_a_laptop_into_postgresql_and_goes_on_after_a_stop(
    postgres_server: Any, tmp_path: Path
) -> None:
    from sabio.store.pg_migrate import migrate_file

    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "etna.md").write_text("Etna erupted in 1669 and Catania was rebuilt.\n")
    (notes / "tide.md").write_text("The tide tables of Cádiz list the spring tides.\n")
    laptop = Sabio(settings)
    try:
        kb = laptop.create_kb("notes")
        laptop.add([notes], "notes")
        ana = laptop.store.users.create_user("ana", "a long enough password", admin=True)
        chat = laptop.store.chats.create_chat("notes", None, "Volcanoes", user_id=ana.id)
        source = laptop.store.sources.add(kb, "folder", str(notes))
        laptop.jobs.enqueue_sync(source.id)
        laptop.store.guides.set_guide(kb.id, Guide(instruction="Answer briefly."))
        laptop.store.set_kb_ocr_languages(kb.id, "spa")
        laptop.store.set_kb_review(kb.id, True)
        laptop.store.feedback.add_feedback(NewFeedback("notes", "When?", "1669", rating=1))
        laptop.store.reviews.dismiss(kb.id, str(notes / "etna.md"), "phone", "f1", by="ana")
        laptop.store.reviews.add_alert(kb.id, str(notes / "tide.md"), {"iban": 1}, "high")
    finally:
        laptop.close()
    url = new_database(postgres_server)
    seen: list[tuple[str, int, int]] = []

    def stop_after_chunks(table: str, done: int, total: int) -> None:
        seen.append((table, done, total))
        if table == "chunk":
            raise _Stop  # as a Ctrl-C would, after the chunks' batch was written

    with pytest.raises(_Stop):
        migrate_file(settings.database_path, url, stop_after_chunks)
    counts = migrate_file(settings.database_path, url, lambda *_: None)
    assert counts["kb"] == 1 and counts["document"] == 2 and counts["chunk"] >= 2
    assert counts["user"] == counts["chat"] == counts["source"] == counts["job"] == 1
    assert counts["kb_guide"] == counts["feedback"] == 1
    assert counts["review_dismissal"] == counts["review_alert"] == 1
    assert ("kb", 1, 1) in seen and ("document", 2, 2) in seen
    assert (
        migrate_file(settings.database_path, url, lambda *_: None) == counts
    )  # again: nothing new
    grown = Sabio(load_settings({"home": tmp_path / "home", "database_url": url}, environ={}))
    try:
        assert grown.search("when did etna erupt", "notes").hits[0].document.endswith("etna.md")
        assert grown.store.users.check_password("ana", "a long enough password") == ana
        assert grown.store.chats.get_chat(chat.id).title == "Volcanoes"
        later = grown.store.chats.create_chat(None, None, "New")  # identities moved past
        assert later.id > chat.id
        assert [j.source_id for j in grown.jobs.recent()] == [source.id]
        assert grown.store.guides.get_guide(kb.id).instruction == "Answer briefly."
        assert grown.get_kb("notes").ocr_languages == "spa"
        assert grown.get_kb("notes").review is True
        assert [f.answer for f in grown.store.feedback.list_feedback()] == ["1669"]
        assert [d.dismissed_by for d in grown.store.reviews.dismissals(kb.id)] == ["ana"]
        assert [a.counts for a in grown.store.reviews.alerts(kb.id)] == [{"iban": 1}]
    finally:
        grown.close()
    with pytest.raises(ConfigError, match="postgresql:// URL"):
        migrate_file(settings.database_path, "sqlite:///x.db", lambda *_: None)


def test_keyword_ranking_is_the_sqlite_index_bm25_and_its_cut_keeps_the_top(
    postgres_server: Any,
) -> None:
    from sabio.chunking import Chunk
    from sabio.index import ChunkIndex
    from sabio.store import FileState
    from sabio.store.pg_documents import PostgresStore
    from sabio.store.pg_ranking import KeywordRanker

    rng = np.random.default_rng(3)
    common = ["cell", "protein", "study", "human", "effect"]
    rare = [f"gene{i}" for i in range(40)]
    texts = [
        " ".join([*rng.choice(common, 6), *rng.choice(rare, 2), *rng.choice(common, 3)])
        for _ in range(400)
    ]
    chunks = [Chunk(t, 0, len(t), None, "", "Context cell") for t in texts]
    vectors = rng.standard_normal((400, 4)).astype(np.float32)
    pg = PostgresStore(new_database(postgres_server))
    sqlite = Store(":memory:")
    try:
        kbs = []
        for store in (pg, sqlite):
            kb = store.create_kb("notes", "fake:words", 4)
            for d in range(4):
                part = slice(d * 100, (d + 1) * 100)
                store.replace_document(
                    kb,
                    FileState(f"/{d}.txt", "h", 1, 1),
                    title=str(d),
                    pages=None,
                    metadata={},
                    chunks=chunks[part],
                    vectors=vectors[part],
                )
            kbs.append(kb)
        index = ChunkIndex(sqlite)
        every = KeywordRanker(per_term=10_000, exact_below=0)  # lists longer than any
        cut = KeywordRanker(per_term=60, rerank=30, exact_below=0)
        for terms in (["gene7", "cell", "protein"], ["gene3", "gene9", "study"], ["cell"]):
            ours = index.keyword_search(kbs[1], terms, 20)
            exact = pg.keyword_search(kbs[0], terms, 20)  # a small kb: every match, exact
            # the same scores for the passages a telling word brings (below: words in
            # every passage, whose idf is FTS5's floor of 1e-6 on both)
            telling = [(c, s) for c, s in ours if s > 1e-3]
            assert [s for _, s in exact[: len(telling)]] == pytest.approx([s for _, s in telling])
            found = dict(exact)  # ties apart (float32 there), passage for passage
            assert all(found.get(c, s) == pytest.approx(s, rel=1e-4) for c, s in telling)
            assert every.search(pg.db, kbs[0], terms, 20)[:5] == exact[:5]
            top = cut.search(pg.db, kbs[0], terms, 10)
            assert top and top[0][0] == ours[0][0]  # the rare word's passages: first
            # each list cut at 60 of 400: those ranked get their exact BM25 all the same
            scored = dict(every.search(pg.db, kbs[0], terms, 400))
            assert all(s == pytest.approx(scored[c], rel=1e-4) for c, s in top)
            if terms[0].startswith("gene"):
                assert len({c for c, _ in top} & {c for c, _ in exact[:10]}) >= 9
        assert len(cut.search(pg.db, kbs[0], ["cell"], 500)) <= 60  # a common word: its list
        # a word in at most ``whole`` of the passages is read whole, past ``per_term``
        held = {c for c, _ in every.search(pg.db, kbs[0], ["context"], 500)}
        assert len(held) == 400  # in every passage's context
        wide = KeywordRanker(per_term=60, rerank=30, exact_below=0, whole=1.0)
        assert {c for c, _ in wide.search(pg.db, kbs[0], ["context"], 500)} == held
        narrow = KeywordRanker(per_term=60, rerank=30, exact_below=0, whole=0.5)
        assert len(narrow.search(pg.db, kbs[0], ["context"], 500)) <= 60
    finally:
        pg.close()
        sqlite.close()


def _passages(store: Any, kb: Any, name: str, texts: list[str]) -> None:
    from sabio.chunking import Chunk
    from sabio.store import FileState

    store.replace_document(
        kb,
        FileState(name, "h", 1, 1),
        title=name,
        pages=None,
        metadata={},
        chunks=[Chunk(t, 0, len(t), None, "", "Notas") for t in texts],
        vectors=np.ones((len(texts), 4), np.float32),
    )


def test_postings_are_written_and_dropped_with_their_passages(postgres_server: Any) -> None:
    from sabio.store.pg_documents import PostgresStore

    store = PostgresStore(new_database(postgres_server))
    try:
        kb = store.create_kb("notes", "fake:words", 4)
        other = store.create_kb("other", "fake:words", 4)

        def postings(kb_id: int) -> list[tuple[str, float, float]]:
            return [
                (str(r[0]), float(r[1]), float(r[2]))
                for r in store.db.execute(
                    "SELECT term, tf / 2.0, length FROM posting WHERE kb_id = ?"  # tf doubled
                    " ORDER BY term, tf, length",
                    (kb_id,),
                )
            ]

        _passages(store, kb, "/a.txt", ["Las canciones de Cádiz", "cadiz cadiz"])
        _passages(store, other, "/b.txt", ["Cádiz"])
        assert postings(kb.id) == [  # (word, frequency, the passage's length)
            ("cadiz", 1.0, 5.0),  # accents folded, any case
            ("cadiz", 2.0, 3.0),
            ("cancione", 1.0, 5.0),  # the plural's -s off, as sabio.terms.tokens does
            ("de", 1.0, 5.0),
            ("las", 1.0, 5.0),
            ("nota", 0.5, 3.0),  # the context ("Notas") at half weight
            ("nota", 0.5, 5.0),
        ]
        _passages(store, kb, "/a.txt", ["Otra canción"])  # replaced: its postings too
        assert [t for t, _, _ in postings(kb.id)] == ["cancion", "nota", "otra"]
        store.delete_documents(kb, [store.get_document(kb.id, "/a.txt").id])
        assert postings(kb.id) == []
        assert [t for t, _, _ in postings(other.id)] == ["cadiz", "nota"]
        store.delete_kb(other)
        assert postings(other.id) == []
    finally:
        store.close()


def test_a_vector_is_written_as_text_that_gives_the_same_float32_back() -> None:
    from sabio.store.pg_documents import vector_text

    rows = np.random.default_rng(5).standard_normal((50, 384)).astype(np.float32)
    rows[0, :3] = [1e-38, -3.4e38, 0.0]
    for row in rows:
        text = vector_text(row)
        assert text[0] == "[" and text[-1] == "]"
        assert np.array_equal(np.array(text[1:-1].split(","), dtype=np.float32), row)


def test_postings_are_sqlites_tokens_written_by_copy(postgres_server: Any) -> None:
    """Postings are made from the same tokens as SQLite's index (PostgreSQL's own parser
    kept "3.5" and "covid-19" whole, so a question's "3" missed them) and written by
    COPY, a blob of a word too long for a B-tree entry left out, and ``sabio migrate``'s
    copy writes the same postings as ``replace_document``."""
    from sabio.store.pg_documents import PostgresStore
    from sabio.store.pg_migrate import migrate_to_postgres
    from sabio.store.pg_ranking import MAX_TERM

    texts = ["dose of 3.5 mg", "covid-19 cases", "x" * 3000 + " blob", "plain words"]
    sqlite = Store(Path(tempfile.mkdtemp(prefix="sabio-pg-copy-")) / "s.db")
    store = PostgresStore(new_database(postgres_server))
    copied = PostgresStore(new_database(postgres_server))
    try:
        kb = store.create_kb("notes", "fake:words", 4)
        _passages(store, kb, "/a.txt", texts)
        _passages(sqlite, sqlite.create_kb("notes", "fake:words", 4), "/a.txt", texts)
        migrate_to_postgres(sqlite, copied, lambda *_: None)
        ids = store.chunk_ids(kb.id).tolist()
        assert [c for c, _ in store.keyword_search(kb, ["3"], 10)] == [ids[0]]
        assert [c for c, _ in store.keyword_search(kb, ["19"], 10)] == [ids[1]]
        assert [c for c, _ in store.keyword_search(kb, ["blob"], 10)] == [ids[2]]
        assert store.db.execute("SELECT max(length(term)) FROM posting").fetchone()[0] <= MAX_TERM
        rows = "SELECT chunk_id, term, tf, length, impact FROM posting ORDER BY chunk_id, term"
        assert [tuple(r) for r in store.db.execute(rows).fetchall()] == [
            tuple(r) for r in copied.db.execute(rows).fetchall()
        ]
    finally:
        store.close()
        copied.close()
        sqlite.close()


_INSERT_CHUNKS_5 = """INSERT INTO chunk(document_id, kb_id, ord, page, start, "end", heading,
        context, text, vector, words)
    SELECT ?, ?, r.ord, r.page, r.start, r.stop, r.heading, r.context, r.text, r.v::vector,
           setweight(to_tsvector('simple', r.cw), 'B')
           || setweight(to_tsvector('simple', r.tw), 'A')
    FROM unnest(?::int[], ?::int[], ?::int[], ?::int[], ?::text[], ?::text[], ?::text[],
                ?::text[], ?::text[], ?::text[])
         WITH ORDINALITY AS r(ord, page, start, stop, heading, context, text, v, cw, tw, n)
    ORDER BY r.n"""
"""Chunks as schema 5 wrote them (with their words as a ``tsvector``)."""


def test_migrations_6_and_7_fill_and_shrink_the_postings_of_existing_passages(
    postgres_server: Any,
) -> None:
    """A schema 5 database (chunks with a ``tsvector``) gets its postings from it
    (migration 6), then the smaller rows (migration 7): the same BM25 as a new database."""
    import psycopg

    from sabio.store.pg_documents import PostgresStore, vector_text
    from sabio.store.pg_schema import PG_MIGRATIONS
    from sabio.store.postgres import PostgresDatabase
    from sabio.terms import tokens

    texts = [
        f"passage {i} about {'la canción' if i % 10 == 3 else 'rocks'} {i % 7}" for i in range(60)
    ]
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS sabio_schema_5")
        admin.execute("CREATE DATABASE sabio_schema_5")
    url = str(postgres_server.get_uri("sabio_schema_5"))
    old = PostgresDatabase(url, [m for m in PG_MIGRATIONS if m[0] <= 5])  # the last release's
    try:
        with old.transaction() as db:
            db.execute(
                "INSERT INTO kb(id, name, slug, embedding_model, dimension, created_at)"
                " VALUES (1, 'notes', 'notes', 'fake:words', 4, 0)"
            )
            db.execute(
                "INSERT INTO document(id, kb_id, source, title, content_hash, size, mtime_ns,"
                " status, chunk_count, added_at, updated_at)"
                " VALUES (1, 1, '/a.txt', 'a', 'h', 1, 1, 'indexed', 60, 0, 0)"
            )
            db.execute(
                _INSERT_CHUNKS_5,
                (
                    1,
                    1,
                    list(range(60)),
                    [None] * 60,
                    [0] * 60,
                    [len(t) for t in texts],
                    [""] * 60,
                    ["Notas"] * 60,
                    texts,
                    [vector_text(np.ones(4, np.float32))] * 60,
                    [" ".join(tokens("Notas"))] * 60,
                    [" ".join(tokens(t)) for t in texts],
                ),
            )
    finally:
        old.close()
    six = PostgresDatabase(url, [m for m in PG_MIGRATIONS if m[0] <= 6])  # postings from them
    try:
        assert six.db.execute("SELECT count(*) FROM posting").fetchone()[0] > 60 * 4
        before = six.db.execute("SELECT term, chunk_id, tf, length FROM posting").fetchall()
    finally:
        six.close()
    migrated = PostgresStore(url)  # migration 7 runs: the smaller rows
    after = migrated.db.execute("SELECT term, chunk_id, tf, length FROM posting").fetchall()
    assert sorted((t, c, 2 * f, int(n)) for t, c, f, n in before) == sorted(
        (t, c, f, n) for t, c, f, n in after
    )  # every posting kept, its frequency doubled into a smallint
    no_words = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'chunk'"
    assert migrated.db.execute(no_words + " AND column_name = 'words'").fetchone()[0] == 0
    fresh = PostgresStore(new_database(postgres_server))
    try:
        kb = fresh.create_kb("notes", "fake:words", 4)
        _passages(fresh, kb, "/a.txt", texts)
        for terms in (["cancion"], ["rocks", "3"], ["passage", "nota", "5"]):
            ours = migrated.keyword_search(migrated.get_kb("notes"), terms, 10)
            theirs = fresh.keyword_search(kb, terms, 10)
            assert ours and [s for _, s in ours] == pytest.approx([s for _, s in theirs])
            first = migrated.chunk_ids(1).tolist()
            assert [first.index(c) for c, _ in ours] == [
                fresh.chunk_ids(kb.id).tolist().index(c) for c, _ in theirs
            ]
        words = sum(len(tokens(t)) + 1 for t in texts)  # each passage's words and "Notas"
        assert migrated.db.execute("SELECT word_count FROM document").fetchone()[0] == words
    finally:
        migrated.close()
        fresh.close()


def test_a_paired_models_part_query_gets_the_same_scores_as_on_sqlite(
    postgres_server: Any,
) -> None:
    """One part of a paired model (sabio.models.paired) searches with a query that is not
    unit-length: PostgreSQL's cosine is rescaled to the dot product the in-process index
    gives, so the topic gate's floors mean the same on both backends."""
    from sabio.chunking import Chunk
    from sabio.ranking import DatabaseIndex
    from sabio.store import FileState
    from sabio.store.pg_documents import PostgresStore

    store = PostgresStore(new_database(postgres_server))
    try:
        kb = store.create_kb("pair", "fake:pair", 8)
        rng = np.random.default_rng(3)
        halves = rng.standard_normal((40, 2, 4)).astype(np.float32)
        halves /= np.linalg.norm(halves, axis=2, keepdims=True)
        rows = (halves.reshape(40, 8) / np.sqrt(2)).astype(np.float32)  # as PairedModel
        texts = [f"passage {i}" for i in range(40)]
        store.replace_document(
            kb,
            FileState("/p.txt", "h", 1, 1),
            title="p",
            pages=None,
            metadata={},
            chunks=[Chunk(t, 0, len(t), None, "", "") for t in texts],
            vectors=rows,
        )
        ids = store.chunk_ids(kb.id).tolist()
        query = np.zeros(8, dtype=np.float32)
        query[4:] = halves[7, 1] * np.sqrt(2)  # the second part alone, as part_query
        found = DatabaseIndex(store, store).vector_search(kb, query, 5)
        cosines = halves[:, 1] @ halves[7, 1]
        assert [cid for cid, _ in found] == [ids[i] for i in np.argsort(-cosines)[:5]]
        assert [s for _, s in found] == pytest.approx(sorted(cosines)[::-1][:5], abs=1e-4)
    finally:
        store.close()
