"""The routes the web app needs: settings written to config.toml and applied live, model
pulls streamed from the Ollama stand-in, original files served safely, passages in their
place, and no server path in any response. In-process, over a real data directory."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import need_data
from fake_servers import FakeOllama, chat_model, closed_port
from fastapi.testclient import TestClient
from test_server import (
    API,
    ETNA,
    FARO,
    JUDGMENT,
    LOCAL,
    _error,
    _events,
    _files_by_name,
    _kb_with_notes,
    _upload,
)

from sabio.chunking import Chunk
from sabio.config import load_settings
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import FileState

CONFIG = f"""# Sabio, set up by hand
chat_model = "fake:echo"  # answers with the question
ollama_host = "127.0.0.1:{closed_port()}"

[openai.lmstudio]
base_url = "http://127.0.0.1:1234/v1"
api_key_env = "LMSTUDIO_KEY"   # the key is in the environment
"""


def _client(
    tmp_path: Path,
    config: str | None = CONFIG,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> TestClient:
    """The app over ``tmp_path/home``, started as ``sabio serve`` would be: settings from
    ``config`` (config.toml), ``environ`` and the command-line ``overrides``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if config is not None:
        (home / "config.toml").write_text(config, encoding="utf-8")
    overrides = {"home": home, "embedding_model": "fake:words", "workers": 2, **overrides}
    environ = environ or {}
    settings = load_settings(overrides, environ=environ)
    app = create_app(settings, overrides=overrides, environ=environ)
    return TestClient(app, base_url=LOCAL)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as test_client:
        yield test_client


def _config(tmp_path: Path) -> str:
    return (tmp_path / "home" / "config.toml").read_text(encoding="utf-8")


def _answer(client: TestClient, kb: str = "notes", **body: Any) -> dict[str, Any]:
    events = _events(client.post(f"{API}/kbs/{kb}/ask", json=body))
    assert events[-1][0] == "done"
    answer: dict[str, Any] = events[-1][1]
    return answer


# settings


def test_settings_are_written_to_config_toml_and_take_effect_at_once(
    client: TestClient, tmp_path: Path
) -> None:
    _kb_with_notes(client)
    shown = client.get(f"{API}/settings").json()
    assert shown["chat_model"] == "fake:echo" and shown["embedding_model"] == "fake:words"
    assert shown["default_kb"] == "default"
    assert shown["overridden"] == {"embedding_model": "the command line"}
    assert _answer(client, question="When did Etna erupt?")["model"] == "fake:echo"

    changed = client.put(f"{API}/settings", json={"chat_model": "fake:cite"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {**shown, "chat_model": "fake:cite"}
    assert client.get(f"{API}/settings").json() == changed.json()
    answer = _answer(client, question="When did Etna erupt?")
    assert answer["model"] == "fake:cite" and answer["citations"]

    written = _config(tmp_path)
    assert written.startswith("# Sabio, set up by hand\n")
    assert 'api_key_env = "LMSTUDIO_KEY"   # the key is in the environment' in written
    config = tomllib.loads(written)
    assert config["chat_model"] == "fake:cite"
    assert config["openai"] == {
        "lmstudio": {"base_url": "http://127.0.0.1:1234/v1", "api_key_env": "LMSTUDIO_KEY"}
    }
    assert "embedding_model" not in config  # only what was sent is written
    assert [p.name for p in (tmp_path / "home").glob("*.toml")] == ["config.toml"]


def test_a_new_ollama_host_and_model_are_used_without_a_restart(
    client: TestClient, tmp_path: Path
) -> None:
    _kb_with_notes(client)
    names = {m["name"] for m in client.get(f"{API}/models").json()}
    assert "ollama:qwen3:4b" not in names
    with FakeOllama(models=[chat_model("qwen3:4b")]) as ollama:
        address = ollama.url.removeprefix("http://")
        changed = client.put(
            f"{API}/settings",
            json={"ollama_host": f" {address}/ ", "chat_model": "ollama:qwen3:4b"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["ollama_host"] == ollama.url  # normalised as config.py does
        assert tomllib.loads(_config(tmp_path))["ollama_host"] == ollama.url
        models = {m["name"]: m for m in client.get(f"{API}/models").json()}
        assert models["ollama:qwen3:4b"]["available"]
        answer = _answer(client, question="When did Etna erupt?")
        assert answer["model"] == "ollama:qwen3:4b" and answer["complete"]
        assert ollama.count("POST", "/api/chat") == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"ollama_host": "ftp://127.0.0.1"}, "ollama_host 'ftp://127.0.0.1' is not an address"),
        ({"ollama_host": "localhost:port"}, "is not an address"),
        ({"ollama_host": "  "}, "ollama_host is empty"),
        ({"chat_model": ""}, "chat_model is empty"),
        ({"chat_model": None}, "chat_model is empty"),
        ({"chat_model": "qwen3"}, "must look like 'backend:model'"),
        ({"embedding_model": "nope:x"}, "unknown model backend 'nope'"),
        ({"chat_model": "fake:cite", "ollama_host": "a b"}, "not an address"),
    ],
)
def test_invalid_settings_are_refused_and_change_nothing(
    client: TestClient, tmp_path: Path, body: dict[str, Any], says: str
) -> None:
    before = client.get(f"{API}/settings").json()
    assert says in _error(client.put(f"{API}/settings", json=body), 400, "bad_request")
    assert _config(tmp_path) == CONFIG
    assert client.get(f"{API}/settings").json() == before


