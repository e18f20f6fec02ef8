"""The tests any store backend must pass (:class:`sabio.store.backend.StoreBackend`).

The shape of haystack's ``testing/document_store.py``: classes of tests over a
``backend`` fixture, which a backend's own test module gives, then inherits them all::

    class TestPostgresStore(StoreContract):
        @pytest.fixture
        def backend(self, tmp_path): ...  # a new, empty backend; closed after the test

See tests/test_store_contract.py for SQLite.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sabio.chunking import Chunk
from sabio.errors import ConfigError, ConflictError, NotFoundError
from sabio.store import (
    FileState,
    Guide,
    ItemUpdate,
    KnowledgeBase,
    NewFeedback,
    Placement,
    StoreBackend,
)

DIMENSION = 4
PASSWORD = "a long enough password"


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

    def test_a_knowledge_base_keeps_its_own_ocr_languages(self, backend: StoreBackend) -> None:
        made = backend.create_kb("escaneos", "fake:words", DIMENSION)
        other = backend.create_kb("otra", "fake:words", DIMENSION)
        assert made.ocr_languages == ""
        backend.set_kb_ocr_languages(made.id, "spa+eng")
        assert backend.get_kb("escaneos").ocr_languages == "spa+eng"
        assert [(k.name, k.ocr_languages) for k in backend.list_kbs()] == [
            ("escaneos", "spa+eng"),
            ("otra", ""),
        ]
        backend.set_kb_ocr_languages(made.id, "")
        assert backend.get_kb("escaneos").ocr_languages == ""
        assert backend.get_kb("otra") == other

    def test_a_knowledge_base_reviews_its_uploads_when_told(self, backend: StoreBackend) -> None:
        made = backend.create_kb("correo", "fake:words", DIMENSION)
        other = backend.create_kb("otra", "fake:words", DIMENSION)
        assert made.review is False
        backend.set_kb_review(made.id, True)
        assert backend.get_kb("correo").review is True
        assert [(k.name, k.review) for k in backend.list_kbs()] == [
            ("correo", True),
            ("otra", False),
        ]
        backend.set_kb_review(made.id, False)
        assert backend.get_kb("correo").review is False
        assert backend.get_kb("otra") == other

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

    def test_a_document_is_read_back_as_written_and_the_index_can_be_renewed(
        self, backend: StoreBackend
    ) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        doc_id = _write(backend, kb, "/a.txt", ["one", "two"])
        _write(backend, kb, "/b.txt", ["elsewhere"])
        assert backend.document_passages(kb.id, doc_id) == _chunks("one", "two")
        assert backend.document_vectors(kb.id, doc_id).tolist() == _vectors(2).tolist()
        other = backend.create_kb("other", "fake:words", DIMENSION)
        assert backend.document_passages(other.id, doc_id) == []
        assert backend.document_vectors(other.id, doc_id).shape[0] == 0
        generation, epoch = backend.kb_versions(kb.id)
        backend.renew_index(kb.id)
        assert backend.kb_versions(kb.id) == (generation + 1, epoch + 1)
        assert backend.kb_versions(other.id)[1] == 0

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


@dataclass
class _Answer:
    """What a chat keeps of an answer (:class:`sabio.store.chats.SavedAnswer`)."""

    question: str
    text: str
    complete: bool = True
    stopped: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    route: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"citations": self.citations, "claims": [], "route": self.route}


class ChatContract:
    def test_a_chat_keeps_its_exchanges_and_takes_its_first_question_as_title(
        self, backend: StoreBackend
    ) -> None:
        chat = backend.chats.create_chat("notes", None, None)
        assert chat.title == "" and chat.messages == []
        cited = [{"number": 1, "document": "a.txt"}]
        route = {"kind": "map-reduce", "task": "summarize", "tokens": 6950, "parts": 4}
        assert backend.chats.save_exchange(
            chat.id, _Answer("What is it?", "It is.", citations=cited, route=route)
        )
        assert backend.chats.save_exchange(chat.id, _Answer("And then?", "Then", complete=False))
        got = backend.chats.get_chat(chat.id)
        assert got.title == "What is it?"
        assert [(m.role, m.content) for m in got.messages] == [
            ("user", "What is it?"),
            ("assistant", "It is."),
            ("user", "And then?"),
            ("assistant", "Then"),
        ]
        assert got.messages[1].citations == cited and not got.messages[3].complete
        assert got.messages[1].route == route and got.messages[3].route == {}  # how each was made
        assert [(t.question, t.answer) for t in got.history()] == [("What is it?", "It is.")]
        assert backend.chats.count_chats("notes") == 1

    def test_an_answer_asked_again_is_a_version_and_the_branch_can_switch(
        self, backend: StoreBackend
    ) -> None:
        chat = backend.chats.create_chat(None, "fake:cite", "Mine")
        backend.chats.save_exchange(chat.id, _Answer("Q", "first"))
        question = backend.chats.get_chat(chat.id).messages[0]
        again = Placement(question.parent_id, question_id=question.id)
        backend.chats.save_exchange(chat.id, _Answer("Q", "second"), again)
        shown = backend.chats.get_chat(chat.id)
        assert shown.title == "Mine" and shown.messages[-1].content == "second"
        first, second = (m.id for m in shown.tree if m.role == "assistant")
        assert shown.messages[-1].versions == [first, second]
        back = backend.chats.show_branch(chat.id, first)
        assert back.messages[-1].content == "first" and len(back.tree) == 3

    def test_chats_are_found_by_words_newest_first_and_only_by_their_owner(
        self, backend: StoreBackend
    ) -> None:
        mine = backend.chats.create_chat(None, None, "Lighthouse notes", user_id=1)
        backend.chats.create_chat(None, None, "100% sure_thing", user_id=2)
        later = backend.chats.create_chat(None, None, "Other", user_id=1)
        backend.chats.save_exchange(later.id, _Answer("Where is the LIGHTHOUSE?", "North."))
        assert [c.id for c in backend.chats.list_chats(user_id=1)] == [later.id, mine.id]
        assert [c.id for c in backend.chats.list_chats("lighthouse", user_id=1)] == [
            later.id,
            mine.id,
        ]
        assert [c.title for c in backend.chats.list_chats("0% s")] == ["100% sure_thing"]
        assert backend.chats.list_chats("e_n") == []  # _ and % are no wildcards: "e n" is not
        with pytest.raises(NotFoundError):
            backend.chats.get_chat(mine.id, user_id=2)
        with pytest.raises(NotFoundError):
            backend.chats.delete_chat(mine.id, user_id=2)

    def test_a_chat_is_changed_renamed_and_deleted(self, backend: StoreBackend) -> None:
        chat = backend.chats.create_chat("notes", None, "Old")
        changed = backend.chats.update_chat(chat.id, {"kb_name": None, "model": "fake:cite"})
        assert (changed.kb_name, changed.model, changed.title) == (None, "fake:cite", "Old")
        assert backend.chats.rename_chat(chat.id, "  New   name ").title == "New name"
        with pytest.raises(ConfigError):
            backend.chats.rename_chat(chat.id, "   ")
        backend.chats.delete_chat(chat.id)
        with pytest.raises(NotFoundError):
            backend.chats.get_chat(chat.id)
        assert not backend.chats.save_exchange(chat.id, _Answer("Q", "A"))

    def test_a_chat_outlives_its_knowledge_base_when_kept(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        chat = backend.chats.create_chat("notes", None, "About notes")
        assert backend.chats.get_chat(chat.id).kb_available
        backend.delete_kb(kb)
        kept = backend.chats.get_chat(chat.id)
        assert kept.kb_name == "notes" and not kept.kb_available


class UserContract:
    def test_the_first_account_is_an_admin_and_takes_over_the_local_chats(
        self, backend: StoreBackend
    ) -> None:
        local = backend.chats.create_chat(None, None, "Before accounts")
        assert not backend.users.has_users()
        with pytest.raises(ConfigError):
            backend.users.create_user("ana", PASSWORD)  # the first must be an admin
        ana = backend.users.create_user("ana", PASSWORD, admin=True, first=True)
        assert backend.users.has_users() and ana.admin
        assert [c.id for c in backend.chats.list_chats(user_id=ana.id)] == [local.id]
        with pytest.raises(ConflictError):
            backend.users.create_user("luis", PASSWORD, first=True)
        with pytest.raises(ConflictError):
            backend.users.create_user("ANA", PASSWORD)  # names ignore case
        luis = backend.users.create_user("luis", PASSWORD)
        assert [u.name for u in backend.users.list_users()] == ["ana", "luis"]
        assert backend.users.get_user("luis") == backend.users.user_by_id(luis.id) == luis

    def test_a_password_is_checked_and_changing_it_ends_the_other_sessions(
        self, backend: StoreBackend
    ) -> None:
        ana = backend.users.create_user("ana", PASSWORD, admin=True)
        assert backend.users.check_password("ana", PASSWORD) == ana
        assert backend.users.check_password("ana", "wrong password") is None
        assert backend.users.check_password("nobody", PASSWORD) is None
        kept, kept_token = backend.users.create_session(ana.id)
        _, other_token = backend.users.create_session(ana.id)
        found = backend.users.find_session(kept_token)
        assert found is not None and found.user == ana and found.csrf_token
        backend.users.set_password(ana.id, "a new long password", keep_session=kept.id)
        assert backend.users.find_session(other_token) is None
        assert backend.users.find_session(kept_token) is not None
        assert backend.users.check_password("ana", "a new long password") == ana
        backend.users.end_session(kept.id)
        assert backend.users.find_session(kept_token) is None

    def test_an_api_token_is_found_by_itself_only_and_revoked_by_its_owner(
        self, backend: StoreBackend
    ) -> None:
        ana = backend.users.create_user("ana", PASSWORD, admin=True)
        luis = backend.users.create_user("luis", PASSWORD)
        record, token = backend.users.create_token(luis.id, "  backup   script ")
        assert token.startswith("sabio_") and record.name == "backup script"
        assert backend.users.find_token(token) == (luis, record)
        assert backend.users.find_token(token + "x") is None
        backend.users.touch_token(record.id)
        used = backend.users.list_tokens(luis.id)[0].last_used_at
        assert used is not None and used >= record.created_at
        with pytest.raises(NotFoundError):
            backend.users.delete_token(ana.id, record.id)
        backend.users.delete_token(luis.id, record.id)
        assert backend.users.find_token(token) is None and backend.users.list_tokens(luis.id) == []

    def test_members_are_given_access_and_the_last_admin_stays(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        ana = backend.users.create_user("ana", PASSWORD, admin=True)
        luis = backend.users.create_user("luis", PASSWORD)
        backend.users.set_kb_access(luis.id, kb.id, "read")
        backend.users.set_kb_access(luis.id, kb.id, "write")
        assert backend.users.kb_access(luis.id, kb.id) == "write"
        assert backend.users.kb_accesses(luis.id) == {kb.id: "write"}
        assert backend.users.kb_members(kb.id) == [(luis, "write")]
        with pytest.raises(ConflictError):
            backend.users.set_kb_access(ana.id, kb.id, "read")  # an admin has every access
        with pytest.raises(ConfigError):
            backend.users.set_kb_access(luis.id, kb.id, "admin")
        backend.users.set_kb_access(luis.id, kb.id, None)
        assert backend.users.kb_access(luis.id, kb.id) is None
        with pytest.raises(ConflictError):
            backend.users.delete_user(ana.id)
        chat = backend.chats.create_chat(None, None, "Luis's", user_id=luis.id)
        backend.users.delete_user(luis.id)
        with pytest.raises(NotFoundError):
            backend.users.user_by_id(luis.id)
        with pytest.raises(NotFoundError):
            backend.chats.get_chat(chat.id)  # an account's chats go with it
        assert backend.integrity_problems() == []


class SourceContract:
    def test_a_source_is_added_once_found_and_removed(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        other = backend.create_kb("mail", "fake:words", DIMENSION)
        folder = backend.sources.add(kb, "folder", "/docs", options={"glob": "*.md"})
        mailbox = backend.sources.add(other, "imap", "ana@mail", secret=b"sealed", interval_s=60)
        assert folder.kb_name == "notes" and folder.options == {"glob": "*.md"}
        assert not folder.has_secret and mailbox.has_secret
        assert backend.sources.secret(mailbox.id) == b"sealed"
        assert backend.sources.secret(folder.id) is None
        assert backend.sources.holds_secrets()
        assert not backend.sources.holds_secrets(except_kinds=["imap"])
        with pytest.raises(ConflictError):
            backend.sources.add(kb, "folder", "/docs")
        assert [s.id for s in backend.sources.find()] == [folder.id, mailbox.id]
        assert [s.id for s in backend.sources.find(other.id)] == [mailbox.id]
        backend.sources.save_state(mailbox.id, {"uid": 42})
        assert backend.sources.get(mailbox.id).state == {"uid": 42}
        backend.sources.remove(folder.id)
        with pytest.raises(NotFoundError):
            backend.sources.get(folder.id)
        backend.delete_kb(other)  # its sources go with it
        assert backend.sources.find() == []

    def test_a_sync_schedules_the_next_one(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        hourly = backend.sources.add(kb, "url", "https://example.org/", interval_s=3600)
        backend.sources.synced(hourly, "timed out")
        synced = backend.sources.get(hourly.id)
        assert synced.last_error == "timed out" and synced.last_sync_at is not None
        assert synced.next_sync_at == pytest.approx(synced.last_sync_at + 3600)
        assert backend.sources.due(synced.last_sync_at + 1) == []
        assert [s.id for s in backend.sources.due(synced.last_sync_at + 3601)] == [hourly.id]
        backend.sources.schedule(hourly.id, None)
        assert backend.sources.due(synced.last_sync_at + 3601) == []

    def test_items_keep_what_became_of_them(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        source = backend.sources.add(kb, "folder", "/docs")
        backend.sources.record(
            source.id,
            [
                ItemUpdate("a.txt", "indexed", "added", title="A", document_id=1, etag="e1"),
                ItemUpdate("b.pdf", "failed", "not_indexed", reason="damaged"),
                ItemUpdate("c.png", "needs_ocr", "not_indexed"),
            ],
        )
        first = backend.sources.item(source.id, "a.txt")
        assert first is not None and (first.title, first.etag, first.document_id) == ("A", "e1", 1)
        backend.sources.record(
            source.id,
            [
                ItemUpdate("a.txt", "indexed", "unchanged"),  # title, etag, document kept
                ItemUpdate("b.pdf", "failed", "not_indexed", reason="still damaged"),
            ],
        )
        again = backend.sources.item(source.id, "a.txt")
        assert again is not None and (again.title, again.etag, again.document_id) == ("A", "e1", 1)
        assert again.changed_at == first.changed_at and again.checked_at >= first.checked_at
        failed = backend.sources.item(source.id, "b.pdf")
        assert failed is not None and failed.attempts == 2 and failed.reason == "still damaged"
        assert backend.sources.item(source.id, "nothing") is None
        assert [i.key for i in backend.sources.items(source.id)] == ["a.txt", "b.pdf", "c.png"]
        assert [i.key for i in backend.sources.items(source.id, limit=2)] == ["b.pdf", "c.png"]
        assert [i.key for i in backend.sources.items(source.id, limit=2, offset=2)] == ["a.txt"]
        assert backend.sources.counts(source.id) == {"unchanged": 1, "failed": 1, "needs OCR": 1}

    def test_removed_items_are_forgotten_after_a_while(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("notes", "fake:words", DIMENSION)
        source = backend.sources.add(kb, "folder", "/docs")
        backend.sources.record(source.id, [ItemUpdate("gone.txt", "removed", "removed")])
        seen = backend.sources.item(source.id, "gone.txt")
        assert seen is not None
        backend.sources.forget_removed(source.id, older_than=seen.checked_at)
        assert backend.sources.item(source.id, "gone.txt") is not None
        backend.sources.forget_removed(source.id, older_than=seen.checked_at + 1)
        assert backend.sources.items(source.id) == []


class FeedbackContract:
    def test_a_judgement_keeps_its_question_and_answer_and_outlives_its_chat(
        self, backend: StoreBackend
    ) -> None:
        chat = backend.chats.create_chat("notes", None, None)
        backend.chats.save_exchange(chat.id, _Answer("How long is the notice?", "30 days."))
        answer = backend.chats.get_chat(chat.id).messages[1]
        new = NewFeedback("notes", "How long is the notice?", "30 days.", rating=-1,
                          reason=" outdated ", chat_id=chat.id, message_id=answer.id)  # fmt: skip
        made = backend.feedback.add_feedback(new)
        assert (made.rating, made.reason, made.is_note) == (-1, "outdated", False)
        assert backend.feedback.list_feedback(message_id=answer.id) == [made]
        backend.chats.delete_chat(chat.id)
        kept = backend.feedback.get_feedback(made.id)
        assert (kept.chat_id, kept.message_id, kept.question) == (None, None, made.question)

    def test_notes_are_corrections_listed_edited_and_removed(self, backend: StoreBackend) -> None:
        rated = backend.feedback.add_feedback(NewFeedback("notes", "Q", "A", rating=1))
        note = backend.feedback.add_feedback(
            NewFeedback("notes", "Q", "A", correction="60 days, not 30", author="ana")
        )
        backend.feedback.add_feedback(NewFeedback("other", "Q", "A", correction="elsewhere"))
        assert [f.id for f in backend.feedback.list_feedback("notes")] == [rated.id, note.id]
        assert [f.id for f in backend.feedback.list_feedback("notes", notes=True)] == [note.id]
        edited = backend.feedback.update_feedback(
            note.id, {"correction": "90 days", "status": "pending"}
        )
        assert (edited.correction, edited.status, edited.author) == ("90 days", "pending", "ana")
        with pytest.raises(ConfigError, match="remove it instead"):
            backend.feedback.update_feedback(note.id, {"correction": "  "})
        assert backend.feedback.get_feedback(note.id).correction == "90 days"
        assert backend.feedback.delete_feedback(note.id).correction == "90 days"
        with pytest.raises(NotFoundError, match="sabio notes list"):
            backend.feedback.get_feedback(note.id)
        backend.feedback.forget_kb("notes")
        assert [f.kb_name for f in backend.feedback.list_feedback()] == ["other"]

    def test_feedback_that_says_nothing_or_too_much_is_refused(self, backend: StoreBackend) -> None:
        with pytest.raises(ConfigError, match="needs a rating"):
            backend.feedback.add_feedback(NewFeedback("notes", "Q", "A", reason="  "))
        with pytest.raises(ConfigError, match="rating is 1"):
            backend.feedback.add_feedback(NewFeedback("notes", "Q", "A", rating=5))
        with pytest.raises(ConfigError, match="keep it under"):
            backend.feedback.add_feedback(NewFeedback("notes", "Q", "A", correction="x" * 5000))
        assert backend.feedback.list_feedback() == []


class GuideContract:
    def test_a_guide_is_kept_replaced_and_goes_with_its_knowledge_base(
        self, backend: StoreBackend
    ) -> None:
        kb = backend.create_kb("legal", "fake:words", DIMENSION)
        assert backend.guides.get_guide(kb.id) == Guide() and not Guide()
        guide = Guide(" Formal Spanish. ", (("notice", "preaviso"),), (("Q?", "A [1]."),))
        kept = backend.guides.set_guide(kb.id, guide)
        assert kept == Guide("Formal Spanish.", (("notice", "preaviso"),), (("Q?", "A [1]."),))
        assert backend.guides.set_guide(kb.id, Guide("Short.")) == Guide("Short.")
        with pytest.raises(ConfigError, match="both of its halves"):
            backend.guides.set_guide(kb.id, Guide("x", (("term", " "),)))
        assert backend.guides.get_guide(kb.id) == Guide("Short.")
        backend.delete_kb(kb)
        again = backend.create_kb("legal", "fake:words", DIMENSION)
        assert backend.guides.get_guide(again.id) == Guide()


class ReviewContract:
    def test_a_dismissed_finding_stays_dismissed_until_restored(
        self, backend: StoreBackend
    ) -> None:
        kb = backend.create_kb("mail", "fake:words", DIMENSION)
        other = backend.create_kb("notes", "fake:words", DIMENSION)
        first = backend.reviews.dismiss(kb.id, "/m/a.eml", "phone", "f1", reason="our switchboard")
        assert first.key == ("/m/a.eml", "phone", "f1") and first.reason == "our switchboard"
        again = backend.reviews.dismiss(kb.id, "/m/a.eml", "phone", "f1", by="ana")
        assert again.reason == "" and again.dismissed_by == "ana"
        backend.reviews.dismiss(kb.id, "/m/b.eml", "iban", "f2")
        assert [d.key for d in backend.reviews.dismissals(kb.id)] == [
            ("/m/a.eml", "phone", "f1"),
            ("/m/b.eml", "iban", "f2"),
        ]
        assert backend.reviews.dismissals(other.id) == []
        assert backend.reviews.restore(kb.id, "/m/a.eml", "phone", "f1")
        assert not backend.reviews.restore(kb.id, "/m/a.eml", "phone", "f1")
        assert [d.key for d in backend.reviews.dismissals(kb.id)] == [("/m/b.eml", "iban", "f2")]
        backend.delete_kb(kb)  # its dismissals go with it
        assert backend.reviews.dismissals(kb.id) == []

    def test_one_arriving_document_is_reviewed_alone(self, backend: StoreBackend) -> None:
        from sabio.review import review_kb

        kb = backend.create_kb("mail", "fake:words", DIMENSION)
        _write(backend, kb, "/m/a.txt", ["IBAN ES9121000418450200051332"])
        other = _write(backend, kb, "/m/b.txt", ["DNI 12345678Z"], content_hash="h2")
        store: Any = backend  # a SabioStore: the review reads its documents' chunks
        alone = review_kb(store, kb, other)
        assert [(f.document, f.kind) for f in alone.findings] == [("/m/b.txt", "dni")]
        assert {f.kind for f in review_kb(store, kb).findings} == {"iban", "dni"}

    def test_alerts_are_listed_latest_first_until_seen(self, backend: StoreBackend) -> None:
        kb = backend.create_kb("mail", "fake:words", DIMENSION)
        old = backend.reviews.add_alert(kb.id, "/m/a.eml", {"api_key": 1}, "high")
        new = backend.reviews.add_alert(kb.id, "/m/b.eml", {"iban": 2, "phone": 1}, "medium")
        assert new.counts == {"iban": 2, "phone": 1} and not new.seen
        assert [a.id for a in backend.reviews.alerts(kb.id, unseen=True)] == [new.id, old.id]
        assert backend.reviews.mark_seen(kb.id) == 2
        assert backend.reviews.mark_seen(kb.id) == 0
        assert backend.reviews.alerts(kb.id, unseen=True) == []
        assert [a.seen for a in backend.reviews.alerts(kb.id)] == [True, True]


SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir_scifact"
SEARCH_QUERIES = 30
SEARCH_CORPUS = 200


@dataclass(frozen=True)
class SmallCorpus:
    """SciFact abstracts (those judged for the first questions, then others) with their
    MiniLM vectors, and the questions with theirs."""

    docs: list[tuple[str, str, str]]  # id, title, text
    vectors: np.ndarray
    queries: list[tuple[str, str, set[str]]]  # id, text, the abstracts judged relevant
    embedder: Any


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@functools.cache
def small_corpus() -> SmallCorpus:
    from sabio.config import load_settings
    from sabio.models.embedded import EmbeddedModel

    judged: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, _ = line.split("\t")
        judged.setdefault(query_id, set()).add(doc_id)
    texts = {q["_id"]: q["text"] for q in _rows(SCIFACT / "queries.jsonl")}
    chosen = [(q, texts[q], docs) for q, docs in list(judged.items())[:SEARCH_QUERIES]]
    wanted = {d for _, _, docs in chosen for d in docs}
    docs: list[tuple[str, str, str]] = []
    for row in _rows(SCIFACT / "corpus.jsonl"):
        if row["_id"] in wanted or len(docs) < SEARCH_CORPUS - len(wanted):
            docs.append((row["_id"], row["title"], row["text"][:800]))
    home = Path(tempfile.mkdtemp(prefix="sabio-contract-"))
    atexit.register(shutil.rmtree, home, True)  # the model's folder, kept for the session
    embedder = EmbeddedModel(load_settings({"home": home}, environ={}))
    vectors = embedder.embed([text for _, _, text in docs])
    return SmallCorpus(docs, vectors, chosen, _Fixed(embedder))


@dataclass
class _Fixed:
    """The real model, each question embedded once for every backend."""

    model: Any
    name: str = "embedded:minilm"
    seen: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return int(self.model.dimension)

    @property
    def languages(self) -> Any:
        return getattr(self.model, "languages", None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            if text not in self.seen:
                self.seen[text] = self.model.embed([text])[0]
        return np.stack([self.seen[t] for t in texts])


def _fill_corpus(backend: Any, corpus: SmallCorpus) -> KnowledgeBase:
    kb = backend.create_kb("scifact", corpus.embedder.name, corpus.vectors.shape[1])
    for i, (doc_id, title, text) in enumerate(corpus.docs):
        backend.replace_document(
            kb,
            _state(f"/scifact/{doc_id}.txt", doc_id),
            title=title,
            pages=None,
            metadata={},
            chunks=[Chunk(text, 0, len(text), None, "", title)],
            vectors=corpus.vectors[i : i + 1],
        )
    return kb


def _every_other(corpus: SmallCorpus) -> list[str]:
    return [doc_id for doc_id, _, _ in corpus.docs[::2]]


def _tops(
    backend: Any,
    kb: KnowledgeBase,
    corpus: SmallCorpus,
    within: Sequence[str] | None = None,
    **options: Any,
) -> list[list[str]]:
    from sabio.ranking import search_index
    from sabio.search import search_chunks

    index = search_index(backend)
    if within is not None:
        found = [backend.find_document(kb.id, f"/scifact/{d}.txt") for d in within]
        options["document_ids"] = [d.id for d in found if d is not None]
    return [
        [
            hit.document.rsplit("/", 1)[-1].removesuffix(".txt")
            for hit in search_chunks(backend, index, kb, text, k=3, **options)
        ]
        for _, text, _ in corpus.queries
    ]


@functools.cache
def _reference(embedded: bool, filtered: bool = False) -> list[list[str]]:
    """The rankings of the SQLite store with its in-process index, the reference."""
    from sabio.store import Store

    corpus = small_corpus()
    store = Store(":memory:")
    try:
        kb = _fill_corpus(store, corpus)
        within = _every_other(corpus) if filtered else None
        return _tops(store, kb, corpus, within, embedder=corpus.embedder if embedded else None)
    finally:
        store.close()


class SearchContract:
    """Hybrid search over the backend ranks as over SQLite's index: on a small real
    corpus (SciFact abstracts, MiniLM vectors), the same three passages first for every
    question, and the abstract judged relevant first for most of them."""

    @pytest.fixture(autouse=True)
    def _data(self) -> None:
        if not SCIFACT.exists():
            pytest.skip(f"{SCIFACT} is not here (../shared/data is absent)")

    @pytest.mark.parametrize("embedded", [True, False], ids=["hybrid", "keywords"])
    def test_search_ranks_as_on_sqlite(self, backend: StoreBackend, embedded: bool) -> None:
        corpus = small_corpus()
        kb = _fill_corpus(backend, corpus)
        tops = _tops(backend, kb, corpus, embedder=corpus.embedder if embedded else None)
        assert tops == _reference(embedded)
        judged = [relevant for _, _, relevant in corpus.queries]
        first = sum(top[0] in docs for top, docs in zip(tops, judged, strict=True))
        assert first >= 0.6 * len(corpus.queries)

    def test_a_filtered_search_ranks_within_the_documents_as_on_sqlite(
        self, backend: StoreBackend
    ) -> None:
        corpus = small_corpus()
        kb = _fill_corpus(backend, corpus)
        tops = _tops(backend, kb, corpus, embedder=corpus.embedder, within=_every_other(corpus))
        assert all(top and set(top) <= set(_every_other(corpus)) for top in tops)
        assert tops == _reference(True, filtered=True)


class StoreContract(
    KnowledgeBaseContract,
    DocumentContract,
    ChunkContract,
    ChatContract,
    UserContract,
    SourceContract,
    FeedbackContract,
    GuideContract,
    ReviewContract,
    SearchContract,
):
    """Every test a store backend must pass."""
