"""Numbered migrations: a database of the last release before them (tests/fixtures/
schema_5.sql, dumped from a database that release made) upgrades with its data, every
migration runs once, and opening again changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sabio.chats import ChatStore
from sabio.errors import ConflictError
from sabio.jobs import JobQueue
from sabio.sources import SourceStore
from sabio.store import SCHEMA_VERSION, Store
from sabio.store.connection import Database
from sabio.store.migrations import LEGACY_SCHEMA, Migration, migration
from sabio.store.schema import MIGRATIONS
from sabio.users import UserStore

FIXTURES = Path(__file__).parent / "fixtures"


def _old_database(tmp_path: Path) -> Path:
    path = tmp_path / "sabio.db"
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "schema_5.sql").read_text(encoding="utf-8"))
    db.close()
    return path


def _recorded(store: Database) -> list[tuple[int, str, float]]:
    return [tuple(r) for r in store.db.execute("SELECT * FROM _migrations ORDER BY number")]


def test_a_database_of_the_release_before_keeps_its_data(tmp_path: Path) -> None:
    store = Store(_old_database(tmp_path))
    try:
        [kb] = store.list_kbs()
        assert (kb.name, kb.slug, kb.documents, kb.chunks) == (
            "Notas de campo",
            "notas-de-campo",
            2,
            2,
        )
        etna = store.get_document(kb.id, "etna.md")
        assert (etna.status, etna.metadata, etna.chunk_count) == ("indexed", {"author": "Ana"}, 2)
        assert store.get_document(kb.id, "scan.pdf").status == "needs_ocr"
        passage = store.passage(kb.id, int(store.chunk_ids(kb.id)[0]))
        assert passage is not None and passage.chunk.text.startswith("El Etna")
        assert passage.after == "Catania fue reconstruida."
        users = UserStore(store)
        ana = users.check_password("ana", "correct horse")
        assert ana is not None and ana.admin
        bob = users.get_user("bob")
        assert users.kb_access(bob.id, kb.id) == "read"
        assert [t.name for t in users.list_tokens(ana.id)] == ["n8n"]
        [chat] = ChatStore(store).list_chats()
        full = ChatStore(store).get_chat(chat.id)
        assert [m.content for m in full.messages][-2:] == [
            "¿Y después?",
            "Catania fue reconstruida.",
        ]
        assert [m.parent_id for m in full.messages] == [None, 1, 2, 3]
        [source] = SourceStore(store).find(kb.id)
        assert (source.kind, source.location, source.interval_s) == ("folder", "/notas", 3600.0)
        assert [j.kind for j in JobQueue(store).recent(source.id)] == ["sync"]
        assert store.integrity_problems() == []
    finally:
        store.close()


def test_the_release_before_is_recorded_as_migrated_and_nothing_runs_again(
    tmp_path: Path,
) -> None:
    path = _old_database(tmp_path)
    store = Store(path)
    first = _recorded(store)
    store.close()
    assert [(n, name) for n, name, _ in first] == [(m.number, m.name) for m in MIGRATIONS]
    with sqlite3.connect(path) as db:
        before = db.execute("PRAGMA data_version").fetchone()[0]
        store = Store(path)
        try:
            assert _recorded(store) == first
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            store.close()
        assert db.execute("PRAGMA data_version").fetchone()[0] == before  # not a write


def test_a_new_migration_runs_once_over_an_old_database(tmp_path: Path) -> None:
    calls: list[int] = []

    @migration(SCHEMA_VERSION + 1)
    def add_document_language(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("ALTER TABLE document ADD COLUMN language TEXT NOT NULL DEFAULT ''")

    path = _old_database(tmp_path)
    newer = (*MIGRATIONS, add_document_language)
    for _ in range(2):
        db = Database(path, newer)
        assert _recorded(db)[-1][:2] == (SCHEMA_VERSION + 1, "add_document_language")
        db.close()
    assert calls == [1]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT DISTINCT language FROM document").fetchall() == [("",)]
    raw.close()
    with pytest.raises(ConflictError, match="newer Sabio"):
        Store(path)  # this release does not know the migration after its last


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE document ADD COLUMN language TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    path = _old_database(tmp_path)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        Database(path, (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, "broken", broken)))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LEGACY_SCHEMA  # the fixture's
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        columns = {r[1] for r in raw.execute("PRAGMA table_info(document)")}
    raw.close()
    assert "_migrations" not in tables and "language" not in columns
    store = Store(path)  # and the next start upgrades it
    try:
        assert len(_recorded(store)) == SCHEMA_VERSION
        # schema 9: every message may keep a chart, none for the old ones
        assert {r[0] for r in store.db.execute("SELECT DISTINCT chart FROM message")} <= {""}
        assert "chart" in {r[1] for r in store.db.execute("PRAGMA table_info(message)")}
        # schema 12: every answer may keep how it was made, none for the old ones
        assert {r[0] for r in store.db.execute("SELECT DISTINCT route FROM message")} <= {""}
    finally:
        store.close()


def test_a_new_database_has_every_migration_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.db")
    try:
        assert [r[0] for r in _recorded(store)] == list(range(1, SCHEMA_VERSION + 1))
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def test_the_release_before_gains_the_reviews_dismissals_and_alerts(tmp_path: Path) -> None:
    store = Store(_old_database(tmp_path))
    try:
        [kb] = store.list_kbs()
        assert store.reviews.dismissals(kb.id) == [] and store.reviews.alerts(kb.id) == []
        store.reviews.dismiss(kb.id, "etna.md", "phone", "f1")
        assert [d.key for d in store.reviews.dismissals(kb.id)] == [("etna.md", "phone", "f1")]
        assert (10, "create_review_tables") in [r[:2] for r in _recorded(store)]
    finally:
        store.close()