def test_only_the_model_settings_can_be_changed(client: TestClient, tmp_path: Path) -> None:
    refused = client.put(f"{API}/settings", json={"default_kb": "casos"})
    assert "default_kb" in _error(refused, 422, "validation_error")
    assert _config(tmp_path) == CONFIG


def test_an_openai_compatible_server_is_a_known_backend(client: TestClient) -> None:
    changed = client.put(f"{API}/settings", json={"embedding_model": "lmstudio:bge-m3"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["embedding_model"] == "fake:words"  # the command line still wins


def test_overridden_settings_are_reported_and_still_written(tmp_path: Path) -> None:
    environ = {"SABIO_CHAT_MODEL": "fake:echo", "OLLAMA_HOST": "127.0.0.1:9"}
    with _client(tmp_path, config=None, environ=environ) as client:
        shown = client.get(f"{API}/settings").json()
        assert shown["overridden"] == {
            "chat_model": "SABIO_CHAT_MODEL",
            "embedding_model": "the command line",
        }  # OLLAMA_HOST is below config.toml: a change there does take effect
        assert shown["ollama_host"] == "http://127.0.0.1:9"
        changed = client.put(
            f"{API}/settings", json={"chat_model": "fake:cite", "ollama_host": "127.0.0.1:10"}
        ).json()
        assert changed["chat_model"] == "fake:echo" and changed["ollama_host"] == (
            "http://127.0.0.1:10"
        )
        assert tomllib.loads(_config(tmp_path)) == {
            "chat_model": "fake:cite",
            "ollama_host": "http://127.0.0.1:10",
        }


def test_sabio_config_names_the_file_that_is_written(tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc" / "sabio.toml"
    with _client(tmp_path, config=None, environ={"SABIO_CONFIG": str(elsewhere)}) as client:
        assert client.put(f"{API}/settings", json={"chat_model": "fake:cite"}).status_code == 200
        assert client.get(f"{API}/settings").json()["chat_model"] == "fake:cite"
    assert tomllib.loads(elsewhere.read_text(encoding="utf-8")) == {"chat_model": "fake:cite"}
    assert not (tmp_path / "home" / "config.toml").exists()


def test_a_running_server_keeps_its_access_mode_until_it_restarts(
    client: TestClient, tmp_path: Path
) -> None:
    (tmp_path / "home" / "config.toml").write_text(f"auth = true\n{CONFIG}", encoding="utf-8")
    assert client.put(f"{API}/settings", json={"chat_model": "fake:cite"}).status_code == 200
    assert client.get(f"{API}/kbs").status_code == 200  # no login asked for
    assert tomllib.loads(_config(tmp_path))["auth"] is True


def test_reconfigure_rebuilds_server_models_and_keeps_embedded_ones(sabio: Sabio) -> None:
    embedded, other = sabio.embedder("embedded:all-minilm-l6-v2"), sabio.embedder("fake:words")
    chat = sabio.chat_model("fake:cite")
    sabio.reconfigure(load_settings({"home": sabio.settings.home, "chat_model": "fake:echo"}, {}))
    assert sabio.settings.chat_model == "fake:echo"
    assert sabio.chat_model().name == "fake:echo"
    assert sabio.embedder("embedded:all-minilm-l6-v2") is embedded
    assert sabio.embedder("fake:words") is not other
    assert sabio.chat_model("fake:cite") is not chat


# pulling a model


def test_a_pull_streams_ollamas_progress_then_done(tmp_path: Path) -> None:
    with (
        FakeOllama(library=[chat_model("qwen3:4b")]) as ollama,
        _client(tmp_path, config=None, ollama_host=ollama.url) as client,
    ):
        events = _events(client.post(f"{API}/models/pull", json={"name": "ollama:qwen3:4b"}))
        names = [name for name, _ in events]
        assert names[-1] == "done" and set(names[:-1]) == {"progress"}
        assert events[-1][1] == {"name": "qwen3:4b"}
        progress = [data for _, data in events[:-1]]
        assert all(set(p) == {"status", "completed", "total"} for p in progress)
        assert progress[0] == {"status": "pulling manifest", "completed": 0, "total": 0}
        assert {"completed": 1_000_000, "total": 2_000_000} in [
            {k: p[k] for k in ("completed", "total")} for p in progress
        ]
        assert progress[-1]["status"] == "success"
        models = {m["name"]: m for m in client.get(f"{API}/models").json()}
        assert models["ollama:qwen3:4b"]["available"]

        unknown = _events(client.post(f"{API}/models/pull", json={"name": "nope"}))
        assert [name for name, _ in unknown] == ["progress", "error"]
        assert unknown[-1][1]["error"]["code"] == "not_found"
        assert "nope" in unknown[-1][1]["error"]["message"]


def test_a_pull_without_ollama_is_a_json_error(client: TestClient) -> None:
    response = client.post(f"{API}/models/pull", json={"name": "qwen3:4b"})
    assert "ollama serve" in _error(response, 503, "model_unavailable")
    _error(client.post(f"{API}/models/pull", json={"name": ""}), 422, "validation_error")
    own = client.post(f"{API}/models/pull", json={"name": "embedded:smollm2"})
    assert "part of Sabio" in _error(own, 400, "bad_request")  # not "Ollama is not running"
    assert own.json()["error"]["key"] == "part_of_sabio"
    assert own.json()["error"]["args"] == {"model": "embedded:smollm2"}


# original files and passages


def test_a_pdf_is_served_inline_for_the_browsers_viewer(client: TestClient) -> None:
    pdf = need_data("documents", *JUDGMENT).read_bytes()
    client.post(f"{API}/kbs", json={"name": "legal"})
    uploaded = _files_by_name(_upload(client, "legal", [("judgment.pdf", pdf)]))
    document_id = uploaded["judgment.pdf"]["document_id"]
    [listed] = client.get(f"{API}/kbs/legal/documents").json()
    assert listed["file_url"] == f"{API}/kbs/legal/documents/{document_id}/file"
    served = client.get(listed["file_url"])
    assert served.status_code == 200 and served.content == pdf
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == "inline; filename*=UTF-8''judgment.pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    # A sandboxed PDF does not open in Chrome's or Safari's viewer; a PDF runs no script
    # in Sabio's origin anyway.
    assert "sandbox" not in served.headers.get("content-security-policy", "")

    hits = client.get(f"{API}/kbs/legal/search", params={"q": "Sinnott", "k": 100}).json()
    top = hits["hits"][0]
    passage = client.get(f"{API}/kbs/legal/passages/{top['chunk_id']}").json()
    assert passage["name"] == "judgment.pdf" and passage["page"] == top["page"] == 1
    assert passage["file_url"] == f"{listed['file_url']}#page=1"
    assert top["file_url"] == passage["file_url"]


def test_a_passage_stops_at_its_page(sabio: Sabio) -> None:
    kb = sabio.create_kb("notes", "fake:words")
    pages = [(1, "Uno en la primera."), (1, "Dos en la primera."), (2, "Tres en la segunda.")]
    chunks, offset = [], 0
    for page, text in pages:
        chunks.append(Chunk(text, offset, offset + len(text), page, "", ""))
        offset += len(text) + 2
    state = FileState("/docs/libro.pdf", "hash", offset, 0)
    vectors = np.zeros((len(chunks), kb.dimension), dtype=np.float32)
    sabio.store.replace_document(
        kb, state, title="Libro", pages=2, metadata={}, chunks=chunks, vectors=vectors
    )
    ids = [int(i) for i in sabio.store.chunk_ids(kb.id)]
    around = [sabio.store.passage(kb.id, chunk_id) for chunk_id in ids]
    assert [(p.before, p.after) for p in around if p is not None] == [
        ("", "Dos en la primera."),
        ("Uno en la primera.", ""),
        ("", ""),
    ]
    assert sabio.store.passage(kb.id + 1, ids[0]) is None


def test_an_uploaded_web_page_is_served_as_plain_text_in_a_sandbox(client: TestClient) -> None:
    page = b"<html><body><script>alert(document.cookie)</script><p>El faro.</p></body></html>"
    client.post(f"{API}/kbs", json={"name": "notes"})
    result = _files_by_name(_upload(client, "notes", [("página.html", page)]))["página.html"]
    assert result["status"] == "indexed", result
    served = client.get(f"{API}/kbs/notes/documents/{result['document_id']}/file")
    assert served.status_code == 200 and served.content == page
    assert served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"] == "inline; filename*=UTF-8''p%C3%A1gina.html"


def test_a_file_of_another_knowledge_base_or_gone_is_not_found(
    client: TestClient, tmp_path: Path
) -> None:
    _kb_with_notes(client)
    client.post(f"{API}/kbs", json={"name": "other"})
    [other] = _files_by_name(_upload(client, "other", [("secret.txt", b"other things")])).values()
    _error(client.get(f"{API}/kbs/notes/documents/{other['document_id']}/file"), 404, "not_found")
    _error(client.get(f"{API}/kbs/notes/documents/9999/file"), 404, "not_found")
    _error(client.get(f"{API}/kbs/nowhere/documents/1/file"), 404, "not_found")
    documents = {d["name"]: d for d in client.get(f"{API}/kbs/notes/documents").json()}
    assert client.get(documents["faro.txt"]["file_url"]).content == FARO.encode()
    (tmp_path / "home" / "uploads" / "notes" / "faro.txt").unlink()
    message = _error(client.get(documents["faro.txt"]["file_url"]), 404, "not_found")
    assert "faro.txt" in message and "no longer" in message and str(tmp_path) not in message


def test_a_passage_comes_with_the_text_around_it(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {n} tells of the lighthouse keeper, night {n}." for n in range(12)]
    text = "\n\n".join(paragraphs)
    with _client(tmp_path, chunk_size=200, chunk_overlap=60) as client:
        client.post(f"{API}/kbs", json={"name": "notes"})
        _upload(client, "notes", [("keeper.txt", text.encode())])
        hits = client.get(
            f"{API}/kbs/notes/search", params={"q": "lighthouse keeper", "k": 100}
        ).json()["hits"]
        chunks = sorted(hits, key=lambda h: h["start"])
        assert len(chunks) >= 3
        assert chunks[0]["end"] > chunks[1]["start"]  # the chunks overlap
        passages = [client.get(f"{API}/kbs/notes/passages/{c['chunk_id']}").json() for c in chunks]
        first, middle, last = passages[0], passages[1], passages[-1]
        assert first["before"] == "" and last["after"] == ""
        assert middle["before"] and middle["after"]
        assert f"{middle['before']}\n\n{middle['text']}\n\n{middle['after']}" in text
        assert middle["before"] == text[chunks[0]["start"] : middle["start"]].rstrip()
        assert {k: middle[k] for k in ("chunk_id", "document_id", "name", "page", "heading")} == {
            "chunk_id": chunks[1]["chunk_id"],
            "document_id": chunks[1]["document_id"],
            "name": "keeper.txt",
            "page": None,
            "heading": "",
        }
        assert middle["text"] == text[middle["start"] : middle["end"]]
        assert middle["file_url"] == f"{API}/kbs/notes/documents/{middle['document_id']}/file"

        client.post(f"{API}/kbs", json={"name": "other"})
        _upload(client, "other", [("faro.txt", FARO.encode())])
        [hit] = client.get(f"{API}/kbs/other/search", params={"q": "faro"}).json()["hits"]
        _error(client.get(f"{API}/kbs/notes/passages/{hit['chunk_id']}"), 404, "not_found")
        _error(client.get(f"{API}/kbs/notes/passages/99999"), 404, "not_found")


# no server paths


def test_no_response_holds_a_path_on_the_server(client: TestClient, tmp_path: Path) -> None:
    home = str(tmp_path)
    _kb_with_notes(client)
    documents = client.get(f"{API}/kbs/notes/documents")
    assert home not in documents.text
    assert {d["name"] for d in documents.json()} == {"faro.txt", "etna.md"}
    assert "source" not in documents.json()[0]
    search = client.get(f"{API}/kbs/notes/search", params={"q": "Etna ash"})
    assert home not in search.text and search.json()["hits"][0]["document"] == "etna.md"

    asked = client.post(
        f"{API}/kbs/notes/ask", json={"question": "When did Etna erupt?", "model": "fake:cite"}
    )
    assert home not in asked.text
    assert _events(asked)[-1][1]["citations"][0]["document"] == "etna.md"

    chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"}).json()
    url = f"{API}/chats/{chat['id']}"
    said = client.post(f"{url}/messages", json={"question": "When did Etna erupt?"})
    assert home not in said.text
    detail = client.get(url)
    assert home not in detail.text
    [citation] = detail.json()["messages"][1]["citations"]
    assert citation["document"] == "etna.md"
    assert client.get(citation["file_url"]).text == f"# Volcanoes\n\n{ETNA}"
