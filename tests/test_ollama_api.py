"""The Ollama API on Sabio's port, driven by the official ``ollama`` Python client over real
HTTP (uvicorn), with the fake embedder and chat models of conftest.py and FakeOllama as
the upstream Ollama."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from client_templates import PAGE_ASSIST_CONDENSE, PAGE_ASSIST_RAG
from conftest import running_server
from fake_servers import FakeOllama, chat_model, closed_port, embedding_model

from sabio.config import Settings, load_settings
from sabio.server import create_app
from sabio.server.ollama_api import (
    EMBEDDED_MODEL,
    EMBEDDER,
    embedded_installed,
    embedder_installed,
)
from sabio.service import Sabio

FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
QUESTION = "¿Qué guiaba el faro de Alejandría?"


def _settings(tmp_path: Path, ollama_host: str, **overrides: Any) -> Settings:
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "chat_model": "fake:cite",
        "workers": 2,
        "ollama_host": ollama_host,
        **overrides,
    }
    return load_settings(values, environ={})


def _with_documents(settings: Settings) -> None:
    """A knowledge base 'docs' with one document, faro.txt."""
    folder = settings.home.parent / "files"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faro.txt").write_text(FARO, encoding="utf-8")
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
        sabio.add([folder / "faro.txt"], "docs")


def _own_models() -> list[str]:
    """Sabio's embedded models installed here, as /api/tags lists them."""
    return [EMBEDDER] * embedder_installed() + [EMBEDDED_MODEL] * embedded_installed()


@pytest.fixture
def upstream() -> Iterator[FakeOllama]:
    models = [chat_model("llama3.2:latest"), embedding_model("nomic-embed-text:latest")]
    with FakeOllama(models=models, version="0.12.3-rc1") as server:
        yield server


@pytest.fixture
def url(tmp_path: Path, upstream: FakeOllama) -> Iterator[str]:
    settings = _settings(tmp_path, upstream.url)
    _with_documents(settings)
    with running_server(create_app(settings)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=url) as official:
        yield official


# probes and lists


def test_head_root_and_version_answer_as_ollama_does(url: str) -> None:
    assert httpx.head(url).status_code == 200
    page = httpx.get(url)  # the web app's page stays for browsers
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert httpx.get(f"{url}/api/version").json() == {"version": "0.12.3"}


def test_version_without_ollama_is_still_numeric(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"127.0.0.1:{closed_port()}")
    with running_server(create_app(settings)) as url:
        found = httpx.get(f"{url}/api/version").json()["version"]
    assert [int(part) for part in found.split(".")] and len(found.split(".")) == 3


def test_tags_lists_knowledge_bases_then_ollama_models(url: str, client: ollama.Client) -> None:
    raw = httpx.get(f"{url}/api/tags").json()["models"]
    names = [m["name"] for m in raw]
    assert names == ["kb/docs:latest", *_own_models(), "llama3.2:latest", "nomic-embed-text:latest"]
    kb = raw[0]
    assert kb["model"] == kb["name"]  # n8n reads name, Open WebUI model
    assert kb["details"]["family"] == "sabio"
    assert not {"bert", "nomic-bert"} & set(kb["details"]["families"])  # Page Assist
    assert isinstance(kb["size"], int) and len(kb["digest"]) == 64
    listed = client.list()
    assert listed.models[0].model == "kb/docs:latest"


def test_tags_without_ollama_lists_knowledge_bases_only(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"127.0.0.1:{closed_port()}")
    _with_documents(settings)
    with running_server(create_app(settings)) as url:
        response = httpx.get(f"{url}/api/tags")
    assert response.status_code == 200
    assert [m["name"] for m in response.json()["models"]] == ["kb/docs:latest", *_own_models()]


# answers


