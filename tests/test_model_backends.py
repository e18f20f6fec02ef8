"""The Ollama and OpenAI-compatible embedding backends, against real local HTTP servers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from fake_servers import FakeOllama, chat_model, closed_port, embedding_model, fake_vector

from sabio.config import OpenAIServer, Settings, load_settings
from sabio.errors import ConfigError, ModelError, NotFoundError
from sabio.models import get_embedding_model
from sabio.models.ollama import (
    OllamaClient,
    find_ollama_embedding_model,
    ollama_status,
)
from sabio.models.openai import embeddings_url

NOMIC = embedding_model("nomic-embed-text:latest", dimension=12, family="nomic-bert")


def settings_for(host: str, tmp_path: Path, **kwargs: object) -> Settings:
    return Settings(home=tmp_path, ollama_host=host, **kwargs)  # type: ignore[arg-type]


def test_ollama_embeds_through_the_registry(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as ollama:
        model = get_embedding_model(settings_for(ollama.url, tmp_path), "ollama:nomic-embed-text")
        vectors = model.embed(["hola mundo", "hello world"])
        body = ollama.requests[-1].json

    assert model.name == "ollama:nomic-embed-text"
    assert model.dimension == 12
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 12)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    expected = np.asarray(fake_vector("hola mundo", 12))
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    assert body == {
        "model": "nomic-embed-text",
        "input": ["hola mundo", "hello world"],
        "truncate": True,
    }


def test_ollama_embeds_in_batches_and_learns_the_dimension_from_them(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as ollama:
        settings = settings_for(ollama.url, tmp_path, embed_batch_size=2)
        model = get_embedding_model(settings, "ollama:nomic-embed-text:latest")
        vectors = model.embed([f"text {i}" for i in range(5)])
        assert model.dimension == 12
        batches = [len(r.json["input"]) for r in ollama.requests if r.path == "/api/embed"]

    assert model.name == "ollama:nomic-embed-text"  # ":latest" is the same model
    assert batches == [2, 2, 1]  # no probe: the dimension came from the first batch
    assert vectors.shape == (5, 12)


def test_ollama_dimension_before_any_embedding_probes_once(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as ollama:
        model = get_embedding_model(settings_for(ollama.url, tmp_path), "ollama:nomic-embed-text")
        assert model.dimension == 12
        assert model.dimension == 12
        empty = model.embed([])
        assert ollama.count("POST", "/api/embed") == 1

    assert empty.shape == (0, 12)
    assert empty.dtype == np.float32


def test_unreachable_ollama_names_the_url_and_the_fix(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    model = get_embedding_model(settings_for(host, tmp_path), "ollama:nomic-embed-text")

    with pytest.raises(ModelError, match="ollama serve") as caught:
        model.embed(["hola"])
    assert f"Ollama is not reachable at {host}" in str(caught.value)
    assert "OLLAMA_HOST" in str(caught.value)


def test_missing_ollama_model_names_the_pull_command(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as ollama:
        model = get_embedding_model(settings_for(ollama.url, tmp_path), "ollama:bge-m3")
        with pytest.raises(NotFoundError, match="`sabio pull bge-m3`"):
            model.embed(["hola"])


def test_ollama_errors_carry_ollamas_message(tmp_path: Path) -> None:
    with FakeOllama([chat_model("llama3.2:latest")]) as ollama:
        model = get_embedding_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        with pytest.raises(ModelError, match=r"\(400\): \"llama3.2\" does not support embeddings"):
            model.embed(["hola"])


def test_a_server_that_is_not_ollama_is_named() -> None:
    with FakeOllama() as server:
        server.routes.clear()  # every path now answers gin's plain-text 404
        with (
            OllamaClient(server.url) as client,
            pytest.raises(ModelError, match="has no /api/tags"),
        ):
            client.list_models()


def test_client_reads_version_tags_and_show() -> None:
    ollama = FakeOllama([NOMIC, chat_model("llama3.2:latest")])
    with ollama, OllamaClient(ollama.url) as client:
        assert client.version() == "0.12.3"
        assert [m["name"] for m in client.list_models()] == [
            "nomic-embed-text:latest",
            "llama3.2:latest",
        ]
        assert client.show("nomic-embed-text")["capabilities"] == ["embedding"]
        with pytest.raises(NotFoundError, match="sabio pull mistral"):
            client.show("mistral")


def test_find_picks_the_preferred_embedding_model_among_chat_models(tmp_path: Path) -> None:
    models = [
        chat_model("llama3.2:latest"),
        embedding_model("all-minilm:latest"),
        NOMIC,
        chat_model("qwen2.5:7b", family="qwen2"),
        embedding_model("bge-m3:567m"),
    ]
    with FakeOllama(models) as ollama:
        assert (
            find_ollama_embedding_model(settings_for(ollama.url, tmp_path)) == "ollama:bge-m3:567m"
        )


def test_find_recognises_embedding_models_without_capabilities(tmp_path: Path) -> None:
    models = [
        chat_model("llama3.2:latest"),
        chat_model("phi3:latest", family="phi3"),
        embedding_model("my-embedder:latest", family="nomic-bert"),
    ]
    with FakeOllama(models, capabilities=False) as ollama:
        found = find_ollama_embedding_model(settings_for(ollama.url, tmp_path))
    assert found == "ollama:my-embedder"


def test_find_returns_none_without_an_embedding_model(tmp_path: Path) -> None:
    with FakeOllama([chat_model("llama3.2:latest")]) as ollama:
        assert find_ollama_embedding_model(settings_for(ollama.url, tmp_path)) is None


def test_find_returns_none_when_nothing_listens(tmp_path: Path) -> None:
    settings = settings_for(f"http://127.0.0.1:{closed_port()}", tmp_path)
    assert find_ollama_embedding_model(settings) is None


def test_find_gives_up_on_a_server_that_never_answers(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = settings_for(f"http://127.0.0.1:{silent.getsockname()[1]}", tmp_path)
        assert find_ollama_embedding_model(settings) is None  # gives up on its own timeout


def test_status_reports_what_doctor_shows(tmp_path: Path) -> None:
    with FakeOllama([chat_model("llama3.2:latest"), NOMIC]) as ollama:
        status = ollama_status(settings_for(ollama.url, tmp_path))
    assert status == {
        "host": ollama.url,
        "reachable": True,
        "version": "0.12.3",
        "models": ["llama3.2", "nomic-embed-text"],
        "embedding_models": ["nomic-embed-text"],
        "chat_models": ["llama3.2"],
        "error": None,
        "unresolved": None,
    }


def test_status_when_ollama_is_absent(tmp_path: Path) -> None:
    status = ollama_status(settings_for(f"http://127.0.0.1:{closed_port()}", tmp_path))
    assert status["reachable"] is False
    assert status["models"] == []
    assert "ollama serve" in status["error"]


# --- OpenAI-compatible servers ---------------------------------------------------------


def openai_settings(url: str, tmp_path: Path, api_key: str = "", **kwargs: object) -> Settings:
    servers = {"lmstudio": OpenAIServer(base_url=url, api_key=api_key)}
    return Settings(home=tmp_path, openai_servers=servers, **kwargs)  # type: ignore[arg-type]


def test_openai_server_embeds_with_bearer_token_in_batches(tmp_path: Path) -> None:
    with FakeOllama([NOMIC], api_key="sk-local") as server:
        settings = openai_settings(f"{server.url}/v1", tmp_path, "sk-local", embed_batch_size=2)
        model = get_embedding_model(settings, "lmstudio:nomic-embed-text")
        vectors = model.embed(["uno", "dos", "tres"])
        calls = [r for r in server.requests if r.path == "/v1/embeddings"]

    assert model.name == "lmstudio:nomic-embed-text"
    assert model.dimension == 12
    assert [c.json for c in calls] == [
        {"model": "nomic-embed-text", "input": ["uno", "dos"]},
        {"model": "nomic-embed-text", "input": ["tres"]},
    ]
    assert {c.headers["authorization"] for c in calls} == {"Bearer sk-local"}
    assert vectors.shape == (3, 12)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    expected = np.asarray(fake_vector("dos", 12))  # the server answers out of order
    assert np.allclose(vectors[1], expected / np.linalg.norm(expected), atol=1e-6)


def test_openai_base_url_without_v1_and_without_key(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as server:
        model = get_embedding_model(
            openai_settings(server.url, tmp_path), "lmstudio:nomic-embed-text"
        )
        assert model.embed([]).shape == (0, 12)
        assert "authorization" not in server.requests[-1].headers


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://127.0.0.1:1234/v1", "http://127.0.0.1:1234/v1/embeddings"),
        ("http://127.0.0.1:1234/v1/", "http://127.0.0.1:1234/v1/embeddings"),
        ("http://127.0.0.1:1234", "http://127.0.0.1:1234/v1/embeddings"),
        ("https://example.com/openai/v1", "https://example.com/openai/v1/embeddings"),
    ],
)
def test_embeddings_url(base_url: str, url: str) -> None:
    assert embeddings_url(base_url) == url


def test_openai_wrong_key_says_where_to_set_it(tmp_path: Path) -> None:
    with FakeOllama([NOMIC], api_key="sk-local") as server:
        settings = openai_settings(f"{server.url}/v1", tmp_path, "wrong")
        model = get_embedding_model(settings, "lmstudio:nomic-embed-text")
        with pytest.raises(ModelError, match=r"401: Invalid API key.*\[openai.lmstudio\]"):
            model.embed(["hola"])


def test_openai_missing_model_is_not_found(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as server:
        model = get_embedding_model(openai_settings(server.url, tmp_path), "lmstudio:nope")
        with pytest.raises(NotFoundError, match="'nope' is not available on 'lmstudio'"):
            model.embed(["hola"])


def test_openai_wrong_path_points_at_base_url(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as server:
        settings = openai_settings(f"{server.url}/api", tmp_path)
        model = get_embedding_model(settings, "lmstudio:nomic-embed-text")
        with pytest.raises(ModelError, match=r"/api/embeddings does not exist \(404\)"):
            model.embed(["hola"])


def test_unreachable_openai_server_names_url_and_config_entry(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    model = get_embedding_model(openai_settings(url, tmp_path), "lmstudio:nomic-embed-text")
    with pytest.raises(ModelError) as caught:
        model.embed(["hola"])
    assert f"not reachable at {url}/embeddings" in str(caught.value)
    assert "[openai.lmstudio]" in str(caught.value)


def test_openai_prefix_needs_a_configured_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[openai.NAME\]"):
        get_embedding_model(Settings(home=tmp_path), "openai:text-embedding-3-small")


# --- a live Ollama, only when one is there -----------------------------------------------


@pytest.mark.ollama
def test_live_ollama_embeds(tmp_path: Path) -> None:
    host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
    settings = load_settings({"home": tmp_path}, environ={"OLLAMA_HOST": host})
    name = find_ollama_embedding_model(settings)
    if name is None:
        pytest.skip(f"no Ollama with an embedding model at {settings.ollama_host}")
    model = get_embedding_model(settings, name)
    vectors = model.embed(["El gato duerme en el sofá.", "The cat sleeps on the sofa."])
    assert vectors.shape == (2, model.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
