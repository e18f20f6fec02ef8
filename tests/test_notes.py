"""Corrections become knowledge (issue 26): a correction given an answer is a note
document of its knowledge base, found for the question and its paraphrases, quoted
first and cited as "Correction by ana, 2026-12-03"; listed, edited, approved, removed."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error, _events, _settings
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError, NotFoundError
from sabio.notes import note_source
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import NewFeedback, Store

FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT = (
    "The notice period for ending the service contract is 30 days, as clause 12 says.\n\n"
    "Payments are due on the first day of every month, by bank transfer."
)
OTHER = "The office opens at nine in the morning. Visitors sign in at the front desk."
QUESTION = "What is the notice period for ending the contract?"
FIX = "The notice period is 60 days, not 30; see clause 12 as amended in 2026."


def _kb(sabio: Sabio, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "contract.txt").write_text(CONTRACT, encoding="utf-8")
    (folder / "office.txt").write_text(OTHER, encoding="utf-8")
    sabio.create_kb("legal")
    sabio.add([folder], "legal")


def _ask(sabio: Sabio, question: str, model: str = "fake:cite", style: str | None = None):  # type: ignore[no-untyped-def]
    stream = sabio.ask(question, "legal", model=model, style=style)
    text = "".join(stream)
    return text, stream.answer


def _correct(sabio: Sabio, text: str = FIX, author: str = "ana") -> int:
    new = NewFeedback("legal", QUESTION, "30 days [1].", rating=-1, correction=text, author=author)
    return sabio.give_feedback(new).id


@pytest.mark.parametrize("style", ["extractive", "generative"])
def test_a_correction_is_quoted_first_and_cited_as_a_correction(
    sabio: Sabio, tmp_path: Path, style: str
) -> None:
    _kb(sabio, tmp_path)
    before, _ = _ask(sabio, QUESTION, style=style)
    assert "60 days" not in before
    note = _correct(sabio)
    doc = sabio.store.find_document(sabio.kb("legal").id, note_source(note))
    assert doc is not None and doc.metadata["kind"] == "note"
    assert doc.metadata["question"] == QUESTION and doc.metadata["author"] == "ana"
    today = time.strftime("%Y-%m-%d")
    text, answer = _ask(sabio, "The notice period for ending the contract?", style=style)
    assert text.lstrip("> ").startswith(FIX)
    assert answer.citations[0].title == f"Correction by ana, {today}"
    assert answer.citations[0].document == note_source(note) and "[1]" in text
    _, spanish = _ask(sabio, "¿Cuál es el notice period del contract?", style=style)
    assert spanish.citations[0].title == f"Corrección de ana, {today}"


def test_a_note_is_not_used_for_an_unrelated_question(sabio: Sabio, tmp_path: Path) -> None:
    _kb(sabio, tmp_path)
    _correct(sabio)
    text, answer = _ask(sabio, "When does the office open in the morning?", style="extractive")
    assert "60 days" not in text
    assert all(not c.document.startswith("note:") for c in answer.citations)


def test_a_note_waits_for_review_when_required_then_is_edited_and_removed(
    settings: Settings, tmp_path: Path
) -> None:
    from dataclasses import replace

    sabio = Sabio(replace(settings, review_notes=True))
    try:
        _kb(sabio, tmp_path)
        note = _correct(sabio)
        assert sabio.note(note).status == "pending"
        assert "60 days" not in _ask(sabio, QUESTION, style="extractive")[0]
        sabio.edit_note(note, {"status": "active"})
        assert "60 days" in _ask(sabio, QUESTION, style="extractive")[0]
        sabio.edit_note(note, {"correction": "The notice period is 90 days since March."})
        text = _ask(sabio, QUESTION, style="extractive")[0]
        assert "90 days" in text and "60 days" not in text
        with pytest.raises(ConfigError, match="remove it instead"):
            sabio.edit_note(note, {"correction": ""})
        sabio.remove_feedback(note)
        assert "90 days" not in _ask(sabio, QUESTION, style="extractive")[0]
        assert sabio.store.find_document(sabio.kb("legal").id, note_source(note)) is None
        with pytest.raises(NotFoundError):
            sabio.note(note)
        _correct(sabio)
        sabio.delete_kb("legal")
        assert sabio.list_feedback() == []  # deleting a knowledge base forgets its notes
    finally:
        sabio.close()


def test_an_answer_in_a_chat_is_rated_with_its_question(sabio: Sabio, tmp_path: Path) -> None:
    _kb(sabio, tmp_path)
    chat = sabio.create_chat("legal", "fake:cite")
    "".join(sabio.ask_in_chat(chat.id, QUESTION))
    question, answer = sabio.get_chat(chat.id).messages
    rated = sabio.rate_message(chat.id, answer.id, NewFeedback(None, "", "", rating=1))
    assert (rated.kb_name, rated.question, rated.answer) == ("legal", QUESTION, answer.content)
    assert sabio.list_feedback("legal", message_id=answer.id) == [rated]
    with pytest.raises(ConfigError, match="rate an answer"):
        sabio.rate_message(chat.id, question.id, NewFeedback(None, "", "", rating=1))
    free = sabio.create_chat(None, "fake:cite")
    "".join(sabio.ask_in_chat(free.id, "hello"))
    reply = sabio.get_chat(free.id).messages[1]
    with pytest.raises(ConfigError, match="needs a knowledge base"):
        sabio.rate_message(free.id, reply.id, NewFeedback(None, "", "", correction="x"))
    assert sabio.list_feedback(message_id=reply.id) == []


def test_a_database_of_the_release_before_takes_feedback(tmp_path: Path) -> None:
    path = tmp_path / "sabio.db"
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "schema_5.sql").read_text(encoding="utf-8"))
    db.close()
    store = Store(path)
    try:
        made = store.feedback.add_feedback(NewFeedback("Notas de campo", "Q", "A", rating=1))
        assert store.feedback.list_feedback("Notas de campo") == [made]
    finally:
        store.close()


# over REST, and the Ollama API


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path, chat_model="fake:cite")
    with TestClient(create_app(settings), base_url=LOCAL) as test_client:
        assert test_client.post(f"{API}/kbs", json={"name": "legal"}).status_code == 201
        files = [("files", ("contract.txt", CONTRACT.encode())),
                 ("files", ("office.txt", OTHER.encode()))]  # fmt: skip
        uploaded = test_client.post(f"{API}/kbs/legal/documents", files=files)
        assert {f["status"] for f in uploaded.json()["files"]} == {"indexed"}
        yield test_client


def test_a_chat_answer_is_corrected_over_rest_and_the_note_is_listed_edited_removed(
    client: TestClient,
) -> None:
    chat = client.post(f"{API}/chats", json={"kb": "legal"}).json()["id"]
    _events(client.post(f"{API}/chats/{chat}/messages", json={"question": QUESTION}))
    question, answer = client.get(f"{API}/chats/{chat}").json()["messages"]
    url = f"{API}/chats/{chat}/messages/{answer['id']}/feedback"
    made = client.post(url, json={"rating": "down", "reason": "old", "correction": FIX})
    assert made.status_code == 201, made.text
    note = made.json()
    assert (note["rating"], note["kb"], note["question"], note["status"]) == (
        "down", "legal", QUESTION, "active"
    )  # fmt: skip
    assert note["label"].startswith("Correction by ")
    assert [f["id"] for f in client.get(url).json()] == [note["id"]]
    events = _events(client.post(f"{API}/chats/{chat}/messages", json={"question": QUESTION}))
    done = dict(events)["done"]
    assert done["citations"][0]["title"] == note["label"]
    refused = client.post(f"{API}/chats/{chat}/messages/{question['id']}/feedback",
                          json={"rating": "up"})  # fmt: skip
    _error(refused, 400, "bad_request")
    assert refused.json()["error"]["key"] == "feedback_on_question"
    notes_url = f"{API}/kbs/legal/notes"
    assert [n["id"] for n in client.get(notes_url).json()] == [note["id"]]
    edited = client.patch(f"{notes_url}/{note['id']}", json={"correction": "Ninety days."})
    assert edited.json()["correction"] == "Ninety days."
    assert client.delete(f"{notes_url}/{note['id']}").status_code == 204
    assert client.get(notes_url).json() == []
    _error(client.delete(f"{notes_url}/{note['id']}"), 404, "not_found")


def test_an_answer_given_elsewhere_is_corrected_and_the_ollama_api_cites_the_note(
    client: TestClient,
) -> None:
    made = client.post(
        f"{API}/kbs/legal/feedback",
        json={"question": QUESTION, "answer": "30 days.", "correction": FIX},
    )
    assert made.status_code == 201, made.text
    body = {"model": "kb/legal", "stream": False,
            "messages": [{"role": "user", "content": QUESTION}]}  # fmt: skip
    reply = client.post("/api/chat", json=body)
    assert reply.status_code == 200, reply.text
    content = reply.json()["message"]["content"]
    assert FIX in content and "Correction by" in content
    spanish = client.get(f"{API}/kbs/legal/notes", headers={"Accept-Language": "es-ES,en;q=0.5"})
    assert spanish.json()[0]["label"].startswith("Corrección de ")
    asked = {**body, "messages": [{"role": "user", "content": "¿Cuál es el plazo de preaviso?"}]}
    content = client.post("/api/chat", json=asked).json()["message"]["content"]
    assert "**Fuentes**" in content and "Corrección de " in content
    # the documents were written before the correction, and say 30 days: said, in Spanish
    assert "es más reciente que contract.txt" in content and "que dice: «" in content


def test_an_ollama_or_openai_answer_is_judged_by_the_id_it_came_with(client: TestClient) -> None:
    body = {"model": "kb/legal", "stream": False,
            "messages": [{"role": "user", "content": QUESTION}]}  # fmt: skip
    reply = client.post("/api/chat", json=body)
    answer_id = reply.headers["X-Sabio-Answer"]
    assert reply.json()["sabio_answer"] == answer_id
    url = f"{API}/answers/{answer_id}/feedback"
    note = client.post(url, json={"rating": "down", "correction": FIX})
    assert note.status_code == 201, note.text
    judged = note.json()
    assert (judged["kb"], judged["question"], judged["rating"]) == ("legal", QUESTION, "down")
    assert judged["answer"] in reply.json()["message"]["content"] and judged["answer"]

    openai = {"model": "kb/legal", "messages": [{"role": "user", "content": QUESTION}]}
    completion = client.post("/v1/chat/completions", json=openai)
    content = completion.json()["choices"][0]["message"]["content"]
    assert FIX in content and "Correction by" in content  # the note, used at once
    given = completion.json()["sabio_answer"]
    assert completion.headers["X-Sabio-Answer"] == given != answer_id
    pin = client.post(f"{API}/answers/{given}/feedback", json={"rating": "up", "pin": True})
    assert pin.status_code == 201 and pin.json()["pinned"], pin.text
    [pinned] = client.get(f"{API}/kbs/legal/notes", params={"pinned": True}).json()
    assert pinned["id"] == pin.json()["id"] and pinned["question"] == QUESTION
    with client.stream("POST", "/api/chat", json={**body, "stream": True}) as streamed:
        lines = [json.loads(line) for line in streamed.iter_lines() if line]
    assert lines[-1]["sabio_answer"] == streamed.headers["X-Sabio-Answer"]
    task = {**body, "messages": [{"role": "user", "content": "### Task: a title"}]}
    assert "X-Sabio-Answer" not in client.post("/api/chat", json=task).headers
    unknown = client.post(f"{API}/answers/nothing-here/feedback", json={"rating": "up"})
    _error(unknown, 404, "not_found")
    assert unknown.json()["error"]["key"] == "answer_not_found"


# the CLI


def test_sabio_chat_corrects_its_last_answer_and_sabio_notes_manages_the_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "contract.txt").write_text(CONTRACT, encoding="utf-8")
    (folder / "office.txt").write_text(OTHER, encoding="utf-8")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    assert runner.invoke(app, ["add", str(folder)]).exit_code == 0
    session = f"/good\n{QUESTION}\n/bad too vague\n/correct\n/correct {FIX}\n{QUESTION}\n/exit\n"
    result = runner.invoke(app, ["chat", "-m", "fake:cite", "--style", "extractive"], input=session)
    assert result.exit_code == 0, result.output
    assert "Ask a question first" in result.stderr and "Say what is right" in result.stderr
    assert "Note 2 saved" in result.stderr
    assert result.stdout.count(f"> {FIX} [1]") == 1  # the second answer quotes it first
    assert "[1] Correction by" in result.stdout
    listed = runner.invoke(app, ["notes", "list"])
    assert listed.exit_code == 0 and "Correction by" in listed.stdout and FIX in listed.stdout
    assert runner.invoke(app, ["notes", "edit", "2", "Ninety days."]).exit_code == 0
    [note] = json.loads(runner.invoke(app, ["notes", "list", "--json"]).stdout)
    assert (note["correction"], note["question"], note["rating"]) == ("Ninety days.", QUESTION, -1)
    assert runner.invoke(app, ["notes", "rm", "2"]).exit_code == 0
    assert "None yet" in runner.invoke(app, ["notes", "list"]).stdout
    missing = runner.invoke(app, ["notes", "rm", "1"])  # a rating, not a note
    assert missing.exit_code == 1 and "rating, not a note" in missing.stderr


def test_sabio_chat_and_sabio_notes_speak_spanish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "contract.txt").write_text(CONTRACT, encoding="utf-8")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("SABIO_LANGUAGE", "es")
    runner = CliRunner()
    assert runner.invoke(app, ["add", str(folder)]).exit_code == 0
    empty = runner.invoke(app, ["notes", "list"]).stdout
    assert "Aún no hay ninguna: valora una respuesta con /correct" in empty
    session = f"/good\n{QUESTION}\n/correct\n/correct {FIX}\n/exit\n"
    result = runner.invoke(app, ["chat", "-m", "fake:cite", "--style", "extractive"], input=session)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())  # the console wraps its lines
    assert "Base de conocimiento default" in said
    assert "/correct TEXTO y /pin valoran la última respuesta" in said
    assert "Haz antes una pregunta" in said and "Di qué es lo correcto" in said
    assert "Nota 1 guardada" in said and "Fuentes" in result.stdout
    listed = runner.invoke(app, ["notes", "list"]).stdout
    assert "Corrección de" in listed and f"  P: {QUESTION}" in listed, listed
    assert "Quitada la nota 1." in runner.invoke(app, ["notes", "rm", "1"]).stdout


# pinned answers


def test_a_pinned_answer_is_served_for_a_similar_question_its_citations_checked(
    sabio: Sabio, tmp_path: Path
) -> None:
    _kb(sabio, tmp_path)
    chat = sabio.create_chat("legal", "fake:cite")
    "".join(sabio.ask_in_chat(chat.id, QUESTION, style="extractive"))
    _, answer = sabio.get_chat(chat.id).messages
    pin = sabio.rate_message(chat.id, answer.id, NewFeedback(None, "", "", rating=1, pinned=True))
    assert pin.pinned and pin.citations == answer.citations
    text, served = _ask(sabio, "¿Cuál es el plazo de preaviso para terminar el contrato?")
    assert (text, served.pinned) == (answer.content, pin.id)
    assert [c.chunk_id for c in served.citations] == [c["chunk_id"] for c in answer.citations]
    assert served.notes[0].startswith("respuesta fijada a «What is") and len(served.notes) == 1
    assert _ask(sabio, "When does the office open in the morning?")[1].pinned is None

    contract = tmp_path / "docs" / "contract.txt"
    contract.write_text("Payments are due monthly.\n\n" + CONTRACT, encoding="utf-8")
    sabio.add([contract.parent], "legal")  # the passage moved: followed, no warning
    moved = _ask(sabio, QUESTION)[1]
    assert moved.pinned == pin.id and len(moved.notes) == 1
    contract.write_text("The notice period is now 45 days.", encoding="utf-8")
    sabio.add([contract.parent], "legal")
    changed = _ask(sabio, QUESTION)[1]
    assert any("changed since it was pinned: contract.txt" in n for n in changed.notes)
    sabio.remove_document(str(contract), "legal")
    assert any("was deleted" in n for n in _ask(sabio, QUESTION)[1].notes)
    sabio.remove_feedback(pin.id)
    assert _ask(sabio, QUESTION)[1].pinned is None
    with pytest.raises(ConfigError, match="only a good answer"):
        sabio.give_feedback(NewFeedback("legal", QUESTION, "x", rating=-1, pinned=True))


def test_an_answer_is_pinned_over_rest_listed_and_unpinned(client: TestClient) -> None:
    chat = client.post(f"{API}/chats", json={"kb": "legal"}).json()["id"]
    _events(client.post(f"{API}/chats/{chat}/messages", json={"question": QUESTION}))
    _, answer = client.get(f"{API}/chats/{chat}").json()["messages"]
    url = f"{API}/chats/{chat}/messages/{answer['id']}/feedback"
    pin = client.post(url, json={"rating": "up", "pin": True}).json()
    assert pin["pinned"] and pin["answer"] == answer["content"]
    refused = client.post(url, json={"rating": "down", "pin": True})
    assert refused.status_code == 400 and refused.json()["error"]["key"] == "pin_refused"
    listed = client.get(f"{API}/kbs/legal/notes", params={"pinned": True}).json()
    assert [p["id"] for p in listed] == [pin["id"]]
    assert client.get(f"{API}/kbs/legal/notes").json() == []
    done = dict(_events(client.post(f"{API}/kbs/legal/ask", json={"question": QUESTION})))["done"]
    assert done["pinned"] == pin["id"] and done["text"] == answer["content"]
    assert client.delete(f"{API}/kbs/legal/notes/{pin['id']}").status_code == 204
    rated = client.post(url, json={"rating": "up"}).json()
    _error(client.delete(f"{API}/kbs/legal/notes/{rated['id']}"), 404, "not_found")


def test_the_judged_set_and_its_scores_over_rest(client: TestClient) -> None:
    url = f"{API}/kbs/legal/judged"
    assert client.get(url).json() == {"questions": [], "scores": {}}
    empty = client.get(url, params={"scores": True})
    assert empty.status_code == 400 and empty.json()["error"]["key"] == "no_feedback"
    chat = client.post(f"{API}/chats", json={"kb": "legal"}).json()["id"]
    office = "When does the office open?"
    _events(client.post(f"{API}/chats/{chat}/messages", json={"question": office}))
    _, answer = client.get(f"{API}/chats/{chat}").json()["messages"]
    rate = f"{API}/chats/{chat}/messages/{answer['id']}/feedback"
    pin = client.post(rate, json={"rating": "up", "pin": True}).json()
    fixed = {"question": QUESTION, "answer": "30 days.", "correction": FIX}
    note = client.post(f"{API}/kbs/legal/feedback", json=fixed).json()
    client.post(f"{API}/kbs/legal/feedback", json={"question": "Who?", "rating": "down"})
    listed = client.get(url).json()
    assert [(q["id"], q["question"], q["pinned"], q["corrected"]) for q in listed["questions"]] == [
        (pin["id"], office, True, False), (note["id"], QUESTION, False, True)
    ]  # fmt: skip
    assert listed["questions"][0]["relevant"][0].endswith("office.txt")
    assert listed["questions"][1]["relevant"] == [note_source(note["id"])]
    assert {q["rank"] for q in listed["questions"]} == {None}  # not searched
    scored = client.get(url, params={"scores": True}).json()
    assert [q["rank"] for q in scored["questions"]] == [1, 1]
    assert scored["scores"]["questions"] == 2 and scored["scores"]["mrr@10"] == 1.0


def _rewrite(path: Path, text: str, age: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (time.time() + age, time.time() + age))


@pytest.mark.parametrize("style", ["extractive", "generative"])
def test_a_document_that_does_not_say_what_a_note_says_is_shown_and_which_is_newer(
    sabio: Sabio, tmp_path: Path, style: str
) -> None:
    """By the support check between the note and the document's passages, not by dates
    alone: a newer version that agrees is not named, one that says otherwise is quoted."""
    _kb(sabio, tmp_path)
    contract = tmp_path / "docs" / "contract.txt"
    _rewrite(contract, CONTRACT, -86400)
    sabio.add([contract.parent], "legal")
    _correct(sabio, "The notice period is 60 days since the 2026 amendment of clause 12.")
    _, answer = _ask(sabio, QUESTION, style=style)
    [line] = [n for n in answer.notes if "contract.txt" in n]
    assert line.startswith("the correction by ana") and "is newer than contract.txt" in line
    assert "which says: “The notice period for ending the service contract is 30 days" in line
    assert not any("office.txt" in n for n in answer.notes)  # another subject

    agrees = "Since the 2026 amendment of clause 12, the notice period for ending it is 60 days."
    _rewrite(contract, agrees + "\n\nPayments are due monthly.", 60)
    sabio.add([contract.parent], "legal")
    _, later = _ask(sabio, QUESTION, style=style)
    assert any(c.document == str(contract) for c in later.citations) or style == "generative"
    assert not any("contract.txt" in n for n in later.notes), later.notes  # newer, but agrees

    _rewrite(contract, "The notice period for ending the contract is 90 days since 2027.", 120)
    sabio.add([contract.parent], "legal")
    _, newest = _ask(sabio, QUESTION, style=style)
    [line] = [n for n in newest.notes if "contract.txt" in n]
    assert "is newer than the correction by ana" in line and "does not say the same" in line
    assert "“The notice period for ending the contract is 90 days since 2027.”" in line
    _, spanish = _ask(sabio, "¿Cuál es el plazo de preaviso del contrato?", style=style)
    [line] = [n for n in spanish.notes if "contract.txt" in n]
    assert "es más reciente que la corrección de ana" in line and "no dice lo mismo: «" in line


def test_sabio_eval_from_feedback_measures_the_users_judged_questions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "contract.txt").write_text(CONTRACT, encoding="utf-8")
    (folder / "office.txt").write_text(OTHER, encoding="utf-8")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    assert runner.invoke(app, ["add", str(folder)]).exit_code == 0
    none = runner.invoke(app, ["eval", "--from-feedback", "default"])
    assert none.exit_code == 1 and "no judged questions" in none.stderr
    session = f"When does the office open?\n/pin\n{QUESTION}\n/correct {FIX}\n/exit\n"
    chat = runner.invoke(app, ["chat", "-m", "fake:cite", "--style", "extractive"], input=session)
    assert chat.exit_code == 0, chat.output
    measured = runner.invoke(app, ["eval", "--from-feedback", "default", "--json"])
    assert measured.exit_code == 0, measured.output
    metrics = json.loads(measured.stdout)
    assert metrics["questions"] == 2 and metrics["recall@10"] == 1.0
    assert 0 < metrics["mrr@10"] <= 1.0
    both = runner.invoke(app, ["eval", str(folder), "--from-feedback", "default"])
    assert both.exit_code == 1 and "one of them" in both.stderr