def test_chat_with_a_knowledge_base_streams_ndjson_with_sources(url: str) -> None:
    body = {"model": "kb/docs", "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{url}/api/chat", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        raw = b"".join(response.iter_bytes())
    assert raw.endswith(b"\n")
    lines = [json.loads(line) for line in raw.decode().split("\n") if line]
    *parts, done = lines
    assert all(not p["done"] and p["model"] == "kb/docs" for p in parts)
    assert done["done"] is True and done["done_reason"] == "stop"
    assert done["message"]["content"] == ""  # clients drop the done line's text
    for metric in ("total_duration", "load_duration", "prompt_eval_count", "eval_count"):
        assert isinstance(done[metric], int) and done[metric] >= 0
    text = "".join(p["message"]["content"] for p in parts)
    assert "faro de Alejandría" in text and "[1]" in text
    assert "**Fuentes**" in text and "- [1] faro.txt" in text
    assert str(Path.home()) not in text and "/files/" not in text  # never a server path


def test_chat_with_the_official_client_streaming_and_not(client: ollama.Client) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    streamed = list(client.chat(model="kb/docs:latest", messages=messages, stream=True))
    assert streamed[-1].done and streamed[-1].done_reason == "stop"
    text = "".join(part.message.content or "" for part in streamed)
    whole = client.chat(model="kb/docs", messages=messages)
    assert whole.done and whole.message.content == text
    assert "faro.txt" in text


def test_chat_history_reaches_the_answer(url: str, tmp_path: Path) -> None:
    messages = [
        {"role": "user", "content": "Háblame del faro"},
        {
            "role": "assistant",
            "content": "Guiaba barcos [1].\n\n---\n**Fuentes**\n- [1] faro.txt\n",
        },
        {"role": "user", "content": "¿y a qué puerto?"},
    ]
    body = {"model": "kb/docs", "messages": messages, "stream": False}
    reply = httpx.post(f"{url}/api/chat", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["done"] is True


def test_page_assist_knowledge_is_answered_from_the_passages_it_sends(url: str) -> None:
    """Page Assist's Knowledge retrieves on its side and sends its passages in LangChain's
    "stuff" prompt (tests/test_client_context.py): the question is answered from them
    (fake:cite quotes passage 1), beside the knowledge base's, and the Sources list names
    them; before, the whole prompt was searched as the question and they were ignored.
    Its request to rephrase a follow-up for its own search gets the query at once."""
    context = "<doc id='0'>Las mareas vivas de Brest llegan dos veces al mes con la luna.</doc>"
    prompt = PAGE_ASSIST_RAG.replace("{context}", context).replace(
        "{question}", "¿Cuándo llegan las mareas vivas de Brest?"
    )
    body = {"model": "kb/docs:latest", "messages": [{"role": "user", "content": prompt}]}
    for stream in (True, False):
        reply = httpx.post(f"{url}/api/chat", json={**body, "stream": stream})
        assert reply.status_code == 200, reply.text
        lines = [json.loads(line) for line in reply.text.splitlines() if line]
        text = "".join(line["message"]["content"] for line in lines)
        answer, _, footer = text.partition("\n---\n**Fuentes**\n")
        assert answer.startswith("Las mareas vivas de Brest") and "[1]" in answer, text
        assert "- [1] el contexto enviado con la pregunta: “Las mareas vivas" in footer, text
    generated = httpx.post(
        f"{url}/api/generate", json={"model": "kb/docs", "prompt": prompt, "stream": False}
    )
    assert generated.json()["response"].startswith("Las mareas vivas de Brest")
    history = "Human: ¿Cuándo llegan las mareas vivas?\nAssistant: Dos veces al mes [1]."
    condense = PAGE_ASSIST_CONDENSE.replace("{chat_history}", history)
    body["messages"] = [{"role": "user", "content": condense.replace("{question}", "¿y en Brest?")}]
    rephrased = httpx.post(f"{url}/api/chat", json={**body, "stream": False}).json()
    assert rephrased["message"]["content"] == "¿Cuándo llegan las mareas vivas? ¿y en Brest?"


def test_generate_with_a_knowledge_base(client: ollama.Client) -> None:
    whole = client.generate(model="kb/docs", prompt=QUESTION)
    assert whole.done and "faro.txt" in whole.response
    parts = list(client.generate(model="kb/docs", prompt=QUESTION, stream=True))
    assert parts[-1].done and "".join(p.response for p in parts) == whole.response


def test_an_empty_generate_only_loads_or_unloads(url: str) -> None:
    body = {"model": "kb/docs:latest", "prompt": "", "keep_alive": 0}
    reply = httpx.post(f"{url}/api/generate", json=body).json()
    assert reply["done"] is True and reply["done_reason"] == "unload"


def test_open_webui_tasks_skip_retrieval(tmp_path: Path, upstream: FakeOllama) -> None:
    settings = _settings(tmp_path, upstream.url, chat_model="fake:echo")
    _with_documents(settings)
    task = "### Task:\nReply with one emoji.\n<chat_history>\nUSER: faro\n</chat_history>"
    title = "### Task:\nGenerate a title.\n<chat_history>\nUSER: faro\n</chat_history>"
    with running_server(create_app(settings)) as url, ollama.Client(host=url) as official:
        reply = official.chat(model="kb/docs:latest", messages=[{"role": "user", "content": task}])
        titled = official.chat(model="kb/docs", messages=[{"role": "user", "content": title}])
        asked = official.chat(
            model="kb/docs:latest", messages=[{"role": "user", "content": QUESTION}]
        )
    assert reply.message.content == task  # not a task Sabio knows: the plain model's answer
    assert titled.message.content == "Faro"  # a title (tests/test_client_tasks.py)
    assert "Fuentes" not in (reply.message.content or "")
    assert asked.message.content != QUESTION  # a real question goes through Sabio's prompt


def test_an_unknown_knowledge_base_is_404_in_ollamas_shape(url: str, client: ollama.Client) -> None:
    body = {"model": "kb/nope", "messages": [{"role": "user", "content": QUESTION}]}
    response = httpx.post(f"{url}/api/chat", json=body)
    assert response.status_code == 404
    assert "not found" in response.json()["error"]
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="kb/nope", messages=[{"role": "user", "content": QUESTION}])
    assert raised.value.status_code == 404 and isinstance(raised.value.error, str)


def test_show_a_knowledge_base_mirrors_its_ollama_generator(
    tmp_path: Path, upstream: FakeOllama
) -> None:
    settings = _settings(tmp_path, upstream.url, chat_model="ollama:llama3.2")
    _with_documents(settings)
    with running_server(create_app(settings)) as url:
        shown = httpx.post(f"{url}/api/show", json={"name": "kb/docs"}).json()  # Continue
        missing = httpx.post(f"{url}/api/show", json={"model": "kb/nope"})
    assert shown["model_info"]["llama.context_length"] == 131072
    assert shown["template"] == "{{ .Prompt }}" and "num_ctx" in shown["parameters"]
    assert shown["details"]["family"] == "sabio"
    assert shown["details"]["parameter_size"] == "3.2B"
    assert shown["capabilities"] == ["completion"]
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_show_without_ollama_gives_sane_details(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"127.0.0.1:{closed_port()}")
    _with_documents(settings)
    with running_server(create_app(settings)) as url, ollama.Client(host=url) as official:
        shown = official.show("kb/docs:latest")
    assert shown.details is not None and shown.details.family == "sabio"
    info = shown.modelinfo or {}
    assert info[f"{info['general.architecture']}.context_length"] == 2048  # fake:cite's window


def test_ps_passes_ollama_through_or_lists_nothing(url: str, tmp_path: Path) -> None:
    assert httpx.get(f"{url}/api/ps").status_code in (200,)
    settings = _settings(tmp_path / "other", f"127.0.0.1:{closed_port()}")
    with running_server(create_app(settings)) as down:
        assert httpx.get(f"{down}/api/ps").json() == {"models": []}


# everything else is Ollama's


def test_other_models_pass_through_streaming_and_not(
    url: str, client: ollama.Client, upstream: FakeOllama
) -> None:
    messages = [{"role": "user", "content": "hola"}]
    whole = client.chat(model="llama3.2", messages=messages)
    assert whole.message.content == "El faro de Alejandría guiaba a los barcos."
    parts = list(client.chat(model="llama3.2", messages=messages, stream=True))
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert parts[-1].done
    embedded = client.embed(model="nomic-embed-text", input=["uno", "dos"])
    assert len(embedded.embeddings) == 2
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="missing-model", messages=messages)
    assert raised.value.status_code == 404 and "try pulling it first" in raised.value.error


