"""Sabio's embedded chat model through its Ollama and OpenAI APIs, and the passthrough
against a real upstream: Sabio A's ``ollama_host`` is a second Sabio B, which serves the
embedded model; the official clients chat through A with B's model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest
from conftest import running_server
from fake_servers import closed_port

from sabio.config import load_settings
from sabio.server import create_app
from sabio.server.ollama_api import EMBEDDED_MODEL

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

HELLO = [{"role": "user", "content": "Say hello."}]


def _server(home: Path, ollama_host: str) -> Iterator[str]:
    values = {
        "home": home,
        "embedding_model": "fake:words",
        "chat_model": "fake:cite",
        "ollama_host": ollama_host,
        "answer_tokens": 8,
        "temperature": 0,
        "workers": 1,
    }
    with running_server(create_app(load_settings(values, environ={}))) as url:
        yield url


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Sabio B, without an Ollama: only its embedded model."""
    yield from _server(tmp_path_factory.mktemp("b"), f"127.0.0.1:{closed_port()}")


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    """Sabio A, whose Ollama is Sabio B."""
    yield from _server(tmp_path_factory.mktemp("a"), upstream)


def test_the_embedded_model_is_listed_and_answers(upstream: str) -> None:
    with ollama.Client(host=upstream) as client:
        assert EMBEDDED_MODEL in [m.model for m in client.list().models]
        whole = client.chat(model=EMBEDDED_MODEL, messages=HELLO)
        assert whole.done and whole.message.content
        assert "Sources" not in (whole.message.content or "")  # no retrieval
    with openai.OpenAI(base_url=f"{upstream}/v1", api_key="-", max_retries=0) as client:
        assert EMBEDDED_MODEL in [m.id for m in client.models.list()]
        stream = client.chat.completions.create(model=EMBEDDED_MODEL, messages=HELLO, stream=True)
        parts = list(stream)
        assert parts[-1].choices[0].finish_reason == "stop"


def test_passthrough_to_a_real_upstream(front: str) -> None:
    with ollama.Client(host=front) as client:
        assert EMBEDDED_MODEL in [m.model for m in client.list().models]
        whole = client.chat(model=EMBEDDED_MODEL, messages=HELLO, options={"temperature": 0})
        assert whole.done and whole.done_reason == "stop" and whole.message.content
        parts = list(client.chat(model=EMBEDDED_MODEL, messages=HELLO, stream=True))
        assert parts[-1].done and "".join(p.message.content or "" for p in parts)
    with openai.OpenAI(base_url=f"{front}/v1", api_key="-", max_retries=0) as client:
        reply = client.chat.completions.create(model=EMBEDDED_MODEL, messages=HELLO)
        assert reply.choices[0].message.content
