"""The REST API, in-process through FastAPI's TestClient over a real data directory, with
the fake embedder and chat models of conftest.py; and once over real HTTP with uvicorn."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import need_data, running_server
from fake_servers import closed_port
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sabio.cli import app as cli_app
from sabio.config import Settings, load_settings
from sabio.models import register_chat_backend
from sabio.server import create_app, threads
from sabio.server.settings_api import served
from sabio.server.uploads import safe_filename

API = "/api/v1"
LOCAL = "http://127.0.0.1:11435"
"""The base URL of in-process clients: without login the API answers at this computer's
names only (TestClient's default host, testserver, is refused like any other)."""
FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
ETNA = "Mount Etna erupted in 2021 and covered Catania in ash. The eruption lasted weeks."
JUDGMENT = ("pdf", "pdfjs", "issue11913.pdf")  # text PDF: an Irish Supreme Court judgment
SCAN = ("pdf", "pdfjs", "issue4379.pdf")  # a scan without a text layer


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "workers": 2,
        "ollama_host": f"127.0.0.1:{closed_port()}",
        "ocr_program": "",  # a scan stays "needs OCR" (tests/test_ocr.py reads them)
        **overrides,
    }
    return load_settings(values, environ={})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "home" / "uploads"


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body written by hand, so file names go exactly as given."""
    boundary = "sabio-test-boundary"
    body = b""
    for name, data in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _upload(client: TestClient, kb: str, files: list[tuple[str, bytes]]) -> httpx.Response:
    body, headers = _multipart(files)
    return client.post(f"{API}/kbs/{kb}/documents", content=body, headers=headers)


def _files_by_name(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {f["name"]: f for f in response.json()["files"]}


KEYED = {"code", "message", "key", "args"}
"""An error the web app translates also names its message in the catalogue (errors.py)."""


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) in ({"code", "message"}, KEYED)
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def _kb_with_notes(client: TestClient) -> None:
    assert client.post(f"{API}/kbs", json={"name": "notes"}).status_code == 201
    files = [("faro.txt", FARO.encode()), ("etna.md", f"# Volcanoes\n\n{ETNA}".encode())]
    statuses = {f["status"] for f in _files_by_name(_upload(client, "notes", files)).values()}
    assert statuses == {"indexed"}


# server


def test_health_and_documented_routes(client: TestClient) -> None:
    assert client.get(f"{API}/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) >= 12
    assert all(op.get("summary") for op in operations)
    upload = spec["paths"][f"{API}/kbs/{{name}}/documents"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_models_are_listed(client: TestClient) -> None:
    models = client.get(f"{API}/models").json()
    embedded = next(m for m in models if m["name"] == "embedded:all-minilm-l6-v2")
    assert embedded["kind"] == "embedding" and embedded["backend"] == "embedded"
    assert any(m["default"] == "chat" for m in models)


# knowledge bases


def test_knowledge_bases_are_created_listed_reindexed_and_deleted(client: TestClient) -> None:
    created = client.post(f"{API}/kbs", json={"name": "casos"})
    assert created.status_code == 201
    assert created.json() == {
        "name": "casos",
        "id": "casos",  # a name that is an identifier is its own
        "access": "manage",
        "embedding_model": "fake:words",
        "dimension": 64,
        "documents": 0,
        "passages": 0,
        "ocr_languages": "",  # the setting's
        "review": False,  # uploads not reviewed as they arrive
    }
    _error(client.post(f"{API}/kbs", json={"name": "casos"}), 409, "conflict")
    _error(client.post(f"{API}/kbs", json={"name": ".."}), 400, "bad_request")
    _upload(client, "casos", [("faro.txt", FARO.encode())])
    [listed] = client.get(f"{API}/kbs").json()
    assert (listed["name"], listed["documents"], listed["passages"]) == ("casos", 1, 1)
    reindexed = client.post(f"{API}/kbs/casos/reindex")
    assert reindexed.status_code == 200 and reindexed.json()["passages"] == 1
    assert client.get(f"{API}/kbs/casos/search", params={"q": "faro"}).json()["hits"]
    assert client.delete(f"{API}/kbs/casos").status_code == 204
    assert client.get(f"{API}/kbs").json() == []
    assert "casos" in _error(client.get(f"{API}/kbs/casos"), 404, "not_found")


def test_deleting_a_knowledge_base_deletes_its_uploads(client: TestClient, uploads: Path) -> None:
    _kb_with_notes(client)
    assert (uploads / "notes" / "faro.txt").exists()
    assert client.delete(f"{API}/kbs/notes").status_code == 204
    assert not (uploads / "notes").exists()


# uploads


def test_upload_indexes_real_files_and_reports_each(client: TestClient, uploads: Path) -> None:
    pdf, scan = need_data("documents", *JUDGMENT), need_data("documents", *SCAN)
    client.post(f"{API}/kbs", json={"name": "legal"})
    files = [
        ("judgment.pdf", pdf.read_bytes()),
        ("scan.pdf", scan.read_bytes()),
        ("faro.txt", FARO.encode()),
        ("plan.dwg", b"AC1032" + bytes(100)),
    ]
    result = _files_by_name(_upload(client, "legal", files))
    assert result["judgment.pdf"]["status"] == "indexed"
    assert result["judgment.pdf"]["outcome"] == "added"
    assert result["judgment.pdf"]["passages"] > 0
    assert result["judgment.pdf"]["document_id"] is not None
    assert result["faro.txt"]["status"] == "indexed"
    assert result["scan.pdf"]["status"] == "needs_ocr"
    assert "OCR" in result["scan.pdf"]["reason"]
    assert result["plan.dwg"]["status"] == "rejected"
    assert "unsupported file type (.dwg)" in result["plan.dwg"]["reason"]
    assert (uploads / "legal" / "judgment.pdf").read_bytes() == pdf.read_bytes()
    assert not (uploads / "legal" / "plan.dwg").exists()

    documents = {d["name"]: d for d in client.get(f"{API}/kbs/legal/documents").json()}
    assert set(documents) == {"judgment.pdf", "scan.pdf", "faro.txt"}
    assert documents["judgment.pdf"]["status"] == "indexed"
    assert documents["judgment.pdf"]["reason"] == ""
    assert documents["scan.pdf"]["status"] == "needs_ocr" and documents["scan.pdf"]["reason"]

    hits = client.get(
        f"{API}/kbs/legal/search", params={"q": "Sinnott Minister for Education", "k": 3}
    ).json()["hits"]
    assert 1 <= len(hits) <= 3
    top = hits[0]
    assert top["document"] == "judgment.pdf" and top["page"] == 1
    assert top["file_url"] == f"{API}/kbs/legal/documents/{top['document_id']}/file#page=1"
    assert top["start"] < top["end"] and "SINNOTT" in top["text"] and top["score"] > 0

    again = _files_by_name(_upload(client, "legal", files[:3]))
    assert {f["outcome"] for f in again.values()} == {"unchanged"}


def test_upload_creates_the_default_knowledge_base(client: TestClient) -> None:
    _error(client.get(f"{API}/kbs/default/documents"), 404, "not_found")
    assert _files_by_name(_upload(client, "default", [("faro.txt", FARO.encode())]))
    assert [kb["name"] for kb in client.get(f"{API}/kbs").json()] == ["default"]
    _error(_upload(client, "missing", [("faro.txt", FARO.encode())]), 404, "not_found")


def test_a_file_whose_content_is_not_its_type_is_rejected_and_changes_nothing(
    client: TestClient, uploads: Path
) -> None:
    pdf = need_data("documents", *JUDGMENT).read_bytes()
    _kb_with_notes(client)
    assert _files_by_name(_upload(client, "notes", [("report.pdf", pdf)]))["report.pdf"]
    before = client.get(f"{API}/kbs/notes/documents").json()

    fakes = [
        ("report.pdf", b"<html>not a PDF at all</html>"),
        ("slides.pptx", b"just text"),
        ("notes.txt", b"\x89PNG\r\n\x1a\n" + bytes(200)),
        ("blob.md", bytes(range(256)) * 4),
        ("empty.txt", b""),
    ]
    result = _files_by_name(_upload(client, "notes", fakes))
    assert {f["status"] for f in result.values()} == {"rejected"}
    assert "not a PDF" in result["report.pdf"]["reason"]
    assert "not a .pptx file" in result["slides.pptx"]["reason"]
    assert "PNG image" in result["notes.txt"]["reason"]
    assert "binary" in result["blob.md"]["reason"]
    assert "empty" in result["empty.txt"]["reason"]
    assert all(f["document_id"] is None for f in result.values())
    assert client.get(f"{API}/kbs/notes/documents").json() == before
    assert (uploads / "notes" / "report.pdf").read_bytes() == pdf
    assert sorted(p.name for p in (uploads / "notes").iterdir()) == [
        "etna.md",
        "faro.txt",
        "report.pdf",
    ]
    assert list((uploads / ".incoming").iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\x.txt", "x.txt"),
        ("C:\\Users\\ana\\informe.pdf", "informe.pdf"),
        ("..", "upload"),
        (".bashrc", "bashrc"),
        ("a\x07b\u202ec.txt", "abc.txt"),
        ("what?<now>.md", "what__now_.md"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        ("Año  ñandú\t2024.docx", "Año ñandú 2024.docx"),
        ("報告書.pdf", "報告書.pdf"),
        ("report.pdf. ", "report.pdf"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_file_names_are_made_safe(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_uploaded_names_cannot_escape_the_upload_folder(
    client: TestClient, tmp_path: Path, uploads: Path
) -> None:
    client.post(f"{API}/kbs", json={"name": "notes"})
    files = [
        ("../../etc/passwd", FARO.encode()),
        ("..\\x.txt", FARO.encode()),
        ("../../../../outside.txt", ETNA.encode()),
        ("dup.txt", b"first"),
        ("DUP.txt", b"second"),
        ("Año ñandú.txt", FARO.encode()),
    ]
    result = _files_by_name(_upload(client, "notes", files))
    assert set(result) == {
        "passwd",
        "x.txt",
        "outside.txt",
        "dup.txt",
        "DUP (2).txt",
        "Año ñandú.txt",
    }
    assert result["passwd"]["filename"] == "../../etc/passwd"
    assert result["passwd"]["status"] == "rejected"  # no extension: not a type Sabio reads
    assert result["x.txt"]["status"] == "indexed"
    assert result["outside.txt"]["status"] == "indexed"
    saved = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.txt"))
    assert saved == [
        f"home/uploads/notes/{name}"
        for name in sorted(["Año ñandú.txt", "DUP (2).txt", "dup.txt", "outside.txt", "x.txt"])
    ]
    assert not (tmp_path / "etc").exists() and not (uploads / "passwd").exists()


def test_an_oversize_upload_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_mb=1)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        client.post(f"{API}/kbs", json={"name": "notes"})
        big = b"palabra " * (1024 * 1024 // 8 + 1)  # just over 1 MB
        files = [("small.txt", FARO.encode()), ("big.txt", big), ("after.txt", ETNA.encode())]
        message = _error(_upload(client, "notes", files), 413, "too_large")
        assert "big.txt" in message and "1 MB" in message
        assert client.get(f"{API}/kbs/notes/documents").json() == []
        uploads = settings.home / "uploads"
        assert [p for p in uploads.rglob("*") if p.is_file()] == []
        exactly = b"x" * (1024 * 1024)
        assert _files_by_name(_upload(client, "notes", [("limit.txt", exactly)]))["limit.txt"]


def test_removing_a_document_deletes_the_uploaded_file(client: TestClient, uploads: Path) -> None:
    _kb_with_notes(client)
    documents = {d["name"]: d for d in client.get(f"{API}/kbs/notes/documents").json()}
    faro = documents["faro.txt"]["id"]
    assert client.delete(f"{API}/kbs/notes/documents/{faro}").status_code == 204
    assert not (uploads / "notes" / "faro.txt").exists()
    assert [d["name"] for d in client.get(f"{API}/kbs/notes/documents").json()] == ["etna.md"]
    _error(client.delete(f"{API}/kbs/notes/documents/{faro}"), 404, "not_found")


# search and answers


def test_search_returns_passages_with_their_place(client: TestClient) -> None:
    _kb_with_notes(client)
    found = client.get(f"{API}/kbs/notes/search", params={"q": "Etna ash"}).json()
    assert found["query"] == "Etna ash" and found["notes"] == []
    top = found["hits"][0]
    assert top["document"] == "etna.md" and top["title"] == "Volcanoes"
    assert top["page"] is None and top["end"] > top["start"] and "Catania" in top["text"]
    assert top["score"] > 0
    _error(client.get(f"{API}/kbs/nowhere/search", params={"q": "x"}), 404, "not_found")


def test_ask_streams_tokens_then_the_answer_with_citations(client: TestClient) -> None:
    _kb_with_notes(client)
    response = client.post(
        f"{API}/kbs/notes/ask", json={"question": "When did Etna erupt?", "model": "fake:cite"}
    )
    events = _events(response)
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"token"} and len(names) > 2
    answer = events[-1][1]
    assert answer["complete"] is True and answer["error"] is None
    assert "".join(data["text"] for _, data in events[:-1]).strip() == answer["text"]
    assert "[1]" in answer["text"] and "[9]" not in answer["text"]
    [citation] = answer["citations"]
    assert citation["number"] == 1 and citation["document"] == "etna.md"
    assert citation["file_url"] == f"{API}/kbs/notes/documents/{citation['document_id']}/file"
    assert "total_ms" in answer["timings"]


def test_an_original_file_is_served_by_ranges_for_players(client: TestClient) -> None:
    _kb_with_notes(client)
    [doc] = [d for d in client.get(f"{API}/kbs/notes/documents").json() if d["title"] == "faro"]
    url = f"{API}/kbs/notes/documents/{doc['id']}/file"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = client.get(url, headers={"Range": "bytes=4-9"})
    assert part.status_code == 206 and part.content == whole.content[4:10]
    assert part.headers["content-range"] == f"bytes 4-9/{size}"
    assert client.get(url, headers={"Range": "bytes=-3"}).content == whole.content[-3:]
    assert client.get(url, headers={"Range": "bytes=5-"}).content == whole.content[5:]
    for ignored in ("bytes=9-4", "bytes=0-1,4-5", "items=1-2", "bytes=x-3", f"bytes={size}-"):
        response = client.get(url, headers={"Range": ignored})
        assert response.status_code == 200 and response.content == whole.content, ignored


def test_a_served_file_is_closed_when_its_response_never_starts(tmp_path: Path) -> None:
    # A client that leaves before the first block: the body's generator never starts,
    # so its own ``finally`` cannot close the file.
    path = tmp_path / "diary.wav"
    path.write_bytes(b"RIFF" + bytes(60))
    file = path.open("rb")
    blocks = served(file, 64)
    del blocks
    gc.collect()
    assert file.closed
    with path.open("rb") as file:  # and read to the end, as before
        assert b"".join(served(file, 10, 2)) == path.read_bytes()[2:12]
        assert file.closed


def test_ask_with_history_rewrites_the_follow_up(client: TestClient) -> None:
    _kb_with_notes(client)
    body = {
        "question": "And when did it erupt?",
        "model": "fake:echo",
        "history": [{"question": "Tell me about Etna", "answer": "Etna is a volcano [1]."}],
    }
    answer = _events(client.post(f"{API}/kbs/notes/ask", json=body))[-1][1]
    assert answer["query"] != answer["question"]


def test_a_model_that_breaks_midway_gives_a_partial_incomplete_answer(client: TestClient) -> None:
    _kb_with_notes(client)
    response = client.post(
        f"{API}/kbs/notes/ask", json={"question": "When did Etna erupt?", "model": "fake:broken"}
    )
    events = _events(response)
    assert events[0][0] == "token" and events[0][1]["text"]
    name, answer = events[-1]
    assert name == "done"
    assert answer["complete"] is False
    assert "connection to the model was lost" in answer["error"]
    assert answer["text"].startswith(events[0][1]["text"].strip())


def test_ask_failures_before_the_first_token_are_json_errors(client: TestClient) -> None:
    _kb_with_notes(client)
    ask = f"{API}/kbs/notes/ask"
    elsewhere = client.post(f"{API}/kbs/other/ask", json={"question": "x", "model": "fake:cite"})
    _error(elsewhere, 404, "not_found")
    assert "unknown model backend" in _error(
        client.post(ask, json={"question": "Etna?", "model": "nope:x"}), 400, "bad_request"
    )
    _error(client.post(ask, json={"question": "", "model": "fake:cite"}), 422, "validation_error")
    _error(client.post(ask, json={"question": "   ", "model": "fake:cite"}), 400, "bad_request")


# errors


def test_every_error_has_the_same_shape(client: TestClient) -> None:
    assert "/api/v1/nothing" in _error(client.get(f"{API}/nothing"), 404, "not_found")
    message = _error(client.delete(f"{API}/health"), 405, "method_not_allowed")
    assert "DELETE" in message and "GET" in message
    assert "'q'" in _error(client.get(f"{API}/kbs/x/search"), 422, "validation_error")
    _error(client.get(f"{API}/kbs/x/search", params={"q": "a", "k": 0}), 422, "validation_error")
    broken_json = client.post(
        f"{API}/kbs", content=b"{", headers={"Content-Type": "application/json"}
    )
    _error(broken_json, 422, "validation_error")
    _error(client.post(f"{API}/kbs", json={"name": "a\x00b"}), 400, "bad_request")
    _error(client.post(f"{API}/kbs/x/reindex"), 404, "not_found")
    client.post(f"{API}/kbs", json={"name": "x"})
    _error(client.post(f"{API}/kbs/x/documents", json={"a": 1}), 415, "unsupported_media_type")
    empty, headers = _multipart([])
    _error(
        client.post(f"{API}/kbs/x/documents", content=empty, headers=headers), 400, "bad_request"
    )


# the command


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])
def test_serve_refuses_to_listen_beyond_this_computer(host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["--home", str(tmp_path), "serve", "--host", host])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "authentication" in line and host in line


# over real HTTP


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    with running_server(create_app(_settings(tmp_path))) as url:
        yield url


def test_the_real_server_answers_over_http_while_uploads_run(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        assert http.get(f"{API}/health").json()["status"] == "ok"
        http.post(f"{API}/kbs", json={"name": "notes"})
        files = {"files": ("etna.md", f"# Volcanoes\n\n{ETNA}".encode())}
        assert http.post(f"{API}/kbs/notes/documents", files=files).status_code == 200

        def search(_: int) -> str:
            response = http.get(f"{API}/kbs/notes/search", params={"q": "Etna ash"})
            assert response.status_code == 200, response.text
            return str(response.json()["hits"][0]["document"])

        def upload(n: int) -> int:
            text = f"Note {n} about lighthouses. {FARO}".encode()
            files = {"files": (f"faro-{n}.txt", text)}
            return http.post(f"{API}/kbs/notes/documents", files=files).status_code

        with ThreadPoolExecutor(8) as pool:
            writes = [pool.submit(upload, n) for n in range(4)]
            reads = list(pool.map(search, range(40)))
        assert [w.result() for w in writes] == [200] * 4
        assert all(document == "etna.md" for document in reads)
        documents = http.get(f"{API}/kbs/notes/documents").json()
        assert len(documents) == 5 and {d["status"] for d in documents} == {"indexed"}
        question = {"question": "When did Etna erupt?", "model": "fake:cite"}
        with http.stream("POST", f"{API}/kbs/notes/ask", json=question) as response:
            lines = [line for line in response.iter_lines() if line.startswith("event: ")]
        assert lines[0] == "event: token" and lines[-1] == "event: done"


class HeldChat:
    """A chat model whose answers say one word, then wait for :attr:`release`."""

    release = threading.Event()
    context_window = 2048
    name = "held:answer"

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(self, messages: Any, options: Any) -> Iterator[str]:
        yield "Waiting"
        assert HeldChat.release.wait(60), "the test never released the answers"
        yield " done."


@register_chat_backend("held")
def _held(settings: Settings, model: str) -> HeldChat:
    return HeldChat()


def test_slow_answers_never_leave_searches_without_a_thread(tmp_path: Path) -> None:
    """More answers streaming at once than there are threads for short requests: each
    waits for its model on a thread of its own, and searches still get theirs."""
    app = create_app(_settings(tmp_path, chat_model="held:answer"))
    HeldChat.release.clear()
    with running_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        http.post(f"{API}/kbs", json={"name": "notes"})
        files = {"files": ("etna.md", f"# Volcanoes\n\n{ETNA}".encode())}
        assert http.post(f"{API}/kbs/notes/documents", files=files).status_code == 200
        started = threading.Semaphore(0)

        def ask(_: int) -> list[str]:
            question = {"question": "When did Etna erupt?"}
            with httpx.stream("POST", f"{url}{API}/kbs/notes/ask", json=question, timeout=60) as r:
                events = []
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        events.append(line)
                        if len(events) == 1:
                            started.release()
                return events

        answers = threads.REQUEST_THREADS + 2
        with ThreadPoolExecutor(answers) as pool:
            asked = [pool.submit(ask, n) for n in range(answers)]
            for _ in range(answers):  # every answer has begun and now waits for its model
                assert started.acquire(timeout=60)
            found = http.get(f"{API}/kbs/notes/search", params={"q": "Etna ash"}, timeout=30)
            assert found.status_code == 200 and found.json()["hits"]
            HeldChat.release.set()
            assert all(a.result()[-1] == "event: done" for a in asked)