def test_pass_through_drops_host_origin_and_credentials(url: str, upstream: FakeOllama) -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hola"}]}
    headers = {"Origin": "chrome-extension://abcdef", "X-Custom": "kept"}
    response = httpx.post(f"{url}/api/chat", json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "chrome-extension://abcdef"
    seen = next(r for r in reversed(upstream.requests) if r.path == "/api/chat")
    assert "origin" not in seen.headers and seen.headers["x-custom"] == "kept"
    assert seen.headers["host"] == upstream.url.removeprefix("http://")
    assert seen.json == body


def test_pass_through_to_an_absent_ollama_is_502(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"127.0.0.1:{closed_port()}")
    with running_server(create_app(settings)) as url:
        response = httpx.post(f"{url}/api/embed", json={"model": "x", "input": "a"})
    assert response.status_code == 502
    assert "ollama serve" in response.json()["error"]
    assert settings.ollama_host in response.json()["error"]


# access


def test_extension_origins_get_cors_and_may_chat_without_auth(url: str) -> None:
    origin = "moz-extension://1234-abcd"
    preflight = httpx.options(
        f"{url}/api/chat",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    body = {"model": "kb/docs", "messages": [{"role": "user", "content": QUESTION}]}
    chat = httpx.post(f"{url}/api/chat", json={**body, "stream": False}, headers={"Origin": origin})
    assert chat.status_code == 200 and chat.headers["access-control-allow-origin"] == origin
    evil = {"Origin": "https://evil.example"}
    refused = httpx.post(f"{url}/api/chat", json=body, headers=evil)
    assert refused.status_code == 403 and isinstance(refused.json()["error"], str)
    evil_preflight = httpx.options(
        f"{url}/api/chat", headers={**evil, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in evil_preflight.headers


def test_without_auth_a_foreign_host_is_refused(url: str) -> None:
    response = httpx.get(f"{url}/api/tags", headers={"Host": "evil.example"})
    assert response.status_code == 403 and isinstance(response.json()["error"], str)


def test_with_auth_an_api_token_is_needed(tmp_path: Path, upstream: FakeOllama) -> None:
    settings = _settings(tmp_path, upstream.url, auth=True)
    _with_documents(settings)
    with closing(Sabio(settings)) as sabio:
        user = sabio.users.create_user("ana", "a long enough password", admin=True)
        _, token = sabio.users.create_token(user.id, "open webui")
    with running_server(create_app(settings)) as url:
        with ollama.Client(host=url) as anonymous, pytest.raises(ollama.ResponseError) as raised:
            anonymous.list()
        assert raised.value.status_code == 401 and "API token" in raised.value.error
        wrong = httpx.post(
            f"{url}/api/chat",
            json={"model": "kb/docs", "messages": [{"role": "user", "content": QUESTION}]},
            headers={"Authorization": "Bearer sabio_wrong"},
        )
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        with ollama.Client(host=url, headers={"Authorization": f"Bearer {token}"}) as signed:
            assert signed.list().models[0].model == "kb/docs:latest"
            reply = signed.chat(model="kb/docs", messages=[{"role": "user", "content": QUESTION}])
            assert "faro.txt" in (reply.message.content or "")
            signed.chat(model="llama3.2", messages=[{"role": "user", "content": "hola"}])
    passed = next(r for r in reversed(upstream.requests) if r.path == "/api/chat")
    assert "authorization" not in passed.headers  # Sabio's token never reaches Ollama


def test_every_route_refuses_a_foreign_web_page(url: str) -> None:
    evil = {"Origin": "https://evil.example"}
    for response in (
        httpx.get(f"{url}/api/tags", headers=evil),
        httpx.get(f"{url}/api/version", headers=evil),
        httpx.post(f"{url}/api/show", json={"model": "kb/docs"}, headers=evil),
    ):
        assert response.status_code == 403, response.request.url
        assert (
            "evil.example" in response.json()["error"]
            and "allowed_origins" in (response.json()["error"])
        )
        assert "access-control-allow-origin" not in response.headers
    openai_shape = httpx.get(f"{url}/v1/models", headers=evil)
    assert openai_shape.status_code == 403 and openai_shape.json()["error"]["message"]
    own = httpx.get(f"{url}/api/tags", headers={"Origin": url})  # Sabio's own page
    local = httpx.get(f"{url}/api/tags", headers={"Origin": "http://localhost:3000"})
    assert own.status_code == 200 and local.status_code == 200


def test_with_auth_the_probe_says_a_token_is_needed(tmp_path: Path, upstream: FakeOllama) -> None:
    """Page Assist and others probe ``GET /``: without a token it is a 401, not the page."""
    settings = _settings(tmp_path, upstream.url, auth=True)
    with closing(Sabio(settings)) as sabio:
        user = sabio.users.create_user("ana", "a long enough password", admin=True)
        _, token = sabio.users.create_token(user.id, "page assist")
    with running_server(create_app(settings)) as url:
        probed = httpx.get(f"{url}/", headers={"Origin": "chrome-extension://abc"})
        signed = httpx.get(f"{url}/", headers={"Authorization": f"Bearer {token}"})
        visit = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
        page = httpx.get(f"{url}/", headers=visit)
        version = httpx.get(f"{url}/api/version")
    assert probed.status_code == 401 and "API token" in probed.json()["error"]
    assert probed.headers["www-authenticate"] == "Bearer"
    assert probed.headers["access-control-allow-origin"] == "chrome-extension://abc"
    assert signed.status_code == 200 and signed.text == "Ollama is running"
    assert page.status_code == 200 and "<html" in page.text.lower()  # the login page
    assert version.status_code == 401 and "API token" in version.json()["error"]
