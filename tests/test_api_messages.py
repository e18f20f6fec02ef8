"""The Ollama and OpenAI APIs' errors in the reader's language (Accept-Language), in each
API's own shape: real requests to a real server (uvicorn) with the fake models of
conftest.py, no Ollama behind it (a closed port)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_server
from fake_servers import FakeOllama, chat_chunk, chat_model, closed_port

from sabio.config import Settings, load_settings
from sabio.server import create_app
from sabio.server.api_messages import MESSAGES, SABIO_ERRORS_ES, reader_language
from sabio.service import Sabio

SPANISH = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
CHAT = {"messages": [{"role": "user", "content": "¿Qué guiaba el faro?"}], "stream": False}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "chat_model": "fake:cite",
        "ollama_host": f"127.0.0.1:{closed_port()}",
        **overrides,
    }
    return load_settings(values, environ={})


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    settings = _settings(tmp_path)
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
    with running_server(create_app(settings)) as base:
        yield base


def test_the_language_is_the_one_accept_language_prefers() -> None:
    assert reader_language("es-ES,es;q=0.9,en;q=0.8") == "es"
    assert reader_language("en-GB,en;q=0.9,es;q=0.8") == "en"
    assert reader_language("fr-FR, es;q=0.5, en;q=0.4") == "es"
    assert reader_language("de, fr;q=0.8") == "en"  # neither: English
    assert reader_language("") == "en"  # programs send none
    assert reader_language("es;q=0, en") == "en"
    assert reader_language("es;q=bad, en;q=0.1") == "en"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_says_the_same_in_both_languages() -> None:
    for key, said in MESSAGES.items():
        assert set(said) == {"en", "es"}, key
        english = _fields(said["en"])
        spanish = {name.removesuffix("_es") for name in _fields(said["es"])}
        assert english == spanish, key
        assert said["en"] != said["es"], key
    assert not set(SABIO_ERRORS_ES) & set(MESSAGES)


@pytest.mark.parametrize(
    ("headers", "words"),
    [(ENGLISH, "not found"), (SPANISH, "no se encuentra"), ({}, "not found")],
)
def test_an_unknown_model_is_said_in_the_readers_language(
    url: str, headers: dict[str, str], words: str
) -> None:
    chat = httpx.post(f"{url}/api/chat", json={"model": "kb/nope", **CHAT}, headers=headers)
    assert chat.status_code == 404
    assert list(chat.json()) == ["error"] and words in chat.json()["error"]
    assert "'nope'" in chat.json()["error"]
    embedded = httpx.post(
        f"{url}/v1/embeddings", json={"model": "embedded:nope", "input": "x"}, headers=headers
    )
    assert embedded.status_code == 404
    error = embedded.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "not_found_error" and words in error["message"]


def test_a_pull_without_ollama_says_so_in_spanish(url: str) -> None:
    english = httpx.post(f"{url}/api/pull", json={"model": "llama3.2"}, headers=ENGLISH)
    spanish = httpx.post(f"{url}/api/pull", json={"model": "llama3.2"}, headers=SPANISH)
    assert english.status_code == spanish.status_code == 502
    assert english.json()["error"].startswith("Ollama is not reachable at http://127.0.0.1:")
    assert spanish.json()["error"].startswith("no se puede conectar con Ollama en http://")
    assert "`ollama serve`" in spanish.json()["error"]
    ours = httpx.post(f"{url}/api/pull", json={"model": "embedded:smollm2"}, headers=SPANISH)
    assert ours.status_code == 400
    assert ours.json() == {
        "error": '"embedded:smollm2" es parte de Sabio, no un modelo de Ollama: no se puede '
        "descargar (viene con el extra `embedded` de Sabio; `sabio models` lista lo instalado)"
    }
    kb = httpx.request("DELETE", f"{url}/api/delete", json={"model": "kb/docs"}, headers=SPANISH)
    assert kb.status_code == 400 and "es una base de conocimiento de Sabio" in kb.json()["error"]


def test_bad_input_is_said_in_spanish_in_each_apis_shape(url: str) -> None:
    broken = httpx.post(f"{url}/api/chat", content=b"{not json", headers=SPANISH)
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("el cuerpo de la petición no es JSON válido: ")
    no_model = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=SPANISH)
    assert no_model.status_code == 400
    assert no_model.json() == {
        "error": {
            "message": "falta el modelo (model)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    bad_input = httpx.post(
        f"{url}/api/embed", json={"model": "kb/docs", "input": [1, "a"]}, headers=SPANISH
    )
    assert bad_input.status_code == 400
    assert bad_input.json() == {
        "error": "tipo de entrada no válido: input debe ser un texto o una lista de textos"
    }
    english = httpx.post(
        f"{url}/api/embed", json={"model": "kb/docs", "input": [1, "a"]}, headers=ENGLISH
    )
    assert english.json() == {
        "error": "invalid input type: input must be a string or a list of strings"
    }


def test_foreign_pages_and_hosts_are_refused_in_spanish(url: str) -> None:
    evil = {"Origin": "https://evil.example", **SPANISH}
    page = httpx.get(f"{url}/api/tags", headers=evil)
    assert page.status_code == 403
    assert page.json()["error"].startswith("rechazada una petición de la página https://evil")
    openai = httpx.get(f"{url}/v1/models", headers=evil)
    assert openai.status_code == 403 and "allowed_origins" in openai.json()["error"]["message"]
    assert openai.json()["error"]["message"].startswith("rechazada")
    host = httpx.get(f"{url}/api/tags", headers={"Host": "evil.example", **SPANISH})
    assert host.status_code == 403
    assert host.json() == {
        "error": "este servidor solo responde en 127.0.0.1 o localhost, no en 'evil.example'; "
        "para usarlo desde otros dispositivos, arráncalo con `sabio serve --auth --host 0.0.0.0`"
    }
    english = httpx.get(f"{url}/api/tags", headers={"Host": "evil.example", **ENGLISH})
    assert english.json()["error"].startswith("this server answers at 127.0.0.1 or localhost")


def test_with_auth_a_missing_token_or_access_is_said_in_spanish(tmp_path: Path) -> None:
    settings = _settings(tmp_path, auth=True)
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("finanzas")
        admin = sabio.users.create_user("ana", "a long enough password", admin=True)
        sabio.users.create_user("luis", "another long password")
        luis = next(u for u in sabio.users.list_users() if u.name == "luis")
        _, token = sabio.users.create_token(luis.id, "page assist")
        assert admin.admin
    with running_server(create_app(settings)) as url:
        anonymous = httpx.get(f"{url}/api/tags", headers=SPANISH)
        openai = httpx.get(f"{url}/v1/models", headers=SPANISH)
        english = httpx.get(f"{url}/v1/models", headers=ENGLISH)
        signed = {"Authorization": f"Bearer {token}", **SPANISH}
        forbidden = httpx.post(
            f"{url}/api/chat", json={"model": "kb/finanzas", **CHAT}, headers=signed
        )
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"].startswith("hace falta un token de API: ")
    assert openai.status_code == 401
    assert openai.json()["error"]["code"] == "invalid_api_key"
    assert openai.json()["error"]["message"].startswith("hace falta un token de API")
    assert english.json()["error"]["message"].startswith("an API token is needed")
    assert forbidden.status_code == 403
    assert forbidden.json() == {
        "error": "no tienes acceso a la base 'finanzas': pídeselo a un administrador"
    }


def test_an_answer_that_breaks_off_midway_says_so_in_spanish(tmp_path: Path) -> None:
    """Ollama's stream ends after two words, without its done line: the last line (Ollama's
    API) or event (OpenAI's) says so in the reader's language, after the words it sent."""
    with FakeOllama([chat_model("llama3.2:latest")]) as ollama:
        cut = [chat_chunk("llama3.2:latest", "El faro"), b'{"model": "llama3.2:lat']
        ollama.route("POST", "/api/chat", lambda r: (200, iter(cut)))
        settings = _settings(tmp_path, chat_model="ollama:llama3.2", ollama_host=ollama.url)
        with closing(Sabio(settings)) as sabio:
            sabio.create_kb("docs")
            notes = tmp_path / "faro.txt"
            notes.write_text("El faro de la isla guiaba a los pescadores de noche.\n")
            sabio.add([notes], "docs")
        streamed = {**CHAT, "model": "kb/docs", "stream": True}
        with running_server(create_app(settings)) as url:
            spanish = httpx.post(f"{url}/api/chat", json=streamed, headers=SPANISH)
            english = httpx.post(f"{url}/api/chat", json=streamed, headers=ENGLISH)
            openai = httpx.post(f"{url}/v1/chat/completions", json=streamed, headers=SPANISH)
            whole = httpx.post(
                f"{url}/api/chat", json={**streamed, "stream": False}, headers=SPANISH
            )
    lines = [json.loads(line) for line in spanish.text.splitlines()]
    assert lines[0]["message"]["content"] == "El faro"
    assert lines[-1]["error"].startswith(
        f"la respuesta de Ollama en {ollama.url} a /api/chat se cortó"
    )
    assert json.loads(english.text.splitlines()[-1])["error"].startswith(
        f"the reply from Ollama at {ollama.url} to /api/chat broke off"
    )
    events = [json.loads(e.removeprefix("data: ")) for e in openai.text.split("\n\n") if e]
    assert events[-1]["error"]["message"].startswith("la respuesta de Ollama en ")
    assert whole.status_code == 503 and whole.json()["error"].startswith("la respuesta de Ollama")
