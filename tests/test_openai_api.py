"""The OpenAI API on Sabio's port, driven by the official ``openai`` Python client over real
HTTP (uvicorn), with the fake models of conftest.py and FakeOllama as the upstream."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import ollama
import openai
import pytest
from conftest import running_server
from fake_servers import FakeOllama, chat_model, embedding_model
from test_ollama_api import QUESTION, _settings, _with_documents

from sabio.server import create_app
from sabio.server.ollama_api import EMBEDDED_MODEL
from sabio.service import Sabio

ASK = [{"role": "user", "content": QUESTION}]


@pytest.fixture
def upstream() -> Iterator[FakeOllama]:
    models = [chat_model("llama3.2:latest"), embedding_model("nomic-embed-text:latest")]
    with FakeOllama(models=models) as server:
        yield server


@pytest.fixture
def url(tmp_path: Path, upstream: FakeOllama) -> Iterator[str]:
    settings = _settings(tmp_path, upstream.url)
    _with_documents(settings)
    with running_server(create_app(settings)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as official:
        yield official


def test_models_lists_knowledge_bases_then_ollamas(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "kb/docs"
    assert ids[-2:] == ["llama3.2:latest", "nomic-embed-text:latest"]
    assert client.models.retrieve("kb/docs").id == "kb/docs"


def test_chat_with_a_knowledge_base_whole(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="kb/docs", messages=ASK)
    assert reply.object == "chat.completion"
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    text = choice.message.content or ""
    assert "faro de Alejandría" in text and "- [1] faro.txt" in text
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_chat_with_a_knowledge_base_streaming(url: str, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="kb/docs:latest",
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert "**Fuentes**" in text and "faro.txt" in text
    body = {"model": "kb/docs", "messages": ASK, "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    assert raw.startswith(b"data: {") and raw.endswith(b"data: [DONE]\n\n")


def test_other_models_pass_through(client: openai.OpenAI, upstream: FakeOllama) -> None:
    messages = [{"role": "user", "content": "hola"}]
    whole = client.chat.completions.create(model="llama3.2", messages=messages)
    assert whole.choices[0].message.content == "El faro de Alejandría guiaba a los barcos."
    parts = list(client.chat.completions.create(model="llama3.2", messages=messages, stream=True))
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert text == whole.choices[0].message.content
    vectors = client.embeddings.create(model="nomic-embed-text", input=["uno", "dos"])
    assert [d.index for d in vectors.data] == [1, 0]  # Ollama's answer, byte for byte
    seen = next(r for r in reversed(upstream.requests) if r.path == "/v1/embeddings")
    assert "authorization" not in seen.headers  # the client's key stays here


def test_an_unknown_knowledge_base_is_404_in_openais_shape(url: str, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="kb/nope", messages=ASK)
    assert "not found" in raised.value.message
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": "kb/nope", "messages": ASK})
    error = response.json()["error"]
    assert response.status_code == 404
    assert error["type"] == "not_found_error" and "message" in error and "code" in error


def test_embeddings_of_a_knowledge_base_come_from_its_embedder(
    client: openai.OpenAI, upstream: FakeOllama
) -> None:
    vectors = client.embeddings.create(model="kb/docs", input=["hola", "adiós"])
    assert [d.index for d in vectors.data] == [0, 1] and vectors.model == "kb/docs"
    assert len(vectors.data[0].embedding) == 64  # fake:words, the knowledge base's embedder
    assert not any(r.path.endswith("embeddings") for r in upstream.requests)  # not Ollama


def test_without_auth_a_foreign_host_or_page_is_refused(url: str) -> None:
    refused = httpx.get(f"{url}/v1/models", headers={"Host": "evil.example"})
    assert refused.status_code == 403 and isinstance(refused.json()["error"]["message"], str)
    body = {"model": "kb/docs", "messages": ASK}
    evil = httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and evil.json()["error"]["type"] == "api_error"
    origin = "chrome-extension://abcdef"
    local = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Origin": origin})
    assert local.status_code == 200 and local.headers["access-control-allow-origin"] == origin


def test_with_auth_an_api_token_is_needed(tmp_path: Path, upstream: FakeOllama) -> None:
    settings = _settings(tmp_path, upstream.url, auth=True)
    _with_documents(settings)
    with closing(Sabio(settings)) as sabio:
        user = sabio.users.create_user("ana", "a long enough password", admin=True)
        _, token = sabio.users.create_token(user.id, "n8n")
    with running_server(create_app(settings)) as url:
        with (
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0) as anonymous,
            pytest.raises(openai.AuthenticationError) as raised,
        ):
            anonymous.models.list()
        assert "API token" in raised.value.message
        missing = httpx.get(f"{url}/v1/models")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        with openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0) as signed:
            assert next(iter(signed.models.list())).id == "kb/docs"
            reply = signed.chat.completions.create(model="kb/docs", messages=ASK)
            assert "faro.txt" in (reply.choices[0].message.content or "")


def test_an_upstream_sabio_owns_the_embedded_model(tmp_path: Path) -> None:
    """When the upstream lists Sabio's embedded model (it is another Sabio), its requests
    go there: the fake upstream answers with its own text."""
    with FakeOllama(models=[chat_model(EMBEDDED_MODEL)]) as other:
        settings = _settings(tmp_path, other.url)
        with running_server(create_app(settings)) as url, ollama.Client(host=url) as client:
            names = [m.model for m in client.list().models]
            reply = client.chat(model=EMBEDDED_MODEL, messages=ASK)
            with openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0) as oa:
                whole = oa.chat.completions.create(model=EMBEDDED_MODEL, messages=ASK)
    assert names.count(EMBEDDED_MODEL) == 1
    assert reply.message.content == "El faro de Alejandría guiaba a los barcos."
    assert whole.choices[0].message.content == reply.message.content


def test_allowed_origins_adds_pages(tmp_path: Path, upstream: FakeOllama) -> None:
    extra = "https://chat.example.com, http://192.168.1.*"
    settings = _settings(tmp_path, upstream.url, allowed_origins=extra)
    _with_documents(settings)
    body = {"model": "kb/docs", "messages": ASK, "stream": False}
    with running_server(create_app(settings)) as url:
        for origin in ("https://chat.example.com", "http://192.168.1.20:3000"):
            preflight = httpx.options(
                f"{url}/v1/chat/completions",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == origin
            chat = httpx.post(f"{url}/api/chat", json=body, headers={"Origin": origin})
            assert chat.status_code == 200
            assert chat.headers["access-control-allow-origin"] == origin
        evil = httpx.post(
            f"{url}/api/chat", json=body, headers={"Origin": "https://chat.example.com.evil"}
        )
        assert evil.status_code == 403
        web_api = httpx.post(
            f"{url}/api/v1/kbs", json={"name": "x"}, headers={"Origin": "https://chat.example.com"}
        )
        assert web_api.status_code == 403  # Sabio's own REST API keeps its same-origin rule
    everyone = _settings(tmp_path / "all", upstream.url, allowed_origins="*")
    with running_server(create_app(everyone)) as url:
        anywhere = httpx.get(f"{url}/v1/models", headers={"Origin": "https://any.example"})
        assert anywhere.headers["access-control-allow-origin"] == "https://any.example"
