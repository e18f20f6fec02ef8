"""Chats as people use them: answers regenerated and questions edited with every version
kept, the knowledge base and model changed mid-chat, an answer stopped on the server,
chats exported, encrypted files read with their password, names with spaces and
accents, live counts, and the upgrade of a database of the previous schema. The service
over a real store, the REST routes in-process, and real HTTP where a stream is stopped."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import need_data, running_server
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error, _events, _kb_with_notes, _settings, _upload

from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import Store


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


def _ask(client: TestClient, url: str, **body: Any) -> dict[str, Any]:
    events = _events(client.post(url, json=body))
    assert events[-1][0] == "done", events
    answer: dict[str, Any] = events[-1][1]
    return answer


def test_regenerated_answers_and_edited_questions_keep_every_version(client: TestClient) -> None:
    _kb_with_notes(client)
    chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"}).json()
    url = f"{API}/chats/{chat['id']}"
    _ask(client, f"{url}/messages", question="When did Etna erupt?")
    _ask(client, f"{url}/messages", question="And the ash?")
    first_q, first_a, second_q, second_a = client.get(url).json()["messages"]

    # regenerate the last answer: a second version beside it, shown
    _ask(client, f"{url}/regenerate", message_id=second_a["id"])
    shown = client.get(url).json()["messages"]
    assert [m["id"] for m in shown[:3]] == [first_q["id"], first_a["id"], second_q["id"]]
    assert shown[3]["versions"] == [second_a["id"], shown[3]["id"]]
    assert shown[3]["parent_id"] == second_q["id"]

    # edit the first question: a new branch from the start, the old one kept
    edited = _ask(
        client, f"{url}/messages", question="What guided the ships?", edit_of=first_q["id"]
    )
    branch = client.get(url).json()["messages"]
    assert [m["role"] for m in branch] == ["user", "assistant"]
    assert branch[0]["content"] == "What guided the ships?" and branch[0]["parent_id"] is None
    assert branch[0]["versions"] == [first_q["id"], branch[0]["id"]]
    assert edited["query"] == "What guided the ships?"  # no history: the edited one was first

    # the old branch can be shown again, down to its latest answer
    back = client.put(f"{url}/branch", json={"message_id": first_q["id"]})
    assert back.status_code == 200, back.text
    old = back.json()["messages"]
    assert [m["id"] for m in old[:3]] == [first_q["id"], first_a["id"], second_q["id"]]
    assert old[3]["id"] == shown[3]["id"]  # the regenerated answer, the latest there
    # the next question follows the branch shown, with its history
    follow = _ask(client, f"{url}/messages", question="And then?")
    assert follow["query"] == "And the ash? And then?"  # the old branch's last question
    assert client.get(url).json()["messages"][-2]["parent_id"] == old[3]["id"]

    _error(client.put(f"{url}/branch", json={"message_id": 999999}), 404, "not_found")
    _error(client.post(f"{url}/regenerate", json={"message_id": 999999}), 404, "not_found")
    refused = client.post(f"{url}/messages", json={"question": "x", "edit_of": first_a["id"]})
    assert "edit a question" in _error(refused, 400, "bad_request")


def test_the_knowledge_base_and_the_model_change_mid_chat(client: TestClient) -> None:
    _kb_with_notes(client)
    chat = client.post(f"{API}/chats", json={"kb": None, "model": "fake:echo"}).json()
    url = f"{API}/chats/{chat['id']}"
    alone = _ask(client, f"{url}/messages", question="Hello there")
    assert alone["citations"] == [] and alone["text"] == "Hello there"
    changed = client.patch(url, json={"kb": "notes", "model": "fake:cite"})
    assert changed.status_code == 200 and changed.json()["kb"] == "notes"
    assert changed.json()["model"] == "fake:cite" and changed.json()["title"] == "Hello there"
    grounded = _ask(client, f"{url}/messages", question="When did Etna erupt?")
    assert grounded["citations"] and grounded["model"] == "fake:cite"
    back = client.patch(url, json={"kb": None, "model": None})
    assert back.json()["kb"] is None and back.json()["model"] is None
    _error(client.patch(url, json={"kb": "nowhere"}), 404, "not_found")
    _error(client.patch(url, json={"colour": "red"}), 422, "validation_error")


def test_a_chat_exports_as_markdown_with_its_sources_and_as_json(client: TestClient) -> None:
    _kb_with_notes(client)
    chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"}).json()
    url = f"{API}/chats/{chat['id']}"
    answer = _ask(client, f"{url}/messages", question="When did Etna erupt?")
    md = client.get(f"{url}/export", params={"format": "markdown", "lang": "es"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert 'filename="When-did-Etna-erupt.md"' in md.headers["content-disposition"]
    text = md.text
    assert text.startswith("# When did Etna erupt?\n") and "## Tú\n\nWhen did Etna erupt?" in text
    assert answer["text"] in text and "**Fuentes**" in text
    citation = answer["citations"][0]
    assert f"[1] {citation['title'] or citation['document']}" in text
    assert "*Cómo se respondió: los pasajes más relevantes (top-k)" in text  # its route
    english = client.get(f"{url}/export", params={"format": "markdown", "lang": "en"}).text
    assert "*How it was answered: the top-k passages" in english
    raw = client.get(f"{url}/export", params={"format": "json"})
    exported = json.loads(raw.text)
    assert exported["id"] == chat["id"] and len(exported["tree"]) == 2
    assert exported["messages"][1]["citations"][0]["document"] == "etna.md"
    _error(client.get(f"{url}/export", params={"format": "pdf"}), 422, "validation_error")


def test_stop_ends_the_answer_on_the_server_and_keeps_what_was_shown(tmp_path: Path) -> None:
    settings = _settings(tmp_path, chat_model="fake:long")
    with (
        running_server(create_app(settings, run_worker=False)) as base,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        chat = http.post(f"{API}/chats", json={}).json()
        url = f"{API}/chats/{chat['id']}"
        shown, done = "", None
        with http.stream("POST", f"{url}/messages", json={"question": "Talk"}) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "token":
                    shown += json.loads(line[6:])["text"]
                    if shown.count("palabra") == 5:  # stop while it streams
                        assert http.post(f"{url}/stop").json() == {"stopped": 1}
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:])
        assert done is not None and done["stopped"] and done["complete"] is False
        words = shown.split()
        assert 5 <= len(words) < 200  # it stopped at the next piece, far from the end
        saved = http.get(url).json()["messages"][1]
        assert saved["content"] == shown.strip() == done["text"]
        assert saved["stopped"] and not saved["complete"]
        assert http.post(f"{url}/stop").json() == {"stopped": 0}  # nothing runs now


def test_an_encrypted_file_is_read_with_its_password(client: TestClient) -> None:
    protected = need_data("documents", "docx", "bug53475-password-is-pass.docx")
    assert client.post(f"{API}/kbs", json={"name": "secretos"}).status_code == 201
    [first] = _upload(client, "secretos", [(protected.name, protected.read_bytes())]).json()[
        "files"
    ]
    assert first["status"] == "encrypted" and first["document_id"]
    unlock = f"{API}/kbs/secretos/documents/{first['document_id']}/password"
    wrong = client.post(unlock, json={"password": "nope"})
    assert wrong.status_code == 200 and wrong.json()["status"] == "encrypted"
    assert "wrong" in wrong.json()["reason"]
    right = client.post(unlock, json={"password": "pass"})
    assert right.json()["status"] == "indexed" and right.json()["passages"] > 0
    again = client.post(unlock, json={"password": "pass"})
    assert _error(again, 409, "conflict")


def test_knowledge_bases_take_any_name_and_an_identifier_for_urls(
    client: TestClient, tmp_path: Path
) -> None:
    made = client.post(f"{API}/kbs", json={"name": "  Informes  año 2024 "})
    assert made.status_code == 201, made.text
    kb = made.json()
    assert (kb["name"], kb["id"]) == ("Informes año 2024", "informes-ano-2024")
    again = client.post(f"{API}/kbs", json={"name": "informes-ano-2024"})
    assert "taken by the knowledge base" in _error(again, 409, "conflict")
    second = client.post(f"{API}/kbs", json={"name": "Informes año 2024!"}).json()
    assert second["id"] == "informes-ano-2024-2"
    files = _upload(client, "informes-ano-2024", [("faro.txt", b"El faro guiaba barcos.")])
    assert files.json()["files"][0]["status"] == "indexed"
    by_name = client.get(f"{API}/kbs/Informes año 2024").json()
    assert by_name["documents"] == 1 and by_name["id"] == "informes-ano-2024"
    assert (tmp_path / "home" / "uploads" / "informes-ano-2024" / "faro.txt").is_file()
    tags = {m["name"] for m in client.get("/api/tags").json()["models"]}
    assert "kb/informes-ano-2024:latest" in tags
    chat = client.post(f"{API}/chats", json={"kb": "informes-ano-2024"}).json()
    assert chat["kb"] == "Informes año 2024"  # kept by its name
    for bad, key in (
        ("   ", "kb_name_empty"),
        ("..", "kb_name_invalid"),
        ("x" * 65, "kb_name_long"),
    ):
        refused = client.post(f"{API}/kbs", json={"name": bad})
        assert refused.status_code == 400 and refused.json()["error"]["key"] == key


def test_counts_change_live_as_server_sent_events(tmp_path: Path) -> None:
    with (
        running_server(create_app(_settings(tmp_path), run_worker=False)) as base,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        assert http.post(f"{API}/kbs", json={"name": "notes"}).status_code == 201
        seen: list[tuple[str, dict[str, Any]]] = []
        first, changed = threading.Event(), threading.Event()

        def listen() -> None:
            with http.stream("GET", f"{API}/kbs/notes/events") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                event = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event:
                        seen.append((event, json.loads(line[6:])))
                        first.set()
                        if event == "changed":
                            changed.set()
                            return

        listener = threading.Thread(target=listen)
        listener.start()
        assert first.wait(30)  # the counts before the upload
        with httpx.Client(base_url=base, timeout=60) as other:
            upload = other.post(
                f"{API}/kbs/notes/documents", files={"files": ("a.txt", b"Alpacas graze.")}
            )
            assert upload.json()["files"][0]["status"] == "indexed"
        assert changed.wait(30)
        listener.join(30)
    assert seen[0] == ("counts", {"documents": 0, "passages": 0, "alerts": 0})
    assert seen[-2:] == [
        ("counts", {"documents": 1, "passages": 1, "alerts": 0}),  # alerts: the review's, unseen
        ("changed", {}),
    ]


SCHEMA_4 = """
CREATE TABLE kb (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    embedding_model TEXT NOT NULL, dimension INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL);
CREATE TABLE chat (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER,
    title TEXT NOT NULL DEFAULT '', kb_name TEXT, model TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL);
