"""Whole-document tasks as jobs over REST (sabio.tasks.jobs, server/tasks_api.py): the
real app in-process with its worker thread, real SQLite, a chat model faked at the edge
(conftest's ``fake:`` backend)."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from conftest import FakeChat
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error
from test_sources_api import eventually

from sabio.config import Settings, load_settings
from sabio.models import ChatOptions
from sabio.server import create_app
from sabio.service import Sabio
from sabio.tasks.budget import StoppableModel, TaskCancelled
from sabio.tasks.jobs import run_task, task_payload

TASKS = f"{API}/kbs/default/tasks"
REPORT = """# Annual report

The cooperative sold 1,250 tonnes of olives in 2023, a rise of 12% over 2022.

## Members

- Ana García joined the board in March.
- The assembly met four times.

| Item | Amount |
| Olives | 1,250 |
"""
LEASE_2023 = "The tenant pays 900 euros a month. The lease ends in 2025."
LEASE_2024 = "The tenant pays 950 euros a month. The lease ends in 2025. Pets are allowed."


def _settings(tmp_path: Path, chat: str = "fake:echo") -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "chat_model": chat},
        environ={},
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path)
    files = {"report.md": REPORT, "lease-2023.txt": LEASE_2023, "lease-2024.txt": LEASE_2024}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    sabio = Sabio(settings)
    sabio.add([tmp_path / name for name in files])
    sabio.close()
    with TestClient(create_app(settings), base_url=LOCAL) as test_client:
        yield test_client


def _finished(client: TestClient, task_id: int) -> dict[str, Any]:
    def status() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"{TASKS}/{task_id}").json()
        return task if task["status"] in ("done", "failed", "cancelled") else None

    found: dict[str, Any] = eventually(status)
    return found


def _start(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(TASKS, json=body)
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    assert task["status"] == "queued" and task["kind"] == body["kind"]
    return task


def test_a_summary_as_a_job_with_its_result_in_every_format(client: TestClient) -> None:
    task = _start(client, {"kind": "summarize", "documents": ["report.md"]})
    done = _finished(client, task["id"])
    assert done["status"] == "done", done["error"]
    assert done["formats"] == ["markdown", "json", "text", "docx"]
    result = client.get(f"{TASKS}/{task['id']}/result").json()
    [item] = result["items"]
    assert result["kind"] == "summarize" and item["document"] == "report.md"  # never a path
    assert item["file_url"].endswith(f"/documents/{item['document_id']}/file")
    assert "1,250 tonnes" in item["summary"] and item["route"]["kind"] == "document"
    assert any(c["supported"] for c in item["claims"])  # the echo quotes the document
    markdown = client.get(f"{TASKS}/{task['id']}/result", params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Annual report\n")
    assert 'filename="summarize-' in markdown.headers["content-disposition"]
    assert "\n**How:** Summary · whole document" in markdown.text  # how it read it
    spanish = client.get(
        f"{TASKS}/{task['id']}/result", params={"format": "markdown", "language": "es"}
    )
    assert "\n**Cómo:** Resumen · documento completo" in spanish.text
    text = client.get(f"{TASKS}/{task['id']}/result", params={"format": "text"}).text
    assert text.startswith("Annual report\n") and "#" not in text.split("\n")[0]
    word = client.get(f"{TASKS}/{task['id']}/result", params={"format": "docx"})
    assert zipfile.is_zipfile(io.BytesIO(word.content))
    paragraphs = docx.Document(io.BytesIO(word.content)).paragraphs
    assert paragraphs[0].style is not None and paragraphs[0].style.name == "Heading 1"
    listed = client.get(TASKS).json()
    assert [t["id"] for t in listed] == [task["id"]]


def test_a_translation_keeps_its_structure_in_docx(client: TestClient) -> None:
    task = _start(client, {"kind": "translate", "documents": ["report.md"], "options": {}})
    assert task["options"] == {"to": "en"}  # the default is written down
    assert _finished(client, task["id"])["status"] == "done"
    word = client.get(f"{TASKS}/{task['id']}/result", params={"format": "docx"})
    document = docx.Document(io.BytesIO(word.content))
    styles = [(p.style.name if p.style else "", p.text) for p in document.paragraphs]
    assert ("Heading 1", "Annual report") in styles and ("Heading 2", "Members") in styles
    assert ("List Bullet", "The assembly met four times.") in styles
    [table] = document.tables
    assert [c.text for c in table.rows[1].cells] == ["Olives", "1,250"]
    item = client.get(f"{TASKS}/{task['id']}/result").json()["items"][0]
    assert item["counts"]["heading"] == 2 and item["counts"]["item"] == 2
    assert item["problems"] == []  # every figure is still there


def test_compare_and_extract_as_jobs(client: TestClient) -> None:
    compare = _start(client, {"kind": "compare", "documents": ["lease-2023.txt", "lease-2024.txt"]})
    assert _finished(client, compare["id"])["status"] == "done"
    [pair] = client.get(f"{TASKS}/{compare['id']}/result").json()["items"]
    names = (pair["old"]["document"], pair["new"]["document"])
    assert names == ("lease-2023.txt", "lease-2024.txt")
    assert [c["kind"] for c in pair["changes"]] == ["changed", "added"]
    markdown = client.get(f"{TASKS}/{compare['id']}/result", params={"format": "markdown"})
    assert "~~900~~ → 950" in markdown.text
    spanish = client.get(
        f"{TASKS}/{compare['id']}/result", params={"format": "markdown", "language": "es"}
    )
    assert "**añadido**" in spanish.text
    schema = {
        "type": "object",
        "properties": {"rent": {"type": ["number", "null"]}},
        "required": ["rent"],
    }
    extract = _start(client, {"kind": "extract", "options": {"schema": schema}})
    finished = _finished(client, extract["id"])
    assert finished["status"] == "done", finished["error"]
    items = client.get(f"{TASKS}/{extract['id']}/result").json()["items"]
    assert len(items) == 3 and all(set(i) >= {"data", "valid", "pages"} for i in items)


def test_bad_requests_queue_nothing_and_say_why(client: TestClient) -> None:
    missing = client.post(TASKS, json={"kind": "summarize", "documents": ["nowhere.pdf"]})
    assert "nowhere.pdf" in _error(missing, 400, "bad_request")
    assert missing.json()["error"]["key"] == "task_document"
    one = client.post(TASKS, json={"kind": "compare", "documents": ["report.md"]})
    assert one.json()["error"]["key"] == "task_documents"
    option = client.post(
        TASKS, json={"kind": "translate", "documents": ["report.md"], "options": {"tone": "x"}}
    )
    assert option.json()["error"]["key"] == "task_option"
    length = client.post(
        TASKS,
        json={"kind": "summarize", "documents": ["report.md"], "options": {"length": "epic"}},
    )
    assert length.json()["error"]["key"] == "summary_length"
    path = client.post(TASKS, json={"kind": "extract", "options": {"schema": "/etc/passwd"}})
    assert path.json()["error"]["key"] == "schema_missing"  # no file of the server's by name
    kind = client.post(TASKS, json={"kind": "dance", "documents": ["report.md"]})
    _error(kind, 422, "validation_error")
    assert client.get(TASKS).json() == []
    _error(client.get(f"{TASKS}/999"), 404, "not_found")


def test_a_running_task_is_cancelled_and_the_worker_goes_on(client: TestClient) -> None:
    slow = _start(
        client,
        {"kind": "summarize", "documents": ["report.md"], "options": {"model": "fake:long"}},
    )
    eventually(lambda: client.get(f"{TASKS}/{slow['id']}").json()["status"] == "running")
    cancelled = client.post(f"{TASKS}/{slow['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    after = _start(client, {"kind": "summarize", "documents": ["lease-2023.txt"]})
    assert _finished(client, after["id"])["status"] == "done"  # the worker was freed
    final = client.get(f"{TASKS}/{slow['id']}").json()
    assert final["status"] == "cancelled" and final["formats"] == []
    result = client.get(f"{TASKS}/{slow['id']}/result")
    assert _error(result, 409, "conflict") and result.json()["error"]["key"] == "task_not_done"


class Reading:
    """A model still reading its prompt until ``release`` is set, then writing words;
    ``closed`` is set when its stream is closed, ``written`` counts its words."""

    name, context_window = "reading:1", 2048

    def __init__(self) -> None:
        self.release, self.closed = threading.Event(), threading.Event()
        self.written = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: Any, options: ChatOptions) -> Iterator[str]:
        try:
            assert self.release.wait(30), "never released"
            for _ in range(1000):
                self.written += 1
                yield "word "
        finally:
            self.closed.set()


def test_a_stoppable_model_frees_its_task_while_the_model_reads() -> None:
    model, stop = Reading(), threading.Event()
    pieces = StoppableModel(model, stop).stream([{"role": "user", "content": "hi"}], ChatOptions())
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(TaskCancelled):
        next(pieces)  # returns although the model has not written a word yet
    assert not model.release.is_set() and model.written == 0
    model.release.set()  # the model gets to its first word: its stream is closed there
    assert model.closed.wait(30)
    assert model.written < 1000  # stopped, not run to the end
    with pytest.raises(TaskCancelled):  # and a new call does not start
        next(StoppableModel(model, stop).stream([], ChatOptions()))


def test_a_stoppable_model_passes_the_answer_and_its_end_through() -> None:
    model = FakeChat("cut", 2048)
    ask = [{"role": "user", "content": "hi"}]
    pieces = StoppableModel(model, threading.Event()).stream(ask, ChatOptions())
    assert next(pieces) == "Mount Etna erupted in"
    with pytest.raises(StopIteration) as end:
        next(pieces)
    assert end.value.value == "length"  # why the backend stopped


def test_a_long_document_reports_its_parts_as_done_of_total(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "chat_model": "fake:cite",  # a short reply to every part: the rounds end
            "context_window": 700,  # a few pages a part
        },
        environ={},
    )
    pages = [f"# Page {n}\n\n" + " ".join(f"word{n}x{i}" for i in range(120)) for n in range(12)]
    long_file = tmp_path / "long.md"
    long_file.write_text("\n\n".join(pages), encoding="utf-8")
    sabio = Sabio(settings)
    try:
        sabio.add([long_file])
        payload = task_payload(sabio, None, "summarize", ["long.md"], {"length": "short"})
        seen: list[tuple[int, int | None, str]] = []
        stop = threading.Event()
        result = run_task(sabio, payload, lambda *p: seen.append(p), stop)
    finally:
        sabio.close()
    parts = [p for p in seen if p[1] is not None]
    total = parts[0][1]
    assert total and total > 1
    assert [p[0] for p in parts] == list(range(1, total + 1))  # in order, none skipped
    assert parts[-1][2] == f"part {total} of {total}"
    assert seen[-1] == (0, None, "combining")
    assert "parts" in result["items"][0]["route"]
