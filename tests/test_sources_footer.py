"""The sources footer on every knowledge-base answer of the Ollama and OpenAI APIs, also
when the answer cites nothing: real HTTP (uvicorn), the ``ollama`` and ``openai`` clients,
the scripted chat models of conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import ollama
import openai
import pytest
from conftest import running_server
from fake_servers import closed_port

from sabio.config import Settings, load_settings
from sabio.server import create_app
from sabio.service import Sabio

FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
LIGHT = "The lighthouse of Alexandria guided the ships into the harbour at night."
ASKED_TO_GIVE_UP = (
    "¿Qué guiaba el faro de Alejandría? Si no lo sabes, di: La respuesta no está en tus documentos."
)
"""The ``echo`` model repeats it: an answer that says the passages do not answer."""


def _settings(tmp_path: Path, chat_model: str) -> Settings:
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "chat_model": chat_model,
        "workers": 2,
        "ollama_host": f"http://127.0.0.1:{closed_port()}",
    }
    return load_settings(values, environ={})


@pytest.fixture(params=["fake:echo", "fake:cite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    settings = _settings(tmp_path, request.param)
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "faro.txt").write_text(FARO, encoding="utf-8")
    (folder / "light.txt").write_text(LIGHT, encoding="utf-8")
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
        sabio.create_kb("empty")
        sabio.add([folder / "faro.txt", folder / "light.txt"], "docs")
    with running_server(create_app(settings)) as base:
        yield base


def _footer(text: str) -> str:
    assert "\n---\n**" in text, f"no sources footer in {text!r}"
    return text[text.index("\n---\n**") :]


def test_an_answer_that_cites_nothing_still_lists_what_it_was_given(url: str) -> None:
    messages = [{"role": "user", "content": ASKED_TO_GIVE_UP}]
    with ollama.Client(host=url) as client:
        whole = client.chat(model="kb/docs", messages=messages).message.content or ""
        streamed = "".join(
            part.message.content or ""
            for part in client.chat(model="kb/docs", messages=messages, stream=True)
        )
        generated = client.generate(model="kb/docs", prompt=ASKED_TO_GIVE_UP).response
    for text in (whole, streamed, generated):
        footer = _footer(text)
        assert footer.startswith("\n---\n**Fuentes**\n")
        assert "faro.txt" in footer
        if "[1]" not in footer:  # nothing cited: the passages, said to be uncited
            assert "Ninguno de estos pasajes responde" in footer
            assert "- faro.txt\n" in footer


def test_a_knowledge_base_without_passages_says_so_in_the_footer(url: str) -> None:
    question = "¿Cuál es la capital de Noruega?"
    with openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0) as client:
        whole = client.chat.completions.create(
            model="kb/empty", messages=[{"role": "user", "content": question}]
        )
        chunks = client.chat.completions.create(
            model="kb/empty", messages=[{"role": "user", "content": question}], stream=True
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    for text in (whole.choices[0].message.content or "", streamed):
        assert "Ningún pasaje de tus documentos corresponde a la pregunta." in _footer(text)


def test_an_unsupported_answer_is_never_shown_as_sourced(url: str) -> None:
    body = {
        "model": "kb/docs",
        "messages": [{"role": "user", "content": "¿Cuál es la capital de Noruega?"}],
        "stream": False,
    }
    footer = _footer(httpx.post(f"{url}/api/chat", json=body).json()["message"]["content"])
    if "[1]" not in footer:  # the echo model: a statement no passage supports
        assert "La respuesta no cita ninguno de estos pasajes" in footer
        assert "⚠ Esta afirmación no está respaldada por tus documentos." in footer


def test_the_footer_of_an_english_answer_is_in_english(url: str) -> None:
    body = {
        "model": "kb/docs",
        "messages": [{"role": "user", "content": "What guided the ships into the harbour?"}],
        "stream": False,
    }
    text = httpx.post(f"{url}/api/chat", json=body).json()["message"]["content"]
    footer = _footer(text)
    assert footer.startswith("\n---\n**Sources**\n") and "light.txt" in footer