CREATE TABLE message (id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chat(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]', complete INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL);
CREATE TABLE user (id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE, password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
INSERT INTO kb(name, embedding_model, dimension, created_at) VALUES ('casos', 'fake:words', 64, 1);
INSERT INTO user(name, password_hash, admin, created_at)
    VALUES ('ana', 'x', 1, 1), ('bea', 'x', 0, 1);
INSERT INTO chat(title, kb_name, created_at, updated_at) VALUES ('Old', 'casos', 1, 1);
INSERT INTO message(chat_id, role, content, created_at) VALUES
    (1, 'user', 'One?', 1), (1, 'assistant', 'One.', 1),
    (1, 'user', 'Two?', 2), (1, 'assistant', 'Two.', 2);
PRAGMA user_version=4;
"""
"""The tables of schema 4 (the previous release) that schema 5 changes, with rows."""


def test_a_database_of_schema_4_is_upgraded_in_place(settings: Any) -> None:
    settings.database_path.parent.mkdir(parents=True)
    with sqlite3.connect(settings.database_path) as old:
        old.executescript(SCHEMA_4)
    sabio = Sabio(settings)
    try:
        [kb] = sabio.list_kbs()
        assert (kb.name, kb.slug) == ("casos", "casos")
        chat = sabio.get_chat(1)
        assert [m.content for m in chat.messages] == ["One?", "One.", "Two?", "Two."]
        assert [m.parent_id for m in chat.messages] == [None, 1, 2, 3]
        assert chat.history()[-1].answer == "Two."
        bea = sabio.users.get_user("bea")
        assert sabio.users.kb_access(bea.id, kb.id) == "write"  # what members could do
        assert sabio.users.kb_access(sabio.users.get_user("ana").id, kb.id) is None  # admin
        assert sabio.store.integrity_problems() == []
    finally:
        sabio.close()
    reopened = Store(settings.database_path)  # a second start changes nothing
    assert reopened.db.execute("SELECT count(*) FROM kb_member").fetchone()[0] == 1
    reopened.close()


def test_an_answer_that_ends_after_the_server_stopped_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer's stream left open by its client ends only when the garbage collector
    closes it, possibly after the server closed its database: its save is a log line,
    not an exception nobody can catch (it surfaced as an unraisable in the test run)."""
    from sabio.answer import Answer
    from sabio.server.services import Services

    services = Services(_settings(tmp_path))
    chat = services.writer.create_chat()
    answer = Answer("¿Qué es?", "¿Qué es?", "es", "fake:chat", text="Una prueba.")
    services.save_exchange(chat.id, answer, None)
    assert [m.content for m in services.reader.get_chat(chat.id).messages] == [
        "¿Qué es?",
        "Una prueba.",
    ]
    services.close()
    with caplog.at_level("WARNING", logger="sabio.server.services"):
        services.save_exchange(chat.id, answer, None)  # the database is closed: no raise
    assert "an answer ended after the server stopped: not saved" in caplog.text
