"""Persisted chats: the service over a real store (fake models at the edge), the schema
upgrade of an older database, and the REST routes in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeChat
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error, _events, _kb_with_notes, _settings

from sabio.config import Settings
from sabio.errors import ConfigError, NotFoundError
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import SCHEMA_VERSION, Store

FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
ETNA = "Mount Etna erupted in 2021 and covered Catania in ash. The eruption lasted weeks."


@pytest.fixture
def notes(sabio: Sabio, tmp_path: Path) -> Sabio:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "faro.txt").write_text(FARO)
    (folder / "etna.md").write_text(f"# Volcanoes\n\n{ETNA}")
    sabio.create_kb("notes")
    sabio.add([folder], "notes")
    return sabio


def _ask(sabio: Sabio, chat_id: int, question: str) -> str:
    return "".join(sabio.ask_in_chat(chat_id, question))


# service


def test_chats_are_created_listed_searched_renamed_and_deleted(notes: Sabio) -> None:
    first = notes.create_chat("notes", "fake:cite")
    assert (first.title, first.kb_name, first.model, first.messages) == (
        "",
        "notes",
        "fake:cite",
        [],
    )
    second = notes.create_chat(title="  Lighthouses   of\nold ")
    assert second.title == "Lighthouses of old" and second.kb_name is None
    _ask(notes, first.id, "When did Etna erupt?")
    assert [c.id for c in notes.list_chats()] == [first.id, second.id]  # last asked first
    assert [c.id for c in notes.list_chats("lighthouse")] == [second.id]  # title, any case
    assert [c.id for c in notes.list_chats("catania")] == [first.id]  # the answer's text
    assert notes.list_chats("100%_sure") == []  # LIKE wildcards are plain characters
    renamed = notes.rename_chat(second.id, "Faros")
    assert renamed.title == "Faros" and notes.list_chats()[0].id == second.id
    with pytest.raises(ConfigError):
        notes.rename_chat(second.id, "   ")
    notes.delete_chat(first.id)
    assert [c.id for c in notes.list_chats()] == [second.id]
    assert notes.store.db.execute("SELECT count(*) FROM message").fetchone()[0] == 0
    for missing in (lambda: notes.get_chat(first.id), lambda: notes.delete_chat(first.id)):
        with pytest.raises(NotFoundError, match=f"no chat {first.id}"):
            missing()
    with pytest.raises(NotFoundError, match="no knowledge base called 'nowhere'"):
        notes.create_chat("nowhere")


def test_an_answer_is_saved_with_its_citations_and_titles_the_chat(notes: Sabio) -> None:
    chat = notes.create_chat("notes", "fake:cite")
    question = "When did Mount Etna erupt and what happened to Catania after the eruption ended?"
    text = _ask(notes, chat.id, question)
    saved = notes.get_chat(chat.id)
    assert saved.title.endswith("…") and len(saved.title) <= 60
    assert question.startswith(saved.title[:-1])
    asked, answered = saved.messages
    assert (asked.role, asked.content, asked.citations, asked.complete) == (
        "user",
        question,
        [],
        True,
    )
    assert answered.role == "assistant" and answered.complete
    assert answered.content == text.strip() and "[1]" in answered.content
    [citation] = answered.citations
    assert citation["number"] == 1 and citation["document"].endswith("etna.md")
    assert "Catania" in citation["snippet"]


def test_an_answer_is_saved_with_what_supports_its_statements(notes: Sabio) -> None:
    """The marks on unsupported statements survive a reload of the chat: the claims are
    saved with the answer, and the REST route names their documents by file name."""
    chat = notes.create_chat("notes", "fake:invent")
    "".join(notes.ask_in_chat(chat.id, "When did Mount Etna erupt?", style="generative"))
    answered = notes.get_chat(chat.id).messages[-1]
    supported = [c["supported"] for c in answered.claims]
    assert True in supported and False in supported  # the quote, then the made-up figure
    made_up = next(c for c in answered.claims if not c["supported"])
    assert answered.content[made_up["start"] : made_up["end"]].strip()
    backed = next(c for c in answered.claims if c["supported"])
    assert backed["document"].endswith("etna.md")


def test_a_follow_up_uses_the_stored_conversation(notes: Sabio) -> None:
    chat = notes.create_chat("notes", "fake:cite")
    _ask(notes, chat.id, "When did Etna erupt?")
    stream = notes.ask_in_chat(chat.id, "And what did it cover?")
    "".join(stream)
    # fake:cite's rewrite shares no word with the questions: both questions are the query
    assert stream.answer.query == "When did Etna erupt? And what did it cover?"
    model = notes.chat_model("fake:cite")
    assert isinstance(model, FakeChat)
    roles = [m["role"] for m in model.requests[-1]]
    assert roles == ["system", "user", "assistant", "user"]
    assert model.requests[-1][1]["content"] == "When did Etna erupt?"
    assert len(notes.get_chat(chat.id).messages) == 4


def test_a_broken_answer_is_saved_incomplete_and_left_out_of_the_history(notes: Sabio) -> None:
    chat = notes.create_chat("notes", "fake:broken")
    stream = notes.ask_in_chat(chat.id, "When did Etna erupt?")
    shown = "".join(stream)
    _, answered = notes.get_chat(chat.id).messages
    assert not answered.complete and answered.content == shown.strip() and shown
    assert notes.get_chat(chat.id).history() == []


def test_an_answer_closed_midway_keeps_what_was_produced(notes: Sabio) -> None:
    """What the server does when its client goes away: the stream is closed."""
    chat = notes.create_chat("notes", "fake:cite")
    pieces = iter(notes.ask_in_chat(chat.id, "When did Etna erupt?"))
    first = next(pieces)
    pieces.close()  # type: ignore[attr-defined]
    asked, answered = notes.get_chat(chat.id).messages
    assert asked.content == "When did Etna erupt?"
    assert (answered.content, answered.complete, answered.citations) == (first.strip(), False, [])


def test_a_failure_before_any_text_saves_nothing(notes: Sabio) -> None:
    chat = notes.create_chat("notes", "nope:x")
    with pytest.raises(ConfigError, match="unknown model backend"):
        _ask(notes, chat.id, "When did Etna erupt?")
    assert notes.get_chat(chat.id).messages == []


def test_a_chat_without_a_knowledge_base_talks_to_the_model_alone(sabio: Sabio) -> None:
    chat = sabio.create_chat(model="fake:echo")
    assert _ask(sabio, chat.id, "Hello there") == "Hello there"
    assert _ask(sabio, chat.id, "Again") == "Again"
    model = sabio.chat_model("fake:echo")
    assert isinstance(model, FakeChat)
    assert [m["content"] for m in model.requests[-1]] == ["Hello there", "Hello there", "Again"]
    assert sabio.get_chat(chat.id).title == "Hello there"


def test_a_chat_whose_knowledge_base_was_deleted_says_so(notes: Sabio) -> None:
    chat = notes.create_chat("notes", "fake:cite")
    _ask(notes, chat.id, "When did Etna erupt?")
    notes.delete_kb("notes", keep_chats=True)
    kept = notes.get_chat(chat.id)
    assert len(kept.messages) == 2 and not kept.kb_available
    with pytest.raises(NotFoundError, match=r"knowledge base 'notes' of chat \d+ was deleted"):
        notes.ask_in_chat(chat.id, "And then?")


def test_a_database_of_the_previous_schema_gains_the_chat_tables(settings: Settings) -> None:
    old = Store(settings.database_path)
    old.create_kb("notes", "fake:words", 64)
    old.db.executescript(  # as schema 1 was: before numbered migrations
        "DROP TABLE message; DROP TABLE chat; DROP TABLE _migrations; PRAGMA user_version=1;"
    )
    old.close()
    sabio = Sabio(settings)
    try:
        assert sabio.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [kb.name for kb in sabio.list_kbs()] == ["notes"]
        chat = sabio.create_chat("notes")
        assert sabio.list_chats() == [chat]
        assert sabio.store.integrity_problems() == []
    finally:
        sabio.close()


# REST


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


def test_chat_routes(client: TestClient) -> None:
    _kb_with_notes(client)
    created = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"})
    assert created.status_code == 201, created.text
    chat = created.json()
    assert chat["kb"] == "notes" and chat["kb_available"] and chat["title"] == ""
    url = f"{API}/chats/{chat['id']}"
    events = _events(client.post(f"{url}/messages", json={"question": "When did Etna erupt?"}))
    assert events[-1][0] == "done" and set(n for n, _ in events[:-1]) == {"token"}
    answer = events[-1][1]
    assert answer["complete"] and answer["citations"][0]["document"].endswith("etna.md")
    detail = client.get(url).json()
    assert detail["title"] == "When did Etna erupt?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][1]["content"] == answer["text"]
    assert detail["messages"][1]["citations"] == answer["citations"]
    assert detail["messages"][1]["claims"] == answer["claims"]  # by file name, as streamed
    assert all("/" not in c.get("document", "") for c in answer["claims"])
    follow_up = _events(client.post(f"{url}/messages", json={"question": "And the ash?"}))
    assert "When did Etna erupt?" in follow_up[-1][1]["query"]
    other = client.post(f"{API}/chats", json={"title": "Empty"}).json()
    assert [c["id"] for c in client.get(f"{API}/chats").json()] == [other["id"], chat["id"]]
    assert [c["id"] for c in client.get(f"{API}/chats", params={"q": "ash"}).json()] == [chat["id"]]
    renamed = client.patch(url, json={"title": "Etna"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Etna"
    assert client.delete(url).status_code == 204
    _error(client.get(url), 404, "not_found")


def test_chat_route_errors(client: TestClient) -> None:
    _kb_with_notes(client)
    missing = f"{API}/chats/999"
    assert "no chat 999" in _error(client.get(missing), 404, "not_found")
    _error(client.post(f"{missing}/messages", json={"question": "x"}), 404, "not_found")
    _error(client.patch(missing, json={"title": "x"}), 404, "not_found")
    _error(client.delete(missing), 404, "not_found")
    _error(client.post(f"{API}/chats", json={"kb": "nowhere"}), 404, "not_found")
    chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:broken"}).json()
    url = f"{API}/chats/{chat['id']}"
    _error(client.patch(url, json={"title": ""}), 422, "validation_error")
    _error(client.patch(url, json={"title": None}), 400, "bad_request")  # found by schemathesis
    _error(client.post(f"{url}/messages", json={"question": ""}), 422, "validation_error")
    broken = _events(client.post(f"{url}/messages", json={"question": "When did Etna erupt?"}))
    assert broken[-1][1]["complete"] is False
    assert client.get(url).json()["messages"][1]["complete"] is False
    kept = {"keep_chats": "true"}
    assert client.delete(f"{API}/kbs/notes", params=kept).status_code == 204
    assert client.get(url).json()["kb_available"] is False
    gone = _error(client.post(f"{url}/messages", json={"question": "Etna?"}), 404, "not_found")
    assert "was deleted" in gone
